//! Scenario: a `both` table loaded in full (`initial: full`) while writers
//! keep changing both sides. a holds rows, b holds rows, some keys on both;
//! the first pass copies a's rows to b, the second b's rows to a, and a
//! writer on each side updates, deletes and inserts rows of the shared key
//! range all through both passes (each reply delayed a little so the passes
//! take long enough to overlap many writes).
//!
//! What must hold, beyond both sides ending equal: a write of a is never
//! undone (a row a deleted after the first pass copied it stays deleted —
//! the second pass used to carry b's stale copy back), a write of b made
//! after the first pass is kept unless a wrote the row too, and a row
//! nobody wrote is a's where a had it (a wins a full load), b's otherwise.
//!
//! The seed is printed; `CTSYNC_TEST_MODEL_SEED=N` replays the writers.

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Keys the writers touch; a starts with 1..=A_HAS, b with B_FROM..=KEYS.
const KEYS: i32 = 300;
const A_HAS: i32 = 200;
const B_FROM: i32 = 121;

/// The seed of the writers: `CTSYNC_TEST_MODEL_SEED`, else the clock.
fn seed() -> u64 {
    std::env::var("CTSYNC_TEST_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        })
}

/// Waits (at most 90 s) until both passes of the load are done and 1.5 s
/// more; returns when the first and the second pass were seen done.
async fn through_both_passes(agent: &Agent) -> (Option<Instant>, Option<Instant>) {
    let began = Instant::now();
    let mut first_done: Option<Instant> = None;
    let mut second_done: Option<Instant> = None;
    while began.elapsed() < Duration::from_secs(90) {
        let done = agent.log_text().matches("initial load done").count();
        if done >= 1 && first_done.is_none() {
            first_done = Some(Instant::now());
        }
        if done >= 2 && second_done.is_none() {
            second_done = Some(Instant::now());
        }
        if second_done.is_some_and(|t| t.elapsed() > Duration::from_millis(1_500)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (first_done, second_done)
}

/// One write a writer made: the value it left (`None`: deleted).
#[derive(Debug, Clone)]
struct Write {
    side: char,
    key: i32,
    value: Option<String>,
    started: Instant,
}

async fn writer(
    sim: Arc<Sim>,
    side: char,
    seed: u64,
    stop: Arc<Mutex<bool>>,
    log: Arc<Mutex<Vec<Write>>>,
) -> usize {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut c = sim.client_retry().await;
    let mut n = 0usize;
    while !*stop.lock().expect("stop") {
        n += 1;
        let key = rng.gen_range(1..=KEYS);
        let value = format!("{side}{n}");
        let (sql, left) = match rng.gen_range(0..10) {
            0..=4 => (
                format!("UPDATE dbo.R SET v = N'{value}' WHERE id = {key}; SELECT @@ROWCOUNT"),
                Some(value.clone()),
            ),
            5..=7 => (
                format!("DELETE FROM dbo.R WHERE id = {key}; SELECT @@ROWCOUNT"),
                None,
            ),
            _ => (
                format!("INSERT INTO dbo.R (id, v) SELECT {key}, N'{value}' WHERE NOT EXISTS (SELECT 1 FROM dbo.R WHERE id = {key}); SELECT @@ROWCOUNT"),
                Some(value.clone()),
            ),
        };
        let started = Instant::now();
        let result = match c.simple_query(sql).await {
            Ok(s) => s.into_row().await.map_err(|_| ()),
            Err(_) => Err(()),
        };
        let affected = match result {
            Ok(row) => row.and_then(|r| r.get::<i32, _>(0)).unwrap_or(0),
            Err(()) => {
                c = sim.client_retry().await;
                0
            }
        };
        if affected > 0 {
            log.lock().expect("log").push(Write {
                side,
                key,
                value: left,
                started,
            });
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..15))).await;
    }
    n
}

fn rows_of(rows: Vec<Vec<String>>) -> BTreeMap<i32, String> {
    rows.into_iter()
        .filter_map(|r| Some((r.first()?.parse().ok()?, r.get(1)?.clone())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_on_both_sides_during_a_full_load_of_a_both_table() {
    real_server_note();
    let seed = seed();
    eprintln!(
        "load_both_ways_writers: seed {seed} (CTSYNC_TEST_MODEL_SEED={seed} replays the writers)"
    );
    let a = Arc::new(Sim::start("LoadBothA"));
    let b = Arc::new(Sim::start("LoadBothB"));
    let schema = "CREATE TABLE dbo.R (id INT NOT NULL PRIMARY KEY, v NVARCHAR(40) NOT NULL)";
    a.exec(schema).await;
    b.exec(schema).await;
    // Rows nobody writes after the shared range make each pass longer.
    let fill = |from: i32, to: i32, tag: &str| {
        let vals: Vec<String> = (from..=to).map(|i| format!("({i}, N'{tag}{i}')")).collect();
        format!("INSERT INTO dbo.R (id, v) VALUES {}", vals.join(", "))
    };
    a.exec(&fill(1, A_HAS, "a0-")).await;
    a.exec(&fill(1_001, 1_300, "a0-")).await;
    b.exec(&fill(B_FROM, KEYS, "b0-")).await;
    b.exec(&fill(2_001, 2_300, "b0-")).await;
    let initial = |k: i32| -> Option<String> {
        if k <= A_HAS || (1_001..=1_300).contains(&k) {
            Some(format!("a0-{k}"))
        } else if (B_FROM..=KEYS).contains(&k) || (2_001..=2_300).contains(&k) {
            Some(format!("b0-{k}"))
        } else {
            None
        }
    };
    if a.is_sim() {
        a.exec("EXEC mssql_sim.set_latency @ms = 5").await;
        b.exec("EXEC mssql_sim.set_latency @ms = 5").await;
    }
    let setup = Setup::new(
        &a,
        &b,
        "  batch_size: 5\n  poll_interval_ms: 100\n",
        "  - table: dbo.R\n    key: [id]\n    direction: both\n    initial: full\n",
    );
    let stop = Arc::new(Mutex::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let agent = setup.start_agent();
    let wa = tokio::spawn(writer(a.clone(), 'a', seed, stop.clone(), log.clone()));
    let wb = tokio::spawn(writer(
        b.clone(),
        'b',
        seed ^ 0x9E37_79B9,
        stop.clone(),
        log.clone(),
    ));
    // Writers run through both passes and a little after.
    let (first_done, second_done) = through_both_passes(&agent).await;
    *stop.lock().expect("stop") = true;
    let made_a = wa.await.unwrap_or(0);
    let made_b = wb.await.unwrap_or(0);
    if a.is_sim() {
        a.exec("EXEC mssql_sim.set_latency @ms = 0").await;
        b.exec("EXEC mssql_sim.set_latency @ms = 0").await;
    }
    let (Some(t1), Some(t2)) = (first_done, second_done) else {
        panic!(
            "seed {seed}: the two passes did not finish in 90 s\n{}",
            agent.log_text()
        );
    };
    let writes = log.lock().expect("log").clone();
    let during_second = writes
        .iter()
        .filter(|w| w.started > t1 && w.started < t2)
        .count();
    let view = "SELECT id, v FROM dbo.R ORDER BY id";
    let converged = eventually(Duration::from_secs(60), || async {
        a.rows(view).await == b.rows(view).await
    })
    .await;
    let ra = rows_of(a.rows(view).await);
    let rb = rows_of(b.rows(view).await);
    let mut wrong = Vec::new();
    for k in 1..=KEYS {
        let last = |side: char| writes.iter().rev().find(|w| w.side == side && w.key == k);
        let got = ra.get(&k).cloned();
        let allowed: Vec<Option<String>> = match (last('a'), last('b')) {
            (Some(wa), None) => vec![wa.value.clone()],
            (None, Some(wb)) if wb.started > t1 => vec![wb.value.clone()],
            // A write of b before the first pass copied the row: a's row
            // wins the load where a had one.
            (None, Some(wb)) => vec![wb.value.clone(), initial(k).filter(|_| k <= A_HAS)],
            (Some(wa), Some(wb)) => vec![wa.value.clone(), wb.value.clone()],
            (None, None) => vec![initial(k)],
        };
        if !allowed.contains(&got) {
            wrong.push(format!(
                "id {k}: a has {got:?}, b has {:?}, allowed {allowed:?}",
                rb.get(&k)
            ));
        }
    }
    for k in (1_001..=1_300).chain(2_001..=2_300) {
        if ra.get(&k) != initial(k).as_ref() || rb.get(&k) != initial(k).as_ref() {
            wrong.push(format!(
                "filler id {k}: a {:?}, b {:?}",
                ra.get(&k),
                rb.get(&k)
            ));
        }
    }
    let (code, agent_log) = agent.terminate();
    assert!(
        converged && wrong.is_empty(),
        "seed {seed}: converged {converged}; {} rows wrong:\n{}\nlog:\n{agent_log}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(code, Some(0), "{agent_log}");
    assert!(
        during_second >= 10,
        "seed {seed}: only {during_second} writes overlapped the second pass"
    );
    eprintln!(
        "load_both_ways_writers: seed {seed}: {made_a} writes tried on a, {made_b} on b, {} made, {during_second} during the second pass; {} rows, both sides equal, the model's outcome for every key",
        writes.len(),
        ra.len()
    );
}

/// One write of the identity-mapped variant, by row tag.
#[derive(Debug, Clone)]
struct TagWrite {
    side: char,
    tag: String,
    value: Option<String>,
    started: Instant,
}

async fn tag_writer(
    sim: Arc<Sim>,
    side: char,
    seed: u64,
    stop: Arc<Mutex<bool>>,
    log: Arc<Mutex<Vec<TagWrite>>>,
) -> usize {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut c = sim.client_retry().await;
    let mut n = 0usize;
    while !*stop.lock().expect("stop") {
        n += 1;
        // Rows of both sides' initial sets, and this side's new ones.
        let mut tag = match rng.gen_range(0..10) {
            0..=3 => format!("a{}", rng.gen_range(0..120)),
            4..=7 => format!("b{}", rng.gen_range(0..120)),
            _ => format!("{side}new{}", rng.gen_range(0..40)),
        };
        let value = format!("{side}{n}");
        let (sql, left) = match rng.gen_range(0..10) {
            0..=5 => (
                format!("UPDATE dbo.M SET v = N'{value}' WHERE tag = N'{tag}'; SELECT @@ROWCOUNT"),
                Some(value.clone()),
            ),
            6 | 7 => (
                format!("DELETE FROM dbo.M WHERE tag = N'{tag}'; SELECT @@ROWCOUNT"),
                None,
            ),
            // Inserts only of this side's own tags: an insert on each side
            // of the same tag is two rows of an identity table, rightly.
            _ => {
                let own = format!("{side}new{}", rng.gen_range(0..40));
                let sql = format!("INSERT INTO dbo.M (tag, v) SELECT N'{own}', N'{value}' WHERE NOT EXISTS (SELECT 1 FROM dbo.M WHERE tag = N'{own}'); SELECT @@ROWCOUNT");
                tag = own;
                (sql, Some(value.clone()))
            }
        };
        let started = Instant::now();
        let result = match c.simple_query(sql).await {
            Ok(s) => s.into_row().await.map_err(|_| ()),
            Err(_) => Err(()),
        };
        let affected = match result {
            Ok(row) => row.and_then(|r| r.get::<i32, _>(0)).unwrap_or(0),
            Err(()) => {
                c = sim.client_retry().await;
                0
            }
        };
        if affected > 0 {
            log.lock().expect("log").push(TagWrite {
                side,
                tag,
                value: left,
                started,
            });
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..15))).await;
    }
    n
}

/// The identity-mapped variant: each side assigns its own ids (b's start at
/// 10,000, so no id is on both sides before the sync), rows are known by a
/// tag; the same model holds per tag, and no tag is on a side twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_on_both_sides_during_a_full_load_of_an_identity_mapped_both_table() {
    real_server_note();
    let seed = seed();
    eprintln!("load_both_ways_writers (mapped): seed {seed} (CTSYNC_TEST_MODEL_SEED={seed} replays the writers)");
    let a = Arc::new(Sim::start("LoadBothMapA"));
    let b = Arc::new(Sim::start("LoadBothMapB"));
    a.exec("CREATE TABLE dbo.M (id INT IDENTITY(1,1) PRIMARY KEY, tag NVARCHAR(40) NOT NULL, v NVARCHAR(40) NOT NULL)")
        .await;
    b.exec("CREATE TABLE dbo.M (id INT IDENTITY(10000,1) PRIMARY KEY, tag NVARCHAR(40) NOT NULL, v NVARCHAR(40) NOT NULL)")
        .await;
    let fill = |prefix: &str, n: usize| {
        let vals: Vec<String> = (0..n)
            .map(|i| format!("(N'{prefix}{i}', N'{prefix}0-{i}')"))
            .collect();
        format!("INSERT INTO dbo.M (tag, v) VALUES {}", vals.join(", "))
    };
    a.exec(&fill("a", 120)).await;
    a.exec(&fill("afill", 200)).await;
    b.exec(&fill("b", 120)).await;
    b.exec(&fill("bfill", 200)).await;
    if a.is_sim() {
        a.exec("EXEC mssql_sim.set_latency @ms = 5").await;
        b.exec("EXEC mssql_sim.set_latency @ms = 5").await;
    }
    let setup = Setup::new(
        &a,
        &b,
        "  batch_size: 5\n",
        "  - table: dbo.M\n    key: [id]\n    identity: true\n    direction: both\n    initial: full\n",
    );
    let stop = Arc::new(Mutex::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let agent = setup.start_agent();
    let wa = tokio::spawn(tag_writer(a.clone(), 'a', seed, stop.clone(), log.clone()));
    let wb = tokio::spawn(tag_writer(
        b.clone(),
        'b',
        seed ^ 0x9E37_79B9,
        stop.clone(),
        log.clone(),
    ));
    let (first_done, second_done) = through_both_passes(&agent).await;
    *stop.lock().expect("stop") = true;
    let _ = wa.await;
    let _ = wb.await;
    if a.is_sim() {
        a.exec("EXEC mssql_sim.set_latency @ms = 0").await;
        b.exec("EXEC mssql_sim.set_latency @ms = 0").await;
    }
    let (Some(t1), Some(t2)) = (first_done, second_done) else {
        panic!(
            "seed {seed}: the two passes did not finish in 90 s\n{}",
            agent.log_text()
        );
    };
    let writes = log.lock().expect("log").clone();
    let during_second = writes
        .iter()
        .filter(|w| w.started > t1 && w.started < t2)
        .count();
    let view = "SELECT tag, v FROM dbo.M ORDER BY tag";
    let converged = eventually(Duration::from_secs(60), || async {
        a.rows(view).await == b.rows(view).await
    })
    .await;
    let by_tag = |rows: Vec<Vec<String>>| -> BTreeMap<String, String> {
        rows.into_iter()
            .filter_map(|r| Some((r.first()?.clone(), r.get(1)?.clone())))
            .collect()
    };
    let ra = by_tag(a.rows(view).await);
    let dup_a = a
        .rows("SELECT tag FROM dbo.M GROUP BY tag HAVING COUNT(*) > 1")
        .await;
    let dup_b = b
        .rows("SELECT tag FROM dbo.M GROUP BY tag HAVING COUNT(*) > 1")
        .await;
    let initial = |tag: &str| -> Option<String> {
        for p in ["afill", "bfill", "a", "b"] {
            if let Some(i) = tag.strip_prefix(p).and_then(|i| i.parse::<usize>().ok()) {
                if !p.ends_with("fill") || i < 200 {
                    return Some(format!("{p}0-{i}"));
                }
            }
        }
        None
    };
    let mut tags: std::collections::BTreeSet<String> =
        writes.iter().map(|w| w.tag.clone()).collect();
    tags.extend((0..120).flat_map(|i| [format!("a{i}"), format!("b{i}")]));
    let mut wrong = Vec::new();
    for tag in &tags {
        let last = |side: char| {
            writes
                .iter()
                .rev()
                .find(|w| w.side == side && &w.tag == tag)
        };
        let got = ra.get(tag).cloned();
        let from_a = tag.starts_with('a');
        let allowed: Vec<Option<String>> = match (last('a'), last('b')) {
            (Some(wa), None) => vec![wa.value.clone()],
            (None, Some(wb)) if wb.started > t1 => vec![wb.value.clone()],
            (None, Some(wb)) => vec![wb.value.clone(), initial(tag).filter(|_| from_a)],
            (Some(wa), Some(wb)) => vec![wa.value.clone(), wb.value.clone()],
            (None, None) => vec![initial(tag)],
        };
        if !allowed.contains(&got) {
            wrong.push(format!("tag {tag}: a has {got:?}, allowed {allowed:?}"));
        }
    }
    let (code, agent_log) = agent.terminate();
    assert!(
        converged && wrong.is_empty() && dup_a.is_empty() && dup_b.is_empty(),
        "seed {seed}: converged {converged}; duplicated tags a {dup_a:?} b {dup_b:?}; {} tags wrong:\n{}\nlog:\n{agent_log}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(code, Some(0), "{agent_log}");
    assert!(
        during_second >= 10,
        "seed {seed}: only {during_second} writes overlapped the second pass"
    );
    eprintln!(
        "load_both_ways_writers (mapped): seed {seed}: {} writes made, {during_second} during the second pass; {} rows, both sides equal, the model's outcome for every tag",
        writes.len(),
        ra.len()
    );
}
