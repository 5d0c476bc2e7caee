//! `ctsync export` (and `ctsync sync --once` with `targets.csv`): one CSV
//! export pass of every configured table, or the named ones, from
//! `targets.csv.source` into `targets.csv.directory`, at most
//! `targets.csv.max_workers` tables at a time (see [`crate::export`]).
//! Exits 0 when every table was exported; otherwise non-zero with one line
//! per failed table, after the others finished (their files and watermarks
//! stay).

use crate::agent::setup::{check_server, Checked};
use crate::config::{Config, DirectionConfig, SideName};
use crate::error::Error;
use crate::export::{Export, Job};
use crate::store::Store;
use std::sync::Arc;
use tokio::sync::Semaphore;

pub async fn run(mut config: Config, only: &[String]) -> Result<(), Error> {
    let Some(csv) = config.targets.csv.clone() else {
        return Err(Error::Failed(
            "`ctsync export` needs `targets.csv` (directory, source) in the configuration".into(),
        ));
    };
    for w in only {
        if config.table(w).is_none() {
            return Err(Error::Failed(format!(
                "--table {w}: not a configured table"
            )));
        }
    }
    if !only.is_empty() {
        config.tables.retain(|t| {
            only.iter()
                .any(|w| w.eq_ignore_ascii_case(&t.name.to_string()))
        });
    }
    let side = csv.source.side();
    // Every table is read from the source: check it as a table whose changes
    // are captured there (columns, key, change tracking, snapshot isolation;
    // turned on when `sync.enable_change_tracking` is set).
    let direction = match csv.source {
        SideName::A => DirectionConfig::AToB,
        SideName::B => DirectionConfig::BToA,
    };
    for t in &mut config.tables {
        t.direction = direction;
    }
    let mut conn = crate::tls::connect(&config, side).await.map_err(|r| {
        Error::Failed(format!(
            "server {}: cannot connect: {}",
            side.as_str(),
            r.message
        ))
    })?;
    let Checked {
        shapes, problems, ..
    } = check_server(&mut conn, &config, side, config.sync.enable_change_tracking)
        .await
        .map_err(|e| Error::other("checking the tables to export", e))?;
    drop(conn);
    if !problems.is_empty() {
        return Err(Error::Failed(format!(
            "cannot export from server {}:\n  {}",
            side.as_str(),
            problems.join("\n  ")
        )));
    }
    std::fs::create_dir_all(&csv.directory).map_err(|source| Error::Io {
        context: format!(
            "cannot create the export directory {}",
            csv.directory.display()
        ),
        source,
    })?;
    let dir = config.state_dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&dir))
        .await
        .map_err(|e| Error::other("opening the state store", e))?
        .map_err(|e| Error::other("opening the state store", e))?;
    let jobs: Vec<Job> = config
        .tables
        .iter()
        .zip(shapes)
        .filter_map(|(t, s)| {
            s.map(|shape| Job {
                table: t.clone(),
                shape,
            })
        })
        .collect();
    let export = Arc::new(Export {
        config: Arc::new(config),
        store: Arc::new(store),
        side,
        root: csv.directory.clone(),
    });
    tracing::info!(tables = jobs.len(), directory = %csv.directory.display(),
        source = side.as_str(), max_workers = csv.max_workers, "CSV export starts");
    let workers = Arc::new(Semaphore::new(csv.max_workers.max(1)));
    let mut tasks = Vec::with_capacity(jobs.len());
    for job in jobs {
        let export = export.clone();
        let workers = workers.clone();
        tasks.push(tokio::spawn(async move {
            let _slot = workers.acquire_owned().await;
            let r = export.table(&job).await;
            (job.table.name.to_string(), r)
        }));
    }
    let mut failed = Vec::new();
    for task in tasks {
        let (table, result) = task
            .await
            .map_err(|e| Error::other("an export task ended abnormally", e))?;
        match result {
            Ok(o) => {
                tracing::info!(table = %o.table, mode = o.kind, rows = o.rows, version = o.version,
                    file = %o.file.display(), "export done");
                let range = match o.from_version {
                    Some(f) => format!("changes after version {f} up to {}", o.version),
                    None => format!("up to version {}", o.version),
                };
                println!(
                    "{table}: {} export, {} row(s), {range}: {}",
                    o.kind,
                    o.rows,
                    o.file.display()
                );
            }
            Err(e) => {
                tracing::error!(table = %table, error = %e, "export failed");
                failed.push(e.to_string());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "export failed for {} table(s) (the others were exported):\n  {}",
            failed.len(),
            failed.join("\n  ")
        )))
    }
}
