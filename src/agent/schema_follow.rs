//! How capture and apply follow a table's columns when they change while
//! the agent runs (found by `schema_watch`, kept in [`Shared::live_shape`]).
//!
//! Queued row images are positional, so the columns of a queue change only
//! while it is empty: capture keeps reading with the columns its queue
//! holds until the applier has applied everything queued, then records the
//! new list durably (`Store::set_queue_shape`) and reads with it from the
//! next poll, from the same watermark. The applier reads that record after
//! it listed a batch (capture writes it before it queues anything with the
//! new columns, so a batch never holds images of two lists) and writes with
//! exactly those columns, by name, taking their definitions from the
//! target as it stands. After a restart the same rule holds: operations
//! queued by the previous run are applied with the columns they were
//! captured with, whatever the catalog says now.
//!
//! A table whose schema has a problem (a synced column dropped on one side,
//! a change that would lose data) is held by both: capture shows the reason
//! as the table's error in `inspect`, and goes on from its watermark once
//! the problem is fixed; nothing is lost meanwhile.

use super::apply_loop::Applier;
use super::capture_loop::Capturer;
use super::Shared;
use crate::apply::plan::ApplyTable;
use crate::model::Direction;
use crate::mssql::statements::TableShape;
use crate::store::{QueueShape, StoreError};
use std::collections::{HashMap, HashSet};

fn names(shape: &TableShape) -> Vec<String> {
    shape.columns.iter().map(|c| c.name.clone()).collect()
}

fn same(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

impl Capturer {
    /// Before a poll: takes up changed columns of tables whose queue is
    /// empty; returns the tables to leave out of this poll (held by a
    /// schema problem, or waiting for their queue to drain) and, per table
    /// re-reading changes with new columns, where that re-read stands.
    pub(super) fn follow_shapes(
        &mut self,
        direction: Direction,
    ) -> Result<(HashSet<String>, HashMap<String, i64>), StoreError> {
        let mut skip = HashSet::new();
        let mut rereads = HashMap::new();
        let store = self.shared.store.clone();
        for (name, shape) in self.tables.iter_mut() {
            let live = self.shared.live_shape(name);
            if let Some(problem) = live.as_ref().and_then(|l| l.problem.clone()) {
                self.shared
                    .status
                    .set_erroring(direction, name, Some(&problem));
                self.schema_held.insert(name.clone());
                // A table not started yet still takes its start version (no
                // data is read), so changes made while it is held are part
                // of the sync once it goes on.
                if store.watermark(self.side, name)?.is_some() {
                    skip.insert(name.clone());
                }
                continue;
            }
            if self.schema_held.remove(name.as_str()) {
                self.shared.status.set_erroring(direction, name, None);
                tracing::info!(direction = %direction, table = %name,
                    "the table's schema problem is fixed; capture goes on from its watermark");
            }
            let desired = live
                .as_ref()
                .map(|l| l.shapes[self.side as usize].clone())
                .unwrap_or_else(|| shape.clone());
            let wanted = names(&desired);
            match store.queue_shape(direction, name)?.map(|q| {
                if let Some(from) = q.reread_from {
                    rereads.insert(name.clone(), from);
                }
                q.columns
            }) {
                // Written by a version that kept no record: the queued
                // operations follow the shape the agent started with.
                None => store.set_queue_shape(
                    direction,
                    name,
                    &QueueShape {
                        columns: names(shape),
                        reread_from: None,
                    },
                )?,
                Some(recorded) if !same(&recorded, &wanted) => {
                    if store.queue_depth(direction, name)? > 0 {
                        if self.draining.insert(name.clone()) {
                            tracing::info!(direction = %direction, table = %name,
                                "the table's columns changed; capture waits for the queued changes to be applied, then takes them up");
                        }
                        skip.insert(name.clone());
                        continue;
                    }
                    // Changes since the columns changed were read without
                    // the new ones: read them again.
                    let since = live.as_ref().and_then(|l| l.since[self.side as usize]);
                    let wm = store.watermark(self.side, name)?;
                    let rewound = since.filter(|s| wm.is_some_and(|w| *s < w));
                    store.set_queue_shape(
                        direction,
                        name,
                        &QueueShape {
                            columns: wanted.clone(),
                            reread_from: rewound,
                        },
                    )?;
                    if let Some(from) = rewound {
                        rereads.insert(name.clone(), from);
                    }
                    self.draining.remove(name.as_str());
                    tracing::warn!(direction = %direction, table = %name,
                        before = %recorded.join(", "), now = %wanted.join(", "),
                        reads_again_from = ?rewound,
                        "capture takes up the table's new columns");
                }
                Some(_) => {}
            }
            *shape = desired;
        }
        Ok((skip, rereads))
    }
}

/// After listing a batch: makes `table` (an applier's) the columns its
/// queue records, taken from the target as it stands. `Ok(false)`: the
/// table is held (a schema problem, or a queued column the target does not
/// have), with the reason as its last error.
pub(super) fn columns_for_batch(
    shared: &Shared,
    direction: Direction,
    table: &mut ApplyTable,
) -> Result<bool, StoreError> {
    let name = table.name.clone();
    let live = shared.live_shape(&name);
    if let Some(problem) = live.as_ref().and_then(|l| l.problem.as_deref()) {
        shared.set_last_error(direction, &name, problem);
        return Ok(false);
    }
    let Some(recorded) = shared.store.queue_columns(direction, &name)? else {
        return Ok(true);
    };
    if same(&recorded, &names(&table.shape)) {
        return Ok(true);
    }
    // The target's columns as they stand (falling back to the ones this
    // applier writes), picked by the recorded names in their order.
    let target = live
        .map(|l| l.shapes[direction.target() as usize].clone())
        .unwrap_or_else(|| table.shape.clone());
    let mut columns = Vec::with_capacity(recorded.len());
    for c in &recorded {
        let found = target
            .columns
            .iter()
            .chain(table.shape.columns.iter())
            .find(|t| t.name.eq_ignore_ascii_case(c));
        match found {
            Some(col) => columns.push(col.clone()),
            None => {
                let reason = format!(
                    "queued changes of {name} carry column {c}, which the target does not sync any more; add it back on both sides (the changes then apply), or run `ctsync reinit --table {name}` to drop them and copy the table again"
                );
                shared.set_last_error(direction, &name, &reason);
                return Ok(false);
            }
        }
    }
    let Some(config) = shared.config.table(&name).cloned() else {
        return Ok(true);
    };
    let shape = TableShape {
        name: target.name.clone(),
        key: target.key.clone(),
        columns,
    };
    tracing::info!(direction = %direction, table = %name, columns = %recorded.join(", "),
        "the applier writes the queue's new columns");
    *table = super::setup::apply_table(&config, shape, &shared.config);
    Ok(true)
}

impl Applier {
    /// [`columns_for_batch`] for this applier.
    pub(super) fn columns_for_batch(&mut self) -> Result<bool, StoreError> {
        columns_for_batch(&self.shared, self.direction, &mut self.table)
    }
}

impl Capturer {
    /// After the changes of a re-read were queued: where it goes on
    /// (`Some(None)`: done; `None`: no re-read was running).
    pub(super) fn reread_moved(
        &self,
        direction: Direction,
        name: &str,
        next: Option<Option<i64>>,
    ) -> Result<(), StoreError> {
        let Some(next) = next else {
            return Ok(());
        };
        let store = &self.shared.store;
        let Some(mut shape) = store.queue_shape(direction, name)? else {
            return Ok(());
        };
        shape.reread_from = next;
        store.set_queue_shape(direction, name, &shape)?;
        if next.is_none() {
            tracing::info!(
                server = self.side.as_str(),
                table = name,
                "changes made while the columns changed were read again with the new columns"
            );
        }
        Ok(())
    }
}
