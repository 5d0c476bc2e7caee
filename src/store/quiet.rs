//! Watermarks of unchanged tables, moved together.
//!
//! A poll after the server's version moved finds most tables unchanged;
//! each one's watermark still moves to the poll's version (so a quiet
//! table never falls behind the retention period). Moving them one durable
//! transaction each would cost one fsync per table per poll; here they
//! move in one transaction and one flush, whatever their number.

use super::queue::{load_state, save_state};
use super::records::{queue_prefix, watermark_key, WatermarkRec};
use super::{abort, now_ms, Store, StoreError};
use crate::model::{Direction, Side};
use std::cell::RefCell;

/// One unchanged table's watermark move: from `from` (what the poll read
/// from) to `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuietMove {
    pub table: String,
    pub from: Option<i64>,
    pub version: i64,
}

impl Store {
    /// Moves the watermarks of tables whose read found nothing, in one
    /// durable transaction. A table whose watermark is no longer `from` (its
    /// queue was reset meanwhile) or that has a transaction read in pieces
    /// is left as it is. Returns the tables moved.
    pub fn advance_quiet(
        &self,
        direction: Direction,
        side: Side,
        moves: &[QuietMove],
    ) -> Result<Vec<String>, StoreError> {
        debug_assert_eq!(direction.source(), side);
        if moves.is_empty() {
            return Ok(Vec::new());
        }
        let mut keys = Vec::with_capacity(moves.len());
        for m in moves {
            let prefix = queue_prefix(direction, &m.table)?;
            let staged = super::staged::staged_key(&prefix);
            keys.push((prefix, watermark_key(side, &m.table)?, staged));
        }
        // The queue locks (as every change of a queue's state takes them),
        // taken in one order, the prefixes', and held to the end.
        let mut prefixes: Vec<&Vec<u8>> = keys.iter().map(|(p, _, _)| p).collect();
        prefixes.sort();
        prefixes.dedup();
        let locks: Vec<_> = prefixes.iter().map(|p| self.queue_lock(p)).collect();
        let _guards: Vec<_> = locks
            .iter()
            .map(|l| l.lock().unwrap_or_else(|p| p.into_inner()))
            .collect();
        let now = now_ms();
        let moved = RefCell::new(Vec::new());
        self.tx(|tx| {
            moved.borrow_mut().clear();
            for (m, (prefix, wm_key, staged_key)) in moves.iter().zip(&keys) {
                let stored = tx
                    .watermarks
                    .get::<WatermarkRec>(wm_key)?
                    .map(|WatermarkRec::V1 { version, .. }| version);
                if stored != m.from
                    || tx
                        .meta
                        .get::<super::staged::StagedRec>(staged_key)?
                        .is_some()
                {
                    continue;
                }
                if let Some(current) = stored {
                    if m.version < current {
                        return Err(abort(StoreError::WatermarkBackwards {
                            side: side.as_str(),
                            table: m.table.clone(),
                            current,
                            new: m.version,
                        }));
                    }
                }
                let mut state = load_state(tx, prefix)?;
                state.last_capture_ms = Some(now);
                save_state(tx, prefix, &state)?;
                tx.watermarks.put(
                    wm_key,
                    &WatermarkRec::V1 {
                        version: m.version,
                        updated_ms: now,
                    },
                )?;
                moved.borrow_mut().push(m.table.clone());
            }
            Ok(())
        })?;
        drop(_guards);
        self.flush_durable()?;
        Ok(moved.into_inner())
    }
}
