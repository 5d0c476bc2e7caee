//! `ctsync inspect` and `ctsync parked ...`: ask the running agent over its
//! control socket, or open the store when no agent runs, and print the
//! answer as text or JSON.

use super::report;
use crate::cli::{DirectionArg, InspectArgs, ParkedCommand, ReinitArgs};
use crate::config::Config;
use crate::control::{self, Reply, Request};
use crate::error::Error;
use crate::store::{Store, StoreError};
use serde_json::Value;
use std::fmt::Write as _;

/// How long a command waits for an agent that holds the store but does not
/// answer on its socket yet (it is starting up).
const AGENT_START_WAIT_MS_MAX: u64 = 10_000;

/// Sends `request` to the running agent, or answers it from the store.
pub(super) async fn ask(config: &Config, request: Request) -> Result<Value, Error> {
    let started = std::time::Instant::now();
    let answer = loop {
        if let Some(reply) = control::ask(&config.state_dir, &request)
            .await
            .map_err(|e| Error::other("asking the running agent", e))?
        {
            break reply;
        }
        let c = config.clone();
        let req = request.clone();
        let local = tokio::task::spawn_blocking(move || -> Result<Option<Reply>, Error> {
            let store = match Store::open(&c.state_dir) {
                Ok(s) => s,
                Err(StoreError::Locked { .. }) => return Ok(None),
                Err(e) => return Err(Error::other("opening the state store", e)),
            };
            let reply = report::answer(&store, None, &c, req);
            // A retry or drop changed the store: make it durable before
            // saying it is done.
            store
                .flush_durable()
                .map_err(|e| Error::other("flushing the state store", e))?;
            Ok(Some(reply))
        })
        .await
        .map_err(|e| Error::other("reading the state store", e))??;
        match local {
            Some(reply) => break reply,
            None if started.elapsed().as_millis() < u128::from(AGENT_START_WAIT_MS_MAX) => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            None => {
                return Err(Error::Failed(format!(
                    "the state store in {} is held by another process that does not answer on {}; is a ctsync agent starting or stuck?",
                    config.state_dir.display(),
                    control::socket_path(&config.state_dir).display()
                )))
            }
        }
    };
    match answer {
        Reply::Ok(v) => Ok(v),
        Reply::Error(e) => Err(Error::Failed(e)),
    }
}

fn keep_direction(v: &Value, d: Option<DirectionArg>) -> bool {
    match d {
        None => true,
        Some(d) => v["direction"].as_str() == Some(d.direction().as_str()),
    }
}

pub async fn inspect(config: &Config, args: &InspectArgs) -> Result<(), Error> {
    let mut v = ask(
        config,
        Request::Inspect {
            table: args.table.clone(),
            queue: args.queue,
            key: args.key.clone(),
        },
    )
    .await?;
    for list in ["tables", "queued", "parked"] {
        if let Some(items) = v.get_mut(list).and_then(Value::as_array_mut) {
            items.retain(|x| keep_direction(x, args.direction));
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    let text = if args.queue {
        render_queue(&v)
    } else if args.key.is_some() {
        render_key(&v)
    } else {
        render_overview(&v)
    };
    print!("{text}");
    Ok(())
}

pub async fn parked(config: &Config, action: &ParkedCommand) -> Result<(), Error> {
    match action {
        ParkedCommand::List(f) => {
            let mut v = ask(
                config,
                Request::ParkedList {
                    table: f.table.clone(),
                },
            )
            .await?;
            if let Some(items) = v.get_mut("parked").and_then(Value::as_array_mut) {
                items.retain(|x| keep_direction(x, f.direction));
            }
            if f.json {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print!("{}", render_parked(&v));
            }
        }
        ParkedCommand::Retry(t) | ParkedCommand::Drop(t) => {
            let retry = matches!(action, ParkedCommand::Retry(_));
            // With --direction and --all, act on that direction's ops one by
            // one (ids are store-wide).
            let ids: Vec<Option<u64>> = match (t.direction, t.all) {
                (Some(d), true) => {
                    let v = ask(
                        config,
                        Request::ParkedList {
                            table: t.table.clone(),
                        },
                    )
                    .await?;
                    v["parked"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter(|x| keep_direction(x, Some(d)))
                                .filter_map(|x| x["id"].as_u64())
                                .map(Some)
                                .collect()
                        })
                        .unwrap_or_default()
                }
                _ => vec![t.id],
            };
            let mut total = 0u64;
            for id in ids {
                let all = id.is_none() && t.all;
                let request = if retry {
                    Request::ParkedRetry {
                        table: t.table.clone(),
                        id,
                        all,
                    }
                } else {
                    Request::ParkedDrop {
                        table: t.table.clone(),
                        id,
                        all,
                    }
                };
                let v = ask(config, request).await?;
                total += v["retried"].as_u64().or(v["dropped"].as_u64()).unwrap_or(0);
            }
            if retry {
                println!("{total} operation(s) put back at the head of their queue");
            } else {
                println!("{total} operation(s) dropped");
            }
        }
    }
    Ok(())
}

fn time(ms: &Value) -> String {
    match ms.as_u64() {
        None => "-".into(),
        Some(ms) => {
            let now = crate::agent::status::now_ms();
            let ago = now.saturating_sub(ms) / 1000;
            format!("{ago}s ago")
        }
    }
}

fn opt(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn phase(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| match k.as_str() {
                "initial_load" => format!(
                    "initial load ({} of {} rows)",
                    opt(&x["rows_done"]),
                    opt(&x["rows_total"])
                ),
                _ => format!("{k}: {}", opt(&x["reason"])),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

fn render_overview(v: &Value) -> String {
    let mut s = String::new();
    let running = if v["agent_running"].as_bool() == Some(true) {
        "running"
    } else {
        "stopped"
    };
    let _ = writeln!(
        s,
        "agent {} ({running}), state in {}",
        opt(&v["agent_id"]),
        opt(&v["state_dir"])
    );
    if let Some(servers) = v["servers"].as_object() {
        for (side, x) in servers {
            let _ = writeln!(
                s,
                "server {side}: {}:{} database {}",
                opt(&x["host"]),
                opt(&x["port"]),
                opt(&x["database"]),
            );
        }
    }
    let _ = writeln!(
        s,
        "{:<28} {:<7} {:<12} {:>10} {:>8} {:>8} {:>8} {:>12} {:>12}",
        "table", "dir", "phase", "watermark", "queued", "parked", "mapped", "captured", "applied"
    );
    for t in v["tables"].as_array().into_iter().flatten() {
        let _ = writeln!(
            s,
            "{:<28} {:<7} {:<12} {:>10} {:>8} {:>8} {:>8} {:>12} {:>12}",
            opt(&t["table"]),
            opt(&t["direction"]),
            // A table whose capture fails keeps its stored phase; the
            // live `erroring` says so first.
            if t["erroring"].is_string() {
                "erroring".to_string()
            } else {
                phase(&t["phase"])
            },
            opt(&t["watermark"]),
            opt(&t["queue_depth"]),
            opt(&t["parked"]),
            opt(&t["mapped_keys"]),
            time(&t["last_capture_ms"]),
            time(&t["last_apply_ms"]),
        );
        let staged = &t["staged"];
        if staged.is_object() {
            let _ = writeln!(
                s,
                "    reading a source transaction larger than one read (version {}): {} operation(s) staged, applied once it is whole",
                opt(&staged["through"]),
                opt(&staged["ops"]),
            );
        }
        for (label, field) in [
            ("last error", "last_error"),
            ("waiting", "waiting"),
            ("stopped", "stopped"),
            ("erroring (capture fails, retried with backoff)", "erroring"),
        ] {
            if let Some(e) = t[field].as_str() {
                let _ = writeln!(s, "    {label}: {e}");
            }
        }
    }
    for t in v["exports"].as_array().into_iter().flatten() {
        let m = &t["last_export"];
        let last = if m.is_null() {
            "never exported".to_string()
        } else {
            format!(
                "version {}, {} row(s), {} at {}",
                opt(&m["version"]),
                opt(&m["rows"]),
                opt(&m["file"]),
                time(&m["at_ms"])
            )
        };
        let _ = writeln!(
            s,
            "export {} from {} ({}): {last}",
            opt(&t["table"]),
            opt(&t["source"]),
            opt(&t["mode"]),
        );
    }
    for t in v["unconfigured"].as_array().into_iter().flatten() {
        let _ = writeln!(
            s,
            "not configured any more, state kept: {} {} (queued {}, parked {})",
            opt(&t["table"]),
            opt(&t["direction"]),
            opt(&t["queue_depth"]),
            opt(&t["parked"]),
        );
    }
    s
}

/// `ctsync reinit --table T [--direction D]`.
pub async fn reinit(config: &Config, args: &ReinitArgs) -> Result<(), Error> {
    let v = ask(
        config,
        Request::Reinit {
            table: args.table.clone(),
            direction: args.direction.map(|d| d.direction()),
        },
    )
    .await?;
    let running = v["agent_running"].as_bool().unwrap_or(false);
    for t in v["reinit"].as_array().into_iter().flatten() {
        let what = match (running, t["superseded"].as_u64()) {
            (true, Some(n)) => format!(
                "started by the running agent: queue reset between batches ({n} queued operation(s) superseded by the reload)"
            ),
            (true, None) => "started by the running agent".to_string(),
            (false, _) => {
                "marked; it starts with the next `ctsync run` or `sync --once`".to_string()
            }
        };
        println!(
            "{} {}: re-initialisation {what}",
            opt(&t["table"]),
            opt(&t["direction"]),
        );
    }
    Ok(())
}

fn render_parked(v: &Value) -> String {
    let mut s = String::new();
    let items = v["parked"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        s.push_str("no parked operations\n");
        return s;
    }
    for p in items {
        let behind = match p["behind"].as_u64() {
            Some(b) => format!(" (behind parked {b}, same key)"),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "#{} {} {} seq {} {:?} key {}: error {} after {} attempt(s): {}{behind}",
            opt(&p["id"]),
            opt(&p["table"]),
            opt(&p["direction"]),
            opt(&p["seq"]),
            opt(&p["op"]["kind"]),
            p["op"]["key"],
            opt(&p["error_number"]),
            opt(&p["attempts"]),
            opt(&p["error"]),
        );
    }
    s
}

fn render_queue(v: &Value) -> String {
    let mut s = String::new();
    let queued = v["queued"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(
        s,
        "{}: {} queued (first {} shown)",
        opt(&v["table"]),
        queued.len(),
        report::QUEUE_LIST_MAX
    );
    for q in queued {
        let _ = writeln!(
            s,
            "  {} seq {} {} key {} version {}",
            opt(&q["direction"]),
            opt(&q["seq"]),
            opt(&q["op"]["kind"]),
            q["op"]["key"],
            opt(&q["op"]["version"])
        );
    }
    s.push_str(&render_parked(v));
    s
}

fn render_key(v: &Value) -> String {
    let mut s = String::new();
    let maps = v["mappings"].as_object().cloned().unwrap_or_default();
    if maps.is_empty() {
        let _ = writeln!(s, "{} key {}: not mapped", opt(&v["table"]), opt(&v["key"]));
    }
    for (dir, m) in maps {
        let _ = writeln!(
            s,
            "{} {dir}: {} -> {}",
            opt(&v["table"]),
            m["key"],
            m["maps_to"]
        );
    }
    s
}
