//! `ctsync run`: the long-running agent. One capture loop per source server,
//! one applier per (direction, table), a control socket for `inspect`, and
//! graceful shutdown on SIGINT/SIGTERM (finish or roll back the batch in hand,
//! make the store durable, exit 0).

pub mod apply_loop;
mod apply_outcome;
mod apply_two_way;
mod capture_erroring;
pub mod capture_loop;
pub mod catalog;
mod database_identity;
mod idle_poll;
pub mod memory;
pub mod once;
pub mod queue_owner;
mod references;
mod schema_follow;
mod schema_watch;
pub mod service;
pub mod setup;
pub mod status;

use crate::config::Config;
use crate::model::{Direction, Side};
use crate::store::Store;
use status::Status;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{watch, Notify};

/// What every loop of the agent shares.
pub struct Shared {
    pub config: Config,
    pub store: Arc<Store>,
    /// Where the loops' durable store writes run (off the async workers).
    pub store_thread: crate::store::StoreThread,
    /// `ctsync:<agent_id>:` — the SYS_CHANGE_CONTEXT prefix of our writes.
    pub context_prefix: Vec<u8>,
    pub status: Status,
    /// Liveness for the service manager (`service`).
    pub health: service::Health,
    /// What only monitoring needs (`crate::monitor`).
    pub monitor: crate::monitor::Monitor,
    wakes: HashMap<(Direction, String), Arc<Notify>>,
    /// Per two-way table, the turn its two appliers (and an operator's
    /// conflict resolution) take: one batch at a time across both
    /// directions, so a conflict is decided once and settled in both queues
    /// while neither has a batch in flight.
    turns: HashMap<String, Arc<tokio::sync::Mutex<Turn>>>,
    /// Per queue, where operator commands for it go (`queue_owner`), and
    /// the inboxes until their appliers take them.
    queue_senders:
        HashMap<(Direction, String), tokio::sync::mpsc::Sender<queue_owner::QueueCommand>>,
    inboxes: std::sync::Mutex<HashMap<(Direction, String), queue_owner::Inbox>>,
    /// Per table synced between the servers, its columns as they stand
    /// (set at start-up, then by `schema_watch`): what capture takes up once
    /// a queue is empty, and what appliers write queued columns with.
    live_shapes: std::sync::RwLock<HashMap<String, LiveShape>>,
    /// Woken when a statement failed in a way a schema change explains
    /// ([`schema_error`]): the schema check runs at once.
    pub schema_check: Notify,
}

/// SQL Server errors a changed schema explains: invalid column name (207),
/// invalid object name (208), column list and values differ (213), ALTER
/// TABLE-related (4901, 4902), string or binary data truncated (2628, 8152)
/// (docs/relational-databases/errors-events/database-engine-events-and-errors-0-to-999.md,
/// ...-4000-to-4999.md, ...-8000-to-8999.md, ...-2000-to-2999.md).
pub fn schema_error(number: Option<u32>) -> bool {
    matches!(number, Some(207 | 208 | 213 | 4901 | 4902 | 2628 | 8152))
}

/// A table's columns on both servers as they stand, matched by name.
#[derive(Debug, Clone)]
pub struct LiveShape {
    /// The shapes on a and b: the same columns in the same order.
    pub shapes: [crate::mssql::statements::TableShape; 2],
    /// Why the table cannot sync as the servers stand (a synced column
    /// dropped on one side, a change that would lose data, another key):
    /// capture and apply hold it, with this reason, until it is fixed.
    pub problem: Option<String>,
    /// Per side (a, b), a change-tracking version read before the columns
    /// last changed: capture taking up the new columns reads again from it
    /// (`None`: not known, nothing read again).
    pub since: [Option<i64>; 2],
}

/// What the holder of a two-way table's turn inherits from the last one.
#[derive(Default)]
pub struct Turn {
    /// The last batch's completion, still running on a blocking thread.
    /// Whoever commits next on either side waits for it first: a target
    /// commit never rests on a completion a crash could lose.
    pub completing: Option<Completing>,
    /// A direction whose last write's outcome is unknown: until it settled
    /// it, the other direction takes no turn — its check would take the
    /// ops in doubt for queued, unapplied changes and decide a conflict the
    /// target may already have settled.
    pub in_doubt: Option<Direction>,
}

/// A batch's completion in the background.
pub struct Completing {
    /// `Some(d)`: the whole completion of direction d's batch through
    /// `through` runs (its ops are still queued: d reads past them, the
    /// other direction waits for it before reading). `None`: the store
    /// transaction is applied, only its durable flush runs.
    pub unapplied: Option<Direction>,
    pub through: u64,
    pub task: tokio::task::JoinHandle<Result<(), crate::store::StoreError>>,
}

impl Turn {
    /// Waits for the running completion, if any.
    pub async fn completed(&mut self) -> Result<(), crate::store::StoreError> {
        let Some(c) = self.completing.take() else {
            return Ok(());
        };
        match c.task.await {
            Ok(result) => result,
            // The task panicked or was cancelled (runtime shutting down):
            // durability unknown, so stop rather than commit on it.
            Err(_) => Err(crate::store::StoreError::FlushTask),
        }
    }

    /// On taking the turn to apply `direction`: waits for a completion that
    /// ended (its error, now) or that `direction` must see applied; returns
    /// the first seq to read (past a completion of its own still running).
    pub async fn begin(&mut self, direction: Direction) -> Result<u64, crate::store::StoreError> {
        let wait = match &self.completing {
            None => false,
            Some(c) => c.task.is_finished() || c.unapplied.is_some_and(|d| d != direction),
        };
        if wait {
            self.completed().await?;
        }
        Ok(match &self.completing {
            Some(c) if c.unapplied == Some(direction) => c.through + 1,
            _ => 0,
        })
    }
}

impl Shared {
    pub fn new(config: Config, store: Arc<Store>) -> Shared {
        let context_prefix = config.context_prefix();
        let mut wakes = HashMap::new();
        let mut turns = HashMap::new();
        let mut queue_senders = HashMap::new();
        let mut inboxes = HashMap::new();
        for t in &config.tables {
            if t.two_way() {
                turns.insert(
                    t.name.to_string(),
                    Arc::new(tokio::sync::Mutex::new(Turn::default())),
                );
            }
            for d in t.directions() {
                wakes.insert((d, t.name.to_string()), Arc::new(Notify::new()));
                let (tx, rx) = tokio::sync::mpsc::channel(queue_owner::INBOX_MAX);
                queue_senders.insert((d, t.name.to_string()), tx);
                inboxes.insert((d, t.name.to_string()), rx);
            }
        }
        Shared {
            config,
            store_thread: crate::store::StoreThread::start(store.clone()),
            store,
            context_prefix,
            status: Status::default(),
            health: service::Health::default(),
            monitor: Default::default(),
            wakes,
            turns,
            queue_senders,
            inboxes: std::sync::Mutex::new(inboxes),
            live_shapes: std::sync::RwLock::new(HashMap::new()),
            schema_check: Notify::new(),
        }
    }

    /// `table`'s columns as they stand, if known.
    pub fn live_shape(&self, table: &str) -> Option<LiveShape> {
        self.live_shapes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(table)
            .cloned()
    }

    pub fn set_live_shape(&self, table: &str, live: LiveShape) {
        self.live_shapes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(table.to_string(), live);
    }

    /// Where commands for the queue go, while its owner runs.
    pub fn queue_sender(
        &self,
        direction: Direction,
        table: &str,
    ) -> Option<tokio::sync::mpsc::Sender<queue_owner::QueueCommand>> {
        self.queue_senders
            .get(&(direction, table.to_string()))
            .filter(|s| !s.is_closed())
            .cloned()
    }

    /// The queue's inbox, for its owner (once).
    pub fn take_inbox(&self, direction: Direction, table: &str) -> Option<queue_owner::Inbox> {
        self.inboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(direction, table.to_string()))
    }

    pub fn wake(&self, direction: Direction, table: &str) -> Arc<Notify> {
        self.wakes
            .get(&(direction, table.to_string()))
            .cloned()
            .unwrap_or_else(|| Arc::new(Notify::new()))
    }

    /// The turn of a two-way table (a private one for any other table).
    pub fn turn(&self, table: &str) -> Arc<tokio::sync::Mutex<Turn>> {
        self.turns
            .get(table)
            .cloned()
            .unwrap_or_else(|| Arc::new(tokio::sync::Mutex::new(Turn::default())))
    }

    pub fn wake_all(&self) {
        for n in self.wakes.values() {
            n.notify_one();
        }
    }

    pub fn captured(&self, direction: Direction, table: &str, n: usize) {
        self.status.captured(direction, table, n);
        if let Some(w) = self.wakes.get(&(direction, table.to_string())) {
            w.notify_one();
        }
    }

    /// Rows an initial load (or re-initialisation) copied and made durable.
    pub fn loaded(&self, direction: Direction, table: &str, n: usize) {
        self.status.loaded(direction, table, n);
    }

    pub fn applied(&self, direction: Direction, table: &str, n: usize) {
        self.status.applied(direction, table, n);
    }

    pub fn set_last_error(&self, direction: Direction, table: &str, error: &str) {
        self.status.set_error(direction, table, error);
    }

    pub fn set_capture_error(&self, side: Side, error: &str) {
        self.status.set_capture_error(side, error);
    }

    pub fn note_waiting(
        &self,
        direction: Direction,
        table: &str,
        seq: u64,
        column: &str,
        on: &str,
    ) {
        self.status.set_waiting(
            direction,
            table,
            format!("operation {seq} waits for {column} to be mapped in {on}"),
        );
    }

    pub fn stop_table(&self, direction: Direction, table: &str, reason: &str) {
        self.status.stop(direction, table, reason);
    }

    pub fn is_stopped(&self, direction: Direction, table: &str) -> bool {
        self.status.is_stopped(direction, table)
    }
}

/// Runs until `shutdown` turns true, then returns after every loop ended.
/// A loop that ends by itself stops the agent (see [`supervise`]); its
/// cause comes back as [`setup::SetupError::Check`] (for `sync --once`).
pub async fn run(
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), setup::SetupError> {
    supervise(shared, shutdown).await.map_err(|e| match e {
        RunError::Setup(e) => e,
        RunError::Flush(e) => setup::SetupError::Store(e),
        other => setup::SetupError::Check {
            side: "-",
            message: other.to_string(),
        },
    })
}

/// Why the agent stopped other than on request.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Setup(#[from] setup::SetupError),
    /// A loop ended (returned, failed or panicked) while no shutdown was
    /// asked: the others were stopped gracefully, the store made durable.
    #[error("{name} ended unexpectedly: {cause}")]
    LoopEnded { name: String, cause: String },
    #[error("final flush of the state store: {0}")]
    Flush(#[source] crate::store::StoreError),
}

/// What a loop's future returns, as the reason it ended (`None`: it
/// ended without one).
pub trait LoopEnd {
    fn cause(self) -> Option<String>;
}

impl LoopEnd for () {
    fn cause(self) -> Option<String> {
        None
    }
}

impl<E: std::error::Error + 'static> LoopEnd for Result<(), E> {
    fn cause(self) -> Option<String> {
        self.err().map(|e| crate::error::report(&e))
    }
}

/// Which loop a task is, to name it and find its last recorded error.
#[derive(Debug, Clone)]
enum LoopName {
    Capture(Side),
    Apply(Direction, String),
    Load(Direction, String),
    MemoryTrim,
    SchemaWatch,
}

impl std::fmt::Display for LoopName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoopName::Capture(side) => write!(f, "the capture loop of server {}", side.as_str()),
            LoopName::Apply(d, t) => write!(f, "the applier of {t} ({d})"),
            LoopName::Load(d, t) => write!(f, "the loader of {t} ({d})"),
            LoopName::MemoryTrim => f.write_str("the memory trim loop"),
            LoopName::SchemaWatch => f.write_str("the schema check loop"),
        }
    }
}

impl LoopName {
    /// The last error the loop recorded in the live status, if any.
    fn last_error(&self, status: &Status) -> Option<String> {
        match self {
            LoopName::Capture(side) => status.capture_error(*side),
            LoopName::Apply(d, t) | LoopName::Load(d, t) => status.last_error(*d, t),
            LoopName::MemoryTrim | LoopName::SchemaWatch => None,
        }
    }
}

/// The text of a panic's payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// The loops of the agent, each under a name.
struct Loops {
    tasks: tokio::task::JoinSet<Option<String>>,
    names: HashMap<tokio::task::Id, LoopName>,
}

impl Loops {
    fn spawn<F>(&mut self, name: LoopName, fut: F)
    where
        F: std::future::Future + Send + 'static,
        F::Output: LoopEnd,
    {
        let handle = self.tasks.spawn(async move { fut.await.cause() });
        self.names.insert(handle.id(), name);
    }
}

/// Like [`run`], with the reason when the agent stopped by itself. Every
/// loop (capture per server, applier per (direction, table), loader per
/// table) is supervised: one that ends while no shutdown was asked — on an
/// error it returns, a panic, or with no reason — is logged once at
/// `error` with the cause, and the agent shuts down gracefully (the other
/// loops finish their batch, the store is made durable) and returns
/// [`RunError::LoopEnded`], for a non-zero exit a supervisor sees. A loop
/// that returns an error or panics during a requested shutdown counts too.
pub async fn supervise(
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let plan = setup::prepare(&shared, shutdown.clone()).await?;
    // The loops' own stop signal: the operator's shutdown, or a loop that
    // failed.
    let (stop_tx, stop) = watch::channel(*shutdown.borrow());
    let requested = {
        let mut shutdown = shutdown.clone();
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            while !*shutdown.borrow_and_update() {
                if shutdown.changed().await.is_err() {
                    return;
                }
            }
            let _ = stop_tx.send(true);
        })
    };
    let mut loops = Loops {
        tasks: tokio::task::JoinSet::new(),
        names: HashMap::new(),
    };
    shared.health.expect_first_polls(plan.capturers.len());
    for capturer in plan.capturers {
        loops.spawn(LoopName::Capture(capturer.side), capturer.run(stop.clone()));
    }
    for applier in plan.appliers {
        let name = LoopName::Apply(applier.direction, applier.table.name.clone());
        loops.spawn(name, applier.run(stop.clone()));
    }
    for loader in plan.loaders {
        let name = LoopName::Load(loader.direction, loader.table.name.to_string());
        loops.spawn(name, loader.run(stop.clone()));
    }
    loops.spawn(LoopName::MemoryTrim, memory::trim_loop(stop.clone()));
    loops.spawn(
        LoopName::SchemaWatch,
        schema_watch::SchemaWatch::new(shared.clone()).run(stop.clone()),
    );
    shared.health.loops_started();
    shared
        .monitor
        .loops_started(loops.names.values().map(ToString::to_string).collect());
    tracing::info!(agent_id = %shared.config.agent_id, tables = shared.config.tables.len(), "ctsync running");
    let mut failure: Option<RunError> = None;
    while let Some(joined) = loops.tasks.join_next_with_id().await {
        let (id, cause) = match joined {
            Ok((_, None)) if *stop.borrow() => continue,
            Ok((id, Some(cause))) => (id, cause),
            Ok((id, None)) => (id, String::new()),
            Err(e) if e.is_panic() => {
                let id = e.id();
                (id, format!("panicked: {}", panic_text(&*e.into_panic())))
            }
            Err(e) => (e.id(), format!("was cancelled: {e}")),
        };
        let name = loops
            .names
            .get(&id)
            .cloned()
            .unwrap_or(LoopName::MemoryTrim);
        let cause = if cause.is_empty() {
            match name.last_error(&shared.status) {
                Some(e) => format!("it stopped by itself; its last error: {e}"),
                None => "it stopped by itself without a recorded error (see the log line before)"
                    .to_string(),
            }
        } else {
            cause
        };
        tracing::error!(loop_name = %name, cause = %cause,
            "a loop of the agent ended while no shutdown was asked; stopping the agent (the other loops finish their batch) so that its supervisor restarts it");
        shared
            .health
            .loop_ended(format!("{name} ended unexpectedly: {cause}"));
        shared.monitor.loop_ended(&name.to_string(), &cause);
        if failure.is_none() {
            failure = Some(RunError::LoopEnded {
                name: name.to_string(),
                cause,
            });
        }
        let _ = stop_tx.send(true);
    }
    requested.abort();
    shared.health.stopped();
    let store = shared.store.clone();
    let flushed = tokio::task::spawn_blocking(move || store.flush_durable())
        .await
        .unwrap_or(Err(crate::store::StoreError::FlushTask))
        .map_err(RunError::Flush);
    match (failure, flushed) {
        (Some(f), Ok(())) => {
            tracing::info!("ctsync stopped after a loop failed; state is durable");
            Err(f)
        }
        (Some(f), Err(e)) => {
            tracing::error!(error = %e, "final flush failed");
            Err(f)
        }
        (None, Err(e)) => Err(e),
        (None, Ok(())) => {
            tracing::info!("ctsync stopped; state is durable");
            Ok(())
        }
    }
}
