//! rowversion (timestamp) and computed columns through tiberius:
//! docs/t-sql/data-types/rowversion-transact-sql.md,
//! docs/t-sql/functions/dbts-transact-sql.md,
//! docs/relational-databases/tables/specify-computed-columns-in-a-table.md,
//! docs/t-sql/statements/create-table-transact-sql.md (computed_column_definition),
//! docs/relational-databases/system-catalog-views/sys-computed-columns-transact-sql.md,
//! errors 271, 272, 273 and 2738 (database-engine-events-and-errors-0-to-999.md,
//! -2000-to-2999.md).

mod common;

use common::*;
use tiberius::{ColumnData, IntoRow};

/// The 8 bytes of a rowversion value as a number.
fn rv(v: &ColumnData<'static>) -> u64 {
    match v {
        ColumnData::Binary(Some(b)) => {
            let bytes: [u8; 8] = b.as_ref().try_into().expect("8 bytes");
            u64::from_be_bytes(bytes)
        }
        other => panic!("expected binary(8), got {other:?}"),
    }
}

async fn one_rv(c: &mut Conn, sql: &str) -> u64 {
    let r = rows(c, sql).await;
    rv(&r[0][0])
}

#[tokio::test]
async fn rowversion_moves_on_every_insert_and_update_across_tables() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.A (id INT NOT NULL PRIMARY KEY, v INT NULL, rv ROWVERSION);
         CREATE TABLE dbo.B (id INT NOT NULL PRIMARY KEY, timestamp)",
    )
    .await;
    exec(&mut c, "INSERT INTO dbo.A (id, v) VALUES (1, 10), (2, 20)").await;
    let a1 = one_rv(&mut c, "SELECT rv FROM dbo.A WHERE id = 1").await;
    let a2 = one_rv(&mut c, "SELECT rv FROM dbo.A WHERE id = 2").await;
    assert!(a2 > a1, "one value per row written: {a1} {a2}");
    // The counter is database-wide: B's column (named timestamp, as a bare
    // `timestamp` column is) continues from A's.
    exec(&mut c, "INSERT INTO dbo.B (id) VALUES (1)").await;
    let b1 = one_rv(&mut c, "SELECT [timestamp] FROM dbo.B").await;
    assert!(b1 > a2);
    assert_eq!(
        one_rv(&mut c, "SELECT @@DBTS").await,
        b1,
        "@@DBTS is the last value used"
    );
    // An update that changes nothing still moves it.
    exec(&mut c, "UPDATE dbo.A SET v = v WHERE id = 1").await;
    let a1b = one_rv(&mut c, "SELECT rv FROM dbo.A WHERE id = 1").await;
    assert!(a1b > b1);
    assert_eq!(
        one_rv(&mut c, "SELECT rv FROM dbo.A WHERE id = 2").await,
        a2
    );
    assert_eq!(one_rv(&mut c, "SELECT @@DBTS").await, a1b);
    // A rolled-back write does not give its value back.
    exec(&mut c, "BEGIN TRAN; UPDATE dbo.A SET v = 0; ROLLBACK").await;
    assert_eq!(
        one_rv(&mut c, "SELECT rv FROM dbo.A WHERE id = 1").await,
        a1b
    );
    exec(&mut c, "INSERT INTO dbo.B (id) VALUES (2)").await;
    let b2 = one_rv(&mut c, "SELECT [timestamp] FROM dbo.B WHERE id = 2").await;
    assert!(b2 > a1b + 2, "values are not reused after a rollback: {b2}");
    // INSERT ... SELECT and INSERT ... DEFAULT VALUES leave it out too.
    exec(
        &mut c,
        "CREATE TABLE dbo.D (id INT IDENTITY PRIMARY KEY, rv ROWVERSION);
         INSERT INTO dbo.D DEFAULT VALUES;
         INSERT INTO dbo.A (id, v) SELECT id + 10, 0 FROM dbo.B",
    )
    .await;
    let d = one_rv(&mut c, "SELECT rv FROM dbo.D").await;
    let a_max = one_rv(&mut c, "SELECT MAX(rv) FROM dbo.A").await;
    assert!(a_max > d && d > b2);
}

#[tokio::test]
async fn rowversion_refuses_explicit_values_and_a_second_column() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.A (id INT NOT NULL PRIMARY KEY, rv ROWVERSION)",
    )
    .await;
    let (n, m) = error_of(&mut c, "INSERT INTO dbo.A (id, rv) VALUES (1, 0x01)").await;
    assert_eq!(n, 273);
    assert_eq!(m, "Cannot insert an explicit value into a timestamp column. Use INSERT with a column list to exclude the timestamp column, or insert a DEFAULT into the timestamp column.");
    // DEFAULT (and NULL) there let the server give the value.
    exec(
        &mut c,
        "INSERT INTO dbo.A (id, rv) VALUES (1, DEFAULT); INSERT INTO dbo.A VALUES (2, NULL)",
    )
    .await;
    let (n, m) = error_of(&mut c, "UPDATE dbo.A SET rv = 0x01").await;
    assert_eq!((n, m.as_str()), (272, "Cannot update a timestamp column."));
    let (n, m) = error_of(
        &mut c,
        "CREATE TABLE dbo.Two (id INT PRIMARY KEY, r1 ROWVERSION, r2 TIMESTAMP)",
    )
    .await;
    assert_eq!(n, 2738);
    assert_eq!(m, "A table can only have one timestamp column. Because table 'Two' already has one, the column 'r2' cannot be added.");
    let (n, _) = error_of(&mut c, "ALTER TABLE dbo.A ADD r2 ROWVERSION").await;
    assert_eq!(n, 2738);
    assert_eq!(
        rows(&mut c, "SELECT COUNT(*) FROM dbo.A").await,
        vec![vec![int(2)]]
    );
}

#[tokio::test]
async fn computed_columns_follow_their_inputs() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.T (id INT NOT NULL PRIMARY KEY, qty INT NOT NULL, price INT NOT NULL,
            total AS qty * price,
            first NVARCHAR(20) NULL, last NVARCHAR(20) NULL,
            full_name AS (first + N' ' + last) PERSISTED)",
    )
    .await;
    exec(
        &mut c,
        "INSERT INTO dbo.T (id, qty, price, first, last) VALUES (1, 3, 7, N'Ada', N'Lovelace')",
    )
    .await;
    assert_eq!(
        rows(&mut c, "SELECT total, full_name FROM dbo.T").await,
        vec![vec![int(21), text("Ada Lovelace")]]
    );
    exec(
        &mut c,
        "UPDATE dbo.T SET qty = qty + 1, last = N'King' WHERE id = 1",
    )
    .await;
    assert_eq!(
        rows(
            &mut c,
            "SELECT total, full_name FROM dbo.T WHERE total = 28"
        )
        .await,
        vec![vec![int(28), text("Ada King")]]
    );
    let msg = |col: &str| {
        format!("The column \"{col}\" cannot be modified because it is either a computed column or is the result of a UNION operator.")
    };
    let (n, m) = error_of(
        &mut c,
        "INSERT INTO dbo.T (id, qty, price, total) VALUES (2, 1, 1, 5)",
    )
    .await;
    assert_eq!((n, m), (271, msg("total")));
    let (n, m) = error_of(&mut c, "UPDATE dbo.T SET full_name = N'x'").await;
    assert_eq!((n, m), (271, msg("full_name")));
    // OUTPUT INSERTED shows the computed value of the new row.
    assert_eq!(
        rows(
            &mut c,
            "INSERT INTO dbo.T (id, qty, price) OUTPUT INSERTED.total, INSERTED.full_name VALUES (3, 2, 5)"
        )
        .await,
        vec![vec![int(10), ColumnData::String(None)]]
    );
}

#[tokio::test]
async fn catalogs_describe_computed_and_rowversion_columns() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.T (id INT NOT NULL PRIMARY KEY, qty INT NOT NULL,
            total AS qty * 2 PERSISTED, rv ROWVERSION)",
    )
    .await;
    assert_eq!(
        rows(
            &mut c,
            "SELECT name, is_computed, system_type_id, max_length, is_nullable FROM sys.columns
             WHERE object_id = OBJECT_ID('dbo.T') ORDER BY column_id"
        )
        .await,
        vec![
            vec![
                text("id"),
                ColumnData::Bit(Some(false)),
                ColumnData::U8(Some(56)),
                ColumnData::I16(Some(4)),
                ColumnData::Bit(Some(false))
            ],
            vec![
                text("qty"),
                ColumnData::Bit(Some(false)),
                ColumnData::U8(Some(56)),
                ColumnData::I16(Some(4)),
                ColumnData::Bit(Some(false))
            ],
            vec![
                text("total"),
                ColumnData::Bit(Some(true)),
                ColumnData::U8(Some(56)),
                ColumnData::I16(Some(4)),
                ColumnData::Bit(Some(true))
            ],
            vec![
                text("rv"),
                ColumnData::Bit(Some(false)),
                ColumnData::U8(Some(189)),
                ColumnData::I16(Some(8)),
                ColumnData::Bit(Some(false))
            ],
        ]
    );
    assert_eq!(
        rows(
            &mut c,
            "SELECT name, column_id, definition, is_persisted FROM sys.computed_columns
             WHERE object_id = OBJECT_ID('dbo.T')"
        )
        .await,
        vec![vec![
            text("total"),
            int(3),
            text("([qty]*(2))"),
            ColumnData::Bit(Some(true))
        ]]
    );
    assert_eq!(
        rows(
            &mut c,
            "SELECT COLUMNPROPERTY(OBJECT_ID('dbo.T'), 'total', 'IsComputed'),
                    COLUMNPROPERTY(OBJECT_ID('dbo.T'), 'qty', 'IsComputed')"
        )
        .await,
        vec![vec![int(1), int(0)]]
    );
    assert_eq!(
        rows(
            &mut c,
            "SELECT COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS
             WHERE TABLE_NAME = 'T' AND COLUMN_NAME IN ('total', 'rv') ORDER BY ORDINAL_POSITION"
        )
        .await,
        vec![
            vec![text("total"), text("int")],
            vec![text("rv"), text("timestamp")]
        ]
    );
}

#[tokio::test]
async fn select_star_and_insert_without_a_column_list() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.T (id INT NOT NULL PRIMARY KEY, qty INT NOT NULL, twice AS qty * 2, rv ROWVERSION)",
    )
    .await;
    // Without a column list the computed column is left out and the
    // rowversion takes DEFAULT (insert-transact-sql.md; error 273's text).
    exec(
        &mut c,
        "INSERT INTO dbo.T VALUES (1, 5, DEFAULT); INSERT INTO dbo.T SELECT 2, 6, NULL",
    )
    .await;
    let r = rows(&mut c, "SELECT * FROM dbo.T ORDER BY id").await;
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].len(), 4, "SELECT * includes both columns");
    assert_eq!(&r[0][..3], &[int(1), int(5), int(10)]);
    assert_eq!(&r[1][..3], &[int(2), int(6), int(12)]);
    assert!(rv(&r[1][3]) > rv(&r[0][3]));
}

#[tokio::test]
async fn merge_and_bulk_load_fill_both_kinds() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.T (id INT NOT NULL PRIMARY KEY, qty INT NOT NULL, label NVARCHAR(10) NULL,
            tag AS (label + N'#') , twice AS qty * 2 PERSISTED, rv ROWVERSION)",
    )
    .await;
    exec(
        &mut c,
        "INSERT INTO dbo.T (id, qty, label) VALUES (1, 1, N'a')",
    )
    .await;
    let before = one_rv(&mut c, "SELECT rv FROM dbo.T WHERE id = 1").await;
    let r = rows(
        &mut c,
        "MERGE dbo.T AS t USING (VALUES (1, 10, N'x'), (2, 20, N'y')) AS s (id, qty, label) ON t.id = s.id
         WHEN MATCHED THEN UPDATE SET qty = s.qty, label = s.label
         WHEN NOT MATCHED THEN INSERT (id, qty, label) VALUES (s.id, s.qty, s.label)
         OUTPUT $action, INSERTED.id, INSERTED.twice, INSERTED.tag;",
    )
    .await;
    let mut r: Vec<_> = r.into_iter().map(|x| x[1..].to_vec()).collect();
    r.sort_by_key(|x| format!("{:?}", x[0]));
    assert_eq!(
        r,
        vec![
            vec![int(1), int(20), text("x#")],
            vec![int(2), int(40), text("y#")]
        ]
    );
    let after = one_rv(&mut c, "SELECT rv FROM dbo.T WHERE id = 1").await;
    assert!(after > before, "MERGE's update moves the rowversion");
    let (n, _) = error_of(
        &mut c,
        "MERGE dbo.T AS t USING (VALUES (1)) AS s (id) ON t.id = s.id WHEN MATCHED THEN UPDATE SET twice = 1;",
    )
    .await;
    assert_eq!(n, 271);
    // tiberius reads `SELECT TOP 0 *` and sends only the columns it may
    // write: computed and rowversion columns are read-only in COLMETADATA.
    let mut req = c.bulk_insert("dbo.T").await.expect("bulk insert");
    for n in 3..6i32 {
        req.send((n, n * 100, Some(format!("b{n}"))).into_row())
            .await
            .expect("row");
    }
    assert_eq!(req.finalize().await.expect("finalize").total(), 3);
    let r = rows(
        &mut c,
        "SELECT id, twice, tag FROM dbo.T WHERE id >= 3 ORDER BY id",
    )
    .await;
    assert_eq!(
        r,
        vec![
            vec![int(3), int(600), text("b3#")],
            vec![int(4), int(800), text("b4#")],
            vec![int(5), int(1000), text("b5#")]
        ]
    );
    let bulk_max = one_rv(&mut c, "SELECT MAX(rv) FROM dbo.T").await;
    assert!(bulk_max > after);
    assert_eq!(one_rv(&mut c, "SELECT @@DBTS").await, bulk_max);
}

#[tokio::test]
async fn alter_table_add_fills_existing_rows_and_tracking_sees_updates() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON);
         CREATE TABLE dbo.T (id INT NOT NULL PRIMARY KEY, qty INT NOT NULL);
         INSERT INTO dbo.T VALUES (1, 4), (2, 5);
         ALTER TABLE dbo.T ADD rv ROWVERSION;
         ALTER TABLE dbo.T ADD sq AS (qty * qty);
         ALTER TABLE dbo.T ENABLE CHANGE_TRACKING WITH (TRACK_COLUMNS_UPDATED = ON)",
    )
    .await;
    let r = rows(&mut c, "SELECT id, sq, rv FROM dbo.T ORDER BY id").await;
    assert_eq!(&r[0][..2], &[int(1), int(16)]);
    assert_eq!(&r[1][..2], &[int(2), int(25)]);
    assert!(rv(&r[1][2]) > rv(&r[0][2]));
    let (n, m) = error_of(&mut c, "ALTER TABLE dbo.T DROP COLUMN qty").await;
    assert_eq!(
        (n, m.as_str()),
        (5074, "The column 'sq' is dependent on column 'qty'.")
    );
    exec(&mut c, "UPDATE dbo.T SET qty = 6 WHERE id = 2").await;
    let r = rows(
        &mut c,
        "SELECT CT.id, CT.SYS_CHANGE_OPERATION, t.sq,
                CHANGE_TRACKING_IS_COLUMN_IN_MASK(COLUMNPROPERTY(OBJECT_ID('dbo.T'), 'qty', 'ColumnId'), CT.SYS_CHANGE_COLUMNS)
         FROM CHANGETABLE(CHANGES dbo.T, 0) AS CT JOIN dbo.T AS t ON t.id = CT.id",
    )
    .await;
    assert_eq!(
        r,
        vec![vec![
            int(2),
            ColumnData::String(Some("U".into())),
            int(36),
            ColumnData::Bit(Some(true))
        ]]
    );
}
