//! The change-tracking cases driven by T-SQL through an engine session (no
//! network): what ctsync's statements see. Column types are checked too,
//! since the result metadata is what a client decodes.

use crate::engine::tests::{engine, err, ok, rows, run};
use crate::engine::Session;
use crate::value::{SqlType, Value};

const SET_CT_ON: &str = "ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON";

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Null => None,
        other => panic!("expected an integer, got {other:?}"),
    }
}

fn current(s: &mut Session) -> Option<i64> {
    int(&rows(s, "SELECT CHANGE_TRACKING_CURRENT_VERSION()")[0][0])
}

fn tracked(s: &mut Session) -> i64 {
    ok(s, SET_CT_ON);
    ok(
        s,
        "CREATE TABLE dbo.T (id INT PRIMARY KEY, name NVARCHAR(20), qty INT);
         ALTER TABLE dbo.T ENABLE CHANGE_TRACKING WITH (TRACK_COLUMNS_UPDATED = ON)",
    );
    current(s).expect("tracking on")
}

/// (id, op, version, creation version), ordered by id.
fn ops(s: &mut Session, since: &str) -> Vec<(i64, String, Option<i64>, Option<i64>)> {
    rows(
        s,
        &format!(
            "SELECT CT.id, CT.SYS_CHANGE_OPERATION, CT.SYS_CHANGE_VERSION, CT.SYS_CHANGE_CREATION_VERSION
             FROM CHANGETABLE(CHANGES dbo.T, {since}) AS CT ORDER BY CT.id"
        ),
    )
    .iter()
    .map(|r| {
        let op = match &r[1] {
            Value::String(s) => s.clone(),
            other => panic!("operation {other:?}"),
        };
        (int(&r[0]).expect("key"), op, int(&r[2]), int(&r[3]))
    })
    .collect()
}

fn op(id: i64, o: &str, v: i64, c: Option<i64>) -> (i64, String, Option<i64>, Option<i64>) {
    (id, o.to_string(), Some(v), c)
}

// changetable-transact-sql.md: result columns and their types.
#[test]
fn changetable_result_types_follow_the_docs() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    tracked(&mut s);
    ok(&mut s, "INSERT INTO dbo.T VALUES (1, N'a', 1)");
    let c = run(&mut s, "SELECT * FROM CHANGETABLE(CHANGES dbo.T, 0) AS CT");
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let names: Vec<(String, SqlType)> =
        c.sets[0].0.iter().map(|m| (m.name.clone(), m.ty)).collect();
    assert_eq!(
        names[0],
        ("SYS_CHANGE_VERSION".to_string(), SqlType::BigInt)
    );
    assert_eq!(
        names[1],
        ("SYS_CHANGE_CREATION_VERSION".to_string(), SqlType::BigInt)
    );
    assert_eq!(
        names[2],
        ("SYS_CHANGE_OPERATION".to_string(), SqlType::NChar(1))
    );
    assert_eq!(names[3].0, "SYS_CHANGE_COLUMNS");
    assert_eq!(names[4].0, "SYS_CHANGE_CONTEXT");
    assert_eq!(names[5], ("id".to_string(), SqlType::Int));
    assert_eq!(names.len(), 6);
}

// changetable-transact-sql.md folding rules, relative to the baseline.
#[test]
fn folding_through_statements() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    let v0 = tracked(&mut s);
    ok(
        &mut s,
        "INSERT INTO dbo.T VALUES (1, N'a', 1), (2, N'b', 2), (3, N'c', 3)",
    ); // v0+1
    ok(&mut s, "UPDATE dbo.T SET qty = 10 WHERE id = 1"); // v0+2
    ok(&mut s, "DELETE FROM dbo.T WHERE id = 2"); // v0+3
    ok(&mut s, "INSERT INTO dbo.T VALUES (2, N'bb', 2)"); // v0+4
    ok(&mut s, "UPDATE dbo.T SET id = 30 WHERE id = 3"); // v0+5
    let b = v0 + 1;
    assert_eq!(
        ops(&mut s, &v0.to_string()),
        vec![
            op(1, "I", v0 + 2, Some(b)),
            op(2, "I", v0 + 4, Some(v0 + 4)),
            op(3, "D", v0 + 5, Some(b)),
            op(30, "I", v0 + 5, Some(v0 + 5)),
        ]
    );
    assert_eq!(
        ops(&mut s, &b.to_string()),
        vec![
            op(1, "U", v0 + 2, Some(b)),
            op(2, "U", v0 + 4, Some(v0 + 4)),
            op(3, "D", v0 + 5, Some(b)),
            op(30, "I", v0 + 5, Some(v0 + 5)),
        ]
    );
    // Delete + re-insert: all columns (NULL), even though only name changed.
    let r = rows(
        &mut s,
        &format!("SELECT CT.SYS_CHANGE_COLUMNS FROM CHANGETABLE(CHANGES dbo.T, {b}) AS CT WHERE CT.id = 2"),
    );
    assert_eq!(r, vec![vec![Value::Null]]);
    // NULL baseline: everything kept.
    assert_eq!(ops(&mut s, "NULL"), ops(&mut s, &v0.to_string()));
    // A baseline passed as a bigint parameter, as ctsync sends it.
    assert_eq!(current(&mut s), Some(v0 + 5));
}

// changetable-transact-sql.md (SYS_CHANGE_COLUMNS) and
// change-tracking-is-column-in-mask-transact-sql.md (returns bit).
#[test]
fn masks_through_statements() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    let v0 = tracked(&mut s);
    ok(
        &mut s,
        "INSERT INTO dbo.T VALUES (1, N'a', 1), (2, N'b', 2)",
    );
    let b = v0 + 1;
    ok(&mut s, "UPDATE dbo.T SET qty = 5 WHERE id = 1");
    ok(&mut s, "UPDATE dbo.T SET name = N'x', qty = 6 WHERE id = 2");
    ok(&mut s, "UPDATE dbo.T SET name = N'y' WHERE id = 1");
    let r = rows(
        &mut s,
        &format!(
            "SELECT CT.SYS_CHANGE_COLUMNS,
                CHANGE_TRACKING_IS_COLUMN_IN_MASK(COLUMNPROPERTY(OBJECT_ID('dbo.T'), 'qty', 'ColumnId'), CT.SYS_CHANGE_COLUMNS),
                CHANGE_TRACKING_IS_COLUMN_IN_MASK(COLUMNPROPERTY(OBJECT_ID('dbo.T'), 'name', 'ColumnId'), CT.SYS_CHANGE_COLUMNS),
                CHANGE_TRACKING_IS_COLUMN_IN_MASK(1, CT.SYS_CHANGE_COLUMNS)
             FROM CHANGETABLE(CHANGES dbo.T, {b}) AS CT ORDER BY CT.id"
        ),
    );
    assert_eq!(
        r[0],
        vec![
            Value::Binary(vec![0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]),
            Value::Int(1),
            Value::Int(1),
            Value::Int(0)
        ]
    );
    assert_eq!(r[1][0], Value::Null, "every non-key column in one update");
}

// with-change-tracking-context-transact-sql.md; changetable-transact-sql.md
// (CHANGETABLE(VERSION ...)); errors-events 22000-22999 (22109).
#[test]
fn context_version_and_context_errors() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    let v0 = tracked(&mut s);
    ok(
        &mut s,
        "WITH CHANGE_TRACKING_CONTEXT (0x0102) INSERT INTO dbo.T VALUES (1, N'a', 1)",
    );
    let r = rows(&mut s, "SELECT CT.SYS_CHANGE_VERSION, CT.SYS_CHANGE_CONTEXT, CT.id FROM CHANGETABLE(VERSION dbo.T, (id), (1)) AS CT");
    assert_eq!(
        r,
        vec![vec![
            Value::Int(v0 + 1),
            Value::Binary(vec![1, 2]),
            Value::Int(1)
        ]]
    );
    // A key the table does not have: an empty result set.
    let r = rows(
        &mut s,
        "SELECT CT.SYS_CHANGE_VERSION FROM CHANGETABLE(VERSION dbo.T, (id), (99)) AS CT",
    );
    assert!(r.is_empty(), "{r:?}");
    // Example D of changetable-transact-sql.md: the conflict check.
    let r = rows(
        &mut s,
        "SELECT ISNULL((SELECT CT.SYS_CHANGE_VERSION FROM CHANGETABLE(VERSION dbo.T, (id), (1)) AS CT), 0)",
    );
    assert_eq!(r, vec![vec![Value::Int(v0 + 1)]]);
    let long = format!("0x{}", "AB".repeat(129));
    let e = err(
        &mut s,
        &format!("WITH CHANGE_TRACKING_CONTEXT ({long}) INSERT INTO dbo.T VALUES (3, N'c', 3)"),
    );
    assert_eq!(e.number, 22109);
    assert_eq!(current(&mut s), Some(v0 + 1));
    assert_eq!(
        rows(&mut s, "SELECT COUNT(*) FROM dbo.T"),
        vec![vec![Value::Int(1)]]
    );
}

// changetable-transact-sql.md: TRUNCATE TABLE resets tracking and
// validation of older versions fails.
#[test]
fn truncate_through_statements() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    let v0 = tracked(&mut s);
    ok(&mut s, "INSERT INTO dbo.T VALUES (1, N'a', 1)");
    let before = current(&mut s).expect("on");
    ok(&mut s, "TRUNCATE TABLE dbo.T");
    let min = int(&rows(
        &mut s,
        "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID('dbo.T'))",
    )[0][0]);
    assert!(min.expect("tracked") > before);
    assert_eq!(ops(&mut s, &v0.to_string()), vec![]);
    // Tracking goes on after the truncate.
    ok(&mut s, "INSERT INTO dbo.T VALUES (2, N'b', 2)");
    let cur = current(&mut s).expect("on");
    assert_eq!(
        ops(&mut s, &min.unwrap_or(0).to_string()),
        vec![op(2, "I", cur, Some(cur))]
    );
}
