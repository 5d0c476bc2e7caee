//! Scenario: an edge site whose link to the hub goes down. The agent runs
//! beside the edge (b); the hub (a) is reached through a link that is cut
//! and refused for a while. Both sides keep working meanwhile, changing the
//! same rows and others; when the link returns, everything converges by the
//! table's policy, and the losing changes are recorded.

mod common;

use common::*;
use std::time::Duration;

const SCHEMA: &str =
    "CREATE TABLE dbo.Stock (sku INT PRIMARY KEY, qty INT NOT NULL, note NVARCHAR(40) NULL);
INSERT INTO dbo.Stock (sku, qty, note) VALUES (1, 10, N'x'), (2, 20, N'x'), (3, 30, N'x');";

const LIMIT: Duration = Duration::from_secs(40);

async fn stock(s: &Sim) -> Vec<Vec<String>> {
    s.rows("SELECT sku, qty, ISNULL(note, N'NULL') FROM dbo.Stock ORDER BY sku")
        .await
}

async fn offline(policy: &str, want_row1: &str) {
    real_server_note();
    let a = Sim::start("HubA");
    let b = Sim::start("EdgeB");
    if !a.is_sim() {
        eprintln!("note: the link proxy needs the stand-in; skipped on a real server");
        return;
    }
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let link = LinkProxy::start(
        a.server()
            .map(|s| s.addr())
            .expect("a stand-in has an address"),
    );
    let setup = Setup::new_via(
        &a,
        &b,
        Some(link.port()),
        None,
        "",
        &format!(
            "  - table: dbo.Stock\n    key: [sku]\n    direction: both\n    conflict: {policy}\n"
        ),
    );
    let agent = setup.start_agent();
    // The link to the hub goes down; both sites keep working.
    link.set_down(true);
    link.cut();
    a.exec("UPDATE dbo.Stock SET qty = 11 WHERE sku = 1; INSERT INTO dbo.Stock VALUES (4, 40, N'hub');")
        .await;
    b.exec("UPDATE dbo.Stock SET qty = 12 WHERE sku = 1; UPDATE dbo.Stock SET note = N'edge' WHERE sku = 2; INSERT INTO dbo.Stock VALUES (5, 50, N'edge');")
        .await;
    // The edge's changes queue up while the hub is out of reach.
    let queued = eventually(LIMIT, || async {
        let out = setup.run_to_end(&["inspect", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["tables"].as_array().is_some_and(|ts| {
            ts.iter()
                .any(|t| t["direction"] == "b_to_a" && t["queue_depth"].as_u64() == Some(3))
        })
    })
    .await;
    assert!(queued, "edge changes not queued:\n{}", agent.log_text());
    assert_eq!(
        a.rows("SELECT qty FROM dbo.Stock WHERE sku = 1").await,
        vec![vec!["11".to_string()]]
    );
    // Back online.
    link.set_down(false);
    let want = vec![
        vec!["1".to_string(), want_row1.to_string(), "x".to_string()],
        vec!["2".to_string(), "20".to_string(), "edge".to_string()],
        vec!["3".to_string(), "30".to_string(), "x".to_string()],
        vec!["4".to_string(), "40".to_string(), "hub".to_string()],
        vec!["5".to_string(), "50".to_string(), "edge".to_string()],
    ];
    let ok = eventually(LIMIT, || async {
        stock(&a).await == want && stock(&b).await == want
    })
    .await;
    assert!(
        ok,
        "{policy}: not converged after the link came back: a={:?} b={:?}\n{}",
        stock(&a).await,
        stock(&b).await,
        agent.log_text()
    );
    let out = setup.run_to_end(&["conflicts", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let list = v["conflicts"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 1, "only sku 1 changed on both sides: {v}");
    assert_eq!(list[0]["kind"], "update/update");
    assert_eq!(list[0]["a"]["row"][1]["I32"], 11);
    assert_eq!(list[0]["b"]["row"][1]["I32"], 12);
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_edge_converges_hub_wins() {
    offline("a_wins", "11").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_edge_converges_edge_wins() {
    offline("b_wins", "12").await;
}
