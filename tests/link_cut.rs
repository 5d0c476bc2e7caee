//! Scenario: the link to either server is cut during a stream of changes (the
//! stand-in drops every connection, then refuses new ones for a while). The
//! agent keeps capturing while the target is away and keeps draining while the
//! source is away; after the link returns, both sides converge and nothing is
//! lost or applied twice.

mod common;

use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SCHEMA: &str =
    "CREATE TABLE dbo.Items (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(40) NOT NULL, qty INT NOT NULL);";
const TABLES: &str = "  - table: dbo.Items
    key: [id]
    identity: true
    direction: both
";

/// Writes until `stop`; returns how many batches were acknowledged. A batch
/// whose acknowledgement was lost with the link may or may not have
/// committed, so every batch uses a new name and the checks below compare
/// the two sides rather than trust this count exactly.
async fn stream(sim: Arc<Sim>, prefix: &'static str, stop: Arc<AtomicBool>) -> u64 {
    let mut i = 0u64;
    let mut acknowledged = 0u64;
    let mut client = None;
    while !stop.load(Ordering::SeqCst) {
        if client.is_none() {
            // The link is cut for the writer too while the stand-in refuses;
            // a local application would queue or retry, so do we.
            client = Some(sim.client_retry().await);
        }
        let sql = format!(
            "INSERT INTO dbo.Items (name, qty) VALUES (N'{prefix}{}', 1); UPDATE dbo.Items SET qty = qty + 1 WHERE name = N'{prefix}{}';",
            i + 1,
            i / 2
        );
        i += 1;
        let result = match client.as_mut() {
            Some(c) => match c.simple_query(sql).await {
                Ok(s) => s.into_results().await.map(|_| ()),
                Err(e) => Err(e),
            },
            None => continue,
        };
        match result {
            Ok(()) => acknowledged += 1,
            Err(_) => client = None,
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    acknowledged
}

async fn cut_and_converge(cut_side_is_b: bool) {
    real_server_note();
    let a = Arc::new(Sim::start("LinkA"));
    let b = Arc::new(Sim::start("LinkB"));
    if a.server().is_none() {
        return;
    }
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let setup = Setup::new(
        &a,
        &b,
        "  retry: { initial_backoff_ms: 50, max_backoff_ms: 500, max_attempts: 10 }\n",
        TABLES,
    );
    let agent = setup.start_agent();

    let stop = Arc::new(AtomicBool::new(false));
    let wa = tokio::spawn(stream(a.clone(), "a", stop.clone()));
    let wb = tokio::spawn(stream(b.clone(), "b", stop.clone()));
    tokio::time::sleep(Duration::from_millis(700)).await;

    let cut = if cut_side_is_b { &b } else { &a };
    let Some(server) = cut.server() else { return };
    server.controls().refuse_for(Duration::from_secs(2));
    server.controls().drop_connections();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop.store(true, Ordering::SeqCst);
    let (na, nb) = (wa.await.expect("writer a"), wb.await.expect("writer b"));
    assert!(na > 10 && nb > 10, "streams barely ran: {na} {nb}");

    let view = "SELECT name, qty FROM dbo.Items ORDER BY name";
    let ok = eventually(Duration::from_secs(45), || async {
        a.rows(view).await == b.rows(view).await
    })
    .await;
    assert!(
        ok,
        "no convergence after the link came back: a={} b={}\n{}",
        a.count("dbo.Items").await,
        b.count("dbo.Items").await,
        agent.log_text()
    );
    let rows = a.count("dbo.Items").await as u64;
    assert!(
        rows >= na + nb,
        "rows lost: {rows} rows, {} acknowledged",
        na + nb
    );
    for s in [&a, &b] {
        let dups = s
            .rows("SELECT COUNT(*) - COUNT(DISTINCT name) FROM dbo.Items")
            .await;
        assert_eq!(
            dups[0][0], "0",
            "a change was applied twice on {}",
            s.database
        );
    }
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
    // One line per state change, not per retry: the link went down and up once
    // (a few lines per loop that uses it), not once per attempt.
    let downs = log.matches("link down").count();
    assert!(
        (1..=8).contains(&downs),
        "expected a few 'link down' lines, got {downs}:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_link_cut_during_stream_converges() {
    cut_and_converge(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_link_cut_during_stream_converges() {
    cut_and_converge(false).await;
}

/// Both links go silent (kept open, nothing answers: a link that drops
/// packets without a reset) while changes wait to be captured and applied.
/// Every wait for a server is bounded by `command_timeout_ms`, so the loops
/// give the silent connections up, reconnect and go on: nothing hangs, and
/// every row arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_link_is_given_up_and_the_sync_goes_on() {
    real_server_note();
    let a = Sim::start("SilentA");
    let b = Sim::start("SilentB");
    let (Some(addr_a), Some(addr_b)) = (a.server().map(|s| s.addr()), b.server().map(|s| s.addr()))
    else {
        return;
    };
    let items = "CREATE TABLE dbo.Items (id INT NOT NULL PRIMARY KEY, name NVARCHAR(40) NOT NULL);";
    a.exec(items).await;
    b.exec(items).await;
    let (link_a, link_b) = (LinkProxy::start(addr_a), LinkProxy::start(addr_b));
    let setup = Setup::new_via(
        &a,
        &b,
        Some(link_a.port()),
        Some(link_b.port()),
        "  retry: { initial_backoff_ms: 50, max_backoff_ms: 300, max_attempts: 10 }\n",
        "  - table: dbo.Items\n    key: [id]\n    direction: a_to_b\n",
    );
    let text = std::fs::read_to_string(&setup.config).expect("read config");
    std::fs::write(
        &setup.config,
        text.replace(
            "encrypt: not_supported",
            "encrypt: not_supported, command_timeout_ms: 1000",
        ),
    )
    .expect("write config");
    let agent = setup.start_agent();
    let insert = |from: i32, to: i32| {
        let values: Vec<String> = (from..to).map(|i| format!("({i}, N'row {i}')")).collect();
        format!(
            "INSERT INTO dbo.Items (id, name) VALUES {};",
            values.join(", ")
        )
    };
    a.exec(&insert(1, 11)).await;
    let ok = eventually(Duration::from_secs(30), || async {
        b.count("dbo.Items").await == 10
    })
    .await;
    assert!(ok, "{}", agent.log_text());
    link_a.freeze();
    link_b.freeze();
    a.exec(&insert(11, 21)).await;
    let view = "SELECT id, name FROM dbo.Items ORDER BY id";
    let ok = eventually(Duration::from_secs(30), || async {
        a.rows(view).await == b.rows(view).await
    })
    .await;
    assert!(
        ok,
        "the sync hung on the silent links:\n{}",
        agent.log_text()
    );
    assert_eq!(b.count("dbo.Items").await, 20);
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}
