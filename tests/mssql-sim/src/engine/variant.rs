//! sql_variant: values that keep their base type
//! (https://learn.microsoft.com/en-us/sql/t-sql/data-types/sql-variant-transact-sql,
//! docs/t-sql/data-types/sql-variant-transact-sql.md) and
//! `SQL_VARIANT_PROPERTY`
//! (https://learn.microsoft.com/en-us/sql/t-sql/functions/sql-variant-property-transact-sql).
//!
//! Storage: TEXT `"<base type code>\u{1}<value>"` in the SQLite collation
//! `sim_variant` ([`compare`]), so that `=`, ORDER BY, DISTINCT, GROUP BY and
//! unique keys on a sql_variant column follow SQL Server's comparison rules:
//! values of different type families order by family (date and time >
//! approximate numeric > exact numeric > Unicode (all character types) >
//! binary > uniqueidentifier); within a family the lower type is converted
//! to the higher one and the values compared; character values compare by
//! the database default collation (the stand-in's variants carry no other).
//!
//! Not modelled: character values of other collations (a variant keeps the
//! database default), `TotalBytes` is the size of the TDS encoding (2 + the
//! property bytes + the value), which is SQL Server's for fixed-size types and
//! may differ by a byte or two for character types.

use super::collation;
use super::convert::{self, Target};
use super::types::{guid_to_storage, type_code, type_from_code};
use crate::error::SqlError;
use crate::value::{Len, SqlType, Value};
use std::cmp::Ordering;

/// The SQLite collation of sql_variant storage.
pub const COLLATION: &str = "sim_variant";

const SEP: char = '\u{1}';

/// Whether a value of `ty` may be stored in a sql_variant (the documented
/// exclusions: the (max) types, xml, text, ntext, image, rowversion,
/// sql_variant, CLR types).
pub fn allowed_base(ty: &SqlType) -> bool {
    !matches!(
        ty,
        SqlType::NVarChar(Len::Max)
            | SqlType::VarChar(Len::Max)
            | SqlType::VarBinary(Len::Max)
            | SqlType::Xml
            | SqlType::Text
            | SqlType::NText
            | SqlType::Image
            | SqlType::Variant
            | SqlType::HierarchyId
            | SqlType::Geography
            | SqlType::Geometry
    )
}

/// 206: "Operand type clash: %ls is incompatible with %ls."
/// (docs/relational-databases/errors-events/database-engine-events-and-errors-0-to-999.md)
pub fn clash(from: &SqlType, to: &SqlType) -> SqlError {
    SqlError::new(
        206,
        16,
        2,
        format!(
            "Operand type clash: {} is incompatible with {}.",
            from.sql_name(),
            to.base_name()
        ),
    )
}

/// Wraps a value of type `from` as a sql_variant. An untyped value (a NULL
/// literal) is NULL; a string without a known type is nvarchar.
pub fn to_variant(v: &Value, from: Option<&SqlType>) -> Result<Value, SqlError> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    if let Value::Variant(_) = v {
        return Ok(v.clone());
    }
    let ty = match from {
        Some(t) => *t,
        None => match v {
            Value::String(s) => {
                SqlType::NVarChar(Len::N(s.encode_utf16().count().clamp(1, 4000) as u16))
            }
            Value::Binary(b) => SqlType::VarBinary(Len::N(b.len().clamp(1, 8000) as u16)),
            Value::Int(_) => SqlType::Int,
            Value::Float(_) => SqlType::Float,
            _ => return Err(clash(&SqlType::NVarChar(Len::Max), &SqlType::Variant)),
        },
    };
    if !allowed_base(&ty) {
        return Err(clash(&ty, &SqlType::Variant));
    }
    // A value whose type is one the engine computes in (an int column read
    // as Value::Int) is already of `ty`.
    Ok(Value::Variant(Box::new((ty, v.clone()))))
}

/// CAST(variant AS T): the base value converted from its base type.
pub fn from_variant(v: &Value, to: &SqlType, target: Target<'_>) -> Result<Value, SqlError> {
    match v {
        Value::Variant(b) => convert::convert(&b.1, Some(&b.0), to, target),
        other => convert::convert(other, None, to, target),
    }
}

/// The storage text of a variant of base type `ty`.
pub fn encode_storage(ty: &SqlType, v: &Value) -> String {
    let mut s = type_code(ty);
    s.push(SEP);
    match v {
        Value::Null | Value::Variant(_) => {}
        Value::Int(i) => s.push_str(&i.to_string()),
        Value::Float(f) => s.push_str(&format!("{f:?}")),
        Value::Decimal(u, _) => s.push_str(&u.to_string()),
        Value::String(t) => s.push_str(t),
        Value::Binary(b) => b.iter().for_each(|x| s.push_str(&format!("{x:02x}"))),
        Value::Guid(g) => g.iter().for_each(|x| s.push_str(&format!("{x:02x}"))),
        Value::Date(d) => s.push_str(&d.to_string()),
        Value::Time(t) => s.push_str(&t.to_string()),
        Value::DateTime { days, ticks } => s.push_str(&format!("{days} {ticks}")),
        Value::DateTimeOffset {
            days,
            ticks,
            offset_minutes,
        } => s.push_str(&format!("{days} {ticks} {offset_minutes}")),
    }
    s
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Parses what [`encode_storage`] wrote into a `Value::Variant`.
pub fn decode_storage(s: &str) -> Option<Value> {
    let (code, body) = s.split_once(SEP)?;
    let ty = type_from_code(code)?;
    let nums = |n: usize| -> Option<Vec<i64>> {
        let v: Vec<i64> = body
            .split(' ')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        (v.len() == n).then_some(v)
    };
    let v = match ty {
        SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt | SqlType::Bit => {
            Value::Int(body.parse().ok()?)
        }
        SqlType::Float | SqlType::Real => Value::Float(body.parse().ok()?),
        SqlType::Decimal { scale, .. } => Value::Decimal(body.parse().ok()?, scale),
        SqlType::Money | SqlType::SmallMoney => Value::Decimal(body.parse().ok()?, 4),
        SqlType::VarBinary(_) | SqlType::Binary(_) => Value::Binary(hex(body)?),
        SqlType::UniqueIdentifier => Value::Guid(hex(body)?.try_into().ok()?),
        SqlType::Date => Value::Date(body.parse().ok()?),
        SqlType::Time(_) => Value::Time(body.parse().ok()?),
        SqlType::DateTime | SqlType::SmallDateTime | SqlType::DateTime2(_) => {
            let n = nums(2)?;
            Value::DateTime {
                days: n[0] as i32,
                ticks: n[1],
            }
        }
        SqlType::DateTimeOffset(_) => {
            let n = nums(3)?;
            Value::DateTimeOffset {
                days: n[0] as i32,
                ticks: n[1],
                offset_minutes: n[2] as i16,
            }
        }
        _ if ty.is_string() => Value::String(body.to_string()),
        _ => return None,
    };
    Some(Value::Variant(Box::new((ty, v))))
}

/// Family rank (higher is greater) and the position of the type in the
/// hierarchy chart (higher is higher in the chart) — the "Comparing
/// sql_variant values" table of sql-variant-transact-sql.md.
fn rank(ty: &SqlType) -> (u8, u8) {
    match ty {
        SqlType::DateTime2(_) => (6, 6),
        SqlType::DateTimeOffset(_) => (6, 5),
        SqlType::DateTime => (6, 4),
        SqlType::SmallDateTime => (6, 3),
        SqlType::Date => (6, 2),
        SqlType::Time(_) => (6, 1),
        SqlType::Float => (5, 2),
        SqlType::Real => (5, 1),
        SqlType::Decimal { .. } => (4, 9),
        SqlType::Money => (4, 8),
        SqlType::SmallMoney => (4, 7),
        SqlType::BigInt => (4, 6),
        SqlType::Int => (4, 5),
        SqlType::SmallInt => (4, 4),
        SqlType::TinyInt => (4, 3),
        SqlType::Bit => (4, 2),
        SqlType::NVarChar(_) => (3, 4),
        SqlType::NChar(_) => (3, 3),
        SqlType::VarChar(_) => (3, 2),
        SqlType::Char(_) => (3, 1),
        SqlType::VarBinary(_) => (2, 2),
        SqlType::Binary(_) => (2, 1),
        SqlType::UniqueIdentifier => (1, 1),
        _ => (0, 0),
    }
}

/// Compares two values of the same type (or of types with the same value
/// shape).
fn compare_same(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Value::Decimal(x, sx), Value::Decimal(y, sy)) => {
            let s = (*sx).max(*sy);
            let x = convert::rescale(*x, *sx, s).unwrap_or(*x);
            let y = convert::rescale(*y, *sy, s).unwrap_or(*y);
            x.cmp(&y)
        }
        (Value::String(x), Value::String(y)) => {
            collation::compare(&collation::database_default().rule, x, y)
        }
        (Value::Binary(x), Value::Binary(y)) => x.cmp(y),
        (Value::Guid(x), Value::Guid(y)) => guid_to_storage(x).cmp(&guid_to_storage(y)),
        (Value::Date(x), Value::Date(y)) => x.cmp(y),
        (Value::Time(x), Value::Time(y)) => x.cmp(y),
        (
            Value::DateTime {
                days: d1,
                ticks: t1,
            },
            Value::DateTime {
                days: d2,
                ticks: t2,
            },
        ) => (d1, t1).cmp(&(d2, t2)),
        (
            Value::DateTimeOffset {
                days: d1,
                ticks: t1,
                ..
            },
            Value::DateTimeOffset {
                days: d2,
                ticks: t2,
                ..
            },
        ) => (d1, t1).cmp(&(d2, t2)),
        _ => Ordering::Equal,
    }
}

/// SQL Server's order of two sql_variant values.
pub fn compare_values(a: &(SqlType, Value), b: &(SqlType, Value)) -> Ordering {
    let (fa, pa) = rank(&a.0);
    let (fb, pb) = rank(&b.0);
    if fa != fb {
        return fa.cmp(&fb);
    }
    // Same family: the lower type is converted to the higher one.
    let to = if pa >= pb { a.0 } else { b.0 };
    let conv = |x: &(SqlType, Value)| -> Value {
        convert::convert(&x.1, Some(&x.0), &to, Target::Expr).unwrap_or_else(|_| x.1.clone())
    };
    let (va, vb) = (conv(a), conv(b));
    // Exact numerics are compared as decimals so that int and money meet.
    let as_dec = |v: Value| match v {
        Value::Int(i) => Value::Decimal(i as i128, 0),
        other => other,
    };
    if fa == 4 {
        return compare_same(&as_dec(va), &as_dec(vb));
    }
    compare_same(&va, &vb)
}

/// The `sim_variant` collation over storage texts.
pub fn compare(a: &str, b: &str) -> Ordering {
    match (decode_storage(a), decode_storage(b)) {
        (Some(Value::Variant(x)), Some(Value::Variant(y))) => compare_values(&x, &y),
        _ => a.cmp(b),
    }
}

/// Bytes of the value part of a base type (as in the TDS encoding) and its
/// property bytes: MS-TDS 2.2.5.5.4 (sql_variant).
pub fn wire_sizes(ty: &SqlType, v: &Value) -> (usize, usize) {
    let data = match (ty, v) {
        (SqlType::TinyInt | SqlType::Bit, _) => 1,
        (SqlType::SmallInt, _) => 2,
        (SqlType::Int | SqlType::Real | SqlType::SmallMoney | SqlType::SmallDateTime, _) => 4,
        (SqlType::BigInt | SqlType::Float | SqlType::Money | SqlType::DateTime, _) => 8,
        (SqlType::Decimal { precision, .. }, _) => {
            1 + match precision {
                0..=9 => 4,
                10..=19 => 8,
                20..=28 => 12,
                _ => 16,
            }
        }
        (SqlType::UniqueIdentifier, _) => 16,
        (SqlType::Date, _) => 3,
        (SqlType::Time(s), _) => crate::tds::types::time_len(*s),
        (SqlType::DateTime2(s), _) => crate::tds::types::time_len(*s) + 3,
        (SqlType::DateTimeOffset(s), _) => crate::tds::types::time_len(*s) + 5,
        (SqlType::NVarChar(_) | SqlType::NChar(_), Value::String(s)) => {
            s.encode_utf16().count() * 2
        }
        (_, Value::String(s)) => s.chars().count(),
        (_, Value::Binary(b)) => b.len(),
        _ => 0,
    };
    let props = match ty {
        SqlType::Decimal { .. } => 2,
        SqlType::Time(_) | SqlType::DateTime2(_) | SqlType::DateTimeOffset(_) => 1,
        SqlType::VarBinary(_) | SqlType::Binary(_) => 2,
        t if t.is_string() => 7,
        _ => 0,
    };
    (data, props)
}

/// `SQL_VARIANT_PROPERTY(v, property)`: the property as a sql_variant
/// (the function's return type), NULL for a NULL input or an unknown
/// property name.
pub fn property(v: &Value, prop: &str) -> Value {
    let Value::Variant(b) = v else {
        return Value::Null;
    };
    let (ty, inner) = (&b.0, &b.1);
    let int = |i: i64| Value::Variant(Box::new((SqlType::Int, Value::Int(i))));
    let (precision, scale): (i64, i64) = match ty {
        SqlType::Date => (10, 0),
        SqlType::DateTime => (23, 3),
        SqlType::DateTime2(s) => (if *s == 0 { 19 } else { *s as i64 + 20 }, *s as i64),
        SqlType::DateTimeOffset(s) => (if *s == 0 { 26 } else { *s as i64 + 27 }, *s as i64),
        SqlType::SmallDateTime => (16, 0),
        SqlType::Time(s) => (if *s == 0 { 8 } else { *s as i64 + 9 }, *s as i64),
        SqlType::Float => (53, 0),
        SqlType::Real => (24, 0),
        SqlType::Decimal { precision, scale } => (*precision as i64, *scale as i64),
        SqlType::Money => (19, 4),
        SqlType::SmallMoney => (10, 4),
        SqlType::BigInt => (19, 0),
        SqlType::Int => (10, 0),
        SqlType::SmallInt => (5, 0),
        SqlType::TinyInt => (3, 0),
        SqlType::Bit => (1, 0),
        _ => (0, 0),
    };
    match prop.to_ascii_lowercase().as_str() {
        "basetype" => Value::Variant(Box::new((
            SqlType::NVarChar(Len::N(128)),
            Value::String(ty.base_name().to_string()),
        ))),
        "precision" => int(precision),
        "scale" => int(scale),
        "totalbytes" => {
            let (data, props) = wire_sizes(ty, inner);
            int((2 + props + data) as i64)
        }
        "collation" if ty.is_string() => Value::Variant(Box::new((
            SqlType::NVarChar(Len::N(128)),
            Value::String(collation::database_default().name.to_string()),
        ))),
        "collation" => Value::Null,
        "maxlength" => int(match ty {
            SqlType::NVarChar(Len::N(n)) | SqlType::NChar(n) => *n as i64 * 2,
            SqlType::VarChar(Len::N(n))
            | SqlType::Char(n)
            | SqlType::VarBinary(Len::N(n))
            | SqlType::Binary(n) => *n as i64,
            _ => wire_sizes(ty, inner).0 as i64,
        }),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(ty: SqlType, v: Value) -> (SqlType, Value) {
        (ty, v)
    }

    #[test]
    fn storage_round_trips() {
        for (ty, v) in [
            (SqlType::Int, Value::Int(-7)),
            (SqlType::Float, Value::Float(0.1)),
            (
                SqlType::Decimal {
                    precision: 8,
                    scale: 2,
                },
                Value::Decimal(4627910, 2),
            ),
            (
                SqlType::NVarChar(Len::N(4000)),
                Value::String("h\u{e9}".into()),
            ),
            (
                SqlType::VarBinary(Len::N(3)),
                Value::Binary(vec![0, 255, 7]),
            ),
            (SqlType::UniqueIdentifier, Value::Guid([7; 16])),
            (
                SqlType::DateTimeOffset(7),
                Value::DateTimeOffset {
                    days: 700_000,
                    ticks: 5,
                    offset_minutes: -90,
                },
            ),
        ] {
            let s = encode_storage(&ty, &v);
            assert_eq!(
                decode_storage(&s),
                Some(Value::Variant(Box::new((ty, v)))),
                "{s}"
            );
        }
    }

    #[test]
    fn families_order_and_same_family_converts() {
        let f = var(SqlType::Float, Value::Float(1.0));
        let big = var(SqlType::BigInt, Value::Int(1_000_000));
        // approximate numeric > exact numeric whatever the values
        assert_eq!(compare_values(&f, &big), Ordering::Greater);
        let i = var(SqlType::Int, Value::Int(15));
        let d = var(
            SqlType::Decimal {
                precision: 18,
                scale: 4,
            },
            Value::Decimal(150_000, 4),
        );
        assert_eq!(compare_values(&i, &d), Ordering::Equal);
        let s = var(SqlType::VarChar(Len::N(3)), Value::String("abc".into()));
        let n = var(SqlType::NVarChar(Len::N(3)), Value::String("ABC".into()));
        assert_eq!(compare_values(&s, &n), Ordering::Equal);
        assert_eq!(compare_values(&i, &s), Ordering::Greater);
    }

    #[test]
    fn properties_follow_the_docs() {
        let v = Value::Variant(Box::new((
            SqlType::Decimal {
                precision: 8,
                scale: 2,
            },
            Value::Decimal(4627910, 2),
        )));
        let inner = |p: &str| match property(&v, p) {
            Value::Variant(b) => b.1,
            other => other,
        };
        assert_eq!(inner("BaseType"), Value::String("decimal".into()));
        assert_eq!(inner("Precision"), Value::Int(8));
        assert_eq!(inner("Scale"), Value::Int(2));
        assert_eq!(inner("TotalBytes"), Value::Int(9));
        let n = Value::Variant(Box::new((
            SqlType::NVarChar(Len::N(4000)),
            Value::String("x".into()),
        )));
        assert_eq!(
            property(&n, "MaxLength"),
            Value::Variant(Box::new((SqlType::Int, Value::Int(8000))))
        );
    }
}
