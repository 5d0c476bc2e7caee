//! ALTER TABLE ... ALTER COLUMN through tiberius
//! (docs/t-sql/statements/alter-table-transact-sql.md, ALTER COLUMN; errors
//! 515, 8152, 220, 245, 4928 and 5074), and sys.objects.modify_date
//! (docs/relational-databases/system-catalog-views/sys-objects-transact-sql.md).

mod common;

use common::*;
use tiberius::ColumnData;

fn cell(v: &ColumnData<'static>) -> Option<String> {
    match v {
        ColumnData::String(s) => s.as_ref().map(|s| s.to_string()),
        ColumnData::I32(i) => i.map(|i| i.to_string()),
        ColumnData::I64(i) => i.map(|i| i.to_string()),
        ColumnData::I16(i) => i.map(|i| i.to_string()),
        ColumnData::U8(i) => i.map(|i| i.to_string()),
        ColumnData::Bit(b) => b.map(|b| (b as i32).to_string()),
        ColumnData::Numeric(n) => n.map(|n| n.to_string()),
        other => panic!("unexpected cell {other:?}"),
    }
}

async fn table(c: &mut Conn, sql: &str) -> Vec<Vec<Option<String>>> {
    rows(c, sql)
        .await
        .iter()
        .map(|r| r.iter().map(cell).collect())
        .collect()
}

fn s(x: &str) -> Option<String> {
    Some(x.to_string())
}

/// (DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, IS_NULLABLE, COLLATION_NAME) of a column.
async fn describe(c: &mut Conn, column: &str) -> Vec<Option<String>> {
    table(
        c,
        &format!(
            "SELECT DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, IS_NULLABLE, COLLATION_NAME
             FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'W' AND COLUMN_NAME = '{column}'"
        ),
    )
    .await
    .remove(0)
}

async fn fixture(c: &mut Conn) {
    exec(
        c,
        "CREATE TABLE dbo.W (id INT NOT NULL PRIMARY KEY, s VARCHAR(5) NOT NULL, n SMALLINT NULL,
            t NVARCHAR(10) NULL, d DECIMAL(9,2) NULL);
         INSERT INTO dbo.W VALUES (1, 'abcde', 1, N'12', 1.25), (2, 'x', NULL, NULL, NULL)",
    )
    .await;
}

#[tokio::test]
async fn widening_changes_type_length_and_nullability_and_keeps_the_data() {
    let server = start();
    let mut c = connect(&server).await;
    fixture(&mut c).await;
    exec(
        &mut c,
        "ALTER TABLE dbo.W ALTER COLUMN s VARCHAR(20) NOT NULL",
    )
    .await;
    assert_eq!(
        describe(&mut c, "s").await,
        vec![
            s("varchar"),
            s("20"),
            s("NO"),
            s("SQL_Latin1_General_CP1_CI_AS")
        ]
    );
    exec(
        &mut c,
        "INSERT INTO dbo.W (id, s) VALUES (3, '12345678901234567890')",
    )
    .await;
    let (n, _) = error_of(&mut c, "INSERT INTO dbo.W (id, s) VALUES (4, NULL)").await;
    assert_eq!(n, 515);
    assert_eq!(
        table(&mut c, "SELECT max_length, is_nullable FROM sys.columns WHERE object_id = OBJECT_ID('dbo.W') AND name = 's'").await,
        vec![vec![s("20"), s("0")]]
    );
    // Without NULL / NOT NULL the altered column is nullable (ANSI_NULL default).
    exec(&mut c, "ALTER TABLE dbo.W ALTER COLUMN n BIGINT").await;
    assert_eq!(
        describe(&mut c, "n").await,
        vec![s("bigint"), None, s("YES"), None]
    );
    exec(&mut c, "UPDATE dbo.W SET n = 3000000000 WHERE id = 1").await;
    // A string column converted to int: values convert.
    exec(&mut c, "ALTER TABLE dbo.W ALTER COLUMN t INT NULL").await;
    assert_eq!(
        table(&mut c, "SELECT id, s, n, t FROM dbo.W ORDER BY id").await,
        vec![
            vec![s("1"), s("abcde"), s("3000000000"), s("12")],
            vec![s("2"), s("x"), None, None],
            vec![s("3"), s("12345678901234567890"), None, None],
        ]
    );
    let r = rows(&mut c, "SELECT t FROM dbo.W WHERE id = 1").await;
    assert_eq!(r, vec![vec![int(12)]], "t is an int now");
    exec(
        &mut c,
        "ALTER TABLE dbo.W ALTER COLUMN d DECIMAL(12,3) NULL",
    )
    .await;
    assert_eq!(
        table(&mut c, "SELECT NUMERIC_PRECISION, NUMERIC_SCALE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'W' AND COLUMN_NAME = 'd'").await,
        vec![vec![s("12"), s("3")]]
    );
    assert_eq!(
        table(&mut c, "SELECT d FROM dbo.W WHERE id = 1").await,
        vec![vec![s("1.250")]]
    );
}

#[tokio::test]
async fn values_that_do_not_fit_fail_the_statement_and_change_nothing() {
    let server = start();
    let mut c = connect(&server).await;
    fixture(&mut c).await;
    let (n, m) = error_of(
        &mut c,
        "ALTER TABLE dbo.W ALTER COLUMN s VARCHAR(3) NOT NULL",
    )
    .await;
    assert_eq!(
        (n, m.as_str()),
        (8152, "String or binary data would be truncated.")
    );
    assert_eq!(describe(&mut c, "s").await[1], s("5"));
    assert_eq!(
        table(&mut c, "SELECT s FROM dbo.W WHERE id = 1").await,
        vec![vec![s("abcde")]]
    );
    exec(&mut c, "UPDATE dbo.W SET n = 300 WHERE id = 1").await;
    let (n, m) = error_of(&mut c, "ALTER TABLE dbo.W ALTER COLUMN n TINYINT NULL").await;
    assert_eq!(
        (n, m.as_str()),
        (
            220,
            "Arithmetic overflow error for data type tinyint, value = 300."
        )
    );
    assert_eq!(describe(&mut c, "n").await[0], s("smallint"));
    exec(&mut c, "UPDATE dbo.W SET t = N'x1' WHERE id = 1").await;
    let (n, m) = error_of(&mut c, "ALTER TABLE dbo.W ALTER COLUMN t INT NULL").await;
    assert_eq!(n, 245, "{m}");
    assert_eq!(describe(&mut c, "t").await[0], s("nvarchar"));
    // NULL -> NOT NULL over existing NULLs: 515, until they are filled.
    let (n, m) = error_of(&mut c, "ALTER TABLE dbo.W ALTER COLUMN n SMALLINT NOT NULL").await;
    assert_eq!(n, 515, "{m}");
    assert!(
        m.starts_with("Cannot insert the value NULL into column 'n', table 'testdb.dbo.W'"),
        "{m}"
    );
    assert_eq!(describe(&mut c, "n").await[2], s("YES"));
    exec(&mut c, "UPDATE dbo.W SET n = 0 WHERE n IS NULL").await;
    exec(&mut c, "ALTER TABLE dbo.W ALTER COLUMN n SMALLINT NOT NULL").await;
    assert_eq!(describe(&mut c, "n").await[2], s("NO"));
    // Inside a transaction the failed ALTER leaves the transaction usable.
    exec(&mut c, "BEGIN TRANSACTION").await;
    let (n, _) = error_of(&mut c, "ALTER TABLE dbo.W ALTER COLUMN s CHAR(2) NOT NULL").await;
    assert_eq!(n, 8152);
    exec(&mut c, "COMMIT TRANSACTION").await;
    assert_eq!(
        table(&mut c, "SELECT COUNT(*) FROM dbo.W").await,
        vec![vec![s("2")]]
    );
}

#[tokio::test]
async fn a_collation_change_shows_in_the_catalog_and_in_comparisons() {
    let server = start();
    let mut c = connect(&server).await;
    fixture(&mut c).await;
    assert_eq!(
        table(&mut c, "SELECT id FROM dbo.W WHERE s = 'ABCDE'").await,
        vec![vec![s("1")]]
    );
    exec(
        &mut c,
        "ALTER TABLE dbo.W ALTER COLUMN s VARCHAR(5) COLLATE Latin1_General_CS_AS NOT NULL",
    )
    .await;
    assert_eq!(describe(&mut c, "s").await[3], s("Latin1_General_CS_AS"));
    assert_eq!(
        table(&mut c, "SELECT collation_name FROM sys.columns WHERE object_id = OBJECT_ID('dbo.W') AND name = 's'").await,
        vec![vec![s("Latin1_General_CS_AS")]]
    );
    assert!(table(&mut c, "SELECT id FROM dbo.W WHERE s = 'ABCDE'")
        .await
        .is_empty());
    assert_eq!(
        table(&mut c, "SELECT id FROM dbo.W WHERE s = 'abcde'").await,
        vec![vec![s("1")]]
    );
    // Changing the type without COLLATE gives the database default back.
    exec(
        &mut c,
        "ALTER TABLE dbo.W ALTER COLUMN s VARCHAR(8) NOT NULL",
    )
    .await;
    assert_eq!(
        describe(&mut c, "s").await[3],
        s("SQL_Latin1_General_CP1_CI_AS")
    );
    assert_eq!(
        table(&mut c, "SELECT id FROM dbo.W WHERE s = 'ABCDE'").await,
        vec![vec![s("1")]]
    );
    let (n, _) = error_of(
        &mut c,
        "ALTER TABLE dbo.W ALTER COLUMN s VARCHAR(8) COLLATE Nope_CI_AS NOT NULL",
    )
    .await;
    assert_eq!(n, 448);
}

#[tokio::test]
async fn keys_computed_and_rowversion_columns_are_refused() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "CREATE TABLE dbo.R (id INT NOT NULL CONSTRAINT PK_R PRIMARY KEY, a INT NULL,
            b AS (a + 1), rv ROWVERSION, u VARCHAR(10) NULL CONSTRAINT UQ_R_u UNIQUE)",
    )
    .await;
    let (n, m) = error_of(&mut c, "ALTER TABLE dbo.R ALTER COLUMN id BIGINT NOT NULL").await;
    assert_eq!(
        (n, m.as_str()),
        (5074, "The object 'PK_R' is dependent on column 'id'.")
    );
    let (n, m) = error_of(&mut c, "ALTER TABLE dbo.R ALTER COLUMN b BIGINT").await;
    assert_eq!(
        (n, m.as_str()),
        (4928, "Cannot alter column 'b' because it is 'COMPUTED'.")
    );
    let (n, m) = error_of(&mut c, "ALTER TABLE dbo.R ALTER COLUMN rv BINARY(8)").await;
    assert_eq!(
        (n, m.as_str()),
        (4928, "Cannot alter column 'rv' because it is 'timestamp'.")
    );
    let (n, m) = error_of(&mut c, "ALTER TABLE dbo.R ALTER COLUMN a BIGINT").await;
    assert_eq!(
        (n, m.as_str()),
        (5074, "The column 'b' is dependent on column 'a'.")
    );
    // A unique constraint's variable-length column may change its length,
    // not its type or collation.
    exec(&mut c, "ALTER TABLE dbo.R ALTER COLUMN u VARCHAR(30) NULL").await;
    let (n, m) = error_of(&mut c, "ALTER TABLE dbo.R ALTER COLUMN u NVARCHAR(30) NULL").await;
    assert_eq!(
        (n, m.as_str()),
        (5074, "The object 'UQ_R_u' is dependent on column 'u'.")
    );
    let (n, _) = error_of(&mut c, "ALTER TABLE dbo.R ALTER COLUMN nope INT").await;
    assert_eq!(n, 4924);
    // Restating the key column's definition changes nothing and is accepted.
    exec(&mut c, "ALTER TABLE dbo.R ALTER COLUMN id INT NOT NULL").await;
    // The unique index still holds after the rebuild.
    exec(&mut c, "INSERT INTO dbo.R (id, a, u) VALUES (1, 1, 'k')").await;
    let (n, _) = error_of(&mut c, "INSERT INTO dbo.R (id, a, u) VALUES (2, 1, 'K')").await;
    assert_eq!(n, 2627);
}

#[tokio::test]
async fn change_tracking_goes_on_and_modify_date_moves() {
    let server = start();
    let mut c = connect(&server).await;
    exec(
        &mut c,
        "ALTER DATABASE testdb SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON);
         CREATE TABLE dbo.T (id INT NOT NULL PRIMARY KEY, v VARCHAR(5) NULL);
         ALTER TABLE dbo.T ENABLE CHANGE_TRACKING WITH (TRACK_COLUMNS_UPDATED = ON);
         INSERT INTO dbo.T VALUES (1, 'a'), (2, 'b')",
    )
    .await;
    let date = |r: &Vec<Vec<ColumnData<'static>>>| format!("{:?}", r[0][0]);
    let before = rows(
        &mut c,
        "SELECT modify_date FROM sys.objects WHERE object_id = OBJECT_ID('dbo.T')",
    )
    .await;
    let created = rows(
        &mut c,
        "SELECT create_date FROM sys.tables WHERE name = 'T'",
    )
    .await;
    std::thread::sleep(std::time::Duration::from_millis(30));
    let v0 = match &rows(&mut c, "SELECT CHANGE_TRACKING_CURRENT_VERSION()").await[0][0] {
        ColumnData::I64(Some(v)) => *v,
        other => panic!("{other:?}"),
    };
    exec(&mut c, "ALTER TABLE dbo.T ALTER COLUMN v NVARCHAR(50) NULL").await;
    let after = rows(
        &mut c,
        "SELECT modify_date FROM sys.objects WHERE object_id = OBJECT_ID('dbo.T')",
    )
    .await;
    assert_ne!(date(&before), date(&after), "modify_date moved");
    assert_eq!(
        date(&created),
        date(
            &rows(
                &mut c,
                "SELECT create_date FROM sys.tables WHERE name = 'T'"
            )
            .await
        )
    );
    std::thread::sleep(std::time::Duration::from_millis(30));
    exec(&mut c, "ALTER TABLE dbo.T ADD w INT NULL").await;
    let added = rows(
        &mut c,
        "SELECT modify_date FROM sys.objects WHERE object_id = OBJECT_ID('dbo.T')",
    )
    .await;
    assert_ne!(date(&after), date(&added), "ADD moves it too");
    exec(&mut c, "UPDATE dbo.T SET v = N'longer value' WHERE id = 2").await;
    let r = table(
        &mut c,
        &format!(
            "SELECT CT.id, CT.SYS_CHANGE_OPERATION, T.v FROM CHANGETABLE(CHANGES dbo.T, {v0}) AS CT
             JOIN dbo.T T ON T.id = CT.id ORDER BY CT.id"
        ),
    )
    .await;
    assert_eq!(r, vec![vec![s("2"), s("U"), s("longer value")]]);
    assert_eq!(
        table(&mut c, "SELECT is_track_columns_updated_on FROM sys.change_tracking_tables WHERE object_id = OBJECT_ID('dbo.T')").await,
        vec![vec![s("1")]]
    );
}
