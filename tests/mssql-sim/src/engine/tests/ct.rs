//! Change tracking through statements.

use super::*;
use crate::engine::*;
use crate::value::SqlType;

fn version(s: &mut Session) -> i64 {
    match rows(s, "SELECT CHANGE_TRACKING_CURRENT_VERSION()")
        .remove(0)
        .remove(0)
    {
        Value::Int(v) => v,
        other => panic!("current version {other:?}"),
    }
}

#[test]
fn change_tracking_through_statements() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    assert_eq!(
        rows(&mut s, "SELECT CHANGE_TRACKING_CURRENT_VERSION()"),
        vec![vec![Value::Null]]
    );
    ok(&mut s, "ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)");
    ok(
        &mut s,
        "CREATE TABLE dbo.T (id INT PRIMARY KEY, name NVARCHAR(20), qty INT)",
    );
    ok(
        &mut s,
        "ALTER TABLE dbo.T ENABLE CHANGE_TRACKING WITH (TRACK_COLUMNS_UPDATED = ON)",
    );
    let v0 = version(&mut s);
    ok(
        &mut s,
        "INSERT INTO dbo.T VALUES (1, N'a', 1), (2, N'b', 2)",
    );
    assert_eq!(version(&mut s), v0 + 1, "one version per transaction");
    ok(&mut s, "BEGIN TRAN; UPDATE dbo.T SET qty = 10 WHERE id = 1; UPDATE dbo.T SET name = N'bb' WHERE id = 2");
    assert_eq!(
        version(&mut s),
        v0 + 1,
        "inside the transaction the version does not move"
    );
    ok(&mut s, "COMMIT");
    assert_eq!(version(&mut s), v0 + 2);
    ok(
        &mut s,
        "WITH CHANGE_TRACKING_CONTEXT (0x0102) DELETE FROM dbo.T WHERE id = 2",
    );
    ok(
        &mut s,
        "BEGIN TRAN; INSERT INTO dbo.T VALUES (3, N'c', 3); ROLLBACK",
    );
    assert_eq!(
        version(&mut s),
        v0 + 3,
        "a rolled-back transaction leaves no version"
    );

    let r = rows(&mut s, &format!("SELECT CT.id, CT.SYS_CHANGE_OPERATION, CT.SYS_CHANGE_CONTEXT FROM CHANGETABLE(CHANGES dbo.T, {v0}) AS CT ORDER BY CT.id"));
    assert_eq!(
        r,
        vec![
            vec![i(1), st("I"), Value::Null],
            vec![i(2), st("D"), Value::Binary(vec![1, 2])]
        ]
    );
    let r = rows(
        &mut s,
        &format!(
            "SELECT CT.id, CT.SYS_CHANGE_OPERATION,
                CHANGE_TRACKING_IS_COLUMN_IN_MASK(COLUMNPROPERTY(OBJECT_ID('dbo.T'), 'qty', 'ColumnId'), CT.SYS_CHANGE_COLUMNS),
                CHANGE_TRACKING_IS_COLUMN_IN_MASK(COLUMNPROPERTY(OBJECT_ID('dbo.T'), 'name', 'ColumnId'), CT.SYS_CHANGE_COLUMNS)
             FROM CHANGETABLE(CHANGES dbo.T, {}) AS CT WHERE CT.id = 1",
            v0 + 1
        ),
    );
    assert_eq!(r, vec![vec![i(1), st("U"), i(1), i(0)]]);
    // The capture query of "Work with change tracking": the current row image.
    let p = [Param {
        name: "@P1".into(),
        ty: SqlType::BigInt,
        value: i(v0),
        output: false,
    }];
    let mut c = Collect::default();
    s.execute(
        "SELECT CT.id, T.name, T.qty, CT.SYS_CHANGE_OPERATION FROM dbo.T AS T RIGHT OUTER JOIN CHANGETABLE(CHANGES dbo.T, @P1) AS CT ON T.id = CT.id ORDER BY CT.SYS_CHANGE_VERSION, CT.id",
        &p,
        &mut c,
    );
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert_eq!(
        c.sets[0].1,
        vec![
            vec![i(1), st("a"), i(10), st("I")],
            vec![i(2), Value::Null, Value::Null, st("D")]
        ]
    );
    let r = rows(&mut s, "SELECT CT.SYS_CHANGE_VERSION, CT.SYS_CHANGE_CONTEXT FROM CHANGETABLE(VERSION dbo.T, (id), (1)) AS CT");
    assert_eq!(r, vec![vec![i(v0 + 2), Value::Null]]);
    let r = rows(
        &mut s,
        "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID('dbo.T'))",
    );
    assert!(matches!(r[0][0], Value::Int(_)));
    assert_eq!(
        err(
            &mut s,
            "CREATE TABLE dbo.U (id INT); ALTER TABLE dbo.U ENABLE CHANGE_TRACKING"
        )
        .number,
        4997
    );
    ok(&mut s, "CREATE TABLE dbo.W (id INT PRIMARY KEY)");
    assert_eq!(
        err(&mut s, "SELECT * FROM CHANGETABLE(CHANGES dbo.W, 0) AS CT").number,
        22105
    );
    let r = rows(&mut s, "SELECT t.name FROM sys.change_tracking_tables c JOIN sys.tables t ON t.object_id = c.object_id");
    assert_eq!(r, vec![vec![st("T")]]);
    // Cleanup raises the min valid version to the current version.
    ok(&mut s, "EXEC mssql_sim.ct_cleanup");
    let r = rows(&mut s, "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID('dbo.T')), CHANGE_TRACKING_CURRENT_VERSION()");
    assert_eq!(r[0][0], r[0][1]);
}

#[test]
fn snapshot_capture_commits_while_others_write() {
    let e = engine();
    let mut cap = e.session("sa").unwrap();
    let mut app = e.session("sa").unwrap();
    ok(&mut app, "ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON");
    ok(
        &mut app,
        "ALTER DATABASE CURRENT SET ALLOW_SNAPSHOT_ISOLATION ON",
    );
    ok(
        &mut app,
        "CREATE TABLE dbo.T (id INT PRIMARY KEY, v INT); ALTER TABLE dbo.T ENABLE CHANGE_TRACKING",
    );
    ok(&mut app, "INSERT INTO dbo.T VALUES (1, 1)");
    ok(
        &mut cap,
        "SET TRANSACTION ISOLATION LEVEL SNAPSHOT; BEGIN TRAN",
    );
    let v1 = version(&mut cap);
    ok(&mut app, "INSERT INTO dbo.T VALUES (2, 2)");
    assert_eq!(version(&mut cap), v1, "the snapshot keeps its version");
    assert_eq!(
        rows(
            &mut cap,
            "SELECT COUNT(*) FROM CHANGETABLE(CHANGES dbo.T, 0) AS CT"
        ),
        vec![vec![i(1)]]
    );
    ok(&mut cap, "COMMIT");
    assert_eq!(version(&mut cap), v1 + 1);
}

#[test]
fn change_tracking_key_updates_truncate_and_merge_context() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON");
    ok(
        &mut s,
        "CREATE TABLE dbo.K (id INT PRIMARY KEY, v INT); ALTER TABLE dbo.K ENABLE CHANGE_TRACKING",
    );
    ok(&mut s, "INSERT INTO dbo.K VALUES (1, 1)");
    let v = version(&mut s);
    ok(&mut s, "UPDATE dbo.K SET id = 5 WHERE id = 1");
    let r = rows(&mut s, &format!("SELECT id, SYS_CHANGE_OPERATION FROM CHANGETABLE(CHANGES dbo.K, {v}) AS CT ORDER BY id"));
    assert_eq!(
        r,
        vec![vec![i(1), st("D")], vec![i(5), st("I")]],
        "a key update is a delete and an insert"
    );
    let v = version(&mut s);
    ok(&mut s, "WITH CHANGE_TRACKING_CONTEXT (0xAB) MERGE dbo.K AS t USING (SELECT 5 AS id, 9 AS v) AS s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v;");
    let r = rows(&mut s, &format!("SELECT id, SYS_CHANGE_OPERATION, SYS_CHANGE_CONTEXT FROM CHANGETABLE(CHANGES dbo.K, {v}) AS CT"));
    assert_eq!(r, vec![vec![i(5), st("U"), Value::Binary(vec![0xAB])]]);
    let before = version(&mut s);
    ok(&mut s, "TRUNCATE TABLE dbo.K");
    let r = rows(
        &mut s,
        "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID('dbo.K'))",
    );
    assert!(matches!(r[0][0], Value::Int(m) if m > before), "{r:?}");
    // The parser refuses this (156); the engine would answer 22108.
    let n = err(&mut s, "WITH CHANGE_TRACKING_CONTEXT (0x01) SELECT 1").number;
    assert!(n == 22108 || n == 156, "{n}");
}

#[test]
fn sums_of_wide_decimals_are_exact() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE D (id INT PRIMARY KEY, w DECIMAL(38,10), n DECIMAL(10,2))",
    );
    ok(&mut s, "INSERT INTO D VALUES (1, 12345678901234567890.0000000001, 1.10), (2, -0.0000000002, 2.20), (3, NULL, NULL)");
    let r = rows(&mut s, "SELECT SUM(w), SUM(n), MIN(w), MAX(w) FROM D");
    assert_eq!(
        r,
        vec![vec![
            Value::Decimal(123456789012345678899999999999, 10),
            Value::Decimal(330, 2),
            Value::Decimal(-2, 10),
            Value::Decimal(123456789012345678900000000001, 10)
        ]]
    );
    assert_eq!(
        rows(&mut s, "SELECT id FROM D WHERE w > 0"),
        vec![vec![i(1)]]
    );
}

#[test]
fn change_tracking_catalog_views() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    assert!(rows(&mut s, "SELECT * FROM sys.change_tracking_databases").is_empty());
    ok(&mut s, "ALTER DATABASE testdb SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 3 HOURS, AUTO_CLEANUP = OFF)");
    let r = rows(&mut s, "SELECT d.name, ctd.retention_period, ctd.retention_period_units_desc, ctd.is_auto_cleanup_on FROM sys.change_tracking_databases ctd JOIN sys.databases d ON d.database_id = ctd.database_id");
    assert_eq!(r, vec![vec![st("testdb"), i(3), st("HOURS"), i(0)]]);
    ok(&mut s, "CREATE TABLE dbo.T (id INT PRIMARY KEY); ALTER TABLE dbo.T ENABLE CHANGE_TRACKING WITH (TRACK_COLUMNS_UPDATED = ON)");
    let r = rows(&mut s, "SELECT OBJECT_NAME(object_id), is_track_columns_updated_on FROM sys.change_tracking_tables");
    assert_eq!(r, vec![vec![st("T"), i(1)]]);
    assert_eq!(
        err(&mut s, "ALTER TABLE dbo.T ENABLE CHANGE_TRACKING").number,
        4996
    );
    assert_eq!(
        err(&mut s, "ALTER DATABASE testdb SET CHANGE_TRACKING = ON").number,
        5088
    );
    ok(&mut s, "ALTER TABLE dbo.T DISABLE CHANGE_TRACKING; ALTER DATABASE testdb SET CHANGE_TRACKING = OFF");
    assert_eq!(
        rows(&mut s, "SELECT CHANGE_TRACKING_CURRENT_VERSION()"),
        vec![vec![Value::Null]]
    );
}

fn p(n: usize, ty: SqlType, v: Value) -> Param {
    Param {
        name: format!("@P{n}"),
        ty,
        value: v,
        output: false,
    }
}

fn run_p(s: &mut Session, sql: &str, params: &[Param]) -> Collect {
    let mut c = Collect::default();
    s.execute(sql, params, &mut c);
    assert!(c.errors.is_empty(), "{sql}: {:?}", c.errors);
    c
}

/// The statements ctsync sends (src/mssql/statements.rs on the agent
/// branches), with their parameters, in the order of one sync cycle.
#[test]
fn the_agents_statements_run_as_sent() {
    use crate::value::Len;
    let e = engine();
    let mut s = e.session("sa").unwrap();
    let name = |v: &str| Value::String(v.to_string());
    let nv = SqlType::NVarChar(Len::N(4000));
    ok(&mut s, "CREATE TABLE dbo.Orders (id INT IDENTITY(1,1) NOT NULL PRIMARY KEY, name NVARCHAR(50) NULL, qty INT NULL)");
    ok(
        &mut s,
        "CREATE TABLE dbo.Plain (code NVARCHAR(10) NOT NULL PRIMARY KEY, v DECIMAL(10,2) NULL)",
    );
    ok(&mut s, "ALTER DATABASE [testdb] SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)");
    ok(
        &mut s,
        "ALTER DATABASE [testdb] SET ALLOW_SNAPSHOT_ISOLATION ON",
    );
    ok(
        &mut s,
        "ALTER TABLE [dbo].[Orders] ENABLE CHANGE_TRACKING WITH (TRACK_COLUMNS_UPDATED = OFF)",
    );
    ok(
        &mut s,
        "ALTER TABLE [dbo].[Plain] ENABLE CHANGE_TRACKING WITH (TRACK_COLUMNS_UPDATED = OFF)",
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT snapshot_isolation_state FROM sys.databases WHERE name = DB_NAME()"
        ),
        vec![vec![i(1)]]
    );
    let c = run_p(
        &mut s,
        "SELECT COUNT(*) FROM sys.change_tracking_tables WHERE object_id = OBJECT_ID(@P1)",
        &[p(1, nv, name("[dbo].[Orders]"))],
    );
    assert_eq!(c.sets[0].1, vec![vec![i(1)]]);
    let c = run_p(
        &mut s,
        "SELECT c.COLUMN_NAME, c.DATA_TYPE, COLUMNPROPERTY(OBJECT_ID(@P1), c.COLUMN_NAME, 'IsIdentity') FROM INFORMATION_SCHEMA.COLUMNS AS c WHERE c.TABLE_SCHEMA = @P2 AND c.TABLE_NAME = @P3 ORDER BY c.ORDINAL_POSITION",
        &[p(1, nv, name("[dbo].[Orders]")), p(2, nv, name("dbo")), p(3, nv, name("Orders"))],
    );
    assert_eq!(
        c.sets[0].1,
        vec![
            vec![st("id"), st("int"), i(1)],
            vec![st("name"), st("nvarchar"), i(0)],
            vec![st("qty"), st("int"), i(0)]
        ]
    );
    let c = run_p(
        &mut s,
        "SELECT k.COLUMN_NAME FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS AS tc JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE AS k ON k.CONSTRAINT_NAME = tc.CONSTRAINT_NAME AND k.TABLE_SCHEMA = tc.TABLE_SCHEMA AND k.TABLE_NAME = tc.TABLE_NAME WHERE tc.CONSTRAINT_TYPE = 'PRIMARY KEY' AND tc.TABLE_SCHEMA = @P1 AND tc.TABLE_NAME = @P2 ORDER BY k.ORDINAL_POSITION",
        &[p(1, nv, name("dbo")), p(2, nv, name("Orders"))],
    );
    assert_eq!(c.sets[0].1, vec![vec![st("id")]]);

    // Apply: a batch of identity inserts, an upsert, an update and a delete.
    let ctx = |n: u8| Value::Binary(vec![b'c', b't', n]);
    let vb = SqlType::VarBinary(Len::N(8000));
    let c = run_p(
        &mut s,
        "WITH CHANGE_TRACKING_CONTEXT (@P1) INSERT INTO [dbo].[Orders] ([name], [qty]) OUTPUT INSERTED.[id] VALUES (@P2, @P3);\nWITH CHANGE_TRACKING_CONTEXT (@P4) INSERT INTO [dbo].[Orders] OUTPUT INSERTED.[id] DEFAULT VALUES;\n",
        &[p(1, vb, ctx(1)), p(2, nv, name("a")), p(3, SqlType::Int, i(5)), p(4, vb, ctx(2))],
    );
    assert_eq!(c.sets.len(), 2);
    assert_eq!(
        (c.sets[0].1.clone(), c.sets[1].1.clone()),
        (vec![vec![i(1)]], vec![vec![i(2)]])
    );
    let upsert = "WITH CHANGE_TRACKING_CONTEXT (@P1) MERGE [dbo].[Plain] WITH (HOLDLOCK) AS T USING (SELECT @P2 AS [code], @P3 AS [v]) AS S ON T.[code] = S.[code] WHEN MATCHED THEN UPDATE SET T.[v] = S.[v] WHEN NOT MATCHED THEN INSERT ([code], [v]) VALUES (S.[code], S.[v]);\n";
    let dec = SqlType::Decimal {
        precision: 18,
        scale: 4,
    };
    run_p(
        &mut s,
        upsert,
        &[
            p(1, vb, ctx(3)),
            p(2, nv, name("k1")),
            p(3, dec, Value::Decimal(12_3400, 4)),
        ],
    );
    run_p(
        &mut s,
        upsert,
        &[
            p(1, vb, ctx(4)),
            p(2, nv, name("K1")),
            p(3, dec, Value::Null),
        ],
    );
    assert_eq!(
        rows(&mut s, "SELECT code, v FROM dbo.Plain"),
        vec![vec![st("k1"), Value::Null]]
    );
    run_p(
        &mut s,
        "WITH CHANGE_TRACKING_CONTEXT (@P1) UPDATE [dbo].[Orders] SET [name] = @P2, [qty] = @P3 WHERE [id] = @P4;\nWITH CHANGE_TRACKING_CONTEXT (@P5) DELETE FROM [dbo].[Orders] WHERE [id] = @P6;\n",
        &[p(1, vb, ctx(5)), p(2, nv, name("b")), p(3, SqlType::Int, Value::Null), p(4, SqlType::Int, i(1)), p(5, vb, ctx(6)), p(6, SqlType::Int, i(2))],
    );
    run_p(&mut s, "SET IDENTITY_INSERT [dbo].[Orders] ON;\nINSERT INTO [dbo].[Orders] ([id], [name]) VALUES (@P1, @P2);\nSET IDENTITY_INSERT [dbo].[Orders] OFF;\n", &[p(1, SqlType::Int, i(40)), p(2, nv, name("forced"))]);

    // Capture, as the agent does it: SNAPSHOT, versions, CHANGETABLE joined to the table.
    ok(
        &mut s,
        "SET TRANSACTION ISOLATION LEVEL SNAPSHOT; BEGIN TRANSACTION",
    );
    let v = match rows(&mut s, "SELECT CHANGE_TRACKING_CURRENT_VERSION()")
        .remove(0)
        .remove(0)
    {
        Value::Int(v) => v,
        other => panic!("{other:?}"),
    };
    let c = run_p(
        &mut s,
        "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(@P1))",
        &[p(1, nv, name("[dbo].[Orders]"))],
    );
    assert!(matches!(c.sets[0].1[0][0], Value::Int(m) if m <= v));
    let c = run_p(
        &mut s,
        "SELECT CT.SYS_CHANGE_VERSION, CT.SYS_CHANGE_OPERATION, CT.SYS_CHANGE_CONTEXT, CT.[id], T.[id], T.[name], T.[qty] FROM CHANGETABLE(CHANGES [dbo].[Orders], @P1) AS CT LEFT OUTER JOIN [dbo].[Orders] AS T ON T.[id] = CT.[id] ORDER BY CT.SYS_CHANGE_VERSION, CT.[id]",
        &[p(1, SqlType::BigInt, i(0))],
    );
    let ops: Vec<(Value, Value, Value, Value)> = c.sets[0]
        .1
        .iter()
        .map(|r| (r[1].clone(), r[2].clone(), r[3].clone(), r[5].clone()))
        .collect();
    assert_eq!(
        ops,
        vec![
            (st("I"), ctx(5), i(1), st("b")),
            (st("D"), ctx(6), i(2), Value::Null),
            (st("I"), Value::Null, i(40), st("forced")),
        ]
    );
    let c = run_p(
        &mut s,
        "SELECT CT.[code] FROM CHANGETABLE(CHANGES [dbo].[Plain], @P1) AS CT WHERE CT.SYS_CHANGE_CONTEXT = @P2",
        &[p(1, SqlType::BigInt, Value::Null), p(2, vb, ctx(4))],
    );
    assert_eq!(c.sets[0].1, vec![vec![st("k1")]]);
    ok(&mut s, "COMMIT TRANSACTION");
    ok(&mut s, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED");
    ok(&mut s, "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION");
}
