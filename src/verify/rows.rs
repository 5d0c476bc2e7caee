//! Tables whose keys or references differ between the sides (identity keys
//! each server assigns, `references` columns holding another table's ids):
//! per-row hashes, translated through the id maps here.
//!
//! Ranges of keys do not line up across the sides (a's 5..10 may be b's
//! 1005, 17, 1200 ...), so range hashes would differ everywhere. Instead:
//!
//! 1. a's rows in key-ordered pages of [`PAGE_ROWS`]: key, reference
//!    columns, and the hash of the other columns
//!    ([`verify_sql::rows_page`], key and references left out of it);
//!    each key and reference translated a→b as the applier translates them;
//!    b's rows at the translated keys read by key ([`verify_sql::rows_at`])
//!    and compared: hash, and each reference (b's value against a's
//!    translated one). A key with no mapping is missing on b.
//! 2. b's keys in pages, translated b→a: a key with no mapping, or mapped to
//!    a key a does not have, is missing on a.
//!
//! Cost: two requests per page and side instead of one per range; memory:
//! one page.

use super::held::State;
use super::{
    key_id, params, Finding, Findings, Found, Held, Key, Plan, Reader, VerifyError, PAGE_ROWS,
};
use crate::config::Config;
use crate::model::{Direction, SqlValue};
use crate::mssql::{load_sql, verify_sql};
use std::collections::{HashMap, HashSet};

fn sql_err(plan: &Plan, e: impl std::fmt::Display) -> VerifyError {
    VerifyError::Table {
        table: plan.name.clone(),
        message: e.to_string(),
    }
}

/// One row as row mode reads it.
struct Row {
    key: Key,
    refs: Vec<SqlValue>,
    hash: SqlValue,
}

fn split(plan: &Plan, width: usize, mut row: Vec<SqlValue>) -> Row {
    let hash = row.pop().unwrap_or(SqlValue::Null);
    let refs = row.split_off(width.min(row.len()));
    let _ = plan;
    Row {
        key: row,
        refs,
        hash,
    }
}

/// Translates keys of `direction`'s source as the applier does: through
/// the id map for a mapped table; otherwise each key column that is a
/// `references` column through the referenced table's map (an order line
/// keyed by (order_id, line_no) where orders are identity-mapped), the
/// other columns as they are. None: a value without a mapping.
async fn translate_keys(
    state: &State,
    config: &Config,
    plan: &Plan,
    direction: Direction,
    keys: Vec<Key>,
) -> Result<Vec<Option<Key>>, VerifyError> {
    if plan.mapped {
        return state.map_keys(config, &plan.name, direction, keys).await;
    }
    // (index in the key, referenced table); positions are the same on both
    // sides (the synced columns in configured order).
    let key_refs: Vec<(usize, &str)> = plan.shapes[0]
        .key_positions()
        .into_iter()
        .enumerate()
        .filter_map(|(i, pos)| {
            plan.references
                .iter()
                .find(|(p, _)| *p == pos)
                .map(|(_, t)| (i, t.as_str()))
        })
        .collect();
    let mut out: Vec<Option<Key>> = keys.into_iter().map(Some).collect();
    for (i, referenced) in key_refs {
        let mut at = Vec::new();
        let mut values = Vec::new();
        for (j, key) in out.iter().enumerate() {
            match key.as_ref().and_then(|k| k.get(i)) {
                None | Some(SqlValue::Null) => {}
                Some(v) => {
                    at.push(j);
                    values.push(vec![v.clone()]);
                }
            }
        }
        if values.is_empty() {
            continue;
        }
        let mapped = state
            .map_keys(config, referenced, direction, values)
            .await?;
        for (j, m) in at.into_iter().zip(mapped) {
            match m.and_then(|mut k| (k.len() == 1).then(|| k.remove(0))) {
                Some(v) => {
                    if let Some(k) = out[j].as_mut() {
                        k[i] = v;
                    }
                }
                None => out[j] = None,
            }
        }
    }
    Ok(out)
}

/// a's reference values of `rows` in b's key space (None: not mapped), per
/// row and reference.
async fn translate_refs(
    state: &State,
    config: &Config,
    plan: &Plan,
    rows: &[Row],
) -> Result<Vec<Vec<Option<SqlValue>>>, VerifyError> {
    let mut out: Vec<Vec<Option<SqlValue>>> = rows
        .iter()
        .map(|r| r.refs.iter().map(|_| None).collect())
        .collect();
    for (j, (_, referenced)) in plan.references.iter().enumerate() {
        let mut at = Vec::new();
        let mut keys = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            match r.refs.get(j) {
                Some(SqlValue::Null) => out[i][j] = Some(SqlValue::Null),
                Some(v) => {
                    at.push(i);
                    keys.push(vec![v.clone()]);
                }
                None => {}
            }
        }
        if keys.is_empty() {
            continue;
        }
        let mapped = state
            .map_keys(config, referenced, Direction::AToB, keys)
            .await?;
        for (i, m) in at.into_iter().zip(mapped) {
            out[i][j] = m.and_then(|mut k| (k.len() == 1).then(|| k.remove(0)));
        }
    }
    Ok(out)
}

/// Compares the whole table.
pub async fn compare(
    a: &mut Reader,
    b: &mut Reader,
    plan: &Plan,
    held: &Held,
    state: &State,
    config: &Config,
    progress: &mut dyn FnMut(u64),
) -> Result<Findings, VerifyError> {
    let mut out = Findings::default();
    let extra: Vec<usize> = plan.references.iter().map(|(p, _)| *p).collect();
    let width = plan.shape(a.side).key.len();
    let page_sql = |r: &Reader, cursor: bool| {
        verify_sql::rows_page(
            plan.shape(r.side),
            &extra,
            &plan.skip,
            (false, false, cursor),
        )
        .map_err(|e| sql_err(plan, e))
    };
    // 1. a's rows against b's at the translated keys.
    let mut cursor: Option<Key> = None;
    loop {
        let sql = page_sql(a, cursor.is_some())?;
        let keys: Vec<&Key> = cursor.iter().collect();
        let rows: Vec<Row> = a
            .rows(&plan.name, &sql, &params(Some(PAGE_ROWS as i64), &keys))
            .await?
            .into_iter()
            .map(|r| split(plan, width, r))
            .collect();
        let n = rows.len();
        out.rows_a += n as u64;
        progress(n as u64);
        cursor = rows.last().map(|r| r.key.clone());
        let targets = translate_keys(
            state,
            config,
            plan,
            Direction::AToB,
            rows.iter().map(|r| r.key.clone()).collect(),
        )
        .await?;
        let refs = translate_refs(state, config, plan, &rows).await?;
        let wanted: Vec<&Key> = targets.iter().flatten().collect();
        let theirs = rows_at(b, plan, &extra, &wanted).await?;
        for ((row, target), refs) in rows.iter().zip(&targets).zip(&refs) {
            let Some(target) = target else {
                out.add(held, finding(Found::MissingOnB, Some(&row.key), None));
                continue;
            };
            match theirs.get(&key_id(target)) {
                None => out.add(
                    held,
                    finding(Found::MissingOnB, Some(&row.key), Some(target)),
                ),
                Some(other) => {
                    let refs_equal = refs.len() == other.refs.len()
                        && refs.iter().zip(&other.refs).all(|(mine, theirs)| {
                            mine.as_ref().is_some_and(|m| super::same(m, theirs))
                        });
                    if !refs_equal || other.hash != row.hash {
                        out.add(held, finding(Found::Differ, Some(&row.key), Some(target)));
                    }
                }
            }
        }
        if n < PAGE_ROWS {
            break;
        }
    }
    // 2. b's keys that no row of a maps to.
    let mut cursor: Option<Key> = None;
    loop {
        let sql = verify_sql::keys_page(plan.shape(b.side), cursor.is_some())
            .map_err(|e| sql_err(plan, e))?;
        let keys: Vec<&Key> = cursor.iter().collect();
        let page = b
            .rows(&plan.name, &sql, &params(Some(PAGE_ROWS as i64), &keys))
            .await?;
        let n = page.len();
        out.rows_b += n as u64;
        cursor = page.last().cloned();
        let sources = translate_keys(state, config, plan, Direction::BToA, page.clone()).await?;
        let wanted: Vec<&Key> = sources.iter().flatten().collect();
        let present = existing(a, plan, &wanted).await?;
        for (kb, ka) in page.iter().zip(&sources) {
            match ka {
                None => out.add(held, finding(Found::MissingOnA, None, Some(kb))),
                Some(ka) if !present.contains(&key_id(ka)) => {
                    out.add(held, finding(Found::MissingOnA, Some(ka), Some(kb)))
                }
                Some(_) => {}
            }
        }
        if n < PAGE_ROWS {
            break;
        }
    }
    Ok(out)
}

/// b's (key, references, hash) at `keys`, by key.
async fn rows_at(
    r: &mut Reader,
    plan: &Plan,
    extra: &[usize],
    keys: &[&Key],
) -> Result<HashMap<String, Row>, VerifyError> {
    let shape = plan.shape(r.side).clone();
    let width = shape.key.len();
    let mut out = HashMap::new();
    for group in keys.chunks(verify_sql::keys_per_request(&shape).min(PAGE_ROWS)) {
        let sql = verify_sql::rows_at(&shape, extra, &plan.skip, group.len())
            .map_err(|e| sql_err(plan, e))?;
        for row in r.rows(&plan.name, &sql, &params(None, group)).await? {
            let row = split(plan, width, row);
            out.insert(key_id(&row.key), row);
        }
    }
    Ok(out)
}

/// Which of `keys` exist on `r`.
async fn existing(
    r: &mut Reader,
    plan: &Plan,
    keys: &[&Key],
) -> Result<HashSet<String>, VerifyError> {
    let shape = plan.shape(r.side).clone();
    let mut out = HashSet::new();
    for group in keys.chunks(verify_sql::keys_per_request(&shape).min(PAGE_ROWS)) {
        let sql = load_sql::existing_keys(&shape, group.len()).map_err(|e| sql_err(plan, e))?;
        for row in r.rows(&plan.name, &sql, &params(None, group)).await? {
            out.insert(key_id(&row));
        }
    }
    Ok(out)
}

fn finding(found: Found, a: Option<&Key>, b: Option<&Key>) -> Finding {
    Finding {
        found,
        key_a: a.cloned(),
        key_b: b.cloned(),
        image_a: None,
        image_b: None,
    }
}
