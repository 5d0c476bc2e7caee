//! DML triggers: CREATE / ALTER / DROP / ENABLE / DISABLE TRIGGER and firing
//! AFTER INSERT, UPDATE, DELETE triggers with their `inserted` and `deleted`
//! tables.
//!
//! What follows SQL Server (docs/t-sql/statements/create-trigger-transact-sql.md,
//! docs/relational-databases/triggers/use-the-inserted-and-deleted-tables.md,
//! docs/t-sql/queries/output-clause-transact-sql.md):
//! - a trigger fires once per statement, after its changes, also when the
//!   statement changed no rows; several triggers of one event fire in the
//!   order they were created;
//! - its statements run in the statement's transaction: an error in the
//!   trigger fails the firing statement, whose changes are undone with the
//!   trigger's; the trigger's changes of a change-tracked table are tracked;
//! - `@@ROWCOUNT` at the start of the trigger is the firing statement's
//!   count; SCOPE_IDENTITY() of the firing scope is not changed by the
//!   trigger's inserts (@@IDENTITY is); SET options and variables of the
//!   trigger end with it; its statements' DONE tokens are DONEINPROC;
//! - nesting is limited to 32 levels (error 217); with RECURSIVE_TRIGGERS OFF
//!   (the default) a trigger does not fire itself again (direct recursion);
//! - an `OUTPUT` clause without `INTO` on a table with an enabled trigger for
//!   the statement's action is refused with error 334;
//! - a bulk load fires INSERT triggers only with FIRE_TRIGGERS.
//!
//! Not emulated: INSTEAD OF and DDL triggers (refused as unsupported),
//! `UPDATE(column)` / `COLUMNS_UPDATED()`, `sp_settriggerorder`, the
//! `disallow results from triggers` option, `TRIGGER_NESTLEVEL()`.

use super::catalog::{self, column_sql, quote_ident, TableInfo};
use super::rows::{Verb, Writer};
use super::{sqlerr, Done, EnvChange, ResultSink, Session};
use crate::error::SqlError;
use crate::sql::ast::{CreateTrigger, ObjectName, Statement};
use crate::value::{ColumnMeta, Value};
use rusqlite::{params, OptionalExtension};
use std::sync::Arc;

/// Nesting limit of triggers (and procedures): error 217 past it.
const NEST_LEVEL_MAX: usize = 32;

/// The action of a statement, as triggers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Insert,
    Update,
    Delete,
}

impl Event {
    fn column(self) -> &'static str {
        match self {
            Event::Insert => "on_insert",
            Event::Update => "on_update",
            Event::Delete => "on_delete",
        }
    }
}

fn not_found(name: &str) -> SqlError {
    SqlError::new(
        3701,
        11,
        5,
        format!("Cannot drop the trigger '{name}', because it does not exist or you do not have permission."),
    )
}

impl Session {
    pub(super) fn create_trigger(&mut self, c: &CreateTrigger) -> Result<(), SqlError> {
        let t = catalog::resolve(&self.conn, &c.table)?;
        let name = c.name.name().to_string();
        let existing: Option<(i64, i64)> = self
            .conn
            .query_row(
                "SELECT g.object_id, g.table_id FROM sim_triggers g
                 JOIN sim_tables t ON t.object_id = g.table_id
                 WHERE g.name = ?1 AND t.schema_id = (SELECT s2.schema_id FROM sim_tables s2 WHERE s2.object_id = ?2)",
                params![name, t.object_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sqlerr)?;
        match existing {
            Some((id, table_id)) if c.alter || c.or_alter => {
                if table_id != t.object_id {
                    return Err(SqlError::new(2108, 16, 1, format!("Cannot create trigger on '{}' as the target is not in the same schema.", t.full_name())));
                }
                self.conn
                    .execute(
                        "UPDATE sim_triggers SET on_insert = ?2, on_update = ?3, on_delete = ?4,
                         definition = ?5, modify_date = datetime('now') WHERE object_id = ?1",
                        params![
                            id,
                            c.events.insert,
                            c.events.update,
                            c.events.delete,
                            c.definition
                        ],
                    )
                    .map_err(sqlerr)?;
                Ok(())
            }
            None if c.alter => Err(SqlError::new(
                8197,
                16,
                6,
                format!(
                    "The object '{}' does not exist or is invalid for this operation.",
                    name
                ),
            )),
            Some(_) => Err(SqlError::new(
                2714,
                16,
                2,
                format!("There is already an object named '{name}' in the database."),
            )),
            None => {
                if catalog::object_id_of(&self.conn, &format!("{}.{name}", t.schema))?.is_some() {
                    return Err(SqlError::new(
                        2714,
                        16,
                        2,
                        format!("There is already an object named '{name}' in the database."),
                    ));
                }
                let id = catalog::next_object_id(&self.conn)?;
                self.conn
                    .execute(
                        "INSERT INTO sim_triggers(object_id, table_id, name, on_insert, on_update, on_delete, definition)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![id, t.object_id, name, c.events.insert, c.events.update, c.events.delete, c.definition],
                    )
                    .map_err(sqlerr)?;
                Ok(())
            }
        }
    }

    /// The trigger's object id, by `[schema.]name` (schema dbo by default).
    fn trigger_id(&self, name: &ObjectName) -> Result<Option<i64>, SqlError> {
        let schema = name.schema().unwrap_or("dbo");
        self.conn
            .query_row(
                "SELECT g.object_id FROM sim_triggers g JOIN sim_tables t ON t.object_id = g.table_id
                 JOIN sim_schemas s ON s.schema_id = t.schema_id WHERE s.name = ?1 AND g.name = ?2",
                params![schema, name.name()],
                |r| r.get(0),
            )
            .optional()
            .map_err(sqlerr)
    }

    pub(super) fn drop_trigger(
        &mut self,
        names: &[ObjectName],
        if_exists: bool,
    ) -> Result<(), SqlError> {
        for n in names {
            match self.trigger_id(n)? {
                Some(id) => {
                    self.conn
                        .execute("DELETE FROM sim_triggers WHERE object_id = ?1", [id])
                        .map_err(sqlerr)?;
                }
                None if if_exists => {}
                None => return Err(not_found(n.name())),
            }
        }
        Ok(())
    }

    pub(super) fn enable_trigger(
        &mut self,
        names: Option<&[ObjectName]>,
        table: &ObjectName,
        enable: bool,
    ) -> Result<(), SqlError> {
        let t = catalog::resolve(&self.conn, table)?;
        let disabled = !enable;
        match names {
            None => {
                self.conn
                    .execute(
                        "UPDATE sim_triggers SET is_disabled = ?2 WHERE table_id = ?1",
                        params![t.object_id, disabled],
                    )
                    .map_err(sqlerr)?;
            }
            Some(names) => {
                for n in names {
                    let n_rows = self
                        .conn
                        .execute(
                            "UPDATE sim_triggers SET is_disabled = ?3 WHERE table_id = ?1 AND name = ?2",
                            params![t.object_id, n.name(), disabled],
                        )
                        .map_err(sqlerr)?;
                    if n_rows == 0 {
                        return Err(SqlError::new(
                            1088,
                            16,
                            120,
                            format!("Cannot find the object \"{}\" because it does not exist or you do not have permissions.", n.name()),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The enabled triggers of `t` (any event), for the OUTPUT INTO check.
    pub(super) fn triggers_of(&self, t: &TableInfo) -> Result<Vec<i64>, SqlError> {
        if t.storage.is_some() {
            return Ok(Vec::new());
        }
        let mut s = self
            .conn
            .prepare_cached(
                "SELECT object_id FROM sim_triggers WHERE table_id = ?1 AND is_disabled = 0",
            )
            .map_err(sqlerr)?;
        let ids = s
            .query_map([t.object_id], |r| r.get(0))
            .and_then(|rows| rows.collect::<Result<Vec<i64>, _>>())
            .map_err(sqlerr)?;
        Ok(ids)
    }

    /// The enabled triggers of `t` for `event`, in firing order: (object id,
    /// definition).
    fn triggers_for(&self, t: &TableInfo, event: Event) -> Result<Vec<(i64, String)>, SqlError> {
        if t.storage.is_some() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT object_id, definition FROM sim_triggers
             WHERE table_id = ?1 AND is_disabled = 0 AND {} = 1 ORDER BY object_id",
            event.column()
        );
        let mut s = self.conn.prepare_cached(&sql).map_err(sqlerr)?;
        let rows = s
            .query_map([t.object_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect::<Result<Vec<(i64, String)>, _>>())
            .map_err(sqlerr)?;
        Ok(rows)
    }

    /// Error 334 when a statement with `OUTPUT` but no `INTO` targets a table
    /// with an enabled trigger for one of its actions.
    pub(super) fn check_output_target(
        &self,
        t: &TableInfo,
        output: Option<&crate::sql::ast::Output>,
        events: &[Event],
    ) -> Result<(), SqlError> {
        if !matches!(output, Some(o) if o.into.is_none()) {
            return Ok(());
        }
        for e in events {
            if !self.triggers_for(t, *e)?.is_empty() {
                return Err(SqlError::new(
                    334,
                    16,
                    1,
                    format!(
                        "The target table '{}' of the DML statement cannot have any enabled triggers if the statement contains an OUTPUT clause without INTO clause.",
                        t.full_name()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether a statement on `t` must keep its rows for triggers of `event`.
    pub(super) fn has_triggers(&self, t: &TableInfo, event: Event) -> Result<bool, SqlError> {
        Ok(!self.triggers_for(t, event)?.is_empty())
    }

    /// Fires the AFTER triggers of `event` on `t` for one statement whose
    /// changed rows (full images in column order) are `inserted` and
    /// `deleted`; `count` is the statement's row count.
    pub(super) fn fire_triggers(
        &mut self,
        t: &TableInfo,
        event: Event,
        inserted: &[Vec<Value>],
        deleted: &[Vec<Value>],
        count: u64,
        out: &mut dyn ResultSink,
    ) -> Result<(), SqlError> {
        let triggers: Vec<(i64, String)> = self
            .triggers_for(t, event)?
            .into_iter()
            .filter(|(id, _)| !self.st.trigger_stack.contains(id))
            .collect();
        if triggers.is_empty() {
            return Ok(());
        }
        if self.st.trigger_stack.len() >= NEST_LEVEL_MAX {
            return Err(SqlError::new(
                217,
                16,
                1,
                "Maximum stored procedure, function, trigger, or view nesting level exceeded (limit 32).",
            ));
        }
        let depth = self.st.trigger_stack.len();
        let ins = self.pseudo_table(t, "inserted", depth, inserted)?;
        let del = self.pseudo_table(t, "deleted", depth, deleted)?;
        let saved_ins = self
            .st
            .info
            .locals
            .insert("inserted".into(), Arc::clone(&ins));
        let saved_del = self
            .st
            .info
            .locals
            .insert("deleted".into(), Arc::clone(&del));
        let saved_vars = std::mem::take(&mut self.st.vars);
        let saved_scope_identity = self.st.info.scope_identity;
        let saved_nocount = self.st.nocount;
        let saved_try = self.st.try_depth;
        let mut r = Ok(());
        for (id, definition) in &triggers {
            r = self.run_trigger(*id, definition, count, out);
            if r.is_err() {
                break;
            }
        }
        self.st.try_depth = saved_try;
        self.st.nocount = saved_nocount;
        self.st.info.scope_identity = saved_scope_identity;
        self.st.vars = saved_vars;
        self.st.info.rowcount = count as i64;
        for (key, saved) in [("inserted", saved_ins), ("deleted", saved_del)] {
            match saved {
                Some(s) => self.st.info.locals.insert(key.into(), s),
                None => self.st.info.locals.remove(key),
            };
        }
        self.drop_locals([ins, del].into_iter());
        r
    }

    fn run_trigger(
        &mut self,
        id: i64,
        definition: &str,
        count: u64,
        out: &mut dyn ResultSink,
    ) -> Result<(), SqlError> {
        let parsed = crate::sql::parse_batch(definition)?;
        let body = match parsed.first().map(|l| &l.stmt) {
            Some(Statement::CreateTrigger(c)) => c.body.clone(),
            _ => {
                return Err(SqlError::new(
                    50000,
                    16,
                    1,
                    "mssql-sim: a stored trigger definition no longer parses as CREATE TRIGGER",
                ))
            }
        };
        self.st.trigger_stack.push(id);
        self.st.vars.clear();
        self.st.info.rowcount = count as i64;
        // Errors come back here (as from a TRY block) to fail the statement.
        self.st.try_depth = 1;
        let mut sink = InProc(out);
        let r = self.run_list(&body, &mut sink);
        // RETURN ends the trigger only.
        if self.st.flow == super::flow::Flow::Return {
            self.st.flow = super::flow::Flow::Normal;
        }
        self.st.trigger_stack.pop();
        r
    }

    /// `inserted` or `deleted` of a trigger at nesting `depth`: a TEMP table
    /// with the columns of `t` holding `rows`.
    fn pseudo_table(
        &mut self,
        t: &TableInfo,
        name: &str,
        depth: usize,
        rows: &[Vec<Value>],
    ) -> Result<Arc<TableInfo>, SqlError> {
        let storage = format!("temp.{}", quote_ident(&format!("sim_{name}_{depth}")));
        let mut columns = t.columns.clone();
        for c in &mut columns {
            c.default = None;
        }
        let defs: Vec<String> = columns.iter().map(column_sql).collect();
        self.conn
            .execute_batch(&format!(
                "DROP TABLE IF EXISTS {storage}; CREATE TABLE {storage} ({})",
                defs.join(", ")
            ))
            .map_err(sqlerr)?;
        self.st.local_seq += 1;
        let info = super::table_vars::local_table(self.st.local_seq, name, columns, storage);
        {
            let db = self.st.info.database.clone();
            let w = Writer::new(&self.conn, &info, &db, None)?;
            for r in rows {
                w.insert(r, Verb::Insert)?;
            }
        }
        Ok(Arc::new(info))
    }
}

/// The sink of a trigger's statements: their DONE tokens are DONEINPROC.
struct InProc<'a>(&'a mut dyn ResultSink);

impl ResultSink for InProc<'_> {
    fn columns(&mut self, columns: &[ColumnMeta]) {
        self.0.columns(columns)
    }
    fn row(&mut self, values: &[Value]) {
        self.0.row(values)
    }
    fn done(&mut self, done: Done) {
        self.0.done_in_proc(done)
    }
    fn done_in_proc(&mut self, done: Done) {
        self.0.done_in_proc(done)
    }
    fn error(&mut self, error: &SqlError) {
        self.0.error(error)
    }
    fn info(&mut self, number: i32, message: &str) {
        self.0.info(number, message)
    }
    fn env_change(&mut self, change: EnvChange) {
        self.0.env_change(change)
    }
    fn cancelled(&self) -> bool {
        self.0.cancelled()
    }
}
