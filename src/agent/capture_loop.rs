//! The capture loop of one source server: every `poll_interval_ms`, one
//! [`crate::capture::poll`] for every table that flows out of this server,
//! then per table one durable store step that appends the operations to the
//! queue and advances the watermark together.

use super::Shared;
use crate::backoff::Backoff;
use crate::capture::{self, CaptureError, TableCapture, TableRequest};
use crate::config::{Initial, OnExpired};
use crate::link::Link;
use crate::model::{Direction, Side};
use crate::mssql::statements::TableShape;
use crate::store::Phase;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub struct Capturer {
    pub side: Side,
    /// (configured table name, the source's shape) of each table captured here.
    pub tables: Vec<(String, TableShape)>,
    pub link: Link,
    pub shared: Arc<Shared>,
    /// Tables whose backlog is being read in bounded steps (logged once
    /// when that starts and once when it ends).
    pub backlog: std::collections::HashSet<String>,
}

impl Capturer {
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let retry = self.shared.config.sync.retry.clone();
        let mut backoff = Backoff::new(retry.initial_backoff_ms, retry.max_backoff_ms);
        let interval = Duration::from_millis(self.shared.config.sync.poll_interval_ms);
        let direction = Direction::from_source(self.side);
        loop {
            if *shutdown.borrow() {
                break;
            }
            let delay = match self.poll_once(direction, &mut shutdown).await {
                Ok(more) => {
                    backoff.reset();
                    // A backlog is read in bounded steps, one after another.
                    if more {
                        Duration::ZERO
                    } else {
                        interval
                    }
                }
                Err(PollError::Shutdown) => break,
                Err(PollError::Store(e)) => {
                    tracing::error!(server = self.side.as_str(), error = %e,
                        "state store failed; capture stops");
                    return;
                }
                Err(PollError::Capture(e)) => {
                    if let Some(sql) = e.sql_error() {
                        if crate::error::is_link_error(sql) {
                            self.link.broken(sql);
                        }
                    }
                    tracing::debug!(server = self.side.as_str(), error = %e, "capture failed; retrying");
                    self.shared.set_capture_error(self.side, &e.to_string());
                    backoff.next_delay()
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::debug!(server = self.side.as_str(), "capture stopped");
    }

    async fn poll_once(
        &mut self,
        direction: Direction,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<bool, PollError> {
        let store = self.shared.store.clone();
        let mut active = Vec::with_capacity(self.tables.len());
        for (name, shape) in &self.tables {
            if self.shared.is_stopped(direction, name) {
                continue;
            }
            let wm = store.watermark(self.side, name)?;
            match store.phase(direction, name)? {
                // Being re-initialised: the loader sets the new watermark.
                Phase::Reinit { .. } | Phase::Stopped { .. } => continue,
                // An initial load sets the start version itself.
                Phase::Init | Phase::InitialLoad(_)
                    if wm.is_none() && self.initial_of(name) != Initial::None =>
                {
                    continue
                }
                _ => {}
            }
            active.push((name.as_str(), shape, wm));
        }
        if active.is_empty() {
            return Ok(false);
        }
        let mut request: Vec<TableRequest<'_>> = Vec::with_capacity(active.len());
        for (name, shape, wm) in &active {
            let t = self.table_config(name);
            let read_start_key = t.is_some_and(|t| t.implicit_identity())
                && store.start_key(self.side, name)?.is_none();
            request.push(TableRequest {
                shape,
                watermark: *wm,
                read_start_key,
                read_changed: t.is_some_and(|t| t.merges_columns()),
            });
        }
        let prefix = self.shared.context_prefix.clone();
        let Some(conn) = self.link.get(shutdown).await else {
            return Err(PollError::Shutdown);
        };
        let identity = conn
            .simple_query(crate::mssql::load_sql::DATABASE_IDENTITY)
            .await
            .map_err(|source| CaptureError::Sql {
                table: "sys.databases".into(),
                source,
            })?
            .into_row()
            .await
            .map_err(|source| CaptureError::Sql {
                table: "sys.databases".into(),
                source,
            })?
            .and_then(|r| r.get::<&str, _>(0).map(str::to_string))
            .unwrap_or_default();
        let rows_max = self.shared.config.sync.capture_rows_max;
        let (current, found) = capture::poll(conn, &request, &prefix, rows_max).await?;
        if self.restored(&store, direction, &identity, current)? {
            return Ok(false);
        }
        let mut more_any = false;
        for ((name, _, _), found) in active.iter().zip(found) {
            if let Some(max_key) = found.start_key {
                tracing::info!(server = self.side.as_str(), table = name, max_key = ?max_key,
                    "rows up to this key existed before the sync began: equal keys on both sides are the same row");
                store.set_start_key(self.side, name, max_key)?;
            }
            match found.capture {
                TableCapture::Start { version } => {
                    store.enqueue_batch(direction, name, &[], self.side, version)?;
                    store.set_phase(direction, name, &Phase::Streaming)?;
                    tracing::info!(
                        server = self.side.as_str(),
                        table = name,
                        version,
                        "first capture: streaming changes from the current version"
                    );
                }
                TableCapture::Changes {
                    ops,
                    through_version,
                    skipped_own,
                    more,
                } => {
                    more_any |= more;
                    if more && self.backlog.insert(name.to_string()) {
                        tracing::info!(
                            server = self.side.as_str(),
                            table = name,
                            through_version,
                            current,
                            step_rows = self.shared.config.sync.capture_rows_max,
                            "capture backlog: reading it in bounded steps"
                        );
                    } else if !more && self.backlog.remove(*name) {
                        tracing::info!(
                            server = self.side.as_str(),
                            table = name,
                            through_version,
                            "capture backlog read; polling every poll_interval_ms again"
                        );
                    }
                    if ops.is_empty() && skipped_own == 0 {
                        // Nothing new: still advance the watermark so a
                        // quiet table does not fall behind the retention
                        // period, but only when the version moved.
                        if store.watermark(self.side, name)? != Some(through_version) {
                            store.enqueue_batch(
                                direction,
                                name,
                                &[],
                                self.side,
                                through_version,
                            )?;
                        }
                        continue;
                    }
                    crate::fault::point("capture_before_enqueue");
                    store.enqueue_batch(direction, name, &ops, self.side, through_version)?;
                    tracing::debug!(
                        server = self.side.as_str(),
                        table = name,
                        captured = ops.len(),
                        skipped_own,
                        through_version,
                        "captured"
                    );
                    self.shared.captured(direction, name, ops.len());
                }
                TableCapture::Expired {
                    watermark,
                    min_valid,
                } => {
                    let reason = format!(
                        "watermark {watermark} is older than CHANGE_TRACKING_MIN_VALID_VERSION {min_valid}: \
                         changes were cleaned up (retention passed, or the table was truncated); \
                         the table must be re-initialised"
                    );
                    if self.on_expired_of(name) == OnExpired::Reinit {
                        tracing::warn!(server = self.side.as_str(), table = name, watermark, min_valid,
                            "change history is gone; re-initialising this table (on_expired: reinit)");
                        store.set_phase(direction, name, &Phase::Reinit { reason })?;
                        continue;
                    }
                    tracing::error!(
                        server = self.side.as_str(),
                        table = name,
                        watermark,
                        min_valid,
                        "table stopped: {reason}"
                    );
                    store.set_phase(
                        direction,
                        name,
                        &Phase::Stopped {
                            reason: reason.clone(),
                        },
                    )?;
                    self.shared.stop_table(direction, name, &reason);
                }
            }
        }
        Ok(more_any)
    }
}

impl Capturer {
    /// Restore or failover detection ("Change tracking and data restore",
    /// docs/relational-databases/track-changes/work-with-change-tracking-sql-server.md):
    /// the current version going backwards, or another database identity,
    /// means the history our watermarks refer to is gone. Every table from
    /// this server is then re-initialised (or stopped, per `on_expired`).
    /// Returns whether that happened; records what was seen otherwise.
    fn restored(
        &self,
        store: &crate::store::Store,
        direction: Direction,
        identity: &str,
        current: i64,
    ) -> Result<bool, PollError> {
        let seen = store.server(self.side)?;
        let reason = match &seen {
            Some(s) if current < s.last_current_version => Some(format!(
                "the change tracking version of server {} went back from {} to {}: the database was restored or failed over",
                self.side.as_str(),
                s.last_current_version,
                current
            )),
            Some(s) if !s.identity.is_empty() && !identity.is_empty() && s.identity != identity => Some(format!(
                "server {} now reaches database {identity}, not {}: a failover or a different database",
                self.side.as_str(),
                s.identity
            )),
            _ => None,
        };
        if let Some(reason) = &reason {
            tracing::warn!(
                server = self.side.as_str(),
                "{reason}; re-initialising its tables"
            );
            for (name, _) in &self.tables {
                let phase = if self.on_expired_of(name) == OnExpired::Reinit {
                    Phase::Reinit {
                        reason: reason.clone(),
                    }
                } else {
                    self.shared.stop_table(direction, name, reason);
                    Phase::Stopped {
                        reason: reason.clone(),
                    }
                };
                store.set_phase(direction, name, &phase)?;
            }
        }
        let changed = seen
            .as_ref()
            .is_none_or(|s| s.last_current_version != current || s.identity != identity);
        if changed {
            store.set_server(
                self.side,
                &crate::store::ServerIdentity {
                    identity: identity.to_string(),
                    last_current_version: current,
                    seen_ms: super::status::now_ms(),
                },
            )?;
        }
        Ok(reason.is_some())
    }

    fn table_config(&self, name: &str) -> Option<&crate::config::TableConfig> {
        self.shared
            .config
            .tables
            .iter()
            .find(|t| t.name.to_string() == name)
    }
    fn initial_of(&self, name: &str) -> Initial {
        self.table_config(name).map_or(Initial::None, |t| t.initial)
    }
    fn on_expired_of(&self, name: &str) -> OnExpired {
        self.table_config(name)
            .map_or(OnExpired::Stop, |t| t.on_expired)
    }
}

#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("shutting down")]
    Shutdown,
}
