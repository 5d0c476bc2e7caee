//! Model-based randomised test of two-way sync: writers on both sides
//! insert, update, delete and re-insert a handful of hot keys of an
//! explicit-key table (K), an identity-mapped table (P) and a child table
//! with `references` (C), while the agent's links are cut, go down for a
//! while, replies are delayed and then cut, the replies to the agent's
//! COMMITs are lost (`cut_after_commit`), `ctsync parked retry` is sent to
//! the running agent, and the agent is restarted (SIGTERM and `kill -9`).
//! A one-way explicit-key table (L, written on a only) is re-initialised
//! (`ctsync reinit`) at random moments while its writer goes on.
//! `scripts/chaos.sh` runs it for as long as asked. After the
//! writers stop and the agent drains:
//!
//! * both sides hold the same rows, row for row (P and C compared by a tag
//!   each row keeps for life, since their ids differ between the sides);
//! * no row is duplicated;
//! * every value is one that some writer wrote (or the initial one);
//! * under `a_wins`, no change of a was lost to a concurrent change of b: an
//!   oracle replays the writes each side made, and a final value written by
//!   b must come from a write that did not finish before a's last write of
//!   that row started (one that overlapped it may have committed after it
//!   reached b: counted and printed as ambiguous).
//!
//! The seed is printed; `CTSYNC_TEST_MODEL_SEED=N` replays the same writer
//! schedule (timing still varies). The run lasts `CTSYNC_TEST_MODEL_SECS`
//! (default 25, so CI runs a short one; set it higher for a soak).

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tiberius::Client;
use tokio::net::TcpStream;
use tokio_util::compat::Compat;

const SCHEMA: &str = "
CREATE TABLE dbo.K (k INT PRIMARY KEY, v NVARCHAR(40) NOT NULL);
CREATE TABLE dbo.P (id INT IDENTITY(1,1) PRIMARY KEY, tag NVARCHAR(40) NOT NULL, v NVARCHAR(40) NOT NULL);
CREATE TABLE dbo.C (id INT IDENTITY(1,1) PRIMARY KEY, parent_id INT NOT NULL, tag NVARCHAR(40) NOT NULL, v NVARCHAR(40) NOT NULL);
INSERT INTO dbo.K (k, v) VALUES (1, N'init'), (2, N'init'), (3, N'init'), (4, N'init'), (5, N'init');
INSERT INTO dbo.P (tag, v) VALUES (N'p1', N'init'), (N'p2', N'init'), (N'p3', N'init');
CREATE TABLE dbo.L (k INT PRIMARY KEY, v NVARCHAR(40) NOT NULL);
INSERT INTO dbo.L (k, v) VALUES (1, N'init'), (2, N'init'), (3, N'init');
";

const TABLES: &str = "  - table: dbo.K
    key: [k]
    direction: both
  - table: dbo.P
    key: [id]
    identity: true
    direction: both
  - table: dbo.C
    key: [id]
    identity: true
    references: { parent_id: dbo.P }
    direction: both
  - table: dbo.L
    key: [k]
    direction: a_to_b
";

/// Parents children point at; never deleted (a delete of a parent whose
/// child is being inserted on the other side is a cross-table race that
/// conflict detection of one table does not settle).
const STABLE_PARENTS: [&str; 3] = ["p1", "p2", "p3"];

type Conn = Client<Compat<TcpStream>>;

/// One write a writer made: which row (K's key or P/C's tag), the value it
/// left (`None`: deleted), and when it ran.
#[derive(Debug, Clone)]
struct Write {
    side: char,
    table: &'static str,
    row: String,
    value: Option<String>,
    started: Instant,
    finished: Instant,
}

async fn q(c: &mut Conn, sql: &str) -> Result<Vec<Vec<String>>, String> {
    let s = c.simple_query(sql).await.map_err(|e| e.to_string())?;
    let rows = s.into_results().await.map_err(|e| e.to_string())?;
    Ok(rows
        .into_iter()
        .flatten()
        .map(|r| r.cells().map(|(_, d)| cell(d)).collect())
        .collect())
}

/// One writer: random operations on one side until `until`.
async fn writer(
    sim: Arc<Sim>,
    side: char,
    seed: u64,
    until: Instant,
    log: Arc<Mutex<Vec<Write>>>,
) -> usize {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut c = sim.client_retry().await;
    let mut n = 0usize;
    let mut made = 0usize;
    while Instant::now() < until {
        n += 1;
        let value = format!("{side}{n}");
        let started = Instant::now();
        let pick: u32 = rng.gen_range(0..100);
        // (table, row, value, sql returning the affected row count)
        let (table, row, val, sql): (&'static str, String, Option<String>, String) = if side == 'a'
            && pick >= 88
        {
            // L is one-way: only a writes it.
            let k = rng.gen_range(1..=6);
            match rng.gen_range(0..10) {
                0..=5 => (
                    "L",
                    k.to_string(),
                    Some(value.clone()),
                    format!("UPDATE dbo.L SET v = N'{value}' WHERE k = {k}; SELECT @@ROWCOUNT"),
                ),
                6 | 7 => (
                    "L",
                    k.to_string(),
                    None,
                    format!("DELETE FROM dbo.L WHERE k = {k}; SELECT @@ROWCOUNT"),
                ),
                _ => (
                    "L",
                    k.to_string(),
                    Some(value.clone()),
                    format!("INSERT INTO dbo.L (k, v) SELECT {k}, N'{value}' WHERE NOT EXISTS (SELECT 1 FROM dbo.L WHERE k = {k}); SELECT @@ROWCOUNT"),
                ),
            }
        } else if pick < 45 {
            let k = rng.gen_range(1..=5);
            match rng.gen_range(0..10) {
                0..=5 => (
                    "K",
                    k.to_string(),
                    Some(value.clone()),
                    format!("UPDATE dbo.K SET v = N'{value}' WHERE k = {k}; SELECT @@ROWCOUNT"),
                ),
                6 | 7 => (
                    "K",
                    k.to_string(),
                    None,
                    format!("DELETE FROM dbo.K WHERE k = {k}; SELECT @@ROWCOUNT"),
                ),
                _ => (
                    "K",
                    k.to_string(),
                    Some(value.clone()),
                    format!("INSERT INTO dbo.K (k, v) SELECT {k}, N'{value}' WHERE NOT EXISTS (SELECT 1 FROM dbo.K WHERE k = {k}); SELECT @@ROWCOUNT"),
                ),
            }
        } else if pick < 75 {
            let rows = match q(&mut c, "SELECT tag FROM dbo.P ORDER BY id").await {
                Ok(r) => r,
                Err(_) => {
                    c = sim.client_retry().await;
                    continue;
                }
            };
            let tags: Vec<String> = rows.into_iter().map(|r| r[0].clone()).collect();
            match rng.gen_range(0..10) {
                0..=2 if tags.len() < 12 => {
                    let tag = format!("{side}p{n}");
                    (
                        "P",
                        tag.clone(),
                        Some(value.clone()),
                        format!("INSERT INTO dbo.P (tag, v) VALUES (N'{tag}', N'{value}'); SELECT @@ROWCOUNT"),
                    )
                }
                3 => {
                    let deletable: Vec<&String> = tags
                        .iter()
                        .filter(|t| !STABLE_PARENTS.contains(&t.as_str()))
                        .collect();
                    if deletable.is_empty() {
                        continue;
                    }
                    let tag = deletable[rng.gen_range(0..deletable.len())].clone();
                    (
                        "P",
                        tag.clone(),
                        None,
                        format!("DELETE FROM dbo.P WHERE tag = N'{tag}'; SELECT @@ROWCOUNT"),
                    )
                }
                _ => {
                    if tags.is_empty() {
                        continue;
                    }
                    let tag = tags[rng.gen_range(0..tags.len())].clone();
                    (
                        "P",
                        tag.clone(),
                        Some(value.clone()),
                        format!("UPDATE dbo.P SET v = N'{value}' WHERE tag = N'{tag}'; SELECT @@ROWCOUNT"),
                    )
                }
            }
        } else {
            let rows = match q(&mut c, "SELECT tag FROM dbo.C ORDER BY id").await {
                Ok(r) => r,
                Err(_) => {
                    c = sim.client_retry().await;
                    continue;
                }
            };
            let tags: Vec<String> = rows.into_iter().map(|r| r[0].clone()).collect();
            match rng.gen_range(0..10) {
                0..=3 if tags.len() < 10 => {
                    let tag = format!("{side}c{n}");
                    let parent = STABLE_PARENTS[rng.gen_range(0..STABLE_PARENTS.len())];
                    (
                        "C",
                        tag.clone(),
                        Some(value.clone()),
                        format!("INSERT INTO dbo.C (parent_id, tag, v) SELECT id, N'{tag}', N'{value}' FROM dbo.P WHERE tag = N'{parent}'; SELECT @@ROWCOUNT"),
                    )
                }
                4 | 5 => {
                    if tags.is_empty() {
                        continue;
                    }
                    let tag = tags[rng.gen_range(0..tags.len())].clone();
                    (
                        "C",
                        tag.clone(),
                        None,
                        format!("DELETE FROM dbo.C WHERE tag = N'{tag}'; SELECT @@ROWCOUNT"),
                    )
                }
                _ => {
                    if tags.is_empty() {
                        continue;
                    }
                    let tag = tags[rng.gen_range(0..tags.len())].clone();
                    (
                        "C",
                        tag.clone(),
                        Some(value.clone()),
                        format!("UPDATE dbo.C SET v = N'{value}' WHERE tag = N'{tag}'; SELECT @@ROWCOUNT"),
                    )
                }
            }
        };
        match q(&mut c, &sql).await {
            Ok(r) if r.last().map(|x| x[0] != "0").unwrap_or(false) => {
                made += 1;
                log.lock().unwrap_or_else(|p| p.into_inner()).push(Write {
                    side,
                    table,
                    row,
                    value: val,
                    started,
                    finished: Instant::now(),
                });
            }
            Ok(_) => {}
            // A duplicate key against the agent's own write, a deadlock:
            // nothing was written.
            Err(_) => c = sim.client_retry().await,
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(5..40))).await;
    }
    made
}

/// Rows of a side, by table: K by key, P by tag, C by tag (with the parent's tag).
async fn snapshot(s: &Sim) -> BTreeMap<(&'static str, String), String> {
    let mut out = BTreeMap::new();
    for r in s.rows("SELECT k, v FROM dbo.K").await {
        out.insert(("K", r[0].clone()), r[1].clone());
    }
    for r in s.rows("SELECT k, v FROM dbo.L").await {
        out.insert(("L", r[0].clone()), r[1].clone());
    }
    for r in s.rows("SELECT tag, v FROM dbo.P").await {
        out.insert(("P", r[0].clone()), r[1].clone());
    }
    for r in s
        .rows("SELECT c.tag, c.v, ISNULL(p.tag, N'<no parent>') FROM dbo.C c LEFT JOIN dbo.P p ON p.id = c.parent_id")
        .await
    {
        out.insert(("C", r[0].clone()), format!("{} -> {}", r[1], r[2]));
    }
    out
}

async fn duplicates(s: &Sim) -> Vec<Vec<String>> {
    let mut d = s
        .rows("SELECT tag, COUNT(*) FROM dbo.P GROUP BY tag HAVING COUNT(*) > 1")
        .await;
    d.extend(
        s.rows("SELECT tag, COUNT(*) FROM dbo.C GROUP BY tag HAVING COUNT(*) > 1")
            .await,
    );
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_on_both_sides_with_faults_converge_exactly() {
    real_server_note();
    let seed: u64 = std::env::var("CTSYNC_TEST_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        });
    let secs: u64 = std::env::var("CTSYNC_TEST_MODEL_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    eprintln!("two_way_model: seed {seed} (CTSYNC_TEST_MODEL_SEED={seed} replays the writers' schedule), {secs} s");
    let a = Arc::new(Sim::start("ModelA"));
    let b = Arc::new(Sim::start("ModelB"));
    let (Some(sa), Some(sb)) = (a.server().map(|s| s.addr()), b.server().map(|s| s.addr())) else {
        return;
    };
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let link_a = LinkProxy::start(sa);
    let link_b = LinkProxy::start(sb);
    let setup = Setup::new_via(
        &a,
        &b,
        Some(link_a.port()),
        Some(link_b.port()),
        "  batch_size: 50\n  retry: { initial_backoff_ms: 50, max_backoff_ms: 500 }\n",
        TABLES,
    );
    let mut agent = setup.start_agent();
    let log: Arc<Mutex<Vec<Write>>> = Arc::new(Mutex::new(Vec::new()));
    let until = Instant::now() + Duration::from_secs(secs);
    let wa = tokio::spawn(writer(a.clone(), 'a', seed, until, log.clone()));
    let wb = tokio::spawn(writer(
        b.clone(),
        'b',
        seed ^ 0x9E37_79B9,
        until,
        log.clone(),
    ));

    let mut rng = StdRng::seed_from_u64(seed.rotate_left(17));
    let mut faults: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut logs = String::new();
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(700..2000))).await;
        let link = if rng.gen_bool(0.5) { &link_a } else { &link_b };
        let sim = if rng.gen_bool(0.5) { &a } else { &b };
        match rng.gen_range(0..16) {
            0..=2 => {
                link.cut();
                *faults.entry("link cut").or_default() += 1;
            }
            3 | 4 => {
                link.set_down(true);
                link.cut();
                tokio::time::sleep(Duration::from_millis(rng.gen_range(300..1500))).await;
                link.set_down(false);
                *faults.entry("link down").or_default() += 1;
            }
            5 => {
                let (code, text) = agent.terminate();
                assert_eq!(code, Some(0), "SIGTERM exit:\n{text}");
                logs.push_str(&text);
                agent = setup.start_agent();
                *faults.entry("agent restart").or_default() += 1;
            }
            6 => {
                logs.push_str(&agent.kill9());
                agent = setup.start_agent();
                *faults.entry("agent kill -9").or_default() += 1;
            }
            7 | 8 => {
                // The reply to the agent's next COMMITs there is lost.
                let n = rng.gen_range(1..=3);
                sim.exec(&format!("EXEC mssql_sim.cut_after_commit @count = {n}"))
                    .await;
                *faults.entry("cut after commit").or_default() += 1;
            }
            9 | 10 => {
                // Slow replies, then the link cut while they are slow.
                sim.exec("EXEC mssql_sim.set_latency @ms = 120").await;
                tokio::time::sleep(Duration::from_millis(rng.gen_range(200..1200))).await;
                link.cut();
                tokio::time::sleep(Duration::from_millis(rng.gen_range(200..800))).await;
                sim.exec("EXEC mssql_sim.set_latency @ms = 0").await;
                *faults.entry("delayed replies + cut").or_default() += 1;
            }
            14 => {
                // A reload of the one-way table while its writer goes on
                // and batches are in flight.
                let out = setup.run_to_end(&["reinit", "--table", "dbo.L"]);
                let text = String::from_utf8_lossy(&out.stdout).to_string()
                    + &String::from_utf8_lossy(&out.stderr);
                assert!(
                    out.status.success()
                        || text.contains("in doubt")
                        || text.contains("did not take"),
                    "reinit: {text}"
                );
                *faults.entry("reinit").or_default() += 1;
            }
            _ => {
                // An operator's command to the running agent mid-stream.
                let out = setup.run_to_end(&["parked", "retry", "--all"]);
                let text = String::from_utf8_lossy(&out.stdout).to_string()
                    + &String::from_utf8_lossy(&out.stderr);
                assert!(
                    out.status.success()
                        || text.contains("in doubt")
                        || text.contains("no parked")
                        || text.contains("did not answer"),
                    "parked retry: {text}"
                );
                *faults.entry("parked retry").or_default() += 1;
            }
        }
    }
    a.exec("EXEC mssql_sim.cut_after_commit @count = 0; EXEC mssql_sim.set_latency @ms = 0")
        .await;
    b.exec("EXEC mssql_sim.cut_after_commit @count = 0; EXEC mssql_sim.set_latency @ms = 0")
        .await;
    let made_a = wa.await.unwrap_or(0);
    let made_b = wb.await.unwrap_or(0);
    link_a.set_down(false);
    link_b.set_down(false);

    let converged = eventually(Duration::from_secs(90), || async {
        snapshot(&a).await == snapshot(&b).await
    })
    .await;
    // Settled: still equal a little later (nothing was in flight).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (fa, fb) = (snapshot(&a).await, snapshot(&b).await);
    logs.push_str(&agent.log_text());
    let report = || {
        let conflicts = setup.run_to_end(&["conflicts", "list"]);
        format!(
            "seed {seed}; writes a={made_a} b={made_b}; faults {faults:?}\nconflicts:\n{}\na={fa:#?}\nb={fb:#?}\nlog tail:\n{}",
            String::from_utf8_lossy(&conflicts.stdout),
            logs.lines().rev().take(150).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    };
    assert!(converged && fa == fb, "sides differ: {}", report());
    let (da, db) = (duplicates(&a).await, duplicates(&b).await);
    assert!(
        da.is_empty() && db.is_empty(),
        "duplicated rows a={da:?} b={db:?}: {}",
        report()
    );

    // Every value is one a writer wrote, and under a_wins a's last write of
    // a row is never lost to b's earlier or concurrent write.
    let writes = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut by_row: BTreeMap<(&'static str, String), Vec<Write>> = BTreeMap::new();
    for w in writes {
        by_row.entry((w.table, w.row.clone())).or_default().push(w);
    }
    let mut rows: BTreeSet<(&'static str, String)> = fa.keys().cloned().collect();
    rows.extend(by_row.keys().cloned());
    let mut problems = Vec::new();
    // Rows whose final value came from a write of b that overlapped a's
    // last write (either order is right; see below).
    let mut ambiguous = 0usize;
    for row in rows {
        let final_value: Option<String> = fa.get(&row).map(|v| {
            // C's value carries its parent's tag.
            v.split(" -> ").next().unwrap_or(v).to_string()
        });
        let hist = by_row.get(&row).cloned().unwrap_or_default();
        let last_a = hist
            .iter()
            .filter(|w| w.side == 'a')
            .max_by_key(|w| w.finished);
        let from = match &final_value {
            Some(v) if v == "init" => None,
            Some(v) => match hist.iter().find(|w| w.value.as_deref() == Some(v.as_str())) {
                Some(w) => Some(w.clone()),
                None => {
                    problems.push(format!("{row:?}: value {v} was written by no writer"));
                    continue;
                }
            },
            None => None,
        };
        let Some(last_a) = last_a else { continue };
        let a_kept = match (&from, &final_value) {
            (Some(w), _) => w.side == 'a' && w.finished == last_a.finished,
            (None, None) => last_a.value.is_none(),
            (None, Some(_)) => false,
        };
        if a_kept {
            continue;
        }
        // Else the final state must come from a write of b that may have
        // committed after a's last write reached b. A writer only knows its
        // write committed somewhere between sending it and reading the
        // reply (with delayed replies that is 120 ms or more), so a write
        // of b that started after a's finished is certainly later; one that
        // overlaps a's may be later (the agent can carry a's write to b
        // before a's writer reads its reply) and is counted as ambiguous;
        // one that finished before a's started is certainly earlier: a
        // must have won.
        let later = |w: &Write| {
            if w.started > last_a.finished {
                Some(false)
            } else if w.finished > last_a.started {
                Some(true)
            } else {
                None
            }
        };
        let b_later = match (&from, &final_value) {
            (Some(w), _) if w.side == 'b' => later(w),
            (Some(_), _) => None,
            (None, None) => hist
                .iter()
                .filter(|w| w.side == 'b' && w.value.is_none())
                .filter_map(later)
                .min(),
            (None, Some(_)) => None,
        };
        match b_later {
            Some(false) => {}
            Some(true) => ambiguous += 1,
            None => {
                let t0 = hist.first().map(|w| w.started).unwrap_or(last_a.started);
                let history: Vec<String> = hist
                    .iter()
                    .map(|w| {
                        format!(
                            "{} {:?} {}..{} ms",
                            w.side,
                            w.value,
                            (w.started - t0).as_millis(),
                            (w.finished - t0).as_millis()
                        )
                    })
                    .collect();
                problems.push(format!(
                    "{row:?}: a's last write {:?} lost; final {final_value:?} (from {:?}); writes: {history:?}",
                    last_a.value,
                    from.as_ref().map(|w| (w.side, w.value.clone()))
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}\n{}", report());
    eprintln!(
        "two_way_model: seed {seed}: {secs} s, {} rounds, {made_a} writes on a, {made_b} on b, faults {faults:?}, {} rows, converged: 0 missing / 0 duplicated / 0 differing, a's last writes kept ({ambiguous} rows settled by a write of b that overlapped a's)",
        faults.values().sum::<usize>(),
        fa.len()
    );
    let (code, text) = agent.terminate();
    assert_eq!(code, Some(0), "{text}");
}
