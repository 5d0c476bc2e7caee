//! T-SQL of conflict detection and of the lookup after an unknown write
//! outcome (`apply::detect`, `apply::outcome`): the locking read of a
//! batch's target rows with their changes since the watermark, the rows of
//! given keys, and the changes carrying a context since a version.
//! Identifiers are quoted by [`super::ident`]; values are bound parameters.

use super::ident::{quote, IdentError};
use super::statements::{read_column, TableShape};

/// The conflict check of a two-way batch, run first in the target
/// transaction that then writes the batch (so a writer on the target that
/// commits between the check and the write cannot slip in: its change is
/// seen, or it waits for our COMMIT). Two statements over the same bound
/// keys (`keys` rows of the key columns, `@P2` on; `@P1` = the target's
/// watermark, the last version ctsync captured from it):
///
/// 1. the target rows of those keys, read `WITH (UPDLOCK, HOLDLOCK)`, which
///    holds update locks (and key-range locks for keys not there) until the
///    transaction ends (docs/t-sql/queries/hints-transact-sql-table.md);
///    returns the keys present;
/// 2. their changes after `@P1`: key columns, SYS_CHANGE_VERSION,
///    SYS_CHANGE_OPERATION, SYS_CHANGE_CONTEXT, and with `changed`
///    SYS_CHANGE_COLUMNS and one CHANGE_TRACKING_IS_COLUMN_IN_MASK per
///    synced column (`@Pm` = quoted table name, then the column names). A
///    separate statement, so that it runs after the locks are held. This is
///    the check of "Work with change tracking" (conflict detection against
///    the last synchronized version,
///    docs/relational-databases/track-changes/work-with-change-tracking-sql-server.md),
///    set-based for the whole batch; CHANGES rather than VERSION because it
///    also reports rows deleted on the target.
///
/// With `begin`, the request starts the transaction (`SET XACT_ABORT ON`).
/// Binds `1 + keys * key columns (+ 1 + columns)` parameters.
pub fn conflict_check(
    shape: &TableShape,
    keys: usize,
    changed: bool,
    begin: bool,
) -> Result<String, IdentError> {
    let t = shape.name.quoted();
    let k = shape.key.len();
    let mut quoted = Vec::with_capacity(k);
    for c in &shape.key {
        quoted.push(quote(c)?);
    }
    let mut tuples = Vec::with_capacity(keys);
    for i in 0..keys {
        let ps: Vec<String> = (0..k).map(|j| format!("@P{}", 2 + i * k + j)).collect();
        tuples.push(format!("({})", ps.join(", ")));
    }
    let values = format!(
        "(VALUES {}) AS K ({})",
        tuples.join(", "),
        quoted.join(", ")
    );
    let on = |alias: &str| -> String {
        quoted
            .iter()
            .map(|q| format!("{alias}.{q} = K.{q}"))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let mut sql = String::new();
    if begin {
        sql.push_str("SET XACT_ABORT ON;\nBEGIN TRANSACTION;\n");
    }
    let t_keys: Vec<String> = quoted.iter().map(|q| format!("T.{q}")).collect();
    sql.push_str(&format!(
        "SELECT {} FROM {values} JOIN {t} AS T WITH (UPDLOCK, HOLDLOCK) ON {};\n",
        t_keys.join(", "),
        on("T")
    ));
    let ct_keys: Vec<String> = quoted.iter().map(|q| format!("CT.{q}")).collect();
    sql.push_str(&format!(
        "SELECT {}, CT.SYS_CHANGE_VERSION, CT.SYS_CHANGE_OPERATION, CT.SYS_CHANGE_CONTEXT",
        ct_keys.join(", ")
    ));
    if changed {
        let base = 2 + keys * k;
        sql.push_str(", CT.SYS_CHANGE_COLUMNS");
        for i in 0..shape.columns.len() {
            sql.push_str(&format!(
                ", CHANGE_TRACKING_IS_COLUMN_IN_MASK(COLUMNPROPERTY(OBJECT_ID(@P{base}), @P{}, 'ColumnId'), CT.SYS_CHANGE_COLUMNS)",
                base + 1 + i
            ));
        }
    }
    sql.push_str(&format!(
        " FROM CHANGETABLE(CHANGES {t}, @P1) AS CT JOIN {values} ON {};\n",
        on("CT")
    ));
    Ok(sql)
}

/// The current rows of the given keys (`@P1` on, `keys` rows of the key
/// columns), every synced column in order: the target's side of conflicts,
/// read inside the transaction that holds their locks.
pub fn rows_by_key(shape: &TableShape, keys: usize) -> Result<String, IdentError> {
    let k = shape.key.len();
    let mut quoted = Vec::with_capacity(k);
    for c in &shape.key {
        quoted.push(quote(c)?);
    }
    let mut tuples = Vec::with_capacity(keys);
    for i in 0..keys {
        let ps: Vec<String> = (0..k).map(|j| format!("@P{}", 1 + i * k + j)).collect();
        tuples.push(format!("({})", ps.join(", ")));
    }
    let mut cols = Vec::with_capacity(shape.columns.len());
    for c in &shape.columns {
        cols.push(read_column("T.", c)?);
    }
    let on: Vec<String> = quoted.iter().map(|q| format!("T.{q} = K.{q}")).collect();
    Ok(format!(
        "SELECT {} FROM (VALUES {}) AS K ({}) JOIN {} AS T ON {}",
        cols.join(", "),
        tuples.join(", "),
        quoted.join(", "),
        shape.name.quoted(),
        on.join(" AND ")
    ))
}

/// The changes of `shape` after version `@P1` that carry a context, with
/// the context and the row's key: after a write whose outcome is unknown,
/// which of the agent's writes landed (`apply::outcome`). Work is bounded
/// by the changes since `@P1`, not by the table.
pub fn contexts_since(shape: &TableShape) -> Result<String, IdentError> {
    let mut cols = Vec::with_capacity(shape.key.len() + 1);
    cols.push("CT.SYS_CHANGE_CONTEXT".to_string());
    for k in &shape.key {
        cols.push(format!("CT.{}", quote(k)?));
    }
    Ok(format!(
        "SELECT {} FROM CHANGETABLE(CHANGES {}, @P1) AS CT WHERE CT.SYS_CHANGE_CONTEXT IS NOT NULL",
        cols.join(", "),
        shape.name.quoted()
    ))
}
