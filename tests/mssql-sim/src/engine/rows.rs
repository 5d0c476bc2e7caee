//! Row writes shared by INSERT, UPDATE, DELETE, MERGE and bulk load: the
//! SQLite write, SQL Server's constraint errors, foreign keys, CHECK
//! constraints and the change-tracking record of the row.
//!
//! Error texts: docs/relational-databases/errors-events/mssqlserver-2627-database-engine-error.md,
//! mssqlserver-2601-database-engine-error.md, mssqlserver-547-database-engine-error.md,
//! mssqlserver-515-database-engine-error.md.

use super::catalog::{quote_ident, TableInfo};
use super::change_tracking::{self as ct, Columns, Op};
use super::convert::to_text;
use super::sqlerr;
use super::types::to_storage;
use crate::error::SqlError;
use crate::value::Value;
use rusqlite::types::Value as DbValue;
use rusqlite::{params_from_iter, Connection, ErrorCode, OptionalExtension};

/// The statement kind as error texts name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Insert,
    Update,
    Delete,
    Merge,
}

impl Verb {
    pub fn word(self) -> &'static str {
        match self {
            Verb::Insert => "INSERT",
            Verb::Update => "UPDATE",
            Verb::Delete => "DELETE",
            Verb::Merge => "MERGE",
        }
    }
}

pub struct Writer<'a> {
    pub conn: &'a Connection,
    pub table: &'a TableInfo,
    pub db: &'a str,
    /// `Some(track_columns_updated)` when the table is change-tracked.
    pub tracked: Option<bool>,
    pub context: Option<&'a [u8]>,
    /// Whether [`Writer::insert`] checks CHECK and FOREIGN KEY constraints:
    /// always, except for a bulk load without CHECK_CONSTRAINTS (see
    /// [`Writer::without_check_constraints`]).
    check_constraints: bool,
    /// The prepared INSERT of a full row, kept across rows (bulk load).
    insert_stmt: std::cell::RefCell<rusqlite::CachedStatement<'a>>,
}

fn key_text(vals: &[&Value], table: &TableInfo, idx: &[usize]) -> String {
    let parts: Vec<String> = idx
        .iter()
        .zip(vals)
        .map(|(i, v)| to_text(v, Some(&table.columns[*i].ty)).unwrap_or_else(|| "<NULL>".into()))
        .collect();
    parts.join(", ")
}

impl<'a> Writer<'a> {
    pub fn new(
        conn: &'a Connection,
        table: &'a TableInfo,
        db: &'a str,
        context: Option<&'a [u8]>,
    ) -> Result<Self, SqlError> {
        let tracked = ct::table_tracking(conn, table.object_id)?;
        let cols: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
        let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
        let insert_sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            table.sqlite_name(),
            cols.join(", "),
            marks.join(", ")
        );
        let insert_stmt =
            std::cell::RefCell::new(conn.prepare_cached(&insert_sql).map_err(sqlerr)?);
        Ok(Writer {
            conn,
            table,
            db,
            tracked,
            context,
            check_constraints: true,
            insert_stmt,
        })
    }

    /// For a bulk load without CHECK_CONSTRAINTS: "any CHECK and FOREIGN KEY
    /// constraints are ignored" (UNIQUE and PRIMARY KEY constraints, and
    /// NOT NULL, are still enforced, by SQLite itself);
    /// docs/t-sql/statements/bulk-insert-transact-sql.md (CHECK_CONSTRAINTS).
    /// The caller marks the constraints not trusted afterwards.
    pub fn without_check_constraints(mut self) -> Self {
        self.check_constraints = false;
        self
    }

    /// Maps a SQLite constraint failure to SQL Server's error.
    fn map_err(&self, e: rusqlite::Error, verb: Verb, row: &[Value]) -> SqlError {
        let t = self.table;
        if let rusqlite::Error::SqliteFailure(fe, Some(msg)) = &e {
            if fe.code == ErrorCode::ConstraintViolation {
                if let Some(rest) = msg.strip_prefix("NOT NULL constraint failed: ") {
                    let col = rest.rsplit('.').next().unwrap_or(rest);
                    return SqlError::new(
                        515,
                        16,
                        2,
                        format!(
                            "Cannot insert the value NULL into column '{col}', table '{}.{}'; column does not allow nulls. {} fails.",
                            self.db,
                            t.full_name(),
                            verb.word()
                        ),
                    );
                }
                if let Some(rest) = msg.strip_prefix("UNIQUE constraint failed: ") {
                    let cols: Vec<String> = rest
                        .split(", ")
                        .map(|c| c.rsplit('.').next().unwrap_or(c).to_string())
                        .collect();
                    let keys = t.pk.iter().chain(t.uniques.iter());
                    for k in keys {
                        let same = k.columns.len() == cols.len()
                            && k.columns.iter().all(|i| {
                                cols.iter()
                                    .any(|c| c.eq_ignore_ascii_case(&t.columns[*i].name))
                            });
                        if !same {
                            continue;
                        }
                        let vals: Vec<&Value> = k.columns.iter().map(|i| &row[*i]).collect();
                        let value = key_text(&vals, t, &k.columns);
                        return if k.kind == "IX" {
                            SqlError::new(
                                2601,
                                14,
                                1,
                                format!(
                                    "Cannot insert duplicate key row in object '{}' with unique index '{}'. The duplicate key value is ({value}).",
                                    t.full_name(),
                                    k.name
                                ),
                            )
                        } else {
                            SqlError::new(
                                2627,
                                14,
                                1,
                                format!(
                                    "Violation of {} constraint '{}'. Cannot insert duplicate key in object '{}'. The duplicate key value is ({value}).",
                                    if k.kind == "PK" { "PRIMARY KEY" } else { "UNIQUE KEY" },
                                    k.name,
                                    t.full_name()
                                ),
                            )
                        };
                    }
                }
            }
        }
        sqlerr(e)
    }

    fn key_of(&self, row: &[Value]) -> Vec<DbValue> {
        match &self.table.pk {
            Some(pk) => pk
                .columns
                .iter()
                .map(|i| to_storage(&row[*i], &self.table.columns[*i].ty))
                .collect(),
            None => Vec::new(),
        }
    }

    fn record(&self, row: &[Value], op: Op, cols: &Columns) -> Result<(), SqlError> {
        if self.tracked.is_some() {
            ct::record(
                self.conn,
                self.table.object_id,
                &self.key_of(row),
                op,
                cols,
                self.context,
            )?;
        }
        Ok(())
    }

    /// Inserts a full row (every column, converted to its type).
    pub fn insert(&self, row: &[Value], verb: Verb) -> Result<(), SqlError> {
        let params: Vec<DbValue> = row
            .iter()
            .zip(&self.table.columns)
            .map(|(v, c)| to_storage(v, &c.ty))
            .collect();
        self.insert_stmt
            .borrow_mut()
            .execute(params_from_iter(params.iter()))
            .map_err(|e| self.map_err(e, verb, row))?;
        if self.check_constraints {
            if !self.table.checks.is_empty() {
                let rowid = self.conn.last_insert_rowid();
                self.check_row(rowid, verb)?;
            }
            self.check_fks(row, verb, None)?;
        }
        self.record(row, Op::Insert, &Columns::All)?;
        Ok(())
    }

    pub fn update(
        &self,
        rowid: i64,
        old: &[Value],
        new: &[Value],
        assigned: &[usize],
        verb: Verb,
    ) -> Result<(), SqlError> {
        if assigned.is_empty() {
            return Ok(());
        }
        // The rowversion and computed columns change with the row (their new
        // values are in `new`, see `Session::derive_row`); change tracking
        // still records the columns the statement assigned.
        let mut set_cols: Vec<usize> = assigned.to_vec();
        for (i, c) in self.table.columns.iter().enumerate() {
            if c.is_derived() && !set_cols.contains(&i) {
                set_cols.push(i);
            }
        }
        let assigned_by_statement = assigned;
        let assigned = set_cols.as_slice();
        let sets: Vec<String> = assigned
            .iter()
            .enumerate()
            .map(|(n, i)| format!("{} = ?{}", quote_ident(&self.table.columns[*i].name), n + 1))
            .collect();
        let sql = format!(
            "UPDATE {} SET {} WHERE rowid = ?{}",
            self.table.sqlite_name(),
            sets.join(", "),
            assigned.len() + 1
        );
        let mut params: Vec<DbValue> = assigned
            .iter()
            .map(|i| to_storage(&new[*i], &self.table.columns[*i].ty))
            .collect();
        params.push(DbValue::Integer(rowid));
        let mut st = self.conn.prepare_cached(&sql).map_err(sqlerr)?;
        st.execute(params_from_iter(params.iter()))
            .map_err(|e| self.map_err(e, verb, new))?;
        self.check_row(rowid, verb)?;
        self.check_fks(new, verb, Some(assigned))?;
        let key_idx: Vec<usize> = self
            .table
            .pk
            .as_ref()
            .map(|p| p.columns.clone())
            .unwrap_or_default();
        let key_changed = key_idx.iter().any(|i| {
            assigned.contains(i)
                && !same_value(
                    &old[*i],
                    &new[*i],
                    self.table.columns[*i].collation.as_ref(),
                )
        });
        if key_changed {
            self.check_referenced(old, verb, Some(assigned))?;
            // An update of a key is a delete of the old key and an insert of the new.
            self.record(old, Op::Delete, &Columns::All)?;
            self.record(new, Op::Insert, &Columns::All)?;
        } else if self.tracked.is_some() {
            // SYS_CHANGE_COLUMNS: what the statement assigned. Whether SQL
            // Server also reports a rowversion or persisted computed column
            // there is not documented (docs/relational-databases/track-changes/
            // work-with-change-tracking-sql-server.md, "Using the change
            // tracking functions to obtain changes"); the stand-in leaves
            // them out, on both sides of the every-column test.
            let assigned = assigned_by_statement;
            let non_key: Vec<usize> = (0..self.table.columns.len())
                .filter(|i| !key_idx.contains(i) && !self.table.columns[*i].is_derived())
                .collect();
            let all = non_key.iter().all(|i| assigned.contains(i));
            let cols = if all {
                Columns::All
            } else {
                Columns::Some(
                    assigned
                        .iter()
                        .map(|i| self.table.columns[*i].column_id)
                        .collect(),
                )
            };
            self.record(new, Op::Update, &cols)?;
        }
        Ok(())
    }

    pub fn delete(&self, rowid: i64, old: &[Value], verb: Verb) -> Result<(), SqlError> {
        self.check_referenced(old, verb, None)?;
        let sql = format!("DELETE FROM {} WHERE rowid = ?1", self.table.sqlite_name());
        let mut st = self.conn.prepare_cached(&sql).map_err(sqlerr)?;
        st.execute([rowid]).map_err(sqlerr)?;
        self.record(old, Op::Delete, &Columns::All)?;
        Ok(())
    }

    fn check_row(&self, rowid: i64, verb: Verb) -> Result<(), SqlError> {
        for (name, cond) in &self.table.checks {
            let sql = format!(
                "SELECT 1 FROM {} WHERE rowid = ?1 AND NOT ({cond})",
                self.table.sqlite_name()
            );
            let bad: Option<i64> = self
                .conn
                .prepare_cached(&sql)
                .and_then(|mut s| s.query_row([rowid], |r| r.get(0)).optional())
                .map_err(sqlerr)?;
            if bad.is_some() {
                return Err(SqlError::new(
                    547,
                    16,
                    0,
                    format!(
                        "The {} statement conflicted with the CHECK constraint \"{name}\". The conflict occurred in database \"{}\", table \"{}\".",
                        verb.word(),
                        self.db,
                        self.table.full_name()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// This row's foreign keys must find their parent row.
    fn check_fks(
        &self,
        row: &[Value],
        verb: Verb,
        assigned: Option<&[usize]>,
    ) -> Result<(), SqlError> {
        for fk in &self.table.fks {
            let idx: Vec<usize> = fk
                .columns
                .iter()
                .filter_map(|c| self.table.column_index(c))
                .collect();
            if let Some(a) = assigned {
                if !idx.iter().any(|i| a.contains(i)) {
                    continue;
                }
            }
            if idx.iter().any(|i| row[*i].is_null()) {
                continue;
            }
            let conds: Vec<String> = fk
                .ref_columns
                .iter()
                .enumerate()
                .map(|(n, c)| format!("{} = ?{}", quote_ident(c), n + 1))
                .collect();
            let sql = format!(
                "SELECT 1 FROM {} WHERE {} LIMIT 1",
                quote_ident(&fk.ref_table_name),
                conds.join(" AND ")
            );
            let params: Vec<DbValue> = idx
                .iter()
                .map(|i| to_storage(&row[*i], &self.table.columns[*i].ty))
                .collect();
            let found: Option<i64> = self
                .conn
                .prepare_cached(&sql)
                .and_then(|mut s| {
                    s.query_row(params_from_iter(params.iter()), |r| r.get(0))
                        .optional()
                })
                .map_err(sqlerr)?;
            if found.is_none() {
                return Err(SqlError::new(
                    547,
                    16,
                    0,
                    format!(
                        "The {} statement conflicted with the FOREIGN KEY constraint \"{}\". The conflict occurred in database \"{}\", table \"{}\", column '{}'.",
                        verb.word(),
                        fk.name,
                        self.db,
                        fk.ref_table_name,
                        fk.ref_columns.first().cloned().unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// No other row may still reference this row's key (NO ACTION).
    fn check_referenced(
        &self,
        old: &[Value],
        verb: Verb,
        assigned: Option<&[usize]>,
    ) -> Result<(), SqlError> {
        for fk in &self.table.referenced_by {
            let idx: Vec<usize> = fk
                .ref_columns
                .iter()
                .filter_map(|c| self.table.column_index(c))
                .collect();
            if let Some(a) = assigned {
                if !idx.iter().any(|i| a.contains(i)) {
                    continue;
                }
            }
            if idx.iter().any(|i| old[*i].is_null()) {
                continue;
            }
            let conds: Vec<String> = fk
                .columns
                .iter()
                .enumerate()
                .map(|(n, c)| format!("{} = ?{}", quote_ident(c), n + 1))
                .collect();
            let sql = format!(
                "SELECT 1 FROM {} WHERE {} LIMIT 1",
                quote_ident(&fk.table_name),
                conds.join(" AND ")
            );
            let params: Vec<DbValue> = idx
                .iter()
                .map(|i| to_storage(&old[*i], &self.table.columns[*i].ty))
                .collect();
            let found: Option<i64> = self
                .conn
                .prepare_cached(&sql)
                .and_then(|mut s| {
                    s.query_row(params_from_iter(params.iter()), |r| r.get(0))
                        .optional()
                })
                .map_err(sqlerr)?;
            if found.is_some() {
                return Err(SqlError::new(
                    547,
                    16,
                    0,
                    format!(
                        "The {} statement conflicted with the REFERENCE constraint \"{}\". The conflict occurred in database \"{}\", table \"{}\", column '{}'.",
                        verb.word(),
                        fk.name,
                        self.db,
                        fk.table_name,
                        fk.columns.first().cloned().unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Whether a key column's value is the same key, under the column's
/// collation (a CS key whose case changed is another key).
fn same_value(a: &Value, b: &Value, coll: Option<&super::collation::Collation>) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => super::collation::equal(coll, x, y),
        _ => a == b,
    }
}
