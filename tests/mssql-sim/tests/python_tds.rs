//! The stand-in with a SQL Server client nobody here wrote: python-tds
//! (`pytds`, from PyPI; `.ci/run` installs it). `scripts/python_tds_check.py`
//! creates a table, round-trips every type of SIM-SPEC.md through bound
//! parameters and reads CHANGETABLE.
//!
//! `scripts/python_tds_tls_check.py` does TLS (python-tds uses pyOpenSSL):
//! encrypted throughout and login-only, against a stand-in with a
//! certificate from a CA made here, and a wrong CA refused.
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

#[test]
fn python_tds_speaks_tls_to_the_stand_in() {
    let pki = common::certs::make();
    let (cert, key) = (pki.cert.clone(), pki.key.clone());
    common::python::PythonCheck {
        // python-tds imports pyOpenSSL only when TLS is asked for.
        module: "pytds, OpenSSL",
        install: "pip install python-tds==1.17.1 pyOpenSSL",
        require_var: "CTSYNC_TEST_REQUIRE_PYTDS",
        script: "python_tds_tls_check.py",
        passed: "python-tds TLS check passed",
    }
    .run_with(
        move || {
            mssql_sim::SimServer::start(
                mssql_sim::SimConfig::new(common::DB, common::USER, common::PASSWORD)
                    .with_tls(mssql_sim::TlsConfig::new(cert, key)),
            )
            .expect("the stand-in starts with TLS")
        },
        &[
            pki.ca.display().to_string(),
            pki.other_ca.display().to_string(),
        ],
    );
}
