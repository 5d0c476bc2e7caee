//! What `ctsync verify` asks of the stand-in: row hashes over normalised
//! column text (CONVERT styles, DATALENGTH, CONCAT, HASHBYTES), range hashes
//! (COUNT_BIG and SUM of CAST(SUBSTRING(hash) AS bigint)) and boundaries
//! (OFFSET ... FETCH).

use super::*;

const ROW_HASH: &str = "HASHBYTES('SHA2_256', CONCAT(\
    CONCAT(DATALENGTH(CAST(id AS nvarchar(max))), N':', CAST(id AS nvarchar(max))), \
    CONCAT(DATALENGTH(CAST(name AS nvarchar(max))), N':', CAST(name AS nvarchar(max))), \
    CONCAT(DATALENGTH(CONVERT(nvarchar(max), f, 3)), N':', CONVERT(nvarchar(max), f, 3)), \
    CONCAT(DATALENGTH(CONVERT(nvarchar(max), CAST(b AS varbinary(max)), 1)), N':', CONVERT(nvarchar(max), CAST(b AS varbinary(max)), 1)), N''))";

fn setup(s: &mut Session) {
    ok(
        s,
        "CREATE TABLE T (id INT PRIMARY KEY, name NVARCHAR(20) NULL, f FLOAT NULL, b VARBINARY(8) NULL)",
    );
    ok(
        s,
        "INSERT INTO T VALUES (1, N'a', 0.1, 0x00FF), (2, N'', 2.5, 0x), (3, NULL, NULL, NULL), (4, N'ab', 1e300, 0x01)",
    );
}

#[test]
fn row_hashes_tell_null_empty_and_tiny_float_changes_apart() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    setup(&mut s);
    let hashes = |s: &mut Session| rows(s, &format!("SELECT id, {ROW_HASH} FROM T ORDER BY id"));
    let before = hashes(&mut s);
    assert_eq!(before.len(), 4);
    for r in &before {
        assert!(matches!(&r[1], Value::Binary(b) if b.len() == 32), "{r:?}");
    }
    // NULL and the empty string hash differently.
    ok(&mut s, "UPDATE T SET name = N'' WHERE id = 3");
    assert_ne!(hashes(&mut s)[2][1], before[2][1]);
    ok(&mut s, "UPDATE T SET name = NULL WHERE id = 3");
    assert_eq!(hashes(&mut s)[2][1], before[2][1]);
    // A change in the 17th digit of a float shows.
    ok(&mut s, "UPDATE T SET f = f + 1e-15 WHERE id = 2");
    assert_ne!(hashes(&mut s)[1][1], before[1][1]);
    // CONVERT styles as SQL Server documents them.
    assert_eq!(
        rows(
            &mut s,
            "SELECT CONVERT(nvarchar(max), b, 1), CONVERT(varchar(10), b, 2) FROM T WHERE id = 1"
        ),
        vec![vec![st("0x00FF"), st("00FF")]]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT CONVERT(nvarchar(max), f, 3) FROM T WHERE id = 1"
        ),
        vec![vec![st("1.0000000000000001e-001")]]
    );
}

#[test]
fn range_hashes_sum_hash_slices_and_boundaries_use_offset() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    setup(&mut s);
    let range = format!(
        "SELECT COUNT_BIG(*), SUM(CAST(SUBSTRING(x.h, 1, 4) AS bigint)), SUM(CAST(SUBSTRING(x.h, 5, 4) AS bigint)) \
         FROM (SELECT {ROW_HASH} AS h FROM T WHERE id > 1 AND NOT (id > 4)) AS x"
    );
    let r = rows(&mut s, &range);
    assert_eq!(r[0][0], i(3));
    // Each lane is a sum of unsigned 32-bit slices: non-negative, below 3 * 2^32.
    for lane in &r[0][1..] {
        assert!(
            matches!(lane, Value::Int(n) if *n >= 0 && *n < 3 * (1i64 << 32)),
            "{lane:?}"
        );
    }
    let one: Vec<Vec<Value>> = rows(
        &mut s,
        &format!(
            "SELECT CAST(SUBSTRING({ROW_HASH}, 1, 4) AS bigint) FROM T WHERE id > 1 ORDER BY id"
        ),
    );
    let sum: i64 = one
        .iter()
        .map(|r| match r[0] {
            Value::Int(n) => n,
            _ => 0,
        })
        .sum();
    assert_eq!(r[0][1], i(sum));
    ok(&mut s, "UPDATE T SET name = N'x' WHERE id = 2");
    assert_ne!(rows(&mut s, &range), r);
    assert_eq!(
        rows(
            &mut s,
            "SELECT id FROM T WHERE id > 1 ORDER BY id OFFSET 1 ROWS FETCH NEXT 1 ROWS ONLY"
        ),
        vec![vec![i(3)]]
    );
    assert!(rows(
        &mut s,
        "SELECT id FROM T WHERE id > 3 ORDER BY id OFFSET 1 ROWS FETCH NEXT 1 ROWS ONLY"
    )
    .is_empty());
}

#[test]
fn widening_casts_keep_the_value_padding_and_collation() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE C (id INT PRIMARY KEY, c NCHAR(5) NULL, v VARCHAR(10) COLLATE Latin1_General_CS_AS NULL, n SMALLINT NULL)",
    );
    ok(
        &mut s,
        "INSERT INTO C VALUES (1, N'ab', 'Abc', -3), (2, NULL, NULL, NULL)",
    );
    // nchar keeps its padding through CAST to nvarchar(max)
    // (docs/t-sql/data-types/nchar-and-nvarchar-transact-sql.md).
    assert_eq!(
        rows(
            &mut s,
            "SELECT CAST(c AS nvarchar(max)), DATALENGTH(CAST(c AS nvarchar(max))), CAST(n AS bigint), CAST(v AS nvarchar(max)) FROM C ORDER BY id"
        ),
        vec![
            vec![st("ab   "), i(10), i(-3), st("Abc")],
            vec![Value::Null, Value::Null, Value::Null, Value::Null]
        ]
    );
    // A supplementary character is 4 bytes of UTF-16, é 2.
    assert_eq!(
        rows(&mut s, "SELECT DATALENGTH(N'a\u{1F600}é'), DATALENGTH(N''), DATALENGTH(CAST(NULL AS nvarchar(5)))"),
        vec![vec![i(8), i(0), Value::Null]]
    );
    // CAST keeps a character input's collation: the column's, case-sensitive.
    assert!(rows(
        &mut s,
        "SELECT id FROM C WHERE CAST(v AS nvarchar(max)) = N'abc'"
    )
    .is_empty());
    // Binary slices to integers: the rightmost bytes, big-endian.
    assert_eq!(
        rows(
            &mut s,
            "SELECT CAST(SUBSTRING(0x01FFFFFFFF, 2, 4) AS int), CAST(SUBSTRING(0x01FFFFFFFF, 2, 4) AS bigint), CAST(0x0102 AS tinyint)"
        ),
        vec![vec![i(-1), i(4_294_967_295), Value::Int(2)]]
    );
}
