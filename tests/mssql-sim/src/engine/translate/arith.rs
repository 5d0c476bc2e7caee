//! Arithmetic with SQL Server's result types
//! (docs/t-sql/data-types/precision-scale-and-length-transact-sql.md).

use super::expr::not_supported;
use super::{cast_to, common_type, Ctx, TExpr};
use crate::engine::types::type_code;
use crate::error::SqlError;
use crate::value::{Len, SqlType};

pub(super) fn concat_type(a: &SqlType, b: &SqlType) -> SqlType {
    let n = |t: &SqlType| match t {
        SqlType::NVarChar(Len::N(n)) | SqlType::VarChar(Len::N(n)) => Some(*n as u32),
        SqlType::NChar(n) | SqlType::Char(n) => Some(*n as u32),
        _ => None,
    };
    let national = matches!(a, SqlType::NVarChar(_) | SqlType::NChar(_))
        || matches!(b, SqlType::NVarChar(_) | SqlType::NChar(_));
    let limit = if national { 4000 } else { 8000 };
    let len = match (n(a), n(b)) {
        (Some(x), Some(y)) if x + y <= limit => Len::N((x + y) as u16),
        _ => Len::Max,
    };
    if national {
        SqlType::NVarChar(len)
    } else {
        SqlType::VarChar(len)
    }
}

impl Ctx<'_> {
    /// Arithmetic with SQL Server's result types
    /// (docs/t-sql/data-types/precision-scale-and-length-transact-sql.md).
    pub(crate) fn arith(&mut self, op: &str, l: TExpr, r: TExpr) -> Result<TExpr, SqlError> {
        let (Some(tl), Some(tr)) = (l.ty, r.ty) else {
            // NULL with anything is NULL; both operands stay in the text so
            // that their bound parameters keep their numbers.
            return Ok(TExpr {
                coll: None,
                sql: format!(
                    "(CASE WHEN ({}) IS NULL AND ({}) IS NULL THEN NULL END)",
                    l.sql, r.sql
                ),
                ty: l.ty.or(r.ty),
            });
        };
        let exact = |t: &SqlType| {
            matches!(
                t,
                SqlType::Decimal { .. } | SqlType::Money | SqlType::SmallMoney
            )
        };
        if matches!(tl, SqlType::Float | SqlType::Real)
            || matches!(tr, SqlType::Float | SqlType::Real)
        {
            let l = cast_to(l, &SqlType::Float);
            let r = cast_to(r, &SqlType::Float);
            let sql = if op == "/" {
                format!("sim_div({}, {})", l.sql, r.sql)
            } else {
                format!("({} {op} {})", l.sql, r.sql)
            };
            return Ok(TExpr {
                coll: None,
                sql,
                ty: Some(SqlType::Float),
            });
        }
        if exact(&tl) || exact(&tr) {
            let as_dec = |t: &SqlType| match t {
                SqlType::Decimal { precision, scale } => (*precision as i32, *scale as i32),
                SqlType::Money => (19, 4),
                SqlType::SmallMoney => (10, 4),
                SqlType::BigInt => (19, 0),
                SqlType::Int => (10, 0),
                SqlType::SmallInt => (5, 0),
                _ => (3, 0),
            };
            let (p1, s1) = as_dec(&tl);
            let (p2, s2) = as_dec(&tr);
            let (p, s) = match op {
                "+" | "-" => {
                    let s = s1.max(s2);
                    ((p1 - s1).max(p2 - s2) + s + 1, s)
                }
                "*" => (p1 + p2 + 1, s1 + s2),
                "/" => {
                    let s = 6.max(s1 + p2 + 1);
                    (p1 - s1 + s2 + s, s)
                }
                _ => (p1.max(p2), s1.max(s2)),
            };
            let (p, s) = if p > 38 {
                let s = if s > 6 { (s - (p - 38)).max(6) } else { s };
                (38, s.min(38))
            } else {
                (p, s)
            };
            let money = matches!(tl, SqlType::Money)
                && matches!(tr, SqlType::Money)
                && (op == "+" || op == "-");
            let res = if money {
                SqlType::Money
            } else {
                SqlType::Decimal {
                    precision: p as u8,
                    scale: s as u8,
                }
            };
            return Ok(TExpr {
                coll: None,
                sql: format!(
                    "sim_arith('{op}', {}, '{}', {}, '{}', '{}')",
                    l.sql,
                    type_code(&tl),
                    r.sql,
                    type_code(&tr),
                    type_code(&res)
                ),
                ty: Some(res),
            });
        }
        if tl.is_integer() || tl == SqlType::Bit {
            let ty = common_type(&tl, &tr);
            let ty = if ty == SqlType::Bit { SqlType::Int } else { ty };
            let sql = if op == "/" || op == "%" {
                if op == "/" {
                    format!("sim_div({}, {})", l.sql, r.sql)
                } else {
                    format!("({} % NULLIF({}, 0))", l.sql, r.sql)
                }
            } else {
                format!("({} {op} {})", l.sql, r.sql)
            };
            return Ok(TExpr {
                coll: None,
                sql,
                ty: Some(ty),
            });
        }
        Err(not_supported(&format!(
            "the operator '{op}' on {} and {}",
            tl.sql_name(),
            tr.sql_name()
        )))
    }
}
