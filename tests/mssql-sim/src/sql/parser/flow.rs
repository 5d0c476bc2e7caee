//! Control of flow: IF/ELSE, BEGIN...END, WHILE, BREAK, CONTINUE, RETURN,
//! TRY/CATCH and the argument-less THROW.
//!
//! docs/t-sql/language-elements/{if-else,begin-end,while,break,continue,return,
//! try-catch,throw}-transact-sql.md. SQL Server checks at compile time that
//! BREAK/CONTINUE are inside a WHILE (135/136), that a batch-level RETURN
//! has no value (178) and that a bare THROW is inside a CATCH block (10704),
//! so the parser does too.

use super::Parser;
use crate::error::SqlError;
use crate::sql::ast::{Located, Statement};
use crate::sql::lexer::{Sym, TokKind};

fn compile_error(number: i32, message: &str, line: i32) -> SqlError {
    let mut e = SqlError::new(number, 15, 1, message);
    e.line = line;
    e
}

impl<'a> Parser<'a> {
    /// `IF cond stmt [ELSE stmt]`
    pub(crate) fn if_statement(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        let condition = self.condition()?;
        let then = self.statement(false)?;
        // A `;` may end the THEN statement before ELSE.
        let save = self.pos;
        while self.eat_sym(Sym::Semicolon) {}
        let otherwise = if self.eat_kw("ELSE") {
            Some(Box::new(self.statement(false)?))
        } else {
            self.pos = save;
            None
        };
        Ok(Statement::If {
            condition,
            then: Box::new(then),
            otherwise,
        })
    }

    /// `WHILE cond stmt`
    pub(crate) fn while_statement(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        let condition = self.condition()?;
        self.loops += 1;
        let body = self.statement(false);
        self.loops -= 1;
        Ok(Statement::While {
            condition,
            body: Box::new(body?),
        })
    }

    /// `BREAK`, `CONTINUE`, `RETURN`; `word` is the upper-cased keyword.
    pub(crate) fn jump(&mut self, word: &str) -> Result<Statement, SqlError> {
        let t = self.advance();
        match word {
            "BREAK" if self.loops == 0 => Err(compile_error(
                135,
                "Cannot use a BREAK statement outside the scope of a WHILE statement.",
                t.line,
            )),
            "CONTINUE" if self.loops == 0 => Err(compile_error(
                136,
                "Cannot use a CONTINUE statement outside the scope of a WHILE statement.",
                t.line,
            )),
            "BREAK" => Ok(Statement::Break),
            "CONTINUE" => Ok(Statement::Continue),
            _ => {
                // A value after RETURN: only procedures and functions return one.
                let value_follows = match self.peek().kind {
                    TokKind::Integer
                    | TokKind::Decimal
                    | TokKind::Float
                    | TokKind::Money
                    | TokKind::Variable
                    | TokKind::Global
                    | TokKind::Str { .. }
                    | TokKind::Binary => true,
                    TokKind::Sym(s) => matches!(s, Sym::LParen | Sym::Minus | Sym::Plus),
                    _ => false,
                };
                if value_follows {
                    return Err(compile_error(
                        178,
                        "A RETURN statement with a return value cannot be used in this context.",
                        t.line,
                    ));
                }
                Ok(Statement::Return)
            }
        }
    }

    /// The statements of a block up to its `END` (`END TRY` / `END CATCH`
    /// when `closing` names the block kind). A BEGIN...END or TRY block
    /// needs at least one statement; a CATCH block may be empty.
    pub(crate) fn block_body(&mut self, closing: Option<&str>) -> Result<Vec<Located>, SqlError> {
        let mut body = Vec::new();
        loop {
            let mut terminated = body.is_empty();
            while self.eat_sym(Sym::Semicolon) {
                terminated = true;
            }
            let at_end = self.is_kw("END") && closing.is_none_or(|k| self.is_kw_at(1, k));
            if at_end {
                if body.is_empty() && closing != Some("CATCH") {
                    // `BEGIN END`: SQL Server stops at END.
                    return Err(self.error_here());
                }
                self.advance();
                if closing.is_some() {
                    self.advance();
                }
                return Ok(body);
            }
            if self.at_eof() {
                // SQL Server names the last token of the unterminated block.
                return Err(self.error_here());
            }
            self.check_with_terminated(terminated)?;
            body.push(self.located(false)?);
        }
    }

    /// After `BEGIN TRY`: `... END TRY BEGIN CATCH ... END CATCH`.
    pub(crate) fn try_catch(&mut self) -> Result<Statement, SqlError> {
        let try_block = self.block_body(Some("TRY"))?;
        // The CATCH block must follow at once (try-catch-transact-sql.md).
        while self.eat_sym(Sym::Semicolon) {}
        self.expect_kw("BEGIN")?;
        self.expect_kw("CATCH")?;
        self.catches += 1;
        let catch_block = self.block_body(Some("CATCH"));
        self.catches -= 1;
        Ok(Statement::TryCatch {
            try_block,
            catch_block: catch_block?,
        })
    }

    /// `THROW` without arguments; the keyword is consumed.
    pub(crate) fn rethrow(&mut self) -> Result<Statement, SqlError> {
        if self.catches == 0 {
            let line = self.toks[self.pos.saturating_sub(1)].line;
            return Err(compile_error(
                10704,
                "To rethrow an error, a THROW statement must be used inside a CATCH block. Insert the THROW statement inside a CATCH block, or add error parameters to the THROW statement.",
                line,
            ));
        }
        Ok(Statement::Rethrow)
    }
}
