//! `/health`: healthy (200) when the agent's loops run, every link is up
//! and every table syncs; otherwise 503, and the body names each problem
//! (a link down, a table stopped, held or erroring, a loop that ended, the
//! agent still starting). Parked operations and lag are shown, not judged:
//! alert on `ctsync_parked` and `ctsync_lag_seconds` instead.

use super::snapshot::Snapshot;
use serde_json::{json, Value};

/// Whether the agent is healthy, and the JSON body saying so.
pub fn report(s: &Snapshot) -> (bool, Value) {
    let mut problems = Vec::new();
    if !s.loops.started {
        problems.push(
            "starting: connecting to both servers and checking the tables (the loops run after)"
                .to_string(),
        );
    }
    for (name, cause) in &s.loops.ended {
        problems.push(format!("{name} ended: {cause}"));
    }
    let links: Vec<Value> = s
        .links
        .iter()
        .map(|l| {
            if !l.up {
                problems.push(format!(
                    "the link to server {} ({}) is down",
                    l.server.as_str(),
                    l.role
                ));
            }
            json!({ "server": l.server.as_str(), "role": l.role, "up": l.up })
        })
        .collect();
    let tables: Vec<Value> = s
        .queues
        .iter()
        .map(|q| {
            let what = format!("table {} ({})", q.table, q.direction);
            let stopped = q.stopped.clone().or_else(|| {
                (q.phase == "stopped").then(|| q.phase_reason.clone().unwrap_or_default())
            });
            let mut healthy = true;
            if let Some(reason) = &stopped {
                problems.push(format!("{what} is stopped: {reason}"));
                healthy = false;
            }
            if let Some(reason) = &q.held {
                problems.push(format!("{what} is held: {reason}"));
                healthy = false;
            }
            if let Some(reason) = &q.erroring {
                problems.push(format!("{what}: capture fails: {reason}"));
                healthy = false;
            }
            json!({
                "table": q.table,
                "direction": q.direction.as_str(),
                "healthy": healthy,
                "phase": q.phase,
                "phase_reason": q.phase_reason,
                "queue_depth": q.queue_depth,
                "parked": q.parked,
                "lag_seconds": q.lag_seconds,
                "lag_versions": q.lag_versions,
                "stopped": stopped,
                "held": q.held,
                "erroring": q.erroring,
                "waiting": q.waiting,
                "last_error": q.last_error,
            })
        })
        .collect();
    let healthy = problems.is_empty();
    let body = json!({
        "status": if healthy { "ok" } else { "unhealthy" },
        "problems": problems,
        "loops": {
            "started": s.loops.started,
            "running": s.loops.running,
            "ended": s.loops.ended.iter().map(|(n, c)| json!({ "name": n, "cause": c })).collect::<Vec<_>>(),
        },
        "links": links,
        "servers": s.last_polls.iter().map(|(side, ms)| json!({ "server": side.as_str(), "last_poll_ms": ms })).collect::<Vec<_>>(),
        "tables": tables,
    });
    (healthy, body)
}
