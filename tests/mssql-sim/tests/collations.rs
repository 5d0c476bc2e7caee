//! Per-column collations through tiberius:
//! docs/relational-databases/collations/collation-and-unicode-support.md,
//! docs/t-sql/statements/collations.md (COLLATE),
//! docs/t-sql/statements/collation-precedence-transact-sql.md,
//! docs/relational-databases/system-catalog-views/sys-columns-transact-sql.md
//! (collation_name), errors 448, 447, 468 and 2627.

mod common;

use common::*;
use tiberius::{ColumnData, Query};

/// A cell as text (NULL as None), whatever its type.
fn cell(v: &ColumnData<'static>) -> Option<String> {
    match v {
        ColumnData::String(s) => s.as_ref().map(|s| s.to_string()),
        ColumnData::I32(i) => i.map(|i| i.to_string()),
        ColumnData::I64(i) => i.map(|i| i.to_string()),
        ColumnData::I16(i) => i.map(|i| i.to_string()),
        ColumnData::U8(i) => i.map(|i| i.to_string()),
        ColumnData::Bit(b) => b.map(|b| (b as i32).to_string()),
        other => panic!("unexpected cell {other:?}"),
    }
}

async fn col(c: &mut Conn, sql: &str) -> Vec<Option<String>> {
    rows(c, sql).await.iter().map(|r| cell(&r[0])).collect()
}

fn ids(xs: &[i32]) -> Vec<Option<String>> {
    xs.iter().map(|i| Some(i.to_string())).collect()
}

async fn fixture(c: &mut Conn) {
    exec(
        c,
        "CREATE TABLE dbo.C (id INT NOT NULL PRIMARY KEY,
            ci NVARCHAR(20) COLLATE Latin1_General_CI_AS NULL,
            cs NVARCHAR(20) COLLATE Latin1_General_CS_AS NULL,
            bn VARCHAR(20) COLLATE Latin1_General_BIN2 NULL,
            df NVARCHAR(20) NULL);
         INSERT INTO dbo.C VALUES (1, 'abc', 'abc', 'abc', 'abc'), (2, 'ABC', 'ABC', 'ABC', 'ABC'),
                                  (3, 'b', 'b', 'b', 'b'), (4, 'B', 'B', 'B', 'B')",
    )
    .await;
}

#[tokio::test]
async fn ci_cs_and_binary_columns_compare_and_sort_by_their_collation() {
    let server = start();
    let mut c = connect(&server).await;
    fixture(&mut c).await;
    let q = |w: &str| format!("SELECT id FROM dbo.C WHERE {w} ORDER BY id");
    assert_eq!(col(&mut c, &q("ci = 'abc'")).await, ids(&[1, 2]));
    assert_eq!(col(&mut c, &q("df = 'ABC'")).await, ids(&[1, 2]));
    assert_eq!(col(&mut c, &q("cs = 'abc'")).await, ids(&[1]));
    assert_eq!(col(&mut c, &q("bn = 'ABC'")).await, ids(&[2]));
    assert_eq!(col(&mut c, &q("cs <> 'abc'")).await, ids(&[2, 3, 4]));
    // Trailing spaces do not count in `=` under any collation.
    assert_eq!(col(&mut c, &q("cs = 'abc   '")).await, ids(&[1]));
    assert_eq!(col(&mut c, &q("bn = 'B '")).await, ids(&[4]));
    assert_eq!(col(&mut c, &q("ci = N'B  '")).await, ids(&[3, 4]));
    assert_eq!(col(&mut c, &q("cs IN ('ABC', 'b')")).await, ids(&[2, 3]));
    assert_eq!(col(&mut c, &q("ci IN ('ABC', 'x')")).await, ids(&[1, 2]));
    // Binary: upper case letters sort before lower case ones.
    assert_eq!(col(&mut c, &q("bn < 'a'")).await, ids(&[2, 4]));
    assert_eq!(col(&mut c, &q("ci < 'b'")).await, ids(&[1, 2]));
    assert_eq!(
        col(&mut c, &q("cs BETWEEN 'abc' AND 'b'")).await,
        ids(&[1, 2, 3])
    );
    // A parameter takes the column's collation (collation precedence).
    let r = Query::new("SELECT id FROM dbo.C WHERE cs = @P1 ORDER BY id");
    let mut q1 = r;
    q1.bind("ABC");
    let got: Vec<i32> = q1
        .query(&mut c)
        .await
        .expect("query")
        .into_first_result()
        .await
        .expect("rows")
        .iter()
        .map(|r| r.get::<i32, _>(0).expect("id"))
        .collect();
    assert_eq!(got, vec![2]);
    // ORDER BY: CI by letters (ties by id), CS lower case first, BIN2 by code point.
    assert_eq!(
        col(&mut c, "SELECT id FROM dbo.C ORDER BY ci, id").await,
        ids(&[1, 2, 3, 4])
    );
    assert_eq!(
        col(&mut c, "SELECT id FROM dbo.C ORDER BY cs").await,
        ids(&[1, 2, 3, 4])
    );
    assert_eq!(
        col(&mut c, "SELECT id FROM dbo.C ORDER BY cs DESC").await,
        ids(&[4, 3, 2, 1])
    );
    assert_eq!(
        col(&mut c, "SELECT id FROM dbo.C ORDER BY bn").await,
        ids(&[2, 4, 1, 3])
    );
    // GROUP BY and DISTINCT fold values equal under the column's collation.
    assert_eq!(
        col(
            &mut c,
            "SELECT COUNT(*) FROM (SELECT ci FROM dbo.C GROUP BY ci) g"
        )
        .await,
        ids(&[2])
    );
    assert_eq!(
        col(
            &mut c,
            "SELECT COUNT(*) FROM (SELECT cs FROM dbo.C GROUP BY cs) g"
        )
        .await,
        ids(&[4])
    );
    assert_eq!(
        col(
            &mut c,
            "SELECT COUNT(*) FROM (SELECT DISTINCT df FROM dbo.C) g"
        )
        .await,
        ids(&[2])
    );
    assert_eq!(
        col(
            &mut c,
            "SELECT COUNT(*) FROM (SELECT DISTINCT bn FROM dbo.C) g"
        )
        .await,
        ids(&[4])
    );
    // String functions keep their input's collation.
    assert!(col(&mut c, &q("LOWER(cs) = 'ABC'")).await.is_empty());
    assert_eq!(col(&mut c, &q("ISNULL(cs, '') = 'ABC'")).await, ids(&[2]));
    assert_eq!(col(&mut c, &q("LOWER(ci) = 'ABC'")).await, ids(&[1, 2]));
    // LIKE follows the collation too.
    assert_eq!(col(&mut c, &q("cs LIKE 'a%'")).await, ids(&[1]));
    assert_eq!(col(&mut c, &q("ci LIKE 'a%'")).await, ids(&[1, 2]));
    // A join on columns of one collation uses it.
    exec(
        &mut c,
        "CREATE TABLE dbo.J (k NVARCHAR(20) COLLATE Latin1_General_CS_AS NOT NULL PRIMARY KEY);
         INSERT INTO dbo.J VALUES ('ABC')",
    )
    .await;
    assert_eq!(
        col(&mut c, "SELECT C.id FROM dbo.C JOIN dbo.J ON J.k = C.cs").await,
        ids(&[2])
    );
}

#[tokio::test]
async fn accent_sensitivity() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.A (id INT NOT NULL PRIMARY KEY,
            ai NVARCHAR(20) COLLATE Latin1_General_CI_AI NULL,
            asv NVARCHAR(20) COLLATE Latin1_General_CI_AS NULL,
            csai NVARCHAR(20) COLLATE Latin1_General_CS_AI NULL);
         INSERT INTO dbo.A VALUES (1, N'café', N'café', N'café'), (2, N'cafe', N'cafe', N'cafe'),
                                  (3, N'Cafe', N'Cafe', N'Cafe')",
    )
    .await;
    let q = |w: &str| format!("SELECT id FROM dbo.A WHERE {w} ORDER BY id");
    assert_eq!(col(&mut c, &q("ai = N'CAFE'")).await, ids(&[1, 2, 3]));
    assert_eq!(col(&mut c, &q("asv = N'CAFE'")).await, ids(&[2, 3]));
    assert_eq!(col(&mut c, &q("asv = N'CAFÉ'")).await, ids(&[1]));
    assert_eq!(col(&mut c, &q("csai = N'cafè'")).await, ids(&[1, 2]));
    // é sorts with e, before f.
    assert_eq!(
        col(
            &mut c,
            "SELECT id FROM dbo.A WHERE asv < N'cafg' ORDER BY id"
        )
        .await,
        ids(&[1, 2, 3])
    );
    // An accent-insensitive key folds é and e into one key.
    exec(
        &mut c,
        "CREATE TABLE dbo.K (k NVARCHAR(10) COLLATE Latin1_General_CI_AI NOT NULL PRIMARY KEY)",
    )
    .await;
    exec(&mut c, "INSERT INTO dbo.K VALUES (N'résumé')").await;
    let (n, _) = error_of(&mut c, "INSERT INTO dbo.K VALUES (N'RESUME')").await;
    assert_eq!(n, 2627);
}

#[tokio::test]
async fn key_uniqueness_follows_the_key_columns_collation() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.KCI (k NVARCHAR(10) NOT NULL CONSTRAINT PK_KCI PRIMARY KEY);
         CREATE TABLE dbo.KCS (k NVARCHAR(10) COLLATE SQL_Latin1_General_CP1_CS_AS NOT NULL PRIMARY KEY);
         CREATE TABLE dbo.KB (k VARCHAR(10) COLLATE Latin1_General_100_BIN2 NOT NULL PRIMARY KEY);
         CREATE TABLE dbo.U (id INT NOT NULL PRIMARY KEY,
            cs VARCHAR(10) COLLATE Latin1_General_CS_AS NULL CONSTRAINT UQ_U_cs UNIQUE,
            ci VARCHAR(10) NULL);
         CREATE UNIQUE INDEX IX_U_ci ON dbo.U (ci)",
    )
    .await;
    exec(&mut c, "INSERT INTO dbo.KCI VALUES ('a')").await;
    let (n, m) = error_of(&mut c, "INSERT INTO dbo.KCI VALUES ('A')").await;
    assert_eq!(n, 2627, "{m}");
    assert!(m.contains("PK_KCI") && m.contains("(A)"), "{m}");
    exec(&mut c, "INSERT INTO dbo.KCS VALUES ('a'), ('A')").await;
    let (n, _) = error_of(&mut c, "INSERT INTO dbo.KCS VALUES ('a  ')").await;
    assert_eq!(n, 2627, "trailing spaces do not make another key");
    exec(&mut c, "INSERT INTO dbo.KB VALUES ('a'), ('A')").await;
    let (n, _) = error_of(&mut c, "INSERT INTO dbo.KB VALUES ('A ')").await;
    assert_eq!(n, 2627);
    assert_eq!(col(&mut c, "SELECT COUNT(*) FROM dbo.KCS").await, ids(&[2]));
    exec(
        &mut c,
        "INSERT INTO dbo.U VALUES (1, 'x', 'x'), (2, 'X', 'y')",
    )
    .await;
    let (n, _) = error_of(&mut c, "INSERT INTO dbo.U VALUES (3, 'x', 'z')").await;
    assert_eq!(n, 2627, "the CS unique constraint");
    let (n, _) = error_of(&mut c, "INSERT INTO dbo.U VALUES (3, 'z', 'Y')").await;
    assert_eq!(n, 2601, "the CI unique index");
    // An UPDATE to a value equal under the collation collides too.
    let (n, _) = error_of(&mut c, "UPDATE dbo.KCS SET k = 'a ' WHERE k = 'A'").await;
    assert_eq!(n, 2627);
}

#[tokio::test]
async fn collate_in_an_expression_wins_and_conflicts_are_errors() {
    let server = start();
    let mut c = connect(&server).await;
    fixture(&mut c).await;
    let q = |w: &str| format!("SELECT id FROM dbo.C WHERE {w} ORDER BY id");
    assert_eq!(
        col(&mut c, &q("ci = 'abc' COLLATE Latin1_General_CS_AS")).await,
        ids(&[1])
    );
    assert_eq!(
        col(
            &mut c,
            &q("cs COLLATE SQL_Latin1_General_CP1_CI_AS = 'ABC'")
        )
        .await,
        ids(&[1, 2])
    );
    let mut p = Query::new("SELECT id FROM dbo.C WHERE ci = @P1 COLLATE Latin1_General_BIN2");
    p.bind("B");
    let got: Vec<i32> = p
        .query(&mut c)
        .await
        .expect("query")
        .into_first_result()
        .await
        .expect("rows")
        .iter()
        .map(|r| r.get::<i32, _>(0).expect("id"))
        .collect();
    assert_eq!(got, vec![4]);
    assert_eq!(
        col(
            &mut c,
            "SELECT id FROM dbo.C ORDER BY ci COLLATE Latin1_General_BIN2"
        )
        .await,
        ids(&[2, 4, 1, 3])
    );
    assert_eq!(
        col(
            &mut c,
            "SELECT COUNT(*) FROM (SELECT DISTINCT cs COLLATE Latin1_General_CI_AS AS x FROM dbo.C) d"
        )
        .await,
        ids(&[2])
    );
    // Two columns of different collations: error 468 (state 9), the right
    // operand's collation named first.
    let (n, m) = error_of(&mut c, "SELECT id FROM dbo.C WHERE ci = cs").await;
    assert_eq!(n, 468);
    assert_eq!(
        m,
        "Cannot resolve the collation conflict between \"Latin1_General_CS_AS\" and \"Latin1_General_CI_AS\" in the equal to operation."
    );
    let (n, m) = error_of(&mut c, "SELECT id FROM dbo.C WHERE ci < bn").await;
    assert_eq!(n, 468);
    assert!(m.ends_with("in the less than operation."), "{m}");
    // An explicit collation on one side settles it.
    assert_eq!(
        col(&mut c, &q("ci = cs COLLATE Latin1_General_CI_AS")).await,
        ids(&[1, 2, 3, 4])
    );
    assert_eq!(
        col(&mut c, &q("ci COLLATE Latin1_General_CS_AS = cs")).await,
        ids(&[1, 2, 3, 4])
    );
    let (n, m) = error_of(
        &mut c,
        "SELECT id FROM dbo.C WHERE ci = 'x' COLLATE Klingon_CI_AS",
    )
    .await;
    assert_eq!((n, m.as_str()), (448, "Invalid collation 'Klingon_CI_AS'."));
    let (n, m) = error_of(
        &mut c,
        "SELECT id FROM dbo.C WHERE id COLLATE Latin1_General_CS_AS = 1",
    )
    .await;
    assert_eq!(
        (n, m.as_str()),
        (447, "Expression type int is invalid for COLLATE clause.")
    );
}

#[tokio::test]
async fn catalog_reports_column_and_database_collations() {
    let server = start();
    let mut c = connect(&server).await;
    fixture(&mut c).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.V (id INT NOT NULL PRIMARY KEY, v VARCHAR(10) NULL, t TEXT NULL, nt NTEXT NULL,
            m NVARCHAR(MAX) COLLATE Latin1_General_100_CI_AS_SC_UTF8 NULL,
            u VARCHAR(10) COLLATE Latin1_General_100_CI_AS_SC_UTF8 NULL, ch CHAR(3) COLLATE latin1_general_cs_as NULL)",
    )
    .await;
    let names = col(
        &mut c,
        "SELECT collation_name FROM sys.columns WHERE object_id = OBJECT_ID('dbo.C') ORDER BY column_id",
    )
    .await;
    assert_eq!(
        names,
        vec![
            None,
            Some("Latin1_General_CI_AS".into()),
            Some("Latin1_General_CS_AS".into()),
            Some("Latin1_General_BIN2".into()),
            Some("SQL_Latin1_General_CP1_CI_AS".into()),
        ]
    );
    let r = rows(
        &mut c,
        "SELECT COLUMN_NAME, CHARACTER_SET_NAME, COLLATION_NAME FROM INFORMATION_SCHEMA.COLUMNS
         WHERE TABLE_NAME = 'V' ORDER BY ORDINAL_POSITION",
    )
    .await;
    let got: Vec<Vec<Option<String>>> = r.iter().map(|r| r.iter().map(cell).collect()).collect();
    let s = |x: &str| Some(x.to_string());
    assert_eq!(
        got,
        vec![
            vec![s("id"), None, None],
            vec![s("v"), s("iso_1"), s("SQL_Latin1_General_CP1_CI_AS")],
            vec![s("t"), s("iso_1"), s("SQL_Latin1_General_CP1_CI_AS")],
            vec![s("nt"), s("UNICODE"), s("SQL_Latin1_General_CP1_CI_AS")],
            vec![s("m"), s("UNICODE"), s("Latin1_General_100_CI_AS_SC_UTF8")],
            vec![s("u"), s("UTF8"), s("Latin1_General_100_CI_AS_SC_UTF8")],
            vec![s("ch"), s("iso_1"), s("Latin1_General_CS_AS")],
        ]
    );
    assert_eq!(
        col(
            &mut c,
            "SELECT collation_name FROM sys.databases WHERE name = DB_NAME()"
        )
        .await,
        vec![Some("SQL_Latin1_General_CP1_CI_AS".to_string())]
    );
    assert_eq!(
        col(&mut c, "SELECT DATABASEPROPERTYEX(DB_NAME(), 'Collation')").await,
        vec![Some("SQL_Latin1_General_CP1_CI_AS".to_string())]
    );
    assert_eq!(
        col(
            &mut c,
            "SELECT COLLATIONPROPERTY('Latin1_General_CS_AS', 'CodePage')"
        )
        .await,
        ids(&[1252])
    );
    // Unknown collation in a column definition: 448; on a non-character
    // column: 447.
    let (n, m) = error_of(
        &mut c,
        "CREATE TABLE dbo.Bad (id INT NOT NULL PRIMARY KEY, s NVARCHAR(5) COLLATE Latin1_General_XX_AS)",
    )
    .await;
    assert_eq!(
        (n, m.as_str()),
        (448, "Invalid collation 'Latin1_General_XX_AS'.")
    );
    let (n, _) = error_of(
        &mut c,
        "CREATE TABLE dbo.Bad (id INT COLLATE Latin1_General_CS_AS NOT NULL PRIMARY KEY)",
    )
    .await;
    assert_eq!(n, 447);
    assert_eq!(col(&mut c, "SELECT OBJECT_ID('dbo.Bad')").await, vec![None]);
}

/// CHANGETABLE rows for one table since `v`: (key, operation), by key.
async fn changes(c: &mut Conn, table: &str, v: i64) -> Vec<(String, String)> {
    let r = rows(
        c,
        &format!(
            "SELECT CT.k, CT.SYS_CHANGE_OPERATION FROM CHANGETABLE(CHANGES {table}, {v}) AS CT
             ORDER BY CT.k COLLATE Latin1_General_BIN2"
        ),
    )
    .await;
    r.iter()
        .map(|r| {
            (
                cell(&r[0]).unwrap_or_default(),
                cell(&r[1]).unwrap_or_default(),
            )
        })
        .collect()
}

async fn version(c: &mut Conn) -> i64 {
    match &rows(c, "SELECT CHANGE_TRACKING_CURRENT_VERSION()").await[0][0] {
        ColumnData::I64(Some(v)) => *v,
        other => panic!("version {other:?}"),
    }
}

#[tokio::test]
async fn changetable_keys_fold_with_the_key_columns_own_collation() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "ALTER DATABASE testdb SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON);
         CREATE TABLE dbo.KS (k NVARCHAR(10) COLLATE Latin1_General_CS_AS NOT NULL PRIMARY KEY, v INT NULL);
         CREATE TABLE dbo.KI (k NVARCHAR(10) NOT NULL PRIMARY KEY, v INT NULL);
         ALTER TABLE dbo.KS ENABLE CHANGE_TRACKING;
         ALTER TABLE dbo.KI ENABLE CHANGE_TRACKING",
    )
    .await;
    let v0 = version(&mut c).await;
    exec(
        &mut c,
        "INSERT INTO dbo.KS VALUES ('a', 1), ('A', 2), ('b', 3)",
    )
    .await;
    exec(&mut c, "INSERT INTO dbo.KI VALUES ('a', 1)").await;
    let s = |k: &str, op: &str| (k.to_string(), op.to_string());
    assert_eq!(
        changes(&mut c, "dbo.KS", v0).await,
        vec![s("A", "I"), s("a", "I"), s("b", "I")]
    );
    // The change rows join back to their own rows.
    let r = rows(
        &mut c,
        &format!(
            "SELECT T.v FROM CHANGETABLE(CHANGES dbo.KS, {v0}) AS CT JOIN dbo.KS T ON T.k = CT.k
             ORDER BY T.v"
        ),
    )
    .await;
    assert_eq!(r, vec![vec![int(1)], vec![int(2)], vec![int(3)]]);
    let v1 = version(&mut c).await;
    // Changing only the case of a CS key is a new key: a delete of the old
    // and an insert of the new.
    exec(&mut c, "UPDATE dbo.KS SET k = 'B' WHERE k = 'b'").await;
    assert_eq!(
        changes(&mut c, "dbo.KS", v1).await,
        vec![s("B", "I"), s("b", "D")]
    );
    // Under the CI key it is the same key, changed.
    exec(&mut c, "UPDATE dbo.KI SET k = 'A', v = 2 WHERE k = 'a'").await;
    let got = changes(&mut c, "dbo.KI", v1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1, "U", "{got:?}");
    // CHANGETABLE(VERSION ...) finds a CS key only under its own case.
    exec(&mut c, "INSERT INTO dbo.KS VALUES ('c', 4)").await;
    let vc = version(&mut c).await;
    let r = rows(
        &mut c,
        "SELECT CT.SYS_CHANGE_VERSION FROM CHANGETABLE(VERSION dbo.KS, (k), ('c')) AS CT",
    )
    .await;
    assert_eq!(r, vec![vec![ColumnData::I64(Some(vc))]]);
    let r = rows(
        &mut c,
        "SELECT CT.SYS_CHANGE_VERSION FROM CHANGETABLE(VERSION dbo.KS, (k), ('C')) AS CT",
    )
    .await;
    assert!(
        r.is_empty() || matches!(r[0][0], ColumnData::I64(None)),
        "{r:?}"
    );
}

/// A derived table of literals or parameters (`VALUES`) is
/// coercible-default: joined to a column of any collation it takes that
/// column's collation, no 468 (what MERGE ... USING (VALUES ...) and key
/// lists joined to a table rely on).
#[tokio::test]
async fn a_values_list_joins_a_column_of_any_collation_by_that_collation() {
    let server = start();
    let mut c = connect(&server).await;
    fixture(&mut c).await;
    let mut q = Query::new(
        "SELECT C.id FROM (VALUES (@P1), (@P2)) AS K (k) JOIN dbo.C AS C ON C.cs = K.k ORDER BY C.id",
    );
    q.bind("ABC");
    q.bind("b");
    let got: Vec<i32> = q
        .query(&mut c)
        .await
        .expect("no collation conflict")
        .into_first_result()
        .await
        .expect("rows")
        .iter()
        .filter_map(|r| r.get::<i32, _>(0))
        .collect();
    assert_eq!(got, vec![2, 3], "the CS column's collation decides");
    let got = col(
        &mut c,
        "SELECT C.id FROM (VALUES (N'abc')) AS K (k) JOIN dbo.C AS C ON C.ci = K.k ORDER BY C.id",
    )
    .await;
    assert_eq!(got, ids(&[1, 2]), "the CI column's collation decides");
}
