//! Parser tests: one section per statement family, then errors and robustness.

use super::parse_batch;
use crate::sql::ast::*;

fn one(sql: &str) -> Statement {
    match parse_batch(sql) {
        Ok(mut v) if v.len() == 1 => v.remove(0).stmt,
        other => panic!("expected one statement from {sql:?}, got {other:?}"),
    }
}

#[test]
fn simple_select() {
    let s = one("SELECT 1");
    assert!(matches!(s, Statement::Query(_)));
}
