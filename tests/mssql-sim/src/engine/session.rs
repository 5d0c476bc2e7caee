//! Session state and statement dispatch: batches, error handling per
//! statement, SET options, variables, IF/BEGIN..END.
//!
//! Error handling follows docs/t-sql/statements/set-xact-abort-transact-sql.md:
//! a statement-level error ends the statement (its changes undone through a
//! savepoint) and the batch goes on, unless XACT_ABORT is ON (then the
//! transaction is rolled back and the batch ends). Deadlock (1205) and
//! snapshot conflict (3960) always roll back the transaction.

use super::translate::SessionInfo;
use super::{Done, Isolation, ResultSink, Session};
use crate::error::SqlError;
use crate::sql::ast::{IsolationLevel, Located, Statement};
use crate::value::{Param, SqlType, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::catalog::TableInfo;

#[derive(Debug)]
pub struct Txn {
    pub descriptor: u64,
    pub isolation: Isolation,
    /// @@TRANCOUNT
    pub depth: u32,
    /// The SQLite transaction is started lazily, at the first statement that
    /// touches data (so that BEGIN TRAN alone takes no lock, and a SNAPSHOT
    /// transaction's snapshot is taken at its first read, as in SQL Server).
    pub sqlite_open: bool,
    /// A statement that may write ran in this transaction: only then does the
    /// commit call change tracking's `on_commit` (a write there would turn a
    /// read-only SNAPSHOT transaction into a writer at COMMIT).
    pub wrote: bool,
    /// A write statement completed in this transaction.
    pub has_written: bool,
    pub savepoints: Vec<String>,
}

pub struct State {
    pub user: String,
    pub info: SessionInfo,
    pub vars: HashMap<String, (SqlType, Value)>,
    pub nocount: bool,
    pub xact_abort: bool,
    pub isolation: Isolation,
    pub txn: Option<Txn>,
    /// (object id, `db.dbo.T`) of the table with IDENTITY_INSERT ON.
    pub identity_insert: Option<(i64, String)>,
    /// Target of the last `INSERT BULK` and its WITH options, waiting for
    /// its BULK LOAD rows.
    pub pending_bulk: Option<(Arc<TableInfo>, crate::sql::ast::BulkOptions)>,
    pub lock_timeout_ms: i64,
    pub restore_generation: u64,
    /// Parsed batches by text: clients send the same parameterized
    /// statements over and over (the parser is pure, so this is safe).
    pub parse_cache: HashMap<String, Arc<Vec<Located>>>,
    /// Rows the running statement of a SNAPSHOT transaction read in order to
    /// modify them: (table, rowid, values), for the update-conflict check.
    pub snapshot_rows: Vec<(Arc<TableInfo>, i64, Vec<Value>)>,
    /// Whether the running statement may be run again on a fresh snapshot
    /// (not a bulk load, whose rows cannot be read twice).
    pub retryable: bool,
    /// A COMMIT took effect while the test control `cut_after_commit` was
    /// armed: the batch stops and the network layer drops the connection
    /// instead of sending the reply ([`super::Session::take_cut_connection`]).
    pub cut_connection: bool,
    /// BREAK / CONTINUE / RETURN / abort in progress.
    pub flow: super::flow::Flow,
    /// Nesting of TRY blocks being run (errors go to CATCH, not the client).
    pub try_depth: u32,
    /// The triggers being run, innermost last (object ids): their nesting
    /// level and, with RECURSIVE_TRIGGERS OFF, which may not fire again.
    pub trigger_stack: Vec<i64>,
    /// Names the next table variable's storage (`temp."sim_tv_N"`).
    pub local_seq: u64,
}

/// Bound on [`State::parse_cache`]; the cache is emptied when it is full.
const PARSE_CACHE_MAX: usize = 256;
/// Batches longer than this are not cached.
const PARSE_CACHE_TEXT_MAX: usize = 16 * 1024;

impl State {
    pub fn new(user: &str, spid: i64, database: &str, restore_generation: u64) -> Self {
        State {
            user: user.to_string(),
            info: SessionInfo {
                database: database.to_string(),
                user: user.to_string(),
                spid,
                ..SessionInfo::default()
            },
            vars: HashMap::new(),
            nocount: false,
            xact_abort: false,
            isolation: Isolation::ReadCommitted,
            txn: None,
            identity_insert: None,
            pending_bulk: None,
            lock_timeout_ms: -1,
            restore_generation,
            parse_cache: HashMap::new(),
            snapshot_rows: Vec::new(),
            retryable: true,
            cut_connection: false,
            flow: super::flow::Flow::Normal,
            try_depth: 0,
            trigger_stack: Vec::new(),
            local_seq: 0,
        }
    }
}

/// How a statement ended successfully: the DONE count.
pub type StmtResult = Result<Option<u64>, SqlError>;

impl Session {
    pub(super) fn in_transaction(&self) -> bool {
        self.st.txn.is_some()
    }

    /// A snapshot restore by another session drops this session's transaction.
    pub(super) fn check_restored(&mut self, out: &mut dyn ResultSink) {
        let gen = self.engine.restore_generation.load(Ordering::SeqCst);
        if gen != self.st.restore_generation {
            self.st.restore_generation = gen;
            if let Some(t) = self.st.txn.take() {
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                out.env_change(super::EnvChange::RollbackTransaction(t.descriptor));
            }
        }
    }

    pub(super) fn run_batch(&mut self, sql: &str, params: &[Param], out: &mut dyn ResultSink) {
        self.check_restored(out);
        let stmts = match self.parse_cached(sql) {
            Ok(s) => s,
            Err(e) => {
                out.error(&e);
                out.done(Done {
                    count: None,
                    error: true,
                    in_transaction: self.in_transaction(),
                });
                return;
            }
        };
        self.st.vars.clear();
        for p in params {
            // An xml parameter is parsed (and normalised) as it is bound, as
            // SQL Server converts it: a malformed value fails the request.
            let value = match (&p.ty, &p.value) {
                (crate::value::SqlType::Xml, Value::String(x)) => match super::xml::normalize(x) {
                    Ok(n) => Value::String(n),
                    Err(e) => {
                        out.error(&e);
                        out.done(Done {
                            count: None,
                            error: true,
                            in_transaction: self.in_transaction(),
                        });
                        return;
                    }
                },
                (_, v) => v.clone(),
            };
            self.st.vars.insert(super::var_key(&p.name), (p.ty, value));
        }
        let outer_flow = std::mem::take(&mut self.st.flow);
        let outer_try = std::mem::replace(&mut self.st.try_depth, 0);
        // Table variables live to the end of the batch that declares them
        // (docs/t-sql/data-types/table-transact-sql.md: "scoped to the
        // function, stored procedure, or batch in which it's defined").
        let outer_locals = std::mem::take(&mut self.st.info.locals);
        for located in stmts.iter() {
            if out.cancelled() || self.st.flow != super::flow::Flow::Normal {
                break;
            }
            // Outside TRY, exec_stmt reports errors itself and returns Ok.
            let _ = self.exec_stmt(&located.stmt, located.line, out);
        }
        // A batch run by `EXEC sp_executesql` that was cut stops its caller too.
        self.st.flow = if self.st.cut_connection {
            super::flow::Flow::Abort
        } else {
            outer_flow
        };
        self.st.try_depth = outer_try;
        let locals = std::mem::replace(&mut self.st.info.locals, outer_locals);
        self.drop_locals(locals.into_values());
    }

    fn parse_cached(&mut self, sql: &str) -> Result<Arc<Vec<Located>>, SqlError> {
        if let Some(p) = self.st.parse_cache.get(sql) {
            return Ok(Arc::clone(p));
        }
        let parsed = Arc::new(crate::sql::parse_batch(sql)?);
        if sql.len() <= PARSE_CACHE_TEXT_MAX {
            if self.st.parse_cache.len() >= PARSE_CACHE_MAX {
                self.st.parse_cache.clear();
            }
            self.st
                .parse_cache
                .insert(sql.to_string(), Arc::clone(&parsed));
        }
        Ok(parsed)
    }

    pub(super) fn run_statement(
        &mut self,
        stmt: &Statement,
        out: &mut dyn ResultSink,
    ) -> StmtResult {
        let r = self.run_statement_inner(stmt, out);
        // @@ROWCOUNT after statements that return no rows
        // (docs/t-sql/functions/rowcount-transact-sql.md): a simple assignment
        // sets 1; USE, SET <option>, BEGIN/COMMIT TRANSACTION reset it to 0.
        if r.is_ok() {
            match stmt {
                Statement::SetVariable { .. } => self.st.info.rowcount = 1,
                Statement::Use(_)
                | Statement::SetOption { .. }
                | Statement::SetIsolationLevel(_)
                | Statement::SetLockTimeout(_)
                | Statement::SetIdentityInsert { .. }
                | Statement::BeginTransaction { .. }
                | Statement::Commit => self.st.info.rowcount = 0,
                _ => {}
            }
        }
        r
    }

    fn run_statement_inner(&mut self, stmt: &Statement, out: &mut dyn ResultSink) -> StmtResult {
        match stmt {
            Statement::BeginTransaction { .. } => self.begin_transaction(out).map(|_| None),
            Statement::Commit => {
                self.commit_transaction(false, out)?;
                if self.st.cut_connection {
                    // Nothing after this COMMIT runs: the connection is gone.
                    self.st.flow = super::flow::Flow::Abort;
                }
                Ok(None)
            }
            Statement::Rollback { name } => self
                .rollback_transaction(name.as_deref(), out)
                .map(|_| None),
            Statement::SaveTransaction(name) => self.save_transaction(name).map(|_| None),
            Statement::SetOption { option, on } => {
                match option.to_ascii_uppercase().as_str() {
                    "NOCOUNT" => self.st.nocount = *on,
                    "XACT_ABORT" => self.st.xact_abort = *on,
                    // ANSI_NULLS, QUOTED_IDENTIFIER, ARITHABORT, ...: accepted,
                    // the stand-in always behaves as with the defaults ON.
                    _ => {}
                }
                Ok(None)
            }
            Statement::SetLockTimeout(ms) => {
                self.st.lock_timeout_ms = *ms;
                let d = if *ms < 0 {
                    std::time::Duration::from_secs(30)
                } else {
                    std::time::Duration::from_millis(*ms as u64)
                };
                self.conn.busy_timeout(d).map_err(super::sqlerr)?;
                Ok(None)
            }
            Statement::SetIsolationLevel(level) => {
                // docs/t-sql/statements/set-transaction-isolation-level-transact-sql.md
                self.st.isolation = match level {
                    IsolationLevel::ReadUncommitted => Isolation::ReadUncommitted,
                    IsolationLevel::ReadCommitted => Isolation::ReadCommitted,
                    IsolationLevel::RepeatableRead => Isolation::RepeatableRead,
                    IsolationLevel::Serializable => Isolation::Serializable,
                    IsolationLevel::Snapshot => Isolation::Snapshot,
                };
                Ok(None)
            }
            Statement::SetIdentityInsert { table, on } => {
                self.set_identity_insert(table, *on).map(|_| None)
            }
            Statement::DeclareTable(d) => self.declare_table(d).map(|_| None),
            Statement::Declare(decls) => {
                for (name, dt, init) in decls {
                    let ty = super::types::parse_type(dt)?;
                    let v = match init {
                        Some(e) => self.eval_scalar(e, Some(&ty))?,
                        None => Value::Null,
                    };
                    self.st.vars.insert(super::var_key(name), (ty, v));
                }
                Ok(None)
            }
            Statement::SetVariable { name, value } => {
                let key = super::var_key(name);
                let Some((ty, _)) = self.st.vars.get(&key).cloned() else {
                    return Err(SqlError::new(
                        137,
                        15,
                        2,
                        format!("Must declare the scalar variable \"{name}\"."),
                    ));
                };
                let v = self.eval_scalar(value, Some(&ty))?;
                self.st.vars.insert(key, (ty, v));
                Ok(None)
            }
            Statement::Use(db) => {
                if db.eq_ignore_ascii_case(self.engine.database()) {
                    // SQL Server answers USE with ENVCHANGE type 1 and INFO 5701,
                    // even when the database does not change.
                    let name = self.engine.database().to_string();
                    out.env_change(super::EnvChange::Database {
                        new: name.clone(),
                        old: name.clone(),
                    });
                    out.info(5701, &format!("Changed database context to '{name}'."));
                    Ok(None)
                } else {
                    Err(SqlError::new(
                        911,
                        16,
                        1,
                        format!("Database '{db}' does not exist. Make sure that the name is entered correctly."),
                    ))
                }
            }
            Statement::Print(e) => {
                let v = self.eval_scalar(e, Some(&SqlType::NVarChar(crate::value::Len::Max)))?;
                if let Value::String(s) = v {
                    out.info(0, &s);
                }
                Ok(None)
            }
            Statement::Raise {
                number,
                message,
                severity,
                state,
            } => {
                let msg = match self
                    .eval_scalar(message, Some(&SqlType::NVarChar(crate::value::Len::Max)))?
                {
                    Value::String(s) => s,
                    _ => String::new(),
                };
                let num = match number {
                    Some(n) => match self.eval_scalar(n, Some(&SqlType::Int))? {
                        Value::Int(i) => i as i32,
                        _ => 50000,
                    },
                    None => 50000,
                };
                let sev = match severity {
                    Some(s) => match self.eval_scalar(s, Some(&SqlType::Int))? {
                        Value::Int(i) => i.clamp(0, 25) as u8,
                        _ => 16,
                    },
                    None => 16,
                };
                let st = match self.eval_scalar(state, Some(&SqlType::Int))? {
                    Value::Int(i) => i.clamp(0, 255) as u8,
                    _ => 1,
                };
                if sev <= 10 {
                    out.info(num, &msg);
                    Ok(None)
                } else {
                    Err(SqlError::new(num, sev, st, msg))
                }
            }
            Statement::Exec { procedure, args } => self.exec_procedure(procedure, args, out),
            other => self.run_data_statement(other, out),
        }
    }

    /// Evaluates an expression without FROM (DECLARE, SET, IF, PRINT).
    pub(super) fn eval_scalar(
        &mut self,
        e: &crate::sql::ast::Expr,
        to: Option<&SqlType>,
    ) -> Result<Value, SqlError> {
        // `IF EXISTS (SELECT ... WITH (UPDLOCK, HOLDLOCK) ...)` locks as the
        // same SELECT on its own would.
        let access = if super::lock_hints::expr_holds_locks(e) {
            super::txn::Access::LockingRead
        } else {
            super::txn::Access::Read
        };
        let e = e.clone();
        let to = to.copied();
        self.with_access(
            access,
            &[],
            move |s, _out| {
                let mut ctx = super::translate::Ctx::new(&s.conn, &s.st.vars, &s.st.info);
                ctx.scopes.push(Vec::new());
                let (v, ty) = ctx.eval_const(&e)?;
                match to {
                    Some(t) => {
                        super::convert::convert(&v, ty.as_ref(), &t, super::convert::Target::Expr)
                    }
                    None => Ok(v),
                }
            },
            &mut NullSink,
        )
    }
}

/// A sink that drops everything (internal evaluations).
pub struct NullSink;

impl ResultSink for NullSink {
    fn columns(&mut self, _: &[crate::value::ColumnMeta]) {}
    fn row(&mut self, _: &[Value]) {}
    fn done(&mut self, _: Done) {}
    fn error(&mut self, _: &SqlError) {}
    fn info(&mut self, _: i32, _: &str) {}
    fn env_change(&mut self, _: super::EnvChange) {}
}
