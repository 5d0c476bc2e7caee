//! Date and time conversions: text forms (ISO 8601 and the ODBC canonical
//! form, docs/t-sql/functions/cast-and-convert-transact-sql.md "Date and time
//! styles"), rounding to each type's precision, days/ticks arithmetic.

use super::{conversion_failed, not_allowed};
use crate::engine::types::TICKS_PER_DAY;
use crate::error::SqlError;
use crate::value::{SqlType, Value};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// Days since 0001-01-01 of a calendar date.
pub fn days_of(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - 1
}

pub fn date_of(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(1)?)
}

pub(super) fn parse_time_part(s: &str) -> Option<i64> {
    // hh:mm[:ss[.fffffff]]
    let mut it = s.splitn(3, ':');
    let h: i64 = it.next()?.trim().parse().ok()?;
    let m: i64 = it.next()?.trim().parse().ok()?;
    let (sec, frac) = match it.next() {
        Some(rest) => match rest.find('.') {
            Some(i) => (rest[..i].parse::<i64>().ok()?, &rest[i + 1..]),
            None => (rest.trim().parse::<i64>().ok()?, ""),
        },
        None => (0, ""),
    };
    if h > 23 || m > 59 || sec > 59 || frac.len() > 7 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut f: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..7 {
        f *= 10;
    }
    Some(((h * 60 + m) * 60 + sec) * 10_000_000 + f)
}

/// Parses `yyyy-mm-dd[( |T)hh:mm[:ss[.f]]][(+|-)hh:mm|Z]` into days, ticks, offset.
pub(super) fn parse_datetime_text(s: &str) -> Option<(i32, i64, Option<i16>)> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    // A bare time.
    if s.len() >= 5 && s.as_bytes().get(2) == Some(&b':') {
        return Some((0, parse_time_part(s)?, None));
    }
    let date_part = s.get(..10)?;
    let date = NaiveDate::parse_from_str(date_part, "%Y-%m-%d")
        .ok()
        .or_else(|| NaiveDate::parse_from_str(s.get(..8)?, "%Y%m%d").ok())?;
    let rest = if date_part.contains('-') {
        &s[10..]
    } else {
        &s[8..]
    };
    let rest = rest.trim_start_matches(['T', ' ']);
    if rest.is_empty() {
        return Some((days_of(date), 0, None));
    }
    let (time, offset) = if let Some(t) = rest.strip_suffix('Z') {
        (t, Some(0i16))
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let off = &rest[i + 1..];
        let (oh, om) = off.split_once(':')?;
        let mins = oh.trim().parse::<i16>().ok()? * 60 + om.trim().parse::<i16>().ok()?;
        (
            rest[..i].trim(),
            Some(if rest.as_bytes()[i] == b'-' {
                -mins
            } else {
                mins
            }),
        )
    } else {
        (rest, None)
    };
    Some((days_of(date), parse_time_part(time.trim())?, offset))
}

pub(super) fn fmt_ticks(ticks: i64, scale: u8) -> String {
    let t = NaiveTime::from_num_seconds_from_midnight_opt((ticks / 10_000_000) as u32, 0)
        .unwrap_or_default();
    let mut s = format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    if scale > 0 {
        let frac = format!("{:07}", ticks % 10_000_000);
        s.push('.');
        s.push_str(&frac[..scale as usize]);
    }
    s
}

pub(super) fn fmt_date(days: i32) -> String {
    date_of(days)
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()))
        .unwrap_or_default()
}

pub(super) fn round_ticks(ticks: i64, scale: u8) -> i64 {
    let unit = 10i64.pow(7 - scale.min(7) as u32);
    ((ticks + unit / 2) / unit) * unit
}

/// datetime keeps 1/300 s: round 100 ns ticks to the nearest 1/300 s
/// (docs/t-sql/data-types/datetime-transact-sql.md "Rounding of datetime
/// fractional second precision": .000, .003, .007).
pub(super) fn round_datetime(days: i32, ticks: i64) -> (i32, i64) {
    let thirds = (ticks * 300 + 5_000_000) / 10_000_000;
    let t = thirds * 10_000_000 / 300;
    // Keep ticks as SQL Server shows them: whole milliseconds (e.g. .003 ms).
    let t = (t + 5_000) / 10_000 * 10_000;
    if t >= TICKS_PER_DAY {
        (days + 1, t - TICKS_PER_DAY)
    } else {
        (days, t)
    }
}

pub(super) fn convert_temporal(
    v: &Value,
    from: Option<&SqlType>,
    to: &SqlType,
) -> Result<Value, SqlError> {
    // Normalise to (days, ticks, offset) in local time of the offset.
    let (days, ticks, offset): (i32, i64, Option<i16>) = match v {
        Value::Date(d) => (*d, 0, None),
        Value::Time(t) => (0, *t, None),
        Value::DateTime { days, ticks } => (*days, *ticks, None),
        Value::DateTimeOffset {
            days,
            ticks,
            offset_minutes,
        } => {
            let local =
                *days as i64 * TICKS_PER_DAY + *ticks + *offset_minutes as i64 * 600_000_000;
            (
                local.div_euclid(TICKS_PER_DAY) as i32,
                local.rem_euclid(TICKS_PER_DAY),
                Some(*offset_minutes),
            )
        }
        Value::String(s) => parse_datetime_text(s).ok_or_else(|| conversion_failed(s, from, to))?,
        _ => return Err(not_allowed(from, to)),
    };
    if matches!(v, Value::Time(_)) && matches!(to, SqlType::Date) {
        return Err(not_allowed(from, to));
    }
    // datetime's epoch is 1900-01-01 for a bare time.
    let base_days = if matches!(v, Value::Time(_))
        && matches!(to, SqlType::DateTime | SqlType::SmallDateTime)
    {
        NaiveDate::from_ymd_opt(1900, 1, 1)
            .map(days_of)
            .unwrap_or(0)
    } else {
        days
    };
    Ok(match to {
        SqlType::Date => Value::Date(days),
        SqlType::Time(s) => {
            let t = round_ticks(ticks, *s);
            Value::Time(if t >= TICKS_PER_DAY {
                t - TICKS_PER_DAY
            } else {
                t
            })
        }
        SqlType::DateTime2(s) => {
            let t = round_ticks(ticks, *s);
            if t >= TICKS_PER_DAY {
                Value::DateTime {
                    days: base_days + 1,
                    ticks: t - TICKS_PER_DAY,
                }
            } else {
                Value::DateTime {
                    days: base_days,
                    ticks: t,
                }
            }
        }
        SqlType::DateTime => {
            let min = NaiveDate::from_ymd_opt(1753, 1, 1)
                .map(days_of)
                .unwrap_or(0);
            if base_days < min {
                return Err(SqlError::new(
                    242,
                    16,
                    3,
                    "The conversion of a varchar data type to a datetime data type resulted in an out-of-range value.",
                ));
            }
            let (d, t) = round_datetime(base_days, ticks);
            Value::DateTime { days: d, ticks: t }
        }
        SqlType::SmallDateTime => {
            let minute = 600_000_000;
            let t = (ticks + minute / 2) / minute * minute;
            if t >= TICKS_PER_DAY {
                Value::DateTime {
                    days: base_days + 1,
                    ticks: t - TICKS_PER_DAY,
                }
            } else {
                Value::DateTime {
                    days: base_days,
                    ticks: t,
                }
            }
        }
        SqlType::DateTimeOffset(s) => {
            let off = offset.unwrap_or(0);
            let local = base_days as i64 * TICKS_PER_DAY + round_ticks(ticks, *s);
            let utc = local - off as i64 * 600_000_000;
            Value::DateTimeOffset {
                days: utc.div_euclid(TICKS_PER_DAY) as i32,
                ticks: utc.rem_euclid(TICKS_PER_DAY),
                offset_minutes: off,
            }
        }
        _ => return Err(not_allowed(from, to)),
    })
}

/// The current local time as datetime2 components (GETDATE/SYSDATETIME).
pub fn now_local() -> (i32, i64) {
    let now: NaiveDateTime = chrono::Local::now().naive_local();
    let t = now.time();
    (
        days_of(now.date()),
        t.num_seconds_from_midnight() as i64 * 10_000_000
            + (t.nanosecond() as i64 % 1_000_000_000) / 100,
    )
}

pub fn now_utc() -> (i32, i64) {
    let now: NaiveDateTime = chrono::Utc::now().naive_utc();
    let t = now.time();
    (
        days_of(now.date()),
        t.num_seconds_from_midnight() as i64 * 10_000_000
            + (t.nanosecond() as i64 % 1_000_000_000) / 100,
    )
}
