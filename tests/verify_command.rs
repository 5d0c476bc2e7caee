//! Scenario: `ctsync verify [--table T] [--json] [--repair]`, the real binary
//! against two stand-ins.
//!
//! - equal tables verify with exit 0;
//! - rows changed, deleted and added on one side of an explicit-key table
//!   and of an identity-mapped one are listed (exit 1) with the right keys
//!   and both images in `--json`;
//! - `--repair` queues corrections that the agent applies; verify then
//!   exits 0 and both servers hold the same rows;
//! - with the agent running, a key whose change is queued and not applied
//!   (the link to b is down) is reported in flight, not as a difference, and
//!   `--repair` goes through the running agent;
//! - a server that is down ends the verify with exit 2 and a message naming
//!   the server and what to check.

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;

const USERS: &str = "CREATE TABLE dbo.Users (id INT NOT NULL PRIMARY KEY, name NVARCHAR(60) NULL, \
    amount DECIMAL(12,2) NULL, seen DATETIME2 NULL, score FLOAT NULL, blob VARBINARY(20) NULL);";
const TICKETS: &str = "CREATE TABLE dbo.Tickets (id INT IDENTITY(1,1) PRIMARY KEY, \
    title NVARCHAR(60) NOT NULL, state NVARCHAR(10) NOT NULL);";
const TABLES: &str = "  - table: dbo.Users
    key: [id]
    direction: a_to_b
  - table: dbo.Tickets
    key: [id]
    identity: true
    direction: a_to_b
";
const USERS_VIEW: &str = "SELECT id, name, amount, seen, score, blob FROM dbo.Users ORDER BY id";
const TICKETS_VIEW: &str = "SELECT title, state FROM dbo.Tickets ORDER BY title";

/// Writes on a that capture skips: they carry this agent's context, as its
/// own writes do (drift on the source that the sync never sees).
const UNSEEN: &str =
    "DECLARE @c VARBINARY(128) = CAST('ctsync:test-agent:drift' AS VARBINARY(128));";

async fn schema(a: &Sim, b: &Sim) {
    for s in [a, b] {
        s.exec(USERS).await;
        s.exec(TICKETS).await;
    }
    // b's identities start elsewhere: a's 5 is not b's 5.
    b.exec("SET IDENTITY_INSERT dbo.Tickets ON; INSERT INTO dbo.Tickets (id, title, state) VALUES (700, N'x', N'x'); SET IDENTITY_INSERT dbo.Tickets OFF; DELETE FROM dbo.Tickets;")
        .await;
}

async fn fill(a: &Sim, users: i32, tickets: i32) {
    let rows: Vec<String> = (1..=users)
        .map(|i| {
            let name = if i % 11 == 0 {
                "NULL".to_string()
            } else {
                format!("N'user {i} | ü'")
            };
            format!(
                "({i}, {name}, {}.{:02}, '2024-01-{:02}T10:00:00.{:07}', {}, 0x{:02X}{:02X})",
                i * 3,
                i % 100,
                1 + i % 28,
                i * 13,
                f64::from(i) / 7.0,
                i % 256,
                (i * 7) % 256
            )
        })
        .collect();
    for chunk in rows.chunks(500) {
        a.exec(&format!(
            "INSERT INTO dbo.Users (id, name, amount, seen, score, blob) VALUES {};",
            chunk.join(", ")
        ))
        .await;
    }
    let t: Vec<String> = (1..=tickets)
        .map(|i| format!("(N't{i}', N'open')"))
        .collect();
    a.exec(&format!(
        "INSERT INTO dbo.Tickets (title, state) VALUES {};",
        t.join(", ")
    ))
    .await;
}

async fn converged(a: &Sim, b: &Sim) -> bool {
    a.rows(USERS_VIEW).await == b.rows(USERS_VIEW).await
        && a.rows(TICKETS_VIEW).await == b.rows(TICKETS_VIEW).await
}

fn verify(setup: &Setup, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, Value, String) {
    let mut c = setup.command(&[&["verify"], args].concat());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run ctsync verify");
    assert_no_password(&out);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), v, text)
}

fn table<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["tables"]
        .as_array()
        .and_then(|t| t.iter().find(|x| x["table"] == name))
        .unwrap_or(&Value::Null)
}

/// The `key_a` (or `key_b`) values of one list of a table's report.
fn keys(t: &Value, list: &str, side: &str) -> Vec<Value> {
    let mut k: Vec<Value> = t[list]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| x[side].clone())
        .collect();
    k.sort_by_key(|x| x.to_string());
    k
}

async fn ticket_id(s: &Sim, title: &str) -> i64 {
    s.rows(&format!(
        "SELECT id FROM dbo.Tickets WHERE title = N'{title}'"
    ))
    .await[0][0]
        .parse()
        .expect("id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differences_are_listed_and_repaired() {
    real_server_note();
    let a = Sim::start("VerifyA");
    let b = Sim::start("VerifyB");
    schema(&a, &b).await;
    let setup = Setup::new(&a, &b, "", TABLES);
    let agent = setup.start_agent();
    fill(&a, 300, 40).await;
    let ok = eventually(Duration::from_secs(60), || converged(&a, &b)).await;
    assert!(ok, "the sync did not converge:\n{}", agent.log_text());
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));

    // Equal, with ranges small enough that the walk splits and pages.
    let small = [("CTSYNC_TEST_VERIFY_CHUNK_ROWS", "16")];
    let (code, v, text) = verify(&setup, &["--json"], &small);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(v["equal"], true, "{text}");
    assert_eq!(table(&v, "dbo.Users")["rows_b"], 300, "{text}");
    assert_eq!(table(&v, "dbo.Users")["method"], "chunks", "{text}");
    assert_eq!(table(&v, "dbo.Tickets")["method"], "rows", "{text}");
    let (code, _, text) = verify(&setup, &["--table", "dbo.users"], &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("dbo.Users: equal (300 rows on a, 300 on b)"),
        "{text}"
    );

    // Explicit keys: changed, deleted and added on b.
    b.exec("UPDATE dbo.Users SET name = N'changed on b' WHERE id = 7; UPDATE dbo.Users SET score = score + 1e-12 WHERE id = 150; DELETE FROM dbo.Users WHERE id = 8; \
            INSERT INTO dbo.Users (id, name) VALUES (500, N'only on b');")
        .await;
    // Mapped keys: changed, deleted and added on a (unseen by capture), and
    // one changed on b.
    let (t5, t6, t9) = (
        ticket_id(&a, "t5").await,
        ticket_id(&a, "t6").await,
        ticket_id(&a, "t9").await,
    );
    let (t6_b, t9_b) = (ticket_id(&b, "t6").await, ticket_id(&b, "t9").await);
    assert!(t6_b > 700, "b keeps its own ids");
    a.exec(&format!(
        "{UNSEEN} WITH CHANGE_TRACKING_CONTEXT (@c) UPDATE dbo.Tickets SET state = N'closed' WHERE id = {t5};"
    ))
    .await;
    a.exec(&format!(
        "{UNSEEN} WITH CHANGE_TRACKING_CONTEXT (@c) DELETE FROM dbo.Tickets WHERE id = {t6};"
    ))
    .await;
    a.exec(&format!(
        "{UNSEEN} WITH CHANGE_TRACKING_CONTEXT (@c) INSERT INTO dbo.Tickets (title, state) VALUES (N'extra', N'new');"
    ))
    .await;
    let extra = ticket_id(&a, "extra").await;
    b.exec(&format!(
        "UPDATE dbo.Tickets SET state = N'weird' WHERE id = {t9_b};"
    ))
    .await;

    let (code, v, text) = verify(&setup, &["--json"], &small);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(v["equal"], false);
    let u = table(&v, "dbo.Users");
    assert_eq!(
        keys(u, "differ", "key_a"),
        vec![Value::from(150), Value::from(7)],
        "{u}"
    );
    assert_eq!(
        keys(u, "missing_on_b", "key_a"),
        vec![Value::from(8)],
        "{u}"
    );
    assert_eq!(
        keys(u, "missing_on_a", "key_b"),
        vec![Value::from(500)],
        "{u}"
    );
    let seven = u["differ"]
        .as_array()
        .and_then(|d| d.iter().find(|x| x["key_a"] == 7))
        .cloned()
        .unwrap_or_default();
    assert_eq!(seven["a"]["name"], "user 7 | ü", "{seven}");
    assert_eq!(seven["b"]["name"], "changed on b", "{seven}");
    assert_eq!(u["missing_on_a"][0]["b"]["name"], "only on b", "{u}");
    assert!(u["missing_on_a"][0]["a"].is_null(), "{u}");
    let t = table(&v, "dbo.Tickets");
    assert_eq!(
        keys(t, "differ", "key_a"),
        {
            let mut k = vec![Value::from(t5), Value::from(t9)];
            k.sort_by_key(|x| x.to_string());
            k
        },
        "{t}"
    );
    assert_eq!(
        keys(t, "missing_on_a", "key_a"),
        vec![Value::from(t6)],
        "{t}"
    );
    assert_eq!(
        keys(t, "missing_on_a", "key_b"),
        vec![Value::from(t6_b)],
        "{t}"
    );
    assert_eq!(
        keys(t, "missing_on_b", "key_a"),
        vec![Value::from(extra)],
        "{t}"
    );
    assert_eq!(keys(t, "missing_on_b", "key_b"), vec![Value::Null], "{t}");

    // The text form names the keys too.
    let (code, _, text) = verify(&setup, &["--table", "dbo.Users"], &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("missing on a (1): 500"), "{text}");
    assert!(text.contains("missing on b (1): 8"), "{text}");

    // Repair with the agent stopped: queued in the store, applied by the
    // next run.
    let (code, v, text) = verify(&setup, &["--json", "--repair"], &[]);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(table(&v, "dbo.Users")["repair"]["queued"], 4, "{text}");
    assert_eq!(table(&v, "dbo.Tickets")["repair"]["queued"], 4, "{text}");
    let agent = setup.start_agent();
    let ok = eventually(Duration::from_secs(60), || converged(&a, &b)).await;
    assert!(ok, "the repair did not converge:\n{}", agent.log_text());
    // Verify while the agent runs (through its control socket).
    let (code, v, text) = verify(&setup, &["--json"], &small);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(v["equal"], true);
    assert_eq!(b.count("dbo.Users").await, 300);
    assert_eq!(
        b.rows("SELECT state FROM dbo.Tickets WHERE title = N'extra'")
            .await,
        vec![vec!["new".to_string()]]
    );
    assert!(b
        .rows("SELECT id FROM dbo.Tickets WHERE title = N't6'")
        .await
        .is_empty());
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
    // The corrections were not captured back as changes of b.
    let (code, _, text) = verify(&setup, &[], &[]);
    assert_eq!(code, Some(0), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_keys_and_repair_through_the_running_agent() {
    real_server_note();
    let a = Sim::start("VerifyFlightA");
    let b = Sim::start("VerifyFlightB");
    let Some(b_server) = b.server() else {
        eprintln!("note: needs the stand-in's address for the link proxy");
        return;
    };
    schema(&a, &b).await;
    let proxy = LinkProxy::start(b_server.addr());
    let setup = Setup::new_via(&a, &b, None, Some(proxy.port()), "", TABLES);
    let agent = setup.start_agent();
    fill(&a, 50, 5).await;
    let ok = eventually(Duration::from_secs(60), || converged(&a, &b)).await;
    assert!(ok, "the sync did not converge:\n{}", agent.log_text());
    // The verify reaches b directly; the agent only through the proxy.
    let port = b.port().to_string();
    let direct = [("CTSYNC_SERVERS__B__PORT", port.as_str())];

    b.exec("UPDATE dbo.Users SET name = N'drift' WHERE id = 3;")
        .await;
    proxy.set_down(true);
    proxy.cut();
    a.exec("UPDATE dbo.Users SET name = N'in flight' WHERE id = 5;")
        .await;
    let queued = eventually(Duration::from_secs(30), || async {
        let out = setup.run_to_end(&["inspect", "--json", "--table", "dbo.Users"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["tables"][0]["queue_depth"].as_u64().unwrap_or(0) >= 1
    })
    .await;
    assert!(queued, "the change was not queued:\n{}", agent.log_text());

    let (code, v, text) = verify(&setup, &["--json", "--table", "dbo.Users"], &direct);
    assert_eq!(code, Some(1), "{text}");
    let u = table(&v, "dbo.Users");
    assert_eq!(keys(u, "differ", "key_a"), vec![Value::from(3)], "{u}");
    assert_eq!(keys(u, "in_flight", "key_a"), vec![Value::from(5)], "{u}");
    assert_eq!(u["in_flight"][0]["a"]["name"], "in flight", "{u}");

    // Repair through the running agent: queued behind the in-flight change.
    let (code, v, text) = verify(
        &setup,
        &["--json", "--repair", "--table", "dbo.Users"],
        &direct,
    );
    assert_eq!(code, Some(1), "{text}");
    // The applier is retrying the in-flight write (b unreachable): the
    // correction waits in its inbox, or is queued if it answered in time.
    let r = &table(&v, "dbo.Users")["repair"];
    assert_eq!(
        r["queued"].as_u64().unwrap_or(0) + r["pending"].as_u64().unwrap_or(0),
        1,
        "{text}"
    );
    assert_eq!(r["applied_by"], "the running agent", "{text}");
    proxy.set_down(false);
    let ok = eventually(Duration::from_secs(60), || converged(&a, &b)).await;
    assert!(
        ok,
        "did not converge after the link came back:\n{}",
        agent.log_text()
    );
    assert_eq!(
        b.rows("SELECT name FROM dbo.Users WHERE id IN (3, 5) ORDER BY id")
            .await,
        vec![
            vec!["user 3 | ü".to_string()],
            vec!["in flight".to_string()]
        ]
    );
    let (code, v, text) = verify(&setup, &["--json"], &direct);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        table(&v, "dbo.Users")["in_flight"]
            .as_array()
            .is_some_and(|x| x.is_empty()),
        "{text}"
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_exits_2() {
    real_server_note();
    let a = Sim::start("VerifyDownA");
    let b = Sim::start("VerifyDownB");
    let Some(server) = b.server() else {
        eprintln!("note: needs the stand-in to stop it");
        return;
    };
    schema(&a, &b).await;
    let setup = Setup::new(&a, &b, "", TABLES);
    server.stop();
    let (code, _, text) = verify(&setup, &[], &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("cannot connect to server b"), "{text}");
    assert!(text.contains("check that the server runs"), "{text}");
    // An unknown table is an error too, naming the configured ones.
    let (code, _, text) = verify(&setup, &["--table", "dbo.Nope"], &[]);
    assert_eq!(code, Some(2), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_way_table_is_repaired_as_its_conflict_policy_decides() {
    real_server_note();
    let a = Sim::start("VerifyBothA");
    let b = Sim::start("VerifyBothB");
    let notes = "CREATE TABLE dbo.Notes (id INT NOT NULL PRIMARY KEY, body NVARCHAR(40) NOT NULL);";
    a.exec(notes).await;
    b.exec(notes).await;
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.Notes\n    key: [id]\n    direction: both\n    conflict: b_wins\n",
    );
    let view = "SELECT id, body FROM dbo.Notes ORDER BY id";
    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.Notes VALUES (1, N'one'), (2, N'two'), (3, N'three'), (4, N'four');")
        .await;
    let ok = eventually(Duration::from_secs(30), || async {
        a.rows(view).await == b.rows(view).await
    })
    .await;
    assert!(ok, "the sync did not converge:\n{}", agent.log_text());
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));
    // Drift on a that the sync never saw: b's rows win under b_wins.
    a.exec(&format!(
        "{UNSEEN} WITH CHANGE_TRACKING_CONTEXT (@c) UPDATE dbo.Notes SET body = N'drift' WHERE id = 2;"
    ))
    .await;
    a.exec(&format!(
        "{UNSEEN} WITH CHANGE_TRACKING_CONTEXT (@c) DELETE FROM dbo.Notes WHERE id = 3;"
    ))
    .await;
    let (code, v, text) = verify(&setup, &["--json", "--repair"], &[]);
    assert_eq!(code, Some(1), "{text}");
    let t = table(&v, "dbo.Notes");
    assert_eq!(keys(t, "differ", "key_a"), vec![Value::from(2)], "{t}");
    assert_eq!(
        keys(t, "missing_on_a", "key_b"),
        vec![Value::from(3)],
        "{t}"
    );
    assert_eq!(t["repair"]["queued"], 2, "{t}");
    let agent = setup.start_agent();
    let ok = eventually(Duration::from_secs(30), || async {
        a.rows(view).await == b.rows(view).await
    })
    .await;
    assert!(ok, "the repair did not converge:\n{}", agent.log_text());
    // b's rows ended on both sides.
    assert_eq!(
        a.rows("SELECT body FROM dbo.Notes WHERE id IN (2, 3) ORDER BY id")
            .await,
        vec![vec!["two".to_string()], vec!["three".to_string()]]
    );
    let (code, _, text) = verify(&setup, &[], &[]);
    assert_eq!(code, Some(0), "{text}");
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}

/// Order lines keyed by (order_id, line_no), order_id a reference to
/// identity-mapped orders (what `discover` writes for such a schema): a's
/// line (5, 1) is b's (1005, 1), so keys are translated before they are
/// compared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_keyed_by_a_reference_is_compared_through_the_id_map() {
    real_server_note();
    let a = Sim::start("VerifyRefKeyA");
    let b = Sim::start("VerifyRefKeyB");
    let orders =
        "CREATE TABLE dbo.Orders (id INT IDENTITY(1,1) PRIMARY KEY, placed NVARCHAR(20) NOT NULL);";
    let lines = "CREATE TABLE dbo.OrderLines (order_id INT NOT NULL, line_no INT NOT NULL, sku NVARCHAR(20) NOT NULL, \
                 PRIMARY KEY (order_id, line_no));";
    for s in [&a, &b] {
        s.exec(orders).await;
        s.exec(lines).await;
    }
    // b's order ids start at 1000: a's order 3 is b's 1003.
    b.exec("SET IDENTITY_INSERT dbo.Orders ON; INSERT INTO dbo.Orders (id, placed) VALUES (1000, N'x'); SET IDENTITY_INSERT dbo.Orders OFF; DELETE FROM dbo.Orders;")
        .await;
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.Orders\n    key: [id]\n    identity: true\n    direction: a_to_b\n  \
         - table: dbo.OrderLines\n    key: [order_id, line_no]\n    direction: a_to_b\n    references: { order_id: dbo.Orders }\n",
    );
    let agent = setup.start_agent();
    // Order 21 has no lines.
    let values: Vec<String> = (1..=21).map(|i| format!("(N'o{i}')")).collect();
    a.exec(&format!(
        "INSERT INTO dbo.Orders (placed) VALUES {};",
        values.join(", ")
    ))
    .await;
    let mut l = Vec::new();
    for o in 1..=20 {
        for n in 1..=3 {
            l.push(format!("({o}, {n}, N'sku-{o}-{n}')"));
        }
    }
    a.exec(&format!(
        "INSERT INTO dbo.OrderLines (order_id, line_no, sku) VALUES {};",
        l.join(", ")
    ))
    .await;
    // Lines compared by their order's `placed` (the ids differ by side).
    let view = "SELECT o.placed, l.line_no, l.sku FROM dbo.OrderLines AS l JOIN dbo.Orders AS o ON o.id = l.order_id ORDER BY o.placed, l.line_no";
    let orders_view = "SELECT placed FROM dbo.Orders ORDER BY placed";
    let same = || async {
        let (x, y) = (a.rows(view).await, b.rows(view).await);
        x.len() == 60 && x == y && a.rows(orders_view).await == b.rows(orders_view).await
    };
    let ok = eventually(Duration::from_secs(60), same).await;
    assert!(ok, "the sync did not converge:\n{}", agent.log_text());
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));
    assert!(b
        .rows("SELECT order_id FROM dbo.OrderLines WHERE order_id < 1000")
        .await
        .is_empty());

    // Equal: the same lines under each side's order ids.
    let (code, v, text) = verify(&setup, &["--json"], &[]);
    assert_eq!(code, Some(0), "{text}");
    let t = table(&v, "dbo.OrderLines");
    assert_eq!(t["method"], "rows", "{t}");
    assert_eq!(
        (t["rows_a"].clone(), t["rows_b"].clone()),
        (60.into(), 60.into()),
        "{t}"
    );

    // Drift on b: a line changed, one deleted, one added; order 21 deleted
    // by hand (its mapping stays and points at nothing).
    b.exec(
        "UPDATE dbo.OrderLines SET sku = N'changed' WHERE order_id = 1003 AND line_no = 2; \
            DELETE FROM dbo.OrderLines WHERE order_id = 1007 AND line_no = 1; \
            INSERT INTO dbo.OrderLines (order_id, line_no, sku) VALUES (1009, 4, N'only on b'); \
            DELETE FROM dbo.Orders WHERE id = 1021;",
    )
    .await;
    let (code, v, text) = verify(&setup, &["--json", "--repair"], &[]);
    assert_eq!(code, Some(1), "{text}");
    let t = table(&v, "dbo.OrderLines");
    let pair = |x: i64, y: i64| Value::from(vec![x, y]);
    assert_eq!(keys(t, "differ", "key_a"), vec![pair(3, 2)], "{t}");
    assert_eq!(keys(t, "differ", "key_b"), vec![pair(1003, 2)], "{t}");
    assert_eq!(keys(t, "missing_on_b", "key_a"), vec![pair(7, 1)], "{t}");
    assert_eq!(keys(t, "missing_on_a", "key_b"), vec![pair(1009, 4)], "{t}");
    assert_eq!(keys(t, "missing_on_a", "key_a"), vec![pair(9, 4)], "{t}");
    assert_eq!(t["repair"]["queued"], 3, "{t}");
    let o = table(&v, "dbo.Orders");
    assert_eq!(
        keys(o, "missing_on_b", "key_a"),
        vec![Value::from(21)],
        "{o}"
    );
    assert_eq!(
        keys(o, "missing_on_b", "key_b"),
        vec![Value::from(1021)],
        "{o}"
    );
    // The stale mapping is dropped and the order inserted again.
    assert_eq!(o["repair"]["queued"], 2, "{o}");
    assert!(
        o["repair"]["not_repaired"]
            .as_array()
            .is_none_or(|s| s.is_empty()),
        "{o}"
    );
    let agent = setup.start_agent();
    let ok = eventually(Duration::from_secs(60), same).await;
    assert!(ok, "the repair did not converge:\n{}", agent.log_text());
    let again = b
        .rows("SELECT id FROM dbo.Orders WHERE placed = N'o21'")
        .await;
    assert_eq!(again.len(), 1, "{again:?}");
    assert_ne!(again[0][0], "1021", "a new id on b");
    let (code, _, text) = verify(&setup, &[], &[]);
    assert_eq!(code, Some(0), "{text}");
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}
