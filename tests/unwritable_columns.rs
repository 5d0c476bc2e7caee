//! Scenario: tables with columns no write can set — a rowversion, a
//! computed column (persisted and not) and an identity column that is not
//! the key — synced both ways with `columns:` left out, through a full
//! load and streamed inserts, updates and deletes. They are left out (each
//! server sets its own), with a note in `check`; the other columns arrive,
//! and each side's computed values follow them. Listed in `columns:` they
//! are refused by `check`, naming the column and why, and `run` holds the
//! table with that reason.

mod common;

use common::*;
use std::time::Duration;

const SCHEMA: &str = "CREATE TABLE dbo.Inv (
    id INT NOT NULL PRIMARY KEY,
    seq INT IDENTITY(1,1) NOT NULL,
    qty INT NOT NULL,
    price DECIMAL(10,2) NOT NULL,
    total AS (qty * price) PERSISTED,
    label AS (N'#' + CAST(id AS NVARCHAR(10))),
    rv ROWVERSION,
    note NVARCHAR(40) NULL);";
const TABLES: &str = "  - table: dbo.Inv\n    key: [id]\n    direction: both\n    initial: full\n";

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rowversion_computed_and_non_key_identity_columns_are_left_out_and_the_rest_syncs() {
    real_server_note();
    let a = Sim::start("UnwA");
    let b = Sim::start("UnwB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    // b's identity counter runs elsewhere: seq differs between the sides.
    b.exec("INSERT INTO dbo.Inv (id, qty, price) VALUES (900, 1, 1); DELETE FROM dbo.Inv WHERE id = 900;")
        .await;
    a.exec("INSERT INTO dbo.Inv (id, qty, price, note) VALUES (1, 2, 1.50, N'loaded');")
        .await;
    let setup = Setup::new(&a, &b, "", TABLES);
    let check = setup.run_to_end(&["check"]);
    let out = text(&check);
    assert!(check.status.success(), "check: {out}");
    for (col, why) in [
        ("rv", "rowversion"),
        ("total", "computed"),
        ("label", "computed"),
        ("seq", "identity column that is not the key"),
    ] {
        assert!(
            out.contains(&format!("column {col} is not synced")) && out.contains(why),
            "check should name {col} as left out ({why}): {out}"
        );
    }

    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.Inv (id, qty, price, note) VALUES (2, 3, 2.00, N'from a');")
        .await;
    b.exec("INSERT INTO dbo.Inv (id, qty, price, note) VALUES (3, 4, 0.25, N'from b');")
        .await;
    b.exec("UPDATE dbo.Inv SET qty = 10 WHERE id = 1;").await;
    let view = "SELECT id, qty, price, total, label, note FROM dbo.Inv ORDER BY id";
    let want = vec![
        vec!["1", "10", "1.50", "15.00", "#1", "loaded"],
        vec!["2", "3", "2.00", "6.00", "#2", "from a"],
        vec!["3", "4", "0.25", "1.00", "#3", "from b"],
    ];
    let want: Vec<Vec<String>> = want
        .into_iter()
        .map(|r| r.into_iter().map(str::to_string).collect())
        .collect();
    let ok = eventually(Duration::from_secs(30), || async {
        a.try_rows(view).await == Ok(want.clone()) && b.try_rows(view).await == Ok(want.clone())
    })
    .await;
    assert!(
        ok,
        "a {:?}\nb {:?}\n{}",
        a.try_rows(view).await,
        b.try_rows(view).await,
        agent.log_text()
    );
    a.exec("DELETE FROM dbo.Inv WHERE id = 3;").await;
    let ok = eventually(Duration::from_secs(30), || async {
        b.try_rows("SELECT id FROM dbo.Inv ORDER BY id").await
            == Ok(vec![vec!["1".to_string()], vec!["2".to_string()]])
    })
    .await;
    assert!(ok, "the delete did not arrive:\n{}", agent.log_text());
    // Each server set its own rowversions and identities: nothing was
    // written into them.
    let seq_a = a.rows("SELECT seq FROM dbo.Inv WHERE id = 2").await;
    let seq_b = b.rows("SELECT seq FROM dbo.Inv WHERE id = 2").await;
    assert_ne!(seq_a, seq_b, "b's identity counter is its own");
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        !log.contains("parked"),
        "no operation should have been parked:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_columns_that_cannot_be_written_are_refused_by_check_and_held_by_run() {
    real_server_note();
    let a = Sim::start("UnwListA");
    let b = Sim::start("UnwListB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    for (col, why) in [
        ("rv", "rowversion"),
        ("total", "computed"),
        ("seq", "identity column that is not the key"),
    ] {
        let tables = format!(
            "  - table: dbo.Inv\n    key: [id]\n    columns: [id, qty, price, {col}]\n    direction: a_to_b\n"
        );
        let setup = Setup::new(&a, &b, "", &tables);
        let check = setup.run_to_end(&["check"]);
        let out = text(&check);
        assert!(
            !check.status.success(),
            "check should fail for {col}: {out}"
        );
        assert!(
            out.contains(&format!("column {col} is listed in `columns`")) && out.contains(why),
            "check should name {col} and why: {out}"
        );
        // `run` holds the table with the reason; nothing is written.
        let agent = setup.start_agent();
        a.exec("INSERT INTO dbo.Inv (id, qty, price) VALUES (77, 1, 1);")
            .await;
        let shown = eventually(Duration::from_secs(20), || async {
            text(&setup.run_to_end(&["inspect"])).contains(&format!("column {col} is listed"))
        })
        .await;
        assert!(
            shown,
            "inspect should show why the table is held ({col}):\n{}",
            agent.log_text()
        );
        assert_eq!(b.count("dbo.Inv").await, 0);
        let (code, log) = agent.terminate();
        assert_eq!(code, Some(0), "{log}");
        a.exec("DELETE FROM dbo.Inv;").await;
    }
}
