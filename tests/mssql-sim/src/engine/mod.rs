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

pub mod change_tracking;

use crate::controls::Controls;
use crate::error::SqlError;
use crate::value::{ColumnMeta, Param, Value};
use std::path::PathBuf;
use std::sync::Arc;

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
pub struct Engine {
    _private: (),
}

impl Engine {
    /// Opens (creating if needed) the database described by `opts`.
    pub fn open(opts: EngineOptions) -> Result<Arc<Engine>, SqlError> {
        let _ = opts;
        Err(SqlError::new(
            40000,
            16,
            1,
            "mssql-sim: the engine is not built yet",
        ))
    }

    /// The database name (`DB_NAME()`).
    pub fn database(&self) -> &str {
        ""
    }

    /// Opens a session for a logged-in user (after LOGIN7 succeeded).
    pub fn session(self: &Arc<Self>, user: &str) -> Result<Session, SqlError> {
        let _ = user;
        Err(SqlError::new(40000, 16, 1, "not built yet"))
    }

    /// Change-tracking cleanup now: raises every tracked table's min valid
    /// version to the current version, as if retention had passed.
    pub fn ct_cleanup(&self) -> Result<(), SqlError> {
        Ok(())
    }

    /// Saves the whole database, versions included, under `name`.
    pub fn snapshot_save(&self, name: &str) -> Result<(), SqlError> {
        let _ = name;
        Ok(())
    }

    /// Restores a saved snapshot, as a RESTORE DATABASE would: open
    /// transactions of other sessions are lost (the server drops them).
    pub fn snapshot_restore(&self, name: &str) -> Result<(), SqlError> {
        let _ = name;
        Ok(())
    }
}

/// One client's session: open transaction, SET options, IDENTITY_INSERT,
/// SCOPE_IDENTITY, @@ROWCOUNT.
pub struct Session {
    _private: (),
}

impl Session {
    /// Runs a SQL batch (packet 0x01) or the statement of an `sp_executesql`
    /// RPC with its bound parameters. Every statement ends with exactly one
    /// `done` on the sink.
    pub fn execute(&mut self, sql: &str, params: &[Param], out: &mut dyn ResultSink) {
        let _ = (sql, params, out);
    }

    /// Transaction-manager request TM_BEGIN_XACT (MS-TDS 2.2.6.8).
    pub fn tm_begin(&mut self, isolation: Option<Isolation>, out: &mut dyn ResultSink) {
        let _ = (isolation, out);
    }

    /// TM_COMMIT_XACT.
    pub fn tm_commit(&mut self, out: &mut dyn ResultSink) {
        let _ = out;
    }

    /// TM_ROLLBACK_XACT.
    pub fn tm_rollback(&mut self, out: &mut dyn ResultSink) {
        let _ = out;
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
        let _ = (columns, rows, out);
    }

    /// The descriptor of the open transaction, 0 when none (ALL_HEADERS).
    pub fn transaction_descriptor(&self) -> u64 {
        0
    }

    /// Rolls back whatever is open; called when the connection closes.
    pub fn close(&mut self) {}
}
