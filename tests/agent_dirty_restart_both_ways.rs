//! Scenario: `kill -9` of the agent at random moments while writers on both
//! sides insert, update and delete rows of an identity-mapped table synced
//! `direction: both` (each server assigns its own ids, from different
//! ranges), for `CTSYNC_TEST_KILL_ROUNDS` rounds (default 12), then a final
//! clean run. Each writer only touches rows it made (named `a17`, `b42`),
//! so there is no conflict and the end state is known exactly: every row a
//! writer left is on both sides exactly once with the writer's values, none
//! missing, none duplicated, nothing else.
//!
//! The seed is printed; `CTSYNC_TEST_KILL_SEED=N` replays the writers' and
//! the kills' schedule (timing still varies). `CTSYNC_TEST_KILL_CONVERGE_SECS`
//! bounds the wait for convergence after the writers stop (default 60).

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TABLES: &str = "  - table: dbo.Items
    key: [id]
    identity: true
    direction: both
";

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.trim().parse().ok())
}

/// name → (n, v) of the rows one writer left.
type Model = BTreeMap<String, (i64, String)>;

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    transactions: u64,
    inserts: u64,
    updates: u64,
    deletes: u64,
    /// Transactions that failed (rolled back: `XACT_ABORT ON`); after each
    /// the writer re-reads its rows from its own side.
    errors: u64,
}

/// The rows of `side` named with its own prefix, as its writer sees them.
async fn own_rows(sim: &Sim, side: char) -> Model {
    sim.rows(&format!(
        "SELECT name, n, v FROM dbo.Items WHERE name LIKE N'{side}%'"
    ))
    .await
    .into_iter()
    .map(|r| (r[0].clone(), (r[1].parse().expect("n"), r[2].clone())))
    .collect()
}

/// One side's writer: transactions of one to three operations on its own
/// rows (new rows, updates and deletes, half of them on its 20 newest rows,
/// which are likely still on their way to the other side) until `stop`.
async fn writer(sim: Arc<Sim>, side: char, seed: u64, stop: Arc<AtomicBool>) -> (Model, Stats) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut client = sim.client_retry().await;
    let mut model = Model::new();
    let mut order: Vec<String> = Vec::new(); // live names, oldest first
    let mut stats = Stats::default();
    let mut next = 0u64;
    while !stop.load(Ordering::SeqCst) {
        stats.transactions += 1;
        let tx = stats.transactions;
        let (mut m, mut o) = (model.clone(), order.clone());
        let (mut ins, mut upd, mut del) = (0, 0, 0);
        let mut sql = String::from("SET XACT_ABORT ON; BEGIN TRAN;");
        for _ in 0..rng.gen_range(1..=3) {
            let pick = rng.gen_range(0..100);
            if o.is_empty() || pick < 45 {
                next += 1;
                let name = format!("{side}{next}");
                sql.push_str(&format!(
                    " INSERT INTO dbo.Items (name, n, v) VALUES (N'{name}', 0, N'{side}{tx}');"
                ));
                m.insert(name.clone(), (0, format!("{side}{tx}")));
                o.push(name);
                ins += 1;
                continue;
            }
            let i = if rng.gen_bool(0.5) {
                o.len() - 1 - rng.gen_range(0..o.len().min(20))
            } else {
                rng.gen_range(0..o.len())
            };
            if pick < 80 {
                let name = &o[i];
                sql.push_str(&format!(
                    " UPDATE dbo.Items SET n = n + 1, v = N'{side}{tx}' WHERE name = N'{name}';"
                ));
                let row = m.get_mut(name).expect("modelled row");
                *row = (row.0 + 1, format!("{side}{tx}"));
                upd += 1;
            } else {
                let name = o.remove(i);
                sql.push_str(&format!(" DELETE FROM dbo.Items WHERE name = N'{name}';"));
                m.remove(&name);
                del += 1;
            }
        }
        sql.push_str(" COMMIT;");
        let done = match client.simple_query(sql).await {
            Ok(s) => s.into_results().await.map(|_| ()),
            Err(e) => Err(e),
        };
        match done {
            Ok(()) => {
                (model, order) = (m, o);
                stats.inserts += ins;
                stats.updates += upd;
                stats.deletes += del;
            }
            Err(_) => {
                // Rolled back (a lock wait against the agent's write, say):
                // the writer's side holds the truth of its own rows.
                stats.errors += 1;
                client = sim.client_retry().await;
                model = own_rows(&sim, side).await;
                order.retain(|n| model.contains_key(n));
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(2..12))).await;
    }
    (model, stats)
}

/// name → every (n, v) a side holds under that name (more than one: a
/// duplicate).
async fn side_rows(sim: &Sim) -> BTreeMap<String, Vec<(i64, String)>> {
    let mut out: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for r in sim.rows("SELECT name, n, v FROM dbo.Items").await {
        out.entry(r[0].clone())
            .or_default()
            .push((r[1].parse().expect("n"), r[2].clone()));
    }
    out
}

/// How a side differs from the expected rows.
#[derive(Debug, Default)]
struct Diff {
    rows: usize,
    missing: Vec<String>,
    duplicated: Vec<String>,
    differing: Vec<String>,
    unexpected: Vec<String>,
}

impl Diff {
    fn of(want: &Model, got: &BTreeMap<String, Vec<(i64, String)>>) -> Diff {
        let mut d = Diff {
            rows: got.values().map(Vec::len).sum(),
            ..Diff::default()
        };
        for (name, value) in want {
            match got.get(name).map(Vec::as_slice) {
                None | Some([]) => d.missing.push(name.clone()),
                Some([one]) if one == value => {}
                Some([one]) => d
                    .differing
                    .push(format!("{name}: {one:?}, wanted {value:?}")),
                Some(many) => d.duplicated.push(format!("{name} x{}", many.len())),
            }
        }
        for (name, rows) in got {
            if !want.contains_key(name) {
                d.unexpected.push(format!("{name} x{}", rows.len()));
            }
        }
        d
    }

    fn exact(&self) -> bool {
        self.missing.is_empty()
            && self.duplicated.is_empty()
            && self.differing.is_empty()
            && self.unexpected.is_empty()
    }

    fn summary(&self) -> String {
        let few = |v: &Vec<String>| v.iter().take(12).cloned().collect::<Vec<_>>().join(", ");
        format!(
            "{} rows: {} missing [{}], {} duplicated [{}], {} differing [{}], {} unexpected [{}]",
            self.rows,
            self.missing.len(),
            few(&self.missing),
            self.duplicated.len(),
            few(&self.duplicated),
            self.differing.len(),
            few(&self.differing),
            self.unexpected.len(),
            few(&self.unexpected)
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_under_writers_on_both_sides_converges_exactly() {
    real_server_note();
    let seed = env_u64("CTSYNC_TEST_KILL_SEED").unwrap_or_else(|| rand::thread_rng().gen());
    let rounds = env_u64("CTSYNC_TEST_KILL_ROUNDS").unwrap_or(12) as usize;
    let converge = Duration::from_secs(env_u64("CTSYNC_TEST_KILL_CONVERGE_SECS").unwrap_or(60));
    eprintln!(
        "agent_dirty_restart_both_ways: seed {seed} (CTSYNC_TEST_KILL_SEED={seed} replays the schedule), {rounds} rounds"
    );
    let started = Instant::now();
    let a = Arc::new(Sim::start("BothKillA"));
    let b = Arc::new(Sim::start("BothKillB"));
    let schema = "CREATE TABLE dbo.Items (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(40) NOT NULL, n INT NOT NULL, v NVARCHAR(40) NOT NULL);";
    a.exec(schema).await;
    // Different identity ranges on the two sides: ids are mapped, not copied.
    b.exec(&schema.replace("IDENTITY(1,1)", "IDENTITY(1000000,1)"))
        .await;
    let setup = Setup::new(
        &a,
        &b,
        "  batch_size: 50\n  retry: { initial_backoff_ms: 50, max_backoff_ms: 1000 }\n",
        TABLES,
    );

    // The first run takes its starting point (`initial: none`) before the
    // writers begin; every later change must arrive despite the kills.
    let mut first = Some(setup.start_agent());
    let stop = Arc::new(AtomicBool::new(false));
    let wa = tokio::spawn(writer(a.clone(), 'a', seed, stop.clone()));
    let wb = tokio::spawn(writer(b.clone(), 'b', seed ^ 0x9E37_79B9, stop.clone()));

    let mut rng = StdRng::seed_from_u64(seed.rotate_left(17));
    let mut last_killed = String::new();
    for round in 0..rounds {
        let agent = first.take().unwrap_or_else(|| setup.start_agent());
        tokio::time::sleep(Duration::from_millis(rng.gen_range(150..900))).await;
        let log = agent.kill9();
        assert!(
            !log.contains(PASSWORD),
            "seed {seed}, round {round}: password leaked"
        );
        last_killed = log;
    }
    stop.store(true, Ordering::SeqCst);
    let (want_a, stats_a) = wa.await.expect("writer a");
    let (want_b, stats_b) = wb.await.expect("writer b");
    assert!(
        stats_a.transactions > 20 && stats_b.transactions > 20,
        "seed {seed}: the writers barely ran (a {stats_a:?}, b {stats_b:?})"
    );
    let mut want = want_a;
    want.extend(want_b);

    let writers_stopped = Instant::now();
    let agent = setup.start_agent();
    let exact = eventually(converge, || async {
        Diff::of(&want, &side_rows(&a).await).exact()
            && Diff::of(&want, &side_rows(&b).await).exact()
    })
    .await;
    let took = writers_stopped.elapsed();
    // Settled: still exact a little later (nothing more was on its way).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (da, db) = (
        Diff::of(&want, &side_rows(&a).await),
        Diff::of(&want, &side_rows(&b).await),
    );
    let report = || {
        let inspect = setup.run_to_end(&["inspect"]);
        let conflicts = setup.run_to_end(&["conflicts", "list"]);
        let tail = |s: &str| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(120)..].join("\n")
        };
        format!(
            "seed {seed} (CTSYNC_TEST_KILL_SEED={seed}), {rounds} rounds; writers a {stats_a:?}, b {stats_b:?}; {} rows expected\n\
             a: {}\nb: {}\ninspect:\n{}\nconflicts:\n{}\nlast killed run (tail):\n{}\nfinal run (tail):\n{}",
            want.len(),
            da.summary(),
            db.summary(),
            String::from_utf8_lossy(&inspect.stdout),
            String::from_utf8_lossy(&conflicts.stdout),
            tail(&last_killed),
            tail(&agent.log_text())
        )
    };
    assert!(
        exact && da.exact() && db.exact(),
        "not exactly converged {} s after the writers stopped: {}",
        took.as_secs(),
        report()
    );
    // Row for row, the same values on both sides (ids aside).
    let view = "SELECT name, n, v FROM dbo.Items ORDER BY name";
    assert_eq!(a.rows(view).await, b.rows(view).await, "{}", report());
    eprintln!(
        "agent_dirty_restart_both_ways: seed {seed}: {rounds} rounds, writes a {stats_a:?}, b {stats_b:?}; {} rows on each side, 0 missing / 0 duplicated / 0 differing; converged {:.1} s after the writers stopped; test {:.1} s",
        want.len(),
        took.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "seed {seed}: {log}");
}
