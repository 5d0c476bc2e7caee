//! State store benchmark (`cargo bench --bench store`): durable enqueue rate
//! with one flush per batch, drain rate, and resident memory with 1,000,000
//! operations queued.
//!
//! The store is a module of the `ctsync` binary crate, so it is compiled in
//! here from its source files. The store directory is on the same disk as
//! `state_dir` would be: `$CTSYNC_BENCH_DIR` or a temporary directory under
//! the target directory (never tmpfs, where fsync costs nothing).
//! `CTSYNC_BENCH_QUEUED` overrides the 1,000,000 of the memory run.
// The store's unit-test module is compiled here too (cargo sets cfg(test)
// for benches) without its #[test] functions, leaving its imports unused.
#![allow(dead_code, unused_imports)]

#[path = "../src/model.rs"]
mod model;
#[path = "../src/store/mod.rs"]
mod store;

use model::{Direction, OpKind, Operation, Side, SqlValue};
use std::time::Instant;
use store::Store;

const BATCH: usize = 500;
const TABLE: &str = "dbo.Orders";

/// A 6-column row like the benchmark table.
fn op(i: u64) -> Operation {
    let id = i as i64;
    Operation {
        kind: OpKind::Insert,
        key: vec![SqlValue::I64(id)],
        row: Some(vec![
            SqlValue::I64(id),
            SqlValue::String(format!("customer {i:08}")),
            SqlValue::String(format!("customer{i}@example.com")),
            SqlValue::Decimal {
                value: (i as i128) * 125,
                precision: 18,
                scale: 2,
            },
            SqlValue::DateTime2 {
                days: 739_000 + (i % 365) as u32,
                increments: i * 1_000,
                scale: 7,
            },
            SqlValue::I32((i % 1000) as i32),
        ]),
        version: id,
        changed: None,
    }
}

fn rss_kb() -> u64 {
    status_kb("VmRSS:")
}

/// Peak resident size so far.
fn hwm_kb() -> u64 {
    status_kb("VmHWM:")
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn bench_dir(name: &str) -> tempfile::TempDir {
    let base = std::env::var_os("CTSYNC_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| "target".into())
                .join("bench-store")
        });
    let _ = std::fs::create_dir_all(&base);
    tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(&base)
        .unwrap_or_else(|e| panic!("bench dir under {}: {e}", base.display()))
}

fn enqueue(store: &Store, from: u64, n: u64) -> Vec<f64> {
    let mut lat = Vec::new();
    let mut i = from;
    while i < from + n {
        let end = (i + BATCH as u64).min(from + n);
        let ops: Vec<Operation> = (i..end).map(op).collect();
        let t = Instant::now();
        store
            .enqueue_batch(Direction::AToB, TABLE, &ops, Side::A, end as i64)
            .expect("enqueue");
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        i = end;
    }
    lat
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// In a fresh process (as an agent restarting on a full queue): open,
/// drain 20 batches, report resident memory.
fn reopen_child(dir: &std::path::Path) {
    let t = Instant::now();
    let store = Store::open(dir).expect("reopen");
    let opened = t.elapsed().as_secs_f64();
    let rss_open = rss_kb();
    for _ in 0..20 {
        let ops = store
            .list_queue(Direction::AToB, TABLE, 0, BATCH)
            .expect("peek");
        let Some((through, _)) = ops.last() else {
            break;
        };
        store
            .complete_batch(Direction::AToB, TABLE, *through, &[], &[], None)
            .expect("complete");
    }
    let depth = store
        .status(Direction::AToB, TABLE)
        .expect("status")
        .queue_depth;
    println!(
        "  fresh process reopening it: open {opened:.2} s, VmRSS {rss_open} kB after open, \
         {} kB after draining 20 batches (depth now {depth}); peak VmHWM {} kB",
        rss_kb(),
        hwm_kb()
    );
}

fn main() {
    if let Some(dir) = std::env::var_os("CTSYNC_BENCH_REOPEN") {
        reopen_child(std::path::Path::new(&dir));
        return;
    }
    // cargo bench passes --bench; a filter argument is accepted and ignored.
    let dir = bench_dir("enqueue");
    let store = Store::open(dir.path()).expect("open");
    let n = 100_000u64;
    let t = Instant::now();
    let mut lat = enqueue(&store, 0, n);
    let secs = t.elapsed().as_secs_f64();
    println!(
        "durable enqueue: {n} ops in batches of {BATCH}, one durable flush per batch: {:.0} ops/s \
         ({secs:.2} s; batch p50 {:.2} ms, p99 {:.2} ms)",
        n as f64 / secs,
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );
    // Drain: peek + complete (durable) per batch, as the applier does.
    let t = Instant::now();
    let mut drained = 0;
    loop {
        let ops = store
            .list_queue(Direction::AToB, TABLE, 0, BATCH)
            .expect("peek");
        let Some((through, _)) = ops.last() else {
            break;
        };
        store
            .complete_batch(Direction::AToB, TABLE, *through, &[], &[], None)
            .expect("complete");
        drained += ops.len();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "durable drain: {drained} ops (peek + complete per batch of {BATCH}): {:.0} ops/s",
        drained as f64 / secs
    );
    drop(store);
    drop(dir);

    let total: u64 = std::env::var("CTSYNC_BENCH_QUEUED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let cache: u64 = std::env::var("CTSYNC_BENCH_CACHE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(|mb: u64| mb << 20)
        .unwrap_or(store::CACHE_BYTES);
    let dir = bench_dir("rss");
    let store = Store::open_with_cache(dir.path(), cache).expect("open");
    println!(
        "resident memory with ops queued, sled cache {} MB (VmRSS now / VmHWM peak of the process):",
        cache >> 20
    );
    println!("  {:>9} queued: {:>6} kB / {:>6} kB", 0, rss_kb(), hwm_kb());
    let steps = 8;
    let step = total / steps;
    let t = Instant::now();
    for k in 0..steps {
        enqueue(&store, k * step, step);
        println!(
            "  {:>9} queued: {:>6} kB / {:>6} kB",
            (k + 1) * step,
            rss_kb(),
            hwm_kb()
        );
    }
    let secs = t.elapsed().as_secs_f64();
    let head = store
        .list_queue(Direction::AToB, TABLE, 0, BATCH)
        .expect("peek");
    let status = store.status(Direction::AToB, TABLE).expect("status");
    println!(
        "  queue depth {} (counter), head seq {:?}, enqueue {:.0} ops/s, on disk {} MB; RSS after peek {} kB",
        status.queue_depth,
        head.first().map(|(s, _)| *s),
        (steps * step) as f64 / secs,
        store_size_mb(dir.path()),
        rss_kb()
    );
    drop(store);
    match std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .env("CTSYNC_BENCH_REOPEN", dir.path())
            .status()
    }) {
        Ok(st) if st.success() => {}
        other => println!("  reopen in a fresh process failed: {other:?}"),
    }
}

fn store_size_mb(dir: &std::path::Path) -> u64 {
    fn walk(p: &std::path::Path) -> u64 {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.flatten()
                    .map(|e| match e.metadata() {
                        Ok(m) if m.is_dir() => walk(&e.path()),
                        Ok(m) => m.len(),
                        Err(_) => 0,
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(dir) >> 20
}
