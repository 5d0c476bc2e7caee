//! Operations that reference rows of other tables (`references` in the
//! config): bounded waits for a parent's mapping, and parent deletes that
//! wait for the children still referencing them.
//!
//! - An operation whose referenced row has no mapping yet waits at the head
//!   of its queue (the parent's insert is usually just behind, in the parent
//!   table's queue). After `sync.reference_wait_ms_max` it is parked — with
//!   later operations of its key — with a reason naming the parent table and
//!   key, so that the table's other keys go on. Such an operation is
//!   retried by the queue's owner by itself once the parent maps.
//! - A parent's delete is not applied while a queued operation of a child
//!   table (same direction) still references that parent: the child's
//!   operation needs the parent's mapping (and the target's row, for its
//!   foreign key); the delete goes once the child's queue moved past it.
//!
//! Limits: a child queue is scanned up to [`CHILD_SCAN_MAX`] operations per
//! batch with deletes; parked operations are scanned up to
//! [`PARKED_SCAN_MAX`] per check, at most once per poll interval.

use super::apply_loop::{Applier, StoreMaps};
use crate::apply::plan::{self, Action, Step};
use crate::model::{OpKind, Operation, SqlValue};
use crate::store::{FailureInfo, ParkedSelect, StoreError};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// The start of the reason of an operation parked for a reference.
pub const REFERENCE_PARK_PREFIX: &str = "waits for a parent row: ";

/// Child-queue operations looked at per parent batch with deletes.
pub const CHILD_SCAN_MAX: usize = 10_000;

/// Parked operations looked at per check for mapped parents.
pub const PARKED_SCAN_MAX: usize = 10_000;

/// An applier's reference state.
#[derive(Debug, Default)]
pub struct References {
    /// The held head operation and since when it waits.
    waiting: Option<(u64, Instant)>,
    /// Operations of this queue may be parked for a reference (checked at
    /// start and set when one is parked).
    parked: bool,
    checked: Option<Instant>,
    /// Tables of the same direction whose column at `.1` references this
    /// table.
    pub children: Vec<(String, usize)>,
}

impl References {
    /// How many of `steps` may be written: a delete of a row that a queued
    /// operation of a child table still references ends the batch before it.
    pub fn parent_deletes_allowed(
        &self,
        store: &crate::store::Store,
        direction: crate::model::Direction,
        steps: &[Step],
        ops: &HashMap<u64, Operation>,
    ) -> Result<usize, StoreError> {
        if self.children.is_empty() {
            return Ok(steps.len());
        }
        let deleted_at: Vec<(usize, &[SqlValue])> = steps
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s.action, Action::Delete { .. }))
            .filter_map(|(i, s)| {
                ops.get(&s.seq)
                    .filter(|op| op.kind == OpKind::Delete && op.key.len() == 1)
                    .map(|op| (i, op.key.as_slice()))
            })
            .collect();
        if deleted_at.is_empty() {
            return Ok(steps.len());
        }
        let mut referenced: HashSet<String> = HashSet::new();
        for (child, pos) in &self.children {
            for (_, op) in store.list_queue_all(direction, child, 0, CHILD_SCAN_MAX)? {
                match op.row.as_ref() {
                    Some(row) => {
                        if let Some(v) = row.get(*pos) {
                            referenced.insert(format!("{v:?}"));
                        }
                    }
                    // A delete carries no image: which parent its row
                    // references is not known, so every parent delete
                    // waits for it (the child's queue drains it soon; a
                    // child stuck behind a reference wait is parked after
                    // it, which lets the parent go on).
                    None => return Ok(deleted_at[0].0),
                }
            }
        }
        for (i, key) in deleted_at {
            if referenced.contains(&format!("{:?}", key[0])) {
                return Ok(i);
            }
        }
        Ok(steps.len())
    }

    pub fn clear_wait(&mut self) {
        self.waiting = None;
    }

    pub fn new(children: Vec<(String, usize)>) -> References {
        References {
            parked: true,
            children,
            ..References::default()
        }
    }
}

impl Applier {
    /// Planning stopped at operation `seq`: `column` = `value` has no
    /// mapping in `parent`. Parks it once it waited
    /// `sync.reference_wait_ms_max`; `true` when it did.
    pub(super) fn held_on_reference(
        &mut self,
        seq: u64,
        column: &str,
        parent: &str,
        value: &SqlValue,
    ) -> Result<bool, StoreError> {
        let max_ms = self.shared.config.sync.reference_wait_ms_max;
        let since = match self.references.waiting {
            Some((s, since)) if s == seq => since,
            _ => {
                self.references.waiting = Some((seq, Instant::now()));
                return Ok(false);
            }
        };
        if since.elapsed() < Duration::from_millis(max_ms) {
            return Ok(false);
        }
        let message = format!(
            "{REFERENCE_PARK_PREFIX}{column} = {} has no mapping in {parent} after {max_ms} ms (its row there was not applied: see `ctsync parked list --table {parent}`); retried by itself once that row is applied",
            describe(value)
        );
        let info = FailureInfo {
            number: None,
            message: message.clone(),
        };
        let parked =
            self.shared
                .store
                .record_failure(self.direction, &self.table.name, seq, &info, 1)?;
        self.references.waiting = None;
        if let Some(n) = parked {
            self.references.parked = true;
            tracing::warn!(direction = %self.direction, table = %self.table.name, seq, parent = %parent,
                column = %column, parent_key = %describe(value), parked = n,
                "operation parked: the row it references never got a mapping; the table's other keys go on");
            self.shared
                .set_last_error(self.direction, &self.table.name, &message);
        }
        Ok(parked.is_some())
    }

    /// Planning wrote or held something else: no reference wait runs.
    pub(super) fn not_waiting(&mut self) {
        self.references.clear_wait();
    }

    /// Retries the operations parked for a reference whose parent maps now
    /// (at most once per poll interval). Returns how many went back.
    pub(super) fn retry_mapped_references(&mut self) -> Result<usize, StoreError> {
        if !self.references.parked {
            return Ok(0);
        }
        let every = Duration::from_millis(self.shared.config.sync.poll_interval_ms);
        if self.references.checked.is_some_and(|t| t.elapsed() < every) {
            return Ok(0);
        }
        self.references.checked = Some(Instant::now());
        let store = &self.shared.store;
        let entries = store.parked(Some(&self.table.name), PARKED_SCAN_MAX)?;
        let waiting: Vec<_> = entries
            .into_iter()
            .filter(|e| {
                e.direction == self.direction
                    && e.behind.is_none()
                    && e.error.starts_with(REFERENCE_PARK_PREFIX)
            })
            .collect();
        if waiting.is_empty() {
            self.references.parked = false;
            return Ok(0);
        }
        let maps = StoreMaps {
            store,
            config: &self.shared.config,
        };
        let mut retried = 0;
        for e in waiting {
            let (steps, _) =
                plan::plan(&[(e.seq, e.op.clone())], &self.table, self.direction, &maps)?;
            if steps.is_empty() {
                continue;
            }
            let n =
                store.retry_parked_in(self.direction, &self.table.name, ParkedSelect::Id(e.id))?;
            retried += n;
            tracing::warn!(direction = %self.direction, table = %self.table.name, seq = e.seq,
                operations = n, "the row a parked operation references is mapped now: retried by itself");
        }
        Ok(retried)
    }
}

fn describe(v: &SqlValue) -> String {
    match v {
        SqlValue::I32(x) => x.to_string(),
        SqlValue::I64(x) => x.to_string(),
        SqlValue::I16(x) => x.to_string(),
        SqlValue::U8(x) => x.to_string(),
        SqlValue::String(s) => format!("'{s}'"),
        other => format!("{other:?}"),
    }
}
