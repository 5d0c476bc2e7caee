//! The stand-in's test controls, reached as any client would (procedures of
//! the `mssql_sim` schema over TDS) and through the library.

mod common;

use common::*;
use std::time::{Duration, Instant};

async fn tracked(c: &mut Conn) {
    exec(c, "ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)").await;
    exec(
        c,
        "CREATE TABLE dbo.T (id INT PRIMARY KEY, v INT); ALTER TABLE dbo.T ENABLE CHANGE_TRACKING",
    )
    .await;
    exec(c, "CREATE TABLE dbo.U (id INT PRIMARY KEY)").await;
}

#[tokio::test]
async fn drop_connections_cuts_every_client_and_new_ones_connect() {
    let server = start();
    let mut victim = connect(&server).await;
    let mut admin = connect(&server).await;
    exec(&mut admin, "EXEC mssql_sim.drop_connections").await;
    let r = victim.simple_query("SELECT 1").await;
    let failed = match r {
        Ok(s) => s.into_results().await.is_err(),
        Err(_) => true,
    };
    assert!(failed, "a cut connection must fail");
    let mut fresh = connect(&server).await;
    assert_eq!(rows(&mut fresh, "SELECT 1").await, vec![vec![int(1)]]);
    // And through the library.
    let mut again = connect(&server).await;
    server.controls().drop_connections();
    let r = match again.simple_query("SELECT 1").await {
        Ok(s) => s.into_results().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(
        r.is_err(),
        "drop_connections from the library cuts clients too"
    );
}

#[tokio::test]
async fn refuse_connections_for_a_while() {
    let server = start();
    let mut c = connect(&server).await;
    exec(&mut c, "EXEC mssql_sim.refuse_connections @seconds = 1").await;
    let addr = server.addr();
    let refused = async {
        let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
        let mut cfg = tiberius::Config::new();
        cfg.host("127.0.0.1");
        cfg.port(addr.port());
        cfg.authentication(tiberius::AuthMethod::sql_server(USER, PASSWORD));
        cfg.encryption(tiberius::EncryptionLevel::NotSupported);
        use tokio_util::compat::TokioAsyncWriteCompatExt;
        tiberius::Client::connect(cfg, tcp.compat_write())
            .await
            .ok()
    }
    .await;
    assert!(refused.is_none(), "connections are refused meanwhile");
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let mut c = connect(&server).await;
    assert_eq!(rows(&mut c, "SELECT 1").await, vec![vec![int(1)]]);
}

#[tokio::test]
async fn latency_delays_replies() {
    let server = start();
    let mut c = connect(&server).await;
    exec(&mut c, "EXEC mssql_sim.set_latency @ms = 150").await;
    let t = Instant::now();
    rows(&mut c, "SELECT 1").await;
    // A lower bound only: the machine may be slower, never faster.
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    exec(&mut c, "EXEC mssql_sim.set_latency @ms = 0").await;
}

#[tokio::test]
async fn fail_next_fails_that_many_statements_on_that_table_only() {
    let server = start();
    let mut c = connect(&server).await;
    tracked(&mut c).await;
    exec(
        &mut c,
        "EXEC mssql_sim.fail_next @table = N'dbo.T', @error = 1205, @count = 2",
    )
    .await;
    assert_eq!(
        error_of(&mut c, "INSERT INTO dbo.T VALUES (1, 1)").await.0,
        1205
    );
    exec(&mut c, "INSERT INTO dbo.U VALUES (1)").await;
    assert_eq!(error_of(&mut c, "SELECT * FROM dbo.T").await.0, 1205);
    exec(&mut c, "INSERT INTO dbo.T VALUES (1, 1)").await;
    assert_eq!(
        rows(&mut c, "SELECT COUNT(*) FROM dbo.T").await,
        vec![vec![int(1)]]
    );
}

fn big(v: &tiberius::ColumnData<'_>) -> i64 {
    match v {
        tiberius::ColumnData::I64(Some(x)) => *x,
        tiberius::ColumnData::I32(Some(x)) => *x as i64,
        other => panic!("expected a number, got {other:?}"),
    }
}

/// Cleanup raises the min valid version, as retention would
/// (docs/relational-databases/track-changes/work-with-change-tracking-sql-server.md).
#[tokio::test]
async fn ct_cleanup_raises_the_min_valid_version() {
    let server = start();
    let mut c = connect(&server).await;
    tracked(&mut c).await;
    exec(
        &mut c,
        "INSERT INTO dbo.T VALUES (1, 1); UPDATE dbo.T SET v = 2",
    )
    .await;
    let min = "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(N'dbo.T'))";
    let before = big(&rows(&mut c, min).await[0][0]);
    exec(&mut c, "EXEC mssql_sim.ct_cleanup").await;
    let after = big(&rows(&mut c, min).await[0][0]);
    let current = big(&rows(&mut c, "SELECT CHANGE_TRACKING_CURRENT_VERSION()").await[0][0]);
    assert!(after > before, "{before} -> {after}");
    assert!(after <= current + 1);
}

#[tokio::test]
async fn snapshot_save_and_restore_bring_rows_and_versions_back() {
    let server = start();
    let mut c = connect(&server).await;
    tracked(&mut c).await;
    exec(&mut c, "INSERT INTO dbo.T VALUES (1, 1)").await;
    let version = "SELECT CHANGE_TRACKING_CURRENT_VERSION()";
    let saved = rows(&mut c, version).await;
    exec(&mut c, "EXEC mssql_sim.snapshot_save @name = N'before'").await;
    exec(&mut c, "INSERT INTO dbo.T VALUES (2, 2)").await;
    exec(&mut c, "EXEC mssql_sim.snapshot_restore @name = N'before'").await;
    let mut c = connect(&server).await;
    assert_eq!(
        rows(&mut c, "SELECT id FROM dbo.T").await,
        vec![vec![int(1)]]
    );
    assert_eq!(rows(&mut c, version).await, saved);
    let (n, msg) = error_of(&mut c, "EXEC mssql_sim.snapshot_restore @name = N'nope'").await;
    assert!(n > 0 && msg.contains("nope"), "{n} {msg}");
}

#[tokio::test]
async fn the_statement_log_records_what_clients_send() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("statements.log");
    let mut cfg = mssql_sim::SimConfig::new(DB, USER, PASSWORD);
    cfg.log_statements = Some(log.clone());
    let server = mssql_sim::SimServer::start(cfg).expect("start");
    let mut c = connect(&server).await;
    exec(&mut c, "SELECT 12345 AS marker").await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("SELECT 12345 AS marker"), "{text}");
}

/// What a batch's reply came to: Ok, or the client-side error.
async fn outcome(c: &mut Conn, sql: &str) -> Result<(), tiberius::error::Error> {
    match c.simple_query(sql).await {
        Ok(s) => s.into_results().await.map(|_| ()),
        Err(e) => Err(e),
    }
}

fn assert_broken(r: Result<(), tiberius::error::Error>, what: &str) {
    match r {
        Err(tiberius::error::Error::Io { .. }) => {}
        other => panic!("{what}: expected a broken connection (I/O error), got {other:?}"),
    }
}

#[tokio::test]
async fn cut_after_commit_drops_the_connection_once_the_commit_took_effect() {
    let server = start();
    let mut a = connect(&server).await;
    let mut b = connect(&server).await;
    exec(&mut a, "CREATE TABLE dbo.C (id INT PRIMARY KEY)").await;
    exec(&mut a, "EXEC mssql_sim.cut_after_commit @count = 1").await;
    assert_broken(
        outcome(
            &mut a,
            "BEGIN TRAN; INSERT INTO dbo.C VALUES (1); COMMIT; INSERT INTO dbo.C VALUES (99)",
        )
        .await,
        "the cut commit",
    );
    // The commit stands; nothing after it in the batch ran.
    assert_eq!(
        rows(&mut b, "SELECT id FROM dbo.C ORDER BY id").await,
        vec![vec![int(1)]]
    );
    // The next commit is not cut.
    let mut a = connect(&server).await;
    exec(&mut a, "BEGIN TRAN; INSERT INTO dbo.C VALUES (2); COMMIT").await;
    assert_eq!(
        rows(&mut a, "SELECT COUNT(*) FROM dbo.C").await,
        vec![vec![int(2)]]
    );
}

#[tokio::test]
async fn cut_after_commit_counts_only_commits_of_user_transactions() {
    let server = start();
    let mut a = connect(&server).await;
    exec(&mut a, "CREATE TABLE dbo.C (id INT PRIMARY KEY)").await;
    // Through the library this time.
    server.cut_after_commit(2);
    // Neither an autocommit write, nor an inner COMMIT (it only lowers
    // @@TRANCOUNT), nor a rollback is a commit that takes effect.
    exec(&mut a, "INSERT INTO dbo.C VALUES (3)").await;
    exec(
        &mut a,
        "BEGIN TRAN; BEGIN TRAN; INSERT INTO dbo.C VALUES (4); COMMIT",
    )
    .await;
    assert_eq!(rows(&mut a, "SELECT @@TRANCOUNT").await, vec![vec![int(1)]]);
    exec(&mut a, "ROLLBACK").await;
    // A transaction-manager commit (packet 0x0E) is cut.
    a.begin_transaction().await.expect("begin");
    exec(&mut a, "INSERT INTO dbo.C VALUES (5)").await;
    assert_broken(
        a.commit_transaction().await.map(|_| ()),
        "the transaction-manager commit",
    );
    // So is a COMMIT in a batch of its own.
    let mut c = connect(&server).await;
    exec(&mut c, "BEGIN TRAN").await;
    exec(&mut c, "INSERT INTO dbo.C VALUES (6)").await;
    assert_broken(outcome(&mut c, "COMMIT").await, "COMMIT across batches");
    // The count is used up.
    let mut d = connect(&server).await;
    exec(&mut d, "BEGIN TRAN; INSERT INTO dbo.C VALUES (7); COMMIT").await;
    assert_eq!(
        rows(&mut d, "SELECT id FROM dbo.C ORDER BY id").await,
        vec![vec![int(3)], vec![int(5)], vec![int(6)], vec![int(7)]]
    );
    // 0 disarms.
    exec(&mut d, "EXEC mssql_sim.cut_after_commit @count = 3").await;
    exec(&mut d, "EXEC mssql_sim.cut_after_commit @count = 0").await;
    exec(&mut d, "BEGIN TRAN; INSERT INTO dbo.C VALUES (8); COMMIT").await;
}

/// One write as the agent sends it: a parameterized `sp_executesql` RPC
/// holding the whole transaction (`ids` each become a row).
async fn write_request(c: &mut Conn, ids: &[i32]) -> Result<(), tiberius::error::Error> {
    let values: Vec<String> = (1..=ids.len()).map(|i| format!("(@P{i})")).collect();
    let sql = format!(
        "SET XACT_ABORT ON; BEGIN TRANSACTION; INSERT INTO dbo.W (id) VALUES {}; COMMIT TRANSACTION;",
        values.join(", ")
    );
    let mut q = tiberius::Query::new(sql);
    for id in ids {
        q.bind(*id);
    }
    q.execute(c).await.map(|_| ())
}

/// `cut_after_commit` with the requests ctsync's writer sends: a whole
/// transaction in one `sp_executesql` request, and a transaction left open by
/// one request and committed by a `COMMIT TRANSACTION` request of its own.
/// The control is server-wide: it cuts the next N commits of whichever
/// connection makes them; the control session itself stays connected. A
/// request whose transaction fails (so nothing commits) uses none of the count.
#[tokio::test]
async fn cut_after_commit_cuts_the_agents_write_requests_and_the_rows_stand() {
    let server = start();
    let mut control = connect(&server).await;
    exec(&mut control, "CREATE TABLE dbo.W (id INT PRIMARY KEY)").await;
    let ids = "SELECT id FROM dbo.W ORDER BY id";

    // @count = 1: the write's connection breaks, its rows are committed.
    exec(&mut control, "EXEC mssql_sim.cut_after_commit @count = 1").await;
    let mut w = connect(&server).await;
    assert_broken(write_request(&mut w, &[1, 2]).await, "count 1, the write");
    let mut fresh = connect(&server).await;
    assert_eq!(
        rows(&mut fresh, ids).await,
        vec![vec![int(1)], vec![int(2)]],
        "a new connection sees the cut commit's rows"
    );
    // The following commit is not cut.
    write_request(&mut fresh, &[3])
        .await
        .expect("the next commit is answered");
    assert_eq!(
        rows(&mut control, "SELECT COUNT(*) FROM dbo.W").await,
        vec![vec![int(3)]]
    );

    // @count = 2 cuts two commits, then no more.
    exec(&mut control, "EXEC mssql_sim.cut_after_commit @count = 2").await;
    // A transaction that fails (XACT_ABORT rolls it back on the duplicate
    // key) commits nothing and uses none of the count.
    let mut w = connect(&server).await;
    let failed = write_request(&mut w, &[4, 1]).await;
    match failed {
        Err(tiberius::error::Error::Server(e)) => assert_eq!(e.code(), 2627),
        other => panic!("expected 2627, got {other:?}"),
    }
    assert_eq!(rows(&mut w, "SELECT @@TRANCOUNT").await, vec![vec![int(0)]]);
    assert_broken(write_request(&mut w, &[4]).await, "count 2, first cut");
    // The second: a transaction left open by one request, committed by a
    // separate COMMIT TRANSACTION request.
    let mut w = connect(&server).await;
    let mut open = tiberius::Query::new(
        "SET XACT_ABORT ON; BEGIN TRANSACTION; INSERT INTO dbo.W (id) VALUES (@P1);",
    );
    open.bind(5i32);
    open.execute(&mut w)
        .await
        .expect("the open batch is answered");
    assert_broken(
        tiberius::Query::new("COMMIT TRANSACTION")
            .execute(&mut w)
            .await
            .map(|_| ()),
        "count 2, second cut (COMMIT TRANSACTION request)",
    );
    let mut w = connect(&server).await;
    write_request(&mut w, &[6])
        .await
        .expect("the count is used up");
    assert_eq!(
        rows(&mut w, ids).await,
        (1..=6).map(|i| vec![int(i)]).collect::<Vec<_>>()
    );
    // The control session was never cut.
    assert_eq!(rows(&mut control, "SELECT 1").await, vec![vec![int(1)]]);
}
