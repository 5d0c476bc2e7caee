//! T-SQL text to tokens.
//!
//! Lexical rules follow docs/relational-databases/databases/database-identifiers.md
//! (regular, `[bracketed]` and `"quoted"` identifiers), docs/t-sql/data-types/constants-transact-sql.md
//! (string, `N'unicode'`, `0x` binary, integer, decimal, float and money constants) and
//! docs/t-sql/language-elements/comment-transact-sql.md / slash-star-comment-transact-sql.md
//! (`--` and nested `/* */` comments).
//!
//! Words (keywords and regular identifiers) are kept as byte ranges of the
//! source: the parser compares them case-insensitively without allocating,
//! which keeps a 2000-parameter statement cheap to tokenize.

mod reserved;

pub use reserved::is_reserved;

use crate::error::SqlError;

/// Punctuation and operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sym {
    LParen,
    RParen,
    Comma,
    Dot,
    Semicolon,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    /// `!<` (not less than)
    NotLt,
    /// `!>` (not greater than)
    NotGt,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Amp,
    Pipe,
    Caret,
    Tilde,
    /// `+=`, `-=`, ... compound assignment; carries the arithmetic operator.
    CompoundAssign(CompoundOp),
    /// `::` (scope qualifier, as in `GRANT ... ON SCHEMA::s`); never valid here.
    DoubleColon,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompoundOp {
    Plus,
    Minus,
    Multiply,
    Divide,
    Modulo,
    BitAnd,
    BitOr,
    BitXor,
}

/// A token's kind; its text is the source range (values with escapes are
/// decoded on demand by [`quoted_ident_value`], [`string_value`] and
/// [`binary_value`], so tokens are `Copy` and the parser never clones heap data).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TokKind {
    /// A keyword or regular identifier (also `#temp`, `$action`); text in the source range.
    Word,
    /// `[x]` or `"x"`; the source range includes the delimiters.
    QuotedIdent,
    /// `@name`; the source range includes the `@`.
    Variable,
    /// `@@NAME`; the source range includes the `@@`.
    Global,
    /// `'x'` or `N'x'`; the source range includes the prefix and quotes.
    Str {
        national: bool,
    },
    Integer,
    Decimal,
    Float,
    /// `$12.34`; the source range includes the `$`.
    Money,
    /// `0x0A0B`; the source range includes the `0x`.
    Binary,
    Sym(Sym),
    Eof,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Token {
    pub kind: TokKind,
    /// Byte range in the batch text.
    pub start: usize,
    pub end: usize,
    /// 1-based line of the token's first character.
    pub line: i32,
}

/// Error 105. docs/relational-databases/errors-events/database-engine-events-and-errors-0-to-999.md
pub fn unclosed_quote(rest: &str) -> SqlError {
    SqlError::new(
        105,
        15,
        1,
        format!("Unclosed quotation mark after the character string '{rest}'."),
    )
}

/// Error 113.
pub fn missing_end_comment() -> SqlError {
    SqlError::new(113, 15, 1, "Missing end comment mark '*/'.")
}

fn at_line(mut e: SqlError, line: i32) -> SqlError {
    e.line = line;
    e
}

/// `is_ident_continue` for ASCII bytes, as a table: the lexer's hottest loop.
const ASCII_IDENT_CONTINUE: [bool; 128] = {
    let mut t = [false; 128];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || matches!(b, b'_' | b'#' | b'@' | b'$');
        i += 1;
    }
    t
};

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '#'
}

fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '#' || c == '@' || c == '$'
}

/// Tokenizes a whole batch. The last token is always `Eof`.
pub fn tokenize(src: &str) -> Result<Vec<Token>, SqlError> {
    Lexer {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        line: 1,
    }
    .run()
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    line: i32,
}

impl<'a> Lexer<'a> {
    fn peek_byte(&self, off: usize) -> Option<u8> {
        self.bytes.get(self.pos + off).copied()
    }

    fn peek_char(&self) -> Option<char> {
        match self.bytes.get(self.pos) {
            // ASCII fast path: no UTF-8 decoding for almost all input.
            Some(&b) if b < 0x80 => Some(b as char),
            Some(_) => self.src.get(self.pos..).and_then(|s| s.chars().next()),
            None => None,
        }
    }

    fn run(mut self) -> Result<Vec<Token>, SqlError> {
        // A rough guess: one token per 4 bytes avoids most regrowth; capped,
        // as one long string literal would otherwise reserve memory for
        // millions of tokens that never come.
        let mut out = Vec::with_capacity((self.src.len() / 4 + 1).min(1 << 16));
        loop {
            self.skip_trivia()?;
            let start = self.pos;
            let line = self.line;
            let Some(c) = self.peek_char() else {
                out.push(Token {
                    kind: TokKind::Eof,
                    start,
                    end: start,
                    line,
                });
                return Ok(out);
            };
            let kind = self.token(c)?;
            out.push(Token {
                kind,
                start,
                end: self.pos,
                line,
            });
        }
    }

    /// Skips whitespace and comments, counting lines.
    fn skip_trivia(&mut self) -> Result<(), SqlError> {
        loop {
            match self.peek_byte(0) {
                Some(b'\n') => {
                    self.line += 1;
                    self.pos += 1;
                }
                Some(b' ' | b'\t' | b'\r' | 0x0b | 0x0c) => self.pos += 1,
                Some(b'-') if self.peek_byte(1) == Some(b'-') => {
                    while let Some(b) = self.peek_byte(0) {
                        if b == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                Some(b'/') if self.peek_byte(1) == Some(b'*') => self.block_comment()?,
                Some(b) if b >= 0x80 => match self.peek_char() {
                    Some(c) if c.is_whitespace() => self.pos += c.len_utf8(),
                    _ => return Ok(()),
                },
                _ => return Ok(()),
            }
        }
    }

    /// `/* ... */`, nesting allowed (slash-star-comment-transact-sql.md).
    fn block_comment(&mut self) -> Result<(), SqlError> {
        let line = self.line;
        let mut depth = 0usize;
        loop {
            match (self.peek_byte(0), self.peek_byte(1)) {
                (Some(b'/'), Some(b'*')) => {
                    depth += 1;
                    self.pos += 2;
                }
                (Some(b'*'), Some(b'/')) => {
                    depth -= 1;
                    self.pos += 2;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                (Some(b'\n'), _) => {
                    self.line += 1;
                    self.pos += 1;
                }
                (Some(_), _) => self.pos += 1,
                (None, _) => return Err(at_line(missing_end_comment(), line)),
            }
        }
    }

    fn token(&mut self, c: char) -> Result<TokKind, SqlError> {
        match c {
            '\'' => {
                self.pos += 1;
                self.quoted(b'\'')?;
                Ok(TokKind::Str { national: false })
            }
            'N' | 'n' if self.peek_byte(1) == Some(b'\'') => {
                self.pos += 2;
                self.quoted(b'\'')?;
                Ok(TokKind::Str { national: true })
            }
            '[' => {
                self.pos += 1;
                self.quoted(b']')?;
                Ok(TokKind::QuotedIdent)
            }
            '"' => {
                self.pos += 1;
                self.quoted(b'"')?;
                Ok(TokKind::QuotedIdent)
            }
            '0' if matches!(self.peek_byte(1), Some(b'x' | b'X')) => {
                self.pos += 2;
                while matches!(self.peek_byte(0), Some(b) if b.is_ascii_hexdigit()) {
                    self.pos += 1;
                }
                Ok(TokKind::Binary)
            }
            '0'..='9' => Ok(self.number()),
            '.' if matches!(self.peek_byte(1), Some(b'0'..=b'9')) => Ok(self.number()),
            '@' => {
                if self.peek_byte(1) == Some(b'@') {
                    self.pos += 2;
                    self.word_rest();
                    Ok(TokKind::Global)
                } else {
                    self.pos += 1;
                    self.word_rest();
                    Ok(TokKind::Variable)
                }
            }
            '$' => {
                self.pos += 1;
                match self.peek_char() {
                    Some(d) if d.is_ascii_digit() || d == '.' => {
                        self.money_digits();
                        Ok(TokKind::Money)
                    }
                    // `$action`, `$IDENTITY`, `$ROWGUID`: pseudo-columns.
                    Some(d) if is_ident_start(d) => {
                        self.word_rest();
                        Ok(TokKind::Word)
                    }
                    // A bare `$` is money zero (constants-transact-sql.md: "$" alone).
                    _ => Ok(TokKind::Money),
                }
            }
            c if is_ident_start(c) => {
                self.word_rest();
                Ok(TokKind::Word)
            }
            _ => self.symbol(c),
        }
    }

    fn word_rest(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if b >= 0x80 {
                break;
            }
            if !ASCII_IDENT_CONTINUE[b as usize] {
                return;
            }
            self.pos += 1;
        }
        while let Some(c) = self.peek_char() {
            if !is_ident_continue(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    /// Skips to just past the closing `close`, a doubled `close` standing for
    /// one. `self.pos` is just past the opening quote.
    fn quoted(&mut self, close: u8) -> Result<(), SqlError> {
        let line = self.line;
        let start = self.pos;
        loop {
            // Scan bytes: the delimiters are ASCII so UTF-8 boundaries are kept.
            match self.peek_byte(0) {
                Some(b) if b == close => {
                    if self.peek_byte(1) == Some(close) {
                        self.pos += 2;
                    } else {
                        self.pos += 1;
                        return Ok(());
                    }
                }
                Some(b'\n') => {
                    self.line += 1;
                    self.pos += 1;
                }
                Some(_) => self.pos += 1,
                None => {
                    let rest = undouble(&self.src[start..], close as char);
                    return Err(at_line(unclosed_quote(&rest), line));
                }
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek_byte(0), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> TokKind {
        self.digits();
        let mut kind = TokKind::Integer;
        if self.peek_byte(0) == Some(b'.') {
            self.pos += 1;
            self.digits();
            kind = TokKind::Decimal;
        }
        if matches!(self.peek_byte(0), Some(b'e' | b'E')) {
            // The exponent needs digits, optionally signed; otherwise the `e`
            // is not part of the number.
            let save = self.pos;
            self.pos += 1;
            if matches!(self.peek_byte(0), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() > 0 {
                kind = TokKind::Float;
            } else {
                self.pos = save;
            }
        }
        kind
    }

    fn money_digits(&mut self) {
        self.digits();
        if self.peek_byte(0) == Some(b'.') {
            self.pos += 1;
            self.digits();
        }
    }

    fn symbol(&mut self, c: char) -> Result<TokKind, SqlError> {
        let next = self.peek_byte(1);
        let (sym, len) = match (c, next) {
            ('(', _) => (Sym::LParen, 1),
            (')', _) => (Sym::RParen, 1),
            (',', _) => (Sym::Comma, 1),
            ('.', _) => (Sym::Dot, 1),
            (';', _) => (Sym::Semicolon, 1),
            ('=', _) => (Sym::Eq, 1),
            ('<', Some(b'>')) => (Sym::NotEq, 2),
            ('<', Some(b'=')) => (Sym::LtEq, 2),
            ('<', _) => (Sym::Lt, 1),
            ('>', Some(b'=')) => (Sym::GtEq, 2),
            ('>', _) => (Sym::Gt, 1),
            ('!', Some(b'=')) => (Sym::NotEq, 2),
            ('!', Some(b'<')) => (Sym::NotLt, 2),
            ('!', Some(b'>')) => (Sym::NotGt, 2),
            ('+', Some(b'=')) => (Sym::CompoundAssign(CompoundOp::Plus), 2),
            ('-', Some(b'=')) => (Sym::CompoundAssign(CompoundOp::Minus), 2),
            ('*', Some(b'=')) => (Sym::CompoundAssign(CompoundOp::Multiply), 2),
            ('/', Some(b'=')) => (Sym::CompoundAssign(CompoundOp::Divide), 2),
            ('%', Some(b'=')) => (Sym::CompoundAssign(CompoundOp::Modulo), 2),
            ('&', Some(b'=')) => (Sym::CompoundAssign(CompoundOp::BitAnd), 2),
            ('|', Some(b'=')) => (Sym::CompoundAssign(CompoundOp::BitOr), 2),
            ('^', Some(b'=')) => (Sym::CompoundAssign(CompoundOp::BitXor), 2),
            ('+', _) => (Sym::Plus, 1),
            ('-', _) => (Sym::Minus, 1),
            ('*', _) => (Sym::Star, 1),
            ('/', _) => (Sym::Slash, 1),
            ('%', _) => (Sym::Percent, 1),
            ('&', _) => (Sym::Amp, 1),
            ('|', _) => (Sym::Pipe, 1),
            ('^', _) => (Sym::Caret, 1),
            ('~', _) => (Sym::Tilde, 1),
            (':', Some(b':')) => (Sym::DoubleColon, 2),
            _ => {
                return Err(at_line(
                    crate::error::syntax_near(&c.to_string()),
                    self.line,
                ));
            }
        };
        self.pos += len;
        Ok(TokKind::Sym(sym))
    }
}

/// `raw` with each doubled quote `q` (`'`, `]` or `"`) made single.
fn undouble(raw: &str, q: char) -> String {
    let (two, one) = match q {
        ']' => ("]]", "]"),
        '"' => ("\"\"", "\""),
        _ => ("''", "'"),
    };
    if !raw.contains(two) {
        return raw.to_string();
    }
    raw.replace(two, one)
}

/// The identifier of a `[x]` or `"x"` token's text.
pub fn quoted_ident_value(raw: &str) -> String {
    let close = if raw.starts_with('[') { ']' } else { '"' };
    undouble(raw.get(1..raw.len().saturating_sub(1)).unwrap_or(""), close)
}

/// The value of a `'x'` or `N'x'` token's text.
pub fn string_value(raw: &str) -> String {
    let inner = raw.strip_prefix(['N', 'n']).unwrap_or(raw);
    undouble(
        inner.get(1..inner.len().saturating_sub(1)).unwrap_or(""),
        '\'',
    )
}

/// The bytes of a `0x...` token's text; an odd digit count gets a leading
/// zero, as SQL Server reads `0x1` as `0x01`.
pub fn binary_value(raw: &str) -> Vec<u8> {
    let digits = raw.as_bytes().get(2..).unwrap_or(&[]);
    let mut out = Vec::with_capacity(digits.len() / 2 + 1);
    let mut iter = digits.iter().map(|b| hex_val(*b));
    if digits.len() % 2 == 1 {
        if let Some(lo) = iter.next() {
            out.push(lo);
        }
    }
    while let (Some(hi), Some(lo)) = (iter.next(), iter.next()) {
        out.push(hi << 4 | lo);
    }
    out
}

fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests;
