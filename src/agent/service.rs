//! Running as a systemd `Type=notify` service (`deploy/ctsync.service`).
//!
//! Only when `NOTIFY_SOCKET` is set (systemd sets it for `Type=notify`);
//! otherwise nothing is sent and nothing here runs. Then `ctsync run` tells
//! the service manager (sd_notify(3), through the `sd-notify` crate):
//!
//! - `READY=1` once the agent syncs: the configuration is loaded, the store
//!   is open, the control socket serves, both servers answered and every
//!   table was checked, every loop started, and each capture loop finished
//!   its first poll. That last step is what makes "ready" mean "a change
//!   made from now on is synced": a table with `initial: none` starts at
//!   the version its first poll reads, so a change made before it is, by
//!   design, not part of the sync. Readiness does not wait for an initial
//!   load to finish (it may take hours; `ctsync inspect` shows it).
//! - `WATCHDOG=1` every half of `WATCHDOG_USEC` while the agent is alive:
//!   its supervision saw no loop end ([`Health`]), the async runtime runs
//!   this task (a runtime whose threads are all blocked sends nothing), and
//!   the state store's thread answers a no-op within one watchdog period (a
//!   store stuck on a hung disk stalls every loop). A loop that ends stops
//!   the pings at once — the agent then stops by itself with a non-zero
//!   exit — so systemd restarts it either way.
//! - `STATUS=...` lines: starting, running, stopping and why.
//! - `STOPPING=1` when a shutdown starts (SIGTERM/SIGINT, or a loop that
//!   ended).
//!
//! A send that fails is logged once at `warn` and never stops the agent.

use super::Shared;
use sd_notify::NotifyState;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Where the agent stands, as its supervision sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Life {
    /// Connecting to the servers, checking the tables, starting the loops.
    Starting,
    /// Every loop started and each capture loop finished its first poll.
    Running,
    /// A loop ended while no shutdown was asked (its name and cause): the
    /// agent stops.
    LoopEnded(String),
    /// The agent stopped.
    Stopped,
}

/// The agent's liveness as its supervisor (`super::supervise`) and its
/// capture loops report it.
pub struct Health {
    life: watch::Sender<Life>,
    /// (every loop started, capture loops whose first poll is still to end).
    start: Mutex<(bool, usize)>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            life: watch::channel(Life::Starting).0,
            start: Mutex::new((false, 0)),
        }
    }
}

impl Health {
    pub fn subscribe(&self) -> watch::Receiver<Life> {
        self.life.subscribe()
    }

    #[cfg(test)]
    pub fn life(&self) -> Life {
        self.life.borrow().clone()
    }

    /// Before the loops are spawned: `capturers` capture loops will each
    /// report their first poll.
    pub fn expect_first_polls(&self, capturers: usize) {
        let mut s = self.start.lock().unwrap_or_else(|p| p.into_inner());
        s.1 = capturers;
    }

    /// Every loop is spawned.
    pub fn loops_started(&self) {
        let mut s = self.start.lock().unwrap_or_else(|p| p.into_inner());
        s.0 = true;
        self.running_if_started(&s);
    }

    /// A capture loop finished its first poll (once per loop).
    pub fn first_poll_done(&self) {
        let mut s = self.start.lock().unwrap_or_else(|p| p.into_inner());
        s.1 = s.1.saturating_sub(1);
        self.running_if_started(&s);
    }

    fn running_if_started(&self, s: &(bool, usize)) {
        if s.0 && s.1 == 0 {
            self.life.send_if_modified(|l| {
                let starting = *l == Life::Starting;
                if starting {
                    *l = Life::Running;
                }
                starting
            });
        }
    }

    /// A loop ended while no shutdown was asked (the first one counts).
    pub fn loop_ended(&self, what: String) {
        self.life.send_if_modified(|l| {
            let first = matches!(l, Life::Starting | Life::Running);
            if first {
                *l = Life::LoopEnded(what);
            }
            first
        });
    }

    /// Every loop ended.
    pub fn stopped(&self) {
        self.life.send_if_modified(|l| {
            let changed = *l != Life::Stopped;
            *l = Life::Stopped;
            changed
        });
    }
}

/// The watchdog's ping period from `WATCHDOG_USEC` and `WATCHDOG_PID` as
/// sd_watchdog_enabled(3) reads them: a positive number of microseconds,
/// for this process unless `WATCHDOG_PID` names another one. Half of it,
/// as the man page advises.
pub fn ping_period(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(own_pid) {
            return None;
        }
    }
    Some(Duration::from_micros(usec / 2).max(Duration::from_millis(1)))
}

/// Starts reporting to systemd when `NOTIFY_SOCKET` is set; `shutdown` is
/// `run`'s: true once a shutdown was asked.
pub fn start(
    shared: &Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let socket = std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty())?;
    let period = ping_period(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    );
    tracing::info!(notify_socket = %socket.to_string_lossy(),
        watchdog_ping_ms = period.map(|p| p.as_millis() as u64),
        "reporting readiness, liveness and shutdown to the service manager");
    Some(tokio::spawn(report(shared.clone(), shutdown, period)))
}

/// Sends notifications; a failure is logged once.
#[derive(Default)]
struct Notifier {
    failed: bool,
}

impl Notifier {
    fn send(&mut self, states: &[NotifyState<'_>]) {
        if let Err(e) = sd_notify::notify(false, states) {
            if !self.failed {
                self.failed = true;
                tracing::warn!(error = %e,
                    "could not notify the service manager (NOTIFY_SOCKET); the agent goes on");
            }
        }
    }
}

/// Whether the store's thread answers: a no-op job in flight, and since when.
struct StoreProbe {
    shared: Arc<Shared>,
    in_flight: Option<(Instant, tokio::task::JoinHandle<bool>)>,
    late_after: Duration,
}

impl StoreProbe {
    /// `Ok(())` while the thread answers (or a probe is younger than
    /// `late_after`); `Err(reason)` when it failed or is late.
    fn check(&mut self) -> Result<(), String> {
        if let Some((since, job)) = &self.in_flight {
            if !job.is_finished() {
                let waited = since.elapsed();
                return if waited > self.late_after {
                    Err(format!(
                        "the state store has not answered for {} ms",
                        waited.as_millis()
                    ))
                } else {
                    Ok(())
                };
            }
        }
        let answered = match self.in_flight.take() {
            // Finished: is_finished() was true, so this does not wait.
            Some((_, job)) => futures_util::FutureExt::now_or_never(job)
                .map(|r| r.unwrap_or(false))
                .unwrap_or(false),
            None => true,
        };
        if !answered {
            return Err("the state store's thread is gone".into());
        }
        let shared = self.shared.clone();
        self.in_flight = Some((
            Instant::now(),
            tokio::spawn(async move { shared.store_thread.run(|_| Ok(())).await.is_ok() }),
        ));
        Ok(())
    }
}

async fn report(
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    period: Option<Duration>,
) {
    let mut n = Notifier::default();
    let mut life = shared.health.subscribe();
    n.send(&[NotifyState::Status(
        "starting: connecting to both servers and checking the tables",
    )]);
    let mut ready = false;
    let mut tick = tokio::time::interval(period.unwrap_or(Duration::from_secs(3600)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut probe = StoreProbe {
        shared: shared.clone(),
        in_flight: None,
        // One full watchdog period (two pings).
        late_after: period.map_or(Duration::MAX, |p| p * 2),
    };
    let mut late = false;
    loop {
        if *shutdown.borrow() {
            n.send(&[
                NotifyState::Stopping,
                NotifyState::Status("stopping: finishing the batches in hand"),
            ]);
            return;
        }
        let now = life.borrow_and_update().clone();
        match now {
            Life::Starting => {}
            Life::Running if !ready => {
                ready = true;
                let status = format!(
                    "running: agent {}, {} table(s)",
                    shared.config.agent_id,
                    shared.config.tables.len()
                );
                n.send(&[NotifyState::Ready, NotifyState::Status(&status)]);
                tracing::info!("reported ready to the service manager");
            }
            Life::Running => {}
            Life::LoopEnded(what) => {
                let status = format!("stopping: {what}");
                n.send(&[NotifyState::Stopping, NotifyState::Status(&status)]);
                return;
            }
            Life::Stopped => {
                n.send(&[NotifyState::Stopping]);
                return;
            }
        }
        tokio::select! {
            _ = tick.tick(), if ready && period.is_some() => match probe.check() {
                Ok(()) => {
                    if late {
                        late = false;
                        tracing::info!("the state store answers again; watchdog pings resume");
                    }
                    n.send(&[NotifyState::Watchdog]);
                }
                Err(reason) => {
                    if !late {
                        late = true;
                        tracing::error!(reason = %reason,
                            "the agent looks stuck; watchdog pings stop so that the service manager restarts it");
                        let status = format!("stuck: {reason}");
                        n.send(&[NotifyState::Status(&status)]);
                    }
                }
            },
            r = life.changed() => if r.is_err() { return },
            r = shutdown.changed() => if r.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_period_is_half_of_watchdog_usec_for_this_process() {
        assert_eq!(
            ping_period(Some("1000000"), None, 7),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            ping_period(Some("1000000"), Some("7"), 7),
            Some(Duration::from_millis(500))
        );
        // Another process's watchdog, none, or nonsense: no pings.
        assert_eq!(ping_period(Some("1000000"), Some("8"), 7), None);
        assert_eq!(ping_period(None, None, 7), None);
        assert_eq!(ping_period(Some("0"), None, 7), None);
        assert_eq!(ping_period(Some("-5"), None, 7), None);
        assert_eq!(ping_period(Some("soon"), None, 7), None);
    }

    #[test]
    fn running_once_loops_started_and_every_first_poll_ended() {
        let h = Health::default();
        h.expect_first_polls(2);
        // A capture loop may finish its first poll before the supervisor
        // spawned the last loop.
        h.first_poll_done();
        assert_eq!(h.life(), Life::Starting);
        h.loops_started();
        assert_eq!(h.life(), Life::Starting);
        h.first_poll_done();
        assert_eq!(h.life(), Life::Running);
    }

    #[test]
    fn no_capture_loops_means_running_once_started() {
        let h = Health::default();
        h.expect_first_polls(0);
        h.loops_started();
        assert_eq!(h.life(), Life::Running);
    }

    #[test]
    fn an_ended_loop_is_final_and_not_running_again() {
        let h = Health::default();
        h.expect_first_polls(1);
        h.loop_ended("the applier of dbo.T (a_to_b) ended".into());
        h.loops_started();
        h.first_poll_done();
        assert_eq!(
            h.life(),
            Life::LoopEnded("the applier of dbo.T (a_to_b) ended".into())
        );
        h.loop_ended("another".into());
        assert!(matches!(h.life(), Life::LoopEnded(w) if w.contains("applier")));
        h.stopped();
        assert_eq!(h.life(), Life::Stopped);
    }
}
