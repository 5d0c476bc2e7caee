//! T-SQL text to syntax tree.
//!
//! - [`parse_batch`]: a whole batch (SQL batch packet or `sp_executesql`'s
//!   statement) into its statements, each with its line and own text. It is
//!   pure (text in, statements out), so the engine may cache its result by
//!   batch text.
//! - [`parse_param_declarations`]: `sp_executesql`'s `@params` definition.
//!
//! Errors are SQL Server's compile errors, which fail the whole batch before
//! any of it runs: 102/156 syntax errors at the offending token (its line),
//! 105 unclosed quote, 113 unclosed comment, 103 identifier too long, 111
//! CREATE SCHEMA not first, 141 assignment mixed with retrieval, 191 nested
//! too deeply, 195 unknown SET option, 319 WITH after an unterminated
//! statement, 1033 ORDER BY in a subquery, 4145 non-boolean condition, 8631
//! over-long operator chain, 10710/10711/10713/10714/5324 MERGE rules, 10738
//! over 1000 INSERT rows, 22104 CHANGETABLE without alias. Valid T-SQL the
//! stand-in does not implement is a 102/156 error whose message ends with
//! "(mssql-sim does not support ...)".
pub mod ast;
pub mod lexer;
pub mod parser;

pub use parser::{parse_batch, parse_param_declarations, ParamDeclaration};
