//! Per-table lifecycle state (phase, initial-load progress), per-server
//! identity for restore detection, and the status `inspect` shows.

use super::idmap::put_pair;
use super::queue::{load_state, save_state};
use super::records::{
    parse_queue_prefix, queue_prefix, side_byte, watermark_key, PhaseRec, ServerRec, WatermarkRec,
    CHUNK_OPS,
};
use super::{Store, StoreError};
use crate::model::{Direction, Side, SqlValue};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Where a (direction, table) is in its life: the persisted hand-off
/// between the copy (loader), the stream (capture) and the queue's owner
/// (applier). Each transition is one store transaction that checks the
/// phase it leaves, so two of them never interleave:
///
/// - `Init` → `Streaming`: capture's first reading of an `initial: none`
///   table ([`Store::start_streaming`]: watermark and phase together, only
///   from `Init` without a watermark).
/// - any → `Reinit`: capture (history gone, a restore) or the operator
///   asks for a reload; nothing else changes then.
/// - `Reinit` → `InitialLoad`: the queue's owner, between batches (no write
///   in flight or in doubt), resets the queue ([`Store::reset_queue`]).
///   Capture reads nothing of a table in `Reinit`, and a poll that spans the
///   reset is not appended ([`Store::enqueue_captured`]).
/// - `Init`/`InitialLoad` → `InitialLoad` with a start version: the loader
///   reads the start version with its snapshot and sets it as the watermark
///   in the same transaction ([`Store::begin_copy`]); capture then queues
///   changes from there while the copy runs, and the applier waits. (In
///   supabase/etl's terms: DataSync, with SyncWait/Catchup folded into the
///   queue.) Capture reads nothing of a loading table without a watermark.
/// - `InitialLoad` → `Streaming`: the copy is done ([`Store::finish_load`]);
///   the applier drains what capture queued since the start version, on top
///   of the copied rows (SyncDone/Ready).
/// - any → `Stopped`: a permanent failure; `ctsync reinit` leaves it.
///
/// The loader's writes check that the table still loads: a reload requested
/// meanwhile is never overwritten by a load's progress
/// ([`StoreError::LoadSuperseded`]).
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
    /// A source transaction being read in pieces (see `staged`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staged: Option<super::StagedRead>,
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
            expect_phase(tx, &key, table, |p| matches!(p, Phase::InitialLoad(_)))?;
            for (k, other) in mapped {
                put_pair(tx, table, source, k, other)?;
            }
            tx.phases.put(&key, &PhaseRec::V1(phase.clone()))
        })?;
        self.flush_durable()
    }

    /// A load's progress (a chunk pending, the start read): written only
    /// while the table loads. Durable.
    pub fn save_load_progress(
        &self,
        direction: Direction,
        table: &str,
        progress: &LoadProgress,
    ) -> Result<(), StoreError> {
        self.save_load_chunk(direction, table, &[], &Phase::InitialLoad(progress.clone()))
    }

    /// A chunk pending (in `progress`) with the target version read before
    /// its write (`floor`: where its lookup after a crash starts), in one
    /// transaction; only while the table loads. Durable.
    pub fn save_load_pending(
        &self,
        direction: Direction,
        table: &str,
        progress: &LoadProgress,
        floor: Option<i64>,
    ) -> Result<(), StoreError> {
        let key = queue_prefix(direction, table)?;
        self.tx(|tx| {
            expect_phase(tx, &key, table, |p| matches!(p, Phase::InitialLoad(_)))?;
            if floor.is_some() {
                let mut state = load_state(tx, &key)?;
                state.target_floor = floor;
                save_state(tx, &key, &state)?;
            }
            tx.phases
                .put(&key, &PhaseRec::V1(Phase::InitialLoad(progress.clone())))
        })?;
        self.flush_durable()
    }

    /// The copy begins: `progress` (with its start version) and, when the
    /// table has none, the watermark at the start version, in one
    /// transaction — capture queues changes from there on. Only from `Init`
    /// or `InitialLoad`. Durable.
    pub fn begin_copy(
        &self,
        direction: Direction,
        table: &str,
        progress: &LoadProgress,
    ) -> Result<(), StoreError> {
        let key = queue_prefix(direction, table)?;
        let wm_key = watermark_key(direction.source(), table)?;
        let start = progress.start_version;
        let now = super::now_ms();
        self.tx(|tx| {
            expect_phase(tx, &key, table, |p| {
                matches!(p, Phase::Init | Phase::InitialLoad(_))
            })?;
            if let Some(version) = start {
                if tx.watermarks.get::<WatermarkRec>(&wm_key)?.is_none() {
                    tx.watermarks.put(
                        &wm_key,
                        &WatermarkRec::V1 {
                            version,
                            updated_ms: now,
                        },
                    )?;
                }
            }
            tx.phases
                .put(&key, &PhaseRec::V1(Phase::InitialLoad(progress.clone())))
        })?;
        self.flush_durable()
    }

    /// The copy is done: `InitialLoad` → `Streaming`. Durable.
    pub fn finish_load(&self, direction: Direction, table: &str) -> Result<(), StoreError> {
        let key = queue_prefix(direction, table)?;
        self.tx(|tx| {
            expect_phase(tx, &key, table, |p| matches!(p, Phase::InitialLoad(_)))?;
            tx.phases.put(&key, &PhaseRec::V1(Phase::Streaming))
        })?;
        self.flush_durable()
    }

    /// Capture's first reading of a table that is not loaded (`initial:
    /// none`): the watermark at `version` and `Streaming`, in one
    /// transaction, only from `Init` without a watermark. `false`: the table
    /// was set up otherwise meanwhile; nothing written. Durable.
    pub fn start_streaming(
        &self,
        direction: Direction,
        table: &str,
        version: i64,
    ) -> Result<bool, StoreError> {
        let key = queue_prefix(direction, table)?;
        let wm_key = watermark_key(direction.source(), table)?;
        let now = super::now_ms();
        let started = self.tx(|tx| {
            let init = matches!(
                tx.phases.get::<PhaseRec>(&key)?,
                None | Some(PhaseRec::V1(Phase::Init))
            );
            if !init || tx.watermarks.get::<WatermarkRec>(&wm_key)?.is_some() {
                return Ok(false);
            }
            tx.watermarks.put(
                &wm_key,
                &WatermarkRec::V1 {
                    version,
                    updated_ms: now,
                },
            )?;
            tx.phases.put(&key, &PhaseRec::V1(Phase::Streaming))?;
            Ok(true)
        })?;
        if started {
            self.flush_durable()?;
        }
        Ok(started)
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
            staged: self.staged_at(&prefix)?,
        })
    }

    /// When the oldest op queued in (direction, table) was queued (ms since
    /// the epoch) and its source version; `None` when the queue is empty.
    /// Reads the queue's first chunk only (a few small entries; a spilled
    /// op stays its stub), never the queue.
    pub fn queue_head(
        &self,
        direction: Direction,
        table: &str,
    ) -> Result<Option<(u64, i64)>, StoreError> {
        let prefix = queue_prefix(direction, table)?;
        match self.chunks_raw(&prefix, 0).next() {
            Some(chunk) => Ok(chunk?
                .entries
                .first()
                .map(|e| (e.enqueued_ms, e.op.version))),
            None => Ok(None),
        }
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

    /// Starts a (direction, table) in `Reinit` over: removes the source
    /// watermark first (a capture poll in flight then appends nothing, see
    /// [`Store::enqueue_captured`]), then its queued, parked and failure
    /// entries in bounded transactions, and last sets `then` with the
    /// in-flight mark and counters cleared. A crash midway leaves `Reinit`,
    /// so the reset is done again. Sequence numbers continue (never reused);
    /// id mappings stay (the reload refreshes them). Only the queue's owner
    /// calls it, between batches. Returns how many queued and parked
    /// operations it removed. Durable.
    pub fn reset_queue(
        &self,
        direction: Direction,
        table: &str,
        then: &Phase,
    ) -> Result<u64, StoreError> {
        let prefix = queue_prefix(direction, table)?;
        let wm_key = watermark_key(direction.source(), table)?;
        let lock = self.queue_lock(&prefix);
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        self.tx(|tx| {
            expect_phase(tx, &prefix, table, |p| matches!(p, Phase::Reinit { .. }))?;
            tx.watermarks.remove(&wm_key)?;
            // A transaction being read in pieces is dropped with the queue.
            tx.meta.remove(&super::staged::staged_key(&prefix))?;
            Ok(())
        })?;
        let mut removed_ops = 0u64;
        // Queue chunks, counting their ops for the depth counter.
        loop {
            let mut keys = Vec::new();
            let mut ops = 0u64;
            for chunk in self.chunks_raw(&prefix, 0).take(RESET_CHUNK / CHUNK_OPS) {
                let chunk = chunk?;
                ops += chunk.entries.len() as u64;
                keys.push(chunk.key);
            }
            if keys.is_empty() {
                break;
            }
            removed_ops += ops;
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
                let removed = self.tx(|tx| {
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
                        "parked" => {
                            state.parked = state.parked.saturating_sub(removed);
                        }
                        "parked_keys" => {
                            state.parked_keys = state.parked_keys.saturating_sub(removed)
                        }
                        _ => {}
                    }
                    save_state(tx, &prefix, &state)?;
                    Ok(removed)
                })?;
                if named.name == "parked" {
                    removed_ops += removed;
                }
            }
        }
        self.tx(|tx| {
            tx.watermarks.remove(&wm_key)?;
            let mut state = load_state(tx, &prefix)?;
            state.clear_inflight();
            state.depth = 0;
            state.parked = 0;
            state.parked_keys = 0;
            state.last_error = None;
            save_state(tx, &prefix, &state)?;
            tx.phases.put(&prefix, &PhaseRec::V1(then.clone()))
        })?;
        drop(_guard);
        self.flush_durable()?;
        // The queue is empty and durable: its spilled entries can go.
        self.spill_remove_queue(&prefix);
        Ok(removed_ops)
    }
}

/// Aborts the transaction with [`StoreError::LoadSuperseded`] unless the
/// phase stored under `key` satisfies `ok`.
fn expect_phase(
    tx: &super::Tx<'_>,
    key: &[u8],
    table: &str,
    ok: impl Fn(&Phase) -> bool,
) -> super::TxResult<()> {
    let phase = match tx.phases.get::<PhaseRec>(key)? {
        Some(PhaseRec::V1(p)) => p,
        None => Phase::Init,
    };
    if ok(&phase) {
        return Ok(());
    }
    Err(super::abort(StoreError::LoadSuperseded {
        table: table.to_string(),
        now: phase.name().to_string(),
    }))
}

impl Phase {
    /// Its name, as `inspect` shows it.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Init => "init",
            Phase::InitialLoad(_) => "initial_load",
            Phase::Streaming => "streaming",
            Phase::Reinit { .. } => "reinit",
            Phase::Stopped { .. } => "stopped",
        }
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
