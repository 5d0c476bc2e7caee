//! The agent benchmark's throughput parts: apply throughput against raw
//! writes of the same rows (`apply`), and two-way conflict detection's
//! cost (`twoway`). See the module doc of `benches/agent.rs`.

use super::*;

/// `CTSYNC_BENCH_ROUNDS` (3) rounds, interleaved so that a slow moment of
/// the machine hits all three alike: the agent draining n queued changes,
/// then n rows written raw with INSERT, then with MERGE. Each table grows
/// by the same n rows per round.
/// Returns the median rate of each.
pub async fn apply_throughput() -> (f64, f64, f64) {
    let n = env_n("CTSYNC_BENCH_APPLY_ROWS", 100_000);
    let rounds = env_n("CTSYNC_BENCH_ROUNDS", 3).max(1);
    let p = pair();
    let (mut a, mut b) = (client(&p.a, "BenchA").await, client(&p.b, "BenchB").await);
    exec(&mut a, &format!("CREATE TABLE dbo.T {TABLE}")).await;
    exec(&mut b, &format!("CREATE TABLE dbo.T {TABLE}")).await;
    exec(
        &mut b,
        &format!("CREATE TABLE dbo.Raw {TABLE}; CREATE TABLE dbo.RawMerge {TABLE}"),
    )
    .await;
    // None of these is change-tracked on b: a one-way target of a table
    // with an explicit key needs no tracking, and ctsync turns none on
    // there. Both sides of the comparison pay the same server costs.
    let tables = "  - table: dbo.T\n    key: [id]\n    direction: a_to_b\n";
    let sync = "  batch_size: 500\n  poll_interval_ms: 200\n  retry: { initial_backoff_ms: 10, max_backoff_ms: 100, max_attempts: 10 }\n";
    let agent = Agent::start(&p, "apply", tables, sync);
    agent.ready();
    let (mut agent_rates, mut raw_rates, mut merge_rates) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        // Steady-state apply alone: b goes away while n changes are
        // captured and queued, then comes back and the queue drains; timed
        // from the first row on b to the last.
        drop(b);
        p.b.controls().refuse_for(Duration::from_secs(3_600));
        p.b.controls().drop_connections();
        let (from, to) = (r * n, (r + 1) * n);
        fill(&mut a, "dbo.T", from, to, 1_000).await;
        agent.wait("the changes queued", |v| {
            v["tables"][0]["queue_depth"].as_i64().unwrap_or(0) >= n
        });
        p.b.controls().refuse_for(Duration::ZERO);
        b = client(&p.b, "BenchB").await;
        // Point lookups, not counts: a count scans the table under the
        // writer's feet. Rows land in queue order, so the last id on b
        // means every row is there (checked by a count after).
        let t0 = loop {
            if exists(&mut b, "dbo.T", from).await {
                break Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        // Every 25 ms (±1% of a drain of 100,000): a lookup costs the
        // stand-in little, but not nothing.
        while !exists(&mut b, "dbo.T", to - 1).await {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let elapsed = t0.elapsed();
        assert_eq!(count(&mut b, "dbo.T").await, to);
        // The first batch is on b at t0: the rate is of the other n - 500.
        agent_rates.push((n - 500) as f64 / elapsed.as_secs_f64());
        raw_rates.push(raw_writes(&mut b, "dbo.Raw", from, to, false).await);
        merge_rates.push(raw_writes(&mut b, "dbo.RawMerge", from, to, true).await);
        eprintln!(
            "  round {}: ctsync {:.0} rows/s, raw INSERT {:.0}, raw MERGE {:.0}",
            r + 1,
            agent_rates[r as usize],
            raw_rates[r as usize],
            merge_rates[r as usize]
        );
    }
    agent.stop();
    (median(agent_rates), median(raw_rates), median(merge_rates))
}

/// Drains `n` changes of `table` queued a→b while b refused connections;
/// rows per second from the first row on b to the last.
async fn drain(p: &Pair, agent: &Agent, a: &mut Conn, table: &str, from: i64, n: i64) -> f64 {
    let to = from + n;
    p.b.controls().refuse_for(Duration::from_secs(3_600));
    p.b.controls().drop_connections();
    fill(a, table, from, to, 1_000).await;
    agent.wait("the changes queued", |v| {
        v["tables"].as_array().is_some_and(|ts| {
            ts.iter().any(|t| {
                t["table"] == table
                    && t["direction"] == "a_to_b"
                    && t["queue_depth"].as_i64().unwrap_or(0) >= n
            })
        })
    });
    p.b.controls().refuse_for(Duration::ZERO);
    let mut b = client(&p.b, "BenchB").await;
    let t0 = loop {
        if exists(&mut b, table, from).await {
            break Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    while !exists(&mut b, table, to - 1).await {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let elapsed = t0.elapsed();
    assert_eq!(count(&mut b, table).await, to);
    (n - 500) as f64 / elapsed.as_secs_f64()
}

/// Conflict detection on a conflict-free stream, and a burst of conflicts.
/// Returns (one-way rate, two-way rate with detection, two-way rate without,
/// conflict-free burst rate, conflicting burst rate), medians of
/// `CTSYNC_BENCH_ROUNDS`.
pub async fn two_way() -> (f64, f64, f64, f64, f64) {
    let n = env_n("CTSYNC_BENCH_APPLY_ROWS", 100_000);
    let burst = env_n("CTSYNC_BENCH_CONFLICT_ROWS", 10_000);
    let rounds = env_n("CTSYNC_BENCH_ROUNDS", 3).max(1);
    let p = pair();
    let (mut a, mut b) = (client(&p.a, "BenchA").await, client(&p.b, "BenchB").await);
    for c in [&mut a, &mut b] {
        exec(
            c,
            &format!("CREATE TABLE dbo.One {TABLE}; CREATE TABLE dbo.Two {TABLE}"),
        )
        .await;
    }
    let tables = "  - table: dbo.One\n    key: [id]\n    direction: a_to_b\n  - table: dbo.Two\n    key: [id]\n    direction: both\n";
    let sync = "  batch_size: 500\n  poll_interval_ms: 200\n  retry: { initial_backoff_ms: 10, max_backoff_ms: 100, max_attempts: 10 }\n";
    let agent = Agent::start(&p, "twoway", tables, sync);
    agent.ready();
    // The one-way table's target is change-tracked too, as the two-way
    // table's must be: both pay the same server costs on b.
    exec(&mut b, "ALTER TABLE dbo.One ENABLE CHANGE_TRACKING").await;
    drop(b);
    agent.stop();
    // Per round, in turn: the one-way table (a reference), the two-way
    // table with detection, and the same table without it (the agent
    // restarted with the bench-only switch `no_conflict_detection`): the
    // two-way table's own costs (its target captured too, its writes read
    // back and skipped as echoes) are in both of the last two.
    let (mut one, mut on, mut off) = (Vec::new(), Vec::new(), Vec::new());
    let mut from = 0;
    for r in 0..rounds {
        let agent = Agent::start_ready(&p, "twoway", tables, sync, None);
        one.push(drain(&p, &agent, &mut a, "dbo.One", r * n, n).await);
        on.push(drain(&p, &agent, &mut a, "dbo.Two", from, n).await);
        from += n;
        agent.stop();
        let agent = Agent::start_ready(&p, "twoway", tables, sync, Some("no_conflict_detection"));
        off.push(drain(&p, &agent, &mut a, "dbo.Two", from, n).await);
        from += n;
        agent.stop();
        eprintln!(
            "  round {}: one way {:.0} rows/s; both ways with conflict detection {:.0} rows/s, without {:.0} rows/s",
            r + 1,
            one[r as usize],
            on[r as usize],
            off[r as usize]
        );
    }
    // Bursts: the agent stopped, rows changed on a only, or on both sides;
    // timed from the agent's start to both sides agreeing.
    let mut b = client(&p.b, "BenchB").await;
    let (mut clean, mut conflicting) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        for both in [false, true] {
            let tag = format!("r{r}{}", if both { "c" } else { "f" });
            let (lo, hi) = (0, burst - 1);
            exec(
                &mut a,
                &format!("UPDATE dbo.Two SET note = N'a{tag}' WHERE id BETWEEN {lo} AND {hi}"),
            )
            .await;
            if both {
                exec(
                    &mut b,
                    &format!("UPDATE dbo.Two SET note = N'b{tag}' WHERE id BETWEEN {lo} AND {hi}"),
                )
                .await;
            }
            let t0 = Instant::now();
            let agent = Agent::start(&p, "twoway", tables, sync);
            let want = format!("SELECT COUNT(*) FROM dbo.Two WHERE note = N'a{tag}'");
            loop {
                let got = b
                    .simple_query(want.as_str())
                    .await
                    .expect("count")
                    .into_row()
                    .await
                    .expect("row")
                    .and_then(|r| r.get::<i32, _>(0))
                    .unwrap_or(0) as i64;
                if got >= burst {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let rate = burst as f64 / t0.elapsed().as_secs_f64();
            agent.stop();
            if both {
                conflicting.push(rate);
            } else {
                clean.push(rate);
            }
        }
        eprintln!(
            "  burst round {}: {burst} rows changed on a only {:.0} rows/s, on both sides (a_wins) {:.0} rows/s",
            r + 1,
            clean[r as usize],
            conflicting[r as usize]
        );
    }
    (
        median(one),
        median(on),
        median(off),
        median(clean),
        median(conflicting),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|x, y| x.total_cmp(y));
    v[v.len() / 2]
}

/// Baseline: the same rows written straight with tiberius, batches of 500
/// in one transaction each, as multi-row parameterized statements within
/// the 2,100-parameter limit: plain INSERTs, or (`merge`) the idempotent
/// MERGE over VALUES an at-least-once writer needs. Rows per second.
async fn raw_writes(b: &mut Conn, table: &str, from: i64, to: i64, merge: bool) -> f64 {
    let t = Instant::now();
    let per_request = 2_000 / 6;
    let mut i = from;
    while i < to {
        let end = (i + 500).min(to);
        exec(b, "BEGIN TRANSACTION").await;
        let mut j = i;
        while j < end {
            let k = (j + per_request).min(end);
            let mut values = String::new();
            for x in 0..(k - j) as usize {
                if x > 0 {
                    values.push(',');
                }
                let b0 = x * 6;
                values.push_str(&format!(
                    "(@P{},@P{},@P{},@P{},@P{},@P{})",
                    b0 + 1,
                    b0 + 2,
                    b0 + 3,
                    b0 + 4,
                    b0 + 5,
                    b0 + 6
                ));
            }
            let sql = if merge {
                format!(
                    "MERGE {table} WITH (HOLDLOCK) AS T USING (VALUES {values}) AS S (id, name, email, amount, note, at) ON T.id = S.id \
                     WHEN MATCHED THEN UPDATE SET T.name = S.name, T.email = S.email, T.amount = S.amount, T.note = S.note, T.at = S.at \
                     WHEN NOT MATCHED THEN INSERT (id, name, email, amount, note, at) VALUES (S.id, S.name, S.email, S.amount, S.note, S.at);"
                )
            } else {
                format!("INSERT INTO {table} VALUES {values}")
            };
            let mut q = tiberius::Query::new(sql);
            for v in j..k {
                q.bind(v as i32);
                q.bind(format!("customer {v:08}"));
                q.bind(format!("c{v}@example.com"));
                q.bind(tiberius::numeric::Numeric::new_with_scale(
                    v as i128 * 125,
                    2,
                ));
                q.bind(if v % 3 == 0 { None } else { Some("note") });
                q.bind(Option::<&str>::None);
            }
            q.execute(&mut *b).await.expect("raw write");
            j = k;
        }
        exec(b, "COMMIT").await;
        i = end;
    }
    (to - from) as f64 / t.elapsed().as_secs_f64()
}
