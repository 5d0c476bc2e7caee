//! Answers to `inspect`, `parked` and `reinit` requests, computed from the state store
//! (and, inside a running agent, its live status). The same function serves
//! the control socket of a running agent and a command run while the agent
//! is stopped, so both show the same thing.
//!
//! Never shows a password: only table names, keys, operations, counters,
//! times and error texts.

use crate::agent::status::Status;
use crate::config::Config;
use crate::control::{Reply, Request};
use crate::model::{Direction, Side, SqlValue};
use crate::store::{ParkedSelect, Phase, Store, StoreError};
use serde_json::{json, Value};

/// Most queued operations `inspect --queue` lists (per direction).
pub const QUEUE_LIST_MAX: usize = 1_000;
/// Most parked operations listed at once.
pub const PARKED_LIST_MAX: usize = 10_000;
/// Most conflicts `conflicts list` shows at once.
pub const CONFLICT_LIST_MAX: usize = 10_000;

/// `status` is the running agent's live status, `None` when the store was
/// opened by the command itself.
pub fn answer(store: &Store, status: Option<&Status>, config: &Config, request: Request) -> Reply {
    let r = match request {
        Request::Inspect {
            table, queue: true, ..
        } => queue(store, config, table.as_deref()),
        Request::Inspect {
            table: Some(t),
            key: Some(k),
            ..
        } => key(store, config, &t, &k),
        Request::Inspect { table, .. } => overview(store, status, config, table.as_deref()),
        Request::ParkedList { table } => store
            .parked(table.as_deref(), PARKED_LIST_MAX)
            .map(|p| json!({ "parked": p }))
            .map_err(|e| e.to_string()),
        Request::ParkedRetry { table, id, all } => select(id, all).and_then(|sel| {
            store
                .retry_parked(table.as_deref(), sel)
                .map(|n| json!({ "retried": n }))
                .map_err(|e| e.to_string())
        }),
        Request::ParkedDrop { table, id, all } => select(id, all).and_then(|sel| {
            store
                .drop_parked(table.as_deref(), sel)
                .map(|n| json!({ "dropped": n }))
                .map_err(|e| e.to_string())
        }),
        Request::Reinit { table, direction } => reinit(store, status, config, &table, direction),
        Request::ConflictsList { table } => store
            .conflicts(table.as_deref(), CONFLICT_LIST_MAX)
            .map(|(c, dropped)| json!({ "conflicts": c, "dropped": dropped }))
            .map_err(|e| e.to_string()),
        Request::ConflictShow { id } => match store.conflict(id) {
            Ok(Some(c)) => Ok(json!({ "conflict": c })),
            Ok(None) => Err(StoreError::ConflictNotFound { id }.to_string()),
            Err(e) => Err(e.to_string()),
        },
        Request::ConflictResolve { id, keep } => store
            .resolve_conflict(id, keep)
            .map(|c| {
                tracing::warn!(conflict = id, table = %c.table, keep = keep.as_str(),
                    "conflict resolved by the operator");
                json!({ "resolved": c })
            })
            .map_err(|e| e.to_string()),
        Request::QueuedKeys { table } => crate::verify::held::queued_keys(store, config, &table),
        Request::MapKeys {
            table,
            direction,
            keys,
        } => crate::verify::held::map_keys(store, config, &table, direction, &keys.0)
            .map(|m| json!({ "mapped": crate::control::Packed(m) }))
            .map_err(|e| e.to_string()),
        // The queue has no running owner here (the agent is stopped, or
        // the table is not configured any more in it).
        Request::Repair {
            table,
            direction,
            ops,
        } => store
            .enqueue_repair(direction, &table, &ops.0)
            .map(|()| json!({ "queued": ops.0.len() }))
            .map_err(|e| e.to_string()),
        Request::ConflictsPurge { older_than_ms } => store
            .purge_conflicts(crate::agent::status::now_ms().saturating_sub(older_than_ms))
            .map(|n| json!({ "purged": n }))
            .map_err(|e| e.to_string()),
    };
    match r {
        Ok(mut v) => {
            if let Some(obj) = v.as_object_mut() {
                obj.insert("agent_running".into(), json!(status.is_some()));
            }
            Reply::Ok(v)
        }
        Err(e) => Reply::Error(e),
    }
}

/// Marks (direction, table) for a re-initialisation, durably (with the
/// agent stopped: its next run's queue owner resets the queue and loads the
/// table again from its source, superseding what is queued).
fn reinit(
    store: &Store,
    status: Option<&Status>,
    config: &Config,
    table: &str,
    direction: Option<Direction>,
) -> Result<Value, String> {
    reinit_with(config, table, direction, |d, name| {
        let reason = "requested by the operator (ctsync reinit)".to_string();
        store
            .set_phase(d, name, &Phase::Reinit { reason })
            .map_err(|e| e.to_string())?;
        if let Some(s) = status {
            s.resume(d, name);
        }
        Ok(None)
    })
}

/// `ctsync reinit`: `start` re-initialises one configured (direction,
/// table) and says how many queued operations the reload superseded, when
/// it knows (the running agent's queue owner does it between batches).
pub fn reinit_with(
    config: &Config,
    table: &str,
    direction: Option<Direction>,
    mut start: impl FnMut(Direction, &str) -> Result<Option<usize>, String>,
) -> Result<Value, String> {
    let mut done = Vec::new();
    for (d, name) in configured(config, Some(table))? {
        if direction.is_some_and(|want| want != d) {
            continue;
        }
        let superseded = start(d, &name)?;
        tracing::warn!(direction = %d, table = %name, "re-initialisation requested by the operator");
        done.push(json!({ "table": name, "direction": d.to_string(), "superseded": superseded }));
    }
    if done.is_empty() {
        return Err(format!(
            "table {table} is not synced in that direction; see `ctsync inspect`"
        ));
    }
    Ok(json!({ "reinit": done }))
}

/// The answer to a parked retry or drop a running agent's queue owners
/// carried out (`done` names the count: "retried" or "dropped").
pub fn parked_reply(
    id: Option<u64>,
    all: bool,
    done: &str,
    apply: impl FnOnce(ParkedSelect) -> Result<usize, String>,
) -> Reply {
    match select(id, all).and_then(apply) {
        Ok(n) => Reply::Ok(json!({ done: n, "agent_running": true })),
        Err(e) => Reply::Error(e),
    }
}

fn select(id: Option<u64>, all: bool) -> Result<ParkedSelect, String> {
    match (id, all) {
        (Some(id), false) => Ok(ParkedSelect::Id(id)),
        (None, true) => Ok(ParkedSelect::All),
        _ => Err("give either one parked operation's ID or --all".into()),
    }
}

fn configured(config: &Config, table: Option<&str>) -> Result<Vec<(Direction, String)>, String> {
    let mut out = Vec::new();
    for t in &config.tables {
        let name = t.name.to_string();
        if table.is_some_and(|want| !want.eq_ignore_ascii_case(&name)) {
            continue;
        }
        for d in t.directions() {
            out.push((d, name.clone()));
        }
    }
    if out.is_empty() {
        if let Some(t) = table {
            let names: Vec<String> = config.tables.iter().map(|t| t.name.to_string()).collect();
            return Err(format!(
                "table {t} is not in the configuration; configured tables: {}",
                names.join(", ")
            ));
        }
    }
    Ok(out)
}

fn overview(
    store: &Store,
    status: Option<&Status>,
    config: &Config,
    table: Option<&str>,
) -> Result<Value, String> {
    let live = status.map(|s| s.snapshot()).unwrap_or_default();
    let mut tables = Vec::new();
    // An export configuration has no sync directions: its tables are shown
    // with their export watermarks instead.
    let synced = match config.targets.csv {
        Some(_) => Vec::new(),
        None => configured(config, table)?,
    };
    for (d, name) in synced {
        let st = store.status(d, &name).map_err(|e| e.to_string())?;
        let mut v = serde_json::to_value(&st).map_err(|e| e.to_string())?;
        if let (Some(obj), Some(l)) = (v.as_object_mut(), live.get(&format!("{d} {name}"))) {
            obj.insert("captured_since_start".into(), json!(l.captured_total));
            obj.insert("applied_since_start".into(), json!(l.applied_total));
            // Live times are fresher than the stored ones.
            if l.last_capture_ms.is_some() {
                obj.insert("last_capture_ms".into(), json!(l.last_capture_ms));
            }
            if l.last_apply_ms.is_some() {
                obj.insert("last_apply_ms".into(), json!(l.last_apply_ms));
            }
            if l.last_error.is_some() {
                obj.insert("last_error".into(), json!(l.last_error));
            }
            obj.insert("waiting".into(), json!(l.waiting));
            if let Some(reason) = &l.stopped {
                obj.insert("stopped".into(), json!(reason));
            }
        }
        tables.push(v);
    }
    // State the store keeps for tables no longer configured: queued or
    // parked operations there would otherwise be invisible.
    let mut unconfigured = Vec::new();
    if table.is_none() {
        let listed = configured(config, None)?;
        for (d, name) in store.known_queues().map_err(|e| e.to_string())? {
            if listed
                .iter()
                .any(|(ld, ln)| *ld == d && ln.eq_ignore_ascii_case(&name))
            {
                continue;
            }
            let st = store.status(d, &name).map_err(|e| e.to_string())?;
            unconfigured.push(json!({
                "table": name,
                "direction": d.to_string(),
                "queue_depth": st.queue_depth,
                "parked": st.parked,
            }));
        }
    }
    let mut exports = Vec::new();
    if let Some(csv) = &config.targets.csv {
        let side = csv.source.side();
        for t in &config.tables {
            let name = t.name.to_string();
            if table.is_some_and(|want| !want.eq_ignore_ascii_case(&name)) {
                continue;
            }
            let mark = store.export_mark(side, &name).map_err(|e| e.to_string())?;
            exports.push(json!({
                "table": name,
                "source": side.as_str(),
                "mode": t.mode,
                "last_export": mark,
            }));
        }
    }
    let mut servers = serde_json::Map::new();
    for (side, s) in [(Side::A, &config.servers.a), (Side::B, &config.servers.b)] {
        // Only an export configuration leaves a server out.
        let Some(s) = s else { continue };
        let seen = store.server(side).map_err(|e| e.to_string())?;
        servers.insert(
            side.as_str().into(),
            json!({
                "host": s.host,
                "port": s.port,
                "database": s.database,
                "last_current_version": seen.as_ref().map(|x| x.last_current_version),
            }),
        );
    }
    Ok(json!({
        "agent_id": config.agent_id,
        "state_dir": config.state_dir.display().to_string(),
        "servers": servers,
        "tables": tables,
        "unconfigured": unconfigured,
        "exports": exports,
    }))
}

fn queue(store: &Store, config: &Config, table: Option<&str>) -> Result<Value, String> {
    let Some(table) = table else {
        return Err("--queue needs --table".into());
    };
    let mut queued = Vec::new();
    for (d, name) in configured(config, Some(table))? {
        let ops = store
            .list_queue_all(d, &name, 0, QUEUE_LIST_MAX)
            .map_err(|e: StoreError| e.to_string())?;
        let staged_from = store
            .staged(d, &name)
            .map_err(|e| e.to_string())?
            .map_or(u64::MAX, |s| s.first_seq);
        for (seq, op) in ops {
            let spilled = crate::store::is_spilled_stub(&op);
            let mut v = json!({ "direction": d, "seq": seq, "op": op });
            if seq >= staged_from {
                v["staged"] = json!(true);
            }
            // A large op kept in a file (see `store::spill`): its image is
            // not listed.
            if spilled {
                v["spilled"] = json!(true);
            }
            queued.push(v);
        }
    }
    let canonical = configured(config, Some(table))?
        .first()
        .map(|(_, n)| n.clone())
        .unwrap_or_else(|| table.to_string());
    let parked = store
        .parked(Some(&canonical), PARKED_LIST_MAX)
        .map_err(|e| e.to_string())?;
    Ok(json!({ "table": canonical, "queued": queued, "parked": parked }))
}

/// Candidate typed values for one key part typed by an operator: the store
/// keys rows by typed values, and the command line only has text.
fn candidates(text: &str) -> Vec<SqlValue> {
    let mut out = Vec::new();
    if let Ok(i) = text.parse::<i64>() {
        if let Ok(v) = i32::try_from(i) {
            out.push(SqlValue::I32(v));
        }
        out.push(SqlValue::I64(i));
        if let Ok(v) = i16::try_from(i) {
            out.push(SqlValue::I16(v));
        }
        if let Ok(v) = u8::try_from(i) {
            out.push(SqlValue::U8(v));
        }
    }
    out.push(SqlValue::String(text.to_string()));
    out
}

fn key(store: &Store, config: &Config, table: &str, key_text: &str) -> Result<Value, String> {
    let name = configured(config, Some(table))?
        .first()
        .map(|(_, n)| n.clone())
        .unwrap_or_else(|| table.to_string());
    let parts: Vec<&str> = key_text.split(',').map(str::trim).collect();
    // Composite keys of up to 4 parts: at most 5^4 lookups.
    if parts.len() > 4 {
        return Err("--key takes at most 4 comma-separated parts".into());
    }
    let mut combos: Vec<Vec<SqlValue>> = vec![Vec::new()];
    for p in &parts {
        let c = candidates(p);
        combos = combos
            .into_iter()
            .flat_map(|prefix| {
                c.iter().map(move |v| {
                    let mut k = prefix.clone();
                    k.push(v.clone());
                    k
                })
            })
            .collect();
    }
    let mut found = serde_json::Map::new();
    for side in [Side::A, Side::B] {
        for k in &combos {
            if let Some(other) = store.map_key(&name, side, k).map_err(|e| e.to_string())? {
                found.insert(
                    format!("{}_to_{}", side.as_str(), side.other().as_str()),
                    json!({ "key": k, "maps_to": other }),
                );
                break;
            }
        }
    }
    Ok(json!({ "table": name, "key": key_text, "mappings": found }))
}
