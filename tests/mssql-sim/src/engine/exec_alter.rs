//! ALTER TABLE, ALTER DATABASE, CREATE/DROP INDEX.
//! docs/t-sql/statements/alter-table-transact-sql.md,
//! alter-database-transact-sql-set-options.md, create-index-transact-sql.md.

use super::catalog::{self, column_sql, quote_ident, DefaultKind};
use super::change_tracking::{self as ct, TableRef};
use super::translate::key_columns;
use super::{sqlerr, Session};
use crate::error::SqlError;
use crate::sql::ast::{AlterDatabaseAction, AlterTableAction, CreateIndex, ObjectName};
use rusqlite::params;

impl Session {
    pub(crate) fn create_index(&mut self, ci: &CreateIndex) -> Result<(), SqlError> {
        let t = catalog::resolve(&self.conn, &ci.table)?;
        let exists: Option<i64> = self
            .conn
            .query_row(
                "SELECT 1 FROM sim_indexes WHERE table_id = ?1 AND name = ?2",
                params![t.object_id, ci.name],
                |r| r.get(0),
            )
            .ok();
        if exists.is_some() {
            return Err(SqlError::new(1913, 16, 1, format!("The operation failed because an index or statistics with name '{}' already exists on table '{}'.", ci.name, t.full_name())));
        }
        let names: Vec<String> = ci.columns.iter().map(|(c, _)| c.clone()).collect();
        let ids = Self::column_ids(&t, &names)?;
        let cols: Vec<String> = ci
            .columns
            .iter()
            .map(|(c, d)| format!("{}{}", quote_ident(c), if *d { " DESC" } else { "" }))
            .collect();
        let idx_name = quote_ident(&format!("{}.{}", t.full_name(), ci.name));
        self.conn
            .execute_batch(&format!(
                "CREATE {}INDEX {idx_name} ON {} ({})",
                if ci.unique { "UNIQUE " } else { "" },
                t.sqlite_name(),
                cols.join(", ")
            ))
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => SqlError::new(
                    1505,
                    16,
                    1,
                    format!("The CREATE UNIQUE INDEX statement terminated because a duplicate key was found for the object name '{}' and the index name '{}'.", t.full_name(), ci.name),
                ),
                e => sqlerr(e),
            })?;
        let join = ids
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        self.conn
            .execute("INSERT INTO sim_indexes(table_id, name, is_unique, columns) VALUES (?1, ?2, ?3, ?4)", params![t.object_id, ci.name, ci.unique, join])
            .map_err(sqlerr)?;
        if ci.unique {
            let cid = catalog::next_object_id(&self.conn)?;
            self.insert_constraint(cid, t.object_id, &ci.name, "IX", &ids, None, &[], None)?;
        }
        Ok(())
    }

    pub(crate) fn drop_index(
        &mut self,
        name: &str,
        table: &ObjectName,
        if_exists: bool,
    ) -> Result<(), SqlError> {
        let t = catalog::resolve(&self.conn, table)?;
        let n = self
            .conn
            .execute(
                "DELETE FROM sim_indexes WHERE table_id = ?1 AND name = ?2",
                params![t.object_id, name],
            )
            .map_err(sqlerr)?;
        if n == 0 {
            if if_exists {
                return Ok(());
            }
            return Err(SqlError::new(3703, 11, 7, format!("Cannot drop the index '{}.{name}', because it does not exist or you do not have permission.", t.full_name())));
        }
        self.conn
            .execute(
                "DELETE FROM sim_constraints WHERE table_id = ?1 AND name = ?2 AND kind = 'IX'",
                params![t.object_id, name],
            )
            .map_err(sqlerr)?;
        self.conn
            .execute_batch(&format!(
                "DROP INDEX IF EXISTS {}",
                quote_ident(&format!("{}.{name}", t.full_name()))
            ))
            .map_err(sqlerr)?;
        Ok(())
    }

    pub(crate) fn alter_table(
        &mut self,
        table: &ObjectName,
        action: &AlterTableAction,
    ) -> Result<(), SqlError> {
        let t = catalog::resolve(&self.conn, table)?;
        let full = t.full_name();
        let r = self.alter_table_action(&t, &full, action);
        if r.is_ok() {
            // sys.objects.modify_date moves on every ALTER TABLE.
            super::alter_column::touch_table(&self.conn, t.object_id)?;
        }
        r
    }

    fn alter_table_action(
        &mut self,
        t: &catalog::TableInfo,
        full: &str,
        action: &AlterTableAction,
    ) -> Result<(), SqlError> {
        match action {
            AlterTableAction::EnableChangeTracking {
                track_columns_updated,
            } => {
                let keys = key_columns(t);
                ct::enable_table(
                    &self.conn,
                    &TableRef {
                        object_id: t.object_id,
                        name: full,
                        key_columns: &keys,
                    },
                    *track_columns_updated,
                )
            }
            AlterTableAction::DisableChangeTracking => ct::disable_table(&self.conn, t.object_id),
            AlterTableAction::AddConstraint(c) => {
                self.add_constraint(t.object_id, &t.schema, &t.name, c)
            }
            AlterTableAction::DropConstraint(name) => {
                let n = self
                    .conn
                    .execute("DELETE FROM sim_constraints WHERE table_id = ?1 AND name = ?2 AND kind <> 'IX'", params![t.object_id, name])
                    .map_err(sqlerr)?;
                if n == 0 {
                    return Err(SqlError::new(
                        3728,
                        16,
                        1,
                        format!("'{name}' is not a constraint."),
                    ));
                }
                self.conn
                    .execute_batch(&format!(
                        "DROP INDEX IF EXISTS {}",
                        quote_ident(&format!("{full}.{name}"))
                    ))
                    .map_err(sqlerr)
            }
            AlterTableAction::AddColumns(defs) => {
                let first = t.columns.iter().map(|c| c.column_id).max().unwrap_or(0) + 1;
                for (n, def) in defs.iter().enumerate() {
                    let next = first + n as i32;
                    if t.column_index(&def.name).is_some() {
                        return Err(SqlError::new(2705, 16, 4, format!("Column names in each table must be unique. Column name '{}' in table '{}' is specified more than once.", def.name, t.name)));
                    }
                    let mut c = self.column_info(&t.name, def, next, &[])?;
                    if c.rowversion && t.columns.iter().any(|x| x.rowversion) {
                        return Err(super::computed::two_timestamps(&t.name, &c.name));
                    }
                    if def.computed.is_some() {
                        let mut all = t.columns.clone();
                        all.push(c);
                        let at = all.len() - 1;
                        self.resolve_computed(full, &t.name, &mut all, &[(at, def)])?;
                        c = all
                            .pop()
                            .ok_or_else(|| crate::error::invalid_column(&def.name))?;
                    }
                    if c.is_derived() {
                        // The server gives every row its value below; SQLite
                        // cannot add a NOT NULL column without a default.
                        self.conn
                            .execute_batch(&format!(
                                "ALTER TABLE {} ADD COLUMN {} {} {}",
                                t.sqlite_name(),
                                quote_ident(&c.name),
                                super::types::storage_decl(&c.ty),
                                catalog::collate_clause(&c)
                            ))
                            .map_err(sqlerr)?;
                        super::computed::insert_column_row(&self.conn, t.object_id, &c)?;
                        self.fill_new_column(t, &c)?;
                        continue;
                    }
                    let mut sql = format!(
                        "ALTER TABLE {} ADD COLUMN {}",
                        t.sqlite_name(),
                        column_sql(&c)
                    );
                    if !c.nullable {
                        match &c.default {
                            Some(DefaultKind::Value(v)) => sql.push_str(&format!(" DEFAULT {}", super::translate::literal_sql(v))),
                            _ => return Err(SqlError::new(4901, 16, 1, format!("ALTER TABLE only allows columns to be added that can contain nulls, or have a DEFAULT definition specified, or the column being added is an identity or timestamp column, or alternatively if none of the previous conditions are satisfied the table must be empty to allow addition of this column. Column '{}' cannot be added to non-empty table '{}' because it does not satisfy these conditions.", c.name, t.name))),
                        }
                    }
                    self.conn.execute_batch(&sql).map_err(sqlerr)?;
                    super::computed::insert_column_row(&self.conn, t.object_id, &c)?;
                }
                Ok(())
            }
            AlterTableAction::DropColumns(names) => {
                for n in names {
                    let i = t.column_index(n).ok_or_else(|| SqlError::new(4924, 16, 1, format!("ALTER TABLE DROP COLUMN failed because column '{n}' does not exist in table '{}'.", t.name)))?;
                    let c = &t.columns[i];
                    super::computed::check_drop_column(t, c)?;
                    self.conn
                        .execute_batch(&format!(
                            "ALTER TABLE {} DROP COLUMN {}",
                            t.sqlite_name(),
                            quote_ident(&c.name)
                        ))
                        .map_err(sqlerr)?;
                    self.conn
                        .execute(
                            "DELETE FROM sim_columns WHERE object_id = ?1 AND column_id = ?2",
                            params![t.object_id, c.column_id],
                        )
                        .map_err(sqlerr)?;
                }
                Ok(())
            }
            AlterTableAction::AlterColumn(def) => self.alter_column(t, def),
        }
    }

    pub(crate) fn alter_database(
        &mut self,
        database: Option<&str>,
        action: &AlterDatabaseAction,
    ) -> Result<(), SqlError> {
        if let Some(d) = database {
            if !d.eq_ignore_ascii_case(self.engine.database()) {
                return Err(SqlError::new(5011, 14, 5, format!("User does not have permission to alter database '{d}', the database does not exist, or the database is not in a state that allows access checks.")));
            }
        }
        match action {
            AlterDatabaseAction::AllowSnapshotIsolation(on) => self
                .conn
                .execute(
                    "UPDATE sim_meta SET value = ?1 WHERE key = 'allow_snapshot_isolation'",
                    [*on as i64],
                )
                .map(|_| ())
                .map_err(sqlerr),
            AlterDatabaseAction::ReadCommittedSnapshot(on) => self
                .conn
                .execute(
                    "UPDATE sim_meta SET value = ?1 WHERE key = 'read_committed_snapshot'",
                    [*on as i64],
                )
                .map(|_| ())
                .map_err(sqlerr),
            other => ct::alter_database(&self.conn, other),
        }
    }
}
