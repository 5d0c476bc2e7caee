//! Failure counting and the dead-letter list: parking an op (and later ops
//! on its key), listing, retrying and dropping parked ops.

use super::queue::{apply_writes, load_state, next_parked_id, rewrite, save_state, ChunkWrite};
use super::records::{
    self, decode, parked_key_key, parse_queue_prefix, queue_prefix, row_key_bytes, seq_key, seq_of,
    FailureRec, ParkedKeyRec, ParkedRec, QueuedEntry,
};
use super::{now_ms, pending, Store, StoreError};
use crate::model::{Direction, Operation};
use serde::Serialize;
use std::collections::BTreeMap;

/// A permanent error of one op, as the applier saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureInfo {
    /// SQL Server error number; `None` when the error did not come from
    /// SQL Server (e.g. a value the target cannot take).
    pub number: Option<u32>,
    pub message: String,
}

/// A parked op, as `ctsync parked list` and `inspect` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParkedEntry {
    /// Store-wide id for `ctsync parked retry|drop ID`.
    pub id: u64,
    pub direction: Direction,
    pub table: String,
    pub seq: u64,
    pub op: Operation,
    pub error_number: Option<u32>,
    pub error: String,
    pub attempts: u32,
    pub first_failure_ms: u64,
    pub last_failure_ms: u64,
    pub parked_ms: u64,
    /// Parked only because parked op `behind` has the same key.
    pub behind: Option<u64>,
    /// Parked by this conflict (policy `park`) until it is resolved.
    pub conflict: Option<u64>,
}

/// Which parked ops a retry or drop is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParkedSelect {
    /// One op. A retry takes every parked op of its key with it (a key's
    /// history is only ever applied whole and in order); a drop removes
    /// only this op.
    Id(u64),
    /// Every parked op (of the table, if one is given).
    All,
}

impl Store {
    /// Counts a permanent failure of queued op `seq`. Below `max_attempts`
    /// it stays at the head (returns `None`); at `max_attempts` it is parked
    /// with its error, attempts and times, together with every other queued
    /// op on the same key, in one transaction; returns how many were parked.
    /// Durable either way. An op no longer queued is ignored (`None`).
    pub fn record_failure(
        &self,
        direction: Direction,
        table: &str,
        seq: u64,
        info: &FailureInfo,
        max_attempts: u32,
    ) -> Result<Option<usize>, StoreError> {
        let prefix = queue_prefix(direction, table)?;
        let key = seq_key(&prefix, seq);
        let lock = self.queue_lock(&prefix);
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let Some(chunk_key) = self.chunk_key_at(&prefix, seq)? else {
            return Ok(None);
        };
        let op = match self.chunks(&prefix, chunk_key).next() {
            Some(chunk) => chunk?
                .entries
                .into_iter()
                .find(|e| e.seq == seq)
                .map(|e| e.op),
            None => None,
        };
        let Some(op) = op else {
            return Ok(None);
        };
        let now = now_ms();
        let (attempts, first_ms) = match self.trees.failures.get::<FailureRec>(&key)? {
            Some(FailureRec::V1 {
                attempts, first_ms, ..
            }) => (attempts.saturating_add(1), first_ms),
            None => (1, now),
        };
        if attempts < max_attempts.max(1) {
            self.tx(|tx| {
                tx.failures.put(
                    &key,
                    &FailureRec::V1 {
                        attempts,
                        first_ms,
                        last_ms: now,
                        number: info.number,
                        message: info.message.clone(),
                    },
                )?;
                let mut state = load_state(tx, &prefix)?;
                state.last_error = Some(info.message.clone());
                save_state(tx, &prefix, &state)
            })?;
            drop(_guard);
            self.flush_durable()?;
            return Ok(None);
        }
        // Later ops on the same key, found before the transaction (sled
        // transactions cannot iterate; the queue lock keeps them put). This
        // reads the whole queue, which is fine for a rare event.
        let mut behind: Vec<(Vec<u8>, Operation)> = Vec::new();
        let mut writes: Vec<ChunkWrite> = Vec::new();
        for chunk in self.chunks(&prefix, 0) {
            let chunk = chunk?;
            if !chunk
                .entries
                .iter()
                .any(|e| e.seq == seq || e.op.key == op.key)
            {
                continue;
            }
            let mut rest = Vec::with_capacity(chunk.entries.len());
            for e in chunk.entries {
                if e.seq == seq {
                    continue;
                }
                if e.op.key == op.key {
                    behind.push((seq_key(&prefix, e.seq), e.op));
                } else {
                    rest.push(e);
                }
            }
            writes.push((chunk.key, rewrite(rest)?));
        }
        let parked_key = parked_key_key(&prefix, &row_key_bytes(&op.key)?);
        // Parked ops leave the pending index with the queue.
        let mut unindex = vec![pending::pending_key(&prefix, &row_key_bytes(&op.key)?, seq)];
        for (k, other) in &behind {
            let s = records::seq_of(k).unwrap_or(0);
            unindex.push(pending::pending_key(
                &prefix,
                &row_key_bytes(&other.key)?,
                s,
            ));
        }
        self.tx(|tx| {
            let head_id = next_parked_id(tx)?;
            apply_writes(tx, &writes)?;
            pending::remove_all(tx, &unindex)?;
            tx.failures.remove(&key)?;
            tx.parked.put(
                &key,
                &ParkedRec::V2 {
                    id: head_id,
                    op: op.clone(),
                    number: info.number,
                    message: info.message.clone(),
                    attempts,
                    first_failure_ms: first_ms,
                    last_failure_ms: now,
                    parked_ms: now,
                    behind: None,
                    conflict: None,
                },
            )?;
            for (k, other) in &behind {
                let id = next_parked_id(tx)?;
                tx.failures.remove(k)?;
                tx.parked.put(
                    k,
                    &ParkedRec::V2 {
                        id,
                        op: other.clone(),
                        number: info.number,
                        message: format!(
                            "parked behind operation {head_id} on the same key: {}",
                            info.message
                        ),
                        attempts: 0,
                        first_failure_ms: now,
                        last_failure_ms: now,
                        parked_ms: now,
                        behind: Some(head_id),
                        conflict: None,
                    },
                )?;
            }
            self.fault_point("fail_after_park")?;
            let n = 1 + behind.len() as u64;
            let mut state = load_state(tx, &prefix)?;
            let (head, count) = match tx.parked_keys.get::<ParkedKeyRec>(&parked_key)? {
                Some(ParkedKeyRec::V1 { head_id, count }) => (head_id, count + n),
                None => {
                    state.parked_keys += 1;
                    (head_id, n)
                }
            };
            tx.parked_keys.put(
                &parked_key,
                &ParkedKeyRec::V1 {
                    head_id: head,
                    count,
                },
            )?;
            state.depth = state.depth.saturating_sub(n);
            state.parked += n;
            state.last_error = Some(info.message.clone());
            // A permanent error means the target rolled the batch back:
            // nothing of it is in flight any more.
            if matches!(state.inflight, Some((from, through)) if from <= seq && seq <= through) {
                state.clear_inflight();
            }
            save_state(tx, &prefix, &state)
        })?;
        drop(_guard);
        self.flush_durable()?;
        Ok(Some(1 + behind.len()))
    }

    /// Parked ops, oldest first per queue, optionally of one table; at most
    /// `max`.
    pub fn parked(&self, table: Option<&str>, max: usize) -> Result<Vec<ParkedEntry>, StoreError> {
        let mut out = Vec::new();
        for item in self.trees.parked.tree.iter() {
            if out.len() >= max {
                break;
            }
            let (k, v) = item?;
            let entry = parked_entry(&k, &v)?;
            if table.is_none_or(|t| t == entry.table) {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// Puts parked ops back at the head of their queues, in their original
    /// order (under their original seqs), with their failure counts reset.
    /// Returns how many went back. Durable.
    pub fn retry_parked(
        &self,
        table: Option<&str>,
        select: ParkedSelect,
    ) -> Result<usize, StoreError> {
        let chosen = self.select_parked(table, select, true)?;
        self.retry_chosen(chosen)
    }

    /// [`Store::retry_parked`] of one queue's share of a selection: what a
    /// running agent's applier does for the queue it owns, between batches.
    pub fn retry_parked_in(
        &self,
        direction: Direction,
        table: &str,
        select: ParkedSelect,
    ) -> Result<usize, StoreError> {
        let mut chosen = self.select_parked(Some(table), select, true)?;
        chosen.retain(|(d, t), _| *d == direction && t == table);
        self.retry_chosen(chosen)
    }

    /// The queues a selection of parked ops belongs to (an unknown id is
    /// [`StoreError::ParkedNotFound`]).
    pub fn parked_queues(
        &self,
        table: Option<&str>,
        select: ParkedSelect,
    ) -> Result<Vec<(Direction, String)>, StoreError> {
        Ok(self
            .select_parked(table, select, false)?
            .into_keys()
            .collect())
    }

    fn retry_chosen(
        &self,
        chosen: BTreeMap<(Direction, String), Vec<ParkedEntry>>,
    ) -> Result<usize, StoreError> {
        let mut total = 0;
        for ((direction, table), entries) in chosen {
            let prefix = queue_prefix(direction, &table)?;
            let lock = self.queue_lock(&prefix);
            let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
            let keys = distinct_row_keys(&prefix, &entries)?;
            let writes = self.placements(&prefix, &entries)?;
            let index = entries
                .iter()
                .map(|e| pending::entry(&prefix, &e.op.key, e.seq, e.op.version))
                .collect::<Result<Vec<_>, StoreError>>()?;
            self.tx(|tx| {
                let mut state = load_state(tx, &prefix)?;
                for e in &entries {
                    tx.parked.remove(&seq_key(&prefix, e.seq))?;
                }
                apply_writes(tx, &writes)?;
                pending::put_all(tx, &index)?;
                for pk in &keys {
                    if tx.parked_keys.remove(pk)? {
                        state.parked_keys = state.parked_keys.saturating_sub(1);
                    }
                }
                let n = entries.len() as u64;
                state.parked = state.parked.saturating_sub(n);
                state.depth += n;
                save_state(tx, &prefix, &state)
            })?;
            total += entries.len();
        }
        if total > 0 {
            self.flush_durable()?;
        }
        Ok(total)
    }

    /// Removes parked ops for good. A key stays parked while any of its ops
    /// is. Returns how many were dropped. Durable.
    pub fn drop_parked(
        &self,
        table: Option<&str>,
        select: ParkedSelect,
    ) -> Result<usize, StoreError> {
        let chosen = self.select_parked(table, select, false)?;
        self.drop_chosen(chosen)
    }

    /// [`Store::drop_parked`] of one queue's share of a selection (see
    /// [`Store::retry_parked_in`]).
    pub fn drop_parked_in(
        &self,
        direction: Direction,
        table: &str,
        select: ParkedSelect,
    ) -> Result<usize, StoreError> {
        let mut chosen = self.select_parked(Some(table), select, false)?;
        chosen.retain(|(d, t), _| *d == direction && t == table);
        self.drop_chosen(chosen)
    }

    fn drop_chosen(
        &self,
        chosen: BTreeMap<(Direction, String), Vec<ParkedEntry>>,
    ) -> Result<usize, StoreError> {
        let mut total = 0;
        for ((direction, table), entries) in chosen {
            let prefix = queue_prefix(direction, &table)?;
            let lock = self.queue_lock(&prefix);
            let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
            let row_keys = entries
                .iter()
                .map(|e| Ok(parked_key_key(&prefix, &row_key_bytes(&e.op.key)?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            self.tx(|tx| {
                let mut state = load_state(tx, &prefix)?;
                // Per parked key, how many of its ops go.
                let mut per_key: BTreeMap<&[u8], u64> = BTreeMap::new();
                for (e, pk) in entries.iter().zip(&row_keys) {
                    if tx.parked.remove(&seq_key(&prefix, e.seq))? {
                        *per_key.entry(pk.as_slice()).or_default() += 1;
                        state.parked = state.parked.saturating_sub(1);
                    }
                }
                for (pk, n) in per_key {
                    if let Some(ParkedKeyRec::V1 { head_id, count }) = tx.parked_keys.get(pk)? {
                        if count <= n {
                            tx.parked_keys.remove(pk)?;
                            state.parked_keys = state.parked_keys.saturating_sub(1);
                        } else {
                            tx.parked_keys.put(
                                pk,
                                &ParkedKeyRec::V1 {
                                    head_id,
                                    count: count - n,
                                },
                            )?;
                        }
                    }
                }
                save_state(tx, &prefix, &state)
            })?;
            total += entries.len();
        }
        if total > 0 {
            self.flush_durable()?;
        }
        Ok(total)
    }

    /// Where retried ops go back: each into the chunk whose seq range
    /// holds it (it was taken from there), or a chunk of its own keyed by
    /// its seq when it is past every chunk's range, so chunks stay
    /// disjoint and in order. `entries` are in seq order.
    pub(super) fn placements(
        &self,
        prefix: &[u8],
        entries: &[ParkedEntry],
    ) -> Result<Vec<ChunkWrite>, StoreError> {
        let now = now_ms();
        let mut touched: BTreeMap<u64, Vec<QueuedEntry>> = BTreeMap::new();
        for e in entries {
            let entry = QueuedEntry {
                seq: e.seq,
                op: e.op.clone(),
                enqueued_ms: now,
            };
            if let Some(ck) = self.chunk_key_at(prefix, e.seq)? {
                if let std::collections::btree_map::Entry::Vacant(slot) = touched.entry(ck) {
                    let loaded = match self.chunks(prefix, ck).next() {
                        Some(c) => c?.entries,
                        None => Vec::new(),
                    };
                    slot.insert(loaded);
                }
                if let Some(list) = touched.get_mut(&ck) {
                    if list.last().is_some_and(|l| e.seq < l.seq) {
                        let at = list.partition_point(|x| x.seq < e.seq);
                        list.insert(at, entry);
                        continue;
                    }
                }
            }
            touched.insert(e.seq, vec![entry]);
        }
        touched
            .into_iter()
            .map(|(k, list)| Ok((sled::IVec::from(seq_key(prefix, k)), rewrite(list)?)))
            .collect()
    }

    /// The parked ops a selection names, grouped by queue, in seq order.
    /// `whole_key`: an `Id` selects every parked op of that op's key.
    fn select_parked(
        &self,
        table: Option<&str>,
        select: ParkedSelect,
        whole_key: bool,
    ) -> Result<BTreeMap<(Direction, String), Vec<ParkedEntry>>, StoreError> {
        let all = self.parked(table, usize::MAX)?;
        let mut chosen: BTreeMap<(Direction, String), Vec<ParkedEntry>> = BTreeMap::new();
        match select {
            ParkedSelect::All => {
                for e in all {
                    chosen
                        .entry((e.direction, e.table.clone()))
                        .or_default()
                        .push(e);
                }
            }
            ParkedSelect::Id(id) => {
                let Some(target) = all.iter().find(|e| e.id == id).cloned() else {
                    return Err(StoreError::ParkedNotFound { id });
                };
                let group: Vec<ParkedEntry> = if whole_key {
                    all.into_iter()
                        .filter(|e| {
                            e.direction == target.direction
                                && e.table == target.table
                                && e.op.key == target.op.key
                        })
                        .collect()
                } else {
                    vec![target.clone()]
                };
                chosen.insert((target.direction, target.table), group);
            }
        }
        Ok(chosen)
    }
}

fn parked_entry(k: &[u8], v: &[u8]) -> Result<ParkedEntry, StoreError> {
    let corrupt = |reason: &str| StoreError::Corrupt {
        tree: "parked",
        key: records::key_text(k),
        reason: reason.into(),
    };
    let seq = seq_of(k).ok_or_else(|| corrupt("key has no sequence number"))?;
    let (direction, table) =
        parse_queue_prefix(&k[..k.len() - 8]).ok_or_else(|| corrupt("key names no queue"))?;
    Ok(match decode::<ParkedRec>("parked", k, v)? {
        ParkedRec::V1 {
            id,
            op,
            number,
            message,
            attempts,
            first_failure_ms,
            last_failure_ms,
            parked_ms,
            behind,
        } => ParkedEntry {
            id,
            direction,
            table,
            seq,
            op: op.into(),
            error_number: number,
            error: message,
            attempts,
            first_failure_ms,
            last_failure_ms,
            parked_ms,
            behind,
            conflict: None,
        },
        ParkedRec::V2 {
            id,
            op,
            number,
            message,
            attempts,
            first_failure_ms,
            last_failure_ms,
            parked_ms,
            behind,
            conflict,
        } => ParkedEntry {
            id,
            direction,
            table,
            seq,
            op,
            error_number: number,
            error: message,
            attempts,
            first_failure_ms,
            last_failure_ms,
            parked_ms,
            behind,
            conflict,
        },
    })
}

fn distinct_row_keys(prefix: &[u8], entries: &[ParkedEntry]) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut keys = Vec::new();
    for e in entries {
        let pk = parked_key_key(prefix, &row_key_bytes(&e.op.key)?);
        if !keys.contains(&pk) {
            keys.push(pk);
        }
    }
    Ok(keys)
}
