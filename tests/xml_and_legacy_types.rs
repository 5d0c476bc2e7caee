//! Scenario: xml, text, ntext, image and sparse columns round-trip exactly
//! through an initial full load, streamed inserts and updates both ways, and
//! a CSV export. xml is compared as SQL Server keeps it (its own normal
//! form: the declaration dropped, attributes double-quoted), so the test
//! reads it back as text on both sides; sql_variant and the CLR types are
//! refused by `check` with the column and the reason, and `run` holds only
//! their table while another table of the same servers syncs.

mod common;

use common::*;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

const SCHEMA: &str = "CREATE TABLE dbo.L (id INT NOT NULL PRIMARY KEY, x XML NULL, tx TEXT NULL, \
    ntx NTEXT NULL, img IMAGE NULL, sp INT SPARSE NULL, spn NVARCHAR(40) SPARSE NULL)";

/// Each column as the test compares it (xml, text, ntext and image cannot
/// be compared or sorted themselves: errors 305, 402, 306).
const VIEW: &str = "SELECT id, CAST(x AS NVARCHAR(MAX)), CAST(tx AS VARCHAR(MAX)), \
    CAST(ntx AS NVARCHAR(MAX)), CAST(img AS VARBINARY(MAX)), sp, spn FROM dbo.L ORDER BY id";

fn row(id: i32) -> String {
    format!(
        "INSERT INTO dbo.L (id, x, tx, ntx, img, sp, spn) VALUES ({id}, \
         N'<?xml version=\"1.0\"?><order id=''{id}''><item qty=\"2\">w&amp;dget</item><note/></order>', \
         '{}', N'{}', 0x{}, {id}, N'sparse {id}')",
        "plain text ".repeat(1500),
        "\u{e9}\u{1F600} ntext ".repeat(800),
        "00FF10".repeat(4000),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_text_ntext_image_and_sparse_columns_sync_both_ways() {
    real_server_note();
    let a = Sim::start("XmlA");
    let b = Sim::start("XmlB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    a.exec(&row(1)).await;
    a.exec("INSERT INTO dbo.L (id) VALUES (2)").await;
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.L\n    key: [id]\n    direction: both\n    initial: full\n",
    );
    let check = setup.run_to_end(&["check"]);
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let agent = setup.start_agent();
    let same = || async { a.rows(VIEW).await == b.rows(VIEW).await };
    assert!(
        eventually(LIMIT, same).await,
        "after the load:\na={:?}\nb={:?}\n{}",
        a.rows(VIEW).await,
        b.rows(VIEW).await,
        agent.log_text()
    );
    // Streamed both ways: a new row on a, values changed and emptied on b,
    // a NULL written over a value on a.
    a.exec(&row(3)).await;
    b.exec("UPDATE dbo.L SET x = N'<r a=\"1\"><b>two</b></r>', ntx = N'', img = NULL, sp = NULL WHERE id = 1")
        .await;
    a.exec("UPDATE dbo.L SET tx = 'now set', spn = N'' WHERE id = 2")
        .await;
    let ok = eventually(LIMIT, || async {
        let (ra, rb) = (a.rows(VIEW).await, b.rows(VIEW).await);
        ra == rb
            && ra.len() == 3
            && ra[0][1] == "<r a=\"1\"><b>two</b></r>"
            && ra[1][2] == "now set"
    })
    .await;
    assert!(
        ok,
        "after the stream:\na={:?}\nb={:?}\n{}",
        a.rows(VIEW).await,
        b.rows(VIEW).await,
        agent.log_text()
    );
    let rows = b.rows(VIEW).await;
    assert_eq!(
        rows[2][1], "<order id=\"3\"><item qty=\"2\">w&amp;dget</item><note /></order>",
        "xml as SQL Server keeps it"
    );
    assert_eq!(rows[2][2], "plain text ".repeat(1500));
    assert_eq!(rows[2][3], "\u{e9}\u{1F600} ntext ".repeat(800));
    assert_eq!(rows[2][4], format!("0x{}", "00FF10".repeat(4000)));
    assert_eq!(
        (
            rows[0][3].as_str(),
            rows[0][4].as_str(),
            rows[0][5].as_str()
        ),
        ("", "NULL", "NULL")
    );
    assert_eq!((rows[1][6].as_str(), rows[2][5].as_str()), ("", "3"));
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");

    // The same table exported to CSV from a: xml as its text, image as hex.
    let out = tempfile::tempdir().expect("tempdir");
    let export = Setup::new(
        &a,
        &b,
        &format!(
            "targets:\n  csv:\n    directory: {}\n",
            out.path().display()
        ),
        "  - table: dbo.L\n    key: [id]\n    mode: full\n",
    );
    let o = export.run_to_end(&["export"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let file = std::fs::read_dir(out.path())
        .expect("export dir")
        .flatten()
        .flat_map(|e| {
            if e.path().is_dir() {
                std::fs::read_dir(e.path())
                    .map(|d| d.flatten().map(|f| f.path()).collect::<Vec<_>>())
                    .unwrap_or_default()
            } else {
                vec![e.path()]
            }
        })
        .find(|p| p.to_string_lossy().ends_with(".csv"))
        .expect("an export file");
    let text = std::fs::read_to_string(&file).expect("read export");
    assert!(
        text.starts_with("id,x,tx,ntx,img,sp,spn\r\n"),
        "{}",
        &text[..80.min(text.len())]
    );
    assert!(
        text.contains(
            "\"<order id=\"\"3\"\"><item qty=\"\"2\"\">w&amp;dget</item><note /></order>\""
        ),
        "xml cell: {}",
        &text[..300.min(text.len())]
    );
    assert!(
        text.contains(&"00FF10".repeat(4000).to_lowercase())
            || text.contains(&"00FF10".repeat(4000))
    );
    assert!(text.contains(&"\u{e9}\u{1F600} ntext ".repeat(800)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_variant_and_clr_columns_are_refused_and_only_their_table_waits() {
    real_server_note();
    let a = Sim::start("VariantA");
    let b = Sim::start("VariantB");
    for s in [&a, &b] {
        s.exec("CREATE TABLE dbo.V (id INT NOT NULL PRIMARY KEY, v SQL_VARIANT NULL, h HIERARCHYID NULL)")
            .await;
        s.exec("CREATE TABLE dbo.Ok (id INT NOT NULL PRIMARY KEY, name NVARCHAR(20) NULL)")
            .await;
    }
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.V\n    key: [id]\n  - table: dbo.Ok\n    key: [id]\n",
    );
    let check = setup.run_to_end(&["check"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(!check.status.success(), "{text}");
    assert!(
        text.contains("dbo.V") && text.contains("sql_variant") && text.contains("base type"),
        "{text}"
    );
    assert!(
        text.contains("hierarchyid") && text.contains("columns:"),
        "{text}"
    );
    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.Ok VALUES (1, N'goes'); INSERT INTO dbo.V (id, v) VALUES (1, 5)")
        .await;
    let ok = eventually(LIMIT, || async { b.count("dbo.Ok").await == 1 }).await;
    assert!(ok, "the other table did not sync:\n{}", agent.log_text());
    assert_eq!(b.count("dbo.V").await, 0);
    let out = setup.run_to_end(&["inspect"]);
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(shown.contains("sql_variant"), "{shown}");
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}
