//! Change Tracking through tiberius over TCP: the cases of the unit tests in
//! `src/engine/change_tracking/tests/`, driven by T-SQL as ctsync sends it.
//! Each test names the Microsoft page it follows (paths under `docs/` of
//! MicrosoftDocs/sql-docs).

mod common;

use common::*;
use tiberius::ColumnData;

/// Database name in ALTER DATABASE statements: the current one.
const SET_CT_ON: &str =
    "ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)";

fn big(c: &ColumnData<'_>) -> Option<i64> {
    match c {
        ColumnData::I64(v) => *v,
        ColumnData::I32(v) => v.map(i64::from),
        other => panic!("expected an integer, got {other:?}"),
    }
}

fn txt(c: &ColumnData<'_>) -> Option<String> {
    match c {
        ColumnData::String(v) => v.as_ref().map(|s| s.to_string()),
        other => panic!("expected a string, got {other:?}"),
    }
}

fn bin(c: &ColumnData<'_>) -> Option<Vec<u8>> {
    match c {
        ColumnData::Binary(v) => v.as_ref().map(|b| b.to_vec()),
        other => panic!("expected binary, got {other:?}"),
    }
}

fn bit(c: &ColumnData<'_>) -> Option<bool> {
    match c {
        ColumnData::Bit(v) => *v,
        other => panic!("expected bit, got {other:?}"),
    }
}

async fn current(c: &mut Conn) -> Option<i64> {
    big(&rows(c, "SELECT CHANGE_TRACKING_CURRENT_VERSION()").await[0][0])
}

/// A tracked `dbo.T (id INT PRIMARY KEY, name NVARCHAR(20), qty INT)` with
/// column tracking; returns the version right after enabling.
async fn tracked_table(c: &mut Conn) -> i64 {
    exec(c, SET_CT_ON).await;
    exec(
        c,
        "CREATE TABLE dbo.T (id INT PRIMARY KEY, name NVARCHAR(20), qty INT);
         ALTER TABLE dbo.T ENABLE CHANGE_TRACKING WITH (TRACK_COLUMNS_UPDATED = ON)",
    )
    .await;
    current(c).await.expect("tracking is on")
}

/// (id, operation, version, creation version) since `since`, ordered by id.
async fn ops(c: &mut Conn, since: &str) -> Vec<(i64, String, Option<i64>, Option<i64>)> {
    rows(
        c,
        &format!(
            "SELECT CT.id, CT.SYS_CHANGE_OPERATION, CT.SYS_CHANGE_VERSION, CT.SYS_CHANGE_CREATION_VERSION
             FROM CHANGETABLE(CHANGES dbo.T, {since}) AS CT ORDER BY CT.id"
        ),
    )
    .await
    .iter()
    .map(|r| {
        (
            big(&r[0]).expect("key"),
            txt(&r[1]).expect("operation"),
            big(&r[2]),
            big(&r[3]),
        )
    })
    .collect()
}

fn op(id: i64, o: &str, v: i64, created: Option<i64>) -> (i64, String, Option<i64>, Option<i64>) {
    (id, o.to_string(), Some(v), created)
}

// docs/relational-databases/system-functions/change-tracking-current-version-transact-sql.md
// docs/relational-databases/track-changes/work-with-change-tracking-sql-server.md (Version Numbers)
#[tokio::test]
async fn one_version_per_committed_transaction() {
    let server = start();
    let mut c = connect(&server).await;
    assert_eq!(
        current(&mut c).await,
        None,
        "NULL while the database does not track"
    );
    let v0 = tracked_table(&mut c).await;
    assert_eq!(v0, 0);
    exec(
        &mut c,
        "INSERT INTO dbo.T VALUES (1, N'a', 1), (2, N'b', 2)",
    )
    .await;
    assert_eq!(current(&mut c).await, Some(1));
    exec(
        &mut c,
        "BEGIN TRAN; INSERT INTO dbo.T VALUES (3, N'c', 3); UPDATE dbo.T SET qty = 5 WHERE id = 1; COMMIT",
    )
    .await;
    assert_eq!(current(&mut c).await, Some(2));
    assert_eq!(
        ops(&mut c, "0").await,
        vec![
            op(1, "I", 2, Some(1)),
            op(2, "I", 1, Some(1)),
            op(3, "I", 2, Some(2))
        ]
    );
}

// change-tracking-current-version-transact-sql.md: "the last committed transaction".
#[tokio::test]
async fn uncommitted_changes_are_invisible() {
    let server = start();
    let mut a = connect(&server).await;
    let mut b = connect(&server).await;
    let v0 = tracked_table(&mut a).await;
    exec(&mut a, "BEGIN TRAN; INSERT INTO dbo.T VALUES (1, N'a', 1)").await;
    assert_eq!(
        current(&mut a).await,
        Some(v0),
        "the writer's own version does not move"
    );
    assert!(ops(&mut a, "0").await.is_empty());
    assert_eq!(current(&mut b).await, Some(v0));
    exec(&mut a, "COMMIT").await;
    assert_eq!(current(&mut b).await, Some(v0 + 1));
    assert_eq!(
        ops(&mut b, "0").await,
        vec![op(1, "I", v0 + 1, Some(v0 + 1))]
    );
}

#[tokio::test]
async fn rollback_and_failed_statements_leave_no_trace() {
    let server = start();
    let mut c = connect(&server).await;
    let v0 = tracked_table(&mut c).await;
    exec(
        &mut c,
        "BEGIN TRAN; INSERT INTO dbo.T VALUES (1, N'a', 1); ROLLBACK",
    )
    .await;
    assert_eq!(current(&mut c).await, Some(v0));
    exec(&mut c, "INSERT INTO dbo.T VALUES (2, N'b', 2)").await;
    // A duplicate key fails the whole statement: row 3 is not tracked.
    assert_eq!(
        error_of(
            &mut c,
            "INSERT INTO dbo.T VALUES (3, N'c', 3), (2, N'x', 0)"
        )
        .await
        .0,
        2627
    );
    assert_eq!(current(&mut c).await, Some(v0 + 1));
    assert_eq!(
        ops(&mut c, "NULL").await,
        vec![op(2, "I", v0 + 1, Some(v0 + 1))]
    );
}

// docs/relational-databases/system-functions/changetable-transact-sql.md:
// insert at 10, update at 15: baseline 12 → U, baseline 8 → I.
#[tokio::test]
async fn insert_then_update_is_insert_before_and_update_after() {
    let server = start();
    let mut c = connect(&server).await;
    let v0 = tracked_table(&mut c).await;
    exec(&mut c, "INSERT INTO dbo.T VALUES (1, N'a', 1)").await;
    exec(&mut c, "UPDATE dbo.T SET qty = 2 WHERE id = 1").await;
    let (vi, vu) = (v0 + 1, v0 + 2);
    assert_eq!(
        ops(&mut c, &v0.to_string()).await,
        vec![op(1, "I", vu, Some(vi))]
    );
    assert_eq!(
        ops(&mut c, &vi.to_string()).await,
        vec![op(1, "U", vu, Some(vi))]
    );
    assert!(ops(&mut c, &vu.to_string()).await.is_empty());
}

// changetable-transact-sql.md folding: the last change is a delete → D.
#[tokio::test]
async fn insert_then_delete_is_a_delete() {
    let server = start();
    let mut c = connect(&server).await;
    let v0 = tracked_table(&mut c).await;
    exec(&mut c, "INSERT INTO dbo.T VALUES (1, N'a', 1)").await;
    exec(&mut c, "DELETE FROM dbo.T WHERE id = 1").await;
    assert_eq!(
        ops(&mut c, &v0.to_string()).await,
        vec![op(1, "D", v0 + 2, Some(v0 + 1))]
    );
}

// changetable-transact-sql.md: "If you delete a row and then insert a row that
// has the old primary key, the change is seen as an update to all columns".
#[tokio::test]
async fn delete_then_reinsert_is_an_update_of_all_columns() {
    let server = start();
    let mut c = connect(&server).await;
    let v0 = tracked_table(&mut c).await;
    exec(&mut c, "INSERT INTO dbo.T VALUES (1, N'a', 1)").await;
    exec(&mut c, "DELETE FROM dbo.T WHERE id = 1").await;
    exec(&mut c, "INSERT INTO dbo.T VALUES (1, N'b', 2)").await;
    let r = rows(
        &mut c,
        &format!(
            "SELECT CT.SYS_CHANGE_OPERATION, CT.SYS_CHANGE_COLUMNS FROM CHANGETABLE(CHANGES dbo.T, {}) AS CT",
            v0 + 1
        ),
    )
    .await;
    assert_eq!(txt(&r[0][0]).as_deref(), Some("U"));
    assert_eq!(bin(&r[0][1]), None);
}

// changetable-transact-sql.md: "If a primary key value changes, it is
// considered to be a delete of the old value and an insert of the new value."
#[tokio::test]
async fn update_of_a_key_is_delete_and_insert() {
    let server = start();
    let mut c = connect(&server).await;
    let v0 = tracked_table(&mut c).await;
    exec(&mut c, "INSERT INTO dbo.T VALUES (1, N'a', 1)").await;
    exec(&mut c, "UPDATE dbo.T SET id = 10 WHERE id = 1").await;
    assert_eq!(
        ops(&mut c, &(v0 + 1).to_string()).await,
        vec![
            op(1, "D", v0 + 2, Some(v0 + 1)),
            op(10, "I", v0 + 2, Some(v0 + 2))
        ]
    );
}

// changetable-transact-sql.md (SYS_CHANGE_COLUMNS) and
// docs/relational-databases/system-functions/change-tracking-is-column-in-mask-transact-sql.md
#[tokio::test]
async fn change_columns_and_column_in_mask() {
    let server = start();
    let mut c = connect(&server).await;
    let v0 = tracked_table(&mut c).await;
    exec(
        &mut c,
        "INSERT INTO dbo.T VALUES (1, N'a', 1), (2, N'b', 2)",
    )
    .await;
    let base = v0 + 1;
    exec(&mut c, "UPDATE dbo.T SET qty = 5 WHERE id = 1").await;
    exec(&mut c, "UPDATE dbo.T SET name = N'x', qty = 6 WHERE id = 2").await;
    let r = rows(
        &mut c,
        &format!(
            "SELECT CT.id, CT.SYS_CHANGE_COLUMNS,
                CHANGE_TRACKING_IS_COLUMN_IN_MASK(COLUMNPROPERTY(OBJECT_ID('dbo.T'), 'qty', 'ColumnId'), CT.SYS_CHANGE_COLUMNS),
                CHANGE_TRACKING_IS_COLUMN_IN_MASK(COLUMNPROPERTY(OBJECT_ID('dbo.T'), 'name', 'ColumnId'), CT.SYS_CHANGE_COLUMNS)
             FROM CHANGETABLE(CHANGES dbo.T, {base}) AS CT ORDER BY CT.id"
        ),
    )
    .await;
    // Row 1: only qty (column 3) → mask of one id.
    assert_eq!(bin(&r[0][1]), Some(vec![0, 0, 0, 0, 3, 0, 0, 0]));
    assert_eq!((bit(&r[0][2]), bit(&r[0][3])), (Some(true), Some(false)));
    // Row 2: every non-key column in one update → NULL ("All nonprimary key
    // columns were updated in one operation").
    assert_eq!(bin(&r[1][1]), None);
    // A second update of row 1 adds name: the union since the baseline.
    exec(&mut c, "UPDATE dbo.T SET name = N'y' WHERE id = 1").await;
    let r = rows(
        &mut c,
        &format!("SELECT CT.SYS_CHANGE_COLUMNS FROM CHANGETABLE(CHANGES dbo.T, {base}) AS CT WHERE CT.id = 1"),
    )
    .await;
    assert_eq!(
        bin(&r[0][0]),
        Some(vec![0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0])
    );
    // Inserts report NULL.
    let r = rows(
        &mut c,
        &format!("SELECT CT.SYS_CHANGE_COLUMNS FROM CHANGETABLE(CHANGES dbo.T, {v0}) AS CT WHERE CT.id = 1"),
    )
    .await;
    assert_eq!(bin(&r[0][0]), None);
}

// docs/relational-databases/system-functions/with-change-tracking-context-transact-sql.md
// and changetable-transact-sql.md (CHANGETABLE(VERSION ...)).
#[tokio::test]
async fn context_and_version_of_a_row() {
    let server = start();
    let mut c = connect(&server).await;
    let v0 = tracked_table(&mut c).await;
    exec(
        &mut c,
        "WITH CHANGE_TRACKING_CONTEXT (0x0102) INSERT INTO dbo.T VALUES (1, N'a', 1)",
    )
    .await;
    exec(&mut c, "INSERT INTO dbo.T VALUES (2, N'b', 2)").await;
    let r = rows(
        &mut c,
        &format!("SELECT CT.id, CT.SYS_CHANGE_CONTEXT FROM CHANGETABLE(CHANGES dbo.T, {v0}) AS CT ORDER BY CT.id"),
    )
    .await;
    assert_eq!(bin(&r[0][1]), Some(vec![1, 2]));
    assert_eq!(bin(&r[1][1]), None);
    let r = rows(
        &mut c,
        "SELECT CT.SYS_CHANGE_VERSION, CT.SYS_CHANGE_CONTEXT, CT.id FROM CHANGETABLE(VERSION dbo.T, (id), (1)) AS CT",
    )
    .await;
    assert_eq!(
        (big(&r[0][0]), bin(&r[0][1])),
        (Some(v0 + 1), Some(vec![1, 2]))
    );
    // varbinary(128) at most: 22109.
    let long = format!("0x{}", "AB".repeat(129));
    let (n, _) = error_of(
        &mut c,
        &format!("WITH CHANGE_TRACKING_CONTEXT ({long}) INSERT INTO dbo.T VALUES (3, N'c', 3)"),
    )
    .await;
    assert_eq!(n, 22109);
    assert_eq!(
        current(&mut c).await,
        Some(v0 + 2),
        "the failed statement took no version"
    );
}

// docs/relational-databases/system-functions/change-tracking-min-valid-version-transact-sql.md
// and changetable-transact-sql.md (TRUNCATE TABLE: "The validation fails if
// the table has been truncated").
#[tokio::test]
async fn min_valid_version_after_cleanup_and_truncate() {
    let server = start();
    let mut c = connect(&server).await;
    let v0 = tracked_table(&mut c).await;
    let min = "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID('dbo.T'))";
    assert_eq!(big(&rows(&mut c, min).await[0][0]), Some(v0));
    exec(&mut c, "INSERT INTO dbo.T VALUES (1, N'a', 1)").await;
    exec(&mut c, "INSERT INTO dbo.T VALUES (2, N'b', 2)").await;
    exec(&mut c, "EXEC mssql_sim.ct_cleanup").await;
    assert_eq!(big(&rows(&mut c, min).await[0][0]), Some(v0 + 2));
    assert!(
        ops(&mut c, "NULL").await.is_empty(),
        "cleanup dropped the change rows"
    );
    let before = current(&mut c).await.expect("tracking");
    exec(&mut c, "TRUNCATE TABLE dbo.T").await;
    let after_min = big(&rows(&mut c, min).await[0][0]).expect("tracked");
    assert!(
        after_min > before,
        "a client at {before} must fail validation (min {after_min})"
    );
    assert_eq!(
        big(&rows(
            &mut c,
            "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID('dbo.Nope'))"
        )
        .await[0][0]),
        None
    );
}

// Error numbers and texts: docs/relational-databases/errors-events/
// (1718, 4996, 4997, 5088, 22105).
#[tokio::test]
async fn errors_follow_sql_server() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.K (id INT PRIMARY KEY); CREATE TABLE dbo.H (id INT)",
    )
    .await;
    let (n, m) = error_of(&mut c, "ALTER TABLE dbo.K ENABLE CHANGE_TRACKING").await;
    assert_eq!(n, 1718, "{m}");
    exec(&mut c, SET_CT_ON).await;
    assert_eq!(error_of(&mut c, SET_CT_ON).await.0, 5088);
    let (n, m) = error_of(&mut c, "ALTER TABLE dbo.H ENABLE CHANGE_TRACKING").await;
    assert_eq!(n, 4997);
    assert!(
        m.contains("Change tracking requires a primary key on the table"),
        "{m}"
    );
    exec(&mut c, "ALTER TABLE dbo.K ENABLE CHANGE_TRACKING").await;
    assert_eq!(
        error_of(&mut c, "ALTER TABLE dbo.K ENABLE CHANGE_TRACKING")
            .await
            .0,
        4996
    );
    let (n, m) = error_of(&mut c, "SELECT * FROM CHANGETABLE(CHANGES dbo.H, 0) AS CT").await;
    assert_eq!(n, 22105);
    assert!(
        m.starts_with("Change tracking is not enabled on table"),
        "{m}"
    );
}

// docs/relational-databases/system-catalog-views/change-tracking-catalog-views-sys-change-tracking-databases.md
// docs/relational-databases/system-catalog-views/change-tracking-catalog-views-sys-change-tracking-tables.md
#[tokio::test]
async fn catalog_views() {
    let server = start();
    let mut c = connect(&server).await;
    let v0 = tracked_table(&mut c).await;
    let r = rows(
        &mut c,
        "SELECT retention_period, retention_period_units_desc FROM sys.change_tracking_databases",
    )
    .await;
    assert_eq!(
        (big(&r[0][0]), txt(&r[0][1]).as_deref()),
        (Some(2), Some("DAYS"))
    );
    let r = rows(
        &mut c,
        "SELECT min_valid_version FROM sys.change_tracking_tables WHERE object_id = OBJECT_ID('dbo.T')",
    )
    .await;
    assert_eq!(big(&r[0][0]), Some(v0));
}

/// A CHANGETABLE inner-joined to a list of keys (how ctsync checks a batch
/// for conflicts) is folded for those keys only; the rows must be exactly
/// those of the whole result filtered by key: operation, versions, columns
/// mask and context, whichever side of the join the list is on (or outer
/// joined), with
/// literals or parameters, for every baseline.
// docs/relational-databases/system-functions/changetable-transact-sql.md
// docs/relational-databases/track-changes/work-with-change-tracking-sql-server.md
#[tokio::test]
async fn changes_joined_to_a_key_list_equal_the_filtered_whole() {
    let server = start();
    let mut c = connect(&server).await;
    let v0 = tracked_table(&mut c).await;
    // A fixed pseudo-random history over keys 0..12: inserts, updates of
    // one or both columns, deletes and re-inserts, some with a context.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut present = [false; 12];
    for step in 0..160 {
        let k = next(12) as usize;
        let ctx = if next(3) == 0 {
            "WITH CHANGE_TRACKING_CONTEXT (0x6374) "
        } else {
            ""
        };
        let sql = if !present[k] {
            present[k] = true;
            format!("{ctx}INSERT INTO dbo.T VALUES ({k}, N'n{step}', {step})")
        } else {
            match next(4) {
                0 => {
                    present[k] = false;
                    format!("{ctx}DELETE FROM dbo.T WHERE id = {k}")
                }
                1 => format!("{ctx}UPDATE dbo.T SET qty = {step} WHERE id = {k}"),
                2 => format!("{ctx}UPDATE dbo.T SET name = N's{step}' WHERE id = {k}"),
                _ => {
                    format!("{ctx}UPDATE dbo.T SET name = N'b{step}', qty = {step} WHERE id = {k}")
                }
            }
        };
        exec(&mut c, &sql).await;
    }
    let end = current(&mut c).await.expect("tracking is on");
    let cols = "CT.id, CT.SYS_CHANGE_OPERATION, CT.SYS_CHANGE_VERSION, CT.SYS_CHANGE_CREATION_VERSION, CT.SYS_CHANGE_COLUMNS, CT.SYS_CHANGE_CONTEXT";
    let shape = |r: &Vec<ColumnData<'static>>| {
        (
            big(&r[0]),
            txt(&r[1]),
            big(&r[2]),
            big(&r[3]),
            bin(&r[4]),
            bin(&r[5]),
        )
    };
    let keys = [0i32, 3, 4, 7, 11, 40];
    let list: Vec<String> = keys.iter().map(|k| format!("({k})")).collect();
    let list = list.join(", ");
    let in_list: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    let in_list = in_list.join(", ");
    let mut baseline = v0;
    while baseline <= end {
        let whole = rows(
            &mut c,
            &format!(
                "SELECT {cols} FROM CHANGETABLE(CHANGES dbo.T, {baseline}) AS CT
                 WHERE CT.id IN ({in_list}) ORDER BY CT.id"
            ),
        )
        .await;
        let whole: Vec<_> = whole.iter().map(shape).collect();
        for sql in [
            format!(
                "SELECT {cols} FROM CHANGETABLE(CHANGES dbo.T, {baseline}) AS CT
                 JOIN (VALUES {list}) AS K (id) ON CT.id = K.id ORDER BY CT.id"
            ),
            format!(
                "SELECT {cols} FROM (VALUES {list}) AS K (id)
                 JOIN CHANGETABLE(CHANGES dbo.T, {baseline}) AS CT ON K.id = CT.id ORDER BY CT.id"
            ),
            // The CHANGETABLE on the NULL side of an outer join.
            format!(
                "SELECT {cols} FROM (VALUES {list}) AS K (id)
                 LEFT JOIN CHANGETABLE(CHANGES dbo.T, {baseline}) AS CT ON CT.id = K.id
                 WHERE CT.SYS_CHANGE_VERSION IS NOT NULL ORDER BY CT.id"
            ),
        ] {
            let joined: Vec<_> = rows(&mut c, &sql).await.iter().map(shape).collect();
            assert_eq!(joined, whole, "baseline {baseline}: {sql}");
        }
        // Parameters, as ctsync binds them (sp_executesql).
        let marks: Vec<String> = (0..keys.len()).map(|i| format!("(@P{})", i + 2)).collect();
        let sql = format!(
            "SELECT {cols} FROM CHANGETABLE(CHANGES dbo.T, @P1) AS CT
             JOIN (VALUES {}) AS K (id) ON CT.id = K.id ORDER BY CT.id",
            marks.join(", ")
        );
        let mut params: Vec<&dyn tiberius::ToSql> = vec![&baseline];
        for k in &keys {
            params.push(k);
        }
        let got = c
            .query(sql.as_str(), &params)
            .await
            .expect("query")
            .into_first_result()
            .await
            .expect("rows");
        let got: Vec<_> = got
            .into_iter()
            .map(|r| shape(&r.into_iter().collect()))
            .collect();
        assert_eq!(got, whole, "baseline {baseline}, parameters");
        baseline += 7;
    }
}

/// One connection reads CHANGETABLE again and again, over tables whose keys
/// differ in type and number, inside transactions that roll back and after
/// a table is dropped and created again with another key: each read returns
/// that table's changes only (the stand-in reuses its result tables from one
/// statement to the next; nothing of an earlier read may show through).
#[tokio::test]
async fn repeated_changetable_reads_never_mix_tables_or_reads() {
    let server = start();
    let mut c = connect(&server).await;
    let v0 = tracked_table(&mut c).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.S (code NVARCHAR(10), line INT, PRIMARY KEY (code, line));
         ALTER TABLE dbo.S ENABLE CHANGE_TRACKING;
         INSERT INTO dbo.T VALUES (1, N'a', 1), (2, N'b', 2);
         INSERT INTO dbo.S VALUES (N'x', 1)",
    )
    .await;
    let t_sql = format!("SELECT CT.id FROM CHANGETABLE(CHANGES dbo.T, {v0}) AS CT ORDER BY CT.id");
    let s_sql = format!(
        "SELECT CT.code, CT.line FROM CHANGETABLE(CHANGES dbo.S, {v0}) AS CT ORDER BY CT.line"
    );
    let ids = |r: Vec<Vec<ColumnData<'static>>>| -> Vec<Option<i64>> {
        r.iter().map(|r| big(&r[0])).collect()
    };
    for round in 0..3 {
        assert_eq!(
            ids(rows(&mut c, &t_sql).await),
            vec![Some(1), Some(2)],
            "round {round}"
        );
        let s = rows(&mut c, &s_sql).await;
        assert_eq!(s.len(), 1, "round {round}");
        assert_eq!((txt(&s[0][0]), big(&s[0][1])), (Some("x".into()), Some(1)));
        // A read inside a transaction that rolls back, then one outside.
        exec(&mut c, "BEGIN TRANSACTION").await;
        assert_eq!(ids(rows(&mut c, &t_sql).await), vec![Some(1), Some(2)]);
        exec(&mut c, "ROLLBACK").await;
        let only_two = format!(
            "SELECT CT.id FROM CHANGETABLE(CHANGES dbo.T, {v0}) AS CT JOIN (VALUES (2), (9)) AS K (id) ON CT.id = K.id"
        );
        assert_eq!(ids(rows(&mut c, &only_two).await), vec![Some(2)]);
    }
    // The same name, another key: the result has the new shape.
    exec(
        &mut c,
        "DROP TABLE dbo.S;
         CREATE TABLE dbo.S (code NVARCHAR(10) PRIMARY KEY, note NVARCHAR(10));
         ALTER TABLE dbo.S ENABLE CHANGE_TRACKING;
         INSERT INTO dbo.S VALUES (N'y', N'n')",
    )
    .await;
    let s = rows(
        &mut c,
        &format!(
            "SELECT CT.code, CT.SYS_CHANGE_OPERATION FROM CHANGETABLE(CHANGES dbo.S, {v0}) AS CT"
        ),
    )
    .await;
    assert_eq!(s.len(), 1);
    assert_eq!(
        (txt(&s[0][0]), txt(&s[0][1])),
        (Some("y".into()), Some("I".into()))
    );
}
