//! Scenario: `ctsync verify` of two-way tables whose rows were written on
//! both sides: an identity-mapped table (each side's ids, rows from a and
//! from b) and an explicit-key one verify equal once synced; drift on
//! either side is listed with the keys of both sides and repaired as the
//! conflict policy decides.

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;

const PEOPLE: &str =
    "CREATE TABLE dbo.People (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(40) NOT NULL, city NVARCHAR(40) NULL);";
const TAGS: &str =
    "CREATE TABLE dbo.Tags (code NVARCHAR(10) NOT NULL PRIMARY KEY, label NVARCHAR(40) NOT NULL);";
const TABLES: &str = "  - table: dbo.People\n    key: [id]\n    identity: true\n    direction: both\n    conflict: a_wins\n  \
                      - table: dbo.Tags\n    key: [code]\n    direction: both\n    conflict: a_wins\n";
const PEOPLE_VIEW: &str = "SELECT name, city FROM dbo.People ORDER BY name";
const TAGS_VIEW: &str = "SELECT code, label FROM dbo.Tags ORDER BY code";

fn verify(setup: &Setup, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = setup.run_to_end(&[&["verify", "--json"], args].concat());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        text,
    )
}

fn table<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["tables"]
        .as_array()
        .and_then(|t| t.iter().find(|x| x["table"] == name))
        .unwrap_or(&Value::Null)
}

fn count(t: &Value, list: &str) -> usize {
    t[list].as_array().map_or(0, |l| l.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_written_on_both_sides_verify_equal_and_drift_is_repaired() {
    real_server_note();
    let a = Sim::start("VerifyTwoA");
    let b = Sim::start("VerifyTwoB");
    for s in [&a, &b] {
        s.exec(PEOPLE).await;
        s.exec(TAGS).await;
    }
    b.exec("SET IDENTITY_INSERT dbo.People ON; INSERT INTO dbo.People (id, name) VALUES (500, N'x'); SET IDENTITY_INSERT dbo.People OFF; DELETE FROM dbo.People;")
        .await;
    let setup = Setup::new(&a, &b, "", TABLES);
    let agent = setup.start_agent();
    for i in 0..15 {
        a.exec(&format!(
            "INSERT INTO dbo.People (name, city) VALUES (N'a{i}', N'Oslo'); INSERT INTO dbo.Tags VALUES (N'a{i}', N'from a');"
        ))
        .await;
        b.exec(&format!(
            "INSERT INTO dbo.People (name, city) VALUES (N'b{i}', NULL); INSERT INTO dbo.Tags VALUES (N'b{i}', N'from b');"
        ))
        .await;
    }
    let same = || async {
        a.rows(PEOPLE_VIEW).await.len() == 30
            && a.rows(PEOPLE_VIEW).await == b.rows(PEOPLE_VIEW).await
            && a.rows(TAGS_VIEW).await.len() == 30
            && a.rows(TAGS_VIEW).await == b.rows(TAGS_VIEW).await
    };
    let ok = eventually(Duration::from_secs(60), same).await;
    assert!(ok, "the sync did not converge:\n{}", agent.log_text());
    let (code, _) = agent.terminate();
    assert_eq!(code, Some(0));

    let (code, v, text) = verify(&setup, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(table(&v, "dbo.People")["rows_a"], 30, "{text}");
    assert_eq!(table(&v, "dbo.People")["rows_b"], 30, "{text}");

    // Drift the sync never sees: changes carrying the agent's own context.
    let unseen = "DECLARE @c VARBINARY(128) = CAST('ctsync:test-agent:drift' AS VARBINARY(128)); WITH CHANGE_TRACKING_CONTEXT (@c)";
    b.exec(&format!(
        "{unseen} UPDATE dbo.People SET city = N'drift' WHERE name = N'a3';"
    ))
    .await;
    a.exec(&format!(
        "{unseen} UPDATE dbo.People SET city = N'Bergen' WHERE name = N'b4';"
    ))
    .await;
    b.exec(&format!(
        "{unseen} UPDATE dbo.Tags SET label = N'drift' WHERE code = N'a5';"
    ))
    .await;
    let (code, v, text) = verify(&setup, &["--repair"]);
    assert_eq!(code, Some(1), "{text}");
    let p = table(&v, "dbo.People");
    assert_eq!(count(p, "differ"), 2, "{p}");
    assert_eq!(
        count(p, "missing_on_a") + count(p, "missing_on_b"),
        0,
        "{p}"
    );
    let t = table(&v, "dbo.Tags");
    assert_eq!(count(t, "differ"), 1, "{t}");
    let agent = setup.start_agent();
    let ok = eventually(Duration::from_secs(60), same).await;
    assert!(ok, "the repair did not converge:\n{}", agent.log_text());
    // a_wins: a's images on both sides.
    assert_eq!(
        b.rows("SELECT city FROM dbo.People WHERE name IN (N'a3', N'b4') ORDER BY name")
            .await,
        vec![vec!["Oslo".to_string()], vec!["Bergen".to_string()]]
    );
    let (code, _, text) = verify(&setup, &[]);
    assert_eq!(code, Some(0), "{text}");
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}
