//! The listener, connections and test controls of the stand-in.
//!
//! One OS thread per connection: sessions are blocking (SQLite), so there is
//! no async runtime in the server. The server is written against the
//! [`Backend`] / [`BackendSession`] traits, implemented by the real
//! [`Engine`] and, in tests, by fakes.

mod calls;
mod conn;
mod prepared;
mod tls;

pub use tls::{TlsConfig, TlsSetupError};

use crate::controls::Controls;
use crate::engine::{BulkRows, Engine, EngineOptions, Isolation, ResultSink, Session};
use crate::error::SqlError;
use crate::value::{ColumnMeta, Param};
use parking_lot::Mutex;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Connections served at once; more are accepted and closed immediately.
pub const MAX_CONNECTIONS: usize = 256;

/// Stack of a connection thread.
const CONNECTION_STACK_BYTES: usize = 64 * 1024 * 1024;

/// How to start a stand-in.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub listen: SocketAddr,
    pub database: String,
    pub user: String,
    pub password: String,
    pub data_file: Option<PathBuf>,
    pub log_statements: Option<PathBuf>,
    /// A certificate and key: PRELOGIN then offers encryption (and TDS 8.0
    /// strict is accepted). Without one the stand-in answers
    /// ENCRYPT_NOT_SUP, as a SQL Server without a certificate would.
    pub tls: Option<TlsConfig>,
}

impl SimConfig {
    /// A stand-in on `127.0.0.1:0` (any free port) with an in-memory database.
    pub fn new(database: &str, user: &str, password: &str) -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: database.to_string(),
            user: user.to_string(),
            password: password.to_string(),
            data_file: None,
            log_statements: None,
            tls: None,
        }
    }

    /// The same, with TLS from a PEM certificate (chain) and key.
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }
}

/// Why a stand-in could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Engine(#[from] SqlError),
    #[error("cannot start the accept thread: {0}")]
    Thread(std::io::Error),
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
}

/// What the server needs from a database: the contract between the network
/// layer and the engine, as a trait so the protocol can be tested against a
/// fake.
///
/// Contract: `open_session` is called once per successful LOGIN7 (after the
/// credentials and database were checked) and the session is used from that
/// connection's thread only. Every request ends with the session having
/// reported each statement's end through [`ResultSink::done`] (the server adds
/// the final DONE/DONEPROC framing). `close` is called exactly once, when the
/// connection ends for any reason, and must roll back an open transaction.
pub trait Backend: Send + Sync {
    /// The one database clients may log in to (`DB_NAME()`).
    fn database(&self) -> String;
    fn open_session(&self, user: &str) -> Result<Box<dyn BackendSession>, SqlError>;
}

/// One connection's session; see [`Backend`] for the contract. The methods
/// mirror [`Session`]'s.
pub trait BackendSession: Send {
    /// A SQL batch (no parameters) or an `sp_executesql` statement.
    fn execute(&mut self, sql: &str, params: &[Param], out: &mut dyn ResultSink);
    fn tm_begin(&mut self, isolation: Option<Isolation>, out: &mut dyn ResultSink);
    fn tm_commit(&mut self, out: &mut dyn ResultSink);
    fn tm_rollback(&mut self, out: &mut dyn ResultSink);
    /// BULK LOAD rows after an `INSERT BULK` statement.
    fn bulk_load(
        &mut self,
        columns: &[ColumnMeta],
        rows: &mut BulkRows<'_>,
        out: &mut dyn ResultSink,
    );
    /// The open transaction's descriptor, 0 when none.
    fn transaction_descriptor(&self) -> u64;
    /// Whether the request just run committed with the test control
    /// `cut_after_commit` armed: the server then drops the connection
    /// instead of sending the reply. Clears the mark.
    fn take_cut_connection(&mut self) -> bool {
        false
    }
    fn close(&mut self);
}

impl Backend for Arc<Engine> {
    fn database(&self) -> String {
        Engine::database(self).to_string()
    }
    fn open_session(&self, user: &str) -> Result<Box<dyn BackendSession>, SqlError> {
        Ok(Box::new(Engine::session(self, user)?))
    }
}

impl BackendSession for Session {
    fn execute(&mut self, sql: &str, params: &[Param], out: &mut dyn ResultSink) {
        Session::execute(self, sql, params, out)
    }
    fn tm_begin(&mut self, isolation: Option<Isolation>, out: &mut dyn ResultSink) {
        Session::tm_begin(self, isolation, out)
    }
    fn tm_commit(&mut self, out: &mut dyn ResultSink) {
        Session::tm_commit(self, out)
    }
    fn tm_rollback(&mut self, out: &mut dyn ResultSink) {
        Session::tm_rollback(self, out)
    }
    fn bulk_load(
        &mut self,
        columns: &[ColumnMeta],
        rows: &mut BulkRows<'_>,
        out: &mut dyn ResultSink,
    ) {
        Session::bulk_load(self, columns, rows, out)
    }
    fn transaction_descriptor(&self) -> u64 {
        Session::transaction_descriptor(self)
    }
    fn take_cut_connection(&mut self) -> bool {
        Session::take_cut_connection(self)
    }
    fn close(&mut self) {
        Session::close(self)
    }
}

/// State shared by the accept thread and the connection threads.
pub(crate) struct Shared {
    pub config: SimConfig,
    pub backend: Arc<dyn Backend>,
    pub controls: Arc<Controls>,
    pub tls: Option<tls::Tls>,
    pub active: AtomicUsize,
    pub stopping: AtomicBool,
}

/// A running stand-in.
pub struct SimServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    engine: Option<Arc<Engine>>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl SimServer {
    /// Opens the engine (from `config.data_file` if given) and listens.
    pub fn start(config: SimConfig) -> Result<SimServer, SimError> {
        let controls = Arc::new(Controls::default());
        controls.set_log_statements(config.log_statements.is_some());
        let engine = Engine::open(EngineOptions {
            database: config.database.clone(),
            data_file: config.data_file.clone(),
            log_statements: config.log_statements.clone(),
            controls: controls.clone(),
        })?;
        let backend: Arc<dyn Backend> = Arc::new(engine.clone());
        Self::start_inner(config, backend, controls, Some(engine))
    }

    /// Listens with any backend (tests use fakes).
    pub fn start_with_backend(
        config: SimConfig,
        backend: Arc<dyn Backend>,
    ) -> Result<SimServer, SimError> {
        Self::start_inner(config, backend, Arc::new(Controls::default()), None)
    }

    fn start_inner(
        config: SimConfig,
        backend: Arc<dyn Backend>,
        controls: Arc<Controls>,
        engine: Option<Arc<Engine>>,
    ) -> Result<SimServer, SimError> {
        let tls = config.tls.as_ref().map(tls::Tls::load).transpose()?;
        let listener = TcpListener::bind(config.listen).map_err(|source| SimError::Listen {
            addr: config.listen,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| SimError::Listen {
            addr: config.listen,
            source,
        })?;
        let shared = Arc::new(Shared {
            config,
            backend,
            controls,
            tls,
            active: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
        });
        let handle = spawn_accept(listener, shared.clone())?;
        Ok(SimServer {
            addr,
            shared,
            engine,
            accept: Mutex::new(Some(handle)),
        })
    }

    /// The bound address (the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn controls(&self) -> &Controls {
        &self.shared.controls
    }

    /// The shared controls, for handing to other threads.
    pub fn controls_arc(&self) -> Arc<Controls> {
        self.shared.controls.clone()
    }

    /// Test control: the next `count` COMMITs of user transactions that take
    /// effect, on any connection, are followed by that connection being
    /// dropped before the reply is sent (the commit stands; the client sees a
    /// broken connection). `EXEC mssql_sim.cut_after_commit @count = N` does
    /// the same; 0 disarms.
    pub fn cut_after_commit(&self, count: u64) {
        self.shared.controls.cut_after_commit(count);
    }

    /// The engine, when started with [`SimServer::start`].
    pub fn engine(&self) -> Option<&Arc<Engine>> {
        self.engine.as_ref()
    }

    /// Stops listening and cuts every connection (their sessions roll back).
    /// The data stays; [`SimServer::restart`] listens again.
    pub fn stop(&self) {
        let Some(handle) = self.accept.lock().take() else {
            return;
        };
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept; it sees `stopping` and exits.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let _ = handle.join();
        self.shared.controls.drop_connections();
        // Give connection threads a moment to close their sessions, so a
        // restart sees their transactions rolled back.
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.shared.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops (if running) and listens again on the same address with the same
    /// data.
    pub fn restart(&self) -> Result<(), SimError> {
        self.stop();
        let listener = bind_retry(self.addr)?;
        self.shared.stopping.store(false, Ordering::SeqCst);
        let handle = spawn_accept(listener, self.shared.clone())?;
        *self.accept.lock() = Some(handle);
        Ok(())
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Re-binding right after closing can briefly fail while the old socket
/// is torn down; retry for a short while.
fn bind_retry(addr: SocketAddr) -> Result<TcpListener, SimError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(addr) {
            Ok(l) => return Ok(l),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(source) => return Err(SimError::Listen { addr, source }),
        }
    }
}

fn spawn_accept(listener: TcpListener, shared: Arc<Shared>) -> Result<JoinHandle<()>, SimError> {
    std::thread::Builder::new()
        .name("mssql-sim-accept".into())
        .spawn(move || accept_loop(listener, shared))
        .map_err(SimError::Thread)
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                // Avoid spinning when out of file descriptors.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if shared.controls.refusing() {
            // Test control: the client sees the connection closed at once.
            drop(stream);
            continue;
        }
        if shared.active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            tracing::warn!("refusing a connection: {MAX_CONNECTIONS} already open");
            drop(stream);
            continue;
        }
        shared.active.fetch_add(1, Ordering::SeqCst);
        let sh = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("mssql-sim-conn".into())
            // Statements are parsed and translated recursively; a long
            // chain of ORs or nested expressions needs depth. SQL Server
            // accepts thousands of OR terms, so give each connection room
            // (virtual memory; only touched pages cost).
            .stack_size(CONNECTION_STACK_BYTES)
            .spawn(move || conn::serve(stream, sh));
        if let Err(e) = spawned {
            tracing::warn!("cannot start a connection thread: {e}");
            shared.active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
