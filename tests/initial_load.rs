//! Scenario: tables reach a common start (`initial:`) and are re-initialised
//! when their change history is gone (`on_expired: reinit`), through the real
//! `ctsync run` against two stand-ins.
//!
//! Follows "Work with change tracking": obtaining initial data and validating
//! the last synchronized version
//! (docs/relational-databases/track-changes/work-with-change-tracking-sql-server.md).

mod common;

use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE dbo.Big (id INT NOT NULL PRIMARY KEY, name NVARCHAR(40) NOT NULL, qty INT NOT NULL, price DECIMAL(10,2) NULL, note NVARCHAR(40) NULL, at DATETIME2(3) NULL);
CREATE TABLE dbo.Members (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(40) NOT NULL);
CREATE TABLE dbo.Small (id INT NOT NULL PRIMARY KEY, v INT NOT NULL);
";

/// `n` rows of dbo.Big on `sim`, ids from `from`, through tiberius' bulk
/// load (fast set-up, not what is measured).
async fn fill_big(sim: &Sim, from: i64, n: i64) {
    use tiberius::{ColumnData, TokenRow};
    let mut c = sim.client().await;
    let mut req = c.bulk_insert("dbo.Big").await.expect("bulk insert");
    for v in from..from + n {
        let mut row = TokenRow::new();
        row.push(ColumnData::I32(Some(v as i32)));
        row.push(ColumnData::String(Some(format!("row {v}").into())));
        row.push(ColumnData::I32(Some((v % 100) as i32)));
        row.push(ColumnData::Numeric(Some(
            tiberius::numeric::Numeric::new_with_scale(v as i128 * 25, 2),
        )));
        row.push(ColumnData::String(None));
        row.push(ColumnData::DateTime2(None));
        req.send(row).await.expect("bulk row");
    }
    req.finalize().await.expect("bulk finalize");
}

fn inspect(setup: &Setup) -> serde_json::Value {
    let out = setup.run_to_end(&["inspect", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

fn phase_of(v: &serde_json::Value, table: &str, direction: &str) -> serde_json::Value {
    v["tables"]
        .as_array()
        .and_then(|t| {
            t.iter()
                .find(|x| x["table"] == table && x["direction"] == direction)
        })
        .map(|x| x["phase"].clone())
        .unwrap_or_default()
}

const VIEW: &str = "SELECT COUNT(*), SUM(CAST(qty AS BIGINT)), MIN(id), MAX(id) FROM dbo.Big";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_load_with_changes_during_the_copy_and_a_crash_resumes() {
    real_server_note();
    let rows: i64 = std::env::var("CTSYNC_TEST_LOAD_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let a = Arc::new(Sim::start("LoadA"));
    let b = Sim::start("LoadB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    fill_big(&a, 1, rows).await;
    // Rows only b has (deleted by a one-way full load) and a stale copy of
    // a row a has (updated, not duplicated).
    b.exec("INSERT INTO dbo.Big (id, name, qty) VALUES (-1, N'only on b', 0), (5, N'stale', 0);")
        .await;
    let setup = Setup::new(
        &a,
        &b,
        "  batch_size: 1000\n",
        "  - table: dbo.Big\n    key: [id]\n    direction: a_to_b\n    initial: full\n",
    );

    // Changes on a while the copy runs.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (a, stop) = (a.clone(), stop.clone());
        tokio::spawn(async move {
            let mut c = a.client().await;
            let mut i = 0i64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let sql = format!(
                    "UPDATE dbo.Big SET qty = qty + 1 WHERE id = {u}; DELETE FROM dbo.Big WHERE id = {d}; INSERT INTO dbo.Big (id, name, qty) VALUES ({n}, N'new', 1);",
                    u = (i * 7919) % rows + 1,
                    d = (i * 104_729) % rows + 1,
                    n = rows + i
                );
                let _ = c
                    .simple_query(sql)
                    .await
                    .map(|s| async { s.into_results().await });
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    // First run: killed in the middle of the copy.
    let mut agent = setup.start_agent_until(|v| {
        let p = phase_of(v, "dbo.Big", "a_to_b");
        p["initial_load"]["rows_done"].as_u64().unwrap_or(0) > 0
    });
    let done_before = loop {
        let p = phase_of(&inspect(&setup), "dbo.Big", "a_to_b");
        if let Some(n) = p["initial_load"]["rows_done"].as_u64() {
            if n >= (rows as u64) / 4 {
                break n;
            }
        } else if p == "streaming" {
            panic!("the load finished before the kill; use more rows");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _ = agent.child.kill();
    let _ = agent.child.wait();
    let log1 = agent.log_text();
    assert!(log1.contains("initial load starts"), "{log1}");

    // Second run: resumes after the last finished chunk, not from zero: it
    // says where it resumes, and never starts a load again.
    let agent = setup.start_agent_until(|_| true);
    let resumed_at = |log: &str| -> Option<u64> {
        let line = log
            .lines()
            .find(|l| l.contains("initial load resumes after its last finished chunk"))?;
        let rest = &line[line.find("rows_done=")? + "rows_done=".len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    let ok = eventually(Duration::from_secs(30), || async {
        resumed_at(&agent.log_text()).is_some()
    })
    .await;
    let log2 = agent.log_text();
    assert!(ok, "the second run should resume the load:\n{log2}");
    let n = resumed_at(&log2).unwrap_or(0);
    assert!(
        n >= done_before,
        "the resumed load went back: {n} < {done_before}\n{log2}"
    );
    assert!(
        !log2.contains("initial load starts"),
        "the second run started the load over:\n{log2}"
    );
    let ok = eventually(Duration::from_secs(180), || async {
        phase_of(&inspect(&setup), "dbo.Big", "a_to_b") == "streaming"
    })
    .await;
    assert!(ok, "load did not finish:\n{}", agent.log_text());
    stop.store(true, Ordering::SeqCst);
    writer.await.expect("writer");
    let ok = eventually(Duration::from_secs(60), || async {
        a.rows(VIEW).await == b.rows(VIEW).await
    })
    .await;
    assert!(
        ok,
        "not identical after the load: a {:?} b {:?}\n{}",
        a.rows(VIEW).await,
        b.rows(VIEW).await,
        agent.log_text()
    );
    let log2 = agent.log_text();
    assert!(
        !log2.contains("initial load starts"),
        "the second run started over:\n{log2}"
    );
    assert!(
        b.rows("SELECT id FROM dbo.Big WHERE id = -1")
            .await
            .is_empty(),
        "b-only row kept"
    );
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_n_and_identity_mapping_then_streaming() {
    real_server_note();
    let a = Sim::start("LatestA");
    let b = Sim::start("LatestB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let values: Vec<String> = (1..=50).map(|i| format!("(N'm{i}')")).collect();
    a.exec(&format!(
        "INSERT INTO dbo.Members (name) VALUES {};",
        values.join(", ")
    ))
    .await;
    b.exec("SET IDENTITY_INSERT dbo.Members ON; INSERT INTO dbo.Members (id, name) VALUES (900, N'x'); SET IDENTITY_INSERT dbo.Members OFF; DELETE FROM dbo.Members;").await;
    let setup = Setup::new(&a, &b, "", "  - table: dbo.Members\n    key: [id]\n    identity: true\n    direction: a_to_b\n    initial: { latest: 10 }\n");
    let agent = setup.start_agent_until(|v| phase_of(v, "dbo.Members", "a_to_b") == "streaming");
    let names = b.rows("SELECT name FROM dbo.Members ORDER BY id").await;
    let expected: Vec<Vec<String>> = (41..=50).rev().map(|i| vec![format!("m{i}")]).collect();
    assert_eq!(
        names, expected,
        "the 10 most recent rows, copied newest first"
    );
    let v = inspect(&setup);
    assert_eq!(v["tables"][0]["mapped_keys"].as_u64(), Some(10), "{v}");
    // Then changes stream: an update of a copied row reaches its mapped row.
    a.exec("UPDATE dbo.Members SET name = N'm50 renamed' WHERE id = 50; INSERT INTO dbo.Members (name) VALUES (N'm51');").await;
    let ok = eventually(Duration::from_secs(20), || async {
        b.rows("SELECT COUNT(*) FROM dbo.Members WHERE name IN (N'm50 renamed', N'm51')")
            .await[0][0]
            == "2"
    })
    .await;
    assert!(ok, "{}", agent.log_text());
    assert_eq!(b.count("dbo.Members").await, 11);
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_history_reinitialises_only_that_table() {
    real_server_note();
    let a = Sim::start("ExpA");
    let b = Sim::start("ExpB");
    if a.server().is_none() {
        return; // change-tracking cleanup on demand needs the stand-in
    }
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let tables = "  - table: dbo.Small\n    key: [id]\n    direction: a_to_b\n  - table: dbo.Big\n    key: [id]\n    direction: a_to_b\n";
    let setup = Setup::new(&a, &b, "", tables);
    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.Small VALUES (1, 1), (2, 2); INSERT INTO dbo.Big (id, name, qty) VALUES (1, N'x', 1);").await;
    let ok = eventually(Duration::from_secs(20), || async {
        b.count("dbo.Small").await == 2 && b.count("dbo.Big").await == 1
    })
    .await;
    assert!(ok, "{}", agent.log_text());
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));

    // While the agent is off: changes, then cleanup removes their history
    // (as retention would), and dbo.Big is truncated.
    a.exec("UPDATE dbo.Small SET v = 20 WHERE id = 2; INSERT INTO dbo.Small VALUES (3, 3);")
        .await;
    a.exec("EXEC mssql_sim.ct_cleanup").await;
    let agent = setup.start_agent_until(|_| true);
    let ok = eventually(Duration::from_secs(30), || async {
        b.rows("SELECT id, v FROM dbo.Small ORDER BY id").await
            == a.rows("SELECT id, v FROM dbo.Small ORDER BY id").await
    })
    .await;
    assert!(
        ok,
        "dbo.Small was not re-initialised:\n{}",
        agent.log_text()
    );
    let log = agent.log_text();
    assert!(log.contains("re-initialising this table"), "{log}");

    // TRUNCATE: history of that table alone is gone; the other goes on.
    let before = agent
        .log_text()
        .matches("re-initialising this table")
        .count();
    a.exec("TRUNCATE TABLE dbo.Big; INSERT INTO dbo.Big (id, name, qty) VALUES (7, N'after', 7);")
        .await;
    a.exec("INSERT INTO dbo.Small VALUES (4, 4);").await;
    let ok = eventually(Duration::from_secs(30), || async {
        b.rows("SELECT id FROM dbo.Big").await == vec![vec!["7".to_string()]]
            && b.count("dbo.Small").await == 4
    })
    .await;
    assert!(
        ok,
        "after TRUNCATE: b has {:?}\n{}",
        b.rows("SELECT id FROM dbo.Big").await,
        agent.log_text()
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0));
    assert_eq!(
        log.matches("re-initialising this table").count() - before,
        1,
        "only dbo.Big is re-initialised after its TRUNCATE:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_of_the_source_is_detected_and_reinitialised() {
    real_server_note();
    let a = Sim::start("RestA");
    let b = Sim::start("RestB");
    if a.server().is_none() {
        return; // snapshot save/restore needs the stand-in
    }
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.Small\n    key: [id]\n    direction: a_to_b\n",
    );
    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.Small VALUES (1, 1), (2, 2);").await;
    let ok = eventually(Duration::from_secs(20), || async {
        b.count("dbo.Small").await == 2
    })
    .await;
    assert!(ok, "{}", agent.log_text());
    a.exec("EXEC mssql_sim.snapshot_save @name = N'nightly'")
        .await;
    a.exec("INSERT INTO dbo.Small VALUES (3, 3); UPDATE dbo.Small SET v = 10 WHERE id = 1;")
        .await;
    let ok = eventually(Duration::from_secs(20), || async {
        b.count("dbo.Small").await == 3
    })
    .await;
    assert!(ok, "{}", agent.log_text());
    // The source is put back to last night's backup: its version goes back.
    a.exec("EXEC mssql_sim.snapshot_restore @name = N'nightly'")
        .await;
    let view = "SELECT id, v FROM dbo.Small ORDER BY id";
    let ok = eventually(Duration::from_secs(30), || async {
        a.rows(view).await == b.rows(view).await
    })
    .await;
    assert!(
        ok,
        "b does not match the restored a: a {:?} b {:?}\n{}",
        a.rows(view).await,
        b.rows(view).await,
        agent.log_text()
    );
    // And it goes on streaming after the re-initialisation.
    a.exec("INSERT INTO dbo.Small VALUES (9, 9);").await;
    let ok = eventually(Duration::from_secs(20), || async {
        a.rows(view).await == b.rows(view).await
    })
    .await;
    assert!(ok, "{}", agent.log_text());
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0));
    assert!(log.contains("went back"), "the log should say why:\n{log}");
}

/// A restore the version cannot reveal: the agent is stopped, the source is
/// restored from an older backup and written to until its change-tracking
/// version passed the last one the agent saw. Only the database's recovery
/// fork (sys.database_recovery_status) shows the restore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_whose_version_overtook_the_last_seen_is_detected_by_its_recovery_fork() {
    real_server_note();
    let a = Sim::start("ForkA");
    let b = Sim::start("ForkB");
    if a.server().is_none() {
        return; // snapshot save/restore needs the stand-in
    }
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.Small\n    key: [id]\n    direction: a_to_b\n",
    );
    let view = "SELECT id, v FROM dbo.Small ORDER BY id";
    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.Small VALUES (1, 1), (2, 2);").await;
    a.exec("EXEC mssql_sim.snapshot_save @name = N'older'")
        .await;
    a.exec("INSERT INTO dbo.Small VALUES (3, 3); UPDATE dbo.Small SET v = 10 WHERE id = 1;")
        .await;
    let ok = eventually(Duration::from_secs(20), || async {
        a.rows(view).await == b.rows(view).await
    })
    .await;
    assert!(ok, "{}", agent.log_text());
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));
    a.exec("EXEC mssql_sim.snapshot_restore @name = N'older'")
        .await;
    // Enough transactions that the version passes the one the agent saw.
    for i in 0..10 {
        a.exec(&format!(
            "UPDATE dbo.Small SET v = {} WHERE id = 2;",
            20 + i
        ))
        .await;
    }
    let agent = setup.start_agent();
    let ok = eventually(Duration::from_secs(30), || async {
        a.rows(view).await == b.rows(view).await
    })
    .await;
    assert!(
        ok,
        "b does not match the restored a: a {:?} b {:?}\n{}",
        a.rows(view).await,
        b.rows(view).await,
        agent.log_text()
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0));
    assert!(
        log.contains("recovery fork") && log.contains("restored from a backup"),
        "the log should say why:\n{log}"
    );
}

/// A load that fails with a permanent error (a unique index only b has)
/// stops that table after `max_attempts`, with the reason and the way out in
/// `inspect`; once the cause is gone, `ctsync reinit` (asked of the running
/// agent) loads it again and it converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_failing_for_good_stops_the_table_until_reinit() {
    real_server_note();
    let a = Sim::start("StopA");
    let b = Sim::start("StopB");
    let schema =
        "CREATE TABLE dbo.Accounts (id INT NOT NULL PRIMARY KEY, email NVARCHAR(100) NOT NULL);";
    a.exec(schema).await;
    b.exec(schema).await;
    a.exec("INSERT INTO dbo.Accounts VALUES (1, N'taken@x'), (2, N'two@x');")
        .await;
    // b is not empty (so rows go as statements) and its unique index
    // refuses a's row 1 for as long as b's row 99 holds the address.
    b.exec("INSERT INTO dbo.Accounts VALUES (99, N'taken@x'); CREATE UNIQUE INDEX UX_email ON dbo.Accounts (email);")
        .await;
    let setup = Setup::new(
        &a,
        &b,
        "  retry: { initial_backoff_ms: 20, max_backoff_ms: 100, max_attempts: 3 }\n",
        "  - table: dbo.Accounts\n    key: [id]\n    direction: a_to_b\n    initial: full\n",
    );
    let agent = setup.start_agent();
    let stopped = eventually(Duration::from_secs(30), || async {
        phase_of(&inspect(&setup), "dbo.Accounts", "a_to_b")["stopped"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("ctsync reinit --table dbo.Accounts"))
    })
    .await;
    assert!(stopped, "the load should stop:\n{}", agent.log_text());
    let out = setup.run_to_end(&["inspect"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("stopped")
            && (text.contains("2601") || text.contains("2627") || text.contains("duplicate")),
        "inspect should show why: {text}"
    );
    // Stopped means stopped: nothing more is tried.
    let log_before = agent.log_text().matches("initial load stopped").count();
    assert_eq!(log_before, 1, "{}", agent.log_text());

    b.exec("DROP INDEX UX_email ON dbo.Accounts;").await;
    let out = setup.run_to_end(&["reinit", "--table", "dbo.Accounts"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && text.contains("started by the running agent"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let view = "SELECT id, email FROM dbo.Accounts ORDER BY id";
    let ok = eventually(Duration::from_secs(30), || async {
        b.try_rows(view).await == Ok(a.rows(view).await)
    })
    .await;
    assert!(
        ok,
        "b should hold a's rows after reinit:\n{}",
        agent.log_text()
    );
    assert_eq!(
        phase_of(&inspect(&setup), "dbo.Accounts", "a_to_b"),
        "streaming"
    );
    // And it streams again.
    a.exec("INSERT INTO dbo.Accounts VALUES (3, N'three@x');")
        .await;
    let ok = eventually(Duration::from_secs(20), || async {
        b.try_rows(view).await == Ok(a.rows(view).await)
    })
    .await;
    assert!(
        ok,
        "changes after the reinit should arrive:\n{}",
        agent.log_text()
    );
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));
}

/// A full load by bulk copy leaves the target as statements would: a NULL
/// stays NULL where the target has a DEFAULT (KEEP_NULLS), and the target's
/// CHECK and FOREIGN KEY constraints are checked and stay trusted
/// (CHECK_CONSTRAINTS). Without those options SQL Server fills in the
/// default and marks the constraints not trusted ("Keep nulls or use default
/// values during bulk import"; "Control constraint checking by bulk import
/// operations").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_load_keeps_nulls_and_target_constraints() {
    real_server_note();
    let a = Sim::start("KeepA");
    let b = Sim::start("KeepB");
    let parent = "CREATE TABLE dbo.Kinds (id INT NOT NULL PRIMARY KEY);";
    a.exec(parent).await;
    b.exec(parent).await;
    a.exec("CREATE TABLE dbo.Items (id INT NOT NULL PRIMARY KEY, kind INT NULL, note NVARCHAR(20) NULL, qty INT NULL);")
        .await;
    b.exec(
        "CREATE TABLE dbo.Items (id INT NOT NULL PRIMARY KEY, \
         kind INT NULL CONSTRAINT FK_Items_Kinds REFERENCES dbo.Kinds (id), \
         note NVARCHAR(20) NULL CONSTRAINT DF_Items_note DEFAULT (N'none'), \
         qty INT NULL CONSTRAINT CK_Items_qty CHECK (qty >= 0));",
    )
    .await;
    a.exec("INSERT INTO dbo.Kinds VALUES (1); INSERT INTO dbo.Items VALUES (1, 1, NULL, 5), (2, NULL, N'n', NULL), (3, 1, NULL, 0);")
        .await;
    b.exec("INSERT INTO dbo.Kinds VALUES (1);").await;
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.Items\n    key: [id]\n    direction: a_to_b\n    initial: full\n",
    );
    let agent = setup.start_agent_until(|v| phase_of(v, "dbo.Items", "a_to_b") == "streaming");
    let view = "SELECT id, kind, note, qty FROM dbo.Items ORDER BY id";
    assert_eq!(
        b.rows(view).await,
        a.rows(view).await,
        "{}",
        agent.log_text()
    );
    assert_eq!(
        b.rows("SELECT COUNT(*) FROM dbo.Items WHERE note IS NULL")
            .await,
        vec![vec!["2".to_string()]],
        "NULLs must stay NULL, not become the target's default"
    );
    let trusted = b
        .rows(
            "SELECT name, is_not_trusted FROM sys.check_constraints \
             UNION ALL SELECT name, is_not_trusted FROM sys.foreign_keys ORDER BY name",
        )
        .await;
    assert_eq!(
        trusted,
        vec![
            vec!["CK_Items_qty".to_string(), "0".to_string()],
            vec!["FK_Items_Kinds".to_string(), "0".to_string()],
        ],
        "the target's constraints must stay trusted after the load"
    );
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));
}
