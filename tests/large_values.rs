//! Scenario: 10 MB values — an nvarchar(max) of 5,000,000 characters and a
//! varbinary(max) of 10,000,000 bytes — through a full load, streamed
//! inserts and updates, both ways. Batches and load chunks are bounded in
//! bytes (`sync.batch_bytes_max`), so each such row travels alone.

mod common;

use common::*;
use std::time::Duration;

const SCHEMA: &str =
    "CREATE TABLE dbo.Big (id INT NOT NULL PRIMARY KEY, body NVARCHAR(MAX) NULL, blob VARBINARY(MAX) NULL);";

fn text(seed: char, chars: usize) -> String {
    // Not one repeated character: a value cut or shifted anywhere shows.
    let alphabet: Vec<char> = ('a'..='z').chain(std::iter::once(seed)).collect();
    (0..chars)
        .map(|i| alphabet[(i * 7 + i / 1000) % alphabet.len()])
        .collect()
}

fn bytes(seed: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn put(sim: &Sim, sql: &str, id: i32, body: &str, blob: &[u8]) {
    let mut c = sim.client().await;
    c.execute(sql, &[&id, &body, &blob])
        .await
        .expect("write a large row");
}

/// (id, characters of body, bytes of blob, body, blob) of every row.
async fn rows(sim: &Sim) -> Vec<(i32, String, Vec<u8>)> {
    let mut c = sim.client().await;
    let rows = c
        .simple_query("SELECT id, body, blob FROM dbo.Big ORDER BY id")
        .await
        .expect("query")
        .into_first_result()
        .await
        .expect("rows");
    rows.iter()
        .map(|r| {
            (
                r.get::<i32, _>(0).unwrap_or(-1),
                r.get::<&str, _>(1).unwrap_or("").to_string(),
                r.get::<&[u8], _>(2).unwrap_or(&[]).to_vec(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_megabyte_values_load_and_stream_both_ways() {
    real_server_note();
    let a = Sim::start("BigA");
    let b = Sim::start("BigB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    const CHARS: usize = 5_000_000;
    const BYTES: usize = 10_000_000;
    let insert = "INSERT INTO dbo.Big (id, body, blob) VALUES (@P1, @P2, @P3)";
    put(&a, insert, 1, &text('1', CHARS), &bytes(1, BYTES)).await;
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.Big\n    key: [id]\n    direction: both\n    initial: full\n",
    );
    let agent = setup.start_agent();
    put(&a, insert, 2, &text('2', CHARS), &bytes(2, BYTES)).await;
    put(&b, insert, 3, &text('3', CHARS), &bytes(3, BYTES)).await;
    let ok = eventually(Duration::from_secs(120), || async {
        rows(&b).await.len() == 3 && rows(&a).await.len() == 3
    })
    .await;
    assert!(ok, "the large rows did not arrive:\n{}", agent.log_text());
    put(
        &b,
        "UPDATE dbo.Big SET id = @P1, body = @P2, blob = @P3 WHERE id = 1",
        1,
        &text('4', CHARS),
        &bytes(4, BYTES),
    )
    .await;
    let want = vec![
        (1, text('4', CHARS), bytes(4, BYTES)),
        (2, text('2', CHARS), bytes(2, BYTES)),
        (3, text('3', CHARS), bytes(3, BYTES)),
    ];
    let ok = eventually(Duration::from_secs(120), || async {
        rows(&a).await == want && rows(&b).await == want
    })
    .await;
    let (ra, rb) = (rows(&a).await, rows(&b).await);
    let summary = |r: &[(i32, String, Vec<u8>)]| {
        r.iter()
            .map(|(id, s, v)| format!("{id}: {} chars, {} bytes", s.chars().count(), v.len()))
            .collect::<Vec<_>>()
    };
    assert!(
        ok,
        "a {:?} b {:?}\n{}",
        summary(&ra),
        summary(&rb),
        agent.log_text()
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}

/// Files under `state/spill` (one per queued op larger than 64 KiB).
fn spill_files(setup: &Setup) -> usize {
    let Ok(d) = std::fs::read_dir(setup.dir.path().join("state").join("spill")) else {
        return 0;
    };
    d.flatten()
        .map(|q| std::fs::read_dir(q.path()).map_or(0, |f| f.count()))
        .sum()
}

/// Large operations are kept in files (`store::spill`): a kill -9 right
/// after the target committed a batch of them, before the store knew,
/// recovers that batch and writes the rest from their files, exactly; once
/// applied and durable the files are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spilled_operations_survive_a_crash_after_commit_and_are_removed_once_applied() {
    real_server_note();
    let a = Sim::start("SpillA");
    let b = Sim::start("SpillB");
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let setup = Setup::new(
        &a,
        &b,
        "  batch_bytes_max: 1048576\n",
        "  - table: dbo.Big\n    key: [id]\n    direction: a_to_b\n",
    );
    // The target refuses connections while the rows queue up, so all
    // four are in the queue (in files) before the first write.
    let mut agent = setup.start_agent_with(&[("CTSYNC_TEST_FAULT", "apply_after_target_commit")]);
    if let Some(s) = b.server() {
        s.controls().refuse_for(Duration::from_secs(3));
        s.controls().drop_connections();
    }
    let insert = "INSERT INTO dbo.Big (id, body, blob) VALUES (@P1, @P2, @P3)";
    for id in 1..=4 {
        put(
            &a,
            insert,
            id,
            &text(char::from(b'0' + id as u8), 300_000),
            &bytes(id as u8, 200_000),
        )
        .await;
    }
    let queued = eventually(Duration::from_secs(20), || async {
        spill_files(&setup) >= 1
    })
    .await;
    assert!(queued, "no operation was spilled:\n{}", agent.log_text());
    let status = agent.wait_exit(Duration::from_secs(30));
    assert!(
        matches!(status, Some(s) if !s.success()),
        "the agent should have aborted after a commit: {status:?}\n{}",
        agent.log_text()
    );
    let agent = setup.start_agent();
    let want: Vec<(i32, String, Vec<u8>)> = (1..=4)
        .map(|id| {
            (
                id,
                text(char::from(b'0' + id as u8), 300_000),
                bytes(id as u8, 200_000),
            )
        })
        .collect();
    let ok = eventually(Duration::from_secs(60), || async { rows(&b).await == want }).await;
    assert!(ok, "b: {} rows\n{}", rows(&b).await.len(), agent.log_text());
    let gone = eventually(Duration::from_secs(20), || async {
        spill_files(&setup) == 0
    })
    .await;
    assert!(gone, "{} spill files left", spill_files(&setup));
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}
