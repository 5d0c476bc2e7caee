//! FROM clauses: table sources, joins, hints, derived tables, VALUES and
//! CHANGETABLE.
//!
//! docs/t-sql/queries/from-transact-sql.md, hints-transact-sql-table.md,
//! docs/relational-databases/system-functions/changetable-transact-sql.md.

use super::Parser;
use crate::error::SqlError;
use crate::sql::ast::{Expr, Join, JoinKind, TableFactor, TableWithJoins};
use crate::sql::lexer::{Sym, TokKind};

impl<'a> Parser<'a> {
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

    /// `WITH (NOLOCK, UPDLOCK, ...)` table hints: the hint keywords,
    /// upper-cased (empty when there is no hint list). What they do is the
    /// engine's business (`engine::lock_hints`); most are ignored.
    pub(crate) fn table_hints(&mut self) -> Result<Vec<String>, SqlError> {
        if self.is_kw("WITH") && self.is_sym_at(1, Sym::LParen) {
            self.advance();
            return self.hint_list();
        }
        Ok(Vec::new())
    }

    /// `(hint [[,] hint]...)` (docs/t-sql/queries/hints-transact-sql-table.md):
    /// the words directly inside the parentheses; the arguments of
    /// `INDEX (ix)`, `INDEX = ix`, `FORCESEEK (ix (c))` are skipped. The
    /// current token is `(`.
    fn hint_list(&mut self) -> Result<Vec<String>, SqlError> {
        self.expect_sym(Sym::LParen)?;
        let mut hints = Vec::new();
        let mut depth = 1usize;
        let mut after_eq = false;
        loop {
            let t = self.advance();
            match t.kind {
                TokKind::Sym(Sym::LParen) => depth += 1,
                TokKind::Sym(Sym::RParen) => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(hints);
                    }
                }
                TokKind::Eof => return Err(self.error_at(&t)),
                TokKind::Sym(Sym::Eq) if depth == 1 => after_eq = true,
                TokKind::Word if depth == 1 => {
                    // `INDEX = ix`: the word after `=` is an argument.
                    if !std::mem::take(&mut after_eq) {
                        hints.push(self.text(&t).to_ascii_uppercase());
                    }
                }
                _ => after_eq = false,
            }
        }
    }

    /// Whether the `(` here opens a table hint list written without WITH
    /// (hints from docs/t-sql/queries/hints-transact-sql-table.md).
    fn is_legacy_hint_list(&self) -> bool {
        const HINTS: &[&str] = &[
            "NOLOCK",
            "HOLDLOCK",
            "UPDLOCK",
            "ROWLOCK",
            "PAGLOCK",
            "TABLOCK",
            "TABLOCKX",
            "XLOCK",
            "READPAST",
            "READCOMMITTED",
            "READCOMMITTEDLOCK",
            "READUNCOMMITTED",
            "REPEATABLEREAD",
            "SERIALIZABLE",
            "NOWAIT",
            "INDEX",
            "FORCESEEK",
            "FORCESCAN",
            "NOEXPAND",
        ];
        HINTS.iter().any(|h| self.is_kw_at(1, h))
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
            let q = self.subquery()?;
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
        // A table variable (`FROM @t AS x`) or a table.
        let name = self.dml_target()?;
        let mut hints = Vec::new();
        if self.is_sym(Sym::LParen) && self.is_legacy_hint_list() {
            // `t (NOLOCK)`: table hints without WITH (deprecated, still accepted).
            hints = self.hint_list()?;
        } else if self.is_sym(Sym::LParen) {
            return Err(self.unsupported("table-valued functions"));
        }
        hints.extend(self.table_hints()?);
        let alias = self.table_alias()?;
        hints.extend(self.table_hints()?);
        if self.is_kw("TABLESAMPLE") || self.is_kw("PIVOT") || self.is_kw("UNPIVOT") {
            return Err(self.unsupported("TABLESAMPLE/PIVOT/UNPIVOT"));
        }
        Ok(TableFactor::Table { name, alias, hints })
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
        let e = self.primary(false)?;
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

    /// CHANGETABLE requires an alias (changetable-transact-sql.md); without
    /// one SQL Server raises 22104.
    fn changetable_alias(&mut self) -> Result<String, SqlError> {
        let alias = match self.table_alias()? {
            Some(a) => a,
            None => {
                // Error 22104 (errors 22000-22999 of the engine error list).
                let mut e = SqlError::new(
                    22104,
                    16,
                    1,
                    "A table returned by the CHANGETABLE function must be aliased.",
                );
                e.line = self.named_line();
                return Err(e);
            }
        };
        if self.is_sym(Sym::LParen) {
            return Err(self.unsupported("column aliases on CHANGETABLE"));
        }
        Ok(alias)
    }
}
