//! Every type of SIM-SPEC "Types that must round-trip exactly", and NULL of
//! each, through tiberius and the TDS layer into the engine and back.

mod common;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime};
use common::*;
use tiberius::numeric::Numeric;
use tiberius::{Query, Uuid};

const CREATE: &str = "CREATE TABLE dbo.AllTypes (
    id INT NOT NULL PRIMARY KEY,
    c_bigint BIGINT, c_smallint SMALLINT, c_tinyint TINYINT, c_bit BIT,
    c_dec DECIMAL(18,4), c_num NUMERIC(38,10), c_float FLOAT, c_real REAL, c_money MONEY,
    c_nvarchar NVARCHAR(50), c_nvarmax NVARCHAR(MAX), c_varchar VARCHAR(50), c_varmax VARCHAR(MAX),
    c_nchar NCHAR(5), c_char CHAR(5), c_varbinary VARBINARY(10), c_varbinmax VARBINARY(MAX),
    c_guid UNIQUEIDENTIFIER, c_date DATE, c_time TIME(7), c_datetime DATETIME, c_datetime2 DATETIME2(7),
    c_dto DATETIMEOFFSET(7))";

const COLS: &str = "id, c_bigint, c_smallint, c_tinyint, c_bit, c_dec, c_num, c_float, c_real, c_money, c_nvarchar, c_nvarmax, c_varchar, c_varmax, c_nchar, c_char, c_varbinary, c_varbinmax, c_guid, c_date, c_time, c_datetime, c_datetime2, c_dto";

fn placeholders() -> String {
    (1..=24)
        .map(|i| format!("@P{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::test]
async fn every_type_round_trips_exactly() {
    let server = start();
    let mut c = connect(&server).await;
    exec(&mut c, CREATE).await;
    let guid = Uuid::parse_str("6F9619FF-8B86-D011-B42D-00C04FC964FF").expect("uuid");
    let date = NaiveDate::from_ymd_opt(2024, 2, 29).expect("date");
    let time = NaiveTime::from_hms_nano_opt(13, 14, 15, 123_456_700).expect("time");
    let dt = NaiveDateTime::new(
        date,
        NaiveTime::from_hms_milli_opt(10, 11, 12, 500).expect("t"),
    );
    let dt2 = NaiveDateTime::new(date, time);
    let dto: DateTime<FixedOffset> =
        DateTime::parse_from_rfc3339("2024-02-29T13:14:15.1234567+05:30").expect("dto");
    let long = "x".repeat(10_000);
    let sql = format!(
        "INSERT INTO dbo.AllTypes ({COLS}) VALUES ({})",
        placeholders()
    );
    let mut q = Query::new(sql);
    q.bind(1i32);
    q.bind(-9_000_000_000_000i64);
    q.bind(-32_000i16);
    q.bind(255u8);
    q.bind(true);
    q.bind(Numeric::new_with_scale(123_456_789, 4));
    q.bind(Numeric::new_with_scale(
        -12_345_678_901_234_567_890_123_456_789i128,
        10,
    ));
    q.bind(1.5e300f64);
    q.bind(0.25f32);
    q.bind(Numeric::new_with_scale(-922_337_203_685_477_5808i128, 4));
    q.bind("héllo wörld");
    q.bind(long.clone());
    q.bind("plain");
    q.bind(long.clone());
    q.bind("ab");
    q.bind("cd");
    q.bind(&[0u8, 1, 2, 255][..]);
    q.bind(vec![7u8; 9000]);
    q.bind(guid);
    q.bind(date);
    q.bind(time);
    q.bind(dt);
    q.bind(dt2);
    q.bind(dto);
    q.execute(&mut c).await.expect("insert");

    let row = c
        .simple_query(format!("SELECT {COLS} FROM dbo.AllTypes WHERE id = 1"))
        .await
        .expect("select")
        .into_row()
        .await
        .expect("row")
        .expect("one row");
    assert_eq!(row.get::<i32, _>(0), Some(1));
    assert_eq!(row.get::<i64, _>(1), Some(-9_000_000_000_000));
    assert_eq!(row.get::<i16, _>(2), Some(-32_000));
    assert_eq!(row.get::<u8, _>(3), Some(255));
    assert_eq!(row.get::<bool, _>(4), Some(true));
    assert_eq!(
        row.get::<Numeric, _>(5),
        Some(Numeric::new_with_scale(123_456_789, 4))
    );
    assert_eq!(
        row.get::<Numeric, _>(6),
        Some(Numeric::new_with_scale(
            -12_345_678_901_234_567_890_123_456_789i128,
            10
        ))
    );
    assert_eq!(row.get::<f64, _>(7), Some(1.5e300));
    assert_eq!(row.get::<f32, _>(8), Some(0.25));
    // tiberius 0.13 decodes money as f64 (its `ColumnData::F64`), so the
    // exact scaled integer is compared through the nearest double.
    assert_eq!(row.get::<f64, _>(9), Some(-922_337_203_685_477.5808f64));
    assert_eq!(row.get::<&str, _>(10), Some("héllo wörld"));
    assert_eq!(row.get::<&str, _>(11), Some(long.as_str()));
    assert_eq!(row.get::<&str, _>(12), Some("plain"));
    assert_eq!(row.get::<&str, _>(13), Some(long.as_str()));
    assert_eq!(row.get::<&str, _>(14), Some("ab   "), "nchar is padded");
    assert_eq!(row.get::<&str, _>(15), Some("cd   "), "char is padded");
    assert_eq!(row.get::<&[u8], _>(16), Some(&[0u8, 1, 2, 255][..]));
    assert_eq!(row.get::<&[u8], _>(17).map(|b| b.len()), Some(9000));
    assert_eq!(row.get::<Uuid, _>(18), Some(guid));
    assert_eq!(row.get::<NaiveDate, _>(19), Some(date));
    assert_eq!(row.get::<NaiveTime, _>(20), Some(time));
    assert_eq!(row.get::<NaiveDateTime, _>(21), Some(dt));
    assert_eq!(row.get::<NaiveDateTime, _>(22), Some(dt2));
    assert_eq!(row.get::<DateTime<FixedOffset>, _>(23), Some(dto));
}

#[tokio::test]
async fn null_of_every_type_round_trips() {
    let server = start();
    let mut c = connect(&server).await;
    exec(&mut c, CREATE).await;
    exec(&mut c, "INSERT INTO dbo.AllTypes (id) VALUES (2)").await;
    let nulls = rows(
        &mut c,
        &format!("SELECT {COLS} FROM dbo.AllTypes WHERE id = 2"),
    )
    .await;
    assert_eq!(nulls.len(), 1);
    for (i, v) in nulls[0].iter().enumerate().skip(1) {
        let null = matches!(
            v,
            tiberius::ColumnData::U8(None)
                | tiberius::ColumnData::I16(None)
                | tiberius::ColumnData::I32(None)
                | tiberius::ColumnData::I64(None)
                | tiberius::ColumnData::F32(None)
                | tiberius::ColumnData::F64(None)
                | tiberius::ColumnData::Bit(None)
                | tiberius::ColumnData::String(None)
                | tiberius::ColumnData::Guid(None)
                | tiberius::ColumnData::Binary(None)
                | tiberius::ColumnData::Numeric(None)
                | tiberius::ColumnData::DateTime(None)
                | tiberius::ColumnData::SmallDateTime(None)
                | tiberius::ColumnData::Time(None)
                | tiberius::ColumnData::Date(None)
                | tiberius::ColumnData::DateTime2(None)
                | tiberius::ColumnData::DateTimeOffset(None)
        );
        assert!(null, "column {i} is NULL: {v:?}");
    }
    // NULL parameters of each type too.
    let mut q = Query::new("INSERT INTO dbo.AllTypes (id, c_bigint, c_nvarchar, c_guid, c_dec, c_datetime2, c_varbinary) VALUES (3, @P1, @P2, @P3, @P4, @P5, @P6)");
    q.bind(None::<i64>);
    q.bind(None::<&str>);
    q.bind(None::<Uuid>);
    q.bind(None::<Numeric>);
    q.bind(None::<NaiveDateTime>);
    q.bind(None::<&[u8]>);
    q.execute(&mut c).await.expect("insert NULL parameters");
    let r = rows(&mut c, "SELECT COUNT(*) FROM dbo.AllTypes WHERE id = 3 AND c_bigint IS NULL AND c_nvarchar IS NULL AND c_guid IS NULL AND c_dec IS NULL").await;
    assert_eq!(r, vec![vec![int(1)]]);
}

#[tokio::test]
async fn out_of_range_values_raise_sql_server_errors() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.Small (id INT PRIMARY KEY, s NVARCHAR(5), t TINYINT, d DECIMAL(5,2))",
    )
    .await;
    let (n, msg) = error_of(
        &mut c,
        "INSERT INTO dbo.Small (id, s) VALUES (1, N'toolong')",
    )
    .await;
    assert_eq!(n, 2628);
    assert_eq!(
        msg,
        "String or binary data would be truncated in table 'testdb.dbo.Small', column 's'. Truncated value: 'toolo'."
    );
    // An integer too big for tinyint is 220 in SQL Server; other overflows 8115.
    assert_eq!(
        error_of(&mut c, "INSERT INTO dbo.Small (id, t) VALUES (2, 256)").await,
        (
            220,
            "Arithmetic overflow error for data type tinyint, value = 256.".to_string()
        )
    );
    assert_eq!(
        error_of(&mut c, "INSERT INTO dbo.Small (id, d) VALUES (3, 1000)")
            .await
            .0,
        8115
    );
    let (n, msg) = error_of(&mut c, "INSERT INTO dbo.Small (id) VALUES ('abc')").await;
    assert_eq!(n, 245);
    assert_eq!(
        msg,
        "Conversion failed when converting the varchar value 'abc' to data type int."
    );
    let mut q = Query::new("INSERT INTO dbo.Small (id, s) VALUES (@P1, @P2)");
    q.bind(4i32);
    q.bind("abcdefgh");
    assert_eq!(query_error(&mut c, q).await.0, 2628);
    assert_eq!(
        rows(&mut c, "SELECT COUNT(*) FROM dbo.Small").await,
        vec![vec![int(0)]]
    );
}
