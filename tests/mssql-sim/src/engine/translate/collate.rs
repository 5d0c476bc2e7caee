//! Which collation an operation on character operands uses, and the SQLite
//! text that makes SQLite compare with it.
//!
//! docs/t-sql/statements/collation-precedence-transact-sql.md: an explicit
//! collation (`COLLATE`) wins over an implicit one (a column reference),
//! which wins over coercible-default (literals, variables, parameters: the
//! database default). Two different explicit collations, or two different
//! implicit ones, in a comparison: error 468 (the message names the right
//! operand's collation first, as SQL Server's does).

use super::{is_string, CollLabel, Ctx, TExpr};
use crate::engine::collation::{self, Collation};
use crate::error::SqlError;
use crate::sql::ast::{BinaryOp, Expr};

/// SQL Server's name of a comparison operation in error 468.
pub fn op_name(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::NotEq => "not equal to",
        BinaryOp::Lt => "less than",
        BinaryOp::LtEq => "less than or equal to",
        BinaryOp::Gt => "greater than",
        BinaryOp::GtEq => "greater than or equal to",
        BinaryOp::Plus => "add",
        BinaryOp::Minus => "subtract",
        BinaryOp::Multiply => "multiply",
        BinaryOp::Divide => "divide",
        BinaryOp::Modulo => "modulo",
        BinaryOp::BitAnd => "&",
        BinaryOp::BitOr => "|",
        BinaryOp::BitXor => "^",
        _ => "equal to",
    }
}

fn conflict(left: &Collation, right: &Collation, op: &str) -> SqlError {
    SqlError::new(
        468,
        16,
        9,
        format!(
            "Cannot resolve the collation conflict between \"{}\" and \"{}\" in the {op} operation.",
            right.name, left.name
        ),
    )
}

/// The collation label of the result of combining two operands (the
/// higher label; equal labels of different collations give no label, here
/// coercible-default).
pub fn combine(a: Option<CollLabel>, b: Option<CollLabel>) -> Option<CollLabel> {
    match (a, b) {
        (Some(x), Some(y)) if x.explicit && y.explicit => (x.coll == y.coll).then_some(x),
        (Some(x), _) if x.explicit => Some(x),
        (_, Some(y)) if y.explicit => Some(y),
        (Some(x), Some(y)) => (x.coll == y.coll).then_some(x),
        (x, y) => x.or(y),
    }
}

/// The collation a comparison of `l` and `r` uses (error 468 on a conflict).
pub fn resolve(l: &TExpr, r: &TExpr, op: &str) -> Result<Collation, SqlError> {
    match (l.coll, r.coll) {
        (Some(a), Some(b)) if a.explicit == b.explicit && a.coll != b.coll => {
            Err(conflict(&a.coll, &b.coll, op))
        }
        (a, b) => Ok(combine(a, b)
            .map(|x| x.coll)
            .unwrap_or_else(collation::database_default)),
    }
}

/// Refuses comparisons SQL Server refuses
/// (docs/relational-databases/errors-events/database-engine-events-and-errors-0-to-999.md):
/// two xml operands 305; xml, text, ntext or image against anything else
/// (and text against text) 402 "The data types %ls and %ls are incompatible
/// in the %ls operator."
pub fn comparable(l: &TExpr, r: &TExpr, op: &str) -> Result<(), SqlError> {
    use crate::value::SqlType;
    let (Some(a), Some(b)) = (l.ty, r.ty) else {
        // An untyped NULL operand: SQL Server types it int.
        let a = l.ty.unwrap_or(SqlType::Int);
        let b = r.ty.unwrap_or(SqlType::Int);
        if a.is_incomparable() || b.is_incomparable() {
            return Err(incompatible(&a, &b, op));
        }
        return Ok(());
    };
    // 403: "Invalid operator for data type. Operator equals %ls, type
    // equals %ls." (geography and geometry define no comparison).
    if let Some(t) = [a, b].into_iter().find(|t| t.is_spatial()) {
        return Err(SqlError::new(
            403,
            16,
            1,
            format!(
                "Invalid operator for data type. Operator equals {op}, type equals {}.",
                t.base_name()
            ),
        ));
    }
    if a == SqlType::Xml && b == SqlType::Xml {
        return Err(crate::engine::xml::not_comparable());
    }
    if a.is_incomparable() || b.is_incomparable() {
        return Err(incompatible(&a, &b, op));
    }
    Ok(())
}

pub fn incompatible(a: &crate::value::SqlType, b: &crate::value::SqlType, op: &str) -> SqlError {
    SqlError::new(
        402,
        16,
        1,
        format!(
            "The data types {} and {} are incompatible in the {op} operator.",
            a.base_name(),
            b.base_name()
        ),
    )
}

/// Refuses sorting and grouping by xml (305), text, ntext, image (306) and
/// geography, geometry (249, naming the clause).
pub fn sortable(ty: Option<crate::value::SqlType>, clause: &str) -> Result<(), SqlError> {
    match ty {
        Some(t) if t.is_spatial() => Err(SqlError::new(
            249,
            16,
            1,
            format!(
                "The type \"{}\" is not comparable. It cannot be used in the {clause} clause.",
                t.base_name()
            ),
        )),
        Some(crate::value::SqlType::Xml) => Err(crate::engine::xml::not_comparable()),
        Some(t) if t.is_lob() => Err(SqlError::new(
            306,
            16,
            2,
            "The text, ntext, and image data types cannot be compared or sorted, except when using IS NULL or LIKE operator.",
        )),
        _ => Ok(()),
    }
}

/// 421: DISTINCT over a column that is not comparable.
pub fn distinct_ok(ty: Option<crate::value::SqlType>) -> Result<(), SqlError> {
    match ty {
        Some(t) if t.is_incomparable() || t.is_spatial() => Err(SqlError::new(
            421,
            16,
            1,
            format!(
                "The {} data type cannot be selected as DISTINCT because it is not comparable.",
                t.base_name()
            ),
        )),
        _ => Ok(()),
    }
}

/// `(sql) COLLATE <its SQLite collation>`.
pub fn collate(sql: &str, c: &Collation) -> String {
    format!("({sql}) COLLATE {}", c.sqlite())
}

/// The SQL of an ORDER BY or GROUP BY item: character expressions sort with
/// their collation.
pub fn sort_key(t: &TExpr) -> String {
    if t.ty == Some(crate::value::SqlType::Variant) {
        return format!("({}) COLLATE {}", t.sql, crate::engine::variant::COLLATION);
    }
    if is_string(&t.ty) {
        let c = t
            .coll
            .map(|l| l.coll)
            .unwrap_or_else(collation::database_default);
        collate(&t.sql, &c)
    } else {
        t.sql.clone()
    }
}

/// The collation a comparison of two operands (already unified) uses, when
/// either is a character string.
pub fn for_pair(l: &TExpr, r: &TExpr, op: &str) -> Result<Option<Collation>, SqlError> {
    comparable(l, r, op)?;
    if is_string(&l.ty) || is_string(&r.ty) {
        resolve(l, r, op).map(Some)
    } else {
        Ok(None)
    }
}

/// `l sym r` with the comparison's collation on both operands.
pub fn compare_sql(l: &TExpr, sym: &str, r: &TExpr, c: Option<&Collation>) -> String {
    if l.ty == Some(crate::value::SqlType::Variant) && r.ty == Some(crate::value::SqlType::Variant)
    {
        let v = crate::engine::variant::COLLATION;
        return format!("(({}) COLLATE {v} {sym} ({}) COLLATE {v})", l.sql, r.sql);
    }
    match c {
        Some(c) => format!("({} {sym} {})", collate(&l.sql, c), collate(&r.sql, c)),
        None => format!("({} {sym} {})", l.sql, r.sql),
    }
}

/// Functions whose character result keeps the collation of their character
/// input (collation-precedence-transact-sql.md: a function of one string
/// input; ISNULL takes its first argument's).
const KEEPS_INPUT: &[&str] = &[
    "UPPER",
    "LOWER",
    "LTRIM",
    "RTRIM",
    "TRIM",
    "LEFT",
    "RIGHT",
    "SUBSTRING",
    "REPLACE",
    "REVERSE",
    "STUFF",
    "REPLICATE",
    "ISNULL",
    "MIN",
    "MAX",
    "NULLIF",
];

impl Ctx<'_> {
    /// The collation label of a function's character result.
    pub(crate) fn function_collation(&mut self, name: &str, args: &[Expr]) -> Option<CollLabel> {
        match name {
            "COALESCE" | "CONCAT" | "IIF" => args
                .iter()
                .map(|a| self.static_label(a))
                .reduce(combine)
                .flatten(),
            n if KEEPS_INPUT.contains(&n) => args.first().and_then(|a| self.static_label(a)),
            _ => None,
        }
    }

    /// The collation label of an expression, read from its shape without
    /// translating it again (column references, COLLATE, nested functions).
    fn static_label(&mut self, e: &Expr) -> Option<CollLabel> {
        match e {
            Expr::Column(parts) => self.column(parts).ok().and_then(|t| t.coll),
            Expr::Collate { collation, .. } => {
                collation::parse(collation).ok().map(|coll| CollLabel {
                    coll,
                    explicit: true,
                })
            }
            Expr::Nested(x) | Expr::Cast { expr: x, .. } | Expr::Convert { expr: x, .. } => {
                self.static_label(x)
            }
            Expr::Function { name, args, .. } => {
                self.function_collation(&name.to_ascii_uppercase(), args)
            }
            _ => None,
        }
    }

    /// `expr COLLATE name` (docs/t-sql/statements/collations.md): the
    /// expression with an explicit collation; error 448 for an unknown name,
    /// 447 for a non-character expression.
    pub(crate) fn collate_expr(&mut self, e: &Expr, name: &str) -> Result<TExpr, SqlError> {
        let coll = collation::parse(name)?;
        let t = self.expr(e)?;
        match &t.ty {
            Some(ty) if !ty.is_string() => Err(SqlError::new(
                447,
                16,
                1,
                format!(
                    "Expression type {} is invalid for COLLATE clause.",
                    ty.base_name()
                ),
            )),
            _ => Ok(TExpr {
                coll: Some(CollLabel {
                    coll,
                    explicit: true,
                }),
                ..t
            }),
        }
    }
}
