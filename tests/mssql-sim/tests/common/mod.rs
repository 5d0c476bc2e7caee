//! Helpers of the engine's TCP conformance tests: a stand-in on a free port
//! and tiberius clients connected to it.
#![allow(dead_code)]

pub mod certs;
pub mod python;
pub mod raw;

use mssql_sim::{SimConfig, SimServer};
use tiberius::{AuthMethod, Client, ColumnData, Config, EncryptionLevel, Query};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

pub type Conn = Client<Compat<TcpStream>>;

pub const DB: &str = "testdb";
pub const USER: &str = "sa";
pub const PASSWORD: &str = "Secret-123";

pub fn start() -> SimServer {
    SimServer::start(SimConfig::new(DB, USER, PASSWORD)).expect("the stand-in starts")
}

pub async fn connect(server: &SimServer) -> Conn {
    let mut cfg = Config::new();
    cfg.host("127.0.0.1");
    cfg.port(server.addr().port());
    cfg.database(DB);
    cfg.authentication(AuthMethod::sql_server(USER, PASSWORD));
    cfg.encryption(EncryptionLevel::NotSupported);
    cfg.trust_cert();
    let tcp = TcpStream::connect(server.addr())
        .await
        .expect("tcp connect");
    tcp.set_nodelay(true).expect("nodelay");
    Client::connect(cfg, tcp.compat_write())
        .await
        .expect("login")
}

/// Runs a batch, failing the test on error.
pub async fn exec(c: &mut Conn, sql: &str) {
    c.simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_results()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The first result set of a batch as raw column data.
pub async fn rows(c: &mut Conn, sql: &str) -> Vec<Vec<ColumnData<'static>>> {
    let results = c
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_results()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    results
        .into_iter()
        .next()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.into_iter().collect())
        .collect()
}

/// The SQL Server error a statement raises (number, message).
pub async fn error_of(c: &mut Conn, sql: &str) -> (u32, String) {
    let r = match c.simple_query(sql).await {
        Ok(s) => s.into_results().await.map(|_| ()),
        Err(e) => Err(e),
    };
    match r {
        Err(tiberius::error::Error::Server(e)) => (e.code(), e.message().to_string()),
        Err(other) => panic!("{sql}: expected a server error, got {other}"),
        Ok(()) => panic!("{sql}: expected an error"),
    }
}

/// The error a parameterized query raises.
pub async fn query_error(c: &mut Conn, q: Query<'_>) -> (u32, String) {
    let r = match q.query(c).await {
        Ok(s) => s.into_results().await.map(|_| ()),
        Err(e) => Err(e),
    };
    match r {
        Err(tiberius::error::Error::Server(e)) => (e.code(), e.message().to_string()),
        Err(other) => panic!("expected a server error, got {other}"),
        Ok(()) => panic!("expected an error"),
    }
}

pub fn int(v: i32) -> ColumnData<'static> {
    ColumnData::I32(Some(v))
}

pub fn text(v: &str) -> ColumnData<'static> {
    ColumnData::String(Some(v.to_string().into()))
}
