//! Queries: SELECT, set operations, FROM with joins, CHANGETABLE.

use super::{cast_to, Ctx};
use crate::engine::catalog::quote_ident;
use crate::error::SqlError;
use crate::sql::ast::{Expr, Literal, Query, Select, SelectItem, SetExpr, SetOperator};
use crate::value::SqlType;

/// One output column of a query.
#[derive(Debug, Clone)]
pub struct OutCol {
    pub name: String,
    pub ty: Option<SqlType>,
    pub nullable: bool,
    pub identity: bool,
    /// A table's computed column (selected as it is).
    pub computed: bool,
    /// A table's rowversion column (selected as it is).
    pub timestamp: bool,
    /// `schema.table` of a table's column selected as it is (the TableName
    /// COLMETADATA carries for text, ntext and image columns).
    pub table: Option<String>,
    /// The collation of a character column from a column reference or
    /// COLLATE (`None`: the database default).
    pub coll: Option<crate::engine::collation::Collation>,
}

impl Ctx<'_> {
    /// Translates a full query; returns SQL and output columns.
    pub fn query(&mut self, q: &Query) -> Result<(String, Vec<OutCol>), SqlError> {
        let cte_mark = self.ctes.len();
        let mut sql = String::new();
        if !q.with.is_empty() {
            let mut parts = Vec::new();
            for cte in &q.with {
                let (csql, mut cols) = self.query(&cte.query)?;
                for (i, name) in cte.columns.iter().enumerate() {
                    if let Some(c) = cols.get_mut(i) {
                        c.name = name.clone();
                    }
                }
                let names: Vec<String> = cols.iter().map(|c| quote_ident(&c.name)).collect();
                parts.push(format!(
                    "{}({}) AS ({csql})",
                    quote_ident(&cte.name),
                    names.join(", ")
                ));
                self.ctes.push((
                    cte.name.clone(),
                    cols.iter()
                        .map(|c| (c.name.clone(), c.ty, c.nullable))
                        .collect(),
                ));
            }
            sql.push_str(&format!("WITH {} ", parts.join(", ")));
        }
        let res = self.query_body(q, &mut sql);
        self.ctes.truncate(cte_mark);
        let cols = res?;
        Ok((sql, cols))
    }

    fn query_body(&mut self, q: &Query, sql: &mut String) -> Result<Vec<OutCol>, SqlError> {
        // A simple SELECT keeps its FROM scope open for ORDER BY.
        if let SetExpr::Select(sel) = &q.body {
            let (body, cols) = self.select(sel, Some(q))?;
            sql.push_str(&body);
            return Ok(cols);
        }
        let (body, cols) = self.set_expr(&q.body)?;
        sql.push_str(&body);
        if !q.order_by.is_empty() {
            let mut parts = Vec::new();
            for ob in &q.order_by {
                parts.push(format!(
                    "{}{}",
                    self.order_item(&ob.expr, &cols, false)?,
                    if ob.desc { " DESC" } else { "" }
                ));
            }
            sql.push_str(&format!(" ORDER BY {}", parts.join(", ")));
        }
        self.limit(None, q, sql)?;
        Ok(cols)
    }

    fn set_expr(&mut self, s: &SetExpr) -> Result<(String, Vec<OutCol>), SqlError> {
        match s {
            SetExpr::Select(sel) => self.select(sel, None),
            SetExpr::Query(q) => {
                let (sql, cols) = self.query(q)?;
                Ok((format!("SELECT * FROM ({sql})"), cols))
            }
            SetExpr::SetOp {
                op,
                all,
                left,
                right,
            } => {
                let (l, cols) = self.set_expr(left)?;
                let (r, _) = self.set_expr(right)?;
                let op = match op {
                    SetOperator::Union => {
                        if *all {
                            "UNION ALL"
                        } else {
                            "UNION"
                        }
                    }
                    SetOperator::Except => "EXCEPT",
                    SetOperator::Intersect => "INTERSECT",
                };
                Ok((
                    format!("SELECT * FROM ({l}) {op} SELECT * FROM ({r})"),
                    cols,
                ))
            }
        }
    }

    fn order_item(&mut self, e: &Expr, cols: &[OutCol], scoped: bool) -> Result<String, SqlError> {
        if let Expr::Literal(Literal::Integer(n)) = e {
            return Ok(n.clone());
        }
        if let Expr::Column(parts) = e {
            if parts.len() == 1 {
                if let Some(c) = cols.iter().find(|c| c.name.eq_ignore_ascii_case(&parts[0])) {
                    // An output alias wins when it is not also a source column.
                    if !scoped || self.column(parts).is_err() {
                        super::collate::sortable(c.ty, "ORDER BY")?;
                        if c.ty == Some(SqlType::Variant) {
                            return Ok(format!(
                                "{} COLLATE {}",
                                quote_ident(&c.name),
                                crate::engine::variant::COLLATION
                            ));
                        }
                        if super::is_string(&c.ty) {
                            let coll = c
                                .coll
                                .unwrap_or_else(crate::engine::collation::database_default);
                            return Ok(super::collate::collate(&quote_ident(&c.name), &coll));
                        }
                        return Ok(quote_ident(&c.name));
                    }
                }
            }
        }
        let t = self.expr(e)?;
        super::collate::sortable(t.ty, "ORDER BY")?;
        Ok(super::collate::sort_key(&t))
    }

    fn limit(&mut self, sel: Option<&Select>, q: &Query, sql: &mut String) -> Result<(), SqlError> {
        let top = match sel.and_then(|s| s.top.as_ref()) {
            Some(t) => {
                if t.percent {
                    return Err(crate::engine::unsupported("TOP PERCENT"));
                }
                Some(cast_to(self.expr(&t.quantity)?, &SqlType::BigInt).sql)
            }
            None => None,
        };
        let fetch = match &q.fetch {
            Some(f) => Some(cast_to(self.expr(f)?, &SqlType::BigInt).sql),
            None => top,
        };
        let offset = match &q.offset {
            Some(o) => Some(cast_to(self.expr(o)?, &SqlType::BigInt).sql),
            None => None,
        };
        match (fetch, offset) {
            (Some(f), Some(o)) => sql.push_str(&format!(" LIMIT {f} OFFSET {o}")),
            (Some(f), None) => sql.push_str(&format!(" LIMIT {f}")),
            (None, Some(o)) => sql.push_str(&format!(" LIMIT -1 OFFSET {o}")),
            (None, None) => {}
        }
        Ok(())
    }

    /// SELECT; `q` gives ORDER BY / OFFSET / FETCH when this is the whole query.
    pub fn select(
        &mut self,
        sel: &Select,
        q: Option<&Query>,
    ) -> Result<(String, Vec<OutCol>), SqlError> {
        self.scopes.push(Vec::new());
        let res = self.select_inner(sel, q);
        self.scopes.pop();
        res
    }

    fn select_inner(
        &mut self,
        sel: &Select,
        q: Option<&Query>,
    ) -> Result<(String, Vec<OutCol>), SqlError> {
        let from = self.translate_from(&sel.from)?;
        let mut items = Vec::new();
        let mut cols = Vec::new();
        for item in &sel.items {
            match item {
                SelectItem::Wildcard | SelectItem::QualifiedWildcard(_) => {
                    let qual = match item {
                        SelectItem::QualifiedWildcard(q) => Some(q.clone()),
                        _ => None,
                    };
                    let scope = self.scopes.last().cloned().unwrap_or_default();
                    let mut any = false;
                    for src in &scope {
                        if let Some(q) = &qual {
                            let ql = q.rsplit('.').next().unwrap_or(q);
                            if !src
                                .names
                                .iter()
                                .any(|n| n.eq_ignore_ascii_case(q) || n.eq_ignore_ascii_case(ql))
                            {
                                continue;
                            }
                        }
                        any = true;
                        for (name, ty, nullable) in &src.columns {
                            items.push(format!("{}.{}", src.sql_alias, quote_ident(name)));
                            let (identity, computed, timestamp) =
                                table_column_kind(src.table.as_deref(), name);
                            cols.push(OutCol {
                                coll: super::source_collation(src, name),
                                name: name.clone(),
                                ty: *ty,
                                nullable: *nullable,
                                identity,
                                computed,
                                timestamp,
                                table: table_name(src.table.as_deref()),
                            });
                        }
                    }
                    if !any {
                        return Err(match qual {
                            Some(q) => SqlError::new(
                                4104,
                                16,
                                1,
                                format!("The multi-part identifier \"{q}\" could not be bound."),
                            ),
                            None => SqlError::new(263, 16, 1, "Must specify table to select from."),
                        });
                    }
                }
                SelectItem::Expr { expr, alias } => {
                    let t = self.expr(expr)?;
                    let table = match expr {
                        Expr::Column(parts) => self.column_table(parts),
                        _ => None,
                    };
                    let (name, (nullable, (identity, computed, timestamp))) = match (alias, expr) {
                        (Some(a), _) => (a.clone(), (true, (false, false, false))),
                        (None, Expr::Column(parts)) => {
                            let n = parts.last().cloned().unwrap_or_default();
                            (n, self.column_flags(parts))
                        }
                        _ => (String::new(), (true, (false, false, false))),
                    };
                    // An explicit collation decides DISTINCT, UNION and
                    // an outer query's comparisons of this column.
                    let item = match t.coll {
                        Some(l) if l.explicit => super::collate::collate(&t.sql, &l.coll),
                        _ => t.sql.clone(),
                    };
                    items.push(format!("{item} AS {}", quote_ident(&name)));
                    cols.push(OutCol {
                        coll: t.coll.map(|l| l.coll),
                        name,
                        ty: t.ty,
                        nullable,
                        identity,
                        computed,
                        timestamp,
                        table,
                    });
                }
                SelectItem::Assign { variable, expr } => {
                    // Handled by the session: the value lands in the variable.
                    let t = self.expr(expr)?;
                    items.push(format!("{} AS {}", t.sql, quote_ident(variable)));
                    cols.push(OutCol {
                        name: variable.clone(),
                        ty: t.ty,
                        nullable: true,
                        identity: false,
                        computed: false,
                        timestamp: false,
                        table: None,
                        coll: None,
                    });
                }
            }
        }
        if sel.distinct {
            for c in &cols {
                super::collate::distinct_ok(c.ty)?;
            }
        }
        let mut sql = format!(
            "SELECT {}{}",
            if sel.distinct { "DISTINCT " } else { "" },
            items.join(", ")
        );
        if !from.is_empty() {
            sql.push_str(&format!(" FROM {from}"));
        }
        if let Some(w) = &sel.selection {
            let t = self.expr(w)?;
            sql.push_str(&format!(" WHERE {}", t.sql));
        }
        if !sel.group_by.is_empty() {
            let mut g = Vec::new();
            for e in &sel.group_by {
                let t = self.expr(e)?;
                super::collate::sortable(t.ty, "GROUP BY")?;
                g.push(super::collate::sort_key(&t));
            }
            sql.push_str(&format!(" GROUP BY {}", g.join(", ")));
        }
        if let Some(h) = &sel.having {
            let t = self.expr(h)?;
            sql.push_str(&format!(" HAVING {}", t.sql));
        }
        if let Some(q) = q {
            if !q.order_by.is_empty() {
                let mut parts = Vec::new();
                for ob in &q.order_by {
                    parts.push(format!(
                        "{}{}",
                        self.order_item(&ob.expr, &cols, true)?,
                        if ob.desc { " DESC" } else { "" }
                    ));
                }
                sql.push_str(&format!(" ORDER BY {}", parts.join(", ")));
            }
            self.limit(Some(sel), q, &mut sql)?;
        } else if let Some(top) = &sel.top {
            let t = cast_to(self.expr(&top.quantity)?, &SqlType::BigInt);
            sql.push_str(&format!(" LIMIT {}", t.sql));
        }
        Ok((sql, cols))
    }

    /// `schema.table` of the table a column reference resolves to.
    fn column_table(&self, parts: &[String]) -> Option<String> {
        let col = parts.last().map(|s| s.as_str()).unwrap_or("");
        for scope in self.scopes.iter().rev() {
            for src in scope {
                if parts.len() > 1
                    && !src
                        .names
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(&parts[parts.len() - 2]))
                {
                    continue;
                }
                if src
                    .columns
                    .iter()
                    .any(|(n, _, _)| n.eq_ignore_ascii_case(col))
                {
                    return table_name(src.table.as_deref());
                }
            }
        }
        None
    }

    /// Nullability and (identity, computed, rowversion) of a column reference.
    fn column_flags(&self, parts: &[String]) -> (bool, (bool, bool, bool)) {
        let col = parts.last().map(|s| s.as_str()).unwrap_or("");
        for scope in self.scopes.iter().rev() {
            for src in scope {
                if parts.len() > 1
                    && !src
                        .names
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(&parts[parts.len() - 2]))
                {
                    continue;
                }
                if let Some((_, _, nullable)) = src
                    .columns
                    .iter()
                    .find(|(n, _, _)| n.eq_ignore_ascii_case(col))
                {
                    return (*nullable, table_column_kind(src.table.as_deref(), col));
                }
            }
        }
        (true, (false, false, false))
    }
}

fn table_name(t: Option<&crate::engine::catalog::TableInfo>) -> Option<String> {
    t.map(|t| format!("{}.{}", t.schema, t.name))
}

/// (identity, computed, rowversion) of a table's column, for COLMETADATA.
fn table_column_kind(
    t: Option<&crate::engine::catalog::TableInfo>,
    name: &str,
) -> (bool, bool, bool) {
    t.and_then(|t| t.column_index(name).map(|i| &t.columns[i]))
        .map(|c| (c.identity.is_some(), c.computed.is_some(), c.rowversion))
        .unwrap_or((false, false, false))
}
