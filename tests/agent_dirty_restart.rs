//! Scenario: `kill -9` of the agent at random moments while changes stream in
//! on a, 20 rounds (`CTSYNC_TEST_KILL_ROUNDS`), then a final run: b ends
//! identical to a, with no row written twice on the identity table (each
//! server assigns its own ids, so a duplicated insert would show as an extra
//! row) and none lost. The seed of the kill moments is printed;
//! `CTSYNC_TEST_KILL_SEED=N` replays them.

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE dbo.Events (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(40) NOT NULL, n INT NOT NULL);
CREATE TABLE dbo.Counters (k INT NOT NULL PRIMARY KEY, v BIGINT NOT NULL);
";

const TABLES: &str = "  - table: dbo.Events
    key: [id]
    identity: true
    direction: a_to_b
  - table: dbo.Counters
    key: [k]
    direction: a_to_b
";

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_during_a_stream_loses_and_duplicates_nothing() {
    real_server_note();
    let rounds = env_u64("CTSYNC_TEST_KILL_ROUNDS").unwrap_or(20) as usize;
    let seed = env_u64("CTSYNC_TEST_KILL_SEED").unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!("agent_dirty_restart: seed {seed} (CTSYNC_TEST_KILL_SEED={seed} replays the kill moments), {rounds} rounds");
    let mut rng = StdRng::seed_from_u64(seed);
    let a = Arc::new(Sim::start("EdgeA"));
    let b = Sim::start("EdgeB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    // Different identity ranges on the two sides.
    b.exec("SET IDENTITY_INSERT dbo.Events ON; INSERT INTO dbo.Events (id, name, n) VALUES (5000, N'x', 0); SET IDENTITY_INSERT dbo.Events OFF; DELETE FROM dbo.Events;")
        .await;
    a.exec("INSERT INTO dbo.Counters (k, v) VALUES (1, 0), (2, 0), (3, 0);")
        .await;
    let setup = Setup::new(&a, &b, "  batch_size: 50\n", TABLES);

    // The first run takes its starting point (`initial: none`) before the
    // stream begins; every later change must arrive despite the kills.
    let mut first = Some(setup.start_agent());

    // The stream: new events, updates of earlier ones, a few deletes, counters
    // bumped in the same transactions.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let a = a.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut c = a.client().await;
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let sql = format!(
                    "BEGIN TRAN; INSERT INTO dbo.Events (name, n) VALUES (N'e{i}', 0), (N'f{i}', 0); \
                     UPDATE dbo.Events SET n = n + 1 WHERE name = N'e{j}'; \
                     DELETE FROM dbo.Events WHERE name = N'f{k}'; \
                     UPDATE dbo.Counters SET v = v + 1 WHERE k = {m}; COMMIT;",
                    j = i / 2,
                    k = i.saturating_sub(3),
                    m = i % 3 + 1
                );
                let r = match c.simple_query(sql).await {
                    Ok(s) => s.into_results().await.map(|_| ()),
                    Err(e) => Err(e),
                };
                if r.is_err() {
                    c = a.client().await;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            i
        })
    };

    let mut logs = String::new();
    for round in 0..rounds {
        let agent = first.take().unwrap_or_else(|| setup.start_agent());
        let ms = rng.gen_range(150..900);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let log = agent.kill9();
        assert!(!log.contains(PASSWORD), "round {round}: password leaked");
        logs = log;
    }
    stop.store(true, Ordering::SeqCst);
    let written = writer.await.expect("writer");
    assert!(
        written > 50,
        "the stream barely ran ({written} transactions)"
    );

    let agent = setup.start_agent();
    let view = "SELECT name, n FROM dbo.Events ORDER BY name";
    let ok = eventually(Duration::from_secs(60), || async {
        a.rows(view).await == b.rows(view).await
            && a.rows("SELECT k, v FROM dbo.Counters ORDER BY k").await
                == b.rows("SELECT k, v FROM dbo.Counters ORDER BY k").await
    })
    .await;
    assert!(
        ok,
        "seed {seed}: did not converge after {rounds} kill -9 rounds; a has {}, b has {} events\nlast killed run:\n{logs}\nfinal run:\n{}",
        a.count("dbo.Events").await,
        b.count("dbo.Events").await,
        agent.log_text()
    );
    // No duplicates: names are unique on a, so they must be unique on b too.
    let dups = b
        .rows("SELECT name FROM dbo.Events GROUP BY name HAVING COUNT(*) > 1")
        .await;
    assert!(
        dups.is_empty(),
        "seed {seed}: duplicated rows on b: {dups:?}"
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}
