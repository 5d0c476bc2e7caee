//! Scenario: supervised loops. A loop of the agent that ends while no
//! shutdown was asked — on an error it returns (`capture_loop_fails` makes
//! the capture loop end the way a failed store step would) or a panic
//! (`capture_loop_panics`) — stops the agent gracefully with a non-zero exit
//! and a message naming the loop and the cause, so a supervisor restarts
//! it; the restarted agent loses nothing. One table's capture error (a
//! configured column dropped on the source) does not stop the server's
//! other tables: that table is `erroring` in `ctsync inspect` with the
//! reason, retried with backoff, and resumes once the column is back.

mod common;

use common::*;
use std::time::Duration;

const RETRY: &str = "  retry: { initial_backoff_ms: 20, max_backoff_ms: 200, max_attempts: 3 }\n";

const SCHEMA: &str = "CREATE TABLE dbo.Notes (id INT NOT NULL PRIMARY KEY, note NVARCHAR(50) NULL);
     CREATE TABLE dbo.Items (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50) NOT NULL);";
const TABLES: &str = "  - table: dbo.Notes
    key: [id]
    direction: a_to_b
  - table: dbo.Items
    key: [id]
    direction: a_to_b
";
const NOTES: &str = "SELECT id, note FROM dbo.Notes ORDER BY id";
const ITEMS: &str = "SELECT id, name FROM dbo.Items ORDER BY id";

async fn pair(a_name: &str, b_name: &str) -> (Sim, Sim, Setup) {
    real_server_note();
    let a = Sim::start(a_name);
    let b = Sim::start(b_name);
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let setup = Setup::new(&a, &b, RETRY, TABLES);
    (a, b, setup)
}

fn overview(setup: &Setup) -> serde_json::Value {
    let out = setup.run_to_end(&["inspect", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

fn table<'v>(v: &'v serde_json::Value, name: &str) -> &'v serde_json::Value {
    v["tables"]
        .as_array()
        .and_then(|ts| {
            ts.iter()
                .find(|t| t["table"].as_str().is_some_and(|n| n.contains(name)))
        })
        .unwrap_or(&serde_json::Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_capture_loop_stops_the_agent_with_its_cause() {
    let (a, b, setup) = pair("SupFailA", "SupFailB").await;
    let mut agent = setup.start_agent_with(&[("CTSYNC_TEST_FAULT", "capture_loop_fails")]);
    a.exec("INSERT INTO dbo.Items VALUES (1, N'one'), (2, N'two');")
        .await;
    let status = agent.wait_exit(Duration::from_secs(30));
    let log = agent.log_text();
    assert!(
        matches!(status, Some(s) if s.code() == Some(1)),
        "the agent should have exited with 1 after its capture loop failed: {status:?}\n{log}"
    );
    assert!(
        log.contains("ERROR") && log.contains("the capture loop of server a"),
        "the log should name the loop at error level:\n{log}"
    );
    assert!(
        log.contains("fault injected at capture_loop_fails"),
        "the log should name the cause:\n{log}"
    );
    assert!(
        log.contains("ctsync: ctsync stopped: the capture loop of server a ended unexpectedly"),
        "the exit message should name the loop and the cause:\n{log}"
    );
    assert!(
        log.contains("state is durable"),
        "the other loops should have stopped gracefully:\n{log}"
    );
    assert_eq!(
        log.matches("a loop of the agent ended").count(),
        1,
        "one failure, logged once:\n{log}"
    );
    // A supervisor restarts it: nothing was lost.
    let agent = setup.start_agent();
    let ok = eventually(Duration::from_secs(30), || async {
        b.try_rows(ITEMS).await == Ok(a.rows(ITEMS).await)
    })
    .await;
    assert!(ok, "changes were lost:\n{}", agent.log_text());
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "a requested shutdown still exits 0:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_loop_stops_the_agent_with_its_cause() {
    let (_a, _b, setup) = pair("SupPanA", "SupPanB").await;
    let mut agent = setup.spawn_agent(&[("CTSYNC_TEST_FAULT", "capture_loop_panics")]);
    let status = agent.wait_exit(Duration::from_secs(30));
    let log = agent.log_text();
    assert!(
        matches!(status, Some(s) if s.code() == Some(1)),
        "the agent should have exited with 1 after a loop panicked: {status:?}\n{log}"
    );
    assert!(
        log.contains("the capture loop of server a")
            && log.contains("panicked: fault injected at capture_loop_panics"),
        "the log should name the loop and the panic:\n{log}"
    );
    assert!(
        log.contains("ended unexpectedly"),
        "the exit message should name the cause:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tables_capture_error_leaves_the_others_going() {
    let (a, b, setup) = pair("SupTabA", "SupTabB").await;
    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.Notes VALUES (1, N'first');").await;
    let ok = eventually(Duration::from_secs(20), || async {
        b.try_rows(NOTES).await == Ok(a.rows(NOTES).await)
    })
    .await;
    assert!(ok, "the first note did not arrive:\n{}", agent.log_text());

    // A configured column disappears on the source: capturing dbo.Notes
    // fails; dbo.Items goes on.
    a.exec("ALTER TABLE dbo.Notes DROP COLUMN note;").await;
    a.exec("INSERT INTO dbo.Notes (id) VALUES (2); INSERT INTO dbo.Items VALUES (1, N'one'), (2, N'two');")
        .await;
    let ok = eventually(Duration::from_secs(20), || async {
        b.try_rows(ITEMS).await == Ok(a.rows(ITEMS).await)
    })
    .await;
    assert!(
        ok,
        "the other table of the server stopped:\n{}",
        agent.log_text()
    );
    let erroring = eventually(Duration::from_secs(20), || async {
        table(&overview(&setup), "Notes")["erroring"].is_string()
    })
    .await;
    let v = overview(&setup);
    assert!(erroring, "dbo.Notes should be erroring: {v}");
    let reason = table(&v, "Notes")["erroring"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("note"),
        "the reason should name the missing column: {reason}"
    );
    assert!(
        table(&v, "Items")["erroring"].is_null(),
        "dbo.Items is fine: {v}"
    );
    let out = setup.run_to_end(&["inspect"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("erroring") && text.contains(&reason),
        "inspect should show the erroring table and why:\n{text}"
    );
    // Still going on for the other table while it errors.
    a.exec("UPDATE dbo.Items SET name = N'TWO' WHERE id = 2;")
        .await;
    let ok = eventually(Duration::from_secs(20), || async {
        b.try_rows(ITEMS).await == Ok(a.rows(ITEMS).await)
    })
    .await;
    assert!(ok, "dbo.Items stopped later:\n{}", agent.log_text());
    assert_eq!(
        b.rows(NOTES).await.len(),
        1,
        "nothing of dbo.Notes moves while it errors"
    );

    // The column comes back: dbo.Notes resumes from its watermark, with
    // the row inserted meanwhile.
    a.exec("ALTER TABLE dbo.Notes ADD note NVARCHAR(50) NULL;")
        .await;
    a.exec("UPDATE dbo.Notes SET note = N'again' WHERE id = 1; INSERT INTO dbo.Notes VALUES (3, N'third');")
        .await;
    let ok = eventually(Duration::from_secs(30), || async {
        b.try_rows(NOTES).await == Ok(a.rows(NOTES).await)
    })
    .await;
    assert!(
        ok,
        "dbo.Notes did not resume: a {:?} b {:?}\n{}",
        a.rows(NOTES).await,
        b.try_rows(NOTES).await,
        agent.log_text()
    );
    assert_eq!(b.rows(NOTES).await.len(), 3);
    let v = overview(&setup);
    assert!(
        table(&v, "Notes")["erroring"].is_null(),
        "dbo.Notes is not erroring any more: {v}"
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0));
    assert_eq!(
        log.matches("capture of this table fails").count(),
        1,
        "the erroring table is logged once when it starts:\n{log}"
    );
    assert_eq!(
        log.matches("capture of this table works again").count(),
        1,
        "and once when it clears:\n{log}"
    );
}

/// Starts an agent with `fault`, expects it to exit 1 naming `loop_name`
/// and the injected fault, then restarts it without the fault: b ends equal
/// to a (nothing lost while the loop was down).
async fn fails_then_recovers(a: &Sim, b: &Sim, setup: &Setup, fault: &str, loop_name: &str) {
    let mut agent = setup.spawn_agent(&[("CTSYNC_TEST_FAULT", fault)]);
    let status = agent.wait_exit(Duration::from_secs(30));
    let log = agent.log_text();
    assert!(
        matches!(status, Some(s) if s.code() == Some(1)),
        "the agent should have exited with 1 after {loop_name} failed: {status:?}\n{log}"
    );
    assert!(
        log.contains(loop_name)
            && log.contains(&format!("injected fault `{fault}`"))
            && log.contains("ended unexpectedly"),
        "the log and the exit message should name the loop and the cause:\n{log}"
    );
    assert!(
        log.contains("state is durable"),
        "the other loops should have stopped gracefully:\n{log}"
    );
    let agent = setup.start_agent();
    let ok = eventually(Duration::from_secs(30), || async {
        b.try_rows(ITEMS).await == Ok(a.rows(ITEMS).await)
    })
    .await;
    assert!(ok, "changes were lost:\n{}", agent.log_text());
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_applier_stops_the_agent_with_its_cause() {
    let (a, b, setup) = pair("SupApplyA", "SupApplyB").await;
    // The first run takes its start (`initial: none`); the next one's
    // applier fails as soon as it has something to apply.
    let (code, log) = setup.start_agent().terminate();
    assert_eq!(code, Some(0), "{log}");
    a.exec("INSERT INTO dbo.Items VALUES (1, N'one'), (2, N'two');")
        .await;
    fails_then_recovers(
        &a,
        &b,
        &setup,
        "apply_loop_fails",
        "the applier of dbo.Items (a_to_b)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_loader_stops_the_agent_with_its_cause() {
    real_server_note();
    let a = Sim::start("SupLoadA");
    let b = Sim::start("SupLoadB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    a.exec("INSERT INTO dbo.Items VALUES (1, N'one'), (2, N'two');")
        .await;
    let setup = Setup::new(
        &a,
        &b,
        RETRY,
        "  - table: dbo.Items\n    key: [id]\n    direction: a_to_b\n    initial: full\n",
    );
    fails_then_recovers(
        &a,
        &b,
        &setup,
        "load_loop_fails",
        "the loader of dbo.Items (a_to_b)",
    )
    .await;
}

/// A table whose change tracking is turned off fails the poll's batched
/// checks; the poll goes on table by table, names that table, and the
/// server's other tables keep flowing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_whose_tracking_is_turned_off_leaves_the_others_going() {
    let (a, b, setup) = pair("SupOffA", "SupOffB").await;
    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.Notes VALUES (1, N'first'); INSERT INTO dbo.Items VALUES (1, N'one');")
        .await;
    let ok = eventually(Duration::from_secs(20), || async {
        b.try_rows(NOTES).await == Ok(a.rows(NOTES).await)
            && b.try_rows(ITEMS).await == Ok(a.rows(ITEMS).await)
    })
    .await;
    assert!(ok, "the first rows did not arrive:\n{}", agent.log_text());
    a.exec("ALTER TABLE dbo.Notes DISABLE CHANGE_TRACKING;")
        .await;
    a.exec("INSERT INTO dbo.Notes VALUES (2, N'lost'); INSERT INTO dbo.Items VALUES (2, N'two');")
        .await;
    let ok = eventually(Duration::from_secs(20), || async {
        b.try_rows(ITEMS).await == Ok(a.rows(ITEMS).await)
    })
    .await;
    assert!(ok, "the other table stopped:\n{}", agent.log_text());
    let named = eventually(Duration::from_secs(20), || async {
        let v = overview(&setup);
        let t = table(&v, "Notes");
        t["erroring"].is_string() || t["held"].is_string() || t["stopped"].is_string()
    })
    .await;
    assert!(
        named,
        "dbo.Notes should be shown as failing: {}\n{}",
        overview(&setup),
        agent.log_text()
    );
    let log = agent.log_text();
    assert!(
        log.contains("change tracking is not enabled on table dbo.Notes")
            || log.contains("dbo.Notes") && log.contains("change tracking"),
        "the log should name the table and the cause:\n{log}"
    );
    a.exec("UPDATE dbo.Items SET name = N'TWO' WHERE id = 2;")
        .await;
    let ok = eventually(Duration::from_secs(20), || async {
        b.try_rows(ITEMS).await == Ok(a.rows(ITEMS).await)
    })
    .await;
    assert!(ok, "dbo.Items stopped later:\n{}", agent.log_text());
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}
