//! The schema watcher: every `sync.schema_check_interval_ms`, one read per
//! server of the synced tables' columns ([`schema_sql::columns_of`]); a
//! table whose columns differ from the last check is read in full on both
//! servers and matched by name again ([`crate::schema`]), exactly as at
//! start-up, and the result becomes its live shape
//! ([`super::Shared::set_live_shape`]), which capture and the appliers
//! follow (see `schema_follow`):
//!
//! - a column added on both sides joins the synced columns;
//! - a column added on one side is left out, with one warning;
//! - a synced column dropped on one side, a change that would lose data
//!   (a shorter type, NOT NULL without a default) or another key holds the
//!   table with the reason (in `inspect` and, once, in the log at `warn`)
//!   until it is fixed; then the table goes on from its watermark;
//! - a synced column dropped on both sides leaves the synced columns.
//!
//! A statement failing as a schema change would make it fail (invalid
//! column, ...: [`super::schema_error`]) wakes the check at once, so a
//! table is held before its operations are parked; while a table is held
//! it is checked every [`HELD_CHECK_MS`].
//!
//! Cost: one request per server per interval while nothing changes; the
//! full read of a table (two requests per server) only when it changed. A
//! failed check (a link down) is tried again at the next interval; it
//! never stops the agent.

use super::{LiveShape, Shared};
use crate::backoff::Backoff;
use crate::config::TableConfig;
use crate::link::Link;
use crate::model::{Side, SqlValue};
use crate::mssql::schema_sql;
use crate::mssql::value::row_values;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the schema is checked while a table is held by a schema
/// problem (at most `schema_check_interval_ms`).
const HELD_CHECK_MS: u64 = 2_000;

/// Distinct warnings remembered (each is logged once).
const WARNED_MAX: usize = 10_000;

pub struct SchemaWatch {
    links: [Link; 2],
    shared: Arc<Shared>,
    /// Per (side, table): a hash of its columns at the last check.
    seen: HashMap<(Side, String), u64>,
    warned: HashSet<String>,
    /// Per side, the change-tracking version read before the last
    /// successful check's catalog read (at first, start-up's): columns that
    /// changed since that check changed after it.
    prev: [Option<i64>; 2],
}

impl SchemaWatch {
    pub fn new(shared: Arc<Shared>) -> SchemaWatch {
        let config = &shared.config;
        let link = |side: Side| {
            Link::new(
                side,
                "schema check",
                config,
                Backoff::new(
                    config.sync.retry.initial_backoff_ms,
                    config.sync.retry.max_backoff_ms,
                ),
            )
            .watched_by(&shared.monitor)
        };
        let prev = config
            .tables
            .iter()
            .find_map(|t| shared.live_shape(&t.name.to_string()))
            .map_or([None, None], |l| l.since);
        SchemaWatch {
            links: [link(Side::A), link(Side::B)],
            seen: HashMap::new(),
            warned: HashSet::new(),
            prev,
            shared,
        }
    }

    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let interval = Duration::from_millis(self.shared.config.sync.schema_check_interval_ms);
        let mut failing = false;
        loop {
            // A held table is looked at more often: it goes on soon after
            // the operator fixed it.
            let held = self.shared.config.tables.iter().any(|t| {
                self.shared
                    .live_shape(&t.name.to_string())
                    .is_some_and(|l| l.problem.is_some())
            });
            let wait = if held {
                interval.min(Duration::from_millis(HELD_CHECK_MS))
            } else {
                interval
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.shared.schema_check.notified() => {
                    tracing::debug!("a statement failed as a schema change would make it; checking the schema now");
                }
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
            match self.check(&mut shutdown).await {
                Ok(()) => failing = false,
                Err(e) => {
                    if !failing {
                        tracing::info!(error = %e, "schema check failed; tried again at the next interval");
                        failing = true;
                    }
                }
            }
        }
    }

    /// One check of every synced table.
    async fn check(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<(), String> {
        let tables: Vec<TableConfig> = self.shared.config.tables.clone();
        let mut fresh: HashMap<(Side, String), u64> = HashMap::new();
        let mut now = [None, None];
        for side in [Side::A, Side::B] {
            now[side as usize] = self.current_version(side, shutdown).await?;
            let hashes = self.read_hashes(side, &tables, shutdown).await?;
            for t in &tables {
                let name = t.name.to_string();
                let h = hashes.get(&name.to_ascii_lowercase()).copied().unwrap_or(0);
                fresh.insert((side, name), h);
            }
        }
        for t in &tables {
            let name = t.name.to_string();
            let keys = [(Side::A, name.clone()), (Side::B, name.clone())];
            let changed = keys.iter().any(|k| self.seen.get(k) != fresh.get(k));
            // A held table is read in full every time: what fixes it (a
            // primary key, say) may not show in the columns' hash.
            let held = self
                .shared
                .live_shape(&name)
                .is_some_and(|l| l.problem.is_some());
            if changed || held {
                self.reread(t, shutdown).await?;
            }
            // Only once read: a failed read is tried again next time.
            for k in keys {
                if let Some(h) = fresh.get(&k).copied() {
                    self.seen.insert(k, h);
                }
            }
        }
        self.prev = now;
        Ok(())
    }

    async fn current_version(
        &mut self,
        side: Side,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<i64>, String> {
        let link = &mut self.links[side as usize];
        let conn = link.get(shutdown).await.ok_or("shutting down")?;
        match crate::apply::write::current_version(conn).await {
            Ok(v) => Ok(v),
            Err(e) => {
                link.broken(&e);
                Err(format!("server {}: {e}", side.as_str()))
            }
        }
    }

    /// Per table (lower-cased `schema.table`), a hash of its columns on
    /// `side`.
    async fn read_hashes(
        &mut self,
        side: Side,
        tables: &[TableConfig],
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<HashMap<String, u64>, String> {
        let link = &mut self.links[side as usize];
        let conn = link.get(shutdown).await.ok_or("shutting down")?;
        let mut out: HashMap<String, std::collections::hash_map::DefaultHasher> = HashMap::new();
        for part in tables.chunks(schema_sql::TABLES_PER_REQUEST_MAX) {
            let sql = schema_sql::columns_of(part.len());
            let params: Vec<&str> = part
                .iter()
                .flat_map(|t| [t.name.schema.as_str(), t.name.name.as_str()])
                .collect();
            let refs: Vec<&dyn tiberius::ToSql> =
                params.iter().map(|p| p as &dyn tiberius::ToSql).collect();
            let rows = match conn.query(sql.as_str(), &refs).await {
                Ok(s) => s.into_first_result().await,
                Err(e) => Err(e),
            };
            let rows = match rows {
                Ok(r) => r,
                Err(e) => {
                    link.broken(&e);
                    return Err(format!("server {}: {e}", side.as_str()));
                }
            };
            for row in rows {
                let vals = row_values(row).map_err(|e| e.to_string())?;
                let text = |i: usize| match vals.get(i) {
                    Some(SqlValue::String(s)) => s.to_ascii_lowercase(),
                    other => format!("{other:?}"),
                };
                let key = format!("{}.{}", text(0), text(1));
                let h = out.entry(key).or_default();
                for i in 2..vals.len() {
                    text(i).hash(h);
                }
            }
        }
        Ok(out.into_iter().map(|(k, h)| (k, h.finish())).collect())
    }

    /// Reads `t` in full on both servers and sets its live shape.
    async fn reread(
        &mut self,
        t: &TableConfig,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), String> {
        let name = t.name.to_string();
        let mut read = Vec::with_capacity(2);
        for side in [Side::A, Side::B] {
            let link = &mut self.links[side as usize];
            let conn = link.get(shutdown).await.ok_or("shutting down")?;
            match super::catalog::table_shape(conn, side, t).await {
                Ok(r) => read.push(r),
                Err(e) => {
                    link.broken(&e);
                    return Err(e.to_string());
                }
            }
        }
        let before = self.shared.live_shape(&name);
        let mut problems: Vec<String> = Vec::new();
        let mut catalogs = Vec::with_capacity(2);
        for r in read {
            match r {
                Ok((_, catalog)) => catalogs.push(catalog),
                Err(mut p) => problems.append(&mut p),
            }
        }
        let mut live = before.clone();
        if let [ca, cb] = catalogs.as_slice() {
            let matched = crate::schema::match_columns(t, ca, cb);
            problems.extend(matched.problems.iter().cloned());
            // A synced column gone from one side only: the other side still
            // has values for it that would stop flowing silently.
            if let Some(b) = &before {
                for c in &b.shapes[0].columns {
                    let on = |cat: &[crate::schema::CatalogColumn]| {
                        cat.iter().any(|x| x.name.eq_ignore_ascii_case(&c.name))
                    };
                    let (on_a, on_b) = (on(ca), on(cb));
                    if on_a != on_b {
                        let (gone, still) = if on_a { ("b", "a") } else { ("a", "b") };
                        problems.push(format!(
                            "table {name}: synced column {} was dropped on {gone} while it syncs; add it back on {gone} (the table then goes on, nothing lost), or drop it on {still} too to stop syncing it",
                            c.name
                        ));
                    }
                }
            }
            if problems.is_empty() {
                for w in &matched.warnings {
                    if self.warned.len() < WARNED_MAX && self.warned.insert(w.clone()) {
                        tracing::warn!(table = %name, "{w}");
                    }
                }
                let [sa, sb] = crate::schema::shapes(t, &matched, ca, cb);
                let names = |s: &crate::mssql::statements::TableShape| {
                    s.columns
                        .iter()
                        .map(|c| c.name.to_ascii_lowercase())
                        .collect::<Vec<_>>()
                };
                let moved = before
                    .as_ref()
                    .is_none_or(|b| names(&b.shapes[0]) != names(&sa));
                let since = match (&before, moved) {
                    (Some(b), false) => b.since,
                    _ => self.prev,
                };
                live = Some(LiveShape {
                    shapes: [sa, sb],
                    problem: None,
                    since,
                });
            }
        }
        let problem = (!problems.is_empty()).then(|| problems.join("; "));
        let was = before.as_ref().and_then(|b| b.problem.clone());
        match (&was, &problem) {
            (None, Some(p)) => {
                tracing::warn!(table = %name, reason = %p, "the table's schema changed in a way ctsync cannot sync; the table is held until it is fixed")
            }
            (Some(_), None) => {
                tracing::info!(table = %name, "the table's schema problem is fixed")
            }
            (Some(old), Some(p)) if old != p => {
                tracing::warn!(table = %name, reason = %p, "the table is still held: its schema problem changed")
            }
            _ => {}
        }
        if let Some(mut l) = live {
            l.problem = problem;
            self.shared.set_live_shape(&name, l);
        }
        Ok(())
    }
}
