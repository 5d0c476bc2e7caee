//! What a verify needs from ctsync's own state: the keys with operations
//! not applied yet (queued or parked), the id maps, and a way to queue
//! corrective operations. From the running agent over its control socket
//! (it holds the store; sled admits one process), or from the store opened
//! here when no agent runs.
//!
//! The running agent answers [`crate::control::Request::QueuedKeys`] and
//! [`crate::control::Request::MapKeys`] from its store (the functions
//! below), and hands [`crate::control::Request::Repair`] to the queue's
//! owner (`agent::queue_owner`), which appends between its batches.

use super::{key_id, Held, Key, VerifyError, HELD_KEYS_MAX};
use crate::agent::apply_loop::StoreMaps;
use crate::apply::plan::IdMaps;
use crate::config::Config;
use crate::control::{self, Reply, Request};
use crate::model::{Direction, Operation, Side};
use crate::store::{Store, StoreError};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a verify waits for an agent that holds the store but does not
/// answer on its socket yet (it is starting up).
const AGENT_START_WAIT: Duration = Duration::from_secs(10);

/// Keys per [`Request::MapKeys`] at most (and fewer when their JSON would
/// pass [`REQUEST_JSON_MAX`]).
const MAP_KEYS_PER_REQUEST: usize = 500;

/// Bytes of one request's JSON a verify sends at most (the agent reads
/// [`control::REQUEST_BYTES_MAX`]).
const REQUEST_JSON_MAX: usize = (control::REQUEST_BYTES_MAX as usize) * 3 / 4;

/// What a repair handed over.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sent {
    /// Appended to the queue.
    pub queued: usize,
    /// Waiting in the inbox of a queue owner that is busy retrying a write
    /// (the target unreachable): appended when it gets to them.
    pub pending: usize,
    /// Too large for a control request: not sent.
    pub too_large: usize,
}

impl Sent {
    fn add(&mut self, o: Sent) {
        self.queued += o.queued;
        self.pending += o.pending;
        self.too_large += o.too_large;
    }
}

/// Where the state comes from.
pub enum State {
    /// A running agent, reached over its control socket in `state_dir`.
    Agent(std::path::PathBuf),
    /// The store, opened by this command.
    Local(Arc<Store>),
}

impl State {
    /// The running agent if one answers, the store otherwise.
    pub async fn open(config: &Config, probe_table: &str) -> Result<State, VerifyError> {
        let started = Instant::now();
        loop {
            let probe = Request::QueuedKeys {
                table: probe_table.to_string(),
            };
            if control::ask(&config.state_dir, &probe)
                .await
                .map_err(|e| VerifyError::Agent(format!("asking the running agent: {e}")))?
                .is_some()
            {
                return Ok(State::Agent(config.state_dir.clone()));
            }
            let dir = config.state_dir.clone();
            let opened = tokio::task::spawn_blocking(move || Store::open(&dir))
                .await
                .map_err(|e| VerifyError::Agent(format!("opening the state store: {e}")))?;
            match opened {
                Ok(s) => return Ok(State::Local(Arc::new(s))),
                Err(StoreError::Locked { .. }) if started.elapsed() < AGENT_START_WAIT => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(StoreError::Locked { .. }) => {
                    return Err(VerifyError::Agent(format!(
                        "the state store in {} is held by another process that does not answer on {}; is a ctsync agent starting or stuck?",
                        config.state_dir.display(),
                        control::socket_path(&config.state_dir).display()
                    )))
                }
                Err(e) => return Err(VerifyError::Store(e)),
            }
        }
    }

    pub fn agent_running(&self) -> bool {
        matches!(self, State::Agent(_))
    }

    async fn ask(&self, request: Request) -> Result<Value, VerifyError> {
        let State::Agent(dir) = self else {
            return Err(VerifyError::Agent("no agent to ask".into()));
        };
        match control::ask(dir, &request).await {
            Ok(Some(Reply::Ok(v))) => Ok(v),
            Ok(Some(Reply::Error(e))) => Err(VerifyError::Agent(format!("the running agent: {e}"))),
            Ok(None) => Err(VerifyError::Agent(
                "the agent stopped while the verify ran; run the verify again".into(),
            )),
            Err(e) => Err(VerifyError::Agent(format!("asking the running agent: {e}"))),
        }
    }

    /// The keys of `table` with queued or parked operations.
    pub async fn held(&self, config: &Config, table: &str) -> Result<Held, VerifyError> {
        let v = match self {
            State::Local(store) => {
                let (s, c, t) = (store.clone(), config.clone(), table.to_string());
                tokio::task::spawn_blocking(move || queued_keys(&s, &c, &t))
                    .await
                    .map_err(|e| VerifyError::Agent(format!("reading the state store: {e}")))?
                    .map_err(VerifyError::Agent)?
            }
            State::Agent(_) => {
                self.ask(Request::QueuedKeys {
                    table: table.to_string(),
                })
                .await?
            }
        };
        if v["truncated"].as_bool() == Some(true) {
            return Err(VerifyError::Table {
                table: table.to_string(),
                message: format!(
                    "more than {HELD_KEYS_MAX} keys have operations not applied yet; let the queues drain (see `ctsync inspect`) and verify then"
                ),
            });
        }
        let set = |side: &str| -> Result<std::collections::HashSet<String>, VerifyError> {
            let keys: Vec<Key> =
                serde_json::from_value::<control::Packed<Vec<Key>>>(v[side].clone())
                    .map_err(|e| VerifyError::Agent(format!("the queued keys' answer: {e}")))?
                    .0;
            Ok(keys.iter().map(|k| key_id(k)).collect())
        };
        Ok(Held {
            a: set("a")?,
            b: set("b")?,
        })
    }

    /// `keys` of `table` on `direction`'s source translated to its target
    /// (None: no row there), as the applier translates them.
    pub async fn map_keys(
        &self,
        config: &Config,
        table: &str,
        direction: Direction,
        keys: Vec<Key>,
    ) -> Result<Vec<Option<Key>>, VerifyError> {
        match self {
            State::Local(store) => {
                let (s, c, t) = (store.clone(), config.clone(), table.to_string());
                tokio::task::spawn_blocking(move || map_keys(&s, &c, &t, direction, &keys))
                    .await
                    .map_err(|e| VerifyError::Agent(format!("reading the state store: {e}")))?
                    .map_err(VerifyError::Store)
            }
            State::Agent(_) => {
                let mut out = Vec::with_capacity(keys.len());
                for group in groups(&keys) {
                    let v = self
                        .ask(Request::MapKeys {
                            table: table.to_string(),
                            direction,
                            keys: control::Packed(group.to_vec()),
                        })
                        .await?;
                    let mapped: Vec<Option<Key>> = serde_json::from_value::<
                        control::Packed<Vec<Option<Key>>>,
                    >(v["mapped"].clone())
                    .map(|p| p.0)
                    .map_err(|e| VerifyError::Agent(format!("the agent's id map answer: {e}")))?;
                    if mapped.len() != group.len() {
                        return Err(VerifyError::Agent(
                            "the agent's id map answer has the wrong length".into(),
                        ));
                    }
                    out.extend(mapped);
                }
                Ok(out)
            }
        }
    }

    /// Queues `ops` for (`direction`, `table`): through the queue's owner
    /// in a running agent, into the store otherwise (applied by the next
    /// run).
    pub async fn repair(
        &self,
        table: &str,
        direction: Direction,
        ops: Vec<Operation>,
    ) -> Result<Sent, VerifyError> {
        match self {
            State::Local(store) => {
                let (s, t, n) = (store.clone(), table.to_string(), ops.len());
                tokio::task::spawn_blocking(move || s.enqueue_repair(direction, &t, &ops))
                    .await
                    .map_err(|e| VerifyError::Agent(format!("writing the state store: {e}")))?
                    .map_err(VerifyError::Store)?;
                Ok(Sent {
                    queued: n,
                    ..Sent::default()
                })
            }
            State::Agent(_) => {
                let mut sent = Sent::default();
                let mut batch: Vec<Operation> = Vec::new();
                let mut bytes = 0usize;
                for op in ops {
                    let size = serde_json::to_vec(&op)
                        .map(|v| v.len())
                        .unwrap_or(usize::MAX);
                    if size > REQUEST_JSON_MAX - 1024 {
                        sent.too_large += 1;
                        continue;
                    }
                    if bytes + size > REQUEST_JSON_MAX - 1024 && !batch.is_empty() {
                        sent.add(self.send_repair(table, direction, &mut batch).await?);
                        bytes = 0;
                    }
                    bytes += size;
                    batch.push(op);
                }
                if !batch.is_empty() {
                    sent.add(self.send_repair(table, direction, &mut batch).await?);
                }
                Ok(sent)
            }
        }
    }

    async fn send_repair(
        &self,
        table: &str,
        direction: Direction,
        batch: &mut Vec<Operation>,
    ) -> Result<Sent, VerifyError> {
        let v = self
            .ask(Request::Repair {
                table: table.to_string(),
                direction,
                ops: control::Packed(std::mem::take(batch)),
            })
            .await?;
        Ok(Sent {
            queued: v["queued"].as_u64().unwrap_or(0) as usize,
            pending: v["pending"].as_u64().unwrap_or(0) as usize,
            too_large: 0,
        })
    }
}

/// The keys of `table` with operations queued or parked, per side's key
/// space (`a`: of the a→b queue, `b`: of b→a), at most [`HELD_KEYS_MAX`]
/// (`truncated` beyond).
pub fn queued_keys(store: &Store, config: &Config, table: &str) -> Result<Value, String> {
    let Some(t) = config.table(table) else {
        return Err(format!("table {table} is not in the configuration"));
    };
    let name = t.name.to_string();
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut truncated = false;
    for d in t.directions() {
        let ops = store
            .list_queue_all(d, &name, 0, HELD_KEYS_MAX + 1)
            .map_err(|e| e.to_string())?;
        truncated |= ops.len() > HELD_KEYS_MAX;
        let out = match d.source() {
            Side::A => &mut a,
            Side::B => &mut b,
        };
        out.extend(ops.into_iter().map(|(_, op)| op.key));
    }
    let parked = store
        .parked(Some(&name), HELD_KEYS_MAX + 1)
        .map_err(|e| e.to_string())?;
    truncated |= parked.len() > HELD_KEYS_MAX;
    for p in parked {
        match p.direction.source() {
            Side::A => a.push(p.op.key),
            Side::B => b.push(p.op.key),
        }
    }
    Ok(json!({ "a": control::Packed(a), "b": control::Packed(b), "truncated": truncated }))
}

/// `keys` translated as the applier translates them (`StoreMaps`: the id
/// map, and for `initial: none` identity tables the keys that existed on
/// both sides before the sync began).
pub fn map_keys(
    store: &Store,
    config: &Config,
    table: &str,
    direction: Direction,
    keys: &[Key],
) -> Result<Vec<Option<Key>>, StoreError> {
    let maps = StoreMaps { store, config };
    let name = config
        .table(table)
        .map(|t| t.name.to_string())
        .unwrap_or_else(|| table.to_string());
    keys.iter()
        .map(|k| maps.translate(&name, direction, k))
        .collect()
}

/// `keys` in groups for [`Request::MapKeys`]: at most
/// [`MAP_KEYS_PER_REQUEST`] each and about half a request's bytes.
fn groups(keys: &[Key]) -> Vec<&[Key]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0usize, 0usize);
    for (i, k) in keys.iter().enumerate() {
        let size = serde_json::to_vec(k).map_or(0, |v| v.len()) + 1;
        if i > start && (i - start >= MAP_KEYS_PER_REQUEST || bytes + size > REQUEST_JSON_MAX / 2) {
            out.push(&keys[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < keys.len() {
        out.push(&keys[start..]);
    }
    out
}
