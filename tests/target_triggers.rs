//! Scenario: both sides carry AFTER INSERT, UPDATE, DELETE audit triggers on
//! the synced tables (the audit table itself is not synced). SQL Server
//! refuses `OUTPUT` without `INTO` on such a table (error 334), so the
//! identity-mapped inserts must take their new ids through a table
//! variable; the triggers see every write ctsync makes, and a full load of
//! an explicit-key table fires them too (FIRE_TRIGGERS).

mod common;

use common::*;
use std::time::Duration;

/// `seed`: where the side's identities start, so ids differ between the
/// sides and a wrong mapping shows.
fn schema(seed: i32) -> String {
    format!(
        "
CREATE TABLE dbo.Cust (id INT IDENTITY({seed},1) PRIMARY KEY, name NVARCHAR(50) NOT NULL);
CREATE TABLE dbo.Ord (id BIGINT IDENTITY({seed},1) PRIMARY KEY, cust_id INT NOT NULL REFERENCES dbo.Cust (id), amount INT NOT NULL);
CREATE TABLE dbo.Note (id INT NOT NULL PRIMARY KEY, txt NVARCHAR(50) NULL);
CREATE TABLE dbo.Audit (n INT IDENTITY(1,1) PRIMARY KEY, tbl NVARCHAR(10) NOT NULL, op NCHAR(1) NOT NULL, row_id BIGINT NOT NULL);
"
    )
}

/// One audit trigger per table; each is its own batch (CREATE TRIGGER must
/// be the first statement of a batch).
fn trigger(table: &str) -> String {
    format!(
        "CREATE TRIGGER dbo.trg_audit_{table} ON dbo.{table} AFTER INSERT, UPDATE, DELETE AS
         BEGIN
           SET NOCOUNT ON;
           INSERT INTO dbo.Audit (tbl, op, row_id)
             SELECT N'{table}',
                    CASE WHEN d.id IS NULL THEN N'I' WHEN i.id IS NULL THEN N'D' ELSE N'U' END,
                    COALESCE(i.id, d.id)
             FROM inserted AS i FULL JOIN deleted AS d ON d.id = i.id;
         END"
    )
}

const TABLES: &str = "  - table: dbo.Cust
    key: [id]
    identity: true
    direction: both
  - table: dbo.Ord
    key: [id]
    identity: true
    references: { cust_id: dbo.Cust }
    direction: both
  - table: dbo.Note
    key: [id]
    initial: full
";

async fn audit(s: &Sim, table: &str, op: &str) -> i64 {
    let r = s
        .rows(&format!(
            "SELECT COUNT(*) FROM dbo.Audit WHERE tbl = N'{table}' AND op = N'{op}'"
        ))
        .await;
    r[0][0].parse().unwrap_or(-1)
}

async fn orders(s: &Sim) -> Vec<Vec<String>> {
    s.rows("SELECT c.name, o.amount FROM dbo.Ord o JOIN dbo.Cust c ON c.id = o.cust_id ORDER BY o.amount")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_inserts_and_loads_reach_targets_with_audit_triggers() {
    real_server_note();
    let a = Sim::start("TrigA");
    let b = Sim::start("TrigB");
    for (s, seed) in [(&a, 1), (&b, 5000)] {
        s.exec(&schema(seed)).await;
        for t in ["Cust", "Ord", "Note"] {
            s.exec(&trigger(t)).await;
        }
    }
    // The stand-in refuses what SQL Server refuses: the agent cannot get
    // around the trigger by luck.
    if a.is_sim() {
        let mut c = a.client().await;
        let e = match c
            .simple_query("INSERT INTO dbo.Cust (name) OUTPUT INSERTED.id VALUES (N'x')")
            .await
        {
            Ok(s) => s.into_first_result().await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert!(
            matches!(&e, Err(tiberius::error::Error::Server(t)) if t.code() == 334),
            "{e:?}"
        );
    }
    // Rows the full load of dbo.Note carries to b.
    a.exec("INSERT INTO dbo.Note (id, txt) VALUES (1, N'n1'), (2, N'n2'), (3, N'n3')")
        .await;
    let setup = Setup::new(&a, &b, "  batch_size: 7\n", TABLES);
    let agent = setup.start_agent();
    // Parents and children on both sides, streamed.
    a.exec("INSERT INTO dbo.Cust (name) VALUES (N'ann'), (N'bob')")
        .await;
    b.exec("INSERT INTO dbo.Cust (name) VALUES (N'cy')").await;
    let parents = eventually(Duration::from_secs(30), || async {
        a.count("dbo.Cust").await == 3 && b.count("dbo.Cust").await == 3
    })
    .await;
    assert!(parents, "parents did not sync\n{}", agent.log_text());
    a.exec(
        "INSERT INTO dbo.Ord (cust_id, amount)
         SELECT id, 10 FROM dbo.Cust WHERE name = N'cy'
         UNION ALL SELECT id, 20 FROM dbo.Cust WHERE name = N'ann'",
    )
    .await;
    b.exec("INSERT INTO dbo.Ord (cust_id, amount) SELECT id, 30 FROM dbo.Cust WHERE name = N'bob'")
        .await;
    for i in 0..12 {
        b.exec(&format!("INSERT INTO dbo.Cust (name) VALUES (N'b{i:02}')"))
            .await;
    }
    a.exec("UPDATE dbo.Cust SET name = N'ann2' WHERE name = N'ann'")
        .await;
    a.exec("INSERT INTO dbo.Note (id, txt) VALUES (4, N'n4'); UPDATE dbo.Note SET txt = N'n1x' WHERE id = 1")
        .await;

    let names = "SELECT name FROM dbo.Cust ORDER BY name";
    let notes = "SELECT id, txt FROM dbo.Note ORDER BY id";
    let want_o: Vec<Vec<String>> = [("cy", 10), ("ann2", 20), ("bob", 30)]
        .iter()
        .map(|(n, v)| vec![n.to_string(), v.to_string()])
        .collect();
    let ok = eventually(Duration::from_secs(60), || async {
        a.count("dbo.Cust").await == 15
            && a.rows(names).await == b.rows(names).await
            && orders(&a).await == want_o
            && orders(&b).await == want_o
            && b.rows(notes).await == a.rows(notes).await
            && b.count("dbo.Note").await == 4
    })
    .await;
    let parked = setup.run_to_end(&["parked", "list"]);
    assert!(
        ok,
        "a: {:?} / {:?}\nb: {:?} / {:?}\nparked: {}\n{}",
        a.rows(names).await,
        orders(&a).await,
        b.rows(names).await,
        orders(&b).await,
        String::from_utf8_lossy(&parked.stdout),
        agent.log_text()
    );
    // The triggers saw ctsync's writes, each once: every row inserted on
    // the other side was audited as an insert on this one, the update as an
    // update, and nothing echoed back.
    assert_eq!(
        audit(&a, "Cust", "I").await,
        15,
        "a: ann, bob + cy, b00..b11"
    );
    assert_eq!(
        audit(&b, "Cust", "I").await,
        15,
        "b: cy, b00..b11 + ann, bob"
    );
    assert_eq!(audit(&a, "Cust", "U").await, 1);
    assert_eq!(
        audit(&b, "Cust", "U").await,
        1,
        "ann -> ann2 arrived as an update"
    );
    assert_eq!(audit(&a, "Ord", "I").await, 3);
    assert_eq!(audit(&b, "Ord", "I").await, 3);
    // The load's rows fired b's trigger (FIRE_TRIGGERS), then the stream's.
    assert!(
        audit(&b, "Note", "I").await >= 4,
        "{}",
        audit(&b, "Note", "I").await
    );
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
    // Error 334's text, not its number: a log's timestamps hold any three
    // digits (CI once failed on "22.713341Z").
    assert!(!log.contains("cannot have any enabled triggers"), "{log}");
}
