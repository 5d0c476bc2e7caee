//! Safe identifiers: every table and column name that reaches T-SQL text goes
//! through [`quote`], which brackets it and doubles `]`, after checking SQL
//! Server's 128-character limit.
//! docs/relational-databases/databases/database-identifiers.md

use std::fmt;

/// Maximum length of a SQL Server identifier (sysname).
pub const IDENT_CHARS_MAX: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    #[error("identifier is empty")]
    Empty,
    #[error("identifier '{prefix}...' is {chars} characters long; SQL Server allows at most {IDENT_CHARS_MAX}")]
    TooLong { prefix: String, chars: usize },
    #[error("identifier contains a NUL character")]
    Nul,
    #[error("table {0}: an identity-mapped table's key is a single column")]
    IdentityKey(String),
}

/// `name` → `[name]` with `]` doubled.
pub fn quote(name: &str) -> Result<String, IdentError> {
    let chars = name.chars().count();
    if chars == 0 {
        return Err(IdentError::Empty);
    }
    if chars > IDENT_CHARS_MAX {
        return Err(IdentError::TooLong {
            prefix: name.chars().take(20).collect(),
            chars,
        });
    }
    if name.contains('\0') {
        return Err(IdentError::Nul);
    }
    let mut out = String::with_capacity(name.len() + 2);
    out.push('[');
    for c in name.chars() {
        if c == ']' {
            out.push_str("]]");
        } else {
            out.push(c);
        }
    }
    out.push(']');
    Ok(out)
}

/// A schema-qualified table name, already validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub schema: String,
    pub name: String,
}

impl TableName {
    pub fn new(schema: &str, name: &str) -> Result<TableName, IdentError> {
        quote(schema)?;
        quote(name)?;
        Ok(TableName {
            schema: schema.to_string(),
            name: name.to_string(),
        })
    }

    /// `[schema].[name]`
    pub fn quoted(&self) -> String {
        // Both parts were checked in `new`.
        format!(
            "{}.{}",
            quote(&self.schema).unwrap_or_default(),
            quote(&self.name).unwrap_or_default()
        )
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_are_doubled() {
        assert_eq!(quote("a]b").unwrap(), "[a]]b]");
        assert_eq!(quote("x; DROP TABLE y--").unwrap(), "[x; DROP TABLE y--]");
    }

    #[test]
    fn length_limit_is_128_characters() {
        assert!(quote(&"é".repeat(128)).is_ok());
        assert!(matches!(
            quote(&"a".repeat(129)),
            Err(IdentError::TooLong { chars: 129, .. })
        ));
        assert_eq!(quote(""), Err(IdentError::Empty));
    }
}
