//! The stand-in with Microsoft's own driver: `mssql-python` (PyPI), which
//! bundles the Microsoft ODBC Driver for SQL Server and needs Debian's
//! `libltdl7` (`.ci/run` installs both). The driver sends parameterised
//! statements as `sp_prepexec` and `executemany` as batched RPCs, paths no
//! other client here takes. `scripts/mssql_python_check.py` round-trips
//! every type through bound parameters, inserts with `executemany`, writes
//! with a change tracking context and reads CHANGETABLE.
//!
//! Without python3 or mssql-python the test prints a note and passes, unless
//! `CTSYNC_TEST_REQUIRE_MSSQL_PYTHON` (set by `.ci/run`) or `CI` is set:
//! then it fails.

mod common;

use std::process::Command;

#[test]
fn mssql_python_round_trips_every_type_through_sp_prepexec_and_reads_changetable() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/mssql_python_check.py");
    let required = std::env::var_os("CTSYNC_TEST_REQUIRE_MSSQL_PYTHON").is_some()
        || std::env::var_os("CI").is_some();
    let probe = Command::new("python3")
        .args(["-c", "import mssql_python"])
        .output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        assert!(
            !required,
            "python3 with mssql-python is required here (apt-get install libltdl7; pip install mssql-python): {probe:?}"
        );
        eprintln!("note: python3 with mssql-python not found; the ODBC driver check is skipped (apt-get install libltdl7; pip install mssql-python)");
        return;
    }
    let server = common::start();
    let out = Command::new("python3")
        .arg(&script)
        .args([
            "127.0.0.1",
            &server.addr().port().to_string(),
            common::DB,
            common::USER,
            common::PASSWORD,
        ])
        .output()
        .expect("run python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "mssql-python check failed:\n{text}");
    assert!(text.contains("mssql-python check passed"), "{text}");
}
