//! `ctsync verify`: are both sides of a synced table the same rows?
//!
//! The servers hash, ctsync compares: rows cross the network only where
//! hashes differ.
//!
//! - **Explicit keys** (the same key on both sides, no `references`):
//!   [`chunks`] cuts the key space into ranges of [`CHUNK_ROWS`] of a's rows,
//!   asks both servers for a count and a hash of each range
//!   ([`crate::mssql::verify_sql::range_hash`]), and splits a range whose
//!   hashes differ into ranges a tenth its size, hashed again, down to
//!   [`LEAF_ROWS`]; there the two sides' (key, row hash) lists are compared.
//! - **Identity-mapped keys** (a's 5 is b's 1005) and tables with
//!   `references` (values that are ids of another table): ranges of keys do
//!   not line up across the sides, so [`rows`] reads a's (key, references,
//!   row hash) in key-ordered pages, translates key and references through
//!   the id maps here, and asks b for the rows of the translated keys; then
//!   pages through b's keys for rows a does not have. The hash leaves out
//!   the mapped key and the reference columns, which are compared after
//!   translation.
//!
//! Only the synced columns are compared, matched by name
//! ([`crate::schema`]), each in a normal text form that is equal for equal
//! values on both servers ([`crate::mssql::verify_sql::normal_text`]).
//!
//! While the agent runs, each side is read in one SNAPSHOT transaction (when
//! the database allows it), and keys with queued or parked operations (not
//! yet applied) are reported as in flight, not as differences: asked from
//! the running agent over its control socket, or read from the store. Every
//! difference found is read again at the end (its row images, outside the
//! snapshot); one that has settled meanwhile is reported as in flight too.
//!
//! Limits: at most [`LIST_MAX`] differences per table are listed (and
//! repaired); memory is bounded by [`LEAF_ROWS`] hashes of a plus one page
//! of b, and by [`LIST_MAX`] findings with their images.

pub mod chunks;
pub mod held;
pub mod repair;
pub mod rows;
pub mod table;

use crate::config::TableConfig;
use crate::error::ErrorKind;
use crate::model::{Side, SqlValue};
use crate::mssql::statements::TableShape;
use crate::mssql::{value, verify_sql, Connection};
use crate::store::StoreError;
use std::collections::{HashMap, HashSet};
use tiberius::ColumnData;

/// A's rows per top-level range.
pub const CHUNK_ROWS: usize = 10_000;
/// A range this small (in a's rows) is compared row by row.
pub const LEAF_ROWS: usize = 1_000;
/// A differing range is split into this many.
pub const SPLIT: usize = 10;
/// Rows per page of (key, hash).
pub const PAGE_ROWS: usize = 2_000;
/// Differences (and in-flight keys) listed per table at most.
pub const LIST_MAX: usize = 10_000;
/// Queued and parked keys a verify takes into account per table at most.
pub const HELD_KEYS_MAX: usize = 200_000;

pub type Key = Vec<SqlValue>;

/// What stops a verify (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// `message`: the cause as [`crate::tls::describe`] explains it.
    #[error("cannot connect to {label}: {message}{}", if *.configuration { "" } else { "; check that the server runs and accepts connections there, and the login and password (`ctsync check` tests the same)" })]
    Connect {
        label: String,
        message: String,
        /// Trying again without a change to the configuration cannot help.
        configuration: bool,
        /// Not shown: `message` already explains it.
        error: tiberius::error::Error,
    },
    #[error("table {table}: reading {label} failed: {source}")]
    Sql {
        table: String,
        label: String,
        #[source]
        source: tiberius::error::Error,
    },
    #[error("table {table}: {message}")]
    Table { table: String, message: String },
    #[error("the state store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Agent(String),
}

impl VerifyError {
    /// Whether running the verify again may help by itself (a server or
    /// link that is down), or something must be fixed first.
    pub fn kind(&self) -> ErrorKind {
        match self {
            VerifyError::Connect {
                configuration: true,
                ..
            } => ErrorKind::Permanent,
            VerifyError::Connect { error: source, .. } | VerifyError::Sql { source, .. } => {
                match crate::error::classify(source) {
                    ErrorKind::Transient => ErrorKind::Transient,
                    _ => ErrorKind::Permanent,
                }
            }
            _ => ErrorKind::Permanent,
        }
    }
}

/// One server's connection for one verify.
pub struct Reader {
    pub side: Side,
    pub label: String,
    pub conn: Connection,
    /// Reads run in a SNAPSHOT transaction (the database allows it).
    pub snapshot: bool,
}

impl Reader {
    /// Runs `sql` with `params` and returns its rows as typed values.
    pub async fn rows(
        &mut self,
        table: &str,
        sql: &str,
        params: &[ColumnData<'_>],
    ) -> Result<Vec<Vec<SqlValue>>, VerifyError> {
        let label = self.label.clone();
        let err = |source| VerifyError::Sql {
            table: table.to_string(),
            label: label.clone(),
            source,
        };
        let refs: Vec<&dyn tiberius::ToSql> =
            params.iter().map(|p| p as &dyn tiberius::ToSql).collect();
        let rows = self
            .conn
            .query(sql, &refs)
            .await
            .map_err(err)?
            .into_first_result()
            .await
            .map_err(err)?;
        rows.into_iter()
            .map(|r| {
                value::row_values(r).map_err(|e| VerifyError::Table {
                    table: table.to_string(),
                    message: format!("a value read from {label}: {e}"),
                })
            })
            .collect()
    }

    /// Runs statements whose results are not needed.
    pub async fn exec(&mut self, table: &str, sql: &str) -> Result<(), VerifyError> {
        let label = self.label.clone();
        let err = |source| VerifyError::Sql {
            table: table.to_string(),
            label: label.clone(),
            source,
        };
        self.conn
            .simple_query(sql)
            .await
            .map_err(err)?
            .into_results()
            .await
            .map_err(err)?;
        Ok(())
    }
}

/// Parameters: an optional leading integer, then the keys' values.
pub fn params<'a>(first: Option<i64>, keys: &[&'a Key]) -> Vec<ColumnData<'a>> {
    let mut out: Vec<ColumnData<'a>> = Vec::new();
    if let Some(n) = first {
        out.push(ColumnData::I64(Some(n)));
    }
    for k in keys {
        out.extend(k.iter().map(value::to_column));
    }
    out
}

/// A key as a map key: exact (typed) equality.
pub fn key_id(key: &[SqlValue]) -> String {
    serde_json::to_string(key).unwrap_or_default()
}

/// How the table is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Range hashes, split where they differ ([`chunks`]).
    Chunks,
    /// Per-row hashes, keys and references translated here ([`rows`]).
    Rows,
}

/// What one table's comparison needs to know.
pub struct Plan {
    pub config: TableConfig,
    pub name: String,
    /// Shapes on a and b, the synced columns in the same (configured) order.
    pub shapes: [TableShape; 2],
    pub method: Method,
    /// Identity key mapped through the id map.
    pub mapped: bool,
    /// (position, referenced table).
    pub references: Vec<(usize, String)>,
    /// Positions left out of the row hash (mapped keys, references).
    pub skip: Vec<usize>,
}

impl Plan {
    pub fn new(config: &TableConfig, shapes: [TableShape; 2]) -> Plan {
        let mapped = config.identity && !config.force_id;
        let columns = &shapes[0].columns;
        let references: Vec<(usize, String)> = config
            .references
            .iter()
            .filter_map(|(col, t)| {
                columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(col))
                    .map(|p| (p, t.to_string()))
            })
            .collect();
        let mut skip: Vec<usize> = references.iter().map(|(p, _)| *p).collect();
        if mapped {
            skip.extend(shapes[0].key_positions());
        }
        let method = if mapped || !references.is_empty() {
            Method::Rows
        } else {
            Method::Chunks
        };
        Plan {
            name: config.name.to_string(),
            config: config.clone(),
            shapes,
            method,
            mapped,
            references,
            skip,
        }
    }

    pub fn shape(&self, side: Side) -> &TableShape {
        match side {
            Side::A => &self.shapes[0],
            Side::B => &self.shapes[1],
        }
    }

    pub fn columns(&self) -> Vec<String> {
        self.shapes[0]
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }
}

/// Which way a key differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Found {
    /// On a only.
    MissingOnB,
    /// On b only.
    MissingOnA,
    /// On both, different.
    Differ,
}

/// One key that differs (before and after its images are read).
#[derive(Debug, Clone)]
pub struct Finding {
    pub found: Found,
    /// The key on a (None: b's row maps to no row of a).
    pub key_a: Option<Key>,
    /// The key on b (None: a's row maps to no row of b).
    pub key_b: Option<Key>,
    pub image_a: Option<Vec<SqlValue>>,
    pub image_b: Option<Vec<SqlValue>>,
}

/// Keys with operations not applied yet, in each side's key space.
#[derive(Debug, Default, Clone)]
pub struct Held {
    pub a: HashSet<String>,
    pub b: HashSet<String>,
}

impl Held {
    pub fn holds(&self, f: &Finding) -> bool {
        f.key_a
            .as_ref()
            .is_some_and(|k| self.a.contains(&key_id(k)))
            || f.key_b
                .as_ref()
                .is_some_and(|k| self.b.contains(&key_id(k)))
    }
}

/// What the comparison of one table collects, bounded.
#[derive(Debug, Default)]
pub struct Findings {
    pub list: Vec<Finding>,
    /// Differences past [`LIST_MAX`], counted only.
    pub more: u64,
    pub in_flight: Vec<Finding>,
    pub in_flight_more: u64,
    pub rows_a: u64,
    pub rows_b: u64,
}

impl Findings {
    pub fn add(&mut self, held: &Held, f: Finding) {
        if held.holds(&f) {
            if self.in_flight.len() < LIST_MAX {
                self.in_flight.push(f);
            } else {
                self.in_flight_more += 1;
            }
        } else if self.list.len() < LIST_MAX {
            self.list.push(f);
        } else {
            self.more += 1;
        }
    }
}

/// Opens the comparison's read on one side: a SNAPSHOT transaction when
/// the database allows it (`snapshot_isolation_state` = 1,
/// docs/relational-databases/system-catalog-views/sys-databases-transact-sql.md),
/// read committed otherwise (the findings are read again at the end).
pub async fn begin(r: &mut Reader, table: &str) -> Result<(), VerifyError> {
    let state = r
        .rows(table, crate::mssql::statements::SNAPSHOT_STATE, &[])
        .await?;
    r.snapshot = matches!(
        state.first().and_then(|row| row.first()),
        Some(SqlValue::U8(1) | SqlValue::I16(1) | SqlValue::I32(1) | SqlValue::I64(1))
    );
    if r.snapshot {
        r.exec(table, crate::mssql::statements::BEGIN_SNAPSHOT)
            .await?;
    }
    Ok(())
}

pub async fn end(r: &mut Reader, table: &str) -> Result<(), VerifyError> {
    r.exec(table, crate::mssql::statements::END_SNAPSHOT_READ)
        .await
}

/// The row images of `keys` on `r` (each key's row, or None), read in
/// requests of bounded size.
pub async fn images(
    r: &mut Reader,
    plan: &Plan,
    keys: &[&Key],
) -> Result<HashMap<String, Vec<SqlValue>>, VerifyError> {
    let shape = plan.shape(r.side).clone();
    let positions = shape.key_positions();
    let mut out = HashMap::new();
    let per = verify_sql::keys_per_request(&shape).min(PAGE_ROWS);
    for group in keys.chunks(per) {
        let sql = verify_sql::images_at(&shape, group.len()).map_err(|e| VerifyError::Table {
            table: plan.name.clone(),
            message: e.to_string(),
        })?;
        for row in r.rows(&plan.name, &sql, &params(None, group)).await? {
            let key: Key = positions
                .iter()
                .filter_map(|&p| row.get(p).cloned())
                .collect();
            out.insert(key_id(&key), row);
        }
    }
    Ok(out)
}

/// Whether two values are the same value: decimals by value whatever their
/// declared precision, everything else exactly.
pub fn same(x: &SqlValue, y: &SqlValue) -> bool {
    match (x, y) {
        (
            SqlValue::Decimal {
                value: a, scale: s, ..
            },
            SqlValue::Decimal {
                value: b, scale: t, ..
            },
        ) => {
            let (a, b) = (*a, *b);
            let (s, t) = (u32::from(*s), u32::from(*t));
            let scale = |v: i128, by: u32| v.checked_mul(10i128.checked_pow(by)?);
            if s >= t {
                scale(b, s - t) == Some(a)
            } else {
                scale(a, t - s) == Some(b)
            }
        }
        _ => x == y,
    }
}
