//! Queries: SELECT, set operations, select lists (FROM clauses are in `from.rs`).
//!
//! docs/t-sql/queries/select-transact-sql.md, select-order-by-clause-transact-sql.md,
//! with-common-table-expression-transact-sql.md.

use super::Parser;
use crate::error::SqlError;
use crate::sql::ast::{Cte, Expr, Query, Select, SelectItem, SetExpr, SetOperator, Top};
use crate::sql::lexer::{is_reserved, string_value, Sym, TokKind};

impl<'a> Parser<'a> {
    /// Whether the current token begins a query (`SELECT`, `WITH` or a
    /// parenthesised query).
    pub(crate) fn is_query_start(&self) -> bool {
        if self.is_kw("SELECT") || self.is_kw("WITH") {
            return true;
        }
        // `((SELECT ...))`: look through the parentheses.
        let mut n = 0;
        while self.is_sym_at(n, Sym::LParen) {
            n += 1;
        }
        n > 0 && self.is_kw_at(n, "SELECT")
    }

    /// A query nested in an expression, a derived table or a CTE: ORDER BY
    /// needs TOP or OFFSET there (error 1033; select-order-by-clause-transact-sql.md).
    pub(crate) fn subquery(&mut self) -> Result<Query, SqlError> {
        let line = self.peek().line;
        let q = self.query()?;
        let has_top = matches!(&q.body, SetExpr::Select(s) if s.top.is_some());
        if !q.order_by.is_empty() && q.offset.is_none() && !has_top {
            let mut e = SqlError::new(
                1033,
                15,
                1,
                "The ORDER BY clause is invalid in views, inline functions, derived tables, subqueries, and common table expressions, unless TOP, OFFSET or FOR XML is also specified.",
            );
            e.line = line;
            return Err(e);
        }
        Ok(q)
    }

    /// `[WITH ctes] body [ORDER BY ...] [OFFSET n ROWS [FETCH NEXT m ROWS ONLY]] [OPTION (...)]`
    pub(crate) fn query(&mut self) -> Result<Query, SqlError> {
        self.enter()?;
        let r = self.query_inner();
        self.leave();
        r
    }

    fn query_inner(&mut self) -> Result<Query, SqlError> {
        let with = if self.is_kw("WITH") {
            self.advance();
            let ctes = self.ctes()?;
            if self.is_kw("INSERT")
                || self.is_kw("UPDATE")
                || self.is_kw("DELETE")
                || self.is_kw("MERGE")
            {
                return Err(self.unsupported("common table expressions before DML"));
            }
            ctes
        } else {
            Vec::new()
        };
        let body = self.set_expr()?;
        let mut order_by = Vec::new();
        let mut offset = None;
        let mut fetch = None;
        if self.is_kw("ORDER") && self.is_kw_at(1, "BY") {
            self.advance();
            self.advance();
            order_by = self.order_by_list()?;
            if self.eat_kw("OFFSET") {
                offset = Some(self.expr()?);
                if !self.eat_kw("ROWS") {
                    self.expect_kw("ROW")?;
                }
                if self.eat_kw("FETCH") {
                    if !self.eat_kw("NEXT") {
                        self.expect_kw("FIRST")?;
                    }
                    fetch = Some(self.expr()?);
                    if !self.eat_kw("ROWS") {
                        self.expect_kw("ROW")?;
                    }
                    self.expect_kw("ONLY")?;
                }
            }
        }
        if self.is_kw("FOR") {
            return Err(self.unsupported("FOR XML/JSON/BROWSE"));
        }
        if self.is_kw("OPTION") {
            // Query hints (OPTION (RECOMPILE), MAXDOP, ...): accepted, ignored.
            self.advance();
            self.skip_parens()?;
        }
        Ok(Query {
            with,
            body,
            order_by,
            offset,
            fetch,
        })
    }

    fn ctes(&mut self) -> Result<Vec<Cte>, SqlError> {
        let mut out = Vec::new();
        loop {
            let name = self.ident()?;
            let columns = if self.is_sym(Sym::LParen) {
                self.paren_ident_list()?
            } else {
                Vec::new()
            };
            self.expect_kw("AS")?;
            self.expect_sym(Sym::LParen)?;
            let query = self.subquery()?;
            self.expect_sym(Sym::RParen)?;
            out.push(Cte {
                name,
                columns,
                query,
            });
            if !self.eat_sym(Sym::Comma) {
                return Ok(out);
            }
        }
    }

    /// UNION / EXCEPT (left-associative) over INTERSECT terms, which bind
    /// tighter (docs/t-sql/language-elements/set-operators-except-and-intersect-transact-sql.md).
    fn set_expr(&mut self) -> Result<SetExpr, SqlError> {
        let mut left = self.intersect_term()?;
        loop {
            let op = if self.is_kw("UNION") {
                SetOperator::Union
            } else if self.is_kw("EXCEPT") {
                SetOperator::Except
            } else {
                return Ok(left);
            };
            self.advance();
            let all = op == SetOperator::Union && self.eat_kw("ALL");
            let right = self.intersect_term()?;
            left = SetExpr::SetOp {
                op,
                all,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
    }

    fn intersect_term(&mut self) -> Result<SetExpr, SqlError> {
        let mut left = self.set_operand()?;
        while self.eat_kw("INTERSECT") {
            let right = self.set_operand()?;
            left = SetExpr::SetOp {
                op: SetOperator::Intersect,
                all: false,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
        Ok(left)
    }

    fn set_operand(&mut self) -> Result<SetExpr, SqlError> {
        if self.is_sym(Sym::LParen) {
            self.advance();
            let q = self.query()?;
            self.expect_sym(Sym::RParen)?;
            return Ok(SetExpr::Query(Box::new(q)));
        }
        self.expect_kw("SELECT")?;
        Ok(SetExpr::Select(Box::new(self.select_body()?)))
    }

    /// After `SELECT`.
    fn select_body(&mut self) -> Result<Select, SqlError> {
        let distinct = if self.eat_kw("DISTINCT") {
            true
        } else {
            self.eat_kw("ALL");
            false
        };
        let top = self.top()?;
        let items_line = self.peek().line;
        let items = self.select_items()?;
        let assigns = items
            .iter()
            .filter(|i| matches!(i, SelectItem::Assign { .. }))
            .count();
        if assigns > 0 && assigns < items.len() {
            // Error 141 (database-engine-events-and-errors-0-to-999.md).
            let mut e = SqlError::new(
                141,
                15,
                1,
                "A SELECT statement that assigns a value to a variable must not be combined with data-retrieval operations.",
            );
            e.line = items_line;
            return Err(e);
        }
        if self.is_kw("INTO") {
            return Err(self.unsupported("SELECT ... INTO"));
        }
        let from = if self.eat_kw("FROM") {
            self.table_sources()?
        } else {
            Vec::new()
        };
        let selection = if self.eat_kw("WHERE") {
            Some(self.condition()?)
        } else {
            None
        };
        let mut group_by = Vec::new();
        if self.is_kw("GROUP") && self.is_kw_at(1, "BY") {
            self.advance();
            self.advance();
            if self.is_kw("ALL") || self.is_kw("ROLLUP") || self.is_kw("CUBE") {
                return Err(self.unsupported("GROUP BY ALL/ROLLUP/CUBE"));
            }
            group_by = self.expr_list()?;
        }
        let having = if self.eat_kw("HAVING") {
            Some(self.condition()?)
        } else {
            None
        };
        Ok(Select {
            distinct,
            top,
            items,
            from,
            selection,
            group_by,
            having,
        })
    }

    /// `TOP (n) [PERCENT] [WITH TIES]` or the legacy `TOP n`.
    pub(crate) fn top(&mut self) -> Result<Option<Top>, SqlError> {
        if !self.eat_kw("TOP") {
            return Ok(None);
        }
        let quantity = if self.is_sym(Sym::LParen) {
            self.advance();
            let e = self.expr()?;
            self.expect_sym(Sym::RParen)?;
            e
        } else {
            // `TOP 10`: only a constant is allowed without parentheses.
            let t = *self.peek();
            match t.kind {
                TokKind::Integer | TokKind::Decimal | TokKind::Float | TokKind::Variable => {
                    self.primary_for_top()?
                }
                _ => return Err(self.error_at(&t)),
            }
        };
        let percent = self.eat_kw("PERCENT");
        let with_ties = if self.is_kw("WITH") && self.is_kw_at(1, "TIES") {
            self.advance();
            self.advance();
            true
        } else {
            false
        };
        Ok(Some(Top {
            quantity,
            percent,
            with_ties,
        }))
    }

    fn primary_for_top(&mut self) -> Result<Expr, SqlError> {
        // A single literal token: no operators, so `TOP 5 *` keeps its `*`.
        let t = self.advance();
        let text = self.text(&t).to_string();
        Ok(match t.kind {
            TokKind::Integer => Expr::Literal(crate::sql::ast::Literal::Integer(text)),
            TokKind::Decimal => Expr::Literal(crate::sql::ast::Literal::Decimal(text)),
            TokKind::Float => Expr::Literal(crate::sql::ast::Literal::Float(text)),
            _ => Expr::Variable(text.trim_start_matches('@').to_string()),
        })
    }

    /// The select list (also used for OUTPUT clauses).
    pub(crate) fn select_items(&mut self) -> Result<Vec<SelectItem>, SqlError> {
        let mut out = Vec::new();
        loop {
            out.push(self.select_item()?);
            if !self.eat_sym(Sym::Comma) {
                return Ok(out);
            }
        }
    }

    fn select_item(&mut self) -> Result<SelectItem, SqlError> {
        if self.eat_sym(Sym::Star) {
            return Ok(SelectItem::Wildcard);
        }
        // `@v = expr`: assignment.
        if matches!(self.peek().kind, TokKind::Variable) {
            if let TokKind::Sym(s @ (Sym::Eq | Sym::CompoundAssign(_))) = self.peek_at(1).kind {
                let vt = self.advance();
                let variable = self.text(&vt)[1..].to_string();
                self.advance();
                let mut expr = self.expr()?;
                if let Sym::CompoundAssign(op) = s {
                    expr = super::stmt::compound(Expr::Variable(variable.clone()), op, expr);
                }
                return Ok(SelectItem::Assign { variable, expr });
            }
        }
        // `alias = expr` (identifier or string alias).
        let alias_first = self.is_ident() || matches!(self.peek().kind, TokKind::Str { .. });
        if alias_first && self.is_sym_at(1, Sym::Eq) {
            let alias = self.alias_token()?;
            self.advance();
            let expr = self.expr()?;
            return Ok(SelectItem::Expr {
                expr,
                alias: Some(alias),
            });
        }
        // `t.*`, `s.t.*`
        if self.is_ident() {
            let mut n = 1;
            while self.is_sym_at(n, Sym::Dot) && self.is_ident_at(n + 1) {
                n += 2;
            }
            if self.is_sym_at(n, Sym::Dot) && self.is_sym_at(n + 1, Sym::Star) {
                let mut last = String::new();
                for _ in 0..n.div_ceil(2) {
                    last = self.ident()?;
                    self.eat_sym(Sym::Dot);
                }
                self.expect_sym(Sym::Star)?;
                return Ok(SelectItem::QualifiedWildcard(last));
            }
        }
        let expr = self.expr()?;
        let alias = if self.eat_kw("AS") || self.is_implicit_alias() {
            Some(self.alias_token()?)
        } else {
            None
        };
        Ok(SelectItem::Expr { expr, alias })
    }

    /// An identifier or `'string'` used as a column alias.
    fn alias_token(&mut self) -> Result<String, SqlError> {
        if let TokKind::Str { .. } = self.peek().kind {
            let t = self.advance();
            return Ok(string_value(self.text(&t)));
        }
        self.ident()
    }

    /// A column alias written without AS: a non-reserved word that does not
    /// start a statement, a delimited identifier or a string.
    fn is_implicit_alias(&self) -> bool {
        match &self.peek().kind {
            TokKind::QuotedIdent | TokKind::Str { .. } => true,
            TokKind::Word => self.is_ident() && !self.at_statement_start() && !self.is_kw("OFFSET"),
            _ => false,
        }
    }

    /// A reserved word check for callers outside this module.
    pub(crate) fn current_is_reserved(&self) -> bool {
        let t = self.peek();
        matches!(t.kind, TokKind::Word) && is_reserved(self.text(t))
    }
}
