//! Statement dispatch and the control-of-flow, transaction, session and
//! variable statements.
//!
//! docs/t-sql/language-elements/{begin-end,if-else,declare-local-variable,set-local-variable,
//! begin-transaction,commit-transaction,rollback-transaction,save-transaction,print,
//! throw,raiserror,execute}-transact-sql.md, docs/t-sql/statements/set-*-transact-sql.md.

use super::Parser;
use crate::error::SqlError;
use crate::sql::ast::{
    BinaryOp, ExecArg, Expr, IsolationLevel, Literal, Located, ObjectName, Statement,
};
use crate::sql::lexer::{CompoundOp, Sym, TokKind};

/// The SET options that take ON or OFF (set-statements-transact-sql.md;
/// NO_BROWSETABLE and DISABLE_DEF_CNST_CHK are undocumented but sent by drivers).
const ON_OFF_OPTIONS: &[&str] = &[
    "ANSI_DEFAULTS",
    "ANSI_NULL_DFLT_OFF",
    "ANSI_NULL_DFLT_ON",
    "ANSI_NULLS",
    "ANSI_PADDING",
    "ANSI_WARNINGS",
    "ARITHABORT",
    "ARITHIGNORE",
    "CONCAT_NULL_YIELDS_NULL",
    "CURSOR_CLOSE_ON_COMMIT",
    "DISABLE_DEF_CNST_CHK",
    "FMTONLY",
    "FORCEPLAN",
    "IMPLICIT_TRANSACTIONS",
    "NOCOUNT",
    "NOEXEC",
    "NO_BROWSETABLE",
    "NUMERIC_ROUNDABORT",
    "PARSEONLY",
    "QUOTED_IDENTIFIER",
    "REMOTE_PROC_TRANSACTIONS",
    "SHOWPLAN_ALL",
    "SHOWPLAN_TEXT",
    "SHOWPLAN_XML",
    "XACT_ABORT",
];

/// Error 195 (database-engine-events-and-errors-0-to-999.md); the state says
/// what followed the name: 5 for ON/OFF, 7 for a value.
pub fn unrecognized_set_option(name: &str, state: u8) -> SqlError {
    SqlError::new(
        195,
        15,
        state,
        format!("'{name}' is not a recognized SET option."),
    )
}

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
            "WHILE" | "RETURN" | "GOTO" | "BREAK" | "CONTINUE" | "GRANT" | "DENY" | "REVOKE"
            | "DBCC" | "OPEN" | "CLOSE" | "FETCH" | "DEALLOCATE" | "BULK" | "BACKUP"
            | "RESTORE" | "KILL" | "CHECKPOINT" => {
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
                _ => return Err(self.error_at(&t)),
            };
            return Ok(Statement::WithChangeTrackingContext {
                context,
                statement: Box::new(statement),
            });
        }
        Ok(Statement::Query(Box::new(self.query()?)))
    }

    /// `BEGIN TRAN[SACTION] [name]` or a `BEGIN ... END` block.
    fn begin(&mut self) -> Result<Statement, SqlError> {
        let begin = self.advance();
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
        if self.is_kw("TRY")
            || self.is_kw("CATCH")
            || self.is_kw("DIALOG")
            || self.is_kw("CONVERSATION")
        {
            return Err(
                self.unsupported(&format!("BEGIN {}", self.word_upper().unwrap_or_default()))
            );
        }
        let mut body = Vec::new();
        loop {
            let mut terminated = body.is_empty();
            while self.eat_sym(Sym::Semicolon) {
                terminated = true;
            }
            if self.eat_kw("END") {
                break;
            }
            if self.at_eof() {
                // SQL Server names the last token of the unterminated block.
                return Err(self.error_here());
            }
            self.check_with_terminated(terminated)?;
            body.push(self.located(false)?);
        }
        if body.is_empty() {
            // `BEGIN END` is a syntax error in SQL Server (near 'END').
            let _ = begin;
            return Err(self.error_at(&self.toks[self.pos.saturating_sub(1)]));
        }
        Ok(Statement::Block(body))
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

    fn set(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        let t = *self.peek();
        if matches!(t.kind, TokKind::Variable) {
            self.advance();
            let name = self.text(&t)[1..].to_string();
            let op = match self.advance().kind {
                TokKind::Sym(Sym::Eq) => None,
                TokKind::Sym(Sym::CompoundAssign(op)) => Some(op),
                _ => return Err(self.error_at(&self.toks[self.pos.saturating_sub(1)])),
            };
            let mut value = self.expr()?;
            if let Some(op) = op {
                value = compound(Expr::Variable(name.clone()), op, value);
            }
            return Ok(Statement::SetVariable { name, value });
        }
        let Some(option) = self.word_upper() else {
            return Err(self.error_at(&t));
        };
        match option.as_str() {
            "IDENTITY_INSERT" => {
                self.advance();
                let table = self.object_name()?;
                let on = self.on_off()?;
                Ok(Statement::SetIdentityInsert { table, on })
            }
            "TRANSACTION" => {
                self.advance();
                self.expect_kw("ISOLATION")?;
                self.expect_kw("LEVEL")?;
                let level = match self.word_upper().as_deref() {
                    Some("READ") => {
                        self.advance();
                        if self.eat_kw("UNCOMMITTED") {
                            IsolationLevel::ReadUncommitted
                        } else {
                            self.expect_kw("COMMITTED")?;
                            IsolationLevel::ReadCommitted
                        }
                    }
                    Some("REPEATABLE") => {
                        self.advance();
                        self.expect_kw("READ")?;
                        IsolationLevel::RepeatableRead
                    }
                    Some("SERIALIZABLE") => {
                        self.advance();
                        IsolationLevel::Serializable
                    }
                    Some("SNAPSHOT") => {
                        self.advance();
                        IsolationLevel::Snapshot
                    }
                    _ => return Err(self.error_here()),
                };
                Ok(Statement::SetIsolationLevel(level))
            }
            "LOCK_TIMEOUT" => {
                self.advance();
                let neg = self.eat_sym(Sym::Minus);
                let n = self.integer()?;
                Ok(Statement::SetLockTimeout(if neg { -n } else { n }))
            }
            // Options that take a value the stand-in does not model: accepted so
            // that drivers' connection preambles run (set-textsize-transact-sql.md, ...).
            "TEXTSIZE"
            | "DATEFIRST"
            | "DATEFORMAT"
            | "LANGUAGE"
            | "DEADLOCK_PRIORITY"
            | "CONTEXT_INFO"
            | "QUERY_GOVERNOR_COST_LIMIT"
            | "FIPS_FLAGGER" => {
                self.advance();
                self.set_value()?;
                Ok(Statement::SetOption { option, on: true })
            }
            "ROWCOUNT" => {
                self.advance();
                let t = *self.peek();
                if self.integer()? == 0 {
                    Ok(Statement::SetOption { option, on: false })
                } else {
                    Err(self.unsupported_at(&t, "SET ROWCOUNT other than 0"))
                }
            }
            _ => self.set_on_off_list(),
        }
    }

    /// The value of a value-taking SET option: a signed number, a word, a
    /// string or a binary constant.
    fn set_value(&mut self) -> Result<(), SqlError> {
        let neg = self.eat_sym(Sym::Minus);
        let v = *self.peek();
        let ok = match v.kind {
            TokKind::Integer => true,
            TokKind::Word | TokKind::Str { .. } | TokKind::Binary => !neg,
            _ => false,
        };
        if !ok {
            return Err(self.error_at(&v));
        }
        self.advance();
        Ok(())
    }

    /// `SET opt1, opt2, ... ON|OFF` and `SET STATISTICS IO, TIME ON|OFF`
    /// (set-statements-transact-sql.md). Names outside the closed list are
    /// error 195, state 5 before ON/OFF and 7 before a value.
    fn set_on_off_list(&mut self) -> Result<Statement, SqlError> {
        let statistics = self.eat_kw("STATISTICS");
        let mut options = Vec::new();
        loop {
            let t = *self.peek();
            let Some(word) = self
                .word_upper()
                .filter(|w| !matches!(w.as_str(), "ON" | "OFF"))
            else {
                return Err(self.error_at(&t));
            };
            self.advance();
            let option = if statistics {
                if !matches!(word.as_str(), "IO" | "TIME" | "XML" | "PROFILE") {
                    return Err(self.error_at(&t));
                }
                format!("STATISTICS {word}")
            } else {
                word
            };
            options.push((option, t));
            if !self.eat_sym(Sym::Comma) {
                break;
            }
        }
        let next = *self.peek();
        let unknown = options
            .iter()
            .find(|(o, _)| !statistics && !ON_OFF_OPTIONS.contains(&o.as_str()));
        if let Some((_, t)) = unknown {
            let name = self.text(t).to_string();
            let state = match next.kind {
                TokKind::Word if self.is_kw("ON") || self.is_kw("OFF") => 5,
                TokKind::Eof | TokKind::Sym(Sym::Semicolon) => {
                    return Err(self.error_at(t));
                }
                _ => 7,
            };
            let mut e = unrecognized_set_option(&name, state);
            e.line = t.line;
            return Err(e);
        }
        if !(self.is_kw("ON") || self.is_kw("OFF")) {
            // An ON/OFF option given something else: SQL Server names the option.
            let (_, t) = &options[options.len() - 1];
            return Err(self.error_at(t));
        }
        let on = self.on_off()?;
        if options.len() == 1 {
            let (option, _) = options.swap_remove(0);
            return Ok(Statement::SetOption { option, on });
        }
        // Several options at once become a block of single SETs.
        let list = options
            .into_iter()
            .map(|(option, t)| Located {
                line: t.line,
                text: format!("SET {option} {}", if on { "ON" } else { "OFF" }),
                stmt: Statement::SetOption { option, on },
            })
            .collect();
        Ok(Statement::Block(list))
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
                return Err(self.unsupported("table variables"));
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
        if self.is_sym(Sym::Semicolon) {
            // `proc;1` numbered procedures are not modelled; the `;` ends it.
        }
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

    /// `IF cond stmt [ELSE stmt]`
    fn if_statement(&mut self) -> Result<Statement, SqlError> {
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

    /// `THROW number, message, state` (throw-transact-sql.md).
    fn throw(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        if self.is_sym(Sym::Semicolon) || self.at_eof() {
            return Err(self.unsupported("THROW without arguments (rethrow)"));
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
