//! xml, text/ntext/image, sql_variant and sparse columns.

use super::*;
use crate::value::{Len, Param, SqlType};

fn s(v: &str) -> Value {
    Value::String(v.into())
}

fn var(ty: SqlType, v: Value) -> Value {
    Value::Variant(Box::new((ty, v)))
}

fn with_params(s: &mut Session, sql: &str, params: &[Param]) -> Collect {
    let mut c = Collect::default();
    s.execute(sql, params, &mut c);
    c
}

fn p(name: &str, ty: SqlType, value: Value) -> Param {
    Param {
        name: name.into(),
        ty,
        value,
        output: false,
    }
}

#[test]
fn xml_columns_store_normalised_well_formed_text() {
    let e = engine();
    let mut ss = e.session("sa").unwrap();
    ok(&mut ss, "CREATE TABLE X (id INT PRIMARY KEY, doc XML NULL)");
    ok(
        &mut ss,
        "INSERT INTO X VALUES (1, N'<?xml version=\"1.0\"?><a x=''1''></a>'), (2, NULL)",
    );
    let c = with_params(
        &mut ss,
        "INSERT INTO X VALUES (3, @P1)",
        &[p("@P1", SqlType::NVarChar(Len::N(4000)), s("<b>t</b>"))],
    );
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let c = with_params(
        &mut ss,
        "INSERT INTO X VALUES (4, @P1)",
        &[p("@P1", SqlType::Xml, s("<c/>"))],
    );
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let c = ok(&mut ss, "SELECT doc FROM X ORDER BY id");
    assert_eq!(c.sets[0].0[0].ty, SqlType::Xml);
    assert_eq!(
        c.sets[0].1,
        vec![
            vec![s("<a x=\"1\" />")],
            vec![Value::Null],
            vec![s("<b>t</b>")],
            vec![s("<c />")]
        ]
    );
    assert_eq!(
        rows(
            &mut ss,
            "SELECT CAST(doc AS NVARCHAR(MAX)) FROM X WHERE id = 3"
        ),
        vec![vec![s("<b>t</b>")]]
    );
    assert_eq!(
        rows(&mut ss, "SELECT COUNT(*) FROM X WHERE doc IS NULL"),
        vec![vec![i(1)]]
    );
    assert_eq!(err(&mut ss, "INSERT INTO X VALUES (5, '<a>')").number, 9400);
    assert_eq!(
        err(&mut ss, "INSERT INTO X VALUES (5, '<a></b>')").number,
        9436
    );
    assert_eq!(err(&mut ss, "SELECT CAST('<a' AS XML)").number, 9400);
    assert_eq!(
        err(&mut ss, "SELECT 1 FROM X a JOIN X b ON a.doc = b.doc").number,
        305
    );
    assert_eq!(
        err(&mut ss, "SELECT 1 FROM X WHERE doc = N'<c />'").number,
        402
    );
    assert_eq!(err(&mut ss, "SELECT id FROM X ORDER BY doc").number, 305);
    assert_eq!(err(&mut ss, "SELECT doc FROM X GROUP BY doc").number, 305);
    let d = err(&mut ss, "SELECT DISTINCT doc FROM X");
    assert_eq!(d.number, 421);
    assert_eq!(
        d.message,
        "The xml data type cannot be selected as DISTINCT because it is not comparable."
    );
    assert_eq!(err(&mut ss, "SELECT CAST(1 AS XML)").number, 529);
    ok(&mut ss, "ALTER TABLE X ADD extra XML NULL");
    assert_eq!(
        rows(
            &mut ss,
            "SELECT DATA_TYPE, CHARACTER_MAXIMUM_LENGTH FROM INFORMATION_SCHEMA.COLUMNS
             WHERE TABLE_NAME = 'X' AND COLUMN_NAME = 'extra'"
        ),
        vec![vec![s("xml"), i(-1)]]
    );
    assert_eq!(
        rows(
            &mut ss,
            "SELECT c.system_type_id, c.max_length, t.name FROM sys.columns c
             JOIN sys.types t ON t.user_type_id = c.user_type_id
             WHERE c.object_id = OBJECT_ID('dbo.X') AND c.name = 'doc'"
        ),
        vec![vec![i(241), i(-1), s("xml")]]
    );
}

#[test]
fn text_ntext_image_are_real_types() {
    let e = engine();
    let mut ss = e.session("sa").unwrap();
    ok(
        &mut ss,
        "CREATE TABLE L (id INT PRIMARY KEY, t TEXT NULL, n NTEXT NULL, b IMAGE NULL)",
    );
    ok(
        &mut ss,
        "INSERT INTO L VALUES (1, 'caf\u{e9}', N'\u{444}\u{44b}', 0x0102), (2, NULL, NULL, NULL)",
    );
    let c = with_params(
        &mut ss,
        "INSERT INTO L VALUES (3, @P1, @P2, @P3)",
        &[
            p("@P1", SqlType::VarChar(Len::Max), s("long")),
            p("@P2", SqlType::NVarChar(Len::Max), s("wide")),
            p(
                "@P3",
                SqlType::VarBinary(Len::Max),
                Value::Binary(vec![9; 9000]),
            ),
        ],
    );
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let c = ok(&mut ss, "SELECT t, n, b FROM L WHERE id = 1");
    let tys: Vec<SqlType> = c.sets[0].0.iter().map(|m| m.ty).collect();
    assert_eq!(tys, vec![SqlType::Text, SqlType::NText, SqlType::Image]);
    assert_eq!(c.sets[0].0[0].table.as_deref(), Some("dbo.L"));
    assert_eq!(
        c.sets[0].1,
        vec![vec![
            s("caf\u{e9}"),
            s("\u{444}\u{44b}"),
            Value::Binary(vec![1, 2])
        ]]
    );
    assert_eq!(
        rows(&mut ss, "SELECT DATALENGTH(b) FROM L WHERE id = 3"),
        vec![vec![i(9000)]]
    );
    assert_eq!(
        rows(
            &mut ss,
            "SELECT id FROM L WHERE t LIKE 'lo%' OR n LIKE N'\u{444}%' ORDER BY id"
        ),
        vec![vec![i(1)], vec![i(3)]]
    );
    assert_eq!(
        rows(
            &mut ss,
            "SELECT CAST(t AS VARCHAR(MAX)) FROM L WHERE n IS NULL"
        ),
        vec![vec![Value::Null]]
    );
    let x = err(&mut ss, "SELECT id FROM L WHERE t = 'long'");
    assert_eq!(x.number, 402);
    assert_eq!(
        x.message,
        "The data types text and varchar are incompatible in the equal to operator."
    );
    assert_eq!(err(&mut ss, "SELECT id FROM L WHERE n <> n").number, 402);
    let x = err(&mut ss, "SELECT id FROM L ORDER BY t");
    assert_eq!(x.number, 306);
    assert_eq!(
        x.message,
        "The text, ntext, and image data types cannot be compared or sorted, except when using IS NULL or LIKE operator."
    );
    assert_eq!(err(&mut ss, "SELECT b FROM L GROUP BY b").number, 306);
    assert_eq!(err(&mut ss, "SELECT DISTINCT n FROM L").number, 421);
    assert_eq!(err(&mut ss, "SELECT CAST(5 AS TEXT)").number, 529);
    assert_eq!(
        rows(
            &mut ss,
            "SELECT DATA_TYPE, CHARACTER_MAXIMUM_LENGTH FROM INFORMATION_SCHEMA.COLUMNS
             WHERE TABLE_NAME = 'L' AND COLUMN_NAME <> 'id' ORDER BY ORDINAL_POSITION"
        ),
        vec![
            vec![s("text"), i(2_147_483_647)],
            vec![s("ntext"), i(1_073_741_823)],
            vec![s("image"), i(2_147_483_647)]
        ]
    );
    assert_eq!(
        rows(
            &mut ss,
            "SELECT system_type_id, max_length, collation_name FROM sys.columns
             WHERE object_id = OBJECT_ID('dbo.L') AND name <> 'id' ORDER BY column_id"
        ),
        vec![
            vec![i(35), i(16), s("SQL_Latin1_General_CP1_CI_AS")],
            vec![i(99), i(16), s("SQL_Latin1_General_CP1_CI_AS")],
            vec![i(34), i(16), Value::Null]
        ]
    );
}

#[test]
fn sql_variant_keeps_base_types() {
    let e = engine();
    let mut ss = e.session("sa").unwrap();
    ok(
        &mut ss,
        "CREATE TABLE V (id INT PRIMARY KEY, v SQL_VARIANT NULL)",
    );
    // One row per statement: a multi-row VALUES types each column by
    // precedence first (int and varchar make int), as SQL Server does.
    ok(&mut ss, "INSERT INTO V VALUES (1, 5)");
    ok(&mut ss, "INSERT INTO V VALUES (2, 'abc')");
    ok(
        &mut ss,
        "INSERT INTO V VALUES (3, CAST(46279.1 AS DECIMAL(8,2)))",
    );
    ok(&mut ss, "INSERT INTO V VALUES (4, NULL)");
    let c = with_params(
        &mut ss,
        "INSERT INTO V VALUES (5, @P1), (6, @P2)",
        &[
            p("@P1", SqlType::NVarChar(Len::N(4000)), s("x")),
            p("@P2", SqlType::BigInt, i(7)),
        ],
    );
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let c = with_params(
        &mut ss,
        "INSERT INTO V VALUES (7, @P1)",
        &[p(
            "@P1",
            SqlType::Variant,
            var(SqlType::Float, Value::Float(1.5)),
        )],
    );
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let c = ok(&mut ss, "SELECT v FROM V ORDER BY id");
    assert_eq!(c.sets[0].0[0].ty, SqlType::Variant);
    assert_eq!(c.sets[0].1[0], vec![var(SqlType::Int, i(5))]);
    assert_eq!(
        c.sets[0].1[1],
        vec![var(SqlType::VarChar(Len::N(3)), s("abc"))]
    );
    assert_eq!(c.sets[0].1[3], vec![Value::Null]);
    let props = rows(
        &mut ss,
        "SELECT CAST(SQL_VARIANT_PROPERTY(v, 'BaseType') AS NVARCHAR(128)),
                CAST(SQL_VARIANT_PROPERTY(v, 'Precision') AS INT),
                CAST(SQL_VARIANT_PROPERTY(v, 'Scale') AS INT),
                CAST(SQL_VARIANT_PROPERTY(v, 'MaxLength') AS INT)
         FROM V WHERE id IN (1, 3, 5, 6) ORDER BY id",
    );
    assert_eq!(
        props,
        vec![
            vec![s("int"), i(10), i(0), i(4)],
            vec![s("decimal"), i(8), i(2), i(5)],
            vec![s("nvarchar"), i(0), i(0), i(8000)],
            vec![s("bigint"), i(19), i(0), i(8)],
        ]
    );
    assert_eq!(
        rows(&mut ss, "SELECT CAST(v AS INT) + 1 FROM V WHERE id = 1"),
        vec![vec![i(6)]]
    );
    // Same family: compared after conversion; int 5 = 5.0.
    assert_eq!(
        rows(
            &mut ss,
            "SELECT id FROM V WHERE v = CAST(5.0 AS DECIMAL(4,1))"
        ),
        vec![vec![i(1)]]
    );
    assert_eq!(
        rows(&mut ss, "SELECT id FROM V WHERE v = 'ABC'"),
        vec![vec![i(2)]]
    );
    // Families: float > exact numeric > character; NULL first.
    assert_eq!(
        rows(&mut ss, "SELECT id FROM V ORDER BY v, id"),
        vec![
            vec![i(4)],
            vec![i(2)],
            vec![i(5)],
            vec![i(1)],
            vec![i(6)],
            vec![i(3)],
            vec![i(7)]
        ]
    );
    assert_eq!(
        err(
            &mut ss,
            "INSERT INTO V VALUES (9, CAST('x' AS NVARCHAR(MAX)))"
        )
        .number,
        206
    );
    assert_eq!(err(&mut ss, "SELECT v + 1 FROM V").number, 402);
    assert_eq!(
        rows(
            &mut ss,
            "SELECT DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'V' AND COLUMN_NAME = 'v'"
        ),
        vec![vec![s("sql_variant")]]
    );
    assert_eq!(
        rows(
            &mut ss,
            "SELECT system_type_id, max_length FROM sys.columns WHERE object_id = OBJECT_ID('dbo.V') AND name = 'v'"
        ),
        vec![vec![i(98), i(8016)]]
    );
}

#[test]
fn sparse_columns_report_and_refuse_as_sql_server() {
    let e = engine();
    let mut ss = e.session("sa").unwrap();
    ok(
        &mut ss,
        "CREATE TABLE S (id INT PRIMARY KEY, a INT SPARSE NULL, b NVARCHAR(10) NULL)",
    );
    assert_eq!(
        rows(
            &mut ss,
            "SELECT name, is_sparse, is_column_set FROM sys.columns WHERE object_id = OBJECT_ID('dbo.S') ORDER BY column_id"
        ),
        vec![
            vec![s("id"), i(0), i(0)],
            vec![s("a"), i(1), i(0)],
            vec![s("b"), i(0), i(0)]
        ]
    );
    ok(&mut ss, "INSERT INTO S (id, a) VALUES (1, 5)");
    assert_eq!(rows(&mut ss, "SELECT a FROM S"), vec![vec![i(5)]]);
    assert_eq!(
        err(
            &mut ss,
            "CREATE TABLE S2 (id INT PRIMARY KEY, a INT SPARSE NOT NULL)"
        )
        .number,
        1731
    );
    assert_eq!(
        err(
            &mut ss,
            "CREATE TABLE S3 (id INT PRIMARY KEY, t TEXT SPARSE NULL)"
        )
        .number,
        1731
    );
    let x = err(
        &mut ss,
        "CREATE TABLE S4 (id INT PRIMARY KEY, a INT SPARSE NULL, cs XML COLUMN_SET FOR ALL_SPARSE_COLUMNS)",
    );
    assert!(x.message.contains("COLUMN_SET"), "{x:?}");
}

#[test]
fn changetable_joins_tables_with_the_new_types() {
    let e = engine();
    let mut ss = e.session("sa").unwrap();
    ok(
        &mut ss,
        "ALTER DATABASE testdb SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)",
    );
    ok(
        &mut ss,
        "CREATE TABLE C (id INT PRIMARY KEY, x XML NULL, t NTEXT NULL, v SQL_VARIANT NULL, b IMAGE NULL)",
    );
    ok(&mut ss, "ALTER TABLE C ENABLE CHANGE_TRACKING");
    ok(&mut ss, "INSERT INTO C VALUES (1, '<a/>', N'n', 3, 0x01)");
    let c = ok(
        &mut ss,
        "SELECT CT.id, CT.SYS_CHANGE_OPERATION, C.x, C.t, C.v, C.b
         FROM CHANGETABLE(CHANGES C, 0) AS CT LEFT JOIN C ON C.id = CT.id",
    );
    assert_eq!(
        c.sets[0].1,
        vec![vec![
            i(1),
            s("I"),
            s("<a />"),
            s("n"),
            var(SqlType::Int, i(3)),
            Value::Binary(vec![1])
        ]]
    );
}

#[test]
fn clr_types_store_serialized_bytes() {
    let e = engine();
    let mut ss = e.session("sa").unwrap();
    ok(
        &mut ss,
        "CREATE TABLE H (id INT PRIMARY KEY, h HIERARCHYID NULL, g GEOGRAPHY NULL, m GEOMETRY NULL)",
    );
    // hierarchyid /1/, /2/ and /1/1/ in SQL Server's serialization.
    ok(&mut ss, "INSERT INTO H (id, h, g) VALUES (1, 0x58, 0xE6100000010C), (2, 0x68, NULL), (3, 0x5AC0, NULL)");
    let c = ok(&mut ss, "SELECT h, g FROM H ORDER BY h");
    assert_eq!(c.sets[0].0[0].ty, SqlType::HierarchyId);
    assert_eq!(c.sets[0].0[1].ty, SqlType::Geography);
    // Depth-first order: /1/, /1/1/, /2/.
    let hs: Vec<Value> = c.sets[0].1.iter().map(|r| r[0].clone()).collect();
    assert_eq!(
        hs,
        vec![
            Value::Binary(vec![0x58]),
            Value::Binary(vec![0x5A, 0xC0]),
            Value::Binary(vec![0x68])
        ]
    );
    assert_eq!(
        rows(&mut ss, "SELECT id FROM H WHERE h = 0x68"),
        vec![vec![i(2)]]
    );
    let x = err(&mut ss, "SELECT id FROM H WHERE g = g");
    assert_eq!(
        (x.number, x.message.as_str()),
        (
            403,
            "Invalid operator for data type. Operator equals equal to, type equals geography."
        )
    );
    let x = err(&mut ss, "SELECT id FROM H ORDER BY m");
    assert_eq!(
        (x.number, x.message.as_str()),
        (
            249,
            "The type \"geometry\" is not comparable. It cannot be used in the ORDER BY clause."
        )
    );
    assert_eq!(err(&mut ss, "SELECT DISTINCT g FROM H").number, 421);
    assert!(err(&mut ss, "SELECT CAST('/1/' AS HIERARCHYID)")
        .message
        .contains("hierarchyid"));
    assert_eq!(
        rows(
            &mut ss,
            "SELECT c.name, t.name, c.system_type_id, c.max_length FROM sys.columns c
             JOIN sys.types t ON t.user_type_id = c.user_type_id
             WHERE c.object_id = OBJECT_ID('dbo.H') AND c.column_id > 1 ORDER BY c.column_id"
        ),
        vec![
            vec![s("h"), s("hierarchyid"), i(240), i(892)],
            vec![s("g"), s("geography"), i(240), i(-1)],
            vec![s("m"), s("geometry"), i(240), i(-1)]
        ]
    );
    assert_eq!(
        rows(
            &mut ss,
            "SELECT DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'H' ORDER BY ORDINAL_POSITION"
        ),
        vec![vec![s("int")], vec![s("hierarchyid")], vec![s("geography")], vec![s("geometry")]]
    );
}
