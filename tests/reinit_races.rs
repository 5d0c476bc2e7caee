//! Scenario: `ctsync reinit` arrives while a batch is in flight, and a
//! capture poll spans the reset of the queue.
//!
//! The reload is a hand-off between the queue's owner (the applier), the
//! loader and capture through persisted phases: the owner resets the queue
//! between its batches, the loader copies from a start version it sets as
//! the watermark in the same transaction, and capture appends nothing it
//! read from the watermark the reset removed.
//!
//! Before, the loader reset the queue and copied at once: a batch held
//! before its write landed after the copy (a stale image over the newer
//! row, an identity row inserted twice), and a capture poll spanning the
//! reset failed with `WatermarkBackwards`, which ended capture for the
//! whole server.

mod common;

use common::*;
use std::time::{Duration, Instant};

const RETRY: &str = "  retry: { initial_backoff_ms: 20, max_backoff_ms: 200, max_attempts: 3 }\n";

/// Waits until the agent's log shows `line` (a test hold reached).
async fn logged(agent: &Agent, line: &str) -> bool {
    eventually(Duration::from_secs(40), || async {
        agent.log_text().contains(line)
    })
    .await
}

fn reinit(setup: &Setup, table: &str) -> String {
    let started = Instant::now();
    let out = setup.run_to_end(&["reinit", "--table", table]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "reinit failed after {:?}: {text}{}",
        started.elapsed(),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// An explicit-key row changes while a batch carrying its older image is
/// held before its write; `ctsync reinit` is sent during the hold. The
/// owner resets the queue only after that batch: the copy then carries the
/// newer row, and b ends equal to a.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinit_while_a_batch_is_held_before_its_write_keeps_the_newer_row() {
    real_server_note();
    let a = Sim::start("ReinitHeldA");
    let b = Sim::start("ReinitHeldB");
    let schema = "CREATE TABLE dbo.Accounts (id INT NOT NULL PRIMARY KEY, balance INT NOT NULL);";
    a.exec(schema).await;
    b.exec(schema).await;
    // `initial: none` (the default): the reload of a table that was never
    // loaded is a load too.
    let setup = Setup::new(
        &a,
        &b,
        RETRY,
        "  - table: dbo.Accounts\n    key: [id]\n    direction: a_to_b\n",
    );
    let agent = setup.start_agent_with(&[
        ("CTSYNC_TEST_FAULT", "apply_hold_before_write"),
        ("CTSYNC_TEST_HOLD_MS", "3000"),
    ]);
    a.exec("INSERT INTO dbo.Accounts VALUES (1, 1), (2, 1);")
        .await;
    assert!(
        logged(&agent, "test hold: a batch in flight waits").await,
        "no batch was held:\n{}",
        agent.log_text()
    );
    // The held batch carries balance 1; a moves on to 2.
    a.exec("UPDATE dbo.Accounts SET balance = 2 WHERE id = 1;")
        .await;
    let text = reinit(&setup, "dbo.Accounts");
    assert!(
        text.contains("queue reset between batches"),
        "the reset should be done by the queue's owner: {text}"
    );
    let view = "SELECT id, balance FROM dbo.Accounts ORDER BY id";
    let ok = eventually(Duration::from_secs(40), || async {
        b.try_rows(view).await == Ok(a.rows(view).await)
    })
    .await;
    assert!(
        ok,
        "b should equal a after the reload:\n{}",
        agent.log_text()
    );
    // Nothing stale lands later: the held batch was written before the copy.
    tokio::time::sleep(Duration::from_millis(4000)).await;
    assert_eq!(
        b.rows(view).await,
        vec![
            vec!["1".to_string(), "2".into()],
            vec!["2".into(), "1".into()]
        ],
        "a stale image landed after the copy:\n{}",
        agent.log_text()
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("queue reset for a reload"), "{log}");
}

/// Identity rows (each side assigns its own ids): an insert batch is held
/// before its write while `ctsync reinit` arrives. Every row ends on b
/// exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinit_while_an_identity_insert_is_held_inserts_each_row_once() {
    real_server_note();
    let a = Sim::start("ReinitIdA");
    let b = Sim::start("ReinitIdB");
    let schema =
        "CREATE TABLE dbo.Events (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(40) NOT NULL);";
    a.exec(schema).await;
    b.exec(schema).await;
    b.exec("SET IDENTITY_INSERT dbo.Events ON; INSERT INTO dbo.Events (id, name) VALUES (5000, N'x'); SET IDENTITY_INSERT dbo.Events OFF; DELETE FROM dbo.Events;")
        .await;
    let setup = Setup::new(
        &a,
        &b,
        RETRY,
        "  - table: dbo.Events\n    key: [id]\n    identity: true\n    direction: a_to_b\n",
    );
    let agent = setup.start_agent_with(&[
        ("CTSYNC_TEST_FAULT", "apply_hold_before_write"),
        ("CTSYNC_TEST_HOLD_MS", "3000"),
    ]);
    a.exec("INSERT INTO dbo.Events (name) VALUES (N'e1'), (N'e2'), (N'e3');")
        .await;
    assert!(
        logged(&agent, "test hold: a batch in flight waits").await,
        "no batch was held:\n{}",
        agent.log_text()
    );
    a.exec("INSERT INTO dbo.Events (name) VALUES (N'e4');")
        .await;
    reinit(&setup, "dbo.Events");
    let names = "SELECT name FROM dbo.Events ORDER BY name";
    let ok = eventually(Duration::from_secs(40), || async {
        b.try_rows(names).await == Ok(a.rows(names).await)
    })
    .await;
    assert!(
        ok,
        "b should hold a's rows once each: a {:?}, b {:?}\n{}",
        a.rows(names).await,
        b.rows(names).await,
        agent.log_text()
    );
    tokio::time::sleep(Duration::from_millis(4000)).await;
    assert_eq!(
        b.count("dbo.Events").await,
        4,
        "rows written twice: {:?}\n{}",
        b.rows(names).await,
        agent.log_text()
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}

/// Capture has read changes and holds them before queueing them while the
/// table is re-initialised and its source moves on: the changes read across
/// the reset are not queued (the reload carries them), capture goes on for
/// every table, and b ends equal to a.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_poll_spanning_a_reset_is_not_queued_and_capture_goes_on() {
    real_server_note();
    let a = Sim::start("ReinitPollA");
    let b = Sim::start("ReinitPollB");
    let schema = "CREATE TABLE dbo.Accounts (id INT NOT NULL PRIMARY KEY, balance INT NOT NULL);
        CREATE TABLE dbo.Other (id INT NOT NULL PRIMARY KEY, v INT NOT NULL);";
    a.exec(schema).await;
    b.exec(schema).await;
    let setup = Setup::new(
        &a,
        &b,
        RETRY,
        "  - table: dbo.Accounts\n    key: [id]\n    direction: a_to_b\n  - table: dbo.Other\n    key: [id]\n    direction: a_to_b\n",
    );
    let agent = setup.start_agent_with(&[
        ("CTSYNC_TEST_FAULT", "capture_hold_before_enqueue"),
        ("CTSYNC_TEST_HOLD_MS", "3000"),
    ]);
    a.exec("INSERT INTO dbo.Accounts VALUES (1, 1), (2, 1);")
        .await;
    assert!(
        logged(&agent, "test hold: captured changes wait").await,
        "capture was not held:\n{}",
        agent.log_text()
    );
    // The source moves past what capture holds; the reload starts there.
    a.exec(
        "UPDATE dbo.Accounts SET balance = 3 WHERE id = 2; INSERT INTO dbo.Accounts VALUES (3, 3);",
    )
    .await;
    reinit(&setup, "dbo.Accounts");
    let view = "SELECT id, balance FROM dbo.Accounts ORDER BY id";
    let ok = eventually(Duration::from_secs(40), || async {
        b.try_rows(view).await == Ok(a.rows(view).await)
    })
    .await;
    assert!(
        ok,
        "b should equal a after the reload:\n{}",
        agent.log_text()
    );
    // Capture goes on, for this table and the other one.
    a.exec(
        "UPDATE dbo.Accounts SET balance = 4 WHERE id = 1; INSERT INTO dbo.Other VALUES (1, 1);",
    )
    .await;
    let other = "SELECT id, v FROM dbo.Other ORDER BY id";
    let ok = eventually(Duration::from_secs(40), || async {
        b.try_rows(view).await == Ok(a.rows(view).await)
            && b.try_rows(other).await == Ok(a.rows(other).await)
    })
    .await;
    assert!(
        ok,
        "capture should go on after the reset:\n{}",
        agent.log_text()
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(!log.contains("would go back"), "{log}");
}
