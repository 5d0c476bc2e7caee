//! Throughput measurements (ignored by default; run with --ignored --nocapture).

use super::*;
use crate::value::{Len, SqlType};

/// Throughput of bulk load; run in release:
/// `cargo test --release -p mssql-sim --lib bulk_throughput -- --ignored --nocapture`
#[test]
#[ignore]
fn bulk_throughput() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "CREATE TABLE T (id INT IDENTITY PRIMARY KEY, name NVARCHAR(50) NOT NULL, qty INT, price DECIMAL(10,2))");
    ok(
        &mut s,
        "INSERT BULK T (name NVARCHAR(50), qty INT, price DECIMAL(10,2))",
    );
    let meta = vec![
        ColumnMeta {
            name: "name".into(),
            ty: SqlType::NVarChar(Len::N(50)),
            nullable: false,
            identity: false,
            computed: false,
            timestamp: false,
            table: None,
        },
        ColumnMeta {
            name: "qty".into(),
            ty: SqlType::Int,
            nullable: true,
            identity: false,
            computed: false,
            timestamp: false,
            table: None,
        },
        ColumnMeta {
            name: "price".into(),
            ty: SqlType::Decimal {
                precision: 10,
                scale: 2,
            },
            nullable: true,
            identity: false,
            computed: false,
            timestamp: false,
            table: None,
        },
    ];
    let total = 300_000;
    let mut n = 0;
    let mut next = move || -> Result<Option<Vec<Value>>, SqlError> {
        n += 1;
        Ok(if n <= total {
            Some(vec![
                Value::String(format!("row number {n}")),
                Value::Int(n),
                Value::Decimal(n as i128 * 100 + 5, 2),
            ])
        } else {
            None
        })
    };
    let start = std::time::Instant::now();
    let mut c = Collect::default();
    s.bulk_load(&meta, &mut next, &mut c);
    let el = start.elapsed();
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let rate = total as f64 / el.as_secs_f64();
    println!("bulk load: {total} rows in {el:?} = {rate:.0} rows/s");
    assert_eq!(
        rows(&mut s, "SELECT COUNT(*), MAX(id) FROM T"),
        vec![vec![i(total), i(total)]]
    );
}

/// Repeated parameterized MERGE (what the agent's applier sends); prints the rate.
#[test]
#[ignore]
fn merge_throughput() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(
        &mut s,
        "CREATE TABLE T (id INT PRIMARY KEY, name NVARCHAR(50), qty INT)",
    );
    let sql = "WITH CHANGE_TRACKING_CONTEXT (@P4) MERGE dbo.T AS t USING (SELECT @P1 AS id, @P2 AS name, @P3 AS qty) AS s ON t.id = s.id WHEN MATCHED THEN UPDATE SET name = s.name, qty = s.qty WHEN NOT MATCHED THEN INSERT (id, name, qty) VALUES (s.id, s.name, s.qty);";
    let total = 5000;
    let start = std::time::Instant::now();
    for n in 0..total {
        let params = vec![
            Param {
                name: "@P1".into(),
                ty: SqlType::Int,
                value: i(n % 1000),
                output: false,
            },
            Param {
                name: "@P2".into(),
                ty: SqlType::NVarChar(Len::N(50)),
                value: st("x"),
                output: false,
            },
            Param {
                name: "@P3".into(),
                ty: SqlType::Int,
                value: i(n),
                output: false,
            },
            Param {
                name: "@P4".into(),
                ty: SqlType::VarBinary(Len::N(128)),
                value: Value::Binary(vec![1, 2]),
                output: false,
            },
        ];
        let mut c = Collect::default();
        s.execute(sql, &params, &mut c);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
    }
    let el = start.elapsed();
    println!(
        "merge: {total} statements in {el:?} = {:.0}/s",
        total as f64 / el.as_secs_f64()
    );
}

/// Capture of a large change set (bulk load into a tracked table, then the
/// agent's CHANGETABLE join); prints the timings.
#[test]
#[ignore]
fn capture_throughput() {
    let e = engine();
    let mut s = e.session("sa").unwrap();
    ok(&mut s, "ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON");
    ok(&mut s, "CREATE TABLE T (id INT IDENTITY PRIMARY KEY, name NVARCHAR(50) NOT NULL, qty INT); ALTER TABLE T ENABLE CHANGE_TRACKING");
    ok(&mut s, "INSERT BULK T (name NVARCHAR(50), qty INT)");
    let meta = vec![
        ColumnMeta {
            name: "name".into(),
            ty: SqlType::NVarChar(Len::N(50)),
            nullable: false,
            identity: false,
            computed: false,
            timestamp: false,
            table: None,
        },
        ColumnMeta {
            name: "qty".into(),
            ty: SqlType::Int,
            nullable: true,
            identity: false,
            computed: false,
            timestamp: false,
            table: None,
        },
    ];
    let total = 100_000;
    let mut n = 0;
    let mut next = move || -> Result<Option<Vec<Value>>, SqlError> {
        n += 1;
        Ok(if n <= total {
            Some(vec![Value::String(format!("row {n}")), Value::Int(n)])
        } else {
            None
        })
    };
    let start = std::time::Instant::now();
    let mut c = Collect::default();
    s.bulk_load(&meta, &mut next, &mut c);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    println!("tracked bulk load: {total} rows in {:?}", start.elapsed());
    let start = std::time::Instant::now();
    let c = ok(&mut s, "SELECT CT.SYS_CHANGE_VERSION, CT.SYS_CHANGE_OPERATION, CT.id, T.name, T.qty FROM CHANGETABLE(CHANGES T, 0) AS CT LEFT OUTER JOIN T ON T.id = CT.id ORDER BY CT.SYS_CHANGE_VERSION, CT.id");
    println!(
        "capture: {} rows in {:?}",
        c.sets[0].1.len(),
        start.elapsed()
    );
    assert_eq!(c.sets[0].1.len(), total as usize);
}
