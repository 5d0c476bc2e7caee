//! Statement dispatch and the control-of-flow, transaction, session and
//! variable statements.
//!
//! docs/t-sql/language-elements/{begin-end,if-else,declare-local-variable,set-local-variable,
//! begin-transaction,commit-transaction,rollback-transaction,save-transaction,print,
//! throw,raiserror,execute}-transact-sql.md. SET statements are in `set.rs`.

use super::Parser;
use crate::error::SqlError;
use crate::sql::ast::{BinaryOp, ExecArg, Expr, Literal, ObjectName, Statement};
use crate::sql::lexer::{CompoundOp, Sym, TokKind};

/// `a op= b` as `a = a op b`.
pub(crate) fn compound(target: Expr, op: CompoundOp, value: Expr) -> Expr {
    let op = match op {
        CompoundOp::Plus => BinaryOp::Plus,
        CompoundOp::Minus => BinaryOp::Minus,
        CompoundOp::Multiply => BinaryOp::Multiply,
        CompoundOp::Divide => BinaryOp::Divide,
        CompoundOp::Modulo => BinaryOp::Modulo,
        CompoundOp::BitAnd => BinaryOp::BitAnd,
        CompoundOp::BitOr => BinaryOp::BitOr,
        CompoundOp::BitXor => BinaryOp::BitXor,
    };
    Expr::Binary {
        left: Box::new(target),
        op,
        right: Box::new(value),
    }
}

impl<'a> Parser<'a> {
    pub(crate) fn statement(&mut self, first_in_batch: bool) -> Result<Statement, SqlError> {
        self.enter()?;
        let r = self.statement_inner(first_in_batch);
        self.leave();
        r
    }

    fn statement_inner(&mut self, first_in_batch: bool) -> Result<Statement, SqlError> {
        let t = *self.peek();
        if self.is_sym(Sym::LParen) && self.is_query_start() {
            return Ok(Statement::Query(Box::new(self.query()?)));
        }
        let Some(word) = self.word_upper() else {
            return Err(self.error_at(&t));
        };
        match word.as_str() {
            "SELECT" => Ok(Statement::Query(Box::new(self.query()?))),
            "WITH" => self.with_statement(),
            "INSERT" => self.insert(),
            "UPDATE" => self.update(),
            "DELETE" => self.delete(),
            "MERGE" => self.merge(),
            "CREATE" => self.create(),
            "DROP" => self.drop(),
            "ALTER" => self.alter(),
            "TRUNCATE" => {
                self.advance();
                self.expect_kw("TABLE")?;
                Ok(Statement::TruncateTable(self.object_name()?))
            }
            "BEGIN" => self.begin(),
            "COMMIT" => {
                self.advance();
                self.tran_name_opt(true)?;
                if self.is_kw("WITH") && self.is_sym_at(1, Sym::LParen) {
                    // WITH (DELAYED_DURABILITY = ON): durability is not modelled.
                    self.advance();
                    self.skip_parens()?;
                }
                Ok(Statement::Commit)
            }
            "ROLLBACK" => {
                self.advance();
                let name = self.tran_name_opt(true)?;
                Ok(Statement::Rollback { name })
            }
            "SAVE" => {
                self.advance();
                if !self.eat_kw("TRAN") {
                    self.expect_kw("TRANSACTION")?;
                }
                let name = self.tran_name()?;
                Ok(Statement::SaveTransaction(name))
            }
            "SET" => self.set(),
            "DECLARE" => self.declare(),
            "EXEC" | "EXECUTE" => {
                self.advance();
                self.exec_body()
            }
            "USE" => {
                self.advance();
                Ok(Statement::Use(self.ident()?))
            }
            "IF" => self.if_statement(),
            "PRINT" => {
                self.advance();
                Ok(Statement::Print(self.expr()?))
            }
            "THROW" => self.throw(),
            "RAISERROR" => self.raiserror(),
            "END" | "ELSE" => Err(self.error_at(&t)),
            "WAITFOR" => {
                self.advance();
                if !self.eat_kw("DELAY") {
                    return Err(self.unsupported("WAITFOR other than DELAY"));
                }
                Ok(Statement::WaitFor {
                    delay: self.expr_prec_add()?,
                })
            }
            "WHILE" => self.while_statement(),
            "ENABLE" | "DISABLE" if self.is_kw_at(1, "TRIGGER") => self.enable_trigger(),
            "BREAK" | "CONTINUE" | "RETURN" => self.jump(&word),
            "GOTO" | "GRANT" | "DENY" | "REVOKE" | "DBCC" | "OPEN" | "CLOSE" | "FETCH"
            | "DEALLOCATE" | "BULK" | "BACKUP" | "RESTORE" | "KILL" | "CHECKPOINT" => {
                Err(self.unsupported_at(&t, &format!("the {word} statement")))
            }
            _ if first_in_batch && self.is_ident() => {
                // Implicit EXEC of the batch's first statement.
                self.exec_body()
            }
            _ => Err(self.error_at(&t)),
        }
    }

    /// `WITH CHANGE_TRACKING_CONTEXT (expr) <dml>` or a query with CTEs.
    fn with_statement(&mut self) -> Result<Statement, SqlError> {
        if self.is_kw_at(1, "CHANGE_TRACKING_CONTEXT") {
            self.advance();
            self.advance();
            self.expect_sym(Sym::LParen)?;
            let context = self.expr()?;
            self.expect_sym(Sym::RParen)?;
            let t = *self.peek();
            let statement = match self.word_upper().as_deref() {
                Some("INSERT") => self.insert()?,
                Some("UPDATE") => self.update()?,
                Some("DELETE") => self.delete()?,
                Some("MERGE") => self.merge()?,
                // Parsed so that the engine can answer 22108 ("cannot be used
                // with a SELECT statement"), as SQL Server does.
                Some("SELECT") => Statement::Query(Box::new(self.query()?)),
                _ => return Err(self.error_at(&t)),
            };
            return Ok(Statement::WithChangeTrackingContext {
                context,
                statement: Box::new(statement),
            });
        }
        Ok(Statement::Query(Box::new(self.query()?)))
    }

    /// `BEGIN TRAN[SACTION] [name]`, a `BEGIN ... END` block or TRY/CATCH.
    fn begin(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        if self.eat_kw("TRAN") || self.eat_kw("TRANSACTION") {
            let name = self.tran_name_opt(false)?;
            if self.is_kw("WITH") && self.is_kw_at(1, "MARK") {
                self.advance();
                self.advance();
                if matches!(self.peek().kind, TokKind::Str { .. }) {
                    self.advance();
                }
            }
            return Ok(Statement::BeginTransaction { name });
        }
        if self.is_kw("DISTRIBUTED") {
            return Err(self.unsupported("distributed transactions"));
        }
        if self.is_kw("DIALOG") || self.is_kw("CONVERSATION") {
            return Err(self.unsupported("Service Broker conversations"));
        }
        if self.eat_kw("TRY") {
            return self.try_catch();
        }
        Ok(Statement::Block(self.block_body(None)?))
    }

    /// The optional name after `TRAN`/`TRANSACTION`/`WORK`; `allow_work`
    /// for COMMIT and ROLLBACK.
    fn tran_name_opt(&mut self, allow_work: bool) -> Result<Option<String>, SqlError> {
        let mut had_tran = false;
        if self.eat_kw("TRAN") || self.eat_kw("TRANSACTION") {
            had_tran = true;
        } else if allow_work && self.eat_kw("WORK") {
            return Ok(None);
        }
        // Without TRAN, COMMIT/ROLLBACK take no name (a following word starts
        // the next statement); with it, a name or @variable may follow.
        if !had_tran && allow_work {
            return Ok(None);
        }
        if (self.is_ident() && !self.at_statement_start())
            || matches!(self.peek().kind, TokKind::Variable)
        {
            return Ok(Some(self.tran_name()?));
        }
        Ok(None)
    }

    fn tran_name(&mut self) -> Result<String, SqlError> {
        if matches!(self.peek().kind, TokKind::Variable) {
            let t = self.advance();
            return Ok(self.text(&t).to_string());
        }
        self.ident()
    }

    pub(crate) fn on_off(&mut self) -> Result<bool, SqlError> {
        if self.eat_kw("ON") {
            Ok(true)
        } else if self.eat_kw("OFF") {
            Ok(false)
        } else {
            Err(self.error_here())
        }
    }

    /// An unsigned integer literal.
    pub(crate) fn integer(&mut self) -> Result<i64, SqlError> {
        let t = *self.peek();
        if let TokKind::Integer = t.kind {
            if let Ok(n) = self.text(&t).parse::<i64>() {
                self.advance();
                return Ok(n);
            }
        }
        Err(self.error_at(&t))
    }

    /// `DECLARE @x [AS] type [= expr], ...`
    fn declare(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        let mut out = Vec::new();
        loop {
            let t = *self.peek();
            if !matches!(t.kind, TokKind::Variable) {
                if self.is_ident() && self.is_kw_at(1, "CURSOR") {
                    return Err(self.unsupported("cursors"));
                }
                return Err(self.error_at(&t));
            }
            self.advance();
            let name = self.text(&t)[1..].to_string();
            self.eat_kw("AS");
            if self.is_kw("TABLE") {
                // `DECLARE @t TABLE (...)` declares that one variable only
                // (declare-local-variable-transact-sql.md).
                if !out.is_empty() {
                    return Err(self.error_here());
                }
                self.advance();
                let (columns, constraints) = self.table_definition()?;
                return Ok(Statement::DeclareTable(Box::new(
                    crate::sql::ast::DeclareTable {
                        name: self.text(&t).to_string(),
                        columns,
                        constraints,
                    },
                )));
            }
            if self.is_kw("CURSOR") {
                return Err(self.unsupported("cursors"));
            }
            let ty = self.data_type()?;
            let init = if self.eat_sym(Sym::Eq) {
                Some(self.expr()?)
            } else {
                None
            };
            out.push((name, ty, init));
            if !self.eat_sym(Sym::Comma) {
                return Ok(Statement::Declare(out));
            }
        }
    }

    /// After `EXEC`: `[@ret =] proc [args]` or `('dynamic sql')`.
    fn exec_body(&mut self) -> Result<Statement, SqlError> {
        if self.is_sym(Sym::LParen) {
            // EXEC ('text'): dynamic SQL, the same as sp_executesql with the
            // text and no parameters (execute-transact-sql.md).
            self.advance();
            let e = self.expr()?;
            self.expect_sym(Sym::RParen)?;
            if self.is_kw("AS") || self.is_kw("AT") {
                return Err(self.unsupported("EXEC (...) AS/AT"));
            }
            return Ok(Statement::Exec {
                procedure: ObjectName {
                    parts: vec!["sp_executesql".into()],
                },
                args: vec![ExecArg {
                    name: None,
                    value: e,
                    output: false,
                }],
            });
        }
        if matches!(self.peek().kind, TokKind::Variable) {
            return Err(self.unsupported("EXEC @variable"));
        }
        let procedure = self.object_name()?;
        let mut args = Vec::new();
        if self.exec_arg_start() {
            loop {
                args.push(self.exec_arg()?);
                if !self.eat_sym(Sym::Comma) {
                    break;
                }
            }
        }
        if self.is_kw("WITH") && self.is_kw_at(1, "RECOMPILE") {
            self.advance();
            self.advance();
        }
        Ok(Statement::Exec { procedure, args })
    }

    /// Whether an EXEC argument follows (anything but the end of the statement).
    fn exec_arg_start(&self) -> bool {
        let t = self.peek();
        match &t.kind {
            TokKind::Eof | TokKind::Sym(Sym::Semicolon) => false,
            TokKind::Word => {
                !self.at_statement_start() && !self.is_kw("END") && !self.is_kw("ELSE")
            }
            _ => true,
        }
    }

    fn exec_arg(&mut self) -> Result<ExecArg, SqlError> {
        let mut name = None;
        if matches!(self.peek().kind, TokKind::Variable) && self.is_sym_at(1, Sym::Eq) {
            let t = self.advance();
            name = Some(self.text(&t)[1..].to_string());
            self.advance();
        }
        let t = *self.peek();
        let value = match &t.kind {
            // A bare word is a character string (`EXEC sp_help Orders`).
            TokKind::Word if !self.current_is_reserved() && !self.is_sym_at(1, Sym::Dot) => {
                self.advance();
                Expr::Literal(Literal::String {
                    value: self.text(&t).to_string(),
                    national: false,
                })
            }
            _ => self.expr()?,
        };
        let output = self.eat_kw("OUTPUT") || self.eat_kw("OUT");
        Ok(ExecArg {
            name,
            value,
            output,
        })
    }

    /// `THROW number, message, state` (throw-transact-sql.md).
    fn throw(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        if self.is_sym(Sym::Semicolon) || self.at_eof() || self.is_kw("END") {
            return self.rethrow();
        }
        let number = self.expr()?;
        self.expect_sym(Sym::Comma)?;
        let message = self.expr()?;
        self.expect_sym(Sym::Comma)?;
        let state = self.expr()?;
        Ok(Statement::Raise {
            number: Some(number),
            message,
            severity: None,
            state,
        })
    }

    /// `RAISERROR (msg, severity, state) [WITH NOWAIT|LOG|SETERROR]` (raiserror-transact-sql.md).
    fn raiserror(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        self.expect_sym(Sym::LParen)?;
        let message = self.expr()?;
        self.expect_sym(Sym::Comma)?;
        let severity = self.expr()?;
        self.expect_sym(Sym::Comma)?;
        let state = self.expr()?;
        if self.is_sym(Sym::Comma) {
            return Err(self.unsupported("RAISERROR substitution arguments"));
        }
        self.expect_sym(Sym::RParen)?;
        if self.eat_kw("WITH") {
            loop {
                if !(self.eat_kw("NOWAIT") || self.eat_kw("LOG") || self.eat_kw("SETERROR")) {
                    return Err(self.error_here());
                }
                if !self.eat_sym(Sym::Comma) {
                    break;
                }
            }
        }
        Ok(Statement::Raise {
            number: None,
            message,
            severity: Some(severity),
            state,
        })
    }
}
