//! Scenario: a table's columns change while the agent runs (the schema
//! check runs every 300 ms here; `sync.schema_check_interval_ms`).
//!
//! - A column added on both sides is taken up: values written to it — also
//!   the ones written right after the ALTER, before the agent noticed,
//!   which capture had read without the column — reach the other side.
//! - A column added on one side only is left out with one warning; the
//!   table goes on.
//! - A synced column dropped on one side holds the table with the reason in
//!   `inspect`; changes made meanwhile arrive once the column is back.
//! - After a restart, operations queued with the old columns are applied
//!   with those columns, not by position against the new ones.

mod common;

use common::*;
use std::time::Duration;

const SCHEMA: &str = "CREATE TABLE dbo.D (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50) NULL);";
const SYNC: &str = "  schema_check_interval_ms: 300\n  retry: { initial_backoff_ms: 20, max_backoff_ms: 200, max_attempts: 3 }\n";
const TABLES: &str = "  - table: dbo.D\n    key: [id]\n    direction: both\n";

fn overview(setup: &Setup) -> serde_json::Value {
    let out = setup.run_to_end(&["inspect", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

/// The reasons the table's entries in `inspect --json` show, if any.
fn held_reasons(v: &serde_json::Value) -> String {
    v["tables"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .flat_map(|t| [t["erroring"].as_str(), t["last_error"].as_str()])
                .flatten()
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .unwrap_or_default()
}

async fn same(a: &Sim, b: &Sim, view: &str) -> bool {
    matches!((a.try_rows(view).await, b.try_rows(view).await), (Ok(x), Ok(y)) if x == y)
}

const VIEW: &str = "SELECT id, name FROM dbo.D ORDER BY id";

/// dbo.D synced a→b with the default schema check interval (a minute) and
/// patient retries, its first row on both sides.
async fn one_way_synced(name: &str) -> (Sim, Sim, Setup, Agent) {
    real_server_note();
    let a = Sim::start(&format!("{name}A"));
    let b = Sim::start(&format!("{name}B"));
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let setup = Setup::new(
        &a,
        &b,
        "  retry: { initial_backoff_ms: 20, max_backoff_ms: 100, max_attempts: 50 }\n",
        "  - table: dbo.D\n    key: [id]\n    direction: a_to_b\n",
    );
    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.D VALUES (1, N'one');").await;
    assert!(
        eventually(Duration::from_secs(20), || same(&a, &b, VIEW)).await,
        "{}",
        agent.log_text()
    );
    (a, b, setup, agent)
}

/// Parked operations over every table of `inspect --json`.
fn parked_total(v: &serde_json::Value) -> u64 {
    v["tables"]
        .as_array()
        .map(|ts| ts.iter().map(|t| t["parked"].as_u64().unwrap_or(0)).sum())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_added_dropped_and_added_on_one_side_while_running() {
    real_server_note();
    let a = Sim::start("DriftA");
    let b = Sim::start("DriftB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let setup = Setup::new(&a, &b, SYNC, TABLES);
    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.D VALUES (1, N'one');").await;
    let view = "SELECT id, name FROM dbo.D ORDER BY id";
    assert!(
        eventually(Duration::from_secs(20), || same(&a, &b, view)).await,
        "the first row did not arrive:\n{}",
        agent.log_text()
    );

    // Added on both sides; written at once, before the agent can notice.
    a.exec("ALTER TABLE dbo.D ADD extra INT NULL;").await;
    b.exec("ALTER TABLE dbo.D ADD extra INT NULL;").await;
    a.exec("UPDATE dbo.D SET extra = 5 WHERE id = 1;").await;
    b.exec("INSERT INTO dbo.D (id, name, extra) VALUES (2, N'two', 7);")
        .await;
    let view = "SELECT id, name, extra FROM dbo.D ORDER BY id";
    let want = vec![
        vec!["1".to_string(), "one".to_string(), "5".to_string()],
        vec!["2".to_string(), "two".to_string(), "7".to_string()],
    ];
    let ok = eventually(Duration::from_secs(20), || async {
        b.try_rows(view).await == Ok(want.clone()) && a.try_rows(view).await == Ok(want.clone())
    })
    .await;
    assert!(
        ok,
        "the new column was not taken up: a {:?} b {:?}\n{}",
        a.try_rows(view).await,
        b.try_rows(view).await,
        agent.log_text()
    );
    // Later writes of the new column flow both ways.
    b.exec("UPDATE dbo.D SET extra = 50 WHERE id = 1;").await;
    a.exec("UPDATE dbo.D SET extra = 70 WHERE id = 2;").await;
    let ok = eventually(Duration::from_secs(20), || async {
        same(&a, &b, view).await
            && a.rows(view).await
                == vec![
                    vec!["1".to_string(), "one".to_string(), "50".to_string()],
                    vec!["2".to_string(), "two".to_string(), "70".to_string()],
                ]
    })
    .await;
    assert!(ok, "later writes of the new column:\n{}", agent.log_text());

    // Added on a only: left out with one warning; the table goes on.
    a.exec("ALTER TABLE dbo.D ADD only_a INT NULL;").await;
    a.exec("UPDATE dbo.D SET only_a = 1, name = N'uno' WHERE id = 1;")
        .await;
    let ok = eventually(Duration::from_secs(20), || async {
        b.try_rows("SELECT name FROM dbo.D WHERE id = 1").await == Ok(vec![vec!["uno".to_string()]])
    })
    .await;
    assert!(
        ok,
        "the table stopped after a one-sided column:\n{}",
        agent.log_text()
    );

    // A synced column dropped on b: held with the reason, nothing lost.
    b.exec("ALTER TABLE dbo.D DROP COLUMN extra;").await;
    let held = eventually(Duration::from_secs(20), || async {
        held_reasons(&overview(&setup)).contains("extra")
    })
    .await;
    assert!(
        held,
        "the table should be held naming the dropped column: {}\n{}",
        overview(&setup),
        agent.log_text()
    );
    a.exec("UPDATE dbo.D SET extra = 500, name = N'ONE' WHERE id = 1;")
        .await;
    b.exec("ALTER TABLE dbo.D ADD extra INT NULL;").await;
    let ok = eventually(Duration::from_secs(30), || async {
        b.try_rows(view)
            .await
            .is_ok_and(|r| r.first().is_some_and(|r| r[1] == "ONE" && r[2] == "500"))
    })
    .await;
    assert!(
        ok,
        "the held table did not go on once the column was back: a {:?} b {:?}\n{}",
        a.try_rows(view).await,
        b.try_rows(view).await,
        agent.log_text()
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(
        log.matches("only_a").filter(|_| true).count().min(1),
        1,
        "the one-sided column is named in a warning:\n{log}"
    );
    assert!(
        log.matches("capture takes up the table's new columns")
            .count()
            >= 1,
        "{log}"
    );
}

/// Operations queued by a run that captured with the old columns are
/// applied with those columns after a restart that sees new ones (here: a
/// column added in front of the others' values on the target).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_queued_with_old_columns_apply_with_them_after_a_restart() {
    real_server_note();
    let a = Sim::start("DriftRestartA");
    let b = Sim::start("DriftRestartB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let Some(addr_b) = b.server().map(|s| s.addr()) else {
        return;
    };
    let proxy = LinkProxy::start(addr_b);
    let one_way = "  - table: dbo.D\n    key: [id]\n    direction: a_to_b\n";
    let setup = Setup::new_via(&a, &b, None, Some(proxy.port()), SYNC, one_way);
    let mut agent = setup.start_agent();
    a.exec("INSERT INTO dbo.D VALUES (1, N'one');").await;
    let view = "SELECT id, name FROM dbo.D ORDER BY id";
    assert!(
        eventually(Duration::from_secs(20), || same(&a, &b, view)).await,
        "{}",
        agent.log_text()
    );
    // b is away for the applier: changes queue up with (id, name).
    proxy.set_down(true);
    proxy.cut();
    // Captured and queued by a run that knows (id, name) only.
    a.exec("INSERT INTO dbo.D VALUES (2, N'two'); UPDATE dbo.D SET name = N'uno' WHERE id = 1;")
        .await;
    let queued = eventually(Duration::from_secs(20), || async {
        overview(&setup)["tables"].as_array().is_some_and(|ts| {
            ts.iter()
                .any(|t| t["queue_depth"].as_u64().unwrap_or(0) >= 2)
        })
    })
    .await;
    let log = agent.log_text();
    agent.kill9();
    assert!(
        queued,
        "changes should be queued while b is away: {}\n{log}",
        overview(&setup)
    );
    // Both sides get a new column while the agent is stopped.
    a.exec("ALTER TABLE dbo.D ADD code INT NULL;").await;
    b.exec("ALTER TABLE dbo.D ADD code INT NULL;").await;
    proxy.set_down(false);
    a.exec("UPDATE dbo.D SET code = 3 WHERE id = 2;").await;
    agent = setup.start_agent();
    let view = "SELECT id, name, code FROM dbo.D ORDER BY id";
    let ok = eventually(Duration::from_secs(30), || async {
        b.try_rows(view).await
            == Ok(vec![
                vec!["1".to_string(), "uno".to_string(), "NULL".to_string()],
                vec!["2".to_string(), "two".to_string(), "3".to_string()],
            ])
    })
    .await;
    assert!(
        ok,
        "a {:?} b {:?}\n{}",
        a.try_rows(view).await,
        b.try_rows(view).await,
        agent.log_text()
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}

/// A synced column dropped on the target while changes flow: the write
/// fails with 207, which makes the schema check run at once (the interval
/// here is the default minute); the table is held with the reason before
/// any operation is parked, and goes on once the column is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_checks_the_schema_at_once_and_holds_instead_of_parking() {
    let (a, b, setup, agent) = one_way_synced("DriftNow").await;
    let view = VIEW;
    b.exec("ALTER TABLE dbo.D DROP COLUMN name;").await;
    a.exec("UPDATE dbo.D SET name = N'uno' WHERE id = 1; INSERT INTO dbo.D VALUES (2, N'two');")
        .await;
    let held = eventually(Duration::from_secs(15), || async {
        held_reasons(&overview(&setup)).contains("dropped on b")
    })
    .await;
    let v = overview(&setup);
    assert!(
        held,
        "the table should be held at once: {v}\n{}",
        agent.log_text()
    );
    assert_eq!(parked_total(&v), 0, "nothing is parked: {v}");
    b.exec("ALTER TABLE dbo.D ADD name NVARCHAR(50) NULL;")
        .await;
    let ok = eventually(Duration::from_secs(30), || async {
        b.try_rows(view).await
            == Ok(vec![
                vec!["1".to_string(), "uno".to_string()],
                vec!["2".to_string(), "two".to_string()],
            ])
    })
    .await;
    assert!(
        ok,
        "a {:?} b {:?}\n{}",
        a.try_rows(view).await,
        b.try_rows(view).await,
        agent.log_text()
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}

/// A target column shortened while the agent runs: the first write too long
/// for it fails with 2628 (string or binary data would be truncated), which
/// wakes the schema check at once (default interval, 60 s, far away): the
/// table is held with the definitions named instead of parking the row, and
/// goes on, the long value included, once the column is widened again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncation_error_holds_the_table_until_the_column_is_widened() {
    let (a, b, setup, agent) = one_way_synced("DriftTrunc").await;
    let view = VIEW;
    b.exec("ALTER TABLE dbo.D ALTER COLUMN name NVARCHAR(5) NULL;")
        .await;
    a.exec("INSERT INTO dbo.D VALUES (2, N'a value longer than five');")
        .await;
    let held = eventually(Duration::from_secs(15), || async {
        held_reasons(&overview(&setup)).contains("nvarchar(5)")
    })
    .await;
    let v = overview(&setup);
    assert!(
        held,
        "the table should be held at once: {v}\n{}",
        agent.log_text()
    );
    assert_eq!(parked_total(&v), 0, "nothing is parked: {v}");
    b.exec("ALTER TABLE dbo.D ALTER COLUMN name NVARCHAR(50) NULL;")
        .await;
    let ok = eventually(Duration::from_secs(30), || same(&a, &b, view)).await;
    assert!(
        ok,
        "a {:?} b {:?}\n{}",
        a.try_rows(view).await,
        b.try_rows(view).await,
        agent.log_text()
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}
