//! Scenario: errors while applying. Injected deadlocks (1205) on the target
//! are retried and nothing is lost; a permanent error (a unique index on b that
//! a's data violates) parks that operation and later operations on the same
//! key, with its error, while other rows go on; `ctsync inspect` shows it;
//! after the index is dropped, `ctsync parked retry --all` applies it.

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
const VIEW: &str = "SELECT id, email, balance FROM dbo.Accounts ORDER BY id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_deadlocks_are_retried() {
    real_server_note();
    let a = Sim::start("ErrA");
    let b = Sim::start("ErrB");
    if b.server().is_none() {
        return; // injected deadlocks need the stand-in
    }
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let setup = Setup::new(&a, &b, RETRY, TABLES);
    let agent = setup.start_agent();
    // Through the stand-in's control procedure, as any client would.
    b.exec("EXEC mssql_sim.fail_next @table = N'dbo.Accounts', @error = 1205, @count = 2")
        .await;
    a.exec("INSERT INTO dbo.Accounts VALUES (1, N'a@x', 10), (2, N'b@x', 20);")
        .await;
    // The agent meets the injected deadlock first (our reads of b would
    // consume the injected failures too, so wait for the agent to log one).
    let seen = eventually(Duration::from_secs(20), || async {
        agent.log_text().contains("1205")
    })
    .await;
    assert!(
        seen,
        "the agent never met the deadlock:\n{}",
        agent.log_text()
    );
    let ok = eventually(Duration::from_secs(20), || async {
        Ok(a.rows(VIEW).await) == b.try_rows(VIEW).await
    })
    .await;
    assert!(
        ok,
        "deadlocked batch was not retried:\n{}",
        agent.log_text()
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0));
    assert!(
        log.contains("1205"),
        "the deadlock should be logged:\n{log}"
    );
    let out = setup.run_to_end(&["parked", "list"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no parked"),
        "nothing should be parked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_error_parks_the_key_and_others_go_on() {
    real_server_note();
    let a = Sim::start("ParkA");
    let b = Sim::start("ParkB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    b.exec("INSERT INTO dbo.Accounts VALUES (99, N'taken@x', 0); CREATE UNIQUE INDEX UX_email ON dbo.Accounts (email);")
        .await;
    let setup = Setup::new(&a, &b, RETRY, TABLES);
    let agent = setup.start_agent();
    a.exec(
        "INSERT INTO dbo.Accounts VALUES (1, N'one@x', 1), (2, N'taken@x', 2), (3, N'three@x', 3);",
    )
    .await;
    // Key 2 is parked (after max_attempts), keys 1 and 3 go on.
    let parked = |n: u64| {
        let setup = &setup;
        async move {
            let out = setup.run_to_end(&["inspect", "--json"]);
            let v: serde_json::Value =
                serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
            v["tables"][0]["parked"].as_u64() == Some(n)
        }
    };
    let ok = eventually(Duration::from_secs(20), || parked(1)).await;
    assert!(ok, "key 2 was not parked:\n{}", agent.log_text());
    // A later change of the parked key waits behind it; others go on.
    a.exec("UPDATE dbo.Accounts SET balance = 22 WHERE id = 2; UPDATE dbo.Accounts SET balance = 33 WHERE id = 3;")
        .await;
    let ok = eventually(Duration::from_secs(20), || async {
        b.rows("SELECT id, balance FROM dbo.Accounts WHERE id IN (1, 3) ORDER BY id")
            .await
            == vec![
                vec!["1".to_string(), "1".to_string()],
                vec!["3".to_string(), "33".to_string()],
            ]
    })
    .await;
    assert!(ok, "other keys did not go on:\n{}", agent.log_text());
    assert!(b
        .rows("SELECT id FROM dbo.Accounts WHERE id = 2")
        .await
        .is_empty());

    // inspect (live, from the running agent) shows both operations of key
    // 2 parked and SQL Server's error.
    let ok = eventually(Duration::from_secs(20), || parked(2)).await;
    let out = setup.run_to_end(&["inspect", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        ok,
        "the update of key 2 should be parked behind its insert: {text}"
    );
    assert!(
        text.contains("2601") || text.contains("2627"),
        "inspect should show the error number: {text}"
    );
    let out = setup.run_to_end(&["inspect", "--table", "dbo.Accounts", "--queue"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("UX_email") && text.contains("behind"),
        "inspect --queue: {text}"
    );

    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));
    // Stopped agent: `parked list` reads the store.
    let out = setup.run_to_end(&["parked", "list"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("UX_email"),
        "parked list should show SQL Server's message: {text}"
    );

    b.exec("DROP INDEX UX_email ON dbo.Accounts;").await;
    let out = setup.run_to_end(&["parked", "retry", "--all"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let agent = setup.start_agent();
    let ok = eventually(Duration::from_secs(20), || async {
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
        "retried operations not applied in order:\n{}",
        agent.log_text()
    );

    // Dropping, through the running agent: a row b cannot take (a CHECK
    // constraint only b has: error 547) is parked, then dropped.
    b.exec("ALTER TABLE dbo.Accounts ADD CONSTRAINT CK_short CHECK (LEN(email) < 20);")
        .await;
    a.exec("INSERT INTO dbo.Accounts VALUES (4, N'a-very-long-address@example.com', 4), (5, N'five@x', 5);")
        .await;
    let ok = eventually(Duration::from_secs(20), || parked(1)).await;
    assert!(ok, "key 4 was not parked:\n{}", agent.log_text());
    let out = setup.run_to_end(&["parked", "drop", "--all"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && text.contains("1 operation(s) dropped"),
        "{text}"
    );
    assert!(parked(0).await, "nothing should stay parked");
    let ok = eventually(Duration::from_secs(20), || async {
        b.rows("SELECT id FROM dbo.Accounts WHERE id IN (4, 5) ORDER BY id")
            .await
            == vec![vec!["5".to_string()]]
    })
    .await;
    assert!(
        ok,
        "key 5 should go on, key 4 stay dropped:\n{}",
        agent.log_text()
    );
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));
}

/// A table taken out of the config while operations of it are parked: its
/// state is kept and `inspect` still shows it, so nothing is silently
/// forgotten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_state_of_a_table_no_longer_configured_stays_visible() {
    real_server_note();
    let a = Sim::start("GoneA");
    let b = Sim::start("GoneB");
    let other = "CREATE TABLE dbo.Other (id INT NOT NULL PRIMARY KEY);";
    a.exec(SCHEMA).await;
    a.exec(other).await;
    b.exec(SCHEMA).await;
    b.exec(other).await;
    b.exec("INSERT INTO dbo.Accounts VALUES (99, N'taken@x', 0); CREATE UNIQUE INDEX UX_email ON dbo.Accounts (email);")
        .await;
    let other_table = "  - table: dbo.Other\n    key: [id]\n    direction: a_to_b\n";
    let setup = Setup::new(&a, &b, RETRY, &format!("{TABLES}{other_table}"));
    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.Accounts VALUES (2, N'taken@x', 2);")
        .await;
    let ok = eventually(Duration::from_secs(20), || async {
        let out = setup.run_to_end(&["inspect", "--json"]);
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        v["tables"][0]["parked"].as_u64() == Some(1)
    })
    .await;
    assert!(ok, "key 2 was not parked:\n{}", agent.log_text());
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));

    // dbo.Accounts leaves the config.
    let text = std::fs::read_to_string(&setup.config).expect("config");
    std::fs::write(&setup.config, text.replace(TABLES, "")).expect("config");
    let out = setup.run_to_end(&["inspect", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("inspect json");
    assert_eq!(v["tables"].as_array().map(|t| t.len()), Some(1), "{v}");
    assert_eq!(v["unconfigured"][0]["table"], "dbo.Accounts", "{v}");
    assert_eq!(v["unconfigured"][0]["parked"], 1, "{v}");
    let out = setup.run_to_end(&["inspect"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains(
            "not configured any more, state kept: dbo.Accounts a_to_b (queued 0, parked 1)"
        ),
        "{text}"
    );
}
