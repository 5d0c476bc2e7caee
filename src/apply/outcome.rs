//! Writes whose outcome is not known: the connection broke (or timed out)
//! after the request was sent, or the reply after COMMIT did not add up. The
//! target may or may not have committed; writing the batch again could
//! insert identity rows twice or put a stale image over a newer edit.
//!
//! Every write of the applier is tagged with its operations' sequence
//! numbers (`prefix` + `seq` or `prefix` + `first-last`, see
//! [`super::write::context_range`]), and a batch is one target transaction.
//! So the target's changes after a version read before the write
//! (`CHANGETABLE(CHANGES t, since)`) tell which sequence numbers landed, and
//! for the identity inserts (one statement each, context `prefix` + `seq`)
//! the key the target gave them.
//!
//! Limit: `CHANGETABLE(CHANGES ...)` reports the last change of each row
//! only, with that change's context. A row of the batch that someone changed
//! again on the target before the lookup no longer shows the batch's
//! context; if every row of a landed batch was changed since, the batch looks
//! not landed and is written again (idempotent for explicit keys; the
//! two-way check sees the newer edit as a conflict). An identity insert
//! whose row was changed since is logged: its key cannot be recovered.

use super::plan::ApplyTable;
use super::write::WriteError;
use crate::model::SqlValue;
use crate::mssql::check_sql;
use crate::mssql::value::from_column;
use crate::mssql::Connection;
use futures_util::StreamExt;
use std::collections::HashMap;

/// Contexts of load chunks start here (`crate::load::LOAD_SEQ_BASE`): the
/// applier looks up seqs below it ([`QUEUE_SEQS`]), the loader from it on.
const SEQ_MAX_EXCLUSIVE: u64 = crate::load::LOAD_SEQ_BASE;

/// The seqs of a queue's operations (not a load's chunks).
pub fn queue_seqs(from: u64) -> std::ops::Range<u64> {
    from..SEQ_MAX_EXCLUSIVE
}

/// Keys kept per lookup at most: the lookup needs the keys of one batch's
/// identity inserts (at most `batch_size`, itself bounded by the config).
const KEYS_MAX: usize = 100_000;

/// What the target shows of this agent's writes of one queue.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Landed {
    /// Sequence ranges (first, last) found, at or after the lookup's start.
    pub ranges: Vec<(u64, u64)>,
    /// The key of the row a single-operation write created or changed, by
    /// its seq (identity inserts are written one statement each).
    pub keys: HashMap<u64, Vec<SqlValue>>,
}

impl Landed {
    /// Whether any write of ops `from..=through` landed.
    pub fn any_in(&self, from: u64, through: u64) -> bool {
        self.ranges.iter().any(|(f, l)| *f <= through && *l >= from)
    }

    /// The last seq found at or after `from`.
    pub fn last_from(&self, from: u64) -> Option<u64> {
        self.ranges
            .iter()
            .filter(|(_, l)| *l >= from)
            .map(|(_, l)| *l)
            .max()
    }
}

/// The seq range a context names, if it is this agent's (`prefix` then
/// `first` or `first-last`, decimal).
pub fn parse_context(prefix: &[u8], context: &[u8]) -> Option<(u64, u64)> {
    let rest = context.strip_prefix(prefix)?;
    let text = std::str::from_utf8(rest).ok()?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match text.split_once('-') {
        None if digits(text) => {
            let seq = text.parse().ok()?;
            Some((seq, seq))
        }
        Some((a, b)) if digits(a) && digits(b) => {
            let (first, last) = (a.parse().ok()?, b.parse().ok()?);
            (first <= last).then_some((first, last))
        }
        _ => None,
    }
}

/// Looks up the writes with seqs in `seqs` on the target: the changes of
/// `table` after `since` (None: every retained change — only for a mark
/// written before versions were stored) carrying this agent's context. One
/// query, whatever the number of writes.
pub async fn find(
    conn: &mut Connection,
    table: &ApplyTable,
    prefix: &[u8],
    seqs: std::ops::Range<u64>,
    since: Option<i64>,
) -> Result<Landed, WriteError> {
    let text = check_sql::contexts_since(&table.shape)?;
    let mut stream = conn.query(text, &[&since]).await?.into_row_stream();
    let mut landed = Landed::default();
    while let Some(row) = stream.next().await {
        let mut cells = row?.into_iter();
        let Some(SqlValue::Binary(context)) = cells.next().map(from_column).transpose()? else {
            continue;
        };
        let Some((first, last)) = parse_context(prefix, &context) else {
            continue;
        };
        if last < seqs.start || first >= seqs.end {
            continue;
        }
        if !landed.ranges.contains(&(first, last)) {
            landed.ranges.push((first, last));
        }
        if first == last && landed.keys.len() < KEYS_MAX {
            let mut key = Vec::with_capacity(table.shape.key.len());
            for data in cells {
                key.push(from_column(data)?);
            }
            landed.keys.insert(first, key);
        }
    }
    Ok(landed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_parse_only_when_they_are_this_agents() {
        let p = b"ctsync:edge-01:";
        assert_eq!(parse_context(p, b"ctsync:edge-01:42"), Some((42, 42)));
        assert_eq!(parse_context(p, b"ctsync:edge-01:7-12"), Some((7, 12)));
        assert_eq!(parse_context(p, b"ctsync:edge-02:7"), None);
        assert_eq!(parse_context(p, b"ctsync:edge-01:"), None);
        assert_eq!(parse_context(p, b"ctsync:edge-01:12-7"), None);
        assert_eq!(parse_context(p, b"ctsync:edge-01:1-2-3"), None);
        assert_eq!(parse_context(p, b"ctsync:edge-01:+5"), None);
        assert_eq!(
            parse_context(p, b"ctsync:edge-01:99999999999999999999999"),
            None
        );
    }

    #[test]
    fn ranges_answer_overlap_and_last() {
        let l = Landed {
            ranges: vec![(5, 9), (10, 10)],
            keys: HashMap::new(),
        };
        assert!(l.any_in(9, 12));
        assert!(l.any_in(1, 5));
        assert!(!l.any_in(11, 20));
        assert_eq!(l.last_from(6), Some(10));
        assert_eq!(l.last_from(11), None);
    }
}
