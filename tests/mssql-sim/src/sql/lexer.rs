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
        // A rough guess: one token per 4 bytes avoids most regrowth.
        let mut out = Vec::with_capacity(self.src.len() / 4 + 1);
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

/// The T-SQL reserved keywords (docs/t-sql/language-elements/reserved-keywords-transact-sql.md).
/// A reserved word cannot be a regular identifier, and a syntax error at one
/// is reported as error 156 ("near the keyword") instead of 102.
pub fn is_reserved(word: &str) -> bool {
    // Longest reserved keyword is SEMANTICSIMILARITYDETAILSTABLE (30 chars).
    if word.len() > 30 || word.len() < 2 {
        return false;
    }
    let mut buf = [0u8; 30];
    let upper = &mut buf[..word.len()];
    upper.copy_from_slice(word.as_bytes());
    upper.make_ascii_uppercase();
    RESERVED.binary_search(&&*upper).is_ok()
}

/// Sorted (byte order) for binary search; checked by a test.
const RESERVED: &[&[u8]] = &[
    b"ADD",
    b"ALL",
    b"ALTER",
    b"AND",
    b"ANY",
    b"AS",
    b"ASC",
    b"AUTHORIZATION",
    b"BACKUP",
    b"BEGIN",
    b"BETWEEN",
    b"BREAK",
    b"BROWSE",
    b"BULK",
    b"BY",
    b"CASCADE",
    b"CASE",
    b"CHECK",
    b"CHECKPOINT",
    b"CLOSE",
    b"CLUSTERED",
    b"COALESCE",
    b"COLLATE",
    b"COLUMN",
    b"COMMIT",
    b"COMPUTE",
    b"CONSTRAINT",
    b"CONTAINS",
    b"CONTAINSTABLE",
    b"CONTINUE",
    b"CONVERT",
    b"CREATE",
    b"CROSS",
    b"CURRENT",
    b"CURRENT_DATE",
    b"CURRENT_TIME",
    b"CURRENT_TIMESTAMP",
    b"CURRENT_USER",
    b"CURSOR",
    b"DATABASE",
    b"DBCC",
    b"DEALLOCATE",
    b"DECLARE",
    b"DEFAULT",
    b"DELETE",
    b"DENY",
    b"DESC",
    b"DISK",
    b"DISTINCT",
    b"DISTRIBUTED",
    b"DOUBLE",
    b"DROP",
    b"DUMP",
    b"ELSE",
    b"END",
    b"ERRLVL",
    b"ESCAPE",
    b"EXCEPT",
    b"EXEC",
    b"EXECUTE",
    b"EXISTS",
    b"EXIT",
    b"EXTERNAL",
    b"FETCH",
    b"FILE",
    b"FILLFACTOR",
    b"FOR",
    b"FOREIGN",
    b"FREETEXT",
    b"FREETEXTTABLE",
    b"FROM",
    b"FULL",
    b"FUNCTION",
    b"GOTO",
    b"GRANT",
    b"GROUP",
    b"HAVING",
    b"HOLDLOCK",
    b"IDENTITY",
    b"IDENTITYCOL",
    b"IDENTITY_INSERT",
    b"IF",
    b"IN",
    b"INDEX",
    b"INNER",
    b"INSERT",
    b"INTERSECT",
    b"INTO",
    b"IS",
    b"JOIN",
    b"KEY",
    b"KILL",
    b"LEFT",
    b"LIKE",
    b"LINENO",
    b"LOAD",
    b"MERGE",
    b"NATIONAL",
    b"NOCHECK",
    b"NONCLUSTERED",
    b"NOT",
    b"NULL",
    b"NULLIF",
    b"OF",
    b"OFF",
    b"OFFSETS",
    b"ON",
    b"OPEN",
    b"OPENDATASOURCE",
    b"OPENQUERY",
    b"OPENROWSET",
    b"OPENXML",
    b"OPTION",
    b"OR",
    b"ORDER",
    b"OUTER",
    b"OVER",
    b"PERCENT",
    b"PIVOT",
    b"PLAN",
    b"PRECISION",
    b"PRIMARY",
    b"PRINT",
    b"PROC",
    b"PROCEDURE",
    b"PUBLIC",
    b"RAISERROR",
    b"READ",
    b"READTEXT",
    b"RECONFIGURE",
    b"REFERENCES",
    b"REPLICATION",
    b"RESTORE",
    b"RESTRICT",
    b"RETURN",
    b"REVERT",
    b"REVOKE",
    b"RIGHT",
    b"ROLLBACK",
    b"ROWCOUNT",
    b"ROWGUIDCOL",
    b"RULE",
    b"SAVE",
    b"SCHEMA",
    b"SECURITYAUDIT",
    b"SELECT",
    b"SEMANTICKEYPHRASETABLE",
    b"SEMANTICSIMILARITYDETAILSTABLE",
    b"SEMANTICSIMILARITYTABLE",
    b"SESSION_USER",
    b"SET",
    b"SETUSER",
    b"SHUTDOWN",
    b"SOME",
    b"STATISTICS",
    b"SYSTEM_USER",
    b"TABLE",
    b"TABLESAMPLE",
    b"TEXTSIZE",
    b"THEN",
    b"TO",
    b"TOP",
    b"TRAN",
    b"TRANSACTION",
    b"TRIGGER",
    b"TRUNCATE",
    b"TRY_CONVERT",
    b"TSEQUAL",
    b"UNION",
    b"UNIQUE",
    b"UNPIVOT",
    b"UPDATE",
    b"UPDATETEXT",
    b"USE",
    b"USER",
    b"VALUES",
    b"VARYING",
    b"VIEW",
    b"WAITFOR",
    b"WHEN",
    b"WHERE",
    b"WHILE",
    b"WITH",
    b"WITHIN",
    b"WRITETEXT",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<TokKind> {
        tokenize(s)
            .map(|t| t.into_iter().map(|t| t.kind).collect())
            .unwrap_or_default()
    }

    fn texts(s: &str) -> Vec<&str> {
        tokenize(s)
            .map(|t| t.into_iter().map(|t| &s[t.start..t.end]).collect())
            .unwrap_or_default()
    }

    #[test]
    fn reserved_list_is_sorted_and_searchable() {
        assert!(RESERVED.windows(2).all(|w| w[0] < w[1]));
        assert!(is_reserved("select"));
        assert!(is_reserved("FrOm"));
        assert!(is_reserved("IDENTITY_INSERT"));
        assert!(!is_reserved("CHANGE_TRACKING"));
        assert!(!is_reserved("GO"));
        assert!(!is_reserved(""));
    }

    #[test]
    fn strings_and_escapes() {
        let src = "N'it''s' 'x' n'\u{e9}'' ' ''";
        assert_eq!(
            kinds(src),
            vec![
                TokKind::Str { national: true },
                TokKind::Str { national: false },
                TokKind::Str { national: true },
                TokKind::Str { national: false },
                TokKind::Eof
            ]
        );
        let values: Vec<_> = texts(src)[..4].iter().map(|t| string_value(t)).collect();
        assert_eq!(values, vec!["it's", "x", "\u{e9}' ", ""]);
        let e = tokenize("SELECT 'abc").unwrap_err();
        assert_eq!(e.number, 105);
        assert_eq!(
            e.message,
            "Unclosed quotation mark after the character string 'abc'."
        );
    }

    #[test]
    fn identifiers() {
        let src = "[My]]Table] \"a\"\"b\" []";
        assert_eq!(kinds(src)[0], TokKind::QuotedIdent);
        let values: Vec<_> = texts(src)[..3]
            .iter()
            .map(|t| quoted_ident_value(t))
            .collect();
        assert_eq!(values, vec!["My]Table", "a\"b", ""]);
        let toks = tokenize("@p1 @@ROWCOUNT #tmp $action").unwrap_or_default();
        let k: Vec<_> = toks.iter().map(|t| t.kind).collect();
        assert_eq!(
            k,
            vec![
                TokKind::Variable,
                TokKind::Global,
                TokKind::Word,
                TokKind::Word,
                TokKind::Eof
            ]
        );
    }

    #[test]
    fn numbers_and_binary() {
        let src = "42 1.5 .5 1e3 2.5E-2 $12.34 0x0A0b 0x1 0x";
        let bins: Vec<_> = texts(src)[6..9].iter().map(|t| binary_value(t)).collect();
        assert_eq!(bins, vec![vec![0x0a, 0x0b], vec![0x01], vec![]]);
        assert_eq!(
            kinds(src),
            vec![
                TokKind::Integer,
                TokKind::Decimal,
                TokKind::Decimal,
                TokKind::Float,
                TokKind::Float,
                TokKind::Money,
                TokKind::Binary,
                TokKind::Binary,
                TokKind::Binary,
                TokKind::Eof
            ]
        );
    }

    #[test]
    fn comments_and_lines() {
        let toks = tokenize("a -- x\n/* b /* nested */ still */ c\nd").unwrap_or_default();
        let lines: Vec<_> = toks.iter().map(|t| t.line).collect();
        assert_eq!(lines, vec![1, 2, 3, 3]);
        let e = tokenize("a /* /* */").unwrap_err();
        assert_eq!(e.number, 113);
    }

    #[test]
    fn operators() {
        assert_eq!(
            kinds("<> != !< >= += ::"),
            vec![
                TokKind::Sym(Sym::NotEq),
                TokKind::Sym(Sym::NotEq),
                TokKind::Sym(Sym::NotLt),
                TokKind::Sym(Sym::GtEq),
                TokKind::Sym(Sym::CompoundAssign(CompoundOp::Plus)),
                TokKind::Sym(Sym::DoubleColon),
                TokKind::Eof
            ]
        );
        assert_eq!(tokenize("SELECT ?").unwrap_err().number, 102);
    }
}
