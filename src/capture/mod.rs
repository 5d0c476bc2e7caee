//! Capture: one poll of one source server, as Microsoft's "Work with change
//! tracking" article prescribes
//! (docs/relational-databases/track-changes/work-with-change-tracking-sql-server.md):
//! inside one SNAPSHOT transaction, read `CHANGE_TRACKING_CURRENT_VERSION()`,
//! validate every table's watermark against
//! `CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(t))` (per table, never one
//! version for the whole database), then read `CHANGETABLE(CHANGES t, @wm)`
//! outer-joined to the table for the current row image. Rows whose
//! SYS_CHANGE_CONTEXT carries this agent's tag are our own writes and are
//! skipped, so the other direction never echoes them back.
//!
//! The result is typed operations plus the version they are complete up to;
//! the caller enqueues them and advances the watermark in one durable step.

use crate::model::{OpKind, Operation, SqlValue};
use crate::mssql::statements::{self, TableShape};
use crate::mssql::value::from_column;
use crate::mssql::Connection;

mod survey;

/// What one table's capture found.
#[derive(Debug)]
pub enum TableCapture {
    /// Changes after the watermark, complete up to `through_version`.
    Changes {
        ops: Vec<Operation>,
        through_version: i64,
        /// Rows skipped because this agent wrote them.
        skipped_own: usize,
        /// More changes wait beyond `through_version` (the read stopped at
        /// `capture_rows_max`): poll again at once.
        more: bool,
        /// This read is a piece of a source transaction too large for one
        /// read: the watermark stays, the next read goes on after it (see
        /// `store::staged`). `None`: the read ends at `through_version`.
        piece: Option<crate::store::Piece>,
    },
    /// The first poll of a table that has no watermark yet: start here.
    Start { version: i64 },
    /// The watermark is older than the table's min valid version: changes
    /// were cleaned up (or the table truncated) and are lost to us.
    Expired { watermark: i64, min_valid: i64 },
    /// Not read in this poll: the tables read before it filled the poll's
    /// byte bound. Read in the next poll, at once.
    Deferred,
}

/// Capture failures, kept with their source.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("reading changes from {table}: {source}")]
    Sql {
        table: String,
        #[source]
        source: tiberius::error::Error,
    },
    #[error("change tracking is not enabled on the database (CHANGE_TRACKING_CURRENT_VERSION() is NULL)")]
    NotTracked,
    #[error("change tracking is not enabled on table {table} (CHANGE_TRACKING_MIN_VALID_VERSION is NULL)")]
    TableNotTracked { table: String },
    #[error("unexpected result from {what}: {detail}")]
    Protocol { what: &'static str, detail: String },
    #[error("{table}: {source}")]
    Identifier {
        table: String,
        #[source]
        source: crate::mssql::ident::IdentError,
    },
    #[error("{table}: {source}")]
    Unsupported {
        table: String,
        #[source]
        source: crate::mssql::value::UnsupportedType,
    },
    /// The capture of one table failed (the `index`-th of the request),
    /// not the server's poll: a dropped or renamed column, an unsupported
    /// type, change tracking turned off on that table. The caller can poll
    /// the server's other tables without it.
    #[error("{source}")]
    Table {
        index: usize,
        #[source]
        source: Box<CaptureError>,
    },
}

impl CaptureError {
    /// The underlying SQL Server / link error, for retry classification.
    pub fn sql_error(&self) -> Option<&tiberius::error::Error> {
        match self {
            CaptureError::Sql { source, .. } => Some(source),
            CaptureError::Table { source, .. } => source.sql_error(),
            _ => None,
        }
    }

    /// Whether this error belongs to one table rather than to the server:
    /// anything but a lost link (which fails every table alike).
    fn of_table(&self) -> bool {
        match self {
            CaptureError::Sql { source, .. } => !crate::error::is_link_error(source),
            CaptureError::NotTracked | CaptureError::Table { .. } => false,
            CaptureError::TableNotTracked { .. }
            | CaptureError::Protocol { .. }
            | CaptureError::Identifier { .. }
            | CaptureError::Unsupported { .. } => true,
        }
    }
}

fn sql(table: &str) -> impl FnOnce(tiberius::error::Error) -> CaptureError + '_ {
    move |source| CaptureError::Sql {
        table: table.to_string(),
        source,
    }
}

/// What one poll asks of one table.
#[derive(Debug, Clone, Copy)]
pub struct TableRequest<'a> {
    pub shape: &'a TableShape,
    /// `None`: never captured (the poll reports where to start).
    pub watermark: Option<i64>,
    /// Read the table's largest key in the same snapshot (the start key of
    /// an identity-mapped table with `initial: none`).
    pub read_start_key: bool,
    /// Read which columns each update changed (SYS_CHANGE_COLUMNS), for a
    /// conflict policy that merges columns.
    pub read_changed: bool,
    /// Changes one read takes at most: `capture_rows_max`, fewer for wide
    /// rows. A source transaction with more is read in pieces.
    pub rows_max: i64,
    /// Go on with a transaction being read in pieces (its `read_from` is
    /// the read's `watermark`).
    pub resume: Option<&'a crate::store::StagedRead>,
}

/// What one poll found for one table.
#[derive(Debug)]
pub struct TableResult {
    pub capture: TableCapture,
    /// With `read_start_key`: the largest key (`None`: the table is empty).
    pub start_key: Option<Option<Vec<SqlValue>>>,
}

/// What one poll read: the database's identity (read just before the
/// snapshot), the server's current version and, per table in order, what
/// was found.
#[derive(Debug)]
pub struct Polled {
    pub identity: String,
    /// The tables' change-tracking state (`load_sql::TRACKING_STATE`),
    /// read with the identity.
    pub tracking: String,
    pub current: i64,
    pub found: Vec<TableResult>,
}

/// One poll of one server for the given tables. `own_prefix` is this
/// agent's context prefix.
///
/// Round trips: one that opens the snapshot, one for the checks of (up to
/// [`survey::CHECKS_PER_REQUEST_MAX`]) tables, one read per table with
/// changes, one that ends the snapshot. When a check fails (a table
/// dropped, its tracking turned off), the poll runs again table by table
/// in a new snapshot, which names the table ([`CaptureError::Table`]).
pub async fn poll(
    conn: &mut Connection,
    tables: &[TableRequest<'_>],
    own_prefix: &[u8],
    bytes_max: usize,
) -> Result<Polled, CaptureError> {
    let opened = open(conn).await?;
    let result = poll_in_snapshot(conn, tables, opened.current, own_prefix, bytes_max, true).await;
    let (opened, result) = match result {
        Ok(None) => {
            end(conn, true).await?;
            tracing::debug!("a batched change-tracking check failed: polling table by table");
            let opened = open(conn).await?;
            let again =
                poll_in_snapshot(conn, tables, opened.current, own_prefix, bytes_max, false).await;
            (opened, again)
        }
        other => (opened, other),
    };
    end(conn, result.is_ok()).await?;
    match result? {
        Some(found) => Ok(Polled {
            identity: opened.identity,
            tracking: opened.tracking,
            current: opened.current,
            found,
        }),
        // Table by table never asks to fall back.
        None => Err(CaptureError::Protocol {
            what: "CHANGETABLE",
            detail: "the per-table poll asked to poll table by table".into(),
        }),
    }
}

/// What opening a poll read.
struct Opened {
    identity: String,
    tracking: String,
    current: i64,
}

/// Opens the poll's snapshot.
async fn open(conn: &mut Connection) -> Result<Opened, CaptureError> {
    const WHAT: &str = "CHANGE_TRACKING_CURRENT_VERSION()";
    let sets = conn
        .simple_query(crate::mssql::capture_sql::open_poll())
        .await
        .map_err(sql(WHAT))?
        .into_results()
        .await
        .map_err(sql(WHAT))?;
    let identity = sets
        .first()
        .and_then(|s| s.first())
        .and_then(|r| r.try_get::<&str, _>(0).ok().flatten().map(str::to_string))
        .unwrap_or_default();
    let tracking = sets
        .get(1)
        .and_then(|s| s.first())
        .and_then(|r| r.try_get::<&str, _>(0).ok().flatten().map(str::to_string))
        .unwrap_or_default();
    let current = sets
        .get(2)
        .and_then(|s| s.first())
        .and_then(|r| r.try_get::<i64, _>(0).ok().flatten())
        .ok_or(CaptureError::NotTracked)?;
    Ok(Opened {
        identity,
        tracking,
        current,
    })
}

/// Ends the snapshot. The snapshot transaction only reads: COMMIT or
/// ROLLBACK are the same; ROLLBACK also cleans up after a failure
/// half-way. After a failure (`ok` false), a failing end is not reported
/// over the failure itself.
async fn end(conn: &mut Connection, ok: bool) -> Result<(), CaptureError> {
    match conn.simple_query(statements::END_SNAPSHOT_READ).await {
        Ok(stream) => {
            stream
                .into_results()
                .await
                .map_err(sql("ROLLBACK TRANSACTION"))?;
            Ok(())
        }
        Err(e) if ok => Err(CaptureError::Sql {
            table: "ROLLBACK TRANSACTION".into(),
            source: e,
        }),
        Err(_) => Ok(()),
    }
}

/// Reads the tables in order while the row images read so far stay under
/// `bytes_max` (one table's read is sized to it by the caller); the rest are
/// [`TableCapture::Deferred`], so a poll of many tables with backlogs holds
/// about `bytes_max`, not `bytes_max` per table. A table the checks found
/// unchanged costs nothing and is never deferred.
///
/// With `batched`, the tables' checks go in one request ([`survey`]);
/// `Ok(None)` when that request failed for a reason of the tables' (the
/// caller polls again table by table).
async fn poll_in_snapshot(
    conn: &mut Connection,
    tables: &[TableRequest<'_>],
    current: i64,
    own_prefix: &[u8],
    bytes_max: usize,
    batched: bool,
) -> Result<Option<Vec<TableResult>>, CaptureError> {
    let checks = if batched {
        match survey::run(conn, tables).await {
            Ok(c) => c,
            Err(e) if e.of_table() => return Ok(None),
            Err(e) => return Err(e),
        }
    } else {
        vec![None; tables.len()]
    };
    let mut out = Vec::with_capacity(tables.len());
    let mut bytes = 0usize;
    for (index, req) in tables.iter().enumerate() {
        let check = checks.get(index).copied().flatten();
        let unchanged = check.is_some_and(|c| c.ceiling.1 == 0);
        if bytes >= bytes_max && !unchanged {
            out.push(TableResult {
                capture: TableCapture::Deferred,
                start_key: None,
            });
            continue;
        }
        let found = match check {
            Some(c) => capture_checked(conn, req, current, own_prefix, c).await,
            None => capture_table(conn, req, current, own_prefix).await,
        };
        match found {
            Ok(found) => {
                if let TableCapture::Changes { ops, .. } = &found.capture {
                    bytes = bytes.saturating_add(ops.iter().map(Operation::approx_bytes).sum());
                }
                out.push(found)
            }
            // The snapshot may not survive the error (a doomed transaction
            // fails every later statement): the caller polls again without
            // this table rather than read the others in this snapshot.
            Err(e) if e.of_table() => {
                return Err(CaptureError::Table {
                    index,
                    source: Box::new(e),
                })
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Some(out))
}

/// One table's capture inside the poll's snapshot, its checks read with
/// the other tables' ([`survey`]).
async fn capture_checked(
    conn: &mut Connection,
    req: &TableRequest<'_>,
    current: i64,
    own_prefix: &[u8],
    check: survey::Check,
) -> Result<TableResult, CaptureError> {
    let name = req.shape.name.to_string();
    let min_valid = check
        .min_valid
        .ok_or(CaptureError::TableNotTracked { table: name })?;
    let Some(watermark) = req.watermark else {
        return Ok(TableResult {
            capture: TableCapture::Start { version: current },
            start_key: None,
        });
    };
    if watermark < min_valid {
        return Ok(TableResult {
            capture: TableCapture::Expired {
                watermark,
                min_valid,
            },
            start_key: None,
        });
    }
    if check.ceiling.1 == 0 {
        // Nothing after the watermark: complete up to the current version.
        return Ok(TableResult {
            capture: TableCapture::Changes {
                ops: Vec::new(),
                through_version: current,
                skipped_own: 0,
                more: false,
                piece: None,
            },
            start_key: None,
        });
    }
    let window = Window::of_ceiling(check.ceiling, req.rows_max.max(1), current);
    read_window(conn, req, watermark, window, own_prefix)
        .await
        .map(|capture| TableResult {
            capture,
            start_key: None,
        })
}

/// How far one read goes (see [`read_window`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    /// Read the changes whose last version is at most this.
    through: i64,
    /// More changes wait past `through`.
    more: bool,
    /// One transaction fills the read: read in pieces.
    pieces: bool,
}

impl Window {
    /// Bounded read: at most `rows_max` changes, so memory stays flat after
    /// a long absence. The watermark moves only to a version boundary (a
    /// version is a whole source transaction): the read stops before the
    /// version of the `rows_max`-th change. When that one transaction alone
    /// fills the read, it is read in pieces (see `store::staged`).
    fn of_ceiling(ceiling: (Option<i64>, i64, Option<i64>), rows_max: i64, current: i64) -> Self {
        let (top, in_window, first) = ceiling;
        match (top, first) {
            // Versions before the last one fit: read up to it.
            (Some(v), Some(f)) if in_window >= rows_max && f < v => Window {
                through: v - 1,
                more: true,
                pieces: false,
            },
            // One transaction fills the read: pieces, through its end.
            (Some(v), _) if in_window >= rows_max => Window {
                through: v,
                more: v < current,
                pieces: true,
            },
            _ => Window {
                through: current,
                more: false,
                pieces: false,
            },
        }
    }
}

/// One table's capture inside the poll's snapshot, table by table: its min
/// valid version, its start key when asked, its ceiling, its read.
async fn capture_table(
    conn: &mut Connection,
    req: &TableRequest<'_>,
    current: i64,
    own_prefix: &[u8],
) -> Result<TableResult, CaptureError> {
    let shape = req.shape;
    let rows_max = req.rows_max.max(1);
    let name = shape.name.to_string();
    let quoted = shape.name.quoted();
    let min_valid = conn
        .query(statements::MIN_VALID_VERSION, &[&quoted.as_str()])
        .await
        .map_err(sql(&name))?
        .into_row()
        .await
        .map_err(sql(&name))?
        .and_then(|r| r.try_get::<i64, _>(0).ok().flatten())
        .ok_or_else(|| CaptureError::TableNotTracked {
            table: name.clone(),
        })?;
    let start_key = if req.read_start_key {
        Some(read_max_key(conn, shape).await?)
    } else {
        None
    };
    let Some(watermark) = req.watermark else {
        return Ok(TableResult {
            capture: TableCapture::Start { version: current },
            start_key,
        });
    };
    // docs/relational-databases/track-changes/work-with-change-tracking-sql-server.md,
    // "Validate the last synchronized version": a client whose last
    // version is older than the min valid version must reinitialize.
    if watermark < min_valid {
        return Ok(TableResult {
            capture: TableCapture::Expired {
                watermark,
                min_valid,
            },
            start_key,
        });
    }
    let window = match req.resume {
        Some(r) => Window {
            through: r.through,
            more: true,
            pieces: true,
        },
        None => {
            let ceiling = conn
                .query(statements::capture_ceiling(shape), &[&watermark, &rows_max])
                .await
                .map_err(sql(&name))?
                .into_row()
                .await
                .map_err(sql(&name))?;
            let ceiling = match &ceiling {
                Some(r) => (
                    r.try_get::<i64, _>(0).ok().flatten(),
                    r.try_get::<i64, _>(1).ok().flatten().unwrap_or(0),
                    r.try_get::<i64, _>(2).ok().flatten(),
                ),
                None => (None, 0, None),
            };
            Window::of_ceiling(ceiling, rows_max, current)
        }
    };
    let capture = read_window(conn, req, watermark, window, own_prefix).await?;
    Ok(TableResult { capture, start_key })
}

/// Reads the changes after `watermark` that `window` takes. A row whose
/// last change is past the read's end is left for the next read, which
/// sees it relative to that end (an insert folded into a later update then
/// shows as an update of a key the target has never had; the planner
/// writes that as an insert).
async fn read_window(
    conn: &mut Connection,
    req: &TableRequest<'_>,
    watermark: i64,
    window: Window,
    own_prefix: &[u8],
) -> Result<TableCapture, CaptureError> {
    let shape = req.shape;
    let rows_max = req.rows_max.max(1);
    let name = shape.name.to_string();
    let Window {
        through: through_version,
        more,
        pieces,
    } = window;
    let text = statements::capture_read(shape, req.read_changed, Some(req.resume.is_some()))
        .map_err(|source| CaptureError::Identifier {
            table: name.clone(),
            source,
        })?;
    let quoted_name = shape.name.quoted();
    let after_version = req.resume.map(|r| r.after_version);
    let after_key: Vec<tiberius::ColumnData<'_>> = req.resume.map_or_else(Vec::new, |r| {
        shape
            .key
            .iter()
            .zip(&r.after_key)
            .map(|(k, v)| crate::mssql::statements::bind_key(v, shape, k))
            .collect()
    });
    let mut params: Vec<&dyn tiberius::ToSql> = vec![&watermark, &through_version];
    if req.read_changed {
        params.push(&quoted_name);
        for c in &shape.columns {
            params.push(&c.name);
        }
    }
    params.push(&rows_max);
    if let Some(v) = &after_version {
        params.push(v);
    }
    params.extend(after_key.iter().map(|p| p as &dyn tiberius::ToSql));
    let rows = conn
        .query(text, &params)
        .await
        .map_err(sql(&name))?
        .into_first_result()
        .await
        .map_err(sql(&name))?;
    let full = rows.len() as i64 >= rows_max;
    let read_rows = rows.len() as u64;
    let mut ops = Vec::with_capacity(rows.len());
    let mut skipped_own = 0;
    let mut last: Option<(i64, Vec<SqlValue>)> = None;
    let n_rows = rows.len();
    for (i, row) in rows.into_iter().enumerate() {
        // Only the last row's place is kept (the next piece's cursor).
        let cursor = (i + 1 == n_rows).then_some(&mut last);
        match row_to_operation(shape, row, own_prefix, req.read_changed, cursor).map_err(|e| {
            match e {
                RowError::Unsupported(source) => CaptureError::Unsupported {
                    table: name.clone(),
                    source,
                },
                RowError::Shape(detail) => CaptureError::Protocol {
                    what: "CHANGETABLE",
                    detail,
                },
            }
        })? {
            Some(op) => ops.push(op),
            None => skipped_own += 1,
        }
    }
    // A full read of a transaction read in pieces (or of one that fills a
    // read alone) leaves the rest for the next read. A read that is not
    // full ended the window. (A full read in any other case cannot
    // happen: the window was chosen to hold fewer than `rows_max`.)
    let piece = match (full && pieces, last) {
        (true, Some((after_version, after_key))) if through_version >= after_version => {
            Some(crate::store::Piece {
                read_from: watermark,
                through: through_version,
                after_version,
                after_key,
                rows: read_rows,
            })
        }
        _ => None,
    };
    Ok(TableCapture::Changes {
        ops,
        through_version,
        skipped_own,
        more: more || piece.is_some(),
        piece,
    })
}

/// `MAX(key)`, inside the capture's snapshot.
async fn read_max_key(
    conn: &mut Connection,
    shape: &TableShape,
) -> Result<Option<Vec<SqlValue>>, CaptureError> {
    let table = shape.name.to_string();
    crate::mssql::read_max_key(conn, shape)
        .await
        .map_err(|e| match e {
            crate::mssql::MaxKeyError::Sql(source) => CaptureError::Sql { table, source },
            crate::mssql::MaxKeyError::Identifier(source) => {
                CaptureError::Identifier { table, source }
            }
            crate::mssql::MaxKeyError::Unsupported(source) => {
                CaptureError::Unsupported { table, source }
            }
        })
}

#[derive(Debug)]
enum RowError {
    Unsupported(crate::mssql::value::UnsupportedType),
    Shape(String),
}

/// One CHANGETABLE row (in the column order of [`statements::capture`]) to an
/// operation, or `None` when this agent wrote it.
fn row_to_operation(
    shape: &TableShape,
    row: tiberius::Row,
    own_prefix: &[u8],
    read_changed: bool,
    cursor: Option<&mut Option<(i64, Vec<SqlValue>)>>,
) -> Result<Option<Operation>, RowError> {
    let changed_columns = if read_changed {
        1 + shape.columns.len()
    } else {
        0
    };
    let expected = 3 + shape.key.len() + shape.columns.len() + changed_columns;
    if row.len() != expected {
        return Err(RowError::Shape(format!(
            "{} columns instead of {expected}",
            row.len()
        )));
    }
    let mut values = row.into_iter();
    let mut next = || -> Result<SqlValue, RowError> {
        let data = values
            .next()
            .ok_or_else(|| RowError::Shape("row ended early".into()))?;
        from_column(data).map_err(RowError::Unsupported)
    };
    let version = match next()? {
        SqlValue::I64(v) => v,
        other => return Err(RowError::Shape(format!("SYS_CHANGE_VERSION {other:?}"))),
    };
    let kind = match next()? {
        SqlValue::String(s) if s.starts_with('I') => OpKind::Insert,
        SqlValue::String(s) if s.starts_with('U') => OpKind::Update,
        SqlValue::String(s) if s.starts_with('D') => OpKind::Delete,
        other => return Err(RowError::Shape(format!("SYS_CHANGE_OPERATION {other:?}"))),
    };
    let own = match next()? {
        SqlValue::Binary(ctx) => ctx.starts_with(own_prefix),
        _ => false,
    };
    let mut key = Vec::with_capacity(shape.key.len());
    for _ in 0..shape.key.len() {
        key.push(next()?);
    }
    let mut image = Vec::with_capacity(shape.columns.len());
    for _ in 0..shape.columns.len() {
        image.push(next()?);
    }
    // SYS_CHANGE_COLUMNS (NULL: every column may have changed), then one
    // CHANGE_TRACKING_IS_COLUMN_IN_MASK flag per synced column.
    let mut changed = None;
    if read_changed {
        let mask_present = !matches!(next()?, SqlValue::Null);
        let mut names = Vec::new();
        for c in &shape.columns {
            let set = match next()? {
                SqlValue::I32(v) => v != 0,
                SqlValue::I64(v) => v != 0,
                SqlValue::U8(v) => v != 0,
                SqlValue::I16(v) => v != 0,
                SqlValue::Bit(b) => b,
                _ => false,
            };
            if set {
                names.push(c.name.clone());
            }
        }
        if mask_present && kind == OpKind::Update {
            changed = Some(names);
        }
    }
    // Where a read in pieces goes on: the last row read, own or not.
    if let Some(c) = cursor {
        *c = Some((version, key.clone()));
    }
    if own {
        return Ok(None);
    }
    // The outer join found no row: under one snapshot that means the change
    // folded to a delete; treat any other case the same way rather than write
    // a row of NULLs.
    let row_present = shape
        .key_positions()
        .first()
        .map(|&p| !matches!(image[p], SqlValue::Null))
        .unwrap_or(false);
    let (kind, row) = match kind {
        OpKind::Delete => (OpKind::Delete, None),
        k if row_present => (k, Some(image)),
        _ => (OpKind::Delete, None),
    };
    Ok(Some(Operation {
        kind,
        key,
        row,
        version,
        changed,
    }))
}
