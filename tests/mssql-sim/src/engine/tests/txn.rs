//! Transactions and isolation.

use super::*;
use crate::engine::*;

#[test]
fn transactions_commit_and_rollback_with_env_changes() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE T (id INT PRIMARY KEY)");
    let c = ok(&mut s, "BEGIN TRAN");
    assert!(matches!(c.env[0], EnvChange::BeginTransaction(d) if d != 0));
    assert_ne!(s.transaction_descriptor(), 0);
    ok(&mut s, "INSERT INTO T VALUES (1)");
    let c = ok(&mut s, "ROLLBACK");
    assert!(matches!(c.env[0], EnvChange::RollbackTransaction(_)));
    assert_eq!(s.transaction_descriptor(), 0);
    assert_eq!(rows(&mut s, "SELECT COUNT(*) FROM T"), vec![vec![i(0)]]);
    ok(
        &mut s,
        "BEGIN TRANSACTION; INSERT INTO T VALUES (2); COMMIT",
    );
    assert_eq!(rows(&mut s, "SELECT COUNT(*) FROM T"), vec![vec![i(1)]]);
    assert_eq!(err(&mut s, "COMMIT").number, 3902);
}

#[test]
fn failed_statement_in_transaction_leaves_no_trace_but_keeps_transaction() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE T (id INT PRIMARY KEY)");
    ok(&mut s, "BEGIN TRAN");
    ok(&mut s, "INSERT INTO T VALUES (1)");
    // The second row fails: the whole statement is undone, the first stays.
    assert_eq!(err(&mut s, "INSERT INTO T VALUES (2), (1)").number, 2627);
    assert_ne!(s.transaction_descriptor(), 0);
    ok(&mut s, "COMMIT");
    assert_eq!(rows(&mut s, "SELECT id FROM T"), vec![vec![i(1)]]);
    // XACT_ABORT ON: the error rolls the transaction back.
    ok(&mut s, "SET XACT_ABORT ON");
    ok(&mut s, "BEGIN TRAN");
    ok(&mut s, "INSERT INTO T VALUES (5)");
    let c = run(&mut s, "INSERT INTO T VALUES (1)");
    assert_eq!(c.errors[0].number, 2627);
    assert_eq!(s.transaction_descriptor(), 0);
    assert_eq!(rows(&mut s, "SELECT COUNT(*) FROM T"), vec![vec![i(1)]]);
}

#[test]
fn read_committed_reader_sees_only_committed_rows() {
    let e = engine();
    let mut a = e.session("sa").unwrap();
    let mut b = e.session("sa").unwrap();
    ok(&mut a, "CREATE TABLE T (id INT PRIMARY KEY)");
    ok(&mut a, "BEGIN TRAN; INSERT INTO T VALUES (1)");
    assert_eq!(rows(&mut b, "SELECT COUNT(*) FROM T"), vec![vec![i(0)]]);
    ok(&mut a, "COMMIT");
    assert_eq!(rows(&mut b, "SELECT COUNT(*) FROM T"), vec![vec![i(1)]]);
}

#[test]
fn snapshot_isolation_needs_the_database_option_and_keeps_its_snapshot() {
    let e = engine();
    let mut a = e.session("sa").unwrap();
    let mut b = e.session("sa").unwrap();
    ok(&mut a, "CREATE TABLE T (id INT PRIMARY KEY, v INT)");
    ok(&mut a, "INSERT INTO T VALUES (1, 1)");
    ok(&mut b, "SET TRANSACTION ISOLATION LEVEL SNAPSHOT");
    ok(&mut b, "BEGIN TRAN");
    assert_eq!(err(&mut b, "SELECT * FROM T").number, 3952);
    ok(&mut b, "ROLLBACK");
    ok(
        &mut a,
        "ALTER DATABASE CURRENT SET ALLOW_SNAPSHOT_ISOLATION ON",
    );
    ok(&mut b, "BEGIN TRAN");
    assert_eq!(rows(&mut b, "SELECT COUNT(*) FROM T"), vec![vec![i(1)]]);
    ok(
        &mut a,
        "INSERT INTO T VALUES (2, 2); UPDATE T SET v = 3 WHERE id = 1",
    );
    assert_eq!(rows(&mut b, "SELECT COUNT(*) FROM T"), vec![vec![i(1)]]);
    // Writing a row another session changed since: update conflict, rolled back.
    let x = err(&mut b, "UPDATE T SET v = 5 WHERE id = 1");
    assert_eq!(x.number, 3960);
    assert!(
        x.message.contains("dbo.T") || x.message.contains("T"),
        "{}",
        x.message
    );
    assert_eq!(b.transaction_descriptor(), 0);
    assert_eq!(rows(&mut b, "SELECT COUNT(*) FROM T"), vec![vec![i(2)]]);
}

#[test]
fn transaction_manager_requests() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE T (id INT PRIMARY KEY)");
    let mut c = Collect::default();
    s.tm_begin(None, &mut c);
    assert!(matches!(c.env[..], [EnvChange::BeginTransaction(_)]));
    assert!(c.dones[0].in_transaction);
    ok(&mut s, "INSERT INTO T VALUES (1)");
    let mut c = Collect::default();
    s.tm_commit(&mut c);
    assert!(matches!(c.env[..], [EnvChange::CommitTransaction(_)]));
    let mut c = Collect::default();
    s.tm_begin(Some(Isolation::ReadCommitted), &mut c);
    ok(&mut s, "INSERT INTO T VALUES (2)");
    let mut c = Collect::default();
    s.tm_rollback(&mut c);
    assert!(matches!(c.env[..], [EnvChange::RollbackTransaction(_)]));
    assert_eq!(rows(&mut s, "SELECT id FROM T"), vec![vec![i(1)]]);
    let mut c = Collect::default();
    s.tm_commit(&mut c);
    assert_eq!(c.errors[0].number, 3902);
}

#[test]
fn while_try_catch_return_and_trancount() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE T (id INT PRIMARY KEY)");
    let r = rows(
        &mut s,
        "DECLARE @i INT = 0;
         WHILE @i < 10 BEGIN SET @i = @i + 1; IF @i = 3 CONTINUE; IF @i = 6 BREAK; INSERT INTO T VALUES (@i) END;
         SELECT COUNT(*) FROM T",
    );
    assert_eq!(r, vec![vec![i(4)]]);
    let c = ok(
        &mut s,
        "BEGIN TRY INSERT INTO T VALUES (1); SELECT 'not reached' END TRY
         BEGIN CATCH SELECT ERROR_NUMBER(), ERROR_MESSAGE() END CATCH",
    );
    assert_eq!(c.sets.len(), 1);
    assert_eq!(c.sets[0].1[0][0], i(2627));
    let x = err(
        &mut s,
        "BEGIN TRY SELECT 1/0 END TRY BEGIN CATCH THROW; END CATCH",
    );
    assert_eq!(x.number, 8134);
    let c = ok(&mut s, "SELECT 1; RETURN; SELECT 2");
    assert_eq!(c.sets.len(), 1);
    assert_eq!(
        rows(
            &mut s,
            "BEGIN TRAN; BEGIN TRAN; SELECT @@TRANCOUNT, XACT_STATE()"
        ),
        vec![vec![i(2), i(1)]]
    );
    ok(&mut s, "ROLLBACK");
    // Outside TRY, a statement error does not stop the next statement of a block.
    let c = run(
        &mut s,
        "BEGIN INSERT INTO T VALUES (1); INSERT INTO T VALUES (50) END",
    );
    assert_eq!(c.errors.len(), 1);
    assert_eq!(
        rows(&mut s, "SELECT COUNT(*) FROM T WHERE id = 50"),
        vec![vec![i(1)]]
    );
}

#[test]
fn concurrent_writers_queue_instead_of_failing() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON");
    ok(
        &mut s,
        "CREATE TABLE T (id INT PRIMARY KEY, w INT); ALTER TABLE T ENABLE CHANGE_TRACKING",
    );
    let before = match rows(&mut s, "SELECT CHANGE_TRACKING_CURRENT_VERSION()")
        .remove(0)
        .remove(0)
    {
        Value::Int(v) => v,
        other => panic!("{other:?}"),
    };
    let mut handles = Vec::new();
    for w in 0..4i64 {
        let e = e.clone();
        handles.push(std::thread::spawn(move || {
            let mut s = e.session("sa").unwrap();
            for n in 0..50i64 {
                let id = w * 1000 + n;
                let sql = if n % 2 == 0 {
                    format!("INSERT INTO T VALUES ({id}, {w})")
                } else {
                    format!("BEGIN TRAN; INSERT INTO T VALUES ({id}, {w}); UPDATE T SET w = w + 1 WHERE id = {id}; COMMIT")
                };
                let c = run(&mut s, &sql);
                assert!(c.errors.is_empty(), "{sql}: {:?}", c.errors);
            }
        }));
    }
    for h in handles {
        h.join().expect("writer thread");
    }
    assert_eq!(rows(&mut s, "SELECT COUNT(*) FROM T"), vec![vec![i(200)]]);
    assert_eq!(
        rows(&mut s, "SELECT CHANGE_TRACKING_CURRENT_VERSION()"),
        vec![vec![i(before + 200)]],
        "one version per committed transaction"
    );
}

#[test]
fn snapshot_update_conflicts_only_on_rows_changed_by_others() {
    let e = engine();
    let mut a = e.session("sa").unwrap();
    let mut b = e.session("sa").unwrap();
    ok(
        &mut a,
        "ALTER DATABASE CURRENT SET ALLOW_SNAPSHOT_ISOLATION ON",
    );
    ok(&mut a, "CREATE TABLE T (id INT PRIMARY KEY, v INT)");
    ok(&mut a, "INSERT INTO T VALUES (1, 1), (2, 2)");
    // Different rows: no conflict.
    ok(
        &mut b,
        "SET TRANSACTION ISOLATION LEVEL SNAPSHOT; BEGIN TRAN",
    );
    assert_eq!(
        rows(&mut b, "SELECT v FROM T WHERE id = 2"),
        vec![vec![i(2)]]
    );
    ok(&mut a, "UPDATE T SET v = 10 WHERE id = 1");
    ok(&mut b, "UPDATE T SET v = 20 WHERE id = 2");
    ok(&mut b, "COMMIT");
    assert_eq!(
        rows(&mut a, "SELECT v FROM T ORDER BY id"),
        vec![vec![i(10)], vec![i(20)]]
    );
    // The same row: 3960, and the transaction is rolled back.
    ok(&mut b, "BEGIN TRAN");
    assert_eq!(
        rows(&mut b, "SELECT v FROM T WHERE id = 1"),
        vec![vec![i(10)]]
    );
    ok(&mut a, "UPDATE T SET v = 11 WHERE id = 1");
    let x = err(&mut b, "UPDATE T SET v = 12 WHERE id = 1");
    assert_eq!(x.number, 3960);
    assert!(x.message.contains("'dbo.T'"), "{}", x.message);
    assert_eq!(b.transaction_descriptor(), 0);
    // An insert after another commit is no conflict either.
    ok(&mut b, "BEGIN TRAN");
    assert_eq!(rows(&mut b, "SELECT COUNT(*) FROM T"), vec![vec![i(2)]]);
    ok(&mut a, "INSERT INTO T VALUES (3, 3)");
    ok(&mut b, "INSERT INTO T VALUES (4, 4); COMMIT");
    assert_eq!(rows(&mut a, "SELECT COUNT(*) FROM T"), vec![vec![i(4)]]);
}

#[test]
fn read_committed_reads_take_no_write_lock() {
    let e = engine();
    let mut a = e.session("sa").unwrap();
    let mut b = e.session("sa").unwrap();
    ok(&mut a, "CREATE TABLE T (id INT PRIMARY KEY)");
    ok(&mut a, "BEGIN TRAN");
    assert_eq!(rows(&mut a, "SELECT COUNT(*) FROM T"), vec![vec![i(0)]]);
    let start = std::time::Instant::now();
    ok(&mut b, "INSERT INTO T VALUES (1)");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(2),
        "the writer did not wait"
    );
    assert_eq!(
        rows(&mut a, "SELECT COUNT(*) FROM T"),
        vec![vec![i(1)]],
        "READ COMMITTED sees the commit"
    );
    ok(&mut a, "INSERT INTO T VALUES (2); COMMIT");
    assert_eq!(rows(&mut b, "SELECT COUNT(*) FROM T"), vec![vec![i(2)]]);
}

#[test]
fn ddl_is_refused_inside_snapshot_transactions() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "ALTER DATABASE CURRENT SET ALLOW_SNAPSHOT_ISOLATION ON",
    );
    ok(
        &mut s,
        "SET TRANSACTION ISOLATION LEVEL SNAPSHOT; BEGIN TRAN",
    );
    assert_eq!(err(&mut s, "CREATE TABLE X (id INT)").number, 3964);
    ok(&mut s, "ROLLBACK");
}

/// Test control `cut_after_commit`: the batch stops right after the commit
/// that took effect, also from inside a nested batch, a block or a loop; the
/// session reports the cut once.
#[test]
fn a_cut_commit_stops_the_batch_wherever_it_is() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE T (id INT PRIMARY KEY)");
    for (n, batch) in [
        "BEGIN TRAN; INSERT INTO T VALUES (1); COMMIT; INSERT INTO T VALUES (101)",
        "EXEC sp_executesql N'BEGIN TRAN; INSERT INTO T VALUES (2); COMMIT'; INSERT INTO T VALUES (102)",
        "BEGIN TRY BEGIN TRAN; INSERT INTO T VALUES (3); COMMIT; INSERT INTO T VALUES (103) END TRY BEGIN CATCH END CATCH; INSERT INTO T VALUES (113)",
        "DECLARE @i INT = 4; WHILE @i < 7 BEGIN BEGIN TRAN; INSERT INTO T VALUES (@i); COMMIT; SET @i = @i + 1 END; INSERT INTO T VALUES (104)",
    ]
    .into_iter()
    .enumerate()
    {
        e.controls().cut_after_commit(1);
        let c = run(&mut s, batch);
        assert!(c.errors.is_empty(), "{batch}: {:?}", c.errors);
        assert!(s.take_cut_connection(), "{batch}");
        assert!(!s.take_cut_connection(), "reported once");
        assert_eq!(
            rows(&mut s, "SELECT MAX(id) FROM T"),
            vec![vec![i(n as i64 + 1)]],
            "{batch}"
        );
    }
    // Disarmed: the same batch runs to its end.
    ok(
        &mut s,
        "BEGIN TRAN; INSERT INTO T VALUES (50); COMMIT; INSERT INTO T VALUES (51)",
    );
    assert!(!s.take_cut_connection());
    assert_eq!(rows(&mut s, "SELECT MAX(id) FROM T"), vec![vec![i(51)]]);
}
