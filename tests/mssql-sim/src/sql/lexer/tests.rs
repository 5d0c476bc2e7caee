//! Lexer tests.

use super::reserved::RESERVED;
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
