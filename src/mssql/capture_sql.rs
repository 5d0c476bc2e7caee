//! The T-SQL of a poll's shared requests: the request that opens the
//! poll's snapshot, and the batched per-table checks that decide which
//! tables are read at all.

use super::load_sql::{DATABASE_IDENTITY, TRACKING_STATE};
use super::statements::{TableShape, BEGIN_SNAPSHOT, CURRENT_VERSION};

/// Opens a poll, in one request: the database's identity (read before the
/// snapshot, as a restore check needs it and catalog reads inside a
/// SNAPSHOT transaction are best avoided:
/// docs/relational-databases/sql-server-transaction-locking-and-row-versioning-guide.md,
/// "Snapshot isolation and metadata"), then the SNAPSHOT transaction and
/// the current version read inside it, which starts the snapshot (a
/// snapshot transaction's snapshot is taken at its first data read).
/// Three result sets: the identity, the tables' tracking state
/// ([`TRACKING_STATE`], a catalog read too), the current version.
pub fn open_poll() -> String {
    format!("{DATABASE_IDENTITY}; {TRACKING_STATE}; {BEGIN_SNAPSHOT}; {CURRENT_VERSION}")
}

/// One table's place in [`capture_checks`]: the parameter numbers of its
/// quoted name, its watermark and its read size.
#[derive(Debug, Clone, Copy)]
pub struct CheckParams {
    pub name: usize,
    /// `None`: a table never captured (only its min valid version is read).
    pub watermark: Option<usize>,
    pub rows: usize,
}

/// Per table, one statement of one row: the table's
/// `CHANGE_TRACKING_MIN_VALID_VERSION` (NULL: not tracked), then the
/// capture ceiling ([`super::statements::capture_ceiling`]): the version of
/// the `rows`-th change after the watermark, how many changes that window
/// holds (0: nothing changed, the table is not read) and the version of
/// its first change. Every statement runs in the poll's snapshot, so the
/// checks and the reads that follow see the same changes.
/// docs/relational-databases/track-changes/work-with-change-tracking-sql-server.md,
/// "Validate the last synchronized version" and "Obtain changes".
///
/// An aggregate without GROUP BY returns one row even over no rows
/// (docs/t-sql/functions/count-big-transact-sql.md); the min valid version,
/// which references no column, may stand beside the aggregates.
pub fn capture_checks(tables: &[(&TableShape, CheckParams)]) -> String {
    let mut sql = String::with_capacity(tables.len() * 256);
    for (shape, p) in tables {
        let Some(watermark) = p.watermark else {
            sql.push_str(&format!(
                "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(@P{})), CAST(NULL AS bigint), CAST(0 AS bigint), CAST(NULL AS bigint);\n",
                p.name
            ));
            continue;
        };
        sql.push_str(&format!(
            "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(@P{})), MAX(x.v), COUNT_BIG(*), MIN(x.v) \
             FROM (SELECT TOP (@P{}) CT.SYS_CHANGE_VERSION AS v FROM CHANGETABLE(CHANGES {}, @P{}) AS CT \
             ORDER BY CT.SYS_CHANGE_VERSION) AS x;\n",
            p.name,
            p.rows,
            shape.name.quoted(),
            watermark
        ));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mssql::statements::ColumnShape;

    #[test]
    fn one_statement_per_table_with_its_parameters_and_a_quoted_name() {
        let shape = TableShape {
            name: crate::mssql::ident::TableName::new("dbo", "Or]ders").expect("name"),
            key: vec!["id".into()],
            columns: vec![ColumnShape {
                name: "id".into(),
                data_type: "int".into(),
                identity: false,
            }],
        };
        let sql = capture_checks(&[
            (
                &shape,
                CheckParams {
                    name: 2,
                    watermark: Some(1),
                    rows: 3,
                },
            ),
            (
                &shape,
                CheckParams {
                    name: 4,
                    watermark: Some(1),
                    rows: 3,
                },
            ),
            (
                &shape,
                CheckParams {
                    name: 5,
                    watermark: None,
                    rows: 3,
                },
            ),
        ]);
        assert_eq!(
            sql.matches("SELECT CHANGE_TRACKING_MIN_VALID_VERSION")
                .count(),
            3
        );
        assert_eq!(sql.matches("CHANGETABLE").count(), 2, "{sql}");
        assert!(
            sql.contains("OBJECT_ID(@P5)), CAST(NULL AS bigint)"),
            "{sql}"
        );
        assert!(sql.contains("OBJECT_ID(@P2)"), "{sql}");
        assert!(sql.contains("OBJECT_ID(@P4)"), "{sql}");
        assert!(sql.contains("TOP (@P3)"), "{sql}");
        assert!(sql.contains("CHANGES [dbo].[Or]]ders], @P1"), "{sql}");
    }
}
