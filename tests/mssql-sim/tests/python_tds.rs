//! The stand-in with a SQL Server client nobody here wrote: python-tds
//! (`pytds`, from PyPI; `.ci/run` installs it). `scripts/python_tds_check.py`
//! creates a table, round-trips every type of SIM-SPEC.md through bound
//! parameters and reads CHANGETABLE.
//!
//! Without python3 or pytds the test prints a note and passes, unless
//! `CTSYNC_TEST_REQUIRE_PYTDS` (set by `.ci/run`) or `CI` is set: then it fails.

mod common;

#[test]
fn python_tds_round_trips_every_type_and_reads_changetable() {
    common::python::PythonCheck {
        module: "pytds",
        install: "pip install python-tds==1.17.1",
        require_var: "CTSYNC_TEST_REQUIRE_PYTDS",
        script: "python_tds_check.py",
        passed: "python-tds check passed",
    }
    .run();
}
