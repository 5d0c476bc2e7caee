//! Scenario: ctsync against stand-ins that speak TLS, with certificates made
//! here (a private CA, a server certificate for 127.0.0.1/localhost, an
//! unrelated second CA): `encrypt: required` with `ca_file` checks and
//! syncs; a certificate the agent cannot validate is refused with a message
//! naming the certificate problem and the keys that fix it;
//! `trust_server_certificate: true` connects with a warning; a client that
//! cannot encrypt is refused by a server that forces encryption, with a
//! message that says so; a `ca_file` that cannot be read stops the config.
//!
//! Stand-in only: against a real SQL Server (`CTSYNC_TEST_MSSQL`) the
//! certificates are not the test's, and the scenarios print a note.

#[path = "mssql-sim/tests/common/certs.rs"]
mod certs;
mod common;

use common::*;
use mssql_sim::TlsConfig;

const SCHEMA: &str = "CREATE TABLE dbo.Prices (sku NVARCHAR(20) NOT NULL PRIMARY KEY, price DECIMAL(10,2) NOT NULL);";
const VIEW: &str = "SELECT sku, price FROM dbo.Prices ORDER BY sku";
const TABLES: &str = "  - table: dbo.Prices\n    key: [sku]\n    direction: a_to_b\n";

fn tls(pki: &certs::Pki, forced: bool) -> TlsConfig {
    let mut t = TlsConfig::new(&pki.cert, &pki.key);
    t.force_encryption = forced;
    t
}

/// Two stand-ins with TLS, a's encryption forced when `forced`.
fn servers(pki: &certs::Pki, forced: bool) -> Option<(Sim, Sim)> {
    let a = Sim::start_tls("TlsA", tls(pki, forced), &pki.ca)?;
    let b = Sim::start_tls("TlsB", tls(pki, false), &pki.ca)?;
    Some((a, b))
}

/// The config with server `side`'s encryption settings replaced by `yaml`.
fn set_tls(setup: &Setup, side: char, yaml: &str) {
    let text = std::fs::read_to_string(&setup.config).expect("read config");
    let text: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(&format!("  {side}: {{")) {
                l.replace("encrypt: not_supported", yaml)
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&setup.config, text.join("\n") + "\n").expect("write config");
}

fn run(setup: &Setup, args: &[&str]) -> (bool, String) {
    let out = setup.run_to_end(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn prepare(a: &Sim, b: &Sim) {
    a.exec(SCHEMA).await;
    b.exec(SCHEMA).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypt_required_with_ca_file_checks_and_syncs() {
    real_server_note();
    let pki = certs::make();
    // a forces encryption, b offers it.
    let Some((a, b)) = servers(&pki, true) else {
        return;
    };
    prepare(&a, &b).await;
    a.exec("INSERT INTO dbo.Prices VALUES (N'A', 1.50), (N'B', 2.00);")
        .await;
    let setup = Setup::new(&a, &b, "", TABLES);
    let ca = format!("encrypt: required, ca_file: {}", path_str(&pki.ca));
    set_tls(&setup, 'a', &ca);
    set_tls(&setup, 'b', &ca);

    let (ok, text) = run(&setup, &["check"]);
    assert!(ok, "check passes over validated TLS:\n{text}");
    assert!(text.contains("server a") && text.contains(": ok"), "{text}");
    assert!(
        !text.contains("trust_server_certificate"),
        "no warning: {text}"
    );

    let (ok, text) = run(&setup, &["sync", "--once"]);
    assert!(ok, "{text}");
    assert_eq!(b.rows(VIEW).await.len(), 2, "{text}");
    a.exec("INSERT INTO dbo.Prices VALUES (N'C', 3.25); UPDATE dbo.Prices SET price = 1.75 WHERE sku = N'A';")
        .await;
    let (ok, text) = run(&setup, &["sync", "--once"]);
    assert!(ok, "{text}");
    assert_eq!(a.rows(VIEW).await, b.rows(VIEW).await, "{text}");

    // `encrypt: off` (login only) and `strict` (TDS 8.0) work too.
    let text = std::fs::read_to_string(&setup.config).unwrap();
    std::fs::write(
        &setup.config,
        text.replacen(
            &format!("encrypt: required, ca_file: {}", path_str(&pki.ca)),
            &format!("encrypt: strict, ca_file: {}", path_str(&pki.ca)),
            1,
        )
        .replacen(
            &format!("encrypt: required, ca_file: {}", path_str(&pki.ca)),
            &format!("encrypt: \"off\", ca_file: {}", path_str(&pki.ca)),
            1,
        ),
    )
    .unwrap();
    a.exec("DELETE FROM dbo.Prices WHERE sku = N'B';").await;
    let (ok, text) = run(&setup, &["sync", "--once"]);
    assert!(ok, "strict for a, login-only for b:\n{text}");
    assert_eq!(a.rows(VIEW).await, b.rows(VIEW).await, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_is_refused_naming_the_problem() {
    real_server_note();
    let pki = certs::make();
    let Some((a, b)) = servers(&pki, false) else {
        return;
    };
    prepare(&a, &b).await;
    let setup = Setup::new(&a, &b, "", TABLES);
    set_tls(
        &setup,
        'a',
        &format!("encrypt: required, ca_file: {}", path_str(&pki.other_ca)),
    );
    set_tls(
        &setup,
        'b',
        &format!("encrypt: required, ca_file: {}", path_str(&pki.ca)),
    );
    let (ok, text) = run(&setup, &["check"]);
    assert!(!ok, "{text}");
    let want = format!(
        "server a (127.0.0.1:{}): the server's certificate was not accepted: UnknownIssuer",
        a.port()
    );
    assert!(text.contains(&want), "missing `{want}` in:\n{text}");
    assert!(
        text.contains(&format!(
            "servers.a.ca_file ({}) is not the CA that signed it",
            path_str(&pki.other_ca)
        )),
        "{text}"
    );
    assert!(text.contains("trust_server_certificate: true"), "{text}");
    // b, validated against the right CA, is fine.
    assert!(text.contains("server b") && text.contains(": ok"), "{text}");
    // `sync --once` (a batch job: cron, an edge site's link window) stops
    // at once with the same explanation instead of retrying a certificate
    // that will not change.
    let (ok, text) = run(&setup, &["sync", "--once"]);
    assert!(!ok, "{text}");
    assert!(text.contains(&want), "missing `{want}` in:\n{text}");
    assert!(text.contains("is not the CA that signed it"), "{text}");
    // So does `verify`, with its exit status for "could not run".
    let out = setup.run_to_end(&["verify"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains(&want), "missing `{want}` in:\n{text}");
    assert!(
        !text.contains("Config::trust_cert_ca"),
        "tiberius' API advice leaked:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_ca_file_a_private_ca_is_refused() {
    real_server_note();
    let pki = certs::make();
    let Some((a, b)) = servers(&pki, false) else {
        return;
    };
    prepare(&a, &b).await;
    let setup = Setup::new(&a, &b, "", TABLES);
    // Validation is the default: `encrypt: required` alone.
    set_tls(&setup, 'a', "encrypt: required");
    set_tls(
        &setup,
        'b',
        &format!("encrypt: required, ca_file: {}", path_str(&pki.ca)),
    );
    let (ok, text) = run(&setup, &["check"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!("server a (127.0.0.1:{})", a.port()))
            && (text.contains("UnknownIssuer") || text.contains("trust store has no CA")),
        "the certificate problem is named:\n{text}"
    );
    assert!(
        text.contains("set servers.a.ca_file to the CA that signed it"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_server_certificate_accepts_it_with_a_warning() {
    real_server_note();
    let pki = certs::make();
    let Some((a, b)) = servers(&pki, false) else {
        return;
    };
    prepare(&a, &b).await;
    a.exec("INSERT INTO dbo.Prices VALUES (N'T', 7.00);").await;
    let setup = Setup::new(&a, &b, "", TABLES);
    set_tls(
        &setup,
        'a',
        "encrypt: required, trust_server_certificate: true",
    );
    set_tls(
        &setup,
        'b',
        &format!("encrypt: required, ca_file: {}", path_str(&pki.ca)),
    );
    let (ok, text) = run(&setup, &["check"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("WARN")
            && text.contains(
                "trust_server_certificate is true: the server's certificate is not validated"
            ),
        "a warning names the risk:\n{text}"
    );
    let (ok, text) = run(&setup, &["sync", "--once"]);
    assert!(ok, "{text}");
    assert!(text.contains("trust_server_certificate is true"), "{text}");
    assert_eq!(a.rows(VIEW).await, b.rows(VIEW).await, "{text}");

    // Both at once contradict each other: the config is refused.
    let text = std::fs::read_to_string(&setup.config).unwrap();
    std::fs::write(
        &setup.config,
        text.replacen(
            "encrypt: required, trust_server_certificate: true",
            &format!(
                "encrypt: required, trust_server_certificate: true, ca_file: {}",
                path_str(&pki.ca)
            ),
            1,
        ),
    )
    .unwrap();
    let (ok, text) = run(&setup, &["check"]);
    assert!(!ok, "{text}");
    assert!(text.contains("`servers.a.ca_file`"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_supported_against_forced_encryption_fails_clearly() {
    real_server_note();
    let pki = certs::make();
    let Some((a, b)) = servers(&pki, true) else {
        return;
    };
    prepare(&a, &b).await;
    let setup = Setup::new(&a, &b, "", TABLES);
    // a keeps `encrypt: not_supported`; b validates.
    set_tls(
        &setup,
        'b',
        &format!("encrypt: required, ca_file: {}", path_str(&pki.ca)),
    );
    let (ok, text) = run(&setup, &["check"]);
    assert!(!ok, "{text}");
    let want = format!(
        "server a (127.0.0.1:{}): the server requires encryption and closed the connection",
        a.port()
    );
    assert!(text.contains(&want), "missing `{want}` in:\n{text}");
    assert!(text.contains("set servers.a.encrypt: required"), "{text}");
    assert!(text.contains("server b") && text.contains(": ok"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_ca_file_stops_the_config() {
    real_server_note();
    let pki = certs::make();
    let Some((a, b)) = servers(&pki, false) else {
        return;
    };
    let setup = Setup::new(&a, &b, "", TABLES);
    let missing = pki.dir.path().join("missing-ca.pem");
    set_tls(
        &setup,
        'a',
        &format!("encrypt: required, ca_file: {}", path_str(&missing)),
    );
    let (ok, text) = run(&setup, &["check"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("`servers.a.ca_file`") && text.contains("no such file"),
        "{text}"
    );
    assert!(text.contains("readable PEM file"), "{text}");
}
