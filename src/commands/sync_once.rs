//! `ctsync sync --once` between the two servers (see [`crate::agent::once`]).

use crate::agent::once::{self, OnceError};
use crate::agent::Shared;
use crate::cli::SyncArgs;
use crate::config::Config;
use crate::error::Error;
use crate::store::Store;
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

pub async fn run(mut config: Config, args: &SyncArgs) -> Result<(), Error> {
    if !args.table.is_empty() {
        let wanted = |n: &str| args.table.iter().any(|t| t.eq_ignore_ascii_case(n));
        for t in &config.tables {
            if !wanted(&t.name.to_string()) {
                continue;
            }
            for r in t.references.values() {
                if !wanted(&r.to_string()) {
                    return Err(Error::Failed(format!(
                        "--table {}: it references {r}, whose ids translate its values; add --table {r}",
                        t.name
                    )));
                }
            }
        }
        for w in &args.table {
            if !config
                .tables
                .iter()
                .any(|t| t.name.to_string().eq_ignore_ascii_case(w))
            {
                return Err(Error::Failed(format!(
                    "--table {w}: not a configured table"
                )));
            }
        }
        config.tables.retain(|t| wanted(&t.name.to_string()));
    }
    crate::tls::warn_unprotected(&config);
    let dir = config.state_dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&dir))
        .await
        .map_err(|e| Error::other("opening the state store", e))?
        .map_err(|e| Error::other("opening the state store", e))?;
    let shared = Arc::new(Shared::new(config, Arc::new(store)));
    let (tx, rx) = watch::channel(false);
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
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        let _ = tx.send(true);
    });
    match once::run_once(shared, rx).await {
        Ok(report) => {
            for (d, t, applied) in &report.tables {
                println!("{t} {d}: {applied} operation(s) applied");
            }
            if report.parked > 0 {
                return Err(Error::Failed(format!(
                    "{} operation(s) parked with permanent errors ({}); not everything is applied; see `ctsync parked list`",
                    report.parked,
                    report.parked_tables.join(", ")
                )));
            }
            println!("sync --once: everything up to the versions current at start is applied");
            Ok(())
        }
        Err(OnceError::Interrupted) => Err(Error::Failed(
            "interrupted; the next run continues where this one stopped".into(),
        )),
        Err(e) => Err(Error::other("sync --once", e)),
    }
}
