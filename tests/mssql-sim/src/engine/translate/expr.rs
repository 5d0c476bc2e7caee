//! Expressions.

use super::arith::concat_type;
use super::collate;
use super::{cast_to, common_type, is_string, unify, CollLabel, Ctx, TExpr};
use crate::engine::convert::parse_decimal;
use crate::engine::types::{to_storage, type_code};
use crate::error::{self, SqlError};
use crate::sql::ast::{BinaryOp, Expr, Literal, UnaryOp};
use crate::value::{Len, SqlType, Value};
use rusqlite::types::Value as DbValue;

pub(super) fn not_supported(what: &str) -> SqlError {
    crate::engine::unsupported(what)
}

impl Ctx<'_> {
    /// Binds a typed value.
    pub fn bind_value(&mut self, v: &Value, ty: &SqlType) -> TExpr {
        let sql = self.bind(to_storage(v, ty));
        TExpr {
            coll: None,
            sql,
            ty: Some(*ty),
        }
    }

    pub fn literal(&mut self, lit: &Literal) -> Result<TExpr, SqlError> {
        Ok(match lit {
            Literal::Null => TExpr {
                coll: None,
                sql: "NULL".into(),
                ty: None,
            },
            Literal::Integer(s) => match s.parse::<i64>() {
                Ok(i) => {
                    let ty = if i32::try_from(i).is_ok() {
                        SqlType::Int
                    } else {
                        SqlType::BigInt
                    };
                    self.bind_value(&Value::Int(i), &ty)
                }
                Err(_) => self.decimal_literal(s)?,
            },
            Literal::Decimal(s) => self.decimal_literal(s)?,
            Literal::Float(s) => {
                let f: f64 = s.parse().map_err(|_| error::syntax_near(s))?;
                self.bind_value(&Value::Float(f), &SqlType::Float)
            }
            Literal::Money(s) => {
                let (u, sc) = parse_decimal(s).ok_or_else(|| error::syntax_near(s))?;
                let u = crate::engine::convert::rescale(u, sc, 4)
                    .ok_or_else(|| error::syntax_near(s))?;
                self.bind_value(&Value::Decimal(u, 4), &SqlType::Money)
            }
            Literal::String { value, national } => {
                let n = value.chars().count().clamp(1, 8000) as u16;
                let ty = if *national {
                    SqlType::NVarChar(if n > 4000 { Len::Max } else { Len::N(n) })
                } else {
                    SqlType::VarChar(Len::N(n))
                };
                self.bind_value(&Value::String(value.clone()), &ty)
            }
            Literal::Binary(b) => {
                let n = b.len().clamp(1, 8000) as u16;
                self.bind_value(&Value::Binary(b.clone()), &SqlType::VarBinary(Len::N(n)))
            }
        })
    }

    fn decimal_literal(&mut self, s: &str) -> Result<TExpr, SqlError> {
        let (u, scale) = parse_decimal(s).ok_or_else(|| error::syntax_near(s))?;
        let digits = u.unsigned_abs().to_string().len() as u8;
        let precision = digits.max(scale).max(1);
        Ok(self.bind_value(
            &Value::Decimal(u, scale),
            &SqlType::Decimal { precision, scale },
        ))
    }

    /// Resolves a column reference against the scopes, innermost first.
    pub fn column(&mut self, parts: &[String]) -> Result<TExpr, SqlError> {
        let Some(col) = parts.last() else {
            return Err(error::invalid_column(""));
        };
        let qual: Option<String> = if parts.len() > 1 {
            Some(parts[..parts.len() - 1].join("."))
        } else {
            None
        };
        for scope in self.scopes.iter().rev() {
            let mut found: Option<TExpr> = None;
            for src in scope {
                if let Some(q) = &qual {
                    let qlast = parts[parts.len() - 2].as_str();
                    if !src
                        .names
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(q) || n.eq_ignore_ascii_case(qlast))
                    {
                        continue;
                    }
                }
                if let Some((name, ty, _)) = src
                    .columns
                    .iter()
                    .find(|(n, _, _)| n.eq_ignore_ascii_case(col))
                {
                    if found.is_some() {
                        return Err(SqlError::new(
                            209,
                            16,
                            1,
                            format!("Ambiguous column name '{col}'."),
                        ));
                    }
                    // A base table's column is implicit with its own
                    // collation; a derived table's column keeps the label of
                    // what it was made from: coercible-default (None) for
                    // literals and parameters, e.g. `(VALUES (@P1)) AS K (k)`,
                    // which compares with a column of any collation
                    // (docs/t-sql/statements/collation-precedence-transact-sql.md).
                    let known = super::source_collation(src, name);
                    let coll = ty
                        .filter(|t| t.is_string())
                        .filter(|_| src.table.is_some() || known.is_some())
                        .map(|_| CollLabel {
                            coll: known.unwrap_or_else(crate::engine::collation::database_default),
                            explicit: false,
                        });
                    found = Some(TExpr {
                        coll,
                        sql: format!(
                            "{}.{}",
                            src.sql_alias,
                            crate::engine::catalog::quote_ident(name)
                        ),
                        ty: *ty,
                    });
                }
            }
            if let Some(f) = found {
                return Ok(f);
            }
        }
        if let Some(q) = qual {
            let known = self
                .scopes
                .iter()
                .flatten()
                .any(|s| s.names.iter().any(|n| n.eq_ignore_ascii_case(&q)));
            if !known {
                return Err(SqlError::new(
                    4104,
                    16,
                    1,
                    format!(
                        "The multi-part identifier \"{}\" could not be bound.",
                        parts.join(".")
                    ),
                ));
            }
        }
        Err(error::invalid_column(col))
    }

    pub fn variable(&mut self, name: &str) -> Result<TExpr, SqlError> {
        let key = crate::engine::var_key(name);
        let Some((ty, v)) = self.vars.get(&key).cloned() else {
            return Err(SqlError::new(
                137,
                15,
                2,
                format!("Must declare the scalar variable \"{name}\"."),
            ));
        };
        Ok(self.bind_value(&v, &ty))
    }

    fn global(&mut self, name: &str) -> Result<TExpr, SqlError> {
        let s = self.session.clone();
        Ok(match name {
            "ROWCOUNT" => self.bind_value(&Value::Int(s.rowcount), &SqlType::Int),
            "TRANCOUNT" => self.bind_value(&Value::Int(s.trancount), &SqlType::Int),
            "SPID" => self.bind_value(&Value::Int(s.spid), &SqlType::SmallInt),
            "IDENTITY" => {
                let v = s
                    .identity
                    .map(|i| Value::Decimal(i as i128, 0))
                    .unwrap_or(Value::Null);
                self.bind_value(
                    &v,
                    &SqlType::Decimal {
                        precision: 38,
                        scale: 0,
                    },
                )
            }
            "ERROR" => self.bind_value(&Value::Int(0), &SqlType::Int),
            // docs/t-sql/functions/dbts-transact-sql.md: varbinary, the last
            // rowversion value used in the database.
            "DBTS" => {
                let v = crate::engine::computed::current_dbts(self.conn, &s.dbts)?;
                self.bind_value(
                    &Value::Binary(crate::engine::computed::rowversion_bytes(v)),
                    &SqlType::VarBinary(Len::N(8)),
                )
            }
            "VERSION" => self.bind_value(
                &Value::String("Microsoft SQL Server 2019 (mssql-sim stand-in)".into()),
                &SqlType::NVarChar(Len::N(300)),
            ),
            "SERVERNAME" => self.bind_value(
                &Value::String("mssql-sim".into()),
                &SqlType::NVarChar(Len::N(128)),
            ),
            _ => return Err(error::syntax_near(&format!("@@{name}"))),
        })
    }

    pub fn expr(&mut self, e: &Expr) -> Result<TExpr, SqlError> {
        match e {
            Expr::Column(parts) => self.column(parts),
            Expr::Literal(l) => self.literal(l),
            Expr::Variable(v) => self.variable(v),
            Expr::Global(g) => self.global(&g.to_ascii_uppercase()),
            Expr::Collate { expr, collation } => self.collate_expr(expr, collation),
            Expr::Nested(inner) => {
                let t = self.expr(inner)?;
                Ok(TExpr {
                    coll: t.coll,
                    sql: format!("({})", t.sql),
                    ty: t.ty,
                })
            }
            Expr::Unary { op, expr } => {
                let t = self.expr(expr)?;
                Ok(match op {
                    UnaryOp::Not => TExpr {
                        coll: None,
                        sql: format!("(NOT {})", t.sql),
                        ty: Some(SqlType::Bit),
                    },
                    UnaryOp::Minus => match t.ty {
                        Some(SqlType::Decimal { .. } | SqlType::Money | SqlType::SmallMoney)
                            if crate::engine::types::storage_decl(
                                t.ty.as_ref().unwrap_or(&SqlType::Int),
                            ) == "TEXT" =>
                        {
                            let ty = t.ty;
                            let zero = self.bind_value(&Value::Int(0), &SqlType::Int);
                            self.arith(
                                "-",
                                zero,
                                TExpr {
                                    coll: None,
                                    sql: t.sql,
                                    ty,
                                },
                            )?
                        }
                        _ => TExpr {
                            coll: None,
                            sql: format!("(-{})", t.sql),
                            ty: t.ty,
                        },
                    },
                    UnaryOp::Plus => t,
                    UnaryOp::BitNot => TExpr {
                        coll: None,
                        sql: format!("(~{})", t.sql),
                        ty: t.ty,
                    },
                })
            }
            Expr::Binary { left, op, right } => self.binary(left, *op, right),
            Expr::IsNull { expr, negated } => {
                let t = self.expr(expr)?;
                Ok(TExpr {
                    coll: None,
                    sql: format!("({} IS {}NULL)", t.sql, if *negated { "NOT " } else { "" }),
                    ty: Some(SqlType::Bit),
                })
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => self.in_list(expr, list, *negated),
            Expr::InSubquery {
                expr,
                subquery,
                negated,
            } => {
                let t = self.expr(expr)?;
                let (sql, cols) = self.query(subquery)?;
                let lhs = match cols.first().and_then(|c| c.ty) {
                    Some(ct) => {
                        unify(
                            t,
                            TExpr {
                                coll: None,
                                sql: String::new(),
                                ty: Some(ct),
                            },
                        )
                        .0
                    }
                    None => t,
                };
                Ok(TExpr {
                    coll: None,
                    sql: format!(
                        "({} {}IN ({sql}))",
                        lhs.sql,
                        if *negated { "NOT " } else { "" }
                    ),
                    ty: Some(SqlType::Bit),
                })
            }
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => self.between(expr, low, high, *negated),
            Expr::Like {
                expr,
                pattern,
                escape,
                negated,
            } => self.like(expr, pattern, escape.as_deref(), *negated),
            Expr::Case {
                operand,
                branches,
                else_result,
            } => {
                let op = match operand {
                    Some(o) => Some(self.expr(o)?),
                    None => None,
                };
                let mut whens = Vec::new();
                let mut results = Vec::new();
                for (w, r) in branches {
                    let w = self.expr(w)?;
                    let w = match &op {
                        Some(o) => {
                            let (l, r) = unify(o.clone(), w);
                            let c = collate::for_pair(&l, &r, "equal to")?;
                            collate::compare_sql(&l, "=", &r, c.as_ref())
                        }
                        None => w.sql,
                    };
                    whens.push(w);
                    results.push(self.expr(r)?);
                }
                let mut else_t = match else_result {
                    Some(e) => Some(self.expr(e)?),
                    None => None,
                };
                let mut ty: Option<SqlType> = None;
                for r in results.iter().chain(else_t.iter()) {
                    if let Some(t) = &r.ty {
                        ty = Some(match ty {
                            None => *t,
                            Some(cur) => common_type(&cur, t),
                        });
                    }
                }
                let result_coll = results
                    .iter()
                    .chain(else_t.iter())
                    .filter(|r| is_string(&r.ty))
                    .map(|r| r.coll)
                    .reduce(collate::combine)
                    .flatten();
                let mut sql = String::from("(CASE");
                for (w, r) in whens.iter().zip(results) {
                    let r = match &ty {
                        Some(t) => cast_to(r, t),
                        None => r,
                    };
                    sql.push_str(&format!(" WHEN {w} THEN {}", r.sql));
                }
                if let Some(e) = else_t.take() {
                    let e = match &ty {
                        Some(t) => cast_to(e, t),
                        None => e,
                    };
                    sql.push_str(&format!(" ELSE {}", e.sql));
                }
                sql.push_str(" END)");
                Ok(TExpr {
                    coll: result_coll,
                    sql,
                    ty,
                })
            }
            Expr::Function {
                name,
                args,
                distinct,
                star,
                over,
            } => self.function(name, args, *distinct, *star, over.as_deref()),
            // A CONVERT whose style is an integer constant converts with
            // that style (`convert::convert_styled`).
            Expr::Convert {
                data_type,
                expr,
                try_,
                style: Some(style),
            } if matches!(
                style.as_ref(),
                Expr::Literal(crate::sql::ast::Literal::Integer(_))
            ) =>
            {
                let to = crate::engine::types::parse_type(data_type)?;
                let t = self.expr(expr)?;
                let style = match style.as_ref() {
                    Expr::Literal(crate::sql::ast::Literal::Integer(n)) => {
                        n.parse::<i64>().unwrap_or(0)
                    }
                    _ => 0,
                };
                let coll = if to.is_string() { t.coll } else { None };
                Ok(match &t.ty {
                    None => TExpr {
                        coll: None,
                        sql: t.sql,
                        ty: Some(to),
                    },
                    Some(from) => TExpr {
                        coll,
                        sql: format!(
                            "sim_convert({}, '{}', '{}', {}, {style})",
                            t.sql,
                            type_code(from),
                            type_code(&to),
                            *try_ as i32
                        ),
                        ty: Some(to),
                    },
                })
            }
            Expr::Cast {
                expr,
                data_type,
                try_,
            }
            | Expr::Convert {
                data_type,
                expr,
                try_,
                ..
            } => {
                let to = crate::engine::types::parse_type(data_type)?;
                let t = self.expr(expr)?;
                // A character input keeps its collation
                // (docs/t-sql/functions/cast-and-convert-transact-sql.md).
                let coll = if to.is_string() { t.coll } else { None };
                if let Some(sql) = t.ty.as_ref().and_then(|f| super::fast_cast(&t.sql, f, &to)) {
                    return Ok(TExpr {
                        coll: None,
                        sql,
                        ty: Some(to),
                    });
                }
                Ok(match &t.ty {
                    Some(from) if from == &to => t,
                    // Same storage and a widening conversion (nvarchar(40)
                    // to nvarchar(max), int to bigint): the stored value
                    // is already the result, as in `cast_to`.
                    Some(from) if super::same_storage(from, &to) && super::widening(from, &to) => {
                        TExpr {
                            coll,
                            sql: t.sql,
                            ty: Some(to),
                        }
                    }
                    None => TExpr {
                        coll: None,
                        sql: t.sql,
                        ty: Some(to),
                    },
                    Some(from) => TExpr {
                        coll,
                        sql: format!(
                            "sim_cast({}, '{}', '{}', {})",
                            t.sql,
                            type_code(from),
                            type_code(&to),
                            *try_ as i32
                        ),
                        ty: Some(to),
                    },
                })
            }
            Expr::Subquery(q) => {
                let (sql, cols) = self.query(q)?;
                Ok(TExpr {
                    coll: None,
                    sql: format!("({sql})"),
                    ty: cols.first().and_then(|c| c.ty),
                })
            }
            Expr::Exists { subquery, negated } => {
                let (sql, _) = self.query(subquery)?;
                Ok(TExpr {
                    coll: None,
                    sql: format!("({}EXISTS ({sql}))", if *negated { "NOT " } else { "" }),
                    ty: Some(SqlType::Bit),
                })
            }
            Expr::MergeAction => Err(SqlError::new(
                10713,
                15,
                1,
                "$action can only be used in the OUTPUT clause of a MERGE statement.",
            )),
            Expr::Default => Err(error::syntax_keyword("DEFAULT")),
        }
    }

    fn binary(&mut self, left: &Expr, op: BinaryOp, right: &Expr) -> Result<TExpr, SqlError> {
        let l = self.expr(left)?;
        let r = self.expr(right)?;
        let cmp = |sym: &str, l: TExpr, r: TExpr| -> Result<TExpr, SqlError> {
            collate::comparable(&l, &r, collate::op_name(op))?;
            let (l, r) = unify(l, r);
            let c = collate::for_pair(&l, &r, collate::op_name(op))?;
            Ok(TExpr {
                coll: None,
                sql: collate::compare_sql(&l, sym, &r, c.as_ref()),
                ty: Some(SqlType::Bit),
            })
        };
        Ok(match op {
            BinaryOp::And => TExpr {
                coll: None,
                sql: format!("({} AND {})", l.sql, r.sql),
                ty: Some(SqlType::Bit),
            },
            BinaryOp::Or => TExpr {
                coll: None,
                sql: format!("({} OR {})", l.sql, r.sql),
                ty: Some(SqlType::Bit),
            },
            BinaryOp::Eq => cmp("=", l, r)?,
            BinaryOp::NotEq => cmp("<>", l, r)?,
            BinaryOp::Lt => cmp("<", l, r)?,
            BinaryOp::LtEq => cmp("<=", l, r)?,
            BinaryOp::Gt => cmp(">", l, r)?,
            BinaryOp::GtEq => cmp(">=", l, r)?,
            _ if !matches!(op, BinaryOp::And | BinaryOp::Or)
                && (l.ty.is_some_and(|t| {
                    t.is_incomparable() || t.is_clr() || t == SqlType::Variant
                }) || r.ty.is_some_and(|t| {
                    t.is_incomparable() || t.is_clr() || t == SqlType::Variant
                })) =>
            {
                // xml, text, ntext, image and sql_variant take part in no
                // arithmetic or concatenation (a sql_variant must first be
                // cast to its base type, sql-variant-transact-sql.md).
                let a = l.ty.unwrap_or(SqlType::Int);
                let b = r.ty.unwrap_or(SqlType::Int);
                return Err(collate::incompatible(&a, &b, collate::op_name(op)));
            }
            BinaryOp::Plus if is_string(&l.ty) || is_string(&r.ty) => {
                let ty = match (&l.ty, &r.ty) {
                    (Some(a), Some(b)) if a.is_string() && b.is_string() => concat_type(a, b),
                    (Some(a), _) if a.is_string() => *a,
                    (_, Some(b)) => *b,
                    _ => SqlType::NVarChar(Len::Max),
                };
                let l = cast_to(l, &SqlType::NVarChar(Len::Max));
                let r = cast_to(r, &SqlType::NVarChar(Len::Max));
                TExpr {
                    coll: collate::combine(l.coll, r.coll),
                    sql: format!("({} || {})", l.sql, r.sql),
                    ty: Some(ty),
                }
            }
            BinaryOp::Plus => self.arith("+", l, r)?,
            BinaryOp::Minus => self.arith("-", l, r)?,
            BinaryOp::Multiply => self.arith("*", l, r)?,
            BinaryOp::Divide => self.arith("/", l, r)?,
            BinaryOp::Modulo => self.arith("%", l, r)?,
            BinaryOp::BitAnd => TExpr {
                coll: None,
                sql: format!("({} & {})", l.sql, r.sql),
                ty: l.ty.or(r.ty),
            },
            BinaryOp::BitOr => TExpr {
                coll: None,
                sql: format!("({} | {})", l.sql, r.sql),
                ty: l.ty.or(r.ty),
            },
            BinaryOp::BitXor => TExpr {
                coll: None,
                sql: format!("(({0} | {1}) - ({0} & {1}))", l.sql, r.sql),
                ty: l.ty.or(r.ty),
            },
        })
    }

    /// Evaluates a constant expression now (for CHANGETABLE's version,
    /// OBJECT_ID's argument, ...).
    pub fn eval_const(&mut self, e: &Expr) -> Result<(Value, Option<SqlType>), SqlError> {
        let saved = std::mem::take(&mut self.params);
        let inline = std::mem::replace(&mut self.inline, false);
        let res = self.expr(e);
        let params = std::mem::replace(&mut self.params, saved);
        self.inline = inline;
        let t = res?;
        let v: DbValue = self
            .conn
            .prepare_cached(&format!("SELECT {}", t.sql))
            .and_then(|mut st| {
                st.query_row(rusqlite::params_from_iter(params.iter()), |r| r.get(0))
            })
            .map_err(crate::engine::sqlerr)?;
        let value = match &t.ty {
            Some(ty) => crate::engine::types::from_storage((&v).into(), ty)?,
            None => Value::Null,
        };
        Ok((value, t.ty))
    }
}
