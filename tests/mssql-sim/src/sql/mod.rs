//! T-SQL text to syntax tree.
pub mod ast;
