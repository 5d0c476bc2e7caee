//! The bulk path of an initial load: into a range of keys the target has
//! nothing in, chunks go as TDS bulk loads (tiberius' `bulk_insert`), the
//! next chunk read from the source while this one is written.

use super::*;
use crate::mssql::value::from_column;

impl Loader {
    /// The copy into a target with nothing after the last copied key, by
    /// bulk load, in chunks of [`BULK_CHUNK_ROWS`]: the next chunk is read
    /// from the source while this one is written to the target (two
    /// connections), and each chunk's progress is made durable after it
    /// committed.
    pub(super) async fn bulk_copy(
        &mut self,
        progress: &mut LoadProgress,
        shown: &mut progress::Progress,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), LoadError> {
        let (name, d) = (self.name(), self.direction);
        let bytes_max = self.shared.config.sync.batch_bytes_max;
        let mut want = next_chunk_rows(0, 0, BULK_CHUNK_ROWS, bytes_max);
        let conn = self.source.get(shutdown).await.ok_or(LoadError::Shutdown)?;
        let mut rows = read_rows(
            conn,
            &self.source_shape,
            progress.last_key.as_deref(),
            want,
            false,
        )
        .await
        .map_err(LoadError::Source)?;
        let key_positions = self.source_shape.key_positions();
        while let Some(last) = rows.last() {
            if *shutdown.borrow() {
                return Err(LoadError::Shutdown);
            }
            let done = rows.len() < want;
            // The next chunk is read while this one is written: two chunks
            // in memory, each sized to `batch_bytes_max` by the last.
            want = next_chunk_rows(
                rows.iter().map(row_bytes).sum(),
                rows.len(),
                BULK_CHUNK_ROWS,
                bytes_max,
            );
            let mut last_key = Vec::with_capacity(key_positions.len());
            for p in &key_positions {
                let cell = last.cells().nth(*p).map(|(_, d)| d.clone());
                let value = cell
                    .map(from_column)
                    .transpose()
                    .map_err(|e| LoadError::Data(e.to_string()))?
                    .ok_or_else(|| LoadError::Data("a source row lacks its key column".into()))?;
                last_key.push(value);
            }
            let count = rows.len() as u64;
            let Some(source) = self.source.get(shutdown).await else {
                return Err(LoadError::Shutdown);
            };
            let Some(target) = self.target.get(shutdown).await else {
                return Err(LoadError::Shutdown);
            };
            let read_next = async {
                if done {
                    return Ok(Vec::new());
                }
                read_rows(source, &self.source_shape, Some(&last_key), want, false).await
            };
            let next =
                if legacy_columns(&self.apply.shape) || rows.iter().any(beyond_bulk_value_limit) {
                    // tiberius' bulk load refuses a (n)varchar(max) or
                    // varbinary(max) value over 65,535 bytes (it checks the
                    // length against the column's metadata, 0xFFFF for max;
                    // tiberius-rs/tiberius#322): such a chunk goes as
                    // statements, which carry values of any length.
                    let base = LOAD_SEQ_BASE + progress.rows_done;
                    let prefix = self.shared.context_prefix.clone();
                    let store = self.shared.store.clone();
                    let steps =
                        statement_steps(&self.apply, &self.source_shape, d, rows, base, &store)?;
                    write::write(target, &self.apply, &steps, &prefix)
                        .await
                        .map_err(LoadError::Target)?;
                    read_next.await
                } else {
                    let (written, next) =
                        tokio::join!(bulk_write(target, &self.apply.shape, rows), read_next);
                    written?;
                    next
                };
            progress.pending = None;
            progress.rows_done += count;
            progress.last_key = Some(last_key);
            let (table, saved) = (name.clone(), progress.clone());
            self.shared
                .store_thread
                .run(move |s| s.save_load_progress(d, &table, &saved))
                .await?;
            self.shared.loaded(d, &name, count as usize);
            shown.update(progress.rows_done, progress.rows_total);
            rows = next.map_err(LoadError::Source)?;
        }
        Ok(())
    }
}

/// Whether the target has a column tiberius' bulk load cannot fill from the
/// values ctsync reads: xml (read as its text), text, ntext and image (its
/// bulk encoder expects their own value kinds and refuses strings and
/// binaries for them). Such tables load with statements, which convert.
fn legacy_columns(shape: &crate::mssql::statements::TableShape) -> bool {
    shape.columns.iter().any(|c| {
        matches!(
            c.data_type.to_ascii_lowercase().as_str(),
            "xml" | "text" | "ntext" | "image"
        )
    })
}

/// Whether a row holds a value tiberius' bulk load cannot carry: a string
/// whose UTF-16 form may pass 65,535 bytes (UTF-8 length over 32,767), or
/// a binary value over 65,535 bytes.
fn beyond_bulk_value_limit(row: &tiberius::Row) -> bool {
    row.cells().any(|(_, d)| match d {
        tiberius::ColumnData::String(Some(s)) => s.len() > 32_767,
        tiberius::ColumnData::Binary(Some(b)) => b.len() > 65_535,
        _ => false,
    })
}

/// A bulk chunk planned as statements (explicit keys: upserts), with the
/// load's sequence numbers from `base` as contexts.
fn statement_steps(
    apply: &ApplyTable,
    source: &TableShape,
    d: Direction,
    rows: Vec<tiberius::Row>,
    base: u64,
    store: &Store,
) -> Result<Vec<Step>, LoadError> {
    let mut ops = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        let values = row_values(row).map_err(|e| LoadError::Data(e.to_string()))?;
        ops.push((
            base + i as u64,
            Operation {
                kind: OpKind::Insert,
                key: key_of(source, &values),
                row: Some(values),
                version: 0,
                changed: None,
            },
        ));
    }
    let (steps, hold) = plan::plan(&ops, apply, d, &StoreMaps(store))?;
    match hold {
        None => Ok(steps),
        Some(h) => Err(LoadError::Data(format!(
            "cannot plan a bulk chunk as statements: {h:?}"
        ))),
    }
}

/// Bytes of a source row's values as tiberius holds them.
fn row_bytes(row: &tiberius::Row) -> usize {
    row.cells()
        .map(|(_, d)| match d {
            tiberius::ColumnData::String(Some(s)) => s.len(),
            tiberius::ColumnData::Binary(Some(b)) => b.len(),
            _ => 16,
        })
        .sum()
}

/// Bulk-loads `rows` (as read from the source, in the same column order)
/// into the target table (tiberius' `bulk_insert`, the TDS BULK LOAD
/// stream): one request, far cheaper than statements, and the values go as
/// they came, with no conversion in between. Only into a range of keys the
/// target has nothing in (see the caller).
pub(super) async fn bulk_write(
    conn: &mut Connection,
    shape: &TableShape,
    rows: Vec<tiberius::Row>,
) -> Result<(), LoadError> {
    let table = shape.name.quoted();
    let columns: Vec<String> = shape
        .columns
        .iter()
        .map(|c| crate::mssql::ident::quote(&c.name))
        .collect::<Result<_, _>>()
        .map_err(|e| LoadError::Data(e.to_string()))?;
    let column_refs: Vec<&str> = columns.iter().map(String::as_str).collect();
    let bulk = async {
        let mut req = conn
            .bulk_insert_with_options(&table, &column_refs, bulk_options(), &[])
            .await?;
        for row in rows {
            let mut token = tiberius::TokenRow::new();
            for data in row {
                token.push(data);
            }
            req.send(token).await?;
        }
        req.finalize().await
    };
    bulk.await
        .map_err(|e| LoadError::Target(WriteError::Sql(e)))?;
    Ok(())
}

/// The options of every bulk load, so a load leaves the target as statements
/// would (docs: "Keep nulls or use default values during bulk import",
/// "Control constraint checking by bulk import operations", and the
/// CHECK_CONSTRAINTS / KEEP_NULLS / FIRE_TRIGGERS arguments of BULK INSERT):
/// - KEEP_NULLS: a NULL stays NULL; without it a column with a DEFAULT
///   would get the default instead of the source's NULL;
/// - CHECK_CONSTRAINTS: the target's CHECK and FOREIGN KEY constraints are
///   checked, and stay trusted (without it SQL Server skips them and marks
///   them `is_not_trusted`, which the optimizer then cannot use); a row the
///   target refuses fails the chunk with 547, like a statement;
/// - FIRE_TRIGGERS: the target's triggers see loaded rows as they see
///   streamed ones.
fn bulk_options() -> tiberius::SqlBulkCopyOptions {
    use tiberius::SqlBulkCopyOption as O;
    O::KeepNulls | O::CheckConstraints | O::FireTriggers
}
