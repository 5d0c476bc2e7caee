//! Scenario: key columns whose collations differ between the servers. A
//! case-sensitive key synced into a case-insensitive one would merge keys
//! that differ only in case ('abc' and 'ABC' are two rows on a, one on b):
//! `check` refuses it naming both collations and the fix, `run` holds the
//! table while the others sync, and `allow_key_collation: true` lets the
//! operator accept it. The other way round (insensitive into sensitive)
//! merges nothing and is accepted. With case-sensitive keys on both sides a
//! key update that only changes case arrives as that update.

mod common;

use common::*;
use std::time::Duration;

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

const TABLES: &str = "  - table: dbo.K\n    key: [code]\n    direction: a_to_b\n  - table: dbo.Other\n    key: [id]\n    direction: a_to_b\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_sensitive_key_into_a_case_insensitive_one_is_refused_unless_allowed() {
    real_server_note();
    let a = Sim::start("KeyCollA");
    let b = Sim::start("KeyCollB");
    a.exec("CREATE TABLE dbo.K (code NVARCHAR(20) COLLATE Latin1_General_CS_AS NOT NULL PRIMARY KEY, v INT NULL);
            CREATE TABLE dbo.Other (id INT PRIMARY KEY, v INT NULL);")
        .await;
    b.exec("CREATE TABLE dbo.K (code NVARCHAR(20) COLLATE SQL_Latin1_General_CP1_CI_AS NOT NULL PRIMARY KEY, v INT NULL);
            CREATE TABLE dbo.Other (id INT PRIMARY KEY, v INT NULL);")
        .await;
    let setup = Setup::new(&a, &b, "", TABLES);
    let check = setup.run_to_end(&["check"]);
    let out = text(&check);
    assert!(!check.status.success(), "check must refuse: {out}");
    assert!(
        out.contains("key column code is Latin1_General_CS_AS on server a but SQL_Latin1_General_CP1_CI_AS on server b")
            && out.contains("differ only in case")
            && out.contains("allow_key_collation"),
        "{out}"
    );
    // run holds dbo.K; dbo.Other syncs.
    let agent = setup.start_agent();
    a.exec(
        "INSERT INTO dbo.K VALUES (N'abc', 1), (N'ABC', 2); INSERT INTO dbo.Other VALUES (1, 1);",
    )
    .await;
    let ok = eventually(Duration::from_secs(20), || async {
        b.try_rows("SELECT id FROM dbo.Other").await == Ok(vec![vec!["1".to_string()]])
    })
    .await;
    assert!(ok, "{}", agent.log_text());
    assert_eq!(b.count("dbo.K").await, 0, "the merging table is held");
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");

    // Insensitive into sensitive: nothing merges, accepted.
    let back = Setup::new(
        &b,
        &a,
        "",
        "  - table: dbo.K\n    key: [code]\n    direction: a_to_b\n",
    );
    let check = back.run_to_end(&["check"]);
    assert!(check.status.success(), "{}", text(&check));

    // The operator accepts it.
    let allowed = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.K\n    key: [code]\n    direction: a_to_b\n    allow_key_collation: true\n",
    );
    let check = allowed.run_to_end(&["check"]);
    assert!(check.status.success(), "{}", text(&check));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_update_that_only_changes_case_arrives() {
    real_server_note();
    let a = Sim::start("KeyCaseA");
    let b = Sim::start("KeyCaseB");
    let schema = "CREATE TABLE dbo.K (code NVARCHAR(20) COLLATE Latin1_General_CS_AS NOT NULL PRIMARY KEY, v INT NULL);";
    a.exec(schema).await;
    b.exec(schema).await;
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.K\n    key: [code]\n    direction: both\n",
    );
    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.K VALUES (N'abc', 1), (N'ABC', 2);")
        .await;
    let view = "SELECT code, v FROM dbo.K ORDER BY v";
    let ok = eventually(Duration::from_secs(20), || async {
        b.try_rows(view).await == Ok(a.rows(view).await)
    })
    .await;
    assert!(
        ok,
        "two keys that differ in case are two rows:\n{}",
        agent.log_text()
    );
    a.exec("UPDATE dbo.K SET code = N'Abc' WHERE code = N'abc';")
        .await;
    b.exec("UPDATE dbo.K SET code = N'abC' WHERE code = N'ABC';")
        .await;
    let want = vec![
        vec!["Abc".to_string(), "1".to_string()],
        vec!["abC".to_string(), "2".to_string()],
    ];
    let ok = eventually(Duration::from_secs(20), || async {
        a.try_rows(view).await == Ok(want.clone()) && b.try_rows(view).await == Ok(want.clone())
    })
    .await;
    assert!(
        ok,
        "a {:?} b {:?}\n{}",
        a.try_rows(view).await,
        b.try_rows(view).await,
        agent.log_text()
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}

/// Case-insensitive keys on both sides (the default collation): a key
/// update that only changes case or trailing spaces is one row's update
/// for the server, and it arrives with the new spelling, both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insensitive_key_respelled_in_case_or_trailing_spaces_arrives_spelled_so() {
    real_server_note();
    let a = Sim::start("KeyRespellA");
    let b = Sim::start("KeyRespellB");
    let schema = "CREATE TABLE dbo.K (code NVARCHAR(20) NOT NULL PRIMARY KEY, v INT NULL);";
    a.exec(schema).await;
    b.exec(schema).await;
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.K\n    key: [code]\n    direction: both\n",
    );
    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.K VALUES (N'abc', 1), (N'xyz', 2);")
        .await;
    // Spelling and stored length, so trailing spaces show.
    let view = "SELECT code, DATALENGTH(code), v FROM dbo.K ORDER BY v";
    let ok = eventually(Duration::from_secs(20), || async {
        b.try_rows(view).await == Ok(a.rows(view).await)
    })
    .await;
    assert!(ok, "{}", agent.log_text());
    a.exec("UPDATE dbo.K SET code = N'ABC' WHERE code = N'abc';")
        .await;
    b.exec("UPDATE dbo.K SET code = N'xyz  ', v = 20 WHERE code = N'xyz';")
        .await;
    let want = vec![
        vec!["ABC".to_string(), "6".to_string(), "1".to_string()],
        vec!["xyz  ".to_string(), "10".to_string(), "20".to_string()],
    ];
    let ok = eventually(Duration::from_secs(20), || async {
        a.try_rows(view).await == Ok(want.clone()) && b.try_rows(view).await == Ok(want.clone())
    })
    .await;
    assert!(
        ok,
        "a {:?} b {:?}\n{}",
        a.try_rows(view).await,
        b.try_rows(view).await,
        agent.log_text()
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}
