//! SELECT: translated query, rows converted by the inferred output types;
//! assignment SELECT (`SELECT @v = ...`).

use super::convert::{self, Target};
use super::translate::{Ctx, OutCol};
use super::types::from_storage;
use super::{sqlerr, ResultSink, Session};
use crate::error::SqlError;
use crate::sql::ast::{Query, SelectItem, SetExpr};
use crate::value::{ColumnMeta, SqlType, Value};
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
            computed: c.computed,
            timestamp: c.timestamp,
            table: c.table.clone(),
        })
        .collect()
}

impl Session {
    pub(crate) fn exec_select(
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
}
