//! Tables whose key is the same on both sides: range hashes, split where
//! they differ, down to (key, row hash) lists.
//!
//! Ranges are `(lo, hi]` in key order, their ends read from a
//! ([`verify_sql::boundary`]: the key `n` rows on), so a range holds at most
//! `n` of a's rows whatever the key's type; b's rows in it are paged, so
//! many rows b has and a lacks do not grow memory either. Both servers
//! evaluate the range predicates with their own collation, which is what
//! the sync's keys live in.

use super::{
    key_id, params, Finding, Findings, Found, Held, Key, Plan, Reader, VerifyError, LEAF_ROWS,
    PAGE_ROWS, SPLIT,
};
use crate::model::SqlValue;
use crate::mssql::verify_sql;
use std::collections::HashMap;

/// A range's count and hash lanes on one side.
type RangeHash = Vec<SqlValue>;

fn sql_err(plan: &Plan, e: impl std::fmt::Display) -> VerifyError {
    VerifyError::Table {
        table: plan.name.clone(),
        message: e.to_string(),
    }
}

/// The key `rows` rows into `(lo, hi]` on a (None: fewer remain).
async fn boundary(
    a: &mut Reader,
    plan: &Plan,
    lo: Option<&Key>,
    hi: Option<&Key>,
    rows: usize,
) -> Result<Option<Key>, VerifyError> {
    let sql = verify_sql::boundary(plan.shape(a.side), lo.is_some(), hi.is_some())
        .map_err(|e| sql_err(plan, e))?;
    let keys: Vec<&Key> = lo.into_iter().chain(hi).collect();
    let found = a
        .rows(
            &plan.name,
            &sql,
            &params(Some(rows.saturating_sub(1) as i64), &keys),
        )
        .await?;
    Ok(found.into_iter().next())
}

async fn range_hash(
    r: &mut Reader,
    plan: &Plan,
    lo: Option<&Key>,
    hi: Option<&Key>,
) -> Result<RangeHash, VerifyError> {
    let sql = verify_sql::range_hash(plan.shape(r.side), &plan.skip, lo.is_some(), hi.is_some())
        .map_err(|e| sql_err(plan, e))?;
    let keys: Vec<&Key> = lo.into_iter().chain(hi).collect();
    let rows = r.rows(&plan.name, &sql, &params(None, &keys)).await?;
    Ok(rows.into_iter().next().unwrap_or_default())
}

fn count(h: &RangeHash) -> u64 {
    match h.first() {
        Some(SqlValue::I64(n)) => (*n).max(0) as u64,
        Some(SqlValue::I32(n)) => (*n).max(0) as u64,
        _ => 0,
    }
}

/// Work left: a range to cut into pieces of `step` rows and hash, or a
/// range to compare row by row.
enum Work {
    Split {
        lo: Option<Key>,
        hi: Option<Key>,
        step: usize,
        top: bool,
    },
    Leaf {
        lo: Option<Key>,
        hi: Option<Key>,
    },
}

/// Compares the whole table; `progress` is told a's rows as each top-level
/// range is done.
pub async fn compare(
    a: &mut Reader,
    b: &mut Reader,
    plan: &Plan,
    held: &Held,
    chunk_rows: usize,
    progress: &mut dyn FnMut(u64),
) -> Result<Findings, VerifyError> {
    let mut out = Findings::default();
    let mut stack = vec![Work::Split {
        lo: None,
        hi: None,
        step: chunk_rows.max(1),
        top: true,
    }];
    while let Some(work) = stack.pop() {
        let (lo, hi, step, top) = match work {
            Work::Leaf { lo, hi } => {
                leaf(a, b, plan, held, lo.as_ref(), hi.as_ref(), &mut out).await?;
                continue;
            }
            Work::Split { lo, hi, step, top } => (lo, hi, step, top),
        };
        let mut cur = lo;
        let mut differing: Vec<(Option<Key>, Option<Key>)> = Vec::new();
        loop {
            let end = boundary(a, plan, cur.as_ref(), hi.as_ref(), step).await?;
            let last = end.is_none();
            let end = end.or_else(|| hi.clone());
            let (ha, hb) = tokio::join!(
                range_hash(a, plan, cur.as_ref(), end.as_ref()),
                range_hash(b, plan, cur.as_ref(), end.as_ref())
            );
            let (ha, hb) = (ha?, hb?);
            if top {
                out.rows_a += count(&ha);
                out.rows_b += count(&hb);
                progress(count(&ha));
            }
            if ha != hb {
                differing.push((cur.clone(), end.clone()));
            }
            if last {
                break;
            }
            cur = end;
        }
        // Pushed last first: the ranges are finished in key order.
        for (lo, hi) in differing.into_iter().rev() {
            stack.push(if step <= LEAF_ROWS {
                Work::Leaf { lo, hi }
            } else {
                Work::Split {
                    lo,
                    hi,
                    step: (step / SPLIT).max(LEAF_ROWS),
                    top: false,
                }
            });
        }
    }
    Ok(out)
}

/// A page of (key, row hash) of `(lo, hi]` after `cursor`.
async fn page(
    r: &mut Reader,
    plan: &Plan,
    lo: Option<&Key>,
    hi: Option<&Key>,
    cursor: Option<&Key>,
) -> Result<Vec<(Key, SqlValue)>, VerifyError> {
    let shape = plan.shape(r.side);
    let width = shape.key.len();
    let sql = verify_sql::rows_page(
        shape,
        &[],
        &plan.skip,
        (lo.is_some(), hi.is_some(), cursor.is_some()),
    )
    .map_err(|e| sql_err(plan, e))?;
    let keys: Vec<&Key> = lo.into_iter().chain(hi).chain(cursor).collect();
    let rows = r
        .rows(&plan.name, &sql, &params(Some(PAGE_ROWS as i64), &keys))
        .await?;
    Ok(rows
        .into_iter()
        .map(|mut row| {
            let h = row.pop().unwrap_or(SqlValue::Null);
            row.truncate(width);
            (row, h)
        })
        .collect())
}

/// Compares `(lo, hi]` row by row: a's (at most a range's rows) held, b's
/// paged against them.
async fn leaf(
    a: &mut Reader,
    b: &mut Reader,
    plan: &Plan,
    held: &Held,
    lo: Option<&Key>,
    hi: Option<&Key>,
    out: &mut Findings,
) -> Result<(), VerifyError> {
    let mut mine: HashMap<String, (Key, SqlValue)> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut cursor: Option<Key> = None;
    loop {
        let rows = page(a, plan, lo, hi, cursor.as_ref()).await?;
        let n = rows.len();
        cursor = rows.last().map(|(k, _)| k.clone());
        for (k, h) in rows {
            let id = key_id(&k);
            order.push(id.clone());
            mine.insert(id, (k, h));
        }
        if n < PAGE_ROWS {
            break;
        }
    }
    let mut cursor: Option<Key> = None;
    loop {
        let rows = page(b, plan, lo, hi, cursor.as_ref()).await?;
        let n = rows.len();
        cursor = rows.last().map(|(k, _)| k.clone());
        for (k, h) in rows {
            match mine.remove(&key_id(&k)) {
                Some((_, ha)) if ha == h => {}
                Some((ka, _)) => out.add(held, finding(Found::Differ, Some(ka), Some(k))),
                None => out.add(held, finding(Found::MissingOnA, None, Some(k))),
            }
        }
        if n < PAGE_ROWS {
            break;
        }
    }
    for id in order {
        if let Some((k, _)) = mine.remove(&id) {
            out.add(held, finding(Found::MissingOnB, Some(k), None));
        }
    }
    Ok(())
}

/// A finding of a table whose key is the same on both sides.
fn finding(found: Found, a: Option<Key>, b: Option<Key>) -> Finding {
    let key = a.clone().or_else(|| b.clone());
    Finding {
        found,
        key_a: key.clone(),
        key_b: key,
        image_a: None,
        image_b: None,
    }
}
