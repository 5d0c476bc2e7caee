//! The side tables: database settings, tracked tables, change history, and
//! the writes to them (enable/disable, record, commit, truncate, cleanup).

use super::errors::{self, storage};
use super::{Columns, KeyColumn, Op, TableRef};
use crate::error::SqlError;
use crate::sql::ast::{AlterDatabaseAction, RetentionUnit};
use rusqlite::types::Value as DbValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS sim_ct_database(
    id INTEGER PRIMARY KEY CHECK (id = 1),
    enabled INTEGER NOT NULL DEFAULT 0,
    retention_period INTEGER NOT NULL DEFAULT 2,
    -- 1 = MINUTES, 2 = HOURS, 3 = DAYS (sys.change_tracking_databases)
    retention_units INTEGER NOT NULL DEFAULT 3,
    auto_cleanup INTEGER NOT NULL DEFAULT 1,
    current_version INTEGER NOT NULL DEFAULT 0,
    -- 1 while the open write transaction has truncated a tracked table: its
    -- COMMIT takes a new version even without change rows.
    pending INTEGER NOT NULL DEFAULT 0);
INSERT OR IGNORE INTO sim_ct_database(id) VALUES (1);
CREATE TABLE IF NOT EXISTS sim_ct_tables(
    object_id INTEGER PRIMARY KEY,
    track_columns_updated INTEGER NOT NULL,
    min_valid_version INTEGER NOT NULL,
    begin_version INTEGER NOT NULL,
    cleanup_version INTEGER NOT NULL,
    key_count INTEGER NOT NULL);
";

/// The database-level settings row.
#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    pub enabled: bool,
    pub current_version: i64,
}

/// A tracked table's row in `sim_ct_tables`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tracked {
    pub track_columns_updated: bool,
    pub min_valid_version: i64,
    pub key_count: usize,
}

/// The change-history table of one tracked table (object ids are integers,
/// so the name needs no escaping beyond the quotes).
pub(super) fn changes_table(object_id: i64) -> String {
    format!("\"sim_ct_changes_{object_id}\"")
}

/// Name of key column `i` (0-based) inside a change-history table.
/// `k1 <decl>, k2 <decl>, ...`: the key columns as the change tables (and
/// key lists) declare them.
pub(super) fn key_col_defs(table: &TableRef<'_>) -> Vec<String> {
    table
        .key_columns
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{} {}", key_col(i), key_decl(k)))
        .collect()
}

pub(super) fn key_col(i: usize) -> String {
    format!("k{}", i + 1)
}

pub(super) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Declared type and collation of a key column, as the user table has it, so
/// that equality and grouping in the history table match the user table's
/// (a case-insensitive key groups 'a' and 'A' together, as SQL Server does).
pub(super) fn key_decl(k: &KeyColumn) -> String {
    // storage_type and collation come from the engine's catalog (static
    // strings of its own), never from client text.
    format!("{} {}", k.storage_type, k.collation)
}

/// The database name for error texts: the engine keeps it in `sim_meta`;
/// without the engine's catalog (unit tests) a neutral name is used.
fn database_name(conn: &Connection) -> String {
    conn.query_row(
        "SELECT value FROM sim_meta WHERE key = 'database_name'",
        [],
        |r| r.get::<_, String>(0),
    )
    .unwrap_or_else(|_| "main".to_string())
}

/// The table name for texts that only have an object id (4998 from DISABLE):
/// from the engine's catalog when there is one.
fn table_name(conn: &Connection, object_id: i64) -> String {
    conn.query_row(
        "SELECT name FROM sim_tables WHERE object_id = ?1",
        [object_id],
        |r| r.get::<_, String>(0),
    )
    .unwrap_or_else(|_| object_id.to_string())
}

pub(super) fn init_schema(conn: &Connection) -> Result<(), SqlError> {
    conn.execute_batch(SCHEMA_SQL).map_err(storage)?;
    // DB_ID(): the engine keeps it in sim_meta; 5 (its constant) otherwise.
    let has_meta: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'sim_meta'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(storage)?
        > 0;
    let database_id = if has_meta {
        "COALESCE((SELECT CAST(value AS INTEGER) FROM sim_meta WHERE key = 'database_id'), 5)"
    } else {
        "5"
    };
    // One row per database that tracks changes:
    // docs/relational-databases/system-catalog-views/change-tracking-catalog-views-sys-change-tracking-databases.md
    // One row per tracked table:
    // docs/relational-databases/system-catalog-views/change-tracking-catalog-views-sys-change-tracking-tables.md
    conn.execute_batch(&format!(
        "DROP VIEW IF EXISTS \"sys.change_tracking_databases\";
         CREATE VIEW \"sys.change_tracking_databases\" AS
           SELECT {database_id} AS database_id,
                  auto_cleanup AS is_auto_cleanup_on,
                  retention_period,
                  retention_units AS retention_period_units,
                  CASE retention_units WHEN 1 THEN 'MINUTES' WHEN 2 THEN 'HOURS' ELSE 'DAYS' END
                    AS retention_period_units_desc
           FROM sim_ct_database WHERE enabled = 1;
         DROP VIEW IF EXISTS \"sys.change_tracking_tables\";
         CREATE VIEW \"sys.change_tracking_tables\" AS
           SELECT object_id,
                  track_columns_updated AS is_track_columns_updated_on,
                  min_valid_version, begin_version, cleanup_version
           FROM sim_ct_tables;"
    ))
    .map_err(storage)
}

pub(super) fn settings(conn: &Connection) -> Result<Settings, SqlError> {
    conn.prepare_cached("SELECT enabled, current_version FROM sim_ct_database WHERE id = 1")
        .and_then(|mut st| {
            st.query_row([], |r| {
                Ok(Settings {
                    enabled: r.get::<_, i64>(0)? != 0,
                    current_version: r.get(1)?,
                })
            })
        })
        .map_err(storage)
}

pub(super) fn tracked_table(
    conn: &Connection,
    object_id: i64,
) -> Result<Option<Tracked>, SqlError> {
    conn.prepare_cached(
        "SELECT track_columns_updated, min_valid_version, key_count
         FROM sim_ct_tables WHERE object_id = ?1",
    )
    .and_then(|mut st| {
        st.query_row([object_id], |r| {
            Ok(Tracked {
                track_columns_updated: r.get::<_, i64>(0)? != 0,
                min_valid_version: r.get(1)?,
                key_count: usize::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
            })
        })
        .optional()
    })
    .map_err(storage)
}

fn retention_units(u: RetentionUnit) -> i64 {
    // docs/relational-databases/system-catalog-views/change-tracking-catalog-views-sys-change-tracking-databases.md
    match u {
        RetentionUnit::Minutes => 1,
        RetentionUnit::Hours => 2,
        RetentionUnit::Days => 3,
    }
}

fn set_options(
    conn: &Connection,
    retention: &Option<(i64, RetentionUnit)>,
    auto_cleanup: &Option<bool>,
) -> Result<(), SqlError> {
    if let Some((n, unit)) = retention {
        conn.execute(
            "UPDATE sim_ct_database SET retention_period = ?1, retention_units = ?2 WHERE id = 1",
            params![n, retention_units(*unit)],
        )
        .map_err(storage)?;
    }
    if let Some(on) = auto_cleanup {
        conn.execute(
            "UPDATE sim_ct_database SET auto_cleanup = ?1 WHERE id = 1",
            [i64::from(*on)],
        )
        .map_err(storage)?;
    }
    Ok(())
}

pub(super) fn alter_database(
    conn: &Connection,
    action: &AlterDatabaseAction,
) -> Result<(), SqlError> {
    let s = settings(conn)?;
    match action {
        AlterDatabaseAction::ChangeTrackingOn {
            retention,
            auto_cleanup,
        } => {
            if s.enabled {
                return Err(errors::database_already_tracked(&database_name(conn)));
            }
            // Defaults when enabling: CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON
            // (docs/t-sql/statements/alter-database-transact-sql-set-options.md);
            // a freshly enabled database starts at version 0.
            conn.execute(
                "UPDATE sim_ct_database SET enabled = 1, retention_period = 2,
                   retention_units = 3, auto_cleanup = 1, current_version = 0, pending = 0
                 WHERE id = 1",
                [],
            )
            .map_err(storage)?;
            set_options(conn, retention, auto_cleanup)
        }
        AlterDatabaseAction::ChangeTrackingSet {
            retention,
            auto_cleanup,
        } => {
            if !s.enabled {
                return Err(errors::database_tracking_disabled(&database_name(conn)));
            }
            set_options(conn, retention, auto_cleanup)
        }
        AlterDatabaseAction::ChangeTrackingOff => {
            // Tables first: docs/relational-databases/track-changes/enable-and-disable-change-tracking-sql-server.md
            let tracked: i64 = conn
                .query_row("SELECT count(*) FROM sim_ct_tables", [], |r| r.get(0))
                .map_err(storage)?;
            if tracked > 0 {
                return Err(errors::tables_still_tracked(&database_name(conn)));
            }
            conn.execute(
                "UPDATE sim_ct_database SET enabled = 0, pending = 0 WHERE id = 1",
                [],
            )
            .map_err(storage)?;
            Ok(())
        }
        // Snapshot settings belong to the engine, which handles them before
        // calling here; nothing of change tracking changes.
        AlterDatabaseAction::AllowSnapshotIsolation(_)
        | AlterDatabaseAction::ReadCommittedSnapshot(_) => Ok(()),
    }
}

pub(super) fn enable_table(
    conn: &Connection,
    table: &TableRef<'_>,
    track_columns_updated: bool,
) -> Result<(), SqlError> {
    let s = settings(conn)?;
    // docs/relational-databases/track-changes/enable-and-disable-change-tracking-sql-server.md:
    // the database first (1718), one enable per table (4996), a primary key (4997).
    if !s.enabled {
        return Err(errors::database_not_tracked(
            &database_name(conn),
            table.name,
        ));
    }
    if tracked_table(conn, table.object_id)?.is_some() {
        return Err(errors::table_already_tracked(table.name));
    }
    if table.key_columns.is_empty() {
        return Err(errors::no_primary_key(table.name));
    }
    let t = changes_table(table.object_id);
    let keys = key_col_defs(table);
    let key_names: Vec<String> = (0..table.key_columns.len()).map(key_col).collect();
    let key_list = key_names.join(", ");
    // seq orders changes within a transaction (a key can change several times
    // in one); version orders transactions. (keys, seq) serves the per-key
    // folding, (version) finds the changes after a last_sync_version.
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS {t};
         CREATE TABLE {t}(
             seq INTEGER PRIMARY KEY,
             {keys},
             version INTEGER NOT NULL,
             op TEXT NOT NULL,
             cols TEXT,
             context BLOB);
         CREATE INDEX \"sim_ct_changes_{id}_key\" ON {t}({key_list}, seq);
         CREATE INDEX \"sim_ct_changes_{id}_version\" ON {t}(version);",
        keys = keys.join(", "),
        id = table.object_id,
    ))
    .map_err(storage)?;
    // min_valid_version and begin_version: the version when tracking began
    // (docs/relational-databases/system-catalog-views/change-tracking-catalog-views-sys-change-tracking-tables.md);
    // a client that read the table after this version is valid.
    conn.execute(
        "INSERT INTO sim_ct_tables(object_id, track_columns_updated, min_valid_version,
            begin_version, cleanup_version, key_count)
         VALUES (?1, ?2, ?3, ?3, 0, ?4)",
        params![
            table.object_id,
            i64::from(track_columns_updated),
            s.current_version,
            table.key_columns.len() as i64
        ],
    )
    .map_err(storage)?;
    Ok(())
}

pub(super) fn disable_table(conn: &Connection, object_id: i64) -> Result<(), SqlError> {
    if tracked_table(conn, object_id)?.is_none() {
        return Err(errors::disable_untracked(&table_name(conn, object_id)));
    }
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS {};",
        changes_table(object_id)
    ))
    .map_err(storage)?;
    conn.execute(
        "DELETE FROM sim_ct_tables WHERE object_id = ?1",
        [object_id],
    )
    .map_err(storage)?;
    Ok(())
}

/// `[2,5,9]`: the sorted, distinct column ids of a partial update, as JSON so
/// that the folding query can union them with `json_each`.
fn columns_json(ids: &[i32]) -> String {
    let mut v = ids.to_vec();
    v.sort_unstable();
    v.dedup();
    let parts: Vec<String> = v.iter().map(|i| i.to_string()).collect();
    format!("[{}]", parts.join(","))
}

fn insert_sql(object_id: i64, key_count: usize) -> String {
    let keys: Vec<String> = (0..key_count).map(key_col).collect();
    let marks: Vec<String> = (1..=key_count).map(|i| format!("?{i}")).collect();
    let n = key_count;
    // The version is the one this transaction will commit as (see the module
    // doc: the write lock makes current_version + 1 ours).
    format!(
        "INSERT INTO {}({}, version, op, cols, context)
         SELECT {}, current_version + 1, ?{}, ?{}, ?{} FROM sim_ct_database WHERE id = 1",
        changes_table(object_id),
        keys.join(", "),
        marks.join(", "),
        n + 1,
        n + 2,
        n + 3
    )
}

pub(super) fn record(
    conn: &Connection,
    object_id: i64,
    key: &[DbValue],
    op: Op,
    columns: &Columns,
    context: Option<&[u8]>,
) -> Result<(), SqlError> {
    if let Some(c) = context {
        errors::check_context(c)?;
    }
    if key.is_empty() {
        // A tracked table always has a primary key (4997 at enable time).
        return Err(storage(rusqlite::Error::InvalidParameterCount(0, 1)));
    }
    let op_text = match op {
        Op::Insert => "I",
        Op::Update => "U",
        Op::Delete => "D",
    };
    // Only an update names columns; NULL means "every column" (inserts and
    // deletes, or an update that assigned every non-key column).
    let cols = match (op, columns) {
        (Op::Update, Columns::Some(ids)) => Some(columns_json(ids)),
        _ => None,
    };
    let mut params: Vec<DbValue> = Vec::with_capacity(key.len() + 3);
    params.extend(key.iter().cloned());
    params.push(DbValue::Text(op_text.to_string()));
    params.push(cols.map_or(DbValue::Null, DbValue::Text));
    params.push(context.map_or(DbValue::Null, |c| DbValue::Blob(c.to_vec())));
    let sql = insert_sql(object_id, key.len());
    let n = match conn.prepare_cached(&sql) {
        Ok(mut st) => st
            .execute(params_from_iter(params.iter()))
            .map_err(storage)?,
        Err(e) => {
            // No history table: the table is not tracked (or the key width
            // differs from the one it was enabled with).
            return Err(match tracked_table(conn, object_id)? {
                None => errors::table_not_tracked(&table_name(conn, object_id)),
                Some(_) => storage(e),
            });
        }
    };
    debug_assert_eq!(n, 1, "the settings row always exists");
    // No per-row bookkeeping beyond the history row: on_commit finds pending
    // rows through the version index (bulk loads record a million rows).
    Ok(())
}

pub(super) fn on_commit(conn: &Connection) -> Result<(), SqlError> {
    let s = settings(conn)?;
    if !s.enabled {
        return Ok(());
    }
    // Did this transaction record changes (rows above the current version,
    // see the module doc) or truncate a tracked table (the pending flag)?
    let flagged: bool = conn
        .prepare_cached("SELECT pending FROM sim_ct_database WHERE id = 1")
        .and_then(|mut st| st.query_row([], |r| r.get::<_, i64>(0)))
        .map_err(storage)?
        != 0;
    let mut changed = flagged;
    if !changed {
        let ids: Vec<i64> = conn
            .prepare_cached("SELECT object_id FROM sim_ct_tables")
            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
            .map_err(storage)?;
        for id in ids {
            let sql = format!(
                "SELECT EXISTS(SELECT 1 FROM {} WHERE version > ?1)",
                changes_table(id)
            );
            let pending: bool = conn
                .prepare_cached(&sql)
                .and_then(|mut st| st.query_row([s.current_version], |r| r.get(0)))
                .map_err(storage)?;
            if pending {
                changed = true;
                break;
            }
        }
    }
    if changed {
        // One new version for the whole transaction, whatever it changed.
        conn.prepare_cached(
            "UPDATE sim_ct_database SET current_version = current_version + 1, pending = 0
             WHERE id = 1",
        )
        .and_then(|mut st| st.execute([]))
        .map_err(storage)?;
    }
    Ok(())
}

pub(super) fn truncate(conn: &Connection, object_id: i64) -> Result<(), SqlError> {
    if tracked_table(conn, object_id)?.is_none() {
        return Ok(());
    }
    let s = settings(conn)?;
    // "When a table is truncated, the change tracking version information that
    // is associated with the table is reset as if change tracking has just been
    // enabled on the table. ... The validation fails if the table has been
    // truncated." (docs/relational-databases/system-functions/changetable-transact-sql.md)
    // So the min valid version must pass every version a client may hold,
    // including the current one: the truncating transaction takes a version of
    // its own (current + 1) and tracking "begins" there.
    let new_min = s.current_version + 1;
    conn.execute_batch(&format!("DELETE FROM {};", changes_table(object_id)))
        .map_err(storage)?;
    conn.execute(
        "UPDATE sim_ct_tables SET min_valid_version = ?2, begin_version = ?2
         WHERE object_id = ?1",
        params![object_id, new_min],
    )
    .map_err(storage)?;
    conn.execute("UPDATE sim_ct_database SET pending = 1 WHERE id = 1", [])
        .map_err(storage)?;
    Ok(())
}

pub(super) fn cleanup(conn: &Connection) -> Result<(), SqlError> {
    let s = settings(conn)?;
    if !s.enabled {
        return Ok(());
    }
    let ids: Vec<i64> = conn
        .prepare("SELECT object_id FROM sim_ct_tables ORDER BY object_id")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .map_err(storage)?;
    // As if the retention period had passed for every committed change:
    // docs/relational-databases/track-changes/cleanup-and-troubleshoot-change-tracking-sql-server.md
    // Rows above the current version belong to no committed transaction (the
    // engine runs cleanup in a transaction of its own), so none is dropped.
    for id in ids {
        conn.execute(
            &format!("DELETE FROM {} WHERE version <= ?1", changes_table(id)),
            [s.current_version],
        )
        .map_err(storage)?;
    }
    conn.execute(
        "UPDATE sim_ct_tables SET
            min_valid_version = max(min_valid_version, ?1),
            cleanup_version = max(cleanup_version, ?1)",
        [s.current_version],
    )
    .map_err(storage)?;
    Ok(())
}

/// The key count a tracked table was enabled with (for the folding queries).
pub(super) fn require_tracked(
    conn: &Connection,
    table: &TableRef<'_>,
) -> Result<Tracked, SqlError> {
    match tracked_table(conn, table.object_id)? {
        Some(t) if t.key_count == table.key_columns.len() => Ok(t),
        // Not tracked: 22105 (docs/relational-databases/system-functions/changetable-transact-sql.md,
        // "Change tracking must be enabled on the table").
        _ => Err(errors::table_not_tracked(table.name)),
    }
}
