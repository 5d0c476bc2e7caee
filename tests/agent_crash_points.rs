//! Scenario: the agent crashes at the two moments that matter most, chosen
//! with fault injection (`CTSYNC_TEST_FAULT`) rather than left to a random kill:
//!
//! - after the target committed a batch of inserts on an identity table and
//!   before the store recorded it: on restart the agent finds the rows on
//!   the target by their change-tracking context, recovers their new ids,
//!   and does not insert them again;
//! - after capture read changes and before they were queued: the watermark
//!   did not move, so the restart reads them again; nothing is lost.

mod common;

use common::*;
use std::time::Duration;

const SCHEMA: &str =
    "CREATE TABLE dbo.Tickets (id INT IDENTITY(1,1) PRIMARY KEY, title NVARCHAR(60) NOT NULL, state NVARCHAR(10) NOT NULL);";
const TABLES: &str = "  - table: dbo.Tickets
    key: [id]
    identity: true
    direction: a_to_b
";
const VIEW: &str = "SELECT title, state FROM dbo.Tickets ORDER BY title";

async fn pair(a_name: &str, b_name: &str) -> (Sim, Sim, Setup) {
    real_server_note();
    let a = Sim::start(a_name);
    let b = Sim::start(b_name);
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    // Different identity ranges: a re-insert would show as a new id.
    b.exec("SET IDENTITY_INSERT dbo.Tickets ON; INSERT INTO dbo.Tickets (id, title, state) VALUES (700, N'x', N'x'); SET IDENTITY_INSERT dbo.Tickets OFF; DELETE FROM dbo.Tickets;")
        .await;
    let setup = Setup::new(&a, &b, "", TABLES);
    (a, b, setup)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_target_commit_recovers_ids_without_reinserting() {
    let (a, b, setup) = pair("CrashA", "CrashB").await;
    let mut agent = setup.start_agent_with(&[("CTSYNC_TEST_FAULT", "apply_after_target_commit")]);
    a.exec("INSERT INTO dbo.Tickets (title, state) VALUES (N't1', N'open'), (N't2', N'open'), (N't3', N'open');")
        .await;
    let status = agent.wait_exit(Duration::from_secs(20));
    assert!(
        matches!(status, Some(s) if !s.success()),
        "the agent should have aborted at the fault point: {status:?}\n{}",
        agent.log_text()
    );
    // The batch is on b, the store does not know it.
    assert_eq!(b.count("dbo.Tickets").await, 3);

    let agent = setup.start_agent();
    // A later update proves the recovered mapping: it must reach b's rows.
    a.exec("UPDATE dbo.Tickets SET state = N'closed' WHERE title = N't2';")
        .await;
    let ok = eventually(Duration::from_secs(20), || async {
        a.rows(VIEW).await == b.rows(VIEW).await
    })
    .await;
    assert!(
        ok,
        "did not converge after the crash:\n{}",
        agent.log_text()
    );
    assert_eq!(
        b.count("dbo.Tickets").await,
        3,
        "an insert was applied twice"
    );
    let ids = b.rows("SELECT MIN(id) FROM dbo.Tickets").await;
    assert!(
        ids[0][0].parse::<i64>().unwrap_or(0) > 700,
        "b keeps its own ids: {ids:?}"
    );
    let out = setup.run_to_end(&["inspect", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(v["tables"][0]["mapped_keys"].as_u64(), Some(3), "{v}");
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0));
    assert!(
        log.contains("had landed"),
        "recovery should be logged:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_before_enqueue_reads_the_changes_again() {
    let (a, b, setup) = pair("CapA", "CapB").await;
    let mut agent = setup.start_agent_with(&[("CTSYNC_TEST_FAULT", "capture_before_enqueue")]);
    a.exec("INSERT INTO dbo.Tickets (title, state) VALUES (N'c1', N'new'), (N'c2', N'new');")
        .await;
    let status = agent.wait_exit(Duration::from_secs(20));
    assert!(
        matches!(status, Some(s) if !s.success()),
        "the agent should have aborted at the fault point: {status:?}"
    );
    assert_eq!(b.count("dbo.Tickets").await, 0);
    let agent = setup.start_agent();
    let ok = eventually(Duration::from_secs(20), || async {
        a.rows(VIEW).await == b.rows(VIEW).await
    })
    .await;
    assert!(
        ok,
        "changes read before the crash were lost:\n{}",
        agent.log_text()
    );
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));
}
