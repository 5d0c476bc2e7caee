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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueCommandKind {
    RetryParked(ParkedSelect),
    DropParked(ParkedSelect),
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

fn ask_owner(
    sender: &mpsc::Sender<QueueCommand>,
    kind: QueueCommandKind,
    direction: Direction,
    name: &str,
) -> Result<usize, String> {
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
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err(gone()),
        Err(_) => Err(format!(
            "the applier of {name} ({direction}) did not take the command within {ANSWER_WAIT_MS_MAX} ms; it is applied when the applier gets to it — check `ctsync parked list`"
        )),
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
    /// Applies the commands waiting for this queue, between batches: the
    /// last completion durable, a write in doubt settled first, and on a
    /// two-way table the turn held. A write that stays in doubt (the target
    /// unreachable) answers the command with the reason, changing nothing.
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
            super::apply_loop::finish_flush(flushing).await?;
            let turn = self.two_way.then(|| self.shared.turn(&self.table.name));
            let mut held = match &turn {
                Some(t) => Some(t.lock().await),
                None => None,
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
            let result = if self.unknown.is_some() {
                Err(format!(
                    "a write of {} to the target is in doubt and the target cannot be reached to settle it; nothing was changed — try again when the link is back",
                    self.table.name
                ))
            } else {
                match direct(
                    &self.shared.store,
                    self.direction,
                    &self.table.name,
                    command.kind,
                ) {
                    Ok(n) => {
                        tracing::warn!(direction = %self.direction, table = %self.table.name,
                            command = ?command.kind, operations = n, "operator command applied between batches");
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
}
