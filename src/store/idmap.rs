//! Identity mappings: for a table whose key each server assigns itself, the
//! key of the same row on the other side, stored in both directions so a
//! lookup is one read whichever side the key comes from.

use super::records::{idmap_key, table_key, MappedKey, TableFacts, TableRec};
use super::{Store, StoreError, Tx, TxResult};
use crate::model::{Side, SqlValue};

/// Records that `key` on `side` and `other` on the other side are one row.
/// A previous pairing of either key is replaced, so the map stays one-to-one
/// and the pair count exact.
pub(super) fn put_pair(
    tx: &Tx<'_>,
    table: &str,
    side: Side,
    key: &[SqlValue],
    other: &[SqlValue],
) -> TxResult<()> {
    let enc = |t: &str, s: Side, k: &[SqlValue]| idmap_key(t, s, k).map_err(super::abort);
    let fwd = enc(table, side, key)?;
    let rev = enc(table, side.other(), other)?;
    let mut delta: i64 = 1;
    if let Some(MappedKey::V1 { key: old_other }) = tx.idmap.get(&fwd)? {
        if old_other == other {
            return Ok(());
        }
        tx.idmap.remove(&enc(table, side.other(), &old_other)?)?;
        delta -= 1;
    }
    if let Some(MappedKey::V1 { key: old_key }) = tx.idmap.get(&rev)? {
        tx.idmap.remove(&enc(table, side, &old_key)?)?;
        delta -= 1;
    }
    tx.idmap.put(
        &fwd,
        &MappedKey::V1 {
            key: other.to_vec(),
        },
    )?;
    tx.idmap.put(&rev, &MappedKey::V1 { key: key.to_vec() })?;
    add_count(tx, table, delta)
}

/// Drops the mapping of `key` on `side` (both directions), if any.
pub(super) fn remove_pair(tx: &Tx<'_>, table: &str, side: Side, key: &[SqlValue]) -> TxResult<()> {
    let fwd = idmap_key(table, side, key).map_err(super::abort)?;
    if let Some(MappedKey::V1 { key: other }) = tx.idmap.get(&fwd)? {
        tx.idmap.remove(&fwd)?;
        tx.idmap
            .remove(&idmap_key(table, side.other(), &other).map_err(super::abort)?)?;
        add_count(tx, table, -1)?;
    }
    Ok(())
}

fn add_count(tx: &Tx<'_>, table: &str, delta: i64) -> TxResult<()> {
    if delta == 0 {
        return Ok(());
    }
    let mut facts = table_facts(tx, table)?;
    facts.mapped_keys = if delta < 0 {
        facts.mapped_keys.saturating_sub(delta.unsigned_abs())
    } else {
        facts.mapped_keys + delta as u64
    };
    put_table_facts(tx, table, facts)
}

/// A table's counters inside a transaction (zeros if it has none yet).
pub(super) fn table_facts(tx: &Tx<'_>, table: &str) -> TxResult<TableFacts> {
    let key = table_key(table).map_err(super::abort)?;
    Ok(tx
        .tables
        .get::<TableRec>(&key)?
        .map(TableFacts::from)
        .unwrap_or_default())
}

pub(super) fn put_table_facts(tx: &Tx<'_>, table: &str, facts: TableFacts) -> TxResult<()> {
    let key = table_key(table).map_err(super::abort)?;
    tx.tables.put(&key, &TableRec::from(facts))
}

impl Store {
    /// The key on the other side of the row whose key on `side` is `key`.
    pub fn map_key(
        &self,
        table: &str,
        side: Side,
        key: &[SqlValue],
    ) -> Result<Option<Vec<SqlValue>>, StoreError> {
        let k = idmap_key(table, side, key)?;
        Ok(self
            .trees
            .idmap
            .get::<MappedKey>(&k)?
            .map(|MappedKey::V1 { key }| key))
    }

    /// Number of mapped rows (pairs) of `table`; a counter, not a scan.
    #[cfg(test)]
    pub fn mapped_count(&self, table: &str) -> Result<u64, StoreError> {
        Ok(self.table_facts(table)?.mapped_keys)
    }

    /// A table's counters (mapped keys, conflicts).
    pub fn table_facts(&self, table: &str) -> Result<TableFacts, StoreError> {
        Ok(self
            .trees
            .tables
            .get::<TableRec>(&table_key(table)?)?
            .map(TableFacts::from)
            .unwrap_or_default())
    }

    /// Records mappings outside a batch (initial load with `none`: rows with
    /// equal keys on both sides are the same row). `pairs` are (key on
    /// `side`, key on the other side). One transaction, then durable.
    pub fn record_mappings(
        &self,
        table: &str,
        side: Side,
        pairs: &[(Vec<SqlValue>, Vec<SqlValue>)],
    ) -> Result<(), StoreError> {
        self.tx(|tx| {
            for (key, other) in pairs {
                put_pair(tx, table, side, key, other)?;
            }
            Ok(())
        })?;
        self.flush_durable()
    }
}
