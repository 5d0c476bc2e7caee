//! Apply: one applier per (direction, table) drains that table's queue
//! strictly in order, in batches of up to `batch_size` operations per target
//! transaction.
pub mod detect;
pub mod outcome;
pub mod plan;
pub mod write;
