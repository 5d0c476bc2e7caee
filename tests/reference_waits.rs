//! Scenario: a child row references a parent whose insert never maps (b
//! refuses it: a unique index only b has, error 2601, so the parent's insert
//! is parked). The child waits `sync.reference_wait_ms_max`, then is parked
//! with a reason naming the parent table and key; the other children go on.
//! After the operator fixes b and retries the parent, the child is retried
//! by itself once the parent maps, and both end on b, the child pointing at
//! b's id of its parent.

mod common;

use common::*;
use std::time::Duration;

const SCHEMA_A: &str = "
CREATE TABLE dbo.Parents (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(40) NOT NULL);
CREATE TABLE dbo.Children (id INT NOT NULL PRIMARY KEY, parent_id INT NOT NULL, note NVARCHAR(40) NOT NULL);";
// b's identity starts elsewhere, so every parent id is translated.
const SCHEMA_B: &str = "
CREATE TABLE dbo.Parents (id INT IDENTITY(500,1) PRIMARY KEY, name NVARCHAR(40) NOT NULL);
CREATE TABLE dbo.Children (id INT NOT NULL PRIMARY KEY, parent_id INT NOT NULL, note NVARCHAR(40) NOT NULL);
INSERT INTO dbo.Parents (name) VALUES (N'taken');
CREATE UNIQUE INDEX UX_name ON dbo.Parents (name);";
const TABLES: &str = "  - table: dbo.Parents
    key: [id]
    identity: true
    direction: a_to_b
  - table: dbo.Children
    key: [id]
    references: { parent_id: dbo.Parents }
    direction: a_to_b
";
const SYNC: &str = "  retry: { initial_backoff_ms: 20, max_backoff_ms: 200, max_attempts: 2 }
  reference_wait_ms_max: 1500
";

/// (child id, its parent's name) on `sim`, through the parent's id there.
async fn children(sim: &Sim) -> Vec<Vec<String>> {
    sim.rows(
        "SELECT c.id, p.name FROM dbo.Children c JOIN dbo.Parents p ON p.id = c.parent_id ORDER BY c.id",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_of_a_parked_parent_is_parked_after_the_wait_and_retried_when_it_maps() {
    real_server_note();
    let a = Sim::start("RefWaitA");
    let b = Sim::start("RefWaitB");
    a.exec(SCHEMA_A).await;
    b.exec(SCHEMA_B).await;
    let setup = Setup::new(&a, &b, SYNC, TABLES);
    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.Parents (name) VALUES (N'p1'), (N'taken'), (N'p3');")
        .await;
    a.exec("INSERT INTO dbo.Children VALUES (1, 1, N'c1'), (2, 2, N'c2'), (3, 3, N'c3');")
        .await;
    // Children 1 and 3 go on; child 2 waits, then is parked.
    let ok = eventually(Duration::from_secs(40), || async {
        children(&b).await
            == vec![
                vec!["1".to_string(), "p1".to_string()],
                vec!["3".to_string(), "p3".to_string()],
            ]
    })
    .await;
    assert!(
        ok,
        "children of mapped parents should go on: {:?}\n{}",
        children(&b).await,
        agent.log_text()
    );
    let ok = eventually(Duration::from_secs(40), || async {
        let out = setup.run_to_end(&["parked", "list", "--table", "dbo.Children"]);
        String::from_utf8_lossy(&out.stdout).contains("no mapping in dbo.Parents")
    })
    .await;
    let out = setup.run_to_end(&["parked", "list"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        ok,
        "the child should be parked naming its parent:\n{text}\n{}",
        agent.log_text()
    );
    assert!(
        text.contains("parent_id = 2"),
        "the reason should name the parent's key: {text}"
    );
    assert!(
        text.contains("2601"),
        "the parent's own error should show: {text}"
    );
    // Later rows of both tables still go on.
    a.exec("INSERT INTO dbo.Parents (name) VALUES (N'p4'); INSERT INTO dbo.Children VALUES (4, 4, N'c4');")
        .await;
    let ok = eventually(Duration::from_secs(40), || async {
        b.count("dbo.Children WHERE id = 4").await == 1
    })
    .await;
    assert!(ok, "later children should go on:\n{}", agent.log_text());

    // The operator fixes b and retries the parent only; the child follows
    // by itself.
    b.exec("DROP INDEX UX_name ON dbo.Parents;").await;
    let out = setup.run_to_end(&["parked", "retry", "--table", "dbo.Parents", "--all"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let want: Vec<Vec<String>> = [(1, "p1"), (2, "taken"), (3, "p3"), (4, "p4")]
        .iter()
        .map(|(i, n)| vec![i.to_string(), n.to_string()])
        .collect();
    let ok = eventually(Duration::from_secs(40), || async {
        children(&b).await == want
    })
    .await;
    assert!(
        ok,
        "the child should be applied once its parent maps: {:?}\n{}",
        children(&b).await,
        agent.log_text()
    );
    // b's 'taken' row from before plus a's four parents, each once.
    assert_eq!(b.count("dbo.Parents").await, 5);
    let out = setup.run_to_end(&["inspect", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let parked: u64 = v["tables"]
        .as_array()
        .map(|t| t.iter().filter_map(|x| x["parked"].as_u64()).sum())
        .unwrap_or(99);
    assert_eq!(parked, 0, "nothing should stay parked: {v}");
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("retried by itself"),
        "the child should be retried by the agent, not the operator:\n{log}"
    );
}

/// A parent's delete waits while a queued operation of a child table may
/// still reference it: a is told to delete child 1 and then its parent, but
/// the children's queue is slower (an update ahead of the delete fails on b
/// and is parked first). b has the foreign key: had the parent's delete
/// gone first it would fail with 547 and be parked, leaving the parent on b.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parents_delete_waits_for_a_queued_child_delete() {
    real_server_note();
    let a = Sim::start("RefGuardA");
    let b = Sim::start("RefGuardB");
    let fk = "CREATE TABLE dbo.Parents (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(40) NOT NULL);
        CREATE TABLE dbo.Children (id INT NOT NULL PRIMARY KEY, parent_id INT NOT NULL REFERENCES dbo.Parents (id), note NVARCHAR(40) NOT NULL);";
    a.exec(fk).await;
    b.exec(&fk.replace("IDENTITY(1,1)", "IDENTITY(500,1)"))
        .await;
    // b's own rows: a note only b holds, under a unique index only b has.
    b.exec("INSERT INTO dbo.Parents (name) VALUES (N'bp'); INSERT INTO dbo.Children VALUES (99, 500, N'dup'); CREATE UNIQUE INDEX UX_note ON dbo.Children (note);")
        .await;
    let setup = Setup::new(
        &a,
        &b,
        "  retry: { initial_backoff_ms: 20, max_backoff_ms: 200, max_attempts: 1 }\n",
        TABLES,
    );
    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.Parents (name) VALUES (N'p1'), (N'p2');")
        .await;
    a.exec("INSERT INTO dbo.Children VALUES (1, 1, N'c1'), (2, 2, N'c2');")
        .await;
    let ok = eventually(Duration::from_secs(40), || async {
        b.count("dbo.Children").await == 3
    })
    .await;
    assert!(ok, "the children did not reach b:\n{}", agent.log_text());
    a.exec("UPDATE dbo.Children SET note = N'dup' WHERE id = 2; DELETE FROM dbo.Children WHERE id = 1; DELETE FROM dbo.Parents WHERE name = N'p1';")
        .await;
    let parents = "SELECT name FROM dbo.Parents WHERE name <> N'bp' ORDER BY name";
    let ok = eventually(Duration::from_secs(40), || async {
        b.try_rows(parents).await == Ok(vec![vec!["p2".to_string()]])
            && b.count("dbo.Children WHERE id = 1").await == 0
    })
    .await;
    let parked = setup.run_to_end(&["parked", "list"]);
    let parked = String::from_utf8_lossy(&parked.stdout).to_string();
    assert!(
        ok,
        "p1 and its child should be gone from b: parents {:?}\nparked:\n{parked}\n{}",
        b.rows(parents).await,
        agent.log_text()
    );
    assert!(
        !parked.contains("547") && !parked.contains("dbo.Parents"),
        "the parent's delete should not have been tried before its child's: {parked}"
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}
