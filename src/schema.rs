//! The synced columns of a table, matched across the two servers by name.
//!
//! Each server's catalog is read in its own ordinal order
//! ([`CatalogColumn`]); the two lists are never paired by position. The
//! synced columns are the configured list (`columns:`, in its order), or,
//! when it is left out, the columns both sides have, in a's ordinal order,
//! minus those a side that receives writes cannot be written: rowversion
//! (timestamp) columns, computed columns and identity columns that are not
//! the key. Every difference is named with its consequence:
//!
//! * a column on one side only: left out, with one warning;
//! * a column that cannot be written, left out of `columns:`: left out, with
//!   a note; listed in `columns:`: refused, naming the column and why;
//! * a column of a type ctsync cannot carry exactly (xml, sql_variant, the
//!   CLR types): refused, naming the column, the type and the fix;
//! * a pair of types through which a value from a source would not reach its
//!   target intact (a shorter string, a narrower integer, fewer decimal
//!   digits, Unicode into a non-Unicode string, a different kind of type),
//!   or a nullable source column into a NOT NULL target column without a
//!   default: refused, naming both definitions.
//!
//! Both sides' [`TableShape`]s then list the same columns in the same order,
//! so capture's row images and every writer pair values with columns by
//! name. Pure functions: the catalog is read in `agent::setup`.

use crate::config::TableConfig;
use crate::model::Side;
use crate::mssql::statements::{ColumnShape, TableShape};

/// One column of a table as one server's catalog describes it
/// (`INFORMATION_SCHEMA.COLUMNS` and `COLUMNPROPERTY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogColumn {
    pub name: String,
    /// `DATA_TYPE`, e.g. `nvarchar`.
    pub data_type: String,
    /// `CHARACTER_MAXIMUM_LENGTH`: characters (bytes for binary types), -1
    /// for `max`; None for other types.
    pub max_length: Option<i32>,
    /// `NUMERIC_PRECISION` (digits; float: bits of mantissa).
    pub precision: Option<i32>,
    /// `NUMERIC_SCALE`.
    pub scale: Option<i32>,
    /// `DATETIME_PRECISION`: fractional-second digits.
    pub time_precision: Option<i32>,
    pub nullable: bool,
    pub has_default: bool,
    pub identity: bool,
    pub computed: bool,
    /// `COLLATION_NAME`: character columns only.
    pub collation: Option<String>,
}

/// What a collation tells apart: (case, accents). Binary collations
/// (`_BIN`, `_BIN2`) tell everything apart; otherwise the `_CS`/`_CI` and
/// `_AS`/`_AI` parts of the name say
/// (docs/relational-databases/collations/collation-and-unicode-support.md).
pub fn sensitivity(collation: &str) -> (bool, bool) {
    let parts: Vec<String> = collation
        .split('_')
        .map(|p| p.to_ascii_uppercase())
        .collect();
    if parts.iter().any(|p| p == "BIN" || p == "BIN2") {
        return (true, true);
    }
    (
        parts.iter().any(|p| p == "CS"),
        parts.iter().any(|p| p == "AS"),
    )
}

impl CatalogColumn {
    fn type_lower(&self) -> String {
        self.data_type.to_ascii_lowercase()
    }

    /// Why a write cannot set this column, if it cannot.
    pub fn unwritable(&self, key: &[String]) -> Option<&'static str> {
        let ty = self.type_lower();
        if ty == "timestamp" || ty == "rowversion" {
            return Some("a rowversion (timestamp) column: the server sets it and refuses writes (error 272)");
        }
        if self.computed {
            return Some("a computed column: the server derives it and refuses writes (error 271)");
        }
        if self.identity && !key.iter().any(|k| k.eq_ignore_ascii_case(&self.name)) {
            return Some("an identity column that is not the key: the server assigns it and refuses writes (error 544)");
        }
        None
    }

    /// Why ctsync cannot carry this column's values exactly, if it cannot:
    /// types its driver does not decode losslessly, which `check` and `run`
    /// refuse rather than sync wrongly. Every other type SQL Server lets a
    /// user table hold round-trips (see README, "Data types").
    pub fn unsupported(&self) -> Option<&'static str> {
        match self.type_lower().as_str() {
            "sql_variant" => Some("sql_variant is not synced: its driver cannot send a sql_variant value, so each value's base type would not be kept (a varchar would arrive as nvarchar, a decimal(10,2) as decimal(38,2)); convert the column to a typed one or leave it out with `columns:`"),
            "hierarchyid" | "geography" | "geometry" => Some("CLR types (hierarchyid, geography, geometry) are not synced: their values would need a typed conversion this version does not make; leave the column out with `columns:` or sync a computed varbinary copy"),
            "tinyint" | "smallint" | "int" | "bigint" | "bit" | "decimal" | "numeric" | "money"
            | "smallmoney" | "float" | "real" | "char" | "varchar" | "nchar" | "nvarchar"
            | "text" | "ntext" | "binary" | "varbinary" | "image" | "uniqueidentifier" | "xml"
            | "date" | "time" | "datetime" | "smalldatetime" | "datetime2"
            | "datetimeoffset" | "timestamp" | "rowversion" => None,
            _ => Some("a type ctsync does not know; it is not synced"),
        }
    }

    /// The column's definition as an operator would write it, e.g.
    /// `nvarchar(100) NOT NULL`.
    pub fn definition(&self) -> String {
        let ty = self.type_lower();
        let len = |n: i32| {
            if n < 0 {
                "max".to_string()
            } else {
                n.to_string()
            }
        };
        let sized = match ty.as_str() {
            "char" | "varchar" | "nchar" | "nvarchar" | "binary" | "varbinary" => self
                .max_length
                .map(|n| format!("{ty}({})", len(n)))
                .unwrap_or(ty.clone()),
            "decimal" | "numeric" => format!(
                "{ty}({},{})",
                self.precision.unwrap_or(18),
                self.scale.unwrap_or(0)
            ),
            "datetime2" | "time" | "datetimeoffset" => self
                .time_precision
                .map(|p| format!("{ty}({p})"))
                .unwrap_or(ty.clone()),
            _ => ty.clone(),
        };
        let null = if self.nullable { "NULL" } else { "NOT NULL" };
        format!("{sized} {null}")
    }

    fn shape(&self) -> ColumnShape {
        ColumnShape {
            name: self.name.clone(),
            data_type: self.data_type.clone(),
            identity: self.identity,
        }
    }
}

/// What matching one table's two catalogs found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Matched {
    /// The synced column names, in the order rows are captured and written
    /// (a's spelling).
    pub columns: Vec<String>,
    /// Differences that leave a column out; the table syncs the rest.
    pub warnings: Vec<String>,
    /// Differences that would lose or corrupt data: the table is refused.
    pub problems: Vec<String>,
}

fn find<'c>(cols: &'c [CatalogColumn], name: &str) -> Option<&'c CatalogColumn> {
    cols.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

fn side_of(cols: [&[CatalogColumn]; 2], side: Side) -> &[CatalogColumn] {
    match side {
        Side::A => cols[0],
        Side::B => cols[1],
    }
}

/// Matches table `t`'s columns on a and b by name (see the module docs).
pub fn match_columns(t: &TableConfig, a: &[CatalogColumn], b: &[CatalogColumn]) -> Matched {
    let name = &t.name;
    let cols = [a, b];
    let directions = t.directions();
    let targets: Vec<Side> = directions.iter().map(|d| d.target()).collect();
    let mut m = Matched::default();
    let candidates: Vec<String> = match &t.columns {
        Some(list) => list.clone(),
        None => {
            for (side, mine, theirs) in [(Side::A, a, b), (Side::B, b, a)] {
                for c in mine {
                    if find(theirs, &c.name).is_none() {
                        m.warnings.push(format!(
                            "table {name}: column {} exists on server {} only; it is not synced (add it on server {} to sync it, or list the synced columns in `columns`)",
                            c.name,
                            side.as_str(),
                            side.other().as_str()
                        ));
                    }
                }
            }
            a.iter()
                .filter(|c| find(b, &c.name).is_some())
                .map(|c| c.name.clone())
                .collect()
        }
    };
    for column in candidates {
        let (Some(ca), Some(cb)) = (find(a, &column), find(b, &column)) else {
            // A listed column missing on a side is that side's problem
            // (named when its catalog is read).
            continue;
        };
        let mut left_out = false;
        for side in &targets {
            let c = if *side == Side::A { ca } else { cb };
            if let Some(why) = c.unwritable(&t.key) {
                if t.columns.is_some() {
                    m.problems.push(format!(
                        "table {name}: column {column} is listed in `columns` but on server {} it is {why}; remove it from `columns`",
                        side.as_str()
                    ));
                } else if !left_out {
                    m.warnings.push(format!(
                        "table {name}: column {column} is not synced: on server {} it is {why}",
                        side.as_str()
                    ));
                }
                left_out = true;
            }
        }
        if left_out {
            continue;
        }
        if let Some(why) = ca.unsupported().or_else(|| cb.unsupported()) {
            let fix = if t.columns.is_some() {
                "remove it from `columns`"
            } else {
                "list the other columns in `columns` to sync the rest"
            };
            m.problems.push(format!(
                "table {name}: column {column} ({}): {why}; {fix}",
                ca.data_type
            ));
            continue;
        }
        for d in &directions {
            let s = find(side_of(cols, d.source()), &column);
            let r = find(side_of(cols, d.target()), &column);
            let (Some(s), Some(r)) = (s, r) else { continue };
            if let Some(why) = key_merges(t, &column, s, r) {
                m.problems.push(format!(
                    "table {name}: key column {column} is {} on server {} but {} on server {}: {why}",
                    s.collation.as_deref().unwrap_or("without a collation"),
                    d.source().as_str(),
                    r.collation.as_deref().unwrap_or("without a collation"),
                    d.target().as_str(),
                ));
            }
            if let Some(why) = loses_data(s, r) {
                m.problems.push(format!(
                    "table {name}: column {column} is {} on server {} but {} on server {}: {why}; make the target's definition hold every source value (or leave the column out of `columns`)",
                    s.definition(),
                    d.source().as_str(),
                    r.definition(),
                    d.target().as_str(),
                ));
            }
        }
        m.columns.push(ca.name.clone());
    }
    m
}

/// Why a key column's values would merge on the target: its collation there
/// tells fewer differences apart (case, accents) than the source's, so two
/// source keys that differ only so would be one target row. None unless
/// the column is a key column, both sides have collations, and the table
/// does not allow it (`allow_key_collation`).
fn key_merges(
    t: &TableConfig,
    column: &str,
    s: &CatalogColumn,
    r: &CatalogColumn,
) -> Option<String> {
    if t.allow_key_collation || !t.key.iter().any(|k| k.eq_ignore_ascii_case(column)) {
        return None;
    }
    let (sc, rc) = (s.collation.as_deref()?, r.collation.as_deref()?);
    let ((s_case, s_accent), (r_case, r_accent)) = (sensitivity(sc), sensitivity(rc));
    let what = match (s_case && !r_case, s_accent && !r_accent) {
        (true, true) => "case or accents",
        (true, false) => "case",
        (false, true) => "accents",
        (false, false) => return None,
    };
    Some(format!(
        "keys that differ only in {what} are distinct on the source and one row on the target (merged: changes of one would overwrite the other); give the target's key column the source's collation (ALTER TABLE {} ALTER COLUMN {column} ... COLLATE {sc}), or set `allow_key_collation: true` on the table if the source never holds such keys",
        t.name
    ))
}

/// Both sides' shapes for the matched columns, in the same order.
pub fn shapes(
    t: &TableConfig,
    matched: &Matched,
    a: &[CatalogColumn],
    b: &[CatalogColumn],
) -> [TableShape; 2] {
    let shape = |cols: &[CatalogColumn]| TableShape {
        name: t.name.clone(),
        key: t.key.clone(),
        columns: matched
            .columns
            .iter()
            .filter_map(|n| find(cols, n).map(CatalogColumn::shape))
            .collect(),
    };
    [shape(a), shape(b)]
}

/// Integer types by width.
fn int_rank(ty: &str) -> Option<(u8, i32)> {
    match ty {
        "bit" => Some((0, 1)),
        "tinyint" => Some((1, 3)),
        "smallint" => Some((2, 5)),
        "int" => Some((3, 10)),
        "bigint" => Some((4, 19)),
        _ => None,
    }
}

fn string_kind(ty: &str) -> Option<(bool, bool)> {
    // (unicode, large-object type)
    match ty {
        "char" | "varchar" => Some((false, false)),
        "text" => Some((false, true)),
        "nchar" | "nvarchar" => Some((true, false)),
        "ntext" => Some((true, true)),
        _ => None,
    }
}

fn binary_kind(ty: &str) -> bool {
    matches!(ty, "binary" | "varbinary" | "image")
}

/// A length as a comparable bound: `max` and the large-object types hold
/// up to 2^31-1.
fn length_bound(c: &CatalogColumn, lob: bool) -> i64 {
    match c.max_length {
        _ if lob => i64::from(i32::MAX),
        Some(n) if n < 0 => i64::from(i32::MAX),
        Some(n) => i64::from(n),
        None => i64::from(i32::MAX),
    }
}

/// Why a value of `s` may not reach a column `t` intact, if it may not.
pub fn loses_data(s: &CatalogColumn, t: &CatalogColumn) -> Option<String> {
    let (st, tt) = (s.type_lower(), t.type_lower());
    if s.nullable && !t.nullable && !t.has_default {
        return Some(
            "a NULL of the source cannot be written to the target (NOT NULL without a default)"
                .into(),
        );
    }
    if let (Some((_, sd)), Some((_, td))) = (int_rank(&st), int_rank(&tt)) {
        return (td < sd).then(|| format!("{tt} cannot hold every {st} value"));
    }
    if let Some((_, digits)) = int_rank(&st) {
        if matches!(tt.as_str(), "decimal" | "numeric") {
            let whole = t.precision.unwrap_or(18) - t.scale.unwrap_or(0);
            return (whole < digits)
                .then(|| format!("{} cannot hold every {st} value", t.definition()));
        }
    }
    if matches!(st.as_str(), "decimal" | "numeric") && matches!(tt.as_str(), "decimal" | "numeric")
    {
        let (sp, ss) = (s.precision.unwrap_or(18), s.scale.unwrap_or(0));
        let (tp, ts) = (t.precision.unwrap_or(18), t.scale.unwrap_or(0));
        if ts < ss {
            return Some("fewer decimal places: values would be rounded".into());
        }
        return (tp - ts < sp - ss)
            .then(|| "fewer whole digits: large values would not fit".into());
    }
    if let (Some((su, slob)), Some((tu, tlob))) = (string_kind(&st), string_kind(&tt)) {
        if su && !tu {
            return Some("Unicode text into a non-Unicode column: characters outside its code page would be lost".into());
        }
        return (length_bound(t, tlob) < length_bound(s, slob))
            .then(|| "a shorter string: longer values would be cut or refused".into());
    }
    if matches!(st.as_str(), "timestamp" | "rowversion") && binary_kind(&tt) {
        // A rowversion is 8 bytes (docs/t-sql/data-types/rowversion-transact-sql.md).
        return (length_bound(t, tt == "image") < 8)
            .then(|| "a rowversion is 8 bytes: a shorter binary cannot hold it".into());
    }
    if binary_kind(&st) && binary_kind(&tt) {
        return (length_bound(t, tt == "image") < length_bound(s, st == "image"))
            .then(|| "a shorter binary: longer values would be cut or refused".into());
    }
    match (st.as_str(), tt.as_str()) {
        ("real", "float") | ("smallmoney", "money") => None,
        ("float", "real") => Some("real keeps fewer digits than float".into()),
        ("money", "smallmoney") => Some("smallmoney cannot hold every money value".into()),
        ("datetime2", "datetime2") | ("time", "time") | ("datetimeoffset", "datetimeoffset") => {
            (t.time_precision.unwrap_or(7) < s.time_precision.unwrap_or(7))
                .then(|| "fewer fractional-second digits: times would be rounded".into())
        }
        ("smalldatetime", "datetime") | ("date", "datetime2") => None,
        ("datetime", "datetime2") | ("smalldatetime", "datetime2") => {
            (t.time_precision.unwrap_or(7) < 3)
                .then(|| "fewer fractional-second digits: times would be rounded".into())
        }
        (a, b) if a == b => None,
        _ => Some(format!("{st} values are not written to a {tt} column")),
    }
}

#[cfg(test)]
mod tests;
