//! T-SQL of the tables' catalog reads at set-up and in `check`: columns,
//! primary key and change-tracking state of many tables in one request.
//!
//! One request holds [`CATALOG_TABLES_PER_REQUEST`] tables at most; each
//! table contributes four statements (and so four result sets, empty ones
//! included), in this order:
//! 1. [`statements::TABLE_COLUMNS`]: the columns,
//! 2. [`statements::TABLE_TRACKED`]: whether change tracking is on,
//! 3. [`statements::PRIMARY_KEY`]: the primary key's columns,
//! 4. [`statements::TABLE_TRACKS_COLUMNS`]: whether it tracks columns.
//!
//! Parameters: three per table, `@P(3i+1)` = the quoted name, `@P(3i+2)`
//! the schema, `@P(3i+3)` the table name, for the i-th table (from 0).
//! Names are bound values, never text of the statement.

use super::statements;

/// Tables per catalog request: 4 statements and 3 parameters each, so a
/// request stays far below SQL Server's 2,100 parameters and small on the
/// wire, while 1,000 tables need 20 requests instead of 3,000.
pub const CATALOG_TABLES_PER_REQUEST: usize = 50;

/// Result sets per table in [`catalog`]'s answer.
pub const RESULT_SETS_PER_TABLE: usize = 4;

/// Renumbers `@Pn` in `sql` to `@P(map[n-1])`.
fn renumber(sql: &str, map: &[usize]) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(i) = rest.find("@P") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match after[..digits]
            .parse::<usize>()
            .ok()
            .and_then(|n| map.get(n.wrapping_sub(1)))
        {
            Some(m) => out.push_str(&format!("@P{m}")),
            None => out.push_str(&rest[i..i + 2 + digits]),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// The catalog reads of `tables` tables (see the module doc).
pub fn catalog(tables: usize) -> String {
    let mut parts = Vec::with_capacity(tables * RESULT_SETS_PER_TABLE);
    for i in 0..tables {
        let (quoted, schema, name) = (3 * i + 1, 3 * i + 2, 3 * i + 3);
        parts.push(renumber(statements::TABLE_COLUMNS, &[quoted, schema, name]));
        parts.push(renumber(statements::TABLE_TRACKED, &[quoted]));
        parts.push(renumber(statements::PRIMARY_KEY, &[schema, name]));
        parts.push(renumber(statements::TABLE_TRACKS_COLUMNS, &[quoted]));
    }
    parts.join(";\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renumbered_per_table() {
        let sql = catalog(4);
        assert_eq!(sql.matches(";\n").count(), 4 * RESULT_SETS_PER_TABLE - 1);
        // The fourth table's block uses @P10..@P12 only.
        let last: Vec<&str> = sql.split(";\n").skip(12).collect();
        let text = last.join(" ");
        for p in ["@P10", "@P11", "@P12"] {
            assert!(text.contains(p), "{p} in {text}");
        }
        assert!(
            !text.contains("@P1)") && !text.contains("@P2 ") && !text.contains("@P9"),
            "{text}"
        );
        assert_eq!(
            renumber("a = @P1 AND b = @P2", &[7, 12]),
            "a = @P7 AND b = @P12"
        );
        assert_eq!(renumber("@P", &[1]), "@P");
    }
}
