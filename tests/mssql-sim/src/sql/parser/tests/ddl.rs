//! CREATE, DROP, ALTER, TRUNCATE.

use super::*;

#[test]
fn create_table_full() {
    let Statement::CreateTable(t) = one("CREATE TABLE [dbo].[Orders] (
            id int IDENTITY(1000, 5) NOT NULL PRIMARY KEY,
            code nvarchar(20) COLLATE Latin1_General_CI_AS NOT NULL UNIQUE,
            amount decimal(18, 2) NULL CONSTRAINT DF_amt DEFAULT (0),
            body varbinary(max),
            created datetime2(3) DEFAULT SYSUTCDATETIME(),
            cust int REFERENCES dbo.Customers (id) ON DELETE CASCADE,
            qty int CHECK (qty > 0),
            CONSTRAINT FK_x FOREIGN KEY (cust, qty) REFERENCES c (a, b) ON UPDATE SET NULL,
            CHECK (amount >= 0),
        ) ON [PRIMARY]")
    else {
        panic!()
    };
    assert_eq!(t.name, name(&["dbo", "Orders"]));
    assert_eq!(t.columns.len(), 7);
    let id = &t.columns[0];
    assert_eq!(id.identity, Some((1000, 5)));
    assert_eq!(id.nullable, Some(false));
    assert_eq!(
        id.constraints[0].kind,
        ConstraintKind::PrimaryKey {
            columns: vec!["id".into()],
            clustered: true
        }
    );
    assert_eq!(
        t.columns[1].collation.as_deref(),
        Some("Latin1_General_CI_AS")
    );
    assert_eq!(t.columns[1].data_type.args, vec![TypeArg::Number(20)]);
    assert!(t.columns[2].default.is_some());
    assert_eq!(t.columns[2].nullable, Some(true));
    assert_eq!(t.columns[3].data_type.args, vec![TypeArg::Max]);
    assert!(matches!(
        &t.columns[5].constraints[0].kind,
        ConstraintKind::ForeignKey { on_delete: ReferentialAction::Cascade, ref_columns, .. } if ref_columns == &["id"]
    ));
    assert!(matches!(
        t.columns[6].constraints[0].kind,
        ConstraintKind::Check(_)
    ));
    assert_eq!(t.constraints.len(), 2);
    assert_eq!(t.constraints[0].name.as_deref(), Some("FK_x"));
    assert!(matches!(
        &t.constraints[0].kind,
        ConstraintKind::ForeignKey { on_update: ReferentialAction::SetNull, columns, .. } if columns.len() == 2
    ));
}

#[test]
fn type_names() {
    let Statement::CreateTable(t) = one(
        "CREATE TABLE t (a double precision, b national character varying(10), c [nvarchar](5), d dec(5,2), e integer, f rowversion)",
    ) else {
        panic!()
    };
    let names: Vec<_> = t
        .columns
        .iter()
        .map(|c| c.data_type.name.as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            "float",
            "nvarchar",
            "nvarchar",
            "decimal",
            "int",
            "timestamp"
        ]
    );
    assert_eq!(err("CREATE TABLE t (a SELECT)").number, 156);
    assert_eq!(err("CREATE TABLE t (a decimal(1, 2, 3))").number, 102);
    assert_eq!(err("CREATE TABLE t (a nvarchar(99999999999))").number, 102);
}

#[test]
fn create_table_composite_key() {
    let Statement::CreateTable(t) =
        one("CREATE TABLE s.t (a int NOT NULL, b bigint NOT NULL, c bit,
          CONSTRAINT PK_t PRIMARY KEY CLUSTERED (a ASC, b DESC) WITH (FILLFACTOR = 90),
          CONSTRAINT UQ_c UNIQUE NONCLUSTERED (c))")
    else {
        panic!()
    };
    assert_eq!(
        t.constraints[0],
        TableConstraint {
            name: Some("PK_t".into()),
            kind: ConstraintKind::PrimaryKey {
                columns: vec!["a".into(), "b".into()],
                clustered: true
            }
        }
    );
    assert_eq!(
        t.constraints[1].kind,
        ConstraintKind::Unique {
            columns: vec!["c".into()]
        }
    );
    let Statement::CreateTable(t) =
        one("CREATE TABLE t (id uniqueidentifier PRIMARY KEY NONCLUSTERED DEFAULT NEWID(), x float, y real, z datetimeoffset, m money, d date, tm time(7), n nchar(3), ch char(2), v varchar(max), bi binary(16), ti tinyint, si smallint)")
    else {
        panic!()
    };
    assert_eq!(t.columns.len(), 13);
    assert!(matches!(
        t.columns[0].constraints[0].kind,
        ConstraintKind::PrimaryKey {
            clustered: false,
            ..
        }
    ));
}

#[test]
fn other_ddl() {
    assert_eq!(
        one("DROP TABLE IF EXISTS dbo.a, b"),
        Statement::DropTable {
            names: vec![name(&["dbo", "a"]), name(&["b"])],
            if_exists: true
        }
    );
    assert_eq!(
        one("TRUNCATE TABLE dbo.t"),
        Statement::TruncateTable(name(&["dbo", "t"]))
    );
    assert_eq!(
        one("CREATE SCHEMA sales AUTHORIZATION dbo"),
        Statement::CreateSchema("sales".into())
    );
    assert_eq!(err("SELECT 1; CREATE SCHEMA s").number, 111);
    assert!(err("CREATE SCHEMA s CREATE TABLE t (a int)")
        .message
        .contains("schema elements"));
    assert_eq!(
        parse_batch("CREATE SCHEMA s;\nCREATE TABLE s.t (a int)").map(|v| v.len()),
        Ok(2)
    );
    let Statement::CreateIndex(ix) =
        one("CREATE UNIQUE NONCLUSTERED INDEX IX_a ON dbo.t (a DESC, b) INCLUDE (c) WHERE a IS NOT NULL WITH (ONLINE = ON)")
    else {
        panic!()
    };
    assert!(ix.unique);
    assert_eq!(ix.columns, vec![("a".into(), true), ("b".into(), false)]);
    assert_eq!(ix.include, vec!["c"]);
    assert!(ix.filter.is_some());
    assert_eq!(
        one("DROP INDEX IX_a ON dbo.t"),
        Statement::DropIndex {
            name: "IX_a".into(),
            table: name(&["dbo", "t"]),
            if_exists: false
        }
    );
    assert_eq!(
        one("DROP INDEX t.IX_a"),
        Statement::DropIndex {
            name: "IX_a".into(),
            table: name(&["t"]),
            if_exists: false
        }
    );
}

#[test]
fn alter_table_and_database() {
    assert_eq!(
        one("ALTER TABLE dbo.t ENABLE CHANGE_TRACKING WITH (TRACK_COLUMNS_UPDATED = ON)"),
        Statement::AlterTable {
            table: name(&["dbo", "t"]),
            action: AlterTableAction::EnableChangeTracking {
                track_columns_updated: true
            }
        }
    );
    assert_eq!(
        one("alter table t enable change_tracking"),
        Statement::AlterTable {
            table: name(&["t"]),
            action: AlterTableAction::EnableChangeTracking {
                track_columns_updated: false
            }
        }
    );
    assert!(matches!(
        one("ALTER TABLE t DISABLE CHANGE_TRACKING"),
        Statement::AlterTable {
            action: AlterTableAction::DisableChangeTracking,
            ..
        }
    ));
    assert!(matches!(
        one("ALTER TABLE t WITH CHECK ADD CONSTRAINT FK FOREIGN KEY (a) REFERENCES u (b)"),
        Statement::AlterTable {
            action: AlterTableAction::AddConstraint(TableConstraint { name: Some(_), .. }),
            ..
        }
    ));
    assert!(matches!(
        one("ALTER TABLE t ADD CONSTRAINT DF DEFAULT 0 FOR a"),
        Statement::AlterTable {
            action: AlterTableAction::AddConstraint(TableConstraint {
                kind: ConstraintKind::Default { .. },
                ..
            }),
            ..
        }
    ));
    assert!(matches!(
        one("ALTER TABLE t ADD c int NULL, d nvarchar(10)"),
        Statement::AlterTable { action: AlterTableAction::AddColumns(c), .. } if c.len() == 2
    ));
    assert!(matches!(
        one("ALTER TABLE t DROP PK_t"),
        Statement::AlterTable { action: AlterTableAction::DropConstraint(c), .. } if c == "PK_t"
    ));
    assert!(matches!(
        one("ALTER TABLE t DROP COLUMN c, d"),
        Statement::AlterTable { action: AlterTableAction::DropColumns(c), .. } if c.len() == 2
    ));
    assert_eq!(
        one("ALTER DATABASE [src] SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)"),
        Statement::AlterDatabase {
            database: Some("src".into()),
            action: AlterDatabaseAction::ChangeTrackingOn {
                retention: Some((2, RetentionUnit::Days)),
                auto_cleanup: Some(true)
            }
        }
    );
    assert_eq!(
        one("ALTER DATABASE CURRENT SET CHANGE_TRACKING (AUTO_CLEANUP = OFF, CHANGE_RETENTION = 30 MINUTES)"),
        Statement::AlterDatabase {
            database: None,
            action: AlterDatabaseAction::ChangeTrackingSet {
                retention: Some((30, RetentionUnit::Minutes)),
                auto_cleanup: Some(false)
            }
        }
    );
    assert!(matches!(
        one("ALTER DATABASE d SET CHANGE_TRACKING = OFF"),
        Statement::AlterDatabase {
            action: AlterDatabaseAction::ChangeTrackingOff,
            ..
        }
    ));
    assert!(matches!(
        one("ALTER DATABASE d SET ALLOW_SNAPSHOT_ISOLATION ON"),
        Statement::AlterDatabase {
            action: AlterDatabaseAction::AllowSnapshotIsolation(true),
            ..
        }
    ));
    assert!(matches!(
        one("ALTER DATABASE d SET READ_COMMITTED_SNAPSHOT OFF WITH ROLLBACK IMMEDIATE"),
        Statement::AlterDatabase {
            action: AlterDatabaseAction::ReadCommittedSnapshot(false),
            ..
        }
    ));
}

#[test]
fn computed_columns_and_bare_timestamp() {
    let Statement::CreateTable(t) = one(
        "CREATE TABLE t (a int, b AS a * 2, c AS (a + 1) PERSISTED NOT NULL UNIQUE, timestamp)",
    ) else {
        panic!()
    };
    assert_eq!(t.columns.len(), 4);
    let b = t.columns[1].computed.as_ref().expect("b is computed");
    assert_eq!(b.text, "a * 2");
    assert!(!b.persisted);
    let c = t.columns[2].computed.as_ref().expect("c is computed");
    assert_eq!(c.text, "(a + 1)");
    assert!(c.persisted);
    assert_eq!(t.columns[2].nullable, Some(false));
    assert_eq!(t.columns[2].constraints.len(), 1);
    assert!(t.columns[0].computed.is_none());
    assert_eq!(t.columns[3].name, "timestamp");
    assert_eq!(t.columns[3].data_type.name, "timestamp");
    assert_eq!(err("CREATE TABLE t (a int, b AS)").number, 102);
}
