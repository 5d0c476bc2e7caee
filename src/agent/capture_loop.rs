//! The capture loop of one source server: every `poll_interval_ms`, one
//! [`crate::capture::poll`] for every table that flows out of this server,
//! then per table one durable store step that appends the operations to the
//! queue and advances the watermark together.
//!
//! A table whose capture fails by itself (a dropped column, an unsupported
//! type, change tracking turned off on it) is "erroring": logged once at
//! `warn`, shown by `inspect`, left out of the server's polls and tried
//! again with backoff, while the server's other tables go on; its watermark
//! stays where its last enqueued changes end. A store failure ends the loop
//! with an error: the agent then stops (see `super::run`).

use super::capture_erroring::Erroring;
use super::database_identity::identity_change;
use super::Shared;
use crate::backoff::Backoff;
use crate::capture::{self, CaptureError, TableCapture, TableRequest};
use crate::config::{Initial, OnExpired};
use crate::link::Link;
use crate::model::{Direction, Side};
use crate::mssql::statements::TableShape;
use crate::store::Phase;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
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
    /// Tables held by a schema problem (see `schema_follow`).
    pub schema_held: std::collections::HashSet<String>,
    /// Tables waiting for their queue to drain before taking up new
    /// columns (logged once).
    pub draining: std::collections::HashSet<String>,
    /// Per table, (bytes, operations) of its last read that found some:
    /// sizes the next read in bytes (`capture_bytes_max`).
    pub row_bytes: HashMap<String, (usize, usize)>,
    /// Polls so far: where the next poll's table order starts, so tables
    /// deferred by the poll's byte bound are read first next time.
    pub turn: usize,
    /// What the last full poll left when it read everything (see
    /// `idle_poll`): the next poll is one request if nothing moved.
    pub quiet: Option<super::idle_poll::Quiet>,
}

impl Capturer {
    /// Runs until `shutdown`; returns an error when the loop cannot go on
    /// (the state store failed).
    pub async fn run(
        mut self,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), CaptureLoopError> {
        let retry = self.shared.config.sync.retry.clone();
        let mut backoff = Backoff::new(retry.initial_backoff_ms, retry.max_backoff_ms);
        let interval = Duration::from_millis(self.shared.config.sync.poll_interval_ms);
        let direction = Direction::from_source(self.side);
        let mut erroring = Erroring::default();
        // The agent is ready once every capture loop polled (`service`).
        let mut first_poll = true;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let delay = match self
                .poll_once(direction, &mut shutdown, &mut erroring)
                .await
            {
                Ok(more) => {
                    if std::mem::take(&mut first_poll) {
                        self.shared.health.first_poll_done();
                    }
                    self.shared.monitor.polled(self.side);
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
                    self.shared.set_capture_error(self.side, &e.to_string());
                    return Err(CaptureLoopError::Store(e));
                }
                Err(PollError::Fault(point)) => {
                    return Err(CaptureLoopError::Fault(point));
                }
                Err(PollError::Capture(e)) => {
                    let link = e.sql_error().is_some_and(crate::error::is_link_error);
                    if let Some(sql) = e.sql_error().filter(|_| link) {
                        self.link.broken(sql);
                    }
                    let class = match link {
                        true => crate::monitor::ErrorClass::Link,
                        false => crate::monitor::ErrorClass::Capture,
                    };
                    self.shared.monitor.error(direction, "", class);
                    tracing::debug!(server = self.side.as_str(), error = %e, "capture failed; retrying");
                    self.shared.set_capture_error(self.side, &e.to_string());
                    backoff.next_delay()
                }
            };
            // An erroring table due sooner than the next poll is tried then.
            let delay = erroring.next_due().map_or(delay, |due| {
                delay.min(due.saturating_duration_since(Instant::now()))
            });
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::debug!(server = self.side.as_str(), "capture stopped");
        Ok(())
    }

    async fn poll_once(
        &mut self,
        direction: Direction,
        shutdown: &mut watch::Receiver<bool>,
        erroring: &mut Erroring,
    ) -> Result<bool, PollError> {
        if crate::fault::active("capture_loop_panics") {
            panic!("fault injected at capture_loop_panics");
        }
        let store = self.shared.store.clone();
        // Tables held or draining, and tables reading again, with new
        // columns, changes read before without them (see `schema_follow`).
        let (held, mut rereads) = self.follow_shapes(direction)?;
        let mut active = Vec::with_capacity(self.tables.len());
        // Transactions being read in pieces: their reads go on after the
        // cursor (see `store::staged`).
        let mut staged = HashMap::new();
        let now = Instant::now();
        for (name, shape) in &self.tables {
            if self.shared.is_stopped(direction, name) || held.contains(name) {
                continue;
            }
            // An erroring table waits for its next try.
            if erroring.waiting(name, now) {
                continue;
            }
            let wm = store.watermark(self.side, name)?;
            match store.phase(direction, name)? {
                // Being reset for a reload: its owner clears the queue, the
                // loader then sets the new watermark.
                Phase::Reinit { .. } | Phase::Stopped { .. } => continue,
                // A load sets the start version itself (whatever `initial`
                // says: a reload of an `initial: none` table loads too).
                Phase::InitialLoad(_) if wm.is_none() => continue,
                Phase::Init if wm.is_none() && self.initial_of(name) != Initial::None => continue,
                _ => {}
            }
            if let Some(s) = store.staged(direction, name)? {
                staged.insert(name.as_str(), s);
            }
            active.push((name.as_str(), shape, wm));
        }
        // Who is read first turns with each poll (see `TableCapture::Deferred`).
        if !active.is_empty() {
            self.turn = self.turn.wrapping_add(1);
            let at = self.turn % active.len();
            active.rotate_left(at);
        }
        // A re-read runs from below the watermark.
        rereads.retain(|name, from| {
            active
                .iter()
                .any(|(n, _, wm)| n == name && wm.is_some_and(|w| *from < w))
        });
        // Nothing moved since a poll that read everything: one request.
        if let Some(q) = self.quiet.take() {
            if staged.is_empty()
                && rereads.is_empty()
                && q.same_tables(active.iter().map(|(n, _, wm)| (*n, *wm)))
            {
                let Some(conn) = self.link.get(shutdown).await else {
                    return Err(PollError::Shutdown);
                };
                let (current, identity, tracking) =
                    super::idle_poll::read_version_and_identity(conn).await?;
                if current == Some(q.current) && identity == q.identity && tracking == q.tracking {
                    self.quiet = Some(q);
                    return Ok(false);
                }
            }
        }
        let prefix = self.shared.context_prefix.clone();
        let rows_max = self.shared.config.sync.capture_rows_max;
        let bytes_max = self.shared.config.sync.capture_bytes_max;
        // A table whose capture fails is left out and the poll read again
        // without it (in a new snapshot), so the others go on.
        let (identity, tracking, current, found) = loop {
            if active.is_empty() {
                return Ok(false);
            }
            let mut request: Vec<TableRequest<'_>> = Vec::with_capacity(active.len());
            for (name, shape, wm) in &active {
                let t = self.table_config(name);
                let read_start_key = t.is_some_and(|t| t.implicit_identity())
                    && store.start_key(self.side, name)?.is_none();
                // Rows of the table's last read size this one in bytes, as
                // a load's chunks are sized. Unknown (the first read with
                // changes since start): one row, which may be 10 MB or more;
                // the next read is sized by it.
                let rows = match self.row_bytes.get(*name).copied() {
                    Some((bytes, n)) if n > 0 => {
                        crate::load::next_chunk_rows(bytes, n, rows_max.max(1) as usize, bytes_max)
                            as i64
                    }
                    _ => 1,
                };
                let resume = staged.get(*name);
                request.push(TableRequest {
                    shape,
                    watermark: match resume {
                        Some(s) => Some(s.read_from),
                        None => rereads.get(*name).copied().or(*wm),
                    },
                    read_start_key,
                    read_changed: t.is_some_and(|t| t.merges_columns()),
                    rows_max: rows,
                    resume,
                });
            }
            let Some(conn) = self.link.get(shutdown).await else {
                return Err(PollError::Shutdown);
            };
            match capture::poll(conn, &request, &prefix, bytes_max).await {
                Ok(p) => break (p.identity, p.tracking, p.current, p.found),
                Err(CaptureError::Table { index, source }) if index < active.len() => {
                    let (name, _, _) = active.remove(index);
                    erroring.failed(&self.shared, self.side, direction, name, &source);
                }
                Err(e) => return Err(e.into()),
            }
        };
        if self.restored(&store, direction, &identity, current).await? {
            return Ok(false);
        }
        let mut more_any = false;
        // Watermarks of tables that read nothing: one durable step for all.
        let mut quiet_moves = Vec::new();
        // Children first: when a parent's delete is queued, the changes of
        // its child tables read in the same snapshot (a child delete before
        // it, say) are queued already, so the parent's applier sees them
        // (`references::parent_deletes_allowed`).
        let mut polled: Vec<_> = active.iter().zip(found).collect();
        let rank = self.parent_ranks();
        polled.sort_by_key(|((name, _, _), _)| rank.get(*name).copied().unwrap_or(0));
        for ((name, _, wm), found) in polled {
            let from = *wm;
            // A re-read ends below the watermark while it has more to read:
            // the watermark stays, the re-read point moves on.
            let reread = rereads.get(*name).copied();
            erroring.cleared(&self.shared, self.side, direction, name);
            if let Some(max_key) = found.start_key {
                tracing::info!(server = self.side.as_str(), table = name, max_key = ?max_key,
                    "rows up to this key existed before the sync began: equal keys on both sides are the same row");
                store.set_start_key(self.side, name, max_key)?;
            }
            match found.capture {
                TableCapture::Start { version } => {
                    let table = name.to_string();
                    let started = self
                        .shared
                        .store_thread
                        .run(move |s| s.start_streaming(direction, &table, version))
                        .await?;
                    if !started {
                        // Set up otherwise meanwhile (a reload requested).
                        continue;
                    }
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
                    piece,
                } => {
                    more_any |= more;
                    let was_staged = staged.get(*name);
                    // The read ends its transaction (not a piece of one).
                    let ends = piece.is_none();
                    match (&piece, was_staged) {
                        (Some(p), None) => tracing::info!(
                            server = self.side.as_str(),
                            table = name,
                            version = p.through,
                            "a source transaction larger than one read: reading it in pieces; it is applied once whole"
                        ),
                        (None, Some(s)) => tracing::info!(
                            server = self.side.as_str(),
                            table = name,
                            version = s.through,
                            rows = s.rows + (ops.len() + skipped_own) as u64,
                            "source transaction read whole; its changes go to the applier"
                        ),
                        _ => {}
                    }
                    // Where the re-read goes on next (after this enqueue).
                    let (through_version, reread_next) = match (reread, from) {
                        (Some(_), Some(w)) => (
                            through_version.max(w),
                            Some((through_version < w).then_some(through_version)),
                        ),
                        _ => (through_version, None),
                    };
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
                        if ends && was_staged.is_none() && reread.is_none() {
                            // Moved with the other unchanged tables, below.
                            if from != Some(through_version) {
                                quiet_moves.push(crate::store::QuietMove {
                                    table: name.to_string(),
                                    from,
                                    version: through_version,
                                });
                            }
                        } else if from != Some(through_version) || !ends || was_staged.is_some() {
                            let (table, side) = (name.to_string(), self.side);
                            self.shared
                                .store_thread
                                .run(move |s| {
                                    s.enqueue_captured(
                                        direction,
                                        &table,
                                        &[],
                                        side,
                                        from,
                                        through_version,
                                        piece.as_ref(),
                                    )
                                })
                                .await?;
                        }
                        if ends {
                            self.reread_moved(direction, name, reread_next)?;
                        }
                        continue;
                    }
                    let bytes: usize = ops.iter().map(crate::model::Operation::approx_bytes).sum();
                    self.row_bytes.insert(name.to_string(), (bytes, ops.len()));
                    crate::fault::point("capture_before_enqueue");
                    // Ends the loop the way a failed store step would.
                    if crate::fault::active("capture_loop_fails") {
                        return Err(PollError::Fault("capture_loop_fails"));
                    }
                    capture_hold_point().await;
                    let n_ops = ops.len();
                    let (table, side) = (name.to_string(), self.side);
                    let queued = self
                        .shared
                        .store_thread
                        .run(move |s| {
                            s.enqueue_captured(
                                direction,
                                &table,
                                &ops,
                                side,
                                from,
                                through_version,
                                piece.as_ref(),
                            )
                        })
                        .await?;
                    if queued && !ends && was_staged.is_none() {
                        // A piece is durable, the transaction is not whole.
                        crate::fault::point("capture_after_first_piece");
                        piece_hold_point().await;
                    }
                    if !queued {
                        tracing::info!(server = self.side.as_str(), table = name, from, through_version,
                            "changes read across a reset of the table's queue were not queued: the reload supersedes them");
                        continue;
                    }
                    tracing::debug!(
                        server = self.side.as_str(),
                        table = name,
                        captured = n_ops,
                        skipped_own,
                        through_version,
                        "captured"
                    );
                    self.shared.captured(direction, name, n_ops);
                    if ends {
                        self.reread_moved(direction, name, reread_next)?;
                    }
                }
                TableCapture::Deferred => more_any = true,
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
        if !quiet_moves.is_empty() {
            let side = self.side;
            self.shared
                .store_thread
                .run(move |s| s.advance_quiet(direction, side, &quiet_moves))
                .await?;
        }
        // Everything read through `current`, nothing left over: the next
        // poll may be the idle one.
        if !more_any && staged.is_empty() && rereads.is_empty() {
            let mut tables = Vec::with_capacity(active.len());
            for (name, _, _) in &active {
                match store.watermark(self.side, name)? {
                    Some(w) if w == current => tables.push((name.to_string(), w)),
                    _ => return Ok(more_any),
                }
            }
            self.quiet = Some(super::idle_poll::Quiet {
                current,
                identity,
                tracking,
                tables,
            });
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
    async fn restored(
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
            Some(s) => identity_change(self.side.as_str(), &s.identity, identity),
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
            let seen = crate::store::ServerIdentity {
                identity: identity.to_string(),
                last_current_version: current,
                seen_ms: super::status::now_ms(),
            };
            let side = self.side;
            self.shared
                .store_thread
                .run(move |s| s.set_server(side, &seen))
                .await?;
        }
        Ok(reason.is_some())
    }

    /// Per table, how many tables reference it directly or through others
    /// (`references`): 0 for a leaf child, more for a parent. Bounded by the
    /// number of configured tables (a cycle stops there).
    fn parent_ranks(&self) -> HashMap<String, usize> {
        let tables = &self.shared.config.tables;
        let mut rank: HashMap<String, usize> = HashMap::new();
        for _ in 0..tables.len() {
            let mut changed = false;
            for t in tables {
                let child = rank.get(&t.name.to_string()).copied().unwrap_or(0);
                for parent in t.references.values() {
                    let parent = parent.to_string();
                    if parent == t.name.to_string() {
                        continue;
                    }
                    let r = rank.entry(parent).or_insert(0);
                    if *r < child + 1 {
                        *r = child + 1;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        rank
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

/// Why a capture loop ended before it was asked to stop.
#[derive(Debug, thiserror::Error)]
pub enum CaptureLoopError {
    #[error("the state store failed: {0}")]
    Store(#[source] crate::store::StoreError),
    #[error("fault injected at {0} (a test of loop supervision)")]
    Fault(&'static str),
}

#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("shutting down")]
    Shutdown,
    #[error("fault injected at {0}")]
    Fault(&'static str),
}

/// Test hook: with `CTSYNC_TEST_FAULT=capture_hold_before_enqueue`, changes
/// read from the source wait `CTSYNC_TEST_HOLD_MS` (default 2,000) before
/// they are queued, so a test can reset the table's queue meanwhile.
async fn capture_hold_point() {
    if crate::fault::active("capture_hold_before_enqueue") {
        let ms = std::env::var("CTSYNC_TEST_HOLD_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000u64);
        tracing::info!(
            hold_ms = ms,
            "test hold: captured changes wait before they are queued"
        );
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// Test hook: with `CTSYNC_TEST_FAULT=capture_hold_after_first_piece`, the
/// first piece of a source transaction read in pieces is queued (staged)
/// and capture waits `CTSYNC_TEST_HOLD_MS` (default 2,000) before it reads
/// the next one, so a test can see that the applier does not write it.
async fn piece_hold_point() {
    if crate::fault::active("capture_hold_after_first_piece") {
        let ms = std::env::var("CTSYNC_TEST_HOLD_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000u64);
        tracing::info!(
            hold_ms = ms,
            "test hold: a staged piece waits before the next is read"
        );
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}
