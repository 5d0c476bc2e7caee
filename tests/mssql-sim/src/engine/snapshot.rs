//! Named snapshots of the whole database (test control), through SQLite's
//! online backup API. The change-tracking side tables live in the same file,
//! so versions come back with the data, as after a RESTORE DATABASE.

use super::sqlerr;
use crate::error::SqlError;
use rusqlite::backup::{Backup, StepResult};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn snapshot_path(dir: &Path, name: &str) -> Result<PathBuf, SqlError> {
    // Names become file names: keep them to a safe alphabet.
    if name.is_empty()
        || name.len() > 100
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(SqlError::new(
            50000,
            16,
            1,
            format!(
                "mssql-sim: invalid snapshot name '{name}' (letters, digits, '_' and '-' only)."
            ),
        ));
    }
    Ok(dir.join(format!("{name}.sqlite")))
}

/// How long a snapshot copy waits for other connections' locks.
const LOCK_WAIT: Duration = Duration::from_secs(20);

/// Copies all pages, retrying while other connections hold locks, up to
/// [`LOCK_WAIT`] (then error 1222, as a lock timeout).
fn copy(backup: &Backup<'_, '_>) -> Result<(), SqlError> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match backup.step(1000).map_err(sqlerr)? {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            StepResult::Busy | StepResult::Locked => {
                if std::time::Instant::now() > deadline {
                    return Err(SqlError::new(
                        1222,
                        16,
                        56,
                        "Lock request time out period exceeded.",
                    ));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            // StepResult is non-exhaustive.
            #[allow(unreachable_patterns)]
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

pub fn save(conn: &Connection, dir: &Path, name: &str) -> Result<(), SqlError> {
    let path = snapshot_path(dir, name)?;
    let mut dst = Connection::open(&path).map_err(sqlerr)?;
    let backup = Backup::new(conn, &mut dst).map_err(sqlerr)?;
    copy(&backup)
}

pub fn restore(conn: &mut Connection, dir: &Path, name: &str) -> Result<(), SqlError> {
    let path = snapshot_path(dir, name)?;
    if !path.exists() {
        return Err(SqlError::new(
            50000,
            16,
            1,
            format!("mssql-sim: no snapshot named '{name}'."),
        ));
    }
    let src = Connection::open(&path).map_err(sqlerr)?;
    let backup = Backup::new(&src, conn).map_err(sqlerr)?;
    copy(&backup)
}
