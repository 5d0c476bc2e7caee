//! The queues: enqueue with the watermark, peek, in-flight marks, and
//! completion of an applied batch.

use super::records::{
    self, build_chunks, decode, encode, entry_bytes, parked_key_key, queue_prefix, row_key_bytes,
    seq_key, watermark_key, ParkedKeyRec, ParkedRec, QueueChunk, QueueState, QueueStateV2,
    QueuedEntry, QueuedEntryRef, WatermarkRec,
};
use super::{abort, idmap, now_ms, pending, Store, StoreError, Tx, TxResult};
use crate::model::{Direction, Operation, Side, SqlValue};

/// The queue's state record (a fresh one if the queue never had any).
pub(super) fn load_state(tx: &Tx<'_>, prefix: &[u8]) -> TxResult<QueueStateV2> {
    Ok(match tx.queues.get::<QueueState>(prefix)? {
        Some(s) => s.current(),
        None => QueueStateV2 {
            next_seq: 1,
            ..QueueStateV2::default()
        },
    })
}

pub(super) fn save_state(tx: &Tx<'_>, prefix: &[u8], state: &QueueStateV2) -> TxResult<()> {
    tx.queues.put(prefix, &QueueState::V2(state.clone()))
}

/// Takes the next store-wide parked id.
pub(super) fn next_parked_id(tx: &Tx<'_>) -> TxResult<u64> {
    const KEY: &[u8] = b"next_parked_id";
    let next = match tx.meta.get::<records::CounterRec>(KEY)? {
        Some(records::CounterRec::V1 { next }) => next,
        None => 1,
    };
    tx.meta
        .put(KEY, &records::CounterRec::V1 { next: next + 1 })?;
    Ok(next)
}

/// A decoded queue chunk.
pub(super) struct Chunk {
    pub key: sled::IVec,
    pub entries: Vec<QueuedEntry>,
}

/// A change to one chunk, prepared outside a transaction (under the queue
/// lock) and applied inside it: `None` removes the chunk.
pub(super) type ChunkWrite = (sled::IVec, Option<Vec<u8>>);

/// The new value of a chunk that keeps `entries` (`None` if none are left).
/// The key stays: it is at most the first remaining seq, and below every
/// seq of the next chunk, so the order holds.
pub(super) fn rewrite(entries: Vec<QueuedEntry>) -> Result<Option<Vec<u8>>, StoreError> {
    if entries.is_empty() {
        return Ok(None);
    }
    encode("queue", &QueueChunk::V2 { entries }).map(Some)
}

pub(super) fn apply_writes(tx: &Tx<'_>, writes: &[ChunkWrite]) -> TxResult<()> {
    for (k, v) in writes {
        match v {
            Some(v) => {
                tx.queue.tree.insert(k, v.as_slice())?;
            }
            None => {
                tx.queue.remove(k)?;
            }
        }
    }
    Ok(())
}

impl Store {
    /// The chunks of a queue whose key is ≥ `from_key`, in order.
    /// Spilled entries are loaded (see `spill`: one per chunk).
    pub(super) fn chunks<'a>(
        &'a self,
        prefix: &'a [u8],
        from_key: u64,
    ) -> impl Iterator<Item = Result<Chunk, StoreError>> + 'a {
        self.chunks_raw(prefix, from_key).map(move |chunk| {
            let mut chunk = chunk?;
            for e in &mut chunk.entries {
                self.unspill(prefix, e)?;
            }
            Ok(chunk)
        })
    }

    /// [`Store::chunks`] with spilled entries left as their stubs.
    pub(super) fn chunks_raw<'a>(
        &'a self,
        prefix: &[u8],
        from_key: u64,
    ) -> impl Iterator<Item = Result<Chunk, StoreError>> + 'a {
        let range = seq_key(prefix, from_key)..=seq_key(prefix, u64::MAX);
        self.trees.queue.tree.range(range).map(|item| {
            let (key, v) = item?;
            let entries = decode::<QueueChunk>("queue", &key, &v)?.into_entries();
            Ok(Chunk { key, entries })
        })
    }

    /// The key of the chunk that holds (or would hold) `seq`: the last one
    /// keyed at or below it.
    pub(super) fn chunk_key_at(&self, prefix: &[u8], seq: u64) -> Result<Option<u64>, StoreError> {
        let range = seq_key(prefix, 0)..=seq_key(prefix, seq);
        match self.trees.queue.tree.range(range).next_back() {
            Some(item) => Ok(records::seq_of(&item?.0)),
            None => Ok(None),
        }
    }

    /// The queue's state outside a transaction.
    pub(super) fn read_state(&self, prefix: &[u8]) -> Result<QueueStateV2, StoreError> {
        Ok(match self.trees.queues.get::<QueueState>(prefix)? {
            Some(s) => s.current(),
            None => QueueStateV2 {
                next_seq: 1,
                ..QueueStateV2::default()
            },
        })
    }

    /// The last captured change-tracking version of `table` on `side`.
    pub fn watermark(&self, side: Side, table: &str) -> Result<Option<i64>, StoreError> {
        let key = watermark_key(side, table)?;
        Ok(self
            .trees
            .watermarks
            .get::<WatermarkRec>(&key)?
            .map(|WatermarkRec::V1 { version, .. }| version))
    }

    /// Appends `ops` (in order) to the queue of (`direction`, `table`) and
    /// sets the watermark of `table` on `side` to `version`, in one
    /// transaction, then makes it durable. Ops whose key has parked ops go
    /// to `parked` behind them instead. An empty `ops` only moves the
    /// watermark. The watermark never goes back
    /// ([`StoreError::WatermarkBackwards`]; use [`Store::reset_queue`]).
    // Capture appends with `enqueue_captured`, the loader sets its start
    // with `begin_copy`; this is the tests' shorthand.
    #[cfg(test)]
    pub fn enqueue_batch(
        &self,
        direction: Direction,
        table: &str,
        ops: &[Operation],
        side: Side,
        version: i64,
    ) -> Result<(), StoreError> {
        self.enqueue_inner(direction, table, ops, side, None, version, None, false)
    }

    /// Appends corrective operations of `ctsync verify --repair` to the
    /// queue of (`direction`, `table`), after what is queued, leaving the
    /// watermark and a staged read as they are: they are applied in order,
    /// with ctsync's context (so the write is not captured back), and a
    /// key with parked operations gets them parked behind those, exactly as
    /// captured ones. One transaction, then durable. In a running agent
    /// only the queue's owner calls this (`agent::queue_owner`).
    pub fn enqueue_repair(
        &self,
        direction: Direction,
        table: &str,
        ops: &[Operation],
    ) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.enqueue_inner(
            direction,
            table,
            ops,
            direction.source(),
            None,
            0,
            None,
            true,
        )
    }

    /// [`Store::enqueue_batch`] for changes read from the watermark `from`
    /// (capture's): appended only if the watermark is still `from`, else
    /// nothing is written and the answer is `false`. A table re-initialised
    /// while its changes were read has another watermark (or none) by then;
    /// those changes belong to the queue that was reset, and the new stream
    /// reads what it needs from its own start version.
    ///
    /// With `piece`, `ops` are a piece of a source transaction read in
    /// pieces (see `staged`): they are appended staged, the watermark stays
    /// `from`, and the staged record moves to the piece's cursor. The read
    /// that ends the transaction passes `None` and makes every staged op
    /// visible with the new watermark, in the same transaction.
    pub fn enqueue_captured(
        &self,
        direction: Direction,
        table: &str,
        ops: &[Operation],
        side: Side,
        from: Option<i64>,
        version: i64,
        piece: Option<&super::Piece>,
    ) -> Result<bool, StoreError> {
        match self.enqueue_inner(
            direction,
            table,
            ops,
            side,
            Some(from),
            version,
            piece,
            false,
        ) {
            Ok(()) => Ok(true),
            Err(StoreError::WatermarkMoved { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `repair`: append only (see [`Store::enqueue_repair`]); `expect`,
    /// `version` and `piece` are then not used.
    #[allow(clippy::too_many_arguments)]
    fn enqueue_inner(
        &self,
        direction: Direction,
        table: &str,
        ops: &[Operation],
        side: Side,
        expect: Option<Option<i64>>,
        version: i64,
        piece: Option<&super::Piece>,
        repair: bool,
    ) -> Result<(), StoreError> {
        debug_assert_eq!(direction.source(), side);
        let prefix = queue_prefix(direction, table)?;
        let wm_key = watermark_key(side, table)?;
        let staged_key = super::staged::staged_key(&prefix);
        let now = now_ms();
        let lock = self.queue_lock(&prefix);
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        // Under the queue lock only this method moves `next_seq`, and only
        // park/retry/drop (which take the lock too) change `parked_keys`,
        // so what is read here still holds in the transaction. Everything
        // is encoded here, once: sled may run the closure again.
        let before = self.read_state(&prefix)?;
        let first_seq = before.next_seq;
        // Changes lost to a conflict before they were captured are dropped
        // here, when capture reads them (see `pending`); a marker whose
        // version the watermark passed is obsolete once its row has no
        // queued op left.
        let markers = self.lost_markers(&prefix)?;
        let mut kept: Vec<&Operation> = Vec::with_capacity(ops.len());
        let mut dropped_lost = 0u64;
        for op in ops {
            if !markers.is_empty() {
                let rp = pending::row_prefix(&prefix, &row_key_bytes(&op.key)?);
                if markers
                    .iter()
                    .any(|(k, through)| *k == rp && op.version <= *through)
                {
                    dropped_lost += 1;
                    continue;
                }
            }
            kept.push(op);
        }
        let mut queued = Vec::with_capacity(kept.len());
        let mut spilled: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut pending_entries = Vec::with_capacity(kept.len());
        let mut to_park = Vec::new();
        for (i, op) in kept.iter().copied().enumerate() {
            let seq = first_seq + i as u64;
            if before.parked_keys > 0 {
                let pk = parked_key_key(&prefix, &row_key_bytes(&op.key)?);
                if self.trees.parked_keys.tree.contains_key(&pk)? {
                    to_park.push((seq, op, pk));
                    continue;
                }
            }
            let entry = QueuedEntryRef {
                seq,
                op,
                enqueued_ms: now,
            };
            let bytes = entry_bytes(&entry)?;
            if bytes.len() > super::spill::SPILL_ENTRY_BYTES_MIN {
                let stub = super::spill::stub(op);
                let stub_bytes = entry_bytes(&QueuedEntryRef {
                    seq,
                    op: &stub,
                    enqueued_ms: now,
                })?;
                spilled.push((seq, bytes));
                queued.push((seq, stub_bytes, true));
            } else {
                queued.push((seq, bytes, false));
            }
            pending_entries.push(pending::entry(&prefix, &op.key, seq, op.version)?);
        }
        // Files first, durable, then the transaction that points at them.
        let files: Vec<(u64, &[u8])> = spilled.iter().map(|(s, b)| (*s, b.as_slice())).collect();
        self.spill_write(&prefix, &files)?;
        drop(files);
        drop(spilled);
        let mut obsolete_markers = Vec::new();
        // A piece does not move the watermark: the markers stay until the
        // transaction's last piece is in.
        for (rp, through) in markers.iter().filter(|_| piece.is_none() && !repair) {
            if *through <= version
                && !self.has_pending(rp)?
                && !pending_entries.iter().any(|e| e.key.starts_with(rp))
            {
                obsolete_markers.push(rp.clone());
            }
        }
        if dropped_lost > 0 {
            tracing::debug!(
                table,
                dropped = dropped_lost,
                "captured changes lost to a settled conflict dropped"
            );
        }
        let n_queued = queued.len() as u64;
        // A stub gets a chunk of its own, so reading a chunk loads at most
        // one spilled entry.
        let mut chunks: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut run = Vec::new();
        for (seq, bytes, alone) in queued {
            if alone {
                chunks.extend(build_chunks(std::mem::take(&mut run)));
                chunks.extend(build_chunks(vec![(seq, bytes)]));
            } else {
                run.push((seq, bytes));
            }
        }
        chunks.extend(build_chunks(run));
        let chunks: Vec<(Vec<u8>, Vec<u8>)> = chunks
            .into_iter()
            .map(|(seq, v)| (seq_key(&prefix, seq), v))
            .collect();
        self.tx(|tx| {
            let mut state = load_state(tx, &prefix)?;
            let stored = tx.watermarks.get::<WatermarkRec>(&wm_key)?;
            if let Some(expected) = expect {
                let now_at = stored
                    .as_ref()
                    .map(|WatermarkRec::V1 { version, .. }| *version);
                if now_at != expected {
                    return Err(abort(StoreError::WatermarkMoved {
                        table: table.to_string(),
                    }));
                }
            }
            if let Some(WatermarkRec::V1 {
                version: current, ..
            }) = stored.filter(|_| !repair)
            {
                if version < current {
                    return Err(abort(StoreError::WatermarkBackwards {
                        side: side.as_str(),
                        table: table.to_string(),
                        current,
                        new: version,
                    }));
                }
            }
            debug_assert_eq!(state.next_seq, first_seq);
            for (k, v) in &chunks {
                tx.queue.tree.insert(k.as_slice(), v.as_slice())?;
            }
            for (seq, op, pk) in &to_park {
                // Present when routed (the queue lock keeps it); if it were
                // not, the op is still parked rather than lost.
                let (head_id, count) = match tx.parked_keys.get::<ParkedKeyRec>(pk)? {
                    Some(ParkedKeyRec::V1 { head_id, count }) => (head_id, count),
                    None => (0, 0),
                };
                let id = next_parked_id(tx)?;
                let rec = ParkedRec::V2 {
                    id,
                    op: (*op).clone(),
                    number: None,
                    message: format!("parked behind parked operation {head_id} on the same key"),
                    attempts: 0,
                    first_failure_ms: now,
                    last_failure_ms: now,
                    parked_ms: now,
                    behind: Some(head_id),
                    conflict: None,
                };
                tx.parked.put(&seq_key(&prefix, *seq), &rec)?;
                tx.parked_keys.put(
                    pk,
                    &ParkedKeyRec::V1 {
                        head_id,
                        count: count + 1,
                    },
                )?;
            }
            pending::put_all(tx, &pending_entries)?;
            for k in &obsolete_markers {
                tx.lost.remove(k)?;
            }
            self.fault_point("fail_after_enqueue")?;
            state.next_seq = first_seq + kept.len() as u64;
            state.depth += n_queued;
            state.parked += to_park.len() as u64;
            if repair {
                save_state(tx, &prefix, &state)?;
                return Ok(());
            }
            state.last_capture_ms = Some(now);
            save_state(tx, &prefix, &state)?;
            let staged = tx.meta.get::<super::staged::StagedRec>(&staged_key)?;
            let Some(p) = piece else {
                if staged.is_some() {
                    tx.meta.remove(&staged_key)?;
                }
                tx.watermarks.put(
                    &wm_key,
                    &WatermarkRec::V1 {
                        version,
                        updated_ms: now,
                    },
                )?;
                return Ok(());
            };
            let mut rec = match staged {
                Some(super::staged::StagedRec::V1(s)) => s,
                None => super::StagedRead {
                    read_from: p.read_from,
                    through: p.through,
                    after_version: p.after_version,
                    after_key: Vec::new(),
                    first_seq,
                    ops: 0,
                    rows: 0,
                    started_ms: now,
                },
            };
            if rec.through != p.through || rec.read_from != p.read_from {
                return Err(abort(StoreError::StagedMismatch {
                    table: table.to_string(),
                    staged: (rec.read_from, rec.through),
                    piece: (p.read_from, p.through),
                }));
            }
            rec.after_version = p.after_version;
            rec.after_key = p.after_key.clone();
            rec.ops += kept.len() as u64;
            rec.rows += p.rows;
            tx.meta
                .put(&staged_key, &super::staged::StagedRec::V1(rec))?;
            Ok(())
        })?;
        drop(_guard);
        self.flush_durable()
    }

    /// Up to `max` queued ops with seq ≥ `from_seq`, in order, short of the
    /// staged ones (see `staged`): what the applier may write.
    pub fn list_queue(
        &self,
        direction: Direction,
        table: &str,
        from_seq: u64,
        max: usize,
    ) -> Result<Vec<(u64, Operation)>, StoreError> {
        self.list_queue_in(direction, table, from_seq, max, false, usize::MAX)
    }

    /// [`Store::list_queue`] for an applier's next batch: also stops once
    /// the ops' values pass `bytes_max` (at least one op), so a queue of
    /// 10 MB rows is never decoded whole to take a batch of them
    /// ([`crate::model::within_bytes`]).
    pub fn list_batch(
        &self,
        direction: Direction,
        table: &str,
        from_seq: u64,
        max: usize,
        bytes_max: usize,
    ) -> Result<Vec<(u64, Operation)>, StoreError> {
        self.list_queue_in(direction, table, from_seq, max, false, bytes_max)
    }

    /// [`Store::list_queue`], staged ops included (`inspect`, and the
    /// reference check, which must see a child's delete still being read).
    pub fn list_queue_all(
        &self,
        direction: Direction,
        table: &str,
        from_seq: u64,
        max: usize,
    ) -> Result<Vec<(u64, Operation)>, StoreError> {
        self.list_queue_in(direction, table, from_seq, max, true, usize::MAX)
    }

    fn list_queue_in(
        &self,
        direction: Direction,
        table: &str,
        from_seq: u64,
        max: usize,
        all: bool,
        bytes_max: usize,
    ) -> Result<Vec<(u64, Operation)>, StoreError> {
        let mut bytes = 0usize;
        let prefix = queue_prefix(direction, table)?;
        let mut out = Vec::with_capacity(max.min(4096));
        if max == 0 {
            return Ok(out);
        }
        // Staged ops (a source transaction still being read) are not
        // listed for the applier.
        let end = match all {
            true => u64::MAX,
            false => self.staged_at(&prefix)?.map_or(u64::MAX, |s| s.first_seq),
        };
        let start = self.chunk_key_at(&prefix, from_seq)?.unwrap_or(from_seq);
        for chunk in self.chunks_raw(&prefix, start) {
            for mut e in chunk?.entries {
                if e.seq >= end {
                    return Ok(out);
                }
                if e.seq >= from_seq {
                    // The applier's lists carry images; `list_queue_all`
                    // (inspect, the reference check) shows stubs.
                    if !all {
                        // A spilled op is larger than the spill threshold:
                        // when that alone passes the bound, stop before
                        // reading it.
                        if super::spill::is_stub(&e.op)
                            && !out.is_empty()
                            && bytes.saturating_add(super::spill::SPILL_ENTRY_BYTES_MIN) > bytes_max
                        {
                            return Ok(out);
                        }
                        self.unspill(&prefix, &mut e)?;
                    }
                    bytes = bytes.saturating_add(e.op.approx_bytes());
                    if bytes > bytes_max && !out.is_empty() {
                        return Ok(out);
                    }
                    out.push((e.seq, e.op));
                    if out.len() >= max {
                        return Ok(out);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Records that ops `from..=through` are being written to the target
    /// (durable before the write starts), with a target version read before
    /// the write (`since`: the lookup after an unknown outcome reads the
    /// target's changes after it) and, for a two-way batch with conflicts,
    /// the settlement it makes if it lands.
    pub fn mark_inflight(
        &self,
        direction: Direction,
        table: &str,
        from: u64,
        through: u64,
        since: Option<i64>,
        settlement: Option<&super::conflicts::Settlement>,
    ) -> Result<(), StoreError> {
        if from > through {
            return Err(StoreError::InvalidRange { from, through });
        }
        let prefix = queue_prefix(direction, table)?;
        self.tx(|tx| {
            let mut state = load_state(tx, &prefix)?;
            state.inflight = Some((from, through));
            state.inflight_since = since;
            state.inflight_settlement = settlement.cloned();
            save_state(tx, &prefix, &state)
        })?;
        self.flush_durable()
    }

    /// The in-flight write, if its outcome is unknown.
    pub fn inflight(
        &self,
        direction: Direction,
        table: &str,
    ) -> Result<Option<InFlight>, StoreError> {
        let state = self.read_state(&queue_prefix(direction, table)?)?;
        Ok(state.inflight.map(|(from, through)| InFlight {
            from,
            through,
            since: state.inflight_since,
            settlement: state.inflight_settlement,
        }))
    }

    /// Forgets the in-flight range (the write is known not to have landed).
    pub fn clear_inflight(&self, direction: Direction, table: &str) -> Result<(), StoreError> {
        let prefix = queue_prefix(direction, table)?;
        self.tx(|tx| {
            let mut state = load_state(tx, &prefix)?;
            state.clear_inflight();
            save_state(tx, &prefix, &state)
        })?;
        self.flush_durable()
    }

    /// The target version saved with the last completion (or by
    /// [`Store::set_target_floor`]): a write made since has newer changes.
    pub fn target_floor(
        &self,
        direction: Direction,
        table: &str,
    ) -> Result<Option<i64>, StoreError> {
        Ok(self
            .read_state(&queue_prefix(direction, table)?)?
            .target_floor)
    }

    /// Saves a target version read before any write not completed yet
    /// (the first write of a queue), durably.
    pub fn set_target_floor(
        &self,
        direction: Direction,
        table: &str,
        version: i64,
    ) -> Result<(), StoreError> {
        let prefix = queue_prefix(direction, table)?;
        self.tx(|tx| {
            let mut state = load_state(tx, &prefix)?;
            state.target_floor = Some(version);
            save_state(tx, &prefix, &state)
        })?;
        self.flush_durable()
    }

    /// An applied batch: removes every queued op with seq ≤ `through`,
    /// records `mapped` (source key, new target key) in both directions of
    /// the id map, drops the mappings of `unmapped` source keys, forgets
    /// failure counts of the removed ops, clears the in-flight range and
    /// saves `floor` (a target version read after the batch's commit, if
    /// known) — one transaction, then durable.
    pub fn complete_batch(
        &self,
        direction: Direction,
        table: &str,
        through: u64,
        mapped: &[(Vec<SqlValue>, Vec<SqlValue>)],
        unmapped: &[Vec<SqlValue>],
        floor: Option<i64>,
    ) -> Result<(), StoreError> {
        self.complete_batch_unflushed(direction, table, through, mapped, unmapped, floor)?;
        self.flush_durable()
    }

    /// [`Store::complete_batch`] without the durable flush: the transaction
    /// is applied (and atomic after a crash: all or none of it), but only
    /// durable after a later [`Store::flush_durable`]. For an applier that
    /// overlaps that flush with its next write and holds that write's COMMIT
    /// until the flush returned, so no target commit ever depends on a
    /// completion that could still be lost.
    pub fn complete_batch_unflushed(
        &self,
        direction: Direction,
        table: &str,
        through: u64,
        mapped: &[(Vec<SqlValue>, Vec<SqlValue>)],
        unmapped: &[Vec<SqlValue>],
        floor: Option<i64>,
    ) -> Result<(), StoreError> {
        let prefix = queue_prefix(direction, table)?;
        let source = direction.source();
        let lock = self.queue_lock(&prefix);
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        // sled transactions cannot iterate: prepare the chunk changes
        // first. The queue lock keeps the queue unchanged until the
        // transaction.
        let mut writes: Vec<ChunkWrite> = Vec::new();
        let mut removed = 0u64;
        let mut unindex: Vec<Vec<u8>> = Vec::new();
        // Stubs stay stubs (their files go once this is durable).
        for chunk in self.chunks_raw(&prefix, 0) {
            let Chunk { key, entries } = chunk?;
            if records::seq_of(&key).is_none_or(|k| k > through) {
                break;
            }
            let before = entries.len();
            let mut rest: Vec<QueuedEntry> = Vec::with_capacity(before);
            for e in entries {
                if e.seq > through {
                    rest.push(e);
                } else {
                    unindex.push(pending::pending_key(
                        &prefix,
                        &row_key_bytes(&e.op.key)?,
                        e.seq,
                    ));
                }
            }
            removed += (before - rest.len()) as u64;
            let partial = !rest.is_empty();
            writes.push((key, rewrite(rest)?));
            if partial {
                break;
            }
        }
        let range = seq_key(&prefix, 0)..=seq_key(&prefix, through);
        let mut failed = Vec::new();
        for item in self.trees.failures.tree.range(range) {
            failed.push(item?.0);
        }
        let now = now_ms();
        self.tx(|tx| {
            let mut state = load_state(tx, &prefix)?;
            apply_writes(tx, &writes)?;
            pending::remove_all(tx, &unindex)?;
            for k in &failed {
                tx.failures.remove(k)?;
            }
            self.fault_point("fail_after_remove")?;
            for (key, other) in mapped {
                idmap::put_pair(tx, table, source, key, other)?;
            }
            for key in unmapped {
                idmap::remove_pair(tx, table, source, key)?;
            }
            state.depth = state.depth.saturating_sub(removed);
            state.completed(through, floor, now);
            save_state(tx, &prefix, &state)
        })?;
        drop(_guard);
        self.spill_completed(&prefix, through);
        Ok(())
    }
}

/// A write whose outcome is not known (see [`Store::mark_inflight`]).
#[derive(Debug, Clone, PartialEq)]
pub struct InFlight {
    pub from: u64,
    pub through: u64,
    pub since: Option<i64>,
    pub settlement: Option<super::conflicts::Settlement>,
}
