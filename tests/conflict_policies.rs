//! Scenario: the same rows changed on both sides while the agent was
//! stopped, for every conflict kind (update/update, update/delete,
//! delete/update, insert/insert, disjoint columns, delete/delete) × every
//! policy (a_wins, b_wins, newer_wins, merge_columns, park), on an
//! explicit-key table and on an identity-mapped one whose rows existed on
//! both sides before the sync began (`initial: none`). Asserts both sides'
//! rows and the conflict records exactly; park is then resolved by the
//! operator.

mod common;

use common::*;
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE dbo.Acct (id INT PRIMARY KEY, balance INT NOT NULL, note NVARCHAR(50) NULL, updated_at BIGINT NOT NULL);
CREATE TABLE dbo.AcctI (id INT IDENTITY(1,1) PRIMARY KEY, balance INT NOT NULL, note NVARCHAR(50) NULL, updated_at BIGINT NOT NULL);
";

const ROWS: &str = "
INSERT INTO dbo.Acct (id, balance, note, updated_at) VALUES (1, 1, N'r1', 0), (2, 2, N'r2', 0), (3, 3, N'r3', 0), (4, 4, N'r4', 0), (5, 5, N'r5', 0);
INSERT INTO dbo.AcctI (balance, note, updated_at) VALUES (1, N'r1', 0), (2, N'r2', 0), (3, N'r3', 0), (4, N'r4', 0), (5, N'r5', 0);
";

/// a's side of every kind (row 1..5, and the new key 9 on Acct).
const ON_A: &str = "
UPDATE dbo.{T} SET balance = 10, updated_at = 5 WHERE id = 1;
UPDATE dbo.{T} SET balance = 11, updated_at = 5 WHERE id = 2;
DELETE FROM dbo.{T} WHERE id = 3;
UPDATE dbo.{T} SET balance = 14 WHERE id = 4;
DELETE FROM dbo.{T} WHERE id = 5;
";
const ON_B: &str = "
UPDATE dbo.{T} SET balance = 20, updated_at = 9 WHERE id = 1;
DELETE FROM dbo.{T} WHERE id = 2;
UPDATE dbo.{T} SET balance = 23, updated_at = 9 WHERE id = 3;
UPDATE dbo.{T} SET note = N'b-note' WHERE id = 4;
DELETE FROM dbo.{T} WHERE id = 5;
";

const LIMIT: Duration = Duration::from_secs(40);

fn tables(policy: &str) -> String {
    format!(
        "  - table: dbo.Acct
    key: [id]
    direction: both
    conflict: {policy}
  - table: dbo.AcctI
    key: [id]
    identity: true
    direction: both
    conflict: {policy}
"
    )
}

type Rows = Vec<Vec<String>>;

/// A table's rows. Identity-mapped rows are compared without their ids
/// (each side assigns its own to a row it writes anew), as `-`, in the order
/// of their other columns.
async fn rows(s: &Sim, t: &str) -> Rows {
    let mut rs = s
        .rows(&format!(
            "SELECT id, balance, ISNULL(note, N'NULL'), updated_at FROM dbo.{t} ORDER BY id"
        ))
        .await;
    if t == "AcctI" {
        for r in rs.iter_mut() {
            r[0] = "-".into();
        }
        rs.sort_by(|x, y| x[2].cmp(&y[2]).then(x[1].cmp(&y[1])));
    }
    rs
}

fn without_ids(rs: &Rows) -> Rows {
    let mut out: Rows = rs
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r[0] = "-".into();
            r
        })
        .collect();
    out.sort_by(|x, y| x[2].cmp(&y[2]).then(x[1].cmp(&y[1])));
    out
}

fn r(id: i32, balance: i32, note: &str, at: i64) -> Vec<String> {
    vec![
        id.to_string(),
        balance.to_string(),
        note.to_string(),
        at.to_string(),
    ]
}

/// The expected rows of rows 1..5 after the conflicts (the new key 9 of
/// Acct is checked separately).
struct Expect {
    a: Rows,
    b: Rows,
    /// (row id, kind, outcome) of each record, in id order.
    records: Vec<(i32, &'static str, &'static str)>,
}

fn kinds(outcomes: [&'static str; 4]) -> Vec<(i32, &'static str, &'static str)> {
    vec![
        (1, "update/update", outcomes[0]),
        (2, "update/delete", outcomes[1]),
        (3, "delete/update", outcomes[2]),
        (4, "update/update", outcomes[3]),
    ]
}

fn a_rows() -> (Vec<String>, Vec<String>, Vec<String>) {
    (r(1, 10, "r1", 5), r(2, 11, "r2", 5), r(4, 14, "r4", 0))
}

fn expect(policy: &str) -> Expect {
    let (a1, a2, a4) = a_rows();
    let b1 = r(1, 20, "r1", 9);
    let b3 = r(3, 23, "r3", 9);
    let b4 = r(4, 4, "b-note", 0);
    match policy {
        "a_wins" => Expect {
            a: vec![a1.clone(), a2.clone(), a4.clone()],
            b: vec![a1, a2, a4],
            records: kinds(["a won"; 4]),
        },
        "b_wins" => Expect {
            a: vec![b1.clone(), b3.clone(), b4.clone()],
            b: vec![b1, b3, b4],
            records: kinds(["b won"; 4]),
        },
        "{ newer_wins: updated_at }" => Expect {
            // b's updated_at is greater; an update beats a delete; a tie goes to a.
            a: vec![b1.clone(), a2.clone(), b3.clone(), a4.clone()],
            b: vec![b1, a2, b3, a4],
            records: kinds(["b won", "a won", "b won", "a won"]),
        },
        "{ merge_columns: a_wins }" => {
            let merged = r(4, 14, "b-note", 0);
            Expect {
                a: vec![a1.clone(), a2.clone(), merged.clone()],
                b: vec![a1, a2, merged],
                records: kinds(["a won", "a won", "a won", "merged"]),
            }
        }
        "park" => Expect {
            a: vec![a1, a2, a4],
            b: vec![b1, b3, b4],
            records: kinds(["parked"; 4]),
        },
        other => panic!("no expectation for {other}"),
    }
}

fn conflicts(setup: &Setup) -> Vec<serde_json::Value> {
    let out = setup.run_to_end(&["conflicts", "list", "--json"]);
    assert!(
        out.status.success(),
        "conflicts list: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["conflicts"].as_array().cloned().unwrap_or_default()
}

fn of_table<'a>(list: &'a [serde_json::Value], t: &str) -> Vec<&'a serde_json::Value> {
    list.iter()
        .filter(|c| c["table"] == format!("dbo.{t}"))
        .collect()
}

fn outcome_text(c: &serde_json::Value) -> String {
    let o = &c["outcome"];
    if let Some(s) = o.as_str() {
        return s.to_string();
    }
    if let Some(w) = o.get("won") {
        return format!("{} won", w.as_str().unwrap_or("?"));
    }
    if o.get("merged").is_some() {
        return "merged".into();
    }
    if let Some(r) = o.get("resolved") {
        return format!("kept {}", r["keep"].as_str().unwrap_or("?"));
    }
    o.to_string()
}

fn record_id(c: &serde_json::Value, side: &str) -> i32 {
    c[side]["key"][0]["I32"].as_i64().unwrap_or(-1) as i32
}

async fn run_case(policy: &'static str) {
    real_server_note();
    let a = Sim::start("PolA");
    let b = Sim::start("PolB");
    for s in [&a, &b] {
        s.exec(SCHEMA).await;
        s.exec(ROWS).await;
    }
    let setup = Setup::new(&a, &b, "", &tables(policy));
    let agent = setup.start_agent();
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");

    // Offline: both sides change the same rows.
    for t in ["Acct", "AcctI"] {
        a.exec(&ON_A.replace("{T}", t)).await;
        b.exec(&ON_B.replace("{T}", t)).await;
    }
    a.exec("INSERT INTO dbo.Acct (id, balance, note, updated_at) VALUES (9, 1, N'a', 5);")
        .await;
    b.exec("INSERT INTO dbo.Acct (id, balance, note, updated_at) VALUES (9, 2, N'b', 9);")
        .await;

    let want = expect(policy);
    let agent = setup.start_agent();
    let wanted_records = want.records.len() * 2 + 1;
    let done = eventually(LIMIT, || async {
        if conflicts(&setup).len() < wanted_records {
            return false;
        }
        let mut ok = true;
        for t in ["Acct", "AcctI"] {
            let (ra, rb) = (rows(&a, t).await, rows(&b, t).await);
            let strip = |rs: Rows| -> Rows { rs.into_iter().filter(|x| x[0] != "9").collect() };
            if t == "AcctI" {
                ok &= ra == without_ids(&want.a) && rb == without_ids(&want.b);
            } else {
                ok &= strip(ra) == want.a && strip(rb) == want.b;
            }
        }
        ok
    })
    .await;
    let list = conflicts(&setup);
    assert!(
        done,
        "{policy}: not settled as expected.\nAcct a={:?}\nAcct b={:?}\nAcctI a={:?}\nAcctI b={:?}\nconflicts={}\n{}",
        rows(&a, "Acct").await,
        rows(&b, "Acct").await,
        rows(&a, "AcctI").await,
        rows(&b, "AcctI").await,
        serde_json::to_string_pretty(&list).unwrap_or_default(),
        agent.log_text()
    );
    // Exactly the expected records: one per conflicting row, none for the
    // row both sides deleted.
    assert_eq!(list.len(), wanted_records, "{list:#?}");
    for t in ["Acct", "AcctI"] {
        let mut got: Vec<(i32, String, String)> = of_table(&list, t)
            .iter()
            .filter(|c| record_id(c, "a") != 9)
            .map(|c| {
                (
                    record_id(c, "a").max(record_id(c, "b")),
                    c["kind"].as_str().unwrap_or("").to_string(),
                    outcome_text(c),
                )
            })
            .collect();
        got.sort();
        let wanted: Vec<(i32, String, String)> = want
            .records
            .iter()
            .map(|(i, k, o)| (*i, k.to_string(), o.to_string()))
            .collect();
        assert_eq!(got, wanted, "{policy} {t}: {list:#?}");
    }
    // Both row images are kept in the record.
    let one = of_table(&list, "Acct")
        .into_iter()
        .find(|c| record_id(c, "a") == 1)
        .cloned()
        .unwrap_or_default();
    assert_eq!(one["a"]["row"][1]["I32"], 10, "{one}");
    assert_eq!(one["b"]["row"][1]["I32"], 20, "{one}");
    assert_eq!(one["policy"].as_str().map(|p| !p.is_empty()), Some(true));

    // insert/insert of key 9 on Acct.
    let nine_a = a.rows("SELECT balance FROM dbo.Acct WHERE id = 9").await;
    let nine_b = b.rows("SELECT balance FROM dbo.Acct WHERE id = 9").await;
    let nine = of_table(&list, "Acct")
        .into_iter()
        .find(|c| record_id(c, "a") == 9)
        .cloned()
        .unwrap_or_default();
    assert_eq!(nine["kind"], "insert/insert", "{nine}");
    match policy {
        "b_wins" | "{ newer_wins: updated_at }" => {
            assert_eq!(
                (nine_a.clone(), nine_b.clone()),
                (vec![vec!["2".to_string()]], vec![vec!["2".to_string()]])
            );
        }
        "park" => {
            assert_eq!(nine_a, vec![vec!["1".to_string()]]);
            assert_eq!(nine_b, vec![vec!["2".to_string()]]);
        }
        _ => {
            assert_eq!(
                (nine_a.clone(), nine_b.clone()),
                (vec![vec!["1".to_string()]], vec![vec!["1".to_string()]])
            );
        }
    }
    // inspect counts the conflicts per table.
    let out = setup.run_to_end(&["inspect", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let counted = v["tables"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["table"] == "dbo.Acct"))
        .map(|t| t["conflicts"].as_u64().unwrap_or(0))
        .unwrap_or(0);
    assert_eq!(counted, 5, "inspect: {v}");
    // Logged once at warn per conflict.
    let log = agent.log_text();
    assert_eq!(
        log.matches("conflict: the row changed on both sides")
            .count(),
        wanted_records,
        "{log}"
    );

    if policy == "park" {
        // The operator keeps b's row for every parked conflict.
        for c in &list {
            let id = c["id"].as_u64().unwrap_or(0).to_string();
            let out = setup.run_to_end(&["conflicts", "resolve", &id, "--keep", "b"]);
            assert!(
                out.status.success(),
                "resolve {id}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let (b1, b3, b4) = (r(1, 20, "r1", 9), r(3, 23, "r3", 9), r(4, 4, "b-note", 0));
        let done = eventually(LIMIT, || async {
            let mut ok = true;
            for t in ["Acct", "AcctI"] {
                let (ra, rb) = (rows(&a, t).await, rows(&b, t).await);
                let want = vec![b1.clone(), b3.clone(), b4.clone()];
                let want = if t == "AcctI" {
                    without_ids(&want)
                } else {
                    want
                };
                ok &= ra == rb
                    && ra.iter().filter(|x| x[0] != "9").cloned().collect::<Rows>() == want;
            }
            ok
        })
        .await;
        assert!(
            done,
            "park resolved with --keep b did not converge: a={:?} b={:?} / a={:?} b={:?}\n{}",
            rows(&a, "Acct").await,
            rows(&b, "Acct").await,
            rows(&a, "AcctI").await,
            rows(&b, "AcctI").await,
            agent.log_text()
        );
        assert_eq!(
            a.rows("SELECT balance FROM dbo.Acct WHERE id = 9").await,
            vec![vec!["2".to_string()]]
        );
        let list = conflicts(&setup);
        assert!(
            list.iter().all(|c| outcome_text(c) == "kept b"),
            "{list:#?}"
        );
        // `show` prints both images; `purge` removes settled records only.
        let id0 = list[0]["id"].as_u64().unwrap_or(0).to_string();
        let out = setup.run_to_end(&["conflicts", "show", &id0]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success()
                && text.contains("a: ")
                && text.contains("b: ")
                && text.contains("balance = "),
            "{text}"
        );
        // A resolved conflict cannot be resolved again.
        let id = list[0]["id"].as_u64().unwrap_or(0).to_string();
        let out = setup.run_to_end(&["conflicts", "resolve", &id, "--keep", "a"]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("not parked"));
        let out = setup.run_to_end(&["conflicts", "purge", "--older-than", "0s"]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&format!("{} settled", list.len())),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(conflicts(&setup).is_empty());
    }
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wins() {
    run_case("a_wins").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_wins() {
    run_case("b_wins").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_wins() {
    run_case("{ newer_wins: updated_at }").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_columns() {
    run_case("{ merge_columns: a_wins }").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn park_then_resolve() {
    run_case("park").await;
}

/// `check` names what a policy needs of the schema: column tracking for
/// merge_columns (with the statements to run), a comparable synced column
/// for newer_wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_what_a_policy_needs() {
    real_server_note();
    let a = Sim::start("ChkA");
    let b = Sim::start("ChkB");
    for s in [&a, &b] {
        s.exec("ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)")
            .await;
        s.exec(&format!(
            "ALTER DATABASE [{}] SET ALLOW_SNAPSHOT_ISOLATION ON",
            s.database
        ))
        .await;
        s.exec("CREATE TABLE dbo.M (id INT PRIMARY KEY, x INT NULL, y NVARCHAR(10) NULL, label NVARCHAR(10) NULL); ALTER TABLE dbo.M ENABLE CHANGE_TRACKING WITH (TRACK_COLUMNS_UPDATED = OFF);")
            .await;
        s.exec("CREATE TABLE dbo.N (id INT PRIMARY KEY, label NVARCHAR(10) NULL); ALTER TABLE dbo.N ENABLE CHANGE_TRACKING;")
            .await;
    }
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.M\n    key: [id]\n    direction: both\n    conflict: { merge_columns: b_wins }\n  - table: dbo.N\n    key: [id]\n    direction: both\n    conflict: { newer_wins: label }\n",
    );
    let out = setup.run_to_end(&["check"]);
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("merge_columns")
            && text.contains("TRACK_COLUMNS_UPDATED = ON")
            && text.contains("DISABLE CHANGE_TRACKING"),
        "{text}"
    );
    assert!(
        text.contains("newer_wins") && text.contains("label") && text.contains("nvarchar"),
        "{text}"
    );
}
