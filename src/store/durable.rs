//! Making sled's writes survive power loss, not only a process kill.
//!
//! `sled::Db::flush` writes its log buffers and waits with
//! `sync_file_range(2)` on Linux, which pushes the data pages to the device
//! but not the file's metadata (its size, for a log that grew) and issues no
//! device cache flush. sled writes large values ("blobs") as separate files
//! under `blobs/` without syncing them at all. So after `flush`, this fsyncs
//! the `db` file, every blob file not synced before, the `blobs` directory
//! and the state directory itself whenever its entries changed.
//!
//! The state directory changes after start-up too: sled writes each snapshot
//! as `snap.<lsn>.generating`, fsyncs it, renames it to `snap.<lsn>` and
//! removes the older snapshots, but never fsyncs the directory, so the
//! rename and the removals are not durable by themselves. Each [`sync`]
//! therefore compares the directory's entries (name and inode, which
//! `readdir` returns without a `stat`) with those at its last fsync and
//! fsyncs it again when they differ. sled can rename between two of our
//! syncs; the entry is durable from the next batch's sync on, before that
//! batch is reported durable.
//!
//! [`sync`]: DurableFiles::sync

use super::StoreError;
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::os::unix::fs::DirEntryExt;
use std::path::{Path, PathBuf};

pub struct DurableFiles {
    dir: PathBuf,
    /// The data file, kept open: fsync through any descriptor of the file
    /// syncs it, and reopening per batch would cost two more syscalls.
    db: File,
    /// Blob files already fsynced (names under `blobs/`), pruned to the ones
    /// still present at each flush, so it stays bounded by sled's own count.
    synced_blobs: HashSet<std::ffi::OsString>,
    /// The state dir's entries (name, inode: db, conf, snap.*, blobs, the
    /// control socket) as read before its last fsync; `None` before the
    /// first. An inode in the pair catches a rename over an existing name.
    dir_entries: Option<HashSet<(OsString, u64)>>,
    /// fsyncs of the state dir so far (the tests' view of when it syncs).
    #[cfg(test)]
    dir_syncs: u64,
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
            dir_entries: None,
            #[cfg(test)]
            dir_syncs: 0,
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
        // One read_dir of the state dir per batch: it holds a handful of
        // entries (db, conf, one or two snap.*, blobs, the socket), so this
        // costs a few microseconds next to the fsyncs above, and the dir's
        // own fsync only happens when an entry was created, renamed or
        // removed. The entries are read before the fsync: a change between
        // the two is synced now and seen again next time (one spare fsync).
        let entries = dir_entries(&self.dir)?;
        if self.dir_entries.as_ref() != Some(&entries) {
            sync_dir(&self.dir)?;
            self.dir_entries = Some(entries);
            #[cfg(test)]
            {
                self.dir_syncs += 1;
            }
        }
        Ok(())
    }

    #[cfg(test)]
    pub fn dir_syncs(&self) -> u64 {
        self.dir_syncs
    }
}

/// The names and inodes of a directory's entries.
fn dir_entries(dir: &Path) -> Result<HashSet<(OsString, u64)>, StoreError> {
    let io = |source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut names = HashSet::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        names.insert((entry.file_name(), entry.ino()));
    }
    Ok(names)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dir_is_synced_again_when_its_entries_change() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("db"), b"x").unwrap();
        let mut files = DurableFiles::open(d).unwrap();
        files.sync().unwrap();
        assert_eq!(files.dir_syncs(), 1, "first sync covers the entries");
        files.sync().unwrap();
        assert_eq!(files.dir_syncs(), 1, "nothing changed: no dir fsync");

        // sled's snapshot: written under a temporary name, then renamed.
        std::fs::write(d.join("snap.0000000000000010.generating"), b"s").unwrap();
        files.sync().unwrap();
        assert_eq!(files.dir_syncs(), 2, "a new file");
        std::fs::rename(
            d.join("snap.0000000000000010.generating"),
            d.join("snap.0000000000000010"),
        )
        .unwrap();
        files.sync().unwrap();
        assert_eq!(files.dir_syncs(), 3, "a rename");
        files.sync().unwrap();
        assert_eq!(files.dir_syncs(), 3);

        // A rename over an existing name: same names, another inode.
        std::fs::write(d.join("conf"), b"c").unwrap();
        files.sync().unwrap();
        assert_eq!(files.dir_syncs(), 4);
        // conf.tmp is created while conf exists, so it has another inode.
        std::fs::write(d.join("conf.tmp"), b"c2").unwrap();
        std::fs::rename(d.join("conf.tmp"), d.join("conf")).unwrap();
        // Names as before (db, conf, snap.…10); conf is a new inode.
        files.sync().unwrap();
        assert_eq!(files.dir_syncs(), 5, "a rename over an existing name");

        // An old snapshot removed.
        std::fs::remove_file(d.join("snap.0000000000000010")).unwrap();
        files.sync().unwrap();
        assert_eq!(files.dir_syncs(), 6, "a removal");
        files.sync().unwrap();
        assert_eq!(files.dir_syncs(), 6);
    }
}
