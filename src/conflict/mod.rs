//! Conflicts of two-way sync: the decision, in one place, as pure functions
//! of typed changes and row images (no SQL, no store, no clock).
//!
//! A change of row k on side s is in conflict when the other side t holds a
//! change of the same row that has not reached s yet (captured and queued
//! t→s, or committed on t and not captured yet). The applier detects it
//! (`crate::apply::detect`) and asks [`decide`] what ends on both sides:
//!
//! | policy                  | result |
//! |-------------------------|--------|
//! | `a_wins` / `b_wins`     | that side's row, or its delete |
//! | `newer_wins: COLUMN`    | the row whose COLUMN is greater; ties and NULLs go to a; a row beats a delete |
//! | `merge_columns: X`      | both edits in one row when both sides updated disjoint columns; else X |
//! | `park`                  | nothing is applied; the key waits for an operator |
//!
//! Both sides deleting the row is agreement, not a conflict
//! ([`Decision::Agree`]). Whatever the decision, the caller makes both
//! sides hold the same row: the losing side receives the winner's image.

use crate::config::{ConflictFallback, ConflictPolicy};
use crate::model::{OpKind, Side, SqlValue};
use std::cmp::Ordering;

/// One side's change of the row, as the decision sees it.
#[derive(Debug, Clone, Copy)]
pub struct SideChange<'a> {
    pub kind: OpKind,
    /// The row as this side has it now; `None` when it is gone there.
    pub row: Option<&'a [SqlValue]>,
    /// Names of the columns this side changed (SYS_CHANGE_COLUMNS); `None`
    /// when not known (column tracking off, an insert, a delete, or an
    /// update that set every column).
    pub changed: Option<&'a [String]>,
}

/// What ends on both sides.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Both sides deleted the row: nothing to settle, nothing to record.
    Agree,
    /// This side's row (or its delete) ends on both sides.
    Win(Side),
    /// Both edits kept: this row ends on both sides.
    Merged(Vec<SqlValue>),
    /// Neither change is applied until an operator resolves the conflict.
    Park,
}

/// The conflict's kind as operators read it: `<a's change>/<b's change>`,
/// e.g. `update/delete` (a updated, b deleted).
pub fn kind_name(a: &SideChange<'_>, b: &SideChange<'_>) -> String {
    format!("{}/{}", change_name(a), change_name(b))
}

fn change_name(c: &SideChange<'_>) -> &'static str {
    match (c.kind, c.row.is_some()) {
        (OpKind::Delete, _) | (_, false) => "delete",
        (OpKind::Insert, true) => "insert",
        (OpKind::Update, true) => "update",
    }
}

/// Decides a conflict between a's and b's change of one row. `columns` are
/// the synced columns in row order, `key` the positions of the key columns
/// in them (never merged: they are the row's identity).
pub fn decide(
    policy: &ConflictPolicy,
    columns: &[String],
    key: &[usize],
    a: &SideChange<'_>,
    b: &SideChange<'_>,
) -> Decision {
    let (a_row, b_row) = (present(a), present(b));
    if a_row.is_none() && b_row.is_none() {
        return Decision::Agree;
    }
    match policy {
        ConflictPolicy::AWins => Decision::Win(Side::A),
        ConflictPolicy::BWins => Decision::Win(Side::B),
        ConflictPolicy::Park => Decision::Park,
        ConflictPolicy::NewerWins(column) => {
            let (a_row, b_row) = match (a_row, b_row) {
                // "An update beats a concurrent delete": no edit is lost.
                (Some(_), None) => return Decision::Win(Side::A),
                (None, Some(_)) => return Decision::Win(Side::B),
                (Some(x), Some(y)) => (x, y),
                (None, None) => return Decision::Agree,
            };
            let Some(pos) = columns.iter().position(|c| c.eq_ignore_ascii_case(column)) else {
                return Decision::Win(Side::A);
            };
            match (a_row.get(pos), b_row.get(pos)) {
                (Some(x), Some(y)) if compare(y, x) == Some(Ordering::Greater) => {
                    Decision::Win(Side::B)
                }
                // Ties, NULLs, values that do not compare: a.
                _ => Decision::Win(Side::A),
            }
        }
        ConflictPolicy::MergeColumns(fallback) => {
            let fallback = Decision::Win(match fallback {
                ConflictFallback::AWins => Side::A,
                ConflictFallback::BWins => Side::B,
            });
            merge(columns, key, a, b).map_or(fallback, Decision::Merged)
        }
    }
}

fn present<'a>(c: &SideChange<'a>) -> Option<&'a [SqlValue]> {
    match c.kind {
        OpKind::Delete => None,
        _ => c.row,
    }
}

/// a's row with the columns b changed taken from b's row, when both sides
/// updated the row and the columns they changed (key columns aside) are
/// known and disjoint.
fn merge(
    columns: &[String],
    key: &[usize],
    a: &SideChange<'_>,
    b: &SideChange<'_>,
) -> Option<Vec<SqlValue>> {
    if a.kind != OpKind::Update || b.kind != OpKind::Update {
        return None;
    }
    let (a_row, b_row) = (a.row?, b.row?);
    let (a_changed, b_changed) = (a.changed?, b.changed?);
    let positions = |names: &[String]| -> Vec<usize> {
        columns
            .iter()
            .enumerate()
            .filter(|(i, c)| !key.contains(i) && names.iter().any(|n| n.eq_ignore_ascii_case(c)))
            .map(|(i, _)| i)
            .collect()
    };
    let (pa, pb) = (positions(a_changed), positions(b_changed));
    if pa.iter().any(|p| pb.contains(p)) || a_row.len() != b_row.len() {
        return None;
    }
    let mut merged = a_row.to_vec();
    for p in pb {
        merged[p] = b_row[p].clone();
    }
    Some(merged)
}

/// Orders two values of a `newer_wins` column: numbers with numbers, dates
/// and times with their own kind. `None` when either is NULL or the two do
/// not compare.
pub fn compare(x: &SqlValue, y: &SqlValue) -> Option<Ordering> {
    use SqlValue as V;
    if let (Some(a), Some(b)) = (integer(x), integer(y)) {
        return Some(a.cmp(&b));
    }
    match (x, y) {
        (
            V::Decimal {
                value: a,
                scale: sa,
                ..
            },
            V::Decimal {
                value: b,
                scale: sb,
                ..
            },
        ) => {
            // Bring both to the larger scale; i128 holds 38 digits and a
            // scale difference of at most 38, checked rather than wrapped.
            let s = (*sa).max(*sb);
            let a = a.checked_mul(10i128.checked_pow(u32::from(s - sa))?)?;
            let b = b.checked_mul(10i128.checked_pow(u32::from(s - sb))?)?;
            Some(a.cmp(&b))
        }
        (V::F32(_) | V::F64(_), V::F32(_) | V::F64(_)) => float(x)?.partial_cmp(&float(y)?),
        (V::Date(a), V::Date(b)) => Some(a.cmp(b)),
        (V::Time { .. }, V::Time { .. })
        | (V::DateTime2 { .. }, V::DateTime2 { .. })
        | (V::DateTimeOffset { .. }, V::DateTimeOffset { .. }) => {
            Some(instant(x)?.cmp(&instant(y)?))
        }
        (
            V::DateTime {
                days: a,
                fragments: fa,
            },
            V::DateTime {
                days: b,
                fragments: fb,
            },
        ) => Some((a, fa).cmp(&(b, fb))),
        (
            V::SmallDateTime {
                days: a,
                minutes: ma,
            },
            V::SmallDateTime {
                days: b,
                minutes: mb,
            },
        ) => Some((a, ma).cmp(&(b, mb))),
        _ => None,
    }
}

fn integer(v: &SqlValue) -> Option<i128> {
    match v {
        SqlValue::U8(x) => Some(i128::from(*x)),
        SqlValue::I16(x) => Some(i128::from(*x)),
        SqlValue::I32(x) => Some(i128::from(*x)),
        SqlValue::I64(x) => Some(i128::from(*x)),
        SqlValue::Bit(x) => Some(i128::from(*x)),
        _ => None,
    }
}

fn float(v: &SqlValue) -> Option<f64> {
    match v {
        SqlValue::F32(x) => Some(f64::from(*x)),
        SqlValue::F64(x) => Some(*x),
        _ => None,
    }
}

/// (days, 100 ns ticks) of a time-of-day value, at scale 7.
fn instant(v: &SqlValue) -> Option<(u32, u64)> {
    let ticks = |increments: u64, scale: u8| -> Option<u64> {
        increments.checked_mul(10u64.checked_pow(u32::from(7u8.checked_sub(scale)?))?)
    };
    match v {
        SqlValue::Time { increments, scale } => Some((0, ticks(*increments, *scale)?)),
        SqlValue::DateTime2 {
            days,
            increments,
            scale,
        }
        | SqlValue::DateTimeOffset {
            days,
            increments,
            scale,
            ..
        } => Some((*days, ticks(*increments, *scale)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
