//! Writing one planned batch to the target: one request, one transaction
//! (`SET XACT_ABORT ON` so any error rolls the whole batch back), every
//! statement tagged `WITH CHANGE_TRACKING_CONTEXT` with this agent's tag and
//! the operation's sequence number.

use super::plan::{Action, ApplyTable, KeyMode, Step};
use crate::model::SqlValue;
use crate::mssql::ident::IdentError;
use crate::mssql::statements::{self, Batch};
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

/// What a committed batch did to the identity map.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Written {
    /// (source key, new target key) of each `InsertMapped`, in order.
    pub mapped: Vec<(Vec<SqlValue>, Vec<SqlValue>)>,
    /// Source keys whose rows were deleted (their mappings go).
    pub unmapped: Vec<Vec<SqlValue>>,
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
pub async fn write(
    conn: &mut Connection,
    table: &ApplyTable,
    steps: &[Step],
    prefix: &[u8],
) -> Result<Written, WriteError> {
    let result = write_requests(conn, table, steps, prefix).await;
    if result.is_err() {
        // Normally already rolled back by XACT_ABORT; make sure.
        if let Ok(s) = conn.simple_query(statements::ROLLBACK).await {
            let _ = s.into_results().await;
        }
    }
    result
}

async fn write_requests(
    conn: &mut Connection,
    table: &ApplyTable,
    steps: &[Step],
    prefix: &[u8],
) -> Result<Written, WriteError> {
    let contexts: Vec<Vec<u8>> = steps.iter().map(|s| context(prefix, s.seq)).collect();
    // Parameters one step may bind: every column, the key again, the context.
    let per_step = table.shape.columns.len() + table.shape.key.len() + 1;
    let mut written = Written::default();
    let mut expected_outputs = Vec::new();
    let mut outputs: Vec<tiberius::Row> = Vec::new();
    let mut batch = Batch::default();
    batch
        .sql
        .push_str("SET XACT_ABORT ON;\nBEGIN TRANSACTION;\n");
    if table.mode == KeyMode::ForceId {
        batch.identity_insert(&table.shape.name, true);
    }
    for (step, ctx) in steps.iter().zip(&contexts) {
        if !batch.fits(per_step) {
            // Send what we have inside the open transaction; go on in a
            // new request.
            outputs.extend(send(conn, std::mem::take(&mut batch)).await?);
        }
        match &step.action {
            Action::Upsert { row } => batch.upsert(&table.shape, row, ctx)?,
            Action::InsertMapped { source_key, row } => {
                batch.insert_identity(&table.shape, row, ctx)?;
                expected_outputs.push(source_key.clone());
            }
            Action::Update { key, row } => batch.update(&table.shape, key, row, ctx)?,
            Action::Delete { key, source_key } => {
                batch.delete(&table.shape, key, ctx)?;
                if let Some(k) = source_key {
                    written.unmapped.push(k.clone());
                }
            }
            Action::Nothing => {}
        }
    }
    if table.mode == KeyMode::ForceId {
        batch.identity_insert(&table.shape.name, false);
    }
    batch.sql.push_str("COMMIT TRANSACTION;");
    outputs.extend(send(conn, batch).await?);
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
    if batch.sql.is_empty() {
        return Ok(Vec::new());
    }
    let params: Vec<&dyn ToSql> = batch.params.iter().map(|p| p as &dyn ToSql).collect();
    let results = conn
        .query(batch.sql.as_str(), &params)
        .await?
        .into_results()
        .await?;
    Ok(results.into_iter().flatten().collect())
}

/// After a crash with `seq` in flight: did its insert land on the target?
/// Looks for the change carrying exactly its context and returns the key it
/// created. `since`: a target version from before the write (None: all).
pub async fn find_landed(
    conn: &mut Connection,
    table: &ApplyTable,
    prefix: &[u8],
    seq: u64,
    since: Option<i64>,
) -> Result<Option<Vec<SqlValue>>, WriteError> {
    let ctx = context(prefix, seq);
    let text = statements::find_by_context(&table.shape)?;
    let row = conn
        .query(text, &[&since, &ctx.as_slice()])
        .await?
        .into_row()
        .await?;
    match row {
        None => Ok(None),
        Some(row) => {
            let mut key = Vec::with_capacity(row.len());
            for data in row.into_iter() {
                key.push(from_column(data)?);
            }
            Ok(Some(key))
        }
    }
}
