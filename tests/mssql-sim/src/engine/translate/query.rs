//! Queries: SELECT, set operations, FROM with joins, CHANGETABLE.

use super::{cast_to, Ctx, Source};
use crate::engine::catalog::{quote_ident, TableInfo};
use crate::engine::change_tracking::{self as ct, KeyColumn, TableRef};
use crate::engine::types::{storage_collation, storage_decl, to_storage};
use crate::engine::views;
use crate::error::{self, SqlError};
use crate::sql::ast::{
    Expr, JoinKind, Literal, Query, Select, SelectItem, SetExpr, SetOperator, TableFactor,
};
use crate::value::{Len, SqlType, Value};
use std::sync::Arc;

/// One output column of a query.
#[derive(Debug, Clone)]
pub struct OutCol {
    pub name: String,
    pub ty: Option<SqlType>,
    pub nullable: bool,
    pub identity: bool,
}

/// The key columns of a table in the form change tracking wants.
pub fn key_columns(t: &TableInfo) -> Vec<KeyColumn> {
    t.pk.as_ref()
        .map(|pk| {
            pk.columns
                .iter()
                .map(|i| {
                    let c = &t.columns[*i];
                    KeyColumn {
                        name: c.name.clone(),
                        column_id: c.column_id,
                        storage_type: storage_decl(&c.ty),
                        collation: storage_collation(&c.ty),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
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
                        return Ok(quote_ident(&c.name));
                    }
                }
            }
        }
        let t = self.expr(e)?;
        Ok(if super::is_string(&t.ty) {
            format!("{} COLLATE MSSQL_CI", t.sql)
        } else {
            t.sql
        })
    }

    fn limit(&mut self, sel: Option<&Select>, q: &Query, sql: &mut String) -> Result<(), SqlError> {
        let top = match sel.and_then(|s| s.top.as_ref()) {
            Some(t) => {
                if t.percent {
                    return Err(SqlError::new(
                        40000,
                        16,
                        1,
                        "mssql-sim does not support TOP PERCENT.",
                    ));
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

    /// Translates FROM into SQL, pushing the sources onto the current scope.
    pub fn from_clause(
        &mut self,
        from: &[crate::sql::ast::TableWithJoins],
    ) -> Result<String, SqlError> {
        let mut parts = Vec::new();
        for twj in from {
            let mut s = self.table_factor(&twj.relation)?;
            for j in &twj.joins {
                let r = self.table_factor(&j.relation)?;
                let kw = match j.kind {
                    JoinKind::Inner => "JOIN",
                    JoinKind::LeftOuter => "LEFT JOIN",
                    JoinKind::RightOuter => "RIGHT JOIN",
                    JoinKind::FullOuter => "FULL JOIN",
                    JoinKind::Cross => "CROSS JOIN",
                };
                s.push_str(&format!(" {kw} {r}"));
                if let Some(on) = &j.on {
                    let c = self.expr(on)?;
                    s.push_str(&format!(" ON {}", c.sql));
                } else if j.kind != JoinKind::Cross {
                    s.push_str(" ON 1");
                }
            }
            parts.push(s);
        }
        Ok(parts.join(", "))
    }

    fn push_source(&mut self, src: Source) {
        if let Some(s) = self.scopes.last_mut() {
            s.push(src);
        }
    }

    /// Adds a user table as a source; returns its FROM text.
    pub fn table_source(&mut self, t: Arc<TableInfo>, alias: Option<&str>) -> String {
        let mut names = vec![];
        match alias {
            Some(a) => names.push(a.to_string()),
            None => {
                names.push(t.name.clone());
                names.push(t.full_name());
            }
        }
        let sql_alias = self.fresh_alias(alias.unwrap_or(&t.name));
        let text = format!("{} AS {sql_alias}", t.sqlite_name());
        self.push_source(Source {
            names,
            sql_alias,
            columns: t
                .columns
                .iter()
                .map(|c| (c.name.clone(), Some(c.ty), c.nullable))
                .collect(),
            table: Some(t),
        });
        text
    }

    pub fn table_factor(&mut self, tf: &TableFactor) -> Result<String, SqlError> {
        match tf {
            TableFactor::Table { name, alias } => {
                if name.parts.len() == 1 {
                    if let Some((cname, cols)) = self
                        .ctes
                        .iter()
                        .rev()
                        .find(|(n, _)| n.eq_ignore_ascii_case(&name.parts[0]))
                        .cloned()
                    {
                        let sql_alias = self.fresh_alias(alias.as_deref().unwrap_or(&cname));
                        self.push_source(Source {
                            names: vec![alias.clone().unwrap_or(cname.clone())],
                            sql_alias: sql_alias.clone(),
                            columns: cols,
                            table: None,
                        });
                        return Ok(format!("{} AS {sql_alias}", quote_ident(&cname)));
                    }
                }
                if let Some(v) = views::find(name) {
                    let sql_alias = self.fresh_alias(alias.as_deref().unwrap_or(v.name));
                    let mut names = vec![alias.clone().unwrap_or_else(|| name.name().to_string())];
                    names.push(v.name.to_string());
                    self.push_source(Source {
                        names,
                        sql_alias: sql_alias.clone(),
                        columns: v
                            .columns
                            .iter()
                            .map(|(n, t)| (n.to_string(), Some(*t), true))
                            .collect(),
                        table: None,
                    });
                    return Ok(format!("{} AS {sql_alias}", quote_ident(v.name)));
                }
                let t = self.resolve_table(name)?;
                Ok(self.table_source(t, alias.as_deref()))
            }
            TableFactor::Derived {
                subquery,
                alias,
                columns,
            } => {
                let (sql, mut cols) = self.query_isolated(subquery)?;
                for (i, n) in columns.iter().enumerate() {
                    if let Some(c) = cols.get_mut(i) {
                        c.name = n.clone();
                    }
                }
                self.derived_source(sql, cols, alias, !columns.is_empty())
            }
            TableFactor::Values {
                rows,
                alias,
                columns,
            } => {
                let mut row_sql = Vec::new();
                let mut types: Vec<Option<SqlType>> = Vec::new();
                let mut translated = Vec::new();
                for r in rows {
                    let mut ts = Vec::new();
                    for (i, e) in r.iter().enumerate() {
                        let t = self.expr(e)?;
                        if types.len() <= i {
                            types.push(t.ty);
                        } else if let (Some(a), Some(b)) = (types[i], t.ty) {
                            types[i] = Some(super::common_type(&a, &b));
                        } else if types[i].is_none() {
                            types[i] = t.ty;
                        }
                        ts.push(t);
                    }
                    translated.push(ts);
                }
                for ts in translated {
                    let vals: Vec<String> = ts
                        .into_iter()
                        .enumerate()
                        .map(|(i, t)| match types.get(i).copied().flatten() {
                            Some(ty) => cast_to(t, &ty).sql,
                            None => t.sql,
                        })
                        .collect();
                    row_sql.push(format!("({})", vals.join(", ")));
                }
                let cols: Vec<OutCol> = types
                    .iter()
                    .enumerate()
                    .map(|(i, ty)| OutCol {
                        name: columns
                            .get(i)
                            .cloned()
                            .unwrap_or_else(|| format!("column{}", i + 1)),
                        ty: *ty,
                        nullable: true,
                        identity: false,
                    })
                    .collect();
                let sel: Vec<String> = cols
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("column{} AS {}", i + 1, quote_ident(&c.name)))
                    .collect();
                let sql = format!(
                    "SELECT {} FROM (VALUES {})",
                    sel.join(", "),
                    row_sql.join(", ")
                );
                self.derived_source(sql, cols, alias, false)
            }
            TableFactor::ChangeTableChanges {
                table,
                since,
                alias,
            } => {
                let t = self.resolve_table(table)?;
                let (v, _) = self.eval_const(since)?;
                let since = match v {
                    Value::Int(i) => Some(i),
                    Value::Decimal(u, s) => {
                        Some((u / crate::engine::convert::pow10(s as u32)) as i64)
                    }
                    Value::Null => None,
                    _ => {
                        return Err(SqlError::new(
                            206,
                            16,
                            2,
                            "Operand type clash: the version must be bigint.",
                        ))
                    }
                };
                let keys = key_columns(&t);
                let full = t.full_name();
                let tref = TableRef {
                    object_id: t.object_id,
                    name: &full,
                    key_columns: &keys,
                };
                self.temp_seq += 1;
                let temp = format!("sim_ct_{}", self.temp_seq);
                ct::materialize_changes(self.conn, &tref, since, &temp)?;
                let mut cols = vec![
                    (
                        "SYS_CHANGE_VERSION".to_string(),
                        Some(SqlType::BigInt),
                        true,
                    ),
                    (
                        "SYS_CHANGE_CREATION_VERSION".to_string(),
                        Some(SqlType::BigInt),
                        true,
                    ),
                    (
                        "SYS_CHANGE_OPERATION".to_string(),
                        Some(SqlType::NChar(1)),
                        true,
                    ),
                    (
                        "SYS_CHANGE_COLUMNS".to_string(),
                        Some(SqlType::VarBinary(Len::N(4100))),
                        true,
                    ),
                    (
                        "SYS_CHANGE_CONTEXT".to_string(),
                        Some(SqlType::VarBinary(Len::N(128))),
                        true,
                    ),
                ];
                self.ct_source(&t, &mut cols, &temp, alias)
            }
            TableFactor::ChangeTableVersion {
                table,
                key_columns: kc,
                key_values,
                alias,
            } => {
                let t = self.resolve_table(table)?;
                let keys = key_columns(&t);
                let mut vals = Vec::new();
                for k in &keys {
                    let pos = kc
                        .iter()
                        .position(|c| c.eq_ignore_ascii_case(&k.name))
                        .ok_or_else(|| error::invalid_column(&k.name))?;
                    let e = key_values.get(pos).ok_or_else(|| error::syntax_near(")"))?;
                    let (v, vty) = self.eval_const(e)?;
                    let col = &t.columns[t.column_index(&k.name).unwrap_or(0)];
                    let v = crate::engine::convert::convert(
                        &v,
                        vty.as_ref(),
                        &col.ty,
                        crate::engine::convert::Target::Expr,
                    )?;
                    vals.push(to_storage(&v, &col.ty));
                }
                let full = t.full_name();
                let tref = TableRef {
                    object_id: t.object_id,
                    name: &full,
                    key_columns: &keys,
                };
                self.temp_seq += 1;
                let temp = format!("sim_ct_{}", self.temp_seq);
                ct::materialize_version(self.conn, &tref, &vals, &temp)?;
                let mut cols = vec![
                    (
                        "SYS_CHANGE_VERSION".to_string(),
                        Some(SqlType::BigInt),
                        true,
                    ),
                    (
                        "SYS_CHANGE_CONTEXT".to_string(),
                        Some(SqlType::VarBinary(Len::N(128))),
                        true,
                    ),
                ];
                self.ct_source(&t, &mut cols, &temp, alias)
            }
        }
    }

    fn ct_source(
        &mut self,
        t: &TableInfo,
        cols: &mut Vec<(String, Option<SqlType>, bool)>,
        temp: &str,
        alias: &str,
    ) -> Result<String, SqlError> {
        if let Some(pk) = &t.pk {
            for i in &pk.columns {
                let c = &t.columns[*i];
                cols.push((c.name.clone(), Some(c.ty), true));
            }
        }
        let sql_alias = self.fresh_alias(alias);
        self.push_source(Source {
            names: vec![alias.to_string()],
            sql_alias: sql_alias.clone(),
            columns: std::mem::take(cols),
            table: None,
        });
        Ok(format!("temp.{} AS {sql_alias}", quote_ident(temp)))
    }

    fn derived_source(
        &mut self,
        sql: String,
        cols: Vec<OutCol>,
        alias: &str,
        rename: bool,
    ) -> Result<String, SqlError> {
        let sql_alias = self.fresh_alias(alias);
        let text = if rename {
            let names: Vec<String> = cols.iter().map(|c| quote_ident(&c.name)).collect();
            format!(
                "(WITH sim_d({}) AS ({sql}) SELECT * FROM sim_d) AS {sql_alias}",
                names.join(", ")
            )
        } else {
            format!("({sql}) AS {sql_alias}")
        };
        self.push_source(Source {
            names: vec![alias.to_string()],
            sql_alias,
            columns: cols
                .into_iter()
                .map(|c| (c.name, c.ty, c.nullable))
                .collect(),
            table: None,
        });
        Ok(text)
    }

    /// A subquery in FROM: its own scope (not correlated with siblings).
    fn query_isolated(&mut self, q: &Query) -> Result<(String, Vec<OutCol>), SqlError> {
        self.query(q)
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
        let from = self.from_clause(&sel.from)?;
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
                            let identity = src
                                .table
                                .as_ref()
                                .and_then(|t| {
                                    t.column_index(name)
                                        .map(|i| t.columns[i].identity.is_some())
                                })
                                .unwrap_or(false);
                            cols.push(OutCol {
                                name: name.clone(),
                                ty: *ty,
                                nullable: *nullable,
                                identity,
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
                    let (name, nullable, identity) = match (alias, expr) {
                        (Some(a), _) => (a.clone(), true, false),
                        (None, Expr::Column(parts)) => {
                            let n = parts.last().cloned().unwrap_or_default();
                            let (nullable, identity) = self.column_flags(parts);
                            (n, nullable, identity)
                        }
                        _ => (String::new(), true, false),
                    };
                    items.push(format!("{} AS {}", t.sql, quote_ident(&name)));
                    cols.push(OutCol {
                        name,
                        ty: t.ty,
                        nullable,
                        identity,
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
                    });
                }
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
                g.push(if super::is_string(&t.ty) {
                    format!("{} COLLATE MSSQL_CI", t.sql)
                } else {
                    t.sql
                });
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

    fn column_flags(&self, parts: &[String]) -> (bool, bool) {
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
                    let identity = src
                        .table
                        .as_ref()
                        .and_then(|t| t.column_index(col).map(|i| t.columns[i].identity.is_some()))
                        .unwrap_or(false);
                    return (*nullable, identity);
                }
            }
        }
        (true, false)
    }
}
