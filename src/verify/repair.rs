//! `ctsync verify --repair`: the corrective operations for the differences
//! found, queued through the normal queues (so ordering, echo prevention,
//! id maps, references and conflict rules all hold as for captured
//! changes):
//!
//! - `a_to_b` (`b_to_a`): a's (b's) row image goes to the other side: an
//!   insert where the row is missing there, an update where it differs, a
//!   delete where the source has no such row;
//! - `both`: the table's conflict policy picks the side whose row (or
//!   absence) ends on both ([`crate::conflict::decide`], with the two
//!   current images and no column information, so `merge_columns` takes
//!   its fallback); `park` repairs nothing and names the keys for the
//!   operator.
//!
//! A row of an identity-mapped table whose mapping points at a row the
//! target no longer has (deleted there by hand, a restore) is deleted (the
//! stale mapping goes) and inserted again (a new id there, mapped); rows of
//! other tables that still hold the old id on the target are left as they
//! are (the next verify lists them).
//!
//! Not repaired (named in the report): a row of an identity-mapped table
//! that only the losing side has and that maps to no row of the winner (no
//! key to delete it by).

use super::{Finding, Plan};
use crate::config::DirectionConfig;
use crate::conflict::{self, Decision, SideChange};
use crate::model::{Direction, OpKind, Operation, Side};

/// The operations to queue, per direction, and the findings left alone
/// with the reason.
#[derive(Debug, Default)]
pub struct Repairs {
    pub a_to_b: Vec<Operation>,
    pub b_to_a: Vec<Operation>,
    pub skipped: Vec<(usize, String)>,
}

/// Decides the corrective operation of each finding (`versions`: a's and
/// b's current change-tracking versions, the operations' source versions).
pub fn plan(plan: &Plan, findings: &[Finding], versions: [i64; 2]) -> Repairs {
    let mut out = Repairs::default();
    let columns = plan.columns();
    let key_pos = plan.shapes[0].key_positions();
    for (i, f) in findings.iter().enumerate() {
        let winner = match plan.config.direction {
            DirectionConfig::AToB => Side::A,
            DirectionConfig::BToA => Side::B,
            DirectionConfig::Both => {
                let a = change(f.image_a.as_deref());
                let b = change(f.image_b.as_deref());
                match conflict::decide(&plan.config.conflict, &columns, &key_pos, &a, &b) {
                    Decision::Win(s) => s,
                    Decision::Agree => continue,
                    Decision::Merged(_) | Decision::Park => {
                        out.skipped.push((
                            i,
                            format!(
                                "conflict policy {} leaves it to the operator: fix the row on one side and verify again",
                                plan.config.conflict.describe()
                            ),
                        ));
                        continue;
                    }
                }
            }
        };
        let (key, image, other, version) = match winner {
            Side::A => (&f.key_a, &f.image_a, &f.image_b, versions[0]),
            Side::B => (&f.key_b, &f.image_b, &f.image_a, versions[1]),
        };
        let loser = winner.other().as_str();
        let Some(key) = key.clone() else {
            out.skipped.push((
                i,
                format!(
                    "the row on {loser} maps to no row of {}: delete it on {loser} by hand, or `ctsync reinit --table {}`",
                    winner.as_str(),
                    plan.name
                ),
            ));
            continue;
        };
        let target_key = match winner {
            Side::A => &f.key_b,
            Side::B => &f.key_a,
        };
        let queue = match Direction::from_source(winner) {
            Direction::AToB => &mut out.a_to_b,
            Direction::BToA => &mut out.b_to_a,
        };
        if plan.mapped && image.is_some() && other.is_none() && target_key.is_some() {
            // The id map pairs the row with one the loser lost (deleted by
            // hand, a restore): a delete drops the stale mapping (deleting
            // nothing there), then the insert gives the row a new id there
            // and maps it; the applier writes them in separate batches.
            queue.push(Operation {
                kind: OpKind::Delete,
                key: key.clone(),
                row: None,
                version,
                changed: None,
            });
        }
        let op = Operation {
            kind: match (image, other) {
                (None, _) => OpKind::Delete,
                (Some(_), None) => OpKind::Insert,
                (Some(_), Some(_)) => OpKind::Update,
            },
            key,
            row: image.clone(),
            version,
            changed: None,
        };
        queue.push(op);
    }
    out
}

/// One side's current state of the row as the conflict decision sees it.
fn change(row: Option<&[crate::model::SqlValue]>) -> SideChange<'_> {
    SideChange {
        kind: if row.is_some() {
            OpKind::Update
        } else {
            OpKind::Delete
        },
        row,
        changed: None,
    }
}
