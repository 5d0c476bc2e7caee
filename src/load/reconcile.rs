//! Reconciling the target with the source around a load: rows with equal
//! keys on both sides are matched (mapped tables), and rows only the target
//! has are removed for one-way full loads.

use super::*;

impl Loader {
    /// Rows with equal keys on both sides, neither mapped yet, are the same
    /// row: map them so the load updates instead of inserting a copy.
    pub(super) async fn match_equal_keys(
        &mut self,
        ops: &[(u64, Operation)],
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), LoadError> {
        let store = self.shared.store.clone();
        let name = self.name();
        let d = self.direction;
        let mut unmapped = Vec::new();
        for (_, op) in ops {
            if store.map_key(&name, d.source(), &op.key)?.is_none() {
                unmapped.push(op.key.clone());
            }
        }
        if unmapped.is_empty() {
            return Ok(());
        }
        let conn = self.target.get(shutdown).await.ok_or(LoadError::Shutdown)?;
        let found = existing_keys(conn, &self.apply.shape, &unmapped)
            .await
            .map_err(|e| LoadError::Target(WriteError::Sql(e)))?;
        let mut pairs = Vec::new();
        for key in found {
            if store.map_key(&name, d.target(), &key)?.is_none() {
                pairs.push((key.clone(), key));
            }
        }
        if !pairs.is_empty() {
            store.record_mappings(&name, d.source(), &pairs)?;
        }
        Ok(())
    }

    /// One-way full loads make the target equal to the source: rows only
    /// the target has are deleted (tagged, like every write of ours).
    pub(super) async fn remove_target_only(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), LoadError> {
        let store = self.shared.store.clone();
        let name = self.name();
        let d = self.direction;
        let key_shape = TableShape {
            name: self.apply.shape.name.clone(),
            key: self.apply.shape.key.clone(),
            columns: self
                .apply
                .shape
                .key_positions()
                .into_iter()
                .filter_map(|p| self.apply.shape.columns.get(p).cloned())
                .collect(),
        };
        let source_keys = TableShape {
            name: self.source_shape.name.clone(),
            ..key_shape.clone()
        };
        let chunk_rows = (PARAMS_PER_CHUNK_MAX / key_shape.key.len().max(1)).min(1_000);
        let mut last: Option<Vec<SqlValue>> = None;
        let mut removed = 0u64;
        let mut seq = LOAD_SEQ_BASE + (1 << 60);
        loop {
            let conn = self.target.get(shutdown).await.ok_or(LoadError::Shutdown)?;
            let keys = read_chunk(conn, &key_shape, last.as_deref(), chunk_rows, false)
                .await
                .map_err(|e| LoadError::Target(WriteError::Sql(e)))?;
            let done = keys.len() < chunk_rows;
            last = keys.last().cloned();
            let mut gone = Vec::new();
            if self.apply.mode == KeyMode::Mapped {
                for k in &keys {
                    if store.map_key(&name, d.target(), k)?.is_none() {
                        gone.push(k.clone());
                    }
                }
            } else if !keys.is_empty() {
                // Key columns that are references hold the target's ids:
                // back to the source's before asking the source. A value
                // with no mapping names no source row: the row is the
                // target's only.
                let mut pairs = Vec::with_capacity(keys.len());
                for k in keys {
                    match self.source_key_of(&store, &k)? {
                        Some(source_key) => pairs.push((k, source_key)),
                        None => gone.push(k),
                    }
                }
                let asked: Vec<Vec<SqlValue>> = pairs.iter().map(|(_, s)| s.clone()).collect();
                let conn = self.source.get(shutdown).await.ok_or(LoadError::Shutdown)?;
                let present = existing_keys(conn, &source_keys, &asked)
                    .await
                    .map_err(LoadError::Source)?;
                gone.extend(
                    pairs
                        .into_iter()
                        .filter(|(_, s)| !present.contains(s))
                        .map(|(k, _)| k),
                );
            }
            if !gone.is_empty() {
                let steps: Vec<Step> = gone
                    .iter()
                    .map(|k| {
                        seq += 1;
                        Step {
                            seq,
                            action: Action::Delete {
                                key: k.clone(),
                                source_key: None,
                            },
                        }
                    })
                    .collect();
                let prefix = self.shared.context_prefix.clone();
                let conn = self.target.get(shutdown).await.ok_or(LoadError::Shutdown)?;
                write::write(conn, &self.apply, &steps, &prefix)
                    .await
                    .map_err(LoadError::Target)?;
                removed += gone.len() as u64;
            }
            if done {
                break;
            }
        }
        if removed > 0 {
            tracing::info!(direction = %d, table = %name, removed, "initial load removed rows only the target had");
        }
        Ok(())
    }
}

/// Which of `keys` exist in the table (key columns only), in batches that
/// fit a request.
pub(super) async fn existing_keys(
    conn: &mut Connection,
    shape: &TableShape,
    keys: &[Vec<SqlValue>],
) -> Result<Vec<Vec<SqlValue>>, tiberius::error::Error> {
    let width = shape.key.len().max(1);
    // Composite keys become OR'd conditions: keep those requests small.
    let per = if width == 1 {
        PARAMS_PER_CHUNK_MAX
    } else {
        (500 / width).max(1)
    };
    let mut found = Vec::new();
    for part in keys.chunks(per) {
        let sql = load_sql::existing_keys(shape, part.len())
            .map_err(|e| tiberius::error::Error::Conversion(e.to_string().into()))?;
        let params: Vec<tiberius::ColumnData<'_>> =
            part.iter().flat_map(|k| k.iter().map(to_column)).collect();
        let refs: Vec<&dyn tiberius::ToSql> =
            params.iter().map(|p| p as &dyn tiberius::ToSql).collect();
        let rows = conn
            .query(sql.as_str(), &refs)
            .await?
            .into_first_result()
            .await?;
        for row in rows {
            found.push(
                row_values(row)
                    .map_err(|e| tiberius::error::Error::Conversion(e.to_string().into()))?,
            );
        }
    }
    Ok(found)
}
