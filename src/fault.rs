//! Fault injection at named points, for crash tests of the real binary.
//!
//! When the environment variable `CTSYNC_TEST_FAULT` names a point, the process
//! aborts there (like `kill -9`: no destructor, no flush), so a test can
//! crash the agent at the exact moment that matters — e.g. after the target
//! committed a batch and before the store recorded it — instead of hoping a
//! random kill lands there. Unset (always, in production) it costs one
//! cached lookup.
//!
//! Points:
//! - `apply_after_target_commit`: a batch committed on the target, the
//!   store does not know yet.
//! - `capture_before_enqueue`: changes read from the source, not yet queued.
//! - `capture_after_first_piece`: the first piece of a source transaction
//!   read in pieces is queued (staged), the rest is not read yet.
//!
//! Loop failures (the process does not abort: the loop ends the way a real
//! failure would, and the agent's supervision must notice):
//! - `capture_loop_fails`: the capture loop returns an error where a store
//!   step would fail, when it is about to enqueue captured changes.
//! - `capture_loop_panics`: the capture loop panics at its next poll.
//! - `apply_loop_fails`: an applier ends as on a store failure when it has
//!   operations to apply.
//! - `load_loop_fails`: a loader ends as on a store failure when it starts
//!   a load.
//!
//! Holds (the process goes on after `CTSYNC_TEST_HOLD_MS`, default 2,000):
//! - `apply_hold_after_commit`: a batch committed on the target waits
//!   before its completion.
//! - `apply_hold_before_write`: a planned batch waits before its write.
//! - `capture_hold_before_enqueue`: changes read wait before they are
//!   queued.
//! - `capture_hold_after_first_piece`: capture waits after the first
//!   (staged) piece of a transaction read in pieces.
//! - `store_hold_in_completion` ([`hold_thread`]): the store's thread itself
//!   waits in a batch's completion, as on a hung disk: every store job
//!   behind it waits too (the watchdog's probe of `agent::service`).
//!
//! Switches (the process does not abort; [`active`] says whether it is set):
//! - `no_conflict_detection`: two-way tables are applied as two one-way
//!   tables, without conflict checks or turns. For `scripts/bench.sh` only,
//!   which measures what detection costs: without it the sides of a row
//!   changed on both can end different.

use std::sync::OnceLock;

fn configured() -> Option<&'static str> {
    static FAULT: OnceLock<Option<String>> = OnceLock::new();
    FAULT
        .get_or_init(|| {
            std::env::var("CTSYNC_TEST_FAULT")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .as_deref()
}

/// Aborts the process if `point` is the configured fault.
pub fn point(point: &'static str) {
    if configured() == Some(point) {
        eprintln!("ctsync: fault injected at {point}; aborting");
        std::process::abort();
    }
}

/// Whether `point` is the configured fault (for switches that change
/// behaviour instead of aborting).
pub fn active(point: &'static str) -> bool {
    configured() == Some(point)
}

/// Blocks the calling thread for `CTSYNC_TEST_HOLD_MS` (default 2,000) if
/// `point` is the configured fault: a hold on a thread that is not async
/// (the store's), where a sleep stalls every job queued behind it.
pub fn hold_thread(point: &'static str) {
    if active(point) {
        let ms = std::env::var("CTSYNC_TEST_HOLD_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000u64);
        tracing::info!(hold_ms = ms, point, "test hold: the thread waits");
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
