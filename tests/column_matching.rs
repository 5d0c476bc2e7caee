//! Scenario: the two sides of a table list their columns in different
//! orders, each has a column the other lacks, and both have an identity column
//! that is not the key on both sides, with `columns:` left out (as the example config
//! does). Values pair with columns by name, both ways; the one-side and
//! unwritable columns are left out with a warning in `check` and in the
//! agent's log. A pair of definitions that would lose data (a shorter
//! string, a narrower integer, nullable into NOT NULL) is refused by
//! `check` and by `run`, naming both definitions.

mod common;

use common::*;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

const TABLES: &str = "  - table: dbo.Ord
    key: [id]
    direction: both
";

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_in_another_order_pair_by_name_both_ways() {
    real_server_note();
    let a = Sim::start("ColsA");
    let b = Sim::start("ColsB");
    a.exec("CREATE TABLE dbo.Ord (id INT PRIMARY KEY, seq INT IDENTITY(1,1) NOT NULL, name NVARCHAR(40) NOT NULL, email NVARCHAR(60) NOT NULL, note NVARCHAR(20) NULL);")
        .await;
    b.exec("CREATE TABLE dbo.Ord (id INT PRIMARY KEY, email NVARCHAR(60) NOT NULL, region NVARCHAR(10) NULL, seq INT IDENTITY(1,1) NOT NULL, name NVARCHAR(40) NOT NULL);")
        .await;
    let setup = Setup::new(&a, &b, "", TABLES);

    let check = setup.run_to_end(&["check"]);
    let out = text(&check);
    assert!(check.status.success(), "check: {out}");
    assert!(
        out.contains("column note exists on server a only; it is not synced"),
        "{out}"
    );
    assert!(
        out.contains("column region exists on server b only; it is not synced"),
        "{out}"
    );
    assert!(
        out.contains(
            "column seq is not synced: on server b it is an identity column that is not the key"
        ),
        "{out}"
    );

    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.Ord (id, name, email, note) VALUES (1, N'ann', N'ann@x', N'vip');")
        .await;
    b.exec("INSERT INTO dbo.Ord (id, email, region, name) VALUES (2, N'bob@x', N'eu', N'bob');")
        .await;
    let view = "SELECT id, name, email FROM dbo.Ord ORDER BY id";
    let want = vec![
        vec!["1".to_string(), "ann".into(), "ann@x".into()],
        vec!["2".to_string(), "bob".into(), "bob@x".into()],
    ];
    let ok = eventually(LIMIT, || async {
        a.rows(view).await == want && b.rows(view).await == want
    })
    .await;
    assert!(
        ok,
        "a={:?} b={:?}\n{}",
        a.rows(view).await,
        b.rows(view).await,
        agent.log_text()
    );
    // Updates, both ways, land in the named columns too.
    b.exec("UPDATE dbo.Ord SET name = N'ann2' WHERE id = 1;")
        .await;
    a.exec("UPDATE dbo.Ord SET email = N'bob@y' WHERE id = 2;")
        .await;
    let want = vec![
        vec!["1".to_string(), "ann2".into(), "ann@x".into()],
        vec!["2".to_string(), "bob".into(), "bob@y".into()],
    ];
    let ok = eventually(LIMIT, || async {
        a.rows(view).await == want && b.rows(view).await == want
    })
    .await;
    assert!(
        ok,
        "a={:?} b={:?}\n{}",
        a.rows(view).await,
        b.rows(view).await,
        agent.log_text()
    );
    // The columns of one side only keep their own values.
    assert_eq!(
        a.rows("SELECT id, ISNULL(note, N'-') FROM dbo.Ord ORDER BY id")
            .await,
        vec![
            vec!["1".to_string(), "vip".into()],
            vec!["2".to_string(), "-".into()]
        ]
    );
    assert_eq!(
        b.rows("SELECT id, ISNULL(region, N'-') FROM dbo.Ord ORDER BY id")
            .await,
        vec![
            vec!["1".to_string(), "-".into()],
            vec!["2".to_string(), "eu".into()]
        ]
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("column note exists on server a only"),
        "the agent warns of the left-out column: {log}"
    );
}

/// Definitions that would lose data fail `check`, naming both; `run` holds
/// that table (the reason in `inspect`, nothing written) while another table
/// of the same servers syncs, and once the definitions are fixed the held
/// table goes on from its watermark with nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definitions_that_would_lose_data_are_refused_by_check_and_held_by_run() {
    real_server_note();
    let a = Sim::start("LossA");
    let b = Sim::start("LossB");
    a.exec("CREATE TABLE dbo.Ord (id INT PRIMARY KEY, name NVARCHAR(100) NOT NULL, qty BIGINT NOT NULL, note NVARCHAR(20) NULL);
            CREATE TABLE dbo.Ok (id INT PRIMARY KEY, v NVARCHAR(20) NULL);")
        .await;
    b.exec("CREATE TABLE dbo.Ord (id INT PRIMARY KEY, name NVARCHAR(50) NOT NULL, qty INT NOT NULL, note NVARCHAR(20) NOT NULL);
            CREATE TABLE dbo.Ok (id INT PRIMARY KEY, v NVARCHAR(20) NULL);")
        .await;
    let setup = Setup::new(
        &a,
        &b,
        "",
        "  - table: dbo.Ord\n    key: [id]\n    direction: a_to_b\n  - table: dbo.Ok\n    key: [id]\n    direction: a_to_b\n",
    );
    let check = setup.run_to_end(&["check"]);
    let out = text(&check);
    assert!(!check.status.success(), "check must fail: {out}");
    for want in [
        "column name is nvarchar(100) NOT NULL on server a but nvarchar(50) NOT NULL on server b",
        "column qty is bigint NOT NULL on server a but int NOT NULL on server b: int cannot hold every bigint value",
        "column note is nvarchar(20) NULL on server a but nvarchar(20) NOT NULL on server b",
    ] {
        assert!(out.contains(want), "missing {want:?} in: {out}");
    }
    let agent = setup.start_agent();
    a.exec("INSERT INTO dbo.Ord VALUES (1, N'ann', 5000000000, NULL); INSERT INTO dbo.Ok VALUES (1, N'fine');")
        .await;
    let ok = eventually(LIMIT, || async {
        b.try_rows("SELECT id, v FROM dbo.Ok").await
            == Ok(vec![vec!["1".to_string(), "fine".to_string()]])
    })
    .await;
    assert!(ok, "the other table should sync:\n{}", agent.log_text());
    let inspect = setup.run_to_end(&["inspect"]);
    let shown = text(&inspect);
    assert!(
        shown.contains("nvarchar(50) NOT NULL on server b"),
        "inspect should show why dbo.Ord is held:\n{shown}"
    );
    assert_eq!(
        b.count("dbo.Ord").await,
        0,
        "nothing written into the held table"
    );
    // The operator fixes b's definitions: the table goes on, the row made
    // while it was held arrives.
    b.exec("DROP TABLE dbo.Ord; CREATE TABLE dbo.Ord (id INT PRIMARY KEY, name NVARCHAR(100) NOT NULL, qty BIGINT NOT NULL, note NVARCHAR(20) NULL);")
        .await;
    let view = "SELECT id, name, qty, note FROM dbo.Ord ORDER BY id";
    let ok = eventually(LIMIT, || async {
        b.try_rows(view).await == Ok(a.rows(view).await)
    })
    .await;
    assert!(
        ok,
        "the fixed table did not go on: a {:?} b {:?}\n{}",
        a.try_rows(view).await,
        b.try_rows(view).await,
        agent.log_text()
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("it is held (the other tables go on)"),
        "the hold is logged:\n{log}"
    );
}
