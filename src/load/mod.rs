//! Initial load and re-initialisation of one (direction, table): getting the
//! target to a common start with the source before changes stream.
//!
//! Following "Work with change tracking" (obtaining initial data,
//! docs/relational-databases/track-changes/work-with-change-tracking-sql-server.md):
//! the load first reads `CHANGE_TRACKING_CURRENT_VERSION()` (the start
//! version V0, which becomes the table's watermark, so capture queues every
//! change after it while the copy runs), then copies the source in
//! key-ordered chunks. A chunk read after V0 may already contain a later
//! change; streaming from V0 applies it again, which is harmless because
//! every write of a load or of the stream is idempotent for its key (upsert
//! by explicit key; mapped keys update their mapped row). The applier of the
//! table waits until the load is done, so no streamed change is applied
//! before the rows it changes were copied.
//!
//! Durability: each chunk's new mappings and the progress (last key, rows
//! done) are stored in one durable step after the chunk committed on the
//! target, so a restart resumes after the last finished chunk. For
//! identity-mapped tables the chunk's source keys are stored as pending
//! before the write; after a crash they are looked up on the target by their
//! change-tracking context, exactly like in-flight streamed inserts, so no
//! row is inserted twice.
//!
//! Limits: a chunk is at most `batch_size` rows and at most
//! [`PARAMS_PER_CHUNK_MAX`] bound values; the progress is logged at most
//! every [`PROGRESS_LOG_MS`].

mod bulk;
mod progress;
mod read;
mod reconcile;
mod second_pass;

use crate::agent::Shared;
use crate::apply::plan::{self, Action, ApplyTable, Hold, IdMaps, KeyMode, Step};
use crate::apply::write::{self, WriteError};
use crate::backoff::Backoff;
use crate::config::{Initial, TableConfig};
use crate::error::{classify, ErrorKind};
use crate::link::Link;
use crate::model::{Direction, OpKind, Operation, SqlValue};
use crate::mssql::statements::{self, TableShape};
use crate::mssql::value::{row_values, to_column};
use crate::mssql::{load_sql, Connection};
use crate::store::{LoadProgress, PendingChunk, Phase, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Sequence numbers of load writes (their change-tracking contexts) live
/// far above any queue's, so a load write is never mistaken for a streamed
/// operation's.
pub const LOAD_SEQ_BASE: u64 = 1 << 62;
/// Bound values per chunk request (SQL Server allows 2,100 per request).
pub const PARAMS_PER_CHUNK_MAX: usize = 1_900;
/// Rows per bulk-loaded chunk: one durable progress step per chunk.
pub const BULK_CHUNK_ROWS: usize = 10_000;
pub use read::next_chunk_rows;
use read::{chunk_bytes, read_chunk, read_rows, start_point};
/// At most one progress line per table this often.
pub const PROGRESS_LOG_MS: u64 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading the source: {0}")]
    Source(#[source] tiberius::error::Error),
    #[error("writing the target: {0}")]
    Target(#[source] WriteError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Data(String),
    #[error("shutting down")]
    Shutdown,
}

impl LoadError {
    /// Transient failures (links, deadlocks, a busy server) are retried
    /// forever; permanent ones (constraints, types, bad data) stop the table
    /// after `max_attempts` in a row.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LoadError::Source(e) | LoadError::Target(WriteError::Sql(e)) => classify(e),
            // The store is local: a failure there does not go away by
            // retrying the load (the disk, the format); stop and say so.
            LoadError::Target(_) | LoadError::Store(_) | LoadError::Data(_) => ErrorKind::Permanent,
            LoadError::Shutdown => ErrorKind::Transient,
        }
    }
}

struct StoreMaps<'a>(&'a Store);

impl IdMaps for StoreMaps<'_> {
    type Error = StoreError;
    fn translate(
        &self,
        table: &str,
        direction: Direction,
        key: &[SqlValue],
    ) -> Result<Option<Vec<SqlValue>>, StoreError> {
        self.0.map_key(table, direction.source(), key)
    }
}

pub struct Loader {
    pub direction: Direction,
    pub table: TableConfig,
    /// The source's shape (same columns, in the same order, as the target's).
    pub source_shape: TableShape,
    pub apply: ApplyTable,
    pub source: Link,
    pub target: Link,
    pub shared: Arc<Shared>,
}

impl Loader {
    fn name(&self) -> String {
        self.table.name.to_string()
    }

    /// Whether the table needs a load now, from its stored phase.
    fn needs_load(&self, store: &Store) -> Result<bool, StoreError> {
        let name = self.name();
        Ok(match store.phase(self.direction, &name)? {
            Phase::Init => {
                self.table.initial != Initial::None
                    && store.watermark(self.direction.source(), &name)?.is_none()
            }
            Phase::InitialLoad(_) => true,
            // A reload requested: the queue's owner resets the queue first
            // (between its batches), then the phase is `InitialLoad`.
            Phase::Reinit { .. } | Phase::Streaming | Phase::Stopped { .. } => false,
        })
    }

    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let name = self.name();
        let mut failing = false;
        let retry = self.shared.config.sync.retry.clone();
        let mut backoff = Backoff::new(retry.initial_backoff_ms, retry.max_backoff_ms);
        // Permanent failures in a row; a success or a transient failure in
        // between starts the count again.
        let mut permanent_attempts: u32 = 0;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let store = self.shared.store.clone();
            let needed = match self.needs_load(&store) {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(direction = %self.direction, table = %name, error = %e, "state store failed; loader stops");
                    return;
                }
            };
            let delay = if needed {
                match self.load(&mut shutdown).await {
                    Ok(()) => {
                        failing = false;
                        permanent_attempts = 0;
                        backoff.reset();
                        Duration::from_millis(0)
                    }
                    Err(LoadError::Shutdown) => break,
                    // The store is local: an error there is the disk or the
                    // format, not the load. End the loop; the agent's
                    // supervision stops the process with the cause.
                    Err(LoadError::Store(e)) if !matches!(e, StoreError::LoadSuperseded { .. }) => {
                        tracing::error!(direction = %self.direction, table = %name, error = %e,
                            "state store failed; this table's loader stops");
                        self.shared
                            .set_last_error(self.direction, &name, &e.to_string());
                        return;
                    }
                    Err(LoadError::Store(StoreError::LoadSuperseded { now, .. })) => {
                        // A reload was requested (or the table stopped)
                        // while this load ran: it starts over once the
                        // queue's owner reset the queue.
                        tracing::info!(direction = %self.direction, table = %name, phase = %now,
                            "initial load superseded; the next one starts over");
                        failing = false;
                        permanent_attempts = 0;
                        backoff.reset();
                        Duration::from_millis(200)
                    }
                    Err(e) => {
                        if !failing {
                            tracing::warn!(direction = %self.direction, table = %name, error = %e,
                                "initial load interrupted; it resumes from its last finished chunk");
                            failing = true;
                        }
                        self.shared
                            .set_last_error(self.direction, &name, &e.to_string());
                        if e.kind() == ErrorKind::Permanent {
                            permanent_attempts += 1;
                        } else {
                            permanent_attempts = 0;
                        }
                        if permanent_attempts >= retry.max_attempts {
                            self.stop(&name, &e, permanent_attempts);
                            failing = false;
                            permanent_attempts = 0;
                            backoff.reset();
                            continue;
                        }
                        if let LoadError::Source(_) = e {
                            self.source.broken(&e);
                        } else {
                            self.target.broken(&e);
                        }
                        backoff.next_delay()
                    }
                }
            } else {
                // Re-initialisations are requested by capture through the
                // stored phase; look again shortly.
                Duration::from_millis(1_000)
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Stops the table after `attempts` permanent failures in a row: the
    /// phase says why and how to go on, durably; capture and the loader
    /// leave it alone until the operator asks for `ctsync reinit`.
    fn stop(&self, name: &str, e: &LoadError, attempts: u32) {
        let reason = format!(
            "initial load failed {attempts} times in a row: {e}; fix the cause, then run \
             `ctsync reinit --table {name}` (the load starts over)"
        );
        tracing::error!(direction = %self.direction, table = %name, attempts, error = %e,
            "initial load stopped: permanent error");
        if let Err(se) = self.shared.store.set_phase(
            self.direction,
            name,
            &Phase::Stopped {
                reason: reason.clone(),
            },
        ) {
            tracing::error!(direction = %self.direction, table = %name, error = %se,
                "state store failed while stopping the table");
        }
        self.shared.stop_table(self.direction, name, &reason);
    }

    /// Waits until every table this one depends on streams: the other
    /// direction's load of a `both` table first (the source wins a full
    /// load), and referenced tables (their ids must be mapped).
    async fn wait_for_dependencies(
        &self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), LoadError> {
        let store = &self.shared.store;
        let name = self.name();
        let mut waits: Vec<(Direction, String)> = Vec::new();
        if self.direction == Direction::BToA && self.table.directions().contains(&Direction::AToB) {
            waits.push((Direction::AToB, name.clone()));
        }
        for referenced in self.table.references.values() {
            let r = referenced.to_string();
            if r != name {
                if let Some(t) = self
                    .shared
                    .config
                    .tables
                    .iter()
                    .find(|t| t.name.to_string() == r)
                {
                    if t.directions().contains(&self.direction) {
                        waits.push((self.direction, r));
                    }
                }
            }
        }
        let mut logged = false;
        for (d, t) in waits {
            while store.phase(d, &t)? != Phase::Streaming {
                if !logged {
                    tracing::info!(direction = %self.direction, table = %name, waits_for = %t, waits_direction = %d,
                        "initial load waits for another table's load");
                    logged = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = shutdown.changed() => return Err(LoadError::Shutdown),
                }
                if *shutdown.borrow() {
                    return Err(LoadError::Shutdown);
                }
            }
        }
        Ok(())
    }

    async fn load(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<(), LoadError> {
        self.wait_for_dependencies(shutdown).await?;
        // A table held by a schema problem loads once it is fixed.
        while let Some(problem) = self.shared.live_shape(&self.name()).and_then(|l| l.problem) {
            self.shared
                .set_last_error(self.direction, &self.name(), &problem);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.changed() => return Err(LoadError::Shutdown),
            }
            if *shutdown.borrow() {
                return Err(LoadError::Shutdown);
            }
        }
        // Ends the loader the way a failed store step would.
        if crate::fault::active("load_loop_fails") {
            return Err(LoadError::Store(StoreError::Injected("load_loop_fails")));
        }
        let store = self.shared.store.clone();
        let name = self.name();
        let d = self.direction;
        let mut progress = match store.phase(d, &name)? {
            Phase::InitialLoad(p) => p,
            Phase::Init => LoadProgress::default(),
            // Changed while the load waited for its dependencies.
            _ => return Ok(()),
        };
        // A reload copies the columns as they stand now (see
        // `agent::schema_watch`), not as they stood at start-up.
        if let Some(live) = self.shared.live_shape(&name) {
            if live.problem.is_none() {
                self.source_shape = live.shapes[d.source() as usize].clone();
                self.apply = crate::agent::setup::apply_table(
                    &self.table,
                    live.shapes[d.target() as usize].clone(),
                    &self.shared.config,
                );
            }
        }
        if progress.start_version.is_none() {
            let conn = self.source.get(shutdown).await.ok_or(LoadError::Shutdown)?;
            let (v0, total) = start_point(conn, &self.source_shape)
                .await
                .map_err(LoadError::Source)?;
            progress.start_version = Some(v0);
            progress.rows_total = Some(match self.table.initial {
                Initial::Latest(n) => total.min(n),
                _ => total,
            });
            // The start version is the watermark from here on: capture
            // queues what changes during the copy, applied after it.
            store.begin_copy(d, &name, &progress)?;
            tracing::info!(direction = %d, table = %name, start_version = v0, rows = total,
                reason = progress.reason.as_deref().unwrap_or("initial load"), "initial load starts");
        } else {
            tracing::info!(direction = %d, table = %name, rows_done = progress.rows_done,
                rows_total = progress.rows_total, "initial load resumes after its last finished chunk");
        }
        if let Some(pending) = progress.pending.take() {
            self.recover_pending(&mut progress, pending, shutdown)
                .await?;
        }
        let v0 = progress.start_version.unwrap_or(0);
        if store.watermark(d.source(), &name)?.is_none() {
            // A store written before `begin_copy` set both together.
            store.begin_copy(d, &name, &progress)?;
        }
        let descending =
            matches!(self.table.initial, Initial::Latest(_)) && progress.reason.is_none();
        let limit = match (self.table.initial, progress.reason.is_some()) {
            (Initial::Latest(n), false) => Some(n),
            _ => None,
        };
        // Bulk load (much faster than statements) when nothing on the
        // target could be in the way: a non-identity table whose target has
        // no row after the last copied key, and no `references` column to
        // translate (bulk rows go as they came, with the source's ids).
        // Otherwise idempotent upserts, planned like streamed changes.
        let translates = !self.apply.references.is_empty();
        let explicit = self.apply.mode == KeyMode::Explicit && !translates;
        let target_clear = (explicit && !descending || progress.last_key.is_none()) && {
            let key_shape = self.key_shape();
            let conn = self.target.get(shutdown).await.ok_or(LoadError::Shutdown)?;
            let after = if explicit {
                progress.last_key.as_deref()
            } else {
                None
            };
            read_chunk(conn, &key_shape, after, 1, false)
                .await
                .map_err(|e| LoadError::Target(WriteError::Sql(e)))?
                .is_empty()
        };
        // The second pass of a `both` table checks a's rows under lock per
        // chunk (see `second_pass`), which a bulk copy cannot.
        let bulk = explicit && !descending && target_clear && !self.is_second_pass();
        // The target was empty when this copy began: it can hold no row the
        // source lacks (for a one-way table, other writers' rows on the
        // target are theirs), so the pass that looks for such rows is
        // skipped. After a restart mid-copy this is not known, and the pass
        // runs.
        let target_was_empty = target_clear && progress.last_key.is_none();
        let width = self.source_shape.columns.len().max(1) + 1;
        let chunk_rows = if bulk {
            BULK_CHUNK_ROWS
        } else {
            self.shared
                .config
                .sync
                .batch_size
                .min(PARAMS_PER_CHUNK_MAX / width)
                .max(1)
        };
        // A target version read before the next chunk's write (see
        // `write_chunk`).
        let mut floor: Option<i64> = None;
        // Rows of the next chunk: a few first, then as many as fit in
        // `batch_bytes_max` judged by the last chunk.
        let mut sized_rows = next_chunk_rows(0, 0, chunk_rows, 0);
        let mut shown = progress::Progress::new(
            format!("{name} {d}"),
            progress.rows_total,
            progress.rows_done,
        );
        if bulk {
            self.bulk_copy(&mut progress, &mut shown, shutdown).await?;
        } else {
            // Statement chunks until the source has no more rows (or the
            // `latest` limit is reached).
            loop {
                if *shutdown.borrow() {
                    return Err(LoadError::Shutdown);
                }
                let want = match limit {
                    Some(n) => (n.saturating_sub(progress.rows_done) as usize).min(sized_rows),
                    None => sized_rows,
                };
                if want == 0 {
                    break;
                }
                let conn = self.source.get(shutdown).await.ok_or(LoadError::Shutdown)?;
                let rows = read_chunk(
                    conn,
                    &self.source_shape,
                    progress.last_key.as_deref(),
                    want,
                    descending,
                )
                .await
                .map_err(LoadError::Source)?;
                let done = rows.len() < want;
                sized_rows = next_chunk_rows(
                    chunk_bytes(&rows),
                    rows.len(),
                    chunk_rows,
                    self.shared.config.sync.batch_bytes_max,
                );
                if let Some(last) = rows.last() {
                    let mapped = self
                        .write_chunk(&rows, &mut progress, &mut floor, shutdown)
                        .await?;
                    progress.pending = None;
                    progress.rows_done += rows.len() as u64;
                    progress.last_key = Some(key_of(&self.source_shape, last));
                    let (table, phase) = (name.clone(), Phase::InitialLoad(progress.clone()));
                    self.shared
                        .store_thread
                        .run(move |s| s.save_load_chunk(d, &table, &mapped, &phase))
                        .await?;
                    self.shared.loaded(d, &name, rows.len());
                }
                shown.update(progress.rows_done, progress.rows_total);
                if done {
                    break;
                }
            }
        }
        shown.finish();
        let one_way = !self.table.directions().contains(&d.reverse());
        if one_way && limit.is_none() && !target_was_empty {
            self.remove_target_only(shutdown).await?;
        }
        store.finish_load(d, &name)?;
        self.shared.wake(d, &name).notify_one();
        tracing::info!(direction = %d, table = %name, rows = progress.rows_done, start_version = v0,
            "initial load done; streaming changes");
        Ok(())
    }

    /// Writes one chunk (after matching equal keys of mapped tables) and
    /// returns its new mappings.
    async fn write_chunk(
        &mut self,
        rows: &[Vec<SqlValue>],
        progress: &mut LoadProgress,
        floor: &mut Option<i64>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Vec<(Vec<SqlValue>, Vec<SqlValue>)>, LoadError> {
        let store = self.shared.store.clone();
        let name = self.name();
        let d = self.direction;
        let base = LOAD_SEQ_BASE + progress.rows_done;
        let second = self.is_second_pass();
        let writers = if second {
            let keys: Vec<Vec<SqlValue>> =
                rows.iter().map(|r| key_of(&self.source_shape, r)).collect();
            self.source_last_writers(&keys, shutdown).await?
        } else {
            Default::default()
        };
        let mut ops: Vec<(u64, Operation)> = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let key = key_of(&self.source_shape, row);
            // Second pass of a `both` table (see `second_pass`): rows this
            // agent wrote last came from a; a mapped row nobody changed
            // since is the same row.
            if second {
                match writers.get(&second_pass::key_text(&key)) {
                    Some(true) => continue,
                    None if self.apply.mode == KeyMode::Mapped
                        && store.map_key(&name, d.source(), &key)?.is_some() =>
                    {
                        continue
                    }
                    _ => {}
                }
            }
            ops.push((
                base + i as u64,
                Operation {
                    kind: OpKind::Insert,
                    key,
                    row: Some(row.clone()),
                    version: 0,
                    changed: None,
                },
            ));
        }
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        if self.apply.mode == KeyMode::Mapped {
            self.match_equal_keys(&ops, shutdown).await?;
        }
        let steps = loop {
            let (steps, hold) = plan::plan(&ops, &self.apply, d, &StoreMaps(&store))?;
            match hold {
                None => break steps,
                Some(Hold::Reference { column, table, .. }) => {
                    // A referenced row newer than its table's load: it
                    // arrives with that table's stream; wait for it.
                    self.shared.set_last_error(
                        d,
                        &name,
                        &format!("initial load waits for {column} to be mapped in {table}"),
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                        _ = shutdown.changed() => return Err(LoadError::Shutdown),
                    }
                }
                Some(other) => {
                    return Err(LoadError::Data(format!("cannot plan the chunk: {other:?}")))
                }
            }
        };
        // The second pass writes inside the transaction that checked a's
        // rows under lock, with the steps that check kept.
        let steps = if second {
            let kept = self.guard(steps, &ops, shutdown).await?;
            if kept.is_empty() {
                if let Some(conn) = self.target.get(shutdown).await {
                    write::rollback(conn).await;
                }
                return Ok(Vec::new());
            }
            kept
        } else {
            steps
        };
        let inserts: Vec<(u64, Vec<SqlValue>)> = steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::InsertMapped { source_key, .. } => Some((s.seq, source_key.clone())),
                _ => None,
            })
            .collect();
        if !inserts.is_empty() {
            // Pending, durably, before the write: a crash after the target
            // commits is recovered by context, not written again.
            progress.pending = Some(PendingChunk {
                inserts,
                last_key: rows
                    .last()
                    .map(|r| key_of(&self.source_shape, r))
                    .unwrap_or_default(),
                rows: rows.len() as u64,
            });
            // The lookup after a crash starts at a target version read
            // before this write: the last chunk's COMMIT returned one.
            if floor.is_none() {
                let conn = self.target.get(shutdown).await.ok_or(LoadError::Shutdown)?;
                *floor = write::current_version(conn)
                    .await
                    .map_err(LoadError::Target)?;
            }
            let (table, saved, since) = (name.clone(), progress.clone(), *floor);
            self.shared
                .store_thread
                .run(move |s| s.save_load_pending(d, &table, &saved, since))
                .await?;
        }
        let prefix = self.shared.context_prefix.clone();
        let conn = self.target.get(shutdown).await.ok_or(LoadError::Shutdown)?;
        let written = if second {
            write::write_in_txn(conn, &self.apply, &steps, &prefix).await
        } else {
            write::write(conn, &self.apply, &steps, &prefix).await
        }
        .map_err(LoadError::Target)?;
        if written.version.is_some() {
            *floor = written.version;
        }
        crate::fault::point("load_after_target_commit");
        Ok(written.mapped)
    }

    /// After a crash with a chunk pending: if its inserts landed (the chunk
    /// was one transaction, so all or none did), record their mappings and
    /// the chunk's progress; otherwise the chunk is simply read again.
    async fn recover_pending(
        &mut self,
        progress: &mut LoadProgress,
        pending: PendingChunk,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), LoadError> {
        let store = self.shared.store.clone();
        let name = self.name();
        let prefix = self.shared.context_prefix.clone();
        // One lookup for the chunk: this agent's writes with the chunk's
        // seqs among the target's changes since the version read before it
        // (a store from before floors were kept: every retained change).
        let since = store.target_floor(self.direction, &name)?;
        let first = pending
            .inserts
            .iter()
            .map(|(seq, _)| *seq)
            .min()
            .unwrap_or(0);
        let conn = self.target.get(shutdown).await.ok_or(LoadError::Shutdown)?;
        let found = crate::apply::outcome::find(conn, &self.apply, &prefix, first..u64::MAX, since)
            .await
            .map_err(LoadError::Target)?;
        let mut landed = Vec::new();
        for (seq, source_key) in &pending.inserts {
            match found.keys.get(seq) {
                Some(target_key) => landed.push((source_key.clone(), target_key.clone())),
                None => break,
            }
        }
        if !landed.is_empty() {
            progress.rows_done += pending.rows;
            progress.last_key = Some(pending.last_key);
            tracing::info!(direction = %self.direction, table = %name, recovered = landed.len(),
                "the load chunk in flight at the crash had landed; its ids were recovered, not inserted again");
        }
        store.save_load_chunk(
            self.direction,
            &name,
            &landed,
            &Phase::InitialLoad(progress.clone()),
        )?;
        Ok(())
    }

    /// The source key of a target key of an `Explicit`/`ForceId` table:
    /// key columns that are `references` translated back through the
    /// referenced table's mappings; `None` when one has no mapping.
    fn source_key_of(
        &self,
        store: &Store,
        target_key: &[SqlValue],
    ) -> Result<Option<Vec<SqlValue>>, StoreError> {
        let mut out = target_key.to_vec();
        for (i, pos) in self.apply.shape.key_positions().into_iter().enumerate() {
            let Some((_, referenced)) = self.apply.references.iter().find(|(p, _)| *p == pos)
            else {
                continue;
            };
            let Some(value) = target_key.get(i) else {
                continue;
            };
            if matches!(value, SqlValue::Null) {
                continue;
            }
            match store.map_key(
                referenced,
                self.direction.target(),
                std::slice::from_ref(value),
            )? {
                Some(mut k) if k.len() == 1 => out[i] = k.remove(0),
                _ => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    /// The target's key columns as a shape (for key-only reads).
    fn key_shape(&self) -> TableShape {
        TableShape {
            name: self.apply.shape.name.clone(),
            key: self.apply.shape.key.clone(),
            columns: self
                .apply
                .shape
                .key_positions()
                .into_iter()
                .filter_map(|p| self.apply.shape.columns.get(p).cloned())
                .collect(),
        }
    }
}

fn key_of(shape: &TableShape, row: &[SqlValue]) -> Vec<SqlValue> {
    shape
        .key_positions()
        .into_iter()
        .filter_map(|p| row.get(p).cloned())
        .collect()
}
