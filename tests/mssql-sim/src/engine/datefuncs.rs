//! DATEADD, DATEDIFF and DATEPART as SQLite functions over stored values
//! (docs/t-sql/functions/dateadd-transact-sql.md, datediff-transact-sql.md,
//! datepart-transact-sql.md).

use super::convert::{self, Target};
use super::functions::encode_error;
use super::types::{from_storage, to_storage, TICKS_PER_DAY};
use crate::error::SqlError;
use crate::value::{SqlType, Value};
use chrono::{Datelike, Months, NaiveDate};
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value as DbValue, ValueRef};
use rusqlite::Connection;

/// Canonical name of a datepart or its abbreviation.
pub fn datepart(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "year" | "yy" | "yyyy" => "year",
        "quarter" | "qq" | "q" => "quarter",
        "month" | "mm" | "m" => "month",
        "dayofyear" | "dy" | "y" => "dayofyear",
        "day" | "dd" | "d" => "day",
        "week" | "wk" | "ww" => "week",
        "weekday" | "dw" | "w" => "weekday",
        "hour" | "hh" => "hour",
        "minute" | "mi" | "n" => "minute",
        "second" | "ss" | "s" => "second",
        "millisecond" | "ms" => "millisecond",
        "microsecond" | "mcs" => "microsecond",
        "nanosecond" | "ns" => "nanosecond",
        _ => return None,
    })
}

fn bad_part(part: &str) -> SqlError {
    SqlError::new(
        155,
        15,
        1,
        format!("'{part}' is not a recognized datepart option."),
    )
}

/// (days, ticks) of any date/time value, in local time for datetimeoffset.
fn parts_of(v: &Value, ty: Option<&SqlType>) -> Result<Option<(i32, i64)>, SqlError> {
    Ok(
        match convert::convert(v, ty, &SqlType::DateTime2(7), Target::Expr)? {
            Value::DateTime { days, ticks } => Some((days, ticks)),
            _ => None,
        },
    )
}

fn unit_ticks(part: &str) -> Option<i64> {
    Some(match part {
        "hour" => 36_000_000_000,
        "minute" => 600_000_000,
        "second" => 10_000_000,
        "millisecond" => 10_000,
        "microsecond" => 10,
        "nanosecond" => 1,
        "day" | "dayofyear" | "weekday" => TICKS_PER_DAY,
        "week" => 7 * TICKS_PER_DAY,
        _ => return None,
    })
}

fn add(part: &str, n: i64, days: i32, ticks: i64) -> Result<(i32, i64), SqlError> {
    let overflow = || {
        SqlError::new(
            517,
            16,
            1,
            "Adding a value to a 'datetime2' column caused an overflow.",
        )
    };
    let months = match part {
        "year" => Some(n.checked_mul(12).ok_or_else(overflow)?),
        "quarter" => Some(n.checked_mul(3).ok_or_else(overflow)?),
        "month" => Some(n),
        _ => None,
    };
    if let Some(m) = months {
        let d = convert::date_of(days).ok_or_else(overflow)?;
        let moved: Option<NaiveDate> = if m >= 0 {
            d.checked_add_months(Months::new(u32::try_from(m).map_err(|_| overflow())?))
        } else {
            d.checked_sub_months(Months::new(u32::try_from(-m).map_err(|_| overflow())?))
        };
        return Ok((convert::days_of(moved.ok_or_else(overflow)?), ticks));
    }
    let unit = unit_ticks(part).ok_or_else(|| bad_part(part))?;
    let total = (days as i64)
        .checked_mul(TICKS_PER_DAY)
        .and_then(|t| t.checked_add(ticks))
        .and_then(|t| n.checked_mul(unit).and_then(|d| t.checked_add(d)))
        .ok_or_else(overflow)?;
    let d = total.div_euclid(TICKS_PER_DAY);
    if !(0..3_652_059).contains(&d) {
        return Err(overflow());
    }
    Ok((d as i32, total.rem_euclid(TICKS_PER_DAY)))
}

fn diff(part: &str, a: (i32, i64), b: (i32, i64)) -> Result<i64, SqlError> {
    let ymd = |d: i32| {
        convert::date_of(d)
            .map(|x| (x.year() as i64, x.month() as i64))
            .unwrap_or((1, 1))
    };
    Ok(match part {
        "year" => ymd(b.0).0 - ymd(a.0).0,
        "quarter" => {
            let (ya, ma) = ymd(a.0);
            let (yb, mb) = ymd(b.0);
            (yb * 4 + (mb - 1) / 3) - (ya * 4 + (ma - 1) / 3)
        }
        "month" => {
            let (ya, ma) = ymd(a.0);
            let (yb, mb) = ymd(b.0);
            (yb * 12 + mb) - (ya * 12 + ma)
        }
        // Weeks start on Sunday (SET DATEFIRST 7); 0001-01-01 was a Monday.
        "week" => (b.0 as i64 + 1).div_euclid(7) - (a.0 as i64 + 1).div_euclid(7),
        "day" | "dayofyear" | "weekday" => b.0 as i64 - a.0 as i64,
        p => {
            let unit = unit_ticks(p).ok_or_else(|| bad_part(p))? as i128;
            let ta = a.0 as i128 * TICKS_PER_DAY as i128 + a.1 as i128;
            let tb = b.0 as i128 * TICKS_PER_DAY as i128 + b.1 as i128;
            let d = tb.div_euclid(unit) - ta.div_euclid(unit);
            i64::try_from(d).map_err(|_| {
                SqlError::new(535, 16, 0, "The datediff function resulted in an overflow. The number of dateparts separating two date/time instances is too large. Try to use datediff with a less precise datepart.")
            })?
        }
    })
}

fn datepart_of(part: &str, days: i32, ticks: i64) -> Result<i64, SqlError> {
    let d = convert::date_of(days).ok_or_else(|| bad_part(part))?;
    Ok(match part {
        "year" => d.year() as i64,
        "quarter" => (d.month() as i64 - 1) / 3 + 1,
        "month" => d.month() as i64,
        "dayofyear" => d.ordinal() as i64,
        "day" => d.day() as i64,
        "week" => {
            (d.ordinal() as i64
                + NaiveDate::from_yo_opt(d.year(), 1)
                    .map(|f| f.weekday().num_days_from_sunday() as i64)
                    .unwrap_or(0)
                - 1)
                / 7
                + 1
        }
        "weekday" => d.weekday().num_days_from_sunday() as i64 + 1,
        "hour" => ticks / 36_000_000_000,
        "minute" => ticks / 600_000_000 % 60,
        "second" => ticks / 10_000_000 % 60,
        "millisecond" => ticks / 10_000 % 1000,
        "microsecond" => ticks / 10 % 1_000_000,
        "nanosecond" => ticks % 10_000_000 * 100,
        p => return Err(bad_part(p)),
    })
}

fn arg_ty(ctx: &Context<'_>, i: usize) -> Option<SqlType> {
    super::functions::ty_arg(ctx, i).ok().flatten()
}

fn arg_val(ctx: &Context<'_>, i: usize, ty: Option<&SqlType>) -> rusqlite::Result<Value> {
    match ty {
        Some(t) => from_storage(ctx.get_raw(i), t).map_err(encode_error),
        None => Ok(match ctx.get_raw(i) {
            ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
            _ => Value::Null,
        }),
    }
}

pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    let det = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    // sim_dateadd(part, n, value, type_code) -> value of the same type
    conn.create_scalar_function("sim_dateadd", 4, det, |ctx| {
        let part: String = ctx.get(0)?;
        let n: Option<i64> = ctx.get(1)?;
        let ty = arg_ty(ctx, 3);
        let v = arg_val(ctx, 2, ty.as_ref())?;
        let (Some(n), Some(t)) = (n, ty) else {
            return Ok(DbValue::Null);
        };
        let Some((days, ticks)) = parts_of(&v, Some(&t)).map_err(encode_error)? else {
            return Ok(DbValue::Null);
        };
        let (d, tk) = add(&part, n, days, ticks).map_err(encode_error)?;
        let out = convert::convert(
            &Value::DateTime { days: d, ticks: tk },
            Some(&SqlType::DateTime2(7)),
            &t,
            Target::Expr,
        )
        .map_err(encode_error)?;
        Ok(to_storage(&out, &t))
    })?;
    // sim_datediff(part, a, a_type, b, b_type) -> bigint
    conn.create_scalar_function("sim_datediff", 5, det, |ctx| {
        let part: String = ctx.get(0)?;
        let ta = arg_ty(ctx, 2);
        let tb = arg_ty(ctx, 4);
        let a = arg_val(ctx, 1, ta.as_ref())?;
        let b = arg_val(ctx, 3, tb.as_ref())?;
        let (Some(a), Some(b)) = (
            parts_of(&a, ta.as_ref()).map_err(encode_error)?,
            parts_of(&b, tb.as_ref()).map_err(encode_error)?,
        ) else {
            return Ok(None);
        };
        diff(&part, a, b).map(Some).map_err(encode_error)
    })?;
    // sim_datepart(part, value, type_code) -> int
    conn.create_scalar_function("sim_datepart", 3, det, |ctx| {
        let part: String = ctx.get(0)?;
        let ty = arg_ty(ctx, 2);
        let v = arg_val(ctx, 1, ty.as_ref())?;
        let Some((d, t)) = parts_of(&v, ty.as_ref()).map_err(encode_error)? else {
            return Ok(None);
        };
        datepart_of(&part, d, t).map(Some).map_err(encode_error)
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_arithmetic_clamps_to_the_month_end() {
        let jan31 = convert::days_of(NaiveDate::from_ymd_opt(2023, 1, 31).unwrap());
        let (d, _) = add("month", 1, jan31, 0).unwrap();
        assert_eq!(convert::date_of(d), NaiveDate::from_ymd_opt(2023, 2, 28));
        assert_eq!(diff("year", (jan31, 0), (d + 365, 0)).unwrap(), 1);
        assert_eq!(
            diff("hour", (jan31, TICKS_PER_DAY - 1), (jan31 + 1, 0)).unwrap(),
            1
        );
        assert_eq!(datepart_of("weekday", jan31, 0).unwrap(), 3, "a Tuesday");
    }
}
