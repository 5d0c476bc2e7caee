//! `ctsync run`: opens the store, serves the control socket, runs the agent
//! until SIGINT/SIGTERM, and leaves the store durable.

use super::report;
use crate::agent::{self, Shared};
use crate::config::Config;
use crate::control;
use crate::error::Error;
use crate::store::Store;
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

pub async fn run(config: Config) -> Result<(), Error> {
    if let Some(csv) = &config.targets.csv {
        return Err(Error::Failed(format!(
            "`targets.csv` is configured (directory {}): a CSV export runs as one pass per call; \
             run `ctsync export` (e.g. from cron or a systemd timer) instead of `ctsync run`, \
             or remove `targets.csv` to sync the two servers",
            csv.directory.display()
        )));
    }
    let dir = config.state_dir.clone();
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        context: format!("creating state_dir {}", dir.display()),
        source,
    })?;
    let store = open_store(dir).await?;
    let store = Arc::new(store);
    let (tx, shutdown) = watch::channel(false);
    // A loop that fails stops the agent too (the control server here, the
    // others in `agent::supervise`).
    let stop_tx = tx.clone();
    let mut term = signal(SignalKind::terminate()).map_err(|source| Error::Io {
        context: "installing the SIGTERM handler".into(),
        source,
    })?;
    let mut int = signal(SignalKind::interrupt()).map_err(|source| Error::Io {
        context: "installing the SIGINT handler".into(),
        source,
    })?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutting down: finishing the batches in hand"),
            _ = int.recv() => tracing::info!(signal = "SIGINT", "shutting down: finishing the batches in hand"),
        }
        let _ = tx.send(true);
    });

    crate::tls::warn_unprotected(&config);
    let shared = Arc::new(Shared::new(config.clone(), store.clone()));
    // Under systemd (`Type=notify`): READY=1, WATCHDOG=1, STOPPING=1.
    let _service = agent::service::start(&shared, shutdown.clone());
    let handler = {
        let shared = shared.clone();
        Arc::new(move |request: control::Request| {
            let mutates = matches!(
                request,
                control::Request::ParkedRetry { .. }
                    | control::Request::ParkedDrop { .. }
                    | control::Request::Reinit { .. }
                    | control::Request::ConflictResolve { .. }
            );
            // A resolution changes both queues of a two-way table: it waits
            // for the table's turn, so no batch of either direction is in
            // flight meanwhile (this runs on a blocking thread).
            let turn = match &request {
                control::Request::ConflictResolve { id, .. } => match shared.store.conflict(*id) {
                    Ok(Some(c)) => Some(shared.turn(&c.table)),
                    _ => None,
                },
                _ => None,
            };
            let mut held = turn.as_ref().map(|t| t.blocking_lock());
            if let Some(t) = held.as_mut() {
                // The last batch's completion first: the resolution reads
                // and changes the queues it settles.
                if let Err(e) = tokio::runtime::Handle::current().block_on(t.completed()) {
                    return control::Reply::Error(format!("the state store failed: {e}"));
                }
            }
            // Parked operations go back to (or leave) their queues through
            // the applier that owns each queue, between its batches.
            let reply = match request {
                control::Request::ParkedRetry { table, id, all } => {
                    report::parked_reply(id, all, "retried", |sel| {
                        agent::queue_owner::parked_blocking(&shared, table.as_deref(), sel, true)
                    })
                }
                control::Request::ParkedDrop { table, id, all } => {
                    report::parked_reply(id, all, "dropped", |sel| {
                        agent::queue_owner::parked_blocking(&shared, table.as_deref(), sel, false)
                    })
                }
                // A reload resets the queue: its owner does it between
                // batches, after settling a write in doubt.
                // Corrective operations of `verify --repair` go to the
                // queue's owner, which appends them between its batches.
                control::Request::Repair {
                    table,
                    direction,
                    ops,
                } => {
                    let n = ops.0.len();
                    match agent::queue_owner::repair_blocking(&shared, direction, &table, ops.0) {
                        Ok(Some(q)) => control::Reply::Ok(
                            serde_json::json!({ "queued": q, "agent_running": true }),
                        ),
                        // Waiting in the owner's inbox (it is retrying a
                        // write): queued when it gets to them.
                        Ok(None) => control::Reply::Ok(
                            serde_json::json!({ "queued": 0, "pending": n, "agent_running": true }),
                        ),
                        Err(e) => control::Reply::Error(e),
                    }
                }
                control::Request::Reinit { table, direction } => {
                    match report::reinit_with(&shared.config, &table, direction, |d, name| {
                        agent::queue_owner::reinit_blocking(&shared, d, name).map(Some)
                    }) {
                        Ok(mut v) => {
                            v["agent_running"] = serde_json::json!(true);
                            control::Reply::Ok(v)
                        }
                        Err(e) => control::Reply::Error(e),
                    }
                }
                request @ control::Request::Inspect {
                    queue: false,
                    key: None,
                    ..
                } => with_erroring(
                    report::answer(&shared.store, Some(&shared.status), &shared.config, request),
                    &shared.status,
                ),
                request => {
                    report::answer(&shared.store, Some(&shared.status), &shared.config, request)
                }
            };
            if mutates {
                // Retried operations are back in their queues: wake the appliers.
                shared.wake_all();
            }
            reply
        })
    };
    crate::monitor::start(&shared, shutdown.clone())
        .await
        .map_err(|e| Error::other("ctsync could not start", e))?;
    let control_dir = config.state_dir.clone();
    let control_shutdown = shutdown.clone();
    let mut control_task =
        tokio::spawn(async move { control::serve(&control_dir, handler, control_shutdown).await });
    let agent = agent::supervise(shared, shutdown.clone());
    tokio::pin!(agent);
    // The control server is supervised like the agent's loops: ending
    // while no shutdown was asked stops the agent with its cause.
    let mut control_failed: Option<String> = None;
    let mut control_ended = false;
    let result = tokio::select! {
        r = &mut agent => r,
        ended = &mut control_task => {
            let cause = match ended {
                Ok(Ok(())) if *shutdown.borrow() => None,
                Ok(Ok(())) => Some("it stopped by itself".to_string()),
                Ok(Err(e)) => Some(crate::error::report(&e)),
                Err(e) if e.is_panic() => Some(format!("panicked: {e}")),
                Err(e) => Some(format!("was cancelled: {e}")),
            };
            if let Some(cause) = &cause {
                tracing::error!(loop_name = "the control server", cause = %cause,
                    "a loop of the agent ended while no shutdown was asked; stopping the agent (the other loops finish their batch) so that its supervisor restarts it");
                let _ = stop_tx.send(true);
            }
            control_failed = cause;
            control_ended = true;
            agent.await
        }
    };
    // Normally the socket closed with the shutdown signal; after a failed
    // start-up nothing else stops it.
    if !control_ended {
        control_task.abort();
        let _ = control_task.await;
    }
    let _ = std::fs::remove_file(control::socket_path(&config.state_dir));
    match result {
        Err(agent::RunError::LoopEnded { name, cause }) => Err(Error::Failed(format!(
            "ctsync stopped: {name} ended unexpectedly: {cause} (the state is durable; \
             restarting the agent resumes where it stopped)"
        ))),
        Ok(()) | Err(agent::RunError::Setup(agent::setup::SetupError::Shutdown)) => {
            match control_failed {
                None => Ok(()),
                Some(cause) => Err(Error::Failed(format!(
                    "ctsync stopped: the control server ended unexpectedly: {cause} \
                     (the state is durable; restarting the agent resumes where it stopped)"
                ))),
            }
        }
        Err(agent::RunError::Setup(e)) => Err(Error::other("ctsync could not start", e)),
        Err(e @ agent::RunError::Flush(_)) => Err(Error::other("ctsync stopped", e)),
    }
}

/// Adds each table's capture `erroring` reason (live status) to an
/// `inspect` overview.
fn with_erroring(reply: control::Reply, status: &agent::status::Status) -> control::Reply {
    let control::Reply::Ok(mut v) = reply else {
        return reply;
    };
    let live = status.snapshot();
    for t in v["tables"].as_array_mut().into_iter().flatten() {
        let key = format!(
            "{} {}",
            t["direction"].as_str().unwrap_or_default(),
            t["table"].as_str().unwrap_or_default()
        );
        let erroring = live.get(&key).and_then(|l| l.erroring.clone());
        if let (Some(obj), Some(reason)) = (t.as_object_mut(), erroring) {
            obj.insert("erroring".into(), serde_json::Value::String(reason));
        }
    }
    control::Reply::Ok(v)
}

/// How long `run` waits for a store held by a short command (`inspect` or
/// `parked` opening it while no agent ran) before giving up.
const STORE_LOCK_WAIT_MS_MAX: u64 = 10_000;

async fn open_store(dir: std::path::PathBuf) -> Result<Store, Error> {
    let started = std::time::Instant::now();
    loop {
        let d = dir.clone();
        let r = tokio::task::spawn_blocking(move || Store::open(&d))
            .await
            .map_err(|e| Error::other("opening the state store", e))?;
        match r {
            Ok(s) => return Ok(s),
            Err(crate::store::StoreError::Locked { .. })
                if started.elapsed().as_millis() < u128::from(STORE_LOCK_WAIT_MS_MAX) =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => return Err(Error::other("opening the state store", e)),
        }
    }
}
