//! `ctsync run`: the long-running agent. One capture loop per source server,
//! one applier per (direction, table), a control socket for `inspect`, and
//! graceful shutdown on SIGINT/SIGTERM (finish or roll back the batch in hand,
//! make the store durable, exit 0).

pub mod apply_loop;
mod apply_outcome;
mod apply_two_way;
pub mod capture_loop;
pub mod memory;
pub mod once;
pub mod queue_owner;
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
    /// `ctsync:<agent_id>:` — the SYS_CHANGE_CONTEXT prefix of our writes.
    pub context_prefix: Vec<u8>,
    pub status: Status,
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
}

/// What the holder of a two-way table's turn inherits from the last one.
#[derive(Default)]
pub struct Turn {
    /// The last batch's completion, still running on a blocking thread.
    /// Whoever commits next on either side waits for it first: a target
    /// commit never rests on a completion a crash could lose.
    pub completing: Option<Completing>,
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
            store,
            context_prefix,
            status: Status::default(),
            wakes,
            turns,
            queue_senders,
            inboxes: std::sync::Mutex::new(inboxes),
        }
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
pub async fn run(
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), setup::SetupError> {
    let plan = setup::prepare(&shared, shutdown.clone()).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for capturer in plan.capturers {
        tasks.spawn(capturer.run(shutdown.clone()));
    }
    for applier in plan.appliers {
        tasks.spawn(applier.run(shutdown.clone()));
    }
    for loader in plan.loaders {
        tasks.spawn(loader.run(shutdown.clone()));
    }
    tasks.spawn(memory::trim_loop(shutdown.clone()));
    tracing::info!(agent_id = %shared.config.agent_id, tables = shared.config.tables.len(), "ctsync running");
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            tracing::error!(error = %e, "a loop of the agent ended abnormally");
        }
    }
    let store = shared.store.clone();
    tokio::task::spawn_blocking(move || store.flush_durable())
        .await
        .map_err(|e| setup::SetupError::Check {
            side: "-",
            message: format!("final flush: {e}"),
        })?
        .map_err(setup::SetupError::Store)?;
    tracing::info!("ctsync stopped; state is durable");
    Ok(())
}
