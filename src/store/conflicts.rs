//! What ctsync keeps of every conflict (the store's `conflicts` tree, shown
//! by `ctsync conflicts list|show`): the table, the row's key on each side,
//! both changes with their row images, versions and times, the policy and
//! the outcome. Nothing is silently discarded: a losing change is here.

use crate::model::{Direction, Side, SqlValue};
use serde::{Deserialize, Serialize};

/// One side of a conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideImage {
    /// The row's key on this side (`None`: an identity-mapped row this side
    /// does not have, or whose key is not known).
    pub key: Option<Vec<SqlValue>>,
    /// `insert`, `update` or `delete`.
    pub change: String,
    /// This side's row image when the conflict was found (`None`: gone).
    pub row: Option<Vec<SqlValue>>,
    /// SYS_CHANGE_VERSION of this side's change, when known.
    pub version: Option<i64>,
    /// The columns this side changed, when known (SYS_CHANGE_COLUMNS).
    pub changed: Option<Vec<String>>,
}

/// How a conflict ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// This side's row (or delete) was written to both sides.
    Won(Side),
    /// Both edits were kept in this row, written to both sides.
    Merged(Vec<SqlValue>),
    /// Neither change was applied; the key waits for
    /// `ctsync conflicts resolve`.
    Parked,
    /// A parked conflict the operator resolved, keeping this side.
    Resolved { keep: Side, resolved_ms: u64 },
}

impl Outcome {
    pub fn is_open(&self) -> bool {
        matches!(self, Outcome::Parked)
    }

    /// A short text for logs and listings.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Won(s) => format!("{} won", s.as_str()),
            Outcome::Merged(_) => "merged".into(),
            Outcome::Parked => "parked".into(),
            Outcome::Resolved { keep, .. } => format!("resolved: kept {}", keep.as_str()),
        }
    }
}

/// One recorded conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictRecord {
    /// Store-wide id (`ctsync conflicts show ID`).
    pub id: u64,
    /// Configured table name.
    pub table: String,
    /// `<a's change>/<b's change>`, e.g. `update/delete`.
    pub kind: String,
    /// The synced columns, naming the values of both row images.
    pub columns: Vec<String>,
    pub a: SideImage,
    pub b: SideImage,
    /// The table's policy when the conflict was found.
    pub policy: String,
    pub outcome: Outcome,
    /// The applier that found it (its source's change met the other's).
    pub direction: Direction,
    pub detected_ms: u64,
}
