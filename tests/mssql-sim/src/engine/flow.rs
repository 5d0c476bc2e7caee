//! Control flow of a batch: statement lists, IF, WHILE with BREAK/CONTINUE,
//! RETURN, TRY...CATCH with THROW, WAITFOR DELAY, and what an error does to
//! the rest of the batch.
//!
//! docs/t-sql/language-elements/while-transact-sql.md, if-else-transact-sql.md,
//! return-transact-sql.md, try-catch-transact-sql.md ("errors ... in a TRY
//! block transfer control to the CATCH block"; nothing is sent to the client),
//! throw-transact-sql.md, waitfor-transact-sql.md;
//! set-xact-abort-transact-sql.md for how far an error reaches.

use super::{Done, ResultSink, Session};
use crate::error::SqlError;
use crate::sql::ast::{Expr, Located, Statement};
use crate::value::{Len, SqlType, Value};
use std::time::{Duration, Instant};

/// Where execution goes after a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flow {
    #[default]
    Normal,
    Break,
    Continue,
    /// RETURN: the batch ends without error.
    Return,
    /// An error ended the batch.
    Abort,
}

/// Iterations a WHILE may run before the stand-in gives up (a runaway loop in
/// a test must not hang the suite); cancellation is checked every iteration.
const MAX_WHILE_ITERATIONS: u64 = 10_000_000;
/// Longest WAITFOR DELAY honoured.
const MAX_WAITFOR: Duration = Duration::from_secs(300);

/// Errors after which SQL Server stops the batch even without XACT_ABORT
/// (conversion errors and deferred name resolution failures).
fn aborts_batch(e: &SqlError) -> bool {
    matches!(
        e.number,
        245 | 241 | 8114 | 8169 | 208 | 207 | 4104 | 137 | 1205 | 3960 | 3952
    )
}

impl Session {
    /// Runs the statements of a batch.
    pub(super) fn run_list(
        &mut self,
        stmts: &[Located],
        out: &mut dyn ResultSink,
    ) -> Result<(), SqlError> {
        for l in stmts {
            if out.cancelled() || self.st.flow != Flow::Normal {
                break;
            }
            self.exec_stmt(&l.stmt, l.line, out)?;
        }
        Ok(())
    }

    /// Runs one statement. Inside a TRY block an error is returned (to reach
    /// the CATCH block); elsewhere it is reported here and `Ok` is returned,
    /// with `flow` set to `Abort` when the batch must stop.
    pub(super) fn exec_stmt(
        &mut self,
        stmt: &Statement,
        line: i32,
        out: &mut dyn ResultSink,
    ) -> Result<(), SqlError> {
        let r = self.exec_stmt_inner(stmt, line, out);
        match r {
            Ok(()) => Ok(()),
            Err(mut e) => {
                if e.line <= 1 {
                    e.line = line;
                }
                if self.st.try_depth > 0 {
                    return Err(e);
                }
                self.report_error(&e, out);
                Ok(())
            }
        }
    }

    fn exec_stmt_inner(
        &mut self,
        stmt: &Statement,
        line: i32,
        out: &mut dyn ResultSink,
    ) -> Result<(), SqlError> {
        match stmt {
            Statement::Block(stmts) => self.run_list(stmts, out),
            Statement::If { condition, then, otherwise } => {
                if self.truth(condition)? {
                    self.exec_stmt(then, line, out)
                } else if let Some(o) = otherwise {
                    self.exec_stmt(o, line, out)
                } else {
                    Ok(())
                }
            }
            Statement::While { condition, body } => {
                let mut n: u64 = 0;
                while self.truth(condition)? {
                    n += 1;
                    if n > MAX_WHILE_ITERATIONS || out.cancelled() {
                        return Err(SqlError::new(
                            50000,
                            16,
                            1,
                            format!("mssql-sim stopped a WHILE loop after {MAX_WHILE_ITERATIONS} iterations."),
                        ));
                    }
                    self.exec_stmt(body, line, out)?;
                    match self.st.flow {
                        Flow::Break => {
                            self.st.flow = Flow::Normal;
                            break;
                        }
                        Flow::Continue => self.st.flow = Flow::Normal,
                        Flow::Return | Flow::Abort => break,
                        Flow::Normal => {}
                    }
                }
                Ok(())
            }
            Statement::Break => {
                self.st.flow = Flow::Break;
                Ok(())
            }
            Statement::Continue => {
                self.st.flow = Flow::Continue;
                Ok(())
            }
            Statement::Return => {
                self.st.flow = Flow::Return;
                Ok(())
            }
            Statement::TryCatch { try_block, catch_block } => {
                self.st.try_depth += 1;
                let r = self.run_list(try_block, out);
                self.st.try_depth -= 1;
                let Err(e) = r else {
                    return Ok(());
                };
                // A deadlock victim's or snapshot conflict's transaction is
                // already rolled back when the CATCH block runs.
                if e.dooms_transaction() && self.st.txn.is_some() {
                    let _ = self.rollback_transaction(None, out);
                }
                if self.st.flow == Flow::Abort {
                    self.st.flow = Flow::Normal;
                }
                let saved = self.st.info.last_error.replace(e);
                let r = self.run_list(catch_block, out);
                self.st.info.last_error = saved;
                r
            }
            Statement::Rethrow => Err(self.st.info.last_error.clone().unwrap_or_else(|| {
                SqlError::new(10704, 15, 1, "To rethrow an error, a THROW statement must be used inside a CATCH block. Insert the THROW statement inside a CATCH block, or add error parameters to the THROW statement.")
            })),
            Statement::WaitFor { delay } => self.wait_for(delay, out),
            simple => {
                let count = self.run_statement(simple, out)?;
                out.done(Done {
                    count,
                    error: false,
                    in_transaction: self.in_transaction(),
                });
                Ok(())
            }
        }
    }

    fn truth(&mut self, condition: &Expr) -> Result<bool, SqlError> {
        let c = self.eval_scalar(condition, None)?;
        Ok(matches!(c, Value::Int(i) if i != 0))
    }

    /// Reports an error outside TRY: ERROR token, DONE with the error bit,
    /// rollback when the error or XACT_ABORT dooms the transaction.
    pub(super) fn report_error(&mut self, e: &SqlError, out: &mut dyn ResultSink) {
        out.error(e);
        let doom = e.dooms_transaction() || self.st.xact_abort;
        if doom && self.st.txn.is_some() {
            let _ = self.rollback_transaction(None, out);
        }
        out.done(Done {
            count: None,
            error: true,
            in_transaction: self.in_transaction(),
        });
        if doom || aborts_batch(e) {
            self.st.flow = Flow::Abort;
        }
    }

    fn wait_for(&mut self, delay: &Expr, out: &mut dyn ResultSink) -> Result<(), SqlError> {
        let v = self.eval_scalar(delay, Some(&SqlType::VarChar(Len::N(30))))?;
        let text = match v {
            Value::String(s) => s,
            _ => String::new(),
        };
        let bad = || {
            SqlError::new(
                148,
                15,
                1,
                format!("Incorrect time syntax in time string '{text}' used with WAITFOR."),
            )
        };
        let ticks = match super::convert::convert(
            &Value::String(text.clone()),
            Some(&SqlType::VarChar(Len::N(30))),
            &SqlType::Time(3),
            super::convert::Target::Expr,
        ) {
            Ok(Value::Time(t)) => t,
            _ => return Err(bad()),
        };
        let total = Duration::from_micros((ticks / 10).max(0) as u64).min(MAX_WAITFOR);
        let end = Instant::now() + total;
        while Instant::now() < end {
            if out.cancelled() {
                break;
            }
            std::thread::sleep((end - Instant::now()).min(Duration::from_millis(20)));
        }
        out.done(Done {
            count: None,
            error: false,
            in_transaction: self.in_transaction(),
        });
        Ok(())
    }
}
