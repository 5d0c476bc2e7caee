//! `ALTER TABLE t ALTER COLUMN c type [COLLATE x] [NULL | NOT NULL]`
//! (docs/t-sql/statements/alter-table-transact-sql.md, ALTER COLUMN).
//!
//! - The column takes the new type, collation and nullability; "ANSI_NULL
//!   defaults are always on for ALTER COLUMN; if not specified, the column is
//!   nullable", and without COLLATE a character column gets "the default
//!   collation of the database".
//! - Existing values are converted; one that does not fit fails the whole
//!   statement with the conversion's error (8152 for truncated strings, 8115
//!   arithmetic overflow, 245 / 8114 conversion failed) and nothing changes;
//!   NOT NULL over existing NULLs is error 515.
//! - Refused (error 4928) for a timestamp or computed column; refused (5074,
//!   "The object '...' is dependent on column '...'.") when the column is in
//!   the PRIMARY KEY or a FOREIGN KEY, is used by a computed column, or when
//!   the change is one the docs do not allow for a column of a UNIQUE or CHECK
//!   constraint, an index or a default (only the length of a variable-length
//!   column may change there, and no collation change). SQL Server follows
//!   5074 with 4922 ("ALTER TABLE ALTER COLUMN c failed because one or more
//!   objects access this column."); the stand-in reports the first only.
//!
//! SQLite cannot change a column's declaration, so the table is rebuilt
//! (same rowids, indexes re-created), inside the statement's savepoint.

use super::catalog::{column_sql, quote_ident, ColumnInfo, DefaultKind, TableInfo};
use super::convert::{self, Target};
use super::types::{from_storage, parse_type, to_storage, type_code};
use super::{collation, sqlerr, Session};
use crate::error::SqlError;
use crate::sql::ast::ColumnDef;
use crate::value::{Len, SqlType};
use rusqlite::params;
use rusqlite::types::Value as DbValue;

fn cannot_alter(column: &str, why: &str) -> SqlError {
    SqlError::new(
        4928,
        16,
        1,
        format!("Cannot alter column '{column}' because it is '{why}'."),
    )
}

fn dependent(object: &str, column: &str) -> SqlError {
    SqlError::new(
        5074,
        16,
        1,
        format!("The object '{object}' is dependent on column '{column}'."),
    )
}

/// Only the length of a varchar / nvarchar / varbinary changes.
fn length_change_only(old: &SqlType, new: &SqlType) -> bool {
    matches!(
        (old, new),
        (SqlType::VarChar(_), SqlType::VarChar(_))
            | (SqlType::NVarChar(_), SqlType::NVarChar(_))
            | (SqlType::VarBinary(_), SqlType::VarBinary(_))
    )
}

fn len_of(t: &SqlType) -> u32 {
    match t {
        SqlType::VarChar(Len::N(n))
        | SqlType::NVarChar(Len::N(n))
        | SqlType::VarBinary(Len::N(n)) => *n as u32,
        _ => u32::MAX,
    }
}

impl Session {
    pub(crate) fn alter_column(&mut self, t: &TableInfo, def: &ColumnDef) -> Result<(), SqlError> {
        let i = t.column_index(&def.name).ok_or_else(|| {
            SqlError::new(
                4924,
                16,
                1,
                format!(
                    "ALTER TABLE ALTER COLUMN failed because column '{}' does not exist in table '{}'.",
                    def.name, t.name
                ),
            )
        })?;
        let old = &t.columns[i];
        if old.rowversion {
            return Err(cannot_alter(&old.name, "timestamp"));
        }
        if old.computed.is_some() {
            return Err(cannot_alter(&old.name, "COMPUTED"));
        }
        if def.computed.is_some() || def.data_type.name.eq_ignore_ascii_case("timestamp") {
            return Err(SqlError::new(
                4927,
                16,
                1,
                format!(
                    "Cannot alter column '{}' to be data type timestamp.",
                    old.name
                ),
            ));
        }
        let ty = parse_type(&def.data_type)?;
        let coll = match (&def.collation, ty.is_string()) {
            (Some(n), true) => Some(collation::parse(n)?),
            (None, true) => Some(collation::database_default()),
            (Some(n), false) => {
                collation::parse(n)?;
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
            (None, false) => None,
        };
        let nullable = def.nullable.unwrap_or(true);
        let same_type = ty == old.ty;
        let same_coll = coll.map(|c| c.name) == old.collation.map(|c| c.name);
        if same_type && same_coll && nullable == old.nullable {
            return Ok(());
        }
        if old.identity.is_some()
            && !(ty.is_integer() || matches!(ty, SqlType::Decimal { scale: 0, .. }))
        {
            return Err(SqlError::new(2749, 16, 2, format!("Identity column '{}' must be of data type int, bigint, smallint, tinyint, or decimal or numeric with a scale of 0, and constrained to be nonnullable.", old.name)));
        }
        self.check_dependents(t, i, &ty, same_type, same_coll)?;

        // Convert the existing values first: an error leaves everything as it was.
        let full = format!("{}.{}", self.engine.database(), t.full_name());
        let mut converted: Vec<(i64, DbValue)> = Vec::new();
        {
            let mut st = self
                .conn
                .prepare(&format!(
                    "SELECT rowid, {} FROM {}",
                    quote_ident(&old.name),
                    t.sqlite_name()
                ))
                .map_err(sqlerr)?;
            let mut rows = st.query([]).map_err(sqlerr)?;
            while let Some(r) = rows.next().map_err(sqlerr)? {
                let rowid: i64 = r.get(0).map_err(sqlerr)?;
                let v = from_storage(r.get_ref(1).map_err(sqlerr)?, &old.ty)?;
                if v.is_null() {
                    if !nullable {
                        return Err(SqlError::new(515, 16, 2, format!("Cannot insert the value NULL into column '{}', table '{full}'; column does not allow nulls. UPDATE fails.", old.name)));
                    }
                    continue;
                }
                if !same_type {
                    let nv = convert::convert(
                        &v,
                        Some(&old.ty),
                        &ty,
                        Target::Column {
                            table: &full,
                            column: &old.name,
                        },
                    )
                    .map_err(|e| match e.number {
                        2628 => {
                            SqlError::new(8152, 16, 14, "String or binary data would be truncated.")
                        }
                        _ => e,
                    })?;
                    converted.push((rowid, to_storage(&nv, &ty)));
                }
            }
        }
        let default = match &old.default {
            Some(DefaultKind::Value(v)) if !same_type => {
                let dv = from_storage(v.into(), &old.ty)?;
                let nv = convert::convert(&dv, Some(&old.ty), &ty, Target::Expr)?;
                Some(DefaultKind::Value(to_storage(&nv, &ty)))
            }
            d => d.clone(),
        };
        let mut columns = t.columns.clone();
        columns[i] = ColumnInfo {
            ty,
            nullable,
            collation: coll,
            default,
            ..old.clone()
        };
        self.rebuild_table(t, &columns, i, &converted)?;
        let c = &columns[i];
        let (dv, df) = match &c.default {
            Some(DefaultKind::Value(v)) => (v.clone(), None),
            Some(DefaultKind::Func(f)) => (DbValue::Null, Some(f.clone())),
            None => (DbValue::Null, None),
        };
        self.conn
            .execute(
                "UPDATE sim_columns SET type_code = ?1, nullable = ?2, collation_name = ?3,
                     default_value = ?4, default_func = ?5
                 WHERE object_id = ?6 AND column_id = ?7",
                params![
                    type_code(&c.ty),
                    c.nullable,
                    c.collation.map(|x| x.name),
                    dv,
                    df,
                    t.object_id,
                    c.column_id
                ],
            )
            .map_err(sqlerr)?;
        Ok(())
    }

    /// The objects that keep a column from changing (error 5074).
    fn check_dependents(
        &self,
        t: &TableInfo,
        i: usize,
        ty: &SqlType,
        same_type: bool,
        same_coll: bool,
    ) -> Result<(), SqlError> {
        let c = &t.columns[i];
        super::computed::check_drop_column(t, c)?;
        if let Some(pk) = t.pk.as_ref().filter(|k| k.columns.contains(&i)) {
            return Err(dependent(&pk.name, &c.name));
        }
        let same = |n: &String| n.eq_ignore_ascii_case(&c.name);
        let in_fk = t
            .fks
            .iter()
            .find(|f| f.columns.iter().any(same))
            .or_else(|| {
                t.referenced_by
                    .iter()
                    .find(|f| f.ref_columns.iter().any(same))
            });
        if let Some(f) = in_fk {
            return Err(dependent(&f.name, &c.name));
        }
        let type_ok = same_type || length_change_only(&c.ty, ty);
        for u in t.uniques.iter().filter(|u| u.columns.contains(&i)) {
            if !type_ok || !same_coll {
                return Err(dependent(&u.name, &c.name));
            }
        }
        // Non-unique indexes: "unless the column is a varchar, nvarchar, or
        // varbinary data type, and the new size is equal to or larger than
        // the old size".
        let indexes: Vec<(String, String)> = {
            let mut st = self
                .conn
                .prepare_cached(
                    "SELECT name, columns FROM sim_indexes WHERE table_id = ?1 AND is_unique = 0",
                )
                .map_err(sqlerr)?;
            let rows = st
                .query_map([t.object_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(sqlerr)?;
            rows.collect::<Result<_, _>>().map_err(sqlerr)?
        };
        for (name, cols) in indexes {
            let has = cols
                .split(',')
                .any(|x| x.trim().parse::<i32>().ok() == Some(c.column_id));
            if has && (!same_coll || !(same_type || (type_ok && len_of(ty) >= len_of(&c.ty)))) {
                return Err(dependent(&name, &c.name));
            }
        }
        let needle = quote_ident(&c.name).to_ascii_lowercase();
        for (name, sql) in &t.checks {
            if sql.to_ascii_lowercase().contains(&needle) && (!type_ok || !same_coll) {
                return Err(dependent(name, &c.name));
            }
        }
        // "Associated with a default definition. However, you can change the
        // length, precision, or scale of a column if you don't change the
        // data type." The stand-in keeps no name for a default, so the one
        // reported is made up in SQL Server's shape.
        if c.default.is_some() && c.ty.base_name() != ty.base_name() {
            let t8: String = t.name.chars().take(9).collect();
            let c8: String = c.name.chars().take(5).collect();
            return Err(dependent(&format!("DF__{t8}__{c8}"), &c.name));
        }
        Ok(())
    }

    /// Re-creates the SQLite table of `t` with `columns`, keeping rowids,
    /// values (column `at` replaced by `converted` where given) and indexes.
    fn rebuild_table(
        &mut self,
        t: &TableInfo,
        columns: &[ColumnInfo],
        at: usize,
        converted: &[(i64, DbValue)],
    ) -> Result<(), SqlError> {
        let name = t.sqlite_name();
        let tmp = quote_ident(&format!("{}.__sim_alter_column", t.full_name()));
        let indexes: Vec<String> = {
            let mut st = self
                .conn
                .prepare(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL",
                )
                .map_err(sqlerr)?;
            let rows = st
                .query_map([t.full_name()], |r| r.get(0))
                .map_err(sqlerr)?;
            rows.collect::<Result<_, _>>().map_err(sqlerr)?
        };
        let defs: Vec<String> = columns.iter().map(column_sql).collect();
        let names: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
        self.conn
            .execute_batch(&format!(
                "CREATE TABLE {tmp} ({});
                 INSERT INTO {tmp} (rowid, {cols}) SELECT rowid, {cols} FROM {name};",
                defs.join(", "),
                cols = names.join(", ")
            ))
            .map_err(sqlerr)?;
        {
            let mut st = self
                .conn
                .prepare(&format!(
                    "UPDATE {tmp} SET {} = ?1 WHERE rowid = ?2",
                    names[at]
                ))
                .map_err(sqlerr)?;
            for (rowid, v) in converted {
                st.execute(params![v, rowid]).map_err(sqlerr)?;
            }
        }
        self.conn
            .execute_batch(&format!(
                "DROP TABLE {name}; ALTER TABLE {tmp} RENAME TO {name};"
            ))
            .map_err(sqlerr)?;
        for sql in indexes {
            self.conn.execute_batch(&sql).map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    SqlError::new(
                        1505,
                        16,
                        1,
                        format!("The CREATE UNIQUE INDEX statement terminated because a duplicate key was found for the object name '{}'.", t.full_name()),
                    )
                }
                e => sqlerr(e),
            })?;
        }
        touch_table(&self.conn, t.object_id)
    }
}

/// `sys.objects.modify_date` of a table moves (every ALTER TABLE;
/// docs/relational-databases/system-catalog-views/sys-objects-transact-sql.md:
/// "Date the object was last modified by using an ALTER statement").
pub fn touch_table(conn: &rusqlite::Connection, object_id: i64) -> Result<(), SqlError> {
    conn.prepare_cached(
        "UPDATE sim_tables SET modify_date = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE object_id = ?1",
    )
    .and_then(|mut s| s.execute([object_id]))
    .map_err(sqlerr)?;
    Ok(())
}
