//! System, catalog, session and change-tracking functions
//! (docs/t-sql/functions/*.md: SCOPE_IDENTITY, OBJECT_ID, COLUMNPROPERTY,
//! CHANGE_TRACKING_*, ERROR_*, XACT_STATE, SERVERPROPERTY, ...). Most are
//! evaluated while translating and bound as parameters.

use super::funcs::wrong_args;
use super::{cast_to, Ctx, TExpr};
use crate::engine::catalog;
use crate::engine::change_tracking as ct;
use crate::error::SqlError;
use crate::sql::ast::Expr;
use crate::value::{Len, SqlType, Value};

impl Ctx<'_> {
    /// `Some` when `upper` names one of these functions.
    pub(super) fn system_function(
        &mut self,
        upper: &str,
        args: &[Expr],
    ) -> Result<Option<TExpr>, SqlError> {
        let need = |n: usize| -> Result<(), SqlError> {
            if args.len() != n {
                Err(wrong_args(upper, n))
            } else {
                Ok(())
            }
        };
        Ok(Some(match upper {
            "SCOPE_IDENTITY" | "IDENT_CURRENT" => {
                let v = if upper == "SCOPE_IDENTITY" {
                    self.session.scope_identity
                } else {
                    let (v, _) =
                        self.eval_const(args.first().ok_or_else(|| wrong_args(upper, 1))?)?;
                    match v {
                        Value::String(s) => match catalog::object_id_of(self.conn, &s)? {
                            Some(id) => self
                                .conn
                                .query_row(
                                    "SELECT last_value FROM sim_identity WHERE object_id = ?1",
                                    [id],
                                    |r| r.get(0),
                                )
                                .unwrap_or(None),
                            None => None,
                        },
                        _ => None,
                    }
                };
                let v = v
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
            // docs/t-sql/functions/error-number-transact-sql.md etc.: NULL outside CATCH.
            "ERROR_NUMBER" | "ERROR_MESSAGE" | "ERROR_SEVERITY" | "ERROR_STATE" | "ERROR_LINE"
            | "ERROR_PROCEDURE" => {
                let e = self.session.last_error.clone();
                let (v, ty) = match (upper, e) {
                    (_, None) => (
                        Value::Null,
                        if upper == "ERROR_MESSAGE" || upper == "ERROR_PROCEDURE" {
                            SqlType::NVarChar(Len::N(4000))
                        } else {
                            SqlType::Int
                        },
                    ),
                    ("ERROR_NUMBER", Some(e)) => (Value::Int(e.number as i64), SqlType::Int),
                    ("ERROR_SEVERITY", Some(e)) => (Value::Int(e.class as i64), SqlType::Int),
                    ("ERROR_STATE", Some(e)) => (Value::Int(e.state as i64), SqlType::Int),
                    ("ERROR_LINE", Some(e)) => (Value::Int(e.line as i64), SqlType::Int),
                    ("ERROR_PROCEDURE", Some(_)) => (Value::Null, SqlType::NVarChar(Len::N(128))),
                    (_, Some(e)) => (Value::String(e.message), SqlType::NVarChar(Len::N(4000))),
                };
                self.bind_value(&v, &ty)
            }
            // docs/t-sql/functions/xact-state-transact-sql.md (no uncommittable state here).
            "XACT_STATE" => {
                let v = if self.session.trancount > 0 { 1 } else { 0 };
                self.bind_value(&Value::Int(v), &SqlType::SmallInt)
            }
            "DB_NAME" => {
                let db = self.session.database.clone();
                self.bind_value(&Value::String(db), &SqlType::NVarChar(Len::N(128)))
            }
            "SUSER_SNAME" | "SUSER_NAME" | "SYSTEM_USER" | "ORIGINAL_LOGIN" => {
                let u = self.session.user.clone();
                self.bind_value(&Value::String(u), &SqlType::NVarChar(Len::N(128)))
            }
            "USER_NAME" | "CURRENT_USER" => self.bind_value(
                &Value::String("dbo".into()),
                &SqlType::NVarChar(Len::N(128)),
            ),
            "HOST_NAME" | "APP_NAME" => self.bind_value(
                &Value::String(String::new()),
                &SqlType::NVarChar(Len::N(128)),
            ),
            // docs/t-sql/functions/serverproperty-transact-sql.md: the stand-in
            // presents itself as SQL Server 2019 Developer Edition.
            "SERVERPROPERTY" => {
                need(1)?;
                let (p, _) = self.eval_const(&args[0])?;
                let prop = match p {
                    Value::String(s) => s.to_ascii_lowercase(),
                    _ => String::new(),
                };
                let v = match prop.as_str() {
                    "productversion" => Value::String("15.0.2000.5".into()),
                    "productmajorversion" => Value::String("15".into()),
                    "productlevel" => Value::String("RTM".into()),
                    "edition" => Value::String("Developer Edition (64-bit)".into()),
                    "engineedition" => Value::String("3".into()),
                    "servername" | "machinename" => Value::String("mssql-sim".into()),
                    "collation" => Value::String("SQL_Latin1_General_CP1_CI_AS".into()),
                    "isclustered" | "ishadrenabled" => Value::String("0".into()),
                    _ => Value::Null,
                };
                self.bind_value(&v, &SqlType::NVarChar(Len::N(128)))
            }
            // docs/t-sql/functions/databasepropertyex-transact-sql.md:
            // 'Collation', the database default collation name.
            "DATABASEPROPERTYEX" => {
                need(2)?;
                let (p, _) = self.eval_const(&args[1])?;
                let v = match p {
                    Value::String(s) if s.eq_ignore_ascii_case("collation") => {
                        Value::String(crate::engine::collation::DEFAULT_NAME.to_string())
                    }
                    _ => Value::Null,
                };
                self.bind_value(&v, &SqlType::NVarChar(Len::N(128)))
            }
            "COLLATIONPROPERTY" => {
                need(2)?;
                let (n, _) = self.eval_const(&args[0])?;
                let (p, _) = self.eval_const(&args[1])?;
                let v = match (n, p) {
                    (Value::String(n), Value::String(p)) => {
                        crate::engine::collation::property(&n, &p)
                    }
                    _ => None,
                };
                self.bind_value(&v.map(Value::Int).unwrap_or(Value::Null), &SqlType::Int)
            }
            "DB_ID" => self.bind_value(&Value::Int(5), &SqlType::SmallInt),
            "SCHEMA_NAME" => self.bind_value(
                &Value::String("dbo".into()),
                &SqlType::NVarChar(Len::N(128)),
            ),
            "OBJECT_ID" => {
                if args.is_empty() {
                    return Err(wrong_args(upper, 1));
                }
                let (v, _) = self.eval_const(&args[0])?;
                let id = match v {
                    Value::String(s) => catalog::object_id_of(self.conn, &s)?,
                    _ => None,
                };
                let v = id.map(Value::Int).unwrap_or(Value::Null);
                self.bind_value(&v, &SqlType::Int)
            }
            "OBJECT_NAME" => {
                need(1)?;
                let a = self.expr(&args[0])?;
                TExpr {
                    coll: None,
                    sql: format!("(SELECT name FROM sim_tables WHERE object_id = {})", a.sql),
                    ty: Some(SqlType::NVarChar(Len::N(128))),
                }
            }
            "COLUMNPROPERTY" => {
                need(3)?;
                let id = self.expr(&args[0])?;
                let col = cast_to(self.expr(&args[1])?, &SqlType::NVarChar(Len::Max));
                let (prop, _) = self.eval_const(&args[2])?;
                let prop = match prop {
                    Value::String(s) => s.to_ascii_lowercase(),
                    _ => String::new(),
                };
                let what = match prop.as_str() {
                    "isidentity" => "(identity_seed IS NOT NULL)",
                    "columnid" => "column_id",
                    "allowsnull" => "nullable",
                    // docs/t-sql/functions/columnproperty-transact-sql.md:
                    // IsComputed, 1 = TRUE, 0 = FALSE.
                    "iscomputed" => "(computed_sql IS NOT NULL)",
                    _ => "NULL",
                };
                TExpr { coll: None,
                    sql: format!(
                        "(SELECT {what} FROM sim_columns WHERE object_id = {} AND name = {} COLLATE NOCASE)",
                        id.sql, col.sql
                    ),
                    ty: Some(SqlType::Int),
                }
            }
            "CHANGE_TRACKING_CURRENT_VERSION" => {
                let v = ct::current_version(self.conn)?;
                self.bind_value(&v.map(Value::Int).unwrap_or(Value::Null), &SqlType::BigInt)
            }
            "CHANGE_TRACKING_MIN_VALID_VERSION" => {
                need(1)?;
                let (v, _) = self.eval_const(&args[0])?;
                let r = match v {
                    Value::Int(id) => ct::min_valid_version(self.conn, id)?,
                    _ => None,
                };
                self.bind_value(&r.map(Value::Int).unwrap_or(Value::Null), &SqlType::BigInt)
            }
            "CHANGE_TRACKING_IS_COLUMN_IN_MASK" => {
                need(2)?;
                let a = self.expr(&args[0])?;
                let b = self.expr(&args[1])?;
                TExpr {
                    coll: None,
                    sql: format!("sim_in_mask({}, {})", a.sql, b.sql),
                    ty: Some(SqlType::Bit),
                }
            }
            _ => return Ok(None),
        }))
    }
}
