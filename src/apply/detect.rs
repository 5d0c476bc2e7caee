//! Conflict detection for a batch of a two-way table, inside the target
//! transaction that writes it.
//!
//! A planned step on target row k (s→t) is in conflict when t holds a
//! change of k that has not reached s: a queued op on k in t→s (the store's
//! pending index), or a change committed on t after ctsync's watermark for t
//! that this agent did not write (CHANGETABLE, read after the rows are
//! locked, so a writer that commits meanwhile is seen or waits for us).
//! Order matters and is kept: the watermark is read before the check, the
//! pending index after it, so a change moving from "not captured" to
//! "queued" meanwhile is seen at least once.
//!
//! Each conflicting row is decided once ([`crate::conflict::decide`]); the
//! batch is cut before a second step on a row already in conflict (it goes
//! in the next batch, checked again). The result: the steps to write (the
//! losers' replaced by nothing, merged rows in place), and the
//! [`Settlement`] the completion stores in the same transaction.
//!
//! Cost: one request per batch (two statements) when nothing conflicts,
//! one more read of the conflicting rows when something does; the pending
//! index is only read when the reverse queue is not empty.

use super::plan::{Action, ApplyTable, KeyMode, Step};
use super::write::{comparable, rollback, WriteError};
use crate::config::ConflictPolicy;
use crate::conflict::{self, Decision, SideChange};
use crate::model::{Direction, OpKind, Operation, SqlValue};
use crate::mssql::check_sql;
use crate::mssql::statements::PARAMS_PER_REQUEST_MAX;
use crate::mssql::value::from_column;
use crate::mssql::Connection;
use crate::store::{ConflictRecord, Outcome, Settlement, SideImage, Store, StoreError};
use std::collections::HashMap;
use tiberius::{ColumnData, ToSql};

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<tiberius::error::Error> for DetectError {
    fn from(e: tiberius::error::Error) -> Self {
        DetectError::Write(WriteError::Sql(e))
    }
}

/// What the check of one batch decided.
#[derive(Debug, Default)]
pub struct Decided {
    /// The steps to write (a prefix of the planned ones, possibly cut).
    pub steps: Vec<Step>,
    pub settlement: Settlement,
}

/// One table's side of the check.
pub struct CheckContext<'a> {
    pub store: &'a Store,
    pub table: &'a ApplyTable,
    pub direction: Direction,
    pub policy: &'a ConflictPolicy,
    /// Read SYS_CHANGE_COLUMNS (policy merge_columns).
    pub read_changed: bool,
    /// The watermark of the target side (last version captured from it).
    pub target_watermark: i64,
    /// This agent's context prefix.
    pub own_prefix: &'a [u8],
}

/// A change of a target row found by CHANGETABLE after the watermark.
#[derive(Debug, Clone)]
struct TargetChange {
    version: i64,
    kind: OpKind,
    own: bool,
    changed: Option<Vec<String>>,
}

/// The target key a step touches, if it touches an existing row.
fn target_key(step: &Step, table: &ApplyTable) -> Option<Vec<SqlValue>> {
    match &step.action {
        Action::Upsert { row, .. } => Some(
            table
                .shape
                .key_positions()
                .iter()
                .filter_map(|p| row.get(*p).cloned())
                .collect(),
        ),
        Action::Update { key, .. } | Action::Delete { key, .. } => Some(key.clone()),
        Action::InsertMapped { .. } | Action::Nothing => None,
    }
}

fn folded(key: &[SqlValue]) -> String {
    format!("{:?}", key.iter().map(comparable).collect::<Vec<_>>())
}

/// Opens the target transaction, locks and checks the rows of `steps`,
/// decides every conflict. On error the transaction is rolled back.
pub async fn check(
    conn: &mut Connection,
    cx: &CheckContext<'_>,
    ops: &HashMap<u64, Operation>,
    steps: Vec<Step>,
) -> Result<Decided, DetectError> {
    let result = check_open(conn, cx, ops, steps).await;
    if result.is_err() {
        rollback(conn).await;
    }
    result
}

/// A target row's change that has not reached the source.
struct Theirs {
    uncaptured: Option<TargetChange>,
    queued: Vec<(u64, i64)>,
}

/// What the locking read of a batch's target rows found.
struct Found {
    /// Each step's target key and its folded form.
    step_keys: Vec<Option<(Vec<SqlValue>, String)>>,
    /// The distinct target keys, in step order.
    keys: Vec<(Vec<SqlValue>, String)>,
    /// Folded keys present on the target.
    present: std::collections::HashSet<String>,
    /// Folded keys with a change not carried to the source.
    theirs: HashMap<String, Theirs>,
}

/// Opens the target transaction, locks the rows `steps` touch and finds
/// which of them hold a change not carried to the source.
async fn lock_and_find(
    conn: &mut Connection,
    cx: &CheckContext<'_>,
    steps: &[Step],
) -> Result<Found, DetectError> {
    let shape = &cx.table.shape;
    let key_cols = shape.key.len().max(1);
    // Each step's target key and its folded form, computed once; the
    // distinct keys, in step order.
    let step_keys: Vec<Option<(Vec<SqlValue>, String)>> = steps
        .iter()
        .map(|s| {
            target_key(s, cx.table).map(|k| {
                let f = folded(&k);
                (k, f)
            })
        })
        .collect();
    let mut keys: Vec<(Vec<SqlValue>, String)> = Vec::new();
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (k, f) in step_keys.iter().flatten() {
        if seen.insert(f.as_str()) {
            keys.push((k.clone(), f.clone()));
        }
    }
    drop(seen);
    let mut present: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut changes: HashMap<String, TargetChange> = HashMap::new();
    // Every request but the first continues the transaction the first began.
    let extra = if cx.read_changed {
        1 + shape.columns.len()
    } else {
        0
    };
    let per_request = ((PARAMS_PER_REQUEST_MAX - 1 - extra) / key_cols).max(1);
    let quoted = shape.name.quoted();
    let mut begun = false;
    let chunks: Vec<&[(Vec<SqlValue>, String)]> = if keys.is_empty() {
        vec![&[][..]]
    } else {
        keys.chunks(per_request).collect()
    };
    for chunk in chunks {
        if chunk.is_empty() {
            // Nothing to check: just open the transaction the write commits.
            conn.simple_query("SET XACT_ABORT ON; BEGIN TRANSACTION")
                .await?
                .into_results()
                .await?;
            begun = true;
            continue;
        }
        let text = check_sql::conflict_check(shape, chunk.len(), cx.read_changed, !begun)
            .map_err(WriteError::from)?;
        begun = true;
        let mut params: Vec<ColumnData<'_>> = Vec::with_capacity(1 + chunk.len() * key_cols);
        params.push(ColumnData::I64(Some(cx.target_watermark)));
        for (k, _) in chunk {
            for (name, v) in shape.key.iter().zip(k) {
                params.push(crate::mssql::statements::bind_key(v, shape, name));
            }
        }
        if cx.read_changed {
            params.push(ColumnData::String(Some(quoted.clone().into())));
            for c in &shape.columns {
                params.push(ColumnData::String(Some(c.name.clone().into())));
            }
        }
        let refs: Vec<&dyn ToSql> = params.iter().map(|p| p as &dyn ToSql).collect();
        let mut sets = conn.query(text, &refs).await?.into_results().await?;
        let ct_rows = if sets.len() >= 2 {
            sets.remove(1)
        } else {
            Vec::new()
        };
        let lock_rows = if sets.is_empty() {
            Vec::new()
        } else {
            sets.remove(0)
        };
        for r in lock_rows {
            let mut k = Vec::with_capacity(key_cols);
            for d in r.into_iter() {
                k.push(from_column(d).map_err(WriteError::from)?);
            }
            present.insert(folded(&k));
        }
        for r in ct_rows {
            let mut vals = Vec::with_capacity(r.len());
            for d in r.into_iter() {
                vals.push(from_column(d).map_err(WriteError::from)?);
            }
            let k: Vec<SqlValue> = vals[..key_cols.min(vals.len())].to_vec();
            let mut rest = vals.into_iter().skip(key_cols);
            let version = match rest.next() {
                Some(SqlValue::I64(v)) => v,
                _ => continue,
            };
            let kind = match rest.next() {
                Some(SqlValue::String(s)) if s.starts_with('I') => OpKind::Insert,
                Some(SqlValue::String(s)) if s.starts_with('D') => OpKind::Delete,
                _ => OpKind::Update,
            };
            let own =
                matches!(rest.next(), Some(SqlValue::Binary(c)) if c.starts_with(cx.own_prefix));
            let mut changed = None;
            if cx.read_changed {
                let mask = !matches!(rest.next(), Some(SqlValue::Null) | None);
                let mut names = Vec::new();
                for c in &shape.columns {
                    if matches!(
                        rest.next(),
                        Some(
                            SqlValue::I32(1)
                                | SqlValue::Bit(true)
                                | SqlValue::I64(1)
                                | SqlValue::U8(1)
                        )
                    ) {
                        names.push(c.name.clone());
                    }
                }
                if mask && kind == OpKind::Update {
                    changed = Some(names);
                }
            }
            changes.insert(
                folded(&k),
                TargetChange {
                    version,
                    kind,
                    own,
                    changed,
                },
            );
        }
    }

    // Which rows have a change not carried to the source: uncaptured on the
    // target, or queued in the reverse direction (read after the check).
    let reverse = cx.direction.reverse();
    let reverse_busy = cx.store.queue_depth(reverse, &cx.table.name)? > 0;
    let mut theirs: HashMap<String, Theirs> = HashMap::new();
    for (k, f) in &keys {
        let uncaptured = changes.get(f).filter(|c| !c.own).cloned();
        let queued = if reverse_busy {
            cx.store.pending_ops(reverse, &cx.table.name, k)?
        } else {
            Vec::new()
        };
        if uncaptured.is_some() || !queued.is_empty() {
            theirs.insert(f.clone(), Theirs { uncaptured, queued });
        }
    }

    Ok(Found {
        step_keys,
        keys,
        present,
        theirs,
    })
}

/// The second pass of a `both` table's full load (its target wins, see
/// `load::second_pass`): opens the target transaction, locks the rows of
/// `steps` and keeps only the steps on rows with no change that has not
/// reached the source (none uncaptured and not ours, none queued in the
/// reverse direction); plain INSERT where a row is known absent. The
/// transaction stays open for the write (`write::write_in_txn`); on error
/// it is rolled back. `cx.policy` is not consulted: a load records no
/// conflict, the target's change reaches the source by its own stream.
pub async fn keep_unchanged(
    conn: &mut Connection,
    cx: &CheckContext<'_>,
    steps: Vec<Step>,
) -> Result<Vec<Step>, DetectError> {
    let found = match lock_and_find(conn, cx, &steps).await {
        Ok(f) => f,
        Err(e) => {
            rollback(conn).await;
            return Err(e);
        }
    };
    let mut kept = Vec::with_capacity(steps.len());
    for (mut step, key) in steps.into_iter().zip(found.step_keys) {
        if let Some((_, f)) = &key {
            if found.theirs.contains_key(f) {
                continue;
            }
            if let Action::Upsert { insert, .. } = &mut step.action {
                *insert = !found.present.contains(f);
            }
        }
        kept.push(step);
    }
    Ok(kept)
}

async fn check_open(
    conn: &mut Connection,
    cx: &CheckContext<'_>,
    ops: &HashMap<u64, Operation>,
    mut steps: Vec<Step>,
) -> Result<Decided, DetectError> {
    let shape = &cx.table.shape;
    let reverse = cx.direction.reverse();
    let Found {
        mut step_keys,
        keys,
        present,
        theirs,
    } = lock_and_find(conn, cx, &steps).await?;

    // Cut the batch before a second step on a row in conflict.
    let mut first_of: HashMap<String, usize> = HashMap::new();
    let mut cut = steps.len();
    if !theirs.is_empty() {
        for (i, (_, f)) in step_keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| Some((i, k.as_ref()?)))
        {
            if !theirs.contains_key(f) {
                continue;
            }
            if first_of.contains_key(f) {
                cut = i;
                break;
            }
            first_of.insert(f.clone(), i);
        }
    }
    steps.truncate(cut);
    step_keys.truncate(cut);

    // The target's rows in conflict, read under our locks.
    let conflict_keys: Vec<Vec<SqlValue>> = keys
        .iter()
        .filter(|(_, f)| first_of.contains_key(f))
        .map(|(k, _)| k.clone())
        .collect();
    let images = read_rows(conn, cx.table, &conflict_keys).await?;

    let mut settlement = Settlement::default();
    let columns: Vec<String> = shape.columns.iter().map(|c| c.name.clone()).collect();
    let key_pos = shape.key_positions();
    let source = cx.direction.source();
    let now = crate::agent::status::now_ms();
    for (step, step_key) in steps.iter_mut().zip(step_keys) {
        let Some((kt, f)) = step_key else {
            continue;
        };
        // Plain INSERT where the row is known absent, upsert otherwise.
        if let Action::Upsert { insert, .. } = &mut step.action {
            *insert = !present.contains(&f);
        }
        if !first_of.contains_key(&f) {
            continue;
        }
        let Some(t) = theirs.get(&f) else { continue };
        let Some(op) = ops.get(&step.seq) else {
            continue;
        };
        let t_row = images.get(&f).cloned();
        // The target's change: its kind, columns and newest version.
        let mut t_kind = t.uncaptured.as_ref().map(|c| c.kind);
        let mut t_changed: Option<Vec<String>> = Some(Vec::new());
        let mut upto = i64::MIN;
        if let Some(c) = &t.uncaptured {
            upto = upto.max(c.version);
            merge_changed(&mut t_changed, c.changed.as_ref());
        }
        for (seq, version) in &t.queued {
            upto = upto.max(*version);
            match cx.store.queued(reverse, &cx.table.name, *seq)? {
                Some(p) => {
                    t_kind.get_or_insert(p.kind);
                    merge_changed(&mut t_changed, p.changed.as_ref());
                }
                None => t_changed = None,
            }
        }
        let t_kind = match (&t_row, t_kind) {
            (None, _) => OpKind::Delete,
            (Some(_), Some(OpKind::Delete)) | (Some(_), None) => OpKind::Update,
            (Some(_), Some(k)) => k,
        };
        if t_changed.as_ref().is_some_and(|c| c.is_empty()) || t_kind != OpKind::Update {
            t_changed = None;
        }
        // The source's change, its row in the target's key space.
        let s_row: Option<Vec<SqlValue>> = match &step.action {
            Action::Upsert { row, .. } | Action::Update { row, .. } => Some(row.clone()),
            _ => None,
        };
        let s_change = SideChange {
            kind: if s_row.is_some() {
                op.kind
            } else {
                OpKind::Delete
            },
            row: s_row.as_deref(),
            changed: op.changed.as_deref(),
        };
        let t_change = SideChange {
            kind: t_kind,
            row: t_row.as_deref(),
            changed: t_changed.as_deref(),
        };
        let (a, b) = match source {
            crate::model::Side::A => (&s_change, &t_change),
            crate::model::Side::B => (&t_change, &s_change),
        };
        let decision = conflict::decide(cx.policy, &columns, &key_pos, a, b);
        let kind = conflict::kind_name(a, b);
        let s_image = SideImage {
            key: Some(op.key.clone()),
            change: change_text(&s_change),
            row: op.row.clone(),
            version: Some(op.version),
            changed: op.changed.clone(),
        };
        let t_image = SideImage {
            key: Some(kt.clone()),
            change: change_text(&t_change),
            row: t_row.clone(),
            version: (upto != i64::MIN).then_some(upto),
            changed: t_changed.clone(),
        };
        let (a_img, b_img) = match source {
            crate::model::Side::A => (s_image, t_image),
            crate::model::Side::B => (t_image, s_image),
        };
        let record = |outcome: Outcome| ConflictRecord {
            id: 0,
            table: cx.table.name.clone(),
            kind: kind.clone(),
            columns: columns.clone(),
            a: a_img.clone(),
            b: b_img.clone(),
            policy: cx.policy.describe(),
            outcome,
            direction: cx.direction,
            detected_ms: now,
        };
        let uncaptured = t.uncaptured.as_ref().map(|c| c.version);
        match decision {
            Decision::Agree => {
                settlement.drop_reverse.push((kt.clone(), upto));
                if let Some(v) = uncaptured {
                    // Names no record: an agreement records nothing.
                    settlement.lost_reverse.push((kt.clone(), v, usize::MAX));
                }
            }
            Decision::Win(side) if side == source => {
                let i = settlement.records.len();
                settlement.records.push(record(Outcome::Won(side)));
                settlement.drop_reverse.push((kt.clone(), upto));
                if let Some(v) = uncaptured {
                    settlement.lost_reverse.push((kt.clone(), v, i));
                }
            }
            Decision::Win(side) => {
                settlement.records.push(record(Outcome::Won(side)));
                step.action = Action::Nothing;
            }
            Decision::Merged(mut m) => {
                // Key columns stay the target's own (an identity key
                // differs between the sides).
                if let Some(tr) = &t_row {
                    for p in &key_pos {
                        if let (Some(slot), Some(v)) = (m.get_mut(*p), tr.get(*p)) {
                            *slot = v.clone();
                        }
                    }
                }
                let i = settlement.records.len();
                settlement.records.push(record(Outcome::Merged(m.clone())));
                settlement.drop_reverse.push((kt.clone(), upto));
                if let Some(v) = uncaptured {
                    settlement.lost_reverse.push((kt.clone(), v, i));
                }
                // The source receives the merged row through the reverse
                // queue, like a change of the target.
                settlement.append_reverse.push(Operation {
                    kind: OpKind::Update,
                    key: kt.clone(),
                    row: Some(m.clone()),
                    version: upto.max(0),
                    changed: None,
                });
                step.action = match std::mem::replace(&mut step.action, Action::Nothing) {
                    Action::Upsert { .. } => Action::Upsert {
                        row: m,
                        insert: false,
                    },
                    Action::Update { key, .. } => Action::Update { key, row: m },
                    other => other,
                };
            }
            Decision::Park => {
                let i = settlement.records.len();
                settlement.records.push(record(Outcome::Parked));
                settlement.park_own.push((step.seq, i));
                settlement.park_reverse.push((kt.clone(), i));
                step.action = Action::Nothing;
            }
        }
    }
    // An identity-mapped row the target no longer has (deleted there, the
    // delete lost to this change or settled before) is written again as a
    // new row with the target's own id; the mapping follows it. A later
    // step of the same row needs that mapping: it goes in the next batch.
    if cx.table.mode == KeyMode::Mapped {
        let mut cut = steps.len();
        for i in 0..steps.len() {
            let Action::Update { key, row } = &steps[i].action else {
                continue;
            };
            if present.contains(&folded(key)) {
                continue;
            }
            let Some(op) = ops.get(&steps[i].seq) else {
                continue;
            };
            let source_key = op.key.clone();
            steps[i].action = Action::InsertMapped {
                source_key: source_key.clone(),
                row: row.clone(),
            };
            if let Some(j) = steps[i + 1..]
                .iter()
                .position(|s| ops.get(&s.seq).is_some_and(|o| o.key == source_key))
            {
                cut = cut.min(i + 1 + j);
            }
        }
        steps.truncate(cut);
    }
    Ok(Decided { steps, settlement })
}

fn merge_changed(acc: &mut Option<Vec<String>>, more: Option<&Vec<String>>) {
    match (acc.as_mut(), more) {
        (Some(a), Some(m)) => {
            for c in m {
                if !a.iter().any(|x| x.eq_ignore_ascii_case(c)) {
                    a.push(c.clone());
                }
            }
        }
        _ => *acc = None,
    }
}

fn change_text(c: &SideChange<'_>) -> String {
    match (c.kind, c.row.is_some()) {
        (OpKind::Delete, _) | (_, false) => "delete".into(),
        (OpKind::Insert, true) => "insert".into(),
        (OpKind::Update, true) => "update".into(),
    }
}

/// The target's current rows of `keys`, by folded key.
async fn read_rows(
    conn: &mut Connection,
    table: &ApplyTable,
    keys: &[Vec<SqlValue>],
) -> Result<HashMap<String, Vec<SqlValue>>, DetectError> {
    let shape = &table.shape;
    let mut out = HashMap::new();
    if keys.is_empty() {
        return Ok(out);
    }
    let key_cols = shape.key.len().max(1);
    let key_pos = shape.key_positions();
    for chunk in keys.chunks((PARAMS_PER_REQUEST_MAX / key_cols).max(1)) {
        let text = check_sql::rows_by_key(shape, chunk.len()).map_err(WriteError::from)?;
        let mut params: Vec<ColumnData<'_>> = Vec::with_capacity(chunk.len() * key_cols);
        for k in chunk {
            for (name, v) in shape.key.iter().zip(k) {
                params.push(crate::mssql::statements::bind_key(v, shape, name));
            }
        }
        let refs: Vec<&dyn ToSql> = params.iter().map(|p| p as &dyn ToSql).collect();
        let rows = conn.query(text, &refs).await?.into_first_result().await?;
        for r in rows {
            let mut row = Vec::with_capacity(r.len());
            for d in r.into_iter() {
                row.push(from_column(d).map_err(WriteError::from)?);
            }
            let k: Vec<SqlValue> = key_pos
                .iter()
                .filter_map(|p| row.get(*p).cloned())
                .collect();
            out.insert(folded(&k), row);
        }
    }
    Ok(out)
}
