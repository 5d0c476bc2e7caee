//! SET statements: variables, IDENTITY_INSERT, isolation level, lock
//! timeout and session options.
//!
//! docs/t-sql/statements/set-statements-transact-sql.md and the set-*-transact-sql.md pages.

use super::stmt::compound;
use super::Parser;
use crate::error::SqlError;
use crate::sql::ast::{Expr, IsolationLevel, Located, Statement};
use crate::sql::lexer::{Sym, TokKind};

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

impl<'a> Parser<'a> {
    pub(crate) fn set(&mut self) -> Result<Statement, SqlError> {
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
}
