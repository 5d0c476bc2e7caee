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

#[cfg(test)]
mod tests {
    use super::super::snapshot::{LinkView, QueueView, Snapshot};
    use super::super::LoopsState;
    use super::report;
    use crate::model::{Direction, Side};

    fn queue(phase: &'static str) -> QueueView {
        QueueView {
            direction: Direction::AToB,
            table: "dbo.T".into(),
            phase,
            phase_reason: None,
            queue_depth: 3,
            parked: 2,
            lag_versions: Some(4),
            lag_seconds: 1.5,
            captured: 10,
            loaded: 0,
            applied: 7,
            conflicts: 0,
            stopped: None,
            held: None,
            erroring: None,
            waiting: None,
            last_error: None,
        }
    }

    fn running() -> Snapshot {
        Snapshot {
            queues: vec![queue("streaming")],
            errors: Vec::new(),
            links: vec![LinkView {
                server: Side::A,
                role: "capture".into(),
                up: true,
            }],
            last_polls: vec![(Side::A, 1)],
            loops: LoopsState {
                started: true,
                running: vec!["the capture loop of server a".into()],
                ended: Vec::new(),
            },
        }
    }

    #[test]
    fn healthy_with_parked_and_lag_but_not_when_stopped_held_or_a_loop_ended() {
        let (ok, body) = report(&running());
        assert!(ok, "{body}");
        assert_eq!(body["status"], "ok");
        assert_eq!(body["tables"][0]["parked"], 2);

        let mut s = running();
        s.queues[0].phase = "stopped";
        s.queues[0].phase_reason = Some("history is gone".into());
        let (ok, body) = report(&s);
        assert!(!ok);
        assert_eq!(
            body["problems"][0],
            "table dbo.T (a_to_b) is stopped: history is gone"
        );
        assert_eq!(body["tables"][0]["healthy"], false);

        let mut s = running();
        s.queues[0].held = Some("column x dropped on b".into());
        s.loops
            .ended
            .push(("the applier of dbo.T (a_to_b)".into(), "store".into()));
        let text = report(&s).1["problems"].to_string();
        assert!(text.contains("is held: column x dropped on b"), "{text}");
        assert!(
            text.contains("the applier of dbo.T (a_to_b) ended: store"),
            "{text}"
        );

        let mut s = running();
        s.loops = LoopsState::default();
        let (ok, body) = report(&s);
        assert!(
            !ok && body["problems"][0]
                .as_str()
                .is_some_and(|p| p.starts_with("starting"))
        );
    }
}
