//! Engine tests against a [`Session`] with a collecting sink.

use super::*;
use crate::value::{Len, SqlType};

#[derive(Default, Debug)]
pub struct Collect {
    pub sets: Vec<(Vec<ColumnMeta>, Vec<Vec<Value>>)>,
    pub dones: Vec<Done>,
    pub errors: Vec<SqlError>,
    pub infos: Vec<(i32, String)>,
    pub env: Vec<EnvChange>,
}

impl ResultSink for Collect {
    fn columns(&mut self, columns: &[ColumnMeta]) {
        self.sets.push((columns.to_vec(), Vec::new()));
    }
    fn row(&mut self, values: &[Value]) {
        if let Some(s) = self.sets.last_mut() {
            s.1.push(values.to_vec());
        }
    }
    fn done(&mut self, done: Done) {
        self.dones.push(done);
    }
    fn error(&mut self, error: &SqlError) {
        self.errors.push(error.clone());
    }
    fn info(&mut self, number: i32, message: &str) {
        self.infos.push((number, message.to_string()));
    }
    fn env_change(&mut self, change: EnvChange) {
        self.env.push(change);
    }
}

pub fn engine() -> Arc<Engine> {
    Engine::open(EngineOptions {
        database: "testdb".into(),
        data_file: None,
        log_statements: None,
        controls: Arc::new(Controls::default()),
    })
    .expect("engine opens")
}

pub fn run(s: &mut Session, sql: &str) -> Collect {
    let mut c = Collect::default();
    s.execute(sql, &[], &mut c);
    c
}

/// Runs and asserts no error.
pub fn ok(s: &mut Session, sql: &str) -> Collect {
    let c = run(s, sql);
    assert!(c.errors.is_empty(), "{sql}: {:?}", c.errors);
    c
}

pub fn rows(s: &mut Session, sql: &str) -> Vec<Vec<Value>> {
    let c = ok(s, sql);
    c.sets.last().map(|x| x.1.clone()).unwrap_or_default()
}

pub fn err(s: &mut Session, sql: &str) -> SqlError {
    let c = run(s, sql);
    c.errors
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("{sql}: expected an error"))
}

fn i(v: i64) -> Value {
    Value::Int(v)
}
fn st(v: &str) -> Value {
    Value::String(v.into())
}

#[test]
fn create_insert_select_update_delete() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE dbo.T (id INT NOT NULL PRIMARY KEY, name NVARCHAR(20) NULL, amount DECIMAL(10,2))");
    let c = ok(
        &mut s,
        "INSERT INTO T (id, name, amount) VALUES (1, N'a', 12.5), (2, N'b', -3)",
    );
    assert_eq!(c.dones.last().unwrap().count, Some(2));
    assert_eq!(
        rows(&mut s, "SELECT id, name, amount FROM T ORDER BY id"),
        vec![
            vec![i(1), st("a"), Value::Decimal(1250, 2)],
            vec![i(2), st("b"), Value::Decimal(-300, 2)]
        ]
    );
    let c = ok(
        &mut s,
        "UPDATE T SET name = N'z', amount = amount + 1 WHERE id = 2",
    );
    assert_eq!(c.dones.last().unwrap().count, Some(1));
    assert_eq!(
        rows(&mut s, "SELECT name, amount FROM T WHERE id = 2"),
        vec![vec![st("z"), Value::Decimal(-200, 2)]]
    );
    ok(&mut s, "DELETE FROM T WHERE id = 1");
    assert_eq!(rows(&mut s, "SELECT COUNT(*) FROM T"), vec![vec![i(1)]]);
    let meta = &ok(&mut s, "SELECT * FROM T").sets[0].0;
    assert_eq!(meta[1].ty, SqlType::NVarChar(Len::N(20)));
    assert!(!meta[0].nullable);
}

#[test]
fn duplicate_key_and_not_null_errors_match_sql_server() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE T (id INT CONSTRAINT PK_T PRIMARY KEY, v NVARCHAR(5) NOT NULL)",
    );
    ok(&mut s, "INSERT INTO T VALUES (1, N'x')");
    let x = err(&mut s, "INSERT INTO T VALUES (1, N'y')");
    assert_eq!(x.number, 2627);
    assert_eq!(
        x.message,
        "Violation of PRIMARY KEY constraint 'PK_T'. Cannot insert duplicate key in object 'dbo.T'. The duplicate key value is (1)."
    );
    let x = err(&mut s, "INSERT INTO T VALUES (2, NULL)");
    assert_eq!(x.number, 515);
    assert_eq!(
        x.message,
        "Cannot insert the value NULL into column 'v', table 'testdb.dbo.T'; column does not allow nulls. INSERT fails."
    );
    let x = err(&mut s, "INSERT INTO T VALUES (3, N'toolong')");
    assert_eq!(x.number, 2628);
    assert_eq!(rows(&mut s, "SELECT COUNT(*) FROM T"), vec![vec![i(1)]]);
}

#[test]
fn identity_scope_identity_and_identity_insert() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE T (id INT IDENTITY(10, 5) PRIMARY KEY, v INT)",
    );
    ok(&mut s, "INSERT INTO T (v) VALUES (1)");
    ok(&mut s, "INSERT INTO T (v) VALUES (2)");
    assert_eq!(
        rows(&mut s, "SELECT SCOPE_IDENTITY()"),
        vec![vec![Value::Decimal(15, 0)]]
    );
    assert_eq!(
        err(&mut s, "INSERT INTO T (id, v) VALUES (100, 3)").number,
        544
    );
    ok(&mut s, "SET IDENTITY_INSERT T ON");
    assert_eq!(err(&mut s, "INSERT INTO T (v) VALUES (3)").number, 545);
    ok(&mut s, "INSERT INTO T (id, v) VALUES (100, 3)");
    ok(&mut s, "CREATE TABLE U (id INT IDENTITY PRIMARY KEY)");
    assert_eq!(err(&mut s, "SET IDENTITY_INSERT U ON").number, 8107);
    ok(&mut s, "SET IDENTITY_INSERT T OFF");
    ok(&mut s, "INSERT INTO T (v) VALUES (4)");
    assert_eq!(
        rows(&mut s, "SELECT id FROM T WHERE v = 4"),
        vec![vec![i(105)]]
    );
}

#[test]
fn transactions_commit_and_rollback_with_env_changes() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE T (id INT PRIMARY KEY)");
    let c = ok(&mut s, "BEGIN TRAN");
    assert!(matches!(c.env[0], EnvChange::BeginTransaction(d) if d != 0));
    assert_ne!(s.transaction_descriptor(), 0);
    ok(&mut s, "INSERT INTO T VALUES (1)");
    let c = ok(&mut s, "ROLLBACK");
    assert!(matches!(c.env[0], EnvChange::RollbackTransaction(_)));
    assert_eq!(s.transaction_descriptor(), 0);
    assert_eq!(rows(&mut s, "SELECT COUNT(*) FROM T"), vec![vec![i(0)]]);
    ok(
        &mut s,
        "BEGIN TRANSACTION; INSERT INTO T VALUES (2); COMMIT",
    );
    assert_eq!(rows(&mut s, "SELECT COUNT(*) FROM T"), vec![vec![i(1)]]);
    assert_eq!(err(&mut s, "COMMIT").number, 3902);
}

#[test]
fn failed_statement_in_transaction_leaves_no_trace_but_keeps_transaction() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE T (id INT PRIMARY KEY)");
    ok(&mut s, "BEGIN TRAN");
    ok(&mut s, "INSERT INTO T VALUES (1)");
    // The second row fails: the whole statement is undone, the first stays.
    assert_eq!(err(&mut s, "INSERT INTO T VALUES (2), (1)").number, 2627);
    assert_ne!(s.transaction_descriptor(), 0);
    ok(&mut s, "COMMIT");
    assert_eq!(rows(&mut s, "SELECT id FROM T"), vec![vec![i(1)]]);
    // XACT_ABORT ON: the error rolls the transaction back.
    ok(&mut s, "SET XACT_ABORT ON");
    ok(&mut s, "BEGIN TRAN");
    ok(&mut s, "INSERT INTO T VALUES (5)");
    let c = run(&mut s, "INSERT INTO T VALUES (1)");
    assert_eq!(c.errors[0].number, 2627);
    assert_eq!(s.transaction_descriptor(), 0);
    assert_eq!(rows(&mut s, "SELECT COUNT(*) FROM T"), vec![vec![i(1)]]);
}

#[test]
fn read_committed_reader_sees_only_committed_rows() {
    let e = engine();
    let mut a = e.session("sa").unwrap();
    let mut b = e.session("sa").unwrap();
    ok(&mut a, "CREATE TABLE T (id INT PRIMARY KEY)");
    ok(&mut a, "BEGIN TRAN; INSERT INTO T VALUES (1)");
    assert_eq!(rows(&mut b, "SELECT COUNT(*) FROM T"), vec![vec![i(0)]]);
    ok(&mut a, "COMMIT");
    assert_eq!(rows(&mut b, "SELECT COUNT(*) FROM T"), vec![vec![i(1)]]);
}

#[test]
fn snapshot_isolation_needs_the_database_option_and_keeps_its_snapshot() {
    let e = engine();
    let mut a = e.session("sa").unwrap();
    let mut b = e.session("sa").unwrap();
    ok(&mut a, "CREATE TABLE T (id INT PRIMARY KEY, v INT)");
    ok(&mut a, "INSERT INTO T VALUES (1, 1)");
    ok(&mut b, "SET TRANSACTION ISOLATION LEVEL SNAPSHOT");
    ok(&mut b, "BEGIN TRAN");
    assert_eq!(err(&mut b, "SELECT * FROM T").number, 3952);
    ok(&mut b, "ROLLBACK");
    ok(
        &mut a,
        "ALTER DATABASE CURRENT SET ALLOW_SNAPSHOT_ISOLATION ON",
    );
    ok(&mut b, "BEGIN TRAN");
    assert_eq!(rows(&mut b, "SELECT COUNT(*) FROM T"), vec![vec![i(1)]]);
    ok(&mut a, "INSERT INTO T VALUES (2, 2)");
    assert_eq!(rows(&mut b, "SELECT COUNT(*) FROM T"), vec![vec![i(1)]]);
    // Writing after another session committed: update conflict, rolled back.
    let x = err(&mut b, "UPDATE T SET v = 5 WHERE id = 1");
    assert_eq!(x.number, 3960);
    assert!(
        x.message.contains("dbo.T") || x.message.contains("T"),
        "{}",
        x.message
    );
    assert_eq!(b.transaction_descriptor(), 0);
    assert_eq!(rows(&mut b, "SELECT COUNT(*) FROM T"), vec![vec![i(2)]]);
}

#[test]
fn foreign_keys_and_checks_raise_547() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE P (id INT PRIMARY KEY)");
    ok(&mut s, "CREATE TABLE C (id INT PRIMARY KEY, pid INT CONSTRAINT FK_C_P REFERENCES P(id), q INT CONSTRAINT CK_q CHECK (q > 0))");
    ok(&mut s, "INSERT INTO P VALUES (1)");
    ok(&mut s, "INSERT INTO C VALUES (1, 1, 1)");
    let x = err(&mut s, "INSERT INTO C VALUES (2, 9, 1)");
    assert_eq!(x.number, 547);
    assert!(
        x.message.starts_with(
            "The INSERT statement conflicted with the FOREIGN KEY constraint \"FK_C_P\"."
        ),
        "{}",
        x.message
    );
    let x = err(&mut s, "INSERT INTO C VALUES (3, 1, 0)");
    assert_eq!(x.number, 547);
    assert!(x.message.contains("CHECK constraint \"CK_q\""));
    let x = err(&mut s, "DELETE FROM P WHERE id = 1");
    assert_eq!(x.number, 547);
    assert!(x.message.contains("REFERENCE constraint \"FK_C_P\""));
}

#[test]
fn merge_upserts_and_outputs_action() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE T (id INT PRIMARY KEY, v NVARCHAR(10))",
    );
    ok(&mut s, "INSERT INTO T VALUES (1, N'old')");
    let c = ok(
        &mut s,
        "MERGE T AS tgt USING (VALUES (1, N'new'), (2, N'two')) AS src (id, v) ON tgt.id = src.id
         WHEN MATCHED THEN UPDATE SET v = src.v
         WHEN NOT MATCHED THEN INSERT (id, v) VALUES (src.id, src.v)
         OUTPUT $action, INSERTED.id;",
    );
    let out = &c.sets[0].1;
    assert_eq!(out.len(), 2);
    assert!(out.contains(&vec![st("UPDATE"), i(1)]));
    assert!(out.contains(&vec![st("INSERT"), i(2)]));
    assert_eq!(
        rows(&mut s, "SELECT v FROM T ORDER BY id"),
        vec![vec![st("new")], vec![st("two")]]
    );
}

#[test]
fn catalog_views_and_functions() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE dbo.Orders (id INT IDENTITY PRIMARY KEY, name VARCHAR(30) NOT NULL)",
    );
    assert_eq!(rows(&mut s, "SELECT DB_NAME()"), vec![vec![st("testdb")]]);
    let r = rows(&mut s, "SELECT COLUMNPROPERTY(OBJECT_ID('dbo.Orders'), 'id', 'IsIdentity'), COLUMNPROPERTY(OBJECT_ID('dbo.Orders'), 'name', 'ColumnId')");
    assert_eq!(r, vec![vec![i(1), i(2)]]);
    let r = rows(&mut s, "SELECT c.name, c.is_identity FROM sys.columns c JOIN sys.tables t ON t.object_id = c.object_id WHERE t.name = 'orders' ORDER BY c.column_id");
    assert_eq!(r, vec![vec![st("id"), i(1)], vec![st("name"), i(0)]]);
    let r = rows(&mut s, "SELECT DATA_TYPE, CHARACTER_MAXIMUM_LENGTH FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'Orders' AND COLUMN_NAME = 'name'");
    assert_eq!(r, vec![vec![st("varchar"), i(30)]]);
    let r = rows(&mut s, "SELECT CONSTRAINT_TYPE FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS WHERE TABLE_NAME = 'Orders'");
    assert_eq!(r, vec![vec![st("PRIMARY KEY")]]);
    let r = rows(
        &mut s,
        "SELECT snapshot_isolation_state FROM sys.databases WHERE name = DB_NAME()",
    );
    assert_eq!(r, vec![vec![i(0)]]);
    assert_eq!(err(&mut s, "SELECT * FROM dbo.Missing").number, 208);
    assert_eq!(err(&mut s, "SELECT nope FROM dbo.Orders").number, 207);
}

#[test]
fn parameters_are_bound_and_types_round_trip() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE T (id UNIQUEIDENTIFIER PRIMARY KEY, d DATETIME2(7), dt DATETIME, m MONEY, b VARBINARY(MAX), f FLOAT, r REAL, dd DATE, t TIME(3), o DATETIMEOFFSET(7), c CHAR(3), big DECIMAL(38,10))",
    );
    let g = *uuid::Uuid::new_v4().as_bytes();
    let vals = vec![
        Value::Guid(g),
        Value::DateTime {
            days: 738000,
            ticks: 123_456_789,
        },
        Value::DateTime {
            days: 738000,
            ticks: 10_030_000,
        },
        Value::Decimal(123_4567, 4),
        Value::Binary(vec![0, 1, 2, 255]),
        Value::Float(1.5e300),
        Value::Float(0.25),
        Value::Date(738001),
        Value::Time(36_000_000_000 + 1_230_000),
        Value::DateTimeOffset {
            days: 738000,
            ticks: 5,
            offset_minutes: -300,
        },
        Value::String("ab ".into()),
        Value::Decimal(-12345678901234567890123456789, 10),
    ];
    let types = [
        SqlType::UniqueIdentifier,
        SqlType::DateTime2(7),
        SqlType::DateTime,
        SqlType::Money,
        SqlType::VarBinary(Len::Max),
        SqlType::Float,
        SqlType::Real,
        SqlType::Date,
        SqlType::Time(3),
        SqlType::DateTimeOffset(7),
        SqlType::Char(3),
        SqlType::Decimal {
            precision: 38,
            scale: 10,
        },
    ];
    let params: Vec<Param> = vals
        .iter()
        .zip(types.iter())
        .enumerate()
        .map(|(n, (v, t))| Param {
            name: format!("@P{}", n + 1),
            ty: *t,
            value: v.clone(),
            output: false,
        })
        .collect();
    let mut c = tests::Collect::default();
    s.execute(
        "INSERT INTO T VALUES (@P1, @P2, @P3, @P4, @P5, @P6, @P7, @P8, @P9, @P10, @P11, @P12)",
        &params,
        &mut c,
    );
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let mut c = tests::Collect::default();
    s.execute("SELECT * FROM T WHERE id = @P1", &params[..1], &mut c);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert_eq!(c.sets[0].1, vec![vals]);
}

#[test]
fn conversion_errors() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE T (a TINYINT, b INT)");
    assert_eq!(err(&mut s, "INSERT INTO T (a) VALUES (300)").number, 8115);
    assert_eq!(err(&mut s, "INSERT INTO T (b) VALUES ('abc')").number, 245);
    assert_eq!(err(&mut s, "SELECT CAST('x' AS INT)").number, 245);
}

#[test]
fn queries_joins_grouping_paging_and_case_insensitive_strings() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE A (id INT PRIMARY KEY, name NVARCHAR(10))",
    );
    ok(
        &mut s,
        "CREATE TABLE B (id INT PRIMARY KEY, aid INT, qty INT)",
    );
    ok(
        &mut s,
        "INSERT INTO A VALUES (1, N'Apple'), (2, N'banana'), (3, N'cherry')",
    );
    ok(
        &mut s,
        "INSERT INTO B VALUES (10, 1, 5), (11, 1, 7), (12, 2, 1)",
    );
    assert_eq!(
        rows(&mut s, "SELECT id FROM A WHERE name = 'APPLE'"),
        vec![vec![i(1)]]
    );
    assert_eq!(
        rows(&mut s, "SELECT name FROM A ORDER BY name DESC"),
        vec![vec![st("cherry")], vec![st("banana")], vec![st("Apple")]]
    );
    let r = rows(&mut s, "SELECT a.name, SUM(b.qty) AS total, COUNT(b.id) FROM A a LEFT OUTER JOIN B b ON b.aid = a.id GROUP BY a.name ORDER BY total DESC");
    assert_eq!(r[0], vec![st("Apple"), i(12), i(2)]);
    assert_eq!(r[2], vec![st("cherry"), Value::Null, i(0)]);
    assert_eq!(
        rows(&mut s, "SELECT TOP (1) id FROM A ORDER BY id DESC"),
        vec![vec![i(3)]]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT id FROM A ORDER BY id OFFSET 1 ROWS FETCH NEXT 1 ROWS ONLY"
        ),
        vec![vec![i(2)]]
    );
    let r = rows(&mut s, "SELECT b.id FROM A a RIGHT JOIN B b ON b.aid = a.id WHERE a.name LIKE 'app%' ORDER BY b.id");
    assert_eq!(r, vec![vec![i(10)], vec![i(11)]]);
    assert_eq!(
        rows(&mut s, "SELECT MIN(qty), MAX(qty) FROM B"),
        vec![vec![i(1), i(7)]]
    );
    assert_eq!(rows(&mut s, "SELECT id FROM A WHERE id IN (SELECT aid FROM B) AND EXISTS (SELECT 1 FROM B WHERE B.aid = A.id AND qty > 6)"), vec![vec![i(1)]]);
}

#[test]
fn update_and_delete_with_joins_output_and_nocount() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE T (id INT PRIMARY KEY, v INT)");
    ok(&mut s, "CREATE TABLE S (id INT PRIMARY KEY, v INT)");
    ok(&mut s, "INSERT INTO T VALUES (1, 0), (2, 0), (3, 0)");
    ok(
        &mut s,
        "INSERT INTO S SELECT id, id * 10 FROM T WHERE id < 3",
    );
    let c = ok(
        &mut s,
        "UPDATE t SET v = s.v FROM T t JOIN S s ON s.id = t.id",
    );
    assert_eq!(c.dones.last().unwrap().count, Some(2));
    assert_eq!(
        rows(&mut s, "SELECT v FROM T ORDER BY id"),
        vec![vec![i(10)], vec![i(20)], vec![i(0)]]
    );
    let c = ok(
        &mut s,
        "DELETE t OUTPUT DELETED.id FROM T t JOIN S s ON s.id = t.id WHERE s.v > 10",
    );
    assert_eq!(c.sets[0].1, vec![vec![i(2)]]);
    let c = ok(&mut s, "SET NOCOUNT ON; INSERT INTO T OUTPUT INSERTED.* VALUES (7, 70); DELETE FROM T WHERE id = 7");
    assert_eq!(c.sets[0].1, vec![vec![i(7), i(70)]]);
    assert_eq!(c.dones.last().unwrap().count, None);
    assert_eq!(rows(&mut s, "SELECT @@ROWCOUNT"), vec![vec![i(1)]]);
}

#[test]
fn transaction_manager_requests() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE T (id INT PRIMARY KEY)");
    let mut c = Collect::default();
    s.tm_begin(None, &mut c);
    assert!(matches!(c.env[..], [EnvChange::BeginTransaction(_)]));
    assert!(c.dones[0].in_transaction);
    ok(&mut s, "INSERT INTO T VALUES (1)");
    let mut c = Collect::default();
    s.tm_commit(&mut c);
    assert!(matches!(c.env[..], [EnvChange::CommitTransaction(_)]));
    let mut c = Collect::default();
    s.tm_begin(Some(Isolation::ReadCommitted), &mut c);
    ok(&mut s, "INSERT INTO T VALUES (2)");
    let mut c = Collect::default();
    s.tm_rollback(&mut c);
    assert!(matches!(c.env[..], [EnvChange::RollbackTransaction(_)]));
    assert_eq!(rows(&mut s, "SELECT id FROM T"), vec![vec![i(1)]]);
    let mut c = Collect::default();
    s.tm_commit(&mut c);
    assert_eq!(c.errors[0].number, 3902);
}

#[test]
fn fail_next_control_and_snapshots() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE T (id INT PRIMARY KEY)");
    ok(&mut s, "INSERT INTO T VALUES (1)");
    ok(
        &mut s,
        "EXEC mssql_sim.fail_next @table = 'dbo.T', @error = 1205, @count = 1",
    );
    ok(&mut s, "BEGIN TRAN");
    let x = err(&mut s, "INSERT INTO T VALUES (2)");
    assert_eq!(x.number, 1205);
    assert_eq!(
        s.transaction_descriptor(),
        0,
        "1205 rolls the transaction back"
    );
    ok(&mut s, "INSERT INTO T VALUES (2)");
    ok(&mut s, "EXEC mssql_sim.snapshot_save @name = 'before'");
    ok(&mut s, "INSERT INTO T VALUES (3)");
    ok(&mut s, "EXEC mssql_sim.snapshot_restore @name = 'before'");
    assert_eq!(rows(&mut s, "SELECT COUNT(*) FROM T"), vec![vec![i(2)]]);
    let mut other = e.session("sa").unwrap();
    assert_eq!(rows(&mut other, "SELECT COUNT(*) FROM T"), vec![vec![i(2)]]);
}

#[test]
fn bulk_load_inserts_rows_with_identity() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE T (id INT IDENTITY PRIMARY KEY, name NVARCHAR(10) NOT NULL)",
    );
    ok(&mut s, "INSERT BULK T (name NVARCHAR(10))");
    let meta = vec![ColumnMeta {
        name: "name".into(),
        ty: SqlType::NVarChar(Len::N(10)),
        nullable: false,
        identity: false,
    }];
    let mut n = 0;
    let mut next = move || -> Result<Option<Vec<Value>>, SqlError> {
        n += 1;
        Ok(if n <= 3 {
            Some(vec![Value::String(format!("r{n}"))])
        } else {
            None
        })
    };
    let mut c = Collect::default();
    s.bulk_load(&meta, &mut next, &mut c);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert_eq!(c.dones[0].count, Some(3));
    assert_eq!(
        rows(&mut s, "SELECT id, name FROM T ORDER BY id")[2],
        vec![i(3), st("r3")]
    );
}

#[test]
fn syntax_errors_do_not_panic() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    for sql in [
        "SELEC 1",
        "SELECT FROM",
        "INSERT INTO",
        "'",
        "CREATE TABLE (",
        "SELECT 1 +",
        "EXEC",
    ] {
        let c = run(&mut s, sql);
        assert!(!c.errors.is_empty(), "{sql}");
        assert!(c.dones.last().map(|d| d.error).unwrap_or(false));
    }
}

#[test]
fn sessions_are_send() {
    fn is_send<T: Send>() {}
    is_send::<Session>();
    fn is_sync<T: Send + Sync>() {}
    is_sync::<Engine>();
}

/// Throughput of bulk load; run in release:
/// `cargo test --release -p mssql-sim --lib bulk_throughput -- --ignored --nocapture`
#[test]
#[ignore]
fn bulk_throughput() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE T (id INT IDENTITY PRIMARY KEY, name NVARCHAR(50) NOT NULL, qty INT, price DECIMAL(10,2))");
    ok(
        &mut s,
        "INSERT BULK T (name NVARCHAR(50), qty INT, price DECIMAL(10,2))",
    );
    let meta = vec![
        ColumnMeta {
            name: "name".into(),
            ty: SqlType::NVarChar(Len::N(50)),
            nullable: false,
            identity: false,
        },
        ColumnMeta {
            name: "qty".into(),
            ty: SqlType::Int,
            nullable: true,
            identity: false,
        },
        ColumnMeta {
            name: "price".into(),
            ty: SqlType::Decimal {
                precision: 10,
                scale: 2,
            },
            nullable: true,
            identity: false,
        },
    ];
    let total = 300_000;
    let mut n = 0;
    let mut next = move || -> Result<Option<Vec<Value>>, SqlError> {
        n += 1;
        Ok(if n <= total {
            Some(vec![
                Value::String(format!("row number {n}")),
                Value::Int(n),
                Value::Decimal(n as i128 * 100 + 5, 2),
            ])
        } else {
            None
        })
    };
    let start = std::time::Instant::now();
    let mut c = Collect::default();
    s.bulk_load(&meta, &mut next, &mut c);
    let el = start.elapsed();
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let rate = total as f64 / el.as_secs_f64();
    println!("bulk load: {total} rows in {el:?} = {rate:.0} rows/s");
    assert_eq!(
        rows(&mut s, "SELECT COUNT(*), MAX(id) FROM T"),
        vec![vec![i(total), i(total)]]
    );
}

#[test]
fn variables_control_flow_and_expressions() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE T (id INT PRIMARY KEY, name VARCHAR(10), price DECIMAL(6,2))",
    );
    ok(
        &mut s,
        "INSERT INTO T VALUES (1, 'a', 1.50), (2, NULL, 2.25)",
    );
    let r = rows(&mut s, "DECLARE @x INT = 5, @n NVARCHAR(20); SET @n = N'v' + CAST(@x AS NVARCHAR(5)); SELECT @x + 1, @n");
    assert_eq!(r, vec![vec![i(6), st("v5")]]);
    let r = rows(
        &mut s,
        "DECLARE @m DECIMAL(10,2); SELECT @m = MAX(price) FROM T; SELECT @m",
    );
    assert_eq!(r, vec![vec![Value::Decimal(225, 2)]]);
    let r = rows(
        &mut s,
        "IF OBJECT_ID('dbo.T') IS NOT NULL SELECT 'yes' ELSE SELECT 'no'",
    );
    assert_eq!(r, vec![vec![st("yes")]]);
    let r = rows(
        &mut s,
        "IF NOT EXISTS (SELECT 1 FROM T WHERE id = 9) BEGIN SELECT 1 AS a END",
    );
    assert_eq!(r, vec![vec![i(1)]]);
    let r = rows(&mut s, "SELECT ISNULL(name, 'none'), CASE WHEN price > 2 THEN 'hi' ELSE 'lo' END, price * 2, CONVERT(VARCHAR(10), price) FROM T ORDER BY id");
    assert_eq!(
        r[0],
        vec![st("a"), st("lo"), Value::Decimal(300, 2), st("1.50")]
    );
    assert_eq!(
        r[1],
        vec![st("none"), st("hi"), Value::Decimal(450, 2), st("2.25")]
    );
    let r = rows(
        &mut s,
        "WITH c AS (SELECT id FROM T WHERE id = 1) SELECT id FROM c UNION ALL SELECT 7",
    );
    assert_eq!(r, vec![vec![i(1)], vec![i(7)]]);
    let r = rows(
        &mut s,
        "SELECT price / 3, 7 / 2, 7 % 3, LEN('ab  '), UPPER('x') FROM T WHERE id = 1",
    );
    assert_eq!(r[0][1..], [i(3), i(1), i(2), st("X")]);
    assert_eq!(err(&mut s, "SELECT 1 / 0").number, 8134);
    let x = err(&mut s, "THROW 50001, 'custom failure', 1");
    assert_eq!((x.number, x.message.as_str()), (50001, "custom failure"));
    let c = ok(&mut s, "PRINT 'hello'");
    assert_eq!(c.infos[0].1, "hello");
    assert_eq!(rows(&mut s, "SELECT @@TRANCOUNT"), vec![vec![i(0)]]);
    let r = rows(
        &mut s,
        "SELECT HASHBYTES('SHA2_256', N'abc'), CHECKSUM(1, 'a') - CHECKSUM(1, 'A')",
    );
    assert!(matches!(&r[0][0], Value::Binary(b) if b.len() == 32));
    assert_eq!(r[0][1], i(0));
}

/// Repeated parameterized MERGE (what the agent's applier sends); prints the rate.
#[test]
#[ignore]
fn merge_throughput() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE T (id INT PRIMARY KEY, name NVARCHAR(50), qty INT)",
    );
    let sql = "WITH CHANGE_TRACKING_CONTEXT (@P4) MERGE dbo.T AS t USING (SELECT @P1 AS id, @P2 AS name, @P3 AS qty) AS s ON t.id = s.id WHEN MATCHED THEN UPDATE SET name = s.name, qty = s.qty WHEN NOT MATCHED THEN INSERT (id, name, qty) VALUES (s.id, s.name, s.qty);";
    let total = 5000;
    let start = std::time::Instant::now();
    for n in 0..total {
        let params = vec![
            Param {
                name: "@P1".into(),
                ty: SqlType::Int,
                value: i(n % 1000),
                output: false,
            },
            Param {
                name: "@P2".into(),
                ty: SqlType::NVarChar(Len::N(50)),
                value: st("x"),
                output: false,
            },
            Param {
                name: "@P3".into(),
                ty: SqlType::Int,
                value: i(n),
                output: false,
            },
            Param {
                name: "@P4".into(),
                ty: SqlType::VarBinary(Len::N(128)),
                value: Value::Binary(vec![1, 2]),
                output: false,
            },
        ];
        let mut c = Collect::default();
        s.execute(sql, &params, &mut c);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
    }
    let el = start.elapsed();
    println!(
        "merge: {total} statements in {el:?} = {:.0}/s",
        total as f64 / el.as_secs_f64()
    );
}

#[test]
fn odd_expressions_error_instead_of_panicking() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE T (id INT PRIMARY KEY, d DECIMAL(38,38), g UNIQUEIDENTIFIER, o DATETIMEOFFSET, b VARBINARY(4))");
    for sql in [
        "SELECT CAST(1 AS DECIMAL(38,38))",
        "SELECT 99999999999999999999999999999999999999 * 99999999999999999999999999999999999999",
        "SELECT 1.5 * 2.25, 1.5 / 0.0",
        "SELECT CAST('2024-01-01 10:00 +02:00' AS DATETIMEOFFSET)",
        "SELECT N'a' + 1",
        "SELECT CAST('zzz' AS UNIQUEIDENTIFIER)",
        "SELECT CAST(0x0102 AS INT), CAST(12 AS VARBINARY(2))",
        "SELECT -CAST(5 AS DECIMAL(30,2))",
        "SELECT * FROM T WHERE g = 'not-a-guid'",
        "SELECT * FROM T WHERE o > '2020-01-01'",
        "INSERT INTO T (id, b) VALUES (1, 0x0102030405)",
        "INSERT INTO T (id, d) VALUES (2, 1)",
        "SELECT SUM(d), AVG(id), MAX(g) FROM T",
        "SELECT CAST(NULL AS INT) + 1, NULL + NULL",
        "SELECT TOP (0) * FROM T",
        "SELECT id FROM T ORDER BY 1 DESC",
        "UPDATE T SET id = id + 1",
        "DELETE TOP (1) FROM T",
        "EXEC mssql_sim.nope",
        "EXEC dbo.missing_proc",
        "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID('dbo.T')), CHANGE_TRACKING_CURRENT_VERSION()",
    ] {
        let c = run(&mut s, sql);
        assert_eq!(c.dones.len(), 1, "{sql}: one DONE per statement");
    }
    assert_eq!(
        err(&mut s, "SELECT CAST('zzz' AS UNIQUEIDENTIFIER)").number,
        8169
    );
    assert_eq!(
        err(&mut s, "INSERT INTO T (id, b) VALUES (3, 0x0102030405)").number,
        2628
    );
    assert_eq!(
        err(&mut s, "INSERT INTO T (id, d) VALUES (4, 1)").number,
        8115
    );
}

#[test]
fn data_file_survives_a_restart_and_statements_are_logged() {
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("db.sqlite");
    let log = dir.path().join("statements.log");
    let opts = EngineOptions {
        database: "testdb".into(),
        data_file: Some(file.clone()),
        log_statements: Some(log.clone()),
        controls: Arc::new(Controls::default()),
    };
    {
        let e = Engine::open(opts.clone()).unwrap();
        let mut s = e.session("sa").unwrap();
        ok(
            &mut s,
            "CREATE TABLE T (id INT IDENTITY PRIMARY KEY, v NVARCHAR(10))",
        );
        let p = [Param {
            name: "@P1".into(),
            ty: SqlType::NVarChar(Len::N(10)),
            value: st("first"),
            output: false,
        }];
        let mut c = Collect::default();
        s.execute("INSERT INTO T (v) VALUES (@P1)", &p, &mut c);
        assert!(c.errors.is_empty());
    }
    let e = Engine::open(opts).unwrap();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "INSERT INTO T (v) VALUES (N'second')");
    assert_eq!(
        rows(&mut s, "SELECT id, v FROM T ORDER BY id"),
        vec![vec![i(1), st("first")], vec![i(2), st("second")]]
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("INSERT INTO T (v) VALUES (@P1)") && text.contains("first"),
        "{text}"
    );
}

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
