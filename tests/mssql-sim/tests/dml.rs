//! DML through tiberius: statements, constraints, SQL Server's error numbers
//! and texts, identity, OUTPUT, MERGE, bulk load.

mod common;

use common::*;
use tiberius::{IntoRow, Query};

#[tokio::test]
async fn insert_update_delete_report_rows_affected() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.T (id INT NOT NULL PRIMARY KEY, name NVARCHAR(20))",
    )
    .await;
    let r = c
        .execute(
            "INSERT INTO dbo.T (id, name) VALUES (@P1, @P2), (@P3, @P4)",
            &[&1i32, &"a", &2i32, &"b"],
        )
        .await
        .expect("insert");
    assert_eq!(r.total(), 2);
    let r = c
        .execute(
            "UPDATE dbo.T SET name = @P1 WHERE id >= @P2",
            &[&"z", &1i32],
        )
        .await
        .expect("update");
    assert_eq!(r.total(), 2);
    let r = c
        .execute("DELETE FROM dbo.T WHERE id = @P1", &[&2i32])
        .await
        .expect("delete");
    assert_eq!(r.total(), 1);
    assert_eq!(
        rows(&mut c, "SELECT id, name FROM dbo.T").await,
        vec![vec![int(1), text("z")]]
    );
}

#[tokio::test]
async fn constraint_errors_have_sql_server_numbers_and_texts() {
    let server = start();
    let mut c = connect(&server).await;
    exec(&mut c, "CREATE TABLE dbo.P (id INT NOT NULL CONSTRAINT PK_P PRIMARY KEY, code VARCHAR(10) NOT NULL)").await;
    exec(&mut c, "CREATE UNIQUE INDEX IX_P_code ON dbo.P (code)").await;
    exec(&mut c, "CREATE TABLE dbo.C (id INT NOT NULL PRIMARY KEY, pid INT NULL, CONSTRAINT FK_C_P FOREIGN KEY (pid) REFERENCES dbo.P (id))").await;
    exec(&mut c, "INSERT INTO dbo.P VALUES (1, 'one')").await;
    let (n, m) = error_of(&mut c, "INSERT INTO dbo.P VALUES (1, 'uno')").await;
    assert_eq!(n, 2627);
    assert_eq!(m, "Violation of PRIMARY KEY constraint 'PK_P'. Cannot insert duplicate key in object 'dbo.P'. The duplicate key value is (1).");
    let (n, m) = error_of(&mut c, "INSERT INTO dbo.P VALUES (2, 'ONE')").await;
    assert_eq!(n, 2601, "the default collation is case-insensitive");
    assert_eq!(m, "Cannot insert duplicate key row in object 'dbo.P' with unique index 'IX_P_code'. The duplicate key value is (ONE).");
    let (n, m) = error_of(&mut c, "INSERT INTO dbo.C VALUES (1, 42)").await;
    assert_eq!(n, 547);
    assert_eq!(m, "The INSERT statement conflicted with the FOREIGN KEY constraint \"FK_C_P\". The conflict occurred in database \"testdb\", table \"dbo.P\", column 'id'.");
    let (n, m) = error_of(&mut c, "INSERT INTO dbo.P (id) VALUES (3)").await;
    assert_eq!(n, 515);
    assert_eq!(m, "Cannot insert the value NULL into column 'code', table 'testdb.dbo.P'; column does not allow nulls. INSERT fails.");
    assert_eq!(
        error_of(&mut c, "SELECT * FROM dbo.Nope").await,
        (208, "Invalid object name 'dbo.Nope'.".to_string())
    );
    assert_eq!(
        error_of(&mut c, "SELECT nope FROM dbo.P").await,
        (207, "Invalid column name 'nope'.".to_string())
    );
    // A failed statement leaves no trace.
    assert_eq!(
        rows(&mut c, "SELECT COUNT(*) FROM dbo.P").await,
        vec![vec![int(1)]]
    );
}

#[tokio::test]
async fn identity_insert_rules_and_scope_identity() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.I (id INT IDENTITY(1,1) PRIMARY KEY, v NVARCHAR(10))",
    )
    .await;
    exec(
        &mut c,
        "CREATE TABLE dbo.J (id BIGINT IDENTITY PRIMARY KEY, v INT)",
    )
    .await;
    let row = c
        .query(
            "INSERT INTO dbo.I (v) OUTPUT INSERTED.id VALUES (@P1)",
            &[&"a"],
        )
        .await
        .expect("insert")
        .into_row()
        .await
        .expect("row")
        .expect("output row");
    assert_eq!(row.get::<i32, _>(0), Some(1));
    let (n, m) = error_of(&mut c, "INSERT INTO dbo.I (id, v) VALUES (10, N'x')").await;
    assert_eq!(n, 544);
    assert_eq!(m, "Cannot insert explicit value for identity column in table 'I' when IDENTITY_INSERT is set to OFF.");
    exec(&mut c, "SET IDENTITY_INSERT dbo.I ON").await;
    assert_eq!(
        error_of(&mut c, "INSERT INTO dbo.I (v) VALUES (N'x')")
            .await
            .0,
        545
    );
    assert_eq!(
        error_of(&mut c, "SET IDENTITY_INSERT dbo.J ON").await.0,
        8107
    );
    exec(&mut c, "INSERT INTO dbo.I (id, v) VALUES (10, N'x')").await;
    exec(&mut c, "SET IDENTITY_INSERT dbo.I OFF").await;
    let r = rows(
        &mut c,
        "INSERT INTO dbo.I (v) VALUES (N'y'); SELECT CAST(SCOPE_IDENTITY() AS INT)",
    )
    .await;
    assert_eq!(r, vec![vec![int(11)]]);
}

#[tokio::test]
async fn merge_with_parameters_upserts() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.M (id INT PRIMARY KEY, v NVARCHAR(10))",
    )
    .await;
    let sql = "MERGE dbo.M AS t USING (SELECT @P1 AS id, @P2 AS v) AS s ON t.id = s.id
               WHEN MATCHED THEN UPDATE SET v = s.v
               WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v);";
    for (id, v) in [(1, "a"), (2, "b"), (1, "c")] {
        let mut q = Query::new(sql);
        q.bind(id);
        q.bind(v);
        assert_eq!(q.execute(&mut c).await.expect("merge").total(), 1);
    }
    assert_eq!(
        rows(&mut c, "SELECT id, v FROM dbo.M ORDER BY id").await,
        vec![vec![int(1), text("c")], vec![int(2), text("b")]]
    );
}

#[tokio::test]
async fn bulk_insert_loads_rows() {
    let server = start();
    let mut c = connect(&server).await;
    exec(&mut c, "CREATE TABLE dbo.B (id INT IDENTITY PRIMARY KEY, name NVARCHAR(20) NOT NULL, qty INT NULL)").await;
    let mut req = c.bulk_insert("dbo.B").await.expect("bulk insert");
    for n in 0..1000i32 {
        req.send((format!("row {n}"), Some(n)).into_row())
            .await
            .expect("row");
    }
    let res = req.finalize().await.expect("finalize");
    assert_eq!(res.total(), 1000);
    assert_eq!(
        rows(&mut c, "SELECT COUNT(*), MAX(id), SUM(qty) FROM dbo.B").await,
        vec![vec![int(1000), int(1000), int(499_500)]]
    );
}
