//! SELECT, INSERT, UPDATE, DELETE (MERGE in `merge.rs`).
//!
//! DML reads the affected rows with a translated SELECT, then writes them one
//! by one through [`Writer`], which enforces SQL Server's constraint errors
//! and records change tracking. docs/t-sql/statements/insert-transact-sql.md,
//! update-transact-sql.md, delete-transact-sql.md, queries/output-clause-transact-sql.md.

use super::catalog::{self, quote_ident, ColumnInfo, DefaultKind, TableInfo};
use super::convert::{self, Target};
use super::rows::{Verb, Writer};
use super::translate::{Ctx, OutCol, Source};
use super::types::from_storage;
use super::{sqlerr, ResultSink, Session};
use crate::error::{self, SqlError};
use crate::sql::ast::{
    Delete, Expr, Insert, InsertSource, Literal, Output, Query, SelectItem, SetExpr, Update,
};
use crate::value::{ColumnMeta, Len, SqlType, Value};
use rusqlite::params_from_iter;
use rusqlite::types::Value as DbValue;

/// Runs translated SQL and converts each row by the output types.
pub fn fetch(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[DbValue],
    types: &[Option<SqlType>],
) -> Result<Vec<Vec<Value>>, SqlError> {
    let mut st = conn.prepare_cached(sql).map_err(sqlerr)?;
    let mut rows = st.query(params_from_iter(params.iter())).map_err(sqlerr)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(sqlerr)? {
        let mut vals = Vec::with_capacity(types.len());
        for (i, ty) in types.iter().enumerate() {
            let raw = r.get_ref(i).map_err(sqlerr)?;
            vals.push(match ty {
                Some(t) => from_storage(raw, t)?,
                None => Value::Null,
            });
        }
        out.push(vals);
    }
    Ok(out)
}

pub fn meta_of(cols: &[OutCol]) -> Vec<ColumnMeta> {
    cols.iter()
        .map(|c| ColumnMeta {
            name: c.name.clone(),
            ty: c.ty.unwrap_or(SqlType::Int),
            nullable: c.nullable,
            identity: c.identity,
        })
        .collect()
}

/// A column's default value (docs/t-sql/statements/create-table-transact-sql.md DEFAULT).
pub fn default_value(c: &ColumnInfo) -> Result<Value, SqlError> {
    match &c.default {
        None => Ok(Value::Null),
        Some(DefaultKind::Value(v)) => from_storage(v.into(), &c.ty),
        Some(DefaultKind::Func(f)) => {
            let (v, ty) = match f.as_str() {
                "NEWID" | "NEWSEQUENTIALID" => (
                    Value::Guid(*uuid::Uuid::new_v4().as_bytes()),
                    SqlType::UniqueIdentifier,
                ),
                "GETUTCDATE" | "SYSUTCDATETIME" => {
                    let (days, ticks) = convert::now_utc();
                    (Value::DateTime { days, ticks }, SqlType::DateTime2(7))
                }
                _ => {
                    let (days, ticks) = convert::now_local();
                    (Value::DateTime { days, ticks }, SqlType::DateTime2(7))
                }
            };
            convert::convert(&v, Some(&ty), &c.ty, Target::Expr)
        }
    }
}

/// A value the expression gives without SQLite (literals and variables).
fn direct(
    e: &Expr,
    vars: &std::collections::HashMap<String, (SqlType, Value)>,
) -> Option<(Value, Option<SqlType>)> {
    match e {
        Expr::Variable(v) => vars
            .get(&super::var_key(v))
            .map(|(t, v)| (v.clone(), Some(*t))),
        Expr::Literal(Literal::Null) => Some((Value::Null, None)),
        Expr::Literal(Literal::Integer(s)) => s
            .parse::<i64>()
            .ok()
            .map(|i| (Value::Int(i), Some(SqlType::BigInt))),
        Expr::Literal(Literal::String { value, national }) => Some((
            Value::String(value.clone()),
            Some(if *national {
                SqlType::NVarChar(Len::Max)
            } else {
                SqlType::VarChar(Len::Max)
            }),
        )),
        _ => None,
    }
}

/// The OUTPUT clause: which value each output column takes.
#[derive(Debug, Clone)]
pub enum OutItem {
    Inserted(usize),
    Deleted(usize),
    Action,
}

pub struct OutputSpec {
    pub items: Vec<OutItem>,
    pub meta: Vec<ColumnMeta>,
    pub rows: Vec<Vec<Value>>,
}

impl OutputSpec {
    pub fn new(output: &Output, t: &TableInfo) -> Result<Self, SqlError> {
        if output.into.is_some() {
            return Err(SqlError::new(
                40000,
                16,
                1,
                "mssql-sim does not support OUTPUT ... INTO.",
            ));
        }
        let mut items = Vec::new();
        let mut meta = Vec::new();
        let col_meta = |c: &ColumnInfo, name: &str| ColumnMeta {
            name: name.to_string(),
            ty: c.ty,
            nullable: c.nullable,
            identity: c.identity.is_some(),
        };
        for item in &output.items {
            match item {
                SelectItem::QualifiedWildcard(q) => {
                    let inserted = q.eq_ignore_ascii_case("inserted");
                    for (i, c) in t.columns.iter().enumerate() {
                        items.push(if inserted {
                            OutItem::Inserted(i)
                        } else {
                            OutItem::Deleted(i)
                        });
                        meta.push(col_meta(c, &c.name));
                    }
                }
                SelectItem::Expr {
                    expr: Expr::Column(parts),
                    alias,
                } if parts.len() == 2 => {
                    let inserted = parts[0].eq_ignore_ascii_case("inserted");
                    if !inserted && !parts[0].eq_ignore_ascii_case("deleted") {
                        return Err(SqlError::new(
                            40000,
                            16,
                            1,
                            "mssql-sim supports only INSERTED.* and DELETED.* columns in OUTPUT.",
                        ));
                    }
                    let i = t
                        .column_index(&parts[1])
                        .ok_or_else(|| error::invalid_column(&parts[1]))?;
                    items.push(if inserted {
                        OutItem::Inserted(i)
                    } else {
                        OutItem::Deleted(i)
                    });
                    meta.push(col_meta(
                        &t.columns[i],
                        alias.as_deref().unwrap_or(&t.columns[i].name),
                    ));
                }
                SelectItem::Expr {
                    expr: Expr::MergeAction,
                    alias,
                } => {
                    items.push(OutItem::Action);
                    meta.push(ColumnMeta {
                        name: alias.clone().unwrap_or_else(|| "$action".into()),
                        ty: SqlType::NVarChar(Len::N(10)),
                        nullable: false,
                        identity: false,
                    });
                }
                _ => {
                    return Err(SqlError::new(
                        40000,
                        16,
                        1,
                        "mssql-sim supports only INSERTED.*, DELETED.* and $action in OUTPUT.",
                    ))
                }
            }
        }
        Ok(OutputSpec {
            items,
            meta,
            rows: Vec::new(),
        })
    }

    pub fn push(&mut self, inserted: Option<&[Value]>, deleted: Option<&[Value]>, action: &str) {
        let row = self
            .items
            .iter()
            .map(|it| match it {
                OutItem::Inserted(i) => inserted
                    .and_then(|r| r.get(*i))
                    .cloned()
                    .unwrap_or(Value::Null),
                OutItem::Deleted(i) => deleted
                    .and_then(|r| r.get(*i))
                    .cloned()
                    .unwrap_or(Value::Null),
                OutItem::Action => Value::String(action.to_string()),
            })
            .collect();
        self.rows.push(row);
    }

    pub fn emit(&self, out: &mut dyn ResultSink) {
        out.columns(&self.meta);
        for r in &self.rows {
            out.row(r);
        }
    }
}

impl Session {
    pub(super) fn db_table_name(&self, t: &TableInfo) -> String {
        format!("{}.{}", self.st.info.database, t.full_name())
    }

    pub(super) fn exec_select(
        &mut self,
        q: &Query,
        out: &mut dyn ResultSink,
    ) -> Result<Option<u64>, SqlError> {
        let assign: Vec<String> = match &q.body {
            SetExpr::Select(sel) => sel
                .items
                .iter()
                .filter_map(|i| match i {
                    SelectItem::Assign { variable, .. } => Some(variable.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let (sql, cols, params) = {
            let mut ctx = Ctx::new(&self.conn, &self.st.vars, &self.st.info);
            let (sql, cols) = ctx.query(q)?;
            (sql, cols, ctx.params)
        };
        let types: Vec<Option<SqlType>> = cols.iter().map(|c| c.ty).collect();
        if !assign.is_empty() {
            let rows = fetch(&self.conn, &sql, &params, &types)?;
            if let Some(last) = rows.last() {
                for (name, v) in assign.iter().zip(last) {
                    let key = super::var_key(name);
                    let ty = match self.st.vars.get(&key) {
                        Some((t, _)) => *t,
                        None => {
                            return Err(SqlError::new(
                                137,
                                15,
                                2,
                                format!("Must declare the scalar variable \"{name}\"."),
                            ))
                        }
                    };
                    let i = assign.iter().position(|a| a == name).unwrap_or(0);
                    let v = convert::convert(
                        v,
                        types.get(i).copied().flatten().as_ref(),
                        &ty,
                        Target::Expr,
                    )?;
                    self.st.vars.insert(key, (ty, v));
                }
            }
            self.st.info.rowcount = rows.len() as i64;
            return Ok(Some(rows.len() as u64));
        }
        out.columns(&meta_of(&cols));
        let mut st = self.conn.prepare_cached(&sql).map_err(sqlerr)?;
        let mut rows = st.query(params_from_iter(params.iter())).map_err(sqlerr)?;
        let mut n: u64 = 0;
        let mut vals = Vec::with_capacity(types.len());
        while let Some(r) = rows.next().map_err(sqlerr)? {
            vals.clear();
            for (i, ty) in types.iter().enumerate() {
                let raw = r.get_ref(i).map_err(sqlerr)?;
                vals.push(match ty {
                    Some(t) => from_storage(raw, t)?,
                    None => Value::Null,
                });
            }
            out.row(&vals);
            n += 1;
            if out.cancelled() {
                break;
            }
        }
        self.st.info.rowcount = n as i64;
        Ok(Some(n))
    }

    /// Completes a row for INSERT: converts given values, fills defaults and
    /// the identity, applies IDENTITY_INSERT rules.
    pub(super) fn build_row(
        &mut self,
        t: &TableInfo,
        given: &[(usize, Value, Option<SqlType>)],
    ) -> Result<Vec<Value>, SqlError> {
        let table_name = self.db_table_name(t);
        let mut row: Vec<Option<Value>> = vec![None; t.columns.len()];
        for (i, v, ty) in given {
            let c = &t.columns[*i];
            let v = if matches!(v, Value::Null) && ty.is_none() {
                Value::Null
            } else {
                convert::convert(
                    v,
                    ty.as_ref(),
                    &c.ty,
                    Target::Column {
                        table: &table_name,
                        column: &c.name,
                    },
                )?
            };
            row[*i] = Some(v);
        }
        if let Some(ii) = t.identity {
            let (seed, inc) = t.columns[ii].identity.unwrap_or((1, 1));
            match &row[ii] {
                Some(v) => {
                    if let Value::Int(i) = v.clone().normalize_int() {
                        catalog::observe_identity(&self.conn, t.object_id, inc, i)?;
                        self.st.info.scope_identity = Some(i);
                        self.st.info.identity = Some(i);
                    }
                }
                None => {
                    let next = catalog::next_identity(&self.conn, t.object_id, seed, inc)?;
                    let c = &t.columns[ii];
                    let v = convert::convert(
                        &Value::Int(next),
                        Some(&SqlType::BigInt),
                        &c.ty,
                        Target::Expr,
                    )?;
                    row[ii] = Some(v);
                    self.st.info.scope_identity = Some(next);
                    self.st.info.identity = Some(next);
                }
            }
        }
        let mut out = Vec::with_capacity(row.len());
        for (i, v) in row.into_iter().enumerate() {
            out.push(match v {
                Some(v) => v,
                None => default_value(&t.columns[i])?,
            });
        }
        Ok(out)
    }

    /// Checks the IDENTITY_INSERT rules for an INSERT's column list.
    pub(super) fn check_identity_columns(
        &self,
        t: &TableInfo,
        cols: &[usize],
        explicit_list: bool,
    ) -> Result<(), SqlError> {
        let Some(ii) = t.identity else {
            return Ok(());
        };
        let on = matches!(&self.st.identity_insert, Some((oid, _)) if *oid == t.object_id);
        let given = cols.contains(&ii);
        // docs/relational-databases/errors-events/database-engine-events-and-errors-0-to-999.md (544, 545)
        if given && !on {
            return Err(SqlError::new(
                544,
                16,
                1,
                format!("Cannot insert explicit value for identity column in table '{}' when IDENTITY_INSERT is set to OFF.", t.name),
            ));
        }
        if on && !explicit_list {
            return Err(SqlError::new(
                8101,
                16,
                1,
                format!("An explicit value for the identity column in table '{}' can only be specified when a column list is used and IDENTITY_INSERT is ON.", t.full_name()),
            ));
        }
        if on && !given {
            return Err(SqlError::new(
                545,
                16,
                1,
                format!("Explicit value must be specified for identity column in table '{}' either when IDENTITY_INSERT is set to ON or when a replication user is inserting into a NOT FOR REPLICATION identity column.", t.name),
            ));
        }
        Ok(())
    }

    pub(super) fn exec_insert(
        &mut self,
        ins: &Insert,
        ctx_bytes: Option<&[u8]>,
        out: &mut dyn ResultSink,
    ) -> Result<Option<u64>, SqlError> {
        let t = catalog::resolve(&self.conn, &ins.table)?;
        let on = matches!(&self.st.identity_insert, Some((oid, _)) if *oid == t.object_id);
        let cols: Vec<usize> = if ins.columns.is_empty() {
            (0..t.columns.len())
                .filter(|i| on || t.columns[*i].identity.is_none())
                .collect()
        } else {
            let mut v = Vec::new();
            for c in &ins.columns {
                v.push(t.column_index(c).ok_or_else(|| error::invalid_column(c))?);
            }
            v
        };
        if !matches!(ins.source, InsertSource::DefaultValues) {
            self.check_identity_columns(&t, &cols, !ins.columns.is_empty())?;
        }
        // Source rows as (value, type) per listed column; None = DEFAULT.
        let mut source: Vec<Vec<Option<(Value, Option<SqlType>)>>> = Vec::new();
        match &ins.source {
            InsertSource::DefaultValues => source.push(Vec::new()),
            InsertSource::Values(rows) => {
                for r in rows {
                    if r.len() != cols.len() {
                        return Err(SqlError::new(
                            if r.len() > cols.len() { 110 } else { 109 },
                            15,
                            1,
                            "There are fewer columns in the INSERT statement than values specified in the VALUES clause. The number of values in the VALUES clause must match the number of columns specified in the INSERT statement.",
                        ));
                    }
                    let mut vals = Vec::with_capacity(r.len());
                    for e in r {
                        if matches!(e, Expr::Default) {
                            vals.push(None);
                        } else if let Some(d) = direct(e, &self.st.vars) {
                            vals.push(Some(d));
                        } else {
                            let mut ctx = Ctx::new(&self.conn, &self.st.vars, &self.st.info);
                            ctx.scopes.push(Vec::new());
                            vals.push(Some(ctx.eval_const(e)?));
                        }
                    }
                    source.push(vals);
                }
            }
            InsertSource::Query(q) => {
                let (sql, qcols, params) = {
                    let mut ctx = Ctx::new(&self.conn, &self.st.vars, &self.st.info);
                    let (sql, qcols) = ctx.query(q)?;
                    (sql, qcols, ctx.params)
                };
                if qcols.len() != cols.len() {
                    return Err(SqlError::new(
                        120,
                        15,
                        1,
                        "The select list for the INSERT statement contains fewer items than the insert list. The number of SELECT values must match the number of INSERT columns.",
                    ));
                }
                let types: Vec<Option<SqlType>> = qcols.iter().map(|c| c.ty).collect();
                for r in fetch(&self.conn, &sql, &params, &types)? {
                    source.push(
                        r.into_iter()
                            .zip(&types)
                            .map(|(v, t)| Some((v, *t)))
                            .collect(),
                    );
                }
            }
        }
        let mut output = match &ins.output {
            Some(o) => Some(OutputSpec::new(o, &t)?),
            None => None,
        };
        let db = self.st.info.database.clone();
        let mut built = Vec::with_capacity(source.len());
        for r in source {
            let given: Vec<(usize, Value, Option<SqlType>)> = cols
                .iter()
                .zip(r)
                .filter_map(|(i, v)| v.map(|(v, ty)| (*i, v, ty)))
                .collect();
            built.push(self.build_row(&t, &given)?);
        }
        let w = Writer::new(&self.conn, &t, &db, ctx_bytes)?;
        let mut n = 0u64;
        for row in &built {
            w.insert(row, Verb::Insert)?;
            if let Some(o) = output.as_mut() {
                o.push(Some(row), None, "INSERT");
            }
            n += 1;
        }
        if let Some(o) = &output {
            o.emit(out);
        }
        self.st.info.rowcount = n as i64;
        Ok(if self.st.nocount && output.is_none() {
            None
        } else {
            Some(n)
        })
    }

    /// Sets up the FROM scope of UPDATE/DELETE and finds the target alias.
    fn dml_scope(
        ctx: &mut Ctx<'_>,
        target: &crate::sql::ast::ObjectName,
        from: &[crate::sql::ast::TableWithJoins],
    ) -> Result<(String, std::sync::Arc<TableInfo>, String), SqlError> {
        ctx.scopes.push(Vec::new());
        if from.is_empty() {
            let t = ctx.resolve_table(target)?;
            let text = ctx.table_source(t.clone(), None);
            let alias = ctx
                .scopes
                .last()
                .and_then(|s| s.last())
                .map(|s| s.sql_alias.clone())
                .unwrap_or_default();
            return Ok((text, t, alias));
        }
        let mut text = ctx.from_clause(from)?;
        let found: Option<Source> = ctx.scopes.last().and_then(|s| {
            s.iter()
                .find(|src| {
                    src.table.is_some()
                        && (target.parts.len() == 1
                            && src
                                .names
                                .iter()
                                .any(|n| n.eq_ignore_ascii_case(target.name()))
                            || src
                                .table
                                .as_ref()
                                .map(|t| {
                                    t.full_name().eq_ignore_ascii_case(&format!(
                                        "{}.{}",
                                        target.schema().unwrap_or("dbo"),
                                        target.name()
                                    ))
                                })
                                .unwrap_or(false))
                })
                .cloned()
        });
        match found {
            Some(src) => {
                let t = src
                    .table
                    .clone()
                    .ok_or_else(|| error::invalid_object(target.name()))?;
                Ok((text, t, src.sql_alias))
            }
            None => {
                let t = ctx.resolve_table(target)?;
                let extra = ctx.table_source(t.clone(), None);
                let alias = ctx
                    .scopes
                    .last()
                    .and_then(|s| s.last())
                    .map(|s| s.sql_alias.clone())
                    .unwrap_or_default();
                text = format!("{extra} CROSS JOIN {text}");
                Ok((text, t, alias))
            }
        }
    }

    pub(super) fn exec_update(
        &mut self,
        up: &Update,
        ctx_bytes: Option<&[u8]>,
        out: &mut dyn ResultSink,
    ) -> Result<Option<u64>, SqlError> {
        let (sql, params, t, assigned, types) = {
            let mut ctx = Ctx::new(&self.conn, &self.st.vars, &self.st.info);
            let (from, t, alias) = Self::dml_scope(&mut ctx, &up.table, &up.from)?;
            let mut items = vec![format!("{alias}.rowid")];
            let mut types: Vec<Option<SqlType>> = t.columns.iter().map(|c| Some(c.ty)).collect();
            for c in &t.columns {
                items.push(format!("{alias}.{}", quote_ident(&c.name)));
            }
            let mut assigned = Vec::new();
            for a in &up.assignments {
                let i = t
                    .column_index(&a.column)
                    .ok_or_else(|| error::invalid_column(&a.column))?;
                if t.columns[i].identity.is_some() {
                    return Err(SqlError::new(
                        8102,
                        16,
                        1,
                        format!("Cannot update identity column '{}'.", t.columns[i].name),
                    ));
                }
                if matches!(a.value, Expr::Default) {
                    assigned.push((i, true));
                    continue;
                }
                let e = ctx.expr(&a.value)?;
                items.push(e.sql);
                types.push(e.ty);
                assigned.push((i, false));
            }
            let mut sql = format!("SELECT {} FROM {from}", items.join(", "));
            if let Some(w) = &up.selection {
                sql.push_str(&format!(" WHERE {}", ctx.expr(w)?.sql));
            }
            if let Some(top) = &up.top {
                sql.push_str(&format!(
                    " LIMIT {}",
                    super::translate::cast_to(ctx.expr(&top.quantity)?, &SqlType::BigInt).sql
                ));
            }
            (sql, ctx.params, t, assigned, types)
        };
        let mut all_types = vec![Some(SqlType::BigInt)];
        all_types.extend(types.iter().copied());
        let rows = fetch(&self.conn, &sql, &params, &all_types)?;
        let table_name = self.db_table_name(&t);
        let db = self.st.info.database.clone();
        let w = Writer::new(&self.conn, &t, &db, ctx_bytes)?;
        let mut output = match &up.output {
            Some(o) => Some(OutputSpec::new(o, &t)?),
            None => None,
        };
        let ncols = t.columns.len();
        let mut seen = std::collections::HashSet::new();
        let idx: Vec<usize> = assigned.iter().map(|(i, _)| *i).collect();
        for r in rows {
            let rowid = match r.first() {
                Some(Value::Int(i)) => *i,
                _ => continue,
            };
            if !seen.insert(rowid) {
                continue;
            }
            let old = &r[1..=ncols];
            let mut new = old.to_vec();
            let mut k = 0;
            for (i, is_default) in &assigned {
                let c = &t.columns[*i];
                new[*i] = if *is_default {
                    default_value(c)?
                } else {
                    let v = &r[1 + ncols + k];
                    let ty = types[ncols + k];
                    k += 1;
                    convert::convert(
                        v,
                        ty.as_ref(),
                        &c.ty,
                        Target::Column {
                            table: &table_name,
                            column: &c.name,
                        },
                    )?
                };
            }
            w.update(rowid, old, &new, &idx, Verb::Update)?;
            if let Some(o) = output.as_mut() {
                o.push(Some(&new), Some(old), "UPDATE");
            }
        }
        let n = seen.len() as u64;
        if let Some(o) = &output {
            o.emit(out);
        }
        self.st.info.rowcount = n as i64;
        Ok(if self.st.nocount && output.is_none() {
            None
        } else {
            Some(n)
        })
    }

    pub(super) fn exec_delete(
        &mut self,
        del: &Delete,
        ctx_bytes: Option<&[u8]>,
        out: &mut dyn ResultSink,
    ) -> Result<Option<u64>, SqlError> {
        let (sql, params, t) = {
            let mut ctx = Ctx::new(&self.conn, &self.st.vars, &self.st.info);
            let (from, t, alias) = Self::dml_scope(&mut ctx, &del.table, &del.from)?;
            let mut items = vec![format!("{alias}.rowid")];
            for c in &t.columns {
                items.push(format!("{alias}.{}", quote_ident(&c.name)));
            }
            let mut sql = format!("SELECT {} FROM {from}", items.join(", "));
            if let Some(w) = &del.selection {
                sql.push_str(&format!(" WHERE {}", ctx.expr(w)?.sql));
            }
            if let Some(top) = &del.top {
                sql.push_str(&format!(
                    " LIMIT {}",
                    super::translate::cast_to(ctx.expr(&top.quantity)?, &SqlType::BigInt).sql
                ));
            }
            (sql, ctx.params, t)
        };
        let mut types = vec![Some(SqlType::BigInt)];
        types.extend(t.columns.iter().map(|c| Some(c.ty)));
        let rows = fetch(&self.conn, &sql, &params, &types)?;
        let db = self.st.info.database.clone();
        let w = Writer::new(&self.conn, &t, &db, ctx_bytes)?;
        let mut output = match &del.output {
            Some(o) => Some(OutputSpec::new(o, &t)?),
            None => None,
        };
        let mut seen = std::collections::HashSet::new();
        for r in rows {
            let rowid = match r.first() {
                Some(Value::Int(i)) => *i,
                _ => continue,
            };
            if !seen.insert(rowid) {
                continue;
            }
            w.delete(rowid, &r[1..], Verb::Delete)?;
            if let Some(o) = output.as_mut() {
                o.push(None, Some(&r[1..]), "DELETE");
            }
        }
        let n = seen.len() as u64;
        if let Some(o) = &output {
            o.emit(out);
        }
        self.st.info.rowcount = n as i64;
        Ok(if self.st.nocount && output.is_none() {
            None
        } else {
            Some(n)
        })
    }
}

/// Integer view of an identity value.
trait NormalizeInt {
    fn normalize_int(self) -> Value;
}

impl NormalizeInt for Value {
    fn normalize_int(self) -> Value {
        match self {
            Value::Decimal(u, s) => Value::Int((u / super::convert::pow10(s as u32)) as i64),
            other => other,
        }
    }
}
