//! LIKE under a collation (docs/t-sql/language-elements/like-transact-sql.md):
//! `%` any string, `_` one character, `[abc]`, `[a-f]`, `[^...]`, an ESCAPE
//! character; characters match when they are equal under the collation
//! (docs/relational-databases/collations/collation-and-unicode-support.md).
//!
//! The translator uses SQLite's LIKE (case-insensitive for ASCII) for the
//! database default collation, as before, and `sim_like` for every other.

use super::collation::{compare, Rule};
use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value as DbValue, ValueRef};
use rusqlite::Connection;
use std::cmp::Ordering;

fn eq(rule: &Rule, a: char, b: char) -> bool {
    a == b
        || compare(rule, a.encode_utf8(&mut [0; 4]), b.encode_utf8(&mut [0; 4])) == Ordering::Equal
}

fn le(rule: &Rule, a: char, b: char) -> bool {
    compare(rule, a.encode_utf8(&mut [0; 4]), b.encode_utf8(&mut [0; 4])) != Ordering::Greater
}

/// One element of a pattern.
enum Pat {
    Any,
    One,
    Char(char),
    Set {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

fn compile(p: &str, escape: Option<char>) -> Vec<Pat> {
    let cs: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        i += 1;
        if Some(c) == escape && i < cs.len() {
            out.push(Pat::Char(cs[i]));
            i += 1;
            continue;
        }
        match c {
            '%' => out.push(Pat::Any),
            '_' => out.push(Pat::One),
            '[' => match cs[i..].iter().position(|&x| x == ']') {
                Some(len) if len > 0 => {
                    let body = &cs[i..i + len];
                    i += len + 1;
                    let (negated, body) = match body.first() {
                        Some('^') if body.len() > 1 => (true, &body[1..]),
                        _ => (false, body),
                    };
                    let mut items = Vec::new();
                    let mut j = 0;
                    while j < body.len() {
                        if j + 2 < body.len() && body[j + 1] == '-' {
                            items.push((body[j], body[j + 2]));
                            j += 3;
                        } else {
                            items.push((body[j], body[j]));
                            j += 1;
                        }
                    }
                    out.push(Pat::Set { negated, items });
                }
                _ => out.push(Pat::Char('[')),
            },
            c => out.push(Pat::Char(c)),
        }
    }
    out
}

fn matches(rule: &Rule, s: &[char], p: &[Pat]) -> bool {
    // Iterative matching with backtracking to the last `%`.
    let (mut si, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        let ok = match p.get(pi) {
            Some(Pat::One) => true,
            Some(Pat::Char(c)) => eq(rule, *c, s[si]),
            Some(Pat::Set { negated, items }) => {
                let inside = items.iter().any(|(lo, hi)| {
                    if lo == hi {
                        eq(rule, *lo, s[si])
                    } else {
                        le(rule, *lo, s[si]) && le(rule, s[si], *hi)
                    }
                });
                inside != *negated
            }
            Some(Pat::Any) => {
                star = Some((pi, si));
                pi += 1;
                continue;
            }
            None => false,
        };
        if ok {
            si += 1;
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi.min(p.len())..].iter().all(|x| matches!(x, Pat::Any))
}

/// Whether `s` is LIKE `pattern` under `rule`.
pub fn like(rule: &Rule, s: &str, pattern: &str, escape: Option<char>) -> bool {
    let s: Vec<char> = s.chars().collect();
    matches(rule, &s, &compile(pattern, escape))
}

/// Registers `sim_like(value, pattern, escape, sqlite_collation)`.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    let det = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("sim_like", 4, det, |ctx| {
        let text = |i: usize| -> Option<String> {
            match ctx.get_raw(i) {
                ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Integer(n) => Some(n.to_string()),
                ValueRef::Real(f) => Some(f.to_string()),
                ValueRef::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
                ValueRef::Null => None,
            }
        };
        let (Some(s), Some(p)) = (text(0), text(1)) else {
            return Ok(DbValue::Null);
        };
        let esc = text(2).and_then(|e| e.chars().next());
        let rule = super::collation::rule_of_sqlite(&text(3).unwrap_or_default());
        Ok(DbValue::Integer(like(&rule, &s, &p, esc) as i64))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::collation::parse;

    #[test]
    fn patterns() {
        let cs = parse("Latin1_General_CS_AS").unwrap().rule;
        let ai = parse("Latin1_General_CI_AI").unwrap().rule;
        assert!(like(&cs, "abc", "a%", None));
        assert!(!like(&cs, "Abc", "a%", None));
        assert!(like(&cs, "abc", "_b_", None));
        assert!(like(&cs, "abc", "%[b-c]", None));
        assert!(!like(&cs, "abc", "%[^c]", None));
        assert!(like(&cs, "a%c", "a!%c", Some('!')));
        assert!(!like(&cs, "abc", "a!%c", Some('!')));
        assert!(like(&ai, "Café", "CAFE", None));
        assert!(like(&ai, "xxCafé", "%cafe", None));
    }
}
