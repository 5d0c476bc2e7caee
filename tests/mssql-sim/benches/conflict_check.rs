//! The stand-in's cost of the agent's two-way conflict check, statement by
//! statement (`cargo bench -p mssql-sim --bench conflict_check`): a tracked
//! table of 20,000 rows (by default), batches of 500 keys bound as parameters, in one
//! transaction like the agent's (`src/mssql/statements.rs` conflict_check):
//! the key list alone, the locking SELECT, the CHANGETABLE join, both, and a
//! 500-row UPDATE for scale. Medians of 60 rounds, in ms. For finding where
//! the stand-in spends its time, not a product figure.
//! `MSSQL_SIM_BENCH_ONLY=both` runs one of them, `MSSQL_SIM_BENCH_ROUNDS` sets
//! the rounds, `MSSQL_SIM_BENCH_ROWS` the table's rows.

mod common;

use common::Conn as C;
use std::time::Instant;
use tiberius::Query;

const KEYS: usize = 500;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let bench = common::start().await;
    let mut c = bench.client;
    let rows: i32 = std::env::var("MSSQL_SIM_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    run(&mut c, "ALTER DATABASE Bench SET CHANGE_TRACKING = ON").await;
    run(
        &mut c,
        "CREATE TABLE dbo.T (id INT PRIMARY KEY, v INT, note NVARCHAR(50))",
    )
    .await;
    run(&mut c, "ALTER TABLE dbo.T ENABLE CHANGE_TRACKING").await;
    for b in (0..rows).step_by(KEYS) {
        let vals: Vec<String> = (b..b + KEYS as i32)
            .map(|i| format!("({i}, {i}, N'x')"))
            .collect();
        run(
            &mut c,
            &format!("INSERT INTO dbo.T VALUES {}", vals.join(", ")),
        )
        .await;
    }
    let tuples: Vec<String> = (0..KEYS).map(|i| format!("(@P{})", i + 2)).collect();
    let values = format!("(VALUES {}) AS K (id)", tuples.join(", "));
    let base = format!("SELECT K.id FROM {values};");
    let lock = format!(
        "SELECT T.id FROM {values} JOIN dbo.T AS T WITH (UPDLOCK, HOLDLOCK) ON T.id = K.id;"
    );
    let ct = format!(
        "SELECT CT.id, CT.SYS_CHANGE_VERSION, CT.SYS_CHANGE_OPERATION, CT.SYS_CHANGE_CONTEXT \
         FROM CHANGETABLE(CHANGES dbo.T, @P1) AS CT JOIN {values} ON CT.id = K.id;"
    );
    let both = format!("{lock}\n{ct}");
    let sets: Vec<String> = (0..KEYS).map(|i| format!("(@P{}, @P1)", i + 2)).collect();
    let update = format!(
        "UPDATE T SET v = K.v FROM dbo.T AS T JOIN (VALUES {}) AS K (id, v) ON T.id = K.id;",
        sets.join(", ")
    );
    let wm = current(&mut c).await;
    // MSSQL_SIM_BENCH_ONLY=SUBSTRING runs only the statements whose name has
    // it (for profiling one of them).
    let only = std::env::var("MSSQL_SIM_BENCH_ONLY").unwrap_or_default();
    let rounds: usize = std::env::var("MSSQL_SIM_BENCH_rounds")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    for (name, sql) in [
        ("key list alone", &base),
        ("locking SELECT", &lock),
        ("CHANGETABLE join", &ct),
        ("both (the check)", &both),
        ("500-row UPDATE", &update),
    ] {
        if !name.contains(only.as_str()) {
            continue;
        }
        let mut ms = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let mut q = Query::new(format!("BEGIN TRANSACTION;\n{sql}\nCOMMIT;"));
            q.bind(wm);
            for i in 0..KEYS {
                q.bind(((round * KEYS + i) as i32 * 7) % rows);
            }
            let t = Instant::now();
            q.query(&mut c)
                .await
                .expect("query")
                .into_results()
                .await
                .expect("results");
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(|a, b| a.total_cmp(b));
        println!("{name}: {:.2} ms median", ms[rounds / 2]);
    }
}

async fn run(c: &mut C, sql: &str) {
    c.simple_query(sql)
        .await
        .expect(sql)
        .into_results()
        .await
        .expect(sql);
}

async fn current(c: &mut C) -> i64 {
    let rows = c
        .simple_query("SELECT CHANGE_TRACKING_CURRENT_VERSION()")
        .await
        .expect("version")
        .into_first_result()
        .await
        .expect("version");
    rows[0].get::<i64, _>(0).expect("version")
}
