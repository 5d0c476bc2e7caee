//! Change Tracking: side tables of our own inside the SQLite file, versions
//! assigned per committed transaction in commit order, CHANGETABLE folding.
//!
//! Contract with the rest of the engine (which calls these functions while it
//! holds the SQLite write transaction of the statement or user transaction):
//! - every function takes the session's `rusqlite::Connection`; all state lives
//!   in SQLite tables, so a rollback (or a rollback to a statement savepoint)
//!   undoes what was recorded, with no bookkeeping here;
//! - key values are passed in the engine's SQLite storage form
//!   (`rusqlite::types::Value`), in key-column order;
//! - the engine calls [`on_commit`] right before it sends COMMIT to SQLite.
//!
//! Sources: docs/relational-databases/track-changes/about-change-tracking-sql-server.md,
//! docs/relational-databases/track-changes/work-with-change-tracking-sql-server.md,
//! docs/relational-databases/system-functions/changetable-transact-sql.md.
//!
//! THIS FILE IS A STUB owned by the change-tracking helper (branch sim-ct).

use crate::error::SqlError;
use crate::sql::ast::AlterDatabaseAction;
use rusqlite::types::Value as DbValue;
use rusqlite::Connection;

/// A key column of a tracked table.
#[derive(Debug, Clone)]
pub struct KeyColumn {
    pub name: String,
    /// `COLUMNPROPERTY(..., 'ColumnId')`
    pub column_id: i32,
    /// SQLite declared type the engine stores this column with
    /// (`INTEGER`, `REAL`, `TEXT`, `BLOB`), so the side table matches.
    pub storage_type: &'static str,
    /// Collation clause for TEXT keys (e.g. `COLLATE MSSQL_CI`), empty if none.
    pub collation: &'static str,
}

/// What the engine tells us about a table.
#[derive(Debug, Clone)]
pub struct TableRef<'a> {
    pub object_id: i64,
    /// Schema-qualified name as written in the catalog, e.g. `dbo.Orders`.
    pub name: &'a str,
    /// Empty when the table has no primary key.
    pub key_columns: &'a [KeyColumn],
}

/// One row change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Insert,
    Update,
    Delete,
}

/// Which columns an UPDATE changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Columns {
    /// Every non-key column was assigned.
    All,
    /// Column ids of the assigned columns.
    Some(Vec<i32>),
}

/// Creates the side tables and the `sys.change_tracking_*` views if missing.
/// Called once when the database is opened.
pub fn init_schema(conn: &Connection) -> Result<(), SqlError> {
    let _ = conn;
    Ok(())
}

/// `ALTER DATABASE ... SET CHANGE_TRACKING ...` (errors 5088, 5089, 22115 ...).
pub fn alter_database(conn: &Connection, action: &AlterDatabaseAction) -> Result<(), SqlError> {
    let _ = (conn, action);
    Ok(())
}

/// Whether the database tracks changes.
pub fn database_enabled(conn: &Connection) -> Result<bool, SqlError> {
    let _ = conn;
    Ok(false)
}

/// `ALTER TABLE t ENABLE CHANGE_TRACKING` (errors 4997, 4996, 1718 ...).
pub fn enable_table(
    conn: &Connection,
    table: &TableRef<'_>,
    track_columns_updated: bool,
) -> Result<(), SqlError> {
    let _ = (conn, table, track_columns_updated);
    Ok(())
}

/// `ALTER TABLE t DISABLE CHANGE_TRACKING`, and DROP TABLE of a tracked table.
pub fn disable_table(conn: &Connection, object_id: i64) -> Result<(), SqlError> {
    let _ = (conn, object_id);
    Ok(())
}

/// Whether a table is tracked; `Some(track_columns_updated)`.
pub fn table_tracking(conn: &Connection, object_id: i64) -> Result<Option<bool>, SqlError> {
    let _ = (conn, object_id);
    Ok(None)
}

/// Records one row change of the current SQLite write transaction.
pub fn record(
    conn: &Connection,
    object_id: i64,
    key: &[DbValue],
    op: Op,
    columns: &Columns,
    context: Option<&[u8]>,
) -> Result<(), SqlError> {
    let _ = (conn, object_id, key, op, columns, context);
    Ok(())
}

/// Right before COMMIT: if this transaction recorded changes, the database's
/// current version becomes their version.
pub fn on_commit(conn: &Connection) -> Result<(), SqlError> {
    let _ = conn;
    Ok(())
}

/// `CHANGE_TRACKING_CURRENT_VERSION()`: `None` when the database does not track.
pub fn current_version(conn: &Connection) -> Result<Option<i64>, SqlError> {
    let _ = conn;
    Ok(None)
}

/// `CHANGE_TRACKING_MIN_VALID_VERSION(object_id)`: `None` if untracked.
pub fn min_valid_version(conn: &Connection, object_id: i64) -> Result<Option<i64>, SqlError> {
    let _ = (conn, object_id);
    Ok(None)
}

/// `CHANGETABLE(CHANGES t, since)`: (re)creates the TEMP table `temp_name` with
/// columns SYS_CHANGE_VERSION, SYS_CHANGE_CREATION_VERSION, SYS_CHANGE_OPERATION,
/// SYS_CHANGE_COLUMNS, SYS_CHANGE_CONTEXT, then the key columns, one row per
/// changed key, folded as the docs say. Error 22105 if the table is not tracked.
pub fn materialize_changes(
    conn: &Connection,
    table: &TableRef<'_>,
    since: Option<i64>,
    temp_name: &str,
) -> Result<(), SqlError> {
    let _ = (conn, table, since, temp_name);
    Ok(())
}

/// `CHANGETABLE(VERSION t, (keys), (values))`: (re)creates TEMP table
/// `temp_name` with SYS_CHANGE_VERSION, SYS_CHANGE_CONTEXT and the key columns,
/// exactly one row.
pub fn materialize_version(
    conn: &Connection,
    table: &TableRef<'_>,
    key: &[DbValue],
    temp_name: &str,
) -> Result<(), SqlError> {
    let _ = (conn, table, key, temp_name);
    Ok(())
}

/// `CHANGE_TRACKING_IS_COLUMN_IN_MASK(column_id, mask)`.
pub fn column_in_mask(column_id: i64, mask: Option<&[u8]>) -> Option<bool> {
    let _ = (column_id, mask);
    None
}

/// TRUNCATE TABLE of a tracked table: its min valid version moves past every
/// change so far.
pub fn truncate(conn: &Connection, object_id: i64) -> Result<(), SqlError> {
    let _ = (conn, object_id);
    Ok(())
}

/// Cleanup now (test control): drop all change rows and raise every tracked
/// table's min valid version to the current version.
pub fn cleanup(conn: &Connection) -> Result<(), SqlError> {
    let _ = conn;
    Ok(())
}
