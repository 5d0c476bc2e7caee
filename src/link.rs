//! A link to one server: connects, and after any failure reconnects with
//! capped exponential backoff and jitter, forever (until shutdown). Logs one
//! line per state change (up, down with the reason), never one per attempt.

use crate::backoff::Backoff;
use crate::config::Config;
use crate::model::Side;
use crate::mssql::{self, Connection};
use crate::tls::TlsSettings;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Connect and login are each bounded by this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Never,
    Up,
    Down,
}

/// A link's state as its loop last saw it, read by the monitor
/// (`crate::monitor`: `ctsync_link_up`, `/health`).
#[derive(Debug, Default)]
pub struct LinkState(AtomicU8);

impl LinkState {
    /// `None`: not connected yet, nor failed (a loader's link before a load).
    pub fn up(&self) -> Option<bool> {
        match self.0.load(Ordering::Relaxed) {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        }
    }

    fn set(&self, state: State) {
        let v = match state {
            State::Never => 0,
            State::Up => 1,
            State::Down => 2,
        };
        self.0.store(v, Ordering::Relaxed);
    }
}

pub struct Link {
    side: Side,
    /// What this link serves, for log lines (e.g. `capture`, `apply dbo.Users`).
    role: String,
    config: tiberius::Config,
    /// To say what a failed encryption handshake means.
    tls: TlsSettings,
    conn: Option<Connection>,
    state: State,
    /// `state`, for the monitor.
    shared_state: Arc<LinkState>,
    backoff: Backoff,
}

impl Link {
    pub fn new(side: Side, role: impl Into<String>, config: &Config, backoff: Backoff) -> Link {
        Link {
            side,
            role: role.into(),
            config: config.tiberius_config(side),
            tls: TlsSettings::of(config, side),
            conn: None,
            state: State::Never,
            shared_state: Arc::default(),
            backoff,
        }
    }

    /// The link reports its state to `monitor` while it lives.
    pub fn watched_by(self, monitor: &crate::monitor::Monitor) -> Link {
        monitor.watch_link(self.side, &self.role, &self.shared_state);
        self
    }

    fn set_state(&mut self, state: State) {
        self.state = state;
        self.shared_state.set(state);
    }

    /// The connection, connecting first if needed. Waits (with backoff) until
    /// connected; `None` only when shutdown was signalled meanwhile.
    pub async fn get(&mut self, shutdown: &mut watch::Receiver<bool>) -> Option<&mut Connection> {
        while self.conn.is_none() {
            if *shutdown.borrow() {
                return None;
            }
            match mssql::connect(self.config.clone(), CONNECT_TIMEOUT).await {
                Ok(c) => {
                    if self.state != State::Up {
                        tracing::info!(server = self.side.as_str(), role = %self.role,
                            retries = self.backoff.attempts(), "link up");
                    }
                    self.set_state(State::Up);
                    self.backoff.reset();
                    self.conn = Some(c);
                }
                Err(e) => {
                    if self.state != State::Down {
                        let error = crate::tls::describe(&self.tls, &e);
                        tracing::warn!(server = self.side.as_str(), role = %self.role,
                            error = %error, "link down; reconnecting with backoff");
                        self.set_state(State::Down);
                    }
                    let delay = self.backoff.next_delay();
                    tracing::debug!(
                        server = self.side.as_str(),
                        delay_ms = delay.as_millis() as u64,
                        "reconnect attempt failed"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
        self.conn.as_mut()
    }

    /// The connection failed (or its state is unknown after an error): drop it
    /// so the next [`Link::get`] reconnects.
    pub fn broken(&mut self, reason: &dyn std::fmt::Display) {
        if self.conn.take().is_some() && self.state == State::Up {
            tracing::warn!(server = self.side.as_str(), role = %self.role, error = %reason,
                "link down; reconnecting with backoff");
            self.set_state(State::Down);
        }
    }
}
