//! Scenario: `ctsync check` against two stand-ins: every problem is printed
//! with its fix and the exit code is non-zero; once fixed, it exits 0. It
//! never changes anything on the servers and never prints a password.

mod common;

use common::*;

const TABLES: &str = "  - table: dbo.Users
    key: [id]
    identity: true
    direction: both
  - table: dbo.Logs
    key: [id]
    direction: a_to_b
";

fn check(setup: &Setup) -> (bool, String) {
    let out = setup.run_to_end(&["check"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_each_problem_with_its_fix_then_passes() {
    real_server_note();
    let a = Sim::start("CheckA");
    let b = Sim::start("CheckB");
    a.exec("CREATE TABLE dbo.Users (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(50)); CREATE TABLE dbo.Logs (id INT NOT NULL, msg NVARCHAR(50));")
        .await;
    b.exec("CREATE TABLE dbo.Users (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50));")
        .await;
    let setup = Setup::new(&a, &b, "", TABLES);
    // `check` must not turn anything on, whatever the config says; this
    // config does not allow it either.
    let text = std::fs::read_to_string(&setup.config).expect("config");
    std::fs::write(
        &setup.config,
        text.replace(
            "enable_change_tracking: true",
            "enable_change_tracking: false",
        ),
    )
    .expect("config");

    let (ok, text) = check(&setup);
    assert!(!ok, "check should fail:\n{text}");
    for expected in [
        &format!("change tracking is off for database {}", a.database),
        &format!("ALTER DATABASE [{}] SET CHANGE_TRACKING = ON", a.database),
        "ALLOW_SNAPSHOT_ISOLATION ON",
        "dbo.Logs has no primary key",
        "dbo.Logs does not exist",
        "its key column is not an IDENTITY column",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    // Nothing was changed on the servers.
    assert_eq!(
        a.rows("SELECT COUNT(*) FROM sys.change_tracking_databases")
            .await[0][0],
        "0"
    );

    // Fix everything as the messages say, then check passes.
    for s in [&a, &b] {
        s.exec(&format!(
            "ALTER DATABASE [{db}] SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON); \
             ALTER DATABASE [{db}] SET ALLOW_SNAPSHOT_ISOLATION ON;",
            db = s.database
        ))
        .await;
    }
    a.exec("DROP TABLE dbo.Logs; CREATE TABLE dbo.Logs (id INT NOT NULL PRIMARY KEY, msg NVARCHAR(50)); \
            ALTER TABLE dbo.Users ENABLE CHANGE_TRACKING; ALTER TABLE dbo.Logs ENABLE CHANGE_TRACKING;")
        .await;
    b.exec("DROP TABLE dbo.Users; CREATE TABLE dbo.Users (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(50)); \
            CREATE TABLE dbo.Logs (id INT NOT NULL PRIMARY KEY, msg NVARCHAR(50)); \
            ALTER TABLE dbo.Users ENABLE CHANGE_TRACKING; ALTER TABLE dbo.Logs ENABLE CHANGE_TRACKING;")
        .await;
    let (ok, text) = check(&setup);
    assert!(ok, "check should pass after the fixes:\n{text}");
    assert!(text.contains(": ok"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_an_unreachable_server() {
    real_server_note();
    let a = Sim::start("ReachA");
    let b = Sim::start("ReachB");
    let setup = Setup::new(&a, &b, "", TABLES);
    let Some(server) = b.server() else { return };
    server.stop();
    let (ok, text) = check(&setup);
    assert!(!ok, "{text}");
    assert!(
        text.contains("server b") && text.contains("cannot connect"),
        "{text}"
    );
}
