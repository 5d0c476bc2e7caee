//! T-SQL of the schema watcher (`agent::schema_watch`): one read per server
//! per check of every column of the synced tables, from
//! `INFORMATION_SCHEMA.COLUMNS`
//! (docs/relational-databases/system-information-schema-views/columns-transact-sql.md).
//! Names and types only, so the check costs one request whatever changed;
//! a table whose columns differ from the last check is then read in full
//! (`statements::TABLE_COLUMNS`).

/// Tables per request: two bound values each, well inside SQL Server's
/// 2,100 parameters.
pub const TABLES_PER_REQUEST_MAX: usize = 900;

/// The columns of `n` tables, `(@P1, @P2)`, `(@P3, @P4)`, ... = (schema,
/// table): schema, table, column, type, length, precision, scale,
/// nullability, in column order.
pub fn columns_of(n: usize) -> String {
    let tables: Vec<String> = (0..n.max(1))
        .map(|i| {
            format!(
                "(c.TABLE_SCHEMA = @P{} AND c.TABLE_NAME = @P{})",
                2 * i + 1,
                2 * i + 2
            )
        })
        .collect();
    format!(
        "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, \
         CAST(c.CHARACTER_MAXIMUM_LENGTH AS INT), CAST(c.NUMERIC_PRECISION AS INT), \
         CAST(c.NUMERIC_SCALE AS INT), c.IS_NULLABLE \
         FROM INFORMATION_SCHEMA.COLUMNS AS c WHERE {} \
         ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION",
        tables.join(" OR ")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn binds_two_values_per_table() {
        let s = super::columns_of(2);
        assert!(s.contains("(c.TABLE_SCHEMA = @P1 AND c.TABLE_NAME = @P2) OR (c.TABLE_SCHEMA = @P3 AND c.TABLE_NAME = @P4)"), "{s}");
    }
}
