//! The columns of a queue's row images: per (direction, table), the synced
//! column names, in order, that every queued operation's row follows.
//!
//! Row images are positional, so an operation is only ever applied with the
//! column list it was captured with. The list changes only while the queue
//! is empty (capture waits for the applier to drain it first, see
//! `agent::capture_loop`), so one record per queue describes every queued
//! operation; the applier reads it before each batch and writes with those
//! columns. Written alone (one key, atomic in sled), then flushed durably
//! before capture enqueues anything with the new columns. A queue with no
//! record was written by a version that kept none: its operations follow
//! the shape the agent started with.

use super::records::{queue_prefix, ShapeRec};
use super::{Store, StoreError};
use crate::model::Direction;
use serde::{Deserialize, Serialize};

/// The columns of a queue's row images, and where capture reads again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueShape {
    /// The synced column names, in the order of the row images.
    pub columns: Vec<String>,
    /// After the columns changed: the version capture reads again from
    /// (changes since the columns changed were read without the new ones),
    /// moved on as it reads, cleared once it reached the watermark. The
    /// watermark itself never goes back, so conflict detection keeps
    /// judging by what was captured.
    pub reread_from: Option<i64>,
}

impl Store {
    /// The shape of the queue of `table` in `direction`, if recorded.
    pub fn queue_shape(
        &self,
        direction: Direction,
        table: &str,
    ) -> Result<Option<QueueShape>, StoreError> {
        let key = queue_prefix(direction, table)?;
        Ok(self
            .trees
            .shapes
            .get::<ShapeRec>(&key)?
            .map(|ShapeRec::V1(s)| s))
    }

    /// The columns the queued operations of `table` in `direction` follow,
    /// if recorded.
    pub fn queue_columns(
        &self,
        direction: Direction,
        table: &str,
    ) -> Result<Option<Vec<String>>, StoreError> {
        Ok(self.queue_shape(direction, table)?.map(|s| s.columns))
    }

    /// Records the shape of the queue; durable when it returns. Change the
    /// columns only while the queue is empty.
    pub fn set_queue_shape(
        &self,
        direction: Direction,
        table: &str,
        shape: &QueueShape,
    ) -> Result<(), StoreError> {
        let key = queue_prefix(direction, table)?;
        let rec = ShapeRec::V1(shape.clone());
        self.trees.shapes.put_alone(&key, &rec)?;
        self.flush_durable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_columns_round_trip_durably_per_direction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cols = vec!["id".to_string(), "name".to_string()];
        {
            let s = Store::open(dir.path()).expect("open");
            assert_eq!(
                s.queue_columns(Direction::AToB, "dbo.T").expect("read"),
                None
            );
            s.set_queue_shape(
                Direction::AToB,
                "dbo.T",
                &QueueShape {
                    columns: cols.clone(),
                    reread_from: Some(7),
                },
            )
            .expect("write");
        }
        let s = Store::open(dir.path()).expect("reopen");
        assert_eq!(
            s.queue_columns(Direction::AToB, "dbo.T").expect("read"),
            Some(cols)
        );
        assert_eq!(
            s.queue_shape(Direction::AToB, "dbo.T")
                .expect("read")
                .and_then(|q| q.reread_from),
            Some(7)
        );
        assert_eq!(
            s.queue_columns(Direction::BToA, "dbo.T").expect("read"),
            None
        );
    }
}
