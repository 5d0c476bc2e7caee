//! `ctsync conflicts list|show|resolve|purge`: the recorded conflicts of
//! two-way tables, asked of the running agent (or read from the store when
//! it is stopped), printed as text or JSON.

use super::inspect::ask;
use crate::cli::ConflictsCommand;
use crate::config::Config;
use crate::control::Request;
use crate::error::Error;
use crate::export::format::value_text;
use crate::model::SqlValue;
use crate::store::{ConflictRecord, SideImage};
use serde_json::Value;
use std::fmt::Write as _;

pub async fn conflicts(config: &Config, action: &ConflictsCommand) -> Result<(), Error> {
    match action {
        ConflictsCommand::List { table, json } => {
            let v = ask(
                config,
                Request::ConflictsList {
                    table: table.clone(),
                },
            )
            .await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print!("{}", render_list(&v));
            }
        }
        ConflictsCommand::Show { id, json } => {
            let v = ask(config, Request::ConflictShow { id: *id }).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                let r = record(&v["conflict"])?;
                print!("{}", render_one(&r));
            }
        }
        ConflictsCommand::Resolve { id, keep } => {
            let v = ask(
                config,
                Request::ConflictResolve {
                    id: *id,
                    keep: keep.side(),
                },
            )
            .await?;
            let r = record(&v["resolved"])?;
            println!(
                "conflict {} on {} resolved: {}'s row goes to both sides",
                r.id,
                r.table,
                keep.side().as_str()
            );
        }
        ConflictsCommand::Purge { older_than } => {
            let v = ask(
                config,
                Request::ConflictsPurge {
                    older_than_ms: *older_than,
                },
            )
            .await?;
            println!(
                "{} settled conflict record(s) purged",
                v["purged"].as_u64().unwrap_or(0)
            );
        }
    }
    Ok(())
}

fn record(v: &Value) -> Result<ConflictRecord, Error> {
    serde_json::from_value(v.clone())
        .map_err(|e| Error::Failed(format!("the conflict record is not readable: {e}")))
}

fn render_list(v: &Value) -> String {
    let mut out = String::new();
    let items = v["conflicts"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        out.push_str("no conflicts recorded\n");
    }
    for item in items {
        let Ok(r) = serde_json::from_value::<ConflictRecord>(item) else {
            continue;
        };
        let _ = writeln!(
            out,
            "{:>6}  {}  {}  key a={} b={}  {}  ({})  {}",
            r.id,
            r.table,
            r.kind,
            key_text(&r.a),
            key_text(&r.b),
            r.outcome.describe(),
            r.policy,
            ago(r.detected_ms)
        );
    }
    if let Some(n) = v["dropped"].as_u64().filter(|n| *n > 0) {
        let _ = writeln!(
            out,
            "({n} older record(s) dropped by sync.conflict_log_max)"
        );
    }
    out
}

fn render_one(r: &ConflictRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "conflict {} on {}", r.id, r.table);
    let _ = writeln!(out, "  kind:     {} (a's change/b's change)", r.kind);
    let _ = writeln!(out, "  policy:   {}", r.policy);
    let _ = writeln!(out, "  outcome:  {}", r.outcome.describe());
    let _ = writeln!(
        out,
        "  found:    {} by the {} applier",
        ago(r.detected_ms),
        r.direction
    );
    for (side, img) in [("a", &r.a), ("b", &r.b)] {
        let _ = writeln!(
            out,
            "  {side}: {} of key {} at version {}{}",
            img.change,
            key_text(img),
            img.version.map_or("-".into(), |v| v.to_string()),
            img.changed
                .as_ref()
                .map(|c| format!(", columns changed: {}", c.join(", ")))
                .unwrap_or_default()
        );
        match &img.row {
            None => out.push_str("     (no row)\n"),
            Some(row) => {
                for (c, v) in r.columns.iter().zip(row) {
                    let _ = writeln!(out, "     {c} = {}", text(v));
                }
            }
        }
    }
    if let crate::store::Outcome::Merged(row) = &r.outcome {
        out.push_str("  merged row written to both sides:\n");
        for (c, v) in r.columns.iter().zip(row) {
            let _ = writeln!(out, "     {c} = {}", text(v));
        }
    }
    out
}

fn text(v: &SqlValue) -> String {
    let mut buf = String::new();
    if value_text(v, &mut buf) {
        buf
    } else {
        "NULL".into()
    }
}

fn key_text(img: &SideImage) -> String {
    match &img.key {
        None => "-".into(),
        Some(k) => k.iter().map(text).collect::<Vec<_>>().join(","),
    }
}

fn ago(ms: u64) -> String {
    let now = crate::agent::status::now_ms();
    format!("{}s ago", now.saturating_sub(ms) / 1000)
}
