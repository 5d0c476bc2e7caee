//! Scenario: `ctsync sync --once` for cron-style runs: the first run loads
//! fully (mode `full_incremental`), later runs apply only the changes since,
//! each exits 0 once everything up to the versions current at its start is
//! applied; `mode: incremental` without an earlier run is refused.

mod common;

use common::*;

const SCHEMA: &str = "CREATE TABLE dbo.Prices (sku NVARCHAR(20) NOT NULL PRIMARY KEY, price DECIMAL(10,2) NOT NULL);";
const VIEW: &str = "SELECT sku, price FROM dbo.Prices ORDER BY sku";

fn once(setup: &Setup) -> (bool, String) {
    let out = setup.run_to_end(&["sync", "--once"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_loads_later_runs_apply_changes() {
    real_server_note();
    let a = Sim::start("OnceA");
    let b = Sim::start("OnceB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    a.exec("INSERT INTO dbo.Prices VALUES (N'A', 1.50), (N'B', 2.00), (N'C', 3.25);")
        .await;
    b.exec("INSERT INTO dbo.Prices VALUES (N'Z', 9.99);").await;
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.Prices\n    key: [sku]\n    direction: a_to_b\n",
    );

    let (ok, text) = once(&setup);
    assert!(ok, "{text}");
    assert!(
        text.contains("initial load starts"),
        "the first run loads fully:\n{text}"
    );
    assert_eq!(a.rows(VIEW).await, b.rows(VIEW).await, "{text}");

    a.exec("UPDATE dbo.Prices SET price = 1.75 WHERE sku = N'A'; DELETE FROM dbo.Prices WHERE sku = N'B'; INSERT INTO dbo.Prices VALUES (N'D', 4.00);").await;
    let (ok, text) = once(&setup);
    assert!(ok, "{text}");
    assert!(
        !text.contains("initial load starts"),
        "later runs are incremental:\n{text}"
    );
    assert_eq!(a.rows(VIEW).await, b.rows(VIEW).await, "{text}");

    // Nothing changed: a run still exits 0, quickly, writing nothing.
    let (ok, text) = once(&setup);
    assert!(ok, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_without_a_watermark_is_refused() {
    real_server_note();
    let a = Sim::start("IncA");
    let b = Sim::start("IncB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.Prices\n    key: [sku]\n    direction: a_to_b\n    mode: incremental\n",
    );
    let (ok, text) = once(&setup);
    assert!(!ok, "{text}");
    assert!(
        text.contains("mode: incremental") && text.contains("full_incremental"),
        "{text}"
    );
}
