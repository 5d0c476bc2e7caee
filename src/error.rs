//! What a failure means for the agent: retry it, park it, or re-initialise
//! the table ([`classify`]); whether the connection must be dropped
//! ([`is_link_error`]); and the top-level [`Error`] that `main` reports.
//!
//! Error numbers are SQL Server's (`sys.messages`):
//! docs/relational-databases/errors-events/database-engine-events-and-errors.md
//! and, for the ones Azure SQL and client libraries treat as transient,
//! docs/azure-sql/database/troubleshoot-common-errors-issues.md.
//!
//! Rules:
//! - **Transient** (retry with backoff forever, keeping the order): lock and
//!   concurrency conflicts (1205, 1222, 3960, 3961, 601), resource shortages
//!   (701, 802, 1204, 8645, 8651, 8628, 1105, 9002: the operator must act,
//!   but parking every operation meanwhile would be worse), a database or
//!   login that is not available right now (4060, 18456, 18401, 976, 978,
//!   983, 6005, 596, Azure 40613/40197/40501/40540/49918-49920/10928/10929/
//!   4221), and every link failure. **18456 (login failed) is transient**: it
//!   is also what a server says while a database fails over or restarts, and
//!   the issue asks for it; a wrong password therefore shows as a link that
//!   stays down (logged once with the server's message) and as a problem in
//!   `ctsync check`, never as parked operations.
//! - Link failures are not server error numbers in tiberius: SqlClient's
//!   `-2` (timeout) arrives as `Error::Io { kind: TimedOut }`, socket errors
//!   (10053, 10054, 10060, 64, 233...) as `Error::Io`, a failed TLS handshake
//!   as `Error::Tls`. All are transient link errors. The socket numbers are
//!   also classified here should a server relay them (linked servers).
//! - **Permanent** (counted; parked after `sync.retry.max_attempts`): data
//!   and schema errors — 2627, 2601 (duplicate key), 547 (constraint), 544
//!   (IDENTITY_INSERT off), 515 (NULL into NOT NULL), 2628/8152 (truncation),
//!   245, 8114, 8115, 241, 242 (conversion, overflow), 207, 208 (unknown
//!   column, object), 229, 230 (permission), 8101, 8102 (identity), 22109.
//! - **Reinit**: 22105, change tracking is off on the table: its history is
//!   gone, only a re-initialisation brings the sides back together.
//! - **Unknown numbers**: severity 17 and above (resource and fatal errors)
//!   are transient; anything else is permanent, which still gives it
//!   `max_attempts` tries before the operation is parked.

use crate::config::ConfigError;
use std::fmt;
use tiberius::error::Error as SqlError;

/// What to do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Retry after a backoff, forever, keeping the operation at the head.
    Transient,
    /// Count the attempt; park the operation after `max_attempts`.
    Permanent,
    /// The table's change history is gone: re-initialise it (or stop it,
    /// per `on_expired`).
    Reinit,
}

/// Server errors that are transient, and why.
const TRANSIENT: &[(u32, &str)] = &[
    (1205, "deadlock victim"),
    (1222, "lock request timeout"),
    (3960, "snapshot isolation update conflict"),
    (3961, "snapshot isolation: object changed by DDL"),
    (601, "data movement during a NOLOCK scan"),
    (701, "insufficient memory"),
    (802, "insufficient memory in the buffer pool"),
    (1204, "no lock resources"),
    (8645, "timeout waiting for memory"),
    (8651, "low memory"),
    (8628, "timeout waiting for the query optimizer"),
    (1105, "filegroup full"),
    (9002, "transaction log full"),
    (
        4060,
        "cannot open the database (offline, restoring, failing over)",
    ),
    (18456, "login failed"),
    (18401, "login failed: server in script upgrade mode"),
    (976, "availability group secondary not accessible"),
    (978, "availability group replica not readable"),
    (983, "availability group replica not in the primary role"),
    (6005, "server shutting down"),
    (596, "session being killed"),
    (40613, "Azure: database not available"),
    (40197, "Azure: service error processing the request"),
    (40501, "Azure: service busy"),
    (40540, "Azure: service error"),
    (49918, "Azure: not enough resources"),
    (49919, "Azure: too many requests"),
    (49920, "Azure: too many operations"),
    (10928, "Azure: resource limit"),
    (10929, "Azure: resource limit"),
    (4221, "login to a readable secondary during redo"),
    (64, "connection closed by the network"),
    (233, "connection closed by the server"),
    (10053, "connection aborted"),
    (10054, "connection reset"),
    (10060, "connection timed out"),
];

/// Server errors that mean the connection is unusable (drop and reconnect).
const LINK: &[u32] = &[
    4060, 18456, 18401, 976, 978, 983, 6005, 596, 40613, 40197, 40501, 40540, 4221, 64, 233, 10053,
    10054, 10060,
];

/// Server errors that are permanent, listed for the record (unknown numbers
/// below severity 17 are permanent too).
pub const PERMANENT: &[(u32, &str)] = &[
    (2627, "duplicate key (constraint)"),
    (2601, "duplicate key (unique index)"),
    (547, "constraint conflict (foreign key, check)"),
    (
        544,
        "explicit value for an identity column while IDENTITY_INSERT is off",
    ),
    (515, "NULL into a NOT NULL column"),
    (2628, "string or binary data would be truncated"),
    (8152, "string or binary data would be truncated"),
    (245, "conversion failed"),
    (8114, "conversion failed"),
    (8115, "arithmetic overflow"),
    (241, "date/time conversion failed"),
    (242, "date/time out of range"),
    (207, "invalid column name"),
    (208, "invalid object name"),
    (229, "permission denied"),
    (230, "permission denied on a column"),
    (
        8101,
        "explicit identity value needs a column list and IDENTITY_INSERT",
    ),
    (8102, "cannot update an identity column"),
    (22109, "change tracking context longer than 128 bytes"),
];

/// Change tracking is off for the table: its history is gone.
const REINIT: &[u32] = &[22105];

/// Classifies a server error by number and severity (`class`).
pub fn classify_number(number: u32, class: u8) -> ErrorKind {
    if REINIT.contains(&number) {
        ErrorKind::Reinit
    } else if TRANSIENT.iter().any(|(n, _)| *n == number) {
        ErrorKind::Transient
    } else if PERMANENT.iter().any(|(n, _)| *n == number) {
        ErrorKind::Permanent
    } else if class >= 17 {
        ErrorKind::Transient
    } else {
        ErrorKind::Permanent
    }
}

/// What to do about a failed request.
pub fn classify(e: &SqlError) -> ErrorKind {
    match e {
        SqlError::Server(t) => classify_number(t.code(), t.class()),
        // The link: reconnect and retry. A protocol error leaves the stream
        // out of step with the server, so it too means a new connection.
        SqlError::Io { .. }
        | SqlError::Tls(_)
        | SqlError::Protocol(_)
        | SqlError::Routing { .. } => ErrorKind::Transient,
        // Values that cannot be converted do not get better by retrying.
        _ => ErrorKind::Permanent,
    }
}

/// True when the connection that returned `e` must be dropped and opened
/// again: socket and TLS failures, timeouts (the connection is left
/// mid-response), protocol errors, fatal server errors (severity 20 and
/// above end the session) and login/availability errors.
pub fn is_link_error(e: &SqlError) -> bool {
    match e {
        SqlError::Io { .. }
        | SqlError::Tls(_)
        | SqlError::Protocol(_)
        | SqlError::Routing { .. } => true,
        SqlError::Server(t) => t.class() >= 20 || LINK.contains(&t.code()),
        _ => false,
    }
}

/// Something that may carry a SQL Server (or link) error.
pub trait SqlFailure: fmt::Display {
    fn sql_error(&self) -> Option<&SqlError>;
}

impl SqlFailure for SqlError {
    fn sql_error(&self) -> Option<&SqlError> {
        Some(self)
    }
}

impl SqlFailure for crate::apply::write::WriteError {
    fn sql_error(&self) -> Option<&SqlError> {
        match self {
            crate::apply::write::WriteError::Sql(e) => Some(e),
            _ => None,
        }
    }
}

impl SqlFailure for crate::capture::CaptureError {
    fn sql_error(&self) -> Option<&SqlError> {
        crate::capture::CaptureError::sql_error(self)
    }
}

/// The server's error number (None when the failure did not come from the
/// server) and the message to record: the server's own text for server
/// errors, the whole description otherwise.
pub fn sql_number_and_message(e: &dyn SqlFailure) -> (Option<u32>, String) {
    match e.sql_error() {
        Some(SqlError::Server(t)) => (Some(t.code()), t.message().to_string()),
        _ => (None, e.to_string()),
    }
}

/// A failure that ends a command; `main` prints it with its causes and exits
/// with [`Error::exit_code`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot set up logging: {0}")]
    Logging(String),
    #[error("{context}")]
    Sql {
        context: String,
        #[source]
        source: SqlError,
    },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{context}")]
    Other {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A command ran and found problems (e.g. `check`); already explained.
    #[error("{0}")]
    Failed(String),
    /// `verify` found differences (exit 1); already listed.
    #[error("{0}")]
    Differences(String),
    /// `verify` could not compare (exit 2).
    #[error(transparent)]
    Verify(#[from] crate::verify::VerifyError),
}

impl Error {
    pub fn other(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Other {
            context: context.into(),
            source: Box::new(source),
        }
    }

    /// 2 for a configuration problem (nothing was started) and for a
    /// verify that could not run, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Verify(_) => 2,
            _ => 1,
        }
    }
}

/// `e` and its causes on one line, `outer: inner: innermost`; a cause whose
/// text the outer message already contains is not repeated.
pub fn report(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind as Io;

    #[test]
    fn every_listed_number_is_classified_as_documented() {
        use ErrorKind::*;
        let cases: &[(u32, ErrorKind)] = &[
            (1205, Transient),
            (1222, Transient),
            (3960, Transient),
            (3961, Transient),
            (601, Transient),
            (701, Transient),
            (802, Transient),
            (1204, Transient),
            (8645, Transient),
            (8651, Transient),
            (8628, Transient),
            (1105, Transient),
            (9002, Transient),
            (4060, Transient),
            (18456, Transient),
            (18401, Transient),
            (976, Transient),
            (978, Transient),
            (983, Transient),
            (6005, Transient),
            (596, Transient),
            (40613, Transient),
            (40197, Transient),
            (40501, Transient),
            (40540, Transient),
            (49918, Transient),
            (49919, Transient),
            (49920, Transient),
            (10928, Transient),
            (10929, Transient),
            (4221, Transient),
            (64, Transient),
            (233, Transient),
            (10053, Transient),
            (10054, Transient),
            (10060, Transient),
            (2627, Permanent),
            (2601, Permanent),
            (547, Permanent),
            (544, Permanent),
            (515, Permanent),
            (2628, Permanent),
            (8152, Permanent),
            (245, Permanent),
            (8114, Permanent),
            (8115, Permanent),
            (241, Permanent),
            (242, Permanent),
            (207, Permanent),
            (208, Permanent),
            (229, Permanent),
            (230, Permanent),
            (8101, Permanent),
            (8102, Permanent),
            (22109, Permanent),
            (22105, Reinit),
        ];
        for &(n, kind) in cases {
            // Severity 16, the usual class of user errors: the number alone
            // decides.
            assert_eq!(classify_number(n, 16), kind, "error {n}");
        }
        // Every table entry is covered by the cases above.
        for (n, _) in TRANSIENT.iter().chain(PERMANENT) {
            assert!(cases.iter().any(|(c, _)| c == n), "{n} has no test case");
        }
    }

    #[test]
    fn listed_permanent_errors_stay_permanent_whatever_the_severity() {
        // 2627 at a high severity is still a duplicate key.
        assert_eq!(classify_number(2627, 20), ErrorKind::Permanent);
    }

    #[test]
    fn unknown_numbers_depend_on_severity() {
        assert_eq!(classify_number(50000, 16), ErrorKind::Permanent);
        assert_eq!(classify_number(50000, 10), ErrorKind::Permanent);
        assert_eq!(classify_number(50000, 17), ErrorKind::Transient);
        assert_eq!(classify_number(50000, 21), ErrorKind::Transient);
    }

    #[test]
    fn link_and_client_failures() {
        let timeout = SqlError::Io {
            kind: Io::TimedOut,
            message: "timed out".into(),
        };
        let reset = SqlError::Io {
            kind: Io::ConnectionReset,
            message: "reset".into(),
        };
        for e in [
            timeout,
            reset,
            SqlError::Tls("handshake".into()),
            SqlError::Protocol("bad token".into()),
        ] {
            assert_eq!(classify(&e), ErrorKind::Transient, "{e}");
            assert!(is_link_error(&e), "{e}");
        }
        for e in [
            SqlError::Conversion("bad".into()),
            SqlError::Utf8,
            SqlError::Encoding("x".into()),
        ] {
            assert_eq!(classify(&e), ErrorKind::Permanent, "{e}");
            assert!(!is_link_error(&e), "{e}");
        }
    }

    #[test]
    fn number_and_message() {
        let e = SqlError::Io {
            kind: Io::ConnectionReset,
            message: "reset by peer".into(),
        };
        let (n, m) = sql_number_and_message(&e);
        assert_eq!(n, None);
        assert!(m.contains("reset by peer"), "{m}");
        let w = crate::apply::write::WriteError::OutputMismatch {
            expected: 2,
            got: 1,
        };
        let (n, m) = sql_number_and_message(&w);
        assert_eq!(n, None);
        assert!(m.contains("2 inserts"), "{m}");
    }

    #[test]
    fn report_walks_causes_without_repeating() {
        let e = Error::Io {
            context: "opening the state store".into(),
            source: std::io::Error::new(Io::PermissionDenied, "permission denied"),
        };
        assert_eq!(report(&e), "opening the state store: permission denied");
        #[derive(Debug, thiserror::Error)]
        #[error("outer: {0}")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(report(&e), "outer: inner");
        assert_eq!(Error::Failed("x".into()).exit_code(), 1);
    }
}
