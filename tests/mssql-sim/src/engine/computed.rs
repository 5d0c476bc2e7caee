//! rowversion (timestamp) and computed columns.
//!
//! rowversion: docs/t-sql/data-types/rowversion-transact-sql.md. "Each
//! database has a counter that is incremented for each insert or update
//! operation that is performed on a table that contains a rowversion column";
//! "A table can only have one rowversion column"; "The rowversion value is
//! incremented with any update statement, even if no row values are
//! changed"; a nonnullable rowversion is binary(8), a nullable one
//! varbinary(8). `@@DBTS` "returns the last-used timestamp value of the
//! current database" (docs/t-sql/functions/dbts-transact-sql.md), and it is
//! not rolled back with a transaction (like an identity value, a rowversion
//! value is never handed out twice): the counter is stored in `sim_meta`
//! (`dbts`, rolled back with the transaction) and its high-water mark is kept
//! in memory ([`DbTimestamp`]); the next value is taken past both.
//!
//! Computed columns: docs/relational-databases/tables/specify-computed-columns-in-a-table.md
//! and docs/t-sql/statements/create-table-transact-sql.md (computed_column_definition).
//! The stand-in stores every computed column (as SQL Server stores a
//! PERSISTED one): the server computes the value whenever it writes a row
//! (INSERT, UPDATE, MERGE, bulk load, trigger writes), by evaluating the
//! translated expression over the row's values. Reads then need nothing
//! special. A non-persisted column in SQL Server is computed when read; the
//! difference shows only for a nondeterministic expression (GETDATE()), whose
//! value here is the one of the last write, and for an expression that fails
//! (a division by zero fails the write here, the read in SQL Server).

use super::catalog::{quote_ident, ColumnInfo, Computed, TableInfo};
use super::translate::{Ctx, Source};
use super::types::{from_storage, to_storage};
use super::{sqlerr, Session};
use crate::error::SqlError;
use crate::sql::ast::{BinaryOp, ColumnDef, Expr, Literal, UnaryOp};
use crate::value::{SqlType, Value};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use std::sync::atomic::{AtomicI64, Ordering};

/// `@@DBTS` of a new database: SQL Server's first rowversion values are
/// 0x00000000000007D1 and up (the docs page's example value is 0x...07D3).
pub const DBTS_START: i64 = 2000;

/// The in-memory high-water mark of the database rowversion counter, shared
/// by all sessions of an engine.
#[derive(Debug, Default)]
pub struct DbTimestamp {
    hwm: AtomicI64,
}

impl DbTimestamp {
    /// After a snapshot restore: the restored counter is the truth again.
    pub fn reset(&self) {
        self.hwm.store(0, Ordering::SeqCst);
    }
}

/// The rowversion bytes of a counter value: 8 bytes, big-endian.
pub fn rowversion_bytes(v: i64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// `@@DBTS`: the last rowversion value used in the database.
pub fn current_dbts(conn: &Connection, dbts: &DbTimestamp) -> Result<i64, SqlError> {
    let stored: Option<i64> = conn
        .prepare_cached("SELECT value FROM sim_meta WHERE key = 'dbts'")
        .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
        .map_err(sqlerr)?;
    Ok(stored
        .unwrap_or(DBTS_START)
        .max(dbts.hwm.load(Ordering::SeqCst)))
}

/// Error 271 (docs/relational-databases/errors-events/database-engine-events-and-errors-0-to-999.md).
pub fn not_modifiable(column: &str) -> SqlError {
    SqlError::new(
        271,
        16,
        1,
        format!("The column \"{column}\" cannot be modified because it is either a computed column or is the result of a UNION operator."),
    )
}

/// Error 272: a rowversion column in UPDATE ... SET.
pub fn timestamp_update() -> SqlError {
    SqlError::new(272, 16, 1, "Cannot update a timestamp column.")
}

/// Error 273: an explicit value for a rowversion column in INSERT.
pub fn timestamp_insert() -> SqlError {
    SqlError::new(273, 16, 1, "Cannot insert an explicit value into a timestamp column. Use INSERT with a column list to exclude the timestamp column, or insert a DEFAULT into the timestamp column.")
}

/// Error 2738: a second rowversion column.
pub fn two_timestamps(table: &str, column: &str) -> SqlError {
    SqlError::new(
        2738,
        16,
        2,
        format!("A table can only have one timestamp column. Because table '{table}' already has one, the column '{column}' cannot be added."),
    )
}

/// The catalog row of a new column (CREATE TABLE, ALTER TABLE ADD).
pub fn insert_column_row(
    conn: &Connection,
    object_id: i64,
    c: &ColumnInfo,
) -> Result<(), SqlError> {
    use super::catalog::DefaultKind;
    let (dv, df) = match &c.default {
        Some(DefaultKind::Value(v)) => (v.clone(), None),
        Some(DefaultKind::Func(f)) => (rusqlite::types::Value::Null, Some(f.clone())),
        None => (rusqlite::types::Value::Null, None),
    };
    let (csql, cdef, persisted) = match &c.computed {
        Some(x) => (Some(&x.sql), Some(&x.definition), x.persisted),
        None => (None, None, false),
    };
    conn.prepare_cached(
        "INSERT INTO sim_columns(object_id, column_id, name, type_code, nullable, identity_seed,
             identity_increment, default_value, default_func, computed_sql, computed_definition,
             is_persisted, is_rowversion, collation_name, is_sparse)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )
    .and_then(|mut s| {
        s.execute(params![
            object_id,
            c.column_id,
            c.name,
            super::types::type_code(&c.ty),
            c.nullable,
            c.identity.map(|i| i.0),
            c.identity.map(|i| i.1),
            dv,
            df,
            csql,
            cdef,
            persisted,
            c.rowversion,
            c.collation.map(|x| x.name),
            c.sparse
        ])
    })
    .map_err(sqlerr)?;
    Ok(())
}

/// ALTER TABLE DROP COLUMN of a column a computed column uses: error 5074
/// (SQL Server follows it with 4922, "ALTER TABLE DROP COLUMN c failed
/// because one or more objects access this column.").
pub fn check_drop_column(t: &TableInfo, c: &ColumnInfo) -> Result<(), SqlError> {
    let needle = format!(".{}", quote_ident(&c.name)).to_ascii_lowercase();
    for other in &t.columns {
        if let Some(x) = &other.computed {
            if x.sql.to_ascii_lowercase().contains(&needle) {
                return Err(SqlError::new(
                    5074,
                    16,
                    1,
                    format!(
                        "The column '{}' is dependent on column '{}'.",
                        other.name, c.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The columns an INSERT without a column list gives values for: all but
/// the identity (unless IDENTITY_INSERT is ON) and the computed columns
/// ("Computed columns" are among the columns INSERT does not specify values
/// for, docs/t-sql/statements/insert-transact-sql.md). The rowversion column
/// stays in the list: error 273's text asks for "a DEFAULT into the
/// timestamp column" there (DEFAULT or NULL are accepted).
pub fn implicit_insert_columns(t: &TableInfo, identity_insert: bool) -> Vec<usize> {
    (0..t.columns.len())
        .filter(|i| {
            let c = &t.columns[*i];
            (identity_insert || c.identity.is_none()) && c.computed.is_none()
        })
        .collect()
}

/// An explicit INSERT column list may not name a computed column (271).
pub fn check_insert_columns(t: &TableInfo, cols: &[usize]) -> Result<(), SqlError> {
    match cols.iter().find(|i| t.columns[**i].computed.is_some()) {
        Some(i) => Err(not_modifiable(&t.columns[*i].name)),
        None => Ok(()),
    }
}

/// An UPDATE (or MERGE ... UPDATE) SET target: not computed (271), not the
/// rowversion (272).
pub fn check_update_column(c: &ColumnInfo) -> Result<(), SqlError> {
    if c.computed.is_some() {
        return Err(not_modifiable(&c.name));
    }
    if c.rowversion {
        return Err(timestamp_update());
    }
    Ok(())
}

/// Evaluates the computed columns of `row` from its other values.
pub fn fill_computed(conn: &Connection, t: &TableInfo, row: &mut [Value]) -> Result<(), SqlError> {
    let comp: Vec<usize> = (0..t.columns.len())
        .filter(|i| t.columns[*i].computed.is_some())
        .collect();
    if comp.is_empty() {
        return Ok(());
    }
    let items: Vec<&str> = comp
        .iter()
        .filter_map(|i| t.columns[*i].computed.as_ref().map(|c| c.sql.as_str()))
        .collect();
    let cols: Vec<String> = t
        .columns
        .iter()
        .enumerate()
        .map(|(n, c)| format!("?{} AS {}", n + 1, quote_ident(&c.name)))
        .collect();
    let sql = format!(
        "SELECT {} FROM (SELECT {}) AS {}",
        items.join(", "),
        cols.join(", "),
        quote_ident(&t.full_name())
    );
    let params: Vec<_> = row
        .iter()
        .zip(&t.columns)
        .map(|(v, c)| to_storage(v, &c.ty))
        .collect();
    let mut st = conn.prepare_cached(&sql).map_err(sqlerr)?;
    let mut rows = st.query(params_from_iter(params.iter())).map_err(sqlerr)?;
    let Some(r) = rows.next().map_err(sqlerr)? else {
        return Ok(());
    };
    for (k, i) in comp.iter().enumerate() {
        let raw = r.get_ref(k).map_err(sqlerr)?;
        row[*i] = from_storage(raw, &t.columns[*i].ty)?;
    }
    Ok(())
}

impl Session {
    /// The next database rowversion value (never one handed out before,
    /// even by a transaction that rolled back).
    pub(super) fn next_rowversion(&self) -> Result<i64, SqlError> {
        let hwm = &self.st.info.dbts.hwm;
        loop {
            let seen = hwm.load(Ordering::SeqCst);
            let v: i64 = self
                .conn
                .prepare_cached(
                    "INSERT INTO sim_meta(key, value) VALUES ('dbts', max(?1, ?2) + 1)
                     ON CONFLICT(key) DO UPDATE SET value = max(value, ?1) + 1 RETURNING value",
                )
                .and_then(|mut s| s.query_row(params![seen, DBTS_START], |r| r.get(0)))
                .map_err(sqlerr)?;
            if hwm.fetch_max(v, Ordering::SeqCst) < v {
                return Ok(v);
            }
        }
    }

    /// Gives a row about to be written (inserted or updated) its new
    /// rowversion and its computed values.
    pub(super) fn derive_row(&self, t: &TableInfo, row: &mut [Value]) -> Result<(), SqlError> {
        for (i, c) in t.columns.iter().enumerate() {
            if c.rowversion {
                row[i] = Value::Binary(rowversion_bytes(self.next_rowversion()?));
            }
        }
        fill_computed(&self.conn, t, row)
    }

    /// A rowversion or computed column added by ALTER TABLE: the existing
    /// rows get their values (each a new rowversion value).
    pub(super) fn fill_new_column(&self, t: &TableInfo, c: &ColumnInfo) -> Result<(), SqlError> {
        let name = t.sqlite_name();
        let col = quote_ident(&c.name);
        if let Some(x) = &c.computed {
            self.conn
                .execute_batch(&format!("UPDATE {name} SET {col} = {}", x.sql))
                .map_err(sqlerr)?;
            return Ok(());
        }
        let rowids: Vec<i64> = {
            let mut st = self
                .conn
                .prepare(&format!("SELECT rowid FROM {name} ORDER BY rowid"))
                .map_err(sqlerr)?;
            let rows = st.query_map([], |r| r.get(0)).map_err(sqlerr)?;
            rows.collect::<Result<_, _>>().map_err(sqlerr)?
        };
        for id in rowids {
            let v = rowversion_bytes(self.next_rowversion()?);
            self.conn
                .execute(
                    &format!("UPDATE {name} SET {col} = ?1 WHERE rowid = ?2"),
                    params![v, id],
                )
                .map_err(sqlerr)?;
        }
        Ok(())
    }

    /// Types and translates the computed columns among `cols` (the whole
    /// table, `defs` the definitions of the columns being created, by index
    /// into `cols`). The type of a computed column is the type of its
    /// expression; it is nullable unless PERSISTED NOT NULL.
    pub(super) fn resolve_computed(
        &self,
        full: &str,
        table: &str,
        cols: &mut [ColumnInfo],
        defs: &[(usize, &ColumnDef)],
    ) -> Result<(), SqlError> {
        let computed_names: Vec<String> = cols
            .iter()
            .enumerate()
            .filter(|(i, c)| {
                c.computed.is_some() || defs.iter().any(|(d, def)| d == i && def.computed.is_some())
            })
            .map(|(_, c)| c.name.clone())
            .collect();
        let plain: Vec<(String, Option<SqlType>, bool)> = cols
            .iter()
            .filter(|c| !computed_names.contains(&c.name))
            .map(|c| (c.name.clone(), Some(c.ty), c.nullable))
            .collect();
        let plain_colls: Vec<_> = cols
            .iter()
            .filter(|c| !computed_names.contains(&c.name))
            .map(|c| c.collation)
            .collect();
        for (i, def) in defs {
            let Some(cd) = &def.computed else { continue };
            let mut refs = Vec::new();
            column_refs(&cd.expr, &mut refs)?;
            if let Some(r) = refs
                .iter()
                .find(|r| computed_names.iter().any(|n| n.eq_ignore_ascii_case(r)))
            {
                return Err(SqlError::new(1759, 16, 0, format!("Computed column '{r}' in table '{table}' is not allowed to be used in another computed-column definition.")));
            }
            let mut ctx = Ctx::new(&self.conn, &self.st.vars, &self.st.info);
            ctx.inline = true;
            ctx.scopes.push(vec![Source {
                names: vec![table.to_string(), full.to_string()],
                sql_alias: quote_ident(full),
                columns: plain.clone(),
                table: None,
                collations: plain_colls.clone(),
            }]);
            let e = ctx.expr(&cd.expr)?;
            let c = &mut cols[*i];
            // An untyped NULL expression: int, as SELECT NULL is.
            c.ty = e.ty.unwrap_or(SqlType::Int);
            // A computed column's collation is its expression's.
            c.collation = c.ty.is_string().then(|| {
                e.coll
                    .map(|l| l.coll)
                    .unwrap_or_else(super::collation::database_default)
            });
            c.nullable = !(cd.persisted && def.nullable == Some(false));
            c.computed = Some(Computed {
                sql: e.sql,
                definition: definition(&cd.expr).unwrap_or_else(|| format!("({})", cd.text.trim())),
                persisted: cd.persisted,
            });
        }
        Ok(())
    }
}

/// The column names an expression references; subqueries are refused as
/// SQL Server refuses them in a computed column (error 1046).
fn column_refs(e: &Expr, out: &mut Vec<String>) -> Result<(), SqlError> {
    fn all(xs: &[&Expr], out: &mut Vec<String>) -> Result<(), SqlError> {
        for x in xs {
            column_refs(x, out)?;
        }
        Ok(())
    }
    match e {
        Expr::Column(parts) => out.extend(parts.last().cloned()),
        Expr::Unary { expr, .. }
        | Expr::Nested(expr)
        | Expr::Collate { expr, .. }
        | Expr::IsNull { expr, .. }
        | Expr::Cast { expr, .. } => column_refs(expr, out)?,
        Expr::Binary { left, right, .. } => all(&[left.as_ref(), right.as_ref()], out)?,
        Expr::InList { expr, list, .. } => {
            column_refs(expr, out)?;
            all(&list.iter().collect::<Vec<_>>(), out)?;
        }
        Expr::Between {
            expr, low, high, ..
        } => all(&[expr.as_ref(), low.as_ref(), high.as_ref()], out)?,
        Expr::Like { expr, pattern, .. } => all(&[expr.as_ref(), pattern.as_ref()], out)?,
        Expr::Case {
            operand,
            branches,
            else_result,
        } => {
            for x in operand.iter().chain(else_result.iter()) {
                column_refs(x, out)?;
            }
            for (a, b) in branches {
                all(&[a, b], out)?;
            }
        }
        Expr::Function { args, .. } => all(&args.iter().collect::<Vec<_>>(), out)?,
        Expr::Convert { expr, style, .. } => {
            column_refs(expr, out)?;
            if let Some(s) = style {
                column_refs(s, out)?;
            }
        }
        Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
            return Err(SqlError::new(
                1046,
                15,
                1,
                "Subqueries are not allowed in this context. Only scalar expressions are allowed.",
            ))
        }
        _ => {}
    }
    Ok(())
}

/// `sys.computed_columns.definition` as SQL Server normalises it: the whole
/// expression in parentheses, column names bracketed, numbers parenthesised,
/// no spaces around operators, built-in function names in lower case
/// (`([Qty]*[Price])`, `('Mr '+[Name])`, `(isnull([a],(0)))`). `None` for
/// shapes this rendering does not cover (the caller keeps the text as
/// written, in parentheses).
fn definition(e: &Expr) -> Option<String> {
    Some(format!("({})", render(e)?))
}

fn render(e: &Expr) -> Option<String> {
    Some(match e {
        Expr::Column(parts) => parts
            .iter()
            .map(|p| format!("[{}]", p.replace(']', "]]")))
            .collect::<Vec<_>>()
            .join("."),
        Expr::Literal(l) => match l {
            Literal::Null => "NULL".into(),
            Literal::Integer(s) | Literal::Decimal(s) | Literal::Float(s) => format!("({s})"),
            Literal::Money(s) => format!("(${s})"),
            Literal::String { value, national } => format!(
                "{}'{}'",
                if *national { "N" } else { "" },
                value.replace('\'', "''")
            ),
            Literal::Binary(b) => {
                let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
                format!("0x{hex}")
            }
        },
        Expr::Nested(inner) => format!("({})", render(inner)?),
        Expr::Unary {
            op: UnaryOp::Minus,
            expr,
        } => match expr.as_ref() {
            Expr::Literal(Literal::Integer(s) | Literal::Decimal(s)) => format!("(-{s})"),
            other => format!("-{}", render(other)?),
        },
        Expr::Binary { left, op, right } => {
            let op = match op {
                BinaryOp::Plus => "+",
                BinaryOp::Minus => "-",
                BinaryOp::Multiply => "*",
                BinaryOp::Divide => "/",
                BinaryOp::Modulo => "%",
                BinaryOp::BitAnd => "&",
                BinaryOp::BitOr => "|",
                BinaryOp::BitXor => "^",
                _ => return None,
            };
            format!("{}{op}{}", render(left)?, render(right)?)
        }
        Expr::Function {
            name,
            args,
            distinct: false,
            star: false,
            over: None,
        } if !name.contains('.') => {
            let args: Option<Vec<String>> = args.iter().map(render).collect();
            format!("{}({})", name.to_ascii_lowercase(), args?.join(","))
        }
        _ => return None,
    })
}
