//! What ctsync keeps of every conflict (the store's `conflicts` tree, shown
//! by `ctsync conflicts list|show`): the table, the row's key on each side,
//! both changes with their row images, versions and times, the policy and
//! the outcome. Nothing is silently discarded: a losing change is here.

use crate::model::{Direction, Side, SqlValue};
use serde::{Deserialize, Serialize};

/// One side of a conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideImage {
    /// The row's key on this side (`None`: an identity-mapped row this side
    /// does not have, or whose key is not known).
    pub key: Option<Vec<SqlValue>>,
    /// `insert`, `update` or `delete`.
    pub change: String,
    /// This side's row image when the conflict was found (`None`: gone).
    pub row: Option<Vec<SqlValue>>,
    /// SYS_CHANGE_VERSION of this side's change, when known.
    pub version: Option<i64>,
    /// The columns this side changed, when known (SYS_CHANGE_COLUMNS).
    pub changed: Option<Vec<String>>,
}

/// How a conflict ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// This side's row (or delete) was written to both sides.
    Won(Side),
    /// Both edits were kept in this row, written to both sides.
    Merged(Vec<SqlValue>),
    /// Neither change was applied; the key waits for
    /// `ctsync conflicts resolve`.
    Parked,
    /// A parked conflict the operator resolved, keeping this side.
    Resolved { keep: Side, resolved_ms: u64 },
}

impl Outcome {
    pub fn is_open(&self) -> bool {
        matches!(self, Outcome::Parked)
    }

    /// A short text for logs and listings.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Won(s) => format!("{} won", s.as_str()),
            Outcome::Merged(_) => "merged".into(),
            Outcome::Parked => "parked".into(),
            Outcome::Resolved { keep, .. } => format!("resolved: kept {}", keep.as_str()),
        }
    }
}

/// One recorded conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictRecord {
    /// Store-wide id (`ctsync conflicts show ID`).
    pub id: u64,
    /// Configured table name.
    pub table: String,
    /// `<a's change>/<b's change>`, e.g. `update/delete`.
    pub kind: String,
    /// The synced columns, naming the values of both row images.
    pub columns: Vec<String>,
    pub a: SideImage,
    pub b: SideImage,
    /// The table's policy when the conflict was found.
    pub policy: String,
    pub outcome: Outcome,
    /// The applier that found it (its source's change met the other's).
    pub direction: Direction,
    pub detected_ms: u64,
}

// ------------------------------------------------------------ store

use super::idmap::{self, put_table_facts, table_facts};
use super::pending::{self, LostRec};
use super::queue::{apply_writes, load_state, next_parked_id, rewrite, save_state, ChunkWrite};
use super::records::{
    self, decode, parked_key_key, queue_prefix, row_key_bytes, seq_key, CounterRec, ParkedKeyRec,
    ParkedRec, QueuedEntryRef,
};
use super::{abort, now_ms, ParkedSelect, Store, StoreError, Tx, TxResult};
use crate::model::Operation;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ConflictRec {
    V1(ConflictRecord),
}

const NEXT_ID_KEY: &[u8] = b"next_conflict_id";
const KEPT_KEY: &[u8] = b"conflicts_kept";
const DROPPED_KEY: &[u8] = b"conflicts_dropped";

/// What the applier of one direction settles in the transaction that
/// completes its batch: the other direction's changes that lost, parked
/// keys, rows the other side must receive, and the records. Keys of the
/// `reverse` fields are in the batch's target key space (the reverse
/// direction's source).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settlement {
    /// Queued ops of the reverse direction on this row with a source version
    /// up to the given one: removed unapplied (they lost, or agree).
    pub drop_reverse: Vec<(Vec<SqlValue>, i64)>,
    /// Changes of this row on the target not captured yet, up to the
    /// version: lost to conflict `.2` (index into `records`); capture drops
    /// them when it reads them.
    pub lost_reverse: Vec<(Vec<SqlValue>, i64, usize)>,
    /// Ops appended to the reverse queue (a merged row the batch's source
    /// must receive).
    pub append_reverse: Vec<Operation>,
    /// Ops of this batch parked by conflict `.1` (policy `park`), with every
    /// later queued op on the same key.
    pub park_own: Vec<(u64, usize)>,
    /// Rows whose reverse queued ops are parked by conflict `.1`; later
    /// captures of the row park on arrival.
    pub park_reverse: Vec<(Vec<SqlValue>, usize)>,
    /// The conflicts (ids are assigned when stored).
    pub records: Vec<ConflictRecord>,
}

impl Settlement {
    /// Nothing to settle: the batch completes as a one-way batch would.
    pub fn is_empty(&self) -> bool {
        self.drop_reverse.is_empty()
            && self.lost_reverse.is_empty()
            && self.append_reverse.is_empty()
            && self.park_own.is_empty()
            && self.park_reverse.is_empty()
            && self.records.is_empty()
    }
}

/// Locks of both queues of a table, always a→b first, so two callers never
/// wait for each other's second lock.
fn lock_both<'a>(
    store: &'a Store,
    direction: Direction,
    own: &[u8],
    reverse: &[u8],
) -> (
    std::sync::Arc<std::sync::Mutex<()>>,
    std::sync::Arc<std::sync::Mutex<()>>,
) {
    let (first, second) = match direction {
        Direction::AToB => (own, reverse),
        Direction::BToA => (reverse, own),
    };
    (store.queue_lock(first), store.queue_lock(second))
}

/// A queued op taken out of its chunk (to be parked).
struct Taken {
    seq: u64,
    op: Operation,
}

impl Store {
    /// [`Store::complete_batch`] of a batch whose conflicts were decided:
    /// removes ops up to `through` (but those parked by `settlement`),
    /// records the mappings, settles the reverse queue and stores the
    /// conflict records, in one transaction, then durable. Returns the ids
    /// given to `settlement.records`, in order.
    #[allow(clippy::too_many_arguments)]
    pub fn complete_settled(
        &self,
        direction: Direction,
        table: &str,
        through: u64,
        mapped: &[(Vec<SqlValue>, Vec<SqlValue>)],
        unmapped: &[Vec<SqlValue>],
        settlement: &Settlement,
        log_max: u64,
        floor: Option<i64>,
    ) -> Result<Vec<u64>, StoreError> {
        let ids = self.complete_settled_unflushed(
            direction, table, through, mapped, unmapped, settlement, log_max, floor,
        )?;
        self.flush_durable()?;
        Ok(ids)
    }

    /// [`Store::complete_settled`] without the durable flush: applied and
    /// atomic, durable after a later [`Store::flush_durable`]. For an
    /// applier that overlaps that flush with its next batch and holds every
    /// later target commit of the table until it is done.
    #[allow(clippy::too_many_arguments)]
    pub fn complete_settled_unflushed(
        &self,
        direction: Direction,
        table: &str,
        through: u64,
        mapped: &[(Vec<SqlValue>, Vec<SqlValue>)],
        unmapped: &[Vec<SqlValue>],
        settlement: &Settlement,
        log_max: u64,
        floor: Option<i64>,
    ) -> Result<Vec<u64>, StoreError> {
        let own = queue_prefix(direction, table)?;
        let rev = queue_prefix(direction.reverse(), table)?;
        let source = direction.source();
        let (l1, l2) = lock_both(self, direction, &own, &rev);
        let _g1 = l1.lock().unwrap_or_else(|p| p.into_inner());
        let _g2 = l2.lock().unwrap_or_else(|p| p.into_inner());

        // Own queue: completed ops go, ops parked by a conflict (and the
        // later ops on their keys) move to `parked`.
        let park_keys: Vec<Vec<SqlValue>> = {
            let mut keys = Vec::new();
            for (seq, _) in &settlement.park_own {
                if let Some(op) = self.queued_op(&own, *seq)? {
                    keys.push(op.key);
                }
            }
            keys
        };
        let mut own_writes: Vec<ChunkWrite> = Vec::new();
        let mut unindex: Vec<Vec<u8>> = Vec::new();
        let mut removed = 0u64;
        let mut own_parked: Vec<(Taken, usize)> = Vec::new();
        for chunk in self.chunks(&own, 0) {
            let chunk = chunk?;
            let first = records::seq_of(&chunk.key).unwrap_or(0);
            if first > through && park_keys.is_empty() {
                break;
            }
            let mut rest = Vec::with_capacity(chunk.entries.len());
            let mut changed = false;
            for e in chunk.entries {
                let conflict = settlement
                    .park_own
                    .iter()
                    .find(|(s, _)| *s == e.seq)
                    .map(|(_, c)| *c)
                    .or_else(|| {
                        park_keys
                            .iter()
                            .position(|k| *k == e.op.key)
                            .map(|i| settlement.park_own[i].1)
                    });
                if let Some(c) = conflict {
                    unindex.push(pending::pending_key(
                        &own,
                        &row_key_bytes(&e.op.key)?,
                        e.seq,
                    ));
                    own_parked.push((
                        Taken {
                            seq: e.seq,
                            op: e.op,
                        },
                        c,
                    ));
                    changed = true;
                } else if e.seq <= through {
                    unindex.push(pending::pending_key(
                        &own,
                        &row_key_bytes(&e.op.key)?,
                        e.seq,
                    ));
                    removed += 1;
                    changed = true;
                } else {
                    rest.push(e);
                }
            }
            if changed {
                own_writes.push((chunk.key, rewrite(rest)?));
            }
        }
        let failed: Vec<sled::IVec> = self
            .trees
            .failures
            .tree
            .range(seq_key(&own, 0)..=seq_key(&own, through))
            .keys()
            .collect::<Result<_, _>>()?;

        // Reverse queue: lost ops go, parked rows' ops move to `parked`.
        let mut rev_take: BTreeMap<u64, Option<usize>> = BTreeMap::new();
        for (key, upto) in &settlement.drop_reverse {
            for (seq, version) in self.pending_ops(direction.reverse(), table, key)? {
                if version <= *upto {
                    rev_take.insert(seq, None);
                }
            }
        }
        for (key, c) in &settlement.park_reverse {
            for (seq, _) in self.pending_ops(direction.reverse(), table, key)? {
                rev_take.insert(seq, Some(*c));
            }
        }
        let mut rev_writes: Vec<ChunkWrite> = Vec::new();
        let mut rev_unindex: Vec<Vec<u8>> = Vec::new();
        let mut rev_dropped = 0u64;
        let mut rev_parked: Vec<(Taken, usize)> = Vec::new();
        let mut chunk_keys: Vec<u64> = Vec::new();
        for seq in rev_take.keys() {
            if let Some(ck) = self.chunk_key_at(&rev, *seq)? {
                if !chunk_keys.contains(&ck) {
                    chunk_keys.push(ck);
                }
            }
        }
        for ck in chunk_keys {
            let Some(chunk) = self.chunks(&rev, ck).next() else {
                continue;
            };
            let chunk = chunk?;
            let mut rest = Vec::with_capacity(chunk.entries.len());
            for e in chunk.entries {
                match rev_take.get(&e.seq) {
                    Some(park) => {
                        rev_unindex.push(pending::pending_key(
                            &rev,
                            &row_key_bytes(&e.op.key)?,
                            e.seq,
                        ));
                        match park {
                            Some(c) => rev_parked.push((
                                Taken {
                                    seq: e.seq,
                                    op: e.op,
                                },
                                *c,
                            )),
                            None => rev_dropped += 1,
                        }
                    }
                    None => rest.push(e),
                }
            }
            rev_writes.push((chunk.key, rewrite(rest)?));
        }
        let rev_failed: Vec<Vec<u8>> = rev_take.keys().map(|s| seq_key(&rev, *s)).collect();
        // Appended ops: encoded here, seqs from the reverse queue's state.
        let rev_state = self.read_state(&rev)?;
        let now = now_ms();
        let mut appended = Vec::new();
        let mut appended_index = Vec::new();
        for (i, op) in settlement.append_reverse.iter().enumerate() {
            let seq = rev_state.next_seq + i as u64;
            let e = QueuedEntryRef {
                seq,
                op,
                enqueued_ms: now,
            };
            appended.push((seq, records::entry_bytes(&e)?));
            appended_index.push(pending::entry(&rev, &op.key, seq, op.version)?);
        }
        let appended_chunks: Vec<(Vec<u8>, Vec<u8>)> = records::build_chunks(appended)
            .into_iter()
            .map(|(seq, v)| (seq_key(&rev, seq), v))
            .collect();
        // The bound of the record log: the oldest go.
        let kept = self.counter(KEPT_KEY)?;
        let over = (kept + settlement.records.len() as u64).saturating_sub(log_max.max(1));
        let oldest: Vec<(sled::IVec, String, bool)> = if over > 0 {
            let mut v = Vec::new();
            for item in self.trees.conflicts.tree.iter().take(over as usize) {
                let (k, bytes) = item?;
                let ConflictRec::V1(r) = decode("conflicts", &k, &bytes)?;
                v.push((k, r.table, r.outcome.is_open()));
            }
            v
        } else {
            Vec::new()
        };

        let ids = self.tx(|tx| {
            let mut state = load_state(tx, &own)?;
            apply_writes(tx, &own_writes)?;
            pending::remove_all(tx, &unindex)?;
            for k in &failed {
                tx.failures.remove(k)?;
            }
            for (key, other) in mapped {
                idmap::put_pair(tx, table, source, key, other)?;
            }
            for key in unmapped {
                idmap::remove_pair(tx, table, source, key)?;
            }
            // Records first: parked ops name their conflict's id.
            let mut ids = Vec::with_capacity(settlement.records.len());
            let mut next = counter_in(tx, NEXT_ID_KEY)?.max(1);
            let mut facts = table_facts(tx, table)?;
            for r in &settlement.records {
                let mut r = r.clone();
                r.id = next;
                ids.push(next);
                facts.conflicts += 1;
                if r.outcome.is_open() {
                    facts.conflicts_open += 1;
                }
                tx.conflicts.put(&next.to_be_bytes(), &ConflictRec::V1(r))?;
                next += 1;
            }
            for (k, t, open) in &oldest {
                tx.conflicts.remove(k)?;
                if *open && t == table {
                    facts.conflicts_open = facts.conflicts_open.saturating_sub(1);
                }
            }
            put_table_facts(tx, table, facts)?;
            tx.meta.put(NEXT_ID_KEY, &CounterRec::V1 { next })?;
            let kept_now = counter_in(tx, KEPT_KEY)? + ids.len() as u64 - oldest.len() as u64;
            tx.meta.put(KEPT_KEY, &CounterRec::V1 { next: kept_now })?;
            if !oldest.is_empty() {
                let dropped = counter_in(tx, DROPPED_KEY)? + oldest.len() as u64;
                tx.meta
                    .put(DROPPED_KEY, &CounterRec::V1 { next: dropped })?;
            }
            // Own parked ops.
            park_in(tx, &own, &own_parked, &ids, &mut state)?;
            state.depth = state
                .depth
                .saturating_sub(removed + own_parked.len() as u64);
            state.completed(through, floor, now);
            save_state(tx, &own, &state)?;
            // Reverse queue.
            let mut rstate = load_state(tx, &rev)?;
            apply_writes(tx, &rev_writes)?;
            pending::remove_all(tx, &rev_unindex)?;
            for k in &rev_failed {
                tx.failures.remove(k)?;
            }
            park_in(tx, &rev, &rev_parked, &ids, &mut rstate)?;
            for (key, c) in &settlement.park_reverse {
                let pk = parked_key_key(&rev, &row_key_bytes(key).map_err(abort)?);
                mark_parked_key(tx, &pk, ids.get(*c).copied().unwrap_or(0), 0, &mut rstate)?;
            }
            for (key, upto, c) in &settlement.lost_reverse {
                let rp = pending::row_prefix(&rev, &row_key_bytes(key).map_err(abort)?);
                tx.lost.put(
                    &rp,
                    &LostRec::V1 {
                        through_version: *upto,
                        conflict: ids.get(*c).copied().unwrap_or(0),
                    },
                )?;
            }
            for (k, v) in &appended_chunks {
                tx.queue.tree.insert(k.as_slice(), v.as_slice())?;
            }
            pending::put_all(tx, &appended_index)?;
            rstate.next_seq =
                rstate.next_seq.max(rev_state.next_seq) + settlement.append_reverse.len() as u64;
            rstate.depth = rstate
                .depth
                .saturating_sub(rev_dropped + rev_parked.len() as u64)
                + settlement.append_reverse.len() as u64;
            save_state(tx, &rev, &rstate)?;
            Ok(ids)
        })?;
        drop(_g2);
        drop(_g1);
        Ok(ids)
    }

    /// Queued op `seq` of (direction, table), if it is still queued.
    pub fn queued(
        &self,
        direction: Direction,
        table: &str,
        seq: u64,
    ) -> Result<Option<Operation>, StoreError> {
        self.queued_op(&queue_prefix(direction, table)?, seq)
    }

    /// The op with `seq` if it is still queued.
    fn queued_op(&self, prefix: &[u8], seq: u64) -> Result<Option<Operation>, StoreError> {
        let Some(ck) = self.chunk_key_at(prefix, seq)? else {
            return Ok(None);
        };
        Ok(match self.chunks(prefix, ck).next() {
            Some(c) => c?.entries.into_iter().find(|e| e.seq == seq).map(|e| e.op),
            None => None,
        })
    }

    fn counter(&self, key: &[u8]) -> Result<u64, StoreError> {
        Ok(match self.trees.meta.get::<CounterRec>(key)? {
            Some(CounterRec::V1 { next }) => next,
            None => 0,
        })
    }

    /// Recorded conflicts, oldest first, optionally of one table; at most
    /// `max`. Also how many were dropped by the bound.
    pub fn conflicts(
        &self,
        table: Option<&str>,
        max: usize,
    ) -> Result<(Vec<ConflictRecord>, u64), StoreError> {
        let mut out = Vec::new();
        for item in self.trees.conflicts.tree.iter() {
            if out.len() >= max {
                break;
            }
            let (k, v) = item?;
            let ConflictRec::V1(r) = decode("conflicts", &k, &v)?;
            if table.is_none_or(|t| t.eq_ignore_ascii_case(&r.table)) {
                out.push(r);
            }
        }
        Ok((out, self.counter(DROPPED_KEY)?))
    }

    pub fn conflict(&self, id: u64) -> Result<Option<ConflictRecord>, StoreError> {
        Ok(self
            .trees
            .conflicts
            .get::<ConflictRec>(&id.to_be_bytes())?
            .map(|ConflictRec::V1(r)| r))
    }

    /// Resolves a parked conflict keeping `keep`'s row: the other side's
    /// parked ops on the row are dropped, `keep`'s are put back in its queue
    /// (or, when it has none, its row image from the record is queued), so
    /// the other side receives `keep`'s row through the normal apply. The
    /// agent must not be applying this table meanwhile (a running agent
    /// does it under the table's apply lock). Durable.
    pub fn resolve_conflict(&self, id: u64, keep: Side) -> Result<ConflictRecord, StoreError> {
        let Some(mut rec) = self.conflict(id)? else {
            return Err(StoreError::ConflictNotFound { id });
        };
        if !rec.outcome.is_open() {
            return Err(StoreError::ConflictNotOpen {
                id,
                outcome: rec.outcome.describe(),
            });
        }
        let table = rec.table.clone();
        let winner = Direction::from_source(keep);
        let (win_img, lose_img) = match keep {
            Side::A => (&rec.a, &rec.b),
            Side::B => (&rec.b, &rec.a),
        };
        let parked = self.parked(Some(&table), usize::MAX)?;
        let on = |d: Direction, key: &Option<Vec<SqlValue>>| -> Vec<u64> {
            parked
                .iter()
                .filter(|e| {
                    e.direction == d
                        && (e.conflict == Some(id) || key.as_ref().is_some_and(|k| *k == e.op.key))
                })
                .map(|e| e.id)
                .collect()
        };
        let lose_ids = on(winner.reverse(), &lose_img.key);
        let win_ids = on(winner, &win_img.key);
        for pid in &lose_ids {
            self.drop_parked(Some(&table), ParkedSelect::Id(*pid))?;
        }
        if let Some(first) = win_ids.first() {
            self.retry_parked(Some(&table), ParkedSelect::Id(*first))?;
        } else if let Some(key) = &win_img.key {
            // Nothing of the winner is parked: its row as recorded goes to
            // the other side.
            let op = Operation {
                kind: if win_img.row.is_some() {
                    crate::model::OpKind::Update
                } else {
                    crate::model::OpKind::Delete
                },
                key: key.clone(),
                row: win_img.row.clone(),
                version: win_img.version.unwrap_or(0),
                changed: None,
            };
            let prefix = queue_prefix(winner, &table)?;
            let lock = self.queue_lock(&prefix);
            let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
            let state = self.read_state(&prefix)?;
            let seq = state.next_seq;
            let bytes = records::entry_bytes(&QueuedEntryRef {
                seq,
                op: &op,
                enqueued_ms: now_ms(),
            })?;
            let chunks = records::build_chunks(vec![(seq, bytes)]);
            let index = pending::entry(&prefix, &op.key, seq, op.version)?;
            self.tx(|tx| {
                let mut st = load_state(tx, &prefix)?;
                for (s, v) in &chunks {
                    tx.queue.tree.insert(seq_key(&prefix, *s), v.as_slice())?;
                }
                pending::put_all(tx, std::slice::from_ref(&index))?;
                st.next_seq = st.next_seq.max(seq + 1);
                st.depth += 1;
                save_state(tx, &prefix, &st)
            })?;
        }
        rec.outcome = Outcome::Resolved {
            keep,
            resolved_ms: now_ms(),
        };
        let stored = rec.clone();
        // Neither key waits any more (a key parked for arrivals only has no
        // parked op that a drop or retry would have cleared it with).
        let mut unpark = Vec::new();
        for (d, img) in [(winner, win_img), (winner.reverse(), lose_img)] {
            if let Some(k) = &img.key {
                unpark.push((
                    queue_prefix(d, &table)?,
                    parked_key_key(&queue_prefix(d, &table)?, &row_key_bytes(k)?),
                ));
            }
        }
        self.tx(|tx| {
            for (prefix, pk) in &unpark {
                if tx.parked_keys.remove(pk)? {
                    let mut st = load_state(tx, prefix)?;
                    st.parked_keys = st.parked_keys.saturating_sub(1);
                    save_state(tx, prefix, &st)?;
                }
            }
            tx.conflicts
                .put(&id.to_be_bytes(), &ConflictRec::V1(stored.clone()))?;
            let mut facts = table_facts(tx, &table)?;
            facts.conflicts_open = facts.conflicts_open.saturating_sub(1);
            put_table_facts(tx, &table, facts)
        })?;
        self.flush_durable()?;
        Ok(rec)
    }

    /// Removes settled conflict records found before `before_ms` (open ones
    /// stay until resolved). Returns how many went. Durable.
    pub fn purge_conflicts(&self, before_ms: u64) -> Result<u64, StoreError> {
        let mut doomed = Vec::new();
        for item in self.trees.conflicts.tree.iter() {
            let (k, v) = item?;
            let ConflictRec::V1(r) = decode("conflicts", &k, &v)?;
            if r.detected_ms < before_ms && !r.outcome.is_open() {
                doomed.push(k);
            }
        }
        for part in doomed.chunks(1024) {
            self.tx(|tx| {
                for k in part {
                    tx.conflicts.remove(k)?;
                }
                let kept = counter_in(tx, KEPT_KEY)?.saturating_sub(part.len() as u64);
                tx.meta.put(KEPT_KEY, &CounterRec::V1 { next: kept })
            })?;
        }
        if !doomed.is_empty() {
            self.flush_durable()?;
        }
        Ok(doomed.len() as u64)
    }
}

fn counter_in(tx: &Tx<'_>, key: &[u8]) -> TxResult<u64> {
    Ok(match tx.meta.get::<CounterRec>(key)? {
        Some(CounterRec::V1 { next }) => next,
        None => 0,
    })
}

/// Moves taken ops to `parked` under their seqs, naming their conflict,
/// and marks their keys parked (later captures park on arrival).
fn park_in(
    tx: &Tx<'_>,
    prefix: &[u8],
    taken: &[(Taken, usize)],
    ids: &[u64],
    state: &mut records::QueueStateV2,
) -> TxResult<()> {
    let now = now_ms();
    for (t, c) in taken {
        let conflict = ids.get(*c).copied().unwrap_or(0);
        let pid = next_parked_id(tx)?;
        tx.parked.put(
            &seq_key(prefix, t.seq),
            &ParkedRec::V2 {
                id: pid,
                op: t.op.clone(),
                number: None,
                message: format!(
                    "conflict {conflict}: the row changed on both sides (policy park); resolve with `ctsync conflicts resolve {conflict} --keep a|b`"
                ),
                attempts: 0,
                first_failure_ms: now,
                last_failure_ms: now,
                parked_ms: now,
                behind: None,
                conflict: Some(conflict),
            },
        )?;
        state.parked += 1;
        let pk = parked_key_key(prefix, &row_key_bytes(&t.op.key).map_err(abort)?);
        mark_parked_key(tx, &pk, pid, 1, state)?;
    }
    Ok(())
}

fn mark_parked_key(
    tx: &Tx<'_>,
    pk: &[u8],
    head_id: u64,
    add: u64,
    state: &mut records::QueueStateV2,
) -> TxResult<()> {
    let rec = match tx.parked_keys.get::<ParkedKeyRec>(pk)? {
        Some(ParkedKeyRec::V1 { head_id, count }) => ParkedKeyRec::V1 {
            head_id,
            count: count + add,
        },
        None => {
            state.parked_keys += 1;
            ParkedKeyRec::V1 {
                head_id,
                count: add,
            }
        }
    };
    tx.parked_keys.put(pk, &rec)
}
