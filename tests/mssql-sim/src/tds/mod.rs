//! The TDS wire protocol (MS-TDS), server side.
//!
//! Mirrors what tiberius 0.13 encodes and decodes (its `src/tds/codec/*` and
//! `src/tds/stream/token.rs`), following the MS-TDS specification for the
//! layouts: packets (2.2.3), PRELOGIN (2.2.6.5), LOGIN7 (2.2.6.4), SQL batch
//! (2.2.6.7), RPC (2.2.6.6), transaction manager requests (2.2.6.9), BULK LOAD
//! (2.2.6.1) and the token stream (2.2.7).

pub mod bulk;
pub mod login;
pub mod packet;
pub mod prelogin;
pub mod reply;
pub mod rpc;
pub mod src;
pub mod tokens;
pub mod types;

pub use src::{Src, TdsError};
