//! Collations: which names exist, what they compare equal and how they order.
//!
//! Sources: docs/relational-databases/collations/collation-and-unicode-support.md
//! (case, accent, kana, width sensitivity; binary collations; UTF-8),
//! docs/t-sql/statements/windows-collation-name-transact-sql.md and
//! docs/t-sql/statements/sql-server-collation-name-transact-sql.md (the name
//! grammar), docs/t-sql/statements/collations.md (COLLATE, DATABASE_DEFAULT),
//! docs/t-sql/statements/collation-precedence-transact-sql.md (which collation
//! an operation uses), and "How SQL Server compares strings with trailing
//! spaces" (support article 316626: `=` pads the shorter string with spaces,
//! for every collation).
//!
//! Every character column's SQLite declaration carries the SQLite collation of
//! its SQL Server collation ([`Collation::sqlite`]), so SQLite's own UNIQUE
//! indexes (primary keys, unique constraints and indexes), DISTINCT, GROUP BY
//! and joins on the column follow it; the translator adds `COLLATE` where an
//! operation must use another (see `translate::collate`).
//!
//! What is emulated: the Latin1_General (and version 100) Windows collations
//! and the SQL_Latin1_General_CP1 SQL collations, with case sensitivity
//! (CS: lower case sorts before upper case, as Windows collations sort),
//! accent sensitivity (AI folds the Latin-1 and Latin Extended-A letters with
//! diacritics to their base letter; ß = ss, æ = ae, œ = oe, ĳ = ij), width
//! sensitivity (full-width ASCII forms equal their ASCII letters unless `_WS`),
//! and BIN / BIN2 as code-point order. Not emulated: Windows "word sort"
//! (hyphens and apostrophes weigh less), kana sensitivity, combining
//! diacritical marks, and the byte order of `_BIN` (first character by code
//! point, the rest by bytes) — BIN sorts as BIN2.

use crate::error::SqlError;
use parking_lot::Mutex;
use rusqlite::Connection;
use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::OnceLock;

/// How a collation compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rule {
    pub case_sensitive: bool,
    pub accent_sensitive: bool,
    pub width_sensitive: bool,
    /// `_BIN` / `_BIN2`: code-point order.
    pub binary: bool,
}

/// A SQL Server collation: its name as `sys.columns.collation_name` shows it
/// and how it compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Collation {
    pub name: &'static str,
    pub rule: Rule,
    /// `_UTF8`: varchar holds UTF-8 (CHARACTER_SET_NAME `UTF8`).
    pub utf8: bool,
    /// Code page of varchar data: 1252 for Latin1_General, 437 / 850 for
    /// the SQL_Latin1_General_CP437 / CP850 binary collations.
    pub code_page: u16,
}

/// The database default collation (docs/relational-databases/collations/
/// set-or-change-the-database-collation.md: the default of a new database is
/// the server's, `SQL_Latin1_General_CP1_CI_AS` for a US English setup).
pub const DEFAULT_NAME: &str = "SQL_Latin1_General_CP1_CI_AS";

pub fn database_default() -> Collation {
    Collation {
        name: DEFAULT_NAME,
        rule: Rule {
            case_sensitive: false,
            accent_sensitive: true,
            width_sensitive: false,
            binary: false,
        },
        utf8: false,
        code_page: 1252,
    }
}

/// Error 448 (docs/relational-databases/errors-events/database-engine-events-and-errors-0-to-999.md).
pub fn invalid_collation(name: &str) -> SqlError {
    SqlError::new(448, 16, 1, format!("Invalid collation '{name}'."))
}

fn intern(s: String) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = NAMES.get_or_init(|| Mutex::new(HashSet::new())).lock();
    if let Some(n) = set.get(s.as_str()) {
        return n;
    }
    // A finite set of names (the grammar below), each leaked once.
    let n: &'static str = Box::leak(s.into_boxed_str());
    set.insert(n);
    n
}

/// Parses a collation name (case-insensitive) into its canonical spelling;
/// `DATABASE_DEFAULT` is the database's. Unknown names: error 448.
pub fn parse(name: &str) -> Result<Collation, SqlError> {
    parse_opt(name).ok_or_else(|| invalid_collation(name))
}

fn parse_opt(name: &str) -> Option<Collation> {
    let up = name.to_ascii_uppercase();
    if up == "DATABASE_DEFAULT" {
        return Some(database_default());
    }
    let mut rule = Rule {
        case_sensitive: false,
        accent_sensitive: true,
        width_sensitive: false,
        binary: false,
    };
    // SQL collations (sql-server-collation-name-transact-sql.md).
    if let Some(rest) = up.strip_prefix("SQL_LATIN1_GENERAL_") {
        let (cp, style) = rest.split_once('_')?;
        let (code_page, canon_cp) = match cp {
            "CP1" => (1252, "CP1"),
            "CP437" => (437, "CP437"),
            "CP850" => (850, "CP850"),
            _ => return None,
        };
        match (code_page, style) {
            (1252, "CI_AS") => {}
            (1252, "CI_AI") => rule.accent_sensitive = false,
            (1252, "CS_AS") => rule.case_sensitive = true,
            (437 | 850, "BIN" | "BIN2") => rule.binary = true,
            _ => return None,
        }
        return Some(Collation {
            name: intern(format!("SQL_Latin1_General_{canon_cp}_{style}")),
            rule,
            utf8: false,
            code_page,
        });
    }
    // Windows collations (windows-collation-name-transact-sql.md):
    // Latin1_General[_100]_{BIN|BIN2|CI|CS_AI|AS[_KS][_WS][_SC]}[_UTF8].
    let rest = up.strip_prefix("LATIN1_GENERAL_")?;
    let (v100, rest) = match rest.strip_prefix("100_") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let parts: Vec<&str> = rest.split('_').collect();
    let mut canon = vec![if v100 {
        "Latin1_General_100"
    } else {
        "Latin1_General"
    }];
    let mut utf8 = false;
    let mut i;
    match parts.first().copied()? {
        "BIN" => {
            rule.binary = true;
            canon.push("BIN");
            i = 1;
        }
        "BIN2" => {
            rule.binary = true;
            canon.push("BIN2");
            i = 1;
        }
        cs @ ("CI" | "CS") => {
            rule.case_sensitive = cs == "CS";
            match parts.get(1).copied()? {
                "AS" => {}
                "AI" => rule.accent_sensitive = false,
                _ => return None,
            }
            canon.push(if cs == "CS" { "CS" } else { "CI" });
            canon.push(if rule.accent_sensitive { "AS" } else { "AI" });
            i = 2;
            let mut sc = false;
            for (flag, text) in [("KS", "KS"), ("WS", "WS"), ("SC", "SC")] {
                if parts.get(i) == Some(&flag) {
                    if flag == "WS" {
                        rule.width_sensitive = true;
                    }
                    if flag == "SC" {
                        if !v100 {
                            return None;
                        }
                        sc = true;
                    }
                    canon.push(text);
                    i += 1;
                }
            }
            if parts.get(i) == Some(&"UTF8") && !sc {
                return None;
            }
        }
        _ => return None,
    }
    if parts.get(i) == Some(&"UTF8") {
        // UTF-8 exists for the version-100 collations only.
        if !v100 || (rule.binary && parts.first() != Some(&"BIN2")) {
            return None;
        }
        utf8 = true;
        canon.push("UTF8");
        i += 1;
    }
    if i != parts.len() {
        return None;
    }
    Some(Collation {
        name: intern(canon.join("_")),
        rule,
        utf8,
        code_page: if utf8 { 65001 } else { 1252 },
    })
}

impl Collation {
    /// The SQLite collation registered for this collation's rule.
    pub fn sqlite(&self) -> &'static str {
        sqlite_name(&self.rule)
    }

    /// `COLLATE <sqlite collation>` for a SQLite column declaration.
    pub fn collate_clause(&self) -> &'static str {
        match self.sqlite() {
            "MSSQL_CI_AI" => "COLLATE MSSQL_CI_AI",
            "MSSQL_CS_AS" => "COLLATE MSSQL_CS_AS",
            "MSSQL_CS_AI" => "COLLATE MSSQL_CS_AI",
            "MSSQL_CI_AS_WS" => "COLLATE MSSQL_CI_AS_WS",
            "MSSQL_CI_AI_WS" => "COLLATE MSSQL_CI_AI_WS",
            "MSSQL_CS_AS_WS" => "COLLATE MSSQL_CS_AS_WS",
            "MSSQL_CS_AI_WS" => "COLLATE MSSQL_CS_AI_WS",
            "MSSQL_BIN" => "COLLATE MSSQL_BIN",
            _ => "COLLATE MSSQL_CI_AS",
        }
    }

    /// `INFORMATION_SCHEMA.COLUMNS.CHARACTER_SET_NAME` of a column of this
    /// collation (docs/relational-databases/system-information-schema-views/columns-transact-sql.md).
    pub fn character_set(&self, unicode_type: bool) -> &'static str {
        if unicode_type {
            return "UNICODE";
        }
        match self.code_page {
            65001 => "UTF8",
            437 => "cp437",
            850 => "cp850",
            _ => "iso_1",
        }
    }
}

const RULES: [(&str, bool, bool, bool, bool); 9] = [
    ("MSSQL_CI_AS", false, true, false, false),
    ("MSSQL_CI_AI", false, false, false, false),
    ("MSSQL_CS_AS", true, true, false, false),
    ("MSSQL_CS_AI", true, false, false, false),
    ("MSSQL_CI_AS_WS", false, true, true, false),
    ("MSSQL_CI_AI_WS", false, false, true, false),
    ("MSSQL_CS_AS_WS", true, true, true, false),
    ("MSSQL_CS_AI_WS", true, false, true, false),
    ("MSSQL_BIN", true, true, true, true),
];

/// The rule of a registered SQLite collation (the default's if unknown).
pub fn rule_of_sqlite(name: &str) -> Rule {
    RULES
        .iter()
        .find(|x| x.0 == name)
        .map(|(_, cs, as_, ws, bin)| Rule {
            case_sensitive: *cs,
            accent_sensitive: *as_,
            width_sensitive: *ws,
            binary: *bin,
        })
        .unwrap_or(database_default().rule)
}

fn sqlite_name(r: &Rule) -> &'static str {
    if r.binary {
        return "MSSQL_BIN";
    }
    RULES
        .iter()
        .find(|(_, cs, as_, ws, _)| {
            *cs == r.case_sensitive && *as_ == r.accent_sensitive && *ws == r.width_sensitive
        })
        .map(|x| x.0)
        .unwrap_or("MSSQL_CI_AS")
}

/// The SQLite `COLLATE` clause of a column's declaration (empty for
/// non-character columns).
pub fn collate_clause(c: &super::catalog::ColumnInfo) -> &'static str {
    if c.ty == crate::value::SqlType::Variant {
        return " COLLATE sim_variant";
    }
    match (&c.collation, c.ty.is_string()) {
        (Some(x), _) => x.collate_clause(),
        (None, true) => database_default().collate_clause(),
        (None, false) => "",
    }
}

/// Registers the SQLite collations on a new connection. `MSSQL_CI` (what
/// data files of earlier versions declare their character columns with) is
/// the database default's.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    for (name, cs, as_, ws, bin) in RULES {
        let rule = Rule {
            case_sensitive: cs,
            accent_sensitive: as_,
            width_sensitive: ws,
            binary: bin,
        };
        conn.create_collation(name, move |a: &str, b: &str| compare(&rule, a, b))?;
    }
    super::like::register(conn)?;
    conn.create_collation(super::variant::COLLATION, super::variant::compare)?;
    let default = database_default().rule;
    conn.create_collation("MSSQL_CI", move |a: &str, b: &str| compare(&default, a, b))?;
    // sim_collation_info(type_code, collation_name, what): the catalog
    // views' collation_name ('name') and CHARACTER_SET_NAME ('charset') of a
    // column; NULL for non-character columns.
    let det = rusqlite::functions::FunctionFlags::SQLITE_UTF8
        | rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("sim_collation_info", 3, det, |ctx| {
        let code: String = ctx.get(0)?;
        let name: Option<String> = ctx.get(1)?;
        let what: String = ctx.get(2)?;
        let Some(ty) = super::types::type_from_code(&code).filter(|t| t.is_string()) else {
            return Ok(None);
        };
        let c = name
            .and_then(|n| parse_opt(&n))
            .unwrap_or_else(database_default);
        let unicode = matches!(
            ty,
            crate::value::SqlType::NVarChar(_)
                | crate::value::SqlType::NChar(_)
                | crate::value::SqlType::NText
        );
        Ok(Some(match what.as_str() {
            "charset" => c.character_set(unicode).to_string(),
            _ => c.name.to_string(),
        }))
    })
}

/// `COLLATIONPROPERTY(name, property)`
/// (docs/t-sql/functions/collation-functions-collationproperty-transact-sql.md):
/// CodePage, LCID, ComparisonStyle (IgnoreCase 1, IgnoreNonSpace 2,
/// IgnoreWidth 131072; 0 for binary), Version; NULL otherwise.
pub fn property(name: &str, prop: &str) -> Option<i64> {
    let c = parse_opt(name)?;
    Some(match prop.to_ascii_lowercase().as_str() {
        "codepage" => c.code_page as i64,
        "lcid" => 1033,
        "comparisonstyle" => {
            if c.rule.binary {
                0
            } else {
                (!c.rule.case_sensitive as i64)
                    | ((!c.rule.accent_sensitive as i64) << 1)
                    | ((!c.rule.width_sensitive as i64) << 17)
                    | (1 << 16)
            }
        }
        "version" => {
            if c.name.contains("_100_") {
                2
            } else if c.name.starts_with("SQL_") {
                0
            } else {
                1
            }
        }
        _ => return None,
    })
}

/// One character's weights: up to two primary letters, its accent weight
/// (0: none) and whether it is upper case.
#[derive(Clone, Copy)]
struct Weights {
    primary: [char; 2],
    len: u8,
    accent: u32,
    upper: bool,
}

/// Latin Extended-A (U+0100..U+017F) base letters; '*' marks the expansions.
const EXT_A: &str = "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIi**JjKkkLlLlLlLlLlNnNnNnnNnOoOoOo**RrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs";
/// Latin-1 Supplement letters (U+00C0..U+00FF); '*' expansions, '-' none.
const LATIN1: &str = "AAAAAA*CEEEEIIIIDNOOOOO-OUUUUY-*aaaaaa*ceeeeiiiidnooooo-ouuuuy-y";

fn weights(c: char, width_sensitive: bool) -> Weights {
    let mut base = c;
    let mut accent = 0;
    let mut expansion: Option<&str> = None;
    let cp = c as u32;
    if !width_sensitive && (0xFF01..=0xFF5E).contains(&cp) {
        // Full-width ASCII forms.
        base = char::from_u32(cp - 0xFF01 + 0x21).unwrap_or(c);
    } else if (0xC0..=0xFF).contains(&cp) {
        match LATIN1.as_bytes()[(cp - 0xC0) as usize] {
            b'-' => {}
            b'*' => {
                expansion = Some(match c {
                    'Æ' => "AE",
                    'æ' => "ae",
                    _ => "ss",
                })
            }
            b => {
                base = b as char;
                accent = c.to_lowercase().next().map(|l| l as u32).unwrap_or(cp);
            }
        }
    } else if (0x100..=0x17F).contains(&cp) {
        match EXT_A.as_bytes()[(cp - 0x100) as usize] {
            b'*' => {
                expansion = Some(match c {
                    'Ĳ' => "IJ",
                    'ĳ' => "ij",
                    'Œ' => "OE",
                    _ => "oe",
                })
            }
            b => {
                base = b as char;
                accent = c.to_lowercase().next().map(|l| l as u32).unwrap_or(cp);
            }
        }
    }
    let upper = c.is_uppercase();
    let lower = |x: char| x.to_lowercase().next().unwrap_or(x);
    match expansion {
        Some(e) => {
            let mut it = e.chars();
            let a = it.next().unwrap_or(c);
            let b = it.next().unwrap_or(c);
            Weights {
                primary: [lower(a), lower(b)],
                len: 2,
                accent: 0,
                upper,
            }
        }
        None => Weights {
            primary: [lower(base), '\0'],
            len: 1,
            accent,
            upper,
        },
    }
}

/// Compares two strings under `rule`, trailing spaces ignored.
pub fn compare(rule: &Rule, a: &str, b: &str) -> Ordering {
    let a = a.trim_end_matches(' ');
    let b = b.trim_end_matches(' ');
    if rule.binary {
        // BIN2: code-point order (UTF-8 byte order is code-point order).
        return a.cmp(b);
    }
    if a.is_ascii() && b.is_ascii() {
        return compare_ascii(rule, a.as_bytes(), b.as_bytes());
    }
    let ws = rule.width_sensitive;
    let wa: Vec<Weights> = a.chars().map(|c| weights(c, ws)).collect();
    let wb: Vec<Weights> = b.chars().map(|c| weights(c, ws)).collect();
    let prim = |w: &[Weights]| -> Vec<char> {
        w.iter()
            .flat_map(|x| x.primary[..x.len as usize].iter().copied())
            .collect()
    };
    match prim(&wa).cmp(&prim(&wb)) {
        Ordering::Equal => {}
        o => return o,
    }
    if rule.accent_sensitive {
        let acc = |w: &[Weights]| -> Vec<u32> {
            w.iter()
                .flat_map(|x| std::iter::repeat(x.accent).take(x.len as usize))
                .collect()
        };
        match acc(&wa).cmp(&acc(&wb)) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    if rule.case_sensitive {
        let case = |w: &[Weights]| -> Vec<bool> {
            w.iter()
                .flat_map(|x| std::iter::repeat(x.upper).take(x.len as usize))
                .collect()
        };
        return case(&wa).cmp(&case(&wb));
    }
    Ordering::Equal
}

fn compare_ascii(rule: &Rule, a: &[u8], b: &[u8]) -> Ordering {
    let la = a.iter().map(|c| c.to_ascii_lowercase());
    let lb = b.iter().map(|c| c.to_ascii_lowercase());
    match la.cmp(lb) {
        Ordering::Equal if rule.case_sensitive => {
            // Lower case before upper case at the same letters.
            let ua = a.iter().map(|c| c.is_ascii_uppercase());
            let ub = b.iter().map(|c| c.is_ascii_uppercase());
            ua.cmp(ub)
        }
        o => o,
    }
}

/// Whether two values are equal under `coll` (the database default when
/// `None`).
pub fn equal(coll: Option<&Collation>, a: &str, b: &str) -> bool {
    let rule = coll.map(|c| c.rule).unwrap_or(database_default().rule);
    compare(&rule, a, b) == Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(name: &str, a: &str, b: &str) -> Ordering {
        compare(&parse(name).unwrap().rule, a, b)
    }

    #[test]
    fn names_parse_to_their_canonical_spelling() {
        for (given, canon) in [
            ("latin1_general_cs_as", "Latin1_General_CS_AS"),
            (
                "SQL_Latin1_General_CP1_CI_AS",
                "SQL_Latin1_General_CP1_CI_AS",
            ),
            (
                "sql_latin1_general_cp1_cs_as",
                "SQL_Latin1_General_CP1_CS_AS",
            ),
            (
                "Latin1_General_100_CI_AS_SC_UTF8",
                "Latin1_General_100_CI_AS_SC_UTF8",
            ),
            ("latin1_general_bin2", "Latin1_General_BIN2"),
            (
                "Latin1_General_100_CI_AI_KS_WS",
                "Latin1_General_100_CI_AI_KS_WS",
            ),
            ("database_default", DEFAULT_NAME),
        ] {
            assert_eq!(parse(given).unwrap().name, canon, "{given}");
        }
        for bad in [
            "Klingon_CI_AS",
            "Latin1_General_CI",
            "Latin1_General_CI_AS_UTF8",
            "Latin1_General_CI_AS_SC",
            "SQL_Latin1_General_CP1_CS_AI",
            "Latin1_General_CS_AS_XX",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.number, 448, "{bad}");
            assert_eq!(e.message, format!("Invalid collation '{bad}'."));
        }
    }

    #[test]
    fn sensitivities() {
        use Ordering::*;
        assert_eq!(cmp("Latin1_General_CI_AS", "abc  ", "ABC"), Equal);
        assert_eq!(cmp("Latin1_General_CS_AS", "abc", "ABC"), Less);
        assert_eq!(cmp("Latin1_General_CS_AS", "abc ", "abc"), Equal);
        assert_eq!(cmp("Latin1_General_CI_AS", "café", "cafe"), Greater);
        assert_eq!(cmp("Latin1_General_CI_AI", "café", "CAFE"), Equal);
        assert_eq!(cmp("Latin1_General_CS_AI", "café", "CAFE"), Less);
        // é sorts with e, before f, in every linguistic collation.
        assert_eq!(cmp("Latin1_General_CI_AS", "é", "f"), Less);
        assert_eq!(cmp("Latin1_General_BIN2", "é", "f"), Greater);
        assert_eq!(cmp("Latin1_General_BIN2", "B", "a"), Less);
        assert_eq!(cmp("Latin1_General_BIN2", "a ", "a"), Equal);
        assert_eq!(cmp("Latin1_General_CI_AS", "Straße", "STRASSE"), Equal);
        assert_eq!(cmp("Latin1_General_CI_AS", "ＡＢＣ", "abc"), Equal);
        assert_eq!(cmp("Latin1_General_CI_AS_WS", "ＡＢＣ", "abc"), Greater);
    }
}
