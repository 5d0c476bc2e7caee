//! T-SQL of `ctsync verify`: per-row hashes of the synced columns, hashes of
//! key ranges, key-ordered pages of (key, hash), and row images by key.
//! Identifiers are quoted by [`super::ident`]; every value (range bounds,
//! page sizes, keys) is a bound parameter.
//!
//! ## The row hash
//!
//! `HASHBYTES('SHA2_256', CONCAT(p1, N'|', p2, N'|', ..., N''))` over the
//! synced columns, each column's part `pi` built from its text in a normal
//! form `t` (see [`normal_text`]):
//! - character columns (and xml, sql_variant): `CONCAT(DATALENGTH(t), N':', t)`,
//!   length-prefixed, so NULL (`:`: DATALENGTH(NULL) is NULL and CONCAT
//!   turns NULL into the empty string) differs from the empty string (`0:`)
//!   and the text can hold `|` without running into the next column;
//! - every other column: `ISNULL(t, N'~')`: numbers, dates, hex and GUIDs
//!   never contain `|` or read `~`.
//!
//! Read left to right knowing the columns' types, the concatenation has one
//! parse, so different rows give different inputs
//! (docs/t-sql/functions/concat-transact-sql.md,
//! docs/t-sql/functions/datalength-transact-sql.md). SHA-256 over it is a
//! collision-resistant digest of the row
//! (docs/t-sql/functions/hashbytes-transact-sql.md; its input is unlimited
//! since SQL Server 2016, limited to 8000 bytes before).
//!
//! ## The range hash
//!
//! `COUNT_BIG(*)` and three sums, each over one 4-byte slice of the row
//! hashes, read as an unsigned 32-bit number (`CAST(binary(4) AS bigint)`
//! pads on the left with zeros: docs/t-sql/data-types/binary-and-varbinary-transact-sql.md,
//! "Converting binary and varbinary data"). A sum of at most 2^31 such
//! values cannot overflow a bigint. Why not `CHECKSUM_AGG(BINARY_CHECKSUM(*))`:
//! BINARY_CHECKSUM is a 32-bit hash with known collisions and skips some
//! types, and CHECKSUM_AGG combines by XOR, so two changes can cancel each
//! other out. A sum of digest slices changes unless the changed rows'
//! slices happen to sum to the same value in all three lanes (about 2^-96
//! for data that is not crafted against SHA-256), and the count catches
//! added or removed rows outright.

use super::ident::{quote, IdentError};
use super::statements::{ColumnShape, TableShape};

/// Lanes of the range hash (4-byte slices of the SHA-256 row hash).
pub const HASH_LANES: usize = 3;

/// CONCAT takes 2 to 254 arguments; longer lists are nested in groups.
const CONCAT_ARGS_MAX: usize = 200;

/// A column's value as text in a form that is the same on both servers for
/// the same value, and different for different values:
/// - float, real: `CONVERT(nvarchar(max), c, 3)`, 17 significant digits,
///   "every distinct float or real value is guaranteed to convert to a
///   distinct character string" (docs/t-sql/functions/cast-and-convert-transact-sql.md,
///   "float and real styles"); the default style keeps only 6 digits;
/// - binary types: `CONVERT(nvarchar(max), CAST(c AS varbinary(max)), 1)`,
///   `0x` and two hex digits a byte ("Binary styles"); the default style
///   would read the bytes as characters;
/// - date and time types: style 121, `yyyy-mm-dd hh:mi:ss.fffffff` with
///   every fractional digit of the type; the default of datetime (style 0)
///   drops the seconds;
/// - money, smallmoney: as decimal(19,4) (both exact at 4 decimals), so the
///   text keeps all four (docs/t-sql/data-types/money-and-smallmoney-transact-sql.md);
/// - everything else (integers, bit, decimal, uniqueidentifier, character
///   types, xml, sql_variant): `CAST(c AS nvarchar(max))`, which is exact for
///   them (character data converts to nvarchar without loss, xml to its
///   text).
pub fn normal_text(prefix: &str, c: &ColumnShape) -> Result<String, IdentError> {
    let q = format!("{prefix}{}", quote(&c.name)?);
    Ok(match c.data_type.to_ascii_lowercase().as_str() {
        "float" | "real" => format!("CONVERT(nvarchar(max), {q}, 3)"),
        "binary" | "varbinary" | "image" | "timestamp" | "rowversion" => {
            format!("CONVERT(nvarchar(max), CAST({q} AS varbinary(max)), 1)")
        }
        "date" | "time" | "datetime" | "datetime2" | "smalldatetime" | "datetimeoffset" => {
            format!("CONVERT(nvarchar(max), {q}, 121)")
        }
        "money" | "smallmoney" => format!("CAST(CAST({q} AS decimal(19,4)) AS nvarchar(max))"),
        _ => format!("CAST({q} AS nvarchar(max))"),
    })
}

/// Whether a column's normal text can be empty or hold any character (it
/// is then length-prefixed in the row hash).
fn free_text(c: &ColumnShape) -> bool {
    matches!(
        c.data_type.to_ascii_lowercase().as_str(),
        "char"
            | "varchar"
            | "nchar"
            | "nvarchar"
            | "text"
            | "ntext"
            | "xml"
            | "sql_variant"
            | "sysname"
    )
}

/// The row hash over the columns of `shape` not in `skip` (positions), as
/// a `varbinary(32)` expression.
pub fn row_hash(shape: &TableShape, skip: &[usize]) -> Result<String, IdentError> {
    let mut parts = Vec::with_capacity(shape.columns.len() * 2 + 1);
    for (i, c) in shape.columns.iter().enumerate() {
        if skip.contains(&i) {
            continue;
        }
        if !parts.is_empty() {
            parts.push("N'|'".to_string());
        }
        let t = normal_text("", c)?;
        parts.push(if free_text(c) {
            format!("CONCAT(DATALENGTH({t}), N':', {t})")
        } else {
            format!("ISNULL({t}, N'~')")
        });
    }
    Ok(format!("HASHBYTES('SHA2_256', {})", concat(parts)))
}

fn concat(mut parts: Vec<String>) -> String {
    while parts.len() > CONCAT_ARGS_MAX {
        parts = parts
            .chunks(CONCAT_ARGS_MAX)
            .map(|c| concat(c.to_vec()))
            .collect();
    }
    // At least two arguments.
    parts.push("N''".into());
    format!("CONCAT({})", parts.join(", "))
}

fn key_list(shape: &TableShape) -> Result<Vec<String>, IdentError> {
    shape.key.iter().map(|k| quote(k)).collect()
}

/// `((k1 > @Pf) OR (k1 = @Pf AND k2 > @Pf+1) ...)`: rows after a key in key
/// order, parameters numbered from `first`.
fn after(keys: &[String], first: usize) -> String {
    let mut alternatives = Vec::with_capacity(keys.len());
    for i in 0..keys.len() {
        let mut parts: Vec<String> = (0..i)
            .map(|j| format!("{} = @P{}", keys[j], first + j))
            .collect();
        parts.push(format!("{} > @P{}", keys[i], first + i));
        alternatives.push(format!("({})", parts.join(" AND ")));
    }
    format!("({})", alternatives.join(" OR "))
}

/// A key range `(lo, hi]` (each bound optional) as a WHERE clause, with the
/// parameters numbered from `first`: lo's key values, then hi's.
fn range_where(keys: &[String], lo: bool, hi: bool, first: usize) -> String {
    let mut conds = Vec::new();
    let mut next = first;
    if lo {
        conds.push(after(keys, next));
        next += keys.len();
    }
    if hi {
        conds.push(format!("NOT {}", after(keys, next)));
    }
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

/// The key `@P1` rows after `lo` in key order within `(lo, hi]` (`@P1` =
/// rows − 1, an OFFSET): the end of a range of that many rows. Parameters:
/// `@P1`, then lo's key, then hi's. No row: fewer rows than that remain.
pub fn boundary(shape: &TableShape, lo: bool, hi: bool) -> Result<String, IdentError> {
    let keys = key_list(shape)?;
    Ok(format!(
        "SELECT {k} FROM {t}{w} ORDER BY {k} OFFSET @P1 ROWS FETCH NEXT 1 ROWS ONLY",
        k = keys.join(", "),
        t = shape.name.quoted(),
        w = range_where(&keys, lo, hi, 2),
    ))
}

/// A page of keys in key order after the cursor (when `cursor`), at most
/// `@P1`. Parameters: `@P1`, then the cursor's key.
pub fn keys_page(shape: &TableShape, cursor: bool) -> Result<String, IdentError> {
    let keys = key_list(shape)?;
    Ok(format!(
        "SELECT TOP (@P1) {k} FROM {t}{w} ORDER BY {k}",
        k = keys.join(", "),
        t = shape.name.quoted(),
        w = range_where(&keys, cursor, false, 2),
    ))
}

/// `COUNT_BIG(*)` and the [`HASH_LANES`] sums of the row hashes of the rows
/// in `(lo, hi]`. Parameters: lo's key, then hi's.
pub fn range_hash(
    shape: &TableShape,
    skip: &[usize],
    lo: bool,
    hi: bool,
) -> Result<String, IdentError> {
    let keys = key_list(shape)?;
    let sums: Vec<String> = (0..HASH_LANES)
        .map(|i| format!("SUM(CAST(SUBSTRING(x.h, {}, 4) AS bigint))", i * 4 + 1))
        .collect();
    Ok(format!(
        "SELECT COUNT_BIG(*), {} FROM (SELECT {} AS h FROM {}{}) AS x",
        sums.join(", "),
        row_hash(shape, skip)?,
        shape.name.quoted(),
        range_where(&keys, lo, hi, 1),
    ))
}

/// A page of `(key..., extra columns..., row hash)` in key order: the rows
/// in `(lo, hi]` after the cursor `after` (all optional), at most `@P1`.
/// Parameters: `@P1`, then lo's key, hi's key, the cursor's key. `extra`
/// are positions of columns read as they are (references, translated by
/// the caller) and left out of the hash with `skip`.
pub fn rows_page(
    shape: &TableShape,
    extra: &[usize],
    skip: &[usize],
    bounds: (bool, bool, bool),
) -> Result<String, IdentError> {
    let keys = key_list(shape)?;
    let (lo, hi, cursor) = bounds;
    let mut cols = keys.clone();
    for &p in extra {
        if let Some(c) = shape.columns.get(p) {
            cols.push(super::statements::read_column("", c)?);
        }
    }
    cols.push(row_hash(shape, skip)?);
    let mut conds = Vec::new();
    let mut next = 2;
    // (bound present, the bound is the inclusive upper one)
    for (on, upper) in [(lo, false), (hi, true), (cursor, false)] {
        if !on {
            continue;
        }
        let a = after(&keys, next);
        conds.push(if upper { format!("NOT {a}") } else { a });
        next += keys.len();
    }
    let w = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    Ok(format!(
        "SELECT TOP (@P1) {} FROM {}{w} ORDER BY {}",
        cols.join(", "),
        shape.name.quoted(),
        keys.join(", ")
    ))
}

/// `(k1 = @Pf AND k2 = @Pf+1) OR ...` for `n` keys (`k1 IN (...)` for a
/// single-column key), parameters numbered from `first`.
fn keys_in(keys: &[String], n: usize, first: usize) -> String {
    if n == 0 {
        return "1 = 0".into();
    }
    let width = keys.len();
    if width == 1 {
        let ps: Vec<String> = (0..n).map(|i| format!("@P{}", first + i)).collect();
        return format!("{} IN ({})", keys[0], ps.join(", "));
    }
    let alternatives: Vec<String> = (0..n)
        .map(|i| {
            let parts: Vec<String> = keys
                .iter()
                .enumerate()
                .map(|(j, k)| format!("{k} = @P{}", first + i * width + j))
                .collect();
            format!("({})", parts.join(" AND "))
        })
        .collect();
    alternatives.join(" OR ")
}

/// `(key..., extra..., row hash)` of the rows whose key is one of `n` keys
/// (`@P1`...: their values, key after key).
pub fn rows_at(
    shape: &TableShape,
    extra: &[usize],
    skip: &[usize],
    n: usize,
) -> Result<String, IdentError> {
    let keys = key_list(shape)?;
    let mut cols = keys.clone();
    for &p in extra {
        if let Some(c) = shape.columns.get(p) {
            cols.push(super::statements::read_column("", c)?);
        }
    }
    cols.push(row_hash(shape, skip)?);
    Ok(format!(
        "SELECT {} FROM {} WHERE {}",
        cols.join(", "),
        shape.name.quoted(),
        keys_in(&keys, n, 1)
    ))
}

/// Every synced column (as the agent reads them) of the rows whose key is
/// one of `n` keys: the images a report shows and a repair writes.
pub fn images_at(shape: &TableShape, n: usize) -> Result<String, IdentError> {
    let keys = key_list(shape)?;
    let cols = shape
        .columns
        .iter()
        .map(|c| super::statements::read_column("", c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(format!(
        "SELECT {} FROM {} WHERE {}",
        cols.join(", "),
        shape.name.quoted(),
        keys_in(&keys, n, 1)
    ))
}

/// Keys per request of a key list (bound parameters, below SQL Server's
/// 2,100 per request).
pub fn keys_per_request(shape: &TableShape) -> usize {
    (super::statements::PARAMS_PER_REQUEST_MAX / shape.key.len().max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mssql::ident::TableName;

    fn shape(key: &[&str], cols: &[(&str, &str)]) -> TableShape {
        TableShape {
            name: TableName::new("dbo", "T").expect("name"),
            key: key.iter().map(|k| k.to_string()).collect(),
            columns: cols
                .iter()
                .map(|(n, t)| ColumnShape {
                    name: n.to_string(),
                    data_type: t.to_string(),
                    identity: false,
                })
                .collect(),
        }
    }

    #[test]
    fn row_hash_prefixes_lengths_and_normalises_by_type() {
        let s = shape(
            &["id"],
            &[
                ("id", "int"),
                ("f", "float"),
                ("b", "varbinary"),
                ("d", "datetime"),
            ],
        );
        let h = row_hash(&s, &[]).expect("sql");
        assert!(
            h.starts_with("HASHBYTES('SHA2_256', CONCAT(ISNULL(CAST([id] AS nvarchar(max)), N'~'), N'|', ISNULL(CONVERT(nvarchar(max), [f], 3), N'~')"),
            "{h}"
        );
        let n = shape(&["id"], &[("id", "int"), ("n", "nvarchar")]);
        let hn = row_hash(&n, &[]).expect("sql");
        assert!(
            hn.contains("N'|', CONCAT(DATALENGTH(CAST([n] AS nvarchar(max))), N':', CAST([n] AS nvarchar(max)))"),
            "{hn}"
        );
        assert!(h.contains("CONVERT(nvarchar(max), [f], 3)"), "{h}");
        assert!(
            h.contains("CONVERT(nvarchar(max), CAST([b] AS varbinary(max)), 1)"),
            "{h}"
        );
        assert!(h.contains("CONVERT(nvarchar(max), [d], 121)"), "{h}");
        assert!(h.ends_with(", N''))"), "{h}");
        let skipped = row_hash(&s, &[0]).expect("sql");
        assert!(!skipped.contains("[id]"), "{skipped}");
    }

    #[test]
    fn range_hash_binds_both_bounds() {
        let s = shape(&["a", "b"], &[("a", "int"), ("b", "int")]);
        let q = range_hash(&s, &[], true, true).expect("sql");
        assert!(q.starts_with("SELECT COUNT_BIG(*), SUM(CAST(SUBSTRING(x.h, 1, 4) AS bigint)), SUM(CAST(SUBSTRING(x.h, 5, 4) AS bigint)), SUM(CAST(SUBSTRING(x.h, 9, 4) AS bigint)) FROM (SELECT HASHBYTES"), "{q}");
        assert!(
            q.ends_with("FROM [dbo].[T] WHERE (([a] > @P1) OR ([a] = @P1 AND [b] > @P2)) AND NOT (([a] > @P3) OR ([a] = @P3 AND [b] > @P4))) AS x"),
            "{q}"
        );
        let open = range_hash(&s, &[], false, false).expect("sql");
        assert!(open.ends_with("FROM [dbo].[T]) AS x"), "{open}");
    }

    #[test]
    fn pages_and_key_lists() {
        let s = shape(
            &["id"],
            &[("id", "int"), ("user_id", "int"), ("n", "nvarchar")],
        );
        let q = rows_page(&s, &[1], &[0, 1], (true, true, true)).expect("sql");
        assert!(
            q.starts_with("SELECT TOP (@P1) [id], [user_id], HASHBYTES"),
            "{q}"
        );
        assert!(
            q.ends_with(
                "WHERE (([id] > @P2)) AND NOT (([id] > @P3)) AND (([id] > @P4)) ORDER BY [id]"
            ),
            "{q}"
        );
        let q = rows_page(&s, &[], &[], (false, false, true)).expect("sql");
        assert!(q.ends_with("WHERE (([id] > @P2)) ORDER BY [id]"), "{q}");
        let q = rows_page(&s, &[], &[], (false, true, false)).expect("sql");
        assert!(q.ends_with("WHERE NOT (([id] > @P2)) ORDER BY [id]"), "{q}");
        let q = images_at(&s, 3).expect("sql");
        assert!(q.ends_with("WHERE [id] IN (@P1, @P2, @P3)"), "{q}");
        let c = shape(&["a", "b"], &[("a", "int"), ("b", "int")]);
        let q = rows_at(&c, &[], &[], 2).expect("sql");
        assert!(
            q.ends_with("WHERE ([a] = @P1 AND [b] = @P2) OR ([a] = @P3 AND [b] = @P4)"),
            "{q}"
        );
        let q = boundary(&s, true, true).expect("sql");
        assert_eq!(q, "SELECT [id] FROM [dbo].[T] WHERE (([id] > @P2)) AND NOT (([id] > @P3)) ORDER BY [id] OFFSET @P1 ROWS FETCH NEXT 1 ROWS ONLY");
        let q = keys_page(&s, true).expect("sql");
        assert_eq!(
            q,
            "SELECT TOP (@P1) [id] FROM [dbo].[T] WHERE (([id] > @P2)) ORDER BY [id]"
        );
    }
}
