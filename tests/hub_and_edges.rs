//! Scenario: one hub (server a) and three edge sites, one agent per edge
//! with its own agent_id, state and config, all started together with
//! `enable_change_tracking: true` on a hub that does not track changes yet
//! (enabling is idempotent when several agents race to it). A change at one
//! edge reaches the hub and every other edge; the same row changed at two
//! edges while their agents were stopped converges everywhere; an idle hub
//! stays idle (no echo between agents).

mod common;

use common::*;
use std::time::Duration;

const SCHEMA: &str = "CREATE TABLE dbo.Item (id INT PRIMARY KEY, val NVARCHAR(40) NOT NULL);
INSERT INTO dbo.Item (id, val) VALUES (1, N'one'), (2, N'two'), (3, N'three');";

const TABLES: &str = "  - table: dbo.Item\n    key: [id]\n    direction: both\n";

const LIMIT: Duration = Duration::from_secs(60);

async fn items(s: &Sim) -> Vec<Vec<String>> {
    s.rows("SELECT id, val FROM dbo.Item ORDER BY id").await
}

async fn version(s: &Sim) -> String {
    s.rows("SELECT CHANGE_TRACKING_CURRENT_VERSION()").await[0][0].clone()
}

fn dump(agents: &[Agent], label: &str) -> String {
    let logs: Vec<String> = agents.iter().map(|a| a.log_text()).collect();
    format!("{label}\n{}", logs.join("\n-----\n"))
}

async fn all_equal(hub: &Sim, edges: &[Sim]) -> bool {
    let h = items(hub).await;
    for e in edges {
        if items(e).await != h {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_with_three_edges_converges_without_echo() {
    real_server_note();
    let hub = Sim::start("Hub");
    let edges: Vec<Sim> = (1..=3).map(|i| Sim::start(&format!("Edge{i}"))).collect();
    hub.exec(SCHEMA).await;
    for e in &edges {
        e.exec(SCHEMA).await;
    }
    let setups: Vec<Setup> = edges
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let s = Setup::new(&hub, e, "", TABLES);
            s.set_agent_id(&format!("edge-{}", i + 1));
            s
        })
        .collect();
    // Started together: they race to enable change tracking on the hub.
    let mut agents: Vec<Agent> = setups.iter().map(|s| s.spawn()).collect();
    for (s, a) in setups.iter().zip(agents.iter_mut()) {
        s.wait_ready(a);
    }

    // A change at one edge reaches the hub and the other edges.
    edges[0]
        .exec("INSERT INTO dbo.Item VALUES (10, N'from edge 1'); UPDATE dbo.Item SET val = N'one@1' WHERE id = 1;")
        .await;
    edges[1]
        .exec("UPDATE dbo.Item SET val = N'three@2' WHERE id = 3;")
        .await;
    let ok = eventually(LIMIT, || async {
        all_equal(&hub, &edges).await && items(&hub).await.len() == 4
    })
    .await;
    assert!(
        ok,
        "{}",
        dump(&agents, "edge changes did not reach every site")
    );
    assert_eq!(
        items(&edges[2]).await,
        vec![
            vec!["1".to_string(), "one@1".to_string()],
            vec!["2".to_string(), "two".to_string()],
            vec!["3".to_string(), "three@2".to_string()],
            vec!["10".to_string(), "from edge 1".to_string()],
        ]
    );

    // The same row changed at two edges while their agents were stopped.
    let a2 = agents.remove(1);
    let a3 = agents.remove(1);
    for a in [a2, a3] {
        let (code, log) = a.terminate();
        assert_eq!(code, Some(0), "{log}");
    }
    edges[1]
        .exec("UPDATE dbo.Item SET val = N'two@2' WHERE id = 2;")
        .await;
    edges[2]
        .exec("UPDATE dbo.Item SET val = N'two@3' WHERE id = 2;")
        .await;
    agents.push(setups[1].spawn());
    agents.push(setups[2].spawn());
    for (s, a) in setups[1..].iter().zip(agents[1..].iter_mut()) {
        s.wait_ready(a);
    }
    let ok = eventually(LIMIT, || async {
        if !all_equal(&hub, &edges).await {
            return false;
        }
        let v = hub.rows("SELECT val FROM dbo.Item WHERE id = 2").await;
        v == vec![vec!["two@2".to_string()]] || v == vec![vec!["two@3".to_string()]]
    })
    .await;
    assert!(
        ok,
        "{}",
        dump(&agents, "the row changed at two edges did not converge")
    );
    // The losing edge's change is on record with its agent.
    let recorded: usize = setups[1..]
        .iter()
        .map(|s| {
            let out = s.run_to_end(&["conflicts", "list", "--json"]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            v["conflicts"].as_array().map_or(0, Vec::len)
        })
        .sum();
    assert!(recorded >= 1, "{}", dump(&agents, "no conflict recorded"));

    // Idle: no site's version moves once everything converged.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before: Vec<String> = {
        let mut v = vec![version(&hub).await];
        for e in &edges {
            v.push(version(e).await);
        }
        v
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut after = vec![version(&hub).await];
    for e in &edges {
        after.push(version(e).await);
    }
    assert_eq!(
        before,
        after,
        "{}",
        dump(&agents, "writes while idle: an echo")
    );
    for a in agents {
        let (code, log) = a.terminate();
        assert_eq!(code, Some(0), "{log}");
    }
}
