//! FROM: tables, catalog views, CTEs, derived tables, VALUES, CHANGETABLE;
//! joins. Each source is pushed onto the current scope for column lookup.

use super::query::OutCol;
use super::{cast_to, Ctx, Source};
use crate::engine::catalog::collate_clause;
use crate::engine::catalog::{quote_ident, TableInfo};
use crate::engine::change_tracking::{self as ct, KeyColumn, TableRef};
use crate::engine::types::{storage_decl, to_storage};
use crate::engine::views;
use crate::error::{self, SqlError};
use crate::sql::ast::{BinaryOp, Expr, JoinKind, Query, TableFactor};
use crate::value::{Len, SqlType, Value};
use rusqlite::types::Value as DbValue;
use std::sync::Arc;

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
                        collation: collate_clause(c),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Ctx<'_> {
    /// Translates FROM into SQL, pushing the sources onto the current scope.
    pub(crate) fn translate_from(
        &mut self,
        from: &[crate::sql::ast::TableWithJoins],
    ) -> Result<String, SqlError> {
        let mut parts = Vec::new();
        for twj in from {
            let first = self.scopes.last().map_or(0, |s| s.len());
            // CHANGETABLE inner-joined to a VALUES list of keys: fold only
            // those keys (the same result, found by key).
            if let Some(j) = twj.joins.first() {
                if j.kind == JoinKind::Inner {
                    if let Some(on) = &j.on {
                        self.ct_keys = self.ct_key_filter(&twj.relation, &j.relation, on);
                    }
                }
            }
            let mut s = self.table_factor(&twj.relation)?;
            self.ct_keys = None;
            for j in &twj.joins {
                let before = self.scopes.last().map_or(0, |s| s.len());
                // A VALUES list of keys joined to a CHANGETABLE, inner or
                // with the CHANGETABLE on the outer join's NULL side: its
                // rows of other keys can never be in the result either.
                if matches!(j.kind, JoinKind::Inner | JoinKind::LeftOuter) {
                    if let Some(on) = &j.on {
                        self.ct_keys = self.ct_key_filter(&j.relation, &twj.relation, on);
                    }
                }
                let r = self.table_factor(&j.relation)?;
                self.ct_keys = None;
                // The outer side of an outer join yields NULLs for rows
                // without a match, so its columns are nullable in the
                // result's metadata whatever their table says.
                let after = self.scopes.last().map_or(0, |s| s.len());
                let (right, left) = match j.kind {
                    JoinKind::LeftOuter => (true, false),
                    JoinKind::RightOuter => (false, true),
                    JoinKind::FullOuter => (true, true),
                    _ => (false, false),
                };
                if let Some(scope) = self.scopes.last_mut() {
                    let mut mark = |range: std::ops::Range<usize>| {
                        for src in scope.iter_mut().take(range.end).skip(range.start) {
                            for c in src.columns.iter_mut() {
                                c.2 = true;
                            }
                        }
                    };
                    if right {
                        mark(before..after);
                    }
                    if left {
                        mark(first..before);
                    }
                }
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

    pub(crate) fn push_source(&mut self, src: Source) {
        if let Some(s) = self.scopes.last_mut() {
            s.push(src);
        }
    }

    /// Adds a user table as a source; returns its FROM text.
    pub(crate) fn table_source(&mut self, t: Arc<TableInfo>, alias: Option<&str>) -> String {
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
            collations: Vec::new(),
        });
        text
    }

    pub(crate) fn table_factor(&mut self, tf: &TableFactor) -> Result<String, SqlError> {
        match tf {
            TableFactor::Table { name, alias, .. } => {
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
                            collations: Vec::new(),
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
                        collations: Vec::new(),
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
                        computed: false,
                        timestamp: false,
                        table: None,
                        coll: None,
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
                let slot = format!("sim_ct_{}", self.temp_seq);
                let temp = match self.ct_keys.take() {
                    Some(keys) => {
                        ct::materialize_changes_for_keys(self.conn, &tref, since, &slot, &keys)?
                    }
                    None => ct::materialize_changes(self.conn, &tref, since, &slot)?,
                };
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
                let slot = format!("sim_ct_{}", self.temp_seq);
                let temp = ct::materialize_version(self.conn, &tref, &vals, &slot)?;
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

    /// For `CHANGETABLE(CHANGES t, v) AS CT JOIN (VALUES ...) AS K ON CT.k1 =
    /// K.c1 AND ...` (an inner join whose ON has an equality for every key
    /// column of t between CT and K): the storage values of K's keys, so
    /// that only their histories are folded. `None` when the shape is not
    /// that, or a value is not a constant of the key's type (the query then
    /// runs the general way, errors included).
    fn ct_key_filter(
        &mut self,
        ct: &TableFactor,
        values: &TableFactor,
        on: &Expr,
    ) -> Option<Vec<Vec<DbValue>>> {
        let TableFactor::ChangeTableChanges {
            table,
            alias: ct_alias,
            ..
        } = ct
        else {
            return None;
        };
        let TableFactor::Values {
            rows,
            alias: k_alias,
            columns,
        } = values
        else {
            return None;
        };
        let t = self.resolve_table(table).ok()?;
        let pk = t.pk.as_ref()?;
        let mut conjuncts = Vec::new();
        split_and(on, &mut conjuncts);
        // For each key column, its position in K's columns.
        let mut positions = Vec::with_capacity(pk.columns.len());
        for &ci in &pk.columns {
            let name = &t.columns[ci].name;
            let pos = conjuncts.iter().find_map(|c| {
                let Expr::Binary {
                    left,
                    op: BinaryOp::Eq,
                    right,
                } = c
                else {
                    return None;
                };
                let col = |e: &Expr| match e {
                    Expr::Column(parts) if parts.len() == 2 => {
                        Some((parts[0].clone(), parts[1].clone()))
                    }
                    _ => None,
                };
                let (l, r) = (col(left)?, col(right)?);
                let pick = |ct_side: &(String, String), k_side: &(String, String)| {
                    (ct_side.0.eq_ignore_ascii_case(ct_alias)
                        && ct_side.1.eq_ignore_ascii_case(name)
                        && k_side.0.eq_ignore_ascii_case(k_alias))
                    .then(|| {
                        columns
                            .iter()
                            .position(|c| c.eq_ignore_ascii_case(&k_side.1))
                    })
                    .flatten()
                };
                pick(&l, &r).or_else(|| pick(&r, &l))
            })?;
            positions.push((pos, ci));
        }
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            let mut k = Vec::with_capacity(positions.len());
            for &(pos, ci) in &positions {
                let (v, vty) = self.eval_const(row.get(pos)?).ok()?;
                let ty = &t.columns[ci].ty;
                let v = crate::engine::convert::convert(
                    &v,
                    vty.as_ref(),
                    ty,
                    crate::engine::convert::Target::Expr,
                )
                .ok()?;
                k.push(to_storage(&v, ty));
            }
            keys.push(k);
        }
        Some(keys)
    }

    pub(crate) fn ct_source(
        &mut self,
        t: &TableInfo,
        cols: &mut Vec<(String, Option<SqlType>, bool)>,
        temp: &str,
        alias: &str,
    ) -> Result<String, SqlError> {
        // The key columns keep their table's collation (the side table
        // declares them with it, see `key_columns`).
        let mut collations = vec![None; cols.len()];
        if let Some(pk) = &t.pk {
            for i in &pk.columns {
                let c = &t.columns[*i];
                cols.push((c.name.clone(), Some(c.ty), true));
                collations.push(c.collation);
            }
        }
        let sql_alias = self.fresh_alias(alias);
        self.push_source(Source {
            names: vec![alias.to_string()],
            sql_alias: sql_alias.clone(),
            columns: std::mem::take(cols),
            table: None,
            collations,
        });
        Ok(format!("temp.{} AS {sql_alias}", quote_ident(temp)))
    }

    pub(crate) fn derived_source(
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
            collations: cols.iter().map(|c| c.coll).collect(),
            columns: cols
                .into_iter()
                .map(|c| (c.name, c.ty, c.nullable))
                .collect(),
            table: None,
        });
        Ok(text)
    }

    /// A subquery in FROM: its own scope (not correlated with siblings).
    pub(crate) fn query_isolated(&mut self, q: &Query) -> Result<(String, Vec<OutCol>), SqlError> {
        self.query(q)
    }
}

/// The conjuncts of `e` (`a AND b AND c` → a, b, c).
fn split_and<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::Binary {
            left,
            op: BinaryOp::And,
            right,
        } => {
            split_and(left, out);
            split_and(right, out);
        }
        Expr::Nested(inner) => split_and(inner, out),
        other => out.push(other),
    }
}
