//! T-SQL of the initial load (and re-initialisation): key-ordered chunk reads
//! of the source, the target's existing keys, and existence checks for the
//! removal of rows only the target has. Identifiers are quoted by
//! [`super::ident`]; values (chunk size, keys) are bound parameters.
//!
//! Key-ordered paging ("keyset pagination") reads each chunk with an index
//! seek after the last key of the previous chunk, so a chunk costs the same
//! at the end of a large table as at its start, and a resumed load starts
//! exactly after the last chunk it finished.

use super::ident::{quote, IdentError};
use super::statements::TableShape;

/// `SELECT TOP (@P1) <columns> FROM t [WHERE key > (@P2, ...)] ORDER BY key`
/// (`descending`: `key < ...` and `ORDER BY key DESC`, for `latest: N`).
/// Parameters: `@P1` = rows, then the last key's values when `after_key`.
pub fn chunk(shape: &TableShape, after_key: bool, descending: bool) -> Result<String, IdentError> {
    let cols = shape
        .columns
        .iter()
        .map(|c| super::statements::read_column("", c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut sql = format!(
        "SELECT TOP (@P1) {} FROM {}",
        cols.join(", "),
        shape.name.quoted()
    );
    if after_key {
        sql.push_str(" WHERE ");
        sql.push_str(&keyset_predicate(shape, 2, descending)?);
    }
    sql.push_str(" ORDER BY ");
    let dir = if descending { " DESC" } else { "" };
    let order = shape
        .key
        .iter()
        .map(|k| quote(k).map(|q| format!("{q}{dir}")))
        .collect::<Result<Vec<_>, _>>()?;
    sql.push_str(&order.join(", "));
    Ok(sql)
}

/// `(k1 > @Pn) OR (k1 = @Pn AND k2 > @Pn+1) ...`: rows after a composite
/// key in key order, parameters numbered from `first`.
fn keyset_predicate(
    shape: &TableShape,
    first: usize,
    descending: bool,
) -> Result<String, IdentError> {
    let cmp = if descending { "<" } else { ">" };
    let mut alternatives = Vec::with_capacity(shape.key.len());
    for i in 0..shape.key.len() {
        let mut parts = Vec::with_capacity(i + 1);
        for (j, k) in shape.key.iter().enumerate().take(i) {
            parts.push(format!("{} = @P{}", quote(k)?, first + j));
        }
        parts.push(format!("{} {cmp} @P{}", quote(&shape.key[i])?, first + i));
        alternatives.push(format!("({})", parts.join(" AND ")));
    }
    Ok(format!("({})", alternatives.join(" OR ")))
}

/// What identifies the database a connection reached: `name#database_id`
/// notices a failover to another database under the same name
/// (docs/relational-databases/system-catalog-views/sys-databases-transact-sql.md),
/// and `#recovery_fork_guid` a restore — every RESTORE starts a new
/// recovery fork, even one from a backup whose change-tracking version has
/// since been overtaken, which the version going backwards would miss
/// (docs/relational-databases/system-catalog-views/sys-database-recovery-status-transact-sql.md,
/// docs/relational-databases/backup-restore/recovery-paths-sql-server.md).
/// The fork is empty where the view shows no row (no permission).
pub const DATABASE_IDENTITY: &str = "SELECT CONCAT(name, N'#', database_id, N'#', \
     (SELECT recovery_fork_guid FROM sys.database_recovery_status WHERE database_id = DB_ID())) \
     FROM sys.databases WHERE name = DB_NAME()";

/// The state of change tracking on the database's tables as one text:
/// how many tables are tracked, and the sums of their begin and min valid
/// versions and of their column-tracking flags
/// (docs/relational-databases/system-catalog-views/change-tracking-catalog-views-sys-change-tracking-tables.md).
/// Tracking turned off or on for a table, a TRUNCATE or a cleanup changes
/// it, and none of them needs to move the current version (changes made
/// while a table is not tracked take no version), so an idle poll compares
/// it too. One aggregate over a catalog view of one row per tracked
/// table: no statement per table.
pub const TRACKING_STATE: &str = "SELECT CONCAT(COUNT_BIG(*), N'#', SUM(begin_version), N'#', \
     SUM(min_valid_version), N'#', SUM(CAST(is_track_columns_updated_on AS int))) \
     FROM sys.change_tracking_tables";

/// The idle poll's one request: the current version, then
/// [`DATABASE_IDENTITY`], then [`TRACKING_STATE`].
pub fn version_and_identity() -> String {
    format!(
        "{}; {DATABASE_IDENTITY}; {TRACKING_STATE}",
        super::statements::CURRENT_VERSION
    )
}

/// `SELECT COUNT_BIG(*) FROM t`: the progress total.
pub fn count(shape: &TableShape) -> String {
    format!("SELECT COUNT_BIG(*) FROM {}", shape.name.quoted())
}

/// The key columns of the rows of `t` whose key is one of `n` keys
/// (`(k1 = @P1 AND k2 = @P2) OR ...`): which of a chunk's keys exist.
pub fn existing_keys(shape: &TableShape, n: usize) -> Result<String, IdentError> {
    let keys = shape
        .key
        .iter()
        .map(|k| quote(k))
        .collect::<Result<Vec<_>, _>>()?;
    let width = keys.len();
    if width == 1 && n > 0 {
        let params: Vec<String> = (1..=n).map(|i| format!("@P{i}")).collect();
        return Ok(format!(
            "SELECT {k} FROM {} WHERE {k} IN ({})",
            shape.name.quoted(),
            params.join(", "),
            k = keys[0]
        ));
    }
    let mut alternatives = Vec::with_capacity(n);
    for i in 0..n {
        let parts: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(j, k)| format!("{k} = @P{}", i * width + j + 1))
            .collect();
        alternatives.push(format!("({})", parts.join(" AND ")));
    }
    Ok(format!(
        "SELECT {} FROM {} WHERE {}",
        keys.join(", "),
        shape.name.quoted(),
        if alternatives.is_empty() {
            "1 = 0".to_string()
        } else {
            alternatives.join(" OR ")
        }
    ))
}

/// The last change-tracking context of each of `n` keys of `t`:
/// `SELECT CT.k..., CT.SYS_CHANGE_CONTEXT FROM CHANGETABLE(CHANGES t, NULL)
/// AS CT JOIN (VALUES (@P1, ...), ...) AS K (k...) ON CT.k = K.k ...` (keys
/// with no retained change return no row). NULL asks for every retained
/// change ("If the value is NULL, all tracked changes are returned",
/// docs/relational-databases/system-functions/changetable-transact-sql.md);
/// the join to the chunk's keys bounds the result to them (whether SQL
/// Server seeks its change table per key or scans it is not measured here). The second pass of a `both` load leaves out the rows whose last
/// change this agent wrote (they came from the other side).
pub fn last_contexts(shape: &TableShape, n: usize) -> Result<String, IdentError> {
    let keys = shape
        .key
        .iter()
        .map(|k| quote(k))
        .collect::<Result<Vec<_>, _>>()?;
    let width = keys.len();
    let tuples: Vec<String> = (0..n.max(1))
        .map(|i| {
            let ps: Vec<String> = (0..width)
                .map(|j| format!("@P{}", i * width + j + 1))
                .collect();
            format!("({})", ps.join(", "))
        })
        .collect();
    let ct: Vec<String> = keys.iter().map(|k| format!("CT.{k}")).collect();
    let on: Vec<String> = keys.iter().map(|k| format!("CT.{k} = K.{k}")).collect();
    Ok(format!(
        "SELECT {}, CT.SYS_CHANGE_CONTEXT FROM CHANGETABLE(CHANGES {}, NULL) AS CT \
         JOIN (VALUES {}) AS K ({}) ON {}",
        ct.join(", "),
        shape.name.quoted(),
        tuples.join(", "),
        keys.join(", "),
        on.join(" AND ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mssql::ident::TableName;
    use crate::mssql::statements::ColumnShape;

    fn shape(key: &[&str]) -> TableShape {
        TableShape {
            name: TableName::new("dbo", "Lines").expect("name"),
            key: key.iter().map(|k| k.to_string()).collect(),
            columns: ["order_id", "line_no", "sku"]
                .iter()
                .map(|c| ColumnShape {
                    name: c.to_string(),
                    data_type: "int".into(),
                    identity: false,
                })
                .collect(),
        }
    }

    #[test]
    fn composite_keyset_chunk() {
        let s = chunk(&shape(&["order_id", "line_no"]), true, false).expect("sql");
        assert_eq!(
            s,
            "SELECT TOP (@P1) [order_id], [line_no], [sku] FROM [dbo].[Lines] WHERE (([order_id] > @P2) OR ([order_id] = @P2 AND [line_no] > @P3)) ORDER BY [order_id], [line_no]"
        );
        let s = chunk(&shape(&["order_id"]), false, true).expect("sql");
        assert!(s.ends_with("ORDER BY [order_id] DESC"), "{s}");
    }

    #[test]
    fn last_contexts_joins_the_keys() {
        let s = last_contexts(&shape(&["order_id", "line_no"]), 2).expect("sql");
        assert_eq!(
            s,
            "SELECT CT.[order_id], CT.[line_no], CT.SYS_CHANGE_CONTEXT FROM CHANGETABLE(CHANGES [dbo].[Lines], NULL) AS CT \
             JOIN (VALUES (@P1, @P2), (@P3, @P4)) AS K ([order_id], [line_no]) ON CT.[order_id] = K.[order_id] AND CT.[line_no] = K.[line_no]"
        );
    }

    #[test]
    fn existing_keys_binds_every_value() {
        let s = existing_keys(&shape(&["order_id", "line_no"]), 2).expect("sql");
        assert!(
            s.contains(
                "([order_id] = @P1 AND [line_no] = @P2) OR ([order_id] = @P3 AND [line_no] = @P4)"
            ),
            "{s}"
        );
        assert!(existing_keys(&shape(&["order_id"]), 0)
            .expect("sql")
            .ends_with("WHERE 1 = 0"));
    }
}
