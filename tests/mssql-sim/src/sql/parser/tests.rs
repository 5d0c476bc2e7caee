//! Parser tests: one section per statement family, then errors and robustness.

use super::parse_batch;
use crate::error::SqlError;
use crate::sql::ast::*;

fn one(sql: &str) -> Statement {
    match parse_batch(sql) {
        Ok(mut v) if v.len() == 1 => v.remove(0).stmt,
        other => panic!("expected one statement from {sql:?}, got {other:?}"),
    }
}

fn err(sql: &str) -> SqlError {
    match parse_batch(sql) {
        Err(e) => e,
        Ok(v) => panic!("expected an error from {sql:?}, got {v:?}"),
    }
}

fn query(sql: &str) -> Query {
    match one(sql) {
        Statement::Query(q) => *q,
        other => panic!("not a query: {other:?}"),
    }
}

fn select(sql: &str) -> Select {
    match query(sql).body {
        SetExpr::Select(s) => *s,
        other => panic!("not a select: {other:?}"),
    }
}

fn col(parts: &[&str]) -> Expr {
    Expr::Column(parts.iter().map(|s| s.to_string()).collect())
}

fn int(s: &str) -> Expr {
    Expr::Literal(Literal::Integer(s.into()))
}

fn name(parts: &[&str]) -> ObjectName {
    ObjectName {
        parts: parts.iter().map(|s| s.to_string()).collect(),
    }
}

// ----- batches --------------------------------------------------------------

#[test]
fn batch_splits_statements_with_lines_and_texts() {
    let sql = "SET NOCOUNT ON;\nSELECT 1\n\nUPDATE t SET a = 1 WHERE b = 2\nDELETE FROM t;;";
    let v = parse_batch(sql).unwrap_or_default();
    assert_eq!(v.len(), 4);
    assert_eq!((v[0].line, v[0].text.as_str()), (1, "SET NOCOUNT ON"));
    assert_eq!((v[1].line, v[1].text.as_str()), (2, "SELECT 1"));
    assert_eq!(
        (v[2].line, v[2].text.as_str()),
        (4, "UPDATE t SET a = 1 WHERE b = 2")
    );
    assert_eq!((v[3].line, v[3].text.as_str()), (5, "DELETE FROM t"));
    assert_eq!(parse_batch("  -- only a comment\n /* x */ ;"), Ok(vec![]));
}

#[test]
fn go_is_not_tsql() {
    let e = err("CREATE TABLE t (a int)\nGO\n");
    assert_eq!(e.number, 102);
    assert_eq!(e.message, "Incorrect syntax near 'GO'.");
    assert_eq!(e.line, 2);
}

// ----- SELECT -----------------------------------------------------------------

#[test]
fn select_clauses() {
    let q = query(
        "select distinct top (5) a, t.b as x, y = c + 1, 'lbl' = d, e 'str', f [br]
         from dbo.Orders as t with (nolock) inner join s.Items i on i.id = t.id
         left outer join x on 1 = 1 right join y on 1 = 1 full join z on 1 = 1 cross join w
         where a > 1 and not b is null
         group by a, b having count(*) > 1 order by a desc, b asc
         offset 10 rows fetch next 5 rows only",
    );
    assert_eq!(q.order_by.len(), 2);
    assert!(q.order_by[0].desc && !q.order_by[1].desc);
    assert_eq!(q.offset, Some(int("10")));
    assert_eq!(q.fetch, Some(int("5")));
    let SetExpr::Select(s) = q.body else {
        panic!("select")
    };
    assert!(s.distinct);
    assert_eq!(s.top.as_ref().map(|t| &t.quantity), Some(&int("5")));
    let aliases: Vec<_> = s
        .items
        .iter()
        .map(|i| match i {
            SelectItem::Expr { alias, .. } => alias.clone().unwrap_or_default(),
            _ => "?".into(),
        })
        .collect();
    assert_eq!(aliases, vec!["", "x", "y", "lbl", "str", "br"]);
    assert_eq!(s.from.len(), 1);
    let kinds: Vec<_> = s.from[0].joins.iter().map(|j| j.kind).collect();
    assert_eq!(
        kinds,
        vec![
            JoinKind::Inner,
            JoinKind::LeftOuter,
            JoinKind::RightOuter,
            JoinKind::FullOuter,
            JoinKind::Cross
        ]
    );
    assert_eq!(
        s.from[0].relation,
        TableFactor::Table {
            name: name(&["dbo", "Orders"]),
            alias: Some("t".into())
        }
    );
    assert_eq!(s.group_by.len(), 2);
    assert!(s.having.is_some());
}

#[test]
fn select_wildcards_and_top_forms() {
    let s = select("SELECT TOP 3 *, t.*, [s].[t].* FROM t");
    assert_eq!(
        s.items,
        vec![
            SelectItem::Wildcard,
            SelectItem::QualifiedWildcard("t".into()),
            SelectItem::QualifiedWildcard("t".into())
        ]
    );
    assert_eq!(s.top.map(|t| t.quantity), Some(int("3")));
    let s = select("SELECT TOP (@n) PERCENT WITH TIES a FROM t ORDER BY a");
    let top = s.top.unwrap_or_else(|| panic!("top"));
    assert!(top.percent && top.with_ties);
    assert_eq!(top.quantity, Expr::Variable("n".into()));
}

#[test]
fn select_assignment_and_derived_tables() {
    let s = select("SELECT @x = COUNT(*), @y += 1 FROM (SELECT a FROM t) AS d (a)");
    assert!(matches!(&s.items[0], SelectItem::Assign { variable, .. } if variable == "x"));
    assert!(matches!(
        &s.items[1],
        SelectItem::Assign {
            expr: Expr::Binary {
                op: BinaryOp::Plus,
                ..
            },
            ..
        }
    ));
    assert!(matches!(
        &s.from[0].relation,
        TableFactor::Derived { alias, columns, .. } if alias == "d" && columns == &["a"]
    ));
    let s = select("SELECT * FROM (VALUES (1, N'a'), (2, N'b')) v(id, name)");
    assert!(matches!(
        &s.from[0].relation,
        TableFactor::Values { rows, alias, columns } if rows.len() == 2 && alias == "v" && columns.len() == 2
    ));
}

#[test]
fn set_operations_and_ctes() {
    let q = query("WITH c (x) AS (SELECT 1) SELECT x FROM c UNION ALL SELECT 2 EXCEPT SELECT 3");
    assert_eq!(q.with.len(), 1);
    assert_eq!(q.with[0].columns, vec!["x"]);
    let SetExpr::SetOp { op, left, .. } = q.body else {
        panic!("setop")
    };
    assert_eq!(op, SetOperator::Except);
    assert!(matches!(
        *left,
        SetExpr::SetOp {
            op: SetOperator::Union,
            all: true,
            ..
        }
    ));
    let q = query("SELECT 1 UNION SELECT 2 INTERSECT SELECT 3");
    let SetExpr::SetOp { op, right, all, .. } = q.body else {
        panic!("setop")
    };
    assert_eq!((op, all), (SetOperator::Union, false));
    assert!(matches!(
        *right,
        SetExpr::SetOp {
            op: SetOperator::Intersect,
            ..
        }
    ));
}

#[test]
fn changetable_forms() {
    let s = select(
        "SELECT CT.SYS_CHANGE_VERSION, CT.id FROM CHANGETABLE(CHANGES dbo.Orders, @v) AS CT
         LEFT OUTER JOIN dbo.Orders o ON o.id = CT.id",
    );
    assert_eq!(
        s.from[0].relation,
        TableFactor::ChangeTableChanges {
            table: name(&["dbo", "Orders"]),
            since: Expr::Variable("v".into()),
            alias: "CT".into()
        }
    );
    let s = select("SELECT * FROM changetable(version [dbo].[T], (k1, k2), (@a, 2)) ct");
    assert_eq!(
        s.from[0].relation,
        TableFactor::ChangeTableVersion {
            table: name(&["dbo", "T"]),
            key_columns: vec!["k1".into(), "k2".into()],
            key_values: vec![Expr::Variable("a".into()), int("2")],
            alias: "ct".into()
        }
    );
    let s = select("SELECT * FROM CHANGETABLE(CHANGES t, NULL, FORCESEEK) AS c");
    assert!(matches!(
        &s.from[0].relation,
        TableFactor::ChangeTableChanges {
            since: Expr::Literal(Literal::Null),
            ..
        }
    ));
    // The version must be a value, not an expression.
    let e = err("SELECT * FROM CHANGETABLE(CHANGES t, @v + 1) AS c");
    assert_eq!(e.message, "Incorrect syntax near '+'.");
    assert_eq!(
        err("SELECT * FROM CHANGETABLE(CHANGES t, (1)) AS c").number,
        102
    );
    // The alias is required.
    let e = err("SELECT * FROM CHANGETABLE(CHANGES t, 0)");
    assert_eq!(
        (e.number, e.message.as_str()),
        (102, "Incorrect syntax near ')'.")
    );
    let e = err("SELECT * FROM CHANGETABLE(CHANGES t, 0) WHERE 1=1");
    assert_eq!(e.number, 156);
}

// ----- expressions ----------------------------------------------------------

fn expr(sql: &str) -> Expr {
    match select(&format!("SELECT {sql}")).items.remove(0) {
        SelectItem::Expr { expr, alias: None } => expr,
        other => panic!("{other:?}"),
    }
}

#[test]
fn precedence() {
    // a + b * c = d OR e AND f
    let e = expr("a + b * c = d OR e AND f");
    let Expr::Binary {
        op: BinaryOp::Or,
        left,
        right,
    } = e
    else {
        panic!("or")
    };
    assert!(matches!(
        *right,
        Expr::Binary {
            op: BinaryOp::And,
            ..
        }
    ));
    let Expr::Binary {
        op: BinaryOp::Eq,
        left: sum,
        ..
    } = *left
    else {
        panic!("eq")
    };
    let Expr::Binary {
        op: BinaryOp::Plus,
        right: prod,
        ..
    } = *sum
    else {
        panic!("plus")
    };
    assert!(matches!(
        *prod,
        Expr::Binary {
            op: BinaryOp::Multiply,
            ..
        }
    ));
    // left associativity: a - b - c = (a - b) - c
    let Expr::Binary { left, right, .. } = expr("a - b - c") else {
        panic!()
    };
    assert!(matches!(
        *left,
        Expr::Binary {
            op: BinaryOp::Minus,
            ..
        }
    ));
    assert_eq!(*right, col(&["c"]));
    // NOT binds looser than comparison, tighter than AND.
    let Expr::Binary {
        op: BinaryOp::And,
        left,
        ..
    } = expr("NOT a = 1 AND b = 2")
    else {
        panic!()
    };
    assert!(matches!(
        *left,
        Expr::Unary {
            op: UnaryOp::Not,
            ..
        }
    ));
    assert!(matches!(
        expr("-a * b"),
        Expr::Binary {
            op: BinaryOp::Multiply,
            ..
        }
    ));
    assert!(matches!(
        expr("a !< b"),
        Expr::Binary {
            op: BinaryOp::GtEq,
            ..
        }
    ));
}

#[test]
fn predicates() {
    assert!(matches!(
        expr("a IS NOT NULL"),
        Expr::IsNull { negated: true, .. }
    ));
    assert!(
        matches!(expr("a NOT IN (1, 2, 3)"), Expr::InList { negated: true, list, .. } if list.len() == 3)
    );
    assert!(matches!(
        expr("a IN (SELECT b FROM t)"),
        Expr::InSubquery { negated: false, .. }
    ));
    let Expr::Binary {
        op: BinaryOp::And,
        left,
        ..
    } = expr("a BETWEEN 1 AND 2 AND b = 1")
    else {
        panic!()
    };
    assert!(matches!(*left, Expr::Between { negated: false, .. }));
    assert!(matches!(
        expr("a NOT LIKE N'x%' ESCAPE '!'"),
        Expr::Like {
            negated: true,
            escape: Some(_),
            ..
        }
    ));
    assert!(matches!(
        expr("NOT EXISTS (SELECT 1)"),
        Expr::Exists { negated: true, .. }
    ));
    assert!(matches!(expr("(SELECT MAX(a) FROM t)"), Expr::Subquery(_)));
    assert!(matches!(expr("(1 + 2)"), Expr::Nested(_)));
}

#[test]
fn literals() {
    assert_eq!(
        expr("N'it''s'"),
        Expr::Literal(Literal::String {
            value: "it's".into(),
            national: true
        })
    );
    assert_eq!(
        expr("0x0aFF"),
        Expr::Literal(Literal::Binary(vec![0x0a, 0xff]))
    );
    assert_eq!(
        expr("12.50"),
        Expr::Literal(Literal::Decimal("12.50".into()))
    );
    assert_eq!(expr("1.5e3"), Expr::Literal(Literal::Float("1.5e3".into())));
    assert_eq!(
        expr("$12.34"),
        Expr::Literal(Literal::Money("12.34".into()))
    );
    assert_eq!(expr("NULL"), Expr::Literal(Literal::Null));
    assert_eq!(expr("@@rowcount"), Expr::Global("ROWCOUNT".into()));
    assert_eq!(expr("@P1"), Expr::Variable("P1".into()));
    assert_eq!(expr("[a]]b].\"c\"\"d\""), col(&["a]b", "c\"d"]));
}

#[test]
fn case_cast_convert_functions() {
    assert!(matches!(
        expr("CASE a WHEN 1 THEN 'x' WHEN 2 THEN 'y' ELSE 'z' END"),
        Expr::Case { operand: Some(_), branches, else_result: Some(_) } if branches.len() == 2
    ));
    assert!(matches!(
        expr("CASE WHEN a > 1 THEN 1 END"),
        Expr::Case {
            operand: None,
            else_result: None,
            ..
        }
    ));
    assert_eq!(
        expr("CAST(a AS nvarchar(max))"),
        Expr::Cast {
            expr: Box::new(col(&["a"])),
            data_type: DataType {
                name: "nvarchar".into(),
                args: vec![TypeArg::Max]
            },
            try_: false
        }
    );
    assert!(matches!(
        expr("CONVERT(decimal(18, 2), a, 1)"),
        Expr::Convert { data_type: DataType { ref name, ref args }, style: Some(_), try_: false, .. }
            if name == "decimal" && args == &[TypeArg::Number(18), TypeArg::Number(2)]
    ));
    assert!(matches!(
        expr("TRY_CONVERT(int, '1')"),
        Expr::Convert { try_: true, .. }
    ));
    assert!(matches!(
        expr("count(*)"),
        Expr::Function { name, star: true, .. } if name == "COUNT"
    ));
    assert!(matches!(
        expr("COUNT(DISTINCT a)"),
        Expr::Function { distinct: true, args, .. } if args.len() == 1
    ));
    for (sql, fname, nargs) in [
        ("SCOPE_IDENTITY()", "SCOPE_IDENTITY", 0),
        ("db_name()", "DB_NAME", 0),
        ("OBJECT_ID(N'dbo.Orders')", "OBJECT_ID", 1),
        (
            "COLUMNPROPERTY(OBJECT_ID('t'), 'id', 'IsIdentity')",
            "COLUMNPROPERTY",
            3,
        ),
        (
            "CHANGE_TRACKING_CURRENT_VERSION()",
            "CHANGE_TRACKING_CURRENT_VERSION",
            0,
        ),
        (
            "CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID('t'))",
            "CHANGE_TRACKING_MIN_VALID_VERSION",
            1,
        ),
        (
            "CHANGE_TRACKING_IS_COLUMN_IN_MASK(2, ct.SYS_CHANGE_COLUMNS)",
            "CHANGE_TRACKING_IS_COLUMN_IN_MASK",
            2,
        ),
        ("ISNULL(a, 0)", "ISNULL", 2),
        ("COALESCE(a, b, 0)", "COALESCE", 3),
        ("NULLIF(a, 0)", "NULLIF", 2),
        ("LEFT(a, 2)", "LEFT", 2),
        ("HASHBYTES('SHA2_256', a)", "HASHBYTES", 2),
        ("BINARY_CHECKSUM(*)", "BINARY_CHECKSUM", 0),
        ("SERVERPROPERTY('ProductVersion')", "SERVERPROPERTY", 1),
        ("dbo.fn(1)", "DBO.FN", 1),
        ("CURRENT_TIMESTAMP", "CURRENT_TIMESTAMP", 0),
    ] {
        match expr(sql) {
            Expr::Function { name, args, .. } => {
                assert_eq!((name.as_str(), args.len()), (fname, nargs), "{sql}")
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
    assert!(matches!(
        expr("ROW_NUMBER() OVER (PARTITION BY a ORDER BY b DESC)"),
        Expr::Function { over: Some(w), .. } if w.partition_by.len() == 1 && w.order_by[0].desc
    ));
}

// ----- DML ----------------------------------------------------------------------

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
    let Statement::InsertBulk { table, columns } = s else {
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
fn with_must_follow_a_semicolon() {
    let e = err("UPDATE t SET a = 1\nWITH CHANGE_TRACKING_CONTEXT (0x01) DELETE FROM t");
    assert_eq!((e.number, e.line), (319, 2));
    assert!(e.message.starts_with(
        "Incorrect syntax near the keyword 'WITH'. If this statement is a common table expression"
    ));
    assert!(parse_batch("UPDATE t SET a = 1;\nWITH c AS (SELECT 1 AS x) SELECT x FROM c").is_ok());
    assert_eq!(
        err("BEGIN SELECT 1 WITH c AS (SELECT 1 AS x) SELECT x FROM c END").number,
        319
    );
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
    assert_eq!(
        err("WITH CHANGE_TRACKING_CONTEXT (0x01) SELECT 1").number,
        156
    );
}

// ----- DDL ----------------------------------------------------------------------

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

// ----- sessions, transactions, control flow -------------------------------------

#[test]
fn transactions() {
    assert_eq!(
        one("BEGIN TRAN"),
        Statement::BeginTransaction { name: None }
    );
    assert_eq!(
        one("begin transaction t1"),
        Statement::BeginTransaction {
            name: Some("t1".into())
        }
    );
    assert_eq!(one("COMMIT"), Statement::Commit);
    assert_eq!(one("COMMIT WORK"), Statement::Commit);
    assert_eq!(one("COMMIT TRANSACTION t1"), Statement::Commit);
    assert_eq!(one("ROLLBACK"), Statement::Rollback { name: None });
    assert_eq!(
        one("ROLLBACK TRAN sp1"),
        Statement::Rollback {
            name: Some("sp1".into())
        }
    );
    assert_eq!(
        one("SAVE TRANSACTION sp1"),
        Statement::SaveTransaction("sp1".into())
    );
    // COMMIT followed by another statement without a separator.
    let v = parse_batch("BEGIN TRAN\nINSERT t VALUES (1)\nCOMMIT\nSELECT 1").unwrap_or_default();
    assert_eq!(v.len(), 4);
    assert_eq!(v[2].stmt, Statement::Commit);
}

#[test]
fn set_statements() {
    assert_eq!(
        one("SET IDENTITY_INSERT dbo.t ON"),
        Statement::SetIdentityInsert {
            table: name(&["dbo", "t"]),
            on: true
        }
    );
    assert_eq!(
        one("set nocount on"),
        Statement::SetOption {
            option: "NOCOUNT".into(),
            on: true
        }
    );
    assert_eq!(
        one("SET XACT_ABORT OFF"),
        Statement::SetOption {
            option: "XACT_ABORT".into(),
            on: false
        }
    );
    assert!(
        matches!(one("SET ANSI_NULLS, QUOTED_IDENTIFIER ON"), Statement::Block(b) if b.len() == 2)
    );
    assert_eq!(one("SET LOCK_TIMEOUT -1"), Statement::SetLockTimeout(-1));
    assert_eq!(
        one("SET LOCK_TIMEOUT 5000"),
        Statement::SetLockTimeout(5000)
    );
    assert_eq!(
        one("SET TRANSACTION ISOLATION LEVEL SNAPSHOT"),
        Statement::SetIsolationLevel(IsolationLevel::Snapshot)
    );
    assert_eq!(
        one("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"),
        Statement::SetIsolationLevel(IsolationLevel::ReadCommitted)
    );
    assert_eq!(
        one("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"),
        Statement::SetIsolationLevel(IsolationLevel::RepeatableRead)
    );
    assert!(matches!(
        one("SET TEXTSIZE 2147483647"),
        Statement::SetOption { .. }
    ));
    assert!(matches!(
        one("SET DATEFORMAT ymd"),
        Statement::SetOption { .. }
    ));
    assert!(matches!(
        one("SET TEXTSIZE -1"),
        Statement::SetOption { .. }
    ));
    assert!(matches!(
        one("SET DEADLOCK_PRIORITY LOW"),
        Statement::SetOption { .. }
    ));
    assert!(matches!(
        one("SET CONTEXT_INFO 0x0102"),
        Statement::SetOption { .. }
    ));
    assert!(matches!(
        one("SET LANGUAGE N'us_english'"),
        Statement::SetOption { .. }
    ));
    assert_eq!(
        one("SET STATISTICS IO ON"),
        Statement::SetOption {
            option: "STATISTICS IO".into(),
            on: true
        }
    );
    assert!(matches!(one("set statistics io, time off"), Statement::Block(b) if b.len() == 2));
    // The preamble SMO-style tools send, without separators.
    let v = parse_batch(
        "SET ROWCOUNT 0 SET TEXTSIZE 2147483647 SET NOCOUNT OFF SET CONCAT_NULL_YIELDS_NULL ON \
         SET ARITHABORT ON SET LOCK_TIMEOUT -1 SET QUERY_GOVERNOR_COST_LIMIT 0 \
         SET DEADLOCK_PRIORITY NORMAL SET TRANSACTION ISOLATION LEVEL READ COMMITTED \
         SET ANSI_NULLS ON SET ANSI_NULL_DFLT_ON ON SET IMPLICIT_TRANSACTIONS OFF SELECT 1",
    )
    .unwrap_or_default();
    assert_eq!(v.len(), 13);
    // Unknown options: 195, state 5 before ON/OFF and 7 before a value.
    for (sql, state) in [
        ("SET BANANA ON", 5),
        ("SET ANSI_NULLS, BANANA, QUOTED_IDENTIFIER ON", 5),
        ("SET BANANA 5", 7),
        ("SET BANANA foo", 7),
    ] {
        let e = err(sql);
        assert_eq!(
            (e.number, e.state, e.message.as_str()),
            (195, state, "'BANANA' is not a recognized SET option."),
            "{sql}"
        );
    }
    assert_eq!(err("SET BANANA").number, 102);
    let e = err("set nocount maybe");
    assert_eq!(
        (e.number, e.message.as_str()),
        (102, "Incorrect syntax near 'nocount'.")
    );
    assert_eq!(
        one("SET @x = @x + 1"),
        Statement::SetVariable {
            name: "x".into(),
            value: Expr::Binary {
                left: Box::new(Expr::Variable("x".into())),
                op: BinaryOp::Plus,
                right: Box::new(int("1"))
            }
        }
    );
}

#[test]
fn declare_exec_use_print_raise() {
    let Statement::Declare(d) = one("DECLARE @a int = 5, @b AS nvarchar(10), @c varbinary(128)")
    else {
        panic!()
    };
    assert_eq!(d.len(), 3);
    assert_eq!(d[0].2, Some(int("5")));
    assert_eq!(d[1].1.name, "nvarchar");
    let Statement::Exec { procedure, args } =
        one("EXEC mssql_sim.fail_next @table = N'dbo.Orders', @error = 1205, @count = 2")
    else {
        panic!()
    };
    assert_eq!(procedure, name(&["mssql_sim", "fail_next"]));
    assert_eq!(args.len(), 3);
    assert_eq!(args[0].name.as_deref(), Some("table"));
    assert_eq!(args[1].value, int("1205"));
    let Statement::Exec { args, .. } = one("EXECUTE sp_help Orders") else {
        panic!()
    };
    assert_eq!(
        args[0].value,
        Expr::Literal(Literal::String {
            value: "Orders".into(),
            national: false
        })
    );
    assert!(matches!(one("EXEC p @x OUTPUT"), Statement::Exec { args, .. } if args[0].output));
    // First statement of a batch: EXEC may be left out.
    assert!(matches!(one("sp_who"), Statement::Exec { .. }));
    assert!(matches!(
        one("EXEC ('SELECT 1')"),
        Statement::Exec { procedure, args } if procedure.name() == "sp_executesql" && args.len() == 1
    ));
    assert_eq!(one("USE [target]"), Statement::Use("target".into()));
    assert!(matches!(one("PRINT N'hi'"), Statement::Print(_)));
    assert!(matches!(
        one("THROW 50000, N'boom', 1"),
        Statement::Raise {
            number: Some(_),
            severity: None,
            ..
        }
    ));
    assert!(matches!(
        one("RAISERROR('x', 16, 1) WITH NOWAIT"),
        Statement::Raise {
            number: None,
            severity: Some(_),
            ..
        }
    ));
}

#[test]
fn if_else_and_blocks() {
    let s = one("IF OBJECT_ID(N'dbo.t') IS NULL
         BEGIN
           CREATE TABLE dbo.t (a int);
           INSERT dbo.t VALUES (1)
         END
         ELSE SELECT 1;");
    let Statement::If {
        then, otherwise, ..
    } = s
    else {
        panic!()
    };
    assert!(matches!(&*then, Statement::Block(b) if b.len() == 2 && b[1].line == 4));
    assert!(otherwise.is_some());
    let v = parse_batch("IF 1 = 1 SELECT 1 SELECT 2").unwrap_or_default();
    assert_eq!(v.len(), 2);
    assert!(matches!(
        one("IF NOT EXISTS (SELECT 1 FROM sys.tables WHERE name = 't') SELECT 1; ELSE SELECT 2"),
        Statement::If {
            otherwise: Some(_),
            ..
        }
    ));
}

// ----- errors -----------------------------------------------------------------

#[test]
fn syntax_errors_as_sql_server_words_them() {
    let e = err("SELECT * FROM");
    assert_eq!((e.number, e.class), (156, 15));
    assert_eq!(e.message, "Incorrect syntax near the keyword 'FROM'.");
    let e = err("SELECT a,\nFROM t");
    assert_eq!((e.number, e.line), (156, 2));
    let e = err("SELECT 1 +");
    assert_eq!(e.message, "Incorrect syntax near '+'.");
    let e = err("SELECT * FROM t WHERE");
    assert_eq!(e.message, "Incorrect syntax near the keyword 'WHERE'.");
    let e = err("UPDATE t SET a = 1\n\nWHERE a = = 2");
    assert_eq!(
        (e.number, e.line, e.message.as_str()),
        (102, 3, "Incorrect syntax near '='.")
    );
    let e = err("SELECT 1 FOO BAR");
    assert_eq!(e.message, "Incorrect syntax near 'BAR'.");
    let e = err("SELECT 1\nFOO BAR");
    assert_eq!((e.number, e.line), (102, 2));
    let e = err("SELECT 'abc");
    assert_eq!(e.number, 105);
    let e = err("CREATE TABLE t (a int");
    assert_eq!(e.message, "Incorrect syntax near 'int'.");
}

#[test]
fn unsupported_constructs_name_themselves() {
    for (sql, what) in [
        ("SELECT * FROM a CROSS APPLY b", "CROSS APPLY"),
        ("SELECT a INTO #t FROM b", "SELECT ... INTO"),
        ("WHILE 1 = 1 SELECT 1", "WHILE"),
        ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
        (
            "BEGIN TRY SELECT 1 END TRY BEGIN CATCH END CATCH",
            "BEGIN TRY",
        ),
        ("DECLARE @t TABLE (a int)", "table variables"),
    ] {
        let e = err(sql);
        assert!(matches!(e.number, 102 | 156), "{sql}: {e:?}");
        assert!(e.message.contains(what), "{sql}: {}", e.message);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
    let e = err(&deep);
    assert_eq!(e.number, 191);
    let deep = format!("SELECT {}1", "- ".repeat(5000));
    assert_eq!(err(&deep).number, 191);
    let deep = format!("SELECT {}1", "NOT ".repeat(5000));
    assert_eq!(err(&deep).number, 191);
    let deep = format!("{}SELECT 1", "IF 1=1 ".repeat(5000));
    assert_eq!(err(&deep).number, 191);
    let deep = format!(
        "SELECT * FROM {}t{}",
        "(SELECT * FROM ".repeat(3000),
        ") x".repeat(3000)
    );
    assert_eq!(err(&deep).number, 191);
    // Just under the limit still parses.
    let ok = format!("SELECT {}1{}", "(".repeat(80), ")".repeat(80));
    assert!(parse_batch(&ok).is_ok());
}

/// The nesting limit must hold on the 2 MiB stack `std::thread::spawn` gives
/// (a connection thread), in debug builds too.
#[test]
fn deep_nesting_fits_a_small_stack() {
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let mut worst = 0;
            for sql in [
                format!("SELECT {}1{}", "(".repeat(400), ")".repeat(400)),
                format!("SELECT {}", "CASE WHEN 1=1 THEN ".repeat(400)),
                format!("SELECT 1 WHERE {}", "EXISTS (SELECT 1 WHERE ".repeat(400)),
                format!("SELECT * FROM {}t", "(SELECT * FROM ".repeat(400)),
                format!("SELECT {}", "CAST(".repeat(400)),
                "BEGIN IF 1=1 ".repeat(400),
            ] {
                if let Err(e) = parse_batch(&sql) {
                    worst = worst.max(e.number);
                }
            }
            worst
        });
    let worst = handle.map(|h| h.join().unwrap_or(0)).unwrap_or(0);
    assert_eq!(worst, 191);
}

#[test]
fn big_merge_parses_fast() {
    // 1000 rows of 2 parameters: what a batched upsert sends.
    let mut sql = String::from("MERGE INTO dbo.T WITH (HOLDLOCK) AS T USING (VALUES ");
    for i in 0..1000 {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("(@P{}, @P{})", 2 * i + 1, 2 * i + 2));
    }
    sql.push_str(") AS S (id, name) ON T.id = S.id WHEN MATCHED THEN UPDATE SET name = S.name WHEN NOT MATCHED THEN INSERT (id, name) VALUES (S.id, S.name);");
    let start = std::time::Instant::now();
    let mut n = 0;
    for _ in 0..10 {
        n += parse_batch(&sql).map(|v| v.len()).unwrap_or(0);
    }
    let per = start.elapsed() / 10;
    assert_eq!(n, 10);
    // Generous for unoptimised test builds; release is far below 1 ms.
    eprintln!("big merge parse: {per:?}");
    assert!(per < std::time::Duration::from_millis(50), "{per:?}");
}

#[test]
fn random_input_never_panics() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let seeds = [
        "SELECT a, b FROM dbo.t WHERE x = N'y' AND z IN (1, 2) ORDER BY a OFFSET 1 ROWS FETCH NEXT 2 ROWS ONLY",
        "MERGE INTO t WITH (HOLDLOCK) AS T USING (VALUES (@p1, 0x0A)) AS S (a, b) ON T.a = S.a WHEN MATCHED THEN UPDATE SET b = S.b WHEN NOT MATCHED THEN INSERT (a, b) VALUES (S.a, S.b) OUTPUT $action;",
        "CREATE TABLE [x] (id int IDENTITY(1,1) PRIMARY KEY, v nvarchar(max) NOT NULL DEFAULT N'', CONSTRAINT c CHECK (id > 0))",
        "SELECT CT.* FROM CHANGETABLE(CHANGES dbo.t, @v) AS CT JOIN t ON t.id = CT.id /* c */ -- x",
        "IF EXISTS (SELECT 1) BEGIN UPDATE t SET a = CASE WHEN b > 1 THEN CAST(1.5e3 AS int) ELSE CONVERT(int, '2', 1) END END ELSE PRINT 'x'",
        "WITH CHANGE_TRACKING_CONTEXT (0x01) DELETE FROM t WHERE a BETWEEN 1 AND 2; EXEC p @a = 1, @b = N'x' OUTPUT",
        "ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)",
    ];
    let alphabet: Vec<&str> = vec![
        "(",
        ")",
        ",",
        ".",
        ";",
        "'",
        "N'",
        "[",
        "]",
        "\"",
        "/*",
        "*/",
        "--",
        "\n",
        " ",
        "@",
        "@@",
        "0x",
        "1",
        "1.5",
        "1e",
        "$",
        "=",
        "<",
        ">",
        "!",
        "+",
        "-",
        "*",
        "/",
        "%",
        "SELECT",
        "FROM",
        "WHERE",
        "CASE",
        "WHEN",
        "END",
        "BEGIN",
        "IF",
        "ELSE",
        "NOT",
        "IN",
        "AS",
        "WITH",
        "MERGE",
        "VALUES",
        "CHANGETABLE",
        "CHANGES",
        "é",
        "\u{0}",
        "ß",
        "\u{2028}",
        "GO",
        ":",
        "::",
    ];
    let mut parsed = 0;
    for i in 0..4000 {
        let text = if i % 2 == 0 {
            // A seed with random cuts, duplications and insertions.
            let seed = seeds[rng.gen_range(0..seeds.len())];
            let chars: Vec<char> = seed.chars().collect();
            let mut out: Vec<char> = Vec::with_capacity(chars.len() + 16);
            for c in chars {
                match rng.gen_range(0..40) {
                    0 => {}
                    1 => {
                        out.push(c);
                        out.push(c);
                    }
                    2 => out.extend(alphabet[rng.gen_range(0..alphabet.len())].chars()),
                    _ => out.push(c),
                }
            }
            out.into_iter().collect::<String>()
        } else {
            let n = rng.gen_range(0..30);
            (0..n)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect::<Vec<_>>()
                .join(if rng.gen_bool(0.5) { " " } else { "" })
        };
        if parse_batch(&text).is_ok() {
            parsed += 1;
        }
        // Every prefix of a seed too: truncated input is the common real case.
        if i < seeds.len() {
            let s = seeds[i];
            for (cut, _) in s.char_indices() {
                let _ = parse_batch(&s[..cut]);
            }
        }
    }
    // The mutations must leave some texts valid, or the test checks little.
    assert!(parsed > 50, "{parsed}");
}

#[test]
fn waitfor_delay() {
    assert_eq!(
        one("WAITFOR DELAY '00:00:01.500'"),
        Statement::WaitFor {
            delay: Expr::Literal(Literal::String {
                value: "00:00:01.500".into(),
                national: false
            })
        }
    );
    assert!(err("WAITFOR TIME '10:00'").message.contains("WAITFOR"));
}

#[test]
fn sp_executesql_parameter_declarations() {
    use super::parse_param_declarations;
    let d =
        parse_param_declarations("@P1 int, @P2 nvarchar(4000) OUTPUT, @P3 AS decimal(18,2) = 0")
            .unwrap_or_default();
    assert_eq!(d.len(), 3);
    assert_eq!(
        (d[0].0.as_str(), d[0].1.name.as_str(), d[0].2),
        ("P1", "int", false)
    );
    assert_eq!(d[1].1.args, vec![TypeArg::Number(4000)]);
    assert!(d[1].2);
    assert_eq!(d[2].1.args, vec![TypeArg::Number(18), TypeArg::Number(2)]);
    assert_eq!(parse_param_declarations("  "), Ok(vec![]));
    assert_eq!(
        parse_param_declarations("@P1 int @P2 int").map_err(|e| e.number),
        Err(102)
    );
    assert_eq!(
        parse_param_declarations("P1 int").map_err(|e| e.number),
        Err(102)
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

/// A long left-deep chain parses up to the limit, and the tree it builds can
/// be walked and dropped on a 2 MiB thread; beyond the limit it is 8631.
#[test]
fn long_operator_chains_are_bounded() {
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let terms: Vec<String> = (0..super::MAX_CHAIN - 1)
                .map(|i| format!("a = {i}"))
                .collect();
            let ok = format!("SELECT 1 WHERE {}", terms.join(" OR "));
            let parsed = parse_batch(&ok).map(|v| v.len()).map_err(|e| e.number);
            let long = format!("SELECT {}", vec!["1"; super::MAX_CHAIN + 2].join(" + "));
            let too_long = parse_batch(&long)
                .map(|v| v.len())
                .map_err(|e| (e.number, e.class));
            // A chain inside nested parentheses counts along the whole path.
            let half = vec!["1"; super::MAX_CHAIN / 2 + 1].join(" + ");
            let nested = format!("SELECT {half} + ({half})");
            let nested = parse_batch(&nested).map(|v| v.len()).map_err(|e| e.number);
            (parsed, too_long, nested)
        });
    let (parsed, too_long, nested) = handle
        .map(|h| h.join().unwrap_or((Ok(0), Ok(0), Ok(0))))
        .unwrap_or((Ok(0), Ok(0), Ok(0)));
    assert_eq!(parsed, Ok(1));
    assert_eq!(too_long, Err((8631, 17)));
    assert_eq!(nested, Err(8631));
}

#[test]
fn conditions_must_be_predicates() {
    for (sql, near) in [
        ("IF 1 SELECT 2", "SELECT"),
        ("SELECT a FROM t WHERE a", "a"),
        ("SELECT a FROM t WHERE a = 1 AND b ORDER BY a", "ORDER"),
        ("SELECT CASE WHEN a THEN 1 END FROM t", "THEN"),
        ("SELECT * FROM t JOIN u ON t.a WHERE 1 = 1", "WHERE"),
        ("DELETE FROM t WHERE @flag", "@flag"),
    ] {
        let e = err(sql);
        assert_eq!(
            (e.number, e.message.clone()),
            (
                4145,
                format!("An expression of non-boolean type specified in a context where a condition is expected, near '{near}'.")
            ),
            "{sql}"
        );
    }
    for sql in [
        "IF NOT (a = 1 OR (b IS NULL AND c LIKE 'x%')) SELECT 1",
        "SELECT CASE a WHEN 1 THEN 2 END FROM t WHERE EXISTS (SELECT 1) AND a BETWEEN 1 AND 2",
        "SELECT 1 WHERE a IN (1, 2) OR a NOT IN (SELECT b FROM u)",
    ] {
        assert!(parse_batch(sql).is_ok(), "{sql}");
    }
}
