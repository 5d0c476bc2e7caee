//! INSERT, UPDATE, DELETE, MERGE, change tracking context.

use super::*;

#[test]
fn insert_forms() {
    let Statement::Insert(i) = one(
        "INSERT INTO dbo.t (a, [b]) OUTPUT INSERTED.id, inserted.* VALUES (1, N'x'), (2, DEFAULT)",
    ) else {
        panic!()
    };
    assert_eq!(i.table, name(&["dbo", "t"]));
    assert_eq!(i.columns, vec!["a", "b"]);
    let out = i.output.unwrap_or_else(|| panic!("output"));
    assert_eq!(
        out.items,
        vec![
            SelectItem::Expr {
                expr: col(&["INSERTED", "id"]),
                alias: None
            },
            SelectItem::QualifiedWildcard("inserted".into())
        ]
    );
    assert!(
        matches!(&i.source, InsertSource::Values(rows) if rows.len() == 2 && rows[1][1] == Expr::Default)
    );
    assert!(matches!(
        one("INSERT t SELECT a FROM s"),
        Statement::Insert(i) if matches!(i.source, InsertSource::Query(_)) && i.columns.is_empty()
    ));
    assert!(matches!(
        one("INSERT INTO t DEFAULT VALUES"),
        Statement::Insert(i) if i.source == InsertSource::DefaultValues
    ));
    assert!(matches!(
        one("INSERT INTO t (a) OUTPUT INSERTED.a INTO @out (x) SELECT 1"),
        Statement::Insert(i) if i.output.as_ref().and_then(|o| o.into.as_ref()).is_some()
    ));
}

#[test]
fn insert_bulk_as_tiberius_sends_it() {
    let s = one("INSERT BULK [dbo].[T] ([id] int, [name] nvarchar(100), [when] datetime2(7), [d] decimal(18,2)) WITH (TABLOCK, ORDER(id ASC))");
    let Statement::InsertBulk {
        table,
        columns,
        options,
    } = s
    else {
        panic!()
    };
    assert_eq!(table, name(&["dbo", "T"]));
    let names: Vec<_> = columns
        .iter()
        .map(|(n, t)| (n.as_str(), t.name.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("id", "int"),
            ("name", "nvarchar"),
            ("when", "datetime2"),
            ("d", "decimal")
        ]
    );
    assert_eq!(options, crate::sql::ast::BulkOptions::default());
}

#[test]
fn insert_bulk_options() {
    // The option list of MS-TDS INSERT BULK, as tiberius and SqlBulkCopy
    // send it.
    let Statement::InsertBulk { options, .. } = one(
        "INSERT BULK t ([id] int) WITH (CHECK_CONSTRAINTS, TABLOCK, KEEP_NULLS, FIRE_TRIGGERS, ROWS_PER_BATCH = 10, KILOBYTES_PER_BATCH = 64, ORDER([id] DESC))",
    ) else {
        panic!()
    };
    assert!(options.check_constraints && options.keep_nulls);
    let Statement::InsertBulk { options, .. } = one("insert bulk t (id int) with (keep_nulls)")
    else {
        panic!()
    };
    assert!(!options.check_constraints && options.keep_nulls);
    assert_eq!(
        err("INSERT BULK t (id int) WITH (NO_SUCH_OPTION)").number,
        102
    );
}

#[test]
fn update_and_delete() {
    let Statement::Update(u) = one(
        "UPDATE TOP (10) o SET o.a = s.a, b += 1 OUTPUT DELETED.a, INSERTED.a
         FROM dbo.Orders o JOIN s ON s.id = o.id WHERE o.x = @p1",
    ) else {
        panic!()
    };
    assert_eq!(u.table, name(&["o"]));
    assert_eq!(u.assignments[0].column, "a");
    assert_eq!(u.assignments[1].column, "b");
    assert!(matches!(
        u.assignments[1].value,
        Expr::Binary {
            op: BinaryOp::Plus,
            ..
        }
    ));
    assert!(u.top.is_some() && u.output.is_some() && u.selection.is_some());
    assert_eq!(u.from[0].joins.len(), 1);
    let Statement::Delete(d) = one("DELETE t WHERE id = 1") else {
        panic!()
    };
    assert_eq!(d.table, name(&["t"]));
    let Statement::Delete(d) = one("DELETE FROM o FROM dbo.Orders o JOIN x ON x.id = o.id") else {
        panic!()
    };
    assert_eq!(d.from.len(), 1);
    assert!(d.selection.is_none());
}

#[test]
fn merge_full() {
    let Statement::Merge(m) = one("MERGE INTO dbo.T WITH (HOLDLOCK) AS T
         USING (VALUES (@p1, @p2), (@p3, @p4)) AS S (id, name) ON T.id = S.id
         WHEN MATCHED AND T.name <> S.name THEN UPDATE SET name = S.name
         WHEN NOT MATCHED BY TARGET THEN INSERT (id, name) VALUES (S.id, S.name)
         WHEN NOT MATCHED BY SOURCE THEN DELETE
         OUTPUT $action, INSERTED.id;")
    else {
        panic!()
    };
    assert_eq!(m.target, name(&["dbo", "T"]));
    assert_eq!(m.target_alias.as_deref(), Some("T"));
    assert!(matches!(&m.source, TableFactor::Values { rows, .. } if rows.len() == 2));
    let kinds: Vec<_> = m.clauses.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![
            MergeMatch::Matched,
            MergeMatch::NotMatchedByTarget,
            MergeMatch::NotMatchedBySource
        ]
    );
    assert!(m.clauses[0].condition.is_some());
    assert_eq!(m.clauses[2].action, MergeAction::Delete);
    assert!(matches!(
        &m.output.as_ref().map(|o| o.items[0].clone()),
        Some(SelectItem::Expr {
            expr: Expr::MergeAction,
            ..
        })
    ));
    // A subquery source and a plain NOT MATCHED.
    assert!(matches!(
        one("MERGE t USING (SELECT 1 AS id) AS s ON t.id = s.id WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id);"),
        Statement::Merge(m) if matches!(m.source, TableFactor::Derived { .. })
            && m.clauses[0].kind == MergeMatch::NotMatchedByTarget
    ));
}

#[test]
fn merge_requires_semicolon() {
    let e = err("MERGE t USING s ON t.id = s.id WHEN MATCHED THEN DELETE");
    assert_eq!(e.number, 10713);
    let e = err("MERGE t USING s ON t.id = s.id WHEN MATCHED THEN DELETE\nSELECT 1");
    assert_eq!((e.number, e.line), (10713, 2));
    // Actions per clause kind (merge-transact-sql.md).
    for (sql, number, message) in [
        (
            "MERGE t USING s ON 1=1 WHEN MATCHED THEN INSERT VALUES (1);",
            10711,
            "An action of type 'INSERT' is not allowed in the 'WHEN MATCHED' clause of a MERGE statement.",
        ),
        (
            "MERGE t USING s ON 1=1 WHEN NOT MATCHED THEN DELETE;",
            10710,
            "An action of type 'DELETE' is not allowed in the 'WHEN NOT MATCHED' clause of a MERGE statement.",
        ),
        (
            "MERGE t USING s ON 1=1 WHEN MATCHED AND s.a > 0 THEN UPDATE SET a = 1 WHEN MATCHED THEN UPDATE SET a = 2;",
            10714,
            "An action of type 'WHEN MATCHED' cannot appear more than once in a 'UPDATE' clause of a MERGE statement.",
        ),
        (
            "MERGE t USING s ON 1=1 WHEN NOT MATCHED THEN INSERT VALUES (1) WHEN NOT MATCHED BY TARGET THEN INSERT VALUES (2);",
            10714,
            "An action of type 'WHEN NOT MATCHED' cannot appear more than once in a 'INSERT' clause of a MERGE statement.",
        ),
        (
            "MERGE t USING s ON 1=1 WHEN MATCHED THEN DELETE WHEN MATCHED AND s.a > 0 THEN UPDATE SET a = 1;",
            5324,
            "In a MERGE statement, a 'WHEN MATCHED' clause with a search condition cannot appear after a 'WHEN MATCHED' clause with no search condition.",
        ),
    ] {
        let e = err(sql);
        assert_eq!((e.number, e.message.as_str()), (number, message), "{sql}");
    }
    // Two WHEN MATCHED with different actions, the conditional first, are fine.
    assert!(parse_batch(
        "MERGE t USING s ON 1=1 WHEN MATCHED AND s.d = 1 THEN DELETE WHEN MATCHED THEN UPDATE SET a = 1;"
    )
    .is_ok());
}

#[test]
fn change_tracking_context() {
    let s = one("WITH CHANGE_TRACKING_CONTEXT (@ctx) UPDATE t SET a = 1");
    assert!(matches!(
        s,
        Statement::WithChangeTrackingContext { context: Expr::Variable(ref c), ref statement }
            if c == "ctx" && matches!(**statement, Statement::Update(_))
    ));
    let s =
        one("WITH CHANGE_TRACKING_CONTEXT (0x01) MERGE t USING s ON 1=1 WHEN MATCHED THEN DELETE;");
    assert!(matches!(s, Statement::WithChangeTrackingContext { .. }));
    // SELECT parses; the engine answers 22108.
    assert!(matches!(
        one("WITH CHANGE_TRACKING_CONTEXT (0x01) SELECT 1"),
        Statement::WithChangeTrackingContext { statement, .. } if matches!(*statement, Statement::Query(_))
    ));
    assert_eq!(
        err("WITH CHANGE_TRACKING_CONTEXT (0x01) PRINT 1").number,
        156
    );
}

/// The statement shapes ctsync sends (agent's `mssql/statements.rs`), as one
/// request of several statements.
#[test]
fn ctsync_statement_shapes() {
    let batch = "WITH CHANGE_TRACKING_CONTEXT (@P1) MERGE [dbo].[Odd]]Name] WITH (HOLDLOCK) AS T USING (SELECT @P2 AS [id], @P3 AS [name]) AS S ON T.[id] = S.[id] WHEN MATCHED THEN UPDATE SET T.[name] = S.[name] WHEN NOT MATCHED THEN INSERT ([id], [name]) VALUES (S.[id], S.[name]);\n\
        SET IDENTITY_INSERT [dbo].[t] ON;\n\
        WITH CHANGE_TRACKING_CONTEXT (@P4) INSERT INTO [dbo].[t] ([name]) OUTPUT INSERTED.[id] VALUES (@P5);\n\
        WITH CHANGE_TRACKING_CONTEXT (@P6) INSERT INTO [dbo].[t] OUTPUT INSERTED.[id] DEFAULT VALUES;\n\
        WITH CHANGE_TRACKING_CONTEXT (@P7) UPDATE [dbo].[t] SET [name] = @P8 WHERE [id] = @P9;\n\
        WITH CHANGE_TRACKING_CONTEXT (@P10) DELETE FROM [dbo].[t] WHERE [id] = @P11;\n\
        SET IDENTITY_INSERT [dbo].[t] OFF;\n";
    let v = parse_batch(batch).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v.len(), 7);
    assert_eq!(
        v.iter().map(|l| l.line).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6, 7]
    );
    let Statement::WithChangeTrackingContext { statement, .. } = &v[0].stmt else {
        panic!("{:?}", v[0].stmt)
    };
    let Statement::Merge(m) = &**statement else {
        panic!()
    };
    assert_eq!(m.target, name(&["dbo", "Odd]Name"]));
    assert!(matches!(&m.source, TableFactor::Derived { alias, .. } if alias == "S"));
    assert_eq!(
        m.clauses[0].action,
        MergeAction::Update(vec![Assignment {
            column: "name".into(),
            value: col(&["S", "name"])
        }])
    );
    for sql in [
        "SELECT CHANGE_TRACKING_CURRENT_VERSION()",
        "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(@P1))",
        "SET TRANSACTION ISOLATION LEVEL SNAPSHOT; BEGIN TRANSACTION",
        "COMMIT TRANSACTION",
        "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION",
        "SELECT c.COLUMN_NAME, c.DATA_TYPE, COLUMNPROPERTY(OBJECT_ID(@P1), c.COLUMN_NAME, 'IsIdentity') FROM INFORMATION_SCHEMA.COLUMNS AS c WHERE c.TABLE_SCHEMA = @P2 AND c.TABLE_NAME = @P3 ORDER BY c.ORDINAL_POSITION",
        "SELECT k.COLUMN_NAME FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS AS tc JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE AS k ON k.CONSTRAINT_NAME = tc.CONSTRAINT_NAME AND k.TABLE_SCHEMA = tc.TABLE_SCHEMA AND k.TABLE_NAME = tc.TABLE_NAME WHERE tc.CONSTRAINT_TYPE = 'PRIMARY KEY' AND tc.TABLE_SCHEMA = @P1 AND tc.TABLE_NAME = @P2 ORDER BY k.ORDINAL_POSITION",
        "SELECT COUNT(*) FROM sys.change_tracking_tables WHERE object_id = OBJECT_ID(@P1)",
        "SELECT snapshot_isolation_state FROM sys.databases WHERE name = DB_NAME()",
        "ALTER DATABASE [src] SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)",
        "ALTER TABLE [dbo].[t] ENABLE CHANGE_TRACKING WITH (TRACK_COLUMNS_UPDATED = OFF)",
        "SELECT CT.SYS_CHANGE_VERSION, CT.SYS_CHANGE_OPERATION, CT.SYS_CHANGE_CONTEXT, CT.[id], T.[id], T.[name] FROM CHANGETABLE(CHANGES [dbo].[t], @P1) AS CT LEFT OUTER JOIN [dbo].[t] AS T ON T.[id] = CT.[id] ORDER BY CT.SYS_CHANGE_VERSION, CT.[id]",
        "SELECT CT.[id] FROM CHANGETABLE(CHANGES [dbo].[t], @P1) AS CT WHERE CT.SYS_CHANGE_CONTEXT = @P2",
        "SELECT TOP 0 [id], [name] FROM [dbo].[t]",
    ] {
        if let Err(e) = parse_batch(sql) {
            panic!("{sql}: {e}");
        }
    }
}
