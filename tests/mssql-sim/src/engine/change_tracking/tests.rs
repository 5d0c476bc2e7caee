//! Unit tests of change tracking on a plain SQLite connection: the engine's
//! part (statements, transactions) is played by hand with BEGIN/COMMIT around
//! `record` and `on_commit`, as the module contract describes.

use super::*;
use crate::sql::ast::{AlterDatabaseAction, RetentionUnit};
use rusqlite::types::Value as DbValue;
use rusqlite::Connection;

const T: i64 = 1001;
const NO_PK: i64 = 1002;
const PLAIN: i64 = 1003;

fn keys_int() -> Vec<KeyColumn> {
    vec![KeyColumn {
        name: "Id".into(),
        column_id: 1,
        storage_type: "INTEGER",
        collation: "",
    }]
}

fn table<'a>(id: i64, name: &'a str, keys: &'a [KeyColumn]) -> TableRef<'a> {
    TableRef {
        object_id: id,
        name,
        key_columns: keys,
    }
}

fn on() -> AlterDatabaseAction {
    AlterDatabaseAction::ChangeTrackingOn {
        retention: None,
        auto_cleanup: None,
    }
}

/// A database with change tracking on and `dbo.T` (int key) tracked with
/// column tracking.
fn setup() -> Connection {
    let conn = Connection::open_in_memory().expect("in-memory sqlite");
    init_schema(&conn).expect("schema");
    alter_database(&conn, &on()).expect("enable db");
    let keys = keys_int();
    enable_table(&conn, &table(T, "dbo.T", &keys), true).expect("enable table");
    conn
}

fn key(i: i64) -> Vec<DbValue> {
    vec![DbValue::Integer(i)]
}

/// Runs `f` as one committed write transaction, as the engine does.
fn txn(conn: &Connection, f: impl FnOnce(&Connection)) {
    conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
    f(conn);
    on_commit(conn).expect("on_commit");
    conn.execute_batch("COMMIT").expect("commit");
}

fn rec(conn: &Connection, k: i64, op: Op, cols: Columns) {
    record(conn, T, &key(k), op, &cols, None).expect("record");
}

fn ins(conn: &Connection, k: i64) {
    rec(conn, k, Op::Insert, Columns::All);
}

fn upd(conn: &Connection, k: i64, cols: &[i32]) {
    rec(conn, k, Op::Update, Columns::Some(cols.to_vec()));
}

fn del(conn: &Connection, k: i64) {
    rec(conn, k, Op::Delete, Columns::All);
}

#[derive(Debug, PartialEq)]
struct Change {
    version: Option<i64>,
    creation: Option<i64>,
    op: String,
    columns: Option<Vec<u8>>,
    context: Option<Vec<u8>>,
    key: i64,
}

fn changes_of(conn: &Connection, id: i64, since: Option<i64>) -> Vec<Change> {
    let keys = keys_int();
    materialize_changes(conn, &table(id, "dbo.T", &keys), since, "ct_out").expect("changes");
    let mut st = conn
        .prepare(
            "SELECT SYS_CHANGE_VERSION, SYS_CHANGE_CREATION_VERSION, SYS_CHANGE_OPERATION,
                    SYS_CHANGE_COLUMNS, SYS_CHANGE_CONTEXT, \"Id\"
             FROM temp.ct_out ORDER BY \"Id\"",
        )
        .expect("prepare");
    let rows = st
        .query_map([], |r| {
            Ok(Change {
                version: r.get(0)?,
                creation: r.get(1)?,
                op: r.get(2)?,
                columns: r.get(3)?,
                context: r.get(4)?,
                key: r.get(5)?,
            })
        })
        .expect("query");
    rows.collect::<Result<_, _>>().expect("rows")
}

fn changes(conn: &Connection, since: Option<i64>) -> Vec<Change> {
    changes_of(conn, T, since)
}

fn ops(conn: &Connection, since: Option<i64>) -> Vec<(i64, String)> {
    changes(conn, since)
        .into_iter()
        .map(|c| (c.key, c.op))
        .collect()
}

// docs/relational-databases/track-changes/work-with-change-tracking-sql-server.md
// (Version Numbers): one version per committed transaction, shared by its rows.
#[test]
fn one_version_per_committed_transaction_shared_by_all_its_rows() {
    let conn = setup();
    assert_eq!(current_version(&conn).unwrap(), Some(0));
    txn(&conn, |c| {
        ins(c, 1);
        ins(c, 2);
        ins(c, 3);
    });
    assert_eq!(current_version(&conn).unwrap(), Some(1));
    txn(&conn, |c| ins(c, 4));
    assert_eq!(current_version(&conn).unwrap(), Some(2));
    let got: Vec<(i64, Option<i64>)> = changes(&conn, Some(0))
        .into_iter()
        .map(|c| (c.key, c.version))
        .collect();
    assert_eq!(
        got,
        vec![(1, Some(1)), (2, Some(1)), (3, Some(1)), (4, Some(2))]
    );
    // A transaction that recorded nothing takes no version.
    txn(&conn, |_| {});
    assert_eq!(current_version(&conn).unwrap(), Some(2));
}

// docs/relational-databases/system-functions/change-tracking-current-version-transact-sql.md:
// "a version that is associated with the last committed transaction".
#[test]
fn pending_changes_are_invisible_before_commit() {
    let conn = setup();
    txn(&conn, |c| ins(c, 1));
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    upd(&conn, 1, &[2]);
    ins(&conn, 2);
    // Inside the writing transaction: version unchanged, only committed rows.
    assert_eq!(current_version(&conn).unwrap(), Some(1));
    assert_eq!(ops(&conn, Some(0)), vec![(1, "I".to_string())]);
    assert!(changes(&conn, Some(1)).is_empty());
    let keys = keys_int();
    materialize_version(&conn, &table(T, "dbo.T", &keys), &key(2), "v").unwrap();
    let v: Option<i64> = conn
        .query_row("SELECT SYS_CHANGE_VERSION FROM temp.v", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, None);
    on_commit(&conn).unwrap();
    conn.execute_batch("COMMIT").unwrap();
    assert_eq!(current_version(&conn).unwrap(), Some(2));
    assert_eq!(
        ops(&conn, Some(1)),
        vec![(1, "U".to_string()), (2, "I".to_string())]
    );
}

#[test]
fn another_connection_sees_only_committed_changes() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("db.sqlite");
    let a = Connection::open(&path).unwrap();
    a.execute_batch("PRAGMA journal_mode=WAL").unwrap();
    init_schema(&a).unwrap();
    alter_database(&a, &on()).unwrap();
    let keys = keys_int();
    enable_table(&a, &table(T, "dbo.T", &keys), false).unwrap();
    let b = Connection::open(&path).unwrap();
    a.execute_batch("BEGIN IMMEDIATE").unwrap();
    ins(&a, 1);
    assert_eq!(current_version(&b).unwrap(), Some(0));
    assert!(changes(&b, None).is_empty());
    on_commit(&a).unwrap();
    a.execute_batch("COMMIT").unwrap();
    assert_eq!(current_version(&b).unwrap(), Some(1));
    assert_eq!(ops(&b, None), vec![(1, "I".to_string())]);
}

#[test]
fn rollback_leaves_no_trace() {
    let conn = setup();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    ins(&conn, 1);
    conn.execute_batch("ROLLBACK").unwrap();
    assert_eq!(current_version(&conn).unwrap(), Some(0));
    assert!(changes(&conn, None).is_empty());
    // A statement rolled back to its savepoint inside a transaction.
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    ins(&conn, 2);
    conn.execute_batch("SAVEPOINT s").unwrap();
    ins(&conn, 3);
    conn.execute_batch("ROLLBACK TO s; RELEASE s").unwrap();
    on_commit(&conn).unwrap();
    conn.execute_batch("COMMIT").unwrap();
    assert_eq!(current_version(&conn).unwrap(), Some(1));
    assert_eq!(ops(&conn, None), vec![(2, "I".to_string())]);
    // Only a savepoint's changes, all rolled back: no version taken.
    conn.execute_batch("BEGIN IMMEDIATE; SAVEPOINT s").unwrap();
    ins(&conn, 4);
    conn.execute_batch("ROLLBACK TO s; RELEASE s").unwrap();
    on_commit(&conn).unwrap();
    conn.execute_batch("COMMIT").unwrap();
    assert_eq!(current_version(&conn).unwrap(), Some(1));
}

// changetable-transact-sql.md: "if an insert operation was made at version 10
// and an update operation at version 15, and if the baseline last_sync_version
// is 12, an update will be reported. If the last_sync_version value is 8, an
// insert will be reported."
#[test]
fn insert_then_update_is_insert_before_and_update_after() {
    let conn = setup();
    txn(&conn, |c| ins(c, 1)); // v1
    txn(&conn, |c| upd(c, 1, &[2])); // v2
    let before = changes(&conn, Some(0));
    assert_eq!(
        before,
        vec![Change {
            version: Some(2),
            creation: Some(1),
            op: "I".into(),
            columns: None,
            context: None,
            key: 1
        }]
    );
    let after = changes(&conn, Some(1));
    assert_eq!(
        after,
        vec![Change {
            version: Some(2),
            creation: Some(1),
            op: "U".into(),
            columns: Some(encode_mask(&[2])),
            context: None,
            key: 1
        }]
    );
    assert!(changes(&conn, Some(2)).is_empty());
    // Both in one transaction: still an insert, one row.
    txn(&conn, |c| {
        ins(c, 5);
        upd(c, 5, &[3]);
    });
    let c5: Vec<Change> = changes(&conn, Some(2));
    assert_eq!(c5.len(), 1);
    assert_eq!((c5[0].op.as_str(), c5[0].version), ("I", Some(3)));
}

// Folding rule: the last change after last_sync_version is a delete → D.
#[test]
fn insert_then_delete_is_reported_as_delete() {
    let conn = setup();
    txn(&conn, |c| ins(c, 1)); // v1
    txn(&conn, |c| del(c, 1)); // v2
    let all = changes(&conn, Some(0));
    assert_eq!(all.len(), 1);
    assert_eq!(
        (
            all[0].op.as_str(),
            all[0].version,
            all[0].creation,
            &all[0].columns
        ),
        ("D", Some(2), Some(1), &None)
    );
    assert_eq!(ops(&conn, Some(1)), vec![(1, "D".to_string())]);
    // In one transaction as well.
    txn(&conn, |c| {
        ins(c, 2);
        del(c, 2);
    });
    assert_eq!(ops(&conn, Some(2)), vec![(2, "D".to_string())]);
}

// changetable-transact-sql.md: "If you delete a row and then insert a row that
// has the old primary key, the change is seen as an update to all columns".
#[test]
fn delete_then_reinsert_is_update_of_all_columns() {
    let conn = setup();
    txn(&conn, |c| ins(c, 1)); // v1
    txn(&conn, |c| del(c, 1)); // v2
    txn(&conn, |c| ins(c, 1)); // v3
    let after_insert = changes(&conn, Some(1));
    assert_eq!(
        after_insert,
        vec![Change {
            version: Some(3),
            creation: Some(3),
            op: "U".into(),
            columns: None,
            context: None,
            key: 1
        }]
    );
    // Only the re-insert after the baseline: an insert.
    assert_eq!(ops(&conn, Some(2)), vec![(1, "I".to_string())]);
    // From before the first insert: an insert.
    assert_eq!(ops(&conn, Some(0)), vec![(1, "I".to_string())]);
    // Same transaction: delete then insert after a partial update → all columns.
    txn(&conn, |c| upd(c, 1, &[2])); // v4
    txn(&conn, |c| {
        del(c, 1);
        ins(c, 1);
    }); // v5
    let u = changes(&conn, Some(3));
    assert_eq!((u[0].op.as_str(), &u[0].columns), ("U", &None));
}

// changetable-transact-sql.md: "If a primary key value changes, it is
// considered to be a delete of the old value and an insert of the new value."
// The engine reports such an UPDATE as Delete(old) + Insert(new).
#[test]
fn update_of_a_key_value_is_delete_plus_insert() {
    let conn = setup();
    txn(&conn, |c| ins(c, 1)); // v1
    txn(&conn, |c| {
        del(c, 1);
        ins(c, 10);
    }); // v2
    let got = changes(&conn, Some(1));
    assert_eq!(
        got.iter()
            .map(|c| (c.key, c.op.as_str(), c.version))
            .collect::<Vec<_>>(),
        vec![(1, "D", Some(2)), (10, "I", Some(2))]
    );
}

// changetable-transact-sql.md, SYS_CHANGE_COLUMNS: union of the columns
// updated since the baseline; NULL for I and D, without column tracking, and
// when all non-key columns were updated in one operation.
#[test]
fn change_columns_union_and_null_cases() {
    let conn = setup();
    let keys = keys_int();
    enable_table(&conn, &table(PLAIN, "dbo.Plain", &keys), false).unwrap();
    txn(&conn, |c| {
        ins(c, 1);
        ins(c, 2);
        record(c, PLAIN, &key(1), Op::Insert, &Columns::All, None).unwrap();
    }); // v1
    txn(&conn, |c| {
        upd(c, 1, &[3]);
        upd(c, 2, &[2]);
        record(c, PLAIN, &key(1), Op::Update, &Columns::Some(vec![2]), None).unwrap();
    }); // v2
    txn(&conn, |c| {
        upd(c, 1, &[2, 3]);
        rec(c, 2, Op::Update, Columns::All);
    }); // v3
    let got = changes(&conn, Some(1));
    assert_eq!(got[0].columns, Some(encode_mask(&[2, 3])));
    assert_eq!(got[1].columns, None, "an all-columns update → NULL");
    // Relative to the baseline: only v3's columns after 2.
    let got = changes(&conn, Some(2));
    assert_eq!(got[0].columns, Some(encode_mask(&[2, 3])));
    txn(&conn, |c| upd(c, 1, &[4])); // v4
    assert_eq!(changes(&conn, Some(3))[0].columns, Some(encode_mask(&[4])));
    assert_eq!(
        changes(&conn, Some(1))[0].columns,
        Some(encode_mask(&[2, 3, 4]))
    );
    // Column tracking off: NULL even for a partial update.
    let plain = changes_of(&conn, PLAIN, Some(1));
    assert_eq!((plain[0].op.as_str(), &plain[0].columns), ("U", &None));
    // Insert and delete: NULL.
    assert!(changes(&conn, Some(0)).iter().all(|c| c.columns.is_none()));
}

// docs/relational-databases/system-functions/change-tracking-is-column-in-mask-transact-sql.md
#[test]
fn column_in_mask_reads_the_mask_changetable_produces() {
    let conn = setup();
    txn(&conn, |c| ins(c, 1));
    txn(&conn, |c| upd(c, 1, &[300, 2]));
    let mask = changes(&conn, Some(1))[0].columns.clone().expect("a mask");
    // The observed SQL Server layout: zero group, then 4-byte LE ids.
    assert_eq!(
        mask,
        vec![0, 0, 0, 0, 2, 0, 0, 0, 0x2c, 0x01, 0, 0],
        "ids 2 and 300"
    );
    assert_eq!(column_in_mask(2, Some(&mask)), Some(true));
    assert_eq!(column_in_mask(300, Some(&mask)), Some(true));
    assert_eq!(column_in_mask(3, Some(&mask)), Some(false));
    assert_eq!(column_in_mask(44, Some(&mask)), Some(false));
    // NULL mask: every column may have changed.
    assert_eq!(column_in_mask(3, None), Some(true));
    // Not a mask CHANGETABLE produces: 22101 / NULL.
    assert_eq!(column_in_mask(3, Some(&[1, 2, 3])), None);
    assert_eq!(
        column_in_mask_checked(3, Some(&[1, 2, 3]))
            .unwrap_err()
            .number,
        22101
    );
}

// changetable-transact-sql.md, CHANGETABLE(VERSION ...).
#[test]
fn version_of_one_key_with_context() {
    let conn = setup();
    let keys = keys_int();
    let t = table(T, "dbo.T", &keys);
    txn(&conn, |c| ins(c, 1)); // v1
    txn(&conn, |c| {
        record(c, T, &key(1), Op::Update, &Columns::All, Some(b"ctx")).unwrap();
    }); // v2
    let read = |k: i64| -> (Option<i64>, Option<Vec<u8>>, i64) {
        materialize_version(&conn, &t, &key(k), "ver").unwrap();
        conn.query_row(
            "SELECT SYS_CHANGE_VERSION, SYS_CHANGE_CONTEXT, \"Id\" FROM temp.ver",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    };
    assert_eq!(read(1), (Some(2), Some(b"ctx".to_vec()), 1));
    // A key without a tracked change: one row, NULL version.
    assert_eq!(read(7), (None, None, 7));
    let n: i64 = conn
        .query_row("SELECT count(*) FROM temp.ver", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    // After cleanup the change information is gone: NULL version.
    cleanup(&conn).unwrap();
    assert_eq!(read(1), (None, None, 1));
    // Wrong number of key values: 22110.
    let e = materialize_version(&conn, &t, &[], "ver").unwrap_err();
    assert_eq!(e.number, 22110);
}

// docs/relational-databases/system-functions/with-change-tracking-context-transact-sql.md
#[test]
fn context_is_the_last_changes_and_limited_to_128_bytes() {
    let conn = setup();
    txn(&conn, |c| {
        record(c, T, &key(1), Op::Insert, &Columns::All, Some(b"first")).unwrap();
    });
    txn(&conn, |c| {
        record(
            c,
            T,
            &key(1),
            Op::Update,
            &Columns::Some(vec![2]),
            Some(b"second"),
        )
        .unwrap();
    });
    // The last change's context, whatever the baseline.
    let c = &changes(&conn, Some(0))[0];
    assert_eq!(
        (c.op.as_str(), &c.context),
        ("I", &Some(b"second".to_vec()))
    );
    assert_eq!(changes(&conn, Some(1))[0].context, Some(b"second".to_vec()));
    txn(&conn, |c| upd(c, 1, &[2])); // a change without context
    assert_eq!(changes(&conn, Some(0))[0].context, None);
    let long = vec![7u8; 129];
    assert_eq!(check_context(&long).unwrap_err().number, 22109);
    assert!(check_context(&long[..128]).is_ok());
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let e = record(&conn, T, &key(2), Op::Insert, &Columns::All, Some(&long)).unwrap_err();
    assert_eq!(e.number, 22109);
    conn.execute_batch("ROLLBACK").unwrap();
}

// @v NULL: "If the value is NULL, all tracked changes are returned."
#[test]
fn null_since_returns_all_kept_changes() {
    let conn = setup();
    txn(&conn, |c| ins(c, 1));
    txn(&conn, |c| ins(c, 2));
    txn(&conn, |c| upd(c, 1, &[2]));
    let all = changes(&conn, None);
    assert_eq!(
        all.iter()
            .map(|c| (c.key, c.op.as_str(), c.version))
            .collect::<Vec<_>>(),
        vec![(1, "I", Some(3)), (2, "I", Some(2))]
    );
}

// docs/relational-databases/system-functions/change-tracking-min-valid-version-transact-sql.md
#[test]
fn min_valid_version_after_enable_cleanup_and_truncate() {
    let conn = setup();
    assert_eq!(min_valid_version(&conn, T).unwrap(), Some(0));
    assert_eq!(min_valid_version(&conn, 4242).unwrap(), None);
    txn(&conn, |c| ins(c, 1)); // v1
    txn(&conn, |c| ins(c, 2)); // v2
    cleanup(&conn).unwrap();
    assert_eq!(min_valid_version(&conn, T).unwrap(), Some(2));
    assert!(changes(&conn, None).is_empty());
    txn(&conn, |c| ins(c, 3)); // v3
    assert_eq!(ops(&conn, Some(2)), vec![(3, "I".to_string())]);
    // Truncate: a client at the current version must fail validation.
    txn(&conn, |c| truncate(c, T).unwrap()); // v4
    assert_eq!(current_version(&conn).unwrap(), Some(4));
    let min = min_valid_version(&conn, T).unwrap().unwrap();
    assert!(
        min > 3,
        "min valid {min} must pass the pre-truncate version 3"
    );
    assert_eq!(min, 4);
    assert!(changes(&conn, None).is_empty());
    let cleanup_version: i64 = conn
        .query_row(
            "SELECT cleanup_version FROM \"sys.change_tracking_tables\" WHERE object_id = ?1",
            [T],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(cleanup_version, 2);
    // A later table enable starts at the current version.
    let keys = keys_int();
    enable_table(&conn, &table(PLAIN, "dbo.Plain", &keys), false).unwrap();
    assert_eq!(min_valid_version(&conn, PLAIN).unwrap(), Some(4));
}

#[test]
fn errors_follow_sql_server() {
    let conn = Connection::open_in_memory().unwrap();
    init_schema(&conn).unwrap();
    let keys = keys_int();
    assert_eq!(current_version(&conn).unwrap(), None);
    assert_eq!(min_valid_version(&conn, T).unwrap(), None);
    assert!(!database_enabled(&conn).unwrap());
    let e = enable_table(&conn, &table(T, "dbo.T", &keys), false).unwrap_err();
    assert_eq!(e.number, 1718);
    assert_eq!(
        e.message,
        "Change tracking must be enabled on database 'main' before it can be enabled on table 'dbo.T'."
    );
    let set = AlterDatabaseAction::ChangeTrackingSet {
        retention: Some((3, RetentionUnit::Hours)),
        auto_cleanup: None,
    };
    assert_eq!(alter_database(&conn, &set).unwrap_err().number, 5089);
    alter_database(&conn, &on()).unwrap();
    assert!(database_enabled(&conn).unwrap());
    assert_eq!(alter_database(&conn, &on()).unwrap_err().number, 5088);
    let e = enable_table(&conn, &table(NO_PK, "dbo.NoPk", &[]), false).unwrap_err();
    assert_eq!(e.number, 4997);
    assert_eq!(
        e.message,
        "Cannot enable change tracking on table 'dbo.NoPk'. Change tracking requires a primary key on the table. Create a primary key on the table before enabling change tracking."
    );
    enable_table(&conn, &table(T, "dbo.T", &keys), true).unwrap();
    let e = enable_table(&conn, &table(T, "dbo.T", &keys), true).unwrap_err();
    assert_eq!(
        (e.number, e.message.as_str()),
        (
            4996,
            "Change tracking is already enabled for table 'dbo.T'."
        )
    );
    let e =
        materialize_changes(&conn, &table(PLAIN, "dbo.Plain", &keys), Some(0), "x").unwrap_err();
    assert_eq!(
        (e.number, e.class, e.message.as_str()),
        (
            22105,
            16,
            "Change tracking is not enabled on table 'dbo.Plain'."
        )
    );
    let e =
        materialize_version(&conn, &table(PLAIN, "dbo.Plain", &keys), &key(1), "x").unwrap_err();
    assert_eq!(e.number, 22105);
    let e = record(&conn, PLAIN, &key(1), Op::Insert, &Columns::All, None).unwrap_err();
    assert_eq!(e.number, 22105);
    assert_eq!(disable_table(&conn, PLAIN).unwrap_err().number, 4998);
    assert_eq!(
        alter_database(&conn, &AlterDatabaseAction::ChangeTrackingOff)
            .unwrap_err()
            .number,
        22115
    );
    disable_table(&conn, T).unwrap();
    assert_eq!(table_tracking(&conn, T).unwrap(), None);
    alter_database(&conn, &AlterDatabaseAction::ChangeTrackingOff).unwrap();
    assert_eq!(current_version(&conn).unwrap(), None);
}

// docs/relational-databases/system-catalog-views/change-tracking-catalog-views-sys-change-tracking-databases.md
// and ...-sys-change-tracking-tables.md
#[test]
fn catalog_views_show_settings_and_tables() {
    let conn = Connection::open_in_memory().unwrap();
    init_schema(&conn).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM \"sys.change_tracking_databases\"",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0, "no row while the database does not track");
    alter_database(
        &conn,
        &AlterDatabaseAction::ChangeTrackingOn {
            retention: Some((30, RetentionUnit::Minutes)),
            auto_cleanup: Some(false),
        },
    )
    .unwrap();
    let row: (i64, i64, i64, i64, String) = conn
        .query_row(
            "SELECT database_id, is_auto_cleanup_on, retention_period, retention_period_units,
                    retention_period_units_desc FROM \"sys.change_tracking_databases\"",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(row, (5, 0, 30, 1, "MINUTES".to_string()));
    alter_database(
        &conn,
        &AlterDatabaseAction::ChangeTrackingSet {
            retention: Some((2, RetentionUnit::Days)),
            auto_cleanup: Some(true),
        },
    )
    .unwrap();
    let keys = keys_int();
    enable_table(&conn, &table(T, "dbo.T", &keys), true).unwrap();
    let row: (i64, i64, String, i64, i64, i64, i64) = conn
        .query_row(
            "SELECT d.is_auto_cleanup_on, d.retention_period, d.retention_period_units_desc,
                    t.object_id, t.is_track_columns_updated_on, t.min_valid_version, t.begin_version
             FROM \"sys.change_tracking_databases\" d, \"sys.change_tracking_tables\" t",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(row, (1, 2, "DAYS".to_string(), T, 1, 0, 0));
}

// A case-insensitive text key: 'a' and 'A' are the same row in SQL Server, so
// their changes fold together; the result keeps the declared collation so a
// join with the user table compares alike.
#[test]
fn text_keys_fold_with_the_columns_collation() {
    let conn = Connection::open_in_memory().unwrap();
    init_schema(&conn).unwrap();
    alter_database(&conn, &on()).unwrap();
    let keys = vec![
        KeyColumn {
            name: "Code".into(),
            column_id: 1,
            storage_type: "TEXT",
            collation: "COLLATE NOCASE",
        },
        KeyColumn {
            name: "Line".into(),
            column_id: 2,
            storage_type: "INTEGER",
            collation: "",
        },
    ];
    let t = table(T, "dbo.Lines", &keys);
    enable_table(&conn, &t, true).unwrap();
    let k = |s: &str, n: i64| vec![DbValue::Text(s.into()), DbValue::Integer(n)];
    txn(&conn, |c| {
        record(c, T, &k("a", 1), Op::Insert, &Columns::All, None).unwrap();
        record(c, T, &k("a", 2), Op::Insert, &Columns::All, None).unwrap();
    });
    txn(&conn, |c| {
        record(c, T, &k("A", 1), Op::Update, &Columns::Some(vec![3]), None).unwrap();
    });
    materialize_changes(&conn, &t, Some(1), "tc").unwrap();
    let rows: Vec<(String, String, i64)> = conn
        .prepare("SELECT SYS_CHANGE_OPERATION, Code, Line FROM temp.tc")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, vec![("U".to_string(), "A".to_string(), 1)]);
    materialize_changes(&conn, &t, Some(0), "tc").unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM temp.tc WHERE Code = 'A' AND SYS_CHANGE_OPERATION = 'I'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 2, "one row per key, matched case-insensitively");
}

// Bulk loads record one change per row: a large transaction must stay cheap
// and fold to one row per key.
#[test]
fn large_transaction_records_and_folds() {
    let conn = setup();
    let start = std::time::Instant::now();
    txn(&conn, |c| {
        for i in 0..100_000 {
            ins(c, i);
        }
    });
    let recorded = start.elapsed();
    txn(&conn, |c| {
        for i in 0..1000 {
            upd(c, i, &[2]);
        }
    });
    let all = changes(&conn, Some(0));
    assert_eq!(all.len(), 100_000);
    assert!(all.iter().all(|c| c.op == "I"));
    let start = std::time::Instant::now();
    let after = changes(&conn, Some(1));
    let folded = start.elapsed();
    assert_eq!(after.len(), 1000);
    assert!(after.iter().all(|c| c.op == "U" && c.creation == Some(1)));
    // Generous bounds (debug build, shared 2-core machine): catches per-row
    // scans, which would take minutes here.
    assert!(recorded.as_secs() < 30, "recording took {recorded:?}");
    assert!(folded.as_secs() < 10, "incremental fold took {folded:?}");
}
