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

#[test]
fn mssql_python_round_trips_every_type_through_sp_prepexec_and_reads_changetable() {
    common::python::PythonCheck {
        module: "mssql_python",
        install: "apt-get install libltdl7; pip install mssql-python",
        require_var: "CTSYNC_TEST_REQUIRE_MSSQL_PYTHON",
        script: "mssql_python_check.py",
        passed: "mssql-python check passed",
    }
    .run();
}
