//! T-SQL text to syntax tree.
//!
//! [`parse_batch`] is pure (text in, statements out), so the engine may cache
//! its result by batch text.
pub mod ast;
pub mod lexer;
pub mod parser;

pub use parser::{parse_batch, parse_param_declarations, ParamDeclaration};
