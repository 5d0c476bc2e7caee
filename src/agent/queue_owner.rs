//! One owner per queue: in a running agent, an operator's change to a
//! (direction, table) queue — retrying or dropping parked operations — is a
//! message to the applier that owns the queue. The applier applies it
//! between batches: its last completion durable, no write in doubt, and (on a
//! two-way table) holding the table's turn, so no batch of either direction
//! is in flight. Then it answers.
//!
//! Why: a completion removes every queued op up to its batch's last seq.
//! Ops put back under their old seqs while a batch was in flight were removed
//! with it, never applied; with the owner applying the command, no batch is
//! in flight when they go back.
//!
//! Limits: at most [`INBOX_MAX`] commands wait per queue (the sender waits
//! beyond that); an answer comes within [`ANSWER_WAIT_MS_MAX`] or the
//! command is reported as not done.

use crate::model::Direction;
use crate::store::ParkedSelect;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Commands waiting per queue at most.
pub const INBOX_MAX: usize = 16;

/// How long the operator's command waits for the owner's answer.
pub const ANSWER_WAIT_MS_MAX: u64 = 8_000;

/// How long the owner tries to settle a write in doubt before it answers
/// that the command must wait.
pub const RESOLVE_WAIT_MS_MAX: u64 = 5_000;

#[derive(Debug, Clone, PartialEq)]
pub enum QueueCommandKind {
    RetryParked(ParkedSelect),
    DropParked(ParkedSelect),
    /// `ctsync reinit`: the queue is reset and the table loaded again.
    Reinit,
    /// `ctsync verify --repair`: corrective operations appended after what
    /// is queued.
    Repair(Vec<crate::model::Operation>),
}

/// A command and where its answer goes: how many operations it moved, or
/// why it was not done.
#[derive(Debug)]
pub struct QueueCommand {
    pub kind: QueueCommandKind,
    pub reply: oneshot::Sender<Result<usize, String>>,
}

pub type Inbox = mpsc::Receiver<QueueCommand>;

/// Sends `kind` to the owner of each queue the selection touches and waits
/// for the answers (blocking: for the control socket's blocking thread).
/// A queue without an owner (a table no longer configured) is changed
/// directly: nothing else writes it.
pub fn parked_blocking(
    shared: &super::Shared,
    table: Option<&str>,
    select: ParkedSelect,
    retry: bool,
) -> Result<usize, String> {
    let store = &shared.store;
    let queues = store
        .parked_queues(table, select)
        .map_err(|e| e.to_string())?;
    let mut total = 0;
    for (direction, name) in queues {
        let kind = if retry {
            QueueCommandKind::RetryParked(select)
        } else {
            QueueCommandKind::DropParked(select)
        };
        total += match shared.queue_sender(direction, &name) {
            Some(sender) => ask_owner(&sender, kind, direction, &name)?,
            None => direct(store, direction, &name, kind).map_err(|e| e.to_string())?,
        };
        shared.wake(direction, &name).notify_one();
    }
    Ok(total)
}

/// `ctsync reinit` of one (direction, table) in a running agent, through
/// its queue's owner (blocking, like [`parked_blocking`]): how many queued
/// operations the reload superseded.
pub fn reinit_blocking(
    shared: &super::Shared,
    direction: Direction,
    name: &str,
) -> Result<usize, String> {
    let kind = QueueCommandKind::Reinit;
    let n = match shared.queue_sender(direction, name) {
        Some(sender) => ask_owner(&sender, kind, direction, name)?,
        None => direct(&shared.store, direction, name, kind).map_err(|e| e.to_string())?,
    };
    shared.wake(direction, name).notify_one();
    Ok(n)
}

/// `ctsync verify --repair` in a running agent: `ops` appended to the
/// queue of (`direction`, `name`) by its owner (blocking, like
/// [`parked_blocking`]); a queue without a running owner is appended to
/// directly (capture only appends too). Returns how many were queued, or
/// `None` when the owner, busy retrying a write (the target unreachable),
/// did not answer in time: the operations wait in its inbox and are
/// queued when it gets to them.
pub fn repair_blocking(
    shared: &super::Shared,
    direction: Direction,
    name: &str,
    ops: Vec<crate::model::Operation>,
) -> Result<Option<usize>, String> {
    let Some(t) = shared.config.table(name) else {
        return Err(format!(
            "table {name} is not in the running agent's configuration"
        ));
    };
    if !t.direction.includes(direction) {
        return Err(format!("table {name} is not synced {direction}"));
    }
    let name = t.name.to_string();
    let kind = QueueCommandKind::Repair(ops);
    let n = match shared.queue_sender(direction, &name) {
        Some(sender) => ask_owner_or_late(&sender, kind, direction, &name)?,
        None => Some(direct(&shared.store, direction, &name, kind).map_err(|e| e.to_string())?),
    };
    shared.wake(direction, &name).notify_one();
    Ok(n)
}

fn ask_owner(
    sender: &mpsc::Sender<QueueCommand>,
    kind: QueueCommandKind,
    direction: Direction,
    name: &str,
) -> Result<usize, String> {
    ask_owner_or_late(sender, kind, direction, name)?.ok_or_else(|| format!(
        "the applier of {name} ({direction}) did not take the command within {ANSWER_WAIT_MS_MAX} ms; it is applied when the applier gets to it — see `ctsync inspect`"
    ))
}

/// [`ask_owner`], with `Ok(None)` when the owner did not answer within
/// [`ANSWER_WAIT_MS_MAX`] (busy retrying a write): the command waits in
/// its inbox and is applied when the owner gets to it.
fn ask_owner_or_late(
    sender: &mpsc::Sender<QueueCommand>,
    kind: QueueCommandKind,
    direction: Direction,
    name: &str,
) -> Result<Option<usize>, String> {
    let (reply, answer) = oneshot::channel();
    let gone =
        || format!("the applier of {name} ({direction}) is not running; nothing was changed");
    sender
        .blocking_send(QueueCommand { kind, reply })
        .map_err(|_| gone())?;
    let handle = tokio::runtime::Handle::current();
    match handle.block_on(tokio::time::timeout(
        Duration::from_millis(ANSWER_WAIT_MS_MAX),
        answer,
    )) {
        Ok(Ok(r)) => r.map(Some),
        Ok(Err(_)) => Err(gone()),
        Err(_) => Ok(None),
    }
}

/// Applies `kind` to the store (by the owner, or for a queue with none).
pub fn direct(
    store: &crate::store::Store,
    direction: Direction,
    name: &str,
    kind: QueueCommandKind,
) -> Result<usize, crate::store::StoreError> {
    match kind {
        QueueCommandKind::RetryParked(sel) => store.retry_parked_in(direction, name, sel),
        QueueCommandKind::DropParked(sel) => store.drop_parked_in(direction, name, sel),
        // Recorded; the queue's owner (this agent's or the next one's)
        // resets the queue between its batches.
        QueueCommandKind::Reinit => store
            .set_phase(
                direction,
                name,
                &crate::store::Phase::Reinit {
                    reason: "requested by the operator (ctsync reinit)".into(),
                },
            )
            .map(|()| 0),
        QueueCommandKind::Repair(ops) => store
            .enqueue_repair(direction, name, &ops)
            .map(|()| ops.len()),
    }
}

/// The next command of an inbox; pending for ever without one.
pub async fn next(inbox: &mut Option<Inbox>) -> Option<QueueCommand> {
    match inbox {
        Some(i) => i.recv().await,
        None => std::future::pending().await,
    }
}

impl super::apply_loop::Applier {
    /// Brings the queue to a point between batches: the last completion
    /// durable, on a two-way table the turn held (returned: no batch of
    /// either direction runs while it is held), and a write in doubt settled
    /// if the target can be reached within [`RESOLVE_WAIT_MS_MAX`]. Whether
    /// one stays in doubt is `self.unknown.is_some()` afterwards.
    async fn between_batches(
        &mut self,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
        flushing: &mut Option<super::apply_loop::Completion>,
    ) -> Result<Option<tokio::sync::OwnedMutexGuard<super::Turn>>, crate::store::StoreError> {
        super::apply_loop::finish_flush(flushing).await?;
        let mut held = match self.two_way {
            true => Some(self.shared.turn(&self.table.name).lock_owned().await),
            false => None,
        };
        if let Some(t) = held.as_mut() {
            t.completed().await?;
        }
        if let Some(unknown) = self.unknown.clone() {
            let wait = Duration::from_millis(RESOLVE_WAIT_MS_MAX);
            let settled = tokio::time::timeout(wait, async {
                let conn = self.link.get(shutdown).await?;
                super::apply_outcome::resolve(
                    conn,
                    &self.shared,
                    &self.table,
                    self.direction,
                    &unknown,
                    &mut self.floor,
                )
                .await
                .ok()
            })
            .await;
            if matches!(settled, Ok(Some(_))) {
                self.unknown = None;
                if let Some(t) = held.as_mut() {
                    t.in_doubt = None;
                }
            }
        }
        Ok(held)
    }

    /// Applies the commands waiting for this queue, between batches (see
    /// [`Self::between_batches`]). A write that stays in doubt (the target
    /// unreachable) answers a parked command with the reason, changing
    /// nothing; a re-initialisation is recorded then and starts once the
    /// write is settled.
    pub(super) async fn serve_commands(
        &mut self,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
        flushing: &mut Option<super::apply_loop::Completion>,
    ) -> Result<(), crate::store::StoreError> {
        loop {
            let command = match self.pending_command.take() {
                Some(c) => c,
                None => match self.inbox.as_mut().map(|i| i.try_recv()) {
                    Some(Ok(c)) => c,
                    _ => return Ok(()),
                },
            };
            if command.kind == QueueCommandKind::Reinit {
                // Recorded first: it holds whatever happens next.
                if let Err(e) = direct(
                    &self.shared.store,
                    self.direction,
                    &self.table.name,
                    command.kind.clone(),
                ) {
                    let _ = command.reply.send(Err(e.to_string()));
                    return Err(e);
                }
            }
            let held = match self.between_batches(shutdown, flushing).await {
                Ok(h) => h,
                Err(e) => {
                    let _ = command.reply.send(Err(e.to_string()));
                    return Err(e);
                }
            };
            let result = if self.unknown.is_some() {
                Err(match command.kind {
                    QueueCommandKind::Reinit => format!(
                        "the re-initialisation of {} is recorded; it starts once a write to the target that is in doubt is settled (the target cannot be reached now)",
                        self.table.name
                    ),
                    _ => format!(
                        "a write of {} to the target is in doubt and the target cannot be reached to settle it; nothing was changed — try again when the link is back",
                        self.table.name
                    ),
                })
            } else {
                let done = match command.kind {
                    QueueCommandKind::Reinit => self.reset_for_reload().map(|n| n.unwrap_or(0)),
                    ref kind => direct(
                        &self.shared.store,
                        self.direction,
                        &self.table.name,
                        kind.clone(),
                    ),
                };
                match done {
                    Ok(n) => {
                        let what = match &command.kind {
                            QueueCommandKind::Repair(_) => "Repair".to_string(),
                            other => format!("{other:?}"),
                        };
                        tracing::warn!(direction = %self.direction, table = %self.table.name,
                            command = %what, operations = n, "operator command applied between batches");
                        Ok(n)
                    }
                    // A store failure is the applier's end: say so to the
                    // operator too.
                    Err(e) => {
                        let _ = command.reply.send(Err(e.to_string()));
                        return Err(e);
                    }
                }
            };
            drop(held);
            let _ = command.reply.send(result);
        }
    }

    /// The table's phase asks for a reload (`Reinit`, set by capture, the
    /// operator or `sync --once`): between batches, with no write in doubt,
    /// the owner resets the queue and the loader takes over. `false`: not
    /// now (a write stays in doubt); the loop comes back to it.
    pub(super) async fn reload_requested(
        &mut self,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
        flushing: &mut Option<super::apply_loop::Completion>,
    ) -> Result<bool, crate::store::StoreError> {
        let held = self.between_batches(shutdown, flushing).await?;
        if self.unknown.is_some() {
            return Ok(false);
        }
        let reset = self.reset_for_reload()?;
        drop(held);
        Ok(reset.is_some())
    }

    /// Resets the queue of a table in `Reinit` for its reload (the caller is
    /// between batches, nothing in doubt): queued and parked operations
    /// are superseded by the copy. `None`: the phase is not `Reinit` (any
    /// more); nothing done.
    fn reset_for_reload(&mut self) -> Result<Option<usize>, crate::store::StoreError> {
        let store = &self.shared.store;
        let (d, name) = (self.direction, self.table.name.clone());
        let crate::store::Phase::Reinit { reason } = store.phase(d, &name)? else {
            return Ok(None);
        };
        let progress = crate::store::LoadProgress {
            reason: Some(reason.clone()),
            ..Default::default()
        };
        let removed = match store.reset_queue(d, &name, &crate::store::Phase::InitialLoad(progress))
        {
            Ok(n) => n,
            Err(crate::store::StoreError::LoadSuperseded { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        self.not_waiting();
        self.shared.status.resume(d, &name);
        tracing::warn!(direction = %d, table = %name, superseded = removed, reason = %reason,
            "queue reset for a reload: the copy supersedes what was queued; the load starts");
        Ok(Some(removed as usize))
    }
}
