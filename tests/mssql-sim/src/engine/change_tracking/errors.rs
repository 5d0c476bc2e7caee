//! The change-tracking errors, numbered and worded as SQL Server's message
//! table has them. Texts with `%.*ls` take the name SQL Server would print.

use crate::error::SqlError;

/// `WITH CHANGE_TRACKING_CONTEXT (context)`: context is varbinary(128).
/// docs/relational-databases/system-functions/with-change-tracking-context-transact-sql.md
pub const MAX_CONTEXT_LEN: usize = 128;

/// Error 22109, raised when a change-tracking context is longer than 128
/// bytes. docs/relational-databases/errors-events/database-engine-events-and-errors-22000-to-22999.md
pub fn context_too_long() -> SqlError {
    SqlError::new(
        22109,
        16,
        1,
        "The \"context\" argument for the CHANGE_TRACKING_CONTEXT WITH clause must be of type varbinary data type with a maximum length of 128.",
    )
}

/// Validates a `WITH CHANGE_TRACKING_CONTEXT` value before the statement
/// changes anything (error 22109).
pub fn check_context(context: &[u8]) -> Result<(), SqlError> {
    if context.len() > MAX_CONTEXT_LEN {
        return Err(context_too_long());
    }
    Ok(())
}

/// Error 22105 (CHANGETABLE on an untracked table).
/// docs/relational-databases/errors-events/database-engine-events-and-errors-22000-to-22999.md
pub fn table_not_tracked(table: &str) -> SqlError {
    SqlError::new(
        22105,
        16,
        1,
        format!("Change tracking is not enabled on table '{table}'."),
    )
}

/// Error 22101 (a change_columns argument that is not a CHANGETABLE mask).
/// docs/relational-databases/errors-events/database-engine-events-and-errors-22000-to-22999.md
pub fn invalid_mask() -> SqlError {
    SqlError::new(
        22101,
        16,
        1,
        "The value supplied for the change_columns argument of CHANGE_TRACKING_IS_COLUMN_IN_MASK function is not valid. The value must be a bitmask returned by the CHANGETABLE(CHANGES ...) function.",
    )
}

/// Error 22115 (SET CHANGE_TRACKING = OFF while tables are still tracked).
/// docs/relational-databases/errors-events/database-engine-events-and-errors-22000-to-22999.md
pub fn tables_still_tracked(db: &str) -> SqlError {
    SqlError::new(
        22115,
        16,
        1,
        format!("Change tracking is enabled for one or more tables in database '{db}'. Disable change tracking on each table before disabling it for the database. Use the sys.change_tracking_tables catalog view to obtain a list of tables for which change tracking is enabled."),
    )
}

/// Error 4996. docs/relational-databases/errors-events/database-engine-events-and-errors-4000-to-4999.md
pub fn table_already_tracked(table: &str) -> SqlError {
    SqlError::new(
        4996,
        16,
        1,
        format!("Change tracking is already enabled for table '{table}'."),
    )
}

/// Error 4997. docs/relational-databases/errors-events/database-engine-events-and-errors-4000-to-4999.md
pub fn no_primary_key(table: &str) -> SqlError {
    SqlError::new(
        4997,
        16,
        1,
        format!("Cannot enable change tracking on table '{table}'. Change tracking requires a primary key on the table. Create a primary key on the table before enabling change tracking."),
    )
}

/// Error 4998 (DISABLE CHANGE_TRACKING on an untracked table).
/// docs/relational-databases/errors-events/database-engine-events-and-errors-4000-to-4999.md
pub fn disable_untracked(table: &str) -> SqlError {
    SqlError::new(
        4998,
        16,
        1,
        format!("Change tracking is not enabled on table '{table}'."),
    )
}

/// Error 1718. docs/relational-databases/errors-events/database-engine-events-and-errors-1000-to-1999.md
pub fn database_not_tracked(db: &str, table: &str) -> SqlError {
    SqlError::new(
        1718,
        16,
        1,
        format!("Change tracking must be enabled on database '{db}' before it can be enabled on table '{table}'."),
    )
}

/// Error 5088. docs/relational-databases/errors-events/database-engine-events-and-errors-5000-to-5999.md
pub fn database_already_tracked(db: &str) -> SqlError {
    SqlError::new(
        5088,
        16,
        1,
        format!("Change tracking is already enabled for database '{db}'."),
    )
}

/// Error 5089. docs/relational-databases/errors-events/database-engine-events-and-errors-5000-to-5999.md
pub fn database_tracking_disabled(db: &str) -> SqlError {
    SqlError::new(
        5089,
        16,
        1,
        format!("Change tracking is disabled for database '{db}'. Change tracking must be enabled on a database to modify change tracking settings."),
    )
}

/// A failure of our own SQLite side tables: not a SQL Server error, so it
/// uses the engine's generic internal number with the cause.
pub fn storage(e: rusqlite::Error) -> SqlError {
    SqlError::new(
        50000,
        16,
        1,
        format!("mssql-sim change tracking storage error: {e}"),
    )
}
