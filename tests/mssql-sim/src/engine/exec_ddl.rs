//! DDL: CREATE/DROP TABLE, TRUNCATE, CREATE/DROP SCHEMA, CREATE/DROP INDEX,
//! ALTER TABLE, ALTER DATABASE.
//! docs/t-sql/statements/create-table-transact-sql.md, drop-table-transact-sql.md,
//! truncate-table-transact-sql.md, create-index-transact-sql.md, alter-table-transact-sql.md,
//! alter-database-transact-sql-set-options.md.

use super::catalog::{
    self, column_sql, quote_ident, split_name, ColumnInfo, DefaultKind, TableInfo,
};
use super::change_tracking::{self as ct};
use super::convert::{self, Target};
use super::translate::{Ctx, Source};
use super::types::{parse_type, to_storage};
use super::{sqlerr, Session};
use crate::error::SqlError;
use crate::sql::ast::{ColumnDef, ConstraintKind, CreateTable, Expr, ObjectName, TableConstraint};
use crate::value::{Len, SqlType};
use rusqlite::params;

const DEFAULT_FUNCS: &[&str] = &[
    "GETDATE",
    "SYSDATETIME",
    "CURRENT_TIMESTAMP",
    "GETUTCDATE",
    "SYSUTCDATETIME",
    "NEWID",
    "NEWSEQUENTIALID",
];

fn exists_error(name: &str) -> SqlError {
    SqlError::new(
        2714,
        16,
        6,
        format!("There is already an object named '{name}' in the database."),
    )
}

/// SQL Server's generated constraint name shape: `PK__Orders__3213E83F1A2B3C4D`.
fn generated_name(prefix: &str, table: &str, object_id: i64) -> String {
    let t: String = table.chars().take(8).collect();
    format!(
        "{prefix}__{t}__{:016X}",
        (object_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    )
}

impl Session {
    pub(super) fn column_info(
        &self,
        table: &str,
        def: &ColumnDef,
        column_id: i32,
        pk_cols: &[String],
    ) -> Result<ColumnInfo, SqlError> {
        let rowversion =
            def.computed.is_none() && def.data_type.name.eq_ignore_ascii_case("timestamp");
        let ty = match (&def.computed, rowversion) {
            // Typed from its expression by `resolve_computed`.
            (Some(_), _) => SqlType::Int,
            // "A nonnullable rowversion column is semantically equivalent to a
            // binary(8) column. A nullable rowversion column is semantically
            // equivalent to a varbinary(8) column."
            (None, true) if def.nullable == Some(true) => SqlType::VarBinary(Len::N(8)),
            (None, true) => SqlType::Binary(8),
            (None, false) => parse_type(&def.data_type)?,
        };
        if rowversion && def.default.is_some() {
            return Err(SqlError::new(1755, 16, 0, format!("Defaults cannot be created on columns of data type timestamp. Table '{table}', column '{}'.", def.name)));
        }
        if def.identity.is_some()
            && !(ty.is_integer() || matches!(ty, SqlType::Decimal { scale: 0, .. }))
        {
            return Err(SqlError::new(
                2749,
                16,
                2,
                format!("Identity column '{}' must be of data type int, bigint, smallint, tinyint, or decimal or numeric with a scale of 0, and constrained to be nonnullable.", def.name),
            ));
        }
        let in_pk = pk_cols.iter().any(|c| c.eq_ignore_ascii_case(&def.name));
        let nullable = match def.nullable {
            Some(n) => n && !in_pk,
            None => !(in_pk || def.identity.is_some() || rowversion),
        };
        super::sparse::check(table, def, &ty, nullable, rowversion)?;
        let default = match &def.default {
            None => None,
            Some(e) => Some(self.default_kind(e, &ty, &def.name)?),
        };
        // docs/t-sql/statements/create-table-transact-sql.md (COLLATE):
        // "Only the char, varchar, text, nchar, nvarchar, and ntext data types"
        // take one; the others have none (sys.columns.collation_name NULL).
        let collation = match (&def.collation, ty.is_string()) {
            (Some(n), true) => Some(super::collation::parse(n)?),
            (None, true) => Some(super::collation::database_default()),
            (Some(n), false) if def.computed.is_none() => {
                super::collation::parse(n)?;
                return Err(SqlError::new(
                    447,
                    16,
                    1,
                    format!(
                        "Expression type {} is invalid for COLLATE clause.",
                        ty.base_name()
                    ),
                ));
            }
            _ => None,
        };
        Ok(ColumnInfo {
            column_id,
            name: def.name.clone(),
            ty,
            nullable,
            identity: def.identity,
            default,
            computed: None,
            rowversion,
            collation,
            sparse: def.sparse,
        })
    }

    fn default_kind(&self, e: &Expr, ty: &SqlType, column: &str) -> Result<DefaultKind, SqlError> {
        let inner = match e {
            Expr::Nested(x) => x.as_ref(),
            other => other,
        };
        if let Expr::Function { name, args, .. } = inner {
            let up = name.to_ascii_uppercase();
            if args.is_empty() && DEFAULT_FUNCS.contains(&up.as_str()) {
                return Ok(DefaultKind::Func(up));
            }
        }
        if let Expr::Column(parts) = inner {
            if parts.len() == 1 && parts[0].eq_ignore_ascii_case("CURRENT_TIMESTAMP") {
                return Ok(DefaultKind::Func("GETDATE".into()));
            }
        }
        let mut ctx = Ctx::new(&self.conn, &self.st.vars, &self.st.info);
        ctx.scopes.push(Vec::new());
        let (v, vty) = ctx.eval_const(e)?;
        let v = convert::convert(&v, vty.as_ref(), ty, Target::Column { table: "", column })?;
        Ok(DefaultKind::Value(to_storage(&v, ty)))
    }

    /// A CHECK condition as SQLite text over the table's bare column names.
    fn check_sql(&self, t: &TableInfo, e: &Expr) -> Result<String, SqlError> {
        let mut ctx = Ctx::new(&self.conn, &self.st.vars, &self.st.info);
        ctx.inline = true;
        ctx.scopes.push(vec![Source {
            names: vec![t.name.clone(), t.full_name()],
            sql_alias: t.sqlite_name(),
            columns: t
                .columns
                .iter()
                .map(|c| (c.name.clone(), Some(c.ty), c.nullable))
                .collect(),
            table: None,
            collations: t.columns.iter().map(|c| c.collation).collect(),
        }]);
        Ok(ctx.expr(e)?.sql)
    }

    pub(super) fn create_table(&mut self, ct_: &CreateTable) -> Result<(), SqlError> {
        let (schema, name) = split_name(&ct_.name);
        let schema_id = catalog::schema_id(&self.conn, &schema)?.ok_or_else(|| {
            SqlError::new(2760, 16, 1, format!("The specified schema name \"{schema}\" either does not exist or you do not have permission to use it."))
        })?;
        if catalog::table_id(&self.conn, &schema, &name)?.is_some() {
            return Err(exists_error(&name));
        }
        let mut constraints: Vec<TableConstraint> = ct_.constraints.clone();
        for c in &ct_.columns {
            constraints.extend(c.constraints.iter().cloned());
        }
        let pk_cols: Vec<String> = constraints
            .iter()
            .find_map(|c| match &c.kind {
                ConstraintKind::PrimaryKey { columns, .. } => Some(columns.clone()),
                _ => None,
            })
            .unwrap_or_default();
        if constraints
            .iter()
            .filter(|c| matches!(c.kind, ConstraintKind::PrimaryKey { .. }))
            .count()
            > 1
        {
            return Err(SqlError::new(
                8110,
                16,
                0,
                format!("Cannot add multiple PRIMARY KEY constraints to table '{name}'."),
            ));
        }
        let object_id = catalog::next_object_id(&self.conn)?;
        let mut cols = Vec::new();
        for (i, def) in ct_.columns.iter().enumerate() {
            if cols
                .iter()
                .any(|c: &ColumnInfo| c.name.eq_ignore_ascii_case(&def.name))
            {
                return Err(SqlError::new(2705, 16, 3, format!("Column names in each table must be unique. Column name '{}' in table '{name}' is specified more than once.", def.name)));
            }
            cols.push(self.column_info(&name, def, i as i32 + 1, &pk_cols)?);
        }
        if cols.iter().filter(|c| c.identity.is_some()).count() > 1 {
            return Err(SqlError::new(2744, 16, 2, format!("Multiple identity columns specified for table '{name}'. Only one identity column per table is allowed.")));
        }
        if let Some(second) = cols.iter().filter(|c| c.rowversion).nth(1) {
            return Err(super::computed::two_timestamps(&name, &second.name));
        }
        let full = format!("{schema}.{name}");
        let defs: Vec<(usize, &ColumnDef)> = ct_.columns.iter().enumerate().collect();
        self.resolve_computed(&full, &name, &mut cols, &defs)?;
        let defs: Vec<String> = cols.iter().map(column_sql).collect();
        self.conn
            .execute_batch(&format!(
                "CREATE TABLE {} ({})",
                quote_ident(&full),
                defs.join(", ")
            ))
            .map_err(sqlerr)?;
        self.conn
            .execute(
                "INSERT INTO sim_tables(object_id, schema_id, name) VALUES (?1, ?2, ?3)",
                params![object_id, schema_id, name],
            )
            .map_err(sqlerr)?;
        for c in &cols {
            super::computed::insert_column_row(&self.conn, object_id, c)?;
        }
        for c in &constraints {
            self.add_constraint(object_id, &schema, &name, c)?;
        }
        Ok(())
    }

    pub(super) fn table(&self, id: i64) -> Result<TableInfo, SqlError> {
        catalog::load_table(&self.conn, id)?
            .ok_or_else(|| crate::error::invalid_object(&id.to_string()))
    }

    pub(super) fn column_ids(t: &TableInfo, names: &[String]) -> Result<Vec<i32>, SqlError> {
        names
            .iter()
            .map(|n| {
                t.column_index(n)
                    .map(|i| t.columns[i].column_id)
                    .ok_or_else(|| {
                        SqlError::new(
                            1911,
                            16,
                            1,
                            format!(
                                "Column name '{n}' does not exist in the target table or view."
                            ),
                        )
                    })
            })
            .collect()
    }

    pub(super) fn add_constraint(
        &mut self,
        table_id: i64,
        schema: &str,
        table: &str,
        c: &TableConstraint,
    ) -> Result<(), SqlError> {
        let t = self.table(table_id)?;
        let cid = catalog::next_object_id(&self.conn)?;
        let (prefix, kind) = match &c.kind {
            ConstraintKind::PrimaryKey { .. } => ("PK", "PK"),
            ConstraintKind::Unique { .. } => ("UQ", "UQ"),
            ConstraintKind::ForeignKey { .. } => ("FK", "F"),
            ConstraintKind::Check(_) => ("CK", "C"),
            ConstraintKind::Default { .. } => ("DF", "D"),
        };
        let name = c
            .name
            .clone()
            .unwrap_or_else(|| generated_name(prefix, table, cid));
        if catalog::object_id_of(&self.conn, &format!("{schema}.{name}"))?.is_some() {
            return Err(exists_error(&name));
        }
        let full = format!("{schema}.{table}");
        match &c.kind {
            ConstraintKind::PrimaryKey { columns, .. } | ConstraintKind::Unique { columns } => {
                if kind == "PK" && t.pk.is_some() {
                    return Err(SqlError::new(
                        1779,
                        16,
                        0,
                        format!("Table '{table}' already has a primary key defined on it."),
                    ));
                }
                let ids = Self::column_ids(&t, columns)?;
                let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
                self.conn
                    .execute_batch(&format!(
                        "CREATE UNIQUE INDEX {} ON {} ({})",
                        quote_ident(&format!("{full}.{name}")),
                        quote_ident(&full),
                        cols.join(", ")
                    ))
                    .map_err(|e| match e {
                        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => SqlError::new(
                            1505,
                            16,
                            1,
                            format!("The CREATE UNIQUE INDEX statement terminated because a duplicate key was found for the object name '{full}' and the index name '{name}'."),
                        ),
                        e => sqlerr(e),
                    })?;
                self.insert_constraint(cid, table_id, &name, kind, &ids, None, &[], None)?;
            }
            ConstraintKind::ForeignKey {
                columns,
                ref_table,
                ref_columns,
                ..
            } => {
                let rt = catalog::resolve(&self.conn, ref_table).map_err(|_| {
                    SqlError::new(
                        1767,
                        16,
                        0,
                        format!(
                            "Foreign key '{name}' references invalid table '{}'.",
                            catalog::display_name(ref_table)
                        ),
                    )
                })?;
                let ref_names: Vec<String> = if ref_columns.is_empty() {
                    rt.pk
                        .as_ref()
                        .map(|pk| {
                            pk.columns
                                .iter()
                                .map(|i| rt.columns[*i].name.clone())
                                .collect()
                        })
                        .unwrap_or_default()
                } else {
                    ref_columns.clone()
                };
                let ids = Self::column_ids(&t, columns)?;
                let ref_ids = Self::column_ids(&rt, &ref_names)?;
                if ids.len() != ref_ids.len() {
                    return Err(SqlError::new(8140, 16, 0, format!("The number of columns in the referencing column list for foreign key '{name}' does not match those of the primary key in the referenced table '{}'.", rt.full_name())));
                }
                // Existing rows must satisfy the new key (WITH CHECK is the
                // default: docs/t-sql/statements/alter-table-transact-sql.md).
                let conds: Vec<String> = columns
                    .iter()
                    .zip(&ref_names)
                    .map(|(c, r)| format!("p.{} = c.{}", quote_ident(r), quote_ident(c)))
                    .collect();
                let not_null: Vec<String> = columns
                    .iter()
                    .map(|c| format!("c.{} IS NOT NULL", quote_ident(c)))
                    .collect();
                let orphan = format!(
                    "SELECT 1 FROM {} AS c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} AS p WHERE {}) LIMIT 1",
                    t.sqlite_name(),
                    not_null.join(" AND "),
                    rt.sqlite_name(),
                    conds.join(" AND ")
                );
                if self.conn.query_row(&orphan, [], |_| Ok(())).is_ok() {
                    return Err(SqlError::new(
                        547,
                        16,
                        0,
                        format!(
                            "The ALTER TABLE statement conflicted with the FOREIGN KEY constraint \"{name}\". The conflict occurred in database \"{}\", table \"{}\", column '{}'.",
                            self.st.info.database,
                            rt.full_name(),
                            ref_names.first().cloned().unwrap_or_default()
                        ),
                    ));
                }
                self.insert_constraint(
                    cid,
                    table_id,
                    &name,
                    kind,
                    &ids,
                    Some(rt.object_id),
                    &ref_ids,
                    None,
                )?;
            }
            ConstraintKind::Check(e) => {
                let sql = self.check_sql(&t, e)?;
                let bad = format!(
                    "SELECT 1 FROM {} WHERE NOT ({sql}) LIMIT 1",
                    t.sqlite_name()
                );
                if self.conn.query_row(&bad, [], |_| Ok(())).is_ok() {
                    return Err(SqlError::new(
                        547,
                        16,
                        0,
                        format!(
                            "The ALTER TABLE statement conflicted with the CHECK constraint \"{name}\". The conflict occurred in database \"{}\", table \"{}\".",
                            self.st.info.database,
                            t.full_name()
                        ),
                    ));
                }
                self.insert_constraint(cid, table_id, &name, kind, &[], None, &[], Some(sql))?;
            }
            ConstraintKind::Default { column, expr } => {
                let i = t
                    .column_index(column)
                    .ok_or_else(|| crate::error::invalid_column(column))?;
                let col = &t.columns[i];
                let (dv, df) = match self.default_kind(expr, &col.ty, &col.name)? {
                    DefaultKind::Value(v) => (v, None),
                    DefaultKind::Func(f) => (rusqlite::types::Value::Null, Some(f)),
                };
                self.conn
                    .execute(
                        "UPDATE sim_columns SET default_value = ?1, default_func = ?2 WHERE object_id = ?3 AND column_id = ?4",
                        params![dv, df, table_id, col.column_id],
                    )
                    .map_err(sqlerr)?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn insert_constraint(
        &self,
        cid: i64,
        table_id: i64,
        name: &str,
        kind: &str,
        cols: &[i32],
        ref_table: Option<i64>,
        ref_cols: &[i32],
        check_sql: Option<String>,
    ) -> Result<(), SqlError> {
        let join = |v: &[i32]| {
            v.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        self.conn
            .execute(
                "INSERT INTO sim_constraints(object_id, table_id, name, kind, columns, ref_table_id, ref_columns, check_sql)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![cid, table_id, name, kind, join(cols), ref_table, join(ref_cols), check_sql],
            )
            .map_err(sqlerr)?;
        for (n, c) in cols.iter().enumerate() {
            self.conn
                .execute(
                    "INSERT INTO sim_key_columns(constraint_id, ordinal, column_id, ref_column_id) VALUES (?1, ?2, ?3, ?4)",
                    params![cid, n as i64 + 1, c, ref_cols.get(n)],
                )
                .map_err(sqlerr)?;
        }
        Ok(())
    }

    pub(super) fn drop_table(
        &mut self,
        names: &[ObjectName],
        if_exists: bool,
    ) -> Result<(), SqlError> {
        for n in names {
            let (schema, name) = split_name(n);
            let Some(id) = catalog::table_id(&self.conn, &schema, &name)? else {
                if if_exists {
                    continue;
                }
                return Err(SqlError::new(3701, 11, 5, format!("Cannot drop the table '{}', because it does not exist or you do not have permission.", catalog::display_name(n))));
            };
            let t = self.table(id)?;
            if let Some(fk) = t.referenced_by.iter().find(|f| f.table_id != id) {
                return Err(SqlError::new(3726, 16, 1, format!("Could not drop object '{}' because it is referenced by a FOREIGN KEY constraint.", t.full_name()))
                    .with_detail(&fk.name));
            }
            if ct::table_tracking(&self.conn, id)?.is_some() {
                ct::disable_table(&self.conn, id)?;
            }
            self.conn
                .execute_batch(&format!(
                    "DROP TABLE {0};
                     DELETE FROM sim_key_columns WHERE constraint_id IN (SELECT object_id FROM sim_constraints WHERE table_id = {id});
                     DELETE FROM sim_constraints WHERE table_id = {id};
                     DELETE FROM sim_columns WHERE object_id = {id};
                     DELETE FROM sim_identity WHERE object_id = {id};
                     DELETE FROM sim_indexes WHERE table_id = {id};
                     DELETE FROM sim_triggers WHERE table_id = {id};
                     DELETE FROM sim_tables WHERE object_id = {id};",
                    t.sqlite_name()
                ))
                .map_err(sqlerr)?;
            self.reset_identity(id);
            if self
                .st
                .identity_insert
                .as_ref()
                .map(|(o, _)| *o == id)
                .unwrap_or(false)
            {
                self.st.identity_insert = None;
            }
        }
        Ok(())
    }

    pub(super) fn truncate_table(&mut self, n: &ObjectName) -> Result<(), SqlError> {
        let t = catalog::resolve(&self.conn, n)?;
        if t.referenced_by.iter().any(|f| f.table_id != t.object_id) {
            return Err(SqlError::new(4712, 16, 1, format!("Cannot truncate table '{}' because it is being referenced by a FOREIGN KEY constraint.", t.full_name())));
        }
        self.conn
            .execute_batch(&format!("DELETE FROM {}", t.sqlite_name()))
            .map_err(sqlerr)?;
        // TRUNCATE resets the identity to its seed.
        self.conn
            .execute(
                "DELETE FROM sim_identity WHERE object_id = ?1",
                [t.object_id],
            )
            .map_err(sqlerr)?;
        self.reset_identity(t.object_id);
        if ct::table_tracking(&self.conn, t.object_id)?.is_some() {
            ct::truncate(&self.conn, t.object_id)?;
        }
        Ok(())
    }

    pub(super) fn create_schema(&mut self, name: &str) -> Result<(), SqlError> {
        if catalog::schema_id(&self.conn, name)?.is_some() {
            return Err(exists_error(name));
        }
        let id = catalog::next_object_id(&self.conn)?;
        self.conn
            .execute(
                "INSERT INTO sim_schemas(schema_id, name) VALUES (?1, ?2)",
                params![id, name],
            )
            .map_err(sqlerr)?;
        Ok(())
    }

    pub(super) fn drop_schema(&mut self, name: &str) -> Result<(), SqlError> {
        let Some(id) = catalog::schema_id(&self.conn, name)? else {
            return Err(SqlError::new(3701, 11, 1, format!("Cannot drop the schema '{name}', because it does not exist or you do not have permission.")));
        };
        let used: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM sim_tables WHERE schema_id = ?1",
                [id],
                |r| r.get(0),
            )
            .map_err(sqlerr)?;
        if used > 0 {
            return Err(SqlError::new(
                3729,
                16,
                1,
                format!("Cannot drop schema '{name}' because it is being referenced by an object."),
            ));
        }
        self.conn
            .execute("DELETE FROM sim_schemas WHERE schema_id = ?1", [id])
            .map_err(sqlerr)?;
        Ok(())
    }
}

trait WithDetail {
    fn with_detail(self, detail: &str) -> Self;
}

impl WithDetail for SqlError {
    /// Keeps the message as SQL Server words it; the detail is for logs.
    fn with_detail(self, detail: &str) -> Self {
        tracing::debug!(detail, "{}", self.message);
        self
    }
}
