//! Queries: SELECT, set operations, FROM clauses, CHANGETABLE.
//!
//! docs/t-sql/queries/select-transact-sql.md, from-transact-sql.md,
//! select-order-by-clause-transact-sql.md, with-common-table-expression-transact-sql.md,
//! docs/relational-databases/system-functions/changetable-transact-sql.md.

use super::Parser;
use crate::error::SqlError;
use crate::sql::ast::{
    Cte, Expr, Join, JoinKind, Query, Select, SelectItem, SetExpr, SetOperator, TableFactor,
    TableWithJoins, Top,
};
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
            let query = self.query()?;
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
        let items = self.select_items()?;
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

    /// A table alias: `[AS] name` (no strings).
    pub(crate) fn table_alias(&mut self) -> Result<Option<String>, SqlError> {
        if self.eat_kw("AS") {
            return Ok(Some(self.ident()?));
        }
        let ok = match &self.peek().kind {
            TokKind::QuotedIdent => true,
            TokKind::Word => {
                self.is_ident()
                    && !self.at_statement_start()
                    && !self.is_kw("OFFSET")
                    && !self.is_kw("USING")
            }
            _ => false,
        };
        if ok {
            Ok(Some(self.ident()?))
        } else {
            Ok(None)
        }
    }

    /// `WITH (NOLOCK, UPDLOCK, ...)` table hints: parsed and ignored, the
    /// stand-in locks whole tables.
    pub(crate) fn table_hints(&mut self) -> Result<(), SqlError> {
        if self.is_kw("WITH") && self.is_sym_at(1, Sym::LParen) {
            self.advance();
            self.skip_parens()?;
        }
        Ok(())
    }

    /// `FROM a JOIN b ON ..., c`
    pub(crate) fn table_sources(&mut self) -> Result<Vec<TableWithJoins>, SqlError> {
        let mut out = Vec::new();
        loop {
            out.push(self.table_with_joins()?);
            if !self.eat_sym(Sym::Comma) {
                return Ok(out);
            }
        }
    }

    fn table_with_joins(&mut self) -> Result<TableWithJoins, SqlError> {
        let relation = self.table_factor()?;
        let mut joins = Vec::new();
        loop {
            let kind = if self.is_kw("JOIN") {
                self.advance();
                JoinKind::Inner
            } else if self.is_kw("INNER") {
                self.advance();
                self.join_kw()?;
                JoinKind::Inner
            } else if self.is_kw("LEFT") || self.is_kw("RIGHT") || self.is_kw("FULL") {
                let k = match self.word_upper().as_deref() {
                    Some("LEFT") => JoinKind::LeftOuter,
                    Some("RIGHT") => JoinKind::RightOuter,
                    _ => JoinKind::FullOuter,
                };
                self.advance();
                self.eat_kw("OUTER");
                self.join_kw()?;
                k
            } else if self.is_kw("CROSS") {
                self.advance();
                if self.is_kw("APPLY") {
                    return Err(self.unsupported("CROSS APPLY"));
                }
                self.expect_kw("JOIN")?;
                JoinKind::Cross
            } else if self.is_kw("OUTER") && self.is_kw_at(1, "APPLY") {
                return Err(self.unsupported("OUTER APPLY"));
            } else {
                return Ok(TableWithJoins { relation, joins });
            };
            let relation = self.table_factor()?;
            let on = if kind == JoinKind::Cross {
                None
            } else {
                self.expect_kw("ON")?;
                Some(self.condition()?)
            };
            joins.push(Join { kind, relation, on });
        }
    }

    fn join_kw(&mut self) -> Result<(), SqlError> {
        if self.is_kw("HASH") || self.is_kw("LOOP") || self.is_kw("MERGE") || self.is_kw("REMOTE") {
            return Err(self.unsupported("join hints"));
        }
        self.expect_kw("JOIN")
    }

    /// One table source.
    pub(crate) fn table_factor(&mut self) -> Result<TableFactor, SqlError> {
        self.enter()?;
        let r = self.table_factor_inner();
        self.leave();
        r
    }

    fn table_factor_inner(&mut self) -> Result<TableFactor, SqlError> {
        if self.is_sym(Sym::LParen) {
            self.advance();
            if self.eat_kw("VALUES") {
                let rows = self.values_rows()?;
                self.expect_sym(Sym::RParen)?;
                let (alias, columns) = self.required_alias_with_columns()?;
                return Ok(TableFactor::Values {
                    rows,
                    alias,
                    columns,
                });
            }
            if !self.is_query_start() {
                return Err(self.unsupported("parenthesised joins"));
            }
            let q = self.query()?;
            self.expect_sym(Sym::RParen)?;
            let (alias, columns) = self.required_alias_with_columns()?;
            return Ok(TableFactor::Derived {
                subquery: Box::new(q),
                alias,
                columns,
            });
        }
        if self.is_kw("CHANGETABLE") && self.is_sym_at(1, Sym::LParen) {
            self.advance();
            self.advance();
            return self.changetable();
        }
        if matches!(self.peek().kind, TokKind::Variable) {
            return Err(self.unsupported("table variables"));
        }
        let name = self.object_name()?;
        if self.is_sym(Sym::LParen) {
            return Err(self.unsupported("table-valued functions"));
        }
        self.table_hints()?;
        let alias = self.table_alias()?;
        self.table_hints()?;
        if self.is_kw("TABLESAMPLE") || self.is_kw("PIVOT") || self.is_kw("UNPIVOT") {
            return Err(self.unsupported("TABLESAMPLE/PIVOT/UNPIVOT"));
        }
        Ok(TableFactor::Table { name, alias })
    }

    /// `[AS] alias [(c1, c2)]`, required after a derived table or VALUES.
    fn required_alias_with_columns(&mut self) -> Result<(String, Vec<String>), SqlError> {
        let alias = match self.table_alias()? {
            Some(a) => a,
            None => return Err(self.error_here()),
        };
        let columns = if self.is_sym(Sym::LParen) {
            self.paren_ident_list()?
        } else {
            Vec::new()
        };
        Ok((alias, columns))
    }

    /// `(a, b), (c, d)` rows of a VALUES list.
    pub(crate) fn values_rows(&mut self) -> Result<Vec<Vec<Expr>>, SqlError> {
        let mut rows = Vec::new();
        loop {
            self.expect_sym(Sym::LParen)?;
            rows.push(self.expr_list()?);
            self.expect_sym(Sym::RParen)?;
            if !self.eat_sym(Sym::Comma) {
                return Ok(rows);
            }
        }
    }

    /// After `CHANGETABLE(`: `CHANGES t, @v [, FORCESEEK])` or
    /// `VERSION t, (k, ...), (v, ...))`, then the required alias.
    fn changetable(&mut self) -> Result<TableFactor, SqlError> {
        if self.eat_kw("CHANGES") {
            let table = self.object_name()?;
            self.expect_sym(Sym::Comma)?;
            let since = self.changetable_version_arg()?;
            self.changetable_forceseek()?;
            self.expect_sym(Sym::RParen)?;
            let alias = self.changetable_alias()?;
            return Ok(TableFactor::ChangeTableChanges {
                table,
                since,
                alias,
            });
        }
        if self.eat_kw("VERSION") {
            let table = self.object_name()?;
            self.expect_sym(Sym::Comma)?;
            let key_columns = self.paren_ident_list()?;
            self.expect_sym(Sym::Comma)?;
            self.expect_sym(Sym::LParen)?;
            let key_values = self.expr_list()?;
            self.expect_sym(Sym::RParen)?;
            self.changetable_forceseek()?;
            self.expect_sym(Sym::RParen)?;
            let alias = self.changetable_alias()?;
            return Ok(TableFactor::ChangeTableVersion {
                table,
                key_columns,
                key_values,
                alias,
            });
        }
        Err(self.error_here())
    }

    /// `last_sync_version`: "a nullable bigint scalar value. An expression
    /// will cause a syntax error" (changetable-transact-sql.md), so only a
    /// variable, an integer or NULL is accepted.
    fn changetable_version_arg(&mut self) -> Result<Expr, SqlError> {
        let t = *self.peek();
        let ok = match t.kind {
            TokKind::Variable | TokKind::Integer => true,
            TokKind::Word => self.is_kw("NULL"),
            _ => false,
        };
        if !ok {
            return Err(self.error_at(&t));
        }
        let e = self.primary()?;
        // Anything but the end of the argument means it was an expression.
        if !self.is_sym(Sym::Comma) && !self.is_sym(Sym::RParen) {
            return Err(self.error_here());
        }
        if !matches!(e, Expr::Variable(_) | Expr::Literal(_)) {
            return Err(self.error_at(&t));
        }
        Ok(e)
    }

    /// `, FORCESEEK`: accepted, ignored (the stand-in has no plans).
    fn changetable_forceseek(&mut self) -> Result<(), SqlError> {
        if self.eat_sym(Sym::Comma) {
            self.expect_kw("FORCESEEK")?;
        }
        Ok(())
    }

    /// CHANGETABLE requires an alias (changetable-transact-sql.md: "table_alias
    /// ... is required"); without one SQL Server stops at the next token.
    fn changetable_alias(&mut self) -> Result<String, SqlError> {
        let alias = match self.table_alias()? {
            Some(a) => a,
            None => return Err(self.error_here()),
        };
        if self.is_sym(Sym::LParen) {
            return Err(self.unsupported("column aliases on CHANGETABLE"));
        }
        Ok(alias)
    }

    /// A reserved word check for callers outside this module.
    pub(crate) fn current_is_reserved(&self) -> bool {
        let t = self.peek();
        matches!(t.kind, TokKind::Word) && is_reserved(self.text(t))
    }
}
