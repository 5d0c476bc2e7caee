//! The TDS protocol as SQL Server speaks it (MS-TDS), seen from clients:
//! tiberius and a hand-rolled raw client.

mod common;

use common::raw::{self, Raw};
use common::*;
use std::io::BufRead;
use std::time::Duration;
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::TokioAsyncWriteCompatExt;

async fn login_as(
    server: &mssql_sim::SimServer,
    user: &str,
    pw: &str,
    db: &str,
) -> Result<(), tiberius::error::Error> {
    let mut cfg = Config::new();
    cfg.host("127.0.0.1");
    cfg.port(server.addr().port());
    cfg.database(db);
    cfg.authentication(AuthMethod::sql_server(user, pw));
    cfg.encryption(EncryptionLevel::NotSupported);
    let tcp = TcpStream::connect(server.addr()).await.expect("tcp");
    Client::connect(cfg, tcp.compat_write()).await.map(|_| ())
}

/// Error 18456 names the login and nothing else (the reason goes to the
/// server's log only): docs/relational-databases/errors-events/mssqlserver-18456-database-engine-error.md
#[tokio::test]
async fn wrong_password_is_18456_and_the_server_goes_on() {
    let server = start();
    match login_as(&server, USER, "wrong", DB).await {
        Err(tiberius::error::Error::Server(e)) => {
            assert_eq!(e.code(), 18456);
            assert_eq!(e.message(), format!("Login failed for user '{USER}'."));
        }
        other => panic!("expected 18456, got {other:?}"),
    }
    // 4060 for a database the login cannot open
    // (docs/relational-databases/errors-events/database-engine-events-and-errors-4000-to-4999.md).
    match login_as(&server, USER, PASSWORD, "nosuchdb").await {
        Err(tiberius::error::Error::Server(e)) => assert_eq!(e.code(), 4060, "{}", e.message()),
        other => panic!("expected 4060, got {other:?}"),
    }
    let mut c = connect(&server).await;
    assert_eq!(rows(&mut c, "SELECT 1").await, vec![vec![int(1)]]);
}

#[test]
fn raw_client_logs_in_runs_a_batch_and_gets_attention_acknowledged() {
    let server = start();
    let mut r = Raw::connect(server.addr()).expect("connect");
    let ack = r.login(USER, PASSWORD, DB).expect("login");
    assert!(ack.contains(&0xAD), "LOGINACK token expected");
    assert!(raw::error_numbers(&ack).is_empty());
    r.send(&raw::packet(
        raw::SQL_BATCH,
        &raw::batch_payload("SELECT 1 AS one"),
    ))
    .expect("send");
    let reply = r.reply().expect("reply");
    assert_eq!(reply[0], 0x81, "COLMETADATA first");
    assert!(reply.contains(&0xD1), "a ROW token");
    assert_eq!(reply[reply.len() - 13], 0xFD, "DONE last");
    r.send(&raw::packet(
        raw::SQL_BATCH,
        &raw::batch_payload("SELECT FROM WHERE"),
    ))
    .expect("send");
    let reply = r.reply().expect("reply");
    assert_eq!(
        raw::error_numbers(&reply),
        vec![156],
        "156: incorrect syntax near the keyword FROM"
    );
    // ATTENTION is acknowledged by a DONE with the ATTN bit (MS-TDS 2.2.1.7).
    r.send(&raw::packet(raw::ATTENTION, &[])).expect("send");
    let reply = r.reply().expect("reply");
    assert_eq!(reply[0], 0xFD);
    assert_ne!(
        u16::from_le_bytes([reply[1], reply[2]]) & 0x20,
        0,
        "DONE_ATTN"
    );
}

#[test]
fn a_message_without_framing_closes_only_that_connection() {
    let server = start();
    let mut bad = Raw::connect(server.addr()).expect("connect");
    bad.login(USER, PASSWORD, DB).expect("login");
    // A header whose length is shorter than the header itself.
    bad.send(&[0x01, 0x01, 0x00, 0x04, 0, 0, 1, 0])
        .expect("send");
    assert!(
        bad.reply().is_err(),
        "the server closes a stream it cannot frame"
    );
    let mut good = Raw::connect(server.addr()).expect("connect");
    good.login(USER, PASSWORD, DB).expect("login");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_results_stream_and_many_clients_are_served() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.N (id INT PRIMARY KEY, t NVARCHAR(40))",
    )
    .await;
    let mut req = c.bulk_insert("dbo.N").await.expect("bulk");
    for i in 0..50_000 {
        let mut row = tiberius::TokenRow::new();
        row.push(tiberius::ColumnData::I32(Some(i)));
        row.push(tiberius::ColumnData::String(Some(
            format!("text {i}").into(),
        )));
        req.send(row).await.expect("row");
    }
    req.finalize().await.expect("finalize");
    let all = rows(&mut c, "SELECT id, t FROM dbo.N ORDER BY id").await;
    assert_eq!(all.len(), 50_000);
    let clients = futures_count(&server, 50).await;
    assert_eq!(clients, 50);
}

async fn futures_count(server: &mssql_sim::SimServer, n: usize) -> usize {
    let mut conns = Vec::new();
    for _ in 0..n {
        conns.push(connect(server).await);
    }
    let mut ok = 0;
    for c in conns.iter_mut() {
        if rows(c, "SELECT COUNT(*) FROM dbo.N").await == vec![vec![int(50_000)]] {
            ok += 1;
        }
    }
    ok
}

#[tokio::test]
async fn stop_and_restart_keep_the_data_on_the_same_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = mssql_sim::SimConfig::new(DB, USER, PASSWORD);
    cfg.data_file = Some(dir.path().join("db.sqlite"));
    let server = mssql_sim::SimServer::start(cfg).expect("start");
    let addr = server.addr();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.K (id INT PRIMARY KEY); INSERT INTO dbo.K VALUES (7)",
    )
    .await;
    drop(c);
    server.restart().expect("restart");
    assert_eq!(server.addr(), addr);
    let mut c = connect(&server).await;
    assert_eq!(
        rows(&mut c, "SELECT id FROM dbo.K").await,
        vec![vec![int(7)]]
    );
}

/// The binary: `listening on ADDR`, then SIGTERM stops it with exit 0, and
/// with `--data` the rows survive a new process.
#[tokio::test]
async fn the_binary_listens_and_stops_cleanly_on_sigterm() {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("bin.sqlite");
    for round in 0..2 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mssql-sim"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--database",
                DB,
                "--user",
                USER,
                "--password",
                PASSWORD,
                "--data",
            ])
            .arg(&data)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("line");
        let addr: std::net::SocketAddr = line
            .trim()
            .strip_prefix("listening on ")
            .expect("listening line")
            .parse()
            .expect("addr");
        let mut cfg = Config::new();
        cfg.host("127.0.0.1");
        cfg.port(addr.port());
        cfg.database(DB);
        cfg.authentication(AuthMethod::sql_server(USER, PASSWORD));
        cfg.encryption(EncryptionLevel::NotSupported);
        let tcp = TcpStream::connect(addr).await.expect("tcp");
        let mut c = Client::connect(cfg, tcp.compat_write())
            .await
            .expect("login");
        if round == 0 {
            exec(
                &mut c,
                "CREATE TABLE dbo.P (id INT PRIMARY KEY); INSERT INTO dbo.P VALUES (1)",
            )
            .await;
        } else {
            assert_eq!(
                rows(&mut c, "SELECT id FROM dbo.P").await,
                vec![vec![int(1)]]
            );
        }
        drop(c);
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            kill(child.id() as i32, 15);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(0));
    }
}
