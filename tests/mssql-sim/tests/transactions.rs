//! Transactions through tiberius: statements and the transaction manager,
//! rollback of failed statements, XACT_ABORT, SNAPSHOT isolation.

mod common;

use common::*;
use tiberius::IsolationLevel;

#[tokio::test]
async fn statements_begin_commit_and_rollback() {
    let server = start();
    let mut a = connect(&server).await;
    let mut b = connect(&server).await;
    exec(&mut a, "CREATE TABLE dbo.T (id INT PRIMARY KEY)").await;
    exec(&mut a, "BEGIN TRAN").await;
    exec(&mut a, "INSERT INTO dbo.T VALUES (1)").await;
    assert_eq!(rows(&mut a, "SELECT @@TRANCOUNT").await, vec![vec![int(1)]]);
    assert_eq!(
        rows(&mut b, "SELECT COUNT(*) FROM dbo.T").await,
        vec![vec![int(0)]],
        "not committed yet"
    );
    exec(&mut a, "ROLLBACK").await;
    assert_eq!(
        rows(&mut b, "SELECT COUNT(*) FROM dbo.T").await,
        vec![vec![int(0)]]
    );
    exec(&mut a, "BEGIN TRAN; INSERT INTO dbo.T VALUES (2); COMMIT").await;
    assert_eq!(
        rows(&mut b, "SELECT COUNT(*) FROM dbo.T").await,
        vec![vec![int(1)]]
    );
    assert_eq!(error_of(&mut a, "COMMIT").await.0, 3902);
}

#[tokio::test]
async fn transaction_manager_requests() {
    let server = start();
    let mut a = connect(&server).await;
    exec(&mut a, "CREATE TABLE dbo.T (id INT PRIMARY KEY)").await;
    a.begin_transaction().await.expect("begin");
    exec(&mut a, "INSERT INTO dbo.T VALUES (1)").await;
    a.rollback_transaction().await.expect("rollback");
    a.begin_transaction_with_isolation(IsolationLevel::ReadCommitted)
        .await
        .expect("begin");
    exec(&mut a, "INSERT INTO dbo.T VALUES (2)").await;
    a.commit_transaction().await.expect("commit");
    assert_eq!(
        rows(&mut a, "SELECT id FROM dbo.T").await,
        vec![vec![int(2)]]
    );
    assert_eq!(rows(&mut a, "SELECT @@TRANCOUNT").await, vec![vec![int(0)]]);
}

#[tokio::test]
async fn failed_statement_keeps_the_transaction_unless_xact_abort() {
    let server = start();
    let mut a = connect(&server).await;
    exec(&mut a, "CREATE TABLE dbo.T (id INT PRIMARY KEY)").await;
    a.begin_transaction().await.expect("begin");
    exec(&mut a, "INSERT INTO dbo.T VALUES (1)").await;
    assert_eq!(
        error_of(&mut a, "INSERT INTO dbo.T VALUES (2), (1)")
            .await
            .0,
        2627
    );
    a.commit_transaction().await.expect("commit");
    assert_eq!(
        rows(&mut a, "SELECT id FROM dbo.T").await,
        vec![vec![int(1)]]
    );

    exec(&mut a, "SET XACT_ABORT ON").await;
    exec(&mut a, "BEGIN TRAN").await;
    exec(&mut a, "INSERT INTO dbo.T VALUES (3)").await;
    assert_eq!(
        error_of(&mut a, "INSERT INTO dbo.T VALUES (1)").await.0,
        2627
    );
    assert_eq!(rows(&mut a, "SELECT @@TRANCOUNT").await, vec![vec![int(0)]]);
    assert_eq!(
        rows(&mut a, "SELECT COUNT(*) FROM dbo.T").await,
        vec![vec![int(1)]]
    );
}

#[tokio::test]
async fn snapshot_isolation_reads_a_stable_snapshot_and_detects_conflicts() {
    let server = start();
    let mut a = connect(&server).await;
    let mut b = connect(&server).await;
    exec(&mut a, "CREATE TABLE dbo.T (id INT PRIMARY KEY, v INT)").await;
    exec(&mut a, "INSERT INTO dbo.T VALUES (1, 1)").await;
    exec(
        &mut b,
        "SET TRANSACTION ISOLATION LEVEL SNAPSHOT; BEGIN TRAN",
    )
    .await;
    assert_eq!(error_of(&mut b, "SELECT COUNT(*) FROM dbo.T").await.0, 3952);
    exec(&mut b, "IF @@TRANCOUNT > 0 ROLLBACK").await;
    exec(
        &mut a,
        "ALTER DATABASE testdb SET ALLOW_SNAPSHOT_ISOLATION ON",
    )
    .await;
    assert_eq!(
        rows(
            &mut a,
            "SELECT snapshot_isolation_state FROM sys.databases WHERE name = DB_NAME()"
        )
        .await,
        vec![vec![tiberius::ColumnData::U8(Some(1))]]
    );
    exec(&mut b, "BEGIN TRAN").await;
    assert_eq!(
        rows(&mut b, "SELECT COUNT(*) FROM dbo.T").await,
        vec![vec![int(1)]]
    );
    exec(
        &mut a,
        "INSERT INTO dbo.T VALUES (2, 2); UPDATE dbo.T SET v = 10 WHERE id = 1",
    )
    .await;
    assert_eq!(
        rows(&mut b, "SELECT COUNT(*), SUM(v) FROM dbo.T").await,
        vec![vec![int(1), int(1)]],
        "the snapshot of the first read"
    );
    let (n, _) = error_of(&mut b, "UPDATE dbo.T SET v = 5 WHERE id = 1").await;
    assert_eq!(n, 3960);
    assert_eq!(
        rows(&mut b, "SELECT @@TRANCOUNT").await,
        vec![vec![int(0)]],
        "3960 rolls the transaction back"
    );
    assert_eq!(
        rows(&mut b, "SELECT SUM(v) FROM dbo.T").await,
        vec![vec![int(12)]]
    );
}
