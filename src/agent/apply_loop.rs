//! The applier of one (direction, table): drains that table's queue strictly
//! in order, in batches of up to `batch_size` operations per target
//! transaction.
//!
//! Per batch: peek the head of the queue → plan (translate keys, hold on
//! unmapped references) → mark in flight (durable) → write in one target
//! transaction → complete (remove the ops, record the new id mappings, clear
//! in flight: one durable store transaction).
//!
//! Tables whose writes are idempotent and create no keys (explicit keys,
//! `force_id`) overlap a batch's completion with the next batch: the
//! completion (store transaction and durable flush) runs on a blocking
//! thread while the next batch, read from the queue past the completing
//! one, is planned and written; that batch's COMMIT is sent only once the
//! completion is durable. So a target commit never depends on a completion a
//! crash could lose, and the store costs the applier no time of its own.
//!
//! Failures: a transient error (link, deadlock, lock timeout, snapshot
//! conflict) keeps the batch at the head and retries after a backoff. A
//! permanent error on a batch of several operations retries them one at a
//! time, so that the failing operation is found; that operation's attempts
//! are counted in the store and, past `max_attempts`, it is parked with later
//! operations of the same key, and the queue goes on.

use super::apply_outcome::{self, Unknown};
use super::Shared;
use crate::apply::plan::{self, Hold, IdMaps, KeyMode};
use crate::apply::write::{self, WriteError};
use crate::backoff::Backoff;
use crate::error::ErrorKind;
use crate::link::Link;
use crate::model::{Direction, SqlValue};
use crate::store::{FailureInfo, Phase, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// One applier's fixed inputs.
pub struct Applier {
    pub direction: Direction,
    pub table: plan::ApplyTable,
    pub link: Link,
    pub shared: Arc<Shared>,
    /// Woken by the capture of the source side after it enqueued, and by the
    /// appliers of referenced tables after they created mappings.
    pub wake: Arc<Notify>,
    /// The table syncs both ways: batches are checked for conflicts, one
    /// direction at a time (see `apply_two_way`).
    pub two_way: bool,
    /// A write sent whose outcome is not known: resolved before anything
    /// else is written (see `apply_outcome`).
    pub(super) unknown: Option<Unknown>,
    /// A target version at or after the last completed batch's commit and
    /// before any later write (see `apply_outcome`).
    pub(super) floor: Option<i64>,
    /// Operator commands for this queue, applied between batches
    /// (`queue_owner`).
    pub(super) inbox: Option<super::queue_owner::Inbox>,
    /// Reference waits and the children of this table (`references`).
    pub(super) references: super::references::References,
    /// A command taken from the inbox while waiting, applied next.
    pub(super) pending_command: Option<super::queue_owner::QueueCommand>,
}

/// The id maps as the store keeps them, plus the rule for rows that existed
/// on both sides before the sync began (`initial: none` identity tables):
/// a key at or below both sides' start keys maps to itself.
pub struct StoreMaps<'a> {
    pub store: &'a Store,
    pub config: &'a crate::config::Config,
}

impl IdMaps for StoreMaps<'_> {
    type Error = StoreError;
    fn translate(
        &self,
        table: &str,
        direction: Direction,
        key: &[SqlValue],
    ) -> Result<Option<Vec<SqlValue>>, StoreError> {
        if let Some(k) = self.store.map_key(table, direction.source(), key)? {
            return Ok(Some(k));
        }
        if !self
            .config
            .table(table)
            .is_some_and(|t| t.implicit_identity())
        {
            return Ok(None);
        }
        let source = self.store.start_key(direction.source(), table)?;
        let target = self.store.start_key(direction.target(), table)?;
        let (Some(Some(ms)), Some(Some(mt))) = (source, target) else {
            return Ok(None);
        };
        let at_or_below = |max: &[SqlValue]| {
            key.len() == max.len()
                && key.iter().zip(max).all(|(k, m)| {
                    matches!(
                        crate::conflict::compare(k, m),
                        Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
                    )
                })
        };
        Ok((at_or_below(&ms) && at_or_below(&mt)).then(|| key.to_vec()))
    }
}

impl Applier {
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let retry = self.shared.config.sync.retry.clone();
        let mut backoff = Backoff::new(retry.initial_backoff_ms, retry.max_backoff_ms);
        let idle = Duration::from_millis(self.shared.config.sync.poll_interval_ms);
        let mut one_at_a_time = 0usize;
        // A streak of failed writes is logged once when it starts and once
        // when it ends, not per retry.
        let mut failing = false;
        // The completion of the last committed batch, still running.
        let mut flushing: Option<Completion> = None;
        if let Err(e) = self.load_unknown() {
            tracing::error!(direction = %self.direction, table = %self.table.name, error = %e,
                "state store failed; this table's applier stops");
            return;
        }
        if self.two_way && self.unknown.is_some() {
            // The other direction waits until this one settled it.
            self.shared.turn(&self.table.name).lock().await.in_doubt = Some(self.direction);
        }
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.serve_commands(&mut shutdown, &mut flushing).await {
                tracing::error!(direction = %self.direction, table = %self.table.name, error = %e,
                    "state store failed; this table's applier stops");
                self.shared
                    .set_last_error(self.direction, &self.table.name, &e.to_string());
                return;
            }
            // Changes wait while the table loads (or is stopped): they
            // apply on top of the copied rows, never before them.
            match self.shared.store.phase(self.direction, &self.table.name) {
                Ok(Phase::Streaming) | Ok(Phase::Init) => {}
                Ok(Phase::Reinit { .. }) => {
                    match self.reload_requested(&mut shutdown, &mut flushing).await {
                        Ok(true) => {
                            // The loader (polling its phase) starts now.
                            continue;
                        }
                        Ok(false) => {}
                        Err(e) => {
                            tracing::error!(direction = %self.direction, table = %self.table.name, error = %e,
                                "state store failed; this table's applier stops");
                            return;
                        }
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(idle) => {}
                        _ = shutdown.changed() => {}
                        c = super::queue_owner::next(&mut self.inbox) => self.pending_command = c,
                    }
                    continue;
                }
                Ok(_) => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(idle) => {}
                        _ = shutdown.changed() => {}
                        c = super::queue_owner::next(&mut self.inbox) => self.pending_command = c,
                    }
                    continue;
                }
                Err(e) => {
                    tracing::error!(direction = %self.direction, table = %self.table.name, error = %e,
                        "state store failed; this table's applier stops");
                    return;
                }
            }
            let max = if one_at_a_time > 0 {
                1
            } else {
                self.shared.config.sync.batch_size
            };
            let stepped = if self.two_way {
                self.step_two_way(max, &mut shutdown).await
            } else {
                self.step(max, &mut shutdown, &mut flushing).await
            };
            match stepped {
                Ok(Progress::Applied(n)) => {
                    if failing {
                        failing = false;
                        tracing::info!(direction = %self.direction, table = %self.table.name,
                            retries = backoff.attempts(), "writes succeed again");
                    }
                    backoff.reset();
                    one_at_a_time = one_at_a_time.saturating_sub(n);
                    continue;
                }
                Ok(Progress::Idle) | Ok(Progress::Held) => {
                    if let Err(e) = finish_flush(&mut flushing).await {
                        tracing::error!(direction = %self.direction, table = %self.table.name, error = %e,
                            "state store failed; this table's applier stops");
                        return;
                    }
                    // Between batches (the last completion is durable): the
                    // owner puts back what waited for a parent now mapped.
                    match self.retry_mapped_references() {
                        Ok(0) => {}
                        Ok(_) => continue,
                        Err(e) => {
                            tracing::error!(direction = %self.direction, table = %self.table.name, error = %e,
                                "state store failed; this table's applier stops");
                            return;
                        }
                    }
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(idle) => {}
                        _ = shutdown.changed() => {}
                        c = super::queue_owner::next(&mut self.inbox) => self.pending_command = c,
                    }
                }
                Err(StepError::Write {
                    error,
                    batch_len,
                    head_seq,
                }) => {
                    let kind = error_kind(&error);
                    let (number, message) = crate::error::sql_number_and_message(&error);
                    let described = match number {
                        Some(n) => format!("error {n}: {message}"),
                        None => message,
                    };
                    self.shared
                        .set_last_error(self.direction, &self.table.name, &described);
                    let link =
                        matches!(&error, WriteError::Sql(e) if crate::error::is_link_error(e));
                    self.shared.monitor.error(
                        self.direction,
                        &self.table.name,
                        crate::monitor::ErrorClass::of_write(kind, link),
                    );
                    if !failing && kind != ErrorKind::Permanent {
                        failing = true;
                        tracing::warn!(direction = %self.direction, table = %self.table.name,
                            error = %described, "writes failing; retrying with backoff, order kept");
                    }
                    match kind {
                        ErrorKind::Permanent if batch_len > 1 => {
                            // Find the culprit: go one operation at a time
                            // through this batch.
                            one_at_a_time = batch_len;
                            continue;
                        }
                        ErrorKind::Permanent => {
                            self.record_permanent(head_seq, &error);
                        }
                        _ => {
                            if let WriteError::Sql(e) = &error {
                                if crate::error::is_link_error(e) {
                                    self.link.broken(e);
                                }
                            }
                        }
                    }
                    let delay = backoff.next_delay();
                    tracing::debug!(direction = %self.direction, table = %self.table.name,
                        error = %error, delay_ms = delay.as_millis() as u64, "write failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => {}
                        c = super::queue_owner::next(&mut self.inbox) => self.pending_command = c,
                    }
                }
                Err(StepError::Store(e)) => {
                    // The store is local: an error here is a disk problem.
                    // Stop this applier loudly rather than risk order.
                    tracing::error!(direction = %self.direction, table = %self.table.name, error = %e,
                        "state store failed; this table's applier stops");
                    self.shared
                        .set_last_error(self.direction, &self.table.name, &e.to_string());
                    return;
                }
                Err(StepError::Shutdown) => break,
            }
        }
        if let Err(e) = finish_flush(&mut flushing).await {
            tracing::error!(direction = %self.direction, table = %self.table.name, error = %e,
                "state store failed while stopping");
        }
        tracing::debug!(direction = %self.direction, table = %self.table.name, "applier stopped");
    }

    /// Counts a permanent failure of the head operation; parks it (and later
    /// operations on its key) once it reached `max_attempts`.
    fn record_permanent(&self, seq: u64, error: &WriteError) {
        let (number, message) = crate::error::sql_number_and_message(error);
        if super::schema_error(number) {
            // The schema check holds the table before its operations are
            // parked, if a changed schema is the cause.
            self.shared.schema_check.notify_one();
        }
        let info = FailureInfo {
            number,
            message: message.clone(),
        };
        let max = self.shared.config.sync.retry.max_attempts;
        match self
            .shared
            .store
            .record_failure(self.direction, &self.table.name, seq, &info, max)
        {
            Ok(Some(parked)) => {
                tracing::warn!(direction = %self.direction, table = %self.table.name, seq,
                    error_number = number, error = %message, parked,
                    "operation parked after permanent errors; later operations on other keys go on");
                let described = match number {
                    Some(n) => format!("error {n}: {message}"),
                    None => message,
                };
                self.shared
                    .set_last_error(self.direction, &self.table.name, &described);
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "recording a failure in the state store failed"),
        }
    }

    async fn step(
        &mut self,
        max: usize,
        shutdown: &mut watch::Receiver<bool>,
        flushing: &mut Option<Completion>,
    ) -> Result<Progress, StepError> {
        if let Some(p) = self.start_keys_missing(shutdown).await? {
            return Ok(p);
        }
        // The queue's columns (see `schema_follow`) for a batch in doubt;
        // other batches read them once listed, below.
        if self.unknown.is_some() && !self.columns_for_batch()? {
            return Ok(Progress::Held);
        }
        if let Some(n) = self.resolve_unknown(shutdown, flushing).await? {
            return Ok(Progress::Applied(n));
        }
        let shared = self.shared.clone();
        let store = &shared.store;
        // While the last batch's completion runs, its ops are still in the
        // queue: read past them.
        let from_seq = flushing.as_ref().map_or(0, |c| c.through + 1);
        let mut ops = store.list_batch(
            self.direction,
            &self.table.name,
            from_seq,
            max,
            shared.config.sync.batch_bytes_max,
        )?;
        crate::model::within_bytes(&mut ops, shared.config.sync.batch_bytes_max);
        if ops.is_empty() {
            return Ok(Progress::Idle);
        }
        // Read after the batch: its images follow the columns recorded now.
        if !self.columns_for_batch()? {
            return Ok(Progress::Held);
        }
        // Ends the applier the way a failed store step would.
        if crate::fault::active("apply_loop_fails") {
            return Err(StepError::Store(StoreError::Injected("apply_loop_fails")));
        }
        let maps = StoreMaps {
            store,
            config: &self.shared.config,
        };
        let (mut steps, hold) = plan::plan(&ops, &self.table, self.direction, &maps)?;
        if steps.is_empty() {
            return self.held(hold);
        }
        self.references.clear_wait();
        let by_seq: std::collections::HashMap<u64, crate::model::Operation> =
            ops.into_iter().collect();
        let allowed = self.references.parent_deletes_allowed(
            &self.shared.store,
            self.direction,
            &steps,
            &by_seq,
        )?;
        if allowed == 0 {
            return Ok(Progress::Held);
        }
        steps.truncate(allowed);
        let head_seq = steps[0].seq;
        let through = steps[steps.len() - 1].seq;
        let prefix = self.shared.context_prefix.clone();
        hold_point("apply_hold_before_write").await;
        let Some(conn) = self.link.get(shutdown).await else {
            return Err(StepError::Shutdown);
        };
        let as_write_error = |error| StepError::Write {
            error,
            batch_len: steps.len(),
            head_seq,
        };
        let since = apply_outcome::ensure_floor(
            conn,
            &self.shared,
            self.direction,
            &self.table.name,
            &mut self.floor,
        )
        .await?;
        let unknown = Unknown {
            from: head_seq,
            through: Some(through),
            since,
            settlement: None,
        };
        let mut new_keys = false;
        if self.table.mode == KeyMode::Mapped {
            // New keys come back with the commit and must be recorded
            // durably before anything depends on them: no overlap. Their
            // keys could not be derived again after an unknown outcome:
            // the mark (with the floor) is durable before the write.
            finish_flush(flushing).await?;
            if steps
                .iter()
                .any(|s| matches!(s.action, plan::Action::InsertMapped { .. }))
            {
                let (d, table) = (self.direction, self.table.name.clone());
                self.shared
                    .store_thread
                    .run(move |s| s.mark_inflight(d, &table, head_seq, through, since, None))
                    .await?;
            }
            self.unknown = Some(unknown);
            let written = match write::write(conn, &self.table, &steps, &prefix).await {
                Ok(w) => w,
                Err(e) => {
                    self.write_failed(&e);
                    return Err(as_write_error(e));
                }
            };
            crate::fault::point("apply_after_target_commit");
            hold_point("apply_hold_after_commit").await;
            new_keys = !written.mapped.is_empty();
            let version = written.version;
            let (d, table) = (self.direction, self.table.name.clone());
            self.shared
                .store_thread
                .run(move |s| {
                    crate::fault::hold_thread("store_hold_in_completion");
                    s.complete_batch(
                        d,
                        &table,
                        through,
                        &written.mapped,
                        &written.unmapped,
                        version,
                    )
                })
                .await?;
            self.write_committed(version);
        } else {
            let written = write::write_open(conn, &self.table, &steps, &prefix)
                .await
                .map_err(as_write_error)?;
            // The previous batch's completion must be durable before this
            // batch commits (else a crash could replay it after this one).
            if let Err(e) = finish_flush(flushing).await {
                write::rollback(conn).await;
                return Err(e.into());
            }
            self.unknown = Some(unknown);
            let version = match write::commit(conn).await {
                Ok(v) => v,
                Err(e) => {
                    self.write_failed(&e);
                    return Err(as_write_error(e));
                }
            };
            crate::fault::point("apply_after_target_commit");
            hold_point("apply_hold_after_commit").await;
            self.write_committed(version);
            debug_assert!(written.mapped.is_empty() && written.unmapped.is_empty());
            let (direction, table) = (self.direction, self.table.name.clone());
            *flushing = Some(Completion {
                through,
                task: self.shared.store_thread.spawn(move |s| {
                    crate::fault::hold_thread("store_hold_in_completion");
                    s.complete_batch(direction, &table, through, &[], &[], version)
                }),
            });
        }
        self.shared
            .applied(self.direction, &self.table.name, steps.len());
        if new_keys {
            // Appliers of tables that reference this one may be waiting.
            self.shared.wake_all();
        }
        Ok(Progress::Applied(steps.len()))
    }

    /// Planning wrote nothing: the head waits (for a reference: at most
    /// `sync.reference_wait_ms_max`, then it is parked and the queue goes
    /// on).
    pub(super) fn held(&mut self, hold: Option<Hold>) -> Result<Progress, StepError> {
        match &hold {
            Some(Hold::Reference {
                seq,
                column,
                table,
                value,
            }) => {
                self.shared
                    .note_waiting(self.direction, &self.table.name, *seq, column, table);
                if self.held_on_reference(*seq, column, table, value)? {
                    return Ok(Progress::Applied(0));
                }
            }
            _ => self.not_waiting(),
        }
        Ok(Progress::Held)
    }

    /// The first thing after a write with an unknown outcome: look it up,
    /// complete what landed. `Some(n)`: n operations completed (the step is
    /// done); `None`: nothing was unknown, or nothing had landed.
    async fn resolve_unknown(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
        flushing: &mut Option<Completion>,
    ) -> Result<Option<usize>, StepError> {
        let Some(unknown) = self.unknown.clone() else {
            return Ok(None);
        };
        // The queue's head must be the unknown batch: the last completion
        // first.
        finish_flush(flushing).await?;
        let Some(conn) = self.link.get(shutdown).await else {
            return Err(StepError::Shutdown);
        };
        let n = apply_outcome::resolve(
            conn,
            &self.shared,
            &self.table,
            self.direction,
            &unknown,
            &mut self.floor,
        )
        .await?;
        self.unknown = None;
        Ok((n > 0).then_some(n))
    }

    /// Identity-mapped `initial: none` tables map rows that existed on both
    /// sides to themselves, which needs both sides' start keys: capture
    /// records the source's; a one-way target is not captured, so its start
    /// key is read here, once, before the first write. `Some(Held)` while
    /// one is missing.
    pub(super) async fn start_keys_missing(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<Progress>, StepError> {
        let store = self.shared.store.clone();
        let name = self.table.name.clone();
        if !self
            .shared
            .config
            .table(&name)
            .is_some_and(|t| t.implicit_identity())
        {
            return Ok(None);
        }
        if store.start_key(self.direction.source(), &name)?.is_none() {
            return Ok(Some(Progress::Held));
        }
        if store.start_key(self.direction.target(), &name)?.is_some() {
            return Ok(None);
        }
        if self.two_way {
            // The target is captured too; its first poll records it.
            return Ok(Some(Progress::Held));
        }
        let Some(conn) = self.link.get(shutdown).await else {
            return Err(StepError::Shutdown);
        };
        let max_key = crate::mssql::read_max_key(conn, &self.table.shape)
            .await
            .map_err(|e| StepError::Write {
                error: match e {
                    crate::mssql::MaxKeyError::Sql(e) => WriteError::Sql(e),
                    crate::mssql::MaxKeyError::Identifier(e) => WriteError::Identifier(e),
                    crate::mssql::MaxKeyError::Unsupported(e) => WriteError::Unsupported(e),
                },
                batch_len: 1,
                head_seq: 0,
            })?;
        tracing::info!(direction = %self.direction, table = %name, max_key = ?max_key,
            "rows of the target up to this key existed before the sync began: equal keys are the same row");
        store.set_start_key(self.direction.target(), &name, max_key)?;
        Ok(None)
    }
}

/// Test hooks: with `CTSYNC_TEST_FAULT=apply_hold_after_commit`, every batch
/// committed on the target waits `CTSYNC_TEST_HOLD_MS` (default 2,000) before
/// its completion; with `apply_hold_before_write`, every planned batch waits
/// before it is written. A test sends an operator command while a batch is
/// in flight.
pub(super) async fn hold_point(point: &'static str) {
    if crate::fault::active(point) {
        let ms = std::env::var("CTSYNC_TEST_HOLD_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000u64);
        tracing::info!(hold_ms = ms, point, "test hold: a batch in flight waits");
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// The completion of a committed batch (ops up to `through`), running on a
/// blocking thread: the store transaction and its durable flush.
pub(super) struct Completion {
    through: u64,
    task: tokio::task::JoinHandle<Result<(), StoreError>>,
}

/// Waits for the running completion, if any.
pub(super) async fn finish_flush(flushing: &mut Option<Completion>) -> Result<(), StoreError> {
    let Some(c) = flushing.take() else {
        return Ok(());
    };
    match c.task.await {
        Ok(result) => result,
        // The flush task panicked or was cancelled (runtime shutting down):
        // durability unknown, so stop rather than commit on top of it.
        Err(_) => Err(StoreError::FlushTask),
    }
}

pub(super) enum Progress {
    Applied(usize),
    Idle,
    Held,
}

#[derive(Debug, thiserror::Error)]
pub(super) enum StepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing to the target: {error}")]
    Write {
        error: WriteError,
        batch_len: usize,
        head_seq: u64,
    },
    #[error("shutting down")]
    Shutdown,
}

pub(super) fn error_kind(e: &WriteError) -> ErrorKind {
    match e {
        WriteError::Sql(e) => crate::error::classify(e),
        WriteError::OutputMismatch { .. } => ErrorKind::Transient,
        WriteError::Identifier(_) | WriteError::Unsupported(_) => ErrorKind::Permanent,
    }
}
