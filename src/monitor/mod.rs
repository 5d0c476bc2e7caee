//! Monitoring of a running agent (`ctsync run` with `metrics.listen`): an
//! HTTP endpoint serving `/metrics` in the Prometheus text format and
//! `/health` as JSON (200 when every loop runs and every link is up, 503
//! naming what is not).
//!
//! What it shows comes from three places, all cheap to read per scrape:
//! - the store's per-queue counters (depth, parked, phase, watermark) and
//!   the head entry of each queue (the age and version of the oldest
//!   queued change: one small read, never a scan);
//! - the live status the loops already keep (`agent::status`: captured and
//!   applied totals, stopped and erroring tables);
//! - [`Monitor`]: what only monitoring needs, reported by small hooks where
//!   the loops already handle it (conflicts settled, errors by kind, the
//!   last poll per server, link states, which loops run).

mod health;
mod http;
mod metrics;
mod snapshot;

pub use http::start;

use crate::link::LinkState;
use crate::model::{Direction, Side};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// What kind of failure an error counted in `ctsync_errors_total` was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorClass {
    /// The connection to a server failed (retried with backoff).
    Link,
    /// A write failed in a way that passes (deadlock, lock timeout): retried.
    Transient,
    /// A write failed for its data or schema: counted toward parking.
    Permanent,
    /// The target table's change history is gone (re-initialisation).
    Reinit,
    /// Reading changes from the source failed (not the link).
    Capture,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 5] = [
        ErrorClass::Link,
        ErrorClass::Transient,
        ErrorClass::Permanent,
        ErrorClass::Reinit,
        ErrorClass::Capture,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Link => "link",
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Reinit => "reinit",
            ErrorClass::Capture => "capture",
        }
    }

    /// The class of a failed write, as the applier classified it.
    pub fn of_write(kind: crate::error::ErrorKind, link: bool) -> ErrorClass {
        match kind {
            _ if link => ErrorClass::Link,
            crate::error::ErrorKind::Transient => ErrorClass::Transient,
            crate::error::ErrorKind::Permanent => ErrorClass::Permanent,
            crate::error::ErrorKind::Reinit => ErrorClass::Reinit,
        }
    }
}

/// A link a loop holds, watched while it lives (the setup's links go when
/// the setup is done).
#[derive(Debug)]
struct WatchedLink {
    side: Side,
    role: String,
    state: Weak<LinkState>,
}

/// Which loops of the agent run.
#[derive(Debug, Default, Clone)]
pub struct LoopsState {
    /// The setup is done and the loops were started.
    pub started: bool,
    pub running: Vec<String>,
    /// Loops that ended while no shutdown was asked, with the cause.
    pub ended: Vec<(String, String)>,
}

/// The live facts only monitoring needs (see the module's doc).
#[derive(Debug, Default)]
pub struct Monitor {
    conflicts: Mutex<BTreeMap<(Direction, String), u64>>,
    /// Per (direction, table, class): errors counted. A whole poll of a
    /// server that failed has the table "".
    errors: Mutex<BTreeMap<(Direction, String, ErrorClass), u64>>,
    /// Per server (a, b): when its capture last polled, ms since the epoch
    /// (0: not yet).
    last_poll_ms: [AtomicU64; 2],
    links: Mutex<Vec<WatchedLink>>,
    loops: Mutex<LoopsState>,
}

impl Monitor {
    /// `n` conflicts were found and settled (or parked) on `table` while
    /// applying `direction`.
    pub fn conflicts(&self, direction: Direction, table: &str, n: usize) {
        if n == 0 {
            return;
        }
        let mut m = self.conflicts.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((direction, table.to_string())).or_default() += n as u64;
    }

    /// An error of `class` on `table` (`""`: the whole poll of the
    /// direction's source server).
    pub fn error(&self, direction: Direction, table: &str, class: ErrorClass) {
        let mut m = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((direction, table.to_string(), class)).or_default() += 1;
    }

    /// The capture of `side` finished a poll.
    pub fn polled(&self, side: Side) {
        self.last_poll_ms[side as usize].store(crate::agent::status::now_ms(), Ordering::Relaxed);
    }

    pub fn watch_link(&self, side: Side, role: &str, state: &Arc<LinkState>) {
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        links.retain(|l| l.state.strong_count() > 0);
        links.push(WatchedLink {
            side,
            role: role.to_string(),
            state: Arc::downgrade(state),
        });
    }

    /// The loops were started (the setup is done).
    pub fn loops_started(&self, names: Vec<String>) {
        let mut l = self.loops.lock().unwrap_or_else(|p| p.into_inner());
        l.started = true;
        l.running = names;
    }

    /// A loop ended while no shutdown was asked.
    pub fn loop_ended(&self, name: &str, cause: &str) {
        let mut l = self.loops.lock().unwrap_or_else(|p| p.into_inner());
        l.running.retain(|n| n != name);
        l.ended.push((name.to_string(), cause.to_string()));
    }

    fn conflicts_of(&self, direction: Direction, table: &str) -> u64 {
        let m = self.conflicts.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&(direction, table.to_string())).copied().unwrap_or(0)
    }

    fn errors_all(&self) -> BTreeMap<(Direction, String, ErrorClass), u64> {
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn last_poll(&self, side: Side) -> Option<u64> {
        match self.last_poll_ms[side as usize].load(Ordering::Relaxed) {
            0 => None,
            ms => Some(ms),
        }
    }

    /// (server, role, up) of every live link that connected or failed at
    /// least once; links of the same server and role (none today) are up
    /// only when all are.
    fn links_all(&self) -> Vec<(Side, String, bool)> {
        let links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: BTreeMap<(Side, String), bool> = BTreeMap::new();
        for l in links.iter() {
            let Some(up) = l.state.upgrade().and_then(|s| s.up()) else {
                continue;
            };
            let e = out.entry((l.side, l.role.clone())).or_insert(true);
            *e &= up;
        }
        out.into_iter().map(|((s, r), up)| (s, r, up)).collect()
    }

    fn loops(&self) -> LoopsState {
        self.loops.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
