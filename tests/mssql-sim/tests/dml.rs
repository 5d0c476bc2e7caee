//! DML through tiberius: statements, constraints, SQL Server's error numbers
//! and texts, identity, OUTPUT, MERGE, bulk load.

mod common;

use common::*;
use tiberius::{ColumnData, IntoRow, Query, SqlBulkCopyOption, SqlBulkCopyOptions, TokenRow};

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

// ----- INSERT BULK options (tiberius `bulk_insert_with_options`) ----------
//
// docs/t-sql/statements/bulk-insert-transact-sql.md, CHECK_CONSTRAINTS:
// "Without the CHECK_CONSTRAINTS option, any CHECK and FOREIGN KEY
// constraints are ignored, and after the operation, the constraint on the
// table is marked as not-trusted"; "UNIQUE, and PRIMARY KEY constraints are
// always enforced". SqlBulkCopyOptions.CheckConstraints: "By default,
// constraints are not checked." KEEP_NULLS:
// docs/relational-databases/import-export/keep-nulls-or-use-default-values-during-bulk-import-sql-server.md.

/// Bulk-loads `data` into `table` with `options`: the row count, or the
/// server error (number, message) the load ended with.
async fn bulk_load(
    c: &mut Conn,
    table: &str,
    columns: &[&str],
    options: SqlBulkCopyOptions,
    data: Vec<Vec<ColumnData<'static>>>,
) -> Result<u64, (u32, String)> {
    let server = |e: tiberius::error::Error| match e {
        tiberius::error::Error::Server(e) => (e.code(), e.message().to_string()),
        other => panic!("expected a server error, got {other}"),
    };
    let mut req = c
        .bulk_insert_with_options(table, columns, options, &[])
        .await
        .map_err(server)?;
    for values in data {
        let mut row = TokenRow::new();
        for v in values {
            row.push(v);
        }
        req.send(row).await.map_err(server)?;
    }
    req.finalize().await.map(|r| r.total()).map_err(server)
}

fn n(v: Option<i32>) -> ColumnData<'static> {
    ColumnData::I32(v)
}

/// A parent, and a child with a CHECK and a FOREIGN KEY constraint.
async fn parent_child(c: &mut Conn) {
    exec(
        c,
        "CREATE TABLE dbo.P (id INT NOT NULL PRIMARY KEY);
         INSERT INTO dbo.P (id) VALUES (1);
         CREATE TABLE dbo.C (id INT NOT NULL PRIMARY KEY, pid INT NULL, q INT NULL,
            CONSTRAINT FK_C_P FOREIGN KEY (pid) REFERENCES dbo.P (id),
            CONSTRAINT CK_C_q CHECK (q > 0))",
    )
    .await;
}

async fn trust(c: &mut Conn) -> Vec<Vec<ColumnData<'static>>> {
    rows(
        c,
        "SELECT name, CAST(is_not_trusted AS INT) FROM sys.check_constraints WHERE parent_object_id = OBJECT_ID('dbo.C')
         UNION ALL
         SELECT name, CAST(is_not_trusted AS INT) FROM sys.foreign_keys WHERE parent_object_id = OBJECT_ID('dbo.C')",
    )
    .await
}

/// docs/t-sql/statements/bulk-insert-transact-sql.md (CHECK_CONSTRAINTS):
/// without the option, a row that violates the CHECK and a row whose
/// foreign key has no parent are both loaded, and both constraints are
/// then not trusted (sys.check_constraints / sys.foreign_keys.is_not_trusted,
/// docs/relational-databases/system-catalog-views/sys-check-constraints-transact-sql.md).
/// The constraints stay enabled: a later INSERT is still checked.
#[tokio::test]
async fn bulk_without_check_constraints_loads_violations_and_marks_untrusted() {
    let server = start();
    let mut c = connect(&server).await;
    parent_child(&mut c).await;
    assert_eq!(
        trust(&mut c).await,
        vec![vec![text("CK_C_q"), int(0)], vec![text("FK_C_P"), int(0)]]
    );
    let loaded = bulk_load(
        &mut c,
        "dbo.C",
        &["id", "pid", "q"],
        SqlBulkCopyOptions::empty(),
        vec![
            vec![n(Some(1)), n(Some(1)), n(Some(5))],
            vec![n(Some(2)), n(Some(1)), n(Some(-1))],
            vec![n(Some(3)), n(Some(99)), n(Some(5))],
        ],
    )
    .await;
    assert_eq!(loaded, Ok(3));
    assert_eq!(
        rows(&mut c, "SELECT id, pid, q FROM dbo.C ORDER BY id").await,
        vec![
            vec![int(1), int(1), int(5)],
            vec![int(2), int(1), int(-1)],
            vec![int(3), int(99), int(5)],
        ]
    );
    assert_eq!(
        trust(&mut c).await,
        vec![vec![text("CK_C_q"), int(1)], vec![text("FK_C_P"), int(1)]]
    );
    assert_eq!(
        error_of(&mut c, "INSERT INTO dbo.C (id, pid, q) VALUES (4, 1, -4)")
            .await
            .0,
        547
    );
}

/// docs/t-sql/statements/bulk-insert-transact-sql.md (CHECK_CONSTRAINTS):
/// with the option the same rows fail the load with 547, as INSERT does,
/// nothing of the load remains, and the constraints stay trusted.
#[tokio::test]
async fn bulk_with_check_constraints_rejects_violations() {
    let server = start();
    let mut c = connect(&server).await;
    parent_child(&mut c).await;
    let check = bulk_load(
        &mut c,
        "dbo.C",
        &["id", "pid", "q"],
        SqlBulkCopyOption::CheckConstraints | SqlBulkCopyOption::KeepNulls,
        vec![
            vec![n(Some(1)), n(Some(1)), n(Some(5))],
            vec![n(Some(2)), n(Some(1)), n(Some(-1))],
        ],
    )
    .await;
    assert_eq!(
        check,
        Err((547, "The INSERT statement conflicted with the CHECK constraint \"CK_C_q\". The conflict occurred in database \"testdb\", table \"dbo.C\".".to_string()))
    );
    let fk = bulk_load(
        &mut c,
        "dbo.C",
        &["id", "pid", "q"],
        SqlBulkCopyOption::CheckConstraints.into(),
        vec![
            vec![n(Some(1)), n(Some(1)), n(Some(5))],
            vec![n(Some(3)), n(Some(99)), n(Some(5))],
        ],
    )
    .await;
    assert_eq!(
        fk,
        Err((547, "The INSERT statement conflicted with the FOREIGN KEY constraint \"FK_C_P\". The conflict occurred in database \"testdb\", table \"dbo.P\", column 'id'.".to_string()))
    );
    assert_eq!(
        rows(&mut c, "SELECT COUNT(*) FROM dbo.C").await,
        vec![vec![int(0)]]
    );
    assert_eq!(
        trust(&mut c).await,
        vec![vec![text("CK_C_q"), int(0)], vec![text("FK_C_P"), int(0)]]
    );
    // A clean load with the option leaves them trusted too.
    let ok = bulk_load(
        &mut c,
        "dbo.C",
        &["id", "pid", "q"],
        SqlBulkCopyOption::CheckConstraints.into(),
        vec![vec![n(Some(1)), n(Some(1)), n(Some(5))]],
    )
    .await;
    assert_eq!(ok, Ok(1));
    assert_eq!(
        trust(&mut c).await,
        vec![vec![text("CK_C_q"), int(0)], vec![text("FK_C_P"), int(0)]]
    );
}

/// docs/relational-databases/import-export/keep-nulls-or-use-default-values-during-bulk-import-sql-server.md:
/// without KEEP_NULLS a NULL for a column with a DEFAULT gets the default;
/// with it the NULL stays (and a NOT NULL column then refuses it, 515). A
/// column without a default keeps the NULL either way. (The NOT NULL column
/// is NVARCHAR: for an INT NOT NULL column the metadata says INT4, and
/// tiberius refuses to send a NULL for it.)
#[tokio::test]
async fn bulk_keep_nulls_or_use_defaults() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.D (id INT NOT NULL PRIMARY KEY, k NVARCHAR(20) NULL DEFAULT N'dflt',
            m NVARCHAR(10) NOT NULL DEFAULT N'seven', plain INT NULL)",
    )
    .await;
    let cols = ["id", "k", "m", "plain"];
    let nulls = |id: i32| {
        vec![
            n(Some(id)),
            ColumnData::String(None),
            ColumnData::String(None),
            n(None),
        ]
    };
    assert_eq!(
        bulk_load(
            &mut c,
            "dbo.D",
            &cols,
            SqlBulkCopyOptions::empty(),
            vec![nulls(1)]
        )
        .await,
        Ok(1)
    );
    let (number, message) = bulk_load(
        &mut c,
        "dbo.D",
        &cols,
        SqlBulkCopyOption::KeepNulls.into(),
        vec![nulls(2)],
    )
    .await
    .expect_err("NULL into NOT NULL m");
    assert_eq!(number, 515, "{message}");
    assert_eq!(
        bulk_load(
            &mut c,
            "dbo.D",
            &cols,
            SqlBulkCopyOption::KeepNulls.into(),
            vec![vec![
                n(Some(3)),
                ColumnData::String(None),
                text("eight"),
                n(None)
            ]],
        )
        .await,
        Ok(1)
    );
    assert_eq!(
        rows(&mut c, "SELECT id, k, m, plain FROM dbo.D ORDER BY id").await,
        vec![
            vec![int(1), text("dflt"), text("seven"), n(None)],
            vec![int(3), ColumnData::String(None), text("eight"), n(None)],
        ]
    );
}

/// docs/t-sql/statements/bulk-insert-transact-sql.md (CHECK_CONSTRAINTS):
/// "UNIQUE, and PRIMARY KEY constraints are always enforced".
#[tokio::test]
async fn bulk_primary_key_duplicates_fail_with_or_without_options() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.K (id INT NOT NULL CONSTRAINT PK_K PRIMARY KEY, v INT NULL)",
    )
    .await;
    for options in [
        SqlBulkCopyOptions::empty(),
        SqlBulkCopyOption::CheckConstraints | SqlBulkCopyOption::KeepNulls,
    ] {
        let r = bulk_load(
            &mut c,
            "dbo.K",
            &["id", "v"],
            options,
            vec![vec![n(Some(1)), n(Some(1))], vec![n(Some(1)), n(Some(2))]],
        )
        .await;
        assert_eq!(
            r,
            Err((2627, "Violation of PRIMARY KEY constraint 'PK_K'. Cannot insert duplicate key in object 'dbo.K'. The duplicate key value is (1).".to_string()))
        );
        assert_eq!(
            rows(&mut c, "SELECT COUNT(*) FROM dbo.K").await,
            vec![vec![int(0)]]
        );
    }
}
