//! The records the store keeps and how they are laid out on disk: key
//! layouts, versioned value enums, and the checksummed encoding every value
//! goes through. The format is described in the module doc of [`super`].

use super::StoreError;
use crate::model::{Direction, Operation, Side, SqlValue};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// Longest configured table name the store accepts as part of a key. Table
/// names are `schema.name` with SQL Server's 128-character parts, so this
/// is generous; it bounds key sizes.
pub const TABLE_NAME_MAX: usize = 1024;

// ---------------------------------------------------------------- encoding

/// bincode 2 `standard()` config: little-endian varints. Values only; keys
/// are laid out by hand (big-endian) so that sled orders them.
fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a record as `crc32(body) (4 bytes, big-endian) || body`.
pub fn encode<T: Serialize>(tree: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
    let body = bincode::serde::encode_to_vec(value, config()).map_err(|e| StoreError::Encode {
        tree,
        message: e.to_string(),
    })?;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes and verifies a record; any mismatch is [`StoreError::Corrupt`]
/// naming the tree and key, never a panic.
pub fn decode<T: DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        tree,
        key: key_text(key),
        reason,
    };
    if bytes.len() < 4 {
        return Err(corrupt(format!(
            "record of {} bytes is too short",
            bytes.len()
        )));
    }
    let (crc, body) = bytes.split_at(4);
    let stored = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let actual = crc32fast::hash(body);
    if stored != actual {
        return Err(corrupt(format!(
            "checksum mismatch (stored {stored:08x}, computed {actual:08x})"
        )));
    }
    let (value, used) = bincode::serde::decode_from_slice::<T, _>(body, config())
        .map_err(|e| corrupt(format!("cannot decode: {e}")))?;
    if used != body.len() {
        return Err(corrupt(format!(
            "{} trailing bytes after the record",
            body.len() - used
        )));
    }
    Ok(value)
}

/// A key for error messages: printable ASCII as is, other bytes as `\xNN`.
pub fn key_text(key: &[u8]) -> String {
    let mut s = String::with_capacity(key.len());
    for &b in key {
        if b.is_ascii_graphic() || b == b' ' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

// ---------------------------------------------------------------- keys

pub fn direction_byte(d: Direction) -> u8 {
    match d {
        Direction::AToB => 0,
        Direction::BToA => 1,
    }
}

pub fn direction_from_byte(b: u8) -> Option<Direction> {
    match b {
        0 => Some(Direction::AToB),
        1 => Some(Direction::BToA),
        _ => None,
    }
}

pub fn side_byte(s: Side) -> u8 {
    match s {
        Side::A => 0,
        Side::B => 1,
    }
}

fn push_table(out: &mut Vec<u8>, table: &str) -> Result<(), StoreError> {
    if table.is_empty() || table.len() > TABLE_NAME_MAX {
        return Err(StoreError::InvalidTable {
            table: table.chars().take(64).collect(),
        });
    }
    // Length-prefixed so that `dbo.A` is never a prefix of `dbo.AB`'s keys.
    out.extend_from_slice(&(table.len() as u16).to_be_bytes());
    out.extend_from_slice(table.as_bytes());
    Ok(())
}

/// `direction (1) || table_len (u16 BE) || table`: the prefix of one
/// queue's keys (in `queue`, `parked`, `failures`, `parked_keys`) and the key
/// of its `queues` and `phases` records.
pub fn queue_prefix(d: Direction, table: &str) -> Result<Vec<u8>, StoreError> {
    let mut k = Vec::with_capacity(3 + table.len() + 8);
    k.push(direction_byte(d));
    push_table(&mut k, table)?;
    Ok(k)
}

/// `queue_prefix || seq (u64 BE)`: big-endian so sled iterates in order.
pub fn seq_key(prefix: &[u8], seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The sequence number at the end of a `seq_key`.
pub fn seq_of(key: &[u8]) -> Option<u64> {
    let tail = key.len().checked_sub(8).map(|at| &key[at..])?;
    let mut b = [0u8; 8];
    b.copy_from_slice(tail);
    Some(u64::from_be_bytes(b))
}

/// Decodes a `queue_prefix` (as found in `queues` keys).
pub fn parse_queue_prefix(key: &[u8]) -> Option<(Direction, String)> {
    let (&d, rest) = key.split_first()?;
    let d = direction_from_byte(d)?;
    if rest.len() < 2 {
        return None;
    }
    let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
    let name = rest.get(2..2 + len)?;
    if rest.len() != 2 + len {
        return None;
    }
    Some((d, String::from_utf8(name.to_vec()).ok()?))
}

/// `side (1) || table_len || table`: a watermark's key.
pub fn watermark_key(side: Side, table: &str) -> Result<Vec<u8>, StoreError> {
    let mut k = vec![side_byte(side)];
    push_table(&mut k, table)?;
    Ok(k)
}

/// `table_len || table`: a table's record in `tables`.
pub fn table_key(table: &str) -> Result<Vec<u8>, StoreError> {
    let mut k = Vec::new();
    push_table(&mut k, table)?;
    Ok(k)
}

/// The bytes a row key is compared by: its bincode encoding (no checksum;
/// it is part of a key, and sled checks its own pages).
pub fn row_key_bytes(key: &[SqlValue]) -> Result<Vec<u8>, StoreError> {
    bincode::serde::encode_to_vec(key, config()).map_err(|e| StoreError::Encode {
        tree: "idmap",
        message: e.to_string(),
    })
}

/// `table_len || table || side (1) || row key bytes`: the mapping of a key
/// as it exists on `side` to the key of the same row on the other side.
pub fn idmap_key(table: &str, side: Side, key: &[SqlValue]) -> Result<Vec<u8>, StoreError> {
    let mut k = Vec::new();
    push_table(&mut k, table)?;
    k.push(side_byte(side));
    k.extend_from_slice(&row_key_bytes(key)?);
    Ok(k)
}

/// `queue_prefix || row key bytes`: a key of a queue that has parked ops.
pub fn parked_key_key(prefix: &[u8], row_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + row_key.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(row_key);
    k
}

// ---------------------------------------------------------------- records

/// One queued operation with its seq.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedEntry {
    pub seq: u64,
    pub op: Operation,
    pub enqueued_ms: u64,
}

/// [`Operation`] as format 1 stores wrote it in `QueueChunk::V1` and
/// `ParkedRec::V1` (before the changed columns were kept).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OperationV1 {
    pub kind: crate::model::OpKind,
    pub key: Vec<SqlValue>,
    pub row: Option<Vec<SqlValue>>,
    pub version: i64,
}

impl From<OperationV1> for Operation {
    fn from(o: OperationV1) -> Operation {
        Operation {
            kind: o.kind,
            key: o.key,
            row: o.row,
            version: o.version,
            changed: None,
        }
    }
}

/// [`QueuedEntry`] of a `QueueChunk::V1`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedEntryV1 {
    pub seq: u64,
    pub op: OperationV1,
    pub enqueued_ms: u64,
}

/// [`QueuedEntry`] by reference, so enqueue encodes without cloning the op.
/// Must stay field-for-field identical to it (bincode writes fields in
/// order; `chunk_built_by_hand_decodes` checks it).
#[derive(Debug, Serialize)]
pub struct QueuedEntryRef<'a> {
    pub seq: u64,
    pub op: &'a Operation,
    pub enqueued_ms: u64,
}

/// A run of queued operations stored as one sled value, keyed by the seq
/// of its first op when written. Entries are in seq order and chunks never
/// overlap, so iterating chunks in key order yields the queue in order.
///
/// Why chunks, and why small ones (measured with `benches/store.rs`):
/// sled keeps in-memory metadata for every page and splits a leaf past 16
/// entries, so one key per op made resident memory grow with the queue
/// (~12 bytes per op). But sled's cache is 256 shards of
/// `cache_capacity / 256`, and a shard keeps a page larger than its share,
/// so big chunks (leaves of 17 × 6–32 KiB) held 256 large leaves and grew
/// to ~60 MB. Chunks of ≤ 2 KiB give leaves of ~34 KiB: RSS stays flat at
/// ~33 MB from 0.5 to 4 million queued ops.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum QueueChunk {
    /// Written by earlier versions; read, never written.
    V1 {
        entries: Vec<QueuedEntryV1>,
    },
    V2 {
        entries: Vec<QueuedEntry>,
    },
}

impl QueueChunk {
    pub fn into_entries(self) -> Vec<QueuedEntry> {
        match self {
            QueueChunk::V1 { entries } => entries
                .into_iter()
                .map(|e| QueuedEntry {
                    seq: e.seq,
                    op: e.op.into(),
                    enqueued_ms: e.enqueued_ms,
                })
                .collect(),
            QueueChunk::V2 { entries } => entries,
        }
    }
}

/// Most ops in a chunk. Below 251 so the entry count is one varint byte in
/// the hand-built encoding of [`chunk_bytes`].
pub const CHUNK_OPS: usize = 32;
/// A chunk is closed once it would pass this many encoded bytes (an op
/// larger than this gets a chunk of its own). See [`QueueChunk`].
pub const CHUNK_BYTES: usize = 2 * 1024;
const _: () = assert!(CHUNK_OPS < 251);

/// The stored value of a chunk made of already-encoded `QueuedEntry`s:
/// checksum, then bincode's encoding of `QueueChunk::V2 { entries }` —
/// variant index 1 (one varint byte), entry count (one varint byte, below
/// 251), the entries.
pub fn chunk_bytes(entries: &[Vec<u8>]) -> Vec<u8> {
    debug_assert!(!entries.is_empty() && entries.len() <= CHUNK_OPS);
    let len: usize = entries.iter().map(Vec::len).sum();
    let mut body = Vec::with_capacity(len + 2);
    body.push(1);
    body.push(entries.len() as u8);
    for e in entries {
        body.extend_from_slice(e);
    }
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// The bincode encoding of one entry (no checksum: it goes into a chunk).
pub fn entry_bytes(entry: &QueuedEntryRef<'_>) -> Result<Vec<u8>, StoreError> {
    bincode::serde::encode_to_vec(entry, config()).map_err(|e| StoreError::Encode {
        tree: "queue",
        message: e.to_string(),
    })
}

/// Groups encoded entries (with their seqs) into chunks: (first seq, value).
pub fn build_chunks(entries: Vec<(u64, Vec<u8>)>) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut first = 0u64;
    let mut run: Vec<Vec<u8>> = Vec::new();
    let mut bytes = 0usize;
    for (seq, e) in entries {
        if !run.is_empty() && (run.len() >= CHUNK_OPS || bytes + e.len() > CHUNK_BYTES) {
            out.push((first, chunk_bytes(&run)));
            run.clear();
            bytes = 0;
        }
        if run.is_empty() {
            first = seq;
        }
        bytes += e.len();
        run.push(e);
    }
    if !run.is_empty() {
        out.push((first, chunk_bytes(&run)));
    }
    out
}

/// The per-queue state, rewritten in every transaction that changes the
/// queue so that its counters never drift from the entries. Version 1, as
/// earlier versions wrote it: read and turned into [`QueueStateV2`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QueueStateV1 {
    pub next_seq: u64,
    pub depth: u64,
    pub parked: u64,
    pub parked_keys: u64,
    pub inflight: Option<(u64, u64)>,
    pub last_capture_ms: Option<u64>,
    pub last_apply_ms: Option<u64>,
    pub last_error: Option<String>,
}

/// The per-queue state (current version), rewritten in every transaction
/// that changes the queue so that its counters never drift from the
/// entries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QueueStateV2 {
    /// The seq the next enqueued op gets (seqs are never reused).
    pub next_seq: u64,
    /// Ops in `queue`.
    pub depth: u64,
    /// Ops in `parked`.
    pub parked: u64,
    /// Distinct keys in `parked_keys`.
    pub parked_keys: u64,
    /// Seq range written to the target whose outcome is not known yet.
    pub inflight: Option<(u64, u64)>,
    /// A target change-tracking version read before the in-flight write:
    /// the write's changes, if it landed, are newer. Bounds the lookup.
    pub inflight_since: Option<i64>,
    /// The conflicts the in-flight batch settles if it landed (two-way
    /// tables; stored only when there are any).
    pub inflight_settlement: Option<super::conflicts::Settlement>,
    /// A target change-tracking version at or after the last completed
    /// batch's commit and before any later write: the changes of a batch
    /// written since, if it landed, are newer. Saved with each completion.
    pub target_floor: Option<i64>,
    pub last_capture_ms: Option<u64>,
    pub last_apply_ms: Option<u64>,
    pub last_error: Option<String>,
}

impl From<QueueStateV1> for QueueStateV2 {
    fn from(s: QueueStateV1) -> QueueStateV2 {
        QueueStateV2 {
            next_seq: s.next_seq,
            depth: s.depth,
            parked: s.parked,
            parked_keys: s.parked_keys,
            inflight: s.inflight,
            inflight_since: None,
            inflight_settlement: None,
            target_floor: None,
            last_capture_ms: s.last_capture_ms,
            last_apply_ms: s.last_apply_ms,
            last_error: s.last_error,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum QueueState {
    V1(QueueStateV1),
    V2(QueueStateV2),
}

impl QueueStateV2 {
    /// A batch through `through` completed at `now_ms`: its mark goes (a
    /// mark of a later batch, made while this completion ran, stays) and
    /// `floor`, the target version read after its commit, is kept if known.
    pub fn completed(&mut self, through: u64, floor: Option<i64>, now_ms: u64) {
        if self.inflight.is_some_and(|(from, _)| from <= through) {
            self.clear_inflight();
        }
        if floor.is_some() {
            self.target_floor = floor;
        }
        self.last_apply_ms = Some(now_ms);
    }

    /// The in-flight write is settled (applied, known not to have landed,
    /// or its ops parked): forget it.
    pub fn clear_inflight(&mut self) {
        self.inflight = None;
        self.inflight_since = None;
        self.inflight_settlement = None;
    }
}

impl QueueState {
    pub fn current(self) -> QueueStateV2 {
        match self {
            QueueState::V1(s) => s.into(),
            QueueState::V2(s) => s,
        }
    }
}

/// The CSV export watermark of one table on one server (`exports` tree).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ExportRec {
    V1(super::ExportMark),
}

/// The columns of one queue's row images (`shapes` tree).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ShapeRec {
    V1(super::QueueShape),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WatermarkRec {
    V1 { version: i64, updated_ms: u64 },
}

/// The other side's key of a mapped row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MappedKey {
    V1 { key: Vec<SqlValue> },
}

/// Per-table facts that do not belong to one direction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum TableRec {
    V1 {
        mapped_keys: u64,
    },
    V2 {
        mapped_keys: u64,
        /// Conflicts found on this table (monotonic; records may be purged).
        conflicts: u64,
        /// Of them, parked and not resolved yet.
        conflicts_open: u64,
    },
}

/// The counters of a [`TableRec`], whatever its version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableFacts {
    pub mapped_keys: u64,
    pub conflicts: u64,
    pub conflicts_open: u64,
}

impl From<TableRec> for TableFacts {
    fn from(r: TableRec) -> TableFacts {
        match r {
            TableRec::V1 { mapped_keys } => TableFacts {
                mapped_keys,
                ..TableFacts::default()
            },
            TableRec::V2 {
                mapped_keys,
                conflicts,
                conflicts_open,
            } => TableFacts {
                mapped_keys,
                conflicts,
                conflicts_open,
            },
        }
    }
}

impl From<TableFacts> for TableRec {
    fn from(f: TableFacts) -> TableRec {
        TableRec::V2 {
            mapped_keys: f.mapped_keys,
            conflicts: f.conflicts,
            conflicts_open: f.conflicts_open,
        }
    }
}

/// Failures of one op that is still queued (attempts so far).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum FailureRec {
    V1 {
        attempts: u32,
        first_ms: u64,
        last_ms: u64,
        number: Option<u32>,
        message: String,
    },
}

/// A dead-lettered op, keyed by its original seq so retry restores order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ParkedRec {
    /// Written by earlier versions; read, never written.
    V1 {
        id: u64,
        op: OperationV1,
        number: Option<u32>,
        message: String,
        attempts: u32,
        first_failure_ms: u64,
        last_failure_ms: u64,
        parked_ms: u64,
        behind: Option<u64>,
    },
    V2 {
        /// Store-wide id operators use (`ctsync parked retry ID`).
        id: u64,
        op: Operation,
        /// The error of the op that failed; for ops parked behind it, that
        /// op's error too.
        number: Option<u32>,
        message: String,
        attempts: u32,
        first_failure_ms: u64,
        last_failure_ms: u64,
        parked_ms: u64,
        /// `Some(id)`: parked only because the op `id` on the same key is.
        behind: Option<u64>,
        /// `Some(id)`: parked by the conflict `id` (policy `park`), until
        /// `ctsync conflicts resolve`.
        conflict: Option<u64>,
    },
}

/// A key of a queue with parked ops: later ops on it are parked on arrival.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ParkedKeyRec {
    V1 { head_id: u64, count: u64 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PhaseRec {
    V1(super::Phase),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ServerRec {
    V1(super::ServerIdentity),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CounterRec {
    V1 { next: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checksum() {
        let rec = WatermarkRec::V1 {
            version: 42,
            updated_ms: 7,
        };
        let mut bytes = encode("watermarks", &rec).unwrap();
        let back: WatermarkRec = decode("watermarks", b"k", &bytes).unwrap();
        assert!(matches!(back, WatermarkRec::V1 { version: 42, .. }));
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        let err = decode::<WatermarkRec>("watermarks", b"k\x01", &bytes).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("watermarks") && text.contains("k\\x01"),
            "{text}"
        );
        assert!(decode::<WatermarkRec>("watermarks", b"k", &[1, 2]).is_err());
    }

    #[test]
    fn chunk_built_by_hand_decodes() {
        let ops: Vec<Operation> = (0..300)
            .map(|i| Operation {
                kind: crate::model::OpKind::Insert,
                key: vec![SqlValue::I32(i)],
                row: Some(vec![
                    SqlValue::I32(i),
                    SqlValue::String("x".repeat(i as usize)),
                ]),
                version: 9,
                changed: None,
            })
            .collect();
        let entries: Vec<(u64, Vec<u8>)> = ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                let seq = 1000 + i as u64;
                let e = QueuedEntryRef {
                    seq,
                    op,
                    enqueued_ms: 3,
                };
                (seq, entry_bytes(&e).unwrap())
            })
            .collect();
        let chunks = build_chunks(entries);
        assert!(chunks.len() >= 3, "300 ops make several chunks");
        let mut next = 1000u64;
        for (first, bytes) in &chunks {
            assert_eq!(*first, next);
            let entries = decode::<QueueChunk>("queue", b"k", bytes)
                .unwrap()
                .into_entries();
            assert!(!entries.is_empty() && entries.len() <= CHUNK_OPS);
            assert!(bytes.len() <= CHUNK_BYTES + 400);
            for e in &entries {
                assert_eq!(e.seq, next);
                assert_eq!(e.op, ops[(next - 1000) as usize]);
                next += 1;
            }
            // The same chunk encoded by serde is byte-identical.
            assert_eq!(
                &encode("queue", &QueueChunk::V2 { entries }).unwrap(),
                bytes
            );
        }
        assert_eq!(next, 1300);
    }

    #[test]
    fn seq_keys_sort_numerically_and_tables_do_not_share_prefixes() {
        let p = queue_prefix(Direction::AToB, "dbo.A").unwrap();
        assert!(seq_key(&p, 255) < seq_key(&p, 256));
        assert_eq!(seq_of(&seq_key(&p, 1 << 40)), Some(1 << 40));
        let q = queue_prefix(Direction::AToB, "dbo.AB").unwrap();
        assert!(!seq_key(&q, 1).starts_with(&p));
        assert_eq!(
            parse_queue_prefix(&p),
            Some((Direction::AToB, "dbo.A".to_string()))
        );
        assert!(queue_prefix(Direction::AToB, "").is_err());
    }
}
