//! Robustness: a few thousand random and mutated packets (flipped bytes,
//! truncations, absurd lengths, bad UTF-16, wrong packet types) at one
//! running stand-in, over several connections. Each gets an error or a clean
//! close of that one connection; afterwards a normal client still connects
//! and queries, and every fuzzing connection is gone from the server.
//! The seed is printed so a failure can be replayed (`CTSYNC_FUZZ_SEED`).

mod common;

use common::raw::{self, Raw};
use common::*;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

const CASES: usize = 3_000;

fn valid_messages() -> Vec<Vec<u8>> {
    vec![
        raw::packet(raw::PRELOGIN, &raw::prelogin_payload()),
        raw::packet(raw::LOGIN7, &raw::login_payload(USER, PASSWORD, DB)),
        raw::packet(raw::SQL_BATCH, &raw::batch_payload("SELECT 1, N'x'")),
        raw::packet(
            raw::SQL_BATCH,
            &raw::batch_payload("INSERT INTO dbo.F VALUES (1)"),
        ),
        raw::packet(raw::RPC, &{
            let mut v = raw::batch_payload("");
            v.extend_from_slice(&[0xFF, 0xFF, 10, 0, 0, 0]);
            v
        }),
        raw::packet(raw::TM, &{
            let mut v = raw::batch_payload("");
            v.extend_from_slice(&[5, 0, 0, 0]);
            v
        }),
        raw::packet(
            raw::BULK,
            &[0x81, 1, 0, 0, 0, 0, 0, 9, 0, 0x26, 4, 1, b'c', 0],
        ),
        raw::packet(raw::ATTENTION, &[]),
    ]
}

fn mutate(rng: &mut rand::rngs::StdRng, base: &[u8]) -> Vec<u8> {
    let mut m = base.to_vec();
    match rng.gen_range(0..7) {
        0 => {
            for _ in 0..rng.gen_range(1..8) {
                let i = rng.gen_range(0..m.len());
                m[i] ^= 1 << rng.gen_range(0..8);
            }
        }
        1 => m.truncate(rng.gen_range(0..m.len())),
        2 => {
            // An absurd length in the header.
            let len: u16 = rng.gen();
            m[2..4].copy_from_slice(&len.to_be_bytes());
        }
        3 => m[0] = rng.gen(),
        4 => {
            // Lone surrogates in what should be UTF-16.
            m.extend_from_slice(&[0x00, 0xD8, 0x00, 0xD8]);
            let len = m.len() as u16;
            m[2..4].copy_from_slice(&len.to_be_bytes());
        }
        5 => {
            let n = rng.gen_range(1..2_000);
            m = (0..n).map(|_| rng.gen()).collect();
        }
        _ => {
            // Not the end of the message: the server waits for more.
            m[1] = 0;
        }
    }
    m
}

#[test]
fn thousands_of_bad_packets_leave_the_server_serving() {
    let seed: u64 = std::env::var("CTSYNC_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("fuzz seed {seed} (replay with CTSYNC_FUZZ_SEED={seed})");
    let server = start();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut c = connect(&server).await;
        exec(&mut c, "CREATE TABLE dbo.F (id INT PRIMARY KEY)").await;
    });
    // The set-up client has gone: wait for the server to see it.
    let settle = Instant::now() + Duration::from_secs(5);
    while server.controls().open_connections() > 0 && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(10));
    }
    let baseline = server.controls().open_connections();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let valid = valid_messages();
    let mut case = 0;
    while case < CASES {
        let Ok(mut conn) = Raw::connect(server.addr()) else {
            continue;
        };
        conn.s.set_read_timeout(Some(Duration::from_secs(2))).ok();
        // Sometimes log in first, so post-login decoding is fuzzed too.
        if rng.gen_bool(0.5) {
            let _ = conn.login(USER, PASSWORD, DB);
        }
        for _ in 0..rng.gen_range(1..12) {
            case += 1;
            let base = &valid[rng.gen_range(0..valid.len())];
            let m = mutate(&mut rng, base);
            if conn.send(&m).is_err() {
                break;
            }
        }
        // End of input: the server answers what it could and closes; read
        // until then (an error or a close is fine, a hang is not).
        let _ = conn.s.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut conn.s, &mut sink);
        drop(conn);
    }
    // Every fuzzing connection closes on the server side.
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.controls().open_connections() > baseline && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        server.controls().open_connections(),
        baseline,
        "connections left open (seed {seed})"
    );
    // A normal client still connects and queries.
    rt.block_on(async {
        let mut c = connect(&server).await;
        exec(&mut c, "INSERT INTO dbo.F VALUES (42)").await;
        let r = rows(&mut c, "SELECT COUNT(*) FROM dbo.F WHERE id = 42").await;
        assert_eq!(r, vec![vec![int(1)]], "seed {seed}");
    });
}
