//! Scenario: `ctsync run` as a systemd `Type=notify` service
//! (`deploy/ctsync.service`). The test plays the service manager: it binds
//! the Unix datagram socket systemd would, hands it over in `NOTIFY_SOCKET`
//! with a watchdog of 1 s (`WATCHDOG_USEC`), and the passwords the way the
//! unit does (credential files in `CREDENTIALS_DIRECTORY`, named by
//! `CTSYNC_SERVERS__<A|B>__PASSWORD_FILE`). It then reads what the real
//! binary sends: `READY=1` once a change made afterwards is synced,
//! `WATCHDOG=1` every half second while the loops run, `STOPPING=1` on
//! SIGTERM; a loop that dies stops the pings and the agent exits 1. Without
//! `NOTIFY_SOCKET` nothing is sent and the agent runs as before. The unit
//! file itself passes `systemd-analyze verify` where it is installed.

mod common;

use common::*;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SCHEMA: &str =
    "CREATE TABLE dbo.Notes (id INT NOT NULL PRIMARY KEY, note NVARCHAR(50) NULL);";
const TABLES: &str = "  - table: dbo.Notes
    key: [id]
    direction: a_to_b
";
const RETRY: &str = "  retry: { initial_backoff_ms: 20, max_backoff_ms: 200, max_attempts: 3 }\n";
const NOTES: &str = "SELECT id, note FROM dbo.Notes ORDER BY id";

/// The notification socket, as the service manager binds it: every
/// datagram received, with when it came.
struct NotifySocket {
    path: std::path::PathBuf,
    received: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl NotifySocket {
    fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        let received = Arc::new(Mutex::new(Vec::new()));
        let into = received.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            // Ends with the test process.
            while let Ok(n) = socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                into.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((Instant::now(), text));
            }
        });
        NotifySocket { path, received }
    }

    fn messages(&self) -> Vec<(Instant, String)> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every `KEY=value` line received, in order, with when it came.
    fn lines(&self) -> Vec<(Instant, String)> {
        self.messages()
            .into_iter()
            .flat_map(|(at, m)| m.lines().map(|l| (at, l.to_string())).collect::<Vec<_>>())
            .collect()
    }

    /// When the first line starting with `line` came.
    fn when(&self, line: &str) -> Option<Instant> {
        self.lines()
            .into_iter()
            .find(|(_, l)| l.starts_with(line))
            .map(|(at, _)| at)
    }

    fn wait_for(&self, agent: &mut Agent, line: &str, limit: Duration) -> Instant {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(at) = self.when(line) {
                return at;
            }
            if let Ok(Some(status)) = agent.child.try_wait() {
                // Whatever it sent before it exited has arrived by now.
                std::thread::sleep(Duration::from_millis(100));
                if let Some(at) = self.when(line) {
                    return at;
                }
                panic!(
                    "ctsync exited ({status}) without sending {line}; got {:?}\n{}",
                    self.lines(),
                    agent.log_text()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "no {line} within {limit:?}; got {:?}\n{}",
                    self.lines(),
                    agent.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn count(&self, line: &str, after: Instant) -> usize {
        self.lines()
            .iter()
            .filter(|(at, l)| l == line && *at >= after)
            .count()
    }
}

async fn pair(a_name: &str, b_name: &str) -> (Sim, Sim, Setup) {
    real_server_note();
    let a = Sim::start(a_name);
    let b = Sim::start(b_name);
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
    let setup = Setup::new(&a, &b, RETRY, TABLES);
    (a, b, setup)
}

/// `ctsync run` with the environment systemd gives `deploy/ctsync.service`:
/// the passwords as credential files (`%d/db-a-password`), no password in
/// the environment, `NOTIFY_SOCKET` (when given) and `WATCHDOG_USEC`.
fn spawn_as_service(
    setup: &Setup,
    a: &Sim,
    b: &Sim,
    notify: Option<&Path>,
    extra: &[(&str, &str)],
) -> Agent {
    let creds = setup.dir.path().join("credentials");
    std::fs::create_dir_all(&creds).expect("credentials dir");
    std::fs::write(creds.join("db-a-password"), a.password()).expect("credential a");
    std::fs::write(creds.join("db-b-password"), b.password()).expect("credential b");
    let n = std::fs::read_dir(setup.dir.path())
        .map(|d| d.count())
        .unwrap_or(0);
    let log = setup.dir.path().join(format!("agent-{n}.log"));
    let file = std::fs::File::create(&log).expect("log file");
    let err = file.try_clone().expect("log file");
    let mut c = setup.command(&["run"]);
    c.env_remove("CTSYNC_SERVERS__A__PASSWORD")
        .env_remove("CTSYNC_SERVERS__B__PASSWORD")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_PID")
        .env("CREDENTIALS_DIRECTORY", &creds)
        .env(
            "CTSYNC_SERVERS__A__PASSWORD_FILE",
            creds.join("db-a-password"),
        )
        .env(
            "CTSYNC_SERVERS__B__PASSWORD_FILE",
            creds.join("db-b-password"),
        )
        .env("WATCHDOG_USEC", "1000000");
    if let Some(socket) = notify {
        c.env("NOTIFY_SOCKET", socket);
    }
    for (k, v) in extra {
        c.env(k, v);
    }
    let child = c
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("spawn ctsync run");
    Agent { child, log }
}

async fn synced(a: &Sim, b: &Sim, id: i32) -> bool {
    a.exec(&format!(
        "INSERT INTO dbo.Notes VALUES ({id}, N'note {id}');"
    ))
    .await;
    let want = vec![id.to_string(), format!("note {id}")];
    eventually(Duration::from_secs(20), || async {
        b.rows(NOTES).await.contains(&want)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_watchdog_and_stopping_reach_the_service_manager() {
    let (a, b, setup) = pair("SvcReadyA", "SvcReadyB").await;
    let socket = NotifySocket::bind(setup.dir.path());
    let mut agent = spawn_as_service(&setup, &a, &b, Some(&socket.path), &[]);
    socket.wait_for(&mut agent, "READY=1", Duration::from_secs(60));

    // Ready means synced from here on: a row written now (with `initial:
    // none`, a change made before the first poll would not be) reaches b.
    assert!(
        synced(&a, &b, 1).await,
        "a row written after READY=1 did not reach b:\n{}",
        agent.log_text()
    );
    let lines = socket.lines();
    let starting = lines
        .iter()
        .position(|(_, l)| l.starts_with("STATUS=starting"));
    let ready_at = lines.iter().position(|(_, l)| l == "READY=1");
    assert!(
        starting.is_some() && starting < ready_at,
        "a starting STATUS should come before READY=1: {lines:?}"
    );
    assert_eq!(
        lines.iter().filter(|(_, l)| l == "READY=1").count(),
        1,
        "READY=1 is sent once: {lines:?}"
    );
    assert!(
        !lines[..ready_at.unwrap_or(0)]
            .iter()
            .any(|(_, l)| l == "WATCHDOG=1"),
        "no WATCHDOG=1 before READY=1: {lines:?}"
    );
    assert!(
        lines.iter().any(|(_, l)| l.starts_with("STATUS=running")),
        "a running STATUS with READY=1: {lines:?}"
    );

    // WATCHDOG=1 every half of WATCHDOG_USEC (1 s): ~5 in 2.5 s, never a
    // gap as long as the watchdog period (systemd would kill it then).
    let from = Instant::now();
    std::thread::sleep(Duration::from_millis(2500));
    let pings: Vec<Instant> = socket
        .lines()
        .into_iter()
        .filter(|(at, l)| l == "WATCHDOG=1" && *at >= from)
        .map(|(at, _)| at)
        .collect();
    assert!(
        pings.len() >= 3,
        "expected WATCHDOG=1 about every 500 ms, got {} in 2.5 s:\n{}",
        pings.len(),
        agent.log_text()
    );
    for w in pings.windows(2) {
        assert!(
            w[1] - w[0] < Duration::from_millis(1000),
            "a gap of {:?} between pings",
            w[1] - w[0]
        );
    }

    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "SIGTERM should stop ctsync with 0:\n{log}");
    std::thread::sleep(Duration::from_millis(100));
    let stopping = socket.when("STOPPING=1");
    assert!(
        stopping.is_some(),
        "STOPPING=1 on SIGTERM: {:?}\n{log}",
        socket.lines()
    );
    assert_eq!(
        socket.count("WATCHDOG=1", stopping.unwrap_or(from)),
        0,
        "no WATCHDOG=1 after STOPPING=1: {:?}",
        socket.lines()
    );
    assert!(
        log.contains("reporting readiness, liveness and shutdown to the service manager")
            && log.contains("reported ready to the service manager"),
        "the log says it reports to the service manager:\n{log}"
    );
    assert!(!log.contains(PASSWORD), "the password leaked:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_that_dies_stops_the_pings_and_the_agent_exits_non_zero() {
    let (a, b, setup) = pair("SvcDeadA", "SvcDeadB").await;
    let socket = NotifySocket::bind(setup.dir.path());
    // The applier ends as on a store failure once it has an operation.
    let mut agent = spawn_as_service(
        &setup,
        &a,
        &b,
        Some(&socket.path),
        &[("CTSYNC_TEST_FAULT", "apply_loop_fails")],
    );
    socket.wait_for(&mut agent, "READY=1", Duration::from_secs(60));
    socket.wait_for(&mut agent, "WATCHDOG=1", Duration::from_secs(5));
    a.exec("INSERT INTO dbo.Notes VALUES (1, N'one');").await;
    let status = agent.wait_exit(Duration::from_secs(30));
    let log = agent.log_text();
    assert!(
        matches!(status, Some(s) if s.code() == Some(1)),
        "the agent should exit 1 after its applier died: {status:?}\n{log}"
    );
    std::thread::sleep(Duration::from_millis(100));
    let lines = socket.lines();
    let ended = lines.iter().position(|(_, l)| {
        l.starts_with("STATUS=stopping: the applier of dbo.Notes")
            && l.contains("ended unexpectedly")
    });
    let Some(ended) = ended else {
        panic!("a STATUS naming the dead loop: {lines:?}\n{log}");
    };
    // In the same datagram.
    let ended_at = lines[ended].0;
    assert!(
        lines
            .iter()
            .any(|(at, l)| l == "STOPPING=1" && *at == ended_at),
        "STOPPING=1 with it: {lines:?}"
    );
    assert!(
        !lines[ended..].iter().any(|(_, l)| l == "WATCHDOG=1"),
        "no WATCHDOG=1 once a loop died: {lines:?}"
    );
    assert_eq!(
        b.count("dbo.Notes").await,
        0,
        "nothing was applied by the dead applier"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_state_store_stops_the_pings_until_it_answers_again() {
    let (a, b, setup) = pair("SvcStuckA", "SvcStuckB").await;
    let socket = NotifySocket::bind(setup.dir.path());
    // The store's thread hangs 3 s in the batch's completion, as on a
    // hung disk: every loop's next store step waits behind it.
    let mut agent = spawn_as_service(
        &setup,
        &a,
        &b,
        Some(&socket.path),
        &[
            ("CTSYNC_TEST_FAULT", "store_hold_in_completion"),
            ("CTSYNC_TEST_HOLD_MS", "3000"),
        ],
    );
    socket.wait_for(&mut agent, "READY=1", Duration::from_secs(60));
    socket.wait_for(&mut agent, "WATCHDOG=1", Duration::from_secs(5));
    let written = Instant::now();
    assert!(
        synced(&a, &b, 1).await,
        "the row did not reach b:\n{}",
        agent.log_text()
    );
    socket.wait_for(
        &mut agent,
        "STATUS=stuck: the state store has not answered for ",
        Duration::from_secs(3),
    );
    std::thread::sleep(Duration::from_millis(4000));
    let log = agent.log_text();
    let pings: Vec<Instant> = socket
        .lines()
        .into_iter()
        .filter(|(at, l)| l == "WATCHDOG=1" && *at >= written)
        .map(|(at, _)| at)
        .collect();
    // Pings stopped for longer than the watchdog period (systemd would have
    // killed the agent), then went on once the store answered.
    let longest = pings
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    assert!(
        longest >= Duration::from_millis(1500),
        "the pings should pause while the store hangs; longest gap {longest:?}: {:?}\n{log}",
        socket.lines()
    );
    assert!(
        pings
            .last()
            .is_some_and(|at| at.elapsed() < Duration::from_millis(900)),
        "the pings should resume once the store answers: {:?}\n{log}",
        socket.lines()
    );
    assert!(
        log.contains("the agent looks stuck; watchdog pings stop")
            && log.contains("the state store answers again; watchdog pings resume"),
        "the log says why the pings stopped and that they resumed:\n{log}"
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_notify_socket_nothing_is_sent_and_the_agent_runs() {
    let (a, b, setup) = pair("SvcNoneA", "SvcNoneB").await;
    // A socket the agent is not told about: it must stay silent.
    let socket = NotifySocket::bind(setup.dir.path());
    let mut agent = spawn_as_service(&setup, &a, &b, None, &[]);
    setup.wait_ready(&mut agent);
    assert!(
        synced(&a, &b, 1).await,
        "the row did not reach b:\n{}",
        agent.log_text()
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        socket.messages().is_empty(),
        "nothing is sent: {:?}",
        socket.lines()
    );
    assert!(
        !log.contains("service manager"),
        "no word of a service manager without NOTIFY_SOCKET:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_socket_nobody_reads_is_warned_about_once_and_the_agent_runs() {
    let (a, b, setup) = pair("SvcGoneA", "SvcGoneB").await;
    let gone = setup.dir.path().join("nobody.sock");
    let mut agent = spawn_as_service(&setup, &a, &b, Some(&gone), &[]);
    setup.wait_ready(&mut agent);
    assert!(
        synced(&a, &b, 1).await,
        "the row did not reach b:\n{}",
        agent.log_text()
    );
    // Some pings were tried meanwhile.
    std::thread::sleep(Duration::from_millis(1200));
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(
        log.matches("could not notify the service manager").count(),
        1,
        "one warning for a socket that does not answer:\n{log}"
    );
}

/// `deploy/ctsync.service`, with ExecStart pointing at the binary just
/// built (verify checks that it exists), passes `systemd-analyze verify`
/// without a word; skipped with a note where systemd-analyze is missing.
#[test]
fn the_unit_file_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/ctsync.service"
    ))
    .expect("read deploy/ctsync.service");
    // What the unit must say, whatever the tool.
    for line in [
        "Type=notify",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "StateDirectory=ctsync",
        "ReadWritePaths=/var/lib/ctsync",
        "User=ctsync",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "Environment=CTSYNC_SERVERS__A__PASSWORD_FILE=%d/db-a-password",
        "LoadCredential=db-a-password:/etc/ctsync/credentials/db-a-password",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit lacks `{line}`");
    }
    assert!(unit.lines().any(|l| l.starts_with("WatchdogSec=")));
    // ctsync has no reload: no ExecReload= (only the comment saying so).
    assert!(!unit.lines().any(|l| l.starts_with("ExecReload")));
    let Some(exec) = unit.lines().find(|l| l.starts_with("ExecStart=")) else {
        panic!("the unit has no ExecStart=");
    };
    assert!(
        exec.starts_with("ExecStart=/usr/local/bin/ctsync run "),
        "{exec}"
    );

    let found = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output();
    if !found.is_ok_and(|o| o.status.success()) {
        eprintln!("note: systemd-analyze is not installed; `systemd-analyze verify deploy/ctsync.service` skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("ctsync.service");
    let built = unit.replace(
        "ExecStart=/usr/local/bin/ctsync ",
        &format!("ExecStart={} ", env!("CARGO_BIN_EXE_ctsync")),
    );
    std::fs::write(&copy, built).expect("write the unit copy");
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("run systemd-analyze verify");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "systemd-analyze verify failed: {said}"
    );
    // Unknown keys and bad values are warnings with exit 0: none allowed.
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify had something to say: {said}"
    );
}
