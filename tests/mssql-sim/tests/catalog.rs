//! Catalog views and functions through tiberius.

mod common;

use common::*;
use tiberius::ColumnData;

#[tokio::test]
async fn catalog_views_describe_tables_keys_and_identity() {
    let server = start();
    let mut c = connect(&server).await;
    exec(&mut c, "CREATE SCHEMA sales").await;
    exec(&mut c, "CREATE TABLE sales.Customer (id INT IDENTITY(1,1) NOT NULL CONSTRAINT PK_Customer PRIMARY KEY, name NVARCHAR(100) NOT NULL)").await;
    exec(
        &mut c,
        "CREATE TABLE sales.Orders (id BIGINT NOT NULL, line INT NOT NULL, customer_id INT NULL,
        CONSTRAINT PK_Orders PRIMARY KEY (id, line),
        CONSTRAINT FK_Orders_Customer FOREIGN KEY (customer_id) REFERENCES sales.Customer (id))",
    )
    .await;
    assert_eq!(
        rows(&mut c, "SELECT DB_NAME()").await,
        vec![vec![text("testdb")]]
    );
    let r = rows(
        &mut c,
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_NAME",
    )
    .await;
    assert_eq!(
        r,
        vec![
            vec![text("sales"), text("Customer")],
            vec![text("sales"), text("Orders")]
        ]
    );
    let r = rows(&mut c, "SELECT k.COLUMN_NAME FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS t JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE k ON k.CONSTRAINT_NAME = t.CONSTRAINT_NAME WHERE t.TABLE_NAME = 'Orders' AND t.CONSTRAINT_TYPE = 'PRIMARY KEY' ORDER BY k.ORDINAL_POSITION").await;
    assert_eq!(r, vec![vec![text("id")], vec![text("line")]]);
    let r = rows(&mut c, "SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'Customer' ORDER BY ORDINAL_POSITION").await;
    assert_eq!(
        r,
        vec![
            vec![text("id"), text("int"), text("NO")],
            vec![text("name"), text("nvarchar"), text("NO")]
        ]
    );
    let r = rows(&mut c, "SELECT UNIQUE_CONSTRAINT_NAME FROM INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_NAME = 'FK_Orders_Customer'").await;
    assert_eq!(r, vec![vec![text("PK_Customer")]]);
    let r = rows(&mut c, "SELECT c.name FROM sys.columns c WHERE c.object_id = OBJECT_ID('sales.Customer') AND c.is_identity = 1").await;
    assert_eq!(r, vec![vec![text("id")]]);
    let r = rows(
        &mut c,
        "SELECT name FROM sys.identity_columns WHERE object_id = OBJECT_ID(N'sales.Customer')",
    )
    .await;
    assert_eq!(r, vec![vec![text("id")]]);
    let r = rows(&mut c, "SELECT COLUMNPROPERTY(OBJECT_ID('sales.Orders'), 'line', 'ColumnId'), COLUMNPROPERTY(OBJECT_ID('sales.Customer'), 'id', 'IsIdentity')").await;
    assert_eq!(r, vec![vec![int(2), int(1)]]);
    let r = rows(&mut c, "SELECT fk.name, OBJECT_NAME(fk.referenced_object_id) FROM sys.foreign_keys fk WHERE fk.parent_object_id = OBJECT_ID('sales.Orders')").await;
    assert_eq!(r, vec![vec![text("FK_Orders_Customer"), text("Customer")]]);
    let r = rows(
        &mut c,
        "SELECT parent_column_id, referenced_column_id FROM sys.foreign_key_columns",
    )
    .await;
    assert_eq!(r, vec![vec![int(3), int(1)]]);
    let r = rows(&mut c, "SELECT s.name FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id WHERE t.name = 'orders'").await;
    assert_eq!(r, vec![vec![text("sales")]]);
    let r = rows(&mut c, "SELECT OBJECT_ID('sales.Missing')").await;
    assert_eq!(r, vec![vec![ColumnData::I32(None)]]);
}

fn fork_of(r: &[Vec<ColumnData<'static>>]) -> uuid::Uuid {
    assert_eq!(r.len(), 1, "one row for the database: {r:?}");
    match &r[0][..] {
        [ColumnData::I32(Some(5)), ColumnData::Guid(Some(g))] => *g,
        other => panic!("expected (database_id 5, a recovery fork guid), got {other:?}"),
    }
}

/// docs/relational-databases/system-catalog-views/sys-database-recovery-status-transact-sql.md:
/// the recovery fork stays while the database runs on, across restarts of
/// the server, and a restore from backup moves the database to a new one.
#[tokio::test]
async fn recovery_fork_guid_is_stable_until_a_restore() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = mssql_sim::SimConfig::new(DB, USER, PASSWORD);
    cfg.data_file = Some(dir.path().join("db.sqlite"));
    let q = "SELECT r.database_id, r.recovery_fork_guid FROM sys.database_recovery_status AS r WHERE r.database_id = DB_ID()";
    let server = mssql_sim::SimServer::start(cfg.clone()).expect("start");
    let mut c = connect(&server).await;
    let first = fork_of(&rows(&mut c, q).await);
    assert_eq!(
        rows(&mut c, "SELECT COUNT(*) FROM sys.database_recovery_status").await,
        vec![vec![int(1)]]
    );
    assert_eq!(
        rows(
            &mut c,
            "SELECT COUNT(*) FROM sys.database_recovery_status r JOIN sys.databases d ON d.database_id = r.database_id WHERE d.name = DB_NAME()"
        )
        .await,
        vec![vec![int(1)]]
    );
    // As text, the way some clients read it.
    assert_eq!(
        rows(
            &mut c,
            "SELECT CAST(recovery_fork_guid AS char(36)) FROM sys.database_recovery_status"
        )
        .await,
        vec![vec![ColumnData::String(Some(
            first.to_string().to_uppercase().into()
        ))]]
    );
    exec(&mut c, "CREATE TABLE dbo.T (id INT PRIMARY KEY)").await;
    exec(&mut c, "EXEC mssql_sim.snapshot_save @name = N'base'").await;
    exec(&mut c, "INSERT INTO dbo.T VALUES (1)").await;
    assert_eq!(
        fork_of(&rows(&mut c, q).await),
        first,
        "writes keep the fork"
    );
    drop(c);
    server.restart().expect("restart");
    let mut c = connect(&server).await;
    assert_eq!(fork_of(&rows(&mut c, q).await), first, "after a restart");
    drop(c);
    drop(server);
    // A new stand-in process on the same data file.
    let server = mssql_sim::SimServer::start(cfg.clone()).expect("start again");
    let mut c = connect(&server).await;
    assert_eq!(fork_of(&rows(&mut c, q).await), first, "same data file");
    // A restore starts a new recovery fork, which then stays.
    exec(&mut c, "EXEC mssql_sim.snapshot_restore @name = N'base'").await;
    let mut c = connect(&server).await;
    assert_eq!(
        rows(&mut c, "SELECT COUNT(*) FROM dbo.T").await,
        vec![vec![int(0)]]
    );
    let restored = fork_of(&rows(&mut c, q).await);
    assert_ne!(restored, first, "a restore starts a new recovery fork");
    drop(c);
    drop(server);
    let server = mssql_sim::SimServer::start(cfg).expect("start after restore");
    let mut c = connect(&server).await;
    assert_eq!(fork_of(&rows(&mut c, q).await), restored);
    // Another database is on a fork of its own.
    let other = start();
    let mut o = connect(&other).await;
    assert_ne!(fork_of(&rows(&mut o, q).await), restored);
}

/// The identities of sys.database_recovery_status as one row of guids:
/// (database_guid, family_guid, recovery_fork_guid).
fn identities(r: &[Vec<ColumnData<'static>>]) -> [uuid::Uuid; 3] {
    assert_eq!(r.len(), 1, "one row for the database: {r:?}");
    match &r[0][..] {
        [ColumnData::Guid(Some(d)), ColumnData::Guid(Some(f)), ColumnData::Guid(Some(k))] => {
            [*d, *f, *k]
        }
        other => panic!("expected three guids, got {other:?}"),
    }
}

/// docs/relational-databases/system-catalog-views/sys-database-recovery-status-transact-sql.md
/// with RESTORE HEADERONLY's account of the same identities
/// (docs/t-sql/statements/restore-statements-headeronly-transact-sql.md):
/// reads agree until a restore, which assigns a new database_guid (BindingID)
/// and starts a new recovery fork, while family_guid (FamilyGUID, the
/// database as created) stays.
#[tokio::test]
async fn a_restore_moves_the_recovery_fork_and_database_guid_but_not_the_family() {
    let server = start();
    let mut c = connect(&server).await;
    // The query the agent sends, unaliased.
    let agent =
        "SELECT recovery_fork_guid FROM sys.database_recovery_status WHERE database_id = DB_ID()";
    let fork = |r: Vec<Vec<ColumnData<'static>>>| match &r[..] {
        [row] => match &row[..] {
            [ColumnData::Guid(Some(g))] => *g,
            other => panic!("expected one guid, got {other:?}"),
        },
        other => panic!("expected one row, got {other:?}"),
    };
    let q = "SELECT database_guid, family_guid, recovery_fork_guid FROM sys.database_recovery_status WHERE database_id = DB_ID()";
    let before = identities(&rows(&mut c, q).await);
    assert_eq!(fork(rows(&mut c, agent).await), before[2]);
    assert_eq!(fork(rows(&mut c, agent).await), before[2], "a second read");
    assert_eq!(identities(&rows(&mut c, q).await), before, "a second read");
    assert!(
        before[0] != before[1] && before[1] != before[2] && before[0] != before[2],
        "three identities: {before:?}"
    );
    // By parameter, as sp_executesql sends it.
    let mut p = tiberius::Query::new(
        "SELECT recovery_fork_guid FROM sys.database_recovery_status WHERE database_id = @P1",
    );
    p.bind(5i32);
    let r = p
        .query(&mut c)
        .await
        .expect("query")
        .into_first_result()
        .await
        .expect("rows");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].get::<uuid::Uuid, _>(0), Some(before[2]));
    assert_eq!(
        rows(
            &mut c,
            "SELECT COUNT(*) FROM sys.database_recovery_status WHERE database_id = DB_ID() + 1"
        )
        .await,
        vec![vec![int(0)]]
    );
    exec(&mut c, "EXEC mssql_sim.snapshot_save @name = N'r'").await;
    exec(&mut c, "EXEC mssql_sim.snapshot_restore @name = N'r'").await;
    let mut c = connect(&server).await;
    let after = identities(&rows(&mut c, q).await);
    assert_ne!(after[2], before[2], "a restore starts a new recovery fork");
    assert_ne!(fork(rows(&mut c, agent).await), before[2]);
    assert_ne!(after[0], before[0], "a restore assigns a new database_guid");
    assert_eq!(after[1], before[1], "family_guid stays through a restore");
    assert_eq!(identities(&rows(&mut c, q).await), after, "stable again");
    // Another database is a family of its own.
    let other = start();
    let mut o = connect(&other).await;
    let theirs = identities(&rows(&mut o, q).await);
    assert!(
        theirs.iter().all(|g| !after.contains(g)),
        "{theirs:?} vs {after:?}"
    );
}
