//! The CSV export watermark: per (source server, table), the change
//! tracking version the last complete export file reaches, with the file,
//! its row count and when it was written. Stored only after the file is
//! durable (renamed into place, directory fsynced), in one sled transaction,
//! then flushed durably; see `crate::export`.

use super::records::{watermark_key, ExportRec};
use super::{Store, StoreError};
use crate::model::Side;
use serde::{Deserialize, Serialize};

/// What the last export of a table wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportMark {
    /// `CHANGE_TRACKING_CURRENT_VERSION()` read in the export's snapshot:
    /// the file holds everything up to it; the next incremental export
    /// starts after it.
    pub version: i64,
    /// The file written (absolute or as configured).
    pub file: String,
    /// Data rows in the file (the header not counted).
    pub rows: u64,
    /// Milliseconds since the Unix epoch when the watermark was stored.
    pub at_ms: u64,
}

impl Store {
    /// The export watermark of `table` read from server `side`, if any.
    pub fn export_mark(&self, side: Side, table: &str) -> Result<Option<ExportMark>, StoreError> {
        let key = watermark_key(side, table)?;
        Ok(self
            .trees
            .exports
            .get::<ExportRec>(&key)?
            .map(|ExportRec::V1(m)| m))
    }

    /// Stores the export watermark of `table` (one transaction), then makes
    /// it durable. Unlike the sync watermark it may go back: a `full` export
    /// is a new start whatever came before. Call only after the file it
    /// names is durable.
    pub fn set_export_mark(
        &self,
        side: Side,
        table: &str,
        mark: &ExportMark,
    ) -> Result<(), StoreError> {
        let key = watermark_key(side, table)?;
        let rec = ExportRec::V1(mark.clone());
        self.trees.exports.put_alone(&key, &rec)?;
        self.flush_durable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_mark_round_trips_durably_and_per_side() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mark = ExportMark {
            version: 42,
            file: "/x/dbo.T/dbo.T.full.42.csv".into(),
            rows: 3,
            at_ms: 7,
        };
        {
            let s = Store::open(dir.path()).expect("open");
            assert_eq!(s.export_mark(Side::A, "dbo.T").expect("read"), None);
            s.set_export_mark(Side::A, "dbo.T", &mark).expect("write");
        }
        let s = Store::open(dir.path()).expect("reopen");
        assert_eq!(s.export_mark(Side::A, "dbo.T").expect("read"), Some(mark));
        assert_eq!(s.export_mark(Side::B, "dbo.T").expect("read"), None);
        assert_eq!(s.export_mark(Side::A, "dbo.U").expect("read"), None);
    }
}
