//! Keeping the agent's resident memory bounded when it holds a long queue.
//!
//! Measured with `benches/agent.rs` (memory part, target down) and heaptrack
//! at 400,000 operations queued: the live heap was 23 MB at the end but
//! peaked at 59 MB while capture batches were read and enqueued, and glibc
//! kept those freed peaks in per-thread arenas, so resident memory stayed at
//! the peaks (57–81 MB at 250k–1M queued). Two remedies, both glibc-only and
//! harmless elsewhere (no-ops):
//!
//! - at most [`ARENAS_MAX`] malloc arenas, set once before any thread starts
//!   (the default is 8 per core; the agent's work is a few loops);
//! - `malloc_trim(0)` every [`TRIM_INTERVAL_MS`], which returns free pages of
//!   every arena to the OS (glibc ≥ 2.8 releases whole free pages inside an
//!   arena, not only at its top). It costs well under a millisecond for the
//!   agent's heap, on a blocking thread.

use std::time::Duration;
use tokio::sync::watch;

/// Upper bound of glibc malloc arenas.
pub const ARENAS_MAX: i32 = 2;
/// Allocations from this size up are mapped on their own and returned to
/// the OS when freed. Fixed, so glibc does not raise it after the first
/// large free (its dynamic threshold grows up to 32 MiB, after which every
/// 10 MB value's buffers come from the arenas and stay there): measured
/// with `benches/agent.rs` (bigtx), 30 values of 10 MB went from 267 to
/// 227 MB peak.
pub const MMAP_THRESHOLD_BYTES: i32 = 1024 * 1024;
/// Period of returning freed memory to the OS.
pub const TRIM_INTERVAL_MS: u64 = 1_000;

/// Limits malloc arenas and fixes the mmap threshold. Call first thing in `main`, before any thread is
/// started (arenas already created are kept).
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before other
    // threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS_MAX);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
    }
}

/// Returns free heap pages to the OS.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe and only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Trims every [`TRIM_INTERVAL_MS`] until `shutdown` turns true.
pub async fn trim_loop(mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(TRIM_INTERVAL_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                // A failed blocking task only means no trim this time.
                let _ = tokio::task::spawn_blocking(trim).await;
            }
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}
