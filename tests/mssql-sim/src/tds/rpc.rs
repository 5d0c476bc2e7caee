//! Requests that carry ALL_HEADERS: SQL batch (MS-TDS 2.2.6.7), RPC
//! (2.2.6.6) and transaction manager (2.2.6.9).

use super::src::{utf16_to_string, Cur, Src, TdsError};
use super::types::{read_type_info, read_value};
use crate::engine::Isolation;
use crate::value::{Len, Param, SqlType, Value};

/// Reads ALL_HEADERS (MS-TDS 2.2.5.3) and returns the transaction descriptor
/// of its transaction-descriptor header (type 2), 0 when absent.
pub fn all_headers(c: &mut Cur<'_>) -> Result<u64, TdsError> {
    let total = c.u32_le()? as usize;
    if total < 4 || total - 4 > c.remaining() {
        return Err(TdsError::protocol("invalid ALL_HEADERS length"));
    }
    let mut h = Cur::new(c.take(total - 4)?);
    let mut descriptor = 0;
    while !h.is_empty() {
        let len = h.u32_le()? as usize;
        if len < 6 || len - 4 > h.remaining() {
            return Err(TdsError::protocol("invalid header length in ALL_HEADERS"));
        }
        let ty = h.u16_le()?;
        let mut body = Cur::new(h.take(len - 6)?);
        if ty == 2 {
            descriptor = body.u64_le()?;
        }
    }
    Ok(descriptor)
}

/// A SQL batch: its text after ALL_HEADERS.
pub fn batch(data: &[u8]) -> Result<(u64, String), TdsError> {
    let mut c = Cur::new(data);
    let desc = all_headers(&mut c)?;
    let text = utf16_to_string(c.rest())?;
    Ok((desc, text))
}

/// A decoded RPC request.
#[derive(Debug, Clone, PartialEq)]
pub struct Rpc {
    pub descriptor: u64,
    /// The procedure: `sp_executesql` for proc id 10, else the name or
    /// `#<id>` for other ids.
    pub proc_name: String,
    pub params: Vec<Param>,
}

/// The well-known procedure ids (MS-TDS 2.2.6.6).
fn proc_id_name(id: u16) -> String {
    match id {
        10 => "sp_executesql".into(),
        11 => "sp_prepare".into(),
        12 => "sp_execute".into(),
        13 => "sp_prepexec".into(),
        15 => "sp_unprepare".into(),
        other => format!("#{other}"),
    }
}

/// One RPC of a request as it arrived: parameters with their wire types
/// (`None`: NULLTYPE), not yet named by declarations.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRpc {
    pub proc_name: String,
    params: Vec<(String, u8, Option<SqlType>, Value)>,
}

/// BatchFlag and NoExecFlag (TDS 7.2 and later) between the RPCs of one
/// request (MS-TDS 2.2.6.6, RPCReqBatch). A parameter name is at most 128
/// characters, so neither can start one.
const BATCH_FLAG: u8 = 0xFF;
const NO_EXEC_FLAG: u8 = 0xFE;

/// RPCs per request: far more than drivers send (the ODBC driver batches
/// one per parameter set of an array bind), bounded so a request cannot
/// queue unbounded work.
pub const RPCS_PER_REQUEST_MAX: usize = 10_000;

/// Decodes an RPC request: its transaction descriptor and its RPCs, in
/// order (one, or several separated by BatchFlag, e.g. the ODBC driver's
/// `executemany`).
pub fn rpc_batch(data: &[u8]) -> Result<(u64, Vec<RawRpc>), TdsError> {
    let mut c = Cur::new(data);
    let descriptor = all_headers(&mut c)?;
    let mut calls = Vec::new();
    let mut total_params = 0usize;
    loop {
        let name_len = c.u16_le()?;
        let proc_name = if name_len == 0xFFFF {
            proc_id_name(c.u16_le()?)
        } else {
            c.utf16(name_len as usize)?
        };
        let _option_flags = c.u16_le()?;
        let mut params = Vec::new();
        let mut more = false;
        while !c.is_empty() {
            if matches!(c.peek(), Some(BATCH_FLAG | NO_EXEC_FLAG)) {
                c.u8()?;
                more = !c.is_empty();
                break;
            }
            let name = c.b_varchar()?;
            let status = c.u8()?;
            let w = read_type_info(&mut c)?;
            let value = read_value(&mut c, &w)?;
            params.push((name, status, w.ty, value));
            if params.len() > 2100 {
                // SQL Server's limit on parameters per request.
                return Err(TdsError::protocol("more than 2100 parameters"));
            }
            total_params += 1;
        }
        calls.push(RawRpc { proc_name, params });
        if calls.len() > RPCS_PER_REQUEST_MAX || total_params > 2100 * 64 {
            return Err(TdsError::protocol("too many RPCs in one request"));
        }
        if !more {
            break;
        }
    }
    Ok((descriptor, calls))
}

/// One decoded RPC (the first of its request), declarations applied: for
/// tests and clients that send one.
pub fn rpc(data: &[u8]) -> Result<Rpc, TdsError> {
    let (descriptor, calls) = rpc_batch(data)?;
    calls
        .into_iter()
        .next()
        .map(|raw| raw.resolve(descriptor, &|_| None))
        .ok_or_else(|| TdsError::protocol("RPC request without a call"))
}

impl RawRpc {
    /// Names and types the parameters by their declarations:
    /// sp_executesql's and sp_prepexec's own second parameter, or what an
    /// sp_execute's handle was prepared with (`prepared(handle)`), so NULLs
    /// that arrived as NULLTYPE get their declared type and positional
    /// (unnamed) parameters their names
    /// (docs/relational-databases/system-stored-procedures/sp-executesql-transact-sql.md,
    /// sp-prepexec-transact-sql.md, sp-execute-transact-sql.md).
    pub fn resolve(self, descriptor: u64, prepared: &dyn Fn(i32) -> Option<String>) -> Rpc {
        let RawRpc { proc_name, params } = self;
        let declared = |i: usize| match params.get(i) {
            Some((_, _, _, Value::String(s))) => parse_declarations(s),
            _ => Vec::new(),
        };
        let lower = proc_name.to_ascii_lowercase();
        let (decls, first) = match lower.as_str() {
            "sp_executesql" => (declared(1), 2),
            "sp_prepexec" => (declared(1), 3),
            "sp_execute" => match params.first() {
                Some((_, _, _, Value::Int(h))) => (
                    prepared(*h as i32)
                        .map(|d| parse_declarations(&d))
                        .unwrap_or_default(),
                    1,
                ),
                _ => (Vec::new(), 1),
            },
            _ => (Vec::new(), usize::MAX),
        };
        let out = params
            .into_iter()
            .enumerate()
            .map(|(i, (name, status, ty, value))| {
                let decl = if i >= first {
                    decls.get(i - first)
                } else {
                    None
                };
                let ty = ty
                    .or(decl.map(|d| d.1))
                    .unwrap_or(SqlType::NVarChar(Len::N(4000)));
                let name = if name.is_empty() {
                    decl.map(|d| d.0.clone()).unwrap_or_default()
                } else {
                    name
                };
                Param {
                    name,
                    ty,
                    value,
                    output: status & 0x01 != 0,
                }
            })
            .collect();
        Rpc {
            descriptor,
            proc_name,
            params: out,
        }
    }
}

/// `@P1 int,@P2 numeric(10,2) OUTPUT` → names and types. Unknown type names
/// are skipped (the value's own TYPE_INFO is used then).
pub fn parse_declarations(s: &str) -> Vec<(String, SqlType)> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, ch) in s.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
        .into_iter()
        .filter_map(|p| {
            let p = p.trim();
            let (name, ty) = p.split_once(char::is_whitespace)?;
            Some((name.to_string(), parse_type_name(ty.trim())?))
        })
        .collect()
}

/// Parses a T-SQL type name as drivers write it in declarations.
pub fn parse_type_name(t: &str) -> Option<SqlType> {
    let t = t.trim();
    let lower = t.to_ascii_lowercase();
    let lower = lower
        .trim_end_matches("output")
        .trim_end_matches("out")
        .trim();
    let (base, args) = match lower.find('(') {
        Some(i) => (
            lower[..i].trim(),
            lower[i + 1..].trim_end_matches(')').trim(),
        ),
        None => (lower, ""),
    };
    let nums: Vec<&str> = args
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    let n = |i: usize, d: u16| -> Option<u16> {
        match nums.get(i) {
            None => Some(d),
            Some(s) => s.parse().ok(),
        }
    };
    let len = |d: u16| -> Option<Len> {
        match nums.first() {
            Some(&"max") => Some(Len::Max),
            _ => Some(Len::N(n(0, d)?)),
        }
    };
    Some(match base {
        "tinyint" => SqlType::TinyInt,
        "smallint" => SqlType::SmallInt,
        "int" => SqlType::Int,
        "bigint" => SqlType::BigInt,
        "bit" => SqlType::Bit,
        "decimal" | "numeric" => SqlType::Decimal {
            precision: n(0, 18)?.clamp(1, 38) as u8,
            scale: n(1, 0)?.min(38) as u8,
        },
        "float" => match n(0, 53)? {
            1..=24 => SqlType::Real,
            _ => SqlType::Float,
        },
        "real" => SqlType::Real,
        "money" => SqlType::Money,
        "smallmoney" => SqlType::SmallMoney,
        "nvarchar" => SqlType::NVarChar(len(1)?),
        "varchar" => SqlType::VarChar(len(1)?),
        "nchar" => SqlType::NChar(n(0, 1)?),
        "char" => SqlType::Char(n(0, 1)?),
        "varbinary" => SqlType::VarBinary(len(1)?),
        "binary" => SqlType::Binary(n(0, 1)?),
        "uniqueidentifier" => SqlType::UniqueIdentifier,
        "date" => SqlType::Date,
        "time" => SqlType::Time(n(0, 7)?.min(7) as u8),
        "datetime" => SqlType::DateTime,
        "smalldatetime" => SqlType::SmallDateTime,
        "datetime2" => SqlType::DateTime2(n(0, 7)?.min(7) as u8),
        "datetimeoffset" => SqlType::DateTimeOffset(n(0, 7)?.min(7) as u8),
        "xml" => SqlType::Xml,
        "text" => SqlType::Text,
        "ntext" => SqlType::NText,
        "image" => SqlType::Image,
        "sql_variant" => SqlType::Variant,
        "hierarchyid" => SqlType::HierarchyId,
        "geography" => SqlType::Geography,
        "geometry" => SqlType::Geometry,
        _ => return None,
    })
}

/// A transaction manager request (MS-TDS 2.2.6.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TmRequest {
    Begin(Option<Isolation>),
    Commit {
        then_begin: Option<Option<Isolation>>,
    },
    Rollback {
        then_begin: Option<Option<Isolation>>,
    },
}

fn isolation(b: u8) -> Result<Option<Isolation>, TdsError> {
    Ok(match b {
        0 => None,
        1 => Some(Isolation::ReadUncommitted),
        2 => Some(Isolation::ReadCommitted),
        3 => Some(Isolation::RepeatableRead),
        4 => Some(Isolation::Serializable),
        5 => Some(Isolation::Snapshot),
        other => {
            return Err(TdsError::protocol(format!(
                "invalid isolation level {other}"
            )))
        }
    })
}

pub fn transaction_manager(data: &[u8]) -> Result<TmRequest, TdsError> {
    let mut c = Cur::new(data);
    all_headers(&mut c)?;
    let ty = c.u16_le()?;
    match ty {
        5 => {
            let iso = isolation(c.u8()?)?;
            let _name = c.b_varchar()?;
            Ok(TmRequest::Begin(iso))
        }
        7 | 8 => {
            let _name = c.b_varchar()?;
            let flags = if c.is_empty() { 0 } else { c.u8()? };
            let then_begin = if flags & 0x01 != 0 {
                let iso = isolation(c.u8()?)?;
                let _name = c.b_varchar()?;
                Some(iso)
            } else {
                None
            };
            Ok(if ty == 7 {
                TmRequest::Commit { then_begin }
            } else {
                TmRequest::Rollback { then_begin }
            })
        }
        other => Err(TdsError::protocol(format!(
            "transaction manager request type {other} is not supported"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_parse() {
        let d =
            parse_declarations("@P1 int,@P2 numeric(10,2),@P3 nvarchar(max) OUTPUT,@P4 datetime2");
        assert_eq!(d.len(), 4);
        assert_eq!(
            d[1].1,
            SqlType::Decimal {
                precision: 10,
                scale: 2
            }
        );
        assert_eq!(d[2].1, SqlType::NVarChar(Len::Max));
        assert_eq!(d[3].1, SqlType::DateTime2(7));
        assert!(parse_declarations("").is_empty());
    }

    #[test]
    fn bad_all_headers_are_errors() {
        assert!(batch(&[0xFF, 0xFF, 0xFF, 0x7F, 0, 0]).is_err());
        assert!(batch(&[4, 0, 0]).is_err());
        // Valid empty headers then odd-length text.
        assert!(batch(&[4, 0, 0, 0, b'a']).is_err());
        assert_eq!(batch(&[4, 0, 0, 0, b'a', 0]).expect("batch").1, "a");
    }

    /// One RPC by id with INTN(4) parameters (name, value).
    fn call(out: &mut Vec<u8>, id: u16, params: &[(&str, i32)]) {
        out.extend_from_slice(&0xFFFFu16.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        for (name, v) in params {
            let units: Vec<u16> = name.encode_utf16().collect();
            out.push(units.len() as u8);
            for u in units {
                out.extend_from_slice(&u.to_le_bytes());
            }
            out.push(0); // status
            out.extend_from_slice(&[0x26, 4, 4]); // INTN(4), value length 4
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    #[test]
    fn batched_rpcs_split_at_batch_flag() {
        let mut data = vec![4, 0, 0, 0]; // empty ALL_HEADERS
        call(&mut data, 12, &[("", 1), ("@P1", 5)]);
        data.push(BATCH_FLAG);
        call(&mut data, 12, &[("", 1), ("", 6)]);
        let (_, calls) = rpc_batch(&data).expect("decodes");
        assert_eq!(calls.len(), 2);
        assert!(calls.iter().all(|c| c.proc_name == "sp_execute"));
        // The second call's positional value is named by the handle's
        // declarations, resolved when it runs.
        let second = calls[1]
            .clone()
            .resolve(0, &|h| (h == 1).then(|| "@P1 int".to_string()));
        assert_eq!(second.params[1].name, "@P1");
        assert_eq!(second.params[1].value, Value::Int(6));
        // A trailing flag ends the request without another call.
        data.push(BATCH_FLAG);
        assert_eq!(rpc_batch(&data).expect("decodes").1.len(), 2);
        // A call cut short is an error, not a panic.
        assert!(rpc_batch(&data[..data.len() - 3]).is_err());
    }
}
