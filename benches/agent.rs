//! The agent's benchmarks against two in-process stand-ins and the real
//! release `ctsync` binary (`cargo bench --bench agent`, run by
//! `scripts/bench.sh`; figures in README.md). Never a timed test.
//!
//! 1. Apply throughput, one table a→b, `CTSYNC_BENCH_APPLY_ROWS` (100,000)
//!    changes queued, drained in batches of 500; against the same rows
//!    written straight to the same stand-in with tiberius in the same batch
//!    size (multi-row INSERTs, one transaction per batch).
//! 2. End-to-end lag at a steady 1,000 changes/s, `poll_interval_ms: 200`:
//!    p50 and p99 from commit on a to visible on b.
//! 3. Resident memory of the agent with 1,000,000 operations queued (b
//!    refusing connections), sampled every 250,000.
//! 4. Initial load (`initial: full`) of a 1,000,000-row, 6-column table
//!    into an empty target, and the same rows inserted one statement per row
//!    (a sample, scaled).
//! 5. Two-way: conflict detection's cost on a conflict-free stream (a table
//!    synced both ways with detection against the same table without it,
//!    interleaved rounds; the same rows one way as a reference), and a
//!    burst of 10,000 rows changed on both sides settled by the policy
//!    against the same burst changed on one side only.
//! 6. Idle cost (`idle`): requests server a receives per poll with 10,
//!    100 and 1,000 tables, idle and with 10 of them changing (counted in
//!    the stand-in's statement log).
//! 7. Large transactions (`bigtx`): a single UPDATE of
//!    `CTSYNC_BENCH_BIGTX_ROWS` (1,000,000) rows, and a single transaction
//!    30 rows of a 10 MB nvarchar(max) value each (300 MB), one row per
//!    transaction and all in one, each synced a->b with the defaults; the
//!    agent's peak resident memory (VmHWM) and the time from commit to the
//!    last row on b.
//! 8. Verify (`verify`): `ctsync verify` of two equal tables of
//!    `CTSYNC_BENCH_VERIFY_ROWS` (1,000,000) rows, in rows per second.

use mssql_sim::{SimConfig, SimServer};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tiberius::{AuthMethod, Client, ColumnData, Config, EncryptionLevel, TokenRow};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

type Conn = Client<Compat<TcpStream>>;
const PW: &str = "Bench#pw-1";
const TABLE: &str = "(id INT NOT NULL PRIMARY KEY, name NVARCHAR(40) NOT NULL, email NVARCHAR(60) NULL, amount DECIMAL(12,2) NOT NULL, note NVARCHAR(40) NULL, at DATETIME2(3) NULL)";

fn env_n(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Pair {
    a: SimServer,
    b: SimServer,
    dir: tempfile::TempDir,
}

fn pair() -> Pair {
    pair_with(false)
}

/// `log_a`: a appends every request it receives to `a.statements`.
fn pair_with(log_a: bool) -> Pair {
    let dir = tempfile::tempdir_in(
        std::env::var("CTSYNC_BENCH_DIR")
            .unwrap_or_else(|_| env!("CARGO_TARGET_TMPDIR").to_string()),
    )
    .expect("tempdir");
    let mut ca = SimConfig::new("BenchA", "sa", PW);
    ca.data_file = Some(dir.path().join("a.sqlite"));
    if log_a {
        ca.log_statements = Some(dir.path().join("a.statements"));
    }
    let mut cb = SimConfig::new("BenchB", "sa", PW);
    cb.data_file = Some(dir.path().join("b.sqlite"));
    Pair {
        a: SimServer::start(ca).expect("a"),
        b: SimServer::start(cb).expect("b"),
        dir,
    }
}

async fn client(s: &SimServer, db: &str) -> Conn {
    let mut cfg = Config::new();
    cfg.host("127.0.0.1");
    cfg.port(s.addr().port());
    cfg.database(db);
    cfg.authentication(AuthMethod::sql_server("sa", PW));
    cfg.encryption(EncryptionLevel::NotSupported);
    let tcp = TcpStream::connect(s.addr()).await.expect("tcp");
    tcp.set_nodelay(true).expect("nodelay");
    Client::connect(cfg, tcp.compat_write())
        .await
        .expect("login")
}

async fn exec(c: &mut Conn, sql: &str) {
    c.simple_query(sql)
        .await
        .expect(sql)
        .into_results()
        .await
        .expect(sql);
}

async fn count(c: &mut Conn, table: &str) -> i64 {
    c.simple_query(format!("SELECT COUNT_BIG(*) FROM {table}"))
        .await
        .expect("count")
        .into_row()
        .await
        .expect("count")
        .and_then(|r| r.get::<i64, _>(0))
        .unwrap_or(0)
}

async fn exists(c: &mut Conn, table: &str, id: i64) -> bool {
    c.query(
        format!("SELECT 1 FROM {table} WHERE id = @P1"),
        &[&(id as i32)],
    )
    .await
    .expect("lookup")
    .into_row()
    .await
    .expect("lookup")
    .is_some()
}

fn row(i: i64) -> TokenRow<'static> {
    let mut r = TokenRow::new();
    r.push(ColumnData::I32(Some(i as i32)));
    r.push(ColumnData::String(Some(format!("customer {i:08}").into())));
    r.push(ColumnData::String(Some(format!("c{i}@example.com").into())));
    r.push(ColumnData::Numeric(Some(
        tiberius::numeric::Numeric::new_with_scale(i as i128 * 125, 2),
    )));
    r.push(ColumnData::String(if i % 3 == 0 {
        None
    } else {
        Some("note".into())
    }));
    r.push(ColumnData::DateTime2(None));
    r
}

/// Bulk-loads rows `from..to` in transactions of `per_txn` rows.
async fn fill(c: &mut Conn, table: &str, from: i64, to: i64, per_txn: i64) {
    let mut i = from;
    while i < to {
        let end = (i + per_txn).min(to);
        let mut req = c.bulk_insert(table).await.expect("bulk");
        for v in i..end {
            req.send(row(v)).await.expect("row");
        }
        req.finalize().await.expect("finalize");
        i = end;
    }
}

struct Agent {
    child: Child,
    config: std::path::PathBuf,
}

impl Agent {
    fn start(p: &Pair, name: &str, tables: &str, sync: &str) -> Agent {
        Agent::start_with(p, name, tables, sync, None)
    }

    /// `fault`: a `CTSYNC_TEST_FAULT` switch (see `src/fault.rs`).
    fn start_with(p: &Pair, name: &str, tables: &str, sync: &str, fault: Option<&str>) -> Agent {
        let config = p.dir.path().join(format!("{name}.yaml"));
        let text = format!(
            "agent_id: bench\nstate_dir: {}\nlog_level: warn\nservers:\n  a: {{ host: 127.0.0.1, port: {}, database: BenchA, user: sa, encrypt: not_supported }}\n  b: {{ host: 127.0.0.1, port: {}, database: BenchB, user: sa, encrypt: not_supported }}\nsync:\n  enable_change_tracking: true\n{sync}tables:\n{tables}",
            p.dir.path().join(format!("state-{name}")).display(),
            p.a.addr().port(),
            p.b.addr().port(),
        );
        std::fs::write(&config, text).expect("config");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ctsync"));
        cmd.args(["run", "--config"])
            .arg(&config)
            .env("CTSYNC_SERVERS__A__PASSWORD", PW)
            .env("CTSYNC_SERVERS__B__PASSWORD", PW)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(f) = fault {
            cmd.env("CTSYNC_TEST_FAULT", f);
        }
        let child = cmd.spawn().expect("spawn ctsync");
        Agent { child, config }
    }

    fn inspect(&self) -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_ctsync"))
            .args(["inspect", "--json", "--config"])
            .arg(&self.config)
            .env("CTSYNC_SERVERS__A__PASSWORD", PW)
            .env("CTSYNC_SERVERS__B__PASSWORD", PW)
            .output()
            .expect("inspect");
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    fn wait(&self, what: &str, f: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let v = self.inspect();
            if v["agent_running"].as_bool() == Some(true) && f(&v) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {v}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts an agent and waits until every table streams; an agent that
    /// exits during start-up (a start-up read cut by the previous round's
    /// link faults) is started again, at most three times.
    fn start_ready(p: &Pair, name: &str, tables: &str, sync: &str, fault: Option<&str>) -> Agent {
        for attempt in 1..=3 {
            let mut agent = Agent::start_with(p, name, tables, sync, fault);
            let deadline = Instant::now() + Duration::from_secs(600);
            loop {
                if let Ok(Some(status)) = agent.child.try_wait() {
                    eprintln!("  the agent exited during start-up ({status}), attempt {attempt}; starting it again");
                    break;
                }
                let v = agent.inspect();
                if v["agent_running"].as_bool() == Some(true)
                    && v["tables"]
                        .as_array()
                        .is_some_and(|t| t.iter().all(|x| x["phase"] == "streaming"))
                {
                    return agent;
                }
                assert!(
                    Instant::now() < deadline,
                    "timed out waiting for readiness: {v}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("the agent did not start in three attempts");
    }

    fn ready(&self) {
        self.wait("readiness", |v| {
            v["tables"]
                .as_array()
                .is_some_and(|t| t.iter().all(|x| x["phase"] == "streaming"))
        });
    }

    fn rss_kb(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    }

    /// Peak resident memory so far (VmHWM), in KiB.
    fn peak_rss_kb(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    }

    fn stop(mut self) {
        extern "C" {
            fn kill(pid: i32, sig: i32) -> i32;
        }
        // SAFETY: kill(2) on our own child.
        unsafe {
            kill(self.child.id() as i32, 15);
        }
        let _ = self.child.wait();
    }
}

/// Lag from commit on a to visible on b at a steady rate.
async fn lag() -> (f64, f64, usize) {
    let secs = env_n("CTSYNC_BENCH_LAG_SECS", 20);
    let rate = 1_000i64;
    let p = pair();
    let (mut a, mut b) = (client(&p.a, "BenchA").await, client(&p.b, "BenchB").await);
    exec(&mut a, &format!("CREATE TABLE dbo.L {TABLE}")).await;
    exec(&mut b, &format!("CREATE TABLE dbo.L {TABLE}")).await;
    let agent = Agent::start(
        &p,
        "lag",
        "  - table: dbo.L\n    key: [id]\n    direction: a_to_b\n",
        "  batch_size: 500\n  poll_interval_ms: 200\n",
    );
    agent.ready();
    let total = (secs * rate) as usize;
    let committed = std::sync::Arc::new(std::sync::Mutex::new(vec![None::<Instant>; total]));
    let writer = {
        let committed = committed.clone();
        let addr_a = p.a.addr();
        tokio::spawn(async move {
            let _ = addr_a;
            // 10 rows every 10 ms: 1,000 rows/s.
            let start = Instant::now();
            let mut id = 0usize;
            while id < total {
                let due = start + Duration::from_millis((id / 10) as u64 * 10);
                tokio::time::sleep_until(due.into()).await;
                let values: Vec<String> = (id..id + 10)
                    .map(|v| format!("({v}, N'n{v}', NULL, 1.00, NULL, NULL)"))
                    .collect();
                exec(
                    &mut a,
                    &format!("INSERT INTO dbo.L VALUES {}", values.join(",")),
                )
                .await;
                let now = Instant::now();
                let mut c = committed.lock().expect("lock");
                for v in id..id + 10 {
                    c[v] = Some(now);
                }
                id += 10;
            }
        })
    };
    let mut visible = vec![None::<Instant>; total];
    let mut last: i64 = -1;
    while last + 1 < total as i64 {
        let rows = b
            .query(
                "SELECT id FROM dbo.L WHERE id > @P1 ORDER BY id",
                &[&(last as i32)],
            )
            .await
            .expect("poll")
            .into_first_result()
            .await
            .expect("poll");
        let now = Instant::now();
        for r in rows {
            if let Some(id) = r.get::<i32, _>(0) {
                visible[id as usize] = Some(now);
                last = last.max(id as i64);
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    writer.await.expect("writer");
    agent.stop();
    let committed = committed.lock().expect("lock").clone();
    let mut lags: Vec<f64> = committed
        .iter()
        .zip(&visible)
        .filter_map(|(c, v)| {
            Some(
                v.as_ref()?
                    .saturating_duration_since(*c.as_ref()?)
                    .as_secs_f64()
                    * 1000.0,
            )
        })
        .collect();
    lags.sort_by(|x, y| x.total_cmp(y));
    let pct = |p: f64| lags[((lags.len() as f64 - 1.0) * p) as usize];
    (pct(0.50), pct(0.99), lags.len())
}

/// RSS of the agent as 1,000,000 operations queue up with b unreachable.
async fn memory() -> Vec<(i64, u64)> {
    let n = env_n("CTSYNC_BENCH_QUEUED", 1_000_000);
    let p = pair();
    let (mut a, mut b) = (client(&p.a, "BenchA").await, client(&p.b, "BenchB").await);
    exec(&mut a, &format!("CREATE TABLE dbo.M {TABLE}")).await;
    exec(&mut b, &format!("CREATE TABLE dbo.M {TABLE}")).await;
    drop(b);
    let agent = Agent::start(
        &p,
        "mem",
        "  - table: dbo.M\n    key: [id]\n    direction: a_to_b\n",
        "  batch_size: 500\n  poll_interval_ms: 200\n",
    );
    agent.ready();
    // The target goes away (and stays away).
    p.b.controls().refuse_for(Duration::from_secs(3_600));
    p.b.controls().drop_connections();
    let mut samples = Vec::new();
    let step = n / 4;
    for k in 1..=4 {
        fill(&mut a, "dbo.M", (k - 1) * step, k * step, 10_000).await;
        let want = k * step;
        agent.wait("queued operations", |v| {
            v["tables"][0]["queue_depth"].as_i64().unwrap_or(0) >= want
        });
        samples.push((want, agent.rss_kb()));
    }
    agent.stop();
    samples
}

/// Initial load into an empty target, and a row-by-row sample.
async fn initial_load() -> (f64, f64) {
    let n = env_n("CTSYNC_BENCH_LOAD_ROWS", 1_000_000);
    let p = pair();
    let (mut a, mut b) = (client(&p.a, "BenchA").await, client(&p.b, "BenchB").await);
    exec(&mut a, &format!("CREATE TABLE dbo.I {TABLE}")).await;
    exec(
        &mut b,
        &format!("CREATE TABLE dbo.I {TABLE}; CREATE TABLE dbo.Rows {TABLE}"),
    )
    .await;
    let t = Instant::now();
    fill(&mut a, "dbo.I", 0, n, 10_000).await;
    eprintln!(
        "  (source filled by bulk load, 10,000-row requests: {:.0} rows/s)",
        n as f64 / t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let agent = Agent::start(
        &p,
        "load",
        "  - table: dbo.I\n    key: [id]\n    direction: a_to_b\n    initial: full\n",
        "  batch_size: 500\n  poll_interval_ms: 200\n",
    );
    // Rows are copied in key order: the last key on b marks the end of the
    // copy. Point lookups, not `inspect` (a process per call) while timing.
    let mut probe = client(&p.b, "BenchB").await;
    while !exists(&mut probe, "dbo.I", n - 1).await {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let load_rate = n as f64 / t.elapsed().as_secs_f64();
    agent.ready();
    agent.stop();
    assert_eq!(count(&mut b, "dbo.I").await, n);
    // One statement per row (autocommit), a 20,000-row sample.
    let sample = 20_000i64.min(n);
    let t = Instant::now();
    for v in 0..sample {
        b.execute(
            "INSERT INTO dbo.Rows VALUES (@P1, @P2, @P3, @P4, @P5, @P6)",
            &[
                &(v as i32),
                &format!("customer {v:08}"),
                &format!("c{v}@example.com"),
                &tiberius::numeric::Numeric::new_with_scale(v as i128 * 125, 2),
                &Option::<&str>::None,
                &Option::<&str>::None,
            ],
        )
        .await
        .expect("row insert");
    }
    let row_rate = sample as f64 / t.elapsed().as_secs_f64();
    (load_rate, row_rate)
}

// Idle cost and large transactions (parts `idle`, `bigtx`).
#[path = "agent/scale.rs"]
mod scale;
use scale::{big_update, big_values, idle_cost};
#[path = "agent/throughput.rs"]
mod throughput;
use throughput::{apply_throughput, two_way};
#[path = "agent/verify.rs"]
mod verify;
use verify::verify_equal;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only = std::env::var("CTSYNC_BENCH_ONLY").unwrap_or_default();
    let run = |name: &str| only.is_empty() || only.split(',').any(|x| x == name);
    if run("apply") {
        let (agent, raw, merge) = apply_throughput().await;
        println!("apply a->b, {} changes, batch 500, median of {} rounds: ctsync {agent:.0} rows/s; raw tiberius INSERT {raw:.0} rows/s (ratio {:.2}); raw tiberius MERGE {merge:.0} rows/s (ratio {:.2})", env_n("CTSYNC_BENCH_APPLY_ROWS", 100_000), env_n("CTSYNC_BENCH_ROUNDS", 3), agent / raw, agent / merge);
    }
    if run("lag") {
        let (p50, p99, n) = lag().await;
        println!("end-to-end lag at 1,000 changes/s, poll 200 ms: p50 {p50:.0} ms, p99 {p99:.0} ms ({n} changes)");
    }
    if run("memory") {
        for (queued, kb) in memory().await {
            println!(
                "resident memory with {queued} operations queued (target down): {:.1} MB",
                kb as f64 / 1024.0
            );
        }
    }
    if run("twoway") {
        let (one, on, off, clean, conflicting) = two_way().await;
        println!("two-way, conflict-free stream of {} changes a->b, median of {} rounds: both ways with conflict detection {on:.0} rows/s, without {off:.0} rows/s (detection costs {:.0}%); the same rows one way {one:.0} rows/s", env_n("CTSYNC_BENCH_APPLY_ROWS", 100_000), env_n("CTSYNC_BENCH_ROUNDS", 3), (1.0 - on / off) * 100.0);
        println!("two-way burst of {} rows, agent start to both sides equal: changed on a only {clean:.0} rows/s; changed on both sides, settled by a_wins {conflicting:.0} rows/s (ratio {:.2})", env_n("CTSYNC_BENCH_CONFLICT_ROWS", 10_000), conflicting / clean);
    }
    if run("idle") {
        // CTSYNC_BENCH_IDLE_TABLES=1000 (comma-separated) picks the sizes.
        let sizes: Vec<usize> = std::env::var("CTSYNC_BENCH_IDLE_TABLES")
            .ok()
            .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
            .unwrap_or_else(|| vec![10, 100, 1000]);
        for n in sizes {
            let c = idle_cost(n, 10.min(n)).await;
            println!(
                "server a per poll, {n} tables a->b, poll 200 ms: idle {:.1} requests, {:.1} statements; with {} of them written every 200 ms {:.1} requests (round trips), {:.1} statements, poll {:.0} ms; lag of a single change {:.0} ms (median of 7)",
                c.idle_requests, c.idle_statements, 10.min(n), c.busy_requests, c.busy_statements, c.busy_poll_ms, c.lag_ms
            );
        }
    }
    if run("bigtx") {
        let (secs, peak, before) = big_update().await;
        println!("single UPDATE transaction of {} rows a->b, defaults: on b after {secs:.1} s; agent peak RSS {:.1} MB (before the update {:.1} MB)", env_n("CTSYNC_BENCH_BIGTX_ROWS", 1_000_000), peak as f64 / 1024.0, before as f64 / 1024.0);
        for per_txn in [1, 30] {
            let (secs, peak) = big_values(per_txn).await;
            println!("30 rows x 10 MB nvarchar(max) a->b, {per_txn} row(s) per source transaction, defaults: on b after {secs:.1} s; agent peak RSS {:.1} MB", peak as f64 / 1024.0);
        }
    }
    if run("verify") {
        let (rate, secs) = verify_equal().await;
        println!("ctsync verify, two equal tables of {} rows x 6 columns: {rate:.0} rows/s ({secs:.1} s)", env_n("CTSYNC_BENCH_VERIFY_ROWS", 1_000_000));
    }
    if run("load") {
        let (load, rows) = initial_load().await;
        println!("initial load, {} rows x 6 columns, empty target: {load:.0} rows/s; one INSERT per row: {rows:.0} rows/s; ratio {:.0}x", env_n("CTSYNC_BENCH_LOAD_ROWS", 1_000_000), load / rows);
    }
}
