//! Scenario: every type the stand-in holds, with edge values (extremes,
//! padding, NULLs, the last digit of money), round-trips exactly through an
//! initial full load, streamed inserts and updates, both ways. money and
//! smallmoney are compared as the decimals they are (a float would hide a
//! lost ten-thousandth: 922337203685477.5807 and .6000 are the same f64).

mod common;

use common::*;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

const SCHEMA: &str = "CREATE TABLE dbo.T (
    id INT PRIMARY KEY,
    ti TINYINT NULL, si SMALLINT NULL, bi BIGINT NULL, b BIT NULL,
    d DECIMAL(38,10) NULL, m MONEY NULL, sm SMALLMONEY NULL, f FLOAT NULL, r REAL NULL,
    c CHAR(5) NULL, nc NCHAR(5) NULL, vc VARCHAR(MAX) NULL, nv NVARCHAR(MAX) NULL,
    bin BINARY(4) NULL, vb VARBINARY(MAX) NULL, g UNIQUEIDENTIFIER NULL,
    dt DATE NULL, t3 TIME(3) NULL, t7 TIME(7) NULL, dtm DATETIME NULL, sdt SMALLDATETIME NULL,
    d2 DATETIME2(7) NULL, dto DATETIMEOFFSET(7) NULL)";

/// Each column as the test reads it: money as exact decimals.
const VIEW: &str =
    "SELECT id, ti, si, bi, b, d, CAST(m AS DECIMAL(19,4)), CAST(sm AS DECIMAL(10,4)), f, r,
    c, nc, vc, nv, bin, vb, g, dt, t3, t7, dtm, sdt, d2, dto FROM dbo.T ORDER BY id";

fn row_1(id: i32) -> String {
    ROW_1
        .replace("VALUES (1,", &format!("VALUES ({id},"))
        .replace("'LONG'", &format!("'{}'", "x".repeat(9000)))
        .replace("N'WIDE'", &format!("N'{}'", "\u{1F600}\u{e9}".repeat(2500)))
}

const ROW_1: &str = "INSERT INTO dbo.T VALUES (1, 255, -32768, 9223372036854775807, 1,
    1234567890123456789012345678.0123456789, 922337203685477.5807, 214748.3647, 1.7976931348623157E+308, 3.4E+38,
    'ab', N'\u{e9}', 'LONG', N'WIDE',
    0x0102, 0x00FF00, '6F9619FF-8B86-D011-B42D-00C04FC964FF',
    '9999-12-31', '23:59:59.997', '23:59:59.9999999', '1753-01-01 00:00:00.003', '2079-06-06 23:59',
    '0001-01-01 00:00:00.0000001', '2024-02-29 12:34:56.1234567 -13:59')";

const ROW_2: &str = "INSERT INTO dbo.T (id, m, sm, d, c, nc) VALUES (2, -922337203685477.5808, -214748.3648, -0.0000000001, '', N'')";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_round_trips_through_load_stream_and_both_ways() {
    real_server_note();
    let a = Sim::start("TypesA");
    let b = Sim::start("TypesB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    // Rows that exist before the sync: the initial load carries them.
    a.exec(&row_1(1)).await;
    a.exec(ROW_2).await;
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.T\n    key: [id]\n    direction: both\n    initial: full\n",
    );
    let agent = setup.start_agent();
    let same = || async { a.rows(VIEW).await == b.rows(VIEW).await };
    let ok = eventually(LIMIT, same).await;
    assert!(
        ok,
        "after the load:\na={:?}\nb={:?}\n{}",
        a.rows(VIEW).await,
        b.rows(VIEW).await,
        agent.log_text()
    );
    assert_eq!(b.count("dbo.T").await, 2);
    // Streamed: a new row on a, the extremes updated on b, NULLs written.
    a.exec(&row_1(3)).await;
    b.exec("UPDATE dbo.T SET m = 0.0001, sm = -0.0001, d = 9999999999999999999999999999.9999999999, f = -2.2250738585072014E-308, t7 = '00:00:00.0000001', nv = N'', vb = 0x WHERE id = 1")
        .await;
    b.exec("UPDATE dbo.T SET m = NULL, c = NULL, dto = '0001-01-01 00:00:00 +14:00' WHERE id = 2")
        .await;
    let ok = eventually(LIMIT, || async {
        let (ra, rb) = (a.rows(VIEW).await, b.rows(VIEW).await);
        ra == rb && ra.len() == 3 && ra[0][6] == "0.0001" && ra[1][6] == "NULL"
    })
    .await;
    assert!(
        ok,
        "after the stream:\na={:?}\nb={:?}\n{}",
        a.rows(VIEW).await,
        b.rows(VIEW).await,
        agent.log_text()
    );
    // The exact edge values survived (money's last digit, padding).
    let rows = b.rows(VIEW).await;
    assert_eq!(rows[2][6], "922337203685477.5807", "{:?}", rows[2]);
    assert_eq!(rows[2][7], "214748.3647", "{:?}", rows[2]);
    assert_eq!(
        rows[2][10], "ab   ",
        "char(5) keeps its padding: {:?}",
        rows[2]
    );
    assert_eq!(rows[1][6], "NULL");
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}

/// The CSV export's text of every type: `ROW_1`'s edge values as SQL
/// Server's own ISO forms show them (money to the ten-thousandth, char
/// padding kept, datetimeoffset in its stored offset, binary as 0x hex).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_exports_to_csv_as_its_exact_text() {
    real_server_note();
    let a = Sim::start("TypesCsvA");
    let b = Sim::start("TypesCsvB");
    a.exec(SCHEMA).await;
    a.exec(&row_1(1)).await;
    a.exec(ROW_2).await;
    let out = tempfile::tempdir().expect("tempdir");
    let setup = Setup::new(
        &a,
        &b,
        &format!(
            "targets:\n  csv:\n    directory: {}\n",
            out.path().display()
        ),
        "  - table: dbo.T\n    key: [id]\n    mode: full\n",
    );
    let o = setup.run_to_end(&["export"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut files = Vec::new();
    let mut dirs = vec![out.path().to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("dir").flatten() {
            match e.path().is_dir() {
                true => dirs.push(e.path()),
                false => files.push(e.path()),
            }
        }
    }
    assert_eq!(files.len(), 1, "{files:?}");
    let mut r = csv::Reader::from_path(&files[0]).expect("csv");
    let header: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let rows: Vec<Vec<String>> = r
        .records()
        .map(|x| x.expect("record").iter().map(String::from).collect())
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let one = &rows[0];
    let want = [
        ("ti", "255"),
        ("si", "-32768"),
        ("bi", "9223372036854775807"),
        ("b", "1"),
        ("d", "1234567890123456789012345678.0123456789"),
        ("m", "922337203685477.5807"),
        ("sm", "214748.3647"),
        ("c", "ab   "),
        ("nc", "\u{e9}    "),
        ("bin", "0x01020000"),
        ("vb", "0x00FF00"),
        ("g", "6F9619FF-8B86-D011-B42D-00C04FC964FF"),
        ("dt", "9999-12-31"),
        ("t3", "23:59:59.997"),
        ("t7", "23:59:59.9999999"),
        ("dtm", "1753-01-01T00:00:00.003"),
        ("sdt", "2079-06-06T23:59:00"),
        ("d2", "0001-01-01T00:00:00.0000001"),
        ("dto", "2024-02-29T12:34:56.1234567-13:59"),
    ];
    for (name, text) in want {
        assert_eq!(one[col(name)], text, "column {name}: {one:?}");
    }
    assert_eq!(
        one[col("f")].parse::<f64>().ok(),
        Some(1.7976931348623157E+308)
    );
    assert_eq!(one[col("r")].parse::<f32>().ok(), Some(3.4E+38));
    assert_eq!(one[col("vc")], "x".repeat(9000));
    assert_eq!(one[col("nv")], "\u{1F600}\u{e9}".repeat(2500));
    let two = &rows[1];
    assert_eq!(
        (
            two[col("m")].as_str(),
            two[col("sm")].as_str(),
            two[col("d")].as_str()
        ),
        ("-922337203685477.5808", "-214748.3648", "-0.0000000001")
    );
}
