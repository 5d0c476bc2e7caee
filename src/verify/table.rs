//! One table's verify from start to end: the held keys, the comparison in
//! each side's snapshot, the differences read again (images), and the
//! repair when asked.

use super::held::State;
use super::{
    chunks, images, key_id, repair, rows, same, Finding, Findings, Found, Held, Key, Method, Plan,
    Reader, VerifyError, CHUNK_ROWS,
};
use crate::config::Config;
use crate::model::{Direction, SqlValue};
use std::collections::HashMap;
use std::time::Instant;

/// What verifying one table found (and repaired).
#[derive(Debug)]
pub struct Outcome {
    pub table: String,
    pub method: Method,
    pub columns: Vec<String>,
    pub findings: Findings,
    /// Set when `--repair` ran: queued per direction, and the findings
    /// (index into `findings.list`) left alone with why.
    pub repair: Option<RepairOutcome>,
    pub elapsed_ms: u64,
    /// Sides read without a snapshot (the database does not allow it).
    pub no_snapshot: Vec<&'static str>,
}

#[derive(Debug, Default)]
pub struct RepairOutcome {
    pub queued: usize,
    /// Handed to a queue owner busy retrying a write; queued when it gets
    /// to them.
    pub pending: usize,
    pub skipped: Vec<(usize, String)>,
    pub agent_running: bool,
}

/// `CHANGE_TRACKING_CURRENT_VERSION()` of a side, 0 when it does not track.
async fn current_version(r: &mut Reader, table: &str) -> Result<i64, VerifyError> {
    let v = r
        .rows(table, crate::mssql::statements::CURRENT_VERSION, &[])
        .await?;
    Ok(match v.first().and_then(|row| row.first()) {
        Some(SqlValue::I64(n)) => *n,
        _ => 0,
    })
}

#[allow(clippy::too_many_arguments)]
pub async fn verify(
    a: &mut Reader,
    b: &mut Reader,
    plan: &Plan,
    state: &State,
    config: &Config,
    do_repair: bool,
    chunk_rows: Option<usize>,
    progress: &mut dyn FnMut(u64),
) -> Result<Outcome, VerifyError> {
    let started = Instant::now();
    let before = state.held(config, &plan.name).await?;
    super::begin(a, &plan.name).await?;
    super::begin(b, &plan.name).await?;
    let compared = match plan.method {
        Method::Chunks => {
            chunks::compare(
                a,
                b,
                plan,
                &before,
                chunk_rows.unwrap_or(CHUNK_ROWS),
                progress,
            )
            .await
        }
        Method::Rows => rows::compare(a, b, plan, &before, state, config, progress).await,
    };
    let no_snapshot = [&*a, &*b]
        .iter()
        .filter(|r| !r.snapshot)
        .map(|r| r.side.as_str())
        .collect();
    // Read only: ended whatever the outcome.
    let end_a = super::end(a, &plan.name).await;
    let end_b = super::end(b, &plan.name).await;
    let mut findings = compared?;
    end_a?;
    end_b?;
    // Operations queued meanwhile are in flight too.
    let after = state.held(config, &plan.name).await?;
    settle(a, b, plan, state, config, &after, &mut findings).await?;
    // A running agent may not have captured a change committed just before
    // the snapshot yet: after two of its polls, what is still different and
    // not queued is a difference.
    if state.agent_running() && !findings.list.is_empty() {
        let wait = (config.sync.poll_interval_ms.saturating_mul(2)).clamp(200, 5_000);
        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
        let later = state.held(config, &plan.name).await?;
        settle(a, b, plan, state, config, &later, &mut findings).await?;
    }
    let repair = if do_repair && !findings.list.is_empty() {
        let versions = [
            current_version(a, &plan.name).await?,
            current_version(b, &plan.name).await?,
        ];
        let planned = repair::plan(plan, &findings.list, versions);
        let mut out = RepairOutcome {
            skipped: planned.skipped,
            agent_running: state.agent_running(),
            ..RepairOutcome::default()
        };
        for (d, ops) in [
            (Direction::AToB, planned.a_to_b),
            (Direction::BToA, planned.b_to_a),
        ] {
            if ops.is_empty() {
                continue;
            }
            let n = ops.len();
            let sent = state.repair(&plan.name, d, ops).await?;
            tracing::warn!(table = %plan.name, direction = %d, operations = sent.queued,
                pending = sent.pending, "corrective operations queued by ctsync verify --repair");
            out.queued += sent.queued;
            out.pending += sent.pending;
            if sent.too_large > 0 {
                out.skipped.push((
                    usize::MAX,
                    format!("{} of {n} {d} operation(s) are too large to send to the running agent; stop it and repair again", sent.too_large),
                ));
            }
        }
        Some(out)
    } else {
        None
    };
    Ok(Outcome {
        table: plan.name.clone(),
        method: plan.method,
        columns: plan.columns(),
        findings,
        repair,
        elapsed_ms: started.elapsed().as_millis() as u64,
        no_snapshot,
    })
}

/// Reads the images of every difference again, outside the snapshot: a key
/// queued meanwhile (`held`), or whose rows are now the same, moves to
/// `in_flight`.
async fn settle(
    a: &mut Reader,
    b: &mut Reader,
    plan: &Plan,
    state: &State,
    config: &Config,
    held: &Held,
    findings: &mut Findings,
) -> Result<(), VerifyError> {
    let list = std::mem::take(&mut findings.list);
    let flying = std::mem::take(&mut findings.in_flight);
    let keys_a: Vec<&Key> = list
        .iter()
        .chain(&flying)
        .filter_map(|f| f.key_a.as_ref())
        .collect();
    let keys_b: Vec<&Key> = list
        .iter()
        .chain(&flying)
        .filter_map(|f| f.key_b.as_ref())
        .collect();
    let on_a = images(a, plan, &keys_a).await?;
    let on_b = images(b, plan, &keys_b).await?;
    // In flight already: shown with their images as they are now.
    findings.in_flight = flying
        .into_iter()
        .map(|mut f| {
            f.image_a = f.key_a.as_ref().and_then(|k| on_a.get(&key_id(k)).cloned());
            f.image_b = f.key_b.as_ref().and_then(|k| on_b.get(&key_id(k)).cloned());
            f
        })
        .collect();
    let mut list: Vec<Finding> = list
        .into_iter()
        .map(|mut f| {
            f.image_a = f.key_a.as_ref().and_then(|k| on_a.get(&key_id(k)).cloned());
            f.image_b = f.key_b.as_ref().and_then(|k| on_b.get(&key_id(k)).cloned());
            f
        })
        .collect();
    let translated = translate_images(state, config, plan, &list).await?;
    for (i, f) in list.drain(..).enumerate() {
        let now_equal = match (&translated[i], &f.image_b) {
            (Some(ta), Some(ib)) => rows_equal(plan, ta, ib),
            (None, None) => f.image_a.is_none(),
            _ => false,
        };
        let f = Finding {
            found: match (&f.image_a, &f.image_b) {
                (Some(_), None) => Found::MissingOnB,
                (None, Some(_)) => Found::MissingOnA,
                (Some(_), Some(_)) => Found::Differ,
                (None, None) => f.found,
            },
            ..f
        };
        if now_equal || held.holds(&f) {
            if findings.in_flight.len() < super::LIST_MAX {
                findings.in_flight.push(f);
            } else {
                findings.in_flight_more += 1;
            }
        } else {
            findings.list.push(f);
        }
    }
    Ok(())
}

/// a's images with their `references` translated into b's key space (None
/// where a has no row; an unmapped reference keeps a's value, which then
/// differs).
async fn translate_images(
    state: &State,
    config: &Config,
    plan: &Plan,
    list: &[Finding],
) -> Result<Vec<Option<Vec<SqlValue>>>, VerifyError> {
    let mut out: Vec<Option<Vec<SqlValue>>> = list.iter().map(|f| f.image_a.clone()).collect();
    for (pos, referenced) in &plan.references {
        let mut at = Vec::new();
        let mut keys = Vec::new();
        for (i, img) in out.iter().enumerate() {
            if let Some(v) = img.as_ref().and_then(|r| r.get(*pos)) {
                if !matches!(v, SqlValue::Null) {
                    at.push(i);
                    keys.push(vec![v.clone()]);
                }
            }
        }
        if keys.is_empty() {
            continue;
        }
        let mapped = state
            .map_keys(config, referenced, Direction::AToB, keys)
            .await?;
        let mut by: HashMap<usize, SqlValue> = HashMap::new();
        for (i, m) in at.into_iter().zip(mapped) {
            if let Some(mut k) = m.filter(|k| k.len() == 1) {
                by.insert(i, k.remove(0));
            }
        }
        for (i, v) in by {
            if let Some(slot) = out[i].as_mut().and_then(|r| r.get_mut(*pos)) {
                *slot = v;
            }
        }
    }
    Ok(out)
}

/// Whether a's (translated) and b's images are the same row: every synced
/// column but a mapped key.
fn rows_equal(plan: &Plan, a: &[SqlValue], b: &[SqlValue]) -> bool {
    let keys = plan.shapes[0].key_positions();
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .enumerate()
            .all(|(i, (x, y))| (plan.mapped && keys.contains(&i)) || same(x, y))
}
