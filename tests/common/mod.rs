//! What the agent's scenario tests share: two stand-ins ("a" and "b") on
//! `127.0.0.1:0`, a tiberius client for each, a config file, and the real
//! `ctsync` binary run as a child process (killed with SIGKILL or stopped with
//! SIGTERM like an operator or a power cut would).
//!
//! The same scenarios run against a real SQL Server when `CTSYNC_TEST_MSSQL`
//! holds a connection string; see [`real_server_note`].

#![allow(dead_code)]

use mssql_sim::server::{SimConfig, SimServer};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tiberius::{AuthMethod, Client, ColumnData, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

pub const USER: &str = "sa";
/// A password the tests look for in every output: it must never appear.
pub const PASSWORD: &str = "Pw#never-printed-7319";

/// Prints why the real-server variant of a scenario does not run here.
pub fn real_server_note() {
    if std::env::var_os("CTSYNC_TEST_MSSQL").is_none() {
        eprintln!("note: CTSYNC_TEST_MSSQL is not set; scenarios run against mssql-sim only (set it to an ADO connection string to run them against a real SQL Server too)");
    }
}

/// Where a scenario's server lives: a stand-in here, or a database created
/// for the test on the real SQL Server named by `CTSYNC_TEST_MSSQL` (an ADO
/// connection string, e.g. `server=tcp:localhost,1433;user=sa;password=...;
/// TrustServerCertificate=true`).
pub enum Backend {
    Sim(SimServer),
    Real {
        host: String,
        port: u16,
        user: String,
        password: String,
    },
}

/// One server of a scenario (a stand-in unless `CTSYNC_TEST_MSSQL` is set).
pub struct Sim {
    pub backend: Backend,
    pub database: String,
    /// A stand-in with TLS: the CA its certificate chains to (the test's
    /// own clients then connect with encryption required, validated).
    pub tls_ca: Option<PathBuf>,
}

fn real_server() -> Option<Config> {
    let ado = std::env::var("CTSYNC_TEST_MSSQL").ok()?;
    Some(
        Config::from_ado_string(&ado).unwrap_or_else(|e| {
            panic!("CTSYNC_TEST_MSSQL is not a valid ADO connection string: {e}")
        }),
    )
}

impl Sim {
    pub fn start(database: &str) -> Sim {
        if let Some(real) = real_server() {
            return Sim::start_real(real, database);
        }
        let server = SimServer::start(SimConfig::new(database, USER, PASSWORD))
            .unwrap_or_else(|e| panic!("stand-in {database} did not start: {e}"));
        Sim {
            backend: Backend::Sim(server),
            database: database.to_string(),
            tls_ca: None,
        }
    }

    /// A stand-in with a certificate (`tls`), whose clients here validate
    /// it against `ca`; `None` against a real server (its certificates are
    /// not the test's).
    pub fn start_tls(database: &str, tls: mssql_sim::TlsConfig, ca: &Path) -> Option<Sim> {
        if real_server().is_some() {
            return None;
        }
        let server = SimServer::start(SimConfig::new(database, USER, PASSWORD).with_tls(tls))
            .unwrap_or_else(|e| panic!("stand-in {database} did not start: {e}"));
        Some(Sim {
            backend: Backend::Sim(server),
            database: database.to_string(),
            tls_ca: Some(ca.to_path_buf()),
        })
    }

    /// A stand-in that appends every statement it receives to `log`, one
    /// line each (`None` against a real server: the scenario needs the
    /// stand-in's view).
    pub fn start_logged(database: &str, log: &std::path::Path) -> Option<Sim> {
        if real_server().is_some() {
            return None;
        }
        let mut config = SimConfig::new(database, USER, PASSWORD);
        config.log_statements = Some(log.to_path_buf());
        let server = SimServer::start(config)
            .unwrap_or_else(|e| panic!("stand-in {database} did not start: {e}"));
        Some(Sim {
            backend: Backend::Sim(server),
            database: database.to_string(),
            tls_ca: None,
        })
    }

    /// A fresh database on the real server, named after the scenario's.
    fn start_real(real: Config, database: &str) -> Sim {
        let ado = std::env::var("CTSYNC_TEST_MSSQL").unwrap_or_default();
        let field = |name: &str| {
            ado.split(';')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        let (user, password) = (field("user"), field("password"));
        let addr = real.get_addr().to_string();
        let (host, port) = addr
            .rsplit_once(':')
            .map(|(h, p)| (h.to_string(), p.parse().unwrap_or(1433)))
            .unwrap_or((addr.clone(), 1433));
        let name = format!("ctsync_test_{database}_{}", std::process::id());
        let create = format!(
            "IF DB_ID(N'{name}') IS NOT NULL DROP DATABASE [{name}]; CREATE DATABASE [{name}];"
        );
        run_on_master(real, &create);
        Sim {
            backend: Backend::Real {
                host,
                port,
                user,
                password,
            },
            database: name,
            tls_ca: None,
        }
    }

    pub fn is_sim(&self) -> bool {
        matches!(self.backend, Backend::Sim(_))
    }

    /// The stand-in's test controls; `None` on a real server, where the
    /// scenario that needs them prints a note and ends.
    pub fn server(&self) -> Option<&SimServer> {
        match &self.backend {
            Backend::Sim(s) => Some(s),
            Backend::Real { .. } => {
                eprintln!("note: this scenario needs the stand-in's test controls; skipped on a real SQL Server");
                None
            }
        }
    }

    pub fn host(&self) -> String {
        match &self.backend {
            Backend::Sim(_) => "127.0.0.1".into(),
            Backend::Real { host, .. } => host.clone(),
        }
    }

    pub fn port(&self) -> u16 {
        match &self.backend {
            Backend::Sim(s) => s.addr().port(),
            Backend::Real { port, .. } => *port,
        }
    }

    pub fn user(&self) -> String {
        match &self.backend {
            Backend::Sim(_) => USER.into(),
            Backend::Real { user, .. } => user.clone(),
        }
    }

    pub fn password(&self) -> String {
        match &self.backend {
            Backend::Sim(_) => PASSWORD.into(),
            Backend::Real { password, .. } => password.clone(),
        }
    }

    /// `encrypt` for the agent's config: the stand-in offers no TLS.
    pub fn encrypt_yaml(&self) -> &'static str {
        match &self.backend {
            Backend::Sim(_) => "encrypt: not_supported",
            Backend::Real { .. } => "encrypt: required, trust_server_certificate: true",
        }
    }

    fn tiberius_config(&self) -> Config {
        let mut config = Config::new();
        config.host(self.host());
        config.port(self.port());
        config.database(&self.database);
        config.authentication(AuthMethod::sql_server(self.user(), self.password()));
        if let Some(ca) = &self.tls_ca {
            config.encryption(EncryptionLevel::Required);
            config.trust_cert_ca(ca.display());
        } else if self.is_sim() {
            config.encryption(EncryptionLevel::NotSupported);
        } else {
            config.trust_cert();
        }
        config
    }

    pub async fn client(&self) -> Client<Compat<TcpStream>> {
        self.try_client()
            .await
            .unwrap_or_else(|e| panic!("{}: cannot connect: {e}", self.database))
    }

    /// Connects, retrying while the stand-in refuses (a cut link).
    pub async fn client_retry(&self) -> Client<Compat<TcpStream>> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.try_client().await {
                Ok(c) => return c,
                Err(e) if Instant::now() > deadline => {
                    panic!("{}: no connection in 30 s: {e}", self.database)
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    pub async fn try_client(&self) -> Result<Client<Compat<TcpStream>>, String> {
        let config = self.tiberius_config();
        let tcp = TcpStream::connect(config.get_addr())
            .await
            .map_err(|e| e.to_string())?;
        tcp.set_nodelay(true).ok();
        Client::connect(config, tcp.compat_write())
            .await
            .map_err(|e| e.to_string())
    }

    /// Runs a batch; panics with the server's message on error.
    pub async fn exec(&self, sql: &str) {
        let mut c = self.client().await;
        let stream = c
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{}: {sql}: {e}", self.database));
        stream
            .into_results()
            .await
            .unwrap_or_else(|e| panic!("{}: {sql}: {e}", self.database));
    }

    /// Runs a batch and returns the first result set, each cell as text
    /// (`NULL` for NULL), so tests can compare rows of both sides.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let mut c = self.client().await;
        let stream = c
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{}: {sql}: {e}", self.database));
        let rows = stream
            .into_first_result()
            .await
            .unwrap_or_else(|e| panic!("{}: {sql}: {e}", self.database));
        rows.into_iter()
            .map(|r| r.cells().map(|(_, d)| cell(d)).collect())
            .collect()
    }

    /// Like [`Sim::rows`], but a server error is returned, not a panic (a
    /// read that meets an injected failure).
    pub async fn try_rows(&self, sql: &str) -> Result<Vec<Vec<String>>, String> {
        let mut c = self.try_client().await?;
        let stream = c.simple_query(sql).await.map_err(|e| e.to_string())?;
        let rows = stream
            .into_first_result()
            .await
            .map_err(|e| e.to_string())?;
        Ok(rows
            .into_iter()
            .map(|r| r.cells().map(|(_, d)| cell(d)).collect())
            .collect())
    }

    pub async fn count(&self, table: &str) -> i64 {
        let r = self
            .rows(&format!("SELECT COUNT_BIG(*) FROM {table}"))
            .await;
        r[0][0].parse().expect("count")
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let (Backend::Real { .. }, Some(real)) = (&self.backend, real_server()) {
            let name = &self.database;
            run_on_master(
                real,
                &format!("ALTER DATABASE [{name}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [{name}];"),
            );
        }
    }
}

/// Runs `sql` on the real server's master database, on a thread of its own
/// (scenarios create their servers outside async code).
fn run_on_master(mut config: Config, sql: &str) {
    let sql = sql.to_string();
    config.database("master");
    let done = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let tcp = TcpStream::connect(config.get_addr())
                .await
                .map_err(|e| e.to_string())?;
            let mut c = Client::connect(config, tcp.compat_write())
                .await
                .map_err(|e| e.to_string())?;
            c.simple_query(sql)
                .await
                .map_err(|e| e.to_string())?
                .into_results()
                .await
                .map_err(|e| e.to_string())?;
            Ok::<(), String>(())
        })
    })
    .join();
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("real SQL Server: {e}"),
        Err(_) => panic!("real SQL Server: the set-up thread panicked"),
    }
}

pub fn cell(d: &ColumnData<'_>) -> String {
    fn opt<T: ToString>(v: Option<T>) -> String {
        v.map_or_else(|| "NULL".to_string(), |x| x.to_string())
    }
    match d {
        ColumnData::U8(v) => opt(*v),
        ColumnData::I16(v) => opt(*v),
        ColumnData::I32(v) => opt(*v),
        ColumnData::I64(v) => opt(*v),
        ColumnData::F32(v) => opt(*v),
        ColumnData::F64(v) => opt(*v),
        ColumnData::Bit(v) => opt(v.map(u8::from)),
        ColumnData::String(v) => opt(v.as_deref()),
        ColumnData::Guid(v) => opt(*v),
        ColumnData::Numeric(v) => opt(*v),
        ColumnData::Binary(v) => v.as_ref().map_or_else(
            || "NULL".to_string(),
            |b| {
                let mut s = String::from("0x");
                for x in b.iter() {
                    let _ = write!(s, "{x:02X}");
                }
                s
            },
        ),
        other => format!("{other:?}"),
    }
}

/// Polls `f` until it returns true or `limit` passes; returns whether it did.
/// A bound on waiting for convergence, not a performance assertion.
pub async fn eventually<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if f().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `ctsync` configuration for two stand-ins, written to a temp dir.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    passwords: [String; 2],
}

impl Setup {
    /// `tables_yaml` is the `tables:` list, indented by two spaces.
    pub fn new(a: &Sim, b: &Sim, sync_yaml: &str, tables_yaml: &str) -> Setup {
        Setup::new_via(a, b, None, None, sync_yaml, tables_yaml)
    }

    /// Like [`Setup::new`], with the agent reaching a and/or b through other
    /// ports (a [`LinkProxy`]).
    pub fn new_via(
        a: &Sim,
        b: &Sim,
        port_a: Option<u16>,
        port_b: Option<u16>,
        sync_yaml: &str,
        tables_yaml: &str,
    ) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config.yaml");
        let state = dir.path().join("state");
        let text = format!(
            "agent_id: test-agent\nstate_dir: {state}\nservers:\n  a: {{ host: {ha}, port: {pa}, database: {da}, user: {ua}, {ea} }}\n  b: {{ host: {hb}, port: {pb}, database: {db}, user: {ub}, {eb} }}\nsync:\n  poll_interval_ms: 100\n  enable_change_tracking: true\n{sync_yaml}tables:\n{tables_yaml}",
            state = state.display(),
            ha = a.host(),
            pa = port_a.unwrap_or_else(|| a.port()),
            da = a.database,
            ua = a.user(),
            ea = a.encrypt_yaml(),
            hb = b.host(),
            pb = port_b.unwrap_or_else(|| b.port()),
            db = b.database,
            ub = b.user(),
            eb = b.encrypt_yaml(),
        );
        std::fs::write(&config, text).expect("write config");
        Setup {
            dir,
            config,
            passwords: [a.password(), b.password()],
        }
    }

    /// Gives the agent another `agent_id` (several agents on one server).
    pub fn set_agent_id(&self, id: &str) {
        let text = std::fs::read_to_string(&self.config).expect("read config");
        let text = text.replacen("agent_id: test-agent", &format!("agent_id: {id}"), 1);
        std::fs::write(&self.config, text).expect("write config");
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ctsync"));
        c.args(args)
            .arg("--config")
            .arg(&self.config)
            .env("CTSYNC_SERVERS__A__PASSWORD", &self.passwords[0])
            .env("CTSYNC_SERVERS__B__PASSWORD", &self.passwords[1])
            .env("RUST_LOG", "info");
        c
    }

    /// Runs a short command (`check`, `inspect`, `parked ...`) to completion.
    pub fn run_to_end(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("run ctsync");
        assert_no_password(&out);
        out
    }

    /// Starts `ctsync run`; its log goes to `agent-N.log` in the temp dir.
    pub fn start_agent(&self) -> Agent {
        self.start_agent_with(&[])
    }

    /// Starts `ctsync run` with extra environment variables (e.g.
    /// `CTSYNC_TEST_FAULT` to crash it at a named point).
    /// Starts `ctsync run` and waits until `inspect --json` satisfies `ready`
    /// (for tables whose start is an initial load, not a first capture).
    pub fn start_agent_until(&self, ready: impl Fn(&serde_json::Value) -> bool) -> Agent {
        let mut agent = self.spawn_agent(&[]);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(Some(status)) = agent.child.try_wait() {
                panic!("ctsync run exited early ({status}):\n{}", agent.log_text());
            }
            let out = self.run_to_end(&["inspect", "--json"]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            if v["agent_running"].as_bool() == Some(true) && ready(&v) {
                return agent;
            }
            if Instant::now() > deadline {
                panic!("ctsync run not ready after 120 s:\n{}", agent.log_text());
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Starts `ctsync run` without waiting for it to be ready (several
    /// agents started together); see [`Setup::wait_ready`].
    pub fn spawn(&self) -> Agent {
        self.spawn_agent(&[])
    }

    pub fn start_agent_with(&self, env: &[(&str, &str)]) -> Agent {
        let mut agent = self.spawn_agent(env);
        self.wait_ready(&mut agent);
        agent
    }

    /// Starts `ctsync run` with `env`, without waiting for it to be ready
    /// (it may end before it is).
    pub fn spawn_agent(&self, env: &[(&str, &str)]) -> Agent {
        let n = std::fs::read_dir(self.dir.path())
            .map(|d| d.count())
            .unwrap_or(0);
        let log = self.dir.path().join(format!("agent-{n}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let err = file.try_clone().expect("log file");
        let mut command = self.command(&["run"]);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn ctsync run");
        Agent { child, log }
    }

    /// Waits until the running agent has a watermark for every table and
    /// direction (its first capture happened), asking it with the real
    /// `ctsync inspect --json`. Changes made before that point are, with
    /// `initial: none`, not part of the sync by design.
    pub fn wait_ready(&self, agent: &mut Agent) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = agent.child.try_wait() {
                panic!("ctsync run exited early ({status}):\n{}", agent.log_text());
            }
            let out = self.run_to_end(&["inspect", "--json"]);
            if out.status.success() {
                let v: serde_json::Value =
                    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
                let running = v["agent_running"].as_bool() == Some(true);
                let tables = v["tables"].as_array().cloned().unwrap_or_default();
                if running && !tables.is_empty() && tables.iter().all(|t| !t["watermark"].is_null())
                {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!("ctsync run not ready after 60 s:\n{}", agent.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub fn assert_no_password(out: &Output) {
    for s in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(s);
        assert!(!text.contains(PASSWORD), "the password leaked: {text}");
    }
}

/// A running `ctsync run`.
pub struct Agent {
    pub child: Child,
    pub log: PathBuf,
}

impl Agent {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no chance to flush or roll back anything.
    pub fn kill9(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log_text()
    }

    /// SIGTERM, then the exit code.
    /// Waits for the agent to exit by itself (an injected fault); `None`
    /// if it still runs after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn terminate(mut self) -> (Option<i32>, String) {
        let pid = self.child.id() as i32;
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc_kill(pid, 15);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = self.log_text();
                assert!(!log.contains(PASSWORD), "the password leaked: {log}");
                return (status.code(), log);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "ctsync did not stop within 30 s of SIGTERM:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// A TCP proxy standing for the network link between the agent and one
/// server: the agent connects through it, the test's own clients go to the
/// server directly. `set_down(true)` cuts every connection through it and
/// refuses new ones (the link is down, the server keeps working for its
/// local users); `set_down(false)` brings the link back. `freeze()` makes
/// the connections open now silent (kept open, nothing forwarded either
/// way, as a link that drops packets without a reset); new ones go
/// through. Runs on a thread of its own.
pub struct LinkProxy {
    port: u16,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// 1 + the generation whose connections are frozen (0: none).
    frozen: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: Option<std::sync::mpsc::Sender<()>>,
}

impl LinkProxy {
    pub fn start(target: std::net::SocketAddr) -> LinkProxy {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::Arc;
        let down = Arc::new(AtomicBool::new(false));
        let generation = Arc::new(AtomicU64::new(0));
        let frozen = Arc::new(AtomicU64::new(0));
        let f = frozen.clone();
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let (d, g) = (down.clone(), generation.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("proxy bind");
                let _ = port_tx.send(listener.local_addr().expect("addr").port());
                loop {
                    if stop_rx.try_recv().is_ok() {
                        break;
                    }
                    let accepted =
                        tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
                    let Ok(Ok((mut inbound, _))) = accepted else {
                        continue;
                    };
                    if d.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let (d2, g2, f2) = (d.clone(), g.clone(), f.clone());
                    let mine = g2.load(Ordering::SeqCst);
                    tokio::spawn(async move {
                        let Ok(mut outbound) = TcpStream::connect(target).await else {
                            return;
                        };
                        let _ = outbound.set_nodelay(true);
                        let _ = inbound.set_nodelay(true);
                        let silent = {
                            let pipe = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                            tokio::pin!(pipe);
                            loop {
                                tokio::select! {
                                    _ = &mut pipe => break false,
                                    _ = tokio::time::sleep(Duration::from_millis(20)) => {
                                        if f2.load(Ordering::SeqCst) == mine + 1 {
                                            break true;
                                        }
                                        if d2.load(Ordering::SeqCst) || g2.load(Ordering::SeqCst) != mine {
                                            break false;
                                        }
                                    }
                                }
                            }
                        };
                        // Frozen: both sockets stay open, nothing moves.
                        while silent && !d2.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        drop((inbound, outbound));
                    });
                }
            });
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("proxy started");
        LinkProxy {
            port,
            down,
            generation,
            frozen,
            stop: Some(stop_tx),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// Makes the connections open now silent; new ones go through.
    pub fn freeze(&self) {
        use std::sync::atomic::Ordering;
        let g = self.generation.load(Ordering::SeqCst);
        self.frozen.store(g + 1, Ordering::SeqCst);
        self.generation.store(g + 1, Ordering::SeqCst);
    }

    /// Cuts the connections open now; new ones go through.
    pub fn cut(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}
