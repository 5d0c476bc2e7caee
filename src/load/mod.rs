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

mod progress;

use crate::agent::Shared;
use crate::apply::plan::{self, Action, ApplyTable, Hold, IdMaps, KeyMode, Step};
use crate::apply::write::{self, WriteError};
use crate::config::{Initial, TableConfig};
use crate::link::Link;
use crate::model::{Direction, OpKind, Operation, SqlValue};
use crate::mssql::statements::{self, TableShape};
use crate::mssql::value::{from_column, to_column};
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
            Phase::InitialLoad(_) | Phase::Reinit { .. } => true,
            Phase::Streaming | Phase::Stopped { .. } => false,
        })
    }

    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let name = self.name();
        let mut failing = false;
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
                        Duration::from_millis(0)
                    }
                    Err(LoadError::Shutdown) => break,
                    Err(e) => {
                        if !failing {
                            tracing::warn!(direction = %self.direction, table = %name, error = %e,
                                "initial load interrupted; it resumes from its last finished chunk");
                            failing = true;
                        }
                        self.shared
                            .set_last_error(self.direction, &name, &e.to_string());
                        if let LoadError::Source(_) = e {
                            self.source.broken(&e);
                        } else {
                            self.target.broken(&e);
                        }
                        Duration::from_millis(
                            self.shared.config.sync.retry.initial_backoff_ms.max(200),
                        )
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
        let store = self.shared.store.clone();
        let name = self.name();
        let d = self.direction;
        let mut progress = match store.phase(d, &name)? {
            Phase::InitialLoad(p) => p,
            Phase::Reinit { reason } => {
                // Queued changes predate the reload; the reload supersedes
                // them. Mappings stay: the reload refreshes them.
                let p = LoadProgress {
                    reason: Some(reason),
                    ..LoadProgress::default()
                };
                store.reset_queue(d, &name, &Phase::InitialLoad(p.clone()))?;
                p
            }
            _ => LoadProgress::default(),
        };
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
            store.set_phase(d, &name, &Phase::InitialLoad(progress.clone()))?;
            tracing::info!(direction = %d, table = %name, start_version = v0, rows = total,
                reason = progress.reason.as_deref().unwrap_or("initial load"), "initial load starts");
        }
        if let Some(pending) = progress.pending.take() {
            self.recover_pending(&mut progress, pending, shutdown)
                .await?;
        }
        let v0 = progress.start_version.unwrap_or(0);
        if store.watermark(d.source(), &name)?.is_none() {
            store.enqueue_batch(d, &name, &[], d.source(), v0)?;
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
        let bulk = explicit && !descending && target_clear;
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
        let mut shown = progress::Progress::new(
            format!("{name} {d}"),
            progress.rows_total,
            progress.rows_done,
        );
        if bulk {
            self.bulk_copy(&mut progress, &mut shown, shutdown).await?;
        }
        while !bulk {
            if *shutdown.borrow() {
                return Err(LoadError::Shutdown);
            }
            let want = match limit {
                Some(n) => (n.saturating_sub(progress.rows_done) as usize).min(chunk_rows),
                None => chunk_rows,
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
            if let Some(last) = rows.last() {
                let mapped = self.write_chunk(&rows, &mut progress, shutdown).await?;
                progress.pending = None;
                progress.rows_done += rows.len() as u64;
                progress.last_key = Some(key_of(&self.source_shape, last));
                store.save_load_chunk(d, &name, &mapped, &Phase::InitialLoad(progress.clone()))?;
            }
            shown.update(progress.rows_done, progress.rows_total);
            if done {
                break;
            }
        }
        shown.finish();
        let one_way = !self.table.directions().contains(&d.reverse());
        if one_way && limit.is_none() && !target_was_empty {
            self.remove_target_only(shutdown).await?;
        }
        store.set_phase(d, &name, &Phase::Streaming)?;
        self.shared.wake(d, &name).notify_one();
        tracing::info!(direction = %d, table = %name, rows = progress.rows_done, start_version = v0,
            "initial load done; streaming changes");
        Ok(())
    }

    /// The copy into a target with nothing after the last copied key, by
    /// bulk load, in chunks of [`BULK_CHUNK_ROWS`]: the next chunk is read
    /// from the source while this one is written to the target (two
    /// connections), and each chunk's progress is made durable after it
    /// committed.
    async fn bulk_copy(
        &mut self,
        progress: &mut LoadProgress,
        shown: &mut progress::Progress,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), LoadError> {
        let store = self.shared.store.clone();
        let (name, d) = (self.name(), self.direction);
        let want = BULK_CHUNK_ROWS;
        let conn = self.source.get(shutdown).await.ok_or(LoadError::Shutdown)?;
        let mut rows = read_rows(
            conn,
            &self.source_shape,
            progress.last_key.as_deref(),
            want,
            false,
        )
        .await
        .map_err(LoadError::Source)?;
        let key_positions = self.source_shape.key_positions();
        while let Some(last) = rows.last() {
            if *shutdown.borrow() {
                return Err(LoadError::Shutdown);
            }
            let done = rows.len() < want;
            let mut last_key = Vec::with_capacity(key_positions.len());
            for p in &key_positions {
                let cell = last.cells().nth(*p).map(|(_, d)| d.clone());
                let value = cell
                    .map(from_column)
                    .transpose()
                    .map_err(|e| LoadError::Data(e.to_string()))?
                    .ok_or_else(|| LoadError::Data("a source row lacks its key column".into()))?;
                last_key.push(value);
            }
            let count = rows.len() as u64;
            let Some(source) = self.source.get(shutdown).await else {
                return Err(LoadError::Shutdown);
            };
            let Some(target) = self.target.get(shutdown).await else {
                return Err(LoadError::Shutdown);
            };
            let read_next = async {
                if done {
                    return Ok(Vec::new());
                }
                read_rows(source, &self.source_shape, Some(&last_key), want, false).await
            };
            let (written, next) =
                tokio::join!(bulk_write(target, &self.apply.shape, rows), read_next);
            written?;
            progress.pending = None;
            progress.rows_done += count;
            progress.last_key = Some(last_key);
            store.save_load_chunk(d, &name, &[], &Phase::InitialLoad(progress.clone()))?;
            shown.update(progress.rows_done, progress.rows_total);
            rows = next.map_err(LoadError::Source)?;
        }
        Ok(())
    }

    /// Writes one chunk (after matching equal keys of mapped tables) and
    /// returns its new mappings.
    async fn write_chunk(
        &mut self,
        rows: &[Vec<SqlValue>],
        progress: &mut LoadProgress,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Vec<(Vec<SqlValue>, Vec<SqlValue>)>, LoadError> {
        let store = self.shared.store.clone();
        let name = self.name();
        let d = self.direction;
        let base = LOAD_SEQ_BASE + progress.rows_done;
        let mut ops: Vec<(u64, Operation)> = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let key = key_of(&self.source_shape, row);
            // Second pass of a `both` table: rows the first pass mapped are
            // the same rows; only the target's own rows go back.
            if d == Direction::BToA
                && self.apply.mode == KeyMode::Mapped
                && self.table.directions().contains(&Direction::AToB)
                && store.map_key(&name, d.source(), &key)?.is_some()
            {
                continue;
            }
            ops.push((
                base + i as u64,
                Operation {
                    kind: OpKind::Insert,
                    key,
                    row: Some(row.clone()),
                    version: 0,
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
            store.set_phase(d, &name, &Phase::InitialLoad(progress.clone()))?;
        }
        let prefix = self.shared.context_prefix.clone();
        let conn = self.target.get(shutdown).await.ok_or(LoadError::Shutdown)?;
        let written = write::write(conn, &self.apply, &steps, &prefix)
            .await
            .map_err(LoadError::Target)?;
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
        let mut landed = Vec::new();
        for (seq, source_key) in &pending.inserts {
            let conn = self.target.get(shutdown).await.ok_or(LoadError::Shutdown)?;
            match write::find_landed(conn, &self.apply, &prefix, *seq, None)
                .await
                .map_err(LoadError::Target)?
            {
                Some(target_key) => landed.push((source_key.clone(), target_key)),
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

    /// Rows with equal keys on both sides, neither mapped yet, are the same
    /// row: map them so the load updates instead of inserting a copy.
    async fn match_equal_keys(
        &mut self,
        ops: &[(u64, Operation)],
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), LoadError> {
        let store = self.shared.store.clone();
        let name = self.name();
        let d = self.direction;
        let mut unmapped = Vec::new();
        for (_, op) in ops {
            if store.map_key(&name, d.source(), &op.key)?.is_none() {
                unmapped.push(op.key.clone());
            }
        }
        if unmapped.is_empty() {
            return Ok(());
        }
        let conn = self.target.get(shutdown).await.ok_or(LoadError::Shutdown)?;
        let found = existing_keys(conn, &self.apply.shape, &unmapped)
            .await
            .map_err(|e| LoadError::Target(WriteError::Sql(e)))?;
        let mut pairs = Vec::new();
        for key in found {
            if store.map_key(&name, d.target(), &key)?.is_none() {
                pairs.push((key.clone(), key));
            }
        }
        if !pairs.is_empty() {
            store.record_mappings(&name, d.source(), &pairs)?;
        }
        Ok(())
    }

    /// One-way full loads make the target equal to the source: rows only
    /// the target has are deleted (tagged, like every write of ours).
    async fn remove_target_only(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), LoadError> {
        let store = self.shared.store.clone();
        let name = self.name();
        let d = self.direction;
        let key_shape = TableShape {
            name: self.apply.shape.name.clone(),
            key: self.apply.shape.key.clone(),
            columns: self
                .apply
                .shape
                .key_positions()
                .into_iter()
                .filter_map(|p| self.apply.shape.columns.get(p).cloned())
                .collect(),
        };
        let source_keys = TableShape {
            name: self.source_shape.name.clone(),
            ..key_shape.clone()
        };
        let chunk_rows = (PARAMS_PER_CHUNK_MAX / key_shape.key.len().max(1)).min(1_000);
        let mut last: Option<Vec<SqlValue>> = None;
        let mut removed = 0u64;
        let mut seq = LOAD_SEQ_BASE + (1 << 60);
        loop {
            let conn = self.target.get(shutdown).await.ok_or(LoadError::Shutdown)?;
            let keys = read_chunk(conn, &key_shape, last.as_deref(), chunk_rows, false)
                .await
                .map_err(|e| LoadError::Target(WriteError::Sql(e)))?;
            let done = keys.len() < chunk_rows;
            last = keys.last().cloned();
            let mut gone = Vec::new();
            if self.apply.mode == KeyMode::Mapped {
                for k in &keys {
                    if store.map_key(&name, d.target(), k)?.is_none() {
                        gone.push(k.clone());
                    }
                }
            } else if !keys.is_empty() {
                // Key columns that are references hold the target's ids:
                // back to the source's before asking the source. A value
                // with no mapping names no source row: the row is the
                // target's only.
                let mut pairs = Vec::with_capacity(keys.len());
                for k in keys {
                    match self.source_key_of(&store, &k)? {
                        Some(source_key) => pairs.push((k, source_key)),
                        None => gone.push(k),
                    }
                }
                let asked: Vec<Vec<SqlValue>> = pairs.iter().map(|(_, s)| s.clone()).collect();
                let conn = self.source.get(shutdown).await.ok_or(LoadError::Shutdown)?;
                let present = existing_keys(conn, &source_keys, &asked)
                    .await
                    .map_err(LoadError::Source)?;
                gone.extend(
                    pairs
                        .into_iter()
                        .filter(|(_, s)| !present.contains(s))
                        .map(|(k, _)| k),
                );
            }
            if !gone.is_empty() {
                let steps: Vec<Step> = gone
                    .iter()
                    .map(|k| {
                        seq += 1;
                        Step {
                            seq,
                            action: Action::Delete {
                                key: k.clone(),
                                source_key: None,
                            },
                        }
                    })
                    .collect();
                let prefix = self.shared.context_prefix.clone();
                let conn = self.target.get(shutdown).await.ok_or(LoadError::Shutdown)?;
                write::write(conn, &self.apply, &steps, &prefix)
                    .await
                    .map_err(LoadError::Target)?;
                removed += gone.len() as u64;
            }
            if done {
                break;
            }
        }
        if removed > 0 {
            tracing::info!(direction = %d, table = %name, removed, "initial load removed rows only the target had");
        }
        Ok(())
    }
}

/// Bulk-loads `rows` (as read from the source, in the same column order)
/// into the target table (tiberius' `bulk_insert`, the TDS BULK LOAD
/// stream): one request, far cheaper than statements, and the values go as
/// they came, with no conversion in between. Only into a range of keys the
/// target has nothing in (see the caller).
async fn bulk_write(
    conn: &mut Connection,
    shape: &TableShape,
    rows: Vec<tiberius::Row>,
) -> Result<(), LoadError> {
    let table = shape.name.quoted();
    let columns: Vec<String> = shape
        .columns
        .iter()
        .map(|c| crate::mssql::ident::quote(&c.name))
        .collect::<Result<_, _>>()
        .map_err(|e| LoadError::Data(e.to_string()))?;
    let column_refs: Vec<&str> = columns.iter().map(String::as_str).collect();
    let bulk = async {
        let mut req = conn
            .bulk_insert_with_options(
                &table,
                &column_refs,
                tiberius::SqlBulkCopyOptions::empty(),
                &[],
            )
            .await?;
        for row in rows {
            let mut token = tiberius::TokenRow::new();
            for data in row {
                token.push(data);
            }
            req.send(token).await?;
        }
        req.finalize().await
    };
    bulk.await
        .map_err(|e| LoadError::Target(WriteError::Sql(e)))?;
    Ok(())
}

fn key_of(shape: &TableShape, row: &[SqlValue]) -> Vec<SqlValue> {
    shape
        .key_positions()
        .into_iter()
        .filter_map(|p| row.get(p).cloned())
        .collect()
}

/// The start version and the row count, read together in one SNAPSHOT
/// transaction.
async fn start_point(
    conn: &mut Connection,
    shape: &TableShape,
) -> Result<(i64, u64), tiberius::error::Error> {
    conn.simple_query(statements::BEGIN_SNAPSHOT)
        .await?
        .into_results()
        .await?;
    let read = async {
        let v0 = conn
            .simple_query(statements::CURRENT_VERSION)
            .await?
            .into_row()
            .await?
            .and_then(|r| r.get::<i64, _>(0))
            .unwrap_or(0);
        let total = conn
            .simple_query(load_sql::count(shape))
            .await?
            .into_row()
            .await?
            .and_then(|r| r.get::<i64, _>(0))
            .unwrap_or(0);
        Ok::<_, tiberius::error::Error>((v0, total.max(0) as u64))
    }
    .await;
    conn.simple_query(statements::END_SNAPSHOT_READ)
        .await?
        .into_results()
        .await?;
    read
}

/// Up to `rows` rows after `after` in key order, as the server sent them.
async fn read_rows(
    conn: &mut Connection,
    shape: &TableShape,
    after: Option<&[SqlValue]>,
    rows: usize,
    descending: bool,
) -> Result<Vec<tiberius::Row>, tiberius::error::Error> {
    let sql = load_sql::chunk(shape, after.is_some(), descending)
        .map_err(|e| tiberius::error::Error::Conversion(e.to_string().into()))?;
    let mut params: Vec<tiberius::ColumnData<'_>> =
        vec![tiberius::ColumnData::I64(Some(rows as i64))];
    if let Some(k) = after {
        params.extend(k.iter().map(to_column));
    }
    let refs: Vec<&dyn tiberius::ToSql> =
        params.iter().map(|p| p as &dyn tiberius::ToSql).collect();
    conn.query(sql.as_str(), &refs)
        .await?
        .into_first_result()
        .await
}

/// [`read_rows`] converted to typed values.
async fn read_chunk(
    conn: &mut Connection,
    shape: &TableShape,
    after: Option<&[SqlValue]>,
    rows: usize,
    descending: bool,
) -> Result<Vec<Vec<SqlValue>>, tiberius::error::Error> {
    let result = read_rows(conn, shape, after, rows, descending).await?;
    let mut out = Vec::with_capacity(result.len());
    for row in result {
        let mut values = Vec::with_capacity(shape.columns.len());
        for data in row.into_iter() {
            values.push(
                from_column(data)
                    .map_err(|e| tiberius::error::Error::Conversion(e.to_string().into()))?,
            );
        }
        out.push(values);
    }
    Ok(out)
}

/// Which of `keys` exist in the table (key columns only), in batches that
/// fit a request.
async fn existing_keys(
    conn: &mut Connection,
    shape: &TableShape,
    keys: &[Vec<SqlValue>],
) -> Result<Vec<Vec<SqlValue>>, tiberius::error::Error> {
    let width = shape.key.len().max(1);
    // Composite keys become OR'd conditions: keep those requests small.
    let per = if width == 1 {
        PARAMS_PER_CHUNK_MAX
    } else {
        (500 / width).max(1)
    };
    let mut found = Vec::new();
    for part in keys.chunks(per) {
        let sql = load_sql::existing_keys(shape, part.len())
            .map_err(|e| tiberius::error::Error::Conversion(e.to_string().into()))?;
        let params: Vec<tiberius::ColumnData<'_>> =
            part.iter().flat_map(|k| k.iter().map(to_column)).collect();
        let refs: Vec<&dyn tiberius::ToSql> =
            params.iter().map(|p| p as &dyn tiberius::ToSql).collect();
        let rows = conn
            .query(sql.as_str(), &refs)
            .await?
            .into_first_result()
            .await?;
        for row in rows {
            let mut key = Vec::with_capacity(width);
            for data in row.into_iter() {
                key.push(
                    from_column(data)
                        .map_err(|e| tiberius::error::Error::Conversion(e.to_string().into()))?,
                );
            }
            found.push(key);
        }
    }
    Ok(found)
}
