//! The poll's batched checks: every table's min valid version and capture
//! ceiling in one request (or a few, for very many tables), so that a poll
//! after the version moved costs a fixed number of round trips plus one
//! read per table that changed, not three statements per table.
//!
//! Limits: at most [`CHECKS_PER_REQUEST_MAX`] tables and
//! [`statements::PARAMS_PER_REQUEST_MAX`] parameters per request (SQL
//! Server takes 2,100 parameters per request:
//! docs/sql-server/maximum-capacity-specifications-for-sql-server.md);
//! watermarks and read sizes, which idle tables share, are bound once.
//!
//! Only tables with no read in pieces going on and no start key to read
//! are checked here; the others take the per-table path. A table never
//! captured (no watermark) has only its min valid version read.
//! A failing statement fails the batch: the caller then polls again table
//! by table, which names the failing table and leaves the others going.

use super::{sql, CaptureError, TableRequest};
use crate::mssql::capture_sql::{capture_checks, CheckParams};
use crate::mssql::statements::{self, TableShape};
use crate::mssql::Connection;
use std::collections::HashMap;

/// Tables checked in one request.
pub const CHECKS_PER_REQUEST_MAX: usize = 1000;

/// One table's checks, read in the poll's snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    /// `CHANGE_TRACKING_MIN_VALID_VERSION` (`None`: not tracked).
    pub min_valid: Option<i64>,
    /// The capture ceiling: (version of the last change in the window,
    /// changes in the window, version of the first).
    pub ceiling: (Option<i64>, i64, Option<i64>),
}

/// Whether the per-table path reads this request (see the module doc).
pub fn batched(req: &TableRequest<'_>) -> bool {
    req.resume.is_none() && !req.read_start_key
}

/// The checks of every [`batched`] table of `tables`, by position (`None`
/// for the others).
pub async fn run(
    conn: &mut Connection,
    tables: &[TableRequest<'_>],
) -> Result<Vec<Option<Check>>, CaptureError> {
    let mut out = vec![None; tables.len()];
    let wanted: Vec<usize> = (0..tables.len()).filter(|&i| batched(&tables[i])).collect();
    let mut rest = wanted.as_slice();
    while !rest.is_empty() {
        // At least one table per request, so this always moves on.
        let request = Request::build(tables, rest);
        let checks = request.send(conn).await?;
        for (i, c) in request.indexes.iter().zip(checks) {
            out[*i] = Some(c);
        }
        rest = &rest[request.indexes.len()..];
    }
    Ok(out)
}

/// One request's tables and parameters.
struct Request<'a> {
    /// The first of `wanted`, in order.
    indexes: Vec<usize>,
    names: Vec<String>,
    ints: Vec<i64>,
    statement: Vec<(&'a TableShape, CheckParams)>,
}

impl<'a> Request<'a> {
    /// As many of `wanted` (at least one) as fit one request.
    fn build(tables: &[TableRequest<'a>], wanted: &[usize]) -> Request<'a> {
        let mut r = Request {
            indexes: Vec::new(),
            names: Vec::new(),
            ints: Vec::new(),
            statement: Vec::new(),
        };
        let mut int_at: HashMap<i64, usize> = HashMap::new();
        for &i in wanted {
            let req = &tables[i];
            let rows = req.rows_max.max(1);
            let fresh = |v: Option<i64>| v.filter(|v| !int_at.contains_key(v));
            let mut new_ints = usize::from(fresh(req.watermark).is_some());
            new_ints += usize::from(fresh(Some(rows)).is_some() && req.watermark != Some(rows));
            let params = r.names.len() + r.ints.len() + 1 + new_ints;
            if !r.indexes.is_empty()
                && (r.indexes.len() >= CHECKS_PER_REQUEST_MAX
                    || params > statements::PARAMS_PER_REQUEST_MAX)
            {
                break;
            }
            r.indexes.push(i);
            r.names.push(req.shape.name.quoted());
            let name = r.names.len(); // renumbered below, after the integers
            let mut at = |v: i64, ints: &mut Vec<i64>| {
                *int_at.entry(v).or_insert_with(|| {
                    ints.push(v);
                    ints.len()
                })
            };
            let watermark = req.watermark.map(|w| at(w, &mut r.ints));
            let rows = at(rows, &mut r.ints);
            r.statement.push((
                req.shape,
                CheckParams {
                    name,
                    watermark,
                    rows,
                },
            ));
        }
        // Parameters: the integers first (@P1..), then the names.
        let ints = r.ints.len();
        for (_, p) in &mut r.statement {
            p.name += ints;
        }
        r
    }

    async fn send(&self, conn: &mut Connection) -> Result<Vec<Check>, CaptureError> {
        let text = capture_checks(&self.statement);
        let mut params: Vec<&dyn tiberius::ToSql> =
            Vec::with_capacity(self.ints.len() + self.names.len());
        params.extend(self.ints.iter().map(|v| v as &dyn tiberius::ToSql));
        params.extend(self.names.iter().map(|v| v as &dyn tiberius::ToSql));
        const WHAT: &str = "the change-tracking checks of the poll";
        let sets = conn
            .query(text, &params)
            .await
            .map_err(sql(WHAT))?
            .into_results()
            .await
            .map_err(sql(WHAT))?;
        if sets.len() != self.indexes.len() {
            return Err(CaptureError::Protocol {
                what: "CHANGETABLE",
                detail: format!(
                    "{} result sets for the checks of {} tables",
                    sets.len(),
                    self.indexes.len()
                ),
            });
        }
        let int = |r: &tiberius::Row, i: usize| {
            r.try_get::<i64, _>(i).map_err(|e| CaptureError::Protocol {
                what: "CHANGETABLE",
                detail: format!("column {i} of the checks: {e}"),
            })
        };
        let mut out = Vec::with_capacity(sets.len());
        for set in &sets {
            out.push(match set.first() {
                Some(r) => Check {
                    min_valid: int(r, 0)?,
                    ceiling: (int(r, 1)?, int(r, 2)?.unwrap_or(0), int(r, 3)?),
                },
                None => Check {
                    min_valid: None,
                    ceiling: (None, 0, None),
                },
            });
        }
        Ok(out)
    }
}
