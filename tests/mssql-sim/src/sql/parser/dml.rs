//! INSERT, INSERT BULK, UPDATE, DELETE, MERGE and their OUTPUT clauses.
//!
//! docs/t-sql/statements/{insert,update,delete,merge}-transact-sql.md,
//! docs/t-sql/queries/output-clause-transact-sql.md,
//! MS-TDS 2.2.6.1 (the `INSERT BULK` statement a client sends before BULK LOAD).

use super::{merge_needs_semicolon, Parser};
use crate::error::SqlError;
use crate::sql::ast::{
    Assignment, BulkOptions, Delete, Expr, Insert, InsertSource, Merge, MergeAction, MergeClause,
    MergeMatch, ObjectName, Output, Statement, Update,
};
use crate::sql::lexer::{Sym, TokKind};

/// How SQL Server names a clause kind in MERGE errors.
fn clause_family(kind: MergeMatch) -> &'static str {
    match kind {
        MergeMatch::Matched => "WHEN MATCHED",
        MergeMatch::NotMatchedByTarget => "WHEN NOT MATCHED",
        MergeMatch::NotMatchedBySource => "WHEN NOT MATCHED BY SOURCE",
    }
}

/// The rules of merge-transact-sql.md on WHEN clauses: within one kind an
/// action appears once (10714, checked first), and a clause without a search
/// condition must be that kind's last (5324).
fn check_merge_clauses(clauses: &[MergeClause]) -> Result<(), SqlError> {
    let action_name = |a: &MergeAction| match a {
        MergeAction::Update(_) => "UPDATE",
        MergeAction::Delete => "DELETE",
        MergeAction::Insert { .. } => "INSERT",
    };
    for (i, c) in clauses.iter().enumerate() {
        let name = action_name(&c.action);
        let repeated = clauses[..i]
            .iter()
            .any(|p| p.kind == c.kind && action_name(&p.action) == name);
        if repeated {
            return Err(SqlError::new(
                10714,
                15,
                1,
                format!(
                    "An action of type '{}' cannot appear more than once in a '{name}' clause of a MERGE statement.",
                    clause_family(c.kind)
                ),
            ));
        }
    }
    for (i, c) in clauses.iter().enumerate() {
        let after_unconditional = clauses[..i]
            .iter()
            .any(|p| p.kind == c.kind && p.condition.is_none());
        if c.condition.is_some() && after_unconditional {
            let family = clause_family(c.kind);
            return Err(SqlError::new(
                5324,
                16,
                1,
                format!("In a MERGE statement, a '{family}' clause with a search condition cannot appear after a '{family}' clause with no search condition."),
            ));
        }
    }
    Ok(())
}

/// INSERT ... VALUES takes at most 1000 rows (insert-transact-sql.md,
/// "Table value constructor"); a VALUES derived table has no such limit.
pub const MAX_INSERT_VALUES_ROWS: usize = 1000;

impl<'a> Parser<'a> {
    /// `INSERT [INTO] t [(cols)] [OUTPUT ...] VALUES (...), ... | query | DEFAULT VALUES`
    pub(crate) fn insert(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        if self.is_kw("BULK") {
            self.advance();
            return self.insert_bulk();
        }
        if self.is_kw("TOP") {
            return Err(self.unsupported("INSERT TOP"));
        }
        self.eat_kw("INTO");
        let table = self.dml_target()?;
        self.table_hints()?;
        let columns = if self.is_sym(Sym::LParen) && !self.is_query_start() {
            self.column_name_list()?
        } else {
            Vec::new()
        };
        let output = self.output_opt()?;
        let source = if self.eat_kw("VALUES") {
            let line = self.peek().line;
            let rows = self.values_rows()?;
            if rows.len() > MAX_INSERT_VALUES_ROWS {
                let mut e = SqlError::new(
                    10738,
                    15,
                    1,
                    format!("The number of row value expressions in the INSERT statement exceeds the maximum allowed number of {MAX_INSERT_VALUES_ROWS} row values."),
                );
                e.line = line;
                return Err(e);
            }
            InsertSource::Values(rows)
        } else if self.is_kw("DEFAULT") && self.is_kw_at(1, "VALUES") {
            self.advance();
            self.advance();
            InsertSource::DefaultValues
        } else if self.is_query_start() {
            InsertSource::Query(Box::new(self.query()?))
        } else if self.is_kw("EXEC") || self.is_kw("EXECUTE") {
            return Err(self.unsupported("INSERT ... EXEC"));
        } else {
            return Err(self.error_here());
        };
        Ok(Statement::Insert(Box::new(Insert {
            table,
            columns,
            output,
            source,
        })))
    }

    /// `(a, t.b, [c])`: column names in INSERT lists keep their last part.
    fn column_name_list(&mut self) -> Result<Vec<String>, SqlError> {
        self.expect_sym(Sym::LParen)?;
        let mut out = Vec::new();
        loop {
            out.push(self.object_name()?.parts.pop().unwrap_or_default());
            if !self.eat_sym(Sym::Comma) {
                break;
            }
        }
        self.expect_sym(Sym::RParen)?;
        Ok(out)
    }

    /// After `INSERT BULK`: `t (col type [COLLATE c] [NULL|NOT NULL], ...) [WITH (...)]`.
    fn insert_bulk(&mut self) -> Result<Statement, SqlError> {
        let table = self.object_name()?;
        self.expect_sym(Sym::LParen)?;
        let mut columns = Vec::new();
        loop {
            let name = self.ident()?;
            let ty = self.data_type()?;
            if self.eat_kw("COLLATE") {
                self.ident()?;
            }
            if self.eat_kw("NOT") {
                self.expect_kw("NULL")?;
            } else {
                self.eat_kw("NULL");
            }
            columns.push((name, ty));
            if !self.eat_sym(Sym::Comma) {
                break;
            }
        }
        self.expect_sym(Sym::RParen)?;
        let mut options = BulkOptions::default();
        if self.is_kw("WITH") && self.is_sym_at(1, Sym::LParen) {
            self.advance();
            self.advance();
            self.insert_bulk_options(&mut options)?;
        }
        Ok(Statement::InsertBulk {
            table,
            columns,
            options,
        })
    }

    /// The option list of `INSERT BULK ... WITH (`, up to and including `)`:
    /// CHECK_CONSTRAINTS, KEEP_NULLS, FIRE_TRIGGERS, TABLOCK,
    /// ROWS_PER_BATCH = n, KILOBYTES_PER_BATCH = n, ORDER (col [ASC|DESC], ...)
    /// (MS-TDS INSERT BULK; their meaning: the arguments of
    /// docs/t-sql/statements/bulk-insert-transact-sql.md). CHECK_CONSTRAINTS,
    /// KEEP_NULLS and FIRE_TRIGGERS change what the load does here; TABLOCK,
    /// ORDER and the batch sizes have no observable effect in the stand-in.
    fn insert_bulk_options(&mut self, options: &mut BulkOptions) -> Result<(), SqlError> {
        if self.eat_sym(Sym::RParen) {
            return Ok(());
        }
        loop {
            if self.eat_kw("CHECK_CONSTRAINTS") {
                options.check_constraints = true;
            } else if self.eat_kw("KEEP_NULLS") {
                options.keep_nulls = true;
            } else if self.eat_kw("FIRE_TRIGGERS") {
                options.fire_triggers = true;
            } else if self.eat_kw("TABLOCK") {
                // No lock modes to choose: nothing to record.
            } else if self.is_kw("ROWS_PER_BATCH") || self.is_kw("KILOBYTES_PER_BATCH") {
                self.advance();
                self.expect_sym(Sym::Eq)?;
                if !matches!(self.peek().kind, TokKind::Integer) {
                    return Err(self.error_here());
                }
                self.advance();
            } else if self.is_kw("ORDER") && self.is_sym_at(1, Sym::LParen) {
                self.advance();
                self.skip_parens()?;
            } else {
                return Err(self.error_here());
            }
            if !self.eat_sym(Sym::Comma) {
                break;
            }
        }
        self.expect_sym(Sym::RParen)
    }

    /// `UPDATE [TOP (n)] t [WITH (hints)] SET a = x, ... [OUTPUT ...] [FROM ...] [WHERE ...]`
    pub(crate) fn update(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        let top = self.top()?;
        let table = self.dml_target()?;
        self.table_hints()?;
        self.expect_kw("SET")?;
        let assignments = self.assignments()?;
        let output = self.output_opt()?;
        let from = if self.eat_kw("FROM") {
            self.table_sources()?
        } else {
            Vec::new()
        };
        let selection = self.where_opt()?;
        self.option_hints()?;
        Ok(Statement::Update(Box::new(Update {
            top,
            table,
            assignments,
            output,
            from,
            selection,
        })))
    }

    /// The target of INSERT, UPDATE, DELETE or OUTPUT INTO: a table name or
    /// a table variable (`@t`, kept with its `@` as a one-part name).
    pub(crate) fn dml_target(&mut self) -> Result<ObjectName, SqlError> {
        if matches!(self.peek().kind, TokKind::Variable) {
            let t = self.advance();
            return Ok(ObjectName {
                parts: vec![self.text(&t).to_string()],
            });
        }
        self.object_name()
    }

    fn where_opt(&mut self) -> Result<Option<Expr>, SqlError> {
        if self.eat_kw("WHERE") {
            if self.is_kw("CURRENT") && self.is_kw_at(1, "OF") {
                return Err(self.unsupported("WHERE CURRENT OF (cursors)"));
            }
            Ok(Some(self.condition()?))
        } else {
            Ok(None)
        }
    }

    /// `OPTION (...)` query hints: accepted, ignored.
    fn option_hints(&mut self) -> Result<(), SqlError> {
        if self.eat_kw("OPTION") {
            self.skip_parens()?;
        }
        Ok(())
    }

    /// `col = expr`, `t.col = expr`, `col += expr`, ...
    fn assignments(&mut self) -> Result<Vec<Assignment>, SqlError> {
        let mut out = Vec::new();
        loop {
            if matches!(self.peek().kind, TokKind::Variable) {
                return Err(self.unsupported("variable assignment in UPDATE SET"));
            }
            let name = self.object_name()?;
            let column = name.name().to_string();
            let t = self.advance();
            let value = match t.kind {
                TokKind::Sym(Sym::Eq) => self.expr()?,
                TokKind::Sym(Sym::CompoundAssign(op)) => {
                    let v = self.expr()?;
                    super::stmt::compound(Expr::Column(name.parts), op, v)
                }
                _ => return Err(self.error_at(&t)),
            };
            out.push(Assignment { column, value });
            if !self.eat_sym(Sym::Comma) {
                return Ok(out);
            }
        }
    }

    /// `DELETE [TOP (n)] [FROM] t [OUTPUT ...] [FROM ...] [WHERE ...]`
    pub(crate) fn delete(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        let top = self.top()?;
        self.eat_kw("FROM");
        let table = self.dml_target()?;
        self.table_hints()?;
        let output = self.output_opt()?;
        let from = if self.eat_kw("FROM") {
            self.table_sources()?
        } else {
            Vec::new()
        };
        let selection = self.where_opt()?;
        self.option_hints()?;
        Ok(Statement::Delete(Box::new(Delete {
            top,
            table,
            output,
            from,
            selection,
        })))
    }

    /// `OUTPUT items [INTO target [(cols)]]`
    pub(crate) fn output_opt(&mut self) -> Result<Option<Output>, SqlError> {
        if !self.eat_kw("OUTPUT") {
            return Ok(None);
        }
        let items = self.select_items()?;
        let into = if self.eat_kw("INTO") {
            let target = self.dml_target()?;
            let cols = if self.is_sym(Sym::LParen) {
                self.paren_ident_list()?
            } else {
                Vec::new()
            };
            Some((target, cols))
        } else {
            None
        };
        Ok(Some(Output { items, into }))
    }

    /// `MERGE [TOP (n)] [INTO] t [WITH (hints)] [[AS] alias] USING source ON cond
    /// WHEN ... [OUTPUT ...] ;` — the semicolon is required (error 10713).
    pub(crate) fn merge(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        if self.is_kw("TOP") {
            return Err(self.unsupported("MERGE TOP"));
        }
        self.eat_kw("INTO");
        let target = self.object_name()?;
        self.table_hints()?;
        let target_alias = self.table_alias()?;
        self.table_hints()?;
        self.expect_kw("USING")?;
        let source = self.table_factor()?;
        self.expect_kw("ON")?;
        let on = self.condition()?;
        let mut clauses = Vec::new();
        let when_line = self.peek().line;
        while self.eat_kw("WHEN") {
            clauses.push(self.merge_clause()?);
        }
        if clauses.is_empty() {
            return Err(self.error_here());
        }
        check_merge_clauses(&clauses).map_err(|mut e| {
            e.line = when_line;
            e
        })?;
        let output = self.output_opt()?;
        self.option_hints()?;
        if !self.is_sym(Sym::Semicolon) {
            if self.at_eof() || self.at_statement_start() {
                let mut e = merge_needs_semicolon();
                e.line = self.peek().line;
                return Err(e);
            }
            return Err(self.error_here());
        }
        Ok(Statement::Merge(Box::new(Merge {
            target,
            target_alias,
            source,
            on,
            clauses,
            output,
        })))
    }

    /// After `WHEN`.
    fn merge_clause(&mut self) -> Result<MergeClause, SqlError> {
        let kind = if self.eat_kw("MATCHED") {
            MergeMatch::Matched
        } else {
            self.expect_kw("NOT")?;
            self.expect_kw("MATCHED")?;
            if self.eat_kw("BY") {
                if self.eat_kw("SOURCE") {
                    MergeMatch::NotMatchedBySource
                } else {
                    self.expect_kw("TARGET")?;
                    MergeMatch::NotMatchedByTarget
                }
            } else {
                MergeMatch::NotMatchedByTarget
            }
        };
        let condition = if self.eat_kw("AND") {
            Some(self.condition()?)
        } else {
            None
        };
        self.expect_kw("THEN")?;
        let t = *self.peek();
        let family = clause_family(kind);
        let action = match self.word_upper().as_deref() {
            Some(a @ ("UPDATE" | "DELETE")) if kind == MergeMatch::NotMatchedByTarget => {
                let mut e = SqlError::new(
                    10710,
                    15,
                    1,
                    format!("An action of type '{a}' is not allowed in the '{family}' clause of a MERGE statement."),
                );
                e.line = t.line;
                return Err(e);
            }
            Some("INSERT") if kind != MergeMatch::NotMatchedByTarget => {
                let mut e = SqlError::new(
                    10711,
                    15,
                    1,
                    format!("An action of type 'INSERT' is not allowed in the '{family}' clause of a MERGE statement."),
                );
                e.line = t.line;
                return Err(e);
            }
            Some("UPDATE") => {
                self.advance();
                self.expect_kw("SET")?;
                MergeAction::Update(self.assignments()?)
            }
            Some("DELETE") => {
                self.advance();
                MergeAction::Delete
            }
            Some("INSERT") => {
                self.advance();
                let columns = if self.is_sym(Sym::LParen) {
                    self.column_name_list()?
                } else {
                    Vec::new()
                };
                if self.is_kw("DEFAULT") && self.is_kw_at(1, "VALUES") {
                    self.advance();
                    self.advance();
                    MergeAction::Insert {
                        columns,
                        values: None,
                    }
                } else {
                    self.expect_kw("VALUES")?;
                    self.expect_sym(Sym::LParen)?;
                    let values = self.expr_list()?;
                    self.expect_sym(Sym::RParen)?;
                    MergeAction::Insert {
                        columns,
                        values: Some(values),
                    }
                }
            }
            _ => return Err(self.error_at(&t)),
        };
        Ok(MergeClause {
            kind,
            condition,
            action,
        })
    }
}
