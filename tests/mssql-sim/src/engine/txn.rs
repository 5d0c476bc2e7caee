//! Transactions: BEGIN/COMMIT/ROLLBACK/SAVE statements, the transaction
//! manager requests, and the per-statement wrapper every data statement runs
//! in (its own SQLite transaction in autocommit mode, a savepoint inside a
//! user transaction, so a failed statement leaves no trace).
//!
//! docs/t-sql/language-elements/begin-transaction-transact-sql.md,
//! commit-transaction-transact-sql.md, rollback-transaction-transact-sql.md;
//! SNAPSHOT: docs/t-sql/statements/set-transaction-isolation-level-transact-sql.md
//! ("the snapshot ... as of the start of the transaction" — SQL Server takes it
//! at the first statement that reads data, which is what a deferred SQLite
//! transaction does).

use super::session::{State, Txn};
use super::{change_tracking as ct, sqlerr, EnvChange, Isolation, ResultSink, Session};
use crate::error::SqlError;
use crate::sql::ast::{ObjectName, Query, SetExpr, Statement, TableFactor, TableWithJoins};

/// What a statement does with the data, for locking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Read,
    /// A read whose table hints keep their locks until the transaction
    /// ends (`lock_hints`): inside a user transaction it takes the write
    /// lock, but it writes nothing.
    LockingRead,
    /// The statement may change data.
    Write,
}

/// Error text of an injected failure (test control `fail_next`).
pub fn injected(number: i32, table: &str, st: &State) -> SqlError {
    match number {
        // docs/relational-databases/errors-events/mssqlserver-1205-database-engine-error.md
        1205 => SqlError::new(
            1205,
            13,
            51,
            format!(
                "Transaction (Process ID {}) was deadlocked on lock resources with another process and has been chosen as the deadlock victim. Rerun the transaction.",
                st.info.spid
            ),
        ),
        1222 => SqlError::new(1222, 16, 56, "Lock request time out period exceeded."),
        3960 => super::snapshot_conflict(table, &st.info.database),
        4060 => crate::error::cannot_open_database(&st.info.database, &st.user),
        n => SqlError::new(n, 16, 1, format!("mssql-sim injected error {n} on table '{table}'.")),
    }
}

/// SQLite's "cannot upgrade a stale read transaction" (SQLITE_BUSY_SNAPSHOT),
/// as `sqlerr` maps it (a 3960 whose table is not known yet).
fn is_stale_snapshot(e: &SqlError) -> bool {
    e.number == 3960 && e.message.contains("table '?'")
}

fn snapshot_not_allowed(db: &str) -> SqlError {
    // docs/relational-databases/errors-events/database-engine-events-and-errors-3000-to-3999.md
    SqlError::new(
        3952,
        16,
        1,
        format!("Snapshot isolation transaction failed accessing database '{db}' because snapshot isolation is not allowed in this database. Use ALTER DATABASE to allow snapshot isolation."),
    )
}

impl Session {
    pub(super) fn current_isolation(&self) -> Isolation {
        self.st
            .txn
            .as_ref()
            .map(|t| t.isolation)
            .unwrap_or(self.st.isolation)
    }

    fn snapshot_allowed(&self) -> Result<bool, SqlError> {
        let v: i64 = self
            .conn
            .query_row(
                "SELECT value FROM sim_meta WHERE key = 'allow_snapshot_isolation'",
                [],
                |r| r.get(0),
            )
            .map_err(sqlerr)?;
        Ok(v != 0)
    }

    /// Runs `f` as one statement touching data (`write`: it may change data).
    pub(super) fn with_data<T>(
        &mut self,
        write: bool,
        tables: &[String],
        f: impl FnMut(&mut Session, &mut dyn ResultSink) -> Result<T, SqlError>,
        out: &mut dyn ResultSink,
    ) -> Result<T, SqlError> {
        let access = if write { Access::Write } else { Access::Read };
        self.with_access(access, tables, f, out)
    }

    /// Runs `f` as one statement touching data the way `access` says.
    pub(super) fn with_access<T>(
        &mut self,
        access: Access,
        tables: &[String],
        mut f: impl FnMut(&mut Session, &mut dyn ResultSink) -> Result<T, SqlError>,
        out: &mut dyn ResultSink,
    ) -> Result<T, SqlError> {
        let write = access == Access::Write;
        for t in tables {
            if let Some(n) = self.engine.opts.controls.take_failure(t) {
                return Err(injected(n, t, &self.st));
            }
        }
        self.st.info.trancount = self.st.txn.as_ref().map(|t| t.depth as i64).unwrap_or(0);
        if !self.st.trigger_stack.is_empty() && !self.conn.is_autocommit() {
            // A statement of a trigger: part of the firing statement's
            // transaction, atomic on its own.
            self.conn
                .execute_batch("SAVEPOINT sim_trg")
                .map_err(sqlerr)?;
            let r = f(self, out);
            let end = if r.is_ok() {
                "RELEASE sim_trg"
            } else {
                "ROLLBACK TO sim_trg; RELEASE sim_trg"
            };
            let _ = self.conn.execute_batch(end);
            return r;
        }
        let snapshot = self.current_isolation() == Isolation::Snapshot;
        // 3952 is raised when a statement reads the database's data; a
        // statement without tables (`IF @@TRANCOUNT > 0 ROLLBACK`) runs.
        if snapshot
            && !tables.is_empty()
            && !(self.st.txn.as_ref().map(|t| t.sqlite_open).unwrap_or(false))
            && !self.snapshot_allowed()?
        {
            return Err(snapshot_not_allowed(&self.st.info.database));
        }
        // A READ COMMITTED transaction takes SQLite's write lock only at its
        // first write: reads before it run on their own, each seeing the last
        // committed data (READ COMMITTED), without blocking other writers the
        // way a held write lock would. A read with a hint that holds its
        // locks to the end of the transaction (UPDLOCK, HOLDLOCK, ...:
        // docs/t-sql/queries/hints-transact-sql-table.md, see `lock_hints`)
        // takes the write lock as a write would, without counting as one
        // (no change-tracking version at COMMIT). Not in SNAPSHOT, whose
        // reads run on their snapshot, nor in autocommit, where the
        // statement's locks end with it.
        let hold = access == Access::LockingRead && !snapshot;
        let joins_txn = self
            .st
            .txn
            .as_ref()
            .map(|t| t.sqlite_open || write || hold || snapshot)
            .unwrap_or(false);
        let r = if let (true, Some(txn)) = (joins_txn, self.st.txn.as_mut()) {
            if !txn.sqlite_open {
                let begin = if snapshot {
                    "BEGIN DEFERRED"
                } else {
                    "BEGIN IMMEDIATE"
                };
                self.conn.execute_batch(begin).map_err(sqlerr)?;
                txn.sqlite_open = true;
            }
            txn.wrote |= write;
            let first_write = snapshot
                && write
                && !txn.has_written
                && txn.savepoints.is_empty()
                && self.st.retryable;
            self.st.snapshot_rows.clear();
            self.conn
                .execute_batch("SAVEPOINT sim_stmt")
                .map_err(sqlerr)?;
            let mut r = f(self, out);
            if first_write && matches!(&r, Err(e) if is_stale_snapshot(e)) {
                r = self.retry_on_fresh_snapshot(&mut f, out);
            }
            if write && r.is_ok() {
                if let Some(t) = self.st.txn.as_mut() {
                    t.has_written = true;
                }
            }
            match &r {
                Ok(_) => self
                    .conn
                    .execute_batch("RELEASE sim_stmt")
                    .map_err(sqlerr)?,
                Err(_) => {
                    // The transaction may already be gone (SQLite rolls back
                    // on some errors); ignore failures of the undo itself.
                    let _ = self
                        .conn
                        .execute_batch("ROLLBACK TO sim_stmt; RELEASE sim_stmt");
                }
            }
            r
        } else {
            let begin = if write {
                "BEGIN IMMEDIATE"
            } else {
                "BEGIN DEFERRED"
            };
            self.conn.execute_batch(begin).map_err(sqlerr)?;
            let r = f(self, out).and_then(|v| {
                if write {
                    ct::on_commit(&self.conn)?;
                }
                self.conn.execute_batch("COMMIT").map_err(sqlerr)?;
                Ok(v)
            });
            if r.is_err() && !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            r
        };
        r.map_err(|mut e| {
            if e.number == 3960 && e.message.contains("table '?'") {
                e = super::snapshot_conflict(
                    tables.first().map(|s| s.as_str()).unwrap_or("?"),
                    &self.st.info.database,
                );
            }
            e
        })
    }

    /// The first write of a SNAPSHOT transaction found its snapshot stale
    /// (another transaction committed since it was taken; SQLite cannot
    /// upgrade such a reader to a writer). SQL Server only fails (3960) when a
    /// row this statement modifies was changed by that other transaction
    /// (docs/t-sql/statements/set-transaction-isolation-level-transact-sql.md,
    /// "update conflict"), so: move to a fresh snapshot, check that every row
    /// the statement read for modification is unchanged, and run the
    /// statement again. Later reads of the transaction see the fresher
    /// snapshot — a stand-in difference, documented in the module docs.
    fn retry_on_fresh_snapshot<T>(
        &mut self,
        f: &mut impl FnMut(&mut Session, &mut dyn ResultSink) -> Result<T, SqlError>,
        out: &mut dyn ResultSink,
    ) -> Result<T, SqlError> {
        let rows = std::mem::take(&mut self.st.snapshot_rows);
        let _ = self
            .conn
            .execute_batch("ROLLBACK TO sim_stmt; RELEASE sim_stmt");
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK").map_err(sqlerr)?;
        }
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(sqlerr)?;
        for (table, rowid, old) in &rows {
            let cols: Vec<String> = table
                .columns
                .iter()
                .map(|c| super::catalog::quote_ident(&c.name))
                .collect();
            let sql = format!(
                "SELECT {} FROM {} WHERE rowid = ?1",
                cols.join(", "),
                table.sqlite_name()
            );
            let types: Vec<Option<crate::value::SqlType>> =
                table.columns.iter().map(|c| Some(c.ty)).collect();
            let now = super::exec_select::fetch(
                &self.conn,
                &sql,
                &[rusqlite::types::Value::Integer(*rowid)],
                &types,
            )?;
            if now.first() != Some(old) {
                return Err(super::snapshot_conflict(
                    &table.full_name(),
                    &self.st.info.database,
                ));
            }
        }
        self.conn
            .execute_batch("SAVEPOINT sim_stmt")
            .map_err(sqlerr)?;
        f(self, out)
    }

    pub(super) fn begin_transaction(&mut self, out: &mut dyn ResultSink) -> Result<(), SqlError> {
        if let Some(t) = self.st.txn.as_mut() {
            t.depth += 1;
            return Ok(());
        }
        let descriptor = self.engine.next_descriptor();
        self.st.txn = Some(Txn {
            descriptor,
            isolation: self.st.isolation,
            depth: 1,
            sqlite_open: false,
            wrote: false,
            has_written: false,
            savepoints: Vec::new(),
        });
        out.env_change(EnvChange::BeginTransaction(descriptor));
        Ok(())
    }

    /// COMMIT (statement: decrements @@TRANCOUNT; `all`: the transaction
    /// manager's commit, which ends the transaction).
    pub(super) fn commit_transaction(
        &mut self,
        all: bool,
        out: &mut dyn ResultSink,
    ) -> Result<(), SqlError> {
        let Some(txn) = self.st.txn.as_mut() else {
            return Err(SqlError::new(
                3902,
                16,
                1,
                "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.",
            ));
        };
        if !all && txn.depth > 1 {
            txn.depth -= 1;
            return Ok(());
        }
        let open = txn.sqlite_open;
        let wrote = txn.wrote;
        let descriptor = txn.descriptor;
        if open {
            let r = (if wrote {
                ct::on_commit(&self.conn)
            } else {
                Ok(())
            })
            .and_then(|_| self.conn.execute_batch("COMMIT").map_err(sqlerr));
            if let Err(e) = r {
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                self.st.txn = None;
                out.env_change(EnvChange::RollbackTransaction(descriptor));
                return Err(e);
            }
        }
        self.st.txn = None;
        out.env_change(EnvChange::CommitTransaction(descriptor));
        // Test control: the commit has taken effect; the connection is to be
        // dropped before the client hears of it.
        if self.engine.opts.controls.take_cut_after_commit() {
            self.st.cut_connection = true;
        }
        Ok(())
    }

    pub(super) fn rollback_transaction(
        &mut self,
        name: Option<&str>,
        out: &mut dyn ResultSink,
    ) -> Result<(), SqlError> {
        let Some(txn) = self.st.txn.as_mut() else {
            return Err(SqlError::new(
                3903,
                16,
                1,
                "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.",
            ));
        };
        if let Some(n) = name {
            if let Some(pos) = txn
                .savepoints
                .iter()
                .rposition(|s| s.eq_ignore_ascii_case(n))
            {
                txn.savepoints.truncate(pos + 1);
                if txn.sqlite_open {
                    let sp = super::catalog::quote_ident(&format!("sp_{n}"));
                    self.conn
                        .execute_batch(&format!("ROLLBACK TO {sp}"))
                        .map_err(sqlerr)?;
                }
                return Ok(());
            }
        }
        let descriptor = txn.descriptor;
        if txn.sqlite_open && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.st.txn = None;
        out.env_change(EnvChange::RollbackTransaction(descriptor));
        Ok(())
    }

    pub(super) fn save_transaction(&mut self, name: &str) -> Result<(), SqlError> {
        let Some(txn) = self.st.txn.as_mut() else {
            return Err(SqlError::new(
                628,
                16,
                0,
                "Cannot issue SAVE TRANSACTION when there is no active transaction.",
            ));
        };
        if !txn.sqlite_open {
            let begin = if txn.isolation == Isolation::Snapshot {
                "BEGIN DEFERRED"
            } else {
                "BEGIN IMMEDIATE"
            };
            self.conn.execute_batch(begin).map_err(sqlerr)?;
            txn.sqlite_open = true;
        }
        let sp = super::catalog::quote_ident(&format!("sp_{name}"));
        self.conn
            .execute_batch(&format!("SAVEPOINT {sp}"))
            .map_err(sqlerr)?;
        txn.savepoints.push(name.to_string());
        Ok(())
    }

    /// DONE of a transaction-manager request.
    pub(super) fn finish_tm(&mut self, r: Result<(), SqlError>, out: &mut dyn ResultSink) {
        let error = if let Err(e) = &r {
            out.error(e);
            true
        } else {
            false
        };
        out.done(super::Done {
            count: None,
            error,
            in_transaction: self.in_transaction(),
        });
    }

    pub(super) fn set_identity_insert(
        &mut self,
        table: &ObjectName,
        on: bool,
    ) -> Result<(), SqlError> {
        let t = self.with_data(
            false,
            &[],
            |s, _| super::catalog::resolve(&s.conn, table),
            &mut super::session::NullSink,
        )?;
        let full = format!("{}.{}", self.st.info.database, t.full_name());
        if t.identity.is_none() {
            return Err(SqlError::new(
                8106,
                16,
                1,
                format!(
                    "Table '{}' does not have the identity property. Cannot perform SET operation.",
                    t.full_name()
                ),
            ));
        }
        if on {
            if let Some((oid, other)) = &self.st.identity_insert {
                if *oid != t.object_id {
                    return Err(SqlError::new(
                        8107,
                        16,
                        1,
                        format!("IDENTITY_INSERT is already ON for table '{other}'. Cannot perform SET operation for table '{}'.", t.full_name()),
                    ));
                }
            }
            self.st.identity_insert = Some((t.object_id, full));
        } else if matches!(&self.st.identity_insert, Some((oid, _)) if *oid == t.object_id) {
            self.st.identity_insert = None;
        }
        Ok(())
    }
}

/// Tables a statement touches, for the `fail_next` control.
pub fn touched_tables(stmt: &Statement) -> Vec<String> {
    let mut out = Vec::new();
    walk_statement(stmt, &mut out);
    out
}

fn name_of(n: &ObjectName) -> String {
    n.parts
        .iter()
        .rev()
        .take(2)
        .rev()
        .cloned()
        .collect::<Vec<_>>()
        .join(".")
}

fn walk_statement(stmt: &Statement, out: &mut Vec<String>) {
    match stmt {
        Statement::Query(q) => walk_query(q, out),
        Statement::Insert(i) => {
            out.push(name_of(&i.table));
            if let crate::sql::ast::InsertSource::Query(q) = &i.source {
                walk_query(q, out);
            }
        }
        Statement::Update(u) => {
            out.push(name_of(&u.table));
            walk_from(&u.from, out);
        }
        Statement::Delete(d) => {
            out.push(name_of(&d.table));
            walk_from(&d.from, out);
        }
        Statement::Merge(m) => {
            out.push(name_of(&m.target));
            walk_factor(&m.source, out);
        }
        Statement::WithChangeTrackingContext { statement, .. } => walk_statement(statement, out),
        Statement::TruncateTable(n) => out.push(name_of(n)),
        Statement::InsertBulk { table, .. } => out.push(name_of(table)),
        _ => {}
    }
}

fn walk_query(q: &Query, out: &mut Vec<String>) {
    for c in &q.with {
        walk_query(&c.query, out);
    }
    walk_set(&q.body, out);
}

fn walk_set(s: &SetExpr, out: &mut Vec<String>) {
    match s {
        SetExpr::Select(sel) => walk_from(&sel.from, out),
        SetExpr::SetOp { left, right, .. } => {
            walk_set(left, out);
            walk_set(right, out);
        }
        SetExpr::Query(q) => walk_query(q, out),
    }
}

fn walk_from(from: &[TableWithJoins], out: &mut Vec<String>) {
    for t in from {
        walk_factor(&t.relation, out);
        for j in &t.joins {
            walk_factor(&j.relation, out);
        }
    }
}

fn walk_factor(f: &TableFactor, out: &mut Vec<String>) {
    match f {
        TableFactor::Table { name, .. } => out.push(name_of(name)),
        TableFactor::Derived { subquery, .. } => walk_query(subquery, out),
        TableFactor::Values { .. } => {}
        TableFactor::ChangeTableChanges { table, .. }
        | TableFactor::ChangeTableVersion { table, .. } => out.push(name_of(table)),
    }
}
