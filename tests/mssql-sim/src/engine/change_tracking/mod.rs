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
//! - the engine calls [`on_commit`] right before it sends COMMIT to SQLite;
//! - an UPDATE that changes a primary-key value is reported to [`record`] as a
//!   [`Op::Delete`] of the old key followed by an [`Op::Insert`] of the new key,
//!   because "if a primary key value changes, it is considered to be a delete
//!   of the old value and an insert of the new value"
//!   (docs/relational-databases/system-functions/changetable-transact-sql.md).
//!
//! Storage (all in the main SQLite database, so snapshots and restarts keep it):
//! - `sim_ct_database`: one row: enabled, retention, auto cleanup, the current
//!   version and a `pending` flag (this write transaction truncated a tracked
//!   table, so it takes a version without change rows);
//! - `sim_ct_tables`: one row per tracked table;
//! - `sim_ct_changes_<object_id>`: the change history of one table, one row per
//!   recorded row change (not one per key), so that CHANGETABLE can fold the
//!   history relative to *any* `last_sync_version`.
//!
//! Versions. A change row gets `current_version + 1` when it is recorded, and
//! [`on_commit`] raises `current_version` by one when the transaction recorded
//! anything. This is the same as giving every pending row a version at commit
//! time, without rewriting a million rows at the end of a bulk load: a write
//! transaction holds SQLite's single write lock from its first write to its
//! COMMIT or ROLLBACK, so no other transaction can commit (and take
//! `current_version + 1`) in between; versions therefore follow commit order.
//! A row whose version is above `current_version` is *pending*: it belongs to
//! the running transaction and is invisible to CHANGETABLE and
//! CHANGE_TRACKING_CURRENT_VERSION until the commit, as
//! docs/relational-databases/system-functions/change-tracking-current-version-transact-sql.md
//! ("the last committed transaction") requires. A rollback removes the rows.
//!
//! Sources: docs/relational-databases/track-changes/about-change-tracking-sql-server.md,
//! docs/relational-databases/track-changes/work-with-change-tracking-sql-server.md,
//! docs/relational-databases/track-changes/enable-and-disable-change-tracking-sql-server.md,
//! docs/relational-databases/system-functions/changetable-transact-sql.md.

mod errors;
mod fold;
mod store;
#[cfg(test)]
mod tests;

use crate::error::SqlError;
use crate::sql::ast::AlterDatabaseAction;
use rusqlite::types::Value as DbValue;
use rusqlite::Connection;

pub use errors::{check_context, context_too_long, MAX_CONTEXT_LEN};
pub use fold::{column_in_mask, column_in_mask_checked, encode_mask};

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
    store::init_schema(conn)
}

/// `ALTER DATABASE ... SET CHANGE_TRACKING ...` (errors 5088, 5089, 22115 ...).
pub fn alter_database(conn: &Connection, action: &AlterDatabaseAction) -> Result<(), SqlError> {
    store::alter_database(conn, action)
}

/// Whether the database tracks changes.
pub fn database_enabled(conn: &Connection) -> Result<bool, SqlError> {
    Ok(store::settings(conn)?.enabled)
}

/// `ALTER TABLE t ENABLE CHANGE_TRACKING` (errors 4997, 4996, 1718 ...).
pub fn enable_table(
    conn: &Connection,
    table: &TableRef<'_>,
    track_columns_updated: bool,
) -> Result<(), SqlError> {
    store::enable_table(conn, table, track_columns_updated)
}

/// `ALTER TABLE t DISABLE CHANGE_TRACKING`, and DROP TABLE of a tracked table.
/// Error 4998 when the table is not tracked.
pub fn disable_table(conn: &Connection, object_id: i64) -> Result<(), SqlError> {
    store::disable_table(conn, object_id)
}

/// Whether a table is tracked; `Some(track_columns_updated)`.
pub fn table_tracking(conn: &Connection, object_id: i64) -> Result<Option<bool>, SqlError> {
    Ok(store::tracked_table(conn, object_id)?.map(|t| t.track_columns_updated))
}

/// Records one row change of the current SQLite write transaction.
/// `context` is the statement's `WITH CHANGE_TRACKING_CONTEXT` value (error
/// 22109 when longer than 128 bytes; the engine may check earlier with
/// [`check_context`]).
pub fn record(
    conn: &Connection,
    object_id: i64,
    key: &[DbValue],
    op: Op,
    columns: &Columns,
    context: Option<&[u8]>,
) -> Result<(), SqlError> {
    store::record(conn, object_id, key, op, columns, context)
}

/// Right before COMMIT: if this transaction recorded changes, the database's
/// current version becomes their version.
pub fn on_commit(conn: &Connection) -> Result<(), SqlError> {
    store::on_commit(conn)
}

/// `CHANGE_TRACKING_CURRENT_VERSION()`: `None` when the database does not track.
pub fn current_version(conn: &Connection) -> Result<Option<i64>, SqlError> {
    let s = store::settings(conn)?;
    Ok(s.enabled.then_some(s.current_version))
}

/// `CHANGE_TRACKING_MIN_VALID_VERSION(object_id)`: `None` if untracked.
pub fn min_valid_version(conn: &Connection, object_id: i64) -> Result<Option<i64>, SqlError> {
    // NULL when the database does not track or the object is not a tracked
    // table: docs/relational-databases/system-functions/change-tracking-min-valid-version-transact-sql.md
    if !store::settings(conn)?.enabled {
        return Ok(None);
    }
    Ok(store::tracked_table(conn, object_id)?.map(|t| t.min_valid_version))
}

/// `CHANGETABLE(CHANGES t, since)`: fills a TEMP table named after
/// `temp_name` (returned: `temp_name` and a hash of its columns, reused from
/// one statement to the next) with columns SYS_CHANGE_VERSION,
/// SYS_CHANGE_CREATION_VERSION, SYS_CHANGE_OPERATION, SYS_CHANGE_COLUMNS,
/// SYS_CHANGE_CONTEXT, then the key columns, one row per changed key, folded
/// as the docs say. Error 22105 if the table is not tracked.
pub fn materialize_changes(
    conn: &Connection,
    table: &TableRef<'_>,
    since: Option<i64>,
    temp_name: &str,
) -> Result<String, SqlError> {
    fold::materialize_changes(conn, table, since, temp_name, None)
}

/// [`materialize_changes`] restricted to `keys` (storage values of every key
/// column, in key order): for a CHANGETABLE inner-joined to a list of keys,
/// whose result keeps only those keys' rows anyway.
pub fn materialize_changes_for_keys(
    conn: &Connection,
    table: &TableRef<'_>,
    since: Option<i64>,
    temp_name: &str,
    keys: &[Vec<rusqlite::types::Value>],
) -> Result<String, SqlError> {
    fold::materialize_changes(conn, table, since, temp_name, Some(keys))
}

/// `CHANGETABLE(VERSION t, (keys), (values))`: fills a TEMP table named
/// after `temp_name` (returned, as for [`materialize_changes`]) with SYS_CHANGE_VERSION, SYS_CHANGE_CONTEXT and the key columns:
/// one row when the user table has that key, none otherwise ("An empty result
/// set is returned if a nonexistent primary key is specified",
/// docs/relational-databases/system-functions/changetable-transact-sql.md).
/// The user table is read as the SQLite table named `table.name` (the engine
/// stores user tables under their `schema.name`, see `catalog.rs`).
pub fn materialize_version(
    conn: &Connection,
    table: &TableRef<'_>,
    key: &[DbValue],
    temp_name: &str,
) -> Result<String, SqlError> {
    fold::materialize_version(conn, table, key, temp_name)
}

/// TRUNCATE TABLE of a tracked table: its min valid version moves past every
/// change so far.
pub fn truncate(conn: &Connection, object_id: i64) -> Result<(), SqlError> {
    store::truncate(conn, object_id)
}

/// Cleanup now (test control): drop all change rows and raise every tracked
/// table's min valid version to the current version.
pub fn cleanup(conn: &Connection) -> Result<(), SqlError> {
    store::cleanup(conn)
}
