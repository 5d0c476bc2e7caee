//! Table variables (`DECLARE @t TABLE (...)`) and `OUTPUT ... INTO`.
//!
//! docs/t-sql/data-types/table-transact-sql.md: a table variable is scoped to
//! the batch that declares it; docs/t-sql/queries/output-clause-transact-sql.md:
//! `OUTPUT ... INTO { @table_variable | output_table } [ ( column_list ) ]`
//! inserts the rows instead of returning them; "if column_list isn't
//! specified, the table must have the same number of columns as the OUTPUT
//! result set. The exceptions are identity and computed columns, which must
//! be skipped"; the output_table cannot have enabled triggers, take part in a
//! FOREIGN KEY constraint or have CHECK constraints.
//!
//! Storage: a SQLite TEMP table of the session's own connection
//! (`temp."sim_tv_N"`), dropped at the end of the batch. Limits of the
//! stand-in: constraints (PRIMARY KEY, UNIQUE, CHECK) and IDENTITY columns
//! in a table variable are refused as unsupported; and unlike SQL Server,
//! where a table variable "isn't affected by a ROLLBACK", its rows (and the
//! variable itself when it was declared inside the transaction) are rolled
//! back with the transaction here.

use super::catalog::{self, column_sql, quote_ident, TableInfo};
use super::output::OutputSpec;
use super::rows::{Verb, Writer};
use super::{sqlerr, ResultSink, Session};
use crate::error::{self, SqlError};
use crate::sql::ast::DeclareTable;
use std::sync::Arc;

/// Object ids of tables outside the catalog are negative: never a real
/// object, never change-tracked.
pub(super) fn local_object_id(seq: u64) -> i64 {
    -(1_000_000 + seq as i64)
}

impl Session {
    pub(super) fn declare_table(&mut self, d: &DeclareTable) -> Result<(), SqlError> {
        let key = d.name.to_ascii_lowercase();
        if self.st.info.locals.contains_key(&key) {
            // docs/relational-databases/errors-events/database-engine-events-and-errors-0-to-999.md
            return Err(SqlError::new(
                134,
                15,
                1,
                format!(
                    "The variable name '{}' has already been declared. Variable names must be unique within a query batch or stored procedure.",
                    d.name
                ),
            ));
        }
        if !d.constraints.is_empty() || d.columns.iter().any(|c| !c.constraints.is_empty()) {
            return Err(super::unsupported("constraints on table variables"));
        }
        if d.columns.iter().any(|c| c.identity.is_some()) {
            return Err(super::unsupported("IDENTITY columns in table variables"));
        }
        if d.columns
            .iter()
            .any(|c| c.computed.is_some() || c.data_type.name.eq_ignore_ascii_case("timestamp"))
        {
            return Err(super::unsupported(
                "computed and rowversion columns in table variables",
            ));
        }
        let mut columns = Vec::with_capacity(d.columns.len());
        for (i, def) in d.columns.iter().enumerate() {
            if columns
                .iter()
                .any(|c: &catalog::ColumnInfo| c.name.eq_ignore_ascii_case(&def.name))
            {
                return Err(SqlError::new(2705, 16, 3, format!("Column names in each table must be unique. Column name '{}' in table '{}' is specified more than once.", def.name, d.name)));
            }
            columns.push(self.column_info(&d.name, def, i as i32 + 1, &[])?);
        }
        self.st.local_seq += 1;
        let seq = self.st.local_seq;
        let storage = format!("temp.{}", quote_ident(&format!("sim_tv_{seq}")));
        let defs: Vec<String> = columns.iter().map(column_sql).collect();
        self.conn
            .execute_batch(&format!(
                "DROP TABLE IF EXISTS {storage}; CREATE TABLE {storage} ({})",
                defs.join(", ")
            ))
            .map_err(sqlerr)?;
        let info = local_table(seq, &d.name, columns, storage);
        self.st.info.locals.insert(key, Arc::new(info));
        Ok(())
    }

    /// Drops the storage of tables that went out of scope.
    pub(super) fn drop_locals(&mut self, locals: impl Iterator<Item = Arc<TableInfo>>) {
        for t in locals {
            if let Some(s) = &t.storage {
                // Gone already when a rollback took it: nothing to drop.
                let _ = self
                    .conn
                    .execute_batch(&format!("DROP TABLE IF EXISTS {s}"));
            }
        }
    }

    /// Ends the OUTPUT clause of a DML statement: its rows go to the client,
    /// or, with INTO, into the table or table variable named.
    pub(super) fn finish_output(
        &mut self,
        o: &OutputSpec,
        out: &mut dyn ResultSink,
    ) -> Result<(), SqlError> {
        let Some((target, names)) = &o.into else {
            o.emit(out);
            return Ok(());
        };
        let t = catalog::resolve_in(&self.conn, &self.st.info.locals, target)?;
        if t.storage.is_none() {
            let shown = t.full_name();
            if !self.triggers_of(&t)?.is_empty() {
                return Err(SqlError::new(331, 16, 1, format!("The target table '{shown}' of the OUTPUT INTO clause cannot have any enabled triggers.")));
            }
            if let Some(fk) = t.fks.first().or(t.referenced_by.first()) {
                return Err(SqlError::new(332, 16, 1, format!("The target table '{shown}' of the OUTPUT INTO clause cannot be on either side of a (primary key, foreign key) relationship. Found reference constraint '{}'.", fk.name)));
            }
            if let Some((name, _)) = t.checks.first() {
                return Err(SqlError::new(333, 16, 1, format!("The target table '{shown}' of the OUTPUT INTO clause cannot have any enabled check constraints or any enabled rules. Found check constraint or rule '{name}'.")));
            }
        }
        let idx: Vec<usize> = if names.is_empty() {
            // "The exceptions are identity and computed columns, which must
            // be skipped."
            super::computed::implicit_insert_columns(&t, false)
        } else {
            let mut v = Vec::with_capacity(names.len());
            for n in names {
                v.push(t.column_index(n).ok_or_else(|| error::invalid_column(n))?);
            }
            v
        };
        if idx.len() != o.meta.len() {
            return Err(SqlError::new(
                213,
                16,
                1,
                "Column name or number of supplied values does not match table definition.",
            ));
        }
        let mut rows = Vec::with_capacity(o.rows.len());
        for r in &o.rows {
            let given: Vec<_> = idx
                .iter()
                .zip(r.iter().zip(&o.meta))
                .map(|(i, (v, m))| (*i, v.clone(), Some(m.ty)))
                .collect();
            rows.push(self.build_row(&t, &given)?);
        }
        let db = self.st.info.database.clone();
        let w = Writer::new(&self.conn, &t, &db, None)?;
        for row in &rows {
            w.insert(row, Verb::Insert)?;
        }
        Ok(())
    }
}

/// The description of a table outside the catalog: columns only.
pub(super) fn local_table(
    seq: u64,
    name: &str,
    columns: Vec<catalog::ColumnInfo>,
    storage: String,
) -> TableInfo {
    TableInfo {
        object_id: local_object_id(seq),
        schema: String::new(),
        name: name.to_string(),
        identity: columns.iter().position(|c| c.identity.is_some()),
        columns,
        pk: None,
        uniques: Vec::new(),
        fks: Vec::new(),
        referenced_by: Vec::new(),
        checks: Vec::new(),
        storage: Some(storage),
    }
}
