//! Test controls (stand-in only, nothing like them exists in SQL Server):
//! link cuts, refused connections, latency, injected statement failures,
//! connections cut right after a commit.
//!
//! Shared between the network layer (which honours drop/refuse/latency and
//! closes a connection the engine marked after a commit) and the engine
//! (which honours `fail_next` and counts `cut_after_commit`). Change-tracking cleanup and
//! snapshots are engine operations reached through [`crate::engine::Engine`].

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct Controls {
    /// Bumped by `drop_connections`; a connection whose generation is older
    /// closes its socket.
    drop_generation: AtomicU64,
    refuse_until: Mutex<Option<Instant>>,
    latency_ms: AtomicU64,
    /// Upper-cased table name (`DBO.ORDERS`) -> (error number, remaining count).
    fail_next: Mutex<HashMap<String, (i32, u32)>>,
    /// Clones of every open client socket, so `drop_connections` can cut
    /// them all at once like a network failure would.
    connections: Mutex<HashMap<u64, TcpStream>>,
    next_connection: AtomicU64,
    /// Whether received statements are appended to the statement log.
    log_statements: AtomicBool,
    /// Commits still to be followed by dropping their connection.
    cut_after_commit: AtomicU64,
}

impl Controls {
    pub fn drop_generation(&self) -> u64 {
        self.drop_generation.load(Ordering::SeqCst)
    }

    /// Marks every open connection for closing (the server also shuts their sockets).
    pub fn bump_drop_generation(&self) {
        self.drop_generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Cuts every open client connection now (a link cut): their sockets are
    /// shut down, so clients see the connection reset on their next read.
    pub fn drop_connections(&self) {
        self.bump_drop_generation();
        let conns: Vec<TcpStream> = self.connections.lock().drain().map(|(_, s)| s).collect();
        for s in conns {
            // The peer may already be gone; nothing to do then.
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Records an open connection (the server calls this); `None` when the
    /// socket cannot be cloned, in which case the connection is refused.
    pub fn register_connection(&self, s: &TcpStream) -> Option<u64> {
        let clone = s.try_clone().ok()?;
        let id = self.next_connection.fetch_add(1, Ordering::SeqCst);
        self.connections.lock().insert(id, clone);
        Some(id)
    }

    pub fn unregister_connection(&self, id: u64) {
        self.connections.lock().remove(&id);
    }

    /// Number of client connections currently open.
    pub fn open_connections(&self) -> usize {
        self.connections.lock().len()
    }

    pub fn set_log_statements(&self, on: bool) {
        self.log_statements.store(on, Ordering::SeqCst);
    }

    pub fn log_statements(&self) -> bool {
        self.log_statements.load(Ordering::SeqCst)
    }

    /// Refuses new connections for `d`: they are accepted and closed at once,
    /// so clients see the connection fail.
    pub fn refuse_for(&self, d: Duration) {
        *self.refuse_until.lock() = Some(Instant::now() + d);
    }

    pub fn refusing(&self) -> bool {
        match *self.refuse_until.lock() {
            Some(t) => Instant::now() < t,
            None => false,
        }
    }

    pub fn set_latency(&self, d: Duration) {
        self.latency_ms
            .store(d.as_millis().min(u64::MAX as u128) as u64, Ordering::SeqCst);
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::SeqCst))
    }

    /// The next `count` COMMITs of user transactions that take effect, on
    /// any connection, are followed by that connection being dropped before
    /// the reply is sent: the commit is durable and visible to others, the
    /// client sees a broken connection (no DONE). 0 disarms; a new count
    /// replaces the one left.
    ///
    /// What counts is the commit that ends an explicit transaction
    /// (docs/t-sql/language-elements/commit-transaction-transact-sql.md: only
    /// the COMMIT that brings @@TRANCOUNT from 1 to 0 commits): a `COMMIT
    /// [TRANSACTION]` statement in a batch or `sp_executesql` request (the
    /// rest of the request does not run), in a request of its own after an
    /// earlier one left the transaction open, or the transaction manager's
    /// commit request. Not counted: autocommit statements (in autocommit
    /// mode each statement, reads included, is a transaction of its own,
    /// docs/t-sql/language-elements/transactions-transact-sql.md, so counting
    /// them would make N depend on every query a client sends), inner
    /// COMMITs, rollbacks, and a COMMIT that fails. The session that armed
    /// the control is not exempt.
    pub fn cut_after_commit(&self, count: u64) {
        self.cut_after_commit.store(count, Ordering::SeqCst);
    }

    /// Called by the engine after each commit that took effect: whether
    /// this one cuts its connection (consuming one of the count).
    pub fn take_cut_after_commit(&self) -> bool {
        self.cut_after_commit
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Makes the next `count` statements touching `table` fail with `error`.
    pub fn fail_next(&self, table: &str, error: i32, count: u32) {
        let key = normalize_table(table);
        let mut m = self.fail_next.lock();
        if count == 0 {
            m.remove(&key);
        } else {
            m.insert(key, (error, count));
        }
    }

    /// Called by the engine for each statement with the tables it touches;
    /// returns the error number to raise, consuming one of the count.
    pub fn take_failure(&self, table: &str) -> Option<i32> {
        let mut m = self.fail_next.lock();
        if m.is_empty() {
            return None;
        }
        let key = normalize_table(table);
        let (err, left) = m.get_mut(&key)?;
        let err = *err;
        *left -= 1;
        if *left == 0 {
            m.remove(&key);
        }
        Some(err)
    }
}

/// `Orders`, `dbo.Orders`, `[dbo].[Orders]` all name `DBO.ORDERS`.
pub fn normalize_table(name: &str) -> String {
    let cleaned: String = name.chars().filter(|c| *c != '[' && *c != ']').collect();
    let upper = cleaned.to_uppercase();
    if upper.contains('.') {
        upper
    } else {
        format!("DBO.{upper}")
    }
}
