//! Parser tests, one file per statement family; the helpers live here.

mod ddl;
mod dml;
mod errors;
mod expr;
mod flow;
mod robustness;
mod select;
mod session;

pub(super) use super::parse_batch;
pub(super) use crate::error::SqlError;
pub(super) use crate::sql::ast::*;

pub(super) fn one(sql: &str) -> Statement {
    match parse_batch(sql) {
        Ok(mut v) if v.len() == 1 => v.remove(0).stmt,
        other => panic!("expected one statement from {sql:?}, got {other:?}"),
    }
}

pub(super) fn err(sql: &str) -> SqlError {
    match parse_batch(sql) {
        Err(e) => e,
        Ok(v) => panic!("expected an error from {sql:?}, got {v:?}"),
    }
}

pub(super) fn query(sql: &str) -> Query {
    match one(sql) {
        Statement::Query(q) => *q,
        other => panic!("not a query: {other:?}"),
    }
}

pub(super) fn select(sql: &str) -> Select {
    match query(sql).body {
        SetExpr::Select(s) => *s,
        other => panic!("not a select: {other:?}"),
    }
}

pub(super) fn col(parts: &[&str]) -> Expr {
    Expr::Column(parts.iter().map(|s| s.to_string()).collect())
}

pub(super) fn int(s: &str) -> Expr {
    Expr::Literal(Literal::Integer(s.into()))
}

pub(super) fn name(parts: &[&str]) -> ObjectName {
    ObjectName {
        parts: parts.iter().map(|s| s.to_string()).collect(),
    }
}

pub(super) fn expr(sql: &str) -> Expr {
    match select(&format!("SELECT {sql}")).items.remove(0) {
        SelectItem::Expr { expr, alias: None } => expr,
        other => panic!("{other:?}"),
    }
}

/// A search condition, parsed where T-SQL allows one.
pub(super) fn cond(sql: &str) -> Expr {
    match select(&format!("SELECT 1 WHERE {sql}")).selection {
        Some(e) => e,
        None => panic!("no condition in {sql}"),
    }
}
