//! Scenario: the agent dies (`abort`, like `kill -9`) right after a load
//! chunk of an identity-mapped table committed on the target and before the
//! store recorded it (`CTSYNC_TEST_FAULT=load_after_target_commit`). The
//! next run looks the chunk up on the target by its context — one lookup
//! bounded by the target version read before the chunk — records the ids
//! the target gave its rows, and goes on: every row lands exactly once.

mod common;

use common::*;
use std::time::Duration;

const SCHEMA: &str =
    "CREATE TABLE dbo.Members (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(40) NOT NULL);";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_load_chunk_committed_recovers_its_ids_instead_of_inserting_again() {
    real_server_note();
    let a = Sim::start("LoadCrashA");
    let b = Sim::start("LoadCrashB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let values: Vec<String> = (1..=250).map(|i| format!("(N'm{i}')")).collect();
    a.exec(&format!(
        "INSERT INTO dbo.Members (name) VALUES {};",
        values.join(", ")
    ))
    .await;
    // b's ids differ from a's: a chunk inserted twice shows as extra rows.
    b.exec("SET IDENTITY_INSERT dbo.Members ON; INSERT INTO dbo.Members (id, name) VALUES (900, N'x'); SET IDENTITY_INSERT dbo.Members OFF; DELETE FROM dbo.Members;").await;
    let setup = Setup::new(
        &a,
        &b,
        "  batch_size: 100\n",
        "  - table: dbo.Members\n    key: [id]\n    identity: true\n    direction: a_to_b\n    initial: full\n",
    );
    let mut crashed = setup.spawn_agent(&[("CTSYNC_TEST_FAULT", "load_after_target_commit")]);
    let status = crashed.wait_exit(Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| !s.success()),
        "the agent should abort at the fault point:\n{}",
        crashed.log_text()
    );
    let landed = b.count("dbo.Members").await;
    assert!(
        landed > 0 && landed < 250,
        "one chunk should have landed before the crash, {landed} rows on b"
    );
    let agent = setup.start_agent();
    let names = "SELECT name FROM dbo.Members ORDER BY name";
    let ok = eventually(Duration::from_secs(60), || async {
        b.try_rows(names).await == Ok(a.rows(names).await)
    })
    .await;
    assert!(
        ok,
        "b should hold a's 250 rows once each; it has {}:\n{}",
        b.count("dbo.Members").await,
        agent.log_text()
    );
    assert_eq!(b.count("dbo.Members").await, 250);
    // The ids were recorded: a change of a copied row reaches its row on b.
    a.exec("UPDATE dbo.Members SET name = N'm1 renamed' WHERE name = N'm1';")
        .await;
    let ok = eventually(Duration::from_secs(30), || async {
        b.count("dbo.Members WHERE name = N'm1 renamed'").await == 1
    })
    .await;
    assert!(ok, "{}", agent.log_text());
    assert_eq!(b.count("dbo.Members").await, 250);
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("its ids were recovered, not inserted again"),
        "the chunk in flight should be recovered by its context:\n{log}"
    );
}
