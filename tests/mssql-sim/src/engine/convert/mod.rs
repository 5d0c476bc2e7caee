//! Conversions between SQL Server types, with SQL Server's errors:
//! docs/t-sql/functions/cast-and-convert-transact-sql.md (implicit and explicit
//! conversions, truncation and rounding rules),
//! docs/relational-databases/errors-events/database-engine-events-and-errors-0-to-999.md
//! (245, 241), ...-8000-to-8999.md (8114, 8115, 8152, 8169), ...-2000-to-2999.md (2628).

use crate::error::SqlError;
use crate::value::{Len, SqlType, Value};
mod lob;
mod styles;
mod temporal;

pub use styles::convert_styled;

use temporal::{convert_temporal, fmt_date, fmt_ticks};
pub use temporal::{date_of, days_of, now_local, now_utc};

use super::types::TICKS_PER_DAY;

/// Where a converted value goes: an expression (CAST silently truncates
/// strings) or a column (truncation is error 2628).
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Expr,
    Column {
        /// `db.dbo.T`
        table: &'a str,
        column: &'a str,
    },
}

fn overflow(to: &SqlType, from: Option<&SqlType>) -> SqlError {
    let to_name = match to {
        SqlType::Decimal { .. } => "numeric".to_string(),
        other => other.base_name().to_string(),
    };
    let from_name = match from {
        Some(SqlType::Decimal { .. }) => "numeric".to_string(),
        Some(t) if t.is_integer() || matches!(t, SqlType::Money | SqlType::Float) => {
            t.base_name().to_string()
        }
        _ => "expression".to_string(),
    };
    SqlError::new(
        8115,
        16,
        2,
        format!("Arithmetic overflow error converting {from_name} to data type {to_name}."),
    )
}

fn conversion_failed(v: &str, from: Option<&SqlType>, to: &SqlType) -> SqlError {
    let from_name = from.map(|t| t.base_name()).unwrap_or("varchar");
    match to {
        SqlType::Decimal { .. }
        | SqlType::Money
        | SqlType::SmallMoney
        | SqlType::Float
        | SqlType::Real => SqlError::new(
            8114,
            16,
            5,
            format!(
                "Error converting data type {from_name} to {}.",
                if matches!(to, SqlType::Decimal { .. }) {
                    "numeric"
                } else {
                    to.base_name()
                }
            ),
        ),
        SqlType::UniqueIdentifier => SqlError::new(
            8169,
            16,
            2,
            "Conversion failed when converting from a character string to uniqueidentifier.",
        ),
        SqlType::Date
        | SqlType::Time(_)
        | SqlType::DateTime
        | SqlType::SmallDateTime
        | SqlType::DateTime2(_)
        | SqlType::DateTimeOffset(_) => SqlError::new(
            241,
            16,
            1,
            "Conversion failed when converting date and/or time from character string.",
        ),
        _ => SqlError::new(
            245,
            16,
            1,
            format!(
                "Conversion failed when converting the {from_name} value '{v}' to data type {}.",
                to.base_name()
            ),
        ),
    }
}

fn not_allowed(from: Option<&SqlType>, to: &SqlType) -> SqlError {
    SqlError::new(
        529,
        16,
        2,
        format!(
            "Explicit conversion from data type {} to {} is not allowed.",
            from.map(|t| t.base_name()).unwrap_or("unknown"),
            to.base_name()
        ),
    )
}

pub fn pow10(n: u32) -> i128 {
    10i128.pow(n.min(38))
}

/// Rescales an unscaled decimal, rounding half away from zero.
pub fn rescale(u: i128, from: u8, to: u8) -> Option<i128> {
    if to >= from {
        u.checked_mul(pow10((to - from) as u32))
    } else {
        let d = pow10((from - to) as u32);
        let q = u / d;
        let r = u % d;
        if r.abs() * 2 >= d {
            Some(q + u.signum())
        } else {
            Some(q)
        }
    }
}

fn int_range(ty: &SqlType) -> (i64, i64) {
    match ty {
        SqlType::TinyInt => (0, 255),
        SqlType::SmallInt => (i16::MIN as i64, i16::MAX as i64),
        SqlType::Int => (i32::MIN as i64, i32::MAX as i64),
        _ => (i64::MIN, i64::MAX),
    }
}

/// Parses a decimal literal text into (unscaled, scale).
pub fn parse_decimal(s: &str) -> Option<(i128, u8)> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (ip, fp) = match body.find('.') {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => (body, ""),
    };
    if ip.is_empty() && fp.is_empty() {
        return None;
    }
    if !ip.bytes().all(|b| b.is_ascii_digit()) || !fp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if ip.len() + fp.len() > 38 {
        return None;
    }
    let digits = format!("{ip}{fp}");
    let u: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    Some((if neg { -u } else { u }, fp.len() as u8))
}

pub fn format_decimal(u: i128, scale: u8) -> String {
    let neg = u < 0;
    let mut digits = u.unsigned_abs().to_string();
    let scale = scale as usize;
    if scale > 0 {
        while digits.len() <= scale {
            digits.insert(0, '0');
        }
        digits.insert(digits.len() - scale, '.');
    }
    if neg {
        digits.insert(0, '-');
    }
    digits
}

/// Text form of a value, as CAST(v AS nvarchar) gives it.
pub fn to_text(v: &Value, ty: Option<&SqlType>) -> Option<String> {
    Some(match v {
        Value::Null => return None,
        Value::Int(i) => i.to_string(),
        Value::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{}", *f as i64)
            } else {
                format!("{f}")
            }
        }
        Value::Decimal(u, s) => {
            if matches!(ty, Some(SqlType::Money | SqlType::SmallMoney)) {
                format_decimal(rescale(*u, *s, 2).unwrap_or(*u), 2)
            } else {
                format_decimal(*u, *s)
            }
        }
        Value::String(s) => s.clone(),
        Value::Variant(b) => return to_text(&b.1, Some(&b.0)),
        Value::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Guid(g) => uuid::Uuid::from_bytes(*g).to_string().to_uppercase(),
        Value::Date(d) => fmt_date(*d),
        Value::Time(t) => fmt_ticks(*t, scale_of(ty).unwrap_or(7)),
        Value::DateTime { days, ticks } => match ty {
            Some(SqlType::DateTime) => format!("{} {}", fmt_date(*days), fmt_ticks(*ticks, 3)),
            Some(SqlType::SmallDateTime) => format!("{} {}", fmt_date(*days), fmt_ticks(*ticks, 0)),
            _ => format!(
                "{} {}",
                fmt_date(*days),
                fmt_ticks(*ticks, scale_of(ty).unwrap_or(7))
            ),
        },
        Value::DateTimeOffset {
            days,
            ticks,
            offset_minutes,
        } => {
            // Displayed in local time of the offset.
            let local =
                *days as i64 * TICKS_PER_DAY + *ticks + *offset_minutes as i64 * 600_000_000;
            let sign = if *offset_minutes < 0 { '-' } else { '+' };
            let o = offset_minutes.unsigned_abs();
            format!(
                "{} {} {sign}{:02}:{:02}",
                fmt_date(local.div_euclid(TICKS_PER_DAY) as i32),
                fmt_ticks(local.rem_euclid(TICKS_PER_DAY), scale_of(ty).unwrap_or(7)),
                o / 60,
                o % 60
            )
        }
    })
}

fn scale_of(ty: Option<&SqlType>) -> Option<u8> {
    match ty? {
        SqlType::Time(s) | SqlType::DateTime2(s) | SqlType::DateTimeOffset(s) => Some(*s),
        _ => None,
    }
}

fn string_len_ok(s: &str, ty: &SqlType) -> Option<usize> {
    // Returns the limit when `s` exceeds it.
    let (limit, len) = match ty {
        SqlType::NVarChar(Len::N(n)) | SqlType::NChar(n) => (*n as usize, s.encode_utf16().count()),
        // varchar counts bytes of its code page; the stand-in's code page is
        // single-byte (Latin1), so one character is one byte.
        SqlType::VarChar(Len::N(n)) | SqlType::Char(n) => (*n as usize, s.chars().count()),
        _ => return None,
    };
    if len > limit {
        Some(limit)
    } else {
        None
    }
}

fn truncate_chars(s: &str, ty: &SqlType, limit: usize) -> String {
    match ty {
        SqlType::NVarChar(_) | SqlType::NChar(_) => {
            let units: Vec<u16> = s.encode_utf16().take(limit).collect();
            String::from_utf16_lossy(&units)
        }
        _ => s.chars().take(limit).collect(),
    }
}

fn truncation_error(target: Target<'_>, truncated: &str) -> SqlError {
    match target {
        // docs/relational-databases/errors-events/mssqlserver-2628-database-engine-error.md
        Target::Column { table, column } => SqlError::new(
            2628,
            16,
            1,
            format!(
                "String or binary data would be truncated in table '{table}', column '{column}'. Truncated value: '{truncated}'."
            ),
        ),
        Target::Expr => SqlError::new(8152, 16, 14, "String or binary data would be truncated."),
    }
}

/// Converts `v` (of type `from`, `None` when unknown) to type `to`.
pub fn convert(
    v: &Value,
    from: Option<&SqlType>,
    to: &SqlType,
    target: Target<'_>,
) -> Result<Value, SqlError> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    if let Value::Variant(_) = v {
        if *to != SqlType::Variant {
            return super::variant::from_variant(v, to, target);
        }
    }
    if let Some(f) = from {
        lob::check_allowed(f, to, target)?;
    }
    match to {
        SqlType::Variant => super::variant::to_variant(v, from),
        SqlType::Xml => match v {
            // Normalising is idempotent, so an xml value (perhaps a client's
            // parameter, not yet checked) is parsed again too.
            Value::String(s) => super::xml::normalize(s).map(Value::String),
            Value::Binary(b) => {
                super::xml::normalize(&super::xml::decode_binary(b)).map(Value::String)
            }
            _ => Err(not_allowed(from, to)),
        },
        // text, ntext and image convert as varchar(max), nvarchar(max) and
        // varbinary(max) do.
        SqlType::Text => convert(v, from, &SqlType::VarChar(Len::Max), target),
        SqlType::NText => convert(v, from, &SqlType::NVarChar(Len::Max), target),
        SqlType::Image => convert(v, from, &SqlType::VarBinary(Len::Max), target),
        // The CLR types keep serialized bytes as given; the stand-in has no
        // CLR to parse their string forms ('/1/2/', WKT).
        SqlType::HierarchyId | SqlType::Geography | SqlType::Geometry => match v {
            Value::Binary(b) => Ok(Value::Binary(b.clone())),
            Value::String(_) => Err(crate::engine::unsupported(&format!(
                "converting a character string to {} (its binary serialization converts)",
                to.base_name()
            ))),
            _ => Err(not_allowed(from, to)),
        },
        SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt => {
            let i: i64 = match v {
                Value::Int(i) => *i,
                Value::Float(f) => {
                    let t = f.trunc();
                    if !(-9.2e18..9.2e18).contains(&t) {
                        return Err(overflow(to, from));
                    }
                    t as i64
                }
                Value::Decimal(u, s) => {
                    let t = u / pow10(*s as u32);
                    i64::try_from(t).map_err(|_| overflow(to, from))?
                }
                Value::String(s) => match s.trim().parse::<i64>() {
                    Ok(i) => i,
                    Err(_) => return Err(conversion_failed(s, from, to)),
                },
                Value::Binary(b) => binary_to_int(b, to),
                _ => return Err(not_allowed(from, to)),
            };
            let (lo, hi) = int_range(to);
            if i < lo || i > hi {
                // An integer that does not fit tinyint/smallint is error 220
                // with the value; other overflows are 8115
                // (docs/relational-databases/errors-events/database-engine-events-and-errors-0-to-999.md).
                if matches!(v, Value::Int(_)) && matches!(to, SqlType::TinyInt | SqlType::SmallInt)
                {
                    return Err(SqlError::new(
                        220,
                        16,
                        2,
                        format!(
                            "Arithmetic overflow error for data type {}, value = {i}.",
                            to.base_name()
                        ),
                    ));
                }
                return Err(overflow(to, from));
            }
            Ok(Value::Int(i))
        }
        SqlType::Bit => Ok(Value::Int(match v {
            Value::Int(i) => (*i != 0) as i64,
            Value::Float(f) => (*f != 0.0) as i64,
            Value::Decimal(u, _) => (*u != 0) as i64,
            Value::String(s) => {
                let t = s.trim();
                if t.eq_ignore_ascii_case("true") {
                    1
                } else if t.eq_ignore_ascii_case("false") {
                    0
                } else {
                    match t.parse::<i64>() {
                        Ok(i) => (i != 0) as i64,
                        Err(_) => return Err(conversion_failed(s, from, to)),
                    }
                }
            }
            _ => return Err(not_allowed(from, to)),
        })),
        SqlType::Decimal { .. } | SqlType::Money | SqlType::SmallMoney => {
            let (precision, scale) = match to {
                SqlType::Decimal { precision, scale } => (*precision, *scale),
                SqlType::Money => (19, 4),
                _ => (10, 4),
            };
            let u = match v {
                Value::Int(i) => rescale(*i as i128, 0, scale),
                Value::Decimal(u, s) => rescale(*u, *s, scale),
                Value::Float(f) => {
                    let scaled = (f * 10f64.powi(scale as i32)).round();
                    if scaled.abs() >= 1e38 || !scaled.is_finite() {
                        None
                    } else {
                        Some(scaled as i128)
                    }
                }
                Value::String(s) => {
                    let t = s.trim().trim_start_matches('$');
                    match parse_decimal(t) {
                        Some((u, s)) => rescale(u, s, scale),
                        None => return Err(conversion_failed(s, from, to)),
                    }
                }
                _ => return Err(not_allowed(from, to)),
            }
            .ok_or_else(|| overflow(to, from))?;
            // money is a scaled 64-bit integer, smallmoney a 32-bit one
            // (docs/t-sql/data-types/money-and-smallmoney-transact-sql.md):
            // their ranges are asymmetric, down to -922,337,203,685,477.5808.
            let (min, max) = match to {
                SqlType::Money => (i64::MIN as i128, i64::MAX as i128),
                SqlType::SmallMoney => (i32::MIN as i128, i32::MAX as i128),
                _ => (-(pow10(precision as u32) - 1), pow10(precision as u32) - 1),
            };
            if u < min || u > max {
                return Err(overflow(to, from));
            }
            Ok(Value::Decimal(u, scale))
        }
        SqlType::Float | SqlType::Real => {
            let f = match v {
                Value::Int(i) => *i as f64,
                Value::Float(f) => *f,
                Value::Decimal(u, s) => *u as f64 / 10f64.powi(*s as i32),
                Value::String(s) => match s.trim().parse::<f64>() {
                    Ok(f) => f,
                    Err(_) => return Err(conversion_failed(s, from, to)),
                },
                _ => return Err(not_allowed(from, to)),
            };
            Ok(Value::Float(if matches!(to, SqlType::Real) {
                f as f32 as f64
            } else {
                f
            }))
        }
        SqlType::NVarChar(_) | SqlType::VarChar(_) | SqlType::NChar(_) | SqlType::Char(_) => {
            let mut s = to_text(v, from).unwrap_or_default();
            // Fixed-length types compare without their padding, so trailing
            // spaces beyond the length are not a truncation.
            if let Some(limit) = string_len_ok(&s, to) {
                let trimmed = s.trim_end_matches(' ');
                if string_len_ok(trimmed, to).is_none() {
                    s = trimmed.to_string();
                } else {
                    let cut = truncate_chars(&s, to, limit);
                    if let Target::Column { .. } = target {
                        return Err(truncation_error(target, &cut));
                    }
                    s = cut;
                }
            }
            if let SqlType::NChar(n) | SqlType::Char(n) = to {
                let len = if matches!(to, SqlType::NChar(_)) {
                    s.encode_utf16().count()
                } else {
                    s.chars().count()
                };
                for _ in len..*n as usize {
                    s.push(' ');
                }
            }
            Ok(Value::String(s))
        }
        SqlType::VarBinary(_) | SqlType::Binary(_) => {
            let mut b = match v {
                Value::Binary(b) => b.clone(),
                Value::String(s) => match from {
                    // xml converts to binary as UTF-16 with a byte-order mark.
                    Some(SqlType::Xml) => [0xFF, 0xFE]
                        .into_iter()
                        .chain(s.encode_utf16().flat_map(|u| u.to_le_bytes()))
                        .collect(),
                    Some(SqlType::NVarChar(_) | SqlType::NChar(_) | SqlType::NText) | None => {
                        s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
                    }
                    _ => s.as_bytes().to_vec(),
                },
                Value::Int(i) => match from {
                    Some(SqlType::TinyInt) => vec![*i as u8],
                    Some(SqlType::SmallInt) => (*i as i16).to_be_bytes().to_vec(),
                    Some(SqlType::BigInt) => i.to_be_bytes().to_vec(),
                    _ => (*i as i32).to_be_bytes().to_vec(),
                },
                Value::Guid(g) => {
                    // SQL Server's byte layout of a uniqueidentifier: the first
                    // three groups little-endian.
                    let mut b = g.to_vec();
                    b[0..4].reverse();
                    b[4..6].reverse();
                    b[6..8].reverse();
                    b
                }
                _ => return Err(not_allowed(from, to)),
            };
            let limit = match to {
                SqlType::VarBinary(Len::N(n)) | SqlType::Binary(n) => Some(*n as usize),
                _ => None,
            };
            if let Some(limit) = limit {
                if b.len() > limit {
                    if let Target::Column { .. } = target {
                        return Err(truncation_error(target, ""));
                    }
                    b.truncate(limit);
                }
                if let SqlType::Binary(_) = to {
                    b.resize(limit, 0);
                }
            }
            Ok(Value::Binary(b))
        }
        SqlType::UniqueIdentifier => match v {
            Value::Guid(g) => Ok(Value::Guid(*g)),
            Value::String(s) => {
                let t = s.trim().trim_start_matches('{').trim_end_matches('}');
                uuid::Uuid::parse_str(t)
                    .map(|u| Value::Guid(*u.as_bytes()))
                    .map_err(|_| conversion_failed(s, from, to))
            }
            Value::Binary(b) if b.len() >= 16 => {
                let mut g = [0u8; 16];
                g.copy_from_slice(&b[..16]);
                g[0..4].reverse();
                g[4..6].reverse();
                g[6..8].reverse();
                Ok(Value::Guid(g))
            }
            _ => Err(not_allowed(from, to)),
        },
        SqlType::Date
        | SqlType::Time(_)
        | SqlType::DateTime
        | SqlType::SmallDateTime
        | SqlType::DateTime2(_)
        | SqlType::DateTimeOffset(_) => convert_temporal(v, from, to),
    }
}

#[cfg(test)]
mod tests;

/// CAST of binary data to an integer type `to` (tinyint, smallint, int;
/// anything else is bigint): the rightmost bytes of the type's width,
/// big-endian; a shorter value is padded on the left with zeros, so
/// CAST(0xFFFFFFFF AS int) is -1 and CAST(0xFFFFFFFF AS bigint) 4294967295
/// (docs/t-sql/data-types/binary-and-varbinary-transact-sql.md, "Converting
/// binary and varbinary data"). Always within the type's range.
pub fn binary_to_int(b: &[u8], to: &SqlType) -> i64 {
    let width = match to {
        SqlType::TinyInt => 1,
        SqlType::SmallInt => 2,
        SqlType::Int => 4,
        _ => 8,
    };
    let mut u: u64 = 0;
    for x in b.iter().rev().take(width).rev() {
        u = (u << 8) | *x as u64;
    }
    match (to, b.len() >= width) {
        (SqlType::SmallInt, true) => u as u16 as i16 as i64,
        (SqlType::Int, true) => u as u32 as i32 as i64,
        _ => u as i64,
    }
}
