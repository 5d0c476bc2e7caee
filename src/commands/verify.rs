//! `ctsync verify [--table T] [--json] [--repair]`: compares both sides of
//! every configured table (or one) and reports the keys missing on either
//! side and the rows that differ (see [`crate::verify`]).
//!
//! Exit status: 0 when every table is equal (keys in flight, queued and
//! not applied yet, are not differences), 1 when some table differs (also
//! when `--repair` queued the corrections: verify again once they are
//! applied), 2 when the verify could not run (a server down, a table that
//! cannot be read, the state store): the message names the cause and the
//! fix.

use crate::agent::setup::{self, SetupError};
use crate::cli::VerifyArgs;
use crate::config::Config;
use crate::error::Error;
use crate::export::format::value_text;
use crate::model::{Side, SqlValue};
use crate::verify::held::State;
use crate::verify::table::Outcome;
use crate::verify::{Finding, Found, Plan, Reader, VerifyError};
use serde_json::{json, Value};

/// Rows per top-level range, for tests and benchmarks that want many
/// ranges from few rows (test-only switch).
const CHUNK_ROWS_ENV: &str = "CTSYNC_TEST_VERIFY_CHUNK_ROWS";

pub async fn verify(config: &Config, args: &VerifyArgs) -> Result<(), Error> {
    match run(config, args).await {
        Ok(outcomes) => report(&outcomes, args),
        Err(e) => {
            if e.kind() == crate::error::ErrorKind::Transient {
                tracing::warn!(error = %e, "the verify could not run; the cause may pass by itself (a server or link down): run it again later");
            }
            Err(Error::Verify(e))
        }
    }
}

async fn connect(config: &Config, side: Side) -> Result<Reader, VerifyError> {
    let label = config.server_label(side);
    let conn = crate::tls::connect(config, side)
        .await
        .map_err(|r| VerifyError::Connect {
            label: label.clone(),
            message: r.message,
            configuration: r.configuration,
            error: r.error,
        })?;
    Ok(Reader {
        side,
        label,
        conn,
        snapshot: false,
    })
}

/// The tables to verify with their shapes on both sides, matched by name.
async fn plans(
    config: &Config,
    a: &mut Reader,
    b: &mut Reader,
    only: Option<&str>,
) -> Result<Vec<Plan>, VerifyError> {
    let check = |r: &Reader, e: SetupError| match e {
        SetupError::Sql {
            source, context, ..
        } => VerifyError::Sql {
            table: "(catalog)".into(),
            label: format!("{} ({context})", r.label),
            source,
        },
        other => VerifyError::Agent(format!("{}: {other}", r.label)),
    };
    let ca = setup::check_server(&mut a.conn, config, Side::A, false)
        .await
        .map_err(|e| check(a, e))?;
    let cb = setup::check_server(&mut b.conn, config, Side::B, false)
        .await
        .map_err(|e| check(b, e))?;
    let paired = setup::pair(config, &ca, &cb);
    let mut out = Vec::new();
    for (t, [sa, sb]) in config.tables.iter().zip(paired.shapes) {
        let name = t.name.to_string();
        if only.is_some_and(|w| !w.eq_ignore_ascii_case(&name)) {
            continue;
        }
        let (Some(sa), Some(sb)) = (sa, sb) else {
            let problems: Vec<&String> = ca
                .problems
                .iter()
                .chain(&cb.problems)
                .filter(|p| p.contains(&name))
                .collect();
            return Err(VerifyError::Table {
                table: name,
                message: format!(
                    "cannot be read on both servers: {}; `ctsync check` says what to fix",
                    problems
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            });
        };
        if sa.key.is_empty() || sa.columns.len() != sb.columns.len() {
            return Err(VerifyError::Table {
                table: name,
                message: "its key or synced columns do not match on a and b; `ctsync check` says what to fix".into(),
            });
        }
        out.push(Plan::new(t, [sa, sb]));
    }
    Ok(out)
}

async fn run(config: &Config, args: &VerifyArgs) -> Result<Vec<Outcome>, VerifyError> {
    if let Some(t) = &args.table {
        if config.table(t).is_none() {
            let names: Vec<String> = config.tables.iter().map(|t| t.name.to_string()).collect();
            return Err(VerifyError::Agent(format!(
                "--table {t}: not a configured table; configured tables: {}",
                names.join(", ")
            )));
        }
    }
    let (a, b) = tokio::join!(connect(config, Side::A), connect(config, Side::B));
    let (mut a, mut b) = (a?, b?);
    let plans = plans(config, &mut a, &mut b, args.table.as_deref()).await?;
    let Some(first) = plans.first() else {
        return Ok(Vec::new());
    };
    let state = State::open(config, &first.name).await?;
    let chunk_rows = std::env::var(CHUNK_ROWS_ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0);
    let mut outcomes = Vec::with_capacity(plans.len());
    for plan in &plans {
        let bar = progress_bar(plan, &mut a).await;
        let mut tick = |n: u64| {
            if let Some(bar) = &bar {
                bar.inc(n);
            }
        };
        let outcome = crate::verify::table::verify(
            &mut a,
            &mut b,
            plan,
            &state,
            config,
            args.repair,
            chunk_rows,
            &mut tick,
        )
        .await;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let outcome = outcome?;
        tracing::info!(table = %outcome.table, differences = outcome.findings.list.len() as u64 + outcome.findings.more,
            in_flight = outcome.findings.in_flight.len(), rows_a = outcome.findings.rows_a,
            rows_b = outcome.findings.rows_b, elapsed_ms = outcome.elapsed_ms, "table verified");
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// A bar of a's rows on a terminal (stderr), as the initial load shows.
async fn progress_bar(plan: &Plan, a: &mut Reader) -> Option<indicatif::ProgressBar> {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return None;
    }
    let total = a
        .rows(
            &plan.name,
            &crate::mssql::load_sql::count(plan.shape(Side::A)),
            &[],
        )
        .await
        .ok()
        .and_then(|r| match r.first().and_then(|x| x.first()) {
            Some(SqlValue::I64(n)) => Some(*n as u64),
            _ => None,
        })
        .unwrap_or(0);
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{prefix} [{bar:30}] {pos}/{len} rows, {per_sec}, {eta} left",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(format!("verifying {}", plan.name));
    Some(bar)
}

/// A value as JSON: numbers and text as themselves, the rest as the text
/// a CSV export writes.
fn plain(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Bit(b) => json!(b),
        SqlValue::U8(n) => json!(n),
        SqlValue::I16(n) => json!(n),
        SqlValue::I32(n) => json!(n),
        SqlValue::I64(n) => json!(n),
        SqlValue::String(s) => json!(s),
        other => {
            let mut buf = String::new();
            value_text(other, &mut buf);
            json!(buf)
        }
    }
}

fn key_json(k: &Option<Vec<SqlValue>>) -> Value {
    match k {
        None => Value::Null,
        Some(k) if k.len() == 1 => plain(&k[0]),
        Some(k) => Value::Array(k.iter().map(plain).collect()),
    }
}

fn image_json(columns: &[String], img: &Option<Vec<SqlValue>>) -> Value {
    match img {
        None => Value::Null,
        Some(row) => Value::Object(
            columns
                .iter()
                .zip(row)
                .map(|(c, v)| (c.clone(), plain(v)))
                .collect(),
        ),
    }
}

fn finding_json(columns: &[String], f: &Finding) -> Value {
    json!({
        "key_a": key_json(&f.key_a),
        "key_b": key_json(&f.key_b),
        "a": image_json(columns, &f.image_a),
        "b": image_json(columns, &f.image_b),
    })
}

fn outcome_json(o: &Outcome) -> Value {
    let f = &o.findings;
    let of = |which: Found| -> Vec<Value> {
        f.list
            .iter()
            .filter(|x| x.found == which)
            .map(|x| finding_json(&o.columns, x))
            .collect()
    };
    let repair = o.repair.as_ref().map(|r| {
        json!({
            "queued": r.queued,
            "pending": r.pending,
            "applied_by": if r.agent_running { "the running agent" } else { "the next `ctsync run` or `sync --once`" },
            "not_repaired": r.skipped.iter().map(|(i, why)| json!({
                "key_a": f.list.get(*i).map(|x| key_json(&x.key_a)),
                "key_b": f.list.get(*i).map(|x| key_json(&x.key_b)),
                "reason": why,
            })).collect::<Vec<_>>(),
        })
    });
    json!({
        "table": o.table,
        "method": o.method,
        "equal": f.list.is_empty() && f.more == 0,
        "rows_a": f.rows_a,
        "rows_b": f.rows_b,
        "missing_on_a": of(Found::MissingOnA),
        "missing_on_b": of(Found::MissingOnB),
        "differ": of(Found::Differ),
        "more_differences": f.more,
        "in_flight": f.in_flight.iter().map(|x| finding_json(&o.columns, x)).collect::<Vec<_>>(),
        "more_in_flight": f.in_flight_more,
        "read_without_snapshot": o.no_snapshot,
        "repair": repair,
        "elapsed_ms": o.elapsed_ms,
    })
}

fn keys_text(o: &Outcome, which: Found) -> String {
    let keys: Vec<String> = o
        .findings
        .list
        .iter()
        .filter(|x| x.found == which)
        .take(20)
        .map(|x| match (which, &x.key_a, &x.key_b) {
            (_, Some(a), Some(b)) if a != b => {
                format!("{} (b: {})", key_json(&x.key_a), key_json(&Some(b.clone())))
            }
            (Found::MissingOnA, _, _) => key_json(&x.key_b).to_string(),
            _ => key_json(&x.key_a).to_string(),
        })
        .collect();
    keys.join(", ")
}

fn report(outcomes: &[Outcome], args: &VerifyArgs) -> Result<(), Error> {
    let differing: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !o.findings.list.is_empty() || o.findings.more > 0)
        .collect();
    if args.json {
        let v = json!({
            "equal": differing.is_empty(),
            "tables": outcomes.iter().map(outcome_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        for o in outcomes {
            let f = &o.findings;
            let n = f.list.len() as u64 + f.more;
            if n == 0 {
                println!(
                    "{}: equal ({} rows on a, {} on b)",
                    o.table, f.rows_a, f.rows_b
                );
            } else {
                println!(
                    "{}: {n} difference(s) ({} rows on a, {} on b)",
                    o.table, f.rows_a, f.rows_b
                );
                for (which, label) in [
                    (Found::MissingOnB, "missing on b"),
                    (Found::MissingOnA, "missing on a"),
                    (Found::Differ, "differ"),
                ] {
                    let count = f.list.iter().filter(|x| x.found == which).count();
                    if count > 0 {
                        println!("  {label} ({count}): {}", keys_text(o, which));
                    }
                }
                if f.more > 0 {
                    println!("  ... and {} more not listed", f.more);
                }
            }
            if !f.in_flight.is_empty() {
                let keys: Vec<String> = f
                    .in_flight
                    .iter()
                    .take(20)
                    .map(|x| key_json(&x.key_a.clone().or_else(|| x.key_b.clone())).to_string())
                    .collect();
                println!(
                    "  in flight (queued, not applied yet; not counted): {}",
                    keys.join(", ")
                );
            }
            if let Some(r) = &o.repair {
                let by = if r.agent_running {
                    "the running agent applies them"
                } else {
                    "the next `ctsync run` (or `sync --once`) applies them"
                };
                println!(
                    "  repair: {} corrective operation(s) queued; {by}",
                    r.queued
                );
                for (i, why) in &r.skipped {
                    match f.list.get(*i) {
                        Some(x) => println!(
                            "  not repaired: key {}: {why}",
                            key_json(&x.key_a.clone().or_else(|| x.key_b.clone()))
                        ),
                        None => println!("  not repaired: {why}"),
                    }
                }
            }
        }
    }
    if differing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = differing.iter().map(|o| o.table.as_str()).collect();
    Err(Error::Differences(format!(
        "{} table(s) differ: {}{}",
        names.len(),
        names.join(", "),
        if args.repair {
            "; corrections queued, verify again once they are applied"
        } else {
            "; `ctsync verify --repair` queues corrections"
        }
    )))
}
