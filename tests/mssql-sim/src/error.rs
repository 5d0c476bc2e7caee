//! SQL Server errors as the stand-in reports them in ERROR tokens.
//!
//! Numbers, severities (class) and texts follow the "Database engine events and
//! errors" pages (docs/relational-databases/errors-events/). Constructors for
//! individual errors live next to this type so that every text is written once.

use std::fmt;

/// One SQL Server error: what an ERROR token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    pub number: i32,
    pub state: u8,
    /// Severity: 11..=16 user errors, 20+ end the connection.
    pub class: u8,
    pub message: String,
    /// Procedure name, empty for batches.
    pub procedure: String,
    /// Line of the batch the statement started on (1-based).
    pub line: i32,
}

impl SqlError {
    pub fn new(number: i32, class: u8, state: u8, message: impl Into<String>) -> Self {
        SqlError {
            number,
            state,
            class,
            message: message.into(),
            procedure: String::new(),
            line: 1,
        }
    }

    /// Whether this error rolls back the open transaction regardless of
    /// XACT_ABORT (1205 deadlock victim, 3960 snapshot update conflict).
    pub fn dooms_transaction(&self) -> bool {
        matches!(self.number, 1205 | 3960)
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Msg {}, Level {}, State {}, Line {}: {}",
            self.number, self.class, self.state, self.line, self.message
        )
    }
}

impl std::error::Error for SqlError {}

/// Error 18456. docs/relational-databases/errors-events/mssqlserver-18456-database-engine-error.md
pub fn login_failed(user: &str) -> SqlError {
    SqlError::new(18456, 14, 1, format!("Login failed for user '{user}'."))
}

/// Error 4060. docs/relational-databases/errors-events/database-engine-events-and-errors-4000-to-4999.md
pub fn cannot_open_database(db: &str, user: &str) -> SqlError {
    SqlError::new(
        4060,
        11,
        1,
        format!("Cannot open database \"{db}\" requested by the login. The login failed. Login failed for user '{user}'."),
    )
}

/// Error 102. docs/relational-databases/errors-events/database-engine-events-and-errors-0-to-999.md
pub fn syntax_near(token: &str) -> SqlError {
    SqlError::new(102, 15, 1, format!("Incorrect syntax near '{token}'."))
}

/// Error 156.
pub fn syntax_keyword(keyword: &str) -> SqlError {
    SqlError::new(
        156,
        15,
        1,
        format!("Incorrect syntax near the keyword '{keyword}'."),
    )
}

/// Error 208.
pub fn invalid_object(name: &str) -> SqlError {
    SqlError::new(208, 16, 1, format!("Invalid object name '{name}'."))
}

/// Error 207.
pub fn invalid_column(name: &str) -> SqlError {
    SqlError::new(207, 16, 1, format!("Invalid column name '{name}'."))
}
