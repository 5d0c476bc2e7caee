//! The load's reads of the source: the start point (version and row
//! count in one snapshot), key-ordered chunks, and how many rows the next
//! chunk may hold so that it stays near `sync.batch_bytes_max`.

use super::*;

/// Rows of a load's first chunk: its bytes size the next ones (see
/// [`next_chunk_rows`]), so a table of 10 MB rows never reads a chunk of
/// thousands of them.
pub const FIRST_CHUNK_ROWS: usize = 8;

/// Rows the next chunk may hold so that its values stay near `bytes_max`,
/// judged by the last chunk (`bytes` over `rows`); at least one, at most
/// `cap`.
pub fn next_chunk_rows(bytes: usize, rows: usize, cap: usize, bytes_max: usize) -> usize {
    if rows == 0 {
        return cap.clamp(1, FIRST_CHUNK_ROWS);
    }
    let per_row = (bytes / rows).max(1);
    (bytes_max / per_row).clamp(1, cap.max(1))
}

/// Bytes of a chunk's values (see [`SqlValue::approx_bytes`]).
pub(super) fn chunk_bytes(rows: &[Vec<SqlValue>]) -> usize {
    rows.iter()
        .flat_map(|r| r.iter())
        .map(SqlValue::approx_bytes)
        .sum()
}

/// The start version and the row count, read together in one SNAPSHOT
/// transaction.
pub(super) async fn start_point(
    conn: &mut Connection,
    shape: &TableShape,
) -> Result<(i64, u64), tiberius::error::Error> {
    conn.simple_query(statements::BEGIN_SNAPSHOT)
        .await?
        .into_results()
        .await?;
    let read = async {
        let v0 = conn
            .simple_query(statements::CURRENT_VERSION)
            .await?
            .into_row()
            .await?
            .and_then(|r| r.get::<i64, _>(0))
            .unwrap_or(0);
        let total = conn
            .simple_query(load_sql::count(shape))
            .await?
            .into_row()
            .await?
            .and_then(|r| r.get::<i64, _>(0))
            .unwrap_or(0);
        Ok::<_, tiberius::error::Error>((v0, total.max(0) as u64))
    }
    .await;
    conn.simple_query(statements::END_SNAPSHOT_READ)
        .await?
        .into_results()
        .await?;
    read
}

/// Up to `rows` rows after `after` in key order, as the server sent them.
pub(super) async fn read_rows(
    conn: &mut Connection,
    shape: &TableShape,
    after: Option<&[SqlValue]>,
    rows: usize,
    descending: bool,
) -> Result<Vec<tiberius::Row>, tiberius::error::Error> {
    let sql = load_sql::chunk(shape, after.is_some(), descending)
        .map_err(|e| tiberius::error::Error::Conversion(e.to_string().into()))?;
    let mut params: Vec<tiberius::ColumnData<'_>> =
        vec![tiberius::ColumnData::I64(Some(rows as i64))];
    if let Some(k) = after {
        params.extend(k.iter().map(to_column));
    }
    let refs: Vec<&dyn tiberius::ToSql> =
        params.iter().map(|p| p as &dyn tiberius::ToSql).collect();
    conn.query(sql.as_str(), &refs)
        .await?
        .into_first_result()
        .await
}

/// [`read_rows`] converted to typed values.
pub(super) async fn read_chunk(
    conn: &mut Connection,
    shape: &TableShape,
    after: Option<&[SqlValue]>,
    rows: usize,
    descending: bool,
) -> Result<Vec<Vec<SqlValue>>, tiberius::error::Error> {
    let result = read_rows(conn, shape, after, rows, descending).await?;
    result
        .into_iter()
        .map(|row| {
            row_values(row).map_err(|e| tiberius::error::Error::Conversion(e.to_string().into()))
        })
        .collect()
}

#[cfg(test)]
mod chunk_size_tests {
    use super::*;

    #[test]
    fn chunks_are_sized_in_bytes_by_the_last_one() {
        // First chunk: a few rows, whatever the cap.
        assert_eq!(next_chunk_rows(0, 0, 500, 1 << 24), FIRST_CHUNK_ROWS);
        // 10 MB rows, 16 MiB bound: one row per chunk.
        assert_eq!(next_chunk_rows(8 * 10_000_000, 8, 500, 16 << 20), 1);
        // 100-byte rows: the row cap rules.
        assert_eq!(next_chunk_rows(800, 8, 500, 16 << 20), 500);
        // 100 KB rows: 167 of them fit in 16 MiB.
        assert_eq!(next_chunk_rows(8 * 100_000, 8, 500, 16 << 20), 167);
    }
}
