//! Batches and syntax errors.

use super::*;

#[test]
fn batch_splits_statements_with_lines_and_texts() {
    let sql = "SET NOCOUNT ON;\nSELECT 1\n\nUPDATE t SET a = 1 WHERE b = 2\nDELETE FROM t;;";
    let v = parse_batch(sql).unwrap_or_default();
    assert_eq!(v.len(), 4);
    assert_eq!((v[0].line, v[0].text.as_str()), (1, "SET NOCOUNT ON"));
    assert_eq!((v[1].line, v[1].text.as_str()), (2, "SELECT 1"));
    assert_eq!(
        (v[2].line, v[2].text.as_str()),
        (4, "UPDATE t SET a = 1 WHERE b = 2")
    );
    assert_eq!((v[3].line, v[3].text.as_str()), (5, "DELETE FROM t"));
    assert_eq!(parse_batch("  -- only a comment\n /* x */ ;"), Ok(vec![]));
}

#[test]
fn go_is_not_tsql() {
    let e = err("CREATE TABLE t (a int)\nGO\n");
    assert_eq!(e.number, 102);
    assert_eq!(e.message, "Incorrect syntax near 'GO'.");
    assert_eq!(e.line, 2);
}

#[test]
fn syntax_errors_as_sql_server_words_them() {
    let e = err("SELECT * FROM");
    assert_eq!((e.number, e.class), (156, 15));
    assert_eq!(e.message, "Incorrect syntax near the keyword 'FROM'.");
    let e = err("SELECT a,\nFROM t");
    assert_eq!((e.number, e.line), (156, 2));
    let e = err("SELECT 1 +");
    assert_eq!(e.message, "Incorrect syntax near '+'.");
    let e = err("SELECT * FROM t WHERE");
    assert_eq!(e.message, "Incorrect syntax near the keyword 'WHERE'.");
    let e = err("UPDATE t SET a = 1\n\nWHERE a = = 2");
    assert_eq!(
        (e.number, e.line, e.message.as_str()),
        (102, 3, "Incorrect syntax near '='.")
    );
    let e = err("SELECT 1 FOO BAR");
    assert_eq!(e.message, "Incorrect syntax near 'BAR'.");
    let e = err("SELECT 1\nFOO BAR");
    assert_eq!((e.number, e.line), (102, 2));
    let e = err("SELECT 'abc");
    assert_eq!(e.number, 105);
    let e = err("CREATE TABLE t (a int");
    assert_eq!(e.message, "Incorrect syntax near 'int'.");
}

#[test]
fn unsupported_constructs_name_themselves() {
    for (sql, what) in [
        ("SELECT * FROM a CROSS APPLY b", "CROSS APPLY"),
        ("SELECT a INTO #t FROM b", "SELECT ... INTO"),
        ("GOTO done", "GOTO"),
        ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
        ("BEGIN DISTRIBUTED TRANSACTION", "distributed"),
        (
            "CREATE TRIGGER t ON dbo.x INSTEAD OF INSERT AS SELECT 1",
            "INSTEAD OF triggers",
        ),
    ] {
        let e = err(sql);
        assert!(matches!(e.number, 102 | 156), "{sql}: {e:?}");
        assert!(e.message.contains(what), "{sql}: {}", e.message);
    }
}

#[test]
fn with_must_follow_a_semicolon() {
    let e = err("UPDATE t SET a = 1\nWITH CHANGE_TRACKING_CONTEXT (0x01) DELETE FROM t");
    assert_eq!((e.number, e.line), (319, 2));
    assert!(e.message.starts_with(
        "Incorrect syntax near the keyword 'WITH'. If this statement is a common table expression"
    ));
    assert!(parse_batch("UPDATE t SET a = 1;\nWITH c AS (SELECT 1 AS x) SELECT x FROM c").is_ok());
    assert_eq!(
        err("BEGIN SELECT 1 WITH c AS (SELECT 1 AS x) SELECT x FROM c END").number,
        319
    );
}

#[test]
fn identifiers_longer_than_128_are_103() {
    let long = "x".repeat(129);
    let e = err(&format!("SELECT * FROM [{long}]"));
    assert_eq!((e.number, e.state), (103, 4));
    assert_eq!(
        e.message,
        format!(
            "The identifier that starts with '{}' is too long. Maximum length is 128.",
            &long[..128]
        )
    );
    assert!(parse_batch(&format!("SELECT * FROM {}", "y".repeat(128))).is_ok());
    // Counted in UTF-16 units, as sysname is nvarchar(128).
    assert_eq!(
        err(&format!("SELECT 1 AS [{}]", "\u{1F600}".repeat(65))).number,
        103
    );
}

#[test]
fn order_by_in_subqueries_needs_top() {
    for sql in [
        "SELECT * FROM (SELECT a FROM t ORDER BY a) d",
        "SELECT 1 WHERE a IN (SELECT a FROM t ORDER BY a)",
        "WITH c AS (SELECT a FROM t ORDER BY a) SELECT * FROM c",
    ] {
        assert_eq!(err(sql).number, 1033, "{sql}");
    }
    for sql in [
        "SELECT * FROM (SELECT TOP 5 a FROM t ORDER BY a) d",
        "SELECT (SELECT a FROM t ORDER BY a OFFSET 0 ROWS FETCH NEXT 1 ROWS ONLY)",
        "SELECT a FROM t ORDER BY a",
        "INSERT INTO u SELECT a FROM t ORDER BY a",
    ] {
        assert!(parse_batch(sql).is_ok(), "{sql}");
    }
}

#[test]
fn insert_values_takes_at_most_1000_rows() {
    let rows = |n: usize| vec!["(1)"; n].join(", ");
    assert!(parse_batch(&format!("INSERT INTO t VALUES {}", rows(1000))).is_ok());
    let e = err(&format!("INSERT INTO t VALUES {}", rows(1001)));
    assert_eq!(e.number, 10738);
    // A VALUES table source has no such limit.
    assert!(parse_batch(&format!("SELECT * FROM (VALUES {}) v(a)", rows(1001))).is_ok());
}
