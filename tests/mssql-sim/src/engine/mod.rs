//! The stand-in's database engine: T-SQL (parsed by [`crate::sql`]) executed on
//! an embedded SQLite database, with SQL Server's types, errors, sessions,
//! transactions and Change Tracking.
//!
//! This file is the contract between the network layer ([`crate::tds`],
//! [`crate::server`]) and the engine. The network layer never sees SQL text
//! semantics; the engine never sees bytes on the wire.
//!
//! Threading: one [`Session`] per client connection, used from one thread at a
//! time (it is `Send`, not `Sync`). The [`Engine`] is shared by all sessions.
//!
//! How it works (see the module docs for details): `translate` turns the AST
//! into SQLite SQL with bound parameters and infers SQL Server types; `types`
//! stores every SQL Server type in a SQLite form that round-trips and sorts
//! exactly; `catalog` keeps our own metadata; `rows` writes rows with SQL
//! Server's constraint errors and records change tracking; `txn` and `flow`
//! give transactions, savepoints per statement and batch control flow.
//!
//! Known differences from SQL Server (stand-in limits, not goals):
//! - row-level locking is not emulated: writers serialize on SQLite's write
//!   lock (a READ COMMITTED transaction takes it at its first write and
//!   holds it to the end). A SELECT with a hint that holds its locks to the
//!   end of the transaction (UPDLOCK, XLOCK, HOLDLOCK, SERIALIZABLE,
//!   REPEATABLEREAD, TABLOCKX) takes that same lock inside a transaction, so
//!   it blocks writers of every table, not only of the rows it read, and two
//!   such readers wait for each other even where SQL Server's shared locks
//!   would let both read. The isolation levels REPEATABLE READ and
//!   SERIALIZABLE set for the session hold no locks of their own;
//! - a SNAPSHOT transaction whose first write comes after another
//!   transaction committed moves to a fresh snapshot when the rows it
//!   modifies are unchanged (3960 when they changed, as in SQL Server); its
//!   later reads then see that fresher snapshot. After its first write, any
//!   further conflict is 3960 even for different rows;
//! - CHECKSUM / BINARY_CHECKSUM are deterministic hashes, not SQL Server's
//!   values (both sides of a comparison run here, so equality still means
//!   equal data);
//! - computed columns are stored as if PERSISTED (see `computed`);
//! - table variables hold plain columns only (no constraints, no IDENTITY,
//!   no computed or rowversion columns)
//!   and, unlike SQL Server's, their rows roll back with a transaction (see
//!   `table_vars`); AFTER triggers only, without `UPDATE(column)` (see
//!   `triggers`);
//! - not supported (error 102 naming the construct): INSTEAD OF and DDL
//!   triggers, cascading foreign keys; `#temp` tables are
//!   ordinary tables.

pub mod change_tracking;

mod alter_column;
mod catalog;
mod collation;
mod computed;
mod convert;
mod datefuncs;
mod dispatch;
mod exec_alter;
mod exec_ddl;
mod exec_dml;
mod exec_select;
mod flow;
mod functions;
mod identity;
mod like;
mod lock_hints;
mod merge;
mod migrate;
mod output;
mod procs;
mod rows;
mod session;
mod snapshot;
mod sparse;
mod table_vars;
mod translate;
mod triggers;
mod txn;
mod types;
mod variant;
mod views;
mod xml;

use crate::controls::Controls;
use crate::error::SqlError;
use crate::value::{ColumnMeta, Param, Value};
use parking_lot::Mutex;
use rusqlite::{Connection, ErrorCode};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How to open a database.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// The database name clients log in to (`DB_NAME()`).
    pub database: String,
    /// SQLite file that keeps the data across restarts; `None` keeps it in a
    /// private temporary directory that lives as long as the [`Engine`].
    pub data_file: Option<PathBuf>,
    /// Append every statement received (text and parameters) to this file.
    pub log_statements: Option<PathBuf>,
    pub controls: Arc<Controls>,
}

/// Isolation level of a session or of a transaction-manager BEGIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    ReadUncommitted,
    ReadCommitted,
    RepeatableRead,
    Serializable,
    Snapshot,
}

/// How a statement ended: what a DONE / DONEINPROC token carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    /// Rows affected or returned (sets the DONE_COUNT bit when `Some`;
    /// `SET NOCOUNT ON` makes it `None` for DML).
    pub count: Option<u64>,
    /// The statement raised an error (DONE_ERROR bit).
    pub error: bool,
    /// A transaction is open after this statement (DONE_INXACT bit).
    pub in_transaction: bool,
}

/// Environment changes the client must be told about (ENVCHANGE tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvChange {
    /// Type 8: a transaction began; the 8-byte descriptor the client must send
    /// in ALL_HEADERS from now on.
    BeginTransaction(u64),
    /// Type 9: committed; the descriptor that ended.
    CommitTransaction(u64),
    /// Type 10: rolled back; the descriptor that ended.
    RollbackTransaction(u64),
    /// Type 1: current database changed (after USE).
    Database { new: String, old: String },
}

/// Receives what a request produces, in order. The network layer encodes each
/// call as TDS tokens; tests may collect them.
pub trait ResultSink {
    /// A result set starts (COLMETADATA).
    fn columns(&mut self, columns: &[ColumnMeta]);
    /// One row of the current result set; `values.len()` equals the columns'.
    fn row(&mut self, values: &[Value]);
    /// A statement ended (DONE, or DONEINPROC inside an RPC).
    fn done(&mut self, done: Done);
    /// A statement inside a trigger ended: always DONEINPROC (MS-TDS
    /// 2.2.7.7: "the completion status of a SQL statement within a stored
    /// procedure"), also in a SQL batch.
    fn done_in_proc(&mut self, done: Done) {
        self.done(done)
    }
    /// An error (ERROR token). A `done` with `error: true` follows.
    fn error(&mut self, error: &SqlError);
    /// An informational message (INFO token, class <= 10).
    fn info(&mut self, number: i32, message: &str);
    fn env_change(&mut self, change: EnvChange);
    /// The request was cancelled (ATTENTION); checked between rows.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Pulls the rows of a BULK LOAD message one at a time (the network layer
/// decodes them lazily from the packets). `Ok(None)` ends the data.
pub type BulkRows<'a> = dyn FnMut() -> Result<Option<Vec<Value>>, SqlError> + 'a;

/// A database shared by all sessions of one stand-in.
///
/// Every session has its own SQLite connection on the same file in WAL mode.
/// Readers never block; writers serialize on SQLite's single write lock (a
/// session waits up to its lock timeout for it). SQL Server's row-level
/// locking is not emulated: two transactions writing different rows of the
/// same or different tables wait for each other here, where SQL Server would
/// let them run side by side.
pub struct Engine {
    opts: EngineOptions,
    path: PathBuf,
    snapshot_dir: PathBuf,
    _tempdir: Option<tempfile::TempDir>,
    /// Connection for engine-wide operations (cleanup, snapshots).
    admin: Mutex<Connection>,
    spid_seq: AtomicI64,
    descriptor_seq: AtomicU64,
    /// Bumped by a snapshot restore: sessions drop their open transactions.
    restore_generation: AtomicU64,
    log: Mutex<Option<std::fs::File>>,
    /// Last identity value handed out per table. Identity values are not
    /// reused after a failed or rolled-back insert ("Reuse of values",
    /// docs/t-sql/statements/create-table-transact-sql-identity-property.md),
    /// while the counter in SQLite rolls back with the transaction: the next
    /// value is taken past both.
    identity_hwm: Mutex<std::collections::HashMap<i64, i64>>,
    /// The rowversion counter's high-water mark (see `computed`).
    dbts: Arc<computed::DbTimestamp>,
}

/// Maps a SQLite error to a SQL Server error.
pub(crate) fn sqlerr(e: rusqlite::Error) -> SqlError {
    let msg = e.to_string();
    if let Some(d) = functions::decode_error(&msg) {
        return d;
    }
    if let rusqlite::Error::SqliteFailure(fe, _) = &e {
        if fe.extended_code == rusqlite::ffi::SQLITE_BUSY_SNAPSHOT {
            return snapshot_conflict("?", "?");
        }
        if matches!(fe.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) {
            // docs/relational-databases/errors-events/mssqlserver-1222-database-engine-error.md
            return SqlError::new(1222, 16, 56, "Lock request time out period exceeded.");
        }
    }
    if msg.contains("integer overflow") {
        // SQLite's SUM over 64-bit integers overflowed.
        return SqlError::new(
            8115,
            16,
            2,
            "Arithmetic overflow error converting expression to data type bigint.",
        );
    }
    SqlError::new(50000, 16, 1, format!("mssql-sim storage error: {msg}"))
}

/// A construct SQL Server accepts but the stand-in does not: reported as a
/// syntax error (number 102), as SIM-SPEC asks for anything outside the
/// supported subset, naming the construct.
pub(crate) fn unsupported(what: &str) -> SqlError {
    SqlError::new(
        102,
        15,
        1,
        format!("Incorrect syntax near '{what}': mssql-sim does not support it."),
    )
}

/// Error 3960. docs/relational-databases/errors-events/database-engine-events-and-errors-3000-to-3999.md
pub(crate) fn snapshot_conflict(table: &str, db: &str) -> SqlError {
    SqlError::new(
        3960,
        16,
        2,
        format!(
            "Snapshot isolation transaction aborted due to update conflict. You cannot use snapshot isolation to access table '{table}' directly or indirectly in database '{db}' to update, delete, or insert the row that has been modified or deleted by another transaction. Retry the transaction or change the isolation level for the update/delete statement."
        ),
    )
}

/// TEMP tables (CHANGETABLE results, key lists) and statement journals in
/// memory: they live only as long as the connection and are small at test
/// scale; on disk they cost a write system call per page.
fn open_connection(path: &std::path::Path) -> Result<Connection, SqlError> {
    let conn = Connection::open(path).map_err(sqlerr)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;",
    )
    .map_err(sqlerr)?;
    conn.busy_timeout(Duration::from_secs(30)).map_err(sqlerr)?;
    conn.set_prepared_statement_cache_capacity(256);
    functions::register(&conn).map_err(sqlerr)?;
    datefuncs::register(&conn).map_err(sqlerr)?;
    Ok(conn)
}

impl Engine {
    /// Opens (creating if needed) the database described by `opts`.
    pub fn open(opts: EngineOptions) -> Result<Arc<Engine>, SqlError> {
        let io = |e: std::io::Error| SqlError::new(50000, 16, 1, format!("mssql-sim: {e}"));
        let (path, tempdir, snapshot_dir) = match &opts.data_file {
            Some(p) => {
                let mut snap = p.clone().into_os_string();
                snap.push(".snapshots");
                (p.clone(), None, PathBuf::from(snap))
            }
            None => {
                let dir = tempfile::TempDir::new().map_err(io)?;
                let p = dir.path().join("data.sqlite");
                let snap = dir.path().join("snapshots");
                (p, Some(dir), snap)
            }
        };
        std::fs::create_dir_all(&snapshot_dir).map_err(io)?;
        let admin = open_connection(&path)?;
        admin.execute_batch(catalog::SCHEMA_SQL).map_err(sqlerr)?;
        migrate::migrate(&admin)?;
        admin
            .execute(
                "INSERT INTO sim_meta(key, value) VALUES ('database_name', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [&opts.database],
            )
            .map_err(sqlerr)?;
        // The identities of sys.database_recovery_status
        // (docs/relational-databases/system-catalog-views/sys-database-recovery-status-transact-sql.md)
        // of a new database (or of a data file from before the stand-in kept
        // them): database_guid, family_guid ("ID of the original database when
        // created", docs/t-sql/statements/restore-statements-headeronly-transact-sql.md)
        // and the recovery fork. Existing ones are kept, so they survive a
        // restart on the same data file.
        admin
            .execute_batch(
                "INSERT OR IGNORE INTO sim_meta(key, value) VALUES
                   ('database_guid', sim_newid()),
                   ('family_guid', sim_newid()),
                   ('recovery_fork_guid', sim_newid());",
            )
            .map_err(sqlerr)?;
        views::create_all(&admin).map_err(sqlerr)?;
        change_tracking::init_schema(&admin)?;
        let log = match &opts.log_statements {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(io)?,
            ),
            None => None,
        };
        Ok(Arc::new(Engine {
            opts,
            path,
            snapshot_dir,
            _tempdir: tempdir,
            admin: Mutex::new(admin),
            spid_seq: AtomicI64::new(51),
            descriptor_seq: AtomicU64::new(1),
            restore_generation: AtomicU64::new(0),
            log: Mutex::new(log),
            identity_hwm: Mutex::new(std::collections::HashMap::new()),
            dbts: Arc::default(),
        }))
    }

    /// The database name (`DB_NAME()`).
    pub fn database(&self) -> &str {
        &self.opts.database
    }

    pub fn controls(&self) -> &Arc<Controls> {
        &self.opts.controls
    }

    /// Opens a session for a logged-in user (after LOGIN7 succeeded).
    pub fn session(self: &Arc<Self>, user: &str) -> Result<Session, SqlError> {
        let conn = open_connection(&self.path)?;
        let spid = self.spid_seq.fetch_add(1, Ordering::SeqCst);
        let mut st = session::State::new(
            user,
            spid,
            self.database(),
            self.restore_generation.load(Ordering::SeqCst),
        );
        st.info.dbts = Arc::clone(&self.dbts);
        Ok(Session {
            engine: Arc::clone(self),
            conn,
            st,
        })
    }

    fn next_descriptor(&self) -> u64 {
        self.descriptor_seq.fetch_add(1, Ordering::SeqCst)
    }

    fn log_statement(&self, sql: &str, params: &[Param]) {
        let mut guard = self.log.lock();
        if let Some(f) = guard.as_mut() {
            let ps: Vec<String> = params
                .iter()
                .map(|p| format!("{}={:?}", p.name, p.value))
                .collect();
            // A failing log write must not fail the statement.
            let _ = writeln!(f, "{}\t{}", sql.replace('\n', " "), ps.join(", "));
        }
    }

    /// Change-tracking cleanup now: raises every tracked table's min valid
    /// version to the current version, as if retention had passed.
    pub fn ct_cleanup(&self) -> Result<(), SqlError> {
        let conn = self.admin.lock();
        conn.execute_batch("BEGIN IMMEDIATE").map_err(sqlerr)?;
        match change_tracking::cleanup(&conn) {
            Ok(()) => conn.execute_batch("COMMIT").map_err(sqlerr),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Saves the whole database, versions included, under `name`.
    pub fn snapshot_save(&self, name: &str) -> Result<(), SqlError> {
        snapshot::save(&self.admin.lock(), &self.snapshot_dir, name)
    }

    /// Restores a saved snapshot, as a RESTORE DATABASE would: open
    /// transactions of other sessions are lost (the server drops them), and
    /// the database is on a new recovery fork, since recovering a restored
    /// database starts one (`sys.database_recovery_status.recovery_fork_guid`,
    /// docs/relational-databases/system-catalog-views/sys-database-recovery-status-transact-sql.md;
    /// RecoveryForkID in docs/t-sql/statements/restore-statements-headeronly-transact-sql.md).
    ///
    /// The other identities of that view follow RESTORE HEADERONLY's
    /// description of them (same page): `database_guid` (BindingID) "When a
    /// database is restored, a new value is assigned"; `family_guid`
    /// (FamilyGUID) "stays the same when the database is restored".
    pub fn snapshot_restore(&self, name: &str) -> Result<(), SqlError> {
        self.restore_generation.fetch_add(1, Ordering::SeqCst);
        self.identity_hwm.lock().clear();
        self.dbts.reset();
        let mut admin = self.admin.lock();
        let family: Option<String> = admin
            .query_row(
                "SELECT value FROM sim_meta WHERE key = 'family_guid'",
                [],
                |r| r.get(0),
            )
            .ok();
        snapshot::restore(&mut admin, &self.snapshot_dir, name)?;
        admin
            .execute_batch(
                "INSERT OR REPLACE INTO sim_meta(key, value) VALUES
                   ('recovery_fork_guid', sim_newid()),
                   ('database_guid', sim_newid());",
            )
            .map_err(sqlerr)?;
        // A snapshot is of this very database, so it carries the same family;
        // one saved by an older stand-in has none and keeps the current one.
        admin
            .execute(
                "INSERT OR IGNORE INTO sim_meta(key, value) VALUES ('family_guid', COALESCE(?1, sim_newid()))",
                [family],
            )
            .map_err(sqlerr)?;
        // The catalog views are the stand-in's, not data: a snapshot saved
        // by an older stand-in brings back its older views (and lacks the
        // catalog tables added since, such as sim_triggers).
        admin.execute_batch(catalog::SCHEMA_SQL).map_err(sqlerr)?;
        migrate::migrate(&admin)?;
        views::create_all(&admin).map_err(sqlerr)?;
        Ok(())
    }
}

/// One client's session: open transaction, SET options, IDENTITY_INSERT,
/// SCOPE_IDENTITY, @@ROWCOUNT.
pub struct Session {
    engine: Arc<Engine>,
    conn: Connection,
    st: session::State,
}

impl Session {
    /// Runs a SQL batch (packet 0x01) or the statement of an `sp_executesql`
    /// RPC with its bound parameters. Every statement ends with exactly one
    /// `done` on the sink.
    pub fn execute(&mut self, sql: &str, params: &[Param], out: &mut dyn ResultSink) {
        self.engine.log_statement(sql, params);
        // A safety net: a bug in the stand-in must cost the request, not the
        // connection's thread. The open transaction is rolled back, since its
        // state is unknown after a panic.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run_batch(sql, params, out)
        }));
        if r.is_err() {
            tracing::error!(sql, "mssql-sim engine panicked while running a batch");
            if let Some(t) = self.st.txn.take() {
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                out.env_change(EnvChange::RollbackTransaction(t.descriptor));
            }
            self.st.flow = flow::Flow::Normal;
            self.st.try_depth = 0;
            out.error(&SqlError::new(
                50000,
                16,
                1,
                "mssql-sim internal error while running this batch (see the stand-in's log).",
            ));
            out.done(Done {
                count: None,
                error: true,
                in_transaction: false,
            });
        }
    }

    /// Transaction-manager request TM_BEGIN_XACT (MS-TDS 2.2.6.8).
    pub fn tm_begin(&mut self, isolation: Option<Isolation>, out: &mut dyn ResultSink) {
        self.check_restored(out);
        if let Some(i) = isolation {
            self.st.isolation = i;
        }
        let r = self.begin_transaction(out);
        self.finish_tm(r, out);
    }

    /// TM_COMMIT_XACT.
    pub fn tm_commit(&mut self, out: &mut dyn ResultSink) {
        self.check_restored(out);
        let r = self.commit_transaction(true, out);
        self.finish_tm(r, out);
    }

    /// TM_SAVE_XACT: a named savepoint in the open transaction.
    pub fn tm_save(&mut self, name: &str, out: &mut dyn ResultSink) {
        self.check_restored(out);
        let r = self.save_transaction(name);
        self.finish_tm(r, out);
    }

    /// TM_ROLLBACK_XACT.
    pub fn tm_rollback(&mut self, out: &mut dyn ResultSink) {
        self.check_restored(out);
        let r = self.rollback_transaction(None, out);
        self.finish_tm(r, out);
    }

    /// The rows of a BULK LOAD message (packet 0x07) that follows an
    /// `INSERT BULK` statement run through [`Session::execute`]. `columns` is
    /// the COLMETADATA the client sent with the rows.
    pub fn bulk_load(
        &mut self,
        columns: &[ColumnMeta],
        rows: &mut BulkRows<'_>,
        out: &mut dyn ResultSink,
    ) {
        self.run_bulk_load(columns, rows, out);
    }

    /// The value a parameter or variable has after the last `execute`: for
    /// the RETURNVALUE tokens of OUTPUT parameters of an RPC (`@P1` or `P1`).
    pub fn variable(&self, name: &str) -> Option<(crate::value::SqlType, Value)> {
        self.st.vars.get(&var_key(name)).cloned()
    }

    /// Whether the last request committed a transaction while the test
    /// control `cut_after_commit` was armed; the network layer then drops
    /// the connection without sending the reply. Clears the mark.
    pub fn take_cut_connection(&mut self) -> bool {
        if !std::mem::take(&mut self.st.cut_connection) {
            return false;
        }
        self.st.flow = flow::Flow::Normal;
        true
    }

    /// The descriptor of the open transaction, 0 when none (ALL_HEADERS).
    pub fn transaction_descriptor(&self) -> u64 {
        self.st.txn.as_ref().map(|t| t.descriptor).unwrap_or(0)
    }

    /// Rolls back whatever is open; called when the connection closes.
    pub fn close(&mut self) {
        if self.st.txn.take().is_some() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests;

/// Key of a variable or parameter in the session's map: `@P1`, `p1` → `p1`.
pub(crate) fn var_key(name: &str) -> String {
    name.trim_start_matches('@').to_ascii_lowercase()
}
