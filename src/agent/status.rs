//! Live status of a running agent, for `ctsync inspect` through the control
//! socket: counters, last times, last errors, stopped tables. Durable facts
//! (watermarks, queue depth, parked, mappings) come from the store instead.

use crate::model::{Direction, Side};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TableStatus {
    pub captured_total: u64,
    /// Rows copied by initial loads and re-initialisations, since the start.
    pub loaded_total: u64,
    pub applied_total: u64,
    pub last_capture_ms: Option<u64>,
    pub last_apply_ms: Option<u64>,
    pub last_error: Option<String>,
    pub waiting: Option<String>,
    pub stopped: Option<String>,
    /// Capture of this table fails (a dropped column, an unsupported
    /// type, change tracking turned off...): the reason. The table is
    /// retried with backoff while the server's other tables go on.
    pub erroring: Option<String>,
}

#[derive(Debug, Default)]
pub struct Status {
    tables: Mutex<BTreeMap<(Direction, String), TableStatus>>,
    capture_errors: Mutex<BTreeMap<Side, String>>,
}

impl Status {
    fn with<R>(&self, d: Direction, t: &str, f: impl FnOnce(&mut TableStatus) -> R) -> R {
        let mut m = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        f(m.entry((d, t.to_string())).or_default())
    }

    pub fn captured(&self, d: Direction, t: &str, n: usize) {
        self.with(d, t, |s| {
            s.captured_total += n as u64;
            s.last_capture_ms = Some(now_ms());
        })
    }

    pub fn loaded(&self, d: Direction, t: &str, n: usize) {
        self.with(d, t, |s| s.loaded_total += n as u64)
    }

    pub fn applied(&self, d: Direction, t: &str, n: usize) {
        self.with(d, t, |s| {
            s.applied_total += n as u64;
            s.last_apply_ms = Some(now_ms());
            s.waiting = None;
        })
    }

    pub fn set_error(&self, d: Direction, t: &str, e: &str) {
        self.with(d, t, |s| s.last_error = Some(e.to_string()))
    }

    pub fn set_waiting(&self, d: Direction, t: &str, w: String) {
        self.with(d, t, |s| s.waiting = Some(w))
    }

    pub fn stop(&self, d: Direction, t: &str, reason: &str) {
        self.with(d, t, |s| s.stopped = Some(reason.to_string()))
    }

    /// Clears a stop (the operator asked for a re-initialisation).
    pub fn resume(&self, d: Direction, t: &str) {
        self.with(d, t, |s| {
            s.stopped = None;
            s.last_error = None;
        })
    }

    pub fn is_stopped(&self, d: Direction, t: &str) -> bool {
        self.with(d, t, |s| s.stopped.is_some())
    }

    /// The table's capture fails (`Some(reason)`) or works again (`None`).
    pub fn set_erroring(&self, d: Direction, t: &str, reason: Option<&str>) {
        self.with(d, t, |s| s.erroring = reason.map(str::to_string))
    }

    pub fn last_error(&self, d: Direction, t: &str) -> Option<String> {
        self.with(d, t, |s| s.last_error.clone())
    }

    pub fn capture_error(&self, side: Side) -> Option<String> {
        let m = self
            .capture_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        m.get(&side).cloned()
    }

    pub fn set_capture_error(&self, side: Side, e: &str) {
        let mut m = self
            .capture_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        m.insert(side, e.to_string());
    }

    pub fn snapshot(&self) -> BTreeMap<String, TableStatus> {
        let m = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        m.iter()
            .map(|((d, t), s)| (format!("{d} {t}"), s.clone()))
            .collect()
    }
}
