//! Scenario: a bad configuration of each kind stops `ctsync run` before it
//! touches anything, exits non-zero, and says which key, which value and what
//! is allowed; the password is never printed.

mod common;

use common::PASSWORD;
use std::process::Command;

const SERVERS: &str = "servers:
  a: { host: 127.0.0.1, port: 1, database: A, user: sa, encrypt: not_supported }
  b: { host: 127.0.0.1, port: 2, database: B, user: sa, encrypt: not_supported }
";

fn run_with(config: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).expect("write");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, PASSWORD).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_ctsync"))
        .args(["run", "--config"])
        .arg(&path)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env("CTSYNC_SERVERS__A__PASSWORD", PASSWORD)
        .env("SECRET_FILE", &secret)
        .output()
        .expect("run ctsync");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains(PASSWORD), "password printed: {text}");
    (out.status.code().unwrap_or(-1), text)
}

fn expect(config: &str, needles: &[&str]) {
    let (code, text) = run_with(config);
    assert_ne!(code, 0, "a bad config must stop start-up: {text}");
    for n in needles {
        assert!(text.contains(n), "message should mention {n:?}: {text}");
    }
}

#[test]
fn unknown_key_is_named() {
    expect(
        &format!("agent_id: t\n{SERVERS}tables: []\nsurprise: 1\n"),
        &["surprise"],
    );
}

#[test]
fn missing_server_is_named() {
    expect(
        "agent_id: t\nservers:\n  a: { host: h, database: A, user: u, password: p }\ntables:\n  - { table: dbo.T, key: [id] }\n",
        &["servers", "b"],
    );
}

#[test]
fn table_without_key_is_named() {
    expect(
        &format!("agent_id: t\n{SERVERS}tables:\n  - {{ table: dbo.T }}\n"),
        &["tables[0]", "key"],
    );
}

#[test]
fn reference_to_unlisted_table_is_named() {
    expect(
        &format!("agent_id: t\n{SERVERS}tables:\n  - {{ table: dbo.Orders, key: [id], references: {{ user_id: dbo.Users }} }}\n"),
        &["references", "dbo.Users"],
    );
}

#[test]
fn force_id_without_identity_is_named() {
    expect(
        &format!(
            "agent_id: t\n{SERVERS}tables:\n  - {{ table: dbo.T, key: [id], force_id: true }}\n"
        ),
        &["force_id", "identity"],
    );
}

#[test]
fn password_inline_and_file_is_refused() {
    let servers = SERVERS.replace(
        "database: A, user: sa,",
        &format!("database: A, user: sa, password: \"{PASSWORD}\", password_file: /tmp/x,"),
    );
    expect(
        &format!("agent_id: t\n{servers}tables:\n  - {{ table: dbo.T, key: [id] }}\n"),
        &["password", "password_file"],
    );
}

#[test]
fn bad_direction_names_the_allowed_values() {
    expect(
        &format!("agent_id: t\n{SERVERS}tables:\n  - {{ table: dbo.T, key: [id], direction: sideways }}\n"),
        &["sideways", "a_to_b", "both"],
    );
}
