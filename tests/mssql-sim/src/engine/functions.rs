//! SQLite functions the translated SQL calls (collations: `engine::collation`).
//!
//! Errors raised inside a function travel through SQLite as text; they are
//! encoded with [`encode_error`] and decoded again by `engine::sqlerr`.

use super::convert::{self, Target};
use super::types::{self, from_storage, to_storage};
use crate::engine::change_tracking as ct;
use crate::error::SqlError;
use crate::value::{SqlType, Value};
use md5::Digest;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value as DbValue, ValueRef};
use rusqlite::Connection;

const PREFIX: &str = "SIMERR|";

#[derive(Debug)]
struct Encoded(String);
impl std::fmt::Display for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Encoded {}

/// Wraps a [`SqlError`] for the trip through SQLite.
pub fn encode_error(e: SqlError) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(Box::new(Encoded(format!(
        "{PREFIX}{}|{}|{}|{}",
        e.number, e.state, e.class, e.message
    ))))
}

/// Finds an encoded error in a SQLite message.
pub fn decode_error(msg: &str) -> Option<SqlError> {
    let rest = &msg[msg.find(PREFIX)? + PREFIX.len()..];
    let mut it = rest.splitn(4, '|');
    let number = it.next()?.parse().ok()?;
    let state = it.next()?.parse().ok()?;
    let class = it.next()?.parse().ok()?;
    let message = it.next()?.to_string();
    Some(SqlError::new(number, class, state, message))
}

/// Type codes seen by this thread's functions, parsed once: the translated
/// SQL passes them as constants, so a query over a million rows would
/// otherwise parse the same few codes millions of times. Bounded: cleared
/// when it reaches [`TYPE_CODES_MAX`] entries.
const TYPE_CODES_MAX: usize = 1024;

thread_local! {
    static TYPE_CODES: std::cell::RefCell<std::collections::HashMap<Vec<u8>, Option<SqlType>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

pub(super) fn ty_arg(ctx: &Context<'_>, i: usize) -> rusqlite::Result<Option<SqlType>> {
    match ctx.get_raw(i) {
        ValueRef::Text(t) => Ok(TYPE_CODES.with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some(ty) = cache.get(t) {
                return *ty;
            }
            let ty = types::type_from_code(std::str::from_utf8(t).unwrap_or(""));
            if cache.len() >= TYPE_CODES_MAX {
                cache.clear();
            }
            cache.insert(t.to_vec(), ty);
            ty
        })),
        _ => Ok(None),
    }
}

fn arg_value(ctx: &Context<'_>, i: usize, ty: Option<&SqlType>) -> rusqlite::Result<Value> {
    let raw = ctx.get_raw(i);
    match ty {
        Some(t) => from_storage(raw, t).map_err(encode_error),
        None => Ok(match raw {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Int(i),
            ValueRef::Real(f) => Value::Float(f),
            ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Binary(b.to_vec()),
        }),
    }
}

/// Decimal arithmetic on unscaled values; result in `res` type.
fn arith(op: &str, a: &Value, b: &Value, res: &SqlType) -> Result<Value, SqlError> {
    let dec = |v: &Value| -> (i128, u8) {
        match v {
            Value::Int(i) => (*i as i128, 0),
            Value::Decimal(u, s) => (*u, *s),
            _ => (0, 0),
        }
    };
    let (ua, sa) = dec(a);
    let (ub, sb) = dec(b);
    let overflow = || {
        SqlError::new(
            8115,
            16,
            2,
            "Arithmetic overflow error converting expression to data type numeric.",
        )
    };
    let (u, s) = match op {
        "+" | "-" => {
            let s = sa.max(sb);
            let x = convert::rescale(ua, sa, s).ok_or_else(overflow)?;
            let y = convert::rescale(ub, sb, s).ok_or_else(overflow)?;
            let r = if op == "+" {
                x.checked_add(y)
            } else {
                x.checked_sub(y)
            };
            (r.ok_or_else(overflow)?, s)
        }
        "*" => (
            ua.checked_mul(ub).ok_or_else(overflow)?,
            sa.saturating_add(sb).min(38),
        ),
        "/" => {
            if ub == 0 {
                return Err(SqlError::new(
                    8134,
                    16,
                    1,
                    "Divide by zero error encountered.",
                ));
            }
            let target = match res {
                SqlType::Decimal { scale, .. } => *scale,
                _ => 6,
            };
            // a/b at scale `target`: (ua * 10^(target + sb - sa)) / ub, rounded.
            let shift = target as i32 + sb as i32 - sa as i32;
            let num = if shift >= 0 {
                ua.checked_mul(convert::pow10(shift as u32))
                    .ok_or_else(overflow)?
            } else {
                ua / convert::pow10((-shift) as u32)
            };
            let num2 = num.checked_mul(10).ok_or_else(overflow)?;
            let q = num2 / ub;
            let r = if q % 10 >= 5 {
                q / 10 + 1
            } else if q % 10 <= -5 {
                q / 10 - 1
            } else {
                q / 10
            };
            (r, target)
        }
        "%" => {
            if ub == 0 {
                return Err(SqlError::new(
                    8134,
                    16,
                    1,
                    "Divide by zero error encountered.",
                ));
            }
            let s = sa.max(sb);
            let x = convert::rescale(ua, sa, s).ok_or_else(overflow)?;
            let y = convert::rescale(ub, sb, s).ok_or_else(overflow)?;
            (x % y, s)
        }
        _ => {
            return Err(SqlError::new(
                102,
                15,
                1,
                format!("Incorrect syntax near '{op}'."),
            ))
        }
    };
    convert::convert(&Value::Decimal(u, s), None, res, Target::Expr)
}

fn checksum_bytes(ctx: &Context<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..ctx.len() {
        match ctx.get_raw(i) {
            ValueRef::Null => out.push(0xFF),
            ValueRef::Integer(v) => out.extend_from_slice(&v.to_le_bytes()),
            ValueRef::Real(f) => out.extend_from_slice(&f.to_le_bytes()),
            ValueRef::Text(t) => out.extend_from_slice(t),
            ValueRef::Blob(b) => out.extend_from_slice(b),
        }
        out.push(0);
    }
    out
}

/// SUM over decimals stored as sortable text (precision > 18): exact i128
/// arithmetic; the result is in the same storage form. NULLs are skipped and
/// an empty or all-NULL input gives NULL, as SUM does.
struct DecSum;

impl rusqlite::functions::Aggregate<Option<i128>, DbValue> for DecSum {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<Option<i128>> {
        Ok(None)
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut Option<i128>) -> rusqlite::Result<()> {
        let ty = SqlType::Decimal {
            precision: 38,
            scale: 0,
        };
        let v = match ctx.get_raw(0) {
            ValueRef::Null => return Ok(()),
            raw => match from_storage(raw, &ty).map_err(encode_error)? {
                Value::Decimal(u, _) => u,
                _ => return Ok(()),
            },
        };
        let sum = acc
            .unwrap_or(0)
            .checked_add(v)
            .filter(|s| s.abs() < convert::pow10(38))
            .ok_or_else(|| {
                encode_error(SqlError::new(
                    8115,
                    16,
                    1,
                    "Arithmetic overflow error converting expression to data type numeric.",
                ))
            })?;
        *acc = Some(sum);
        Ok(())
    }

    fn finalize(
        &self,
        _: &mut Context<'_>,
        acc: Option<Option<i128>>,
    ) -> rusqlite::Result<DbValue> {
        Ok(match acc.flatten() {
            Some(v) => DbValue::Text(types::big_decimal_key(v)),
            None => DbValue::Null,
        })
    }
}

/// Registers everything on a new connection.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    let det = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    super::collation::register(conn)?;
    conn.create_aggregate_function("sim_dec_sum", 1, det, DecSum)?;
    // sim_cast(value, from_code, to_code, try)
    conn.create_scalar_function("sim_cast", 4, det, |ctx| {
        let from = ty_arg(ctx, 1)?;
        let Some(to) = ty_arg(ctx, 2)? else {
            return Ok(DbValue::Null);
        };
        let try_ = ctx.get::<i64>(3).unwrap_or(0) != 0;
        let v = arg_value(ctx, 0, from.as_ref())?;
        match convert::convert(&v, from.as_ref(), &to, Target::Expr) {
            Ok(v) => Ok(to_storage(&v, &to)),
            Err(_) if try_ => Ok(DbValue::Null),
            Err(e) => Err(encode_error(e)),
        }
    })?;
    // sim_convert(value, from_code, to_code, try, style): CONVERT with a
    // style (see `convert::convert_styled`).
    conn.create_scalar_function("sim_convert", 5, det, |ctx| {
        let from = ty_arg(ctx, 1)?;
        let Some(to) = ty_arg(ctx, 2)? else {
            return Ok(DbValue::Null);
        };
        let try_ = ctx.get::<i64>(3).unwrap_or(0) != 0;
        let style = ctx.get::<i64>(4).unwrap_or(0);
        let v = arg_value(ctx, 0, from.as_ref())?;
        match convert::convert_styled(&v, from.as_ref(), &to, style) {
            Ok(v) => Ok(to_storage(&v, &to)),
            Err(_) if try_ => Ok(DbValue::Null),
            Err(e) => Err(encode_error(e)),
        }
    })?;
    // sim_arith(op, a, a_type, b, b_type, result_type)
    conn.create_scalar_function("sim_arith", 6, det, |ctx| {
        let op: String = ctx.get(0)?;
        let ta = ty_arg(ctx, 2)?;
        let tb = ty_arg(ctx, 4)?;
        let Some(tr) = ty_arg(ctx, 5)? else {
            return Ok(DbValue::Null);
        };
        let a = arg_value(ctx, 1, ta.as_ref())?;
        let b = arg_value(ctx, 3, tb.as_ref())?;
        if a.is_null() || b.is_null() {
            return Ok(DbValue::Null);
        }
        let a = convert::convert(
            &a,
            ta.as_ref(),
            &SqlType::Decimal {
                precision: 38,
                scale: scale_of(&a),
            },
            Target::Expr,
        )
        .map_err(encode_error)?;
        let b = convert::convert(
            &b,
            tb.as_ref(),
            &SqlType::Decimal {
                precision: 38,
                scale: scale_of(&b),
            },
            Target::Expr,
        )
        .map_err(encode_error)?;
        arith(&op, &a, &b, &tr)
            .map(|v| to_storage(&v, &tr))
            .map_err(encode_error)
    })?;
    // sim_div(a, b): integer/float division with SQL Server's divide-by-zero error.
    conn.create_scalar_function("sim_div", 2, det, |ctx| {
        match (ctx.get_raw(0), ctx.get_raw(1)) {
            (ValueRef::Null, _) | (_, ValueRef::Null) => Ok(DbValue::Null),
            (ValueRef::Integer(a), ValueRef::Integer(b)) => {
                if b == 0 {
                    Err(encode_error(SqlError::new(
                        8134,
                        16,
                        1,
                        "Divide by zero error encountered.",
                    )))
                } else {
                    Ok(DbValue::Integer(a.wrapping_div(b)))
                }
            }
            (a, b) => {
                let f = |v: ValueRef<'_>| match v {
                    ValueRef::Integer(i) => i as f64,
                    ValueRef::Real(r) => r,
                    _ => 0.0,
                };
                let d = f(b);
                if d == 0.0 {
                    Err(encode_error(SqlError::new(
                        8134,
                        16,
                        1,
                        "Divide by zero error encountered.",
                    )))
                } else {
                    Ok(DbValue::Real(f(a) / d))
                }
            }
        }
    })?;
    conn.create_scalar_function("sim_in_mask", 2, det, |ctx| {
        let id: Option<i64> = ctx.get(0)?;
        let mask: Option<Vec<u8>> = match ctx.get_raw(1) {
            ValueRef::Blob(b) => Some(b.to_vec()),
            _ => None,
        };
        Ok(id
            .and_then(|id| ct::column_in_mask(id, mask.as_deref()))
            .map(|b| b as i64))
    })?;
    conn.create_scalar_function("sim_newid", 0, FunctionFlags::SQLITE_UTF8, |_| {
        Ok(DbValue::Blob(types::guid_to_storage(
            uuid::Uuid::new_v4().as_bytes(),
        )))
    })?;
    // sim_now(utc): datetime ticks now.
    conn.create_scalar_function("sim_now", 1, FunctionFlags::SQLITE_UTF8, |ctx| {
        let utc = ctx.get::<i64>(0).unwrap_or(0) != 0;
        let (d, t) = if utc {
            convert::now_utc()
        } else {
            convert::now_local()
        };
        Ok(DbValue::Integer(d as i64 * types::TICKS_PER_DAY + t))
    })?;
    // LEN: characters without trailing spaces.
    conn.create_scalar_function("sim_len", 1, det, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Text(t) => Some(
                String::from_utf8_lossy(t)
                    .trim_end_matches(' ')
                    .chars()
                    .count() as i64,
            ),
            ValueRef::Blob(b) => Some(b.len() as i64),
            ValueRef::Integer(i) => Some(i.to_string().len() as i64),
            ValueRef::Real(f) => Some(f.to_string().len() as i64),
            ValueRef::Null => None,
        })
    })?;
    // DATALENGTH of a Unicode value: its UTF-16 bytes, 4 for a supplementary
    // character (docs/t-sql/functions/datalength-transact-sql.md;
    // docs/relational-databases/collations/collation-and-unicode-support.md,
    // "Supplementary characters"). Stored as UTF-8: 4-byte sequences are
    // the supplementary characters, every other character is 2 bytes.
    conn.create_scalar_function("sim_utf16_bytes", 1, det, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Text(t) => {
                let chars = t.iter().filter(|&&b| b & 0xC0 != 0x80).count();
                let supplementary = t.iter().filter(|&&b| b >= 0xF0).count();
                Some(2 * (chars + supplementary) as i64)
            }
            ValueRef::Blob(b) => Some(b.len() as i64),
            ValueRef::Integer(i) => Some(2 * i.to_string().len() as i64),
            ValueRef::Real(f) => Some(2 * f.to_string().len() as i64),
            ValueRef::Null => None,
        })
    })?;
    // CHECKSUM / BINARY_CHECKSUM: a deterministic 32-bit hash of the values
    // (SQL Server's algorithm is not documented; both sides of a comparison
    // run here, so only determinism matters).
    conn.create_scalar_function("sim_checksum", -1, det, |ctx| {
        let bytes = checksum_bytes(ctx);
        let d = md5::Md5::digest(&bytes);
        Ok(i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64)
    })?;
    // HASHBYTES(algorithm, value-as-bytes) — docs/t-sql/functions/hashbytes-transact-sql.md
    // sim_hashbytes_utf16(algorithm, text): HASHBYTES of an nvarchar value,
    // whose bytes are UTF-16LE.
    conn.create_scalar_function("sim_hashbytes_utf16", 2, det, |ctx| {
        let alg = algorithm(ctx)?;
        let data: Vec<u8> = match ctx.get_raw(1) {
            ValueRef::Null => return Ok(DbValue::Null),
            ValueRef::Text(t) => utf16le(&String::from_utf8_lossy(t)),
            ValueRef::Blob(b) => b.to_vec(),
            ValueRef::Integer(i) => utf16le(&i.to_string()),
            ValueRef::Real(f) => f.to_le_bytes().to_vec(),
        };
        Ok(match hash(alg, &data) {
            Some(h) => DbValue::Blob(h),
            None => DbValue::Null,
        })
    })?;
    // sim_bin_int(binary, width): CAST(binary AS tinyint/smallint/int/bigint)
    // as `convert::convert` does it (the rightmost `width` bytes).
    conn.create_scalar_function("sim_bin_int", 2, det, |ctx| {
        let width: i64 = ctx.get(1)?;
        let to = match width {
            1 => SqlType::TinyInt,
            2 => SqlType::SmallInt,
            4 => SqlType::Int,
            _ => SqlType::BigInt,
        };
        let v = match ctx.get_raw(0) {
            ValueRef::Null => return Ok(DbValue::Null),
            // The common case (a hash slice) without copying the bytes.
            ValueRef::Blob(b) => return Ok(DbValue::Integer(convert::binary_to_int(b, &to))),
            ValueRef::Text(t) => Value::Binary(t.to_vec()),
            ValueRef::Integer(i) => Value::Int(i),
            ValueRef::Real(f) => Value::Float(f),
        };
        match convert::convert(
            &v,
            Some(&SqlType::VarBinary(crate::value::Len::Max)),
            &to,
            Target::Expr,
        ) {
            Ok(v) => Ok(to_storage(&v, &to)),
            Err(e) => Err(encode_error(e)),
        }
    })?;
    conn.create_scalar_function("sim_hashbytes", 2, det, |ctx| {
        let alg = algorithm(ctx)?;
        let data: Vec<u8> = match ctx.get_raw(1) {
            ValueRef::Null => return Ok(DbValue::Null),
            ValueRef::Blob(b) => b.to_vec(),
            ValueRef::Text(t) => t.to_vec(),
            ValueRef::Integer(i) => i.to_le_bytes().to_vec(),
            ValueRef::Real(f) => f.to_le_bytes().to_vec(),
        };
        Ok(match hash(alg, &data) {
            Some(h) => DbValue::Blob(h),
            None => DbValue::Null,
        })
    })?;
    // sim_default_text(default_value, type_code, default_func): the default
    // as INFORMATION_SCHEMA.COLUMNS.COLUMN_DEFAULT shows it, e.g. ((0)),
    // ('abc'), (getdate()).
    conn.create_scalar_function("sim_default_text", 3, det, |ctx| {
        if let ValueRef::Text(f) = ctx.get_raw(2) {
            return Ok(Some(format!(
                "({}())",
                String::from_utf8_lossy(f).to_lowercase()
            )));
        }
        let ty = ty_arg(ctx, 1)?;
        let v = arg_value(ctx, 0, ty.as_ref())?;
        Ok(convert::to_text(&v, ty.as_ref()).map(|t| match ty {
            Some(t2) if t2.is_string() => format!("('{}')", t.replace('\'', "''")),
            Some(
                SqlType::UniqueIdentifier
                | SqlType::Date
                | SqlType::Time(_)
                | SqlType::DateTime
                | SqlType::SmallDateTime
                | SqlType::DateTime2(_)
                | SqlType::DateTimeOffset(_),
            ) => {
                format!("('{t}')")
            }
            _ => format!("(({t}))"),
        }))
    })?;
    // sim_variant_property(variant, property): SQL_VARIANT_PROPERTY.
    conn.create_scalar_function("sim_variant_property", 2, det, |ctx| {
        let v = arg_value(ctx, 0, Some(&SqlType::Variant))?;
        let p: Option<String> = ctx.get(1)?;
        let r = match p {
            Some(p) => super::variant::property(&v, &p),
            None => Value::Null,
        };
        Ok(to_storage(&r, &SqlType::Variant))
    })?;
    // sim_type_info(type_code, what): catalog view columns from a type.
    conn.create_scalar_function("sim_type_info", 2, det, |ctx| {
        let Some(ty) = ty_arg(ctx, 0)? else {
            return Ok(DbValue::Null);
        };
        let what: String = ctx.get(1)?;
        Ok(type_info(&ty, &what))
    })?;
    Ok(())
}

/// sys.columns / INFORMATION_SCHEMA.COLUMNS attributes of a type
/// (docs/relational-databases/system-catalog-views/sys-columns-transact-sql.md).
fn type_info(ty: &SqlType, what: &str) -> DbValue {
    use crate::value::Len;
    let int = |i: i64| DbValue::Integer(i);
    let (precision, scale): (i64, i64) = match ty {
        SqlType::TinyInt => (3, 0),
        SqlType::SmallInt => (5, 0),
        SqlType::Int => (10, 0),
        SqlType::BigInt => (19, 0),
        SqlType::Bit => (1, 0),
        SqlType::Decimal { precision, scale } => (*precision as i64, *scale as i64),
        SqlType::Float => (53, 0),
        SqlType::Real => (24, 0),
        SqlType::Money => (19, 4),
        SqlType::SmallMoney => (10, 4),
        SqlType::Date => (10, 0),
        SqlType::Time(s) => (8 + *s as i64 + (*s > 0) as i64, *s as i64),
        SqlType::DateTime => (23, 3),
        SqlType::SmallDateTime => (16, 0),
        SqlType::DateTime2(s) => (19 + *s as i64 + (*s > 0) as i64, *s as i64),
        SqlType::DateTimeOffset(s) => (26 + *s as i64 + (*s > 0) as i64, *s as i64),
        _ => (0, 0),
    };
    let max_length: i64 = match ty {
        SqlType::TinyInt | SqlType::Bit => 1,
        SqlType::SmallInt => 2,
        SqlType::Int | SqlType::Real | SqlType::SmallMoney | SqlType::SmallDateTime => 4,
        SqlType::BigInt | SqlType::Float | SqlType::Money | SqlType::DateTime => 8,
        SqlType::Decimal { precision, .. } => match precision {
            1..=9 => 5,
            10..=19 => 9,
            20..=28 => 13,
            _ => 17,
        },
        SqlType::NVarChar(Len::N(n)) => *n as i64 * 2,
        SqlType::NChar(n) => *n as i64 * 2,
        SqlType::VarChar(Len::N(n)) | SqlType::VarBinary(Len::N(n)) => *n as i64,
        SqlType::Char(n) | SqlType::Binary(n) => *n as i64,
        SqlType::NVarChar(Len::Max) | SqlType::VarChar(Len::Max) | SqlType::VarBinary(Len::Max) => {
            -1
        }
        SqlType::UniqueIdentifier => 16,
        SqlType::Date => 3,
        SqlType::Time(_) => 5,
        SqlType::DateTime2(_) => 8,
        SqlType::DateTimeOffset(_) => 10,
        // sys-columns-transact-sql.md: -1 for xml; a text/ntext/image column
        // holds a 16-byte text pointer; sql_variant 8016.
        SqlType::Xml => -1,
        SqlType::Text | SqlType::NText | SqlType::Image => 16,
        SqlType::Variant => 8016,
        SqlType::HierarchyId => 892,
        SqlType::Geography | SqlType::Geometry => -1,
    };
    let system_type_id: i64 = match ty {
        SqlType::TinyInt => 48,
        SqlType::SmallInt => 52,
        SqlType::Int => 56,
        SqlType::BigInt => 127,
        SqlType::Bit => 104,
        SqlType::Decimal { .. } => 106,
        SqlType::Float => 62,
        SqlType::Real => 59,
        SqlType::Money => 60,
        SqlType::SmallMoney => 122,
        SqlType::NVarChar(_) => 231,
        SqlType::VarChar(_) => 167,
        SqlType::NChar(_) => 239,
        SqlType::Char(_) => 175,
        SqlType::VarBinary(_) => 165,
        SqlType::Binary(_) => 173,
        SqlType::UniqueIdentifier => 36,
        SqlType::Date => 40,
        SqlType::Time(_) => 41,
        SqlType::DateTime => 61,
        SqlType::SmallDateTime => 58,
        SqlType::DateTime2(_) => 42,
        SqlType::DateTimeOffset(_) => 43,
        // sys-types-transact-sql.md
        SqlType::Xml => 241,
        SqlType::Text => 35,
        SqlType::NText => 99,
        SqlType::Image => 34,
        SqlType::Variant => 98,
        // CLR types: system_type_id 240 (user_type_id 128/129/130).
        SqlType::HierarchyId | SqlType::Geography | SqlType::Geometry => 240,
    };
    let numeric = matches!(
        ty,
        SqlType::TinyInt
            | SqlType::SmallInt
            | SqlType::Int
            | SqlType::BigInt
            | SqlType::Decimal { .. }
            | SqlType::Float
            | SqlType::Real
            | SqlType::Money
            | SqlType::SmallMoney
    );
    let temporal = matches!(
        ty,
        SqlType::Date
            | SqlType::Time(_)
            | SqlType::DateTime
            | SqlType::SmallDateTime
            | SqlType::DateTime2(_)
            | SqlType::DateTimeOffset(_)
    );
    match what {
        "name" => DbValue::Text(ty.base_name().to_string()),
        "max_length" => int(max_length),
        "precision" => int(precision),
        "scale" => int(scale),
        "system_type_id" => int(system_type_id),
        "user_type_id" => int(match ty {
            SqlType::HierarchyId => 128,
            SqlType::Geography => 130,
            SqlType::Geometry => 129,
            _ => system_type_id,
        }),
        "char_max" => match ty {
            SqlType::NVarChar(Len::N(n))
            | SqlType::VarChar(Len::N(n))
            | SqlType::VarBinary(Len::N(n)) => int(*n as i64),
            SqlType::NChar(n) | SqlType::Char(n) | SqlType::Binary(n) => int(*n as i64),
            SqlType::NVarChar(Len::Max)
            | SqlType::VarChar(Len::Max)
            | SqlType::VarBinary(Len::Max)
            | SqlType::Xml => int(-1),
            // information-schema-columns-transact-sql.md: 2^31-1 for text and
            // image, 2^30-1 characters for ntext.
            SqlType::Text | SqlType::Image => int(2_147_483_647),
            SqlType::NText => int(1_073_741_823),
            SqlType::HierarchyId => int(892),
            SqlType::Geography | SqlType::Geometry => int(-1),
            _ => DbValue::Null,
        },
        "num_precision" if numeric => int(precision),
        "num_scale" if numeric => int(scale),
        "dt_precision" if temporal => int(match ty {
            SqlType::Date => 0,
            SqlType::SmallDateTime => 0,
            _ => scale,
        }),
        _ => DbValue::Null,
    }
}

fn scale_of(v: &Value) -> u8 {
    match v {
        Value::Decimal(_, s) => *s,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_survive_sqlite() {
        let e = SqlError::new(8115, 16, 2, "Arithmetic overflow | x");
        let msg = encode_error(e.clone()).to_string();
        assert_eq!(decode_error(&format!("prefix {msg}")), Some(e));
    }
}

/// HASHBYTES' algorithms (docs/t-sql/functions/hashbytes-transact-sql.md);
/// `None` for a name it does not know (HASHBYTES returns NULL then).
fn hash(alg: &str, data: &[u8]) -> Option<Vec<u8>> {
    let is = |name: &str| alg.eq_ignore_ascii_case(name);
    Some(if is("MD5") {
        md5::Md5::digest(data).to_vec()
    } else if is("SHA1") || is("SHA") {
        sha1::Sha1::digest(data).to_vec()
    } else if is("SHA2_256") {
        sha2::Sha256::digest(data).to_vec()
    } else if is("SHA2_512") {
        sha2::Sha512::digest(data).to_vec()
    } else {
        return None;
    })
}

/// HASHBYTES' algorithm argument (text; anything else names no algorithm).
fn algorithm<'a>(ctx: &'a Context<'_>) -> rusqlite::Result<&'a str> {
    Ok(match ctx.get_raw(0) {
        ValueRef::Text(t) => std::str::from_utf8(t).unwrap_or(""),
        _ => "",
    })
}

/// The bytes of an nvarchar value: UTF-16LE.
fn utf16le(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 2);
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}
