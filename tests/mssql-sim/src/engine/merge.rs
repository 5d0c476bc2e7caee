//! MERGE (docs/t-sql/statements/merge-transact-sql.md): the source is joined
//! to the target once; each row picks the first WHEN clause whose kind and
//! condition match, and the action runs through the same row writer as
//! INSERT/UPDATE/DELETE.

use super::catalog::{self, quote_ident, TableInfo};
use super::convert::{self, Target};
use super::exec_dml::default_value;
use super::exec_select::fetch;
use super::output::OutputSpec;
use super::rows::{Verb, Writer};
use super::translate::Ctx;
use super::triggers::Event;
use super::{ResultSink, Session};
use crate::error::{self, SqlError};
use crate::sql::ast::{Expr, Merge, MergeAction, MergeClause, MergeMatch};
use crate::value::{SqlType, Value};
use std::collections::HashSet;
use std::sync::Arc;

/// One row's write, decided before any is made.
enum RowWrite {
    Update {
        rowid: i64,
        old: Vec<Value>,
        new: Vec<Value>,
        idx: Vec<usize>,
    },
    Delete {
        rowid: i64,
        old: Vec<Value>,
    },
    Insert(Vec<Value>),
}

/// Where a clause's condition and values are in the fetched row.
struct ClausePlan {
    cond: Option<usize>,
    /// (target column index, position in row or None for DEFAULT)
    values: Vec<(usize, Option<usize>)>,
}

impl Session {
    fn plan_clauses(
        ctx: &mut Ctx<'_>,
        t: &TableInfo,
        clauses: &[&MergeClause],
        items: &mut Vec<String>,
        types: &mut Vec<Option<SqlType>>,
    ) -> Result<Vec<ClausePlan>, SqlError> {
        let mut plans = Vec::new();
        for c in clauses {
            let cond = match &c.condition {
                Some(e) => {
                    let x = ctx.expr(e)?;
                    items.push(format!("CASE WHEN {} THEN 1 ELSE 0 END", x.sql));
                    types.push(Some(SqlType::Int));
                    Some(types.len() - 1)
                }
                None => None,
            };
            let mut values = Vec::new();
            let mut push = |ctx: &mut Ctx<'_>,
                            col: usize,
                            e: &Expr,
                            items: &mut Vec<String>,
                            types: &mut Vec<Option<SqlType>>|
             -> Result<(), SqlError> {
                if matches!(e, Expr::Default) {
                    values.push((col, None));
                } else {
                    let x = ctx.expr(e)?;
                    items.push(x.sql);
                    types.push(x.ty);
                    values.push((col, Some(types.len() - 1)));
                }
                Ok(())
            };
            match &c.action {
                MergeAction::Update(assignments) => {
                    for a in assignments {
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
                        push(ctx, i, &a.value, items, types)?;
                    }
                }
                MergeAction::Insert {
                    columns,
                    values: vals,
                } => {
                    let cols: Vec<usize> = if columns.is_empty() {
                        super::computed::implicit_insert_columns(t, false)
                    } else {
                        let v: Vec<usize> = columns
                            .iter()
                            .map(|c| t.column_index(c).ok_or_else(|| error::invalid_column(c)))
                            .collect::<Result<_, _>>()?;
                        super::computed::check_insert_columns(t, &v)?;
                        v
                    };
                    if let Some(vals) = vals {
                        if vals.len() != cols.len() {
                            return Err(SqlError::new(109, 15, 1, "There are more columns in the INSERT statement than values specified in the VALUES clause. The number of values in the VALUES clause must match the number of columns specified in the INSERT statement."));
                        }
                        for (col, e) in cols.iter().zip(vals) {
                            push(ctx, *col, e, items, types)?;
                        }
                    }
                }
                MergeAction::Delete => {}
            }
            plans.push(ClausePlan { cond, values });
        }
        Ok(plans)
    }

    pub(super) fn exec_merge(
        &mut self,
        m: &Merge,
        ctx_bytes: Option<&[u8]>,
        out: &mut dyn ResultSink,
    ) -> Result<Option<u64>, SqlError> {
        let t: Arc<TableInfo> = catalog::resolve_in(&self.conn, &self.st.info.locals, &m.target)?;
        // "For every insert, update, or delete action specified in the MERGE
        // statement, SQL Server fires any corresponding AFTER triggers"
        // (docs/t-sql/statements/merge-transact-sql.md, Trigger implementation).
        let mut events = Vec::new();
        for c in &m.clauses {
            let e = match &c.action {
                MergeAction::Insert { .. } => Event::Insert,
                MergeAction::Update(_) => Event::Update,
                MergeAction::Delete => Event::Delete,
            };
            if !events.contains(&e) {
                events.push(e);
            }
        }
        self.check_output_target(&t, m.output.as_ref(), &events)?;
        let matched: Vec<&MergeClause> = m
            .clauses
            .iter()
            .filter(|c| c.kind != MergeMatch::NotMatchedBySource)
            .collect();
        let by_source: Vec<&MergeClause> = m
            .clauses
            .iter()
            .filter(|c| c.kind == MergeMatch::NotMatchedBySource)
            .collect();
        let ncols = t.columns.len();
        let (sql, params, types, plans, sql2, params2, types2, plans2, mut output) = {
            let mut ctx = Ctx::new(&self.conn, &self.st.vars, &self.st.info);
            ctx.scopes.push(Vec::new());
            let src = ctx.table_factor(&m.source)?;
            let tgt = ctx.table_source(t.clone(), m.target_alias.as_deref());
            let alias = ctx
                .scopes
                .last()
                .and_then(|s| s.last())
                .map(|s| s.sql_alias.clone())
                .unwrap_or_default();
            let on = ctx.expr(&m.on)?;
            let mut items = vec![format!("{alias}.rowid")];
            let mut types = vec![Some(SqlType::BigInt)];
            for c in &t.columns {
                items.push(format!("{alias}.{}", quote_ident(&c.name)));
                types.push(Some(c.ty));
            }
            let plans = Self::plan_clauses(&mut ctx, &t, &matched, &mut items, &mut types)?;
            // OUTPUT may name source columns: they are fetched with the row.
            let output = match &m.output {
                Some(o) => Some(OutputSpec::with_extra(o, &t, &mut |e| {
                    let x = ctx.expr(e)?;
                    items.push(x.sql);
                    types.push(x.ty);
                    Ok((types.len() - 1, x.ty))
                })?),
                None => None,
            };
            let join = if matched
                .iter()
                .any(|c| c.kind == MergeMatch::NotMatchedByTarget)
            {
                "LEFT JOIN"
            } else {
                "JOIN"
            };
            let sql = format!(
                "SELECT {} FROM {src} {join} {tgt} ON {}",
                items.join(", "),
                on.sql
            );
            let params = std::mem::take(&mut ctx.params);
            // Rows of the target no source row matches.
            let (sql2, types2, plans2) = if by_source.is_empty() {
                (String::new(), Vec::new(), Vec::new())
            } else {
                ctx.scopes.push(Vec::new());
                let tgt2 = ctx.table_source(t.clone(), m.target_alias.as_deref());
                let alias2 = ctx
                    .scopes
                    .last()
                    .and_then(|s| s.last())
                    .map(|s| s.sql_alias.clone())
                    .unwrap_or_default();
                ctx.scopes.push(Vec::new());
                let src2 = ctx.table_factor(&m.source)?;
                let on2 = ctx.expr(&m.on)?;
                ctx.scopes.pop();
                let mut items2 = vec![format!("{alias2}.rowid")];
                let mut types2 = vec![Some(SqlType::BigInt)];
                for c in &t.columns {
                    items2.push(format!("{alias2}.{}", quote_ident(&c.name)));
                    types2.push(Some(c.ty));
                }
                let plans2 =
                    Self::plan_clauses(&mut ctx, &t, &by_source, &mut items2, &mut types2)?;
                (
                    format!(
                        "SELECT {} FROM {tgt2} WHERE NOT EXISTS (SELECT 1 FROM {src2} WHERE {})",
                        items2.join(", "),
                        on2.sql
                    ),
                    types2,
                    plans2,
                )
            };
            let params2 = std::mem::take(&mut ctx.params);
            (
                sql, params, types, plans, sql2, params2, types2, plans2, output,
            )
        };
        let rows = fetch(&self.conn, &sql, &params, &types)?;
        self.remember_for_snapshot(&t, &rows);
        let rows2 = if sql2.is_empty() {
            Vec::new()
        } else {
            fetch(&self.conn, &sql2, &params2, &types2)?
        };
        let db = self.st.info.database.clone();
        let table_name = self.db_table_name(&t);
        let mut touched: HashSet<i64> = HashSet::new();
        let mut n = 0u64;
        // First every row's action (rows built, identities drawn, OUTPUT
        // collected), then the writes through one writer: one tracking
        // lookup and one prepared statement per MERGE, not per row.
        let mut writes: Vec<RowWrite> = Vec::new();
        let work = rows
            .iter()
            .map(|r| (r, &matched, &plans, &types, true))
            .chain(
                rows2
                    .iter()
                    .map(|r| (r, &by_source, &plans2, &types2, false)),
            );
        for (r, clauses, plans, types, main) in work {
            let fetched = if main { Some(r.as_slice()) } else { None };
            let rowid = match r.first() {
                Some(Value::Int(i)) => Some(*i),
                _ => None,
            };
            let is_matched = rowid.is_some();
            let pick = clauses.iter().zip(plans.iter()).find(|(c, p)| {
                let kind_ok = match c.kind {
                    MergeMatch::Matched | MergeMatch::NotMatchedBySource => is_matched,
                    MergeMatch::NotMatchedByTarget => !is_matched,
                };
                kind_ok
                    && p.cond
                        .map(|i| matches!(r[i], Value::Int(1)))
                        .unwrap_or(true)
            });
            let Some((clause, plan)) = pick else {
                continue;
            };
            let value_of = |pos: usize, col: usize| -> Result<Value, SqlError> {
                let c = &t.columns[col];
                convert::convert(
                    &r[pos],
                    types[pos].as_ref(),
                    &c.ty,
                    Target::Column {
                        table: &table_name,
                        column: &c.name,
                    },
                )
            };
            match &clause.action {
                MergeAction::Update(_) | MergeAction::Delete => {
                    let Some(rowid) = rowid else { continue };
                    if !touched.insert(rowid) {
                        return Err(SqlError::new(8672, 16, 1, "The MERGE statement attempted to UPDATE or DELETE the same row more than once. This happens when a target row matches more than one source row. A MERGE statement cannot UPDATE/DELETE the same row of the target table multiple times. Refine the ON clause to ensure a target row matches at most one source row, or use the GROUP BY clause to group the source rows."));
                    }
                    let old = &r[1..=ncols];
                    if let MergeAction::Update(_) = &clause.action {
                        let mut new = old.to_vec();
                        let mut idx = Vec::new();
                        for (col, pos) in &plan.values {
                            new[*col] = match pos {
                                Some(p) => value_of(*p, *col)?,
                                None => default_value(&t.columns[*col])?,
                            };
                            idx.push(*col);
                        }
                        self.derive_row(&t, &mut new)?;
                        if let Some(o) = output.as_mut() {
                            o.push_with(Some(&new), Some(old), "UPDATE", fetched);
                        }
                        writes.push(RowWrite::Update {
                            rowid,
                            old: old.to_vec(),
                            new,
                            idx,
                        });
                    } else {
                        if let Some(o) = output.as_mut() {
                            o.push_with(None, Some(old), "DELETE", fetched);
                        }
                        writes.push(RowWrite::Delete {
                            rowid,
                            old: old.to_vec(),
                        });
                    }
                }
                MergeAction::Insert { columns, .. } => {
                    let cols: Vec<usize> = plan.values.iter().map(|(c, _)| *c).collect();
                    self.check_identity_columns(&t, &cols, !columns.is_empty())?;
                    let mut given = Vec::new();
                    for (col, pos) in &plan.values {
                        if let Some(p) = pos {
                            given.push((*col, r[*p].clone(), types[*p]));
                        }
                    }
                    let row = self.build_row(&t, &given)?;
                    if let Some(o) = output.as_mut() {
                        o.push_with(Some(&row), None, "INSERT", fetched);
                    }
                    writes.push(RowWrite::Insert(row));
                }
            }
            n += 1;
        }
        if !writes.is_empty() {
            let w = Writer::new(&self.conn, &t, &db, ctx_bytes)?;
            for write in &writes {
                match write {
                    RowWrite::Update {
                        rowid,
                        old,
                        new,
                        idx,
                    } => w.update(*rowid, old, new, idx, Verb::Merge)?,
                    RowWrite::Delete { rowid, old } => w.delete(*rowid, old, Verb::Merge)?,
                    RowWrite::Insert(row) => w.insert(row, Verb::Merge)?,
                }
            }
        }
        if let Some(o) = &output {
            self.finish_output(o, out)?;
        }
        self.st.info.rowcount = n as i64;
        for e in [Event::Insert, Event::Update, Event::Delete] {
            if !events.contains(&e) {
                continue;
            }
            let (mut ins, mut del) = (Vec::new(), Vec::new());
            for w in &writes {
                match (e, w) {
                    (Event::Insert, RowWrite::Insert(row)) => ins.push(row.clone()),
                    (Event::Update, RowWrite::Update { old, new, .. }) => {
                        del.push(old.clone());
                        ins.push(new.clone());
                    }
                    (Event::Delete, RowWrite::Delete { old, .. }) => del.push(old.clone()),
                    _ => {}
                }
            }
            let count = ins.len().max(del.len()) as u64;
            self.fire_triggers(&t, e, &ins, &del, count, out)?;
        }
        Ok(super::exec_dml::done_count(
            self.st.nocount,
            output.as_ref(),
            n,
        ))
    }
}
