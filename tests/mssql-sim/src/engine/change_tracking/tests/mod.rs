//! Unit tests of change tracking on a plain SQLite connection: the engine's
//! part (statements, transactions) is played by hand with BEGIN/COMMIT around
//! `record` and `on_commit`, as the module contract describes.

use super::*;
use crate::sql::ast::AlterDatabaseAction;
use rusqlite::types::Value as DbValue;
use rusqlite::Connection;

pub(super) const T: i64 = 1001;
pub(super) const NO_PK: i64 = 1002;
pub(super) const PLAIN: i64 = 1003;

pub(super) fn keys_int() -> Vec<KeyColumn> {
    vec![KeyColumn {
        name: "Id".into(),
        column_id: 1,
        storage_type: "INTEGER",
        collation: "",
    }]
}

pub(super) fn table<'a>(id: i64, name: &'a str, keys: &'a [KeyColumn]) -> TableRef<'a> {
    TableRef {
        object_id: id,
        name,
        key_columns: keys,
    }
}

pub(super) fn on() -> AlterDatabaseAction {
    AlterDatabaseAction::ChangeTrackingOn {
        retention: None,
        auto_cleanup: None,
    }
}

/// A database with change tracking on and `dbo.T` (int key) tracked with
/// column tracking. The user table lives in SQLite as `"dbo.T"`, as the
/// engine stores it; [`ins`] and [`del`] keep it in step with the changes.
pub(super) fn setup() -> Connection {
    let conn = Connection::open_in_memory().expect("in-memory sqlite");
    conn.execute_batch("CREATE TABLE \"dbo.T\"(\"Id\" INTEGER PRIMARY KEY, v INTEGER)")
        .expect("user table");
    init_schema(&conn).expect("schema");
    alter_database(&conn, &on()).expect("enable db");
    let keys = keys_int();
    enable_table(&conn, &table(T, "dbo.T", &keys), true).expect("enable table");
    conn
}

pub(super) fn key(i: i64) -> Vec<DbValue> {
    vec![DbValue::Integer(i)]
}

/// Runs `f` as one committed write transaction, as the engine does.
pub(super) fn txn(conn: &Connection, f: impl FnOnce(&Connection)) {
    conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
    f(conn);
    on_commit(conn).expect("on_commit");
    conn.execute_batch("COMMIT").expect("commit");
}

pub(super) fn rec(conn: &Connection, k: i64, op: Op, cols: Columns) {
    record(conn, T, &key(k), op, &cols, None).expect("record");
}

pub(super) fn ins(conn: &Connection, k: i64) {
    conn.execute("INSERT INTO \"dbo.T\"(\"Id\") VALUES (?1)", [k])
        .expect("user row");
    rec(conn, k, Op::Insert, Columns::All);
}

pub(super) fn upd(conn: &Connection, k: i64, cols: &[i32]) {
    rec(conn, k, Op::Update, Columns::Some(cols.to_vec()));
}

pub(super) fn del(conn: &Connection, k: i64) {
    conn.execute("DELETE FROM \"dbo.T\" WHERE \"Id\" = ?1", [k])
        .expect("user row");
    rec(conn, k, Op::Delete, Columns::All);
}

#[derive(Debug, PartialEq)]
pub(super) struct Change {
    pub version: Option<i64>,
    pub creation: Option<i64>,
    pub op: String,
    pub columns: Option<Vec<u8>>,
    pub context: Option<Vec<u8>>,
    pub key: i64,
}

pub(super) fn changes_of(conn: &Connection, id: i64, since: Option<i64>) -> Vec<Change> {
    let keys = keys_int();
    let out =
        materialize_changes(conn, &table(id, "dbo.T", &keys), since, "ct_out").expect("changes");
    let mut st = conn
        .prepare(&format!(
            "SELECT SYS_CHANGE_VERSION, SYS_CHANGE_CREATION_VERSION, SYS_CHANGE_OPERATION,
                    SYS_CHANGE_COLUMNS, SYS_CHANGE_CONTEXT, \"Id\"
             FROM temp.\"{out}\" ORDER BY \"Id\""
        ))
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

pub(super) fn changes(conn: &Connection, since: Option<i64>) -> Vec<Change> {
    changes_of(conn, T, since)
}

pub(super) fn ops(conn: &Connection, since: Option<i64>) -> Vec<(i64, String)> {
    changes(conn, since)
        .into_iter()
        .map(|c| (c.key, c.op))
        .collect()
}

mod fold;
mod sql;
mod store;
