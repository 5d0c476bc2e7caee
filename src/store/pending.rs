//! The pending index and the lost markers: what two-way conflict detection
//! asks of the store.
//!
//! * `pending`: `queue_prefix || rowkey || seq (u64 BE)` → [`PendingRec`]
//!   (the op's source version), one entry per op in `queue`. Written in the
//!   same transaction as every change of `queue` (enqueue, completion,
//!   parking, retry, reset, settlement), so "is a change of this row queued
//!   in that direction" is one prefix scan, never a scan of the queue.
//!   Parked ops are out of the flow and not in the index. A rowkey's bincode
//!   encoding is self-delimiting, so one key's entries are never a prefix
//!   of another's.
//! * `lost`: `queue_prefix || rowkey` → [`LostRec`]: changes of this row on
//!   the queue's source up to `through_version`, not captured yet, lost to a
//!   conflict; capture drops them when it reads them (see
//!   [`Store::enqueue_batch`]). The marker goes once the watermark passed
//!   `through_version`.

use super::records::{decode, encode, row_key_bytes};
use super::{Store, StoreError, Tx, TxResult};
use crate::model::{Direction, SqlValue};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PendingRec {
    V1 { version: i64 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LostRec {
    V1 { through_version: i64, conflict: u64 },
}

/// Marks a store whose pending index is complete (built on first open by a
/// version that keeps it).
pub(super) const INDEX_BUILT_KEY: &[u8] = b"pending_index_v1";

/// `queue_prefix || rowkey`: the prefix of one row's pending entries, and
/// the key of its lost marker.
pub(super) fn row_prefix(prefix: &[u8], rowkey: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + rowkey.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(rowkey);
    k
}

pub(super) fn pending_key(prefix: &[u8], rowkey: &[u8], seq: u64) -> Vec<u8> {
    let mut k = row_prefix(prefix, rowkey);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// A pending entry, encoded outside the transaction (sled may run the
/// closure again).
pub(super) struct PendingEntry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

pub(super) fn entry(
    prefix: &[u8],
    key: &[SqlValue],
    seq: u64,
    version: i64,
) -> Result<PendingEntry, StoreError> {
    Ok(PendingEntry {
        key: pending_key(prefix, &row_key_bytes(key)?, seq),
        value: encode("pending", &PendingRec::V1 { version })?,
    })
}

pub(super) fn put_all(tx: &Tx<'_>, entries: &[PendingEntry]) -> TxResult<()> {
    for e in entries {
        tx.pending
            .tree
            .insert(e.key.as_slice(), e.value.as_slice())?;
    }
    Ok(())
}

pub(super) fn remove_all(tx: &Tx<'_>, keys: &[Vec<u8>]) -> TxResult<()> {
    for k in keys {
        tx.pending.remove(k)?;
    }
    Ok(())
}

impl Store {
    /// The queued ops of (`direction`, `table`) on row `key` (in the
    /// direction's source key space): (seq, source version), in seq order.
    pub fn pending_ops(
        &self,
        direction: Direction,
        table: &str,
        key: &[SqlValue],
    ) -> Result<Vec<(u64, i64)>, StoreError> {
        let prefix = super::records::queue_prefix(direction, table)?;
        let rp = row_prefix(&prefix, &row_key_bytes(key)?);
        let mut out = Vec::new();
        for item in self.trees.pending.tree.scan_prefix(&rp) {
            let (k, v) = item?;
            let seq = super::records::seq_of(&k).unwrap_or(0);
            let PendingRec::V1 { version } = decode("pending", &k, &v)?;
            out.push((seq, version));
        }
        Ok(out)
    }

    /// The lost markers of one queue: (row key prefix, through version).
    /// Few: one per conflict whose losing change was not captured yet.
    pub(super) fn lost_markers(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, i64)>, StoreError> {
        let mut out = Vec::new();
        for item in self.trees.lost.tree.scan_prefix(prefix) {
            let (k, v) = item?;
            let LostRec::V1 {
                through_version, ..
            } = decode("lost", &k, &v)?;
            out.push((k.to_vec(), through_version));
        }
        Ok(out)
    }

    /// Whether row `rp` (a [`row_prefix`]) has pending entries.
    pub(super) fn has_pending(&self, rp: &[u8]) -> Result<bool, StoreError> {
        Ok(self
            .trees
            .pending
            .tree
            .scan_prefix(rp)
            .next()
            .transpose()?
            .is_some())
    }

    /// Builds the pending index of a store written by a version that did
    /// not keep one: one pass over every queue, in bounded transactions.
    pub(super) fn ensure_pending_index(&self) -> Result<(), StoreError> {
        if self.trees.meta.tree.contains_key(INDEX_BUILT_KEY)? {
            return Ok(());
        }
        const STEP: usize = 4096;
        let mut batch: Vec<PendingEntry> = Vec::with_capacity(STEP);
        let flush = |batch: &mut Vec<PendingEntry>| -> Result<(), StoreError> {
            if batch.is_empty() {
                return Ok(());
            }
            self.tx(|tx| put_all(tx, batch))?;
            batch.clear();
            Ok(())
        };
        for item in self.trees.queue.tree.iter() {
            let (k, v) = item?;
            let Some(prefix) = k.len().checked_sub(8).map(|n| &k[..n]) else {
                continue;
            };
            let entries = decode::<super::records::QueueChunk>("queue", &k, &v)?.into_entries();
            for e in entries {
                batch.push(entry(prefix, &e.op.key, e.seq, e.op.version)?);
                if batch.len() >= STEP {
                    flush(&mut batch)?;
                }
            }
        }
        flush(&mut batch)?;
        self.trees.meta.tree.insert(INDEX_BUILT_KEY, &[1u8])?;
        self.flush_durable()
    }
}
