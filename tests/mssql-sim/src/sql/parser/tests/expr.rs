//! Expressions and conditions.

use super::*;

#[test]
fn precedence() {
    // a + b * c = d OR (e = 1 AND f = 2)
    let e = cond("a + b * c = d OR e = 1 AND f = 2");
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
    } = cond("NOT a = 1 AND b = 2")
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
        cond("a !< b"),
        Expr::Binary {
            op: BinaryOp::GtEq,
            ..
        }
    ));
}

#[test]
fn predicates() {
    assert!(matches!(
        cond("a IS NOT NULL"),
        Expr::IsNull { negated: true, .. }
    ));
    assert!(
        matches!(cond("a NOT IN (1, 2, 3)"), Expr::InList { negated: true, list, .. } if list.len() == 3)
    );
    assert!(matches!(
        cond("a IN (SELECT b FROM t)"),
        Expr::InSubquery { negated: false, .. }
    ));
    let Expr::Binary {
        op: BinaryOp::And,
        left,
        ..
    } = cond("a BETWEEN 1 AND 2 AND b = 1")
    else {
        panic!()
    };
    assert!(matches!(*left, Expr::Between { negated: false, .. }));
    assert!(matches!(
        cond("a NOT LIKE N'x%' ESCAPE '!'"),
        Expr::Like {
            negated: true,
            escape: Some(_),
            ..
        }
    ));
    assert!(matches!(
        cond("NOT EXISTS (SELECT 1)"),
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

#[test]
fn predicates_are_not_scalars() {
    for (sql, number, message) in [
        ("SELECT 1 > 0", 102, "Incorrect syntax near '>'."),
        (
            "SELECT a IS NULL FROM t",
            156,
            "Incorrect syntax near the keyword 'IS'.",
        ),
        (
            "SELECT NOT a",
            156,
            "Incorrect syntax near the keyword 'NOT'.",
        ),
        ("UPDATE t SET a = b = c", 102, "Incorrect syntax near '='."),
        ("SELECT (a = 1)", 102, "Incorrect syntax near '='."),
        (
            "SELECT * FROM t WHERE a = (b = c)",
            102,
            "Incorrect syntax near '='.",
        ),
    ] {
        let e = err(sql);
        assert_eq!((e.number, e.message.as_str()), (number, message), "{sql}");
    }
    // Conditions keep their parentheses, and IIF takes one.
    assert!(matches!(
        cond("(a = 1 OR b = 2) AND c = 3"),
        Expr::Binary {
            op: BinaryOp::And,
            ..
        }
    ));
    assert!(matches!(
        expr("IIF(a > 1 AND b IS NULL, 1, 0)"),
        Expr::Function { name, args, .. } if name == "IIF" && args.len() == 3
    ));
    assert!(matches!(
        expr("CASE WHEN a > 1 THEN 1 ELSE 0 END + 1"),
        Expr::Binary {
            op: BinaryOp::Plus,
            ..
        }
    ));
}

#[test]
fn collate_is_a_postfix_binding_tighter_than_operators() {
    // a + b COLLATE x = c: the COLLATE applies to b only.
    let e = cond("a + b COLLATE Latin1_General_CS_AS = c");
    let Expr::Binary {
        op: BinaryOp::Eq,
        left,
        ..
    } = e
    else {
        panic!("eq")
    };
    let Expr::Binary {
        op: BinaryOp::Plus,
        left: a,
        right: b,
    } = *left
    else {
        panic!("plus")
    };
    assert_eq!(*a, Expr::Column(vec!["a".into()]));
    assert_eq!(
        *b,
        Expr::Collate {
            expr: Box::new(Expr::Column(vec!["b".into()])),
            collation: "Latin1_General_CS_AS".into(),
        }
    );
}
