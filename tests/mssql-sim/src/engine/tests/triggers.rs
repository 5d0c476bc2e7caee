//! Table variables, OUTPUT ... INTO and AFTER triggers
//! (docs/t-sql/statements/create-trigger-transact-sql.md,
//! docs/t-sql/queries/output-clause-transact-sql.md).

use super::*;
use crate::engine::*;

fn audited(s: &mut Session) {
    ok(
        s,
        "CREATE TABLE dbo.Ord (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(20) NULL)",
    );
    ok(s, "CREATE TABLE dbo.Audit (n INT IDENTITY(100,1) PRIMARY KEY, op NVARCHAR(10) NOT NULL, ord_id INT NULL, old_name NVARCHAR(20) NULL, new_name NVARCHAR(20) NULL)");
    ok(
        s,
        "CREATE TRIGGER dbo.trg_ord ON dbo.Ord AFTER INSERT, UPDATE, DELETE AS
         BEGIN
           SET NOCOUNT ON;
           INSERT INTO dbo.Audit (op, ord_id, old_name, new_name)
             SELECT CASE WHEN d.id IS NULL THEN N'I' WHEN i.id IS NULL THEN N'D' ELSE N'U' END,
                    COALESCE(i.id, d.id), d.name, i.name
             FROM inserted AS i FULL JOIN deleted AS d ON d.id = i.id;
         END",
    );
}

#[test]
fn a_table_variable_holds_rows_for_its_batch_only() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    let got = rows(
        &mut s,
        "DECLARE @t TABLE (k INT NOT NULL, v NVARCHAR(10) NULL);
         INSERT INTO @t (k, v) VALUES (2, N'b'), (1, N'a');
         UPDATE @t SET v = N'z' WHERE k = 2;
         SELECT t.k, t.v FROM @t AS t ORDER BY t.k",
    );
    assert_eq!(got, vec![vec![i(1), st("a")], vec![i(2), st("z")]]);
    // Gone with the batch: error 1087.
    assert_eq!(err(&mut s, "SELECT * FROM @t").number, 1087);
    // Declared twice in one batch: 134.
    assert_eq!(
        err(&mut s, "DECLARE @t TABLE (k INT); DECLARE @t TABLE (k INT)").number,
        134
    );
}

#[test]
fn output_into_a_table_variable_returns_no_rows_to_the_client() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE dbo.T (id INT IDENTITY(10,5) PRIMARY KEY, name NVARCHAR(20) NULL)",
    );
    let c = ok(
        &mut s,
        "DECLARE @ids TABLE (ord INT NOT NULL, id DECIMAL(38,0) NULL);
         INSERT INTO dbo.T (name) OUTPUT 1, INSERTED.id INTO @ids (ord, id) VALUES (N'a');
         INSERT INTO dbo.T (name) OUTPUT 2, INSERTED.id INTO @ids (ord, id) VALUES (N'b');
         SELECT t.id FROM @ids AS i JOIN dbo.T AS t ON t.id = i.id ORDER BY i.ord",
    );
    assert_eq!(
        c.sets.len(),
        1,
        "only the SELECT returns rows: {:?}",
        c.sets
    );
    assert_eq!(c.sets[0].1, vec![vec![i(10)], vec![i(15)]]);
    // The INSERTs report their counts.
    assert_eq!(c.dones[1].count, Some(1));
    // Column count must match when no list is given: 213.
    assert_eq!(
        err(
            &mut s,
            "DECLARE @x TABLE (a INT, b INT); INSERT INTO dbo.T (name) OUTPUT INSERTED.id INTO @x VALUES (N'c')"
        )
        .number,
        213
    );
}

#[test]
fn an_after_trigger_sees_inserted_and_deleted_and_its_changes_commit_with_the_statement() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    audited(&mut s);
    let c = ok(&mut s, "INSERT INTO dbo.Ord (name) VALUES (N'a'), (N'b')");
    // The trigger's statement ends with DONEINPROC; the INSERT's own DONE
    // comes last with its count.
    assert_eq!(c.dones.last().unwrap().count, Some(2));
    ok(&mut s, "UPDATE dbo.Ord SET name = N'z' WHERE id = 2");
    ok(&mut s, "DELETE FROM dbo.Ord WHERE id = 1");
    assert_eq!(
        rows(
            &mut s,
            "SELECT op, ord_id, old_name, new_name FROM dbo.Audit ORDER BY n"
        ),
        vec![
            vec![st("I"), i(1), Value::Null, st("a")],
            vec![st("I"), i(2), Value::Null, st("b")],
            vec![st("U"), i(2), st("b"), st("z")],
            vec![st("D"), i(1), st("a"), Value::Null],
        ]
    );
    // A statement that changes no rows fires the trigger too (no rows).
    ok(&mut s, "DELETE FROM dbo.Ord WHERE id = 99");
    assert_eq!(
        rows(&mut s, "SELECT COUNT(*) FROM dbo.Audit"),
        vec![vec![i(4)]]
    );
    // SCOPE_IDENTITY is the firing scope's, @@IDENTITY the trigger's insert.
    assert_eq!(
        rows(
            &mut s,
            "INSERT INTO dbo.Ord (name) VALUES (N'c'); SELECT SCOPE_IDENTITY(), @@IDENTITY"
        ),
        vec![vec![Value::Decimal(3, 0), Value::Decimal(104, 0)]]
    );
    // Rolled back with the transaction that fired it.
    ok(
        &mut s,
        "BEGIN TRAN; INSERT INTO dbo.Ord (name) VALUES (N'r'); ROLLBACK",
    );
    assert_eq!(
        rows(&mut s, "SELECT COUNT(*) FROM dbo.Audit"),
        vec![vec![i(5)]]
    );
}

#[test]
fn an_error_in_a_trigger_fails_the_statement_and_undoes_its_changes() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE dbo.T (id INT PRIMARY KEY, v INT NULL)",
    );
    ok(
        &mut s,
        "CREATE TRIGGER trg_no_neg ON dbo.T AFTER INSERT AS
         IF EXISTS (SELECT 1 FROM inserted WHERE v < 0)
           RAISERROR('negative v', 16, 1);",
    );
    ok(&mut s, "INSERT INTO dbo.T VALUES (1, 1)");
    let e1 = err(&mut s, "INSERT INTO dbo.T VALUES (2, -1)");
    assert_eq!(e1.message, "negative v");
    assert_eq!(rows(&mut s, "SELECT id FROM dbo.T"), vec![vec![i(1)]]);
}

#[test]
fn output_without_into_is_refused_on_a_table_with_an_enabled_trigger() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    audited(&mut s);
    let e1 = err(
        &mut s,
        "INSERT INTO dbo.Ord (name) OUTPUT INSERTED.id VALUES (N'a')",
    );
    assert_eq!(e1.number, 334);
    assert!(e1.message.contains("dbo.Ord"), "{}", e1.message);
    assert_eq!(
        rows(&mut s, "SELECT COUNT(*) FROM dbo.Ord"),
        vec![vec![i(0)]]
    );
    // Disabled, the trigger neither refuses OUTPUT nor fires.
    ok(&mut s, "DISABLE TRIGGER dbo.trg_ord ON dbo.Ord");
    let c = ok(
        &mut s,
        "INSERT INTO dbo.Ord (name) OUTPUT INSERTED.id VALUES (N'a')",
    );
    assert_eq!(c.sets[0].1, vec![vec![i(1)]]);
    assert_eq!(
        rows(&mut s, "SELECT COUNT(*) FROM dbo.Audit"),
        vec![vec![i(0)]]
    );
    ok(&mut s, "ALTER TABLE dbo.Ord ENABLE TRIGGER ALL");
    assert_eq!(
        err(&mut s, "DELETE FROM dbo.Ord OUTPUT DELETED.id WHERE id = 1").number,
        334
    );
    // OUTPUT ... INTO a table variable works with the trigger enabled.
    let got = rows(
        &mut s,
        "DECLARE @ids TABLE (id INT);
         INSERT INTO dbo.Ord (name) OUTPUT INSERTED.id INTO @ids VALUES (N'b');
         SELECT id FROM @ids",
    );
    assert_eq!(got, vec![vec![i(2)]]);
    // The catalog knows the trigger; DROP removes it.
    assert_eq!(
        rows(&mut s, "SELECT name, is_disabled FROM sys.triggers"),
        vec![vec![st("trg_ord"), i(0)]]
    );
    ok(&mut s, "DROP TRIGGER dbo.trg_ord");
    ok(
        &mut s,
        "INSERT INTO dbo.Ord (name) OUTPUT INSERTED.id VALUES (N'c')",
    );
    assert_eq!(err(&mut s, "DROP TRIGGER dbo.trg_ord").number, 3701);
}

#[test]
fn a_trigger_does_not_fire_itself_and_nested_triggers_fire() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE dbo.A (id INT PRIMARY KEY, touched INT NOT NULL DEFAULT 0)",
    );
    ok(&mut s, "CREATE TABLE dbo.B (id INT PRIMARY KEY)");
    ok(&mut s, "CREATE TABLE dbo.C (id INT PRIMARY KEY)");
    // Updates its own table: RECURSIVE_TRIGGERS OFF stops it firing again.
    ok(
        &mut s,
        "CREATE TRIGGER trg_a ON dbo.A AFTER INSERT, UPDATE AS
         UPDATE dbo.A SET touched = touched + 1 WHERE id IN (SELECT id FROM inserted);
         INSERT INTO dbo.B (id) SELECT id FROM inserted WHERE id NOT IN (SELECT id FROM dbo.B);",
    );
    ok(&mut s, "CREATE TRIGGER trg_b ON dbo.B AFTER INSERT AS INSERT INTO dbo.C (id) SELECT id FROM inserted;");
    ok(&mut s, "INSERT INTO dbo.A (id) VALUES (1)");
    assert_eq!(rows(&mut s, "SELECT touched FROM dbo.A"), vec![vec![i(1)]]);
    assert_eq!(rows(&mut s, "SELECT id FROM dbo.C"), vec![vec![i(1)]]);
}
