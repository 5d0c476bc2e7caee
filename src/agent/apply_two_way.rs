//! One batch of a two-way table: the two appliers of the table take turns
//! (the table's turn, [`super::Shared::turn`]), and each batch is checked
//! for conflicts inside the target transaction that writes it.
//!
//! Per batch, holding the turn: read the target's watermark → plan →
//! (identity inserts: mark in flight) → open the target transaction, lock
//! the batch's rows and read their changes ([`crate::apply::detect`]) →
//! decide each conflict → write what won → COMMIT → complete the batch and
//! settle the other direction's queue in one store transaction
//! ([`crate::store::Store::complete_settled`]). The other direction never
//! has a batch in flight meanwhile, so a conflict is decided once, by one
//! applier, and both queues agree on it.
//!
//! Durability: for tables whose writes create no keys, the completion runs
//! in the background while the next batch is checked and written, and that
//! batch's COMMIT waits for it ([`super::Turn::completing`]): one fsync per
//! batch, overlapped with the network, and no target commit rests on a
//! completion a crash could lose. Without a conflict the whole completion
//! (store transaction and flush) is in the background: the same direction
//! reads its queue past the completing batch, the other waits for it before
//! it reads (so its check never takes those ops for queued changes). With
//! one, the settlement is applied at once and only the flush overlaps.
//! Identity-mapped tables flush before they go on (the mappings come back
//! with the COMMIT).

use super::apply_loop::{Applier, Progress, StepError, StoreMaps};
use super::apply_outcome::Unknown;
use super::Completing;
use crate::apply::detect::{self, CheckContext, DetectError};
use crate::apply::plan::{self, Action, KeyMode};
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
        // An empty queue takes no turn (nor a connection): the other
        // direction keeps going, and its completion is not waited for.
        if store.queue_depth(direction, &name)? == 0 {
            return Ok(Progress::Idle);
        }
        // The connection first: waiting for a link must not hold the turn.
        let Some(conn) = self.link.get(shutdown).await else {
            return Err(StepError::Shutdown);
        };
        let turn = self.shared.turn(&name);
        let mut turn = turn.lock().await;
        if turn.in_doubt.is_some_and(|d| d != direction) {
            return Ok(Progress::Held);
        }
        let from_seq = turn.begin(direction).await?;
        // The queue's columns (see `schema_follow`) for a batch in doubt;
        // other batches read them once listed, below.
        if self.unknown.is_some()
            && !super::schema_follow::columns_for_batch(&self.shared, direction, &mut self.table)?
        {
            return Ok(Progress::Held);
        }
        if let Some(unknown) = self.unknown.clone() {
            // Under the turn, with this direction's last completion done:
            // the queue's head is the batch whose outcome is unknown.
            turn.completed().await?;
            let n = super::apply_outcome::resolve(
                conn,
                &self.shared,
                &self.table,
                direction,
                &unknown,
                &mut self.floor,
            )
            .await?;
            self.unknown = None;
            turn.in_doubt = None;
            if n > 0 {
                return Ok(Progress::Applied(n));
            }
        }
        let mut ops = store.list_batch(
            direction,
            &name,
            from_seq,
            max,
            self.shared.config.sync.batch_bytes_max,
        )?;
        crate::model::within_bytes(&mut ops, self.shared.config.sync.batch_bytes_max);
        if ops.is_empty() {
            return Ok(Progress::Idle);
        }
        // Read after the batch: its images follow the columns recorded now.
        if !super::schema_follow::columns_for_batch(&self.shared, direction, &mut self.table)? {
            return Ok(Progress::Held);
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
        let (mut steps, hold) = plan::plan(&ops, &self.table, direction, &maps)?;
        if steps.is_empty() {
            drop(turn);
            return self.held(hold);
        }
        self.references.clear_wait();
        let by_seq: HashMap<u64, crate::model::Operation> = ops.into_iter().collect();
        let allowed = self.references.parent_deletes_allowed(
            &self.shared.store,
            direction,
            &steps,
            &by_seq,
        )?;
        if allowed == 0 {
            return Ok(Progress::Held);
        }
        steps.truncate(allowed);
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
        let mut new_keys = false;
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
        let first = decided.steps[0].seq;
        let settlement = &decided.settlement;
        let since = match super::apply_outcome::ensure_floor(
            conn,
            &self.shared,
            direction,
            &name,
            &mut self.floor,
        )
        .await
        {
            Ok(v) => v,
            Err(e) => {
                write::rollback(conn).await;
                return Err(e);
            }
        };
        // New keys and a settlement cannot be derived again after an
        // unknown outcome: such a batch is marked durably, after the last
        // completion (which clears marks) and before the COMMIT.
        let durable_mark = mapped_inserts || !settlement.is_empty();
        let unknown = Unknown {
            from: first,
            through: Some(through),
            since,
            settlement: (!settlement.is_empty()).then(|| settlement.clone()),
        };
        // The mark, durable on the store thread before the COMMIT.
        let mark = {
            let store_thread = self.shared.store_thread.clone();
            let (name, settlement) = (name.clone(), unknown.settlement.clone());
            move || {
                let (t, name, settlement) =
                    (store_thread.clone(), name.clone(), settlement.clone());
                async move {
                    t.run(move |s| {
                        s.mark_inflight(
                            direction,
                            &name,
                            first,
                            through,
                            since,
                            settlement.as_ref(),
                        )
                    })
                    .await
                }
            }
        };
        let log_max = config.sync.conflict_log_max;
        let ids = if self.table.mode == KeyMode::Mapped {
            // New keys come back with the COMMIT, which travels with the
            // writes: the last completion must be durable before, and this
            // one (the mappings) before anything depends on them.
            if let Err(e) = turn.completed().await {
                write::rollback(conn).await;
                return Err(e.into());
            }
            if durable_mark {
                if let Err(e) = mark().await {
                    write::rollback(conn).await;
                    return Err(e.into());
                }
            }
            self.unknown = Some(unknown.clone());
            let written =
                match write::write_in_txn(conn, &self.table, &decided.steps, &prefix).await {
                    Ok(w) => w,
                    Err(e) => {
                        if self.write_failed(&e) {
                            turn.in_doubt = Some(direction);
                        }
                        return Err(as_write_error(e));
                    }
                };
            crate::fault::point("apply_after_target_commit");
            super::apply_loop::hold_point("apply_hold_after_commit").await;
            new_keys = !written.mapped.is_empty();
            let version = written.version;
            let (table, settled) = (name.clone(), settlement.clone());
            let ids = self
                .shared
                .store_thread
                .run(move |s| {
                    s.complete_settled(
                        direction,
                        &table,
                        through,
                        &written.mapped,
                        &written.unmapped,
                        &settled,
                        log_max,
                        version,
                    )
                })
                .await?;
            self.write_committed(version);
            ids
        } else {
            // Write, wait for the last completion's flush (overlapped with
            // this batch's check and writes), COMMIT; then settle, and
            // flush while the next batch is checked and written.
            write::write_in_txn_open(conn, &self.table, &decided.steps, &prefix)
                .await
                .map_err(as_write_error)?;
            if let Err(e) = turn.completed().await {
                write::rollback(conn).await;
                return Err(e.into());
            }
            if durable_mark {
                if let Err(e) = mark().await {
                    write::rollback(conn).await;
                    return Err(e.into());
                }
            }
            self.unknown = Some(unknown.clone());
            let version = match write::commit(conn).await {
                Ok(v) => v,
                Err(e) => {
                    if self.write_failed(&e) {
                        turn.in_doubt = Some(direction);
                    }
                    return Err(as_write_error(e));
                }
            };
            crate::fault::point("apply_after_target_commit");
            super::apply_loop::hold_point("apply_hold_after_commit").await;
            self.write_committed(version);
            if settlement.is_empty() {
                // No conflict: the whole completion runs in the background;
                // this direction reads past it, the other waits for it.
                let table = name.clone();
                turn.completing = Some(Completing {
                    unapplied: Some(direction),
                    through,
                    task: self.shared.store_thread.spawn(move |s| {
                        s.complete_batch(direction, &table, through, &[], &[], version)
                    }),
                });
                Vec::new()
            } else {
                // Settled now (both queues change), durable in the background.
                let ids = store.complete_settled_unflushed(
                    direction,
                    &name,
                    through,
                    &[],
                    &[],
                    settlement,
                    log_max,
                    version,
                )?;
                turn.completing = Some(Completing {
                    unapplied: None,
                    through,
                    task: self.shared.store_thread.spawn(|s| s.flush_durable()),
                });
                ids
            }
        };
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
        self.shared.monitor.conflicts(direction, &name, ids.len());
        let n = decided.steps.len();
        self.shared.applied(direction, &name, n);
        if !settlement.append_reverse.is_empty() {
            self.shared.wake(direction.reverse(), &name).notify_one();
        }
        if new_keys {
            // Appliers of tables that reference this one may be waiting.
            self.shared.wake_all();
        }
        Ok(Progress::Applied(n))
    }
}
