//! One RPC call of a request, run against the session: the prepared
//! statement procedures (see [`super::prepared`]), `sp_executesql`, and
//! procedures called by name.

use super::prepared::{Call, Prepared, HANDLE_TYPE};
use super::BackendSession;
use crate::engine::{Done, ResultSink};
use crate::error::SqlError;
use crate::tds::reply::Reply;
use crate::tds::rpc::Rpc;
use crate::value::{Param, Value};
use std::io::Write;

/// Runs `call`, writing its results into `reply` (the caller ends the RPC).
pub fn run<W: Write>(
    session: &mut dyn BackendSession,
    prepared: &mut Prepared,
    call: Rpc,
    reply: &mut Reply<'_, W>,
) {
    let prepared = matches!(
        call.proc_name.to_ascii_lowercase().as_str(),
        "sp_prepare" | "sp_execute" | "sp_prepexec" | "sp_unprepare"
    )
    .then(|| prepared.call(&call.proc_name, &call.params));
    if let Some(prepared) = prepared {
        let handle = match prepared {
            Call::Run {
                text,
                params,
                handle,
            } => {
                session.execute(&text, params, reply);
                handle
            }
            Call::Reply { handle } => handle,
            Call::Error(e) => {
                reply.error(&e);
                reply.done(Done {
                    count: None,
                    error: true,
                    in_transaction: false,
                });
                None
            }
        };
        if let Some((name, h)) = handle {
            reply.output(0, &name, HANDLE_TYPE, Value::Int(h as i64));
        }
    } else if call.proc_name.eq_ignore_ascii_case("sp_executesql") {
        match call.params.first().map(|p| &p.value) {
            Some(Value::String(sql)) => {
                let sql = sql.clone();
                let params: &[Param] = call.params.get(2..).unwrap_or(&[]);
                session.execute(&sql, params, reply);
            }
            _ => {
                reply.error(&SqlError::new(
                    214,
                    16,
                    2,
                    "Procedure expects parameter '@statement' of type 'ntext/nchar/nvarchar'.",
                ));
                reply.done(Done {
                    count: None,
                    error: true,
                    in_transaction: false,
                });
            }
        }
    } else if call.proc_name.starts_with('#') {
        // sp_prepare/sp_execute and friends by id: not emulated.
        reply.error(&SqlError::new(
            2812,
            16,
            62,
            format!(
                "Could not find stored procedure '{}' (the stand-in runs sp_executesql and named procedures only).",
                call.proc_name
            ),
        ));
        reply.done(Done {
            count: None,
            error: true,
            in_transaction: false,
        });
    } else {
        // A procedure called by name (python-tds' callproc): run it as
        // EXEC with the parameters bound by name.
        let args: Vec<String> = call
            .params
            .iter()
            .filter(|p| !p.name.is_empty())
            .map(|p| format!("{n} = {n}", n = p.name))
            .collect();
        let sql = format!("EXEC {} {}", call.proc_name, args.join(", "));
        session.execute(&sql, &call.params, reply);
    }
}
