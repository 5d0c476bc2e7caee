//! Per-table lifecycle state (phase, initial-load progress), per-server
//! identity for restore detection, and the status `inspect` shows.

use super::idmap::put_pair;
use super::queue::{load_state, save_state};
use super::records::{
    parse_queue_prefix, queue_prefix, side_byte, watermark_key, PhaseRec, ServerRec, CHUNK_OPS,
};
use super::{Store, StoreError};
use crate::model::{Direction, Side, SqlValue};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Where a (direction, table) is in its life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
// Externally tagged (serde default): bincode cannot decode internally
// tagged enums. JSON shows `{"reinit": {"reason": ..}}` or `"streaming"`.
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Configured, nothing done yet.
    #[default]
    Init,
    /// Copying the source to the target in key-ordered chunks.
    InitialLoad(LoadProgress),
    /// Following the change-tracking changes.
    Streaming,
    /// History is gone or rewritten; being loaded again.
    Reinit { reason: String },
    /// Stopped until an operator acts.
    Stopped { reason: String },
}

/// How far an initial load (or re-initialisation) got: the copy resumes
/// after `last_key`, never from zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LoadProgress {
    /// The CT version read with the copy's snapshot; streaming starts there.
    pub start_version: Option<i64>,
    /// Rows copied so far.
    pub rows_done: u64,
    /// Rows in the source when the load started, if counted.
    pub rows_total: Option<u64>,
    /// The key of the last row of the last finished chunk.
    pub last_key: Option<Vec<SqlValue>>,
    /// Why this load runs, for a re-initialisation.
    pub reason: Option<String>,
    /// A chunk being written to the target and not yet recorded: after a
    /// crash its inserts are looked up on the target by context.
    pub pending: Option<PendingChunk>,
}

/// The part of a chunk of an identity-mapped table that a crash could leave
/// on the target without its mappings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PendingChunk {
    /// (sequence number of the write's context, source key) of each insert.
    pub inserts: Vec<(u64, Vec<SqlValue>)>,
    /// The chunk's last source key and its row count: the progress once it
    /// is known to have landed.
    pub last_key: Vec<SqlValue>,
    pub rows: u64,
}

/// What the agent remembers of a server's database, to notice a restore or
/// a failover to another database (issue 4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerIdentity {
    /// `name#database_id` of the database (`load_sql::DATABASE_IDENTITY`).
    pub identity: String,
    /// The last `CHANGE_TRACKING_CURRENT_VERSION()` seen.
    pub last_current_version: i64,
    pub seen_ms: u64,
}

/// One (direction, table) as `inspect` shows it. Every number is a stored
/// counter, so this is a handful of reads whatever the queue length.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueStatus {
    pub direction: Direction,
    pub table: String,
    pub phase: Phase,
    /// Last captured CT version on the source side.
    pub watermark: Option<i64>,
    pub queue_depth: u64,
    pub parked: u64,
    pub parked_keys: u64,
    pub mapped_keys: u64,
    /// Conflicts found on the table (both directions), and how many of them
    /// are parked waiting for `ctsync conflicts resolve`.
    pub conflicts: u64,
    pub conflicts_open: u64,
    pub inflight: Option<(u64, u64)>,
    pub last_capture_ms: Option<u64>,
    pub last_apply_ms: Option<u64>,
    pub last_error: Option<String>,
}

/// Removals per transaction when a queue is reset: bounds a transaction's
/// memory on a long queue.
const RESET_CHUNK: usize = 10_000;

impl Store {
    pub fn phase(&self, direction: Direction, table: &str) -> Result<Phase, StoreError> {
        let key = queue_prefix(direction, table)?;
        Ok(match self.trees.phases.get::<PhaseRec>(&key)? {
            Some(PhaseRec::V1(p)) => p,
            None => Phase::Init,
        })
    }

    /// Durable.
    pub fn set_phase(
        &self,
        direction: Direction,
        table: &str,
        phase: &Phase,
    ) -> Result<(), StoreError> {
        let key = queue_prefix(direction, table)?;
        self.tx(|tx| tx.phases.put(&key, &PhaseRec::V1(phase.clone())))?;
        self.flush_durable()
    }

    /// One finished chunk of an initial load: the mappings of the rows it
    /// inserted (source key, target key) and the new progress, together, so
    /// a restart resumes after exactly the rows whose mappings exist.
    /// Durable.
    pub fn save_load_chunk(
        &self,
        direction: Direction,
        table: &str,
        mapped: &[(Vec<SqlValue>, Vec<SqlValue>)],
        phase: &Phase,
    ) -> Result<(), StoreError> {
        let key = queue_prefix(direction, table)?;
        let source = direction.source();
        self.tx(|tx| {
            for (k, other) in mapped {
                put_pair(tx, table, source, k, other)?;
            }
            tx.phases.put(&key, &PhaseRec::V1(phase.clone()))
        })?;
        self.flush_durable()
    }

    pub fn server(&self, side: Side) -> Result<Option<ServerIdentity>, StoreError> {
        Ok(self
            .trees
            .servers
            .get::<ServerRec>(&[side_byte(side)])?
            .map(|ServerRec::V1(s)| s))
    }

    /// Durable.
    pub fn set_server(&self, side: Side, server: &ServerIdentity) -> Result<(), StoreError> {
        self.tx(|tx| {
            tx.servers
                .put(&[side_byte(side)], &ServerRec::V1(server.clone()))
        })?;
        self.flush_durable()
    }

    /// Status of one (direction, table).
    pub fn status(&self, direction: Direction, table: &str) -> Result<QueueStatus, StoreError> {
        let prefix = queue_prefix(direction, table)?;
        let state = self.read_state(&prefix)?;
        let facts = self.table_facts(table)?;
        Ok(QueueStatus {
            direction,
            table: table.to_string(),
            phase: self.phase(direction, table)?,
            watermark: self.watermark(direction.source(), table)?,
            queue_depth: state.depth,
            parked: state.parked,
            parked_keys: state.parked_keys,
            mapped_keys: facts.mapped_keys,
            conflicts: facts.conflicts,
            conflicts_open: facts.conflicts_open,
            inflight: state.inflight,
            last_capture_ms: state.last_capture_ms,
            last_apply_ms: state.last_apply_ms,
            last_error: state.last_error,
        })
    }

    /// Ops queued in (direction, table): a counter, not a scan.
    pub fn queue_depth(&self, direction: Direction, table: &str) -> Result<u64, StoreError> {
        Ok(self.read_state(&queue_prefix(direction, table)?)?.depth)
    }

    /// Every (direction, table) the store has state for, in order (for
    /// `inspect` on tables no longer configured).
    pub fn known_queues(&self) -> Result<Vec<(Direction, String)>, StoreError> {
        let mut out = BTreeSet::new();
        for tree in [&self.trees.queues.tree, &self.trees.phases.tree] {
            for k in tree.iter().keys() {
                let k = k?;
                if let Some(q) = parse_queue_prefix(&k) {
                    out.insert(q);
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Starts a (direction, table) over for a re-initialisation: sets
    /// `phase` first (so a crash midway is redone on restart), then removes
    /// its queued, parked and failure entries in bounded transactions, and
    /// finally the source watermark and the in-flight mark. Sequence numbers
    /// continue (never reused); id mappings stay (the reload refreshes them).
    /// The caller has stopped the table's capture and applier. Durable.
    pub fn reset_queue(
        &self,
        direction: Direction,
        table: &str,
        phase: &Phase,
    ) -> Result<(), StoreError> {
        let prefix = queue_prefix(direction, table)?;
        let wm_key = watermark_key(direction.source(), table)?;
        let lock = self.queue_lock(&prefix);
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        self.tx(|tx| tx.phases.put(&prefix, &PhaseRec::V1(phase.clone())))?;
        // Queue chunks, counting their ops for the depth counter.
        loop {
            let mut keys = Vec::new();
            let mut ops = 0u64;
            for chunk in self.chunks(&prefix, 0).take(RESET_CHUNK / CHUNK_OPS) {
                let chunk = chunk?;
                ops += chunk.entries.len() as u64;
                keys.push(chunk.key);
            }
            if keys.is_empty() {
                break;
            }
            self.tx(|tx| {
                for k in &keys {
                    tx.queue.remove(k)?;
                }
                let mut state = load_state(tx, &prefix)?;
                state.depth = state.depth.saturating_sub(ops);
                save_state(tx, &prefix, &state)
            })?;
        }
        for named in [
            &self.trees.parked,
            &self.trees.failures,
            &self.trees.parked_keys,
            &self.trees.pending,
            &self.trees.lost,
        ] {
            loop {
                let keys = named
                    .tree
                    .scan_prefix(&prefix)
                    .keys()
                    .take(RESET_CHUNK)
                    .collect::<Result<Vec<_>, _>>()?;
                if keys.is_empty() {
                    break;
                }
                self.tx(|tx| {
                    let tree = match named.name {
                        "parked" => &tx.parked,
                        "failures" => &tx.failures,
                        "pending" => &tx.pending,
                        "lost" => &tx.lost,
                        _ => &tx.parked_keys,
                    };
                    let mut removed = 0u64;
                    for k in &keys {
                        if tree.remove(k)? {
                            removed += 1;
                        }
                    }
                    let mut state = load_state(tx, &prefix)?;
                    match named.name {
                        "parked" => state.parked = state.parked.saturating_sub(removed),
                        "parked_keys" => {
                            state.parked_keys = state.parked_keys.saturating_sub(removed)
                        }
                        _ => {}
                    }
                    save_state(tx, &prefix, &state)
                })?;
            }
        }
        self.tx(|tx| {
            tx.watermarks.remove(&wm_key)?;
            let mut state = load_state(tx, &prefix)?;
            state.inflight = None;
            state.depth = 0;
            state.parked = 0;
            state.parked_keys = 0;
            state.last_error = None;
            save_state(tx, &prefix, &state)
        })?;
        drop(_guard);
        self.flush_durable()
    }
}

/// The largest key of an identity-mapped table on one server when ctsync
/// started following it with `initial: none` (`starts` tree). Rows at or
/// below it on both sides existed before the sync began, and with equal
/// keys they are the same row: their id map starts as identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum StartRec {
    V1 { max_key: Option<Vec<SqlValue>> },
}

impl Store {
    /// The recorded start key of `table` on `side`: `None` when not recorded
    /// yet, `Some(None)` for a table that was empty.
    pub fn start_key(
        &self,
        side: Side,
        table: &str,
    ) -> Result<Option<Option<Vec<SqlValue>>>, StoreError> {
        let k = watermark_key(side, table)?;
        Ok(self
            .trees
            .starts
            .get::<StartRec>(&k)?
            .map(|StartRec::V1 { max_key }| max_key))
    }

    /// Records the start key of `table` on `side` unless one is recorded
    /// (the first reading is the start). Durable.
    pub fn set_start_key(
        &self,
        side: Side,
        table: &str,
        max_key: Option<Vec<SqlValue>>,
    ) -> Result<(), StoreError> {
        let k = watermark_key(side, table)?;
        let rec = StartRec::V1 { max_key };
        let written = self.tx(|tx| {
            if tx.starts.get::<StartRec>(&k)?.is_some() {
                return Ok(false);
            }
            tx.starts.put(&k, &rec)?;
            Ok(true)
        })?;
        if written {
            self.flush_durable()?;
        }
        Ok(())
    }
}
