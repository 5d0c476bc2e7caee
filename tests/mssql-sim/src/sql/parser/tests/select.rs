//! SELECT, set operations, FROM clauses, CHANGETABLE.

use super::*;

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
            alias: Some("t".into()),
            hints: vec!["NOLOCK".into()]
        }
    );
    assert_eq!(s.group_by.len(), 2);
    assert!(s.having.is_some());
}

#[test]
fn table_hints_are_accepted() {
    for sql in [
        "SELECT * FROM t WITH (NOLOCK)",
        "SELECT * FROM t AS x WITH (UPDLOCK, HOLDLOCK) WHERE 1 = 1",
        "SELECT * FROM t (NOLOCK) JOIN u WITH (INDEX(ix_a), FORCESEEK) ON u.a = t.a",
        "UPDATE t WITH (ROWLOCK) SET a = 1",
        "DELETE FROM t WITH (READPAST) WHERE a = 1",
    ] {
        assert!(parse_batch(sql).is_ok(), "{sql}");
    }
    assert!(err("SELECT * FROM dbo.fn(1)")
        .message
        .contains("table-valued functions"));
}

#[test]
fn table_hints_are_kept_as_keywords_without_arguments() {
    let hints_of = |sql: &str| -> Vec<Vec<String>> {
        let Statement::Query(q) = &parse_batch(sql).expect(sql)[0].stmt else {
            panic!("{sql}: a query");
        };
        let SetExpr::Select(s) = &q.body else {
            panic!("{sql}: a select");
        };
        s.from
            .iter()
            .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
            .filter_map(|f| match f {
                TableFactor::Table { hints, .. } => Some(hints.clone()),
                _ => None,
            })
            .collect()
    };
    let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        hints_of("SELECT * FROM t AS x WITH (updlock, HoldLock)"),
        vec![v(&["UPDLOCK", "HOLDLOCK"])]
    );
    assert_eq!(
        hints_of("SELECT * FROM t (NOLOCK) JOIN u WITH (INDEX(ix_a), FORCESEEK) ON u.a = t.a"),
        vec![v(&["NOLOCK"]), v(&["INDEX", "FORCESEEK"])]
    );
    assert_eq!(
        hints_of("SELECT * FROM t WITH (INDEX = ix_a ROWLOCK)"),
        vec![v(&["INDEX", "ROWLOCK"])]
    );
    assert_eq!(
        hints_of("SELECT * FROM (VALUES (1),(2)) AS K(id) JOIN dbo.T AS T WITH (UPDLOCK, HOLDLOCK) ON T.id = K.id"),
        vec![v(&["UPDLOCK", "HOLDLOCK"])]
    );
    assert_eq!(hints_of("SELECT * FROM t"), vec![v(&[])]);
}

#[test]
fn assignment_and_retrieval_do_not_mix() {
    let e = err("SELECT @x = a, b FROM t");
    assert_eq!((e.number, e.class), (141, 15));
    assert!(parse_batch("SELECT @x = a, @y = b FROM t").is_ok());
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
    for sql in [
        "SELECT * FROM CHANGETABLE(CHANGES t, 0)",
        "SELECT * FROM CHANGETABLE(CHANGES t, 0) WHERE 1=1",
        "SELECT * FROM CHANGETABLE(VERSION t, (a), (1)) JOIN u ON 1=1",
    ] {
        let e = err(sql);
        assert_eq!(
            (e.number, e.class, e.message.as_str()),
            (
                22104,
                16,
                "A table returned by the CHANGETABLE function must be aliased."
            ),
            "{sql}"
        );
    }
}
