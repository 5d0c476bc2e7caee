//! Large queued operations kept out of sled.
//!
//! sled's page cache is 256 shards that each process their accesses in
//! batches of 64, and a shard keeps the last page it holds whatever its
//! size: a queue of 10 MB row images stays resident, whatever
//! `cache_capacity` says (measured with a fixed mmap threshold: 25 queued
//! 5 MB operations, 125 MB of data, held 135 MB resident, freed only when
//! they were removed). So an entry whose encoding passes
//! [`SPILL_ENTRY_BYTES_MIN`] is written to a file of its own and the queue
//! keeps a stub: the operation's kind, key and version, no image, marked by
//! [`SPILLED_MARK`] in place of the changed columns, in a chunk of its own.
//! Readers that need the image load it back ([`Store::unspill`]), one at a
//! time.
//!
//! Format: `<state_dir>/spill/<queue prefix, hex>/<seq, 16 hex digits>`,
//! holding `crc32(body) u32 BE || body`, the body being the bincode
//! encoding of the `QueuedEntry`, like a chunk's entries. A file is written
//! and fsynced (with its directory) before the transaction that queues its
//! stub, so a stub never points at nothing; a file whose transaction never
//! committed has a seq at or past the queue's next seq and is overwritten
//! by the next enqueue. A completed batch's files are removed once its
//! completion is durable ([`Store::spill_gc`], after the flush that made it
//! so); a reset removes the queue's directory. Parked ops go to `parked`
//! with their image (and come back from there), so their files are
//! garbage, removed when a later completion passes their seq.

use super::records::QueuedEntry;
use super::{Store, StoreError};
use crate::model::Operation;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Entries whose encoding is larger go to a file.
pub const SPILL_ENTRY_BYTES_MIN: usize = 64 * 1024;
/// The stub's `changed` list: a name no SQL Server column has.
pub const SPILLED_MARK: &str = "\u{0}spilled";

/// The stub that stands in the queue for a spilled `op`.
pub fn stub(op: &Operation) -> Operation {
    Operation {
        kind: op.kind,
        key: op.key.clone(),
        row: None,
        version: op.version,
        changed: Some(vec![SPILLED_MARK.to_string()]),
    }
}

pub fn is_stub(op: &Operation) -> bool {
    op.row.is_none() && matches!(&op.changed, Some(c) if c.len() == 1 && c[0] == SPILLED_MARK)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Store {
    pub(super) fn spill_queue_dir(&self, prefix: &[u8]) -> PathBuf {
        self.spill_dir.join(hex(prefix))
    }

    fn spill_file(&self, prefix: &[u8], seq: u64) -> PathBuf {
        self.spill_queue_dir(prefix).join(format!("{seq:016x}"))
    }

    /// Writes the encoded entries (`(seq, bincode of the entry)`) of one
    /// enqueue to their files and makes them durable, directory included.
    pub(super) fn spill_write(
        &self,
        prefix: &[u8],
        entries: &[(u64, &[u8])],
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let dir = self.spill_queue_dir(prefix);
        // A new queue directory must be durable in its parent too.
        let created = !dir.exists();
        if created {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(&dir).map_err(io(&dir))?;
        }
        for (seq, body) in entries {
            let path = self.spill_file(prefix, *seq);
            let mut f = std::fs::File::create(&path).map_err(io(&path))?;
            f.write_all(&crc32fast::hash(body).to_be_bytes())
                .and_then(|_| f.write_all(body))
                .and_then(|_| f.sync_all())
                .map_err(io(&path))?;
        }
        super::durable::sync_dir(&dir)?;
        if created {
            super::durable::sync_dir(&self.spill_dir)?;
            super::durable::sync_dir(self.spill_dir.parent().unwrap_or(&self.spill_dir))?;
        }
        Ok(())
    }

    /// Loads a spilled entry's operation in place of its stub.
    pub(super) fn unspill(&self, prefix: &[u8], entry: &mut QueuedEntry) -> Result<(), StoreError> {
        if !is_stub(&entry.op) {
            return Ok(());
        }
        let path = self.spill_file(prefix, entry.seq);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let name = path.display().to_string();
        let corrupt = |reason: String| StoreError::Corrupt {
            tree: "spill",
            key: name.clone(),
            reason,
        };
        if bytes.len() < 4 {
            return Err(corrupt(format!("file of {} bytes", bytes.len())));
        }
        let (crc, body) = bytes.split_at(4);
        if u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) != crc32fast::hash(body) {
            return Err(corrupt("checksum mismatch".into()));
        }
        // A chunk of one entry, decoded the way chunks are.
        let (full, used) =
            bincode::serde::decode_from_slice::<QueuedEntry, _>(body, bincode::config::standard())
                .map_err(|e| corrupt(format!("cannot decode: {e}")))?;
        if used != body.len() || full.seq != entry.seq {
            return Err(corrupt(format!(
                "holds seq {} for seq {}",
                full.seq, entry.seq
            )));
        }
        *entry = full;
        Ok(())
    }

    /// Notes a completion through `through` (applied, maybe not durable
    /// yet): its spill files go at the next durable flush.
    pub(super) fn spill_completed(&self, prefix: &[u8], through: u64) {
        if !self.spill_queue_dir(prefix).exists() {
            return;
        }
        let mut gc = self.spill_gc.lock().unwrap_or_else(|p| p.into_inner());
        let at = gc.entry(prefix.to_vec()).or_insert(0);
        *at = (*at).max(through);
    }

    /// The completions noted before a durable flush began.
    pub(super) fn spill_take_completed(&self) -> Vec<(Vec<u8>, u64)> {
        let mut gc = self.spill_gc.lock().unwrap_or_else(|p| p.into_inner());
        gc.drain().collect()
    }

    /// Removes the spill files of `prefix` with seqs up to `through`, whose
    /// completion is durable. Best effort: a file left behind (a failed
    /// removal) is garbage, never read.
    pub(super) fn spill_gc(&self, prefix: &[u8], through: u64) {
        let Ok(list) = std::fs::read_dir(self.spill_queue_dir(prefix)) else {
            return;
        };
        for e in list.flatten() {
            let seq = e
                .file_name()
                .to_str()
                .and_then(|n| u64::from_str_radix(n, 16).ok());
            if seq.is_some_and(|s| s <= through) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Removes every spill file of a queue (a reset).
    pub(super) fn spill_remove_queue(&self, prefix: &[u8]) {
        let _ = std::fs::remove_dir_all(self.spill_queue_dir(prefix));
    }
}
