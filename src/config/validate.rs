//! Checks of the configuration as a whole, after it deserialized: every
//! problem found is reported (not only the first), each naming its key, the
//! value and what is allowed.

use super::error::{shown, Problem};
use super::names::parse_table_name;
use super::raw::{RawConfig, RawServer, RawTable};
use super::secret::read_password_file;
use super::{Config, CsvTarget, ServerConfig, Servers, SyncConfig, TableConfig, Targets};
use super::{ConflictPolicy, DirectionConfig, Initial, RetryConfig};
use crate::mssql::ident::{quote, TableName, IDENT_CHARS_MAX};
use std::collections::BTreeMap;

/// Longest `agent_id`: the context of a write is `ctsync:<agent_id>:<seq>`,
/// at most 128 bytes (error 22109), and a u64 seq takes up to 20.
pub const AGENT_ID_MAX: usize = 64;
pub const BATCH_SIZE_MAX: u64 = 5000;
pub const CAPTURE_ROWS_MAX: u64 = 1_000_000;
/// Bounds of `sync.batch_bytes_max`: 64 KiB (one row of most tables) to
/// 1 GiB.
pub const BATCH_BYTES_MIN: u64 = 64 * 1024;
pub const BATCH_BYTES_MAX: u64 = 1024 * 1024 * 1024;
pub const LATEST_MAX: u64 = 100_000_000;
pub const MAX_ATTEMPTS_MAX: u64 = 1000;
pub const MAX_WORKERS_MAX: u64 = 64;
pub const CONFLICT_LOG_MAX: u64 = 100_000_000;
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 86_400_000;

pub fn validate(raw: RawConfig) -> Result<Config, Vec<Problem>> {
    let mut p = Vec::new();
    check_agent_id(&raw.agent_id, &mut p);
    if raw.state_dir.as_os_str().is_empty() {
        p.push(Problem::new(
            "state_dir",
            Some("\"\"".into()),
            "must be a directory path",
        ));
    }
    if let Err(m) = check_log_level(&raw.log_level) {
        p.push(Problem::new(
            "log_level",
            Some(shown(&raw.log_level)),
            format!("{m}; allowed: off, error, warn, info, debug, trace, or directives like `info,ctsync=debug`"),
        ));
    }
    // Only an export (targets.csv) may leave out the server it does not read.
    let export_source = raw.targets.csv.as_ref().map(|c| c.source);
    let present = |side: &str, s: Option<RawServer>, p: &mut Vec<Problem>| match s {
        Some(s) => server(side, s, p).map(Some),
        None => {
            let source = match export_source {
                Some(super::SideName::A) => Some("a"),
                Some(super::SideName::B) => Some("b"),
                None => None,
            };
            if source.is_some_and(|src| src != side) {
                return Some(None);
            }
            p.push(Problem::new(
                format!("servers.{side}"),
                None,
                match source {
                    Some(_) => "missing; it is targets.csv.source, the server the export reads".to_string(),
                    None => "missing; both servers a and b are required (only a CSV export, `targets.csv`, needs just its source)".to_string(),
                },
            ));
            None
        }
    };
    let a = present("a", raw.servers.a, &mut p);
    let b = present("b", raw.servers.b, &mut p);
    if let (Some(Some(a)), Some(Some(b))) = (&a, &b) {
        if a.host.eq_ignore_ascii_case(&b.host)
            && a.port == b.port
            && a.database.eq_ignore_ascii_case(&b.database)
        {
            p.push(Problem::new(
                "servers.b",
                Some(format!("{}:{}/{}", b.host, b.port, b.database)),
                "is the same database as servers.a; a and b must be different databases",
            ));
        }
    }
    let sync = sync(&raw.sync, &mut p);
    let tables = tables(raw.tables, &sync.conflict, &mut p);
    let targets = Targets {
        csv: raw.targets.csv.and_then(|c| {
            if c.directory.as_os_str().is_empty() {
                p.push(Problem::new(
                    "targets.csv.directory",
                    Some("\"\"".into()),
                    "must be a directory path",
                ));
            }
            in_range(
                &mut p,
                "targets.csv.max_workers",
                c.max_workers,
                1,
                MAX_WORKERS_MAX,
            );
            Some(CsvTarget {
                directory: c.directory,
                source: c.source,
                max_workers: usize::try_from(c.max_workers).ok()?,
            })
        }),
    };
    let metrics = super::monitoring::metrics(raw.metrics, &mut p);
    match (a, b, p.is_empty()) {
        (Some(a), Some(b), true) => Ok(Config {
            agent_id: raw.agent_id,
            state_dir: raw.state_dir,
            log_level: raw.log_level,
            log_format: raw.log_format,
            servers: Servers { a, b },
            sync,
            tables,
            targets,
            metrics,
        }),
        _ => Err(p),
    }
}

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// A log filter must parse, and a lone word must be a level: `EnvFilter`
/// would take a misspelt `infoo` as a target name and silently log nothing.
fn check_log_level(level: &str) -> Result<(), String> {
    tracing_subscriber::EnvFilter::try_new(level).map_err(|e| e.to_string())?;
    let lone_word = !level.contains([',', '=', ':', '[']);
    if lone_word && !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(level.trim())) {
        return Err("not a log level".to_string());
    }
    Ok(())
}

fn check_agent_id(id: &str, p: &mut Vec<Problem>) {
    let ok_chars = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if id.is_empty() || id.len() > AGENT_ID_MAX || !ok_chars {
        p.push(Problem::new(
            "agent_id",
            Some(shown(id)),
            format!(
                "allowed: 1 to {AGENT_ID_MAX} characters of A-Z a-z 0-9 . _ - \
                 (it tags this agent's writes as change tracking context `ctsync:<agent_id>:<op>`)"
            ),
        ));
    }
}

fn in_range(p: &mut Vec<Problem>, key: &str, v: u64, min: u64, max: u64) -> bool {
    if v < min || v > max {
        p.push(Problem::new(
            key,
            Some(v.to_string()),
            format!("allowed: {min} to {max}"),
        ));
        return false;
    }
    true
}

fn server(side: &str, s: RawServer, p: &mut Vec<Problem>) -> Option<ServerConfig> {
    let key = |k: &str| format!("servers.{side}.{k}");
    let before = p.len();
    if s.host.trim().is_empty() {
        p.push(Problem::new(
            key("host"),
            Some(shown(&s.host)),
            "must name the server (host name or IP address)",
        ));
    }
    if s.port == 0 {
        p.push(Problem::new(
            key("port"),
            Some("0".into()),
            "allowed: 1 to 65535",
        ));
    }
    if let Err(e) = quote(&s.database) {
        p.push(Problem::new(
            key("database"),
            Some(shown(&s.database)),
            format!("not a database name: {e}"),
        ));
    }
    if s.user.is_empty() {
        p.push(Problem::new(
            key("user"),
            Some("\"\"".into()),
            "must name the SQL Server login",
        ));
    }
    in_range(
        p,
        &key("connect_timeout_ms"),
        s.connect_timeout_ms,
        1,
        600_000,
    );
    in_range(
        p,
        &key("command_timeout_ms"),
        s.command_timeout_ms,
        0,
        DAY_MS,
    );
    if s.application_name.chars().count() > IDENT_CHARS_MAX {
        p.push(Problem::new(
            key("application_name"),
            Some(shown(&s.application_name)),
            format!("allowed: at most {IDENT_CHARS_MAX} characters"),
        ));
    }
    let password = match (s.password, &s.password_file) {
        (Some(_), Some(file)) => {
            p.push(Problem::new(
                key("password"),
                None,
                format!(
                    "set both inline (or by CTSYNC_SERVERS__{}__PASSWORD) and as password_file {}; allowed: exactly one of them",
                    side.to_ascii_uppercase(),
                    file.display()
                ),
            ));
            None
        }
        (None, None) => {
            p.push(Problem::new(
                key("password"),
                None,
                format!(
                    "missing; set password (or CTSYNC_SERVERS__{}__PASSWORD) or password_file",
                    side.to_ascii_uppercase()
                ),
            ));
            None
        }
        (Some(pw), None) => {
            if pw.is_empty() {
                p.push(Problem::new(
                    key("password"),
                    None,
                    "is empty; allowed: a non-empty password",
                ));
            }
            Some(pw)
        }
        (None, Some(file)) => match read_password_file(file) {
            Ok(pw) => Some(pw),
            Err(e) => {
                p.push(Problem::new(
                    key("password_file"),
                    Some(shown(&file.display().to_string())),
                    e.to_string(),
                ));
                None
            }
        },
    };
    super::ca_file::check(side, s.ca_file.as_deref(), s.trust_server_certificate, p);
    if p.len() > before {
        return None;
    }
    Some(ServerConfig {
        host: s.host,
        port: s.port,
        database: s.database,
        user: s.user,
        password: password?,
        password_file: s.password_file,
        encrypt: s.encrypt,
        trust_server_certificate: s.trust_server_certificate,
        ca_file: s.ca_file,
        connect_timeout_ms: s.connect_timeout_ms,
        command_timeout_ms: s.command_timeout_ms,
        application_name: s.application_name,
    })
}

fn sync(s: &super::raw::RawSync, p: &mut Vec<Problem>) -> SyncConfig {
    in_range(p, "sync.poll_interval_ms", s.poll_interval_ms, 10, HOUR_MS);
    in_range(p, "sync.batch_size", s.batch_size, 1, BATCH_SIZE_MAX);
    in_range(
        p,
        "sync.capture_rows_max",
        s.capture_rows_max,
        100,
        CAPTURE_ROWS_MAX,
    );
    in_range(
        p,
        "sync.batch_bytes_max",
        s.batch_bytes_max,
        BATCH_BYTES_MIN,
        BATCH_BYTES_MAX,
    );
    in_range(
        p,
        "sync.capture_bytes_max",
        s.capture_bytes_max,
        BATCH_BYTES_MIN,
        BATCH_BYTES_MAX,
    );
    let r = &s.retry;
    in_range(
        p,
        "sync.retry.initial_backoff_ms",
        r.initial_backoff_ms,
        1,
        HOUR_MS,
    );
    if in_range(p, "sync.retry.max_backoff_ms", r.max_backoff_ms, 1, DAY_MS)
        && r.max_backoff_ms < r.initial_backoff_ms
    {
        p.push(Problem::new(
            "sync.retry.max_backoff_ms",
            Some(r.max_backoff_ms.to_string()),
            format!(
                "is below sync.retry.initial_backoff_ms ({}); allowed: at least that",
                r.initial_backoff_ms
            ),
        ));
    }
    in_range(
        p,
        "sync.retry.max_attempts",
        r.max_attempts,
        1,
        MAX_ATTEMPTS_MAX,
    );
    in_range(
        p,
        "sync.conflict_log_max",
        s.conflict_log_max,
        1,
        CONFLICT_LOG_MAX,
    );
    in_range(
        p,
        "sync.reference_wait_ms_max",
        s.reference_wait_ms_max,
        100,
        DAY_MS,
    );
    in_range(
        p,
        "sync.schema_check_interval_ms",
        s.schema_check_interval_ms,
        100,
        DAY_MS,
    );
    conflict_policy(p, "sync.conflict", &s.conflict);
    SyncConfig {
        poll_interval_ms: s.poll_interval_ms,
        batch_size: s.batch_size.min(BATCH_SIZE_MAX) as usize,
        capture_rows_max: s.capture_rows_max.min(CAPTURE_ROWS_MAX) as i64,
        batch_bytes_max: s.batch_bytes_max.clamp(BATCH_BYTES_MIN, BATCH_BYTES_MAX) as usize,
        capture_bytes_max: s.capture_bytes_max.clamp(BATCH_BYTES_MIN, BATCH_BYTES_MAX) as usize,
        enable_change_tracking: s.enable_change_tracking,
        retry: RetryConfig {
            initial_backoff_ms: r.initial_backoff_ms,
            max_backoff_ms: r.max_backoff_ms,
            max_attempts: r.max_attempts.min(MAX_ATTEMPTS_MAX) as u32,
        },
        conflict: s.conflict.clone(),
        conflict_log_max: s.conflict_log_max.min(CONFLICT_LOG_MAX),
        reference_wait_ms_max: s.reference_wait_ms_max.clamp(100, DAY_MS),
        schema_check_interval_ms: s.schema_check_interval_ms.clamp(100, DAY_MS),
    }
}

/// A `newer_wins` column must at least be a column name; that it is a
/// synced column of a comparable type is checked against each server's
/// catalog at start-up (`check`), where the types are known.
fn conflict_policy(p: &mut Vec<Problem>, key: &str, policy: &ConflictPolicy) {
    if let ConflictPolicy::NewerWins(column) = policy {
        column_name(p, format!("{key}.newer_wins"), column);
    }
}

fn column_name(p: &mut Vec<Problem>, key: String, c: &str) -> bool {
    let problem = match quote(c) {
        Err(e) => Some(format!("not a column name: {e}")),
        Ok(_) if c.trim() != c => Some("has leading or trailing spaces".to_string()),
        Ok(_) => None,
    };
    match problem {
        Some(m) => {
            p.push(Problem::new(key, Some(shown(c)), m));
            false
        }
        None => true,
    }
}

fn names_list(p: &mut Vec<Problem>, key: &str, list: &[String]) {
    for (j, c) in list.iter().enumerate() {
        if !column_name(p, format!("{key}[{j}]"), c) {
            continue;
        }
        if list[..j].iter().any(|x| x.eq_ignore_ascii_case(c)) {
            p.push(Problem::new(
                format!("{key}[{j}]"),
                Some(shown(c)),
                "is listed twice",
            ));
        }
    }
}

fn tables(
    raw: Vec<RawTable>,
    default_conflict: &ConflictPolicy,
    p: &mut Vec<Problem>,
) -> Vec<TableConfig> {
    // First pass: names, so references can be checked against the list.
    let names: Vec<Option<TableName>> = raw
        .iter()
        .enumerate()
        .map(|(i, t)| match parse_table_name(&t.table) {
            Ok(n) => Some(n),
            Err(m) => {
                p.push(Problem::new(
                    format!("tables[{i}].table"),
                    Some(shown(&t.table)),
                    format!("{m}; allowed: `schema.table` or `table` (schema dbo), parts up to {IDENT_CHARS_MAX} characters"),
                ));
                None
            }
        })
        .collect();
    let same = |a: &TableName, b: &TableName| {
        a.schema.eq_ignore_ascii_case(&b.schema) && a.name.eq_ignore_ascii_case(&b.name)
    };
    for (i, n) in names.iter().enumerate() {
        let Some(n) = n else { continue };
        if let Some(j) = names[..i]
            .iter()
            .position(|m| m.as_ref().is_some_and(|m| same(m, n)))
        {
            p.push(Problem::new(
                format!("tables[{i}].table"),
                Some(shown(&raw[i].table)),
                format!("is listed twice (also tables[{j}]); allowed: each table once"),
            ));
        }
    }
    let find = |t: &TableName| {
        names
            .iter()
            .position(|m| m.as_ref().is_some_and(|m| same(m, t)))
    };
    let mut out = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        let k = |f: &str| format!("tables[{i}].{f}");
        if t.key.is_empty() {
            p.push(Problem::new(
                k("key"),
                Some("[]".into()),
                "is empty; allowed: the key column(s), e.g. [id]",
            ));
        }
        names_list(p, &k("key"), &t.key);
        if t.force_id && !t.identity {
            p.push(Problem::new(
                k("force_id"),
                Some("true".into()),
                "needs `identity: true`: force_id copies IDENTITY values with IDENTITY_INSERT; allowed: false for a table whose key is not an identity",
            ));
        }
        if t.identity && t.key.len() > 1 {
            p.push(Problem::new(
                k("identity"),
                Some("true".into()),
                format!(
                    "the key has {} columns; an identity key is a single column (a table has at most one IDENTITY)",
                    t.key.len()
                ),
            ));
        }
        if let Some(cols) = &t.columns {
            if cols.is_empty() {
                p.push(Problem::new(
                    k("columns"),
                    Some("[]".into()),
                    "is empty; leave it out to sync every column",
                ));
            }
            names_list(p, &k("columns"), cols);
            for key_col in &t.key {
                if !cols.iter().any(|c| c.eq_ignore_ascii_case(key_col)) {
                    p.push(Problem::new(
                        k("columns"),
                        Some(format!("[{}]", cols.join(", "))),
                        format!("does not include key column {key_col:?}; the synced columns must include the key"),
                    ));
                }
            }
        }
        if let Initial::Latest(n) = t.initial {
            in_range(p, &k("initial.latest"), n, 1, LATEST_MAX);
        }
        let mut references = BTreeMap::new();
        for (column, target) in &t.references {
            let rk = format!("tables[{i}].references.{column}");
            if !column_name(p, rk.clone(), column) {
                continue;
            }
            if let Some(cols) = &t.columns {
                if !cols.iter().any(|c| c.eq_ignore_ascii_case(column)) {
                    p.push(Problem::new(
                        rk.clone(),
                        Some(shown(target)),
                        format!("column {column:?} is not among tables[{i}].columns; allowed: a synced column"),
                    ));
                }
            }
            let listed: Vec<String> = names.iter().flatten().map(|n| n.to_string()).collect();
            let parsed = match parse_table_name(target) {
                Ok(n) => n,
                Err(m) => {
                    p.push(Problem::new(rk, Some(shown(target)), m));
                    continue;
                }
            };
            let Some(j) = find(&parsed) else {
                p.push(Problem::new(
                    rk,
                    Some(shown(target)),
                    format!(
                        "is not a listed table; allowed: one of {}",
                        listed.join(", ")
                    ),
                ));
                continue;
            };
            let r = &raw[j];
            // A mapped reference can only be translated in directions in
            // which the referenced table syncs (and so has mappings).
            if r.identity && !r.force_id {
                for d in t.direction.directions() {
                    if !r.direction.includes(*d) {
                        p.push(Problem::new(
                            rk.clone(),
                            Some(shown(target)),
                            format!(
                                "{target} syncs {} but this table syncs {}; its ids are mapped only in the directions it syncs",
                                direction_name(r.direction),
                                direction_name(t.direction)
                            ),
                        ));
                        break;
                    }
                }
            }
            references.insert(column.clone(), parsed);
        }
        if let Some(policy) = &t.conflict {
            conflict_policy(p, &k("conflict"), policy);
        }
        let conflict = t
            .conflict
            .clone()
            .unwrap_or_else(|| default_conflict.clone());
        if let ConflictPolicy::NewerWins(column) = &conflict {
            if let Some(cols) = &t.columns {
                if !cols.iter().any(|c| c.eq_ignore_ascii_case(column)) {
                    p.push(Problem::new(
                        k("conflict.newer_wins"),
                        Some(shown(column)),
                        format!("is not among tables[{i}].columns; allowed: a synced column (e.g. updated_at)"),
                    ));
                }
            }
        }
        if let Some(name) = names[i].clone() {
            out.push(TableConfig {
                name,
                key: t.key.clone(),
                identity: t.identity,
                force_id: t.force_id,
                columns: t.columns.clone(),
                direction: t.direction,
                references,
                initial: t.initial,
                on_expired: t.on_expired,
                mode: t.mode,
                conflict,
                allow_key_collation: t.allow_key_collation,
            });
        }
    }
    out
}

fn direction_name(d: DirectionConfig) -> &'static str {
    match d {
        DirectionConfig::AToB => "a_to_b",
        DirectionConfig::BToA => "b_to_a",
        DirectionConfig::Both => "both",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels() {
        for ok in ["info", "DEBUG", "info,ctsync=debug", "ctsync=trace", "off"] {
            assert!(check_log_level(ok).is_ok(), "{ok}");
        }
        for bad in ["infoo", "", "info,ctsync=loud"] {
            assert!(check_log_level(bad).is_err(), "{bad:?}");
        }
    }
}
