//! Built-in functions (docs/t-sql/functions/*.md).

use super::{cast_to, common_type, Ctx, TExpr};
use crate::engine::catalog;
use crate::engine::convert;
use crate::engine::types::type_code;
use crate::error::SqlError;
use crate::sql::ast::{Expr, Window};
use crate::value::{Len, SqlType};

pub(super) fn wrong_args(name: &str, n: usize) -> SqlError {
    SqlError::new(
        174,
        15,
        1,
        format!(
            "The {} function requires {n} argument(s).",
            name.to_lowercase()
        ),
    )
}

impl Ctx<'_> {
    fn args(&mut self, args: &[Expr]) -> Result<Vec<TExpr>, SqlError> {
        args.iter().map(|a| self.expr(a)).collect()
    }

    fn window(&mut self, w: Option<&Window>) -> Result<String, SqlError> {
        let Some(w) = w else {
            return Ok(String::new());
        };
        let mut parts = Vec::new();
        if !w.partition_by.is_empty() {
            let p: Result<Vec<_>, _> = w
                .partition_by
                .iter()
                .map(|e| self.expr(e).map(|t| t.sql))
                .collect();
            parts.push(format!("PARTITION BY {}", p?.join(", ")));
        }
        if !w.order_by.is_empty() {
            let mut o = Vec::new();
            for ob in &w.order_by {
                let t = self.expr(&ob.expr)?;
                o.push(format!("{}{}", t.sql, if ob.desc { " DESC" } else { "" }));
            }
            parts.push(format!("ORDER BY {}", o.join(", ")));
        }
        Ok(format!(" OVER ({})", parts.join(" ")))
    }

    pub fn function(
        &mut self,
        name: &str,
        args: &[Expr],
        distinct: bool,
        star: bool,
        over: Option<&Window>,
    ) -> Result<TExpr, SqlError> {
        let mut t = self.function_inner(name, args, distinct, star, over)?;
        if t.coll.is_none() && super::is_string(&t.ty) {
            t.coll = self.function_collation(&name.to_ascii_uppercase(), args);
        }
        Ok(t)
    }

    fn function_inner(
        &mut self,
        name: &str,
        args: &[Expr],
        distinct: bool,
        star: bool,
        over: Option<&Window>,
    ) -> Result<TExpr, SqlError> {
        let upper = name.to_ascii_uppercase();
        let d = if distinct { "DISTINCT " } else { "" };
        let win = self.window(over)?;
        let need = |n: usize| -> Result<(), SqlError> {
            if args.len() != n {
                Err(wrong_args(&upper, n))
            } else {
                Ok(())
            }
        };
        if let Some(t) = self.system_function(&upper, args)? {
            return Ok(t);
        }
        Ok(match upper.as_str() {
            "COUNT" | "COUNT_BIG" => {
                let ty = if upper == "COUNT" {
                    SqlType::Int
                } else {
                    SqlType::BigInt
                };
                if star || args.is_empty() {
                    TExpr {
                        coll: None,
                        sql: format!("COUNT(*){win}"),
                        ty: Some(ty),
                    }
                } else {
                    let a = self.expr(&args[0])?;
                    TExpr {
                        coll: None,
                        sql: format!("COUNT({d}{}){win}", a.sql),
                        ty: Some(ty),
                    }
                }
            }
            "SUM" | "AVG" => {
                need(1)?;
                let a = self.expr(&args[0])?;
                let ty = match a.ty {
                    Some(SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::Bit) => {
                        Some(SqlType::Int)
                    }
                    // SQL Server returns decimal(38, s) (avg: scale at least 6).
                    // Narrow inputs keep SQLite's integer storage (precision
                    // 18), so that comparisons with the result stay exact.
                    Some(SqlType::Decimal { precision, scale }) => {
                        let p = if precision <= 18 { 18 } else { 38 };
                        let s = if upper == "AVG" {
                            scale.max(6).min(p)
                        } else {
                            scale
                        };
                        Some(SqlType::Decimal {
                            precision: p,
                            scale: s,
                        })
                    }
                    Some(SqlType::Real) => Some(SqlType::Float),
                    other => other,
                };
                if upper == "AVG" {
                    match (&a.ty, &ty) {
                        (Some(at @ SqlType::Decimal { precision, .. }), Some(rt)) if *precision > 18 && win.is_empty() => TExpr { coll: None,
                            sql: format!(
                                "sim_arith('/', sim_dec_sum({d}{x}), '{}', COUNT({d}{x}), 'int', '{}')",
                                type_code(&SqlType::Decimal { precision: 38, scale: match at { SqlType::Decimal { scale, .. } => *scale, _ => 0 } }),
                                type_code(rt),
                                x = a.sql
                            ),
                            ty,
                        },
                        (
                            Some(SqlType::Decimal { scale: s1, .. }),
                            Some(SqlType::Decimal { scale: s2, .. }),
                        ) => TExpr { coll: None,
                            sql: format!(
                                "CAST(ROUND(AVG({d}{}) * {}) AS INTEGER){win}",
                                a.sql,
                                10i64.pow((s2 - s1) as u32)
                            ),
                            ty,
                        },
                        (Some(t), _) if t.is_integer() || *t == SqlType::Bit => TExpr { coll: None,
                            sql: format!("CAST(AVG({d}{}) AS INTEGER){win}", a.sql),
                            ty,
                        },
                        _ => TExpr { coll: None,
                            sql: format!("AVG({d}{}){win}", a.sql),
                            ty,
                        },
                    }
                } else if matches!(a.ty, Some(SqlType::Decimal { precision, .. }) if precision > 18)
                    && win.is_empty()
                {
                    // Stored as sortable text: SQLite's SUM cannot add those.
                    TExpr {
                        coll: None,
                        sql: format!("sim_dec_sum({d}{})", a.sql),
                        ty,
                    }
                } else {
                    TExpr {
                        coll: None,
                        sql: format!("SUM({d}{}){win}", a.sql),
                        ty,
                    }
                }
            }
            "MIN" | "MAX" => {
                need(1)?;
                let a = self.expr(&args[0])?;
                TExpr {
                    coll: None,
                    sql: format!("{upper}({}){win}", a.sql),
                    ty: a.ty,
                }
            }
            "ROW_NUMBER" | "RANK" | "DENSE_RANK" => TExpr {
                coll: None,
                sql: format!("{upper}(){win}"),
                ty: Some(SqlType::BigInt),
            },
            "ISNULL" | "COALESCE" => {
                if args.len() < 2 {
                    return Err(wrong_args(&upper, 2));
                }
                let ts = self.args(args)?;
                // ISNULL takes the first argument's type; COALESCE the highest.
                let mut ty = ts[0].ty;
                for t in &ts[1..] {
                    if let Some(tt) = &t.ty {
                        ty = Some(match ty {
                            None => *tt,
                            Some(cur) if upper == "ISNULL" => cur,
                            Some(cur) => common_type(&cur, tt),
                        });
                    }
                }
                let parts: Vec<String> = ts
                    .into_iter()
                    .map(|t| match &ty {
                        Some(ty) => cast_to(t, ty).sql,
                        None => t.sql,
                    })
                    .collect();
                TExpr {
                    coll: None,
                    sql: format!("COALESCE({})", parts.join(", ")),
                    ty,
                }
            }
            "NULLIF" => {
                need(2)?;
                let a = self.expr(&args[0])?;
                let b = self.expr(&args[1])?;
                let ty = a.ty;
                let (a, b) = super::unify(a, b);
                TExpr {
                    coll: None,
                    sql: format!("NULLIF({}, {})", a.sql, b.sql),
                    ty,
                }
            }
            "SQL_VARIANT_PROPERTY" => {
                // docs/t-sql/functions/sql-variant-property-transact-sql.md:
                // returns sql_variant.
                need(2)?;
                let a = cast_to(self.expr(&args[0])?, &SqlType::Variant);
                let p = cast_to(
                    self.expr(&args[1])?,
                    &SqlType::VarChar(crate::value::Len::N(128)),
                );
                TExpr {
                    coll: None,
                    sql: format!("sim_variant_property({}, {})", a.sql, p.sql),
                    ty: Some(SqlType::Variant),
                }
            }
            "LEN" | "DATALENGTH" => {
                need(1)?;
                let a = self.expr(&args[0])?;
                let sql = if upper == "LEN" {
                    format!("sim_len({})", a.sql)
                } else {
                    match a.ty {
                        Some(SqlType::NVarChar(_) | SqlType::NChar(_) | SqlType::NText) => {
                            format!("sim_utf16_bytes({})", a.sql)
                        }
                        _ => format!("length(CAST({} AS BLOB))", a.sql),
                    }
                };
                TExpr {
                    coll: None,
                    sql,
                    ty: Some(SqlType::Int),
                }
            }
            "UPPER" | "LOWER" | "LTRIM" | "RTRIM" | "TRIM" => {
                need(1)?;
                let a = self.expr(&args[0])?;
                let f = match upper.as_str() {
                    "UPPER" => "upper",
                    "LOWER" => "lower",
                    "LTRIM" => "ltrim",
                    "RTRIM" => "rtrim",
                    _ => "trim",
                };
                TExpr {
                    coll: None,
                    sql: format!("{f}({})", a.sql),
                    ty: a.ty.or(Some(SqlType::NVarChar(Len::Max))),
                }
            }
            "SUBSTRING" | "LEFT" | "RIGHT" => {
                let ts = self.args(args)?;
                let ty = ts.first().and_then(|t| t.ty);
                let sql = match (upper.as_str(), ts.as_slice()) {
                    ("SUBSTRING", [s, a, b]) => format!("substr({}, {}, {})", s.sql, a.sql, b.sql),
                    ("LEFT", [s, n]) => format!("substr({}, 1, {})", s.sql, n.sql),
                    ("RIGHT", [s, n]) => format!("substr({0}, -{1}, {1})", s.sql, n.sql),
                    _ => return Err(wrong_args(&upper, if upper == "SUBSTRING" { 3 } else { 2 })),
                };
                TExpr {
                    coll: None,
                    sql,
                    ty,
                }
            }
            "CONCAT" => {
                let ts = self.args(args)?;
                let parts: Vec<String> = ts
                    .into_iter()
                    .map(|t| {
                        format!(
                            "COALESCE({}, '')",
                            cast_to(t, &SqlType::NVarChar(Len::Max)).sql
                        )
                    })
                    .collect();
                TExpr {
                    coll: None,
                    sql: format!("({})", parts.join(" || ")),
                    ty: Some(SqlType::NVarChar(Len::Max)),
                }
            }
            "ABS" => {
                need(1)?;
                let a = self.expr(&args[0])?;
                TExpr {
                    coll: None,
                    sql: format!("abs({})", a.sql),
                    ty: a.ty,
                }
            }
            "GETDATE" | "SYSDATETIME" | "CURRENT_TIMESTAMP" => TExpr {
                coll: None,
                sql: "sim_now(0)".into(),
                ty: Some(if upper == "SYSDATETIME" {
                    SqlType::DateTime2(7)
                } else {
                    SqlType::DateTime
                }),
            },
            "GETUTCDATE" | "SYSUTCDATETIME" => TExpr {
                coll: None,
                sql: "sim_now(1)".into(),
                ty: Some(if upper == "SYSUTCDATETIME" {
                    SqlType::DateTime2(7)
                } else {
                    SqlType::DateTime
                }),
            },
            "NEWID" | "NEWSEQUENTIALID" => TExpr {
                coll: None,
                sql: "sim_newid()".into(),
                ty: Some(SqlType::UniqueIdentifier),
            },
            "CHECKSUM" | "BINARY_CHECKSUM" => {
                let parts: Vec<String> = if star || args.is_empty() {
                    self.scopes
                        .last()
                        .map(|s| {
                            s.iter()
                                .flat_map(|src| {
                                    src.columns
                                        .iter()
                                        .map(|(n, _, _)| {
                                            format!("{}.{}", src.sql_alias, catalog::quote_ident(n))
                                        })
                                        .collect::<Vec<_>>()
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                } else {
                    // CHECKSUM is case-insensitive for strings under a CI collation.
                    self.args(args)?
                        .into_iter()
                        .map(|t| {
                            if upper == "CHECKSUM" && super::is_string(&t.ty) {
                                format!("lower(rtrim({}))", t.sql)
                            } else {
                                t.sql
                            }
                        })
                        .collect()
                };
                let inner = format!("sim_checksum({})", parts.join(", "));
                TExpr {
                    coll: None,
                    sql: inner,
                    ty: Some(SqlType::Int),
                }
            }
            "CHECKSUM_AGG" => {
                need(1)?;
                let a = self.expr(&args[0])?;
                TExpr {
                    coll: None,
                    sql: format!("(SUM({}) % 2147483648)", a.sql),
                    ty: Some(SqlType::Int),
                }
            }
            "HASHBYTES" => {
                need(2)?;
                let alg = self.expr(&args[0])?;
                let v = self.expr(&args[1])?;
                // nvarchar hashes as its UTF-16LE bytes, encoded inside
                // the hash function (one call a row instead of two).
                if matches!(v.ty, Some(SqlType::NVarChar(_) | SqlType::NChar(_))) {
                    return Ok(TExpr {
                        coll: None,
                        sql: format!("sim_hashbytes_utf16({}, {})", alg.sql, v.sql),
                        ty: Some(SqlType::VarBinary(Len::N(64))),
                    });
                }
                let v = match v.ty {
                    Some(
                        t @ (SqlType::NVarChar(_)
                        | SqlType::NChar(_)
                        | SqlType::VarChar(_)
                        | SqlType::Char(_)),
                    ) => TExpr {
                        coll: None,
                        sql: format!(
                            "sim_cast({}, '{}', 'varbinary(max)', 0)",
                            v.sql,
                            type_code(&t)
                        ),
                        ty: Some(SqlType::VarBinary(Len::Max)),
                    },
                    _ => v,
                };
                TExpr {
                    coll: None,
                    sql: format!("sim_hashbytes({}, {})", alg.sql, v.sql),
                    ty: Some(SqlType::VarBinary(Len::N(64))),
                }
            }
            "ISNUMERIC" => {
                need(1)?;
                let a = self.expr(&args[0])?;
                TExpr {
                    coll: None,
                    sql: format!(
                        "(sim_cast({}, '{}', 'float', 1) IS NOT NULL)",
                        a.sql,
                        a.ty.map(|t| type_code(&t)).unwrap_or_default()
                    ),
                    ty: Some(SqlType::Int),
                }
            }
            "DATEADD" | "DATEDIFF" | "DATEPART" | "DATEDIFF_BIG" => {
                let part = match args.first() {
                    Some(Expr::Column(p)) if p.len() == 1 => p[0].clone(),
                    Some(Expr::Literal(crate::sql::ast::Literal::String { value, .. })) => {
                        value.clone()
                    }
                    _ => String::new(),
                };
                let canon = crate::engine::datefuncs::datepart(&part).ok_or_else(|| {
                    SqlError::new(
                        155,
                        15,
                        1,
                        format!("'{part}' is not a recognized datepart option."),
                    )
                })?;
                let rest = self.args(&args[1.min(args.len())..])?;
                let code = |t: &TExpr| t.ty.map(|t| type_code(&t)).unwrap_or_default();
                match (upper.as_str(), rest.as_slice()) {
                    ("DATEADD", [n, d]) => {
                        let n = cast_to(n.clone(), &SqlType::BigInt);
                        let d = if d.ty.map(|t| t.is_string()).unwrap_or(true) {
                            cast_to(d.clone(), &SqlType::DateTime)
                        } else {
                            d.clone()
                        };
                        TExpr {
                            coll: None,
                            sql: format!(
                                "sim_dateadd('{canon}', {}, {}, '{}')",
                                n.sql,
                                d.sql,
                                code(&d)
                            ),
                            ty: d.ty,
                        }
                    }
                    ("DATEDIFF" | "DATEDIFF_BIG", [a, b]) => TExpr {
                        coll: None,
                        sql: format!(
                            "sim_datediff('{canon}', {}, '{}', {}, '{}')",
                            a.sql,
                            code(a),
                            b.sql,
                            code(b)
                        ),
                        ty: Some(if upper == "DATEDIFF" {
                            SqlType::Int
                        } else {
                            SqlType::BigInt
                        }),
                    },
                    ("DATEPART", [d]) => TExpr {
                        coll: None,
                        sql: format!("sim_datepart('{canon}', {}, '{}')", d.sql, code(d)),
                        ty: Some(SqlType::Int),
                    },
                    _ => return Err(wrong_args(&upper, if upper == "DATEPART" { 2 } else { 3 })),
                }
            }
            "SYSDATETIMEOFFSET" => TExpr {
                coll: None,
                sql: "sim_cast(sim_now(1), 'datetime2(7)', 'datetimeoffset(7)', 0)".into(),
                ty: Some(SqlType::DateTimeOffset(7)),
            },
            "REPLACE" => {
                need(3)?;
                let ts = self.args(args)?;
                let ty = ts[0].ty;
                TExpr {
                    coll: None,
                    sql: format!("replace({}, {}, {})", ts[0].sql, ts[1].sql, ts[2].sql),
                    ty,
                }
            }
            "CHARINDEX" => {
                need(2)?;
                let ts = self.args(args)?;
                TExpr {
                    coll: None,
                    sql: format!("instr(lower({}), lower({}))", ts[1].sql, ts[0].sql),
                    ty: Some(SqlType::Int),
                }
            }
            "YEAR" | "MONTH" | "DAY" => {
                need(1)?;
                let a = self.expr(&args[0])?;
                let txt = cast_to(a, &SqlType::NVarChar(Len::N(40)));
                let (start, len) = match upper.as_str() {
                    "YEAR" => (1, 4),
                    "MONTH" => (6, 2),
                    _ => (9, 2),
                };
                TExpr {
                    coll: None,
                    sql: format!("CAST(substr({}, {start}, {len}) AS INTEGER)", txt.sql),
                    ty: Some(SqlType::Int),
                }
            }
            _ => {
                let _ = convert::Target::Expr;
                return Err(SqlError::new(
                    195,
                    15,
                    10,
                    format!("'{name}' is not a recognized built-in function name."),
                ));
            }
        })
    }
}
