//! One batch of a two-way table: the two appliers of the table take turns
//! (the table's turn, [`super::Shared::turn`]), and each batch is checked
//! for conflicts inside the target transaction that writes it.
//!
//! Per batch, holding the turn: read the target's watermark → plan →
//! (identity inserts: mark in flight) → open the target transaction, lock
//! the batch's rows and read their changes ([`crate::apply::detect`]) →
//! decide each conflict → write what won and COMMIT → complete the batch and
//! settle the other direction's queue in one durable store transaction
//! ([`crate::store::Store::complete_settled`]). The other direction never
//! has a batch in flight meanwhile, so a conflict is decided once, by one
//! applier, and both queues agree on it.

use super::apply_loop::{Applier, Progress, StepError, StoreMaps};
use crate::apply::detect::{self, CheckContext, DetectError};
use crate::apply::plan::{self, Action, Hold, KeyMode};
use crate::apply::write;
use crate::store::Outcome;
use std::collections::HashMap;
use tokio::sync::watch;

impl Applier {
    pub(super) async fn step_two_way(
        &mut self,
        max: usize,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Progress, StepError> {
        let store = self.shared.store.clone();
        let name = self.table.name.clone();
        let direction = self.direction;
        if let Some(p) = self.start_keys_missing(shutdown).await? {
            return Ok(p);
        }
        // The connection first: waiting for a link must not hold the turn.
        let Some(conn) = self.link.get(shutdown).await else {
            return Err(StepError::Shutdown);
        };
        let turn = self.shared.turn(&name);
        let _turn = turn.lock().await;
        let ops = store.peek_batch(direction, &name, max)?;
        if ops.is_empty() {
            return Ok(Progress::Idle);
        }

        // Changes of the target are judged against what ctsync captured
        // from it; before its first capture there is nothing to judge by.
        let Some(target_watermark) = store.watermark(direction.target(), &name)? else {
            return Ok(Progress::Held);
        };
        let config = &self.shared.config;
        let Some(table_config) = config.table(&name).cloned() else {
            return Ok(Progress::Held);
        };
        let maps = StoreMaps {
            store: &store,
            config,
        };
        let (steps, hold) = plan::plan(&ops, &self.table, direction, &maps)?;
        if steps.is_empty() {
            if let Some(Hold::Reference { seq, column, table }) = &hold {
                self.shared
                    .note_waiting(direction, &name, *seq, column, table);
            }
            return Ok(Progress::Held);
        }
        let head_seq = steps[0].seq;
        let planned = steps.len();
        let mapped_inserts = self.table.mode == KeyMode::Mapped
            && steps
                .iter()
                .any(|s| matches!(s.action, Action::InsertMapped { .. }));
        let as_write_error = |error| StepError::Write {
            error,
            batch_len: planned,
            head_seq,
        };
        let by_seq: HashMap<u64, crate::model::Operation> = ops.into_iter().collect();
        let prefix = self.shared.context_prefix.clone();
        let cx = CheckContext {
            store: &store,
            table: &self.table,
            direction,
            policy: &table_config.conflict,
            read_changed: table_config.merges_columns(),
            target_watermark,
            own_prefix: &prefix,
        };
        let decided = match detect::check(conn, &cx, &by_seq, steps).await {
            Ok(d) => d,
            Err(DetectError::Write(e)) => return Err(as_write_error(e)),
            Err(DetectError::Store(e)) => {
                write::rollback(conn).await;
                return Err(e.into());
            }
        };
        let Some(through) = decided.steps.last().map(|s| s.seq) else {
            write::rollback(conn).await;
            return Ok(Progress::Held);
        };
        if mapped_inserts {
            let first = decided.steps[0].seq;
            store.mark_inflight(direction, &name, first, through)?;
        }
        let written = write::write_in_txn(conn, &self.table, &decided.steps, &prefix)
            .await
            .map_err(as_write_error)?;
        crate::fault::point("apply_after_target_commit");
        let settlement = &decided.settlement;
        let ids = store.complete_settled(
            direction,
            &name,
            through,
            &written.mapped,
            &written.unmapped,
            settlement,
            config.sync.conflict_log_max,
        )?;
        for (id, r) in ids.iter().zip(&settlement.records) {
            let key = match direction.source() {
                crate::model::Side::A => &r.a.key,
                crate::model::Side::B => &r.b.key,
            };
            tracing::warn!(table = %name, conflict = id, kind = %r.kind, policy = %r.policy,
                outcome = %r.outcome.describe(), direction = %direction, key = ?key,
                "conflict: the row changed on both sides; settled by the table's policy (ctsync conflicts show {id})");
            if r.outcome == Outcome::Parked {
                self.shared.set_last_error(
                    direction,
                    &name,
                    &format!("conflict {id} parked: resolve with `ctsync conflicts resolve {id} --keep a|b`"),
                );
            }
        }
        let n = decided.steps.len();
        self.shared.applied(direction, &name, n);
        if !settlement.append_reverse.is_empty() {
            self.shared.wake(direction.reverse(), &name).notify_one();
        }
        if !written.mapped.is_empty() {
            self.shared.wake_all();
        }
        Ok(Progress::Applied(n))
    }
}
