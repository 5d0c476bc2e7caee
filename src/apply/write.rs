//! Writing one planned batch to the target: one request, one transaction
//! (`SET XACT_ABORT ON` so any error rolls the whole batch back), every
//! statement tagged `WITH CHANGE_TRACKING_CONTEXT` with this agent's tag and
//! the operation's sequence number.

use super::plan::{Action, ApplyTable, KeyMode, Step};
use crate::model::SqlValue;
use crate::mssql::ident::IdentError;
use crate::mssql::statements::{self, Batch, TableShape, PARAMS_PER_REQUEST_MAX, VALUES_ROWS_MAX};
use crate::mssql::value::from_column;
use crate::mssql::Connection;
use tiberius::ToSql;

/// The context a write of operation `seq` carries: `prefix` + decimal seq.
/// At most 128 bytes (error 22109 otherwise); the prefix is bounded by config.
pub fn context(prefix: &[u8], seq: u64) -> Vec<u8> {
    let mut c = Vec::with_capacity(prefix.len() + 20);
    c.extend_from_slice(prefix);
    c.extend_from_slice(seq.to_string().as_bytes());
    c
}

/// The context of a set-based statement that writes operations
/// `first..=last`: `prefix` + `first-last` (just `first` for one operation).
/// At most 72 + 41 bytes, inside the 128 allowed.
pub fn context_range(prefix: &[u8], first: u64, last: u64) -> Vec<u8> {
    if first == last {
        return context(prefix, first);
    }
    let mut c = context(prefix, first);
    c.push(b'-');
    c.extend_from_slice(last.to_string().as_bytes());
    c
}

/// Splits `steps` into groups written by one statement each: a run of
/// consecutive upserts (or of consecutive deletes) whose keys are all
/// different and whose parameters fit one request; every other action alone.
/// Keys are compared as the server might (strings without case and trailing
/// blanks), so a run never holds two rows the target takes as one key —
/// MERGE refuses to touch a row twice (8672), and a delete then an upsert of
/// the same key must stay in order.
///
/// With `optimistic`, upserts of rows the source reported inserted form runs
/// of their own, written as plain INSERTs.
fn group(steps: &[Step], shape: &TableShape, optimistic: bool) -> Vec<std::ops::Range<usize>> {
    let key_positions = shape.key_positions();
    // A character key's upsert binds its keys again (`fix_key_bytes`).
    let fixes_keys = statements::has_character_key(shape);
    let per_upsert = shape.columns.len().max(1)
        + if fixes_keys && !optimistic {
            shape.key.len()
        } else {
            0
        };
    let per_delete = shape.key.len().max(1);
    let mut groups = Vec::new();
    let mut i = 0;
    while i < steps.len() {
        let kind = |a: &Action| match a {
            Action::Upsert { insert: true, .. } if optimistic => 3,
            Action::Upsert { .. } => 1,
            Action::Delete { .. } => 2,
            _ => 0,
        };
        let k = kind(&steps[i].action);
        if k == 0 {
            groups.push(i..i + 1);
            i += 1;
            continue;
        }
        let per = if k == 2 { per_delete } else { per_upsert };
        let rows_max = ((PARAMS_PER_REQUEST_MAX - 2) / per).clamp(1, VALUES_ROWS_MAX);
        let mut seen = std::collections::HashSet::new();
        let mut j = i;
        while j < steps.len() && j - i < rows_max && kind(&steps[j].action) == k {
            let key: Vec<SqlValue> = match &steps[j].action {
                Action::Upsert { row, .. } => key_positions
                    .iter()
                    .filter_map(|p| row.get(*p))
                    .map(comparable)
                    .collect(),
                Action::Delete { key, .. } => key.iter().map(comparable).collect(),
                _ => Vec::new(),
            };
            // Through the debug text: `SqlValue` holds floats, so it is not
            // `Hash`; the text is exact for every variant.
            if !seen.insert(format!("{key:?}")) {
                break;
            }
            j += 1;
        }
        groups.push(i..j);
        i = j;
    }
    groups
}

/// A key value as the server may compare it: strings folded to lower case
/// without trailing blanks (a default collation is case-insensitive and
/// ignores trailing spaces). Folding more than the server does only splits a
/// run more often, never merges two keys the server keeps apart wrongly.
pub fn comparable(v: &SqlValue) -> SqlValue {
    match v {
        SqlValue::String(s) => SqlValue::String(s.trim_end_matches(' ').to_lowercase()),
        other => other.clone(),
    }
}

/// What a committed batch did to the identity map.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Written {
    /// (source key, new target key) of each `InsertMapped`, in order.
    pub mapped: Vec<(Vec<SqlValue>, Vec<SqlValue>)>,
    /// Source keys whose rows were deleted (their mappings go).
    pub unmapped: Vec<Vec<SqlValue>>,
    /// The target's change-tracking version read right after the COMMIT,
    /// in the same request (None: the transaction was left open, or the
    /// database does not report one).
    pub version: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Sql(#[from] tiberius::error::Error),
    #[error(transparent)]
    Identifier(#[from] IdentError),
    #[error("the target returned {got} new keys for {expected} inserts")]
    OutputMismatch { expected: usize, got: usize },
    #[error(transparent)]
    Unsupported(#[from] crate::mssql::value::UnsupportedType),
}

/// Writes `steps` in one transaction. Returns the new mappings on commit.
///
/// The statements go in as few requests as SQL Server's limit of 2,100
/// parameters per request allows (usually one); the transaction spans them
/// (`SET XACT_ABORT ON` rolls all of it back on any error, and a broken
/// connection rolls it back on the server).
///
/// Rows the source reported inserted are first written with plain INSERTs
/// (cheaper than MERGE on the server); when one of them is already on the
/// target (a replay after a crash, a row both sides have), the duplicate-key
/// error rolls the transaction back and the batch is written again at once
/// with MERGE throughout, so the outcome is the same as an upsert's.
pub async fn write(
    conn: &mut Connection,
    table: &ApplyTable,
    steps: &[Step],
    prefix: &[u8],
) -> Result<Written, WriteError> {
    let optimistic = steps
        .iter()
        .any(|s| matches!(s.action, Action::Upsert { insert: true, .. }));
    let result = write_once(conn, table, steps, prefix, optimistic).await;
    match result {
        Err(WriteError::Sql(e)) if optimistic && is_duplicate_key(&e) => {
            tracing::debug!(table = %table.name, error = %e,
                "a row reported inserted is already on the target; writing the batch as upserts");
            write_once(conn, table, steps, prefix, false).await
        }
        other => other,
    }
}

/// [`write`] but leaves the transaction open: everything is written, the
/// COMMIT is the caller's ([`commit`]), so that it can first wait for
/// something that must precede the commit (the durable completion of the
/// previous batch). A failure rolls back, as in [`write`]. Only for tables
/// whose writes return no new keys (`Explicit`, `ForceId`).
pub async fn write_open(
    conn: &mut Connection,
    table: &ApplyTable,
    steps: &[Step],
    prefix: &[u8],
) -> Result<Written, WriteError> {
    debug_assert!(table.mode != KeyMode::Mapped);
    let optimistic = steps
        .iter()
        .any(|s| matches!(s.action, Action::Upsert { insert: true, .. }));
    let result = write_requests(conn, table, steps, prefix, optimistic, false).await;
    let result = match result {
        Err(WriteError::Sql(e)) if optimistic && is_duplicate_key(&e) => {
            rollback(conn).await;
            tracing::debug!(table = %table.name, error = %e,
                "a row reported inserted is already on the target; writing the batch as upserts");
            write_requests(conn, table, steps, prefix, false, false).await
        }
        other => other,
    };
    if result.is_err() {
        rollback(conn).await;
    }
    result
}

/// Commits the transaction [`write_open`] left open; returns the target's
/// version read right after the commit (see [`Written::version`]).
pub async fn commit(conn: &mut Connection) -> Result<Option<i64>, WriteError> {
    let result = match conn.simple_query(statements::COMMIT_AND_VERSION).await {
        Ok(s) => s.into_results().await,
        Err(e) => Err(e),
    };
    match result {
        Ok(mut sets) => Ok(version_of(sets.pop())),
        Err(e) => {
            rollback(conn).await;
            Err(e.into())
        }
    }
}

/// The version of the result set of `COMMIT_AND_VERSION`'s SELECT.
fn version_of(set: Option<Vec<tiberius::Row>>) -> Option<i64> {
    set?.first()?.try_get::<i64, _>(0).ok().flatten()
}

/// Rolls back whatever is open (normally already rolled back by
/// XACT_ABORT; this makes sure). Best effort: a broken connection rolls
/// back on the server anyway.
pub async fn rollback(conn: &mut Connection) {
    if let Ok(s) = conn.simple_query(statements::ROLLBACK).await {
        let _ = s.into_results().await;
    }
}

/// 2627 (PRIMARY KEY or UNIQUE constraint) and 2601 (unique index).
fn is_duplicate_key(e: &tiberius::error::Error) -> bool {
    matches!(e, tiberius::error::Error::Server(t) if t.code() == 2627 || t.code() == 2601)
}

async fn write_once(
    conn: &mut Connection,
    table: &ApplyTable,
    steps: &[Step],
    prefix: &[u8],
    optimistic: bool,
) -> Result<Written, WriteError> {
    let result = write_requests(conn, table, steps, prefix, optimistic, true).await;
    if result.is_err() {
        rollback(conn).await;
    }
    result
}

/// Writes `steps` inside the transaction a conflict check opened (its locks
/// are held) and commits. Upserts marked `insert` are known to be absent on
/// the target (the check read their keys under lock), so they go as plain
/// INSERTs with no duplicate-key fallback. A failure rolls back.
pub async fn write_in_txn(
    conn: &mut Connection,
    table: &ApplyTable,
    steps: &[Step],
    prefix: &[u8],
) -> Result<Written, WriteError> {
    write_checked(conn, table, steps, prefix, true).await
}

/// [`write_in_txn`] but leaves the transaction open for the caller's
/// [`commit`] (which first waits for the previous completion to be
/// durable). Only for tables whose writes return no new keys.
pub async fn write_in_txn_open(
    conn: &mut Connection,
    table: &ApplyTable,
    steps: &[Step],
    prefix: &[u8],
) -> Result<Written, WriteError> {
    debug_assert!(table.mode != KeyMode::Mapped);
    write_checked(conn, table, steps, prefix, false).await
}

/// The writes of a checked batch, in the transaction the check opened;
/// with `commit`, committed. A failure rolls back.
async fn write_checked(
    conn: &mut Connection,
    table: &ApplyTable,
    steps: &[Step],
    prefix: &[u8],
    commit: bool,
) -> Result<Written, WriteError> {
    let result = write_requests_in(conn, table, steps, prefix, true, commit, false).await;
    if result.is_err() {
        rollback(conn).await;
    }
    result
}

async fn write_requests(
    conn: &mut Connection,
    table: &ApplyTable,
    steps: &[Step],
    prefix: &[u8],
    optimistic: bool,
    commit: bool,
) -> Result<Written, WriteError> {
    write_requests_in(conn, table, steps, prefix, optimistic, commit, true).await
}

async fn write_requests_in(
    conn: &mut Connection,
    table: &ApplyTable,
    steps: &[Step],
    prefix: &[u8],
    optimistic: bool,
    commit: bool,
    begin: bool,
) -> Result<Written, WriteError> {
    // Consecutive upserts (and consecutive deletes) go as one set-based
    // statement each; other actions one statement per operation.
    let groups = group(steps, &table.shape, optimistic);
    let contexts: Vec<Vec<u8>> = groups
        .iter()
        .map(|g| {
            let first = steps[g.start].seq;
            let last = steps[g.end - 1].seq;
            context_range(prefix, first, last)
        })
        .collect();
    let columns = table.shape.columns.len();
    let key_columns = table.shape.key.len();
    let mut written = Written::default();
    let mut expected_outputs = Vec::new();
    let mut outputs: Vec<tiberius::Row> = Vec::new();
    let mut batch = Batch::default();
    if begin {
        batch
            .sql
            .push_str("SET XACT_ABORT ON;\nBEGIN TRANSACTION;\n");
    }
    if table.mode == KeyMode::ForceId {
        batch.identity_insert(&table.shape.name, true);
    }
    let fixes_keys = statements::has_character_key(&table.shape);
    for (g, ctx) in groups.iter().zip(&contexts) {
        let group_steps = &steps[g.clone()];
        // A group is sized to fit one request on its own (see `group`).
        let needed = 2 + match &group_steps[0].action {
            Action::Upsert { .. } if fixes_keys => group_steps.len() * (columns + key_columns),
            Action::Upsert { .. } => group_steps.len() * columns,
            Action::Delete { .. } => group_steps.len() * key_columns,
            _ => columns + key_columns,
        };
        if !batch.fits(needed) {
            // Send what we have inside the open transaction; go on in a
            // new request.
            batch.read_mapped_ids();
            outputs.extend(send(conn, std::mem::take(&mut batch)).await?);
        }
        match &group_steps[0].action {
            Action::Upsert { insert, .. } => {
                let rows: Vec<&[SqlValue]> = group_steps
                    .iter()
                    .filter_map(|s| match &s.action {
                        Action::Upsert { row, .. } => Some(row.as_slice()),
                        _ => None,
                    })
                    .collect();
                if optimistic && *insert {
                    batch.insert_many(&table.shape, &rows, ctx)?;
                } else {
                    batch.upsert_many(&table.shape, &rows, ctx)?;
                    if fixes_keys {
                        batch.fix_key_bytes(&table.shape, &rows, ctx)?;
                    }
                }
            }
            Action::Delete { .. } => {
                let mut keys: Vec<&[SqlValue]> = Vec::with_capacity(group_steps.len());
                for s in group_steps {
                    if let Action::Delete { key, source_key } = &s.action {
                        keys.push(key.as_slice());
                        if let Some(k) = source_key {
                            written.unmapped.push(k.clone());
                        }
                    }
                }
                batch.delete_many(&table.shape, &keys, ctx)?;
            }
            Action::InsertMapped { source_key, row } => {
                batch.insert_identity(&table.shape, row, ctx)?;
                expected_outputs.push(source_key.clone());
            }
            Action::Update { key, row } => batch.update(&table.shape, key, row, ctx)?,
            Action::Nothing => {}
        }
    }
    if table.mode == KeyMode::ForceId {
        batch.identity_insert(&table.shape.name, false);
    }
    batch.read_mapped_ids();
    if commit {
        batch.sql.push_str(statements::COMMIT_AND_VERSION);
        batch.sql.push(';');
    }
    let mut last = send_sets(conn, batch).await?;
    if commit {
        written.version = version_of(last.pop());
    }
    outputs.extend(last.into_iter().flatten());
    if outputs.len() != expected_outputs.len() {
        return Err(WriteError::OutputMismatch {
            expected: expected_outputs.len(),
            got: outputs.len(),
        });
    }
    for (source_key, row) in expected_outputs.into_iter().zip(outputs) {
        let mut key = Vec::with_capacity(row.len());
        for data in row.into_iter() {
            key.push(from_column(data)?);
        }
        written.mapped.push((source_key, key));
    }
    Ok(written)
}

/// One request of a write; the rows of its OUTPUT result sets.
async fn send(conn: &mut Connection, batch: Batch<'_>) -> Result<Vec<tiberius::Row>, WriteError> {
    Ok(send_sets(conn, batch)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

/// One request of a write; its result sets.
async fn send_sets(
    conn: &mut Connection,
    batch: Batch<'_>,
) -> Result<Vec<Vec<tiberius::Row>>, WriteError> {
    if batch.sql.is_empty() {
        return Ok(Vec::new());
    }
    let params: Vec<&dyn ToSql> = batch.params.iter().map(|p| p as &dyn ToSql).collect();
    Ok(conn
        .query(batch.sql.as_str(), &params)
        .await?
        .into_results()
        .await?)
}

/// The target's `CHANGE_TRACKING_CURRENT_VERSION()` (None: not tracked).
pub async fn current_version(conn: &mut Connection) -> Result<Option<i64>, WriteError> {
    let row = conn
        .simple_query(statements::CURRENT_VERSION)
        .await?
        .into_row()
        .await?;
    Ok(row.and_then(|r| r.try_get::<i64, _>(0).ok().flatten()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mssql::ident::TableName;
    use crate::mssql::statements::ColumnShape;

    fn shape(columns: usize) -> TableShape {
        TableShape {
            name: TableName::new("dbo", "T").unwrap(),
            key: vec!["k".into()],
            columns: (0..columns)
                .map(|i| ColumnShape {
                    name: if i == 0 { "k".into() } else { format!("c{i}") },
                    data_type: "nvarchar".into(),
                    identity: false,
                })
                .collect(),
        }
    }

    fn up(seq: u64, key: &str) -> Step {
        Step {
            seq,
            action: Action::Upsert {
                row: vec![SqlValue::String(key.into()), SqlValue::Null],
                insert: false,
            },
        }
    }

    fn del(seq: u64, key: &str) -> Step {
        Step {
            seq,
            action: Action::Delete {
                key: vec![SqlValue::String(key.into())],
                source_key: None,
            },
        }
    }

    #[test]
    fn runs_split_where_a_key_repeats_as_the_server_compares_it() {
        let steps = vec![
            up(1, "a"),
            up(2, "b"),
            up(3, "A "), // the same key as "a" under a case-insensitive collation
            del(4, "c"),
            del(5, "d"),
            up(6, "c"),
            Step {
                seq: 7,
                action: Action::Nothing,
            },
            del(8, "x"),
            del(9, "X"),
        ];
        let g = group(&steps, &shape(2), true);
        assert_eq!(g, vec![0..2, 2..3, 3..5, 5..6, 6..7, 7..8, 8..9]);
    }

    #[test]
    fn optimistic_runs_keep_reported_inserts_apart() {
        let ins = |seq: u64, key: &str| Step {
            seq,
            action: Action::Upsert {
                row: vec![SqlValue::String(key.into()), SqlValue::Null],
                insert: true,
            },
        };
        let steps = vec![ins(1, "a"), ins(2, "b"), up(3, "c"), ins(4, "d")];
        assert_eq!(group(&steps, &shape(2), true), vec![0..2, 2..3, 3..4]);
        assert_eq!(group(&steps, &shape(2), false), vec![0..4]);
        // One-column rows: an INSERT's VALUES list holds 1,000 rows at most.
        let many: Vec<Step> = (0..2500).map(|i| ins(i, &format!("k{i}"))).collect();
        let g = group(&many, &shape(1), true);
        assert_eq!(g[0], 0..1000);
    }

    #[test]
    fn a_run_fits_one_request() {
        let steps: Vec<Step> = (0..1000).map(|i| up(i, &format!("k{i}"))).collect();
        let g = group(&steps, &shape(10), true);
        // 1,999 parameters for rows of 10 columns: 199 rows, plus the context.
        assert!(g.iter().all(|r| r.len() <= 199), "{g:?}");
        assert_eq!(g.iter().map(|r| r.len()).sum::<usize>(), 1000);
        assert_eq!(g[0], 0..199);
    }

    #[test]
    fn range_contexts() {
        assert_eq!(context_range(b"ctsync:e:", 7, 7), b"ctsync:e:7".to_vec());
        assert_eq!(
            context_range(b"ctsync:e:", 7, 12),
            b"ctsync:e:7-12".to_vec()
        );
        let p = format!("ctsync:{}:", "x".repeat(64));
        assert!(context_range(p.as_bytes(), u64::MAX - 1, u64::MAX).len() <= 128);
    }
}
