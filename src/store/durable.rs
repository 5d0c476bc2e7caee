//! Making sled's writes survive power loss, not only a process kill.
//!
//! `sled::Db::flush` writes its log buffers and waits with
//! `sync_file_range(2)` on Linux, which pushes the data pages to the device
//! but not the file's metadata (its size, for a log that grew) and issues no
//! device cache flush. sled writes large values ("blobs") as separate files
//! under `blobs/` without syncing them at all. So after `flush`, this fsyncs
//! the `db` file, every blob file not synced before, the `blobs` directory
//! and the state directory itself (for newly created files' entries).

use super::StoreError;
use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

pub struct DurableFiles {
    dir: PathBuf,
    /// The data file, kept open: fsync through any descriptor of the file
    /// syncs it, and reopening per batch would cost two more syscalls.
    db: File,
    /// Blob files already fsynced (names under `blobs/`), pruned to the ones
    /// still present at each flush, so it stays bounded by sled's own count.
    synced_blobs: HashSet<std::ffi::OsString>,
    /// The state dir's entries (db, conf, snap.*) were synced once.
    dir_synced: bool,
}

impl DurableFiles {
    pub fn open(dir: &Path) -> Result<DurableFiles, StoreError> {
        let db_path = dir.join("db");
        let db = File::open(&db_path).map_err(|source| StoreError::Io {
            path: db_path,
            source,
        })?;
        Ok(DurableFiles {
            dir: dir.to_path_buf(),
            db,
            synced_blobs: HashSet::new(),
            dir_synced: false,
        })
    }

    /// fsyncs the data file, new blob files and the directories.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        self.db.sync_all().map_err(io(&self.dir.join("db")))?;

        let blobs = self.dir.join("blobs");
        let mut new_blob = false;
        match std::fs::read_dir(&blobs) {
            Ok(entries) => {
                let mut present = HashSet::new();
                for entry in entries {
                    let entry = entry.map_err(io(&blobs))?;
                    let name = entry.file_name();
                    if !self.synced_blobs.contains(&name) {
                        let path = entry.path();
                        // A blob sled removed meanwhile needs no sync.
                        match File::open(&path) {
                            Ok(f) => f.sync_all().map_err(io(&path))?,
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                            Err(e) => return Err(io(&path)(e)),
                        }
                        new_blob = true;
                    }
                    present.insert(name);
                }
                self.synced_blobs = present;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&blobs)(e)),
        }
        if new_blob {
            sync_dir(&blobs)?;
        }
        if !self.dir_synced {
            sync_dir(&self.dir)?;
            self.dir_synced = true;
        }
        Ok(())
    }
}

/// fsync of a directory: makes the creation and removal of its entries
/// durable (Linux allows fsync on a read-only directory descriptor).
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })
}
