//! Locking table hints inside a transaction, over TDS: a SELECT with
//! UPDLOCK, HOLDLOCK, ... keeps its locks until the transaction ends, so a
//! writer on another connection waits for COMMIT or ROLLBACK
//! (docs/t-sql/queries/hints-transact-sql-table.md). The stand-in's lock is
//! coarser (the whole database's write lock), which these tests allow for:
//! they only check that the hinted rows' writer waits, never that writers of
//! other rows do not.

mod common;

use common::*;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Long enough for an unblocked UPDATE to finish on a loaded machine is not
/// asserted; only that a blocked one is still waiting after this.
const STILL_WAITING_AFTER: Duration = Duration::from_millis(300);
/// Upper bound for anything that must not block (a hang fails the test
/// instead of stalling the suite).
const NO_HANG: Duration = Duration::from_secs(30);

async fn setup(server: &mssql_sim::SimServer) -> (Conn, Conn) {
    let mut a = connect(server).await;
    let b = connect(server).await;
    exec(
        &mut a,
        "CREATE TABLE dbo.T (id INT PRIMARY KEY, v INT); INSERT INTO dbo.T VALUES (1, 10), (2, 20), (3, 30)",
    )
    .await;
    (a, b)
}

/// Starts `UPDATE dbo.T SET v = v + 1 WHERE id = 1` on `b`; the task returns
/// the connection and when the update completed.
fn spawn_update(mut b: Conn) -> JoinHandle<(Conn, Instant)> {
    tokio::spawn(async move {
        exec(&mut b, "UPDATE dbo.T SET v = v + 1 WHERE id = 1").await;
        (b, Instant::now())
    })
}

async fn finished(h: JoinHandle<(Conn, Instant)>) -> (Conn, Instant) {
    tokio::time::timeout(NO_HANG, h)
        .await
        .expect("the update finishes")
        .expect("the update task")
}

/// With `a` holding locks on row 1, an update of row 1 on `b` waits until
/// `a` runs `end` (COMMIT or ROLLBACK), then completes.
async fn assert_writer_waits_for(a: &mut Conn, b: Conn, end: &str) -> Conn {
    let h = spawn_update(b);
    tokio::time::sleep(STILL_WAITING_AFTER).await;
    assert!(
        !h.is_finished(),
        "the update must wait for the locking transaction to end"
    );
    let end_sent = Instant::now();
    exec(a, end).await;
    let (b, done) = finished(h).await;
    assert!(done >= end_sent, "the update completed only after {end}");
    b
}

fn v_of(r: &[Vec<tiberius::ColumnData<'static>>]) -> i32 {
    match r.first().and_then(|row| row.first()) {
        Some(tiberius::ColumnData::I32(Some(v))) => *v,
        other => panic!("expected an int, got {other:?}"),
    }
}

#[tokio::test]
async fn updlock_holdlock_in_a_transaction_blocks_a_writer_until_commit() {
    let server = start();
    let (mut a, b) = setup(&server).await;
    exec(&mut a, "BEGIN TRAN").await;
    assert_eq!(
        rows(
            &mut a,
            "SELECT COUNT(*) FROM dbo.T WITH (UPDLOCK, HOLDLOCK) WHERE id = 1"
        )
        .await,
        vec![vec![int(1)]]
    );
    let h = spawn_update(b);
    tokio::time::sleep(STILL_WAITING_AFTER).await;
    assert!(
        !h.is_finished(),
        "the update must wait for the locking transaction to end"
    );
    // The holder itself goes on writing while the other writer waits.
    exec(&mut a, "UPDATE dbo.T SET v = 100 WHERE id = 1").await;
    assert!(!h.is_finished(), "still waiting");
    let commit_sent = Instant::now();
    exec(&mut a, "COMMIT").await;
    let (mut b, done) = finished(h).await;
    assert!(
        done >= commit_sent,
        "the update completed only after COMMIT"
    );
    // The waiting update ran after the commit, on the committed row.
    assert_eq!(
        v_of(&rows(&mut b, "SELECT v FROM dbo.T WHERE id = 1").await),
        101
    );
    assert_eq!(rows(&mut a, "SELECT @@TRANCOUNT").await, vec![vec![int(0)]]);
}

#[tokio::test]
async fn each_holding_hint_blocks_until_rollback_too() {
    let server = start();
    let (mut a, mut b) = setup(&server).await;
    let mut expected = 10;
    for hint in [
        "WITH (UPDLOCK)",
        "WITH (XLOCK)",
        "WITH (HOLDLOCK)",
        "WITH (SERIALIZABLE)",
        "WITH (REPEATABLEREAD)",
        "WITH (TABLOCKX)",
        "WITH (TABLOCK, HOLDLOCK)",
        "(UPDLOCK)",
    ] {
        exec(&mut a, "BEGIN TRAN").await;
        rows(&mut a, &format!("SELECT v FROM dbo.T {hint} WHERE id = 1")).await;
        b = assert_writer_waits_for(&mut a, b, "ROLLBACK").await;
        expected += 1;
        assert_eq!(
            v_of(&rows(&mut b, "SELECT v FROM dbo.T WHERE id = 1").await),
            expected,
            "{hint}"
        );
    }
    // A condition that reads with the hints locks like the SELECT does.
    exec(
        &mut a,
        "BEGIN TRAN; IF EXISTS (SELECT 1 FROM dbo.T WITH (UPDLOCK, HOLDLOCK) WHERE id = 1) PRINT 'there'",
    )
    .await;
    assert_writer_waits_for(&mut a, b, "COMMIT").await;
}

#[tokio::test]
async fn without_a_transaction_or_a_holding_hint_nothing_blocks() {
    let server = start();
    let (mut a, mut b) = setup(&server).await;
    // Autocommit: the statement's locks end with it.
    assert_eq!(
        rows(
            &mut a,
            "SELECT COUNT(*) FROM dbo.T WITH (UPDLOCK, HOLDLOCK) WHERE id = 1"
        )
        .await,
        vec![vec![int(1)]]
    );
    b = finished(spawn_update(b)).await.0;
    // In a transaction, a plain read or one with hints that hold nothing
    // past the statement leaves writers alone.
    for select in [
        "SELECT COUNT(*) FROM dbo.T WHERE id = 1",
        "SELECT COUNT(*) FROM dbo.T WITH (NOLOCK) WHERE id = 1",
        "SELECT COUNT(*) FROM dbo.T WITH (READPAST, ROWLOCK) WHERE id = 1",
        "SELECT COUNT(*) FROM dbo.T WITH (TABLOCK) WHERE id = 1",
    ] {
        exec(&mut a, "BEGIN TRAN").await;
        assert_eq!(rows(&mut a, select).await, vec![vec![int(1)]], "{select}");
        b = finished(spawn_update(b)).await.0;
        exec(&mut a, "COMMIT").await;
    }
    assert_eq!(
        v_of(&rows(&mut b, "SELECT v FROM dbo.T WHERE id = 1").await),
        15
    );
}

#[tokio::test]
async fn a_snapshot_reader_is_not_blocked_by_a_locking_read() {
    let server = start();
    let (mut a, mut b) = setup(&server).await;
    exec(
        &mut a,
        "ALTER DATABASE CURRENT SET ALLOW_SNAPSHOT_ISOLATION ON",
    )
    .await;
    exec(
        &mut b,
        "SET TRANSACTION ISOLATION LEVEL SNAPSHOT; BEGIN TRAN",
    )
    .await;
    exec(&mut a, "BEGIN TRAN").await;
    rows(
        &mut a,
        "SELECT v FROM dbo.T WITH (UPDLOCK, HOLDLOCK) WHERE id = 1",
    )
    .await;
    exec(&mut a, "UPDATE dbo.T SET v = 11 WHERE id = 1").await;
    let read = tokio::time::timeout(NO_HANG, rows(&mut b, "SELECT v FROM dbo.T WHERE id = 1"))
        .await
        .expect("a snapshot read does not wait for locks");
    assert_eq!(v_of(&read), 10, "the last committed version");
    exec(&mut a, "COMMIT").await;
    assert_eq!(
        v_of(&rows(&mut b, "SELECT v FROM dbo.T WHERE id = 1").await),
        10,
        "the snapshot of the first read"
    );
    exec(&mut b, "COMMIT").await;
    // A new snapshot transaction, begun while another locking read holds
    // its locks, reads too.
    exec(&mut a, "BEGIN TRAN").await;
    rows(&mut a, "SELECT v FROM dbo.T WITH (XLOCK) WHERE id = 1").await;
    exec(&mut b, "BEGIN TRAN").await;
    let read = tokio::time::timeout(NO_HANG, rows(&mut b, "SELECT v FROM dbo.T WHERE id = 1"))
        .await
        .expect("a snapshot read does not wait for locks");
    assert_eq!(v_of(&read), 11);
    exec(&mut b, "COMMIT").await;
    exec(&mut a, "COMMIT").await;
}

#[tokio::test]
async fn a_values_list_joined_to_a_hinted_table_returns_its_rows_and_locks() {
    let server = start();
    let (mut a, b) = setup(&server).await;
    let q = "SELECT T.id, T.v FROM (VALUES (1),(2)) AS K(id) JOIN dbo.T AS T WITH (UPDLOCK, HOLDLOCK) ON T.id = K.id ORDER BY T.id";
    let expected = vec![vec![int(1), int(10)], vec![int(2), int(20)]];
    assert_eq!(rows(&mut a, q).await, expected, "autocommit");
    exec(&mut a, "BEGIN TRAN").await;
    assert_eq!(rows(&mut a, q).await, expected, "in a transaction");
    let mut b = assert_writer_waits_for(&mut a, b, "COMMIT").await;
    assert_eq!(
        v_of(&rows(&mut b, "SELECT v FROM dbo.T WHERE id = 1").await),
        11
    );
}

/// A locking read writes nothing: the transaction commits without a new
/// change-tracking version.
#[tokio::test]
async fn a_locking_read_does_not_make_a_change_tracking_version() {
    let server = start();
    let (mut a, _b) = setup(&server).await;
    exec(
        &mut a,
        "ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON); ALTER TABLE dbo.T ENABLE CHANGE_TRACKING",
    )
    .await;
    exec(&mut a, "UPDATE dbo.T SET v = 12 WHERE id = 1").await;
    let version = "SELECT CHANGE_TRACKING_CURRENT_VERSION()";
    let before = rows(&mut a, version).await;
    exec(
        &mut a,
        "BEGIN TRAN; SELECT v FROM dbo.T WITH (UPDLOCK, HOLDLOCK) WHERE id = 1; COMMIT",
    )
    .await;
    assert_eq!(rows(&mut a, version).await, before);
}
