//! DML triggers (docs/t-sql/statements/create-trigger-transact-sql.md,
//! alter-trigger-transact-sql.md).

use super::{Located, ObjectName};

/// The statements that fire a trigger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TriggerEvents {
    pub insert: bool,
    pub update: bool,
    pub delete: bool,
}

/// `CREATE [OR ALTER] TRIGGER name ON table {AFTER | FOR} INSERT, UPDATE,
/// DELETE AS body` or `ALTER TRIGGER ...`. The body runs to the end of the
/// batch ("CREATE TRIGGER must be the first statement in the batch").
#[derive(Debug, Clone, PartialEq)]
pub struct CreateTrigger {
    pub name: ObjectName,
    pub table: ObjectName,
    pub events: TriggerEvents,
    /// `ALTER TRIGGER`: the trigger must exist.
    pub alter: bool,
    /// `CREATE OR ALTER TRIGGER`.
    pub or_alter: bool,
    /// The body's statements (parsed again from `definition` when it fires).
    pub body: Vec<Located>,
    /// The whole text from CREATE/ALTER to the end of the batch, as
    /// `sys.sql_modules.definition` keeps it.
    pub definition: String,
}
