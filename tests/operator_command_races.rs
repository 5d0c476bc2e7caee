//! Scenario: an operator's command arrives while a batch is in flight. The
//! agent holds every committed batch before its completion
//! (`CTSYNC_TEST_FAULT=apply_hold_after_commit`), and `ctsync parked retry`
//! / `parked drop` are sent to the running agent during that hold. The
//! command is applied by the queue's owner between batches: nothing is
//! lost, nothing applied twice, order per key kept.
//!
//! Before, a retried operation went back under its old sequence number
//! while the batch was in flight, and the batch's completion (which removes
//! every queued operation up to its last sequence number) removed it unapplied.

mod common;

use common::*;
use std::time::Duration;

const SCHEMA: &str =
    "CREATE TABLE dbo.Accounts (id INT NOT NULL PRIMARY KEY, email NVARCHAR(100) NOT NULL, balance INT NOT NULL);";
const TABLES: &str = "  - table: dbo.Accounts
    key: [id]
    direction: a_to_b
";
const RETRY: &str = "  retry: { initial_backoff_ms: 20, max_backoff_ms: 200, max_attempts: 3 }\n";
const HOLD: [(&str, &str); 2] = [
    ("CTSYNC_TEST_FAULT", "apply_hold_after_commit"),
    ("CTSYNC_TEST_HOLD_MS", "1500"),
];

fn inspect(setup: &Setup) -> serde_json::Value {
    let out = setup.run_to_end(&["inspect", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Key 2 parked by a unique index only b has; the index dropped again.
async fn park_key_two(setup: &Setup, a: &Sim, b: &Sim, agent: &Agent) {
    a.exec(
        "INSERT INTO dbo.Accounts VALUES (1, N'one@x', 1), (2, N'taken@x', 2), (3, N'three@x', 3);",
    )
    .await;
    let ok = eventually(Duration::from_secs(40), || async {
        inspect(setup)["tables"][0]["parked"].as_u64() == Some(1)
    })
    .await;
    assert!(ok, "key 2 was not parked:\n{}", agent.log_text());
    // A later change of the parked key parks behind it.
    a.exec("UPDATE dbo.Accounts SET balance = 22 WHERE id = 2;")
        .await;
    let ok = eventually(Duration::from_secs(40), || async {
        inspect(setup)["tables"][0]["parked"].as_u64() == Some(2)
    })
    .await;
    assert!(
        ok,
        "the update of key 2 was not parked behind its insert:\n{}",
        agent.log_text()
    );
    b.exec("DROP INDEX UX_email ON dbo.Accounts;").await;
}

/// Writes rows 10..20 on a and waits until b shows the first of them
/// committed: that batch is then held between its target commit and its
/// completion (every batch is).
async fn batch_in_flight(a: &Sim, b: &Sim, agent: &Agent) {
    let values: Vec<String> = (10..20).map(|i| format!("({i}, N'r{i}@x', {i})")).collect();
    a.exec(&format!(
        "INSERT INTO dbo.Accounts VALUES {};",
        values.join(", ")
    ))
    .await;
    let ok = eventually(Duration::from_secs(40), || async {
        b.count("dbo.Accounts WHERE id BETWEEN 10 AND 19").await >= 1
    })
    .await;
    assert!(ok, "the batch did not reach b:\n{}", agent.log_text());
}

async fn start(name: &str) -> (Sim, Sim) {
    let a = Sim::start(&format!("{name}A"));
    let b = Sim::start(&format!("{name}B"));
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    b.exec("INSERT INTO dbo.Accounts VALUES (99, N'taken@x', 0); CREATE UNIQUE INDEX UX_email ON dbo.Accounts (email);")
        .await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_retry_while_a_batch_is_in_flight_loses_nothing() {
    real_server_note();
    let (a, b) = start("RaceRetry").await;
    let setup = Setup::new(&a, &b, RETRY, TABLES);
    let agent = setup.start_agent_with(&HOLD);
    park_key_two(&setup, &a, &b, &agent).await;
    batch_in_flight(&a, &b, &agent).await;
    // The batch of rows 10..20 is held before its completion now.
    let out = setup.run_to_end(&["parked", "retry", "--all"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains('2'), "two operations should go back: {text}");
    let ok = eventually(Duration::from_secs(40), || async {
        b.rows("SELECT id, email, balance FROM dbo.Accounts WHERE id = 2")
            .await
            == vec![vec![
                "2".to_string(),
                "taken@x".to_string(),
                "22".to_string(),
            ]]
    })
    .await;
    assert!(
        ok,
        "the retried insert and update of key 2 were not applied in order:\n{}",
        agent.log_text()
    );
    let ok = eventually(Duration::from_secs(40), || async {
        let v = inspect(&setup);
        v["tables"][0]["parked"].as_u64() == Some(0)
            && v["tables"][0]["queue_depth"].as_u64() == Some(0)
    })
    .await;
    assert!(ok, "queue and parked should drain: {}", inspect(&setup));
    assert_eq!(b.count("dbo.Accounts WHERE id BETWEEN 10 AND 19").await, 10);
    let view = "SELECT id, email, balance FROM dbo.Accounts WHERE id <> 99 ORDER BY id";
    assert_eq!(a.rows(view).await, b.rows(view).await, "a and b differ");
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("operator command applied between batches"),
        "the retry should go through the queue's applier:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_drop_while_a_batch_is_in_flight_drops_only_what_was_parked() {
    real_server_note();
    let (a, b) = start("RaceDrop").await;
    let setup = Setup::new(&a, &b, RETRY, TABLES);
    let agent = setup.start_agent_with(&HOLD);
    park_key_two(&setup, &a, &b, &agent).await;
    batch_in_flight(&a, &b, &agent).await;
    let out = setup.run_to_end(&["parked", "drop", "--all"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && text.contains("2 operation(s) dropped"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Later changes of key 2 are not parked any more: they apply (as an
    // upsert, the insert was dropped).
    a.exec("UPDATE dbo.Accounts SET balance = 222 WHERE id = 2; INSERT INTO dbo.Accounts VALUES (30, N'r30@x', 30);")
        .await;
    let ok = eventually(Duration::from_secs(40), || async {
        let v = inspect(&setup);
        b.count("dbo.Accounts WHERE id = 30").await == 1
            && v["tables"][0]["parked"].as_u64() == Some(0)
            && v["tables"][0]["queue_depth"].as_u64() == Some(0)
    })
    .await;
    assert!(
        ok,
        "the queue should go on after the drop:\n{}",
        agent.log_text()
    );
    let ids = b
        .rows("SELECT id FROM dbo.Accounts WHERE id <> 99 ORDER BY id")
        .await;
    let ids: Vec<i64> = ids.iter().map(|r| r[0].parse().unwrap_or(-1)).collect();
    let mut want: Vec<i64> = vec![1, 2, 3];
    want.extend(10..20);
    want.push(30);
    assert_eq!(ids, want, "every row not dropped is on b exactly once");
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}
