//! Transactions, SET, DECLARE, EXEC, control flow.

use super::*;

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
    // THROW is not reserved: after an unterminated statement it is an alias
    // (throw-transact-sql.md: the statement before THROW needs a semicolon).
    assert_eq!(
        err("SELECT 1 THROW 50000, N'boom', 1").message,
        "Incorrect syntax near '50000'."
    );
    assert_eq!(
        parse_batch("SELECT 1; THROW 50000, N'boom', 1").map(|v| v.len()),
        Ok(2)
    );
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
    use crate::sql::parser::parse_param_declarations;
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
