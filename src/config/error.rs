//! Config errors: each problem names the key path (`tables[2].force_id`), the
//! value found (never for a password) and what is allowed.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Key path, e.g. `servers.a.port` or `tables[2].force_id`; empty for a
    /// problem of the whole file.
    pub key: String,
    /// The value found, as the operator would write it; `None` when there is
    /// none (a missing key) or it must not be shown (a password).
    pub value: Option<String>,
    /// What is wrong and what is allowed.
    pub message: String,
    /// Where the value came from (`config.yaml`, an environment variable),
    /// when known.
    pub origin: Option<String>,
}

impl Problem {
    pub fn new(
        key: impl Into<String>,
        value: Option<String>,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            key: key.into(),
            value,
            message: message.into(),
            origin: None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An empty key is a problem of the whole file (YAML syntax).
        if !self.key.is_empty() {
            write!(f, "`{}`", self.key)?;
            if let Some(v) = &self.value {
                write!(f, " = {v}")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.message)?;
        if let Some(o) = &self.origin {
            write!(f, " (from {o})")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render(.0))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// The problems found (empty for a file that could not be read).
    #[cfg(test)]
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(p) => p,
            ConfigError::ReadFile { .. } => &[],
        }
    }
}

fn render(problems: &[Problem]) -> String {
    match problems {
        [one] => format!("invalid config: {one}"),
        many => {
            let mut s = format!("invalid config ({} problems):", many.len());
            for p in many {
                s.push_str("\n  - ");
                s.push_str(&p.to_string());
            }
            s
        }
    }
}

/// `value` quoted for a message, bounded so a huge value cannot flood a log.
pub fn shown(value: &str) -> String {
    const MAX: usize = 80;
    if value.chars().count() > MAX {
        let head: String = value.chars().take(MAX).collect();
        format!("{head:?}...")
    } else {
        format!("{value:?}")
    }
}
