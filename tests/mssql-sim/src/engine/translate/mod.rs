//! T-SQL syntax tree → SQLite SQL with bound parameters and inferred SQL
//! Server types.
//!
//! Every translated expression carries the SQL Server type of its result; the
//! SQLite value it produces is in that type's storage form (see
//! `engine::types`). Where two operands' storage forms differ, the one of lower
//! data-type precedence is converted with `sim_cast`
//! (docs/t-sql/data-types/data-type-precedence-transact-sql.md).
//! Values are always bound as parameters, never spliced into the text — except
//! in `inline` mode, used for DDL (CHECK constraints), where SQLite allows no
//! parameters and constants are rendered as SQL literals.

mod arith;
mod collate;
mod expr;
mod from;
mod funcs;
mod predicates;
mod query;
mod sysfuncs;

pub use from::key_columns;
pub use query::OutCol;

use super::catalog::{self, TableInfo};
use super::collation::Collation;
use super::types::type_code;
use crate::error::SqlError;
use crate::value::{Len, SqlType, Value};
use rusqlite::types::Value as DbValue;
use rusqlite::Connection;
use std::collections::HashMap;
use std::sync::Arc;

/// A translated expression.
#[derive(Debug, Clone)]
pub struct TExpr {
    pub sql: String,
    /// `None`: an untyped NULL.
    pub ty: Option<SqlType>,
    /// The collation label of a character expression
    /// (docs/t-sql/statements/collation-precedence-transact-sql.md): `None`
    /// is coercible-default (literals, variables, parameters, most
    /// functions: the database default collation).
    pub coll: Option<CollLabel>,
}

/// Implicit (a column reference) or explicit (`COLLATE`) collation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollLabel {
    pub coll: Collation,
    pub explicit: bool,
}

/// What session state the translation may read.
#[derive(Debug, Clone, Default)]
pub struct SessionInfo {
    pub database: String,
    /// The login of the session (SUSER_SNAME()).
    pub user: String,
    pub spid: i64,
    pub rowcount: i64,
    pub trancount: i64,
    pub scope_identity: Option<i64>,
    pub identity: Option<i64>,
    /// The error a CATCH block is handling (ERROR_NUMBER() ...).
    pub last_error: Option<crate::error::SqlError>,
    /// Tables that are not in the catalog, by lower-case name: the batch's
    /// table variables (`@t`) and, inside a trigger, `inserted` and `deleted`.
    pub locals: HashMap<String, Arc<TableInfo>>,
    /// The engine's rowversion counter (`@@DBTS`, see `engine::computed`).
    pub dbts: Arc<crate::engine::computed::DbTimestamp>,
}

/// A column of a source: name, type (`None` for an untyped NULL), nullable.
pub type ColumnDesc = (String, Option<SqlType>, bool);

/// A named thing in FROM whose columns expressions may reference.
#[derive(Debug, Clone)]
pub struct Source {
    /// Names it can be referenced by (alias, or table name and schema.name).
    pub names: Vec<String>,
    /// Quoted alias in the generated SQL.
    pub sql_alias: String,
    pub columns: Vec<(String, Option<SqlType>, bool)>,
    pub table: Option<Arc<TableInfo>>,
    /// Collations of `columns` (same order) when the source is no catalog
    /// table; empty: unknown (the database default).
    pub collations: Vec<Option<Collation>>,
}

/// The collation of a source's column (`None`: unknown or not a character
/// column).
pub fn source_collation(src: &Source, name: &str) -> Option<Collation> {
    if let Some(t) = &src.table {
        return t.column_index(name).and_then(|i| t.columns[i].collation);
    }
    let i = src
        .columns
        .iter()
        .position(|(n, _, _)| n.eq_ignore_ascii_case(name))?;
    src.collations.get(i).copied().flatten()
}

/// Translation state for one statement.
pub struct Ctx<'a> {
    pub conn: &'a Connection,
    pub vars: &'a HashMap<String, (SqlType, Value)>,
    pub session: &'a SessionInfo,
    pub params: Vec<DbValue>,
    pub inline: bool,
    /// Stack of FROM scopes, innermost last (correlated subqueries).
    pub scopes: Vec<Vec<Source>>,
    /// Common table expressions in scope: name → columns.
    pub ctes: Vec<(String, Vec<ColumnDesc>)>,
    alias_seq: usize,
    pub temp_seq: usize,
    /// Keys the next `CHANGETABLE(CHANGES ...)` is inner-joined to (see
    /// `from::ct_key_filter`), taken by it.
    pub ct_keys: Option<Vec<Vec<DbValue>>>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        conn: &'a Connection,
        vars: &'a HashMap<String, (SqlType, Value)>,
        session: &'a SessionInfo,
    ) -> Self {
        Ctx {
            conn,
            vars,
            session,
            params: Vec::new(),
            inline: false,
            scopes: Vec::new(),
            ctes: Vec::new(),
            alias_seq: 0,
            temp_seq: 0,
            ct_keys: None,
        }
    }

    /// Binds a value and returns its placeholder (or a literal in inline mode).
    pub fn bind(&mut self, v: DbValue) -> String {
        if self.inline {
            return literal_sql(&v);
        }
        self.params.push(v);
        format!("?{}", self.params.len())
    }

    pub fn fresh_alias(&mut self, base: &str) -> String {
        self.alias_seq += 1;
        catalog::quote_ident(&format!("{base}_{}", self.alias_seq))
    }

    pub fn resolve_table(
        &self,
        name: &crate::sql::ast::ObjectName,
    ) -> Result<Arc<TableInfo>, SqlError> {
        catalog::resolve_in(self.conn, &self.session.locals, name)
    }
}

/// A constant as SQLite literal text (DDL only).
pub fn literal_sql(v: &DbValue) -> String {
    match v {
        DbValue::Null => "NULL".into(),
        DbValue::Integer(i) => i.to_string(),
        DbValue::Real(f) => format!("{f:e}"),
        DbValue::Text(s) => format!("'{}'", s.replace('\'', "''")),
        DbValue::Blob(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
            format!("X'{hex}'")
        }
    }
}

/// Data-type precedence; higher wins.
/// docs/t-sql/data-types/data-type-precedence-transact-sql.md
pub fn precedence(ty: &SqlType) -> u8 {
    match ty {
        // CLR types rank above sql_variant (user-defined types first).
        SqlType::HierarchyId | SqlType::Geography | SqlType::Geometry => 33,
        SqlType::Variant => 32,
        SqlType::Xml => 31,
        SqlType::NText => 14,
        SqlType::Text => 13,
        SqlType::Image => 12,
        SqlType::DateTimeOffset(_) => 30,
        SqlType::DateTime2(_) => 29,
        SqlType::DateTime => 28,
        SqlType::SmallDateTime => 27,
        SqlType::Date => 26,
        SqlType::Time(_) => 25,
        SqlType::Float => 24,
        SqlType::Real => 23,
        SqlType::Decimal { .. } => 22,
        SqlType::Money => 21,
        SqlType::SmallMoney => 20,
        SqlType::BigInt => 19,
        SqlType::Int => 18,
        SqlType::SmallInt => 17,
        SqlType::TinyInt => 16,
        SqlType::Bit => 15,
        SqlType::UniqueIdentifier => 10,
        SqlType::NVarChar(_) => 9,
        SqlType::NChar(_) => 8,
        SqlType::VarChar(_) => 7,
        SqlType::Char(_) => 6,
        SqlType::VarBinary(_) => 5,
        SqlType::Binary(_) => 4,
    }
}

/// Whether values of `a` and `b` compare correctly with SQLite's native
/// comparison (same storage form and scaling).
pub fn same_storage(a: &SqlType, b: &SqlType) -> bool {
    use SqlType::*;
    let class = |t: &SqlType| -> (u8, i32) {
        match t {
            TinyInt | SmallInt | Int | BigInt | Bit => (1, 0),
            Float | Real => (1, 0),
            Decimal { precision, scale } => {
                if *precision <= 18 {
                    (2, *scale as i32)
                } else {
                    (3, *scale as i32)
                }
            }
            Money | SmallMoney => (2, 4),
            NVarChar(_) | VarChar(_) | NChar(_) | Char(_) | Text | NText => (4, 0),
            VarBinary(_) | Binary(_) | Image => (5, 0),
            Xml => (11, 0),
            Variant => (12, 0),
            HierarchyId => (13, 0),
            Geography | Geometry => (14, 0),
            UniqueIdentifier => (6, 0),
            Date => (7, 0),
            Time(_) => (8, 0),
            DateTime | SmallDateTime | DateTime2(_) => (9, 0),
            DateTimeOffset(_) => (10, 0),
        }
    };
    let (ca, sa) = class(a);
    let (cb, sb) = class(b);
    // An integer compares exactly with a decimal of scale 0 stored as INTEGER.
    ca == cb && sa == sb || (ca == 1 && cb == 2 && sb == 0) || (ca == 2 && sa == 0 && cb == 1)
}

/// The common type two operands are compared or combined in.
pub fn common_type(a: &SqlType, b: &SqlType) -> SqlType {
    use SqlType::*;
    match (a, b) {
        (
            Decimal {
                precision: p1,
                scale: s1,
            },
            Decimal {
                precision: p2,
                scale: s2,
            },
        ) => {
            let s = (*s1).max(*s2);
            let ip = (p1 - s1).max(p2 - s2);
            Decimal {
                precision: (ip + s).min(38),
                scale: s,
            }
        }
        (Decimal { precision, scale }, t) | (t, Decimal { precision, scale })
            if t.is_integer() || *t == Bit =>
        {
            let ip = match t {
                BigInt => 19,
                Int => 10,
                SmallInt => 5,
                _ => 3,
            };
            Decimal {
                precision: (ip.max(precision - scale) + scale).min(38),
                scale: *scale,
            }
        }
        (NVarChar(l1), NVarChar(l2)) | (VarChar(l1), VarChar(l2)) => {
            let l = match (l1, l2) {
                (Len::N(x), Len::N(y)) => Len::N(*x.max(y)),
                _ => Len::Max,
            };
            if matches!(a, NVarChar(_)) {
                NVarChar(l)
            } else {
                VarChar(l)
            }
        }
        _ => {
            if precedence(a) >= precedence(b) {
                *a
            } else {
                *b
            }
        }
    }
}

/// SQLite SQL for conversions that need no `sim_cast` round trip through
/// the type codes (the same value as `convert::convert` gives): an integer
/// or bit as unbounded text (its decimal digits), binary to an integer
/// type (`sim_bin_int`: the rightmost bytes, as `convert` reads them).
pub fn fast_cast(sql: &str, from: &SqlType, to: &SqlType) -> Option<String> {
    use SqlType::*;
    match (from, to) {
        (f, NVarChar(Len::Max) | VarChar(Len::Max)) if f.is_integer() || *f == Bit => {
            Some(format!("CAST({sql} AS TEXT)"))
        }
        (VarBinary(_) | Binary(_), TinyInt | SmallInt | Int | BigInt) => {
            let width = match to {
                TinyInt => 1,
                SmallInt => 2,
                Int => 4,
                _ => 8,
            };
            Some(format!("sim_bin_int({sql}, {width})"))
        }
        _ => None,
    }
}

/// Converts an expression to `to` (no-op when the storage already matches and
/// no check is needed).
pub fn cast_to(e: TExpr, to: &SqlType) -> TExpr {
    if let Some(sql) = e.ty.as_ref().and_then(|f| fast_cast(&e.sql, f, to)) {
        return TExpr {
            coll: None,
            sql,
            ty: Some(*to),
        };
    }
    match &e.ty {
        None => TExpr {
            coll: None,
            sql: e.sql,
            ty: Some(*to),
        },
        Some(from) if from == to => e,
        // CAST and CONVERT keep a character input's collation
        // (docs/t-sql/functions/cast-and-convert-transact-sql.md, "Collation").
        Some(from) if same_storage(from, to) && widening(from, to) => TExpr {
            coll: if to.is_string() { e.coll } else { None },
            sql: e.sql,
            ty: Some(*to),
        },
        Some(from) => TExpr {
            coll: if from.is_string() && to.is_string() {
                e.coll
            } else {
                None
            },
            sql: format!(
                "sim_cast({}, '{}', '{}', 0)",
                e.sql,
                type_code(from),
                type_code(to)
            ),
            ty: Some(*to),
        },
    }
}

/// A conversion that cannot fail or change the value.
pub(super) fn widening(from: &SqlType, to: &SqlType) -> bool {
    use SqlType::*;
    match (from, to) {
        (a, b) if a.is_integer() && b.is_integer() => precedence(a) <= precedence(b),
        (Bit, b) if b.is_integer() => true,
        (a, Float) if a.is_integer() => true,
        (Real, Float) => true,
        (NVarChar(_) | VarChar(_) | NChar(_) | Char(_), NVarChar(Len::Max) | VarChar(Len::Max)) => {
            true
        }
        (VarChar(_), NVarChar(_)) | (NVarChar(_), NVarChar(_)) | (VarChar(_), VarChar(_)) => {
            match (from, to) {
                (
                    VarChar(Len::N(a)) | NVarChar(Len::N(a)),
                    NVarChar(Len::N(b)) | VarChar(Len::N(b)),
                ) => a <= b,
                (_, NVarChar(Len::Max) | VarChar(Len::Max)) => true,
                _ => false,
            }
        }
        (VarBinary(_), VarBinary(Len::Max)) => true,
        // Same scale, wider precision, same storage form: the value is unchanged.
        (
            Decimal {
                precision: p1,
                scale: s1,
            },
            Decimal {
                precision: p2,
                scale: s2,
            },
        ) => s1 == s2 && p1 <= p2 && (*p1 <= 18) == (*p2 <= 18),
        (Money | SmallMoney, Money) => true,
        (DateTime | SmallDateTime, DateTime2(7)) => true,
        _ => false,
    }
}

/// Brings two operands to a comparable storage form.
pub fn unify(a: TExpr, b: TExpr) -> (TExpr, TExpr) {
    match (&a.ty, &b.ty) {
        (Some(ta), Some(tb)) if !same_storage(ta, tb) => {
            let t = common_type(ta, tb);
            (cast_to(a, &t), cast_to(b, &t))
        }
        _ => (a, b),
    }
}

pub fn is_string(t: &Option<SqlType>) -> bool {
    t.as_ref().map(|t| t.is_string()).unwrap_or(false)
}
