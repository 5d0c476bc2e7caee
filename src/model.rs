//! The typed operations that capture, queue and apply speak. No SQL text here:
//! the `mssql` module turns these into statements.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One of the two synced servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Side::A => "a",
            Side::B => "b",
        }
    }
}

/// A direction of flow: changes captured on `source` are applied to its other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
// JSON (`inspect --json`) shows `a_to_b`; bincode stores the variant index,
// so the names do not affect the store's format.
#[serde(rename_all = "snake_case")]
pub enum Direction {
    AToB,
    BToA,
}

impl Direction {
    pub fn source(self) -> Side {
        match self {
            Direction::AToB => Side::A,
            Direction::BToA => Side::B,
        }
    }
    pub fn target(self) -> Side {
        self.source().other()
    }
    /// The opposite direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::AToB => Direction::BToA,
            Direction::BToA => Direction::AToB,
        }
    }
    pub fn from_source(source: Side) -> Direction {
        match source {
            Side::A => Direction::AToB,
            Side::B => Direction::BToA,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::AToB => "a_to_b",
            Direction::BToA => "b_to_a",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A column value as captured from one server and written to the other.
/// Every SQL Server type ctsync syncs maps to exactly one variant, losslessly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SqlValue {
    Null,
    Bit(bool),
    U8(u8),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    /// decimal/numeric/money: unscaled value, precision, scale.
    Decimal {
        value: i128,
        precision: u8,
        scale: u8,
    },
    String(String),
    Binary(Vec<u8>),
    Guid([u8; 16]),
    /// date: days since 0001-01-01.
    Date(u32),
    /// time(scale): `increments` of 10^-scale seconds since midnight.
    Time {
        increments: u64,
        scale: u8,
    },
    /// datetime2(scale): days since 0001-01-01 and the time of day.
    DateTime2 {
        days: u32,
        increments: u64,
        scale: u8,
    },
    /// datetimeoffset(scale): the UTC date and time plus the offset in minutes
    /// (as TDS carries it).
    DateTimeOffset {
        days: u32,
        increments: u64,
        scale: u8,
        offset_minutes: i16,
    },
    /// datetime: days since 1900-01-01 and 1/300 seconds since midnight.
    DateTime {
        days: i32,
        fragments: u32,
    },
    /// smalldatetime: days since 1900-01-01 and minutes since midnight.
    SmallDateTime {
        days: u16,
        minutes: u16,
    },
}

impl SqlValue {
    /// Bytes this value stands for in a batch or a request: the text or
    /// binary length, 16 for a fixed-size value. An estimate for bounding
    /// memory, not an exact size.
    pub fn approx_bytes(&self) -> usize {
        match self {
            SqlValue::String(s) => s.len(),
            SqlValue::Binary(b) => b.len(),
            _ => 16,
        }
    }
}

/// What happened to a row, as CHANGETABLE folds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpKind {
    Insert,
    Update,
    Delete,
}

/// One captured change of one row, ready to be applied on the other side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub kind: OpKind,
    /// The source's key values, in the table's configured key order.
    pub key: Vec<SqlValue>,
    /// The row image at capture time in the table's configured column order;
    /// `None` for deletes, and for an insert/update whose row was deleted again
    /// before the capture read it (it then applies as a delete).
    pub row: Option<Vec<SqlValue>>,
    /// SYS_CHANGE_VERSION on the source.
    pub version: i64,
    /// The columns the change set (from SYS_CHANGE_COLUMNS), read only for
    /// tables whose conflict policy merges columns; `None` when not read or
    /// not known (an insert, a delete, column tracking off).
    pub changed: Option<Vec<String>>,
}

impl Operation {
    /// Bytes of the operation's values (see [`SqlValue::approx_bytes`]).
    pub fn approx_bytes(&self) -> usize {
        let values = |v: &[SqlValue]| v.iter().map(SqlValue::approx_bytes).sum::<usize>();
        32 + values(&self.key) + self.row.as_deref().map_or(0, values)
    }
}

/// The first operations of `ops` whose bytes fit in `bytes_max`, never
/// fewer than one: an apply batch bounded in bytes as well as in count.
pub fn within_bytes<T>(ops: &mut Vec<(T, Operation)>, bytes_max: usize) {
    let mut total = 0usize;
    let keep = ops
        .iter()
        .position(|(_, op)| {
            total = total.saturating_add(op.approx_bytes());
            total > bytes_max
        })
        .unwrap_or(ops.len())
        .max(1);
    ops.truncate(keep);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(bytes: usize) -> (u64, Operation) {
        (
            0,
            Operation {
                kind: OpKind::Update,
                key: vec![SqlValue::I32(1)],
                row: Some(vec![SqlValue::String("x".repeat(bytes))]),
                version: 1,
                changed: None,
            },
        )
    }

    #[test]
    fn a_batch_is_cut_at_its_bytes_bound_but_never_empty() {
        let mut ops: Vec<_> = (0..10).map(|_| op(1000)).collect();
        within_bytes(&mut ops, 3500);
        assert_eq!(ops.len(), 3, "3 x ~1048 bytes fit in 3500, 4 do not");
        let mut one = vec![op(10_000_000), op(10)];
        within_bytes(&mut one, 64 * 1024);
        assert_eq!(
            one.len(),
            1,
            "a single operation over the bound still goes alone"
        );
        let mut small: Vec<_> = (0..10).map(|_| op(10)).collect();
        within_bytes(&mut small, 1 << 20);
        assert_eq!(small.len(), 10);
    }
}
