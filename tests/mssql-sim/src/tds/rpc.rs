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

pub fn rpc(data: &[u8]) -> Result<Rpc, TdsError> {
    let mut c = Cur::new(data);
    let descriptor = all_headers(&mut c)?;
    let name_len = c.u16_le()?;
    let proc_name = if name_len == 0xFFFF {
        proc_id_name(c.u16_le()?)
    } else {
        c.utf16(name_len as usize)?
    };
    let _option_flags = c.u16_le()?;
    let mut params = Vec::new();
    while !c.is_empty() {
        // 0x80 / 0xFF separate batched RPCs in one message; tiberius sends one.
        let name = c.b_varchar()?;
        let status = c.u8()?;
        let w = read_type_info(&mut c)?;
        let value = read_value(&mut c, &w)?;
        params.push((name, status, w.ty, value));
        if params.len() > 2100 {
            // SQL Server's limit on parameters per request.
            return Err(TdsError::protocol("more than 2100 parameters"));
        }
    }
    // Declared types from sp_executesql's second parameter name NULLs that
    // arrived as NULLTYPE and positional (unnamed) parameters.
    let decls = if proc_name.eq_ignore_ascii_case("sp_executesql") {
        match params.get(1) {
            Some((_, _, _, Value::String(s))) => parse_declarations(s),
            _ => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let out = params
        .into_iter()
        .enumerate()
        .map(|(i, (name, status, ty, value))| {
            let decl = if i >= 2 { decls.get(i - 2) } else { None };
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
    Ok(Rpc {
        descriptor,
        proc_name,
        params: out,
    })
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
}
