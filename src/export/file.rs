//! Where export files go and how they become durable: each table has a
//! directory `<directory>/<schema>.<table>/`; a file is written as
//! `<name>.csv.tmp`, flushed and fsynced, renamed to `<name>.csv`, and the
//! directory is fsynced, so a file under its final name is always complete.
//! A crash leaves at most a `.csv.tmp`, removed by the next run.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

/// Suffix of a file being written.
pub const TMP_SUFFIX: &str = ".csv.tmp";
const WRITE_BUFFER: usize = 256 * 1024;

/// An I/O failure with the path it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{what} {}: {source}", path.display())]
pub struct FileError {
    pub what: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

fn at<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FileError + 'a {
    move |source| FileError {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// A table's name as a file name part: characters a file name cannot hold
/// (`/`, NUL) and `\` become `_`.
pub fn file_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | '\0') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Creates (if needed) the table's directory under `root` and removes the
/// temporary files a crashed run left there; returns the directory and how
/// many were removed.
pub fn prepare_dir(root: &Path, table: &str) -> Result<(PathBuf, usize), FileError> {
    let dir = root.join(file_part(table));
    std::fs::create_dir_all(&dir).map_err(at("cannot create directory", &dir))?;
    let mut removed = 0;
    for entry in std::fs::read_dir(&dir).map_err(at("cannot read directory", &dir))? {
        let entry = entry.map_err(at("cannot read directory", &dir))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().ends_with(TMP_SUFFIX) {
            std::fs::remove_file(&path).map_err(at("cannot remove stale file", &path))?;
            removed += 1;
        }
    }
    Ok((dir, removed))
}

/// A file being written under its temporary name; removed when dropped
/// before [`TempCsv::commit`].
pub struct TempCsv {
    tmp: PathBuf,
    path: PathBuf,
    out: Option<BufWriter<File>>,
}

impl TempCsv {
    /// Starts `<dir>/<stem>.csv` as `<dir>/<stem>.csv.tmp`.
    pub fn create(dir: &Path, stem: &str) -> Result<TempCsv, FileError> {
        let path = dir.join(format!("{stem}.csv"));
        let tmp = dir.join(format!("{stem}{TMP_SUFFIX}"));
        let file = File::create(&tmp).map_err(at("cannot create file", &tmp))?;
        Ok(TempCsv {
            out: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            tmp,
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    #[cfg(test)]
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// The writer, and the error to report if a write fails.
    pub fn writer(
        &mut self,
    ) -> (
        &mut BufWriter<File>,
        impl FnOnce(io::Error) -> FileError + '_,
    ) {
        let out = self
            .out
            .as_mut()
            .expect("a TempCsv is written only before commit");
        (out, at("cannot write file", &self.tmp))
    }

    /// Flush, fsync, rename into place, fsync the directory: when this
    /// returns the complete file is durable under its final name. Blocks.
    pub fn commit(mut self) -> Result<PathBuf, FileError> {
        let out = self.out.take().expect("committed once");
        let done = self.finish(out);
        if done.is_err() {
            // Best effort, as in `drop`.
            let _ = std::fs::remove_file(&self.tmp);
        }
        done
    }

    fn finish(&self, out: BufWriter<File>) -> Result<PathBuf, FileError> {
        let file = out.into_inner().map_err(|e| FileError {
            what: "cannot write file",
            path: self.tmp.clone(),
            source: e.into_error(),
        })?;
        file.sync_all()
            .map_err(at("cannot fsync file", &self.tmp))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.path)
            .map_err(at("cannot rename into place", &self.path))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(at("cannot fsync directory", dir))?;
        }
        Ok(self.path.clone())
    }
}

impl Drop for TempCsv {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            // Not committed: the file is incomplete. Best effort; a file
            // left behind is removed by the next run's `prepare_dir`.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn commit_renames_and_drop_removes() {
        let root = tempfile::tempdir().unwrap();
        let (dir, removed) = prepare_dir(root.path(), "dbo.T").unwrap();
        assert_eq!(removed, 0);
        let mut f = TempCsv::create(&dir, "dbo.T.full.1").unwrap();
        let (w, _) = f.writer();
        w.write_all(b"id\r\n").unwrap();
        let tmp = f.tmp_path().to_path_buf();
        assert!(tmp.exists());
        let path = f.commit().unwrap();
        assert!(!tmp.exists());
        assert_eq!(std::fs::read(&path).unwrap(), b"id\r\n");
        let f = TempCsv::create(&dir, "dbo.T.full.2").unwrap();
        let tmp = f.tmp_path().to_path_buf();
        drop(f);
        assert!(!tmp.exists(), "an uncommitted file is removed");
        std::fs::write(dir.join("dbo.T.full.3.csv.tmp"), b"x").unwrap();
        assert_eq!(prepare_dir(root.path(), "dbo.T").unwrap().1, 1);
        assert_eq!(file_part("a/b\\c"), "a_b_c");
    }
}
