//! mssql-sim: a SQL Server stand-in that speaks TDS, for tests of ctsync.
//!
//! It is not a database for production: it exists because no SQL Server can be
//! installed where ctsync is built and tested. It follows SQL Server's documented
//! behaviour for the work ctsync does (see `../shared/SIM-SPEC.md`): the TDS
//! protocol as tiberius 0.13 speaks it, a T-SQL subset executed on SQLite, Change
//! Tracking, SNAPSHOT isolation, catalog views and SQL Server's error numbers.
//!
//! Layers:
//! - [`tds`]: the wire protocol (packets, PRELOGIN, LOGIN7, tokens, RPC, bulk load).
//! - [`server`]: listener, one thread per connection, the test controls.
//! - [`sql`]: T-SQL lexer and parser into [`sql::ast`].
//! - [`engine`]: executes statements on SQLite with SQL Server semantics.

pub mod controls;
pub mod engine;
pub mod error;
pub mod server;
pub mod sql;
pub mod tds;
pub mod value;

pub use controls::Controls;
pub use error::SqlError;
pub use server::{SimConfig, SimServer, TlsConfig};
pub use value::{ColumnMeta, Len, Param, SqlType, Value};
