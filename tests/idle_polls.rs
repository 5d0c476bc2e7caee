//! Scenario: an idle agent's load on a server does not grow with its table
//! count. With nothing changing, a poll is one request (the current version
//! and the database identity) whatever the number of tables; a change
//! after a long idle time is still captured at once. Counted in the
//! stand-in's statement log (stand-in only).

mod common;

use common::*;
use std::time::{Duration, Instant};

const TABLES: usize = 25;

fn lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_poll_is_one_request_whatever_the_table_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("a.statements");
    let Some(a) = Sim::start_logged("IdleA", &log) else {
        println!("note: idle_polls counts statements in the stand-in's log; skipped against a real server");
        return;
    };
    let b = Sim::start("IdleB");
    let mut tables = String::new();
    for i in 0..TABLES {
        let ddl = format!("CREATE TABLE dbo.T{i} (id INT NOT NULL PRIMARY KEY, v INT NULL)");
        a.exec(&ddl).await;
        b.exec(&ddl).await;
        tables.push_str(&format!(
            "  - table: dbo.T{i}\n    key: [id]\n    direction: a_to_b\n"
        ));
    }
    let setup = Setup::new(&a, &b, "", &tables);
    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.T3 VALUES (1, 1)").await;
    let ok = eventually(Duration::from_secs(20), || async {
        b.count("dbo.T3").await == 1
    })
    .await;
    assert!(ok, "{}", agent.log_text());
    // Idle now: count what a receives in a window of polls (100 ms apart).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let window = Duration::from_secs(3);
    let (before, t) = (lines(&log), Instant::now());
    tokio::time::sleep(window).await;
    let received = lines(&log) - before;
    let polls_max = (t.elapsed().as_millis() / 100) as usize + 1;
    // One request per poll, with room for the odd other one (a link check,
    // the schema check); a full poll of 25 tables is over 75 statements.
    assert!(
        received <= polls_max * 2 + 10,
        "{received} statements in {:?} (at most {polls_max} polls) with {TABLES} idle tables:\n{}",
        t.elapsed(),
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        received >= 3,
        "the agent stopped polling: {received} statements"
    );
    // A change after the idle time is captured as before.
    let t = Instant::now();
    a.exec("UPDATE dbo.T3 SET v = 2 WHERE id = 1; INSERT INTO dbo.T24 VALUES (7, 7)")
        .await;
    let ok = eventually(Duration::from_secs(20), || async {
        b.count("dbo.T24").await == 1 && b.count("dbo.T3 WHERE v = 2").await == 1
    })
    .await;
    assert!(ok, "{}", agent.log_text());
    println!(
        "idle_polls: {received} statements in {:?}; a change arrived after {:?}",
        window,
        t.elapsed()
    );
    let (code, log_text) = agent.terminate();
    assert_eq!(code, Some(0), "{log_text}");
}
