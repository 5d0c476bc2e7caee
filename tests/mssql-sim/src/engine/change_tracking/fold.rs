//! CHANGETABLE: folding a key's change history relative to a
//! `last_sync_version`, and the SYS_CHANGE_COLUMNS mask.
//!
//! Folding (docs/relational-databases/system-functions/changetable-transact-sql.md):
//! of the committed changes of one key with a version above `last_sync_version`
//! - "Only one row is returned for each row in the user table that has been
//!   changed, even if there have been multiple changes to the same row";
//! - the last change is a delete → `D`;
//! - else the first change is an insert → `I` ("if an insert operation was made
//!   at version 10 and an update operation at version 15, and if the baseline
//!   last_sync_version is 12, an update will be reported. If the
//!   last_sync_version value is 8, an insert will be reported");
//! - else `U`. "If you delete a row and then insert a row that has the old
//!   primary key, the change is seen as an update to all columns in the row":
//!   a delete inside the window makes SYS_CHANGE_COLUMNS NULL (all columns).
//! - an insert followed by a delete inside the window is reported as `D` (its
//!   last change), so a client that had never seen the row deletes nothing.
//!
//! SYS_CHANGE_VERSION is the version of the last change, SYS_CHANGE_CONTEXT
//! the context of the last change, SYS_CHANGE_CREATION_VERSION the version of
//! the key's last insert still in the history ("version values that are
//! associated with the last insert operation"; NULL when that insert was
//! cleaned up or happened before tracking began).

use super::errors::{self, storage};
use super::store::{
    changes_table, key_col, key_col_defs, key_decl, quote_ident, require_tracked, settings,
};
use super::TableRef;
use crate::error::SqlError;
use rusqlite::types::Value as DbValue;
use rusqlite::{params_from_iter, Connection};

/// Bytes per entry of a SYS_CHANGE_COLUMNS mask.
const MASK_ENTRY: usize = 4;

/// Encodes column ids as a SYS_CHANGE_COLUMNS value.
///
/// Microsoft documents the value as opaque ("This binary value should not be
/// interpreted directly", changetable-transact-sql.md). The layout SQL Server
/// is observed to produce, and the one used here, is a sequence of 4-byte
/// little-endian integers: a first group of zero, then one group per changed
/// column id. Ids are sorted ascending and distinct. The column's documented
/// type agrees: varbinary(4100) is that header plus 4 bytes for each of a
/// table's at most 1,024 columns. The SQL in [`mask_sql`] builds the same bytes.
pub fn encode_mask(column_ids: &[i32]) -> Vec<u8> {
    let mut ids = column_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::with_capacity(MASK_ENTRY * (ids.len() + 1));
    out.extend_from_slice(&0i32.to_le_bytes());
    for id in ids {
        out.extend_from_slice(&id.to_le_bytes());
    }
    out
}

/// `CHANGE_TRACKING_IS_COLUMN_IN_MASK(column_id, mask)` that also reports a
/// malformed mask (error 22101,
/// docs/relational-databases/errors-events/database-engine-events-and-errors-22000-to-22999.md).
///
/// A NULL mask yields 1: CHANGETABLE returns NULL when every column may have
/// changed (insert, delete, an update of all columns, or no column tracking),
/// and the column-tracking example of
/// docs/relational-databases/track-changes/work-with-change-tracking-sql-server.md
/// relies on the function to decide whether to fetch a column.
pub fn column_in_mask_checked(column_id: i64, mask: Option<&[u8]>) -> Result<bool, SqlError> {
    let Some(mask) = mask else {
        return Ok(true);
    };
    if mask.len() < MASK_ENTRY || mask.len() % MASK_ENTRY != 0 {
        return Err(errors::invalid_mask());
    }
    // "does not perform any checks to validate the column_id value"
    // (docs/relational-databases/system-functions/change-tracking-is-column-in-mask-transact-sql.md)
    Ok(mask[MASK_ENTRY..].chunks_exact(MASK_ENTRY).any(|c| {
        let id = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        i64::from(id) == column_id
    }))
}

/// `CHANGE_TRACKING_IS_COLUMN_IN_MASK(column_id, mask)`; `None` (NULL) for a
/// mask that CHANGETABLE cannot have produced (see [`column_in_mask_checked`]
/// for the error SQL Server raises then).
pub fn column_in_mask(column_id: i64, mask: Option<&[u8]>) -> Option<bool> {
    column_in_mask_checked(column_id, mask).ok()
}

/// Quoted temp table name (the engine passes a name of its own making).
fn temp_table(temp_name: &str) -> String {
    format!("temp.{}", quote_ident(temp_name))
}

/// An empty TEMP table for one CHANGETABLE result: `{temp_name}_{hash of
/// its column definitions}`, created the first time and emptied after.
/// Reused rather than dropped and created per statement: DDL expires the
/// connection's prepared statements, and a CHANGETABLE per batch would make
/// every later statement parse again (SQL Server's CHANGETABLE is a read,
/// not DDL). Returns the table's name (unquoted, in the temp schema).
fn empty_temp(conn: &Connection, temp_name: &str, columns: &str) -> Result<String, SqlError> {
    // FNV-1a: stable across runs, so a data file's temp tables never
    // matter (TEMP tables live with the connection anyway).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in columns.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let name = format!("{temp_name}_{h:016x}");
    let temp = temp_table(&name);
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {temp}({columns}); DELETE FROM {temp};"
    ))
    .map_err(storage)?;
    Ok(name)
}

/// Key column definitions of the result: names as in the user table, declared
/// type and collation as the user table's, so joins to it compare alike.
fn key_defs(table: &TableRef<'_>) -> Vec<String> {
    table
        .key_columns
        .iter()
        .map(|k| format!("{} {}", quote_ident(&k.name), key_decl(k)))
        .collect()
}

/// `s.k1 = a.k1 AND ...`
fn key_join(left: &str, right: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("{left}.{k} = {right}.{k}", k = key_col(i)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// SQL expression of the SYS_CHANGE_COLUMNS mask of key `a` over the window
/// (?1, ?2]: the union of the column ids of its partial updates, encoded as in
/// [`encode_mask`] (a zero group, then 4-byte little-endian ids ascending).
fn mask_sql(hist: &str, n: usize) -> String {
    format!(
        "(SELECT unhex('00000000' || group_concat(
              printf('%02X%02X%02X%02X', m.id & 255, (m.id >> 8) & 255,
                     (m.id >> 16) & 255, (m.id >> 24) & 255), '' ORDER BY m.id))
          FROM (SELECT DISTINCT CAST(j.value AS INTEGER) AS id
                FROM {hist} AS s, json_each(s.cols) AS j
                WHERE {join} AND s.version > ?1 AND s.version <= ?2 AND s.op = 'U') AS m)",
        join = key_join("s", "a", n)
    )
}

/// `keys`: when the query joins the result to a list of keys (an inner join
/// on every key column), only those keys' histories are folded: the same
/// rows the join keeps, found through the key index instead of the whole
/// window, as SQL Server seeks its change table by primary key.
pub(super) fn materialize_changes(
    conn: &Connection,
    table: &TableRef<'_>,
    since: Option<i64>,
    temp_name: &str,
    keys: Option<&[Vec<DbValue>]>,
) -> Result<String, SqlError> {
    let tracked = require_tracked(conn, table)?;
    let current = settings(conn)?.current_version;
    let n = table.key_columns.len();
    let hist = changes_table(table.object_id);
    let defs = key_defs(table);
    let name = empty_temp(
        conn,
        temp_name,
        &format!(
            "SYS_CHANGE_VERSION INTEGER, SYS_CHANGE_CREATION_VERSION INTEGER, \
             SYS_CHANGE_OPERATION TEXT, SYS_CHANGE_COLUMNS BLOB, SYS_CHANGE_CONTEXT BLOB, {}",
            defs.join(", ")
        ),
    )?;
    let temp = temp_table(&name);
    let wanted = keys;
    let keys: Vec<String> = (0..n).map(key_col).collect();
    let key_list = keys.join(", ");
    // The window's rows, per key: all of them, or those of the wanted keys
    // (a temp table of distinct keys, driving the key index: CROSS JOIN
    // keeps SQLite from reordering the loop).
    let window = match wanted {
        None => format!(
            "SELECT {key_list}, min(seq) AS first_seq, max(seq) AS last_seq,
                    max(op <> 'U' OR cols IS NULL) AS all_cols
             FROM {hist} WHERE version > ?1 AND version <= ?2
             GROUP BY {key_list}"
        ),
        Some(wanted) => {
            let kdefs = key_col_defs(table);
            let ktemp = temp_table(&empty_temp(
                conn,
                &format!("{temp_name}_keys"),
                &format!("{}, PRIMARY KEY ({key_list})", kdefs.join(", ")),
            )?);
            let marks: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
            let mut insert = conn
                .prepare(&format!(
                    "INSERT OR IGNORE INTO {ktemp}({key_list}) VALUES ({})",
                    marks.join(", ")
                ))
                .map_err(storage)?;
            for k in wanted {
                if k.len() == n {
                    insert
                        .execute(params_from_iter(k.iter()))
                        .map_err(storage)?;
                }
            }
            let h_keys: Vec<String> = keys.iter().map(|k| format!("h.{k} AS {k}")).collect();
            let h_group: Vec<String> = keys.iter().map(|k| format!("h.{k}")).collect();
            format!(
                "SELECT {h}, min(h.seq) AS first_seq, max(h.seq) AS last_seq,
                        max(h.op <> 'U' OR h.cols IS NULL) AS all_cols
                 FROM {ktemp} AS q CROSS JOIN {hist} AS h ON {on}
                 WHERE h.version > ?1 AND h.version <= ?2
                 GROUP BY {g}",
                h = h_keys.join(", "),
                g = h_group.join(", "),
                on = key_join("h", "q", n),
            )
        }
    };
    let out_keys: Vec<String> = (0..n).map(|i| format!("a.{}", key_col(i))).collect();
    let out_names: Vec<String> = table
        .key_columns
        .iter()
        .map(|k| quote_ident(&k.name))
        .collect();
    // Column tracking off: SYS_CHANGE_COLUMNS is always NULL
    // (changetable-transact-sql.md, "Column change tracking is not enabled").
    let columns_expr = if tracked.track_columns_updated {
        format!(
            "CASE WHEN l.op = 'D' OR f.op = 'I' OR a.all_cols = 1 THEN NULL ELSE {} END",
            mask_sql(&hist, n)
        )
    } else {
        "NULL".to_string()
    };
    // One set-based statement: the window (?1, ?2] through the version index,
    // grouped per key; first and last change found by seq (record order,
    // which is commit order across transactions and statement order within
    // one). A key with a delete, an insert or an all-columns update in the
    // window reports every column (all_cols).
    let sql = format!(
        "INSERT INTO {temp}(SYS_CHANGE_VERSION, SYS_CHANGE_CREATION_VERSION, SYS_CHANGE_OPERATION,
                            SYS_CHANGE_COLUMNS, SYS_CHANGE_CONTEXT, {out_names})
         SELECT l.version,
                (SELECT max(c.version) FROM {hist} AS c
                  WHERE {cjoin} AND c.op = 'I' AND c.version <= ?2),
                CASE WHEN l.op = 'D' THEN 'D' WHEN f.op = 'I' THEN 'I' ELSE 'U' END,
                {columns_expr},
                l.context,
                {out_keys}
         FROM ({window}) AS a
         JOIN {hist} AS f ON f.seq = a.first_seq
         JOIN {hist} AS l ON l.seq = a.last_seq",
        out_names = out_names.join(", "),
        cjoin = key_join("c", "a", n),
        out_keys = out_keys.join(", "),
    );
    // "If the value is NULL, all tracked changes are returned."
    let lower = since.unwrap_or(i64::MIN);
    conn.execute(&sql, [lower, current]).map_err(storage)?;
    Ok(name)
}

pub(super) fn materialize_version(
    conn: &Connection,
    table: &TableRef<'_>,
    key: &[DbValue],
    temp_name: &str,
) -> Result<String, SqlError> {
    require_tracked(conn, table)?;
    let n = table.key_columns.len();
    if key.len() != n {
        // 22110: the values must cover the primary key.
        // docs/relational-databases/errors-events/database-engine-events-and-errors-22000-to-22999.md
        return Err(SqlError::new(
            22110,
            16,
            1,
            format!(
                "The number of columns specified in the CHANGETABLE(VERSION ...) function does not match the number of primary key columns for table '{}'.",
                table.name
            ),
        ));
    }
    let current = settings(conn)?.current_version;
    let hist = changes_table(table.object_id);
    let defs = key_defs(table);
    let name = empty_temp(
        conn,
        temp_name,
        &format!(
            "SYS_CHANGE_VERSION INTEGER, SYS_CHANGE_CONTEXT BLOB, {}",
            defs.join(", ")
        ),
    )?;
    let temp = temp_table(&name);
    let out_names: Vec<String> = table
        .key_columns
        .iter()
        .map(|k| quote_ident(&k.name))
        .collect();
    // "An empty result set is returned if a nonexistent primary key is
    // specified" (changetable-transact-sql.md, CHANGETABLE(VERSION...)): the
    // row comes from the user table, which the engine keeps in SQLite under
    // the catalog name (TableRef::name, e.g. "dbo.T"). Its change information
    // is the key's latest committed change; NULL version when none is kept
    // ("the row has never been changed since change tracking was enabled" or
    // cleanup removed it).
    let user_conds: Vec<String> = table
        .key_columns
        .iter()
        .enumerate()
        .map(|(i, k)| format!("u.{} = ?{}", quote_ident(&k.name), i + 1))
        .collect();
    let user_keys: Vec<String> = table
        .key_columns
        .iter()
        .map(|k| format!("u.{}", quote_ident(&k.name)))
        .collect();
    let conds: Vec<String> = (0..n)
        .map(|i| format!("h.{} = ?{}", key_col(i), i + 1))
        .collect();
    let sql = format!(
        "INSERT INTO {temp}(SYS_CHANGE_VERSION, SYS_CHANGE_CONTEXT, {names})
         SELECT h.version, h.context, {user_keys}
         FROM {user} AS u
         LEFT JOIN (SELECT version, context FROM {hist} AS h
                    WHERE {conds} AND h.version <= ?{cur}
                    ORDER BY h.seq DESC LIMIT 1) AS h ON 1
         WHERE {user_conds}
         LIMIT 1",
        names = out_names.join(", "),
        user_keys = user_keys.join(", "),
        user = quote_ident(table.name),
        conds = conds.join(" AND "),
        user_conds = user_conds.join(" AND "),
        cur = n + 1,
    );
    let mut params: Vec<DbValue> = key.to_vec();
    params.push(DbValue::Integer(current));
    conn.execute(&sql, params_from_iter(params.iter()))
        .map_err(storage)?;
    Ok(name)
}
