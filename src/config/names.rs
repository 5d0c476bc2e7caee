//! Table names as written in the config: `schema.name`, `name` (schema
//! `dbo`), or bracket-quoted parts.
//! docs/relational-databases/databases/database-identifiers.md

use crate::mssql::ident::TableName;

/// Parses `schema.name`, `name` (schema `dbo`) or bracket-quoted parts
/// (`[Sales Data].[Order]]s]`, `]]` standing for `]`).
/// docs/relational-databases/databases/database-identifiers.md
pub fn parse_table_name(s: &str) -> Result<TableName, String> {
    let mut parts: Vec<String> = Vec::new();
    let mut chars = s.chars().peekable();
    let mut cur = String::new();
    let mut quoted = false;
    loop {
        match chars.next() {
            None => break,
            Some('[') if cur.is_empty() && !quoted => {
                loop {
                    match chars.next() {
                        None => return Err("has an unclosed `[`".to_string()),
                        Some(']') if chars.peek() == Some(&']') => {
                            chars.next();
                            cur.push(']');
                        }
                        Some(']') => break,
                        Some(c) => cur.push(c),
                    }
                }
                quoted = true;
                if let Some(c) = chars.peek().filter(|c| **c != '.') {
                    return Err(format!(
                        "has `{c}` after a closing `]`; expected `.` or the end"
                    ));
                }
            }
            Some('.') => {
                parts.push(finish_part(std::mem::take(&mut cur), quoted)?);
                quoted = false;
            }
            Some(c) => cur.push(c),
        }
    }
    parts.push(finish_part(cur, quoted)?);
    let (schema, name) = match parts.as_slice() {
        [name] => ("dbo", name.as_str()),
        [schema, name] => (schema.as_str(), name.as_str()),
        _ => {
            return Err(
                "has more than two parts; allowed: `schema.table` or `table` (the database is servers.<side>.database)"
                    .to_string(),
            )
        }
    };
    TableName::new(schema, name).map_err(|e| e.to_string())
}

/// Checks one part: bracketed parts may hold anything but NUL (length is
/// checked by `TableName::new`); plain parts follow the rules for regular
/// identifiers (a letter or `_`, then letters, digits, `_`, `@`, `$`, `#`).
fn finish_part(part: String, quoted: bool) -> Result<String, String> {
    if part.is_empty() {
        return Err("has an empty part".to_string());
    }
    if quoted {
        return Ok(part);
    }
    let mut chars = part.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '@' | '$' | '#'));
    if first_ok && rest_ok {
        Ok(part)
    } else {
        Err(format!(
            "part {part:?} is not a regular identifier (a letter or _, then letters, digits, _ @ $ #); \
             put other names in brackets, e.g. [{part}]"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        let t = parse_table_name("Users").unwrap();
        assert_eq!((t.schema.as_str(), t.name.as_str()), ("dbo", "Users"));
        let t = parse_table_name("sales.Orders").unwrap();
        assert_eq!((t.schema.as_str(), t.name.as_str()), ("sales", "Orders"));
        let t = parse_table_name("[my.schema].[Order]]s x]").unwrap();
        assert_eq!(
            (t.schema.as_str(), t.name.as_str()),
            ("my.schema", "Order]s x")
        );
        let t = parse_table_name("dbo.[Order Details]").unwrap();
        assert_eq!(t.name, "Order Details");
        assert!(parse_table_name("Straße_1").is_ok());
    }

    #[test]
    fn bad_table_names() {
        for bad in [
            "", "a.", ".a", "a.b.c", "[a", "[a]x", "my table", "1abc", "#tmp", "a;drop",
        ] {
            assert!(parse_table_name(bad).is_err(), "{bad:?} was accepted");
        }
        let long = "x".repeat(129);
        let e = parse_table_name(&format!("dbo.{long}")).unwrap_err();
        assert!(e.contains("128"), "{e}");
        assert!(parse_table_name(&format!("dbo.{}", "x".repeat(128))).is_ok());
        let e = parse_table_name("my table").unwrap_err();
        assert!(e.contains("[my table]"), "{e}");
    }
}
