//! The applier's side of unknown write outcomes (see [`crate::apply::outcome`]).
//!
//! Before a write that commits is sent, the applier notes it as
//! [`Unknown`]: its first and last seq and a target version read before it
//! (the *floor*). Identity-mapped batches with inserts, and two-way batches
//! that settle conflicts, note it durably too (the in-flight mark), because
//! what they record on completion (new keys, the settlement) cannot be
//! derived again. A write that ends with a known outcome (success, or a
//! server error: `SET XACT_ABORT ON` rolled it back) clears the note. Any
//! other ending — the link broke or timed out after the request went out, the
//! reply after COMMIT did not add up — leaves it, and the applier's next step,
//! whatever it is, first looks the batch up on the target and completes
//! what landed ([`resolve`]); only then is anything written again.
//!
//! The floor: the version read in the same request as each COMMIT (so no
//! extra round trip) and saved with each completion; before a queue's first
//! write ever, read once and saved durably. After a crash without a mark,
//! the head of the queue is looked up from the saved floor: a batch that
//! committed just before the crash is completed, not written again.

use super::apply_loop::{Applier, StepError, StoreMaps};
use super::Shared;
use crate::apply::outcome;
use crate::apply::plan::{ApplyTable, IdMaps, KeyMode};
use crate::apply::write::{self, WriteError};
use crate::model::Direction;
use crate::mssql::Connection;
use crate::store::{Settlement, StoreError};

/// A write sent whose outcome is not known yet.
#[derive(Debug, Clone)]
pub(super) struct Unknown {
    pub from: u64,
    /// None: after a crash without a mark, the batch's end is not known;
    /// whatever landed from `from` on is completed.
    pub through: Option<u64>,
    /// The floor read before the write (None: a mark from before floors
    /// were stored; the lookup reads every retained change).
    pub since: Option<i64>,
    pub settlement: Option<Settlement>,
}

/// Whether a failed write may have committed anyway. A server error means
/// the batch was rolled back (`SET XACT_ABORT ON`), an identifier error
/// that nothing was sent; anything else (link, timeout, protocol, a reply
/// that does not add up after COMMIT) leaves the outcome open.
pub(super) fn outcome_unknown(e: &WriteError) -> bool {
    !matches!(
        e,
        WriteError::Sql(tiberius::error::Error::Server(_)) | WriteError::Identifier(_)
    )
}

fn lookup_error(head_seq: u64) -> impl FnOnce(WriteError) -> StepError {
    move |error| StepError::Write {
        error,
        batch_len: 1,
        head_seq,
    }
}

/// The floor for the next write: the one known, else read from the target
/// now and saved durably (once per queue: later commits bring their own).
pub(super) async fn ensure_floor(
    conn: &mut Connection,
    shared: &Shared,
    direction: Direction,
    table: &str,
    floor: &mut Option<i64>,
) -> Result<Option<i64>, StepError> {
    let store = &shared.store;
    if floor.is_none() && target_tracked(shared, table, direction) {
        let read = write::current_version(conn)
            .await
            .map_err(lookup_error(0))?;
        if let Some(v) = read {
            store.set_target_floor(direction, table, v)?;
        }
        *floor = read;
    }
    Ok(*floor)
}

/// Whether the target table is change-tracked (identity-mapped targets and
/// both sides of two-way tables are; an explicit-key one-way target is only
/// if its administrator enabled it — ctsync does not ask for it there).
pub(super) fn target_tracked(shared: &Shared, table: &str, direction: Direction) -> bool {
    shared
        .config
        .table(table)
        .is_some_and(|t| t.tracked_on(direction.target()))
}

impl Applier {
    /// A write sent after `self.unknown` was noted failed with `e`: the note
    /// stays when the outcome is open (returns true), else it goes.
    pub(super) fn write_failed(&mut self, e: &WriteError) -> bool {
        let open = outcome_unknown(e);
        if !open {
            self.unknown = None;
        }
        open
    }

    /// The write committed and its reply came back: nothing is in doubt;
    /// `version` (read after the commit) is the next write's floor.
    pub(super) fn write_committed(&mut self, version: Option<i64>) {
        self.unknown = None;
        if version.is_some() {
            self.floor = version;
        }
    }

    /// At start: an in-flight mark, or else a queue written since the saved
    /// floor, is an unknown outcome to resolve before the first write.
    pub(super) fn load_unknown(&mut self) -> Result<(), StoreError> {
        if !target_tracked(&self.shared, &self.table.name, self.direction) {
            return Ok(());
        }
        let store = &self.shared.store;
        self.floor = store.target_floor(self.direction, &self.table.name)?;
        if let Some(m) = store.inflight(self.direction, &self.table.name)? {
            if m.from >= crate::load::LOAD_SEQ_BASE {
                // A load chunk's writes: the loader recovers those.
                return Ok(());
            }
            self.unknown = Some(Unknown {
                from: m.from,
                through: Some(m.through),
                since: m.since,
                settlement: m.settlement,
            });
            return Ok(());
        }
        let head = store.list_queue(self.direction, &self.table.name, 0, 1)?;
        if let (Some(floor), Some((seq, _))) = (self.floor, head.first()) {
            self.unknown = Some(Unknown {
                from: *seq,
                through: None,
                since: Some(floor),
                settlement: None,
            });
        }
        Ok(())
    }
}

/// Looks the unknown write up on the target and completes what landed, in
/// one store transaction (with the new keys and, for a two-way batch, its
/// settlement), durably. Returns the number of operations completed: 0 when
/// nothing landed (the batch is to be written again).
pub(super) async fn resolve(
    conn: &mut Connection,
    shared: &Shared,
    table: &ApplyTable,
    direction: Direction,
    unknown: &Unknown,
    floor: &mut Option<i64>,
) -> Result<usize, StepError> {
    let store = &shared.store;
    let name = &table.name;
    let prefix = &shared.context_prefix;
    if !target_tracked(shared, name, direction) {
        // No change table on the target to look in: the batch is written
        // again, as the idempotent upserts of an untracked (explicit-key,
        // one-way) target allow.
        if store.inflight(direction, name)?.is_some() {
            store.clear_inflight(direction, name)?;
        }
        return Ok(0);
    }
    let landed = outcome::find(
        conn,
        table,
        prefix,
        outcome::queue_seqs(unknown.from),
        unknown.since,
    )
    .await
    .map_err(lookup_error(unknown.from))?;
    let through = match unknown.through {
        Some(t) => landed.any_in(unknown.from, t).then_some(t),
        None => landed.last_from(unknown.from),
    };
    let Some(through) = through else {
        if store.inflight(direction, name)?.is_some() {
            store.clear_inflight(direction, name)?;
        }
        if unknown.through.is_some() {
            tracing::warn!(%direction, table = %name, from = unknown.from, through = ?unknown.through,
                "a write's outcome was unknown; it had not landed on the target and is written again");
        }
        return Ok(0);
    };
    // A fresh floor for what comes next, read after the landed commit.
    let now = write::current_version(conn)
        .await
        .map_err(lookup_error(unknown.from))?;
    let count = usize::try_from(through.saturating_sub(unknown.from) + 1)
        .unwrap_or(usize::MAX)
        .min(crate::config::BATCH_SIZE_MAX as usize);
    let ops = store.list_queue(direction, name, 0, count)?;
    let maps = StoreMaps {
        store,
        config: &shared.config,
    };
    let mut mapped = Vec::new();
    let mut unmapped = Vec::new();
    let mut lost_keys = 0usize;
    let mut completed = 0usize;
    for (seq, op) in ops.iter().filter(|(s, _)| *s <= through) {
        completed += 1;
        if table.mode != KeyMode::Mapped {
            continue;
        }
        let mapping = maps.translate(name, direction, &op.key)?;
        match (&op.row, mapping) {
            // Planned as an identity insert: its key comes from the lookup.
            (Some(_), None) => match landed.keys.get(seq) {
                Some(k) => mapped.push((op.key.clone(), k.clone())),
                None => lost_keys += 1,
            },
            (None, Some(_)) => unmapped.push(op.key.clone()),
            _ => {}
        }
    }
    if lost_keys > 0 {
        tracing::error!(%direction, table = %name, from = unknown.from, through, rows = lost_keys,
            "identity inserts of a batch that landed were changed on the target before their keys could be read back; they are not written again, but later changes of those source rows cannot find them");
    }
    match &unknown.settlement {
        Some(settlement) => {
            store.complete_settled(
                direction,
                name,
                through,
                &mapped,
                &unmapped,
                settlement,
                shared.config.sync.conflict_log_max,
                now,
            )?;
            shared
                .monitor
                .conflicts(direction, name, settlement.records.len());
        }
        None => store.complete_batch(direction, name, through, &mapped, &unmapped, now)?,
    }
    if now.is_some() {
        *floor = now;
    }
    tracing::warn!(%direction, table = %name, from = unknown.from, through, operations = completed,
        recovered_keys = mapped.len(),
        "a write's outcome was unknown; it had landed on the target and is completed without writing it again");
    shared.applied(direction, name, completed);
    if !mapped.is_empty() {
        shared.wake_all();
    }
    Ok(completed)
}
