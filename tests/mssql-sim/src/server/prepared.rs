//! Prepared statements of one connection: the system procedures Microsoft's
//! ODBC driver sends for parameterised statements (SQLPrepare/SQLExecute,
//! and SQLExecDirect with parameters), by id in the RPC header (MS-TDS
//! 2.2.6.6):
//!
//! - `sp_prepare handle OUTPUT, params, stmt [, options]` (id 11): prepares,
//!   returns the new handle (docs/relational-databases/system-stored-procedures/sp-prepare-transact-sql.md);
//! - `sp_execute handle, [bound_param ...]` (id 12): runs a prepared
//!   statement with values matching its declarations (sp-execute-transact-sql.md);
//! - `sp_prepexec handle OUTPUT, params, stmt [, bound_param ...]` (id 13):
//!   both in one request (sp-prepexec-transact-sql.md);
//! - `sp_unprepare handle` (id 15): discards it (sp-unprepare-transact-sql.md).
//!
//! A handle lives as long as its connection (SQL Server's handles are per
//! connection too) and is an int from 1 up. The handle goes back as an
//! output parameter (RETURNVALUE) after the statement's results. A handle
//! SQL Server does not know is error 8179. Limit: [`HANDLES_MAX`] per
//! connection, so a client that never unprepares cannot exhaust memory
//! (SQL Server has no such number; the stand-in refuses with error 8179's
//! neighbour 701, "insufficient system memory", past it).

use crate::error::SqlError;
use crate::value::{Param, SqlType, Value};
use std::collections::HashMap;

/// Prepared statements per connection.
pub const HANDLES_MAX: usize = 100_000;

/// One prepared statement: its declarations and its text.
#[derive(Debug, Clone)]
struct Statement {
    declarations: String,
    text: String,
}

#[derive(Debug, Default)]
pub struct Prepared {
    handles: HashMap<i32, Statement>,
    next: i32,
}

/// What an RPC on prepared statements asks the connection to do.
pub enum Call<'a> {
    /// Run `text` with `params`; then send `handle` back as output
    /// parameter 0 when `Some`.
    Run {
        text: String,
        params: &'a [Param],
        handle: Option<(String, i32)>,
    },
    /// Nothing to run: send `handle` back (sp_prepare) or nothing
    /// (sp_unprepare).
    Reply {
        handle: Option<(String, i32)>,
    },
    Error(SqlError),
}

fn not_found(handle: i64) -> SqlError {
    // docs/relational-databases/errors-events/database-engine-events-and-errors-8000-to-8999.md
    SqlError::new(
        8179,
        16,
        2,
        format!("Could not find prepared statement with handle {handle}."),
    )
}

fn text_of(p: Option<&Param>, name: &str) -> Result<String, SqlError> {
    match p.map(|p| &p.value) {
        Some(Value::String(s)) => Ok(s.clone()),
        // "Input a NULL value if the statement is not parameterized."
        Some(Value::Null) if name == "@params" => Ok(String::new()),
        _ => Err(SqlError::new(
            214,
            16,
            2,
            format!("Procedure expects parameter '{name}' of type 'ntext/nchar/nvarchar'."),
        )),
    }
}

impl Prepared {
    /// The declarations of `handle` (for decoding an `sp_execute`).
    pub fn declarations(&self, handle: i32) -> Option<String> {
        self.handles.get(&handle).map(|s| s.declarations.clone())
    }

    fn prepare(&mut self, declarations: String, text: String) -> Result<i32, SqlError> {
        if self.handles.len() >= HANDLES_MAX {
            return Err(SqlError::new(
                701,
                17,
                1,
                format!(
                    "There is insufficient system memory to run this query (the stand-in keeps at most {HANDLES_MAX} prepared statements per connection; sp_unprepare some)."
                ),
            ));
        }
        self.next = self.next.checked_add(1).unwrap_or(1);
        while self.handles.contains_key(&self.next) {
            self.next = self.next.checked_add(1).unwrap_or(1);
        }
        self.handles
            .insert(self.next, Statement { declarations, text });
        Ok(self.next)
    }

    /// Decides what `proc_name` (one of the four) does with `params`.
    pub fn call<'a>(&mut self, proc_name: &str, params: &'a [Param]) -> Call<'a> {
        let handle_name = params.first().map(|p| p.name.clone()).unwrap_or_default();
        match proc_name.to_ascii_lowercase().as_str() {
            "sp_prepare" | "sp_prepexec" => {
                let decls = match text_of(params.get(1), "@params") {
                    Ok(d) => d,
                    Err(e) => return Call::Error(e),
                };
                let text = match text_of(params.get(2), "@stmt") {
                    Ok(t) => t,
                    Err(e) => return Call::Error(e),
                };
                let handle = match self.prepare(decls, text.clone()) {
                    Ok(h) => h,
                    Err(e) => return Call::Error(e),
                };
                if proc_name.eq_ignore_ascii_case("sp_prepare") {
                    Call::Reply {
                        handle: Some((handle_name, handle)),
                    }
                } else {
                    Call::Run {
                        text,
                        params: params.get(3..).unwrap_or(&[]),
                        handle: Some((handle_name, handle)),
                    }
                }
            }
            "sp_execute" => match params.first().map(|p| &p.value) {
                Some(Value::Int(h)) => match self.handles.get(&(*h as i32)) {
                    Some(s) => Call::Run {
                        text: s.text.clone(),
                        params: params.get(1..).unwrap_or(&[]),
                        handle: None,
                    },
                    None => Call::Error(not_found(*h)),
                },
                other => Call::Error(not_found(match other {
                    Some(Value::Int(h)) => *h,
                    _ => 0,
                })),
            },
            _ => match params.first().map(|p| &p.value) {
                Some(Value::Int(h)) if self.handles.remove(&(*h as i32)).is_some() => {
                    Call::Reply { handle: None }
                }
                Some(Value::Int(h)) => Call::Error(not_found(*h)),
                _ => Call::Error(not_found(0)),
            },
        }
    }
}

/// The type the handle goes back as.
pub const HANDLE_TYPE: SqlType = SqlType::Int;

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, value: Value) -> Param {
        Param {
            name: name.into(),
            ty: SqlType::Int,
            value,
            output: false,
        }
    }

    #[test]
    fn prepare_execute_unprepare() {
        let mut prep = Prepared::default();
        let params = vec![
            p("", Value::Null),
            p("", Value::String("@P1 int".into())),
            p("", Value::String("SELECT @P1".into())),
            p("@P1", Value::Int(4)),
        ];
        let h = match prep.call("sp_prepexec", &params) {
            Call::Run {
                text,
                params,
                handle: Some((_, h)),
            } => {
                assert_eq!(text, "SELECT @P1");
                assert_eq!(params.len(), 1);
                h
            }
            _ => panic!("sp_prepexec runs"),
        };
        assert_eq!(h, 1);
        assert_eq!(prep.declarations(h).as_deref(), Some("@P1 int"));
        let exec = vec![p("", Value::Int(h as i64)), p("@P1", Value::Int(5))];
        assert!(matches!(
            prep.call("sp_execute", &exec),
            Call::Run { handle: None, .. }
        ));
        let un = vec![p("", Value::Int(h as i64))];
        assert!(matches!(
            prep.call("sp_unprepare", &un),
            Call::Reply { handle: None }
        ));
        match prep.call("sp_execute", &exec) {
            Call::Error(e) => assert_eq!(e.number, 8179),
            _ => panic!("an unprepared handle is gone"),
        }
    }
}
