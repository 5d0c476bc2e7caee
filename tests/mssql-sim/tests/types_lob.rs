//! xml, text, ntext, image and sql_variant through tiberius 0.13: bound
//! parameters, literals, bulk load, the errors SQL Server raises, catalogs.
//!
//! How the values arrive through tiberius: xml as `ColumnData::Xml`
//! (`XmlData`, its text via `to_string()`); text and ntext as
//! `ColumnData::String`, image as `ColumnData::Binary`; a sql_variant as the
//! `ColumnData` of its base type (int → `I32`, nvarchar → `String`, decimal
//! → `Numeric` ...) and a NULL sql_variant as `ColumnData::String(None)`.

mod common;

use common::*;
use std::borrow::Cow;
use tiberius::numeric::Numeric;
use tiberius::xml::XmlData;
use tiberius::{ColumnData, IntoRow, Query};

fn xml(s: &str) -> ColumnData<'static> {
    ColumnData::Xml(Some(Cow::Owned(XmlData::new(s))))
}

#[tokio::test]
async fn xml_round_trips_through_parameters_and_literals() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.X (id INT PRIMARY KEY, doc XML NULL)",
    )
    .await;
    let mut q = Query::new("INSERT INTO dbo.X VALUES (1, @P1), (2, @P2), (3, @P3)");
    q.bind(XmlData::new("<a b='1'><c/></a>"));
    q.bind("<?xml version=\"1.0\"?><n>é 🦀</n>");
    q.bind(Option::<&str>::None);
    q.execute(&mut c)
        .await
        .expect("insert with xml and nvarchar parameters");
    exec(&mut c, "INSERT INTO dbo.X VALUES (4, N'<lit>x</lit>')").await;
    assert_eq!(
        rows(&mut c, "SELECT id, doc FROM dbo.X ORDER BY id").await,
        vec![
            vec![int(1), xml("<a b=\"1\"><c /></a>")],
            vec![int(2), xml("<n>é 🦀</n>")],
            vec![int(3), ColumnData::Xml(None)],
            vec![int(4), xml("<lit>x</lit>")],
        ]
    );
    // Read as a parameterized query too (RPC path), and cast to nvarchar(max).
    let row = c
        .query(
            "SELECT doc, CAST(doc AS NVARCHAR(MAX)) FROM dbo.X WHERE id = @P1",
            &[&4i32],
        )
        .await
        .expect("query")
        .into_row()
        .await
        .expect("row")
        .expect("one row");
    let x: &XmlData = row.get(0).expect("xml");
    assert_eq!(x.to_string(), "<lit>x</lit>");
    let s: &str = row.get(1).expect("nvarchar");
    assert_eq!(s, "<lit>x</lit>");
    assert_eq!(
        rows(&mut c, "SELECT COUNT(*) FROM dbo.X WHERE doc IS NOT NULL").await,
        vec![vec![int(3)]]
    );
    let (n, m) = error_of(&mut c, "INSERT INTO dbo.X VALUES (5, '<a><b></a>')").await;
    assert_eq!(n, 9436, "{m}");
    assert!(m.starts_with("XML parsing: line 1, character "), "{m}");
    let mut q = Query::new("INSERT INTO dbo.X VALUES (6, @P1)");
    q.bind(XmlData::new("<unclosed>"));
    assert_eq!(query_error(&mut c, q).await.0, 9400);
    // An xml parameter is parsed as it is bound.
    let mut q = Query::new("SELECT @P1");
    q.bind(XmlData::new("<?xml version=\"1.0\"?><p></p>"));
    let got: Vec<Vec<ColumnData<'static>>> = q
        .query(&mut c)
        .await
        .expect("select an xml parameter")
        .into_first_result()
        .await
        .expect("rows")
        .into_iter()
        .map(|r| r.into_iter().collect())
        .collect();
    assert_eq!(got, vec![vec![xml("<p />")]]);
    let (n, m) = error_of(&mut c, "SELECT 1 FROM dbo.X a, dbo.X b WHERE a.doc = b.doc").await;
    assert_eq!(
        (n, m.as_str()),
        (
            305,
            "The XML data type cannot be compared or sorted, except when using the IS NULL operator."
        )
    );
    assert_eq!(
        error_of(&mut c, "SELECT id FROM dbo.X ORDER BY doc")
            .await
            .0,
        305
    );
}

#[tokio::test]
async fn text_ntext_image_round_trip_and_refuse_comparisons() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.L (id INT PRIMARY KEY, t TEXT NULL, n NTEXT NULL, b IMAGE NULL)",
    )
    .await;
    let long = "y".repeat(20_000);
    let mut q = Query::new("INSERT INTO dbo.L VALUES (1, @P1, @P2, @P3)");
    q.bind(long.clone());
    q.bind("ünï 🦀");
    q.bind(vec![1u8; 10_000]);
    q.execute(&mut c)
        .await
        .expect("nvarchar/varbinary parameters into text columns");
    exec(
        &mut c,
        "INSERT INTO dbo.L VALUES (2, 'café', N'ω', 0xCAFE), (3, NULL, NULL, NULL)",
    )
    .await;
    let got = rows(&mut c, "SELECT t, n, b FROM dbo.L ORDER BY id").await;
    assert_eq!(
        got,
        vec![
            vec![
                text(&long),
                text("ünï 🦀"),
                ColumnData::Binary(Some(vec![1u8; 10_000].into()))
            ],
            vec![
                text("café"),
                text("ω"),
                ColumnData::Binary(Some(vec![0xCA, 0xFE].into()))
            ],
            vec![
                ColumnData::String(None),
                ColumnData::String(None),
                ColumnData::Binary(None)
            ],
        ]
    );
    assert_eq!(
        rows(
            &mut c,
            "SELECT id FROM dbo.L WHERE t LIKE 'caf%' AND n IS NOT NULL"
        )
        .await,
        vec![vec![int(2)]]
    );
    assert_eq!(
        rows(
            &mut c,
            "SELECT CAST(n AS NVARCHAR(MAX)) FROM dbo.L WHERE id = 2"
        )
        .await,
        vec![vec![text("ω")]]
    );
    assert_eq!(
        error_of(&mut c, "SELECT id FROM dbo.L WHERE t = 'café'").await,
        (
            402,
            "The data types text and varchar are incompatible in the equal to operator.".into()
        )
    );
    assert_eq!(
        error_of(&mut c, "SELECT id FROM dbo.L ORDER BY n").await,
        (
            306,
            "The text, ntext, and image data types cannot be compared or sorted, except when using IS NULL or LIKE operator.".into()
        )
    );
    // Bulk load (tiberius sends text pointers and the TableName). tiberius
    // 0.13 cannot bulk-load an image column (its encoder has no arm for
    // `Binary` into `Image`), so that table has text and ntext only.
    exec(
        &mut c,
        "CREATE TABLE dbo.LB (id INT PRIMARY KEY, t TEXT NULL, n NTEXT NULL)",
    )
    .await;
    let mut req = c.bulk_insert("dbo.LB").await.expect("bulk insert");
    req.send((10i32, "bt", "bn").into_row()).await.expect("row");
    req.send((11i32, Option::<&str>::None, Option::<&str>::None).into_row())
        .await
        .expect("row");
    req.finalize().await.expect("finalize");
    assert_eq!(
        rows(&mut c, "SELECT t, n FROM dbo.LB ORDER BY id").await,
        vec![
            vec![text("bt"), text("bn")],
            vec![ColumnData::String(None), ColumnData::String(None)]
        ]
    );
}

#[tokio::test]
async fn sql_variant_keeps_base_types_over_the_wire() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.V (id INT PRIMARY KEY, v SQL_VARIANT NULL)",
    )
    .await;
    exec(
        &mut c,
        "INSERT INTO dbo.V VALUES (1, 42); INSERT INTO dbo.V VALUES (2, N'héllo');
         INSERT INTO dbo.V VALUES (3, CAST(12.50 AS DECIMAL(8,2))); INSERT INTO dbo.V VALUES (4, NULL)",
    )
    .await;
    let mut q = Query::new("INSERT INTO dbo.V VALUES (5, @P1), (6, @P2)");
    q.bind(7i64);
    q.bind("bound");
    q.execute(&mut c)
        .await
        .expect("typed parameters into sql_variant");
    assert_eq!(
        rows(&mut c, "SELECT v FROM dbo.V ORDER BY id").await,
        vec![
            vec![int(42)],
            vec![text("héllo")],
            vec![ColumnData::Numeric(Some(Numeric::new_with_scale(1250, 2)))],
            vec![ColumnData::String(None)],
            vec![ColumnData::I64(Some(7))],
            vec![text("bound")],
        ]
    );
    assert_eq!(
        rows(
            &mut c,
            "SELECT CAST(SQL_VARIANT_PROPERTY(v, 'BaseType') AS NVARCHAR(20)),
                    CAST(SQL_VARIANT_PROPERTY(v, 'MaxLength') AS INT),
                    CAST(SQL_VARIANT_PROPERTY(v, 'TotalBytes') AS INT)
             FROM dbo.V WHERE id IN (1, 5, 6) ORDER BY id"
        )
        .await,
        vec![
            vec![text("int"), int(4), int(6)],
            vec![text("bigint"), int(8), int(10)],
            // tiberius binds a short &str as nvarchar(4000): MaxLength 8000.
            vec![text("nvarchar"), int(8000), int(19)],
        ]
    );
    // SQL_VARIANT_PROPERTY returns sql_variant itself.
    assert_eq!(
        rows(
            &mut c,
            "SELECT SQL_VARIANT_PROPERTY(v, 'Precision') FROM dbo.V WHERE id = 3"
        )
        .await,
        vec![vec![int(8)]]
    );
    assert_eq!(
        rows(&mut c, "SELECT CAST(v AS INT) * 2 FROM dbo.V WHERE id = 1").await,
        vec![vec![int(84)]]
    );
    // Bulk load: tiberius encodes values of a sql_variant column as SSVARIANT.
    let mut req = c.bulk_insert("dbo.V").await.expect("bulk insert");
    req.send((20i32, 99i32).into_row()).await.expect("row");
    req.send((21i32, "via bulk").into_row()).await.expect("row");
    req.finalize().await.expect("finalize");
    assert_eq!(
        rows(
            &mut c,
            "SELECT v, CAST(SQL_VARIANT_PROPERTY(v, 'BaseType') AS NVARCHAR(20)) FROM dbo.V WHERE id >= 20 ORDER BY id"
        )
        .await,
        vec![
            vec![int(99), text("int")],
            vec![text("via bulk"), text("nvarchar")]
        ]
    );
}

#[tokio::test]
async fn catalogs_report_the_new_types() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.K (id INT PRIMARY KEY, x XML, t TEXT, n NTEXT, b IMAGE, v SQL_VARIANT, s INT SPARSE NULL)",
    )
    .await;
    assert_eq!(
        rows(
            &mut c,
            "SELECT COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'K' ORDER BY ORDINAL_POSITION"
        )
        .await,
        ["id", "x", "t", "n", "b", "v", "s"]
            .iter()
            .zip(["int", "xml", "text", "ntext", "image", "sql_variant", "int"])
            .map(|(c, t)| vec![text(c), text(t)])
            .collect::<Vec<_>>()
    );
    assert_eq!(
        rows(
            &mut c,
            "SELECT t.name, c.max_length, c.is_sparse FROM sys.columns c
             JOIN sys.types t ON t.user_type_id = c.user_type_id
             WHERE c.object_id = OBJECT_ID('dbo.K') AND c.column_id > 1 ORDER BY c.column_id"
        )
        .await,
        vec![
            vec![
                text("xml"),
                ColumnData::I16(Some(-1)),
                ColumnData::Bit(Some(false))
            ],
            vec![
                text("text"),
                ColumnData::I16(Some(16)),
                ColumnData::Bit(Some(false))
            ],
            vec![
                text("ntext"),
                ColumnData::I16(Some(16)),
                ColumnData::Bit(Some(false))
            ],
            vec![
                text("image"),
                ColumnData::I16(Some(16)),
                ColumnData::Bit(Some(false))
            ],
            vec![
                text("sql_variant"),
                ColumnData::I16(Some(8016)),
                ColumnData::Bit(Some(false))
            ],
            vec![
                text("int"),
                ColumnData::I16(Some(4)),
                ColumnData::Bit(Some(true))
            ],
        ]
    );
}

#[tokio::test]
async fn clr_types_arrive_as_udt_binaries() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.H (id INT PRIMARY KEY, h HIERARCHYID NULL, g GEOGRAPHY NULL)",
    )
    .await;
    let point = vec![
        0xE6u8, 0x10, 0, 0, 1, 0x0C, 0, 0, 0, 0, 0, 0, 0x24, 0x40, 0, 0, 0, 0, 0, 0, 0x34, 0x40,
    ];
    let mut q = Query::new("INSERT INTO dbo.H VALUES (1, @P1, @P2), (2, NULL, NULL)");
    // tiberius binds bytes as varbinary, which converts into the CLR types.
    q.bind(&[0x58u8][..]);
    q.bind(point.clone());
    q.execute(&mut c).await.expect("insert");
    assert_eq!(
        rows(&mut c, "SELECT h, g FROM dbo.H ORDER BY id").await,
        vec![
            vec![
                ColumnData::Binary(Some(vec![0x58u8].into())),
                ColumnData::Binary(Some(point.into()))
            ],
            vec![ColumnData::Binary(None), ColumnData::Binary(None)],
        ]
    );
}
