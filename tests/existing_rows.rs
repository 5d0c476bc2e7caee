//! Scenario: identity-mapped tables whose rows already exist on both sides
//! with equal ids, and the default `initial: none`. Rows with equal keys
//! are the same row: an update updates, a delete deletes, a new child row
//! finds its existing parent on the other side, and nothing is duplicated,
//! both for a two-way and for a one-way table.

mod common;

use common::*;
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE dbo.Cust (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(50) NOT NULL);
CREATE TABLE dbo.Ord (id INT IDENTITY(1,1) PRIMARY KEY, cust_id INT NOT NULL REFERENCES dbo.Cust (id), amount INT NOT NULL);
CREATE TABLE dbo.Prod (id INT IDENTITY(1,1) PRIMARY KEY, title NVARCHAR(50) NOT NULL);
";

const ROWS: &str = "
INSERT INTO dbo.Cust (name) VALUES (N'ann'), (N'bob'), (N'cy');
INSERT INTO dbo.Ord (cust_id, amount) VALUES (1, 10), (2, 20);
INSERT INTO dbo.Prod (title) VALUES (N'p1'), (N'p2');
";

const TABLES: &str = "  - table: dbo.Cust
    key: [id]
    identity: true
    direction: both
  - table: dbo.Ord
    key: [id]
    identity: true
    references: { cust_id: dbo.Cust }
    direction: both
  - table: dbo.Prod
    key: [id]
    identity: true
";

const LIMIT: Duration = Duration::from_secs(30);

async fn customers(s: &Sim) -> Vec<Vec<String>> {
    s.rows("SELECT name FROM dbo.Cust ORDER BY name").await
}

async fn orders(s: &Sim) -> Vec<Vec<String>> {
    s.rows("SELECT c.name, o.amount FROM dbo.Ord o JOIN dbo.Cust c ON c.id = o.cust_id ORDER BY o.amount")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_keys_on_both_sides_are_the_same_row() {
    real_server_note();
    let a = Sim::start("ExistA");
    let b = Sim::start("ExistB");
    for s in [&a, &b] {
        s.exec(SCHEMA).await;
        s.exec(ROWS).await;
    }
    let setup = Setup::new(&a, &b, "", TABLES);
    let agent = setup.start_agent();

    a.exec("UPDATE dbo.Cust SET name = N'ann2' WHERE id = 1; UPDATE dbo.Prod SET title = N'p1-new' WHERE id = 1;")
        .await;
    // A new child row of an existing parent, on each side.
    a.exec("INSERT INTO dbo.Ord (cust_id, amount) VALUES (2, 30);")
        .await;
    b.exec("INSERT INTO dbo.Ord (cust_id, amount) VALUES (1, 40);")
        .await;
    b.exec("UPDATE dbo.Ord SET amount = 21 WHERE id = 2;").await;
    b.exec("DELETE FROM dbo.Cust WHERE id = 3;").await;

    let want_c = vec![vec!["ann2".to_string()], vec!["bob".to_string()]];
    let want_o: Vec<Vec<String>> = [("ann2", 10), ("bob", 21), ("bob", 30), ("ann2", 40)]
        .iter()
        .map(|(n, a)| vec![n.to_string(), a.to_string()])
        .collect();
    let ok = eventually(LIMIT, || async {
        customers(&a).await == want_c
            && customers(&b).await == want_c
            && orders(&a).await == want_o
            && orders(&b).await == want_o
            && b.rows("SELECT title FROM dbo.Prod ORDER BY id").await
                == vec![vec!["p1-new".to_string()], vec!["p2".to_string()]]
    })
    .await;
    assert!(
        ok,
        "did not converge: cust a={:?} b={:?}; ord a={:?} b={:?}; prod b={:?}\n{}",
        customers(&a).await,
        customers(&b).await,
        orders(&a).await,
        orders(&b).await,
        b.rows("SELECT id, title FROM dbo.Prod ORDER BY id").await,
        agent.log_text()
    );
    // Nothing duplicated; the existing rows kept their ids on both sides.
    for s in [&a, &b] {
        assert_eq!(s.count("dbo.Cust").await, 2);
        assert_eq!(s.count("dbo.Ord").await, 4);
        assert_eq!(s.count("dbo.Prod").await, 2);
        assert_eq!(
            s.rows("SELECT id FROM dbo.Cust ORDER BY id").await,
            vec![vec!["1".to_string()], vec!["2".to_string()]]
        );
    }
    // No conflict: nothing changed the same row on both sides.
    let out = setup.run_to_end(&["conflicts", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(v["conflicts"].as_array().map(Vec::len), Some(0), "{v}");
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}
