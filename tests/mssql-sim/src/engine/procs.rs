//! `EXEC` of stored procedures: the stand-in's test controls in schema
//! `mssql_sim` (nothing like them exists in SQL Server), and `sp_executesql`
//! sent as batch text.

use super::session::StmtResult;
use super::{ResultSink, Session};
use crate::error::SqlError;
use crate::sql::ast::{ExecArg, ObjectName};
use crate::value::{Len, SqlType, Value};
use std::time::Duration;

impl Session {
    /// Evaluates EXEC arguments: by name (lower-cased, without '@') or position.
    fn exec_args(&mut self, args: &[ExecArg]) -> Result<Vec<(Option<String>, Value)>, SqlError> {
        let mut out = Vec::new();
        for a in args {
            let v = self.eval_scalar(&a.value, None)?;
            out.push((
                a.name
                    .as_ref()
                    .map(|n| n.trim_start_matches('@').to_ascii_lowercase()),
                v,
            ));
        }
        Ok(out)
    }

    pub(super) fn exec_procedure(
        &mut self,
        procedure: &ObjectName,
        args: &[ExecArg],
        out: &mut dyn ResultSink,
    ) -> StmtResult {
        let schema = procedure.schema().unwrap_or("dbo").to_ascii_lowercase();
        let name = procedure.name().to_ascii_lowercase();
        if schema == "mssql_sim" {
            return self.control(&name, args, out);
        }
        if name == "sp_executesql" {
            // sp_executesql @stmt, @params, @P1 = v1, ...: as text, the
            // parameters are plain named arguments.
            let vals = self.exec_args(args)?;
            let Some((_, Value::String(stmt))) = vals.first().cloned() else {
                return Err(SqlError::new(
                    214,
                    16,
                    2,
                    "Procedure expects parameter '@statement' of type 'ntext/nchar/nvarchar'.",
                ));
            };
            let params: Vec<crate::value::Param> = vals
                .iter()
                .skip(2)
                .filter_map(|(n, v)| {
                    n.as_ref().map(|n| crate::value::Param {
                        name: format!("@{n}"),
                        ty: value_type(v),
                        value: v.clone(),
                        output: false,
                    })
                })
                .collect();
            let saved = std::mem::take(&mut self.st.vars);
            self.run_batch(&stmt, &params, out);
            self.st.vars = saved;
            return Ok(None);
        }
        Err(SqlError::new(
            2812,
            16,
            62,
            format!(
                "Could not find stored procedure '{}'.",
                procedure.parts.join(".")
            ),
        ))
    }

    fn control(&mut self, name: &str, args: &[ExecArg], _out: &mut dyn ResultSink) -> StmtResult {
        let vals = self.exec_args(args)?;
        let arg = |key: &str, pos: usize| -> Option<Value> {
            vals.iter()
                .find(|(n, _)| n.as_deref() == Some(key))
                .or_else(|| vals.get(pos).filter(|(n, _)| n.is_none()))
                .map(|(_, v)| v.clone())
        };
        let int = |v: Option<Value>| -> Option<i64> {
            match v {
                Some(Value::Int(i)) => Some(i),
                Some(Value::Decimal(u, s)) => Some((u / super::convert::pow10(s as u32)) as i64),
                Some(Value::String(s)) => s.trim().parse().ok(),
                _ => None,
            }
        };
        let text = |v: Option<Value>| -> Option<String> {
            match v {
                Some(Value::String(s)) => Some(s),
                _ => None,
            }
        };
        let missing = |p: &str| {
            SqlError::new(201, 16, 4, format!("Procedure or function 'mssql_sim.{name}' expects parameter '@{p}', which was not supplied."))
        };
        let controls = self.engine.opts.controls.clone();
        match name {
            "drop_connections" => controls.bump_drop_generation(), // the network layer cuts the sockets after this reply (server/conn.rs)
            "refuse_connections" => {
                let s = int(arg("seconds", 0)).ok_or_else(|| missing("seconds"))?;
                controls.refuse_for(Duration::from_secs(s.clamp(0, 86_400) as u64));
            }
            "set_latency" => {
                let ms = int(arg("ms", 0)).ok_or_else(|| missing("ms"))?;
                controls.set_latency(Duration::from_millis(ms.clamp(0, 600_000) as u64));
            }
            "fail_next" => {
                let table = text(arg("table", 0)).ok_or_else(|| missing("table"))?;
                let error = int(arg("error", 1)).ok_or_else(|| missing("error"))?;
                let count = int(arg("count", 2)).unwrap_or(1);
                controls.fail_next(&table, error as i32, count.clamp(0, u32::MAX as i64) as u32);
            }
            "cut_after_commit" => {
                let count = int(arg("count", 0)).unwrap_or(1);
                controls.cut_after_commit(count.max(0) as u64);
            }
            "ct_cleanup" => self.engine.ct_cleanup()?,
            "snapshot_save" => {
                let n = text(arg("name", 0)).ok_or_else(|| missing("name"))?;
                self.engine.snapshot_save(&n)?;
            }
            "snapshot_restore" => {
                let n = text(arg("name", 0)).ok_or_else(|| missing("name"))?;
                // This session's own transaction is lost as well.
                if self.st.txn.take().is_some() && !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                self.engine.snapshot_restore(&n)?;
                self.st.restore_generation = self
                    .engine
                    .restore_generation
                    .load(std::sync::atomic::Ordering::SeqCst);
            }
            _ => {
                return Err(SqlError::new(
                    2812,
                    16,
                    62,
                    format!("Could not find stored procedure 'mssql_sim.{name}'."),
                ));
            }
        }
        Ok(None)
    }
}

/// The type a value of an untyped argument is given.
fn value_type(v: &Value) -> SqlType {
    match v {
        Value::Null | Value::Int(_) => SqlType::BigInt,
        Value::Float(_) => SqlType::Float,
        Value::Decimal(_, s) => SqlType::Decimal {
            precision: 38,
            scale: *s,
        },
        Value::String(_) => SqlType::NVarChar(Len::Max),
        Value::Binary(_) => SqlType::VarBinary(Len::Max),
        Value::Guid(_) => SqlType::UniqueIdentifier,
        Value::Date(_) => SqlType::Date,
        Value::Time(_) => SqlType::Time(7),
        Value::DateTime { .. } => SqlType::DateTime2(7),
        Value::DateTimeOffset { .. } => SqlType::DateTimeOffset(7),
        Value::Variant(_) => SqlType::Variant,
    }
}
