//! SQL Server types ↔ SQLite storage.
//!
//! Every value is stored in SQLite in a form that (a) round-trips exactly and
//! (b) sorts with SQLite's native comparison the way SQL Server sorts it, so
//! that ORDER BY, indexes and key comparisons need no custom code:
//! - integers, bit: INTEGER; float/real: REAL;
//! - decimal/numeric with precision <= 18, money, smallmoney: INTEGER holding the
//!   unscaled value (12.50 in decimal(5,2) is 1250);
//! - decimal with precision > 18: TEXT in a fixed-width sortable form (see
//!   [`big_decimal_key`]);
//! - character types: TEXT (char/nchar padded to their length, as SQL Server
//!   returns them), compared through the column's collation (`engine::collation`);
//! - binary types: BLOB (binary(n) padded with zeros);
//! - uniqueidentifier: a 16-byte BLOB with its bytes reordered so that memcmp
//!   follows SQL Server's uniqueidentifier ordering (bytes 10..16 first, then
//!   8..10, 6..8, 4..6, 0..4) — docs/t-sql/data-types/uniqueidentifier-transact-sql.md
//!   ("comparison ... by comparing bit patterns" in that group order);
//! - date: INTEGER days since 0001-01-01; time: INTEGER 100 ns ticks;
//!   datetime, smalldatetime, datetime2: INTEGER days * TICKS_PER_DAY + ticks;
//! - datetimeoffset: TEXT "<19-digit UTC ticks><sign><4-digit offset minutes>".

use crate::error::SqlError;
use crate::sql::ast::{DataType, TypeArg};
use crate::value::{Len, SqlType, Value};
use rusqlite::types::{Value as DbValue, ValueRef};

pub const TICKS_PER_DAY: i64 = 864_000_000_000;

/// SQLite declared type of a column stored for `ty`.
pub fn storage_decl(ty: &SqlType) -> &'static str {
    match ty {
        SqlType::TinyInt
        | SqlType::SmallInt
        | SqlType::Int
        | SqlType::BigInt
        | SqlType::Bit
        | SqlType::Money
        | SqlType::SmallMoney
        | SqlType::Date
        | SqlType::Time(_)
        | SqlType::DateTime
        | SqlType::SmallDateTime
        | SqlType::DateTime2(_) => "INTEGER",
        SqlType::Decimal { precision, .. } => {
            if *precision <= 18 {
                "INTEGER"
            } else {
                "TEXT"
            }
        }
        SqlType::Float | SqlType::Real => "REAL",
        SqlType::NVarChar(_) | SqlType::VarChar(_) | SqlType::NChar(_) | SqlType::Char(_) => "TEXT",
        SqlType::Text | SqlType::NText | SqlType::Xml => "TEXT",
        // A sql_variant is TEXT in the `sim_variant` collation (see
        // `engine::variant`), which compares by SQL Server's rules.
        SqlType::Variant => "TEXT",
        SqlType::DateTimeOffset(_) => "TEXT",
        SqlType::VarBinary(_) | SqlType::Binary(_) | SqlType::UniqueIdentifier => "BLOB",
        SqlType::Image => "BLOB",
        // hierarchyid's serialization sorts bytewise in depth-first order
        // (docs/t-sql/data-types/hierarchyid-data-type-method-reference.md,
        // "Comparisons"), so a BLOB orders as SQL Server does.
        SqlType::HierarchyId | SqlType::Geography | SqlType::Geometry => "BLOB",
    }
}

/// Parses a declared type (`nvarchar(100)`, `decimal(18,2)`, ...).
pub fn parse_type(dt: &DataType) -> Result<SqlType, SqlError> {
    let num = |i: usize| -> Option<u32> {
        match dt.args.get(i) {
            Some(TypeArg::Number(n)) => Some(*n),
            _ => None,
        }
    };
    let is_max = matches!(dt.args.first(), Some(TypeArg::Max));
    let bad = || {
        SqlError::new(
            2715,
            16,
            6,
            format!(
                "Column, parameter, or variable #1: Cannot find data type {}.",
                dt.name
            ),
        )
    };
    let len = |default: u32, limit: u32| -> Result<Len, SqlError> {
        if is_max {
            return Ok(Len::Max);
        }
        let n = num(0).unwrap_or(default);
        if n == 0 || n > limit {
            return Err(SqlError::new(
                131,
                15,
                2,
                format!(
                    "The size ({n}) given to the type '{}' exceeds the maximum allowed for any data type ({limit}).",
                    dt.name
                ),
            ));
        }
        Ok(Len::N(n as u16))
    };
    let fixed = |default: u32, limit: u32| -> Result<u16, SqlError> {
        match len(default, limit)? {
            Len::N(n) => Ok(n),
            Len::Max => Err(bad()),
        }
    };
    let scale7 = || -> Result<u8, SqlError> {
        let s = num(0).unwrap_or(7);
        if s > 7 {
            return Err(SqlError::new(
                1002,
                15,
                1,
                format!("Specified scale {s} is invalid."),
            ));
        }
        Ok(s as u8)
    };
    Ok(match dt.name.to_ascii_lowercase().as_str() {
        "tinyint" => SqlType::TinyInt,
        "smallint" => SqlType::SmallInt,
        "int" | "integer" => SqlType::Int,
        "bigint" => SqlType::BigInt,
        "bit" => SqlType::Bit,
        "decimal" | "numeric" | "dec" => {
            let p = num(0).unwrap_or(18);
            let s = num(1).unwrap_or(0);
            if !(1..=38).contains(&p) {
                return Err(SqlError::new(
                    1002,
                    15,
                    1,
                    format!("Specified scale {p} is invalid."),
                ));
            }
            if s > p {
                return Err(SqlError::new(
                    192,
                    16,
                    1,
                    "The scale must be less than or equal to the precision.",
                ));
            }
            SqlType::Decimal {
                precision: p as u8,
                scale: s as u8,
            }
        }
        "float" => match num(0) {
            Some(n) if n <= 24 => SqlType::Real,
            _ => SqlType::Float,
        },
        "real" => SqlType::Real,
        "money" => SqlType::Money,
        "smallmoney" => SqlType::SmallMoney,
        "nvarchar" | "sysname" => {
            if dt.name.eq_ignore_ascii_case("sysname") {
                SqlType::NVarChar(Len::N(128))
            } else {
                SqlType::NVarChar(len(1, 4000)?)
            }
        }
        "varchar" => SqlType::VarChar(len(1, 8000)?),
        "nchar" => SqlType::NChar(fixed(1, 4000)?),
        "char" => SqlType::Char(fixed(1, 8000)?),
        "varbinary" => SqlType::VarBinary(len(1, 8000)?),
        "binary" => SqlType::Binary(fixed(1, 8000)?),
        "uniqueidentifier" => SqlType::UniqueIdentifier,
        "date" => SqlType::Date,
        "time" => SqlType::Time(scale7()?),
        "datetime" => SqlType::DateTime,
        "smalldatetime" => SqlType::SmallDateTime,
        "datetime2" => SqlType::DateTime2(scale7()?),
        "datetimeoffset" => SqlType::DateTimeOffset(scale7()?),
        "ntext" => SqlType::NText,
        "text" => SqlType::Text,
        "image" => SqlType::Image,
        "xml" => {
            // A typed xml (xml(CONTENT schema_collection)) needs XML schema
            // collections, which the stand-in does not have.
            if !dt.args.is_empty() {
                return Err(crate::engine::unsupported(
                    "typed xml (an XML schema collection)",
                ));
            }
            SqlType::Xml
        }
        "sql_variant" => SqlType::Variant,
        "hierarchyid" => SqlType::HierarchyId,
        "geography" => SqlType::Geography,
        "geometry" => SqlType::Geometry,
        // rowversion / timestamp outside a table column (a variable, CAST):
        // binary(8) (docs/t-sql/data-types/rowversion-transact-sql.md); a
        // column of that type is a rowversion column (see `computed`).
        "timestamp" => SqlType::Binary(8),
        _ => return Err(bad()),
    })
}

/// Stable text code of a type, used to pass types to SQLite functions and to
/// store them in the catalog. Inverse: [`type_from_code`].
pub fn type_code(ty: &SqlType) -> String {
    ty.sql_name()
}

/// Parses what [`type_code`] wrote (`decimal(18,2)`, `nvarchar(max)`, `int`).
pub fn type_from_code(code: &str) -> Option<SqlType> {
    let code = code.trim();
    let (name, args) = match code.find('(') {
        Some(i) => (&code[..i], code[i + 1..].trim_end_matches(')')),
        None => (code, ""),
    };
    let mut targs = Vec::new();
    for a in args.split(',').filter(|a| !a.trim().is_empty()) {
        let a = a.trim();
        if a.eq_ignore_ascii_case("max") {
            targs.push(TypeArg::Max);
        } else {
            targs.push(TypeArg::Number(a.parse().ok()?));
        }
    }
    parse_type(&DataType {
        name: name.to_string(),
        args: targs,
    })
    .ok()
}

/// Fixed-width sortable text of an unscaled decimal (precision > 18): 'P' then
/// 38 digits for values >= 0, 'N' then the 38-digit complement for negatives, so
/// that text order is numeric order.
pub fn big_decimal_key(unscaled: i128) -> String {
    const LIMIT: i128 = 100_000_000_000_000_000_000_000_000_000_000_000_000; // 10^38
    if unscaled >= 0 {
        format!("P{unscaled:038}")
    } else {
        format!("N{:038}", LIMIT + unscaled)
    }
}

fn parse_big_decimal_key(s: &str) -> Option<i128> {
    const LIMIT: i128 = 100_000_000_000_000_000_000_000_000_000_000_000_000;
    let digits: i128 = s.get(1..)?.parse().ok()?;
    match s.as_bytes().first()? {
        b'P' => Some(digits),
        b'N' => Some(digits - LIMIT),
        _ => None,
    }
}

/// uniqueidentifier bytes (canonical order) → storage order.
pub fn guid_to_storage(b: &[u8; 16]) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&b[10..16]);
    v.extend_from_slice(&b[8..10]);
    v.extend_from_slice(&b[6..8]);
    v.extend_from_slice(&b[4..6]);
    v.extend_from_slice(&b[0..4]);
    v
}

pub fn guid_from_storage(s: &[u8]) -> Option<[u8; 16]> {
    if s.len() != 16 {
        return None;
    }
    let mut b = [0u8; 16];
    b[10..16].copy_from_slice(&s[0..6]);
    b[8..10].copy_from_slice(&s[6..8]);
    b[6..8].copy_from_slice(&s[8..10]);
    b[4..6].copy_from_slice(&s[10..12]);
    b[0..4].copy_from_slice(&s[12..16]);
    Some(b)
}

fn dto_to_storage(days: i32, ticks: i64, offset: i16) -> String {
    let utc = days as i64 * TICKS_PER_DAY + ticks;
    let sign = if offset < 0 { '-' } else { '+' };
    format!("{utc:019}{sign}{:04}", offset.unsigned_abs())
}

fn dto_from_storage(s: &str) -> Option<(i32, i64, i16)> {
    if s.len() != 24 {
        return None;
    }
    let utc: i64 = s.get(..19)?.parse().ok()?;
    let off: i16 = s.get(20..)?.parse().ok()?;
    let off = if s.as_bytes().get(19) == Some(&b'-') {
        -off
    } else {
        off
    };
    Some(((utc / TICKS_PER_DAY) as i32, utc % TICKS_PER_DAY, off))
}

/// A value already of type `ty` (see [`crate::engine::convert::convert`]) in
/// its storage form.
pub fn to_storage(v: &Value, ty: &SqlType) -> DbValue {
    match (v, ty) {
        (Value::Null, _) => DbValue::Null,
        (Value::Int(i), _) => DbValue::Integer(*i),
        (Value::Float(f), _) => DbValue::Real(*f),
        (Value::Decimal(u, _), SqlType::Decimal { precision, .. }) if *precision > 18 => {
            DbValue::Text(big_decimal_key(*u))
        }
        (Value::Decimal(u, _), _) => match i64::try_from(*u) {
            Ok(i) => DbValue::Integer(i),
            Err(_) => DbValue::Text(big_decimal_key(*u)),
        },
        (Value::String(s), _) => DbValue::Text(s.clone()),
        (Value::Variant(b), _) => DbValue::Text(super::variant::encode_storage(&b.0, &b.1)),
        (Value::Binary(b), _) => DbValue::Blob(b.clone()),
        (Value::Guid(g), _) => DbValue::Blob(guid_to_storage(g)),
        (Value::Date(d), _) => DbValue::Integer(*d as i64),
        (Value::Time(t), _) => DbValue::Integer(*t),
        (Value::DateTime { days, ticks }, _) => {
            DbValue::Integer(*days as i64 * TICKS_PER_DAY + *ticks)
        }
        (
            Value::DateTimeOffset {
                days,
                ticks,
                offset_minutes,
            },
            _,
        ) => DbValue::Text(dto_to_storage(*days, *ticks, *offset_minutes)),
    }
}

fn int_overflow(ty: &SqlType) -> SqlError {
    SqlError::new(
        8115,
        16,
        2,
        format!(
            "Arithmetic overflow error converting expression to data type {}.",
            ty.base_name()
        ),
    )
}

fn corrupt(ty: &SqlType) -> SqlError {
    SqlError::new(
        8114,
        16,
        5,
        format!("Error converting stored data to {}.", ty.sql_name()),
    )
}

/// Reads a stored value of type `ty` back as a [`Value`].
pub fn from_storage(v: ValueRef<'_>, ty: &SqlType) -> Result<Value, SqlError> {
    if let ValueRef::Null = v {
        return Ok(Value::Null);
    }
    let int = |v: ValueRef<'_>| -> Result<i64, SqlError> {
        match v {
            ValueRef::Integer(i) => Ok(i),
            ValueRef::Real(f) => Ok(f as i64),
            _ => Err(corrupt(ty)),
        }
    };
    Ok(match ty {
        SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt | SqlType::Bit => {
            // SQLite computes in 64 bits (and overflows into REAL); SQL Server
            // raises 8115 when a result does not fit its type.
            let (lo, hi) = match ty {
                SqlType::TinyInt => (0, 255),
                SqlType::SmallInt => (i16::MIN as i64, i16::MAX as i64),
                SqlType::Int => (i32::MIN as i64, i32::MAX as i64),
                SqlType::Bit => (i64::MIN, i64::MAX),
                _ => (i64::MIN, i64::MAX),
            };
            let i = match v {
                ValueRef::Real(f)
                    if !(-9.223_372_036_854_775e18..9.223_372_036_854_775e18).contains(&f) =>
                {
                    return Err(int_overflow(ty))
                }
                other => int(other)?,
            };
            if i < lo || i > hi {
                return Err(int_overflow(ty));
            }
            Value::Int(if *ty == SqlType::Bit {
                (i != 0) as i64
            } else {
                i
            })
        }
        SqlType::Float | SqlType::Real => match v {
            ValueRef::Real(f) => Value::Float(f),
            ValueRef::Integer(i) => Value::Float(i as f64),
            _ => return Err(corrupt(ty)),
        },
        SqlType::Decimal { scale, .. } => match v {
            ValueRef::Integer(i) => Value::Decimal(i as i128, *scale),
            ValueRef::Text(t) => {
                let s = std::str::from_utf8(t).map_err(|_| corrupt(ty))?;
                Value::Decimal(parse_big_decimal_key(s).ok_or_else(|| corrupt(ty))?, *scale)
            }
            _ => return Err(corrupt(ty)),
        },
        SqlType::Money | SqlType::SmallMoney => Value::Decimal(int(v)? as i128, 4),
        SqlType::NVarChar(_)
        | SqlType::VarChar(_)
        | SqlType::NChar(_)
        | SqlType::Char(_)
        | SqlType::Text
        | SqlType::NText
        | SqlType::Xml => match v {
            ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Integer(i) => Value::String(i.to_string()),
            ValueRef::Real(f) => Value::String(f.to_string()),
            ValueRef::Blob(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
            ValueRef::Null => Value::Null,
        },
        SqlType::Variant => match v {
            ValueRef::Text(t) => {
                let s = std::str::from_utf8(t).map_err(|_| corrupt(ty))?;
                super::variant::decode_storage(s).ok_or_else(|| corrupt(ty))?
            }
            _ => return Err(corrupt(ty)),
        },
        SqlType::VarBinary(_)
        | SqlType::Binary(_)
        | SqlType::Image
        | SqlType::HierarchyId
        | SqlType::Geography
        | SqlType::Geometry => match v {
            ValueRef::Blob(b) => Value::Binary(b.to_vec()),
            ValueRef::Text(t) => Value::Binary(t.to_vec()),
            _ => return Err(corrupt(ty)),
        },
        SqlType::UniqueIdentifier => match v {
            ValueRef::Blob(b) => Value::Guid(guid_from_storage(b).ok_or_else(|| corrupt(ty))?),
            _ => return Err(corrupt(ty)),
        },
        SqlType::Date => Value::Date(int(v)? as i32),
        SqlType::Time(_) => Value::Time(int(v)?),
        SqlType::DateTime | SqlType::SmallDateTime | SqlType::DateTime2(_) => {
            let t = int(v)?;
            Value::DateTime {
                days: t.div_euclid(TICKS_PER_DAY) as i32,
                ticks: t.rem_euclid(TICKS_PER_DAY),
            }
        }
        SqlType::DateTimeOffset(_) => match v {
            ValueRef::Text(t) => {
                let s = std::str::from_utf8(t).map_err(|_| corrupt(ty))?;
                let (days, ticks, offset_minutes) =
                    dto_from_storage(s).ok_or_else(|| corrupt(ty))?;
                Value::DateTimeOffset {
                    days,
                    ticks,
                    offset_minutes,
                }
            }
            _ => return Err(corrupt(ty)),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_storage_round_trips_and_orders_by_last_group() {
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        a[0] = 0xFF; // first group is least significant
        b[15] = 0x01; // last group is most significant
        let sa = guid_to_storage(&a);
        let sb = guid_to_storage(&b);
        assert!(sa < sb);
        assert_eq!(guid_from_storage(&sa), Some(a));
    }

    #[test]
    fn big_decimal_keys_sort_numerically() {
        let vals = [-1000i128, -1, 0, 5, 10i128.pow(37)];
        let keys: Vec<String> = vals.iter().map(|v| big_decimal_key(*v)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        for (v, k) in vals.iter().zip(&keys) {
            assert_eq!(parse_big_decimal_key(k), Some(*v));
        }
    }

    #[test]
    fn type_codes_round_trip() {
        for ty in [
            SqlType::Decimal {
                precision: 18,
                scale: 2,
            },
            SqlType::NVarChar(Len::Max),
            SqlType::VarChar(Len::N(10)),
            SqlType::DateTime2(3),
            SqlType::Binary(4),
        ] {
            assert_eq!(type_from_code(&type_code(&ty)), Some(ty));
        }
    }
}
