//! CSV export (`targets.csv`): one pass per run over the configured tables
//! of the source server, each table into a file of its own.
//!
//! Per table, inside one SNAPSHOT transaction (as capture and the initial
//! load read): `CHANGE_TRACKING_CURRENT_VERSION()`, then either every row in
//! key order (`full`, read in key-ordered chunks of [`CHUNK_ROWS`], so
//! memory stays bounded whatever the table's size) or `CHANGETABLE(CHANGES
//! t, watermark)` outer-joined to the table (`incremental`, streamed row by
//! row), the same statements capture and the load use. An incremental file
//! has two more columns, [`OPERATION_COLUMN`] (`I`, `U` or `D`) and
//! [`VERSION_COLUMN`] (SYS_CHANGE_VERSION); a deleted row has its key
//! columns and NULL in the others.
//!
//! Durability and order: the file is written under a temporary name,
//! fsynced, renamed, and its directory fsynced ([`file::TempCsv`]); only
//! then is the table's export watermark (the version read in the snapshot)
//! stored, durably. A crash before the rename leaves a `.csv.tmp`, removed
//! by the next run, and no watermark change; a crash between the rename and
//! the watermark leaves a complete file whose range the next incremental run
//! exports again (at-least-once: a consumer keys rows by key and
//! `_ct_version`).

mod file;
pub mod format;

use crate::config::{Config, OneShotMode, TableConfig};
use crate::error::{classify, ErrorKind};
use crate::model::{Side, SqlValue};
use crate::mssql::statements::{self, TableShape};
use crate::mssql::value::from_column;
use crate::mssql::{load_sql, Connection};
use crate::store::{ExportMark, Store, StoreError};
use futures_util::StreamExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use file::FileError;

/// The column of an incremental file that holds the operation (`I`, `U`, `D`).
pub const OPERATION_COLUMN: &str = "_ct_operation";
/// The column of an incremental file that holds SYS_CHANGE_VERSION.
pub const VERSION_COLUMN: &str = "_ct_version";
/// Rows per key-ordered read of a full export.
pub const CHUNK_ROWS: usize = 5_000;
/// At most one progress line per table this often.
pub const PROGRESS_LOG: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("table {table}: `mode: incremental` needs the watermark of an earlier export; run it once with `mode: full_incremental` (or `full`)")]
    NoWatermark { table: String },
    #[error("table {table}: export watermark {watermark} is older than CHANGE_TRACKING_MIN_VALID_VERSION {min_valid}: the changes since were cleaned up; run this table once with `mode: full` (or `full_incremental`, which falls back to a full export)")]
    Expired {
        table: String,
        watermark: i64,
        min_valid: i64,
    },
    #[error("table {table}: change tracking is not enabled (CHANGE_TRACKING_CURRENT_VERSION() or CHANGE_TRACKING_MIN_VALID_VERSION is NULL)")]
    NotTracked { table: String },
    #[error("table {table}: reading server {side}: {source}")]
    Sql {
        table: String,
        side: &'static str,
        #[source]
        source: tiberius::error::Error,
    },
    #[error("table {table}: {source}")]
    File {
        table: String,
        #[source]
        source: FileError,
    },
    #[error("table {table}: {message}")]
    Data { table: String, message: String },
    #[error("table {table}: {source}")]
    Store {
        table: String,
        #[source]
        source: StoreError,
    },
}

impl ExportError {
    /// Whether trying again may help: server and link errors as the rest of
    /// ctsync classifies them; everything else needs an operator.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ExportError::Sql { source, .. } => match classify(source) {
                ErrorKind::Transient => ErrorKind::Transient,
                _ => ErrorKind::Permanent,
            },
            _ => ErrorKind::Permanent,
        }
    }
}

/// One table to export.
pub struct Job {
    pub table: TableConfig,
    /// The table's columns and key on the source server.
    pub shape: TableShape,
}

/// What one table's export wrote.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub table: String,
    /// `full` or `incremental` (what ran, after a fallback).
    pub kind: &'static str,
    pub from_version: Option<i64>,
    pub version: i64,
    pub rows: u64,
    pub file: PathBuf,
}

/// What the run shares between its workers.
pub struct Export {
    pub config: Arc<Config>,
    pub store: Arc<Store>,
    pub side: Side,
    pub root: PathBuf,
}

enum Plan {
    Full,
    Incremental(i64),
}

impl Export {
    /// Exports one table, trying again (with backoff) while the failure is
    /// transient, at most `sync.retry.max_attempts` times.
    pub async fn table(&self, job: &Job) -> Result<Outcome, ExportError> {
        let r = &self.config.sync.retry;
        let mut backoff = crate::backoff::Backoff::new(r.initial_backoff_ms, r.max_backoff_ms);
        loop {
            match self.table_once(job).await {
                Err(e)
                    if e.kind() == ErrorKind::Transient
                        && backoff.attempts() + 1 < r.max_attempts =>
                {
                    let delay = backoff.next_delay();
                    tracing::warn!(table = %job.table.name, error = %e, retry_in_ms = delay.as_millis() as u64, "export failed; trying again");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    async fn table_once(&self, job: &Job) -> Result<Outcome, ExportError> {
        let name = job.table.name.to_string();
        let side = self.side;
        let sql = |source| ExportError::Sql {
            table: name.clone(),
            side: side.as_str(),
            source,
        };
        let mark = self
            .store
            .export_mark(side, &name)
            .map_err(|source| ExportError::Store {
                table: name.clone(),
                source,
            })?;
        let mut plan = match (job.table.mode, &mark) {
            (OneShotMode::Full, _) | (OneShotMode::FullIncremental, None) => Plan::Full,
            (OneShotMode::Incremental, None) => {
                return Err(ExportError::NoWatermark { table: name });
            }
            (_, Some(m)) => Plan::Incremental(m.version),
        };
        let (dir, stale) =
            file::prepare_dir(&self.root, &name).map_err(|source| ExportError::File {
                table: name.clone(),
                source,
            })?;
        if stale > 0 {
            tracing::info!(table = %name, removed = stale, "removed unfinished files of an earlier run");
        }
        let mut conn = crate::mssql::connect(
            self.config.tiberius_config(side),
            self.config.connect_timeout(side),
        )
        .await
        .map_err(sql)?;
        conn.simple_query(statements::BEGIN_SNAPSHOT)
            .await
            .map_err(sql)?
            .into_results()
            .await
            .map_err(sql)?;
        let result = self
            .in_snapshot(&mut conn, job, &dir, &mut plan, mark.as_ref())
            .await;
        // Read only: ROLLBACK ends it, also after a failure half-way.
        let end = async {
            conn.simple_query(statements::END_SNAPSHOT_READ)
                .await?
                .into_results()
                .await
        }
        .await;
        let (tmp, outcome) = result?;
        end.map_err(sql)?;
        // The file first, durably; the watermark after.
        let path = tokio::task::spawn_blocking(move || tmp.commit())
            .await
            .map_err(|e| ExportError::Data {
                table: name.clone(),
                message: format!("finishing the file: {e}"),
            })?
            .map_err(|source| ExportError::File {
                table: name.clone(),
                source,
            })?;
        let new_mark = ExportMark {
            version: outcome.version,
            file: path.display().to_string(),
            rows: outcome.rows,
            at_ms: crate::agent::status::now_ms(),
        };
        let store = self.store.clone();
        let key = name.clone();
        tokio::task::spawn_blocking(move || store.set_export_mark(side, &key, &new_mark))
            .await
            .map_err(|e| ExportError::Data {
                table: name.clone(),
                message: format!("storing the watermark: {e}"),
            })?
            .map_err(|source| ExportError::Store {
                table: name.clone(),
                source,
            })?;
        Ok(Outcome {
            file: path,
            ..outcome
        })
    }

    /// Reads the version and the rows into a temporary file; returns it
    /// (not yet committed) with what it holds.
    async fn in_snapshot(
        &self,
        conn: &mut Connection,
        job: &Job,
        dir: &std::path::Path,
        plan: &mut Plan,
        mark: Option<&ExportMark>,
    ) -> Result<(file::TempCsv, Outcome), ExportError> {
        let side = self.side.as_str();
        let name = &job.table.name.to_string();
        let sql = |source| ExportError::Sql {
            table: name.to_string(),
            side,
            source,
        };
        let version = conn
            .simple_query(statements::CURRENT_VERSION)
            .await
            .map_err(sql)?
            .into_row()
            .await
            .map_err(sql)?
            .and_then(|r| r.get::<i64, _>(0))
            .ok_or_else(|| ExportError::NotTracked {
                table: name.to_string(),
            })?;
        if let Plan::Incremental(watermark) = *plan {
            let quoted = job.shape.name.quoted();
            let min_valid = conn
                .query(statements::MIN_VALID_VERSION, &[&quoted.as_str()])
                .await
                .map_err(sql)?
                .into_row()
                .await
                .map_err(sql)?
                .and_then(|r| r.get::<i64, _>(0))
                .ok_or_else(|| ExportError::NotTracked {
                    table: name.to_string(),
                })?;
            if watermark < min_valid {
                if job.table.mode == OneShotMode::Incremental {
                    return Err(ExportError::Expired {
                        table: name.to_string(),
                        watermark,
                        min_valid,
                    });
                }
                tracing::warn!(table = %name, watermark, min_valid,
                    "export watermark older than the min valid version: the changes since were cleaned up; exporting the whole table");
                *plan = Plan::Full;
            }
        }
        let (kind, from, stem) = match *plan {
            Plan::Full => (
                "full",
                None,
                format!("{}.full.{version}", file::file_part(name)),
            ),
            Plan::Incremental(w) => (
                "incremental",
                Some(w),
                format!("{}.incremental.{w}-{version}", file::file_part(name)),
            ),
        };
        let mut tmp = file::TempCsv::create(dir, &stem).map_err(|source| ExportError::File {
            table: name.to_string(),
            source,
        })?;
        tracing::info!(table = %name, mode = kind, from_version = ?from, version,
            previous_file = mark.map(|m| m.file.as_str()), file = %tmp.path().display(), "export starts");
        let mut progress = Progress::new(name, kind);
        let rows = match *plan {
            Plan::Full => full(conn, &job.shape, &mut tmp, &mut progress)
                .await
                .map_err(|e| e.into_export(name, side))?,
            Plan::Incremental(w) => {
                incremental(conn, &job.shape, w, version, &mut tmp, &mut progress)
                    .await
                    .map_err(|e| e.into_export(name, side))?
            }
        };
        let outcome = Outcome {
            table: name.to_string(),
            kind,
            from_version: from,
            version,
            rows,
            file: tmp.path().to_path_buf(),
        };
        Ok((tmp, outcome))
    }
}

/// A failure while rows stream into the file.
enum ReadError {
    Sql(tiberius::error::Error),
    File(FileError),
    Data(String),
}

impl ReadError {
    fn into_export(self, table: &str, side: &'static str) -> ExportError {
        let table = table.to_string();
        match self {
            ReadError::Sql(source) => ExportError::Sql {
                table,
                side,
                source,
            },
            ReadError::File(source) => ExportError::File { table, source },
            ReadError::Data(message) => ExportError::Data { table, message },
        }
    }
}

impl From<tiberius::error::Error> for ReadError {
    fn from(e: tiberius::error::Error) -> Self {
        ReadError::Sql(e)
    }
}

struct Progress {
    table: String,
    kind: &'static str,
    rows: u64,
    last: Instant,
}

impl Progress {
    fn new(table: &str, kind: &'static str) -> Progress {
        Progress {
            table: table.to_string(),
            kind,
            rows: 0,
            last: Instant::now(),
        }
    }

    fn row(&mut self) {
        self.rows += 1;
        if self.rows % 1024 == 0 && self.last.elapsed() >= PROGRESS_LOG {
            self.last = Instant::now();
            tracing::info!(table = %self.table, mode = self.kind, rows = self.rows, "export progress");
        }
    }
}

/// Writes a record of values (`extra` appended as text).
fn write_row(
    tmp: &mut file::TempCsv,
    values: &[&SqlValue],
    extra: &[&str],
    bufs: &mut Vec<String>,
) -> Result<(), ReadError> {
    bufs.resize_with(values.len(), String::new);
    let mut present = Vec::with_capacity(values.len());
    for (v, b) in values.iter().zip(bufs.iter_mut()) {
        present.push(format::value_text(v, b));
    }
    let fields = bufs
        .iter()
        .zip(present)
        .map(|(b, p)| p.then_some(b.as_str()))
        .chain(extra.iter().map(|e| Some(*e)));
    let (out, err) = tmp.writer();
    format::write_record(out, fields).map_err(|e| ReadError::File(err(e)))
}

fn header(tmp: &mut file::TempCsv, shape: &TableShape, extra: &[&str]) -> Result<(), ReadError> {
    let names = shape
        .columns
        .iter()
        .map(|c| Some(c.name.as_str()))
        .chain(extra.iter().map(|e| Some(*e)));
    let (out, err) = tmp.writer();
    format::write_record(out, names).map_err(|e| ReadError::File(err(e)))
}

fn values(row: tiberius::Row) -> Result<Vec<SqlValue>, ReadError> {
    row.into_iter()
        .map(|d| from_column(d).map_err(|e| ReadError::Data(e.to_string())))
        .collect()
}

/// Every row in key order, in key-ordered chunks of the snapshot.
async fn full(
    conn: &mut Connection,
    shape: &TableShape,
    tmp: &mut file::TempCsv,
    progress: &mut Progress,
) -> Result<u64, ReadError> {
    header(tmp, shape, &[])?;
    let keys = shape.key_positions();
    let mut last: Option<Vec<SqlValue>> = None;
    let mut bufs = Vec::new();
    loop {
        let text = load_sql::chunk(shape, last.is_some(), false)
            .map_err(|e| ReadError::Data(e.to_string()))?;
        let mut params = vec![tiberius::ColumnData::I64(Some(CHUNK_ROWS as i64))];
        if let Some(k) = &last {
            params.extend(k.iter().map(crate::mssql::value::to_column));
        }
        let refs: Vec<&dyn tiberius::ToSql> =
            params.iter().map(|p| p as &dyn tiberius::ToSql).collect();
        let rows = conn
            .query(text.as_str(), &refs)
            .await?
            .into_first_result()
            .await?;
        let n = rows.len();
        let mut key = None;
        for row in rows {
            let v = values(row)?;
            write_row(tmp, &v.iter().collect::<Vec<_>>(), &[], &mut bufs)?;
            progress.row();
            key = Some(v);
        }
        drop(params);
        match key {
            Some(v) if n == CHUNK_ROWS => {
                last = Some(keys.iter().filter_map(|&p| v.get(p).cloned()).collect());
            }
            _ => return Ok(progress.rows),
        }
    }
}

/// The changes after `from` up to `through`, streamed.
async fn incremental(
    conn: &mut Connection,
    shape: &TableShape,
    from: i64,
    through: i64,
    tmp: &mut file::TempCsv,
    progress: &mut Progress,
) -> Result<u64, ReadError> {
    if let Some(c) = shape.columns.iter().find(|c| {
        c.name.eq_ignore_ascii_case(OPERATION_COLUMN) || c.name.eq_ignore_ascii_case(VERSION_COLUMN)
    }) {
        return Err(ReadError::Data(format!(
            "its column {} has the name of a column an incremental export adds; list the others in `columns`",
            c.name
        )));
    }
    header(tmp, shape, &[OPERATION_COLUMN, VERSION_COLUMN])?;
    let text = statements::capture(shape, false).map_err(|e| ReadError::Data(e.to_string()))?;
    let keys = shape.key_positions();
    let mut stream = conn
        .query(text.as_str(), &[&from, &through])
        .await?
        .into_row_stream();
    let mut bufs = Vec::new();
    let fixed = 3; // version, operation, context
    while let Some(row) = stream.next().await {
        let row = row?;
        let op: String = row
            .get::<&str, _>(1)
            .map(str::to_string)
            .ok_or_else(|| ReadError::Data("SYS_CHANGE_OPERATION is NULL".into()))?;
        let v = values(row)?;
        let version = match v.first() {
            Some(SqlValue::I64(x)) => *x,
            other => return Err(ReadError::Data(format!("SYS_CHANGE_VERSION is {other:?}"))),
        };
        let table_at = fixed + keys.len();
        let mut cells: Vec<&SqlValue> = Vec::with_capacity(shape.columns.len());
        for i in 0..shape.columns.len() {
            // Key columns from CHANGETABLE (a deleted row has no image).
            let cell = match keys.iter().position(|&p| p == i) {
                Some(k) => v.get(fixed + k),
                None => v.get(table_at + i),
            };
            cells.push(cell.unwrap_or(&SqlValue::Null));
        }
        let version = version.to_string();
        write_row(tmp, &cells, &[op.trim(), &version], &mut bufs)?;
        progress.row();
    }
    Ok(progress.rows)
}
