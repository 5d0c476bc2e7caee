//! Scenario: tables synced one way and both ways between two stand-ins through
//! the real `ctsync run`: inserts, updates and deletes on both sides converge,
//! ids are mapped (not copied) on identity tables, `force_id` copies them,
//! references are translated, composite keys and column subsets work, and no
//! change echoes back to where it came from.

mod common;

use common::*;
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE dbo.Users (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(100) NOT NULL, email NVARCHAR(200) NULL, note NVARCHAR(50) NULL);
CREATE TABLE dbo.Orders (id INT IDENTITY(1,1) PRIMARY KEY, user_id INT NOT NULL, total DECIMAL(12,2) NOT NULL);
CREATE TABLE dbo.OrderLines (order_id INT NOT NULL, line_no INT NOT NULL, sku NVARCHAR(20) NOT NULL, qty INT NOT NULL, PRIMARY KEY (order_id, line_no));
CREATE TABLE dbo.Regions (id INT IDENTITY(1,1) PRIMARY KEY, code CHAR(2) NOT NULL);
";

const TABLES: &str = "  - table: dbo.Users
    key: [id]
    identity: true
    columns: [id, name, email]
    direction: both
  - table: dbo.Orders
    key: [id]
    identity: true
    references: { user_id: dbo.Users }
    direction: both
  - table: dbo.OrderLines
    key: [order_id, line_no]
    references: { order_id: dbo.Orders }
    direction: both
  - table: dbo.Regions
    key: [id]
    identity: true
    force_id: true
    direction: a_to_b
";

const LIMIT: Duration = Duration::from_secs(30);

/// Rows of a table as the other side must see them, ids translated away.
async fn users(s: &Sim) -> Vec<Vec<String>> {
    s.rows("SELECT name, email FROM dbo.Users ORDER BY name")
        .await
}
async fn orders(s: &Sim) -> Vec<Vec<String>> {
    s.rows(
        "SELECT u.name, o.total, l.line_no, l.sku, l.qty FROM dbo.Orders o JOIN dbo.Users u ON u.id = o.user_id \
         LEFT JOIN dbo.OrderLines l ON l.order_id = o.id ORDER BY u.name, o.total, l.line_no",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_on_both_sides_converge_without_echo() {
    real_server_note();
    let a = Sim::start("SalesA");
    let b = Sim::start("SalesB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    // b's identities start at 101, so mapped ids differ from a's.
    b.exec("SET IDENTITY_INSERT dbo.Users ON; INSERT INTO dbo.Users (id, name) VALUES (100, N'x'); SET IDENTITY_INSERT dbo.Users OFF; DELETE FROM dbo.Users;")
        .await;
    let setup = Setup::new(&a, &b, "", TABLES);
    let agent = setup.start_agent();

    a.exec("INSERT INTO dbo.Users (name, email, note) VALUES (N'Ada', N'ada@x', N'only on a'), (N'Bob', NULL, NULL);")
        .await;
    a.exec("INSERT INTO dbo.Orders (user_id, total) SELECT id, 10.50 FROM dbo.Users WHERE name = N'Ada';")
        .await;
    a.exec("INSERT INTO dbo.OrderLines (order_id, line_no, sku, qty) SELECT id, 1, N'W', 2 FROM dbo.Orders; \
            INSERT INTO dbo.OrderLines (order_id, line_no, sku, qty) SELECT id, 2, N'G', 1 FROM dbo.Orders;")
        .await;
    a.exec("SET IDENTITY_INSERT dbo.Regions ON; INSERT INTO dbo.Regions (id, code) VALUES (7, 'EU'), (9, 'US'); SET IDENTITY_INSERT dbo.Regions OFF;")
        .await;
    b.exec("INSERT INTO dbo.Users (name, email) VALUES (N'Cy', N'cy@b');")
        .await;

    let ok = eventually(LIMIT, || async {
        users(&a).await == users(&b).await
            && b.count("dbo.OrderLines").await == 2
            && users(&a).await.len() == 3
    })
    .await;
    assert!(ok, "did not converge:\n{}", agent.log_text());

    // Updates and deletes both ways.
    b.exec("UPDATE dbo.Users SET email = N'ada@b' WHERE name = N'Ada';")
        .await;
    a.exec("UPDATE dbo.OrderLines SET qty = 5 WHERE line_no = 2; DELETE FROM dbo.Users WHERE name = N'Bob';")
        .await;
    a.exec("UPDATE dbo.Regions SET code = 'NA' WHERE id = 9;")
        .await;
    let ok = eventually(LIMIT, || async {
        users(&a).await == users(&b).await
            && orders(&a).await == orders(&b).await
            && users(&a).await.len() == 2
            && users(&a).await[0][1] == "ada@b"
    })
    .await;
    assert!(
        ok,
        "updates/deletes did not converge:\n{}",
        agent.log_text()
    );

    // Ids were mapped, not copied: Ada has different ids on a and b.
    let ida = a.rows("SELECT id FROM dbo.Users WHERE name = N'Ada'").await;
    let idb = b.rows("SELECT id FROM dbo.Users WHERE name = N'Ada'").await;
    assert_ne!(ida, idb, "identity ids should be assigned by each server");
    assert!(idb[0][0].parse::<i64>().unwrap_or(0) > 100);
    // `inspect --key` shows the mapping of Ada's id on a (as JSON too).
    let out = setup.run_to_end(&[
        "inspect",
        "--json",
        "--table",
        "dbo.Users",
        "--key",
        &ida[0][0],
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(
        v["mappings"]["a_to_b"]["maps_to"][0]["I32"].to_string(),
        idb[0][0],
        "inspect --key: {v}"
    );
    // The reference on b points at b's own id for Ada.
    let ord_b = b
        .rows("SELECT u.name FROM dbo.Orders o JOIN dbo.Users u ON u.id = o.user_id")
        .await;
    assert_eq!(ord_b, vec![vec!["Ada".to_string()]]);
    // Column subset: `note` is not synced.
    let notes = b
        .rows("SELECT COUNT(*) FROM dbo.Users WHERE note IS NOT NULL")
        .await;
    assert_eq!(notes[0][0], "0");
    // force_id copies ids.
    assert_eq!(
        b.rows("SELECT id, code FROM dbo.Regions ORDER BY id").await,
        vec![
            vec!["7".to_string(), "EU".to_string()],
            vec!["9".to_string(), "NA".to_string()]
        ]
    );

    // No echo: a's change version stops moving once everything settled — the
    // agent's writes on a (from b) are not sent back to b and again to a.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let v1 = a.rows("SELECT CHANGE_TRACKING_CURRENT_VERSION()").await;
    let w1 = b.rows("SELECT CHANGE_TRACKING_CURRENT_VERSION()").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let v2 = a.rows("SELECT CHANGE_TRACKING_CURRENT_VERSION()").await;
    let w2 = b.rows("SELECT CHANGE_TRACKING_CURRENT_VERSION()").await;
    assert_eq!(
        (v1, w1),
        (v2, w2),
        "versions moved with no user change: an echo"
    );

    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "ctsync run should exit 0 on SIGTERM:\n{log}");
}
