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

/// Two stand-ins (a's statements logged to `log`) with TABLES tables
/// a->b; `None` against a real server (no statement log).
async fn tables_a_to_b(name: &str, log: &std::path::Path) -> Option<(Sim, Sim, Setup)> {
    let Some(a) = Sim::start_logged(&format!("{name}A"), log) else {
        println!("note: idle_polls counts statements in the stand-in's log; skipped against a real server");
        return None;
    };
    let b = Sim::start(&format!("{name}B"));
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
    Some((a, b, setup))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_poll_is_one_request_whatever_the_table_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("a.statements");
    let Some((a, b, setup)) = tables_a_to_b("Idle", &log).await else {
        return;
    };
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

/// After the version moved, a poll checks every table in one request and
/// reads only the tables that changed: its requests do not grow with the
/// number of unchanged tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_after_changes_reads_only_the_changed_tables() {
    const CHANGING: usize = 3;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("a.statements");
    let Some((a, b, setup)) = tables_a_to_b("Moved", &log).await else {
        return;
    };
    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.T20 VALUES (1, 1)").await;
    let ok = eventually(Duration::from_secs(20), || async {
        b.count("dbo.T20").await == 1
    })
    .await;
    assert!(ok, "{}", agent.log_text());
    // Writers on CHANGING tables, a change every 50 ms (polls 100 ms apart).
    let before = lines(&log);
    let mut written: i64 = 0;
    for k in 0..40 {
        for i in 0..CHANGING {
            a.exec(&format!("INSERT INTO dbo.T{i} VALUES ({k}, {k})"))
                .await;
            written += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ok = eventually(Duration::from_secs(20), || async {
        let mut n = 0;
        for i in 0..CHANGING {
            n += b.count(&format!("dbo.T{i}")).await;
        }
        n == written
    })
    .await;
    assert!(ok, "{}", agent.log_text());
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let window: Vec<&str> = text.lines().skip(before).collect();
    let sql = |l: &&str| l.split('\t').next().unwrap_or("").to_string();
    // Polls that found the version moved (each opens a snapshot).
    let polls = window
        .iter()
        .filter(|l| sql(l).contains("BEGIN TRANSACTION; SELECT CHANGE_TRACKING_CURRENT_VERSION()"))
        .count();
    // Reads of tables (the capture read joins the table for its image).
    let reads: Vec<String> = window
        .iter()
        .map(sql)
        .filter(|s| s.contains("LEFT OUTER JOIN"))
        .collect();
    let unchanged_reads: Vec<&String> = reads
        .iter()
        .filter(|s| !(0..CHANGING).any(|i| s.contains(&format!("[dbo].[T{i}]"))))
        .collect();
    // An unchanged table's checks are never sent one table at a time (a
    // changed table's may: a first read of one row, read on in pieces).
    let single_checks: Vec<&&str> = window
        .iter()
        .filter(|l| sql(l) == "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(@P1))")
        .filter(|l| !(0..CHANGING).any(|i| l.contains(&format!("[dbo].[T{i}]"))))
        .collect();
    // Batched checks: one request that checks at least every unchanged
    // table (a changed table may be left to the per-table path in the
    // poll where its first read goes on in pieces).
    let batched_checks = window
        .iter()
        .filter(|l| {
            sql(l).matches("CHANGE_TRACKING_MIN_VALID_VERSION").count() >= TABLES - CHANGING
        })
        .count();
    // The writer's own requests are in the log too.
    let agent_requests = window.len().saturating_sub(written as usize);
    println!(
        "idle_polls: {polls} polls after changes, {agent_requests} agent requests ({:.1} per poll), {} reads, {batched_checks} batched checks",
        agent_requests as f64 / polls.max(1) as f64,
        reads.len()
    );
    assert!(polls >= 5, "only {polls} polls saw the version move");
    assert!(
        unchanged_reads.is_empty(),
        "tables without changes were read: {:?}",
        unchanged_reads.iter().take(3).collect::<Vec<_>>()
    );
    assert!(
        single_checks.is_empty(),
        "unchanged tables checked one by one: {single_checks:?}"
    );
    // (The log may end inside a poll, between its snapshot and its checks.)
    assert!(
        batched_checks + 1 >= polls,
        "{batched_checks} batched checks for {polls} polls"
    );
    // Per poll: the idle check, the snapshot, the checks, the reads of the
    // changed tables, the end; and a few others (the schema check).
    assert!(
        agent_requests <= polls * (4 + CHANGING) + 20,
        "{agent_requests} requests for {polls} polls"
    );
    let (code, log_text) = agent.terminate();
    assert_eq!(code, Some(0), "{log_text}");
}

/// Start-up reads every table's catalog entry (columns, primary key,
/// change tracking) many tables per request: `ctsync check` of TABLES
/// tables sends a a handful of requests, not three per table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_of_many_tables_is_read_in_a_few_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("a.statements");
    let Some((_a, _b, setup)) = tables_a_to_b("Catalog", &log).await else {
        return;
    };
    let before = lines(&log);
    let out = setup.run_to_end(&["check"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Change tracking is not on yet: check names it for every table, which
    // shows every table's entry was read.
    for i in 0..TABLES {
        assert!(
            text.contains(&format!("change tracking is off for table dbo.T{i};")),
            "dbo.T{i}:\n{text}"
        );
    }
    let sent = lines(&log) - before;
    println!("idle_polls: check of {TABLES} tables sent {sent} requests to a");
    assert!(
        sent <= 8,
        "{sent} requests for {TABLES} tables:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// Change tracking turned off for one table while everything is idle: the
/// current version does not move (changes to an untracked table take no
/// version), but the idle poll also compares the tables' tracking state,
/// so the agent notices at its next poll and names the table instead of
/// skipping polls while the table's changes go untracked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_turned_off_while_idle_is_noticed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("a.statements");
    let Some((a, b, setup)) = tables_a_to_b("IdleOff", &log).await else {
        return;
    };
    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.T5 VALUES (1, 1)").await;
    let ok = eventually(Duration::from_secs(20), || async {
        b.count("dbo.T5").await == 1
    })
    .await;
    assert!(ok, "{}", agent.log_text());
    // Idle for a few polls, then tracking goes off and a row changes
    // untracked.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let version = a.rows("SELECT CHANGE_TRACKING_CURRENT_VERSION()").await;
    a.exec("ALTER TABLE dbo.T5 DISABLE CHANGE_TRACKING; INSERT INTO dbo.T5 VALUES (2, 2);")
        .await;
    assert_eq!(
        a.rows("SELECT CHANGE_TRACKING_CURRENT_VERSION()").await,
        version,
        "the version stays where it was"
    );
    let named = eventually(Duration::from_secs(20), || async {
        let out = setup.run_to_end(&["inspect", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["tables"].as_array().into_iter().flatten().any(|t| {
            t["table"] == "dbo.T5"
                && (t["erroring"].is_string() || t["held"].is_string() || t["stopped"].is_string())
        })
    })
    .await;
    assert!(named, "dbo.T5 not shown as failing:\n{}", agent.log_text());
    let text = agent.log_text();
    assert!(
        text.contains("dbo.T5") && text.contains("change tracking"),
        "the log names the table and the cause:\n{text}"
    );
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));
}
