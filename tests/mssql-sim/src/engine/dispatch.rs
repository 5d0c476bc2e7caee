//! Statements that touch data or schema, run inside the per-statement
//! transaction wrapper; INSERT BULK and the BULK LOAD rows.

use super::catalog::{self, TableInfo};
use super::convert::{self, Target};
use super::rows::{Verb, Writer};
use super::session::StmtResult;
use super::txn::{touched_tables, Access};
use super::{sqlerr, BulkRows, Done, ResultSink, Session};
use crate::error::SqlError;
use crate::sql::ast::{BulkOptions, Statement};
use crate::value::{ColumnMeta, Value};
use std::sync::Arc;

impl Session {
    pub(super) fn run_data_statement(
        &mut self,
        stmt: &Statement,
        out: &mut dyn ResultSink,
    ) -> StmtResult {
        let tables = touched_tables(stmt);
        let access = if !matches!(stmt, Statement::Query(_)) {
            Access::Write
        } else if super::lock_hints::statement_holds_locks(stmt) {
            Access::LockingRead
        } else {
            Access::Read
        };
        let ddl = matches!(
            stmt,
            Statement::CreateTable(_)
                | Statement::DropTable { .. }
                | Statement::CreateIndex(_)
                | Statement::DropIndex { .. }
                | Statement::AlterTable { .. }
                | Statement::CreateSchema(_)
                | Statement::DropSchema(_)
                | Statement::CreateTrigger(_)
                | Statement::DropTrigger { .. }
                | Statement::EnableTrigger { .. }
        );
        if ddl && self.st.txn.as_ref().map(|t| t.isolation) == Some(super::Isolation::Snapshot) {
            // docs/relational-databases/errors-events/database-engine-events-and-errors-3000-to-3999.md
            return Err(SqlError::new(
                3964,
                16,
                1,
                "Transaction failed because this DDL statement is not allowed inside a snapshot isolation transaction. Since metadata is not versioned, a metadata change can lead to inconsistency if mixed within snapshot isolation.",
            ));
        }
        let stmt = stmt.clone();
        self.with_access(
            access,
            &tables,
            move |s, out| s.data_statement(&stmt, None, out),
            out,
        )
    }

    fn data_statement(
        &mut self,
        stmt: &Statement,
        ctx: Option<&[u8]>,
        out: &mut dyn ResultSink,
    ) -> StmtResult {
        match stmt {
            Statement::Query(q) => self.exec_select(q, out),
            Statement::Insert(i) => self.exec_insert(i, ctx, out),
            Statement::Update(u) => self.exec_update(u, ctx, out),
            Statement::Delete(d) => self.exec_delete(d, ctx, out),
            Statement::Merge(m) => self.exec_merge(m, ctx, out),
            Statement::WithChangeTrackingContext { context, statement } => {
                let bytes = {
                    let mut c =
                        super::translate::Ctx::new(&self.conn, &self.st.vars, &self.st.info);
                    c.scopes.push(Vec::new());
                    let (v, ty) = c.eval_const(context)?;
                    match convert::convert(
                        &v,
                        ty.as_ref(),
                        &crate::value::SqlType::VarBinary(crate::value::Len::Max),
                        Target::Expr,
                    )? {
                        Value::Binary(b) => Some(b),
                        _ => None,
                    }
                };
                // The context is varbinary(128) and not NULL:
                // docs/relational-databases/system-functions/with-change-tracking-context-transact-sql.md
                match &bytes {
                    Some(b) => super::change_tracking::check_context(b)?,
                    None => return Err(super::change_tracking::context_too_long()),
                }
                if matches!(statement.as_ref(), Statement::Query(_)) {
                    return Err(SqlError::new(22108, 16, 1, "The CHANGE_TRACKING_CONTEXT WITH clause cannot be used with a SELECT statement."));
                }
                self.data_statement(statement, bytes.as_deref(), out)
            }
            Statement::CreateTable(c) => self.create_table(c).map(|_| None),
            Statement::DropTable { names, if_exists } => {
                self.drop_table(names, *if_exists).map(|_| None)
            }
            Statement::TruncateTable(n) => self.truncate_table(n).map(|_| None),
            Statement::CreateSchema(n) => self.create_schema(n).map(|_| None),
            Statement::DropSchema(n) => self.drop_schema(n).map(|_| None),
            Statement::CreateIndex(ci) => self.create_index(ci).map(|_| None),
            Statement::DropIndex {
                name,
                table,
                if_exists,
            } => self.drop_index(name, table, *if_exists).map(|_| None),
            Statement::AlterTable { table, action } => {
                self.alter_table(table, action).map(|_| None)
            }
            Statement::CreateTrigger(c) => self.create_trigger(c).map(|_| None),
            Statement::DropTrigger { names, if_exists } => {
                self.drop_trigger(names, *if_exists).map(|_| None)
            }
            Statement::EnableTrigger {
                names,
                table,
                enable,
            } => self
                .enable_trigger(names.as_deref(), table, *enable)
                .map(|_| None),
            Statement::AlterDatabase { database, action } => self
                .alter_database(database.as_deref(), action)
                .map(|_| None),
            Statement::InsertBulk {
                table,
                columns,
                options,
            } => {
                let t = catalog::resolve(&self.conn, table)?;
                for (c, _) in columns {
                    if t.column_index(c).is_none() {
                        return Err(crate::error::invalid_column(c));
                    }
                }
                self.st.pending_bulk = Some((t, *options));
                Ok(None)
            }
            other => Err(SqlError::new(
                40000,
                16,
                1,
                format!("mssql-sim cannot run this statement here: {other:?}")
                    .chars()
                    .take(200)
                    .collect::<String>(),
            )),
        }
    }

    /// BULK LOAD rows after INSERT BULK: one prepared INSERT, one transaction
    /// (or the open one), the same conversions as INSERT. Identity values are
    /// generated unless the client sends the identity column (as with the
    /// KEEPIDENTITY hint). The INSERT BULK options decide, once per load:
    /// - without CHECK_CONSTRAINTS, CHECK and FOREIGN KEY constraints are not
    ///   checked and are marked not trusted afterwards; PRIMARY KEY, UNIQUE
    ///   and NOT NULL always are (docs/t-sql/statements/bulk-insert-transact-sql.md,
    ///   CHECK_CONSTRAINTS; SqlBulkCopyOptions.CheckConstraints: "By default,
    ///   constraints are not checked");
    /// - without KEEP_NULLS, a NULL sent for a column with a DEFAULT gets the
    ///   default (docs/relational-databases/import-export/keep-nulls-or-use-default-values-during-bulk-import-sql-server.md;
    ///   SqlBulkCopyOptions.KeepNulls: "When not specified, null values are
    ///   replaced by default values where applicable").
    pub(super) fn run_bulk_load(
        &mut self,
        columns: &[ColumnMeta],
        rows: &mut BulkRows<'_>,
        out: &mut dyn ResultSink,
    ) {
        let Some((t, options)) = self.st.pending_bulk.take() else {
            let e = SqlError::new(4804, 16, 1, "While reading current row from host, a premature end-of-message was encountered--an incoming data stream was interrupted when the server expected to see more data.");
            out.error(&e);
            out.done(Done {
                count: None,
                error: true,
                in_transaction: self.in_transaction(),
            });
            return;
        };
        let tables = vec![t.full_name()];
        let cols = columns.to_vec();
        self.st.retryable = false;
        let r = self.with_data(
            true,
            &tables,
            move |s, out| s.bulk_rows(&t, options, &cols, rows, out),
            out,
        );
        self.st.retryable = true;
        match r {
            Ok(n) => {
                self.st.info.rowcount = n as i64;
                out.done(Done {
                    count: Some(n),
                    error: false,
                    in_transaction: self.in_transaction(),
                })
            }
            Err(e) => {
                out.error(&e);
                out.done(Done {
                    count: None,
                    error: true,
                    in_transaction: self.in_transaction(),
                })
            }
        }
    }

    fn bulk_rows(
        &mut self,
        t: &Arc<TableInfo>,
        options: BulkOptions,
        columns: &[ColumnMeta],
        rows: &mut BulkRows<'_>,
        out: &mut dyn ResultSink,
    ) -> Result<u64, SqlError> {
        // FIRE_TRIGGERS: the INSERT triggers see every loaded row (kept for
        // them; without the option nothing fires and nothing is kept).
        let fires =
            options.fire_triggers && self.has_triggers(t, super::triggers::Event::Insert)?;
        let mut loaded: Vec<Vec<Value>> = Vec::new();
        // Computed and rowversion columns get their values from the server
        // (a client's bulk copy leaves them out: they are read-only in the
        // COLMETADATA it reads first); a value sent for one is not used.
        let map: Vec<Option<usize>> = columns
            .iter()
            .map(|c| {
                t.column_index(&c.name)
                    .filter(|i| !t.columns[*i].is_derived())
            })
            .collect();
        // Per sent column: whether a NULL in it gives way to the column's
        // DEFAULT (no KEEP_NULLS and the column has one). A column without a
        // default keeps the NULL (and NOT NULL then fails with 515).
        let null_takes_default: Vec<bool> = map
            .iter()
            .map(|ci| !options.keep_nulls && ci.is_some_and(|ci| t.columns[ci].default.is_some()))
            .collect();
        let table_name = format!("{}.{}", self.st.info.database, t.full_name());
        let db = self.st.info.database.clone();
        let mut n = 0u64;
        let has_identity_given = t
            .identity
            .map(|ii| map.contains(&Some(ii)))
            .unwrap_or(false);
        let defaults: Vec<Value> = t
            .columns
            .iter()
            .map(super::exec_dml::default_value)
            .collect::<Result<_, _>>()?;
        let mut w = Writer::new(&self.conn, t, &db, None)?;
        if !options.check_constraints {
            w = w.without_check_constraints();
        }
        // The identity counter is kept in memory for the load and stored once.
        let mut last_identity: Option<i64> = match t.identity {
            Some(ii) => {
                let inc = t.columns[ii].identity.map(|x| x.1).unwrap_or(1);
                let hwm = self.engine.identity_hwm.lock().get(&t.object_id).copied();
                catalog::identity_max(catalog::last_identity(&self.conn, t.object_id)?, hwm, inc)
            }
            None => None,
        };
        let mut identity_moved = false;
        while let Some(vals) = rows()? {
            let mut row = defaults.clone();
            for (i, v) in vals.into_iter().enumerate() {
                let (Some(Some(ci)), Some(meta)) = (map.get(i), columns.get(i)) else {
                    continue;
                };
                if v.is_null() && null_takes_default[i] {
                    // `row` already holds the default.
                    continue;
                }
                let c = &t.columns[*ci];
                row[*ci] = if meta.ty == c.ty || v.is_null() {
                    v
                } else {
                    convert::convert(
                        &v,
                        Some(&meta.ty),
                        &c.ty,
                        Target::Column {
                            table: &table_name,
                            column: &c.name,
                        },
                    )?
                };
            }
            if let Some(ii) = t.identity {
                let (seed, inc) = t.columns[ii].identity.unwrap_or((1, 1));
                if !has_identity_given {
                    let next = match last_identity {
                        None => seed,
                        Some(l) => l.checked_add(inc).ok_or_else(|| SqlError::new(8115, 16, 1, "Arithmetic overflow error converting IDENTITY to data type bigint."))?,
                    };
                    row[ii] = convert::convert(
                        &Value::Int(next),
                        Some(&crate::value::SqlType::BigInt),
                        &t.columns[ii].ty,
                        Target::Expr,
                    )?;
                    last_identity = Some(next);
                    identity_moved = true;
                } else if let Value::Int(v) = row[ii] {
                    let beyond = match last_identity {
                        None => true,
                        Some(l) => (inc > 0 && v > l) || (inc < 0 && v < l),
                    };
                    if beyond {
                        last_identity = Some(v);
                        identity_moved = true;
                    }
                }
            }
            self.derive_row(t, &mut row)?;
            w.insert(&row, Verb::Insert)?;
            if fires {
                loaded.push(row);
            }
            n += 1;
        }
        drop(w);
        if let (true, Some(l)) = (identity_moved, last_identity) {
            catalog::set_identity(&self.conn, t.object_id, l)?;
            self.engine.identity_hwm.lock().insert(t.object_id, l);
            self.st.info.scope_identity = Some(l);
        }
        // "after the operation, the constraint on the table is marked as
        // not-trusted" (docs/t-sql/statements/bulk-insert-transact-sql.md,
        // CHECK_CONSTRAINTS; "Controlling Constraint Checking by Bulk Import
        // Operations", learn.microsoft.com/previous-versions/sql/sql-server-2008/ms186247,
        // names sys.check_constraints.is_not_trusted). Part of the load's
        // transaction: a failed load leaves the trust as it was.
        if !options.check_constraints && (!t.checks.is_empty() || !t.fks.is_empty()) {
            catalog::mark_not_trusted(&self.conn, t.object_id)?;
        }
        if fires {
            self.fire_triggers(t, super::triggers::Event::Insert, &loaded, &[], n, out)?;
        }
        let _ = sqlerr;
        Ok(n)
    }
}
