//! Recursive-descent T-SQL parser over the tokens of [`super::lexer`].
//!
//! Grammar references: docs/t-sql/statements/*.md, docs/t-sql/queries/*.md and
//! docs/t-sql/language-elements/*.md of MicrosoftDocs/sql-docs.
//!
//! Errors are SQL Server's compile errors: 102 ("Incorrect syntax near 'x'.")
//! or 156 ("... near the keyword 'FROM'.") at the first token that cannot
//! continue the statement, with that token's line, and 191 when the text nests
//! deeper than [`MAX_DEPTH`]. A syntax error anywhere fails the whole batch, as
//! SQL Server compiles a batch before running any of it.

mod alter;
mod ddl;
mod dml;
mod expr;
mod flow;
mod from;
mod select;
mod set;
mod stmt;
#[cfg(test)]
mod tests;
mod trigger;

use super::ast::{BinaryOp, DataType, Expr, Located, ObjectName, UnaryOp};
use super::lexer::{is_reserved, quoted_ident_value, string_value, tokenize, Sym, TokKind, Token};
use crate::error::{syntax_keyword, syntax_near, SqlError};

/// How deep expressions, subqueries and blocks may nest.
pub const MAX_DEPTH: usize = 200;

/// How much stack the parser may use, measured from `parse_batch`'s frame.
/// Unoptimised builds spend up to ~12 KiB per nesting level (a subquery in a
/// FROM clause), optimised ones far less, so a level count alone cannot keep
/// a thread stack safe in both; the measured budget can. Beyond it the text
/// is "nested too deeply" (191), as it is beyond [`MAX_DEPTH`]. Half of the
/// 2 MiB `std::thread::spawn` gives, leaving the rest to the caller.
pub const STACK_BUDGET: usize = 1024 * 1024;

/// How long a path of chained binary operators (`a OR b OR c ...`,
/// `x + y + ...`) may be. Such chains are parsed by a loop, but they build a tree
/// as deep as they are long, and whoever walks or drops the tree recurses
/// that deep. SQL Server itself gives up somewhere between 3,000 and 6,000
/// terms (error 8631); the stand-in stops earlier to stay within a 2 MiB
/// thread stack in unoptimised builds. Flat lists (`IN (...)`, VALUES rows,
/// select lists) are not chains and are not limited by this.
pub const MAX_CHAIN: usize = 1000;

/// Error 8631 (class 17, as SQL Server raises it for over-deep expressions).
pub fn stack_limit_reached() -> SqlError {
    SqlError::new(
        8631,
        17,
        1,
        "Internal error: Server stack limit has been reached. Please look for potentially deep nesting in your query, and try to simplify it.",
    )
}

/// An address in the current stack frame, to measure stack use.
#[inline(never)]
fn stack_marker() -> usize {
    let x = 0u8;
    std::hint::black_box(&x) as *const u8 as usize
}

/// The longest identifier SQL Server accepts: sysname, nvarchar(128), so
/// counted in UTF-16 code units.
pub const MAX_IDENTIFIER_CHARS: usize = 128;

/// The byte length of the longest prefix of `s` within `max` UTF-16 units,
/// if `s` is longer than that.
fn utf16_cut(s: &str, max: usize) -> Option<usize> {
    let mut units = 0;
    for (i, c) in s.char_indices() {
        units += c.len_utf16();
        if units > max {
            return Some(i);
        }
    }
    None
}

/// Error 191. docs/relational-databases/errors-events/database-engine-events-and-errors-0-to-999.md
pub fn nested_too_deeply() -> SqlError {
    SqlError::new(
        191,
        15,
        1,
        "Some part of your SQL statement is nested too deeply. Rewrite the query or break it up into smaller queries.",
    )
}

/// Error 10713. docs/t-sql/statements/merge-transact-sql.md: "The MERGE statement
/// requires a semicolon (;) as a statement terminator."
pub fn merge_needs_semicolon() -> SqlError {
    SqlError::new(
        10713,
        15,
        1,
        "A MERGE statement must be terminated by a semi-colon (;).",
    )
}

/// Parses a whole batch into its statements.
pub fn parse_batch(text: &str) -> Result<Vec<Located>, SqlError> {
    let tokens = tokenize(text)?;
    let mut p = Parser {
        src: text,
        toks: tokens,
        pos: 0,
        depth: 0,
        spine: 0,
        prev_end: 0,
        stack_base: stack_marker(),
        loops: 0,
        catches: 0,
    };
    p.batch()
}

/// One declared parameter of `sp_executesql`'s `@params` text: name without
/// `@`, type, and whether it is OUTPUT.
pub type ParamDeclaration = (String, DataType, bool);

/// Parses `sp_executesql`'s parameter definition string
/// (`@P1 int, @P2 nvarchar(4000) OUTPUT`; sp-executesql-transact-sql.md).
/// Empty text declares nothing.
pub fn parse_param_declarations(text: &str) -> Result<Vec<ParamDeclaration>, SqlError> {
    let tokens = tokenize(text)?;
    let mut p = Parser {
        src: text,
        toks: tokens,
        pos: 0,
        depth: 0,
        spine: 0,
        prev_end: 0,
        stack_base: stack_marker(),
        loops: 0,
        catches: 0,
    };
    let mut out = Vec::new();
    if p.at_eof() {
        return Ok(out);
    }
    loop {
        let t = *p.peek();
        if !matches!(t.kind, TokKind::Variable) {
            return Err(p.error_at(&t));
        }
        p.advance();
        let name = p.text(&t)[1..].to_string();
        p.eat_kw("AS");
        let ty = p.data_type()?;
        if p.eat_sym(Sym::Eq) {
            // A default value: only used when the caller omits the argument.
            p.expr()?;
        }
        let output = p.eat_kw("OUTPUT") || p.eat_kw("OUT");
        p.eat_kw("READONLY");
        out.push((name, ty, output));
        if !p.eat_sym(Sym::Comma) {
            break;
        }
    }
    if !p.at_eof() {
        return Err(p.error_here());
    }
    Ok(out)
}

/// Whether `e` is a predicate (boolean-valued) rather than a scalar. Walks
/// AND/OR/NOT with an explicit stack: chains may be long.
fn is_predicate(e: &Expr) -> bool {
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match e {
            Expr::Binary {
                op: BinaryOp::And | BinaryOp::Or,
                left,
                right,
            } => {
                stack.push(left);
                stack.push(right);
            }
            Expr::Binary {
                op:
                    BinaryOp::Eq
                    | BinaryOp::NotEq
                    | BinaryOp::Lt
                    | BinaryOp::LtEq
                    | BinaryOp::Gt
                    | BinaryOp::GtEq,
                ..
            }
            | Expr::IsNull { .. }
            | Expr::InList { .. }
            | Expr::InSubquery { .. }
            | Expr::Between { .. }
            | Expr::Like { .. }
            | Expr::Exists { .. } => {}
            Expr::Unary {
                op: UnaryOp::Not,
                expr,
            } => stack.push(expr),
            Expr::Nested(inner) => stack.push(inner),
            _ => return false,
        }
    }
    true
}

pub(crate) struct Parser<'a> {
    src: &'a str,
    /// Always ends with an `Eof` token.
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    /// Operators chained left-deep along the current expression path; see
    /// [`MAX_CHAIN`].
    spine: usize,
    /// End offset of the last consumed token (for statement texts).
    prev_end: usize,
    /// [`stack_marker`] at the start of the parse.
    stack_base: usize,
    /// Enclosing WHILE loops and CATCH blocks, for BREAK/CONTINUE and THROW.
    loops: usize,
    catches: usize,
}

/// The keywords that begin a statement; a word after a complete statement
/// that is one of these starts the next statement.
const STATEMENT_STARTS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "MERGE",
    "WITH",
    "CREATE",
    "DROP",
    "ALTER",
    "TRUNCATE",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVE",
    "SET",
    "DECLARE",
    "EXEC",
    "EXECUTE",
    "USE",
    "IF",
    "PRINT",
    "RAISERROR",
];

impl<'a> Parser<'a> {
    // ----- token access ---------------------------------------------------

    pub(crate) fn peek(&self) -> &Token {
        self.peek_at(0)
    }

    pub(crate) fn peek_at(&self, n: usize) -> &Token {
        let i = (self.pos + n).min(self.toks.len() - 1);
        &self.toks[i]
    }

    pub(crate) fn advance(&mut self) -> Token {
        let i = self.pos.min(self.toks.len() - 1);
        let t = self.toks[i];
        if !matches!(t.kind, TokKind::Eof) {
            self.pos += 1;
            self.prev_end = t.end;
        }
        t
    }

    pub(crate) fn text(&self, t: &Token) -> &'a str {
        self.src.get(t.start..t.end).unwrap_or("")
    }

    pub(crate) fn at_eof(&self) -> bool {
        matches!(self.peek().kind, TokKind::Eof)
    }

    /// Whether token `n` ahead is the (case-insensitive) word `kw`.
    pub(crate) fn is_kw_at(&self, n: usize, kw: &str) -> bool {
        let t = self.peek_at(n);
        matches!(t.kind, TokKind::Word) && self.text(t).eq_ignore_ascii_case(kw)
    }

    pub(crate) fn is_kw(&self, kw: &str) -> bool {
        self.is_kw_at(0, kw)
    }

    pub(crate) fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.advance();
            true
        } else {
            false
        }
    }

    pub(crate) fn expect_kw(&mut self, kw: &str) -> Result<(), SqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.error_here())
        }
    }

    pub(crate) fn is_sym_at(&self, n: usize, s: Sym) -> bool {
        matches!(self.peek_at(n).kind, TokKind::Sym(x) if x == s)
    }

    pub(crate) fn is_sym(&self, s: Sym) -> bool {
        self.is_sym_at(0, s)
    }

    pub(crate) fn eat_sym(&mut self, s: Sym) -> bool {
        if self.is_sym(s) {
            self.advance();
            true
        } else {
            false
        }
    }

    pub(crate) fn expect_sym(&mut self, s: Sym) -> Result<(), SqlError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.error_here())
        }
    }

    /// The current word upper-cased, if the current token is a word.
    pub(crate) fn word_upper(&self) -> Option<String> {
        let t = self.peek();
        match t.kind {
            TokKind::Word => Some(self.text(t).to_ascii_uppercase()),
            _ => None,
        }
    }

    // ----- errors -----------------------------------------------------------

    /// The syntax error SQL Server reports at token `t`: 156 for a reserved
    /// keyword, 102 otherwise, with the token's line.
    pub(crate) fn error_at(&self, t: &Token) -> SqlError {
        let t = self.named_token(t);
        let text = self.near_text(&t);
        let mut e = if matches!(t.kind, TokKind::Word) && is_reserved(&text) {
            syntax_keyword(&text)
        } else {
            syntax_near(&text)
        };
        e.line = t.line;
        e
    }

    /// The token an error message names: at the end of the text SQL Server
    /// names the last token read.
    fn named_token(&self, t: &Token) -> Token {
        if matches!(t.kind, TokKind::Eof) {
            if let Some(prev) = self.pos.checked_sub(1).and_then(|i| self.toks.get(i)) {
                return *prev;
            }
        }
        *t
    }

    /// The line of the token an error at the current position names.
    pub(crate) fn named_line(&self) -> i32 {
        self.named_token(self.peek()).line
    }

    /// How a token is quoted in "near '...'" messages: as written, with
    /// delimited identifiers and strings shown by their value.
    fn near_text(&self, t: &Token) -> String {
        match t.kind {
            TokKind::QuotedIdent => quoted_ident_value(self.text(t)),
            TokKind::Str { .. } => string_value(self.text(t)),
            TokKind::Eof => String::new(),
            _ => self.text(t).to_string(),
        }
    }

    /// A search condition (WHERE, HAVING, ON, IF, WHEN, CHECK): an expression
    /// that is a predicate, or error 4145 naming the token after it.
    pub(crate) fn condition(&mut self) -> Result<Expr, SqlError> {
        let e = self.boolean_expr()?;
        if is_predicate(&e) {
            return Ok(e);
        }
        let t = self.named_token(self.peek());
        let mut err = SqlError::new(
            4145,
            15,
            1,
            format!(
                "An expression of non-boolean type specified in a context where a condition is expected, near '{}'.",
                self.near_text(&t)
            ),
        );
        err.line = t.line;
        Err(err)
    }

    pub(crate) fn error_here(&self) -> SqlError {
        self.error_at(self.peek())
    }

    /// A syntax error for valid T-SQL the stand-in does not implement: SQL
    /// Server's 102/156 shape at the construct's first token, with a note naming
    /// what is missing so a test failure is easy to read.
    pub(crate) fn unsupported_at(&self, t: &Token, construct: &str) -> SqlError {
        let mut e = self.error_at(t);
        e.message = format!("{} (mssql-sim does not support {construct})", e.message);
        e
    }

    pub(crate) fn unsupported(&self, construct: &str) -> SqlError {
        self.unsupported_at(self.peek(), construct)
    }

    // ----- depth guard --------------------------------------------------------

    pub(crate) fn enter(&mut self) -> Result<(), SqlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH || self.stack_base.abs_diff(stack_marker()) > STACK_BUDGET {
            let mut e = nested_too_deeply();
            e.line = self.peek().line;
            return Err(e);
        }
        Ok(())
    }

    pub(crate) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    // ----- names ----------------------------------------------------------------

    /// Whether the current token can be an identifier (regular non-reserved
    /// word or delimited identifier).
    pub(crate) fn is_ident(&self) -> bool {
        self.is_ident_at(0)
    }

    pub(crate) fn is_ident_at(&self, n: usize) -> bool {
        let t = self.peek_at(n);
        match &t.kind {
            TokKind::Word => !is_reserved(self.text(t)),
            TokKind::QuotedIdent => true,
            _ => false,
        }
    }

    /// One identifier part, brackets removed; at most 128 characters
    /// (database-identifiers.md), error 103 beyond.
    pub(crate) fn ident(&mut self) -> Result<String, SqlError> {
        let t = *self.peek();
        let s = match &t.kind {
            TokKind::Word if !is_reserved(self.text(&t)) => self.text(&t).to_string(),
            TokKind::QuotedIdent => quoted_ident_value(self.text(&t)),
            _ => return Err(self.error_here()),
        };
        if let Some(cut) = utf16_cut(&s, MAX_IDENTIFIER_CHARS) {
            let mut e = SqlError::new(
                103,
                15,
                4,
                format!(
                    "The identifier that starts with '{}' is too long. Maximum length is {MAX_IDENTIFIER_CHARS}.",
                    &s[..cut]
                ),
            );
            e.line = t.line;
            return Err(e);
        }
        self.advance();
        Ok(s)
    }

    /// `a`, `s.a`, `d.s.a`, `d..a` (empty schema part means the default).
    pub(crate) fn object_name(&mut self) -> Result<ObjectName, SqlError> {
        let mut parts = vec![self.ident()?];
        while self.is_sym(Sym::Dot) && parts.len() < 4 {
            self.advance();
            if self.is_sym(Sym::Dot) {
                // `db..t`: the schema part left out.
                parts.push(String::new());
                continue;
            }
            parts.push(self.ident()?);
        }
        if parts.len() > 3 {
            // Four-part names go through a linked server.
            return Err(self.unsupported("four-part (linked server) names"));
        }
        if parts.last().is_some_and(|p| p.is_empty()) {
            return Err(self.error_here());
        }
        Ok(ObjectName { parts })
    }

    /// `(a, b, c)` identifier list.
    pub(crate) fn paren_ident_list(&mut self) -> Result<Vec<String>, SqlError> {
        self.expect_sym(Sym::LParen)?;
        let mut out = vec![self.ident()?];
        while self.eat_sym(Sym::Comma) {
            out.push(self.ident()?);
        }
        self.expect_sym(Sym::RParen)?;
        Ok(out)
    }

    /// Skips a balanced parenthesised group (table hints, index options,
    /// `OPTION (...)`): accepted and ignored. The current token is `(`.
    pub(crate) fn skip_parens(&mut self) -> Result<(), SqlError> {
        self.expect_sym(Sym::LParen)?;
        let mut depth = 1usize;
        loop {
            let t = self.advance();
            match t.kind {
                TokKind::Sym(Sym::LParen) => depth += 1,
                TokKind::Sym(Sym::RParen) => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                TokKind::Eof => return Err(self.error_at(&t)),
                _ => {}
            }
        }
    }

    /// Whether the current word begins a new statement (ends an unterminated one).
    pub(crate) fn at_statement_start(&self) -> bool {
        let t = self.peek();
        matches!(t.kind, TokKind::Word)
            && STATEMENT_STARTS
                .iter()
                .any(|k| self.text(t).eq_ignore_ascii_case(k))
    }

    // ----- batch ------------------------------------------------------------------

    fn batch(&mut self) -> Result<Vec<Located>, SqlError> {
        let mut out = Vec::new();
        loop {
            let mut terminated = out.is_empty();
            while self.eat_sym(Sym::Semicolon) {
                terminated = true;
            }
            if self.at_eof() {
                return Ok(out);
            }
            self.check_with_terminated(terminated)?;
            let first = out.is_empty();
            out.push(self.located(first)?);
        }
    }

    /// A statement starting with WITH (CTE, change tracking context) must
    /// follow a `;` unless it starts the batch or block: error 319.
    pub(crate) fn check_with_terminated(&self, terminated: bool) -> Result<(), SqlError> {
        if terminated || !self.is_kw("WITH") {
            return Ok(());
        }
        let t = self.peek();
        let mut e = SqlError::new(
            319,
            15,
            1,
            format!(
                "Incorrect syntax near the keyword '{}'. If this statement is a common table expression, an xmlnamespaces clause or a change tracking context clause, the previous statement must be terminated with a semicolon.",
                self.text(t)
            ),
        );
        e.line = t.line;
        Err(e)
    }

    /// One statement with its line and text. `first_in_batch` allows the
    /// implicit EXEC of a bare procedure name (execute-transact-sql.md: "you
    /// don't need EXECUTE if the statement is the first one in a batch").
    pub(crate) fn located(&mut self, first_in_batch: bool) -> Result<Located, SqlError> {
        let start_tok = *self.peek();
        let stmt = self.statement(first_in_batch)?;
        let end = self.prev_end.max(start_tok.start);
        let text = self.src.get(start_tok.start..end).unwrap_or("").to_string();
        Ok(Located {
            line: start_tok.line,
            text,
            stmt,
        })
    }
}
