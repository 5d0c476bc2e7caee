//! The queues: enqueue with the watermark, peek, in-flight marks, and
//! completion of an applied batch.

use super::records::{
    self, encode, parked_key_key, queue_prefix, row_key_bytes, seq_key, seq_of, watermark_key,
    ParkedKeyRec, ParkedRec, QueueState, QueueStateV1, QueuedOp, QueuedOpRef, WatermarkRec,
};
use super::{abort, idmap, now_ms, Store, StoreError, Tx, TxResult};
use crate::model::{Direction, Operation, Side, SqlValue};

/// The queue's state record (a fresh one if the queue never had any).
pub(super) fn load_state(tx: &Tx<'_>, prefix: &[u8]) -> TxResult<QueueStateV1> {
    Ok(match tx.queues.get::<QueueState>(prefix)? {
        Some(QueueState::V1(s)) => s,
        None => QueueStateV1 {
            next_seq: 1,
            ..QueueStateV1::default()
        },
    })
}

pub(super) fn save_state(tx: &Tx<'_>, prefix: &[u8], state: &QueueStateV1) -> TxResult<()> {
    tx.queues.put(prefix, &QueueState::V1(state.clone()))
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

impl Store {
    /// The queue's state outside a transaction.
    pub(super) fn read_state(&self, prefix: &[u8]) -> Result<QueueStateV1, StoreError> {
        Ok(match self.trees.queues.get::<QueueState>(prefix)? {
            Some(QueueState::V1(s)) => s,
            None => QueueStateV1 {
                next_seq: 1,
                ..QueueStateV1::default()
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
    pub fn enqueue_batch(
        &self,
        direction: Direction,
        table: &str,
        ops: &[Operation],
        side: Side,
        version: i64,
    ) -> Result<(), StoreError> {
        debug_assert_eq!(direction.source(), side);
        let prefix = queue_prefix(direction, table)?;
        let wm_key = watermark_key(side, table)?;
        let now = now_ms();
        // Encoding is pure, so it happens once, outside the transaction
        // closure that sled may run again on a conflict.
        let encoded = ops
            .iter()
            .map(|op| {
                encode(
                    "queue",
                    &QueuedOpRef::V1 {
                        op,
                        enqueued_ms: now,
                    },
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let lock = self.queue_lock(&prefix);
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        // Under the queue lock only park/retry/drop change `parked_keys`,
        // and they take this lock too, so this read stays true.
        let row_keys = if self.read_state(&prefix)?.parked_keys > 0 {
            Some(
                ops.iter()
                    .map(|op| row_key_bytes(&op.key))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        } else {
            None
        };
        self.tx(|tx| {
            let mut state = load_state(tx, &prefix)?;
            if let Some(WatermarkRec::V1 {
                version: current, ..
            }) = tx.watermarks.get(&wm_key)?
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
            let mut seq = state.next_seq;
            let (mut queued, mut parked) = (0u64, 0u64);
            for (i, bytes) in encoded.iter().enumerate() {
                let parked_key = match &row_keys {
                    Some(rks) => {
                        let pk = parked_key_key(&prefix, &rks[i]);
                        tx.parked_keys
                            .get::<ParkedKeyRec>(&pk)?
                            .map(|rec| (pk, rec))
                    }
                    None => None,
                };
                match parked_key {
                    Some((pk, ParkedKeyRec::V1 { head_id, count })) => {
                        let id = next_parked_id(tx)?;
                        let rec = ParkedRec::V1 {
                            id,
                            op: ops[i].clone(),
                            number: 0,
                            message: format!(
                                "parked behind parked operation {head_id} on the same key"
                            ),
                            attempts: 0,
                            first_failure_ms: now,
                            last_failure_ms: now,
                            parked_ms: now,
                            behind: Some(head_id),
                        };
                        tx.parked.put(&seq_key(&prefix, seq), &rec)?;
                        tx.parked_keys.put(
                            &pk,
                            &ParkedKeyRec::V1 {
                                head_id,
                                count: count + 1,
                            },
                        )?;
                        parked += 1;
                    }
                    None => {
                        tx.queue
                            .tree
                            .insert(seq_key(&prefix, seq), bytes.as_slice())?;
                        queued += 1;
                    }
                }
                seq += 1;
            }
            self.fault_point("fail_after_enqueue")?;
            state.next_seq = seq;
            state.depth += queued;
            state.parked += parked;
            state.last_capture_ms = Some(now);
            save_state(tx, &prefix, &state)?;
            tx.watermarks.put(
                &wm_key,
                &WatermarkRec::V1 {
                    version,
                    updated_ms: now,
                },
            )?;
            Ok(())
        })?;
        drop(_guard);
        self.flush_durable()
    }

    /// The first `max` queued ops of (`direction`, `table`), in order, with
    /// their seqs. Parked ops are not in the queue, so this is exactly what
    /// the applier must apply next.
    pub fn peek_batch(
        &self,
        direction: Direction,
        table: &str,
        max: usize,
    ) -> Result<Vec<(u64, Operation)>, StoreError> {
        self.list_queue(direction, table, 0, max)
    }

    /// Up to `max` queued ops with seq ≥ `from_seq` (paging for `inspect`).
    pub fn list_queue(
        &self,
        direction: Direction,
        table: &str,
        from_seq: u64,
        max: usize,
    ) -> Result<Vec<(u64, Operation)>, StoreError> {
        let prefix = queue_prefix(direction, table)?;
        let mut out = Vec::with_capacity(max.min(4096));
        let end = seq_key(&prefix, u64::MAX);
        for item in self
            .trees
            .queue
            .tree
            .range(seq_key(&prefix, from_seq)..=end)
            .take(max)
        {
            let (k, v) = item?;
            let QueuedOp::V1 { op, .. } = records::decode("queue", &k, &v)?;
            let seq = seq_of(&k).ok_or_else(|| StoreError::Corrupt {
                tree: "queue",
                key: records::key_text(&k),
                reason: "key has no sequence number".into(),
            })?;
            out.push((seq, op));
        }
        Ok(out)
    }

    /// Records that ops `from..=through` are being written to the target
    /// (durable before the write starts).
    pub fn mark_inflight(
        &self,
        direction: Direction,
        table: &str,
        from: u64,
        through: u64,
    ) -> Result<(), StoreError> {
        if from > through {
            return Err(StoreError::InvalidRange { from, through });
        }
        self.set_inflight(direction, table, Some((from, through)))
    }

    /// The in-flight range, if a write's outcome is unknown.
    pub fn inflight(
        &self,
        direction: Direction,
        table: &str,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        Ok(self.read_state(&queue_prefix(direction, table)?)?.inflight)
    }

    /// Forgets the in-flight range (the write is known not to have landed).
    pub fn clear_inflight(&self, direction: Direction, table: &str) -> Result<(), StoreError> {
        self.set_inflight(direction, table, None)
    }

    fn set_inflight(
        &self,
        direction: Direction,
        table: &str,
        range: Option<(u64, u64)>,
    ) -> Result<(), StoreError> {
        let prefix = queue_prefix(direction, table)?;
        self.tx(|tx| {
            let mut state = load_state(tx, &prefix)?;
            state.inflight = range;
            save_state(tx, &prefix, &state)
        })?;
        self.flush_durable()
    }

    /// An applied batch: removes every queued op with seq ≤ `through`,
    /// records `mapped` (source key, new target key) in both directions of
    /// the id map, drops the mappings of `unmapped` source keys, forgets
    /// failure counts of the removed ops and clears the in-flight range —
    /// one transaction, then durable.
    pub fn complete_batch(
        &self,
        direction: Direction,
        table: &str,
        through: u64,
        mapped: &[(Vec<SqlValue>, Vec<SqlValue>)],
        unmapped: &[Vec<SqlValue>],
    ) -> Result<(), StoreError> {
        let prefix = queue_prefix(direction, table)?;
        let source = direction.source();
        let lock = self.queue_lock(&prefix);
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        // sled transactions cannot iterate: collect the keys first. The
        // queue lock keeps the range unchanged until the transaction.
        let range = seq_key(&prefix, 0)..=seq_key(&prefix, through);
        let mut done = Vec::new();
        for item in self.trees.queue.tree.range(range.clone()) {
            done.push(item?.0);
        }
        let mut failed = Vec::new();
        for item in self.trees.failures.tree.range(range) {
            failed.push(item?.0);
        }
        let now = now_ms();
        self.tx(|tx| {
            let mut state = load_state(tx, &prefix)?;
            let mut removed = 0u64;
            for k in &done {
                if tx.queue.remove(k)? {
                    removed += 1;
                }
            }
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
            state.inflight = None;
            state.last_apply_ms = Some(now);
            save_state(tx, &prefix, &state)
        })?;
        drop(_guard);
        self.flush_durable()
    }
}
