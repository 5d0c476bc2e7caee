//! Scenario: the target commits a batch and the connection drops before the
//! reply (`EXEC mssql_sim.cut_after_commit @count = N`: the stand-in shuts
//! the connection right after the COMMIT took effect). The agent cannot
//! tell whether its write landed; it must look it up before writing
//! anything again. Identity-mapped rows are never inserted twice, and an
//! explicit-key row edited on the target after the lost reply is not
//! overwritten by a replay of the older image.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// Inserts rows named `{prefix}{n}` (autocommit: the cut counts explicit
/// transactions only, so only the agent's writes are cut) until `stop`.
async fn writer(sim: Arc<Sim>, prefix: &'static str, stop: Arc<AtomicBool>, n: Arc<AtomicU64>) {
    let mut client = sim.client_retry().await;
    while !stop.load(Ordering::SeqCst) {
        let i = n.load(Ordering::SeqCst) + 1;
        let sql = format!("INSERT INTO dbo.Items (name, qty) VALUES (N'{prefix}{i}', {i});");
        let done = match client.simple_query(sql).await {
            Ok(s) => s.into_results().await.is_ok(),
            Err(_) => false,
        };
        if done {
            n.store(i, Ordering::SeqCst);
        } else {
            client = sim.client_retry().await;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// name → how many rows carry it.
async fn names(sim: &Sim) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in sim.rows("SELECT name FROM dbo.Items").await {
        *out.entry(r[0].clone()).or_insert(0) += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_rows_are_never_inserted_twice_when_replies_after_commit_are_lost() {
    real_server_note();
    let a = Arc::new(Sim::start("CutIdA"));
    let b = Arc::new(Sim::start("CutIdB"));
    if a.server().is_none() {
        return; // cut_after_commit is a stand-in control
    }
    let schema = "CREATE TABLE dbo.Items (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(40) NOT NULL, qty INT NOT NULL);";
    a.exec(schema).await;
    b.exec(&schema.replace("IDENTITY(1,1)", "IDENTITY(1000,1)"))
        .await;
    let setup = Setup::new(
        &a,
        &b,
        "  batch_size: 20\n  retry: { initial_backoff_ms: 20, max_backoff_ms: 200, max_attempts: 5 }\n",
        "  - table: dbo.Items\n    key: [id]\n    identity: true\n    direction: both\n",
    );
    let agent = setup.start_agent();
    let stop = Arc::new(AtomicBool::new(false));
    let (na, nb) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let wa = tokio::spawn(writer(a.clone(), "a", stop.clone(), na.clone()));
    let wb = tokio::spawn(writer(b.clone(), "b", stop.clone(), nb.clone()));
    for round in 0..16 {
        let target = if round % 2 == 0 { &b } else { &a };
        target
            .exec(&format!(
                "EXEC mssql_sim.cut_after_commit @count = {}",
                1 + round % 3
            ))
            .await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    a.exec("EXEC mssql_sim.cut_after_commit @count = 0").await;
    b.exec("EXEC mssql_sim.cut_after_commit @count = 0").await;
    stop.store(true, Ordering::SeqCst);
    let _ = wa.await;
    let _ = wb.await;
    let (ia, ib) = (na.load(Ordering::SeqCst), nb.load(Ordering::SeqCst));
    let mut want = BTreeMap::new();
    for i in 1..=ia {
        want.insert(format!("a{i}"), 1usize);
    }
    for i in 1..=ib {
        want.insert(format!("b{i}"), 1usize);
    }
    let ok = eventually(LIMIT, || async {
        names(&a).await == want && names(&b).await == want
    })
    .await;
    let log = agent.log_text();
    if !ok {
        let (ga, gb) = (names(&a).await, names(&b).await);
        let twice = |m: &BTreeMap<String, usize>| m.iter().filter(|(_, n)| **n > 1).count();
        let missing =
            |m: &BTreeMap<String, usize>| want.keys().filter(|k| !m.contains_key(*k)).count();
        panic!(
            "sides did not converge exactly: a has {} duplicated / {} missing, b has {} duplicated / {} missing of {} rows\n{log}",
            twice(&ga), missing(&ga), twice(&gb), missing(&gb), want.len()
        );
    }
    assert!(
        log.contains("it had landed on the target and is completed without writing it again"),
        "no cut hit a landed batch; the test did not test anything:\n{log}"
    );
    let view = "SELECT name, qty FROM dbo.Items ORDER BY name";
    assert_eq!(a.rows(view).await, b.rows(view).await);
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_key_row_edited_after_a_lost_reply_keeps_the_newer_edit() {
    real_server_note();
    let a = Sim::start("CutExA");
    let b = Sim::start("CutExB");
    if a.server().is_none() {
        return;
    }
    let schema = "CREATE TABLE dbo.Prices (sku INT NOT NULL PRIMARY KEY, price INT NOT NULL);";
    a.exec(schema).await;
    b.exec(schema).await;
    // A long first backoff: the test edits b between the lost reply and
    // the agent's next attempt.
    let setup = Setup::new(
        &a,
        &b,
        "  retry: { initial_backoff_ms: 3000, max_backoff_ms: 3000, max_attempts: 5 }\n",
        "  - table: dbo.Prices\n    key: [sku]\n    direction: both\n",
    );
    let agent = setup.start_agent();
    b.exec("EXEC mssql_sim.cut_after_commit @count = 1").await;
    let values: Vec<String> = (1..=20).map(|i| format!("({i}, 100)")).collect();
    a.exec(&format!(
        "INSERT INTO dbo.Prices VALUES {};",
        values.join(", ")
    ))
    .await;
    // The batch landed on b (its reply was lost).
    let ok = eventually(LIMIT, || async { b.count("dbo.Prices").await == 20 }).await;
    assert!(ok, "the batch did not land on b:\n{}", agent.log_text());
    // A newer edit on b, before the agent's next attempt.
    b.exec("UPDATE dbo.Prices SET price = 555 WHERE sku = 7;")
        .await;
    let want: Vec<Vec<String>> = (1..=20)
        .map(|i| {
            vec![
                i.to_string(),
                if i == 7 { "555" } else { "100" }.to_string(),
            ]
        })
        .collect();
    let view = "SELECT sku, price FROM dbo.Prices ORDER BY sku";
    let ok = eventually(LIMIT, || async {
        a.rows(view).await == want && b.rows(view).await == want
    })
    .await;
    let log = agent.log_text();
    assert!(
        ok,
        "the newer edit on b should win on both sides: a={:?} b={:?}\n{log}",
        a.rows("SELECT price FROM dbo.Prices WHERE sku = 7").await,
        b.rows("SELECT price FROM dbo.Prices WHERE sku = 7").await
    );
    assert!(
        log.contains("it had landed on the target and is completed without writing it again"),
        "the lost reply should be resolved by a lookup:\n{log}"
    );
    // Quiet again: nothing moves back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(b.rows(view).await, want);
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}
