//! One reading of everything `/metrics` and `/health` show, taken per
//! request: a handful of store reads per queue (counters and the head
//! entry, never a scan) and the live state in memory.

use super::{ErrorClass, LoopsState};
use crate::agent::Shared;
use crate::model::{Direction, Side};
use crate::store::{Phase, StoreError};

/// The phases of a table's life as the store keeps them
/// ([`crate::store::Phase`]), by the name `ctsync_phase` shows.
pub const PHASES: [&str; 5] = ["init", "initial_load", "streaming", "reinit", "stopped"];

/// The name of `phase` among [`PHASES`].
pub fn phase_name(phase: &Phase) -> &'static str {
    match phase {
        Phase::Init => "init",
        Phase::InitialLoad(_) => "initial_load",
        Phase::Streaming => "streaming",
        Phase::Reinit { .. } => "reinit",
        Phase::Stopped { .. } => "stopped",
    }
}

/// One (direction, table).
#[derive(Debug, Clone)]
pub struct QueueView {
    pub direction: Direction,
    pub table: String,
    pub phase: &'static str,
    /// Why the table reloads or stopped (phases `reinit`, `stopped`).
    pub phase_reason: Option<String>,
    pub queue_depth: u64,
    pub parked: u64,
    /// Source versions the target is behind: the source's current
    /// version less the last one fully applied. `None` before the first
    /// capture (no watermark or current version known).
    pub lag_versions: Option<i64>,
    /// Age of the oldest queued change; 0 when the queue is empty.
    pub lag_seconds: f64,
    pub captured: u64,
    pub loaded: u64,
    pub applied: u64,
    pub conflicts: u64,
    /// The live reasons the table does not sync, if any.
    pub stopped: Option<String>,
    pub held: Option<String>,
    pub erroring: Option<String>,
    pub waiting: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LinkView {
    pub server: Side,
    pub role: String,
    pub up: bool,
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub queues: Vec<QueueView>,
    /// (direction, table or "" for a whole poll, class, count), every
    /// class of every configured queue included (0 when none).
    pub errors: Vec<(Direction, String, ErrorClass, u64)>,
    pub links: Vec<LinkView>,
    /// Per source server, when its capture last polled (ms since the epoch).
    pub last_polls: Vec<(Side, u64)>,
    pub loops: LoopsState,
}

/// Reads the snapshot (blocking: it reads the store).
pub fn take(shared: &Shared) -> Result<Snapshot, StoreError> {
    let store = &shared.store;
    let monitor = &shared.monitor;
    let now = crate::agent::status::now_ms();
    let live = shared.status.snapshot();
    let mut current = [None, None];
    for side in [Side::A, Side::B] {
        current[side as usize] = store.server(side)?.map(|s| s.last_current_version);
    }
    let mut counted = monitor.errors_all();
    let mut queues = Vec::new();
    let mut errors = Vec::new();
    let mut sources = Vec::new();
    for t in &shared.config.tables {
        let name = t.name.to_string();
        for d in t.directions() {
            let st = store.status(d, &name)?;
            let head = store.queue_head(d, &name)?;
            // Applied through the version before the oldest queued change,
            // or (empty queue) through the watermark.
            let applied_through = match head {
                Some((_, version)) => Some(version - 1),
                None => st.watermark,
            };
            let lag_versions = match (current[d.source() as usize], applied_through) {
                (Some(c), Some(a)) => Some(c.saturating_sub(a).max(0)),
                _ => None,
            };
            let lag_seconds = head.map_or(0.0, |(ms, _)| now.saturating_sub(ms) as f64 / 1000.0);
            let l = live
                .get(&format!("{d} {name}"))
                .cloned()
                .unwrap_or_default();
            let phase_reason = match &st.phase {
                Phase::Reinit { reason } | Phase::Stopped { reason } => Some(reason.clone()),
                _ => None,
            };
            queues.push(QueueView {
                direction: d,
                table: name.clone(),
                phase: phase_name(&st.phase),
                phase_reason,
                queue_depth: st.queue_depth,
                parked: st.parked,
                lag_versions,
                lag_seconds,
                captured: l.captured_total,
                loaded: l.loaded_total,
                applied: l.applied_total,
                conflicts: monitor.conflicts_of(d, &name),
                stopped: l.stopped,
                held: shared.live_shape(&name).and_then(|s| s.problem),
                erroring: l.erroring,
                waiting: l.waiting,
                last_error: l.last_error.or(st.last_error),
            });
            for class in ErrorClass::ALL {
                let n = counted.remove(&(d, name.clone(), class)).unwrap_or(0);
                errors.push((d, name.clone(), class, n));
            }
            if !sources.contains(&d.source()) {
                sources.push(d.source());
            }
        }
    }
    // Whole polls of a server, and anything counted for a table no longer
    // configured.
    for source in &sources {
        let d = Direction::from_source(*source);
        for class in [ErrorClass::Link, ErrorClass::Capture] {
            let n = counted.remove(&(d, String::new(), class)).unwrap_or(0);
            errors.push((d, String::new(), class, n));
        }
    }
    errors.extend(counted.into_iter().map(|((d, t, c), n)| (d, t, c, n)));
    let links = monitor
        .links_all()
        .into_iter()
        .map(|(server, role, up)| LinkView { server, role, up })
        .collect();
    let last_polls = sources
        .iter()
        .filter_map(|s| monitor.last_poll(*s).map(|ms| (*s, ms)))
        .collect();
    Ok(Snapshot {
        queues,
        errors,
        links,
        last_polls,
        loops: monitor.loops(),
    })
}
