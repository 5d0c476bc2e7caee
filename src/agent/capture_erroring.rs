//! The capture loop's erroring tables: a table of a server whose capture
//! fails by itself is logged once at `warn`, shown by `inspect` and tried
//! again with its own backoff while the server's other tables go on.

use super::Shared;
use crate::backoff::Backoff;
use crate::capture::CaptureError;
use crate::model::{Direction, Side};
use std::collections::HashMap;
use std::time::Instant;

/// The tables of this server whose capture fails, each with its reason
/// and its own backoff.
#[derive(Default)]
pub struct Erroring {
    tables: HashMap<String, ErroringTable>,
}

struct ErroringTable {
    reason: String,
    since: Instant,
    backoff: Backoff,
    retry_at: Instant,
}

impl Erroring {
    /// `name`'s capture failed with `e`: erroring (logged when it starts),
    /// tried again after its backoff.
    pub(super) fn failed(
        &mut self,
        shared: &Shared,
        side: Side,
        direction: Direction,
        name: &str,
        e: &CaptureError,
    ) {
        let reason = e.to_string();
        shared
            .monitor
            .error(direction, name, crate::monitor::ErrorClass::Capture);
        if let Some(tiberius::error::Error::Server(t)) = e.sql_error() {
            if super::schema_error(Some(t.code())) {
                shared.schema_check.notify_one();
            }
        }
        let retry = &shared.config.sync.retry;
        let t = self.tables.entry(name.to_string()).or_insert_with(|| {
            tracing::warn!(server = side.as_str(), direction = %direction, table = name, error = %reason,
                "capture of this table fails; the server's other tables go on, this one is retried with backoff");
            ErroringTable {
                reason: String::new(),
                since: Instant::now(),
                backoff: Backoff::new(retry.initial_backoff_ms, retry.max_backoff_ms),
                retry_at: Instant::now(),
            }
        });
        if t.reason != reason {
            if !t.reason.is_empty() {
                tracing::debug!(server = side.as_str(), table = name, error = %reason,
                    "capture of this table still fails, now for another reason");
            }
            t.reason = reason;
            shared.status.set_erroring(direction, name, Some(&t.reason));
        }
        t.retry_at = Instant::now() + t.backoff.next_delay();
    }

    /// `name` was captured: if it was erroring, it is not any more.
    pub(super) fn cleared(
        &mut self,
        shared: &Shared,
        side: Side,
        direction: Direction,
        name: &str,
    ) {
        if let Some(t) = self.tables.remove(name) {
            tracing::info!(server = side.as_str(), direction = %direction, table = name,
                attempts = t.backoff.attempts(), erroring_s = t.since.elapsed().as_secs(),
                "capture of this table works again");
            shared.status.set_erroring(direction, name, None);
        }
    }

    /// Whether `name` is erroring and not due for its next try at `now`.
    pub(super) fn waiting(&self, name: &str, now: Instant) -> bool {
        self.tables.get(name).is_some_and(|t| t.retry_at > now)
    }

    /// When the first erroring table is due for its next try.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.tables.values().map(|t| t.retry_at).min()
    }
}
