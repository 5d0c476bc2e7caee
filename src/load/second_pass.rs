//! The second pass of a `both` table's full load: b's rows copied to a,
//! after the first pass copied a's rows to b and a→b streams.
//!
//! a wins a full load, and both sides keep writing while it runs, so the
//! second pass must not carry back what a already has, nor overwrite what a
//! changed since. A row of b goes to a unless:
//!
//! 1. its last change on b was written by this agent: it came from a (the
//!    first pass or the a→b stream), so a holds it or a newer change of it
//!    that is on its way to b (without this, a row a deleted after the
//!    first pass came back from b's stale copy);
//! 2. its row on a has a change not carried to b: one committed after a's
//!    watermark that this agent did not write, or one queued a→b. Checked
//!    inside the transaction that writes the chunk, after the rows are
//!    locked `WITH (UPDLOCK, HOLDLOCK)` (`detect::keep_unchanged`), so a
//!    writer on a that commits meanwhile is seen or waits for the chunk;
//!    a's change reaches b by the a→b stream (a wins, no conflict is
//!    recorded).
//!
//! Everything else — b's own rows, and rows b's users changed after the
//! first pass copied them — goes. Rule 1 is read twice: before planning
//! (to leave out the rows a identity-mapped table would update for
//! nothing) and again after the check of rule 2, whose reverse-queue read
//! comes after a's watermark: a change of a applied to b and removed from
//! the queue between the chunk's read and that check is then seen as this
//! agent's last write on b.
//!
//! A change of b after the load's start version is captured and applied
//! after the load, like every load's. Cost: one keyed CHANGETABLE read of b
//! per chunk (twice) and the locking check on a, in the chunk's
//! transaction, each bounded to the chunk's keys.

use super::*;
use crate::apply::detect::{self, CheckContext, DetectError};
use std::collections::HashMap;

/// A key of b as text, exactly: both the chunk's rows and CHANGETABLE's
/// keys come from b itself, and folding case (as conflict detection does
/// across servers) would merge two keys a case-sensitive key column keeps
/// apart.
pub(super) fn key_text(key: &[SqlValue]) -> String {
    format!("{key:?}")
}

impl Loader {
    /// Whether this loader is the second pass of a `both` table.
    pub(super) fn is_second_pass(&self) -> bool {
        self.direction == Direction::BToA && self.table.directions().contains(&Direction::AToB)
    }

    /// For each of `keys` (source keys) with a retained change on the
    /// source: whether its last change carries this agent's context.
    pub(super) async fn source_last_writers(
        &mut self,
        keys: &[Vec<SqlValue>],
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<HashMap<String, bool>, LoadError> {
        let mut found = HashMap::with_capacity(keys.len());
        let width = self.source_shape.key.len().max(1);
        let prefix = self.shared.context_prefix.clone();
        let conn = self.source.get(shutdown).await.ok_or(LoadError::Shutdown)?;
        for part in keys.chunks((PARAMS_PER_CHUNK_MAX / width).max(1)) {
            let sql = load_sql::last_contexts(&self.source_shape, part.len())
                .map_err(|e| LoadError::Data(e.to_string()))?;
            let params: Vec<tiberius::ColumnData<'_>> =
                part.iter().flat_map(|k| k.iter().map(to_column)).collect();
            let refs: Vec<&dyn tiberius::ToSql> =
                params.iter().map(|p| p as &dyn tiberius::ToSql).collect();
            let rows = conn
                .query(sql.as_str(), &refs)
                .await
                .map_err(LoadError::Source)?
                .into_first_result()
                .await
                .map_err(LoadError::Source)?;
            for row in rows {
                let mut vals = row_values(row).map_err(|e| LoadError::Data(e.to_string()))?;
                let context = vals.pop();
                let own = matches!(context, Some(SqlValue::Binary(c)) if c.starts_with(&prefix));
                found.insert(key_text(&vals), own);
            }
        }
        Ok(found)
    }

    /// Opens the target transaction and keeps the steps rules 1 and 2 of
    /// the module allow (`ops`: the chunk's operations by seq). The
    /// transaction stays open for `write::write_in_txn`; on error it is
    /// rolled back.
    pub(super) async fn guard(
        &mut self,
        steps: Vec<Step>,
        ops: &[(u64, Operation)],
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Vec<Step>, LoadError> {
        let name = self.name();
        let store = self.shared.store.clone();
        let d = self.direction;
        // Read before the check (see `detect`): a change captured after
        // this is above it, one before it is queued or already on b.
        let target_watermark = store.watermark(d.target(), &name)?.unwrap_or(0);
        let prefix = self.shared.context_prefix.clone();
        let cx = CheckContext {
            store: &store,
            table: &self.apply,
            direction: d,
            policy: &self.table.conflict,
            read_changed: false,
            target_watermark,
            own_prefix: &prefix,
        };
        let conn = self.target.get(shutdown).await.ok_or(LoadError::Shutdown)?;
        let kept = match detect::keep_unchanged(conn, &cx, steps).await {
            Ok(k) => k,
            Err(DetectError::Write(e)) => return Err(LoadError::Target(e)),
            Err(DetectError::Store(e)) => return Err(LoadError::Store(e)),
        };
        let by_seq: HashMap<u64, &Operation> = ops.iter().map(|(s, op)| (*s, op)).collect();
        let keys: Vec<Vec<SqlValue>> = kept
            .iter()
            .filter_map(|s| by_seq.get(&s.seq))
            .map(|op| op.key.clone())
            .collect();
        let writers = match self.source_last_writers(&keys, shutdown).await {
            Ok(w) => w,
            Err(e) => {
                if let Some(conn) = self.target.get(shutdown).await {
                    write::rollback(conn).await;
                }
                return Err(e);
            }
        };
        Ok(kept
            .into_iter()
            .filter(|s| {
                by_seq
                    .get(&s.seq)
                    .is_none_or(|op| writers.get(&key_text(&op.key)) != Some(&true))
            })
            .collect())
    }
}
