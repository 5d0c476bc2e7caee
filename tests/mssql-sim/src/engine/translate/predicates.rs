//! IN lists, BETWEEN and LIKE: comparisons that take their operands'
//! collation (see `collate`; docs/t-sql/language-elements/in-transact-sql.md,
//! between-transact-sql.md, like-transact-sql.md).

use super::collate;
use super::{cast_to, is_string, unify, Ctx, TExpr};
use crate::error::SqlError;
use crate::sql::ast::Expr;
use crate::value::{Len, SqlType};

impl Ctx<'_> {
    pub(super) fn in_list(
        &mut self,
        expr: &Expr,
        list: &[Expr],
        negated: bool,
    ) -> Result<TExpr, SqlError> {
        let t = self.expr(expr)?;
        let mut items = Vec::new();
        let mut lhs = t.clone();
        let mut coll = None;
        for item in list {
            let i = self.expr(item)?;
            let (l, r) = unify(t.clone(), i);
            // Every item resolves with the left operand (error 468).
            if let Some(c) = collate::for_pair(&l, &r, "equal to")? {
                coll = Some(c);
            }
            lhs = l;
            items.push(r);
        }
        let items: Vec<String> = items
            .iter()
            .map(|r| match &coll {
                Some(c) => collate::collate(&r.sql, c),
                None => r.sql.clone(),
            })
            .collect();
        let lhs_sql = match &coll {
            Some(c) => collate::collate(&lhs.sql, c),
            None => lhs.sql.clone(),
        };
        Ok(TExpr {
            coll: None,
            sql: format!(
                "({} {}IN ({}))",
                lhs_sql,
                if negated { "NOT " } else { "" },
                items.join(", ")
            ),
            ty: Some(SqlType::Bit),
        })
    }

    pub(super) fn between(
        &mut self,
        expr: &Expr,
        low: &Expr,
        high: &Expr,
        negated: bool,
    ) -> Result<TExpr, SqlError> {
        let t = self.expr(expr)?;
        let lo = self.expr(low)?;
        let hi = self.expr(high)?;
        let (t1, lo) = unify(t.clone(), lo);
        let (t2, hi) = unify(t, hi);
        let c_lo = collate::for_pair(&t1, &lo, "greater than or equal to")?;
        let c_hi = collate::for_pair(&t2, &hi, "less than or equal to")?;
        let col = |sql: &str, c: &Option<crate::engine::collation::Collation>| match c {
            Some(c) => collate::collate(sql, c),
            None => sql.to_string(),
        };
        // `x BETWEEN lo AND hi` is `x >= lo AND x <= hi`, each
        // comparison with its own resolved collation.
        let not = if negated { "NOT " } else { "" };
        let sql = if c_lo.is_some() || c_hi.is_some() {
            format!(
                "({not}({} >= {} AND {} <= {}))",
                col(&t1.sql, &c_lo),
                col(&lo.sql, &c_lo),
                col(&t2.sql, &c_hi),
                col(&hi.sql, &c_hi)
            )
        } else {
            format!("({} {not}BETWEEN {} AND {})", t1.sql, lo.sql, hi.sql)
        };
        Ok(TExpr {
            coll: None,
            sql,
            ty: Some(SqlType::Bit),
        })
    }

    pub(super) fn like(
        &mut self,
        expr: &Expr,
        pattern: &Expr,
        escape: Option<&Expr>,
        negated: bool,
    ) -> Result<TExpr, SqlError> {
        let t = self.expr(expr)?;
        let t = if is_string(&t.ty) {
            t
        } else {
            cast_to(t, &SqlType::NVarChar(Len::Max))
        };
        let p = self.expr(pattern)?;
        let c = collate::resolve(&t, &p, "like")?;
        let esc_t = match escape {
            Some(e) => Some(self.expr(e)?),
            None => None,
        };
        let default = crate::engine::collation::database_default();
        if c.rule != default.rule {
            // Another collation than the default's: the stand-in's
            // own LIKE (crate::engine::like).
            let esc = esc_t.map(|e| e.sql).unwrap_or_else(|| "NULL".into());
            return Ok(TExpr {
                coll: None,
                sql: format!(
                    "({}sim_like({}, {}, {esc}, '{}'))",
                    if negated { "NOT " } else { "" },
                    t.sql,
                    p.sql,
                    c.sqlite()
                ),
                ty: Some(SqlType::Bit),
            });
        }
        let esc = match esc_t {
            Some(e) => format!(" ESCAPE {}", e.sql),
            None => String::new(),
        };
        Ok(TExpr {
            coll: None,
            sql: format!(
                "({} {}LIKE {}{esc})",
                t.sql,
                if negated { "NOT " } else { "" },
                p.sql
            ),
            ty: Some(SqlType::Bit),
        })
    }
}
