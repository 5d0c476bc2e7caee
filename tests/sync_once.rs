//! Scenario: `ctsync sync --once` for cron-style runs: the first run loads
//! fully (mode `full_incremental`), later runs apply only the changes since,
//! each exits 0 once everything up to the versions current at its start is
//! applied; `mode: incremental` without an earlier run is refused.

mod common;

use common::*;

const SCHEMA: &str = "CREATE TABLE dbo.Prices (sku NVARCHAR(20) NOT NULL PRIMARY KEY, price DECIMAL(10,2) NOT NULL);";
const VIEW: &str = "SELECT sku, price FROM dbo.Prices ORDER BY sku";

fn once(setup: &Setup) -> (bool, String) {
    let out = setup.run_to_end(&["sync", "--once"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_loads_later_runs_apply_changes() {
    real_server_note();
    let a = Sim::start("OnceA");
    let b = Sim::start("OnceB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    a.exec("INSERT INTO dbo.Prices VALUES (N'A', 1.50), (N'B', 2.00), (N'C', 3.25);")
        .await;
    b.exec("INSERT INTO dbo.Prices VALUES (N'Z', 9.99);").await;
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.Prices\n    key: [sku]\n    direction: a_to_b\n",
    );

    let (ok, text) = once(&setup);
    assert!(ok, "{text}");
    assert!(
        text.contains("initial load starts"),
        "the first run loads fully:\n{text}"
    );
    assert_eq!(a.rows(VIEW).await, b.rows(VIEW).await, "{text}");

    a.exec("UPDATE dbo.Prices SET price = 1.75 WHERE sku = N'A'; DELETE FROM dbo.Prices WHERE sku = N'B'; INSERT INTO dbo.Prices VALUES (N'D', 4.00);").await;
    let (ok, text) = once(&setup);
    assert!(ok, "{text}");
    assert!(
        !text.contains("initial load starts"),
        "later runs are incremental:\n{text}"
    );
    assert_eq!(a.rows(VIEW).await, b.rows(VIEW).await, "{text}");

    // Nothing changed: a run still exits 0, quickly, writing nothing.
    let (ok, text) = once(&setup);
    assert!(ok, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_without_a_watermark_is_refused() {
    real_server_note();
    let a = Sim::start("IncA");
    let b = Sim::start("IncB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.Prices\n    key: [sku]\n    direction: a_to_b\n    mode: incremental\n",
    );
    let (ok, text) = once(&setup);
    assert!(!ok, "{text}");
    assert!(
        text.contains("mode: incremental") && text.contains("full_incremental"),
        "{text}"
    );
}

/// Customers <- Orders <- OrderLines: identity keys mapped between the
/// servers (b's IDENTITY seeds differ from a's, so every id is translated),
/// references, a composite key. The loads of Orders and OrderLines wait for
/// the table they reference; `sync --once` must run them all, not exit 0
/// after Customers alone.
const CHAIN_SCHEMA_A: &str = "
CREATE TABLE dbo.Customers (id INT IDENTITY(1,1) NOT NULL PRIMARY KEY, name NVARCHAR(50) NOT NULL);
CREATE TABLE Sales.Orders (id INT IDENTITY(1,1) NOT NULL PRIMARY KEY,
    customer_id INT NOT NULL CONSTRAINT FK_Orders_Customers REFERENCES dbo.Customers (id),
    placed NVARCHAR(10) NULL);
CREATE TABLE Sales.OrderLines (order_id INT NOT NULL, line_no INT NOT NULL, sku NVARCHAR(20) NOT NULL,
    CONSTRAINT PK_OrderLines PRIMARY KEY (order_id, line_no),
    CONSTRAINT FK_OrderLines_Orders FOREIGN KEY (order_id) REFERENCES Sales.Orders (id));";

const CHAIN_TABLES: &str = "  - table: dbo.Customers
    key: [id]
    identity: true
    direction: a_to_b
    initial: full
  - table: Sales.Orders
    key: [id]
    identity: true
    direction: a_to_b
    initial: full
    references: { customer_id: dbo.Customers }
  - table: Sales.OrderLines
    key: [order_id, line_no]
    direction: a_to_b
    initial: full
    references: { order_id: Sales.Orders }
";

const LIMIT: std::time::Duration = std::time::Duration::from_secs(90);

const CUSTOMERS: &str = "SELECT id, name FROM dbo.Customers ORDER BY id";
const ORDERS: &str = "SELECT id, customer_id, placed FROM Sales.Orders ORDER BY id";
const LINES: &str =
    "SELECT order_id, line_no, sku FROM Sales.OrderLines ORDER BY order_id, line_no";

/// `sync --once`, killed (and reported as failed) if it has not exited
/// within `limit`: a run that waits forever is a failure too.
fn once_within(setup: &Setup, limit: std::time::Duration) -> (bool, String) {
    use std::process::Stdio;
    let n = std::fs::read_dir(setup.dir.path()).map_or(0, |d| d.count());
    let log = setup.dir.path().join(format!("once-{n}.log"));
    let file = std::fs::File::create(&log).expect("log file");
    let err = file.try_clone().expect("log file");
    let mut child = setup
        .command(&["sync", "--once"])
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("spawn ctsync sync --once");
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!text.contains(PASSWORD), "the password leaked: {text}");
    match status {
        Some(s) => (s.success(), text),
        None => (
            false,
            format!("{text}\n(sync --once still ran after {limit:?}; killed)"),
        ),
    }
}

fn table(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect()
}

async fn snapshot(s: &Sim) -> [Vec<Vec<String>>; 3] {
    [
        s.rows(CUSTOMERS).await,
        s.rows(ORDERS).await,
        s.rows(LINES).await,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_that_wait_for_a_referenced_table_run_before_the_run_ends() {
    real_server_note();
    let a = Sim::start("OnceChainA");
    let b = Sim::start("OnceChainB");
    for s in [&a, &b] {
        s.exec("CREATE SCHEMA Sales").await;
    }
    a.exec(CHAIN_SCHEMA_A).await;
    b.exec(
        &CHAIN_SCHEMA_A
            .replacen("IDENTITY(1,1)", "IDENTITY(100,1)", 1)
            .replacen("IDENTITY(1,1)", "IDENTITY(500,1)", 1),
    )
    .await;
    a.exec(
        "INSERT INTO dbo.Customers (name) VALUES (N'Ann'), (N'Bob'), (N'Cid');
         INSERT INTO Sales.Orders (customer_id, placed) VALUES (2, N'2024-01-02'), (1, N'2024-01-03'), (2, N'2024-01-04');
         INSERT INTO Sales.OrderLines VALUES (1, 1, N'X-1'), (1, 2, N'Y-2'), (2, 1, N'Z-3'), (3, 1, N'X-1'), (3, 2, N'W-4');",
    )
    .await;
    let setup = Setup::new(&a, &b, "", CHAIN_TABLES);

    let (ok, text) = once_within(&setup, LIMIT);
    assert!(ok, "{text}");
    assert!(
        text.contains("everything up to the versions current at start is applied"),
        "{text}"
    );
    // Row by row, with a's ids translated to b's.
    assert_eq!(
        b.rows(CUSTOMERS).await,
        table(&[&["100", "Ann"], &["101", "Bob"], &["102", "Cid"]]),
        "{text}"
    );
    assert_eq!(
        b.rows(ORDERS).await,
        table(&[
            &["500", "101", "2024-01-02"],
            &["501", "100", "2024-01-03"],
            &["502", "101", "2024-01-04"],
        ]),
        "{text}"
    );
    assert_eq!(
        b.rows(LINES).await,
        table(&[
            &["500", "1", "X-1"],
            &["500", "2", "Y-2"],
            &["501", "1", "Z-3"],
            &["502", "1", "X-1"],
            &["502", "2", "W-4"],
        ]),
        "{text}"
    );

    // Nothing new: exits 0 and changes nothing.
    let before = snapshot(&b).await;
    let (ok, text) = once_within(&setup, LIMIT);
    assert!(ok, "{text}");
    assert!(!text.contains("initial load starts"), "{text}");
    assert_eq!(snapshot(&b).await, before, "{text}");

    // Changes on a arrive, references translated to b's ids.
    a.exec(
        "INSERT INTO dbo.Customers (name) VALUES (N'Dee');
         INSERT INTO Sales.Orders (customer_id, placed) VALUES (4, N'2024-02-01'), (3, N'2024-02-02');
         INSERT INTO Sales.OrderLines VALUES (4, 1, N'D-1'), (5, 1, N'C-1');
         UPDATE Sales.OrderLines SET sku = N'Y-9' WHERE order_id = 1 AND line_no = 2;
         DELETE FROM Sales.OrderLines WHERE order_id = 3 AND line_no = 2;
         UPDATE Sales.Orders SET customer_id = 3 WHERE id = 2;",
    )
    .await;
    let (ok, text) = once_within(&setup, LIMIT);
    assert!(ok, "{text}");
    assert!(!text.contains("initial load starts"), "{text}");
    assert_eq!(
        b.rows(CUSTOMERS).await,
        table(&[
            &["100", "Ann"],
            &["101", "Bob"],
            &["102", "Cid"],
            &["103", "Dee"]
        ]),
        "{text}"
    );
    assert_eq!(
        b.rows(ORDERS).await,
        table(&[
            &["500", "101", "2024-01-02"],
            &["501", "102", "2024-01-03"],
            &["502", "101", "2024-01-04"],
            &["503", "103", "2024-02-01"],
            &["504", "102", "2024-02-02"],
        ]),
        "{text}"
    );
    assert_eq!(
        b.rows(LINES).await,
        table(&[
            &["500", "1", "X-1"],
            &["500", "2", "Y-9"],
            &["501", "1", "Z-3"],
            &["502", "1", "X-1"],
            &["503", "1", "D-1"],
            &["504", "1", "C-1"],
        ]),
        "{text}"
    );

    let before = snapshot(&b).await;
    let (ok, text) = once_within(&setup, LIMIT);
    assert!(ok, "{text}");
    assert_eq!(snapshot(&b).await, before, "{text}");
}

/// A table `run` holds (a column type ctsync refuses) does not keep a
/// cron run waiting for the stall limit: the other tables are synced, and
/// the run exits non-zero at once, naming the table, the reason and the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_table_ends_the_run_with_its_reason_once_the_others_are_done() {
    real_server_note();
    let a = Sim::start("OnceHeldA");
    let b = Sim::start("OnceHeldB");
    for s in [&a, &b] {
        s.exec(SCHEMA).await;
        s.exec("CREATE TABLE dbo.Odd (id INT NOT NULL PRIMARY KEY, v SQL_VARIANT NULL)")
            .await;
    }
    a.exec("INSERT INTO dbo.Prices VALUES (N'a', 1.50), (N'b', 2.25)")
        .await;
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.Prices\n    key: [sku]\n  - table: dbo.Odd\n    key: [id]\n",
    );
    let (ok, text) = once_within(&setup, std::time::Duration::from_secs(20));
    assert!(!ok, "{text}");
    assert!(
        text.contains("dbo.Odd") && text.contains("sql_variant") && text.contains("fix the schema"),
        "{text}"
    );
    assert!(!text.contains("still ran after"), "{text}");
    assert_eq!(a.rows(VIEW).await, b.rows(VIEW).await, "{text}");
    assert_eq!(b.count("dbo.Prices").await, 2);
}
