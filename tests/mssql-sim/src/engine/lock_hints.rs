//! Table hints that keep their locks until the transaction ends.
//!
//! docs/t-sql/queries/hints-transact-sql-table.md: UPDLOCK ("update locks are
//! to be taken and held until the transaction completes"), XLOCK ("exclusive
//! locks are to be taken and held until the transaction completes"), HOLDLOCK
//! (equivalent to SERIALIZABLE), SERIALIZABLE and REPEATABLEREAD (the locking
//! semantics of those isolation levels, which hold their locks to the end of
//! the transaction), TABLOCKX (an exclusive table lock). TABLOCK alone is held
//! to the end of the statement only; with HOLDLOCK it is held to the end of
//! the transaction, which the HOLDLOCK in the list covers. NOLOCK, READPAST,
//! ROWLOCK, INDEX(...) and the rest do not extend any lock and stay ignored.
//!
//! The stand-in has no row or table locks: a SELECT naming such a hint inside
//! a user transaction (not SNAPSHOT) takes the transaction's SQLite write
//! lock, the one a READ COMMITTED transaction takes at its first write (see
//! `Session::with_access`), so other writers wait until COMMIT or ROLLBACK.

use crate::sql::ast::{
    Expr, Query, SelectItem, SetExpr, Statement, TableFactor, TableWithJoins, Window,
};

/// Hint keywords whose locks last until the transaction ends.
const HOLDING: &[&str] = &[
    "UPDLOCK",
    "XLOCK",
    "HOLDLOCK",
    "SERIALIZABLE",
    "REPEATABLEREAD",
    "TABLOCKX",
];

/// Whether these hints (upper-cased keywords) hold locks to the end of the
/// transaction.
pub fn hints_hold_locks(hints: &[String]) -> bool {
    hints.iter().any(|h| HOLDING.contains(&h.as_str()))
}

/// Whether a read-only statement (a SELECT) names such a hint on any of its
/// table sources, subqueries included. Statements that write take the write
/// lock anyway.
pub fn statement_holds_locks(stmt: &Statement) -> bool {
    match stmt {
        Statement::Query(q) => query(q),
        _ => false,
    }
}

/// Whether an expression evaluated on its own (`IF EXISTS (SELECT ...)`,
/// `SET @x = (SELECT ...)`) reads a table with such a hint.
pub fn expr_holds_locks(e: &Expr) -> bool {
    expr(e)
}

fn query(q: &Query) -> bool {
    q.with.iter().any(|c| query(&c.query))
        || set_expr(&q.body)
        || q.order_by.iter().any(|o| expr(&o.expr))
        || q.offset.as_ref().is_some_and(expr)
        || q.fetch.as_ref().is_some_and(expr)
}

fn set_expr(s: &SetExpr) -> bool {
    match s {
        SetExpr::Select(sel) => {
            sel.top.as_ref().is_some_and(|t| expr(&t.quantity))
                || sel.items.iter().any(|i| match i {
                    SelectItem::Expr { expr: e, .. } | SelectItem::Assign { expr: e, .. } => {
                        expr(e)
                    }
                    SelectItem::Wildcard | SelectItem::QualifiedWildcard(_) => false,
                })
                || from(&sel.from)
                || sel.selection.as_ref().is_some_and(expr)
                || sel.group_by.iter().any(expr)
                || sel.having.as_ref().is_some_and(expr)
        }
        SetExpr::SetOp { left, right, .. } => set_expr(left) || set_expr(right),
        SetExpr::Query(q) => query(q),
    }
}

fn from(f: &[TableWithJoins]) -> bool {
    f.iter().any(|t| {
        factor(&t.relation)
            || t.joins
                .iter()
                .any(|j| factor(&j.relation) || j.on.as_ref().is_some_and(expr))
    })
}

fn factor(f: &TableFactor) -> bool {
    match f {
        TableFactor::Table { hints, .. } => hints_hold_locks(hints),
        TableFactor::Derived { subquery, .. } => query(subquery),
        TableFactor::Values { rows, .. } => rows.iter().flatten().any(expr),
        TableFactor::ChangeTableChanges { since, .. } => expr(since),
        TableFactor::ChangeTableVersion { key_values, .. } => key_values.iter().any(expr),
    }
}

fn window(w: &Window) -> bool {
    w.partition_by.iter().any(expr) || w.order_by.iter().any(|o| expr(&o.expr))
}

fn expr(e: &Expr) -> bool {
    match e {
        Expr::Column(_)
        | Expr::Literal(_)
        | Expr::Variable(_)
        | Expr::Global(_)
        | Expr::MergeAction
        | Expr::Default => false,
        Expr::Unary { expr: x, .. }
        | Expr::IsNull { expr: x, .. }
        | Expr::Cast { expr: x, .. }
        | Expr::Nested(x)
        | Expr::Collate { expr: x, .. } => expr(x),
        Expr::Binary { left, right, .. } => expr(left) || expr(right),
        Expr::InList { expr: x, list, .. } => expr(x) || list.iter().any(expr),
        Expr::InSubquery {
            expr: x, subquery, ..
        } => expr(x) || query(subquery),
        Expr::Between {
            expr: x, low, high, ..
        } => expr(x) || expr(low) || expr(high),
        Expr::Like {
            expr: x,
            pattern,
            escape,
            ..
        } => expr(x) || expr(pattern) || escape.as_deref().is_some_and(expr),
        Expr::Case {
            operand,
            branches,
            else_result,
        } => {
            operand.as_deref().is_some_and(expr)
                || branches.iter().any(|(w, t)| expr(w) || expr(t))
                || else_result.as_deref().is_some_and(expr)
        }
        Expr::Function { args, over, .. } => {
            args.iter().any(expr) || over.as_deref().is_some_and(window)
        }
        Expr::Convert { expr: x, style, .. } => expr(x) || style.as_deref().is_some_and(expr),
        Expr::Subquery(q) => query(q),
        Expr::Exists { subquery, .. } => query(subquery),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(sql: &str) -> Statement {
        crate::sql::parse_batch(sql).expect("parses").remove(0).stmt
    }

    #[test]
    fn holding_hints_anywhere_in_a_select_are_found() {
        for sql in [
            "SELECT COUNT(*) FROM dbo.T WITH (UPDLOCK, HOLDLOCK) WHERE id = 1",
            "SELECT * FROM dbo.T AS t WITH (XLOCK)",
            "SELECT * FROM dbo.T (HOLDLOCK)",
            "SELECT * FROM dbo.T WITH (ROWLOCK UPDLOCK)",
            "SELECT * FROM dbo.T WITH (TABLOCK, HOLDLOCK)",
            "SELECT * FROM dbo.T WITH (TABLOCKX)",
            "SELECT * FROM dbo.T WITH (SERIALIZABLE)",
            "SELECT * FROM dbo.T WITH (REPEATABLEREAD)",
            "SELECT K.id FROM (VALUES (1),(2)) AS K(id) JOIN dbo.T AS T WITH (UPDLOCK, HOLDLOCK) ON T.id = K.id",
            "SELECT * FROM (SELECT id FROM dbo.T WITH (UPDLOCK)) AS d",
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM dbo.T WITH (UPDLOCK) WHERE id = 1)",
            "WITH c AS (SELECT id FROM dbo.T WITH (HOLDLOCK)) SELECT * FROM c",
            "SELECT * FROM dbo.U UNION ALL SELECT * FROM dbo.T WITH (XLOCK)",
            "SELECT @x = v FROM dbo.T WITH (UPDLOCK) WHERE id = 1",
        ] {
            assert!(statement_holds_locks(&first(sql)), "{sql}");
        }
    }

    #[test]
    fn other_hints_and_plain_selects_hold_nothing() {
        for sql in [
            "SELECT * FROM dbo.T",
            "SELECT * FROM dbo.T WITH (NOLOCK)",
            "SELECT * FROM dbo.T (NOLOCK)",
            "SELECT * FROM dbo.T WITH (READPAST, ROWLOCK)",
            "SELECT * FROM dbo.T WITH (TABLOCK)",
            "SELECT * FROM dbo.T WITH (INDEX(ix_updlock), FORCESEEK)",
            "SELECT * FROM dbo.T WITH (INDEX = updlock)",
            "SELECT * FROM dbo.T WITH (READCOMMITTED)",
        ] {
            assert!(!statement_holds_locks(&first(sql)), "{sql}");
        }
    }

    #[test]
    fn conditions_with_a_holding_subquery_are_found() {
        let Statement::If { condition, .. } = first(
            "IF EXISTS (SELECT 1 FROM dbo.T WITH (UPDLOCK, HOLDLOCK) WHERE id = 1) PRINT 'x'",
        ) else {
            panic!("an IF");
        };
        assert!(expr_holds_locks(&condition));
        let Statement::If { condition, .. } =
            first("IF EXISTS (SELECT 1 FROM dbo.T WHERE id = 1) PRINT 'x'")
        else {
            panic!("an IF");
        };
        assert!(!expr_holds_locks(&condition));
    }
}
