//! The text of an export file: RFC 4180 records and the text of each value.
//!
//! Records end with CRLF; a field is quoted when it holds `,` `"` CR or LF,
//! or is the empty string, and quotes inside are doubled. NULL is an empty
//! unquoted field, so `,,` is NULL and `,"",` is the empty string. The `csv`
//! crate's writer cannot quote one empty field and leave another bare (its
//! quoting is per writer, not per field), which is why these few lines are
//! written by hand; the tests read the files back with the `csv` crate.
//!
//! Values: integers and bit (`0`/`1`) as numbers, decimal/numeric/money as
//! exact decimal text, floats in Rust's shortest round-trip form, binary as
//! `0x` and upper-case hex, uniqueidentifier upper-case, and dates and times
//! in ISO 8601: `2024-01-31`, `12:34:56.1234567`,
//! `2024-01-31T12:34:56.1234567`, datetimeoffset in its own offset
//! (`2024-01-31T12:34:56.1234567+02:00`), datetime with milliseconds.

use crate::model::SqlValue;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Writes one record: each field `None` (NULL) or its text.
pub fn write_record<'a, W: Write>(
    out: &mut W,
    fields: impl IntoIterator<Item = Option<&'a str>>,
) -> io::Result<()> {
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        let Some(f) = f else { continue };
        if f.is_empty() || f.contains([',', '"', '\r', '\n']) {
            out.write_all(b"\"")?;
            let mut rest = f;
            while let Some(at) = rest.find('"') {
                out.write_all(rest[..=at].as_bytes())?;
                out.write_all(b"\"")?;
                rest = &rest[at + 1..];
            }
            out.write_all(rest.as_bytes())?;
            out.write_all(b"\"")?;
        } else {
            out.write_all(f.as_bytes())?;
        }
    }
    out.write_all(b"\r\n")
}

/// The text of a value into `buf` (cleared first); `false` for NULL.
pub fn value_text(v: &SqlValue, buf: &mut String) -> bool {
    buf.clear();
    // Writing into a String cannot fail.
    let _ = match v {
        SqlValue::Null => return false,
        SqlValue::Bit(b) => write!(buf, "{}", u8::from(*b)),
        SqlValue::U8(x) => write!(buf, "{x}"),
        SqlValue::I16(x) => write!(buf, "{x}"),
        SqlValue::I32(x) => write!(buf, "{x}"),
        SqlValue::I64(x) => write!(buf, "{x}"),
        SqlValue::F32(x) => write!(buf, "{x}"),
        SqlValue::F64(x) => write!(buf, "{x}"),
        SqlValue::Decimal { value, scale, .. } => decimal(buf, *value, *scale),
        SqlValue::String(s) => write!(buf, "{s}"),
        SqlValue::Binary(b) => {
            buf.push_str("0x");
            b.iter().try_for_each(|x| write!(buf, "{x:02X}"))
        }
        SqlValue::Guid(g) => write!(
            buf,
            "{}",
            tiberius::Uuid::from_bytes(*g)
                .hyphenated()
                .to_string()
                .to_ascii_uppercase()
        ),
        SqlValue::Date(days) => date(buf, i64::from(*days) - DAYS_0001_TO_1970),
        SqlValue::Time { increments, scale } => time(buf, *increments, *scale),
        SqlValue::DateTime2 {
            days,
            increments,
            scale,
        } => date(buf, i64::from(*days) - DAYS_0001_TO_1970)
            .and_then(|_| buf.write_char('T'))
            .and_then(|_| time(buf, *increments, *scale)),
        SqlValue::DateTimeOffset {
            days,
            increments,
            scale,
            offset_minutes,
        } => {
            // TDS carries UTC; show the local time of the stored offset.
            let unit = 10u64.pow(u32::from(*scale));
            let day = 86_400 * unit as i128;
            let local = i128::from(*days) * day
                + i128::from(*increments)
                + i128::from(*offset_minutes) * 60 * unit as i128;
            let (d, t) = (local.div_euclid(day), local.rem_euclid(day));
            let m = offset_minutes.unsigned_abs();
            date(buf, d as i64 - DAYS_0001_TO_1970)
                .and_then(|_| buf.write_char('T'))
                .and_then(|_| time(buf, t as u64, *scale))
                .and_then(|_| {
                    let sign = if *offset_minutes < 0 { '-' } else { '+' };
                    write!(buf, "{sign}{:02}:{:02}", m / 60, m % 60)
                })
        }
        SqlValue::DateTime { days, fragments } => {
            // 1/300 s ticks, shown to the millisecond as SQL Server does.
            let ms = (u64::from(*fragments) * 10 + 1) / 3;
            date(buf, i64::from(*days) - DAYS_1900_TO_1970)
                .and_then(|_| buf.write_char('T'))
                .and_then(|_| time(buf, ms, 3))
        }
        SqlValue::SmallDateTime { days, minutes } => {
            date(buf, i64::from(*days) - DAYS_1900_TO_1970)
                .and_then(|_| buf.write_char('T'))
                .and_then(|_| time(buf, u64::from(*minutes) * 60, 0))
        }
    };
    true
}

const DAYS_0001_TO_1970: i64 = 719_162;
const DAYS_1900_TO_1970: i64 = 25_567;

fn decimal(buf: &mut String, value: i128, scale: u8) -> std::fmt::Result {
    let digits = value.unsigned_abs().to_string();
    let scale = usize::from(scale);
    if value < 0 {
        buf.push('-');
    }
    if scale == 0 {
        buf.push_str(&digits);
        return Ok(());
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    write!(buf, "{int}.{frac}")
}

/// `YYYY-MM-DD` of days since 1970-01-01 (proleptic Gregorian; H. Hinnant's
/// `civil_from_days`).
fn date(buf: &mut String, days: i64) -> std::fmt::Result {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    write!(buf, "{y:04}-{m:02}-{d:02}")
}

/// `HH:MM:SS[.fffffff]` of `increments` of 10^-scale s since midnight.
fn time(buf: &mut String, increments: u64, scale: u8) -> std::fmt::Result {
    let unit = 10u64.pow(u32::from(scale));
    let secs = increments / unit;
    write!(
        buf,
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )?;
    if scale > 0 {
        write!(
            buf,
            ".{:0width$}",
            increments % unit,
            width = usize::from(scale)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: SqlValue) -> Option<String> {
        let mut s = String::new();
        value_text(&v, &mut s).then_some(s)
    }

    #[test]
    fn quoting_keeps_null_and_empty_apart() {
        let mut out = Vec::new();
        write_record(
            &mut out,
            [
                Some("1"),
                None,
                Some(""),
                Some("Zoë, \"the\" 東京\r\nline2"),
                Some("plain"),
            ],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1,,\"\",\"Zoë, \"\"the\"\" 東京\r\nline2\",plain\r\n"
        );
    }

    #[test]
    fn values_as_text() {
        assert_eq!(text(SqlValue::Null), None);
        assert_eq!(text(SqlValue::Bit(true)).as_deref(), Some("1"));
        let dec = |value, scale| SqlValue::Decimal {
            value,
            precision: 10,
            scale,
        };
        assert_eq!(text(dec(-5, 2)).as_deref(), Some("-0.05"));
        assert_eq!(text(dec(123456, 2)).as_deref(), Some("1234.56"));
        assert_eq!(text(dec(7, 0)).as_deref(), Some("7"));
        assert_eq!(
            text(SqlValue::Binary(vec![0, 0xAB])).as_deref(),
            Some("0x00AB")
        );
        // 2024-01-31 is day 738915 since 0001-01-01.
        assert_eq!(text(SqlValue::Date(738_915)).as_deref(), Some("2024-01-31"));
        assert_eq!(text(SqlValue::Date(0)).as_deref(), Some("0001-01-01"));
        let t: u64 = (12 * 3600 + 34 * 60 + 56) * 10_000_000 + 1_234_567;
        assert_eq!(
            text(SqlValue::DateTime2 {
                days: 738_915,
                increments: t,
                scale: 7
            })
            .as_deref(),
            Some("2024-01-31T12:34:56.1234567")
        );
        // 23:30 UTC on 01-30 at +02:00 is 01:30 local on 01-31.
        assert_eq!(
            text(SqlValue::DateTimeOffset {
                days: 738_914,
                increments: 23 * 3600 + 30 * 60,
                scale: 0,
                offset_minutes: 120
            })
            .as_deref(),
            Some("2024-01-31T01:30:00+02:00")
        );
        assert_eq!(
            text(SqlValue::DateTimeOffset {
                days: 738_915,
                increments: 0,
                scale: 0,
                offset_minutes: -330
            })
            .as_deref(),
            Some("2024-01-30T18:30:00-05:30")
        );
        // datetime: 1900-01-01 + 45320 days, 300 ticks = 1 s.
        assert_eq!(
            text(SqlValue::DateTime {
                days: 45_320,
                fragments: 301
            })
            .as_deref(),
            Some("2024-01-31T00:00:01.003")
        );
    }
}
