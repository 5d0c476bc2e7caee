//! What the stand-in's benchmarks share: a stand-in on disk (like the
//! agent's benchmarks, not an in-memory shortcut) and one tiberius client
//! logged in to it over TCP.

use mssql_sim::{SimConfig, SimServer};
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

pub type Conn = Client<Compat<TcpStream>>;

/// A client of a running stand-in (database `Bench`); the stand-in and its
/// data directory live as long as this (kept only to be dropped last).
pub struct Bench {
    _server: SimServer,
    _dir: tempfile::TempDir,
    pub client: Conn,
}

pub async fn start() -> Bench {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sc = SimConfig::new("Bench", "sa", "Bench#1");
    sc.data_file = Some(dir.path().join("bench.sqlite"));
    let server = SimServer::start(sc).expect("start");
    let mut cfg = Config::new();
    cfg.host("127.0.0.1");
    cfg.port(server.addr().port());
    cfg.database("Bench");
    cfg.authentication(AuthMethod::sql_server("sa", "Bench#1"));
    cfg.encryption(EncryptionLevel::NotSupported);
    let tcp = TcpStream::connect(server.addr()).await.expect("tcp");
    tcp.set_nodelay(true).expect("nodelay");
    let client = Client::connect(cfg, tcp.compat_write())
        .await
        .expect("login");
    Bench {
        _server: server,
        _dir: dir,
        client,
    }
}
