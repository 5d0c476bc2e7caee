//! Running a check script of a Python SQL Server client (python-tds,
//! mssql-python) against a fresh stand-in.

use std::process::Command;

/// A client check: the Python module it needs, how to install it, the
/// environment variable that makes it required, its script under
/// `scripts/`, and the line it prints when it passed.
pub struct PythonCheck {
    pub module: &'static str,
    pub install: &'static str,
    pub require_var: &'static str,
    pub script: &'static str,
    pub passed: &'static str,
}

impl PythonCheck {
    /// Runs the script against a new stand-in and asserts it passed.
    /// Without python3 or the module it prints a note and returns, unless
    /// `require_var` or `CI` is set: then it fails.
    pub fn run(&self) {
        self.run_with(super::start, &[]);
    }

    /// Like [`PythonCheck::run`], against the stand-in `start` makes, with
    /// `extra` arguments after the usual five.
    pub fn run_with(&self, start: impl FnOnce() -> mssql_sim::SimServer, extra: &[String]) {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scripts")
            .join(self.script);
        let required =
            std::env::var_os(self.require_var).is_some() || std::env::var_os("CI").is_some();
        let probe = Command::new("python3")
            .args(["-c", &format!("import {}", self.module)])
            .output();
        if !matches!(&probe, Ok(o) if o.status.success()) {
            assert!(
                !required,
                "python3 with {} is required here ({}): {probe:?}",
                self.module, self.install
            );
            eprintln!(
                "note: python3 with {} not found; its check is skipped ({})",
                self.module, self.install
            );
            return;
        }
        let server = start();
        let host = if extra.is_empty() {
            "127.0.0.1"
        } else {
            "localhost"
        };
        let out = Command::new("python3")
            .arg(&script)
            .args([
                host,
                &server.addr().port().to_string(),
                super::DB,
                super::USER,
                super::PASSWORD,
            ])
            .args(extra)
            .output()
            .expect("run python3");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "{} check failed:\n{text}",
            self.module
        );
        assert!(text.contains(self.passed), "{text}");
    }
}
