//! Control of flow: IF, blocks, WHILE, BREAK/CONTINUE/RETURN, TRY/CATCH.

use super::*;

#[test]
fn while_loops_with_break_and_continue() {
    let s = one("WHILE @i < 10
         BEGIN
           SET @i += 1;
           IF @i = 3 CONTINUE;
           IF @i = 8 BREAK
           INSERT t VALUES (@i)
         END");
    let Statement::While { condition, body } = s else {
        panic!("{s:?}")
    };
    assert!(matches!(
        condition,
        Expr::Binary {
            op: BinaryOp::Lt,
            ..
        }
    ));
    let Statement::Block(b) = *body else { panic!() };
    assert_eq!(b.len(), 4);
    assert!(matches!(&b[1].stmt, Statement::If { then, .. } if **then == Statement::Continue));
    assert!(matches!(&b[2].stmt, Statement::If { then, .. } if **then == Statement::Break));
    // Nested loops: BREAK belongs to the inner one; still inside a loop after it.
    assert!(parse_batch("WHILE 1=1 BEGIN WHILE 1=1 BREAK; BREAK END").is_ok());
}

#[test]
fn jumps_outside_their_scope_are_compile_errors() {
    for (sql, number, message) in [
        ("IF 1=1 BREAK", 135, "Cannot use a BREAK statement outside the scope of a WHILE statement."),
        ("SELECT 1;\nCONTINUE", 136, "Cannot use a CONTINUE statement outside the scope of a WHILE statement."),
        ("RETURN 5", 178, "A RETURN statement with a return value cannot be used in this context."),
        ("THROW;", 10704, "To rethrow an error, a THROW statement must be used inside a CATCH block. Insert the THROW statement inside a CATCH block, or add error parameters to the THROW statement."),
        ("BEGIN TRY SELECT 1 END TRY BEGIN CATCH END CATCH THROW", 10704, "To rethrow an error, a THROW statement must be used inside a CATCH block. Insert the THROW statement inside a CATCH block, or add error parameters to the THROW statement."),
    ] {
        let e = err(sql);
        assert_eq!((e.number, e.class, e.message.as_str()), (number, 15, message), "{sql}");
    }
    assert_eq!(err("SELECT 1;\nCONTINUE").line, 2);
    assert_eq!(one("RETURN"), Statement::Return);
    assert_eq!(
        parse_batch("IF @x IS NULL RETURN SELECT 1").map(|v| v.len()),
        Ok(2)
    );
}

#[test]
fn try_catch_blocks() {
    let s = one("BEGIN TRY
           BEGIN TRAN;
           INSERT t VALUES (1);
           COMMIT
         END TRY
         BEGIN CATCH
           IF @@TRANCOUNT > 0 ROLLBACK;
           THROW
         END CATCH");
    let Statement::TryCatch {
        try_block,
        catch_block,
    } = s
    else {
        panic!("{s:?}")
    };
    assert_eq!(try_block.len(), 3);
    assert_eq!(try_block[1].line, 3);
    assert_eq!(catch_block.len(), 2);
    assert_eq!(catch_block[1].stmt, Statement::Rethrow);
    // An empty CATCH block is allowed, an empty TRY block is not.
    assert!(parse_batch("BEGIN TRY SELECT 1 END TRY BEGIN CATCH END CATCH").is_ok());
    assert_eq!(err("BEGIN TRY END TRY BEGIN CATCH END CATCH").number, 156);
    // The CATCH block must follow.
    assert_eq!(err("BEGIN TRY SELECT 1 END TRY SELECT 2").number, 156);
    // END alone does not close a TRY block.
    assert_eq!(err("BEGIN TRY SELECT 1 END SELECT 2").number, 156);
    // Blocks nest inside TRY.
    assert!(parse_batch(
        "BEGIN TRY IF 1=1 BEGIN SELECT 1 END END TRY BEGIN CATCH BEGIN TRY SELECT 2 END TRY BEGIN CATCH THROW; END CATCH END CATCH"
    )
    .is_ok());
}
