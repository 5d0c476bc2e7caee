//! Scenario: `ctsync run` with `metrics.listen` serves `/metrics` (parsed
//! here with an independent Prometheus text-format parser) and `/health`
//! while changes flow and while a link is down: the counters equal the rows
//! written, the queue and lag show what waits, a link that is down is 0 in
//! `ctsync_link_up` and named by a 503 from `/health`, and both recover when
//! the link returns. A bad `metrics.listen` or a port in use stops start-up
//! with the key and the fix.

mod common;

use common::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SCHEMA: &str =
    "CREATE TABLE dbo.Items (id INT NOT NULL PRIMARY KEY, name NVARCHAR(40) NOT NULL);";
const TABLES: &str = "  - table: dbo.Items\n    key: [id]\n    direction: a_to_b\n";
const RETRY: &str = "  retry: { initial_backoff_ms: 50, max_backoff_ms: 300, max_attempts: 10 }\n";
const LIMIT: Duration = Duration::from_secs(30);

/// A port free on 127.0.0.1 now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Adds `metrics.listen` on a free port to the setup's config.
fn with_metrics(setup: &Setup) -> u16 {
    let port = free_port();
    let mut text = std::fs::read_to_string(&setup.config).expect("read config");
    text.push_str(&format!("metrics:\n  listen: 127.0.0.1:{port}\n"));
    std::fs::write(&setup.config, text).expect("write config");
    port
}

/// One request over a plain TCP connection (`Connection: close`): the
/// status code and the body.
async fn request(port: u16, method: &str, path: &str) -> Result<(u16, String), String> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let head =
            format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        s.write_all(head.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let text = String::from_utf8(raw).map_err(|e| format!("not UTF-8: {e}"))?;
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no end of headers")?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("no status in {head:?}"))?;
        Ok((status, body.to_string()))
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "no answer within 10 s".to_string())?
}

async fn get(port: u16, path: &str) -> (u16, String) {
    request(port, "GET", path)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// `/metrics`, parsed.
async fn scrape(port: u16) -> prometheus_parse::Scrape {
    let (status, body) = get(port, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
        .unwrap_or_else(|e| panic!("not the Prometheus text format: {e}\n{body}"))
}

/// The value of the one sample of `metric` with `labels`.
fn value(s: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = s
        .samples
        .iter()
        .filter(|x| x.metric == metric && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)));
    let one = found.next()?;
    assert!(
        found.next().is_none(),
        "several samples of {metric} {labels:?}"
    );
    match one.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => Some(v),
        ref other => panic!("{metric}: not a number: {other:?}"),
    }
}

const ITEMS: [(&str, &str); 2] = [("table", "dbo.Items"), ("direction", "a_to_b")];

fn items(s: &prometheus_parse::Scrape, metric: &str) -> f64 {
    value(s, metric, &ITEMS).unwrap_or_else(|| panic!("no {metric} for dbo.Items a_to_b"))
}

fn link_up(s: &prometheus_parse::Scrape, server: &str, role: &str) -> Option<f64> {
    value(s, "ctsync_link_up", &[("server", server), ("role", role)])
}

async fn health(port: u16) -> (u16, serde_json::Value) {
    let (status, body) = get(port, "/health").await;
    let v =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("/health is not JSON: {e}: {body}"));
    (status, v)
}

async fn insert(sim: &Sim, ids: std::ops::Range<i32>) {
    // One transaction per row: a version each on the source.
    for id in ids {
        sim.exec(&format!(
            "INSERT INTO dbo.Items (id, name) VALUES ({id}, N'row {id}');"
        ))
        .await;
    }
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_queue_and_lag_follow_the_rows_and_a_target_link_down_is_named() {
    real_server_note();
    let a = Sim::start("MetricsA");
    let b = Sim::start("MetricsB");
    let Some(addr_b) = b.server().map(|s| s.addr()) else {
        return;
    };
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let link_b = LinkProxy::start(addr_b);
    let setup = Setup::new_via(&a, &b, None, Some(link_b.port()), RETRY, TABLES);
    let port = with_metrics(&setup);
    let agent = setup.start_agent();

    let (status, h) = health(port).await;
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["tables"][0]["table"], "dbo.Items", "{h}");
    assert_eq!(get(port, "/nothing").await.0, 404);
    let post = request(port, "POST", "/metrics").await.expect("POST");
    assert_eq!(post.0, 405, "{}", post.1);
    let head = request(port, "HEAD", "/health").await.expect("HEAD");
    assert_eq!(head, (200, String::new()), "HEAD: the status, no body");

    // Changes flow: every row captured and applied is counted once.
    insert(&a, 1..21).await;
    let ok = eventually(LIMIT, || async {
        let s = scrape(port).await;
        items(&s, "ctsync_applied_total") == 20.0 && items(&s, "ctsync_lag_versions") == 0.0
    })
    .await;
    let s = scrape(port).await;
    assert!(
        ok,
        "20 rows not applied: {:?}\n{}",
        s.samples,
        agent.log_text()
    );
    assert_eq!(b.count("dbo.Items").await, 20);
    assert_eq!(items(&s, "ctsync_captured_total"), 20.0);
    assert_eq!(items(&s, "ctsync_queue_depth"), 0.0);
    assert_eq!(items(&s, "ctsync_lag_seconds"), 0.0);
    assert_eq!(items(&s, "ctsync_parked"), 0.0);
    assert_eq!(items(&s, "ctsync_conflicts_total"), 0.0);
    for phase in ["init", "initial_load", "streaming", "reinit", "stopped"] {
        let want = if phase == "streaming" { 1.0 } else { 0.0 };
        let labels = [ITEMS[0], ITEMS[1], ("phase", phase)];
        assert_eq!(
            value(&s, "ctsync_phase", &labels),
            Some(want),
            "phase {phase}"
        );
    }
    assert_eq!(link_up(&s, "a", "capture"), Some(1.0));
    assert_eq!(link_up(&s, "b", "apply dbo.Items"), Some(1.0));
    assert_eq!(
        link_up(&s, "a", "setup"),
        None,
        "the setup's links are gone"
    );
    let polled = value(&s, "ctsync_last_poll_timestamp_seconds", &[("server", "a")])
        .expect("a last poll of server a");
    assert!(
        (now_s() - polled).abs() < 10.0,
        "last poll {polled}, now {}",
        now_s()
    );
    let errors = [ITEMS[0], ITEMS[1], ("kind", "link")];
    assert_eq!(value(&s, "ctsync_errors_total", &errors), Some(0.0));

    // The target's link goes down: capture goes on, the queue and the lag
    // grow, the applier's link is down and /health names it.
    link_b.set_down(true);
    insert(&a, 21..36).await;
    let ok = eventually(LIMIT, || async {
        let s = scrape(port).await;
        items(&s, "ctsync_captured_total") == 35.0
            && items(&s, "ctsync_queue_depth") == 15.0
            && link_up(&s, "b", "apply dbo.Items") == Some(0.0)
    })
    .await;
    let s = scrape(port).await;
    assert!(
        ok,
        "no queue while b is away: {:?}\n{}",
        s.samples,
        agent.log_text()
    );
    assert_eq!(items(&s, "ctsync_applied_total"), 20.0);
    assert!(items(&s, "ctsync_lag_seconds") > 0.0, "{:?}", s.samples);
    // 15 source transactions wait, one version each at least.
    assert!(items(&s, "ctsync_lag_versions") >= 15.0, "{:?}", s.samples);
    assert!(value(&s, "ctsync_errors_total", &errors).is_some_and(|n| n >= 1.0));
    assert_eq!(link_up(&s, "a", "capture"), Some(1.0));
    let (status, h) = health(port).await;
    assert_eq!(status, 503, "{h}");
    assert_eq!(h["status"], "unhealthy", "{h}");
    let problems = h["problems"].to_string();
    assert!(
        problems.contains("the link to server b (apply dbo.Items) is down"),
        "{h}"
    );
    assert!(h["links"]
        .as_array()
        .is_some_and(|l| l.iter().any(|x| x["server"] == "b" && x["up"] == false)));
    assert_eq!(h["tables"][0]["queue_depth"], 15, "{h}");

    // The link returns: everything drains, counted once, and health is back.
    link_b.set_down(false);
    let ok = eventually(LIMIT, || async {
        let s = scrape(port).await;
        items(&s, "ctsync_applied_total") == 35.0
            && items(&s, "ctsync_queue_depth") == 0.0
            && link_up(&s, "b", "apply dbo.Items") == Some(1.0)
            && health(port).await.0 == 200
    })
    .await;
    let s = scrape(port).await;
    assert!(ok, "no recovery: {:?}\n{}", s.samples, agent.log_text());
    assert_eq!(b.count("dbo.Items").await, 35);
    assert_eq!(items(&s, "ctsync_captured_total"), 35.0);
    assert_eq!(items(&s, "ctsync_lag_seconds"), 0.0);
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_link_down_stops_the_polls_and_is_named_until_it_returns() {
    real_server_note();
    let a = Sim::start("MetricsSrcA");
    let b = Sim::start("MetricsSrcB");
    let Some(addr_a) = a.server().map(|s| s.addr()) else {
        return;
    };
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let link_a = LinkProxy::start(addr_a);
    let setup = Setup::new_via(&a, &b, Some(link_a.port()), None, RETRY, TABLES);
    let port = with_metrics(&setup);
    let agent = setup.start_agent();
    assert_eq!(health(port).await.0, 200);

    link_a.set_down(true);
    let ok = eventually(LIMIT, || async {
        link_up(&scrape(port).await, "a", "capture") == Some(0.0)
    })
    .await;
    assert!(ok, "capture link not down:\n{}", agent.log_text());
    let (status, h) = health(port).await;
    assert_eq!(status, 503, "{h}");
    assert!(
        h["problems"]
            .to_string()
            .contains("the link to server a (capture) is down"),
        "{h}"
    );
    // No poll while the source is away.
    let poll = |s: &prometheus_parse::Scrape| {
        value(s, "ctsync_last_poll_timestamp_seconds", &[("server", "a")])
    };
    let before = poll(&scrape(port).await);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(poll(&scrape(port).await), before);
    let s = scrape(port).await;
    let whole_poll = [("table", ""), ("direction", "a_to_b"), ("kind", "link")];
    assert!(
        value(&s, "ctsync_errors_total", &whole_poll).is_some_and(|n| n >= 1.0),
        "{:?}",
        s.samples
    );
    // Written on a while its link is down (a local application goes on).
    insert(&a, 1..4).await;

    link_a.set_down(false);
    let ok = eventually(LIMIT, || async {
        let s = scrape(port).await;
        link_up(&s, "a", "capture") == Some(1.0)
            && items(&s, "ctsync_applied_total") == 3.0
            && health(port).await.0 == 200
    })
    .await;
    let s = scrape(port).await;
    assert!(ok, "no recovery: {:?}\n{}", s.samples, agent.log_text());
    assert!(poll(&s) > before, "polls again");
    assert_eq!(items(&s, "ctsync_captured_total"), 3.0);
    assert_eq!(b.count("dbo.Items").await, 3);
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}

const SERVERS: &str = "servers:
  a: { host: 127.0.0.1, port: 1, database: A, user: sa, encrypt: not_supported }
  b: { host: 127.0.0.1, port: 2, database: B, user: sa, encrypt: not_supported }
tables:
  - { table: dbo.T, key: [id] }
";

/// `ctsync run` with `metrics` written as `metrics_yaml`: exit code and output.
fn run_with_metrics(metrics_yaml: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, format!("agent_id: t\n{SERVERS}{metrics_yaml}")).expect("write");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ctsync"))
        .args(["run", "--config"])
        .arg(&path)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env("CTSYNC_SERVERS__A__PASSWORD", PASSWORD)
        .env("CTSYNC_SERVERS__B__PASSWORD", PASSWORD)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run ctsync");
    // A start-up error ends it at once; bound the wait all the same.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().ok().flatten().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains(PASSWORD), "password printed: {text}");
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_bad_metrics_listen_stops_start_up_naming_the_key_and_the_fix() {
    for (listen, says) in [
        ("localhost:9187", "host names are not resolved"),
        ("127.0.0.1", "not a listen address"),
        ("127.0.0.1:70000", "not a listen address"),
        ("9187", "a port alone is not an address"),
    ] {
        let (code, text) = run_with_metrics(&format!("metrics:\n  listen: {listen}\n"));
        assert_eq!(code, 2, "{listen}: a config error: {text}");
        for needle in ["metrics.listen", says, "e.g. 127.0.0.1:9187"] {
            assert!(
                text.contains(needle),
                "{listen}: should say {needle:?}: {text}"
            );
        }
    }
    let (code, text) = run_with_metrics("metrics:\n  address: 127.0.0.1:9187\n");
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("address") && text.contains("listen"),
        "{text}"
    );
}

#[test]
fn a_port_in_use_stops_start_up_with_the_reason() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port();
    let (code, text) = run_with_metrics(&format!("metrics:\n  listen: 127.0.0.1:{port}\n"));
    assert_ne!(code, 0, "{text}");
    for needle in [
        format!("metrics.listen 127.0.0.1:{port}"),
        "cannot listen".to_string(),
        "set metrics.listen to a free port".to_string(),
    ] {
        assert!(text.contains(&needle), "should say {needle:?}: {text}");
    }
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_away_at_start_and_a_held_table_are_named_until_they_are_fixed() {
    real_server_note();
    let a = Sim::start("MetricsHeldA");
    let b = Sim::start("MetricsHeldB");
    let Some(addr_a) = a.server().map(|s| s.addr()) else {
        return;
    };
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let link_a = LinkProxy::start(addr_a);
    link_a.set_down(true);
    let sync = format!("  schema_check_interval_ms: 300\n{RETRY}");
    let setup = Setup::new_via(&a, &b, Some(link_a.port()), None, &sync, TABLES);
    let port = with_metrics(&setup);
    // Server a is away: the agent is starting, its setup link is down.
    let mut agent = setup.spawn();
    let named = |h: &serde_json::Value, what: &str| h["problems"].to_string().contains(what);
    let ok = eventually(LIMIT, || async {
        match request(port, "GET", "/health").await {
            Ok((503, body)) => serde_json::from_str::<serde_json::Value>(&body).is_ok_and(|h| {
                named(&h, "starting") && named(&h, "the link to server a (setup) is down")
            }),
            _ => false,
        }
    })
    .await;
    assert!(
        ok,
        "{:?}\n{}",
        request(port, "GET", "/health").await,
        agent.log_text()
    );
    assert_eq!(link_up(&scrape(port).await, "a", "setup"), Some(0.0));
    link_a.set_down(false);
    setup.wait_ready(&mut agent);
    let ok = eventually(LIMIT, || async { health(port).await.0 == 200 }).await;
    assert!(ok, "{}\n{}", health(port).await.1, agent.log_text());

    // A synced column dropped on b holds the table: 503 naming it.
    b.exec("ALTER TABLE dbo.Items DROP COLUMN name;").await;
    let ok = eventually(LIMIT, || async {
        let (status, h) = health(port).await;
        status == 503 && named(&h, "table dbo.Items (a_to_b)") && h["tables"][0]["healthy"] == false
    })
    .await;
    assert!(ok, "{}\n{}", health(port).await.1, agent.log_text());
    b.exec("ALTER TABLE dbo.Items ADD name NVARCHAR(40) NULL;")
        .await;
    insert(&a, 1..3).await;
    let ok = eventually(LIMIT, || async {
        health(port).await.0 == 200 && items(&scrape(port).await, "ctsync_applied_total") == 2.0
    })
    .await;
    assert!(ok, "{}\n{}", health(port).await.1, agent.log_text());
    assert_eq!(b.count("dbo.Items").await, 2);
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}

/// Rows an initial load copies are counted apart from captured changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_of_an_initial_load_are_counted() {
    real_server_note();
    let a = Sim::start("MetricsLoadA");
    let b = Sim::start("MetricsLoadB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let values: Vec<String> = (1..=250).map(|i| format!("({i}, N'row {i}')")).collect();
    a.exec(&format!(
        "INSERT INTO dbo.Items (id, name) VALUES {};",
        values.join(", ")
    ))
    .await;
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.Items\n    key: [id]\n    direction: a_to_b\n    initial: full\n",
    );
    let port = with_metrics(&setup);
    let agent = setup.start_agent();
    let ok = eventually(LIMIT, || async {
        let s = scrape(port).await;
        value(&s, "ctsync_loaded_rows_total", &ITEMS) == Some(250.0)
            && value(
                &s,
                "ctsync_phase",
                &[
                    ("table", "dbo.Items"),
                    ("direction", "a_to_b"),
                    ("phase", "streaming"),
                ],
            ) == Some(1.0)
    })
    .await;
    let s = scrape(port).await;
    assert!(
        ok,
        "load not counted: {:?}\n{}",
        s.samples,
        agent.log_text()
    );
    assert_eq!(b.count("dbo.Items").await, 250);
    // A change after the load is captured, not loaded.
    insert(&a, 300..301).await;
    let ok = eventually(LIMIT, || async {
        items(&scrape(port).await, "ctsync_applied_total") == 1.0
    })
    .await;
    let s = scrape(port).await;
    assert!(ok, "{:?}\n{}", s.samples, agent.log_text());
    assert_eq!(items(&s, "ctsync_loaded_rows_total"), 250.0);
    assert_eq!(items(&s, "ctsync_captured_total"), 1.0);
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}
