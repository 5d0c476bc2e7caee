//! The agent benchmark's scale parts: requests per poll with many tables
//! (`idle`), and peak memory through a 1,000,000-row transaction and
//! 10 MB values (`bigtx`). See the module doc of `benches/agent.rs`.

use super::*;

/// What server a receives per poll with many tables (see [`idle_cost`]).
pub struct PollCost {
    /// Idle: requests and statements per poll.
    pub idle_requests: f64,
    pub idle_statements: f64,
    /// With some tables changing: requests and statements per poll, the
    /// poll's duration (its period minus `poll_interval_ms`), and the
    /// median lag of a single change (commit on a to visible on b).
    pub busy_requests: f64,
    pub busy_statements: f64,
    pub busy_poll_ms: f64,
    pub lag_ms: f64,
}

/// The agent's requests in a window of server a's statement log: the
/// writer's own (`INSERT INTO`) left out. Returns (polls, requests,
/// statements). A poll starts with the idle check (version, identity, tracking)
/// or, when there is nothing to compare with, with the request that opens
/// its snapshot.
fn poll_counts(lines: &[String]) -> (usize, usize, usize) {
    let agent: Vec<&str> = lines
        .iter()
        .map(|l| l.split('\t').next().unwrap_or(""))
        .filter(|l| !l.starts_with("INSERT INTO dbo.T"))
        .collect();
    let idle_check =
        |l: &str| l.starts_with("SELECT CHANGE_TRACKING_CURRENT_VERSION(); SELECT CONCAT");
    let opens = |l: &str| l.contains("BEGIN TRANSACTION; SELECT CHANGE_TRACKING_CURRENT_VERSION()");
    let mut polls = 0;
    for (i, l) in agent.iter().enumerate() {
        if idle_check(l) || (opens(l) && !(i > 0 && idle_check(agent[i - 1]))) {
            polls += 1;
        }
    }
    // Statements: our own T-SQL has no ';' inside literals.
    let statements = agent
        .iter()
        .map(|l| l.split(';').filter(|s| !s.trim().is_empty()).count())
        .sum();
    (polls, agent.len(), statements)
}

/// What server a receives per poll (`poll_interval_ms: 200`, 5 s windows)
/// with `n` tables a->b: all idle, then with `changing` of them written
/// every 200 ms; then the lag of single changes with the others idle.
pub async fn idle_cost(n: usize, changing: usize) -> PollCost {
    let p = pair_with(true);
    let (mut a, mut b) = (client(&p.a, "BenchA").await, client(&p.b, "BenchB").await);
    let mut tables = String::new();
    let mut ddl = String::new();
    for i in 0..n {
        ddl.push_str(&format!(
            "CREATE TABLE dbo.T{i} (id INT NOT NULL PRIMARY KEY, v INT NULL);\n"
        ));
        tables.push_str(&format!(
            "  - table: dbo.T{i}\n    key: [id]\n    direction: a_to_b\n"
        ));
    }
    exec(&mut a, &ddl).await;
    exec(&mut b, &ddl).await;
    let agent = Agent::start(&p, "idle", &tables, "  poll_interval_ms: 200\n");
    agent.ready();
    let log = p.dir.path().join("a.statements");
    let read = || -> Vec<String> {
        std::fs::read_to_string(&log)
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default()
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let window = Duration::from_secs(5);
    let before = read().len();
    tokio::time::sleep(window).await;
    let (polls, requests, statements) = poll_counts(&read()[before..]);
    let (idle_requests, idle_statements) = (
        requests as f64 / polls.max(1) as f64,
        statements as f64 / polls.max(1) as f64,
    );
    let before = read().len();
    let t = Instant::now();
    let mut k = 0;
    while t.elapsed() < window {
        for i in 0..changing {
            exec(&mut a, &format!("INSERT INTO dbo.T{i} VALUES ({k}, {k})")).await;
        }
        k += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = t.elapsed();
    let (polls, requests, statements) = poll_counts(&read()[before..]);
    let busy_requests = requests as f64 / polls.max(1) as f64;
    let busy_statements = statements as f64 / polls.max(1) as f64;
    let busy_poll_ms = (elapsed.as_secs_f64() * 1000.0 / polls.max(1) as f64 - 200.0).max(0.0);
    // Lag of single changes, the other tables idle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut lags = Vec::new();
    for s in 0..7 {
        let id = 1_000_000 + s;
        let t = Instant::now();
        exec(&mut a, &format!("INSERT INTO dbo.T0 VALUES ({id}, {id})")).await;
        loop {
            if count(&mut b, &format!("dbo.T0 WHERE id = {id}")).await == 1 {
                break;
            }
            if t.elapsed() > Duration::from_secs(60) {
                panic!("a change did not arrive within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        lags.push(t.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    lags.sort_by(|x, y| x.total_cmp(y));
    agent.stop();
    // For a look at what the agent sent: CTSYNC_BENCH_KEEP_LOG=path.
    if let Ok(keep) = std::env::var("CTSYNC_BENCH_KEEP_LOG") {
        let _ = std::fs::copy(&log, format!("{keep}.{n}"));
    }
    PollCost {
        idle_requests,
        idle_statements,
        busy_requests,
        busy_statements,
        busy_poll_ms,
        lag_ms: lags[lags.len() / 2],
    }
}

/// A single UPDATE of n rows: (seconds from commit to the last row on b,
/// the agent's peak RSS in KiB, the RSS before the update).
pub async fn big_update() -> (f64, u64, u64) {
    let n = env_n("CTSYNC_BENCH_BIGTX_ROWS", 1_000_000);
    let p = pair();
    let (mut a, mut b) = (client(&p.a, "BenchA").await, client(&p.b, "BenchB").await);
    exec(&mut a, &format!("CREATE TABLE dbo.U {TABLE}")).await;
    exec(&mut b, &format!("CREATE TABLE dbo.U {TABLE}")).await;
    // The same rows on both sides before the sync starts (initial: none).
    fill(&mut a, "dbo.U", 0, n, 10_000).await;
    fill(&mut b, "dbo.U", 0, n, 10_000).await;
    let agent = Agent::start(
        &p,
        "bigupdate",
        "  - table: dbo.U\n    key: [id]\n    direction: a_to_b\n",
        "  poll_interval_ms: 200\n",
    );
    agent.ready();
    let before = agent.peak_rss_kb();
    let t = Instant::now();
    exec(&mut a, "UPDATE dbo.U SET note = N'updated'").await;
    eprintln!(
        "  (the UPDATE of {n} rows took {:.1} s on the stand-in)",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    loop {
        if count(&mut b, "dbo.U WHERE note = N'updated'").await == n {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(3_600),
            "the update did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    let peak = agent.peak_rss_kb();
    agent.stop();
    (secs, peak, before)
}

/// 30 rows with a 10 MB nvarchar(max) value each, inserted `per_txn` to a
/// transaction: (seconds to the last row on b, peak RSS in KiB).
pub async fn big_values(per_txn: i32) -> (f64, u64) {
    const ROWS: i32 = 30;
    let p = pair();
    let (mut a, mut b) = (client(&p.a, "BenchA").await, client(&p.b, "BenchB").await);
    let t = "(id INT NOT NULL PRIMARY KEY, body NVARCHAR(MAX) NULL)";
    exec(&mut a, &format!("CREATE TABLE dbo.V {t}")).await;
    exec(&mut b, &format!("CREATE TABLE dbo.V {t}")).await;
    let agent = Agent::start(
        &p,
        "bigvalues",
        "  - table: dbo.V\n    key: [id]\n    direction: a_to_b\n",
        "  poll_interval_ms: 200\n",
    );
    agent.ready();
    // 5,000,000 UTF-16 code units: 10 MB each.
    let body: String = "0123456789abcdefghij".repeat(250_000);
    let t0 = Instant::now();
    for id in 0..ROWS {
        if id % per_txn == 0 {
            exec(&mut a, "BEGIN TRANSACTION").await;
        }
        a.execute(
            "INSERT INTO dbo.V (id, body) VALUES (@P1, @P2)",
            &[&id, &body.as_str()],
        )
        .await
        .expect("insert");
        if id % per_txn == per_txn - 1 || id == ROWS - 1 {
            exec(&mut a, "COMMIT").await;
        }
    }
    loop {
        let done = b
            .query("SELECT COUNT(*) FROM dbo.V WHERE LEN(body) = 5000000", &[])
            .await
            .expect("count")
            .into_row()
            .await
            .expect("count")
            .and_then(|r| r.get::<i32, _>(0))
            .unwrap_or(0);
        if done == ROWS {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1_800),
            "the values did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    let peak = agent.peak_rss_kb();
    agent.stop();
    (secs, peak)
}
