//! Lossless conversion between tiberius' wire values and [`SqlValue`], the form
//! operations are queued in.

use crate::model::SqlValue;
use std::borrow::Cow;
use tiberius::numeric::Numeric;
use tiberius::time::{Date, DateTime, DateTime2, DateTimeOffset, SmallDateTime, Time};
use tiberius::{ColumnData, Uuid};

/// Every value of a result row, in column order.
pub fn row_values(row: tiberius::Row) -> Result<Vec<SqlValue>, UnsupportedType> {
    row.into_iter().map(from_column).collect()
}

/// A value read from a server, with the type it came in.
pub fn from_column(data: ColumnData<'_>) -> Result<SqlValue, UnsupportedType> {
    Ok(match data {
        ColumnData::U8(v) => v.map_or(SqlValue::Null, SqlValue::U8),
        ColumnData::I16(v) => v.map_or(SqlValue::Null, SqlValue::I16),
        ColumnData::I32(v) => v.map_or(SqlValue::Null, SqlValue::I32),
        ColumnData::I64(v) => v.map_or(SqlValue::Null, SqlValue::I64),
        ColumnData::F32(v) => v.map_or(SqlValue::Null, SqlValue::F32),
        ColumnData::F64(v) => v.map_or(SqlValue::Null, SqlValue::F64),
        ColumnData::Bit(v) => v.map_or(SqlValue::Null, SqlValue::Bit),
        ColumnData::String(v) => v.map_or(SqlValue::Null, |s| SqlValue::String(s.into_owned())),
        ColumnData::Guid(v) => v.map_or(SqlValue::Null, |g| SqlValue::Guid(*g.as_bytes())),
        ColumnData::Binary(v) => v.map_or(SqlValue::Null, |b| SqlValue::Binary(b.into_owned())),
        ColumnData::Numeric(v) => v.map_or(SqlValue::Null, |n| SqlValue::Decimal {
            value: n.value(),
            precision: n.precision(),
            scale: n.scale(),
        }),
        ColumnData::DateTime(v) => v.map_or(SqlValue::Null, |d| SqlValue::DateTime {
            days: d.days(),
            fragments: d.seconds_fragments(),
        }),
        ColumnData::SmallDateTime(v) => v.map_or(SqlValue::Null, |d| SqlValue::SmallDateTime {
            days: d.days(),
            minutes: d.seconds_fragments(),
        }),
        ColumnData::Time(v) => v.map_or(SqlValue::Null, |t| SqlValue::Time {
            increments: t.increments(),
            scale: t.scale(),
        }),
        ColumnData::Date(v) => v.map_or(SqlValue::Null, |d| SqlValue::Date(d.days())),
        ColumnData::DateTime2(v) => v.map_or(SqlValue::Null, |d| SqlValue::DateTime2 {
            days: d.date().days(),
            increments: d.time().increments(),
            scale: d.time().scale(),
        }),
        ColumnData::DateTimeOffset(v) => v.map_or(SqlValue::Null, |d| {
            let dt = d.datetime2();
            SqlValue::DateTimeOffset {
                days: dt.date().days(),
                increments: dt.time().increments(),
                scale: dt.time().scale(),
                offset_minutes: d.offset(),
            }
        }),
        // Capture and loads read xml as nvarchar(max) (`read_column`);
        // a value read as xml all the same is its text.
        ColumnData::Xml(v) => v.map_or(SqlValue::Null, |x| SqlValue::String(x.to_string())),
    })
}

/// A value to bind as a parameter.
pub fn to_column(value: &SqlValue) -> ColumnData<'_> {
    match value {
        SqlValue::Null => ColumnData::String(None),
        SqlValue::Bit(b) => ColumnData::Bit(Some(*b)),
        SqlValue::U8(v) => ColumnData::U8(Some(*v)),
        SqlValue::I16(v) => ColumnData::I16(Some(*v)),
        SqlValue::I32(v) => ColumnData::I32(Some(*v)),
        SqlValue::I64(v) => ColumnData::I64(Some(*v)),
        SqlValue::F32(v) => ColumnData::F32(Some(*v)),
        SqlValue::F64(v) => ColumnData::F64(Some(*v)),
        SqlValue::Decimal { value, scale, .. } => {
            ColumnData::Numeric(Some(Numeric::new_with_scale(*value, *scale)))
        }
        SqlValue::String(s) => ColumnData::String(Some(Cow::Borrowed(s.as_str()))),
        SqlValue::Binary(b) => ColumnData::Binary(Some(Cow::Borrowed(b.as_slice()))),
        SqlValue::Guid(g) => ColumnData::Guid(Some(Uuid::from_bytes(*g))),
        SqlValue::Date(d) => ColumnData::Date(Some(Date::new(*d))),
        SqlValue::Time { increments, scale } => {
            ColumnData::Time(Some(Time::new(*increments, *scale)))
        }
        SqlValue::DateTime2 {
            days,
            increments,
            scale,
        } => ColumnData::DateTime2(Some(DateTime2::new(
            Date::new(*days),
            Time::new(*increments, *scale),
        ))),
        SqlValue::DateTimeOffset {
            days,
            increments,
            scale,
            offset_minutes,
        } => ColumnData::DateTimeOffset(Some(DateTimeOffset::new(
            DateTime2::new(Date::new(*days), Time::new(*increments, *scale)),
            *offset_minutes,
        ))),
        SqlValue::DateTime { days, fragments } => {
            ColumnData::DateTime(Some(DateTime::new(*days, *fragments)))
        }
        SqlValue::SmallDateTime { days, minutes } => {
            ColumnData::SmallDateTime(Some(SmallDateTime::new(*days, *minutes)))
        }
    }
}

/// A typed NULL for a column of SQL Server type `data_type` (as
/// `INFORMATION_SCHEMA.COLUMNS.DATA_TYPE` names it). SQL Server refuses some
/// implicit conversions even for NULL (an nvarchar NULL into varbinary is error
/// 257), so NULLs are bound with their column's type.
pub fn null_for(data_type: &str) -> ColumnData<'static> {
    match data_type.to_ascii_lowercase().as_str() {
        "tinyint" => ColumnData::U8(None),
        "smallint" => ColumnData::I16(None),
        "int" => ColumnData::I32(None),
        "bigint" => ColumnData::I64(None),
        "bit" => ColumnData::Bit(None),
        "real" => ColumnData::F32(None),
        "float" => ColumnData::F64(None),
        "decimal" | "numeric" | "money" | "smallmoney" => ColumnData::Numeric(None),
        "binary" | "varbinary" | "image" | "timestamp" | "rowversion" => ColumnData::Binary(None),
        "uniqueidentifier" => ColumnData::Guid(None),
        "date" => ColumnData::Date(None),
        "time" => ColumnData::Time(None),
        "datetime2" => ColumnData::DateTime2(None),
        "datetimeoffset" => ColumnData::DateTimeOffset(None),
        "datetime" => ColumnData::DateTime(None),
        "smalldatetime" => ColumnData::SmallDateTime(None),
        _ => ColumnData::String(None),
    }
}

/// A column type ctsync does not sync (xml for now).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("column type {0} is not supported by ctsync; leave the column out with `columns:`")]
pub struct UnsupportedType(pub &'static str);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips() {
        let values = vec![
            SqlValue::Bit(true),
            SqlValue::U8(7),
            SqlValue::I16(-3),
            SqlValue::I32(42),
            SqlValue::I64(i64::MIN),
            SqlValue::F32(1.5),
            SqlValue::F64(-2.25),
            SqlValue::Decimal {
                value: 12345,
                precision: 10,
                scale: 2,
            },
            SqlValue::String("héllo".into()),
            SqlValue::Binary(vec![0, 1, 255]),
            SqlValue::Guid([9; 16]),
            SqlValue::Date(738000),
            SqlValue::Time {
                increments: 123_456_789,
                scale: 7,
            },
            SqlValue::DateTime2 {
                days: 738000,
                increments: 5,
                scale: 3,
            },
            SqlValue::DateTimeOffset {
                days: 738000,
                increments: 5,
                scale: 7,
                offset_minutes: -300,
            },
            SqlValue::DateTime {
                days: 45000,
                fragments: 300,
            },
            SqlValue::SmallDateTime {
                days: 45000,
                minutes: 61,
            },
        ];
        for v in values {
            let back = from_column(to_column(&v)).unwrap();
            match (&v, &back) {
                // The precision of a Numeric is derived from its digits on the wire side.
                (
                    SqlValue::Decimal {
                        value: a, scale: s, ..
                    },
                    SqlValue::Decimal {
                        value: b, scale: t, ..
                    },
                ) => {
                    assert_eq!((a, s), (b, t))
                }
                _ => assert_eq!(v, back),
            }
        }
    }
}
