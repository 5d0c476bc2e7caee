//! `ctsync sync --once` between the two servers: for cron-style runs. Does
//! the initial load where one is due, drains every change up to the current
//! version read at start, and returns, with the same loops, store and
//! guarantees as `run`.
//!
//! Per table `mode` (the replaced extractor's modes, as one-shot jobs):
//! `full` reloads everything, `incremental` only applies changes since the
//! watermark (an error when there is none), `full_incremental` loads fully
//! the first time and incrementally after.

use super::{setup, Shared};
use crate::config::OneShotMode;
use crate::model::{Direction, Side};
use crate::store::{LoadProgress, Phase};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What a one-shot run did, per (direction, table).
#[derive(Debug, Default)]
pub struct OnceReport {
    pub tables: Vec<(Direction, String, u64)>,
    /// Operations parked (permanent errors) when the run ended.
    pub parked: u64,
    /// The tables with parked operations: `table (direction): n`.
    pub parked_tables: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OnceError {
    #[error("table {table}: `mode: incremental` needs a watermark from an earlier run; run it once with `mode: full_incremental` (or `full`)")]
    NoWatermark { table: String },
    #[error("table {table} ({direction}) is stopped: {reason}")]
    Stopped {
        table: String,
        direction: Direction,
        reason: String,
    },
    #[error(transparent)]
    Setup(#[from] setup::SetupError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// `message`: the cause as [`crate::tls::describe`] explains it (a
    /// certificate, the encryption setting) or the server's error.
    #[error("cannot read the current version of server {side}: {message}")]
    Version { side: &'static str, message: String },
    #[error("the other tables are done, but {} cannot sync as the servers' schemas stand: {}; fix the schema and run again (finished work is kept)", held.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>().join(", "), held.iter().map(|(t, r)| format!("{t}: {r}")).collect::<Vec<_>>().join("; "))]
    Held { held: Vec<(String, String)> },
    #[error("table {table} ({direction}) made no progress for {secs} s: {reason}; fix the cause and run again (finished work is kept)")]
    Stalled {
        table: String,
        direction: Direction,
        secs: u64,
        reason: String,
    },
    #[error("the agent stopped before the run completed; see the log above")]
    AgentEnded,
    #[error("interrupted before the run completed")]
    Interrupted,
}

/// The shortest time without progress after which a run gives up (a load
/// retrying the same failing chunk, an operation waiting for a reference
/// that never arrives); longer when the retry backoff is.
pub const STALL_MIN: Duration = Duration::from_secs(30);

/// Prepares each table for its mode, runs the agent until everything up to
/// the versions current at start is applied, then stops it.
pub async fn run_once(
    shared: Arc<Shared>,
    mut interrupt: watch::Receiver<bool>,
) -> Result<OnceReport, OnceError> {
    let store = shared.store.clone();
    for t in &shared.config.tables {
        let name = t.name.to_string();
        for d in t.directions() {
            let has_watermark = store.watermark(d.source(), &name)?.is_some();
            match t.mode {
                OneShotMode::Incremental if !has_watermark => {
                    return Err(OnceError::NoWatermark { table: name })
                }
                OneShotMode::Full => {
                    store.set_phase(
                        d,
                        &name,
                        &Phase::Reinit {
                            reason: "sync --once, mode full".into(),
                        },
                    )?;
                }
                OneShotMode::FullIncremental if !has_watermark => {
                    store.set_phase(d, &name, &Phase::InitialLoad(LoadProgress::default()))?;
                }
                _ => {}
            }
        }
    }
    // The versions to drain up to.
    let mut targets = [0i64; 2];
    for side in [Side::A, Side::B] {
        let mut conn = crate::tls::connect(&shared.config, side)
            .await
            .map_err(|r| OnceError::Version {
                side: side.as_str(),
                message: r.message,
            })?;
        let failed = |source: tiberius::error::Error| OnceError::Version {
            side: side.as_str(),
            message: source.to_string(),
        };
        targets[side as usize] = conn
            .simple_query(crate::mssql::statements::CURRENT_VERSION)
            .await
            .map_err(failed)?
            .into_row()
            .await
            .map_err(failed)?
            .and_then(|r| r.get::<i64, _>(0))
            .unwrap_or(0);
    }
    let (tx, rx) = watch::channel(false);
    let agent = tokio::spawn(super::run(shared.clone(), rx));
    let stall_limit = STALL_MIN.max(Duration::from_millis(
        shared.config.sync.retry.max_backoff_ms.saturating_mul(4),
    ));
    let mut seen = progress_marks(&shared)?;
    let mut last_progress = Instant::now();
    let outcome = loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = interrupt.changed() => {}
        }
        if *interrupt.borrow() {
            break Err(OnceError::Interrupted);
        }
        if agent.is_finished() {
            break Err(OnceError::AgentEnded);
        }
        match drained(&shared, &targets) {
            Ok(None) => break held_tables(&shared),
            Ok(Some((table, direction))) => {
                let marks = progress_marks(&shared)?;
                if marks != seen {
                    seen = marks;
                    last_progress = Instant::now();
                } else if last_progress.elapsed() >= stall_limit {
                    let reason = pending_reason(&shared, direction, &table)?;
                    tracing::error!(direction = %direction, table = %table, reason = %reason,
                        "sync --once gives up: no progress");
                    break Err(OnceError::Stalled {
                        table,
                        direction,
                        secs: stall_limit.as_secs(),
                        reason,
                    });
                }
            }
            Err(e) => break Err(e),
        }
    };
    let _ = tx.send(true);
    match agent.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => return Err(OnceError::AgentEnded),
    }
    outcome?;
    let mut report = OnceReport::default();
    for t in &shared.config.tables {
        let name = t.name.to_string();
        for d in t.directions() {
            let s = store.status(d, &name)?;
            report.parked += s.parked;
            if s.parked > 0 {
                report
                    .parked_tables
                    .push(format!("{name} ({d}): {}", s.parked));
            }
            let applied = shared
                .status
                .snapshot()
                .get(&format!("{d} {name}"))
                .map_or(0, |x| x.applied_total);
            report.tables.push((d, name.clone(), applied));
        }
    }
    Ok(report)
}

/// The first (table, direction) not yet done: still loading (or waiting to
/// load), its watermark before the start version of its source, or
/// operations left in its queue; `None` when every one is done. A stopped
/// table is an error.
fn drained(shared: &Shared, targets: &[i64; 2]) -> Result<Option<(String, Direction)>, OnceError> {
    for t in &shared.config.tables {
        let name = t.name.to_string();
        // Held by a schema problem: left for `held_tables`.
        if shared
            .live_shape(&name)
            .is_some_and(|l| l.problem.is_some())
        {
            continue;
        }
        for d in t.directions() {
            let s = shared.store.status(d, &name)?;
            match &s.phase {
                Phase::Stopped { reason } => {
                    return Err(OnceError::Stopped {
                        table: name,
                        direction: d,
                        reason: reason.clone(),
                    })
                }
                Phase::Streaming => {}
                _ => return Ok(Some((name, d))),
            }
            let target = targets[d.source() as usize];
            if s.watermark.unwrap_or(i64::MIN) < target || s.queue_depth > 0 || s.inflight.is_some()
            {
                return Ok(Some((name, d)));
            }
        }
    }
    Ok(None)
}

/// The tables held by a schema problem (see `schema_follow`) once the rest
/// is done: the run cannot finish them, so it says which and why at once
/// rather than wait for the stall limit.
fn held_tables(shared: &Shared) -> Result<(), OnceError> {
    let held: Vec<(String, String)> = shared
        .config
        .tables
        .iter()
        .filter_map(|t| {
            let name = t.name.to_string();
            let problem = shared.live_shape(&name)?.problem?;
            Some((name, problem))
        })
        .collect();
    match held.is_empty() {
        true => Ok(()),
        false => Err(OnceError::Held { held }),
    }
}

/// What moves while a run makes progress: each table's phase (with its
/// load's rows done), watermark, queue, parked count and applied count.
fn progress_marks(shared: &Shared) -> Result<Vec<String>, OnceError> {
    let live = shared.status.snapshot();
    let mut marks = Vec::new();
    for t in &shared.config.tables {
        let name = t.name.to_string();
        for d in t.directions() {
            let s = shared.store.status(d, &name)?;
            let applied = live
                .get(&format!("{d} {name}"))
                .map_or(0, |x| x.applied_total);
            marks.push(format!(
                "{d} {name} {:?} {:?} {} {} {:?} {applied}",
                s.phase, s.watermark, s.queue_depth, s.parked, s.inflight
            ));
        }
    }
    Ok(marks)
}

/// Why (direction, table) is not done, for the error that ends a run.
fn pending_reason(shared: &Shared, d: Direction, name: &str) -> Result<String, OnceError> {
    let s = shared.store.status(d, name)?;
    let live = shared.status.snapshot();
    let live = live.get(&format!("{d} {name}"));
    let what = match &s.phase {
        Phase::Init | Phase::InitialLoad(_) | Phase::Reinit { .. } => {
            "its initial load did not finish".to_string()
        }
        _ => format!(
            "{} operation(s) still queued, watermark {:?}",
            s.queue_depth, s.watermark
        ),
    };
    let cause = live
        .and_then(|x| x.waiting.clone().or_else(|| x.last_error.clone()))
        .or(s.last_error)
        .map_or_else(String::new, |e| format!(" (last: {e})"));
    Ok(format!("{what}{cause}"))
}
