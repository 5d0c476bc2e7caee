//! The agent benchmark's `verify` part: `ctsync verify` (the release
//! binary) over two equal tables of `CTSYNC_BENCH_VERIFY_ROWS` (1,000,000)
//! rows × 6 columns, bulk-loaded alike on both stand-ins; no agent runs
//! (the store is opened by the verify). See the module doc of
//! `benches/agent.rs`.

use super::*;

/// (rows per second, seconds) of one verify of two equal tables.
pub async fn verify_equal() -> (f64, f64) {
    let n = env_n("CTSYNC_BENCH_VERIFY_ROWS", 1_000_000);
    let p = pair();
    let (mut a, mut b) = (client(&p.a, "BenchA").await, client(&p.b, "BenchB").await);
    exec(&mut a, &format!("CREATE TABLE dbo.W {TABLE}")).await;
    exec(&mut b, &format!("CREATE TABLE dbo.W {TABLE}")).await;
    fill(&mut a, "dbo.W", 0, n, 10_000).await;
    fill(&mut b, "dbo.W", 0, n, 10_000).await;
    let config = p.dir.path().join("verify.yaml");
    let text = format!(
        "agent_id: bench\nstate_dir: {}\nlog_level: warn\nservers:\n  a: {{ host: 127.0.0.1, port: {}, database: BenchA, user: sa, encrypt: not_supported }}\n  b: {{ host: 127.0.0.1, port: {}, database: BenchB, user: sa, encrypt: not_supported }}\ntables:\n  - table: dbo.W\n    key: [id]\n    direction: a_to_b\n",
        p.dir.path().join("state-verify").display(),
        p.a.addr().port(),
        p.b.addr().port(),
    );
    std::fs::write(&config, text).expect("config");
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_ctsync"))
        .args(["verify", "--json", "--config"])
        .arg(&config)
        .env("CTSYNC_SERVERS__A__PASSWORD", PW)
        .env("CTSYNC_SERVERS__B__PASSWORD", PW)
        .output()
        .expect("verify");
    let secs = t.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert!(
        out.status.success() && v["equal"] == true && v["tables"][0]["rows_a"] == n,
        "verify of equal tables failed ({:?}): {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (n as f64 / secs, secs)
}
