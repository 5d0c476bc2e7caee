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

    for side in [crate::model::Side::A, crate::model::Side::B] {
        let s = config.server(side);
        if matches!(
            s.encrypt,
            crate::config::Encrypt::Off | crate::config::Encrypt::NotSupported
        ) {
            tracing::warn!(server = side.as_str(), host = %s.host, encrypt = ?s.encrypt,
                "TLS is off for this server: the login and the data cross the network in clear");
        }
    }
    let shared = Arc::new(Shared::new(config.clone(), store.clone()));
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
    let control_dir = config.state_dir.clone();
    let control_shutdown = shutdown.clone();
    let control_task = tokio::spawn(async move {
        if let Err(e) = control::serve(&control_dir, handler, control_shutdown).await {
            tracing::warn!(error = %e, "control socket unavailable; `ctsync inspect` cannot reach this agent");
        }
    });
    let result = agent::run(shared, shutdown).await;
    // Normally the socket closed with the shutdown signal; after a failed
    // start-up nothing else stops it.
    control_task.abort();
    let _ = control_task.await;
    let _ = std::fs::remove_file(control::socket_path(&config.state_dir));
    match result {
        Ok(()) | Err(agent::setup::SetupError::Shutdown) => Ok(()),
        Err(e) => Err(Error::other("ctsync could not start", e)),
    }
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
