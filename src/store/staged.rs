//! Source transactions read in pieces.
//!
//! A capture read is bounded in rows and bytes; a version is one source
//! transaction, and one transaction can be larger than any bound (a single
//! 1,000,000-row UPDATE). Such a transaction is read in pieces, in the
//! read's order (version, then key): each piece is appended to the queue
//! as usual, in one durable transaction with a [`StagedRead`] record that
//! says where the next piece starts, while the watermark stays where it
//! was. Ops at or after [`StagedRead::first_seq`] are *staged*: the
//! applier does not see them ([`Store::list_queue`]) until the last piece
//! is in, which removes the record and moves the watermark in the same
//! transaction. So the transaction reaches the target only once it is
//! whole in the queue, and a crash in the middle loses nothing and
//! queues nothing twice: the next capture goes on after the cursor.
//!
//! Format: tree `meta`, key `staged/` ++ queue prefix (dir, table), value
//! `StagedRec` (checksummed, versioned like every record). One record per
//! queue at most; a queue reset removes it with the watermark.

use super::records::queue_prefix;
use super::{Store, StoreError};
use crate::model::{Direction, SqlValue};
use serde::{Deserialize, Serialize};

/// Where a source transaction read in pieces stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagedRead {
    /// The version the read goes from (the watermark, or a re-read's
    /// start below it).
    pub read_from: i64,
    /// The version the read goes through: the watermark once it is done.
    pub through: i64,
    /// The last row read: (version, key). The next piece starts after it.
    pub after_version: i64,
    pub after_key: Vec<SqlValue>,
    /// The first seq of the staged ops (the queue's next seq when the
    /// first piece was appended).
    pub first_seq: u64,
    /// Ops staged so far, and rows read (own writes included).
    pub ops: u64,
    pub rows: u64,
    pub started_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) enum StagedRec {
    V1(StagedRead),
}

/// What a capture read that is not the last of its transaction leaves for
/// the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub read_from: i64,
    pub through: i64,
    pub after_version: i64,
    pub after_key: Vec<SqlValue>,
    /// Rows this piece read (own writes included, which are not queued).
    pub rows: u64,
}

pub(super) fn staged_key(prefix: &[u8]) -> Vec<u8> {
    let mut k = b"staged/".to_vec();
    k.extend_from_slice(prefix);
    k
}

impl Store {
    /// The transaction being read in pieces into (direction, table)'s
    /// queue, if any.
    pub fn staged(
        &self,
        direction: Direction,
        table: &str,
    ) -> Result<Option<StagedRead>, StoreError> {
        let prefix = queue_prefix(direction, table)?;
        self.staged_at(&prefix)
    }

    pub(super) fn staged_at(&self, prefix: &[u8]) -> Result<Option<StagedRead>, StoreError> {
        Ok(self
            .trees
            .meta
            .get::<StagedRec>(&staged_key(prefix))?
            .map(|StagedRec::V1(s)| s))
    }
}
