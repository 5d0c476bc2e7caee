//! The stand-in with a SQL Server client nobody here wrote: python-tds
//! (`pytds`, from PyPI; `.ci/run` installs it). `scripts/python_tds_check.py`
//! creates a table, round-trips every type of SIM-SPEC.md through bound
//! parameters and reads CHANGETABLE.
//!
//! Without python3 or pytds the test prints a note and passes, unless
//! `CTSYNC_TEST_REQUIRE_PYTDS` (set by `.ci/run`) or `CI` is set: then it fails.

mod common;

use std::process::Command;

#[test]
fn python_tds_round_trips_every_type_and_reads_changetable() {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/python_tds_check.py");
    let required =
        std::env::var_os("CTSYNC_TEST_REQUIRE_PYTDS").is_some() || std::env::var_os("CI").is_some();
    let probe = Command::new("python3")
        .args(["-c", "import pytds"])
        .output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        assert!(
            !required,
            "python3 with python-tds is required here (pip install python-tds==1.17.1): {probe:?}"
        );
        eprintln!("note: python3 with python-tds not found; the python-tds check is skipped (pip install python-tds==1.17.1)");
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
    assert!(out.status.success(), "python-tds check failed:\n{text}");
    assert!(text.contains("python-tds check passed"), "{text}");
}
