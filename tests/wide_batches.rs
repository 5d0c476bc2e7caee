//! Scenario: batches bigger than one request can carry. A batch of 500
//! operations on a 8-column table binds over 4,000 values, past SQL
//! Server's 2,100 parameters per request; the agent splits it into several
//! requests of one transaction and everything arrives.

mod common;

use common::*;
use std::time::Duration;

const SCHEMA: &str = "CREATE TABLE dbo.Wide (id INT NOT NULL PRIMARY KEY, a NVARCHAR(20), b NVARCHAR(20), c INT, d INT, e DECIMAL(10,2), f BIT, g DATETIME2(3));
CREATE TABLE dbo.WideIds (id INT IDENTITY(1,1) PRIMARY KEY, a NVARCHAR(20), b NVARCHAR(20), c INT, d INT, e DECIMAL(10,2), f BIT, g DATETIME2(3));";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_past_the_parameter_limit_are_split_and_arrive() {
    real_server_note();
    let a = Sim::start("WideA");
    let b = Sim::start("WideB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let setup = Setup::new(
        &a,
        &b,
        "  batch_size: 500\n",
        "  - table: dbo.Wide\n    key: [id]\n    direction: a_to_b\n  - table: dbo.WideIds\n    key: [id]\n    identity: true\n    direction: a_to_b\n",
    );
    let agent = setup.start_agent();
    for chunk in 0..3 {
        let values: Vec<String> = (0..400)
            .map(|i| {
                let id = chunk * 400 + i;
                format!(
                    "({id}, N'a{id}', N'b{id}', {id}, {}, {id}.25, {}, '2026-01-02T03:04:05.678')",
                    id * 2,
                    id % 2
                )
            })
            .collect();
        a.exec(&format!(
            "INSERT INTO dbo.Wide (id, a, b, c, d, e, f, g) VALUES {}",
            values.join(", ")
        ))
        .await;
        let values: Vec<String> = (0..400)
            .map(|i| format!("(N'a{i}', N'b{i}', {i}, {i}, 1.50, 1, NULL)"))
            .collect();
        a.exec(&format!(
            "INSERT INTO dbo.WideIds (a, b, c, d, e, f, g) VALUES {}",
            values.join(", ")
        ))
        .await;
    }
    let view = "SELECT COUNT(*), SUM(CAST(d AS BIGINT)), SUM(e) FROM dbo.Wide";
    let ok = eventually(Duration::from_secs(60), || async {
        a.rows(view).await == b.rows(view).await && b.count("dbo.WideIds").await == 1_200
    })
    .await;
    assert!(
        ok,
        "a {:?} b {:?} ids {}\n{}",
        a.rows(view).await,
        b.rows(view).await,
        b.count("dbo.WideIds").await,
        agent.log_text()
    );
    // No request was refused on the way (the old way: a 4002 for too many
    // parameters, then one operation at a time).
    let out = setup.run_to_end(&["inspect", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    for t in v["tables"].as_array().cloned().unwrap_or_default() {
        assert!(t["last_error"].is_null(), "{t}");
    }
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));
}

/// Scenario: a table of 1,024 columns, SQL Server's widest, synced both
/// ways after a full load: one row binds 1,024 values, so a request carries
/// at most two rows of it and a batch is split into many requests; loads,
/// inserts, updates and deletes arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_of_1024_columns_loads_and_streams_both_ways() {
    real_server_note();
    const COLS: i32 = 1024;
    let a = Sim::start("Cols1024A");
    let b = Sim::start("Cols1024B");
    let cols: Vec<String> = (1..COLS).map(|i| format!("c{i} INT NULL")).collect();
    let schema = format!(
        "CREATE TABLE dbo.W (id INT NOT NULL PRIMARY KEY, {})",
        cols.join(", ")
    );
    a.exec(&schema).await;
    b.exec(&schema).await;
    let names: Vec<String> = (1..COLS).map(|i| format!("c{i}")).collect();
    let row = |id: i32| {
        let vals: Vec<String> = (1..COLS).map(|i| (id * 10_000 + i).to_string()).collect();
        format!("({id}, {})", vals.join(", "))
    };
    let insert = |ids: std::ops::Range<i32>| {
        format!(
            "INSERT INTO dbo.W (id, {}) VALUES {}",
            names.join(", "),
            ids.map(row).collect::<Vec<_>>().join(", ")
        )
    };
    // Before the agent: the load carries these.
    a.exec(&insert(0..10)).await;
    let setup = Setup::new(
        &a,
        &b,
        "  batch_size: 50\n",
        "  - table: dbo.W\n    key: [id]\n    direction: both\n    initial: full\n",
    );
    let agent = setup.start_agent();
    a.exec(&insert(10..30)).await;
    b.exec(&insert(100..105)).await;
    b.exec("UPDATE dbo.W SET c1023 = -1, c250 = NULL WHERE id = 3")
        .await;
    a.exec("DELETE FROM dbo.W WHERE id = 7").await;
    let view = format!("SELECT id, {} FROM dbo.W ORDER BY id", names.join(", "));
    let ok = eventually(Duration::from_secs(60), || async {
        let (ra, rb) = (a.rows(&view).await, b.rows(&view).await);
        ra == rb
            && ra.len() == 34
            && ra
                .iter()
                .any(|r| r[0] == "3" && r[1023] == "-1" && r[250] == "NULL")
    })
    .await;
    assert!(
        ok,
        "a has {} rows, b {}\n{}",
        a.count("dbo.W").await,
        b.count("dbo.W").await,
        agent.log_text()
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}
