//! The idle poll: a server whose change-tracking version has not moved
//! since the last full poll, reading the same database with its tables
//! tracked as they were, has no change in any table and no watermark that
//! can have fallen behind, so its poll is one request
//! (`CHANGE_TRACKING_CURRENT_VERSION()`, the database's identity and the
//! tables' tracking state: three statements) instead of three statements
//! per table. The tracking state (`load_sql::TRACKING_STATE`) is there
//! because turning tracking off for a table moves no version, and neither
//! do the changes made to it meanwhile.
//!
//! Only a poll that read every table up to the current version, with
//! nothing left over (no backlog, no piece of a large transaction, no
//! re-read, no table deferred or failing), records itself as [`Quiet`]; the
//! next poll skips only if the same tables stand at the same watermarks
//! (a table that joins, leaves, or was reset makes it a full poll).

use crate::capture::CaptureError;
use crate::mssql::Connection;

/// What the last full poll left: every table read through `current`.
#[derive(Debug, Clone, PartialEq)]
pub struct Quiet {
    pub current: i64,
    pub identity: String,
    /// The tables' change-tracking state (`load_sql::TRACKING_STATE`).
    pub tracking: String,
    /// (table, watermark) of every table polled; each watermark is
    /// `current`.
    pub tables: Vec<(String, i64)>,
}

impl Quiet {
    /// Whether `active` ((table, watermark) of this poll's tables) is the
    /// set the quiet poll left.
    pub fn same_tables<'a>(&self, active: impl Iterator<Item = (&'a str, Option<i64>)>) -> bool {
        let mut n = 0;
        for (name, wm) in active {
            n += 1;
            if !self.tables.iter().any(|(t, v)| t == name && Some(*v) == wm) {
                return false;
            }
        }
        n == self.tables.len()
    }
}

/// The server's current version, database identity and tables' tracking
/// state, in one request.
pub async fn read_version_and_identity(
    conn: &mut Connection,
) -> Result<(Option<i64>, String, String), CaptureError> {
    let sql = |source| CaptureError::Sql {
        table: "CHANGE_TRACKING_CURRENT_VERSION()".into(),
        source,
    };
    let sets = conn
        .simple_query(crate::mssql::load_sql::version_and_identity())
        .await
        .map_err(sql)?
        .into_results()
        .await
        .map_err(sql)?;
    let current = sets
        .first()
        .and_then(|s| s.first())
        .and_then(|r| r.get::<i64, _>(0));
    let identity = sets
        .get(1)
        .and_then(|s| s.first())
        .and_then(|r| r.get::<&str, _>(0).map(str::to_string))
        .unwrap_or_default();
    let tracking = sets
        .get(2)
        .and_then(|s| s.first())
        .and_then(|r| r.try_get::<&str, _>(0).ok().flatten().map(str::to_string))
        .unwrap_or_default();
    Ok((current, identity, tracking))
}

#[cfg(test)]
mod tests {
    use super::Quiet;

    #[test]
    fn the_same_tables_at_the_same_watermarks_only() {
        let q = Quiet {
            current: 9,
            identity: "db#5#g".into(),
            tracking: "2#3#3#0".into(),
            tables: vec![("dbo.A".into(), 9), ("dbo.B".into(), 9)],
        };
        assert!(q.same_tables([("dbo.B", Some(9)), ("dbo.A", Some(9))].into_iter()));
        assert!(!q.same_tables([("dbo.A", Some(9))].into_iter()));
        assert!(!q.same_tables([("dbo.A", Some(9)), ("dbo.B", Some(8))].into_iter()));
        assert!(!q
            .same_tables([("dbo.A", Some(9)), ("dbo.B", Some(9)), ("dbo.C", Some(9))].into_iter()));
        assert!(!q.same_tables([("dbo.A", Some(9)), ("dbo.B", None)].into_iter()));
    }
}
