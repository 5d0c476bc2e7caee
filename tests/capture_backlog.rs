//! Scenario: the agent was away while the source changed a lot. The backlog
//! is read in bounded steps (`capture_rows_max`), each step cut at a version
//! so no source transaction is split, and it still converges exactly: rows
//! inserted before a cut and updated after it (their insert folded into a
//! later change) arrive once, deletes of rows the target never had do
//! nothing, a transaction larger than the step is read whole, and upserts
//! and deletes written as set-based statements keep each key's order.

mod common;

use common::*;
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE dbo.Users (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(40) NOT NULL, score INT NOT NULL);
CREATE TABLE dbo.Items (code NVARCHAR(20) NOT NULL PRIMARY KEY, qty INT NOT NULL, note NVARCHAR(40) NULL);
";

const TABLES: &str = "  - table: dbo.Users
    key: [id]
    identity: true
    direction: a_to_b
  - table: dbo.Items
    key: [code]
    direction: a_to_b
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_read_in_bounded_steps_and_converges() {
    real_server_note();
    let a = Sim::start("BacklogA");
    let b = Sim::start("BacklogB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    // b's identities start elsewhere, so a copied id would show.
    b.exec("SET IDENTITY_INSERT dbo.Users ON; INSERT INTO dbo.Users (id, name, score) VALUES (5000, N'x', 0); SET IDENTITY_INSERT dbo.Users OFF; DELETE FROM dbo.Users;")
        .await;
    let setup = Setup::new(&a, &b, "  capture_rows_max: 100\n", TABLES);
    let agent = setup.start_agent();
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));

    // While the agent is away: 40 transactions of 10 users, one of 300
    // (larger than a step), then updates of early users (their inserts fold
    // into changes past later cuts), deletes, and a re-insert of a deleted
    // name; on Items, single-row transactions mixing inserts, updates,
    // deletes and re-inserts of the same codes.
    for t in 0..40 {
        let values: Vec<String> = (0..10)
            .map(|i| format!("(N'u{}', 0)", t * 10 + i))
            .collect();
        a.exec(&format!(
            "INSERT INTO dbo.Users (name, score) VALUES {};",
            values.join(", ")
        ))
        .await;
    }
    let big: Vec<String> = (400..700).map(|i| format!("(N'u{i}', 0)")).collect();
    a.exec(&format!(
        "INSERT INTO dbo.Users (name, score) VALUES {};",
        big.join(", ")
    ))
    .await;
    a.exec("UPDATE dbo.Users SET score = 7 WHERE name IN (N'u1', N'u2', N'u3', N'u150', N'u650');")
        .await;
    a.exec("DELETE FROM dbo.Users WHERE name IN (N'u4', N'u5', N'u500');")
        .await;
    a.exec("INSERT INTO dbo.Users (name, score) VALUES (N'u4', 44);")
        .await;
    for i in 0..600 {
        let code = format!("c{}", i % 250);
        let sql = match i % 5 {
            0 | 1 => format!("IF NOT EXISTS (SELECT 1 FROM dbo.Items WHERE code = N'{code}') INSERT INTO dbo.Items VALUES (N'{code}', {i}, N'n{i}') ELSE UPDATE dbo.Items SET qty = {i} WHERE code = N'{code}';"),
            2 => format!("UPDATE dbo.Items SET qty = qty + 1, note = NULL WHERE code = N'{code}';"),
            3 => format!("DELETE FROM dbo.Items WHERE code = N'{code}';"),
            _ => format!("IF NOT EXISTS (SELECT 1 FROM dbo.Items WHERE code = N'{code}') INSERT INTO dbo.Items VALUES (N'{code}', {i}, N'back') ELSE UPDATE dbo.Items SET note = N'kept' WHERE code = N'{code}';"),
        };
        a.exec(&sql).await;
    }

    let agent = setup.start_agent();
    let ok = eventually(Duration::from_secs(60), || async {
        a.rows("SELECT name, score FROM dbo.Users ORDER BY name")
            .await
            == b.rows("SELECT name, score FROM dbo.Users ORDER BY name")
                .await
            && a.rows("SELECT code, qty, note FROM dbo.Items ORDER BY code")
                .await
                == b.rows("SELECT code, qty, note FROM dbo.Items ORDER BY code")
                    .await
    })
    .await;
    let log = agent.log_text();
    assert!(ok, "did not converge:\n{log}");
    // Exactly once: as many users on b as on a (698), no name twice, ids
    // assigned by b.
    assert_eq!(b.count("dbo.Users").await, 698);
    let dup = b
        .rows("SELECT name FROM dbo.Users GROUP BY name HAVING COUNT(*) > 1")
        .await;
    assert!(dup.is_empty(), "duplicated on b: {dup:?}");
    let min_id = b.rows("SELECT MIN(id) FROM dbo.Users").await;
    assert!(
        min_id[0][0].parse::<i64>().unwrap_or(0) > 5000,
        "{min_id:?}"
    );
    // The backlog was read in steps, each logged as a state change once.
    assert_eq!(
        log.matches("capture backlog: reading it in bounded steps")
            .count(),
        2,
        "one start line per table:\n{log}"
    );
    assert_eq!(log.matches("capture backlog read").count(), 2, "{log}");
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));
}

/// Scenario: a backlog of wide rows (60 rows of 200 KB, one transaction
/// each) with `capture_bytes_max` at 1 MiB: each read takes a few rows,
/// sized by the bytes of the table's last read, never thousands of them;
/// everything arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_wide_rows_is_read_in_steps_bounded_in_bytes() {
    real_server_note();
    let a = Sim::start("BacklogWideA");
    let b = Sim::start("BacklogWideB");
    let schema =
        "CREATE TABLE dbo.Docs (id INT NOT NULL PRIMARY KEY, body NVARCHAR(MAX) NOT NULL);";
    a.exec(schema).await;
    b.exec(schema).await;
    let setup = Setup::new(
        &a,
        &b,
        "  capture_bytes_max: 1048576\n",
        "  - table: dbo.Docs\n    key: [id]\n    direction: a_to_b\n",
    );
    let agent = setup.start_agent();
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));
    let body = "x".repeat(200_000);
    let mut c = a.client().await;
    for id in 0..60i32 {
        c.execute(
            "INSERT INTO dbo.Docs (id, body) VALUES (@P1, @P2)",
            &[&id, &body.as_str()],
        )
        .await
        .expect("insert a wide row");
    }
    drop(c);
    let agent = setup.start_agent_with(&[("CTSYNC_LOG_LEVEL", "debug")]);
    let ok = eventually(Duration::from_secs(60), || async {
        b.count("dbo.Docs").await == 60
    })
    .await;
    let log = agent.log_text();
    assert!(ok, "the wide rows did not arrive:\n{log}");
    let steps: Vec<usize> = log
        .lines()
        .filter(|l| l.contains("captured=") && l.contains("table=\"dbo.Docs\""))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("captured="))
                .and_then(|n| n.parse().ok())
        })
        .collect();
    assert_eq!(steps.iter().sum::<usize>(), 60, "{steps:?}\n{log}");
    assert!(
        steps.len() >= 10 && steps.iter().all(|n| *n <= 8),
        "each read should hold about 1 MiB (5 rows of 200 KB): {steps:?}"
    );
    let same = b
        .rows("SELECT COUNT(*) FROM dbo.Docs WHERE LEN(body) = 200000")
        .await;
    assert_eq!(same, vec![vec!["60".to_string()]]);
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));
}
