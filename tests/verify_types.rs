//! Scenario: `ctsync verify` over a table of every common column type, with
//! randomised drift: the same rows written to both stand-ins verify equal;
//! then random cells of b are changed (to another value or NULL), random
//! rows deleted on a and added on b, and verify must name exactly those
//! keys; `--repair` and one agent run make the sides equal again.
//!
//! The seed is printed; `CTSYNC_TEST_VERIFY_SEED=N` replays it.

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const WIDE: &str = "CREATE TABLE dbo.Wide (id INT NOT NULL PRIMARY KEY, t TINYINT NULL, s SMALLINT NULL, \
    big BIGINT NULL, bt BIT NULL, dec DECIMAL(38,10) NULL, m MONEY NULL, f FLOAT NULL, r REAL NULL, \
    d DATE NULL, tm TIME(7) NULL, dt DATETIME NULL, dt2 DATETIME2(7) NULL, dto DATETIMEOFFSET(3) NULL, \
    g UNIQUEIDENTIFIER NULL, c CHAR(5) NULL, vc VARCHAR(50) NULL, nv NVARCHAR(MAX) NULL, vb VARBINARY(MAX) NULL);";

const COLUMNS: [&str; 18] = [
    "t", "s", "big", "bt", "dec", "m", "f", "r", "d", "tm", "dt", "dt2", "dto", "g", "c", "vc",
    "nv", "vb",
];

const ROWS: i64 = 240;

/// A literal for column `col`; `n` picks the value (different `n`, different
/// value as the server stores it).
fn literal(col: &str, n: u32) -> String {
    let k = n as i64;
    match col {
        "t" => format!("{}", n % 256),
        "s" => format!("{}", k % 30_000 - 15_000),
        "big" => format!("{}", k * 7_919_000_000_001 - 4_000_000_000_000_000),
        "bt" => format!("{}", n % 2),
        "dec" => format!("{}.{:010}", k * 12_345_678_901 - 5_000_000_000, n),
        "m" => format!("{}.{:04}", k * 13 - 900, n % 10_000),
        "f" => format!("{:e}", (k as f64 + 0.1) / 7.0 * 1e-3),
        "r" => format!("{}", (k % 1000) as f32 / 8.0 + 0.5),
        "d" => format!(
            "'{:04}-{:02}-{:02}'",
            1900 + n % 200,
            1 + n % 12,
            1 + n % 28
        ),
        "tm" => format!("'{:02}:{:02}:{:02}.{:07}'", n % 24, n % 60, (n / 7) % 60, n),
        "dt" => format!(
            "'{:04}-03-{:02}T{:02}:00:00.000'",
            1990 + n % 30,
            1 + n % 28,
            n % 24
        ),
        "dt2" => format!("'2024-05-{:02}T10:11:12.{:07}'", 1 + n % 28, n),
        "dto" => format!(
            "'2023-07-{:02}T08:00:00.{:03} +0{}:00'",
            1 + n % 28,
            n % 1000,
            n % 9
        ),
        "g" => format!("'{:08X}-1234-4ABC-8DEF-{:012X}'", n, k * 31),
        "c" => format!("'c{:04}'", n % 10_000),
        "vc" => format!("'v|{n}:x'"),
        "nv" => format!("N'ü{n} | \u{1F600} {}'", "x".repeat((n % 50) as usize)),
        "vb" => format!("0x{:08X}{:04X}", n, n % 0x1_0000),
        _ => unreachable!("{col}"),
    }
}

fn row(id: i64, values: &[Option<u32>]) -> String {
    let v: Vec<String> = COLUMNS
        .iter()
        .zip(values)
        .map(|(c, v)| v.map_or("NULL".to_string(), |n| literal(c, n)))
        .collect();
    format!("({id}, {})", v.join(", "))
}

async fn insert(s: &Sim, rows: &[String]) {
    for chunk in rows.chunks(60) {
        s.exec(&format!(
            "INSERT INTO dbo.Wide (id, {}) VALUES {};",
            COLUMNS.join(", "),
            chunk.join(", ")
        ))
        .await;
    }
}

fn verify(setup: &Setup, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = setup.run_to_end(&[&["verify", "--json"], args].concat());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), v, text)
}

fn listed(t: &Value, list: &str, side: &str) -> BTreeSet<i64> {
    t[list]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x[side].as_i64())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_drift_in_every_column_type_is_found_and_repaired() {
    real_server_note();
    let seed: u64 = std::env::var("CTSYNC_TEST_VERIFY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!("verify_types: seed {seed} (CTSYNC_TEST_VERIFY_SEED={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let a = Sim::start("VerifyTypesA");
    let b = Sim::start("VerifyTypesB");
    a.exec(WIDE).await;
    b.exec(WIDE).await;
    // The same rows on both sides; about one cell in eight NULL.
    let mut cells: Vec<Vec<Option<u32>>> = Vec::new();
    for _ in 0..ROWS {
        cells.push(
            COLUMNS
                .iter()
                .map(|_| (!rng.gen_bool(0.125)).then(|| rng.gen_range(0..1_000_000)))
                .collect(),
        );
    }
    let rows: Vec<String> = cells
        .iter()
        .enumerate()
        .map(|(i, v)| row(i as i64 + 1, v))
        .collect();
    insert(&a, &rows).await;
    insert(&b, &rows).await;
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.Wide\n    key: [id]\n    direction: a_to_b\n",
    );
    let (code, v, text) = verify(&setup, &[]);
    assert_eq!(code, Some(0), "seed {seed}: {text}");
    assert_eq!(v["tables"][0]["rows_a"], ROWS, "{text}");

    // Drift: changed cells on b, rows deleted on a, rows added on b.
    let mut changed = BTreeSet::new();
    for _ in 0..rng.gen_range(5..25) {
        let id = rng.gen_range(1..=ROWS);
        let c = rng.gen_range(0..COLUMNS.len());
        let old = cells[(id - 1) as usize][c];
        let new = match old {
            Some(n) if rng.gen_bool(0.3) => {
                let _ = n;
                None
            }
            // Another value: n + 1 changes every type's stored value.
            Some(n) => Some(n + 1),
            None => Some(rng.gen_range(0..1_000_000)),
        };
        let col = COLUMNS[c];
        b.exec(&format!(
            "UPDATE dbo.Wide SET {col} = {} WHERE id = {id};",
            new.map_or("NULL".to_string(), |n| literal(col, n))
        ))
        .await;
        cells[(id - 1) as usize][c] = new;
        changed.insert(id);
    }
    let mut deleted = BTreeSet::new();
    for _ in 0..rng.gen_range(1..6) {
        let id = rng.gen_range(1..=ROWS);
        if changed.contains(&id) {
            continue;
        }
        a.exec(&format!("DELETE FROM dbo.Wide WHERE id = {id};"))
            .await;
        deleted.insert(id);
    }
    let added: BTreeSet<i64> = (0..rng.gen_range(1..6)).map(|i| ROWS + 10 + i).collect();
    let extra: Vec<String> = added
        .iter()
        .map(|id| row(*id, &[Some(7); COLUMNS.len()]))
        .collect();
    insert(&b, &extra).await;

    // A chunk size that makes the walk split ranges and page leaves.
    let out = setup
        .command(&["verify", "--json", "--repair"])
        .env("CTSYNC_TEST_VERIFY_CHUNK_ROWS", "16")
        .output()
        .expect("run ctsync verify");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "seed {seed}: {text}");
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let t = &v["tables"][0];
    assert_eq!(listed(t, "differ", "key_a"), changed, "seed {seed}: {t}");
    assert_eq!(
        listed(t, "missing_on_a", "key_b"),
        deleted.union(&added).copied().collect(),
        "seed {seed}: {t}"
    );
    assert!(
        listed(t, "missing_on_b", "key_a").is_empty(),
        "seed {seed}: {t}"
    );
    assert_eq!(
        t["repair"]["queued"],
        (changed.len() + deleted.len() + added.len()) as u64,
        "seed {seed}: {t}"
    );
    // The agent applies the corrections: b becomes a again.
    let agent = setup.start_agent();
    let view = format!(
        "SELECT id, {} FROM dbo.Wide ORDER BY id",
        COLUMNS.join(", ")
    );
    let ok = eventually(Duration::from_secs(60), || async {
        a.rows(&view).await == b.rows(&view).await
    })
    .await;
    assert!(
        ok,
        "seed {seed}: the repair did not converge:\n{}",
        agent.log_text()
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
    let (code, _, text) = verify(&setup, &[]);
    assert_eq!(code, Some(0), "seed {seed}: {text}");
}
