//! SELECT, INSERT, UPDATE, DELETE (MERGE in `merge.rs`).
//!
//! DML reads the affected rows with a translated SELECT, then writes them one
//! by one through [`Writer`], which enforces SQL Server's constraint errors
//! and records change tracking. docs/t-sql/statements/insert-transact-sql.md,
//! update-transact-sql.md, delete-transact-sql.md, queries/output-clause-transact-sql.md.

use super::catalog::{self, quote_ident, ColumnInfo, DefaultKind, TableInfo};
use super::convert::{self, Target};
use super::exec_select::fetch;
use super::output::OutputSpec;
use super::rows::{Verb, Writer};
use super::translate::{Ctx, Source};
use super::triggers::Event;
use super::types::from_storage;
use super::{ResultSink, Session};
use crate::error::{self, SqlError};
use crate::sql::ast::{Delete, Expr, Insert, InsertSource, Literal, Update};
use crate::value::{Len, SqlType, Value};

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

/// A value with the SQL Server type it has (`None`: untyped NULL).
type Typed = (Value, Option<SqlType>);

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
            // Typed as the translator types integer literals: int, or bigint
            // when it does not fit.
            .map(|i| {
                let ty = if i32::try_from(i).is_ok() {
                    SqlType::Int
                } else {
                    SqlType::BigInt
                };
                (Value::Int(i), Some(ty))
            }),
        // Typed as the translator types string literals (their length), so
        // that a sql_variant keeps SQL Server's base type.
        Expr::Literal(Literal::String { value, national }) => {
            let n = value.chars().count().max(1);
            let len = |limit: usize| {
                if n > limit {
                    Len::Max
                } else {
                    Len::N(n as u16)
                }
            };
            Some((
                Value::String(value.clone()),
                Some(if *national {
                    SqlType::NVarChar(len(4000))
                } else {
                    SqlType::VarChar(len(8000))
                }),
            ))
        }
        _ => None,
    }
}

impl Session {
    /// In a SNAPSHOT transaction, keeps the rows a statement is about to
    /// modify (rowid first, then the table's columns) for the update-conflict
    /// check of `txn::retry_on_fresh_snapshot`.
    pub(super) fn remember_for_snapshot(
        &mut self,
        t: &std::sync::Arc<TableInfo>,
        rows: &[Vec<Value>],
    ) {
        if self.st.txn.as_ref().map(|x| x.isolation) != Some(super::Isolation::Snapshot) {
            return;
        }
        let n = t.columns.len();
        for r in rows {
            if let (Some(Value::Int(rowid)), Some(vals)) = (r.first(), r.get(1..=n)) {
                self.st
                    .snapshot_rows
                    .push((t.clone(), *rowid, vals.to_vec()));
            }
        }
    }

    pub(super) fn db_table_name(&self, t: &TableInfo) -> String {
        format!("{}.{}", self.st.info.database, t.full_name())
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
            if c.computed.is_some() {
                return Err(super::computed::not_modifiable(&c.name));
            }
            if c.rowversion {
                // NULL (like DEFAULT) lets the server give the value.
                if !v.is_null() {
                    return Err(super::computed::timestamp_insert());
                }
                continue;
            }
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
                        self.observe_identity(t.object_id, inc, i)?;
                        self.st.info.scope_identity = Some(i);
                        self.st.info.identity = Some(i);
                    }
                }
                None => {
                    let next = self.next_identity(t.object_id, seed, inc)?;
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
        self.derive_row(t, &mut out)?;
        Ok(out)
    }

    pub(super) fn exec_insert(
        &mut self,
        ins: &Insert,
        ctx_bytes: Option<&[u8]>,
        out: &mut dyn ResultSink,
    ) -> Result<Option<u64>, SqlError> {
        let t = catalog::resolve_in(&self.conn, &self.st.info.locals, &ins.table)?;
        self.check_output_target(&t, ins.output.as_ref(), &[Event::Insert])?;
        let on = matches!(&self.st.identity_insert, Some((oid, _)) if *oid == t.object_id);
        let cols: Vec<usize> = if ins.columns.is_empty() {
            super::computed::implicit_insert_columns(&t, on)
        } else {
            let mut v = Vec::new();
            for c in &ins.columns {
                v.push(t.column_index(c).ok_or_else(|| error::invalid_column(c))?);
            }
            super::computed::check_insert_columns(&t, &v)?;
            v
        };
        if !matches!(ins.source, InsertSource::DefaultValues) {
            self.check_identity_columns(&t, &cols, !ins.columns.is_empty())?;
        }
        // Source rows as (value, type) per listed column; None = DEFAULT.
        let mut source: Vec<Vec<Option<Typed>>> = Vec::new();
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
        // OUTPUT items other than INSERTED.* (constants, variables) are
        // evaluated once: the same for every row.
        let mut consts: Vec<Value> = Vec::new();
        let mut output = match &ins.output {
            Some(o) => {
                let mut ctx = Ctx::new(&self.conn, &self.st.vars, &self.st.info);
                ctx.scopes.push(Vec::new());
                Some(OutputSpec::with_extra(o, &t, &mut |e| {
                    let (v, ty) = ctx.eval_const(e)?;
                    consts.push(v);
                    Ok((consts.len() - 1, ty))
                })?)
            }
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
                o.push_with(Some(row), None, "INSERT", Some(&consts));
            }
            n += 1;
        }
        drop(w);
        if let Some(o) = &output {
            self.finish_output(o, out)?;
        }
        self.st.info.rowcount = n as i64;
        self.fire_triggers(&t, Event::Insert, &built, &[], n, out)?;
        Ok(done_count(self.st.nocount, output.as_ref(), n))
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
        let mut text = ctx.translate_from(from)?;
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
        let (sql, params, t, assigned, types, mut output) = {
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
                super::computed::check_update_column(&t.columns[i])?;
                if matches!(a.value, Expr::Default) {
                    assigned.push((i, true));
                    continue;
                }
                let e = ctx.expr(&a.value)?;
                items.push(e.sql);
                types.push(e.ty);
                assigned.push((i, false));
            }
            // OUTPUT may name columns of the FROM tables: fetched with the row
            // (position in the fetched row = 1 + index in `types`).
            let output = match &up.output {
                Some(o) => Some(OutputSpec::with_extra(o, &t, &mut |e| {
                    let x = ctx.expr(e)?;
                    items.push(x.sql);
                    types.push(x.ty);
                    Ok((types.len(), x.ty))
                })?),
                None => None,
            };
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
            (sql, ctx.params, t, assigned, types, output)
        };
        self.check_output_target(&t, up.output.as_ref(), &[Event::Update])?;
        let fires = self.has_triggers(&t, Event::Update)?;
        let (mut inserted, mut deleted) = (Vec::new(), Vec::new());
        let mut all_types = vec![Some(SqlType::BigInt)];
        all_types.extend(types.iter().copied());
        let rows = fetch(&self.conn, &sql, &params, &all_types)?;
        self.remember_for_snapshot(&t, &rows);
        let table_name = self.db_table_name(&t);
        let db = self.st.info.database.clone();
        let w = Writer::new(&self.conn, &t, &db, ctx_bytes)?;
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
            self.derive_row(&t, &mut new)?;
            w.update(rowid, old, &new, &idx, Verb::Update)?;
            if let Some(o) = output.as_mut() {
                o.push_with(Some(&new), Some(old), "UPDATE", Some(&r));
            }
            if fires {
                deleted.push(old.to_vec());
                inserted.push(new);
            }
        }
        drop(w);
        let n = seen.len() as u64;
        if let Some(o) = &output {
            self.finish_output(o, out)?;
        }
        self.st.info.rowcount = n as i64;
        self.fire_triggers(&t, Event::Update, &inserted, &deleted, n, out)?;
        Ok(done_count(self.st.nocount, output.as_ref(), n))
    }

    pub(super) fn exec_delete(
        &mut self,
        del: &Delete,
        ctx_bytes: Option<&[u8]>,
        out: &mut dyn ResultSink,
    ) -> Result<Option<u64>, SqlError> {
        let (sql, params, t, mut output, extra_types) = {
            let mut ctx = Ctx::new(&self.conn, &self.st.vars, &self.st.info);
            let (from, t, alias) = Self::dml_scope(&mut ctx, &del.table, &del.from)?;
            let mut items = vec![format!("{alias}.rowid")];
            for c in &t.columns {
                items.push(format!("{alias}.{}", quote_ident(&c.name)));
            }
            let mut extra_types: Vec<Option<SqlType>> = Vec::new();
            let ncols = t.columns.len();
            let output = match &del.output {
                Some(o) => Some(OutputSpec::with_extra(o, &t, &mut |e| {
                    let x = ctx.expr(e)?;
                    items.push(x.sql);
                    extra_types.push(x.ty);
                    Ok((ncols + extra_types.len(), x.ty))
                })?),
                None => None,
            };
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
            (sql, ctx.params, t, output, extra_types)
        };
        let mut types = vec![Some(SqlType::BigInt)];
        types.extend(t.columns.iter().map(|c| Some(c.ty)));
        types.extend(extra_types);
        let ncols = t.columns.len();
        self.check_output_target(&t, del.output.as_ref(), &[Event::Delete])?;
        let fires = self.has_triggers(&t, Event::Delete)?;
        let mut deleted = Vec::new();
        let rows = fetch(&self.conn, &sql, &params, &types)?;
        self.remember_for_snapshot(&t, &rows);
        let db = self.st.info.database.clone();
        let w = Writer::new(&self.conn, &t, &db, ctx_bytes)?;
        let mut seen = std::collections::HashSet::new();
        for r in rows {
            let rowid = match r.first() {
                Some(Value::Int(i)) => *i,
                _ => continue,
            };
            if !seen.insert(rowid) {
                continue;
            }
            w.delete(rowid, &r[1..=ncols], Verb::Delete)?;
            if let Some(o) = output.as_mut() {
                o.push_with(None, Some(&r[1..=ncols]), "DELETE", Some(&r));
            }
            if fires {
                deleted.push(r[1..=ncols].to_vec());
            }
        }
        drop(w);
        let n = seen.len() as u64;
        if let Some(o) = &output {
            self.finish_output(o, out)?;
        }
        self.st.info.rowcount = n as i64;
        self.fire_triggers(&t, Event::Delete, &[], &deleted, n, out)?;
        Ok(done_count(self.st.nocount, output.as_ref(), n))
    }
}

/// The count of a DML statement's DONE: none under NOCOUNT, except for a
/// statement returning its OUTPUT rows to the client.
pub(super) fn done_count(nocount: bool, output: Option<&OutputSpec>, n: u64) -> Option<u64> {
    if nocount && output.map_or(true, |o| o.into.is_some()) {
        None
    } else {
        Some(n)
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
