//! Nesting limits, speed, random input.

use super::*;

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
    let e = err(&deep);
    assert_eq!(e.number, 191);
    let deep = format!("SELECT {}1", "- ".repeat(5000));
    assert_eq!(err(&deep).number, 191);
    let deep = format!("SELECT 1 WHERE {}1 = 1", "NOT ".repeat(5000));
    assert_eq!(err(&deep).number, 191);
    let deep = format!("{}SELECT 1", "IF 1=1 ".repeat(5000));
    assert_eq!(err(&deep).number, 191);
    let deep = format!(
        "SELECT * FROM {}t{}",
        "(SELECT * FROM ".repeat(3000),
        ") x".repeat(3000)
    );
    assert_eq!(err(&deep).number, 191);
    // Just under the limit still parses.
    let ok = format!("SELECT {}1{}", "(".repeat(80), ")".repeat(80));
    assert!(parse_batch(&ok).is_ok());
}

/// The nesting limit must hold on the 2 MiB stack `std::thread::spawn` gives
/// (a connection thread), in debug builds too.
#[test]
fn deep_nesting_fits_a_small_stack() {
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let mut worst = 0;
            for sql in [
                format!("SELECT {}1{}", "(".repeat(400), ")".repeat(400)),
                format!("SELECT {}", "CASE WHEN 1=1 THEN ".repeat(400)),
                format!("SELECT 1 WHERE {}", "EXISTS (SELECT 1 WHERE ".repeat(400)),
                format!("SELECT * FROM {}t", "(SELECT * FROM ".repeat(400)),
                format!("SELECT {}", "CAST(".repeat(400)),
                "BEGIN IF 1=1 ".repeat(400),
            ] {
                if let Err(e) = parse_batch(&sql) {
                    worst = worst.max(e.number);
                }
            }
            worst
        });
    let worst = handle.map(|h| h.join().unwrap_or(0)).unwrap_or(0);
    assert_eq!(worst, 191);
}

#[test]
fn big_merge_parses_fast() {
    // 1000 rows of 2 parameters: what a batched upsert sends.
    let mut sql = String::from("MERGE INTO dbo.T WITH (HOLDLOCK) AS T USING (VALUES ");
    for i in 0..1000 {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("(@P{}, @P{})", 2 * i + 1, 2 * i + 2));
    }
    sql.push_str(") AS S (id, name) ON T.id = S.id WHEN MATCHED THEN UPDATE SET name = S.name WHEN NOT MATCHED THEN INSERT (id, name) VALUES (S.id, S.name);");
    let start = std::time::Instant::now();
    let mut n = 0;
    for _ in 0..10 {
        n += parse_batch(&sql).map(|v| v.len()).unwrap_or(0);
    }
    let per = start.elapsed() / 10;
    assert_eq!(n, 10);
    // Generous for unoptimised test builds; release is far below 1 ms.
    eprintln!("big merge parse: {per:?}");
    assert!(per < std::time::Duration::from_millis(50), "{per:?}");
}

#[test]
fn random_input_never_panics() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let seeds = [
        "SELECT a, b FROM dbo.t WHERE x = N'y' AND z IN (1, 2) ORDER BY a OFFSET 1 ROWS FETCH NEXT 2 ROWS ONLY",
        "MERGE INTO t WITH (HOLDLOCK) AS T USING (VALUES (@p1, 0x0A)) AS S (a, b) ON T.a = S.a WHEN MATCHED THEN UPDATE SET b = S.b WHEN NOT MATCHED THEN INSERT (a, b) VALUES (S.a, S.b) OUTPUT $action;",
        "CREATE TABLE [x] (id int IDENTITY(1,1) PRIMARY KEY, v nvarchar(max) NOT NULL DEFAULT N'', CONSTRAINT c CHECK (id > 0))",
        "SELECT CT.* FROM CHANGETABLE(CHANGES dbo.t, @v) AS CT JOIN t ON t.id = CT.id /* c */ -- x",
        "IF EXISTS (SELECT 1) BEGIN UPDATE t SET a = CASE WHEN b > 1 THEN CAST(1.5e3 AS int) ELSE CONVERT(int, '2', 1) END END ELSE PRINT 'x'",
        "WITH CHANGE_TRACKING_CONTEXT (0x01) DELETE FROM t WHERE a BETWEEN 1 AND 2; EXEC p @a = 1, @b = N'x' OUTPUT",
        "ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)",
    ];
    let alphabet: Vec<&str> = vec![
        "(",
        ")",
        ",",
        ".",
        ";",
        "'",
        "N'",
        "[",
        "]",
        "\"",
        "/*",
        "*/",
        "--",
        "\n",
        " ",
        "@",
        "@@",
        "0x",
        "1",
        "1.5",
        "1e",
        "$",
        "=",
        "<",
        ">",
        "!",
        "+",
        "-",
        "*",
        "/",
        "%",
        "SELECT",
        "FROM",
        "WHERE",
        "CASE",
        "WHEN",
        "END",
        "BEGIN",
        "IF",
        "ELSE",
        "NOT",
        "IN",
        "AS",
        "WITH",
        "MERGE",
        "VALUES",
        "CHANGETABLE",
        "CHANGES",
        "é",
        "\u{0}",
        "ß",
        "\u{2028}",
        "GO",
        ":",
        "::",
    ];
    let mut parsed = 0;
    for i in 0..4000 {
        let text = if i % 2 == 0 {
            // A seed with random cuts, duplications and insertions.
            let seed = seeds[rng.gen_range(0..seeds.len())];
            let chars: Vec<char> = seed.chars().collect();
            let mut out: Vec<char> = Vec::with_capacity(chars.len() + 16);
            for c in chars {
                match rng.gen_range(0..40) {
                    0 => {}
                    1 => {
                        out.push(c);
                        out.push(c);
                    }
                    2 => out.extend(alphabet[rng.gen_range(0..alphabet.len())].chars()),
                    _ => out.push(c),
                }
            }
            out.into_iter().collect::<String>()
        } else {
            let n = rng.gen_range(0..30);
            (0..n)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect::<Vec<_>>()
                .join(if rng.gen_bool(0.5) { " " } else { "" })
        };
        if parse_batch(&text).is_ok() {
            parsed += 1;
        }
        // Every prefix of a seed too: truncated input is the common real case.
        if i < seeds.len() {
            let s = seeds[i];
            for (cut, _) in s.char_indices() {
                let _ = parse_batch(&s[..cut]);
            }
        }
    }
    // The mutations must leave some texts valid, or the test checks little.
    assert!(parsed > 50, "{parsed}");
}

/// A long left-deep chain parses up to the limit, and the tree it builds can
/// be walked and dropped on a 2 MiB thread; beyond the limit it is 8631.
#[test]
fn long_operator_chains_are_bounded() {
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let terms: Vec<String> = (0..crate::sql::parser::MAX_CHAIN - 1)
                .map(|i| format!("a = {i}"))
                .collect();
            let ok = format!("SELECT 1 WHERE {}", terms.join(" OR "));
            let parsed = parse_batch(&ok).map(|v| v.len()).map_err(|e| e.number);
            let long = format!(
                "SELECT {}",
                vec!["1"; crate::sql::parser::MAX_CHAIN + 2].join(" + ")
            );
            let too_long = parse_batch(&long)
                .map(|v| v.len())
                .map_err(|e| (e.number, e.class));
            // A chain inside nested parentheses counts along the whole path.
            let half = vec!["1"; crate::sql::parser::MAX_CHAIN / 2 + 1].join(" + ");
            let nested = format!("SELECT {half} + ({half})");
            let nested = parse_batch(&nested).map(|v| v.len()).map_err(|e| e.number);
            (parsed, too_long, nested)
        });
    let (parsed, too_long, nested) = handle
        .map(|h| h.join().unwrap_or((Ok(0), Ok(0), Ok(0))))
        .unwrap_or((Ok(0), Ok(0), Ok(0)));
    assert_eq!(parsed, Ok(1));
    assert_eq!(too_long, Err((8631, 17)));
    assert_eq!(nested, Err(8631));
}
