//! CREATE / ALTER / DROP / ENABLE / DISABLE TRIGGER (DML triggers).
//!
//! docs/t-sql/statements/create-trigger-transact-sql.md ("CREATE TRIGGER must
//! be the first statement in the batch"; the body is every statement to the
//! end of the batch), alter-trigger-transact-sql.md, drop-trigger-transact-sql.md,
//! enable-trigger-transact-sql.md, disable-trigger-transact-sql.md.

use super::ddl::must_be_first;
use super::Parser;
use crate::error::SqlError;
use crate::sql::ast::{CreateTrigger, ObjectName, Statement, TriggerEvents};
use crate::sql::lexer::{Sym, TokKind, Token};

impl<'a> Parser<'a> {
    /// After `CREATE [OR ALTER] TRIGGER` or `ALTER TRIGGER`; `start` is the
    /// CREATE / ALTER token.
    pub(crate) fn create_trigger(
        &mut self,
        start: Token,
        alter: bool,
        or_alter: bool,
    ) -> Result<Statement, SqlError> {
        if self.toks.first().map(|t| t.start) != Some(start.start) {
            let mut e = must_be_first(if alter {
                "ALTER TRIGGER"
            } else {
                "CREATE TRIGGER"
            });
            e.line = start.line;
            return Err(e);
        }
        let name = self.object_name()?;
        self.expect_kw("ON")?;
        if self.is_kw("DATABASE") || self.is_kw("ALL") {
            return Err(self.unsupported("DDL triggers"));
        }
        let table = self.object_name()?;
        if self.eat_kw("WITH") {
            loop {
                if self.eat_kw("ENCRYPTION") || self.eat_kw("SCHEMABINDING") {
                } else if self.eat_kw("EXECUTE") || self.eat_kw("EXEC") {
                    // EXECUTE AS CALLER | SELF | OWNER | 'user': who the body
                    // runs as; the stand-in has one user.
                    self.expect_kw("AS")?;
                    if matches!(self.peek().kind, TokKind::Str { .. }) {
                        self.advance();
                    } else {
                        self.ident()?;
                    }
                } else if self.is_kw("NATIVE_COMPILATION") {
                    return Err(self.unsupported("natively compiled triggers"));
                } else {
                    return Err(self.error_here());
                }
                if !self.eat_sym(Sym::Comma) {
                    break;
                }
            }
        }
        if self.is_kw("INSTEAD") {
            return Err(self.unsupported("INSTEAD OF triggers"));
        }
        if !(self.eat_kw("AFTER") || self.eat_kw("FOR")) {
            return Err(self.error_here());
        }
        let mut events = TriggerEvents::default();
        loop {
            if self.eat_kw("INSERT") {
                events.insert = true;
            } else if self.eat_kw("UPDATE") {
                events.update = true;
            } else if self.eat_kw("DELETE") {
                events.delete = true;
            } else {
                return Err(self.error_here());
            }
            if !self.eat_sym(Sym::Comma) {
                break;
            }
        }
        if self.is_kw("WITH") && self.is_kw_at(1, "APPEND") {
            self.advance();
            self.advance();
        }
        if self.is_kw("NOT") && self.is_kw_at(1, "FOR") && self.is_kw_at(2, "REPLICATION") {
            self.advance();
            self.advance();
            self.advance();
        }
        self.expect_kw("AS")?;
        if self.is_kw("EXTERNAL") {
            return Err(self.unsupported("CLR triggers (EXTERNAL NAME)"));
        }
        let mut body = Vec::new();
        loop {
            let mut terminated = body.is_empty();
            while self.eat_sym(Sym::Semicolon) {
                terminated = true;
            }
            if self.at_eof() {
                break;
            }
            self.check_with_terminated(terminated)?;
            body.push(self.located(false)?);
        }
        if body.is_empty() {
            return Err(self.error_here());
        }
        let definition = self
            .src
            .get(start.start..)
            .unwrap_or("")
            .trim_end()
            .to_string();
        Ok(Statement::CreateTrigger(Box::new(CreateTrigger {
            name,
            table,
            events,
            alter,
            or_alter,
            body,
            definition,
        })))
    }

    /// `{ENABLE | DISABLE} TRIGGER {name [, ...] | ALL} ON table`; the
    /// current token is ENABLE or DISABLE.
    pub(crate) fn enable_trigger(&mut self) -> Result<Statement, SqlError> {
        let enable = self.is_kw("ENABLE");
        self.advance();
        self.expect_kw("TRIGGER")?;
        let names = self.trigger_names()?;
        self.expect_kw("ON")?;
        if self.is_kw("DATABASE") || self.is_kw("ALL") {
            return Err(self.unsupported("DDL triggers"));
        }
        let table = self.object_name()?;
        Ok(Statement::EnableTrigger {
            names,
            table,
            enable,
        })
    }

    /// `ALL` (None) or `name [, ...]`.
    pub(crate) fn trigger_names(&mut self) -> Result<Option<Vec<ObjectName>>, SqlError> {
        if self.eat_kw("ALL") {
            return Ok(None);
        }
        let mut names = vec![self.object_name()?];
        while self.eat_sym(Sym::Comma) {
            names.push(self.object_name()?);
        }
        Ok(Some(names))
    }
}
