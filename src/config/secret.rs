//! Passwords: a [`Secret`] prints as `***` in `Debug` and `Display` and has no
//! `Serialize`, so it cannot reach a log line, `inspect` output or an error
//! message by accident; [`Secret::expose`] is the one way to read it, used only
//! where the login is built.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::path::Path;

/// A password file larger than this is certainly not a password (a key file,
/// a log pointed at by mistake): refuse it rather than read it into memory.
pub const PASSWORD_FILE_MAX_BYTES: u64 = 4096;

/// What a secret shows instead of its value.
pub const REDACTED: &str = "***";

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    #[cfg(test)]
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The password itself. Call only to hand it to the client library.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        // Only strings: a YAML `password: 0123` would otherwise arrive as the
        // number 123 and log in with the wrong password. The error then says
        // "expected a string" and the operator quotes the value.
        String::deserialize(d).map(Secret)
    }
}

/// Why a password file could not be used. The messages name the file, never
/// its content.
#[derive(Debug, thiserror::Error)]
pub enum PasswordFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is {size} bytes; a password file holds at most {PASSWORD_FILE_MAX_BYTES} bytes"
    )]
    TooLarge { path: String, size: u64 },
    #[error("{path} is not UTF-8 text")]
    NotUtf8 { path: String },
    #[error("{path} is empty (after removing the final line break)")]
    Empty { path: String },
}

/// Reads a password file: its whole content except one final line break
/// (`\n` or `\r\n`, as editors and `echo` add one). Other whitespace is kept:
/// it may be part of the password.
pub fn read_password_file(path: &Path) -> Result<Secret, PasswordFileError> {
    let shown = path.display().to_string();
    let read_err = |source| PasswordFileError::Read {
        path: shown.clone(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_err)?.len();
    if size > PASSWORD_FILE_MAX_BYTES {
        return Err(PasswordFileError::TooLarge { path: shown, size });
    }
    let bytes = std::fs::read(path).map_err(read_err)?;
    // A file that grew between the two calls is bounded here too.
    if bytes.len() as u64 > PASSWORD_FILE_MAX_BYTES {
        return Err(PasswordFileError::TooLarge {
            path: shown,
            size: bytes.len() as u64,
        });
    }
    let mut text = String::from_utf8(bytes).map_err(|_| PasswordFileError::NotUtf8 {
        path: shown.clone(),
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        return Err(PasswordFileError::Empty { path: shown });
    }
    Ok(Secret(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2-secret");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(s.expose(), "hunter2-secret");
    }

    #[test]
    fn file_loses_one_final_line_break_only() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b" pa ss\r\n").unwrap();
        assert_eq!(read_password_file(f.path()).unwrap().expose(), " pa ss");
        let mut g = tempfile::NamedTempFile::new().unwrap();
        g.write_all(b"x\n\n").unwrap();
        assert_eq!(read_password_file(g.path()).unwrap().expose(), "x\n");
    }

    #[test]
    fn file_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let e = read_password_file(&missing).unwrap_err().to_string();
        assert!(e.contains(&missing.display().to_string()), "{e}");

        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; 5000]).unwrap();
        let e = read_password_file(&big).unwrap_err().to_string();
        assert!(e.contains("5000 bytes") && e.contains("big"), "{e}");

        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"\n").unwrap();
        assert!(matches!(
            read_password_file(&empty),
            Err(PasswordFileError::Empty { .. })
        ));

        let binary = dir.path().join("bin");
        std::fs::write(&binary, [0xff, 0xfe]).unwrap();
        assert!(matches!(
            read_password_file(&binary),
            Err(PasswordFileError::NotUtf8 { .. })
        ));
    }
}
