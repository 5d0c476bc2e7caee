//! DML, constraints, types, queries.

use super::*;
use crate::engine::*;
use crate::value::{Len, SqlType};

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
    let x = err(&mut s, "INSERT INTO T (a) VALUES (300)");
    assert_eq!(
        (x.number, x.message.as_str()),
        (
            220,
            "Arithmetic overflow error for data type tinyint, value = 300."
        )
    );
    assert_eq!(
        err(
            &mut s,
            "INSERT INTO T (b) VALUES (CAST(3000000000 AS BIGINT))"
        )
        .number,
        8115
    );
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
fn identity_values_are_not_reused_after_rollback_or_failure() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE T (id INT IDENTITY PRIMARY KEY, v NVARCHAR(3) NOT NULL)",
    );
    ok(&mut s, "INSERT INTO T (v) VALUES (N'a')");
    ok(
        &mut s,
        "BEGIN TRAN; INSERT INTO T (v) VALUES (N'b'); ROLLBACK",
    );
    assert_eq!(
        err(&mut s, "INSERT INTO T (v) VALUES (N'long')").number,
        2628
    );
    ok(&mut s, "INSERT INTO T (v) VALUES (N'c')");
    assert_eq!(
        rows(&mut s, "SELECT id FROM T ORDER BY id"),
        vec![vec![i(1)], vec![i(3)]]
    );
    ok(&mut s, "TRUNCATE TABLE T");
    ok(&mut s, "INSERT INTO T (v) VALUES (N'd')");
    assert_eq!(
        rows(&mut s, "SELECT id FROM T"),
        vec![vec![i(1)]],
        "TRUNCATE reseeds"
    );
}

#[test]
fn sys_indexes_describe_the_primary_key() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE T (a INT NOT NULL, b NVARCHAR(5) NOT NULL, c INT, CONSTRAINT PK_T PRIMARY KEY (b, a))");
    ok(&mut s, "CREATE INDEX IX_T_c ON T (c)");
    let r = rows(
        &mut s,
        "SELECT col.name FROM sys.indexes i JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
         JOIN sys.columns col ON col.object_id = ic.object_id AND col.column_id = ic.column_id
         WHERE i.object_id = OBJECT_ID('dbo.T') AND i.is_primary_key = 1 ORDER BY ic.key_ordinal",
    );
    assert_eq!(r, vec![vec![st("b")], vec![st("a")]]);
    assert_eq!(
        rows(
            &mut s,
            "SELECT COUNT(*) FROM sys.indexes WHERE object_id = OBJECT_ID('dbo.T')"
        ),
        vec![vec![i(2)]]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT name FROM sys.key_constraints WHERE type = 'PK'"
        ),
        vec![vec![st("PK_T")]]
    );
}

#[test]
fn defaults_apply_and_show_in_information_schema() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE T (id INT PRIMARY KEY, n INT NOT NULL DEFAULT 0, s NVARCHAR(10) DEFAULT N'x', d DATETIME2 DEFAULT SYSDATETIME())");
    ok(&mut s, "INSERT INTO T (id) VALUES (1)");
    let r = rows(
        &mut s,
        "SELECT n, s, CASE WHEN d IS NULL THEN 0 ELSE 1 END FROM T",
    );
    assert_eq!(r, vec![vec![i(0), st("x"), i(1)]]);
    let r = rows(&mut s, "SELECT COLUMN_DEFAULT FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'T' ORDER BY ORDINAL_POSITION");
    assert_eq!(
        r,
        vec![
            vec![Value::Null],
            vec![st("((0))")],
            vec![st("('x')")],
            vec![st("(sysdatetime())")]
        ]
    );
}

#[test]
fn output_can_name_source_columns() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE T (id INT IDENTITY PRIMARY KEY, name NVARCHAR(10))",
    );
    ok(
        &mut s,
        "CREATE TABLE S (src_id INT PRIMARY KEY, name NVARCHAR(10))",
    );
    ok(&mut s, "INSERT INTO S VALUES (70, N'a'), (80, N'b')");
    let c = ok(
        &mut s,
        "MERGE T AS t USING S AS s ON t.name = s.name WHEN NOT MATCHED THEN INSERT (name) VALUES (s.name) OUTPUT s.src_id, INSERTED.id, $action;",
    );
    let mut out = c.sets[0].1.clone();
    out.sort_by_key(|r| format!("{:?}", r[0]));
    assert_eq!(
        out,
        vec![
            vec![i(70), i(1), st("INSERT")],
            vec![i(80), i(2), st("INSERT")]
        ]
    );
    assert_eq!(c.sets[0].0[0].name, "src_id");
    let c = ok(&mut s, "UPDATE t SET name = N'z' OUTPUT s.src_id, DELETED.name, INSERTED.name FROM T t JOIN S s ON s.name = t.name WHERE s.src_id = 80");
    assert_eq!(c.sets[0].1, vec![vec![i(80), st("b"), st("z")]]);
    let c = ok(
        &mut s,
        "DELETE t OUTPUT DELETED.id, s.src_id FROM T t JOIN S s ON s.name = t.name",
    );
    assert_eq!(c.sets[0].1, vec![vec![i(1), i(70)]]);
}

#[test]
fn added_constraints_check_existing_rows() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE P (id INT PRIMARY KEY); CREATE TABLE C (id INT PRIMARY KEY, pid INT, q INT)",
    );
    ok(
        &mut s,
        "INSERT INTO P VALUES (1); INSERT INTO C VALUES (1, 1, 5), (2, 9, -1)",
    );
    let x = err(
        &mut s,
        "ALTER TABLE C ADD CONSTRAINT FK_C FOREIGN KEY (pid) REFERENCES P (id)",
    );
    assert_eq!(x.number, 547);
    assert!(
        x.message.starts_with(
            "The ALTER TABLE statement conflicted with the FOREIGN KEY constraint \"FK_C\"."
        ),
        "{}",
        x.message
    );
    assert_eq!(
        err(&mut s, "ALTER TABLE C ADD CONSTRAINT CK_q CHECK (q > 0)").number,
        547
    );
    ok(&mut s, "DELETE FROM C WHERE id = 2");
    ok(&mut s, "ALTER TABLE C ADD CONSTRAINT FK_C FOREIGN KEY (pid) REFERENCES P (id); ALTER TABLE C ADD CONSTRAINT CK_q CHECK (q > 0)");
    assert_eq!(err(&mut s, "INSERT INTO C VALUES (3, 1, 0)").number, 547);
}

#[test]
fn numeric_overflow_text_names_the_source_type() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE D (d DECIMAL(5,2))");
    let x = err(&mut s, "INSERT INTO D VALUES (1000)");
    assert_eq!(
        (x.number, x.message.as_str()),
        (
            8115,
            "Arithmetic overflow error converting int to data type numeric."
        )
    );
    let x = err(&mut s, "INSERT INTO D VALUES (1000.5)");
    assert_eq!(
        x.message,
        "Arithmetic overflow error converting numeric to data type numeric."
    );
}

#[test]
fn aggregates_of_decimals_compare_exactly() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE A (g INT, n DECIMAL(10,2), w DECIMAL(30,4))",
    );
    ok(
        &mut s,
        "INSERT INTO A VALUES (1, 50.25, 1.5), (1, 60.00, 2.5), (2, 5.00, 100)",
    );
    let r = rows(
        &mut s,
        "SELECT g, SUM(n), AVG(w) FROM A GROUP BY g HAVING SUM(n) > 100 ORDER BY g",
    );
    assert_eq!(
        r,
        vec![vec![
            i(1),
            Value::Decimal(11025, 2),
            Value::Decimal(2_000000, 6)
        ]]
    );
    let r = rows(&mut s, "SELECT g FROM A GROUP BY g HAVING AVG(w) > 50");
    assert_eq!(r, vec![vec![i(2)]]);
}
