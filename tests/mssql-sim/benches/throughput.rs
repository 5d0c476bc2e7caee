//! Stand-in throughput over TCP with tiberius, single connection
//! (`cargo bench -p mssql-sim --bench throughput`; figures in README.md):
//! round trips of a one-row parameterized INSERT, rows/s of a 10,000-row
//! SELECT, rows/s of a 1,000,000-row bulk load (target ≥ 300,000 rows/s, so
//! the agent's initial load is never held back by the stand-in).
//! `MSSQL_SIM_BENCH_BULK_ROWS` overrides the 1,000,000.

mod common;

use std::time::Instant;
use tiberius::{ColumnData, TokenRow};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let bulk_rows: i32 = std::env::var("MSSQL_SIM_BENCH_BULK_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let bench = common::start().await;
    let mut c = bench.client;
    c.simple_query("CREATE TABLE dbo.R (id INT PRIMARY KEY, name NVARCHAR(40), qty INT, price DECIMAL(10,2), note NVARCHAR(40), at DATETIME2(3))")
        .await
        .expect("create")
        .into_results()
        .await
        .expect("create");

    let n = 5_000;
    let t = Instant::now();
    for i in 0..n {
        c.execute(
            "INSERT INTO dbo.R (id, name, qty) VALUES (@P1, @P2, @P3)",
            &[&i, &"name", &i],
        )
        .await
        .expect("insert");
    }
    let insert_rt = n as f64 / t.elapsed().as_secs_f64();

    // 10,000 rows to read.
    let mut req = c.bulk_insert("dbo.R").await.expect("bulk");
    for i in n..10_000 {
        req.send(row(i)).await.expect("row");
    }
    req.finalize().await.expect("finalize");
    let reps = 10;
    let t = Instant::now();
    let mut read = 0usize;
    for _ in 0..reps {
        read += c
            .simple_query("SELECT id, name, qty, price, note, at FROM dbo.R")
            .await
            .expect("select")
            .into_first_result()
            .await
            .expect("rows")
            .len();
    }
    let select_rows = read as f64 / t.elapsed().as_secs_f64();

    c.simple_query("CREATE TABLE dbo.B (id INT PRIMARY KEY, name NVARCHAR(40), qty INT, price DECIMAL(10,2), note NVARCHAR(40), at DATETIME2(3))")
        .await
        .expect("create")
        .into_results()
        .await
        .expect("create");
    let t = Instant::now();
    let mut req = c.bulk_insert("dbo.B").await.expect("bulk");
    for i in 0..bulk_rows {
        req.send(row(i)).await.expect("row");
    }
    req.finalize().await.expect("finalize");
    let bulk = bulk_rows as f64 / t.elapsed().as_secs_f64();

    println!("one-row parameterized INSERT: {insert_rt:.0} round trips/s (single connection, {n} inserts)");
    println!("10,000-row SELECT (6 columns): {select_rows:.0} rows/s ({reps} reads)");
    println!("{bulk_rows}-row bulk load (6 columns): {bulk:.0} rows/s");
}

fn row(i: i32) -> TokenRow<'static> {
    let mut r = TokenRow::new();
    r.push(ColumnData::I32(Some(i)));
    r.push(ColumnData::String(Some(format!("customer {i:08}").into())));
    r.push(ColumnData::I32(Some(i % 100)));
    r.push(ColumnData::Numeric(Some(
        tiberius::numeric::Numeric::new_with_scale(i as i128 * 125, 2),
    )));
    r.push(ColumnData::String(if i % 3 == 0 {
        None
    } else {
        Some("note".into())
    }));
    r.push(ColumnData::DateTime2(None));
    r
}
