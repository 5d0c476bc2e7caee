//! Scenario: `ctsync discover` reads a stand-in's schema (schemas dbo and
//! Sales) and prints a `tables:` section: identity and composite keys,
//! foreign keys as `references`, a comment on a table without a primary key
//! and on a composite foreign key; a name that needs brackets. The output,
//! put into a config, loads back: `check` passes against both servers and
//! `sync --once` copies the rows. `--include`/`--exclude` filter; an
//! `--include` that matches nothing is an error; `--write` replaces the
//! old `tables:` block and keeps every other key and comment.

mod common;

use common::*;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// The same schema on both servers (CREATE SCHEMA must start its batch).
async fn create_schema(s: &Sim) {
    s.exec("CREATE SCHEMA Sales").await;
    s.exec(
        "CREATE TABLE dbo.Customers (id INT IDENTITY(1,1) NOT NULL PRIMARY KEY, name NVARCHAR(50) NOT NULL);
         CREATE TABLE Sales.Orders (id INT IDENTITY(1,1) NOT NULL PRIMARY KEY,
             customer_id INT NOT NULL CONSTRAINT FK_Orders_Customers REFERENCES dbo.Customers (id),
             placed NVARCHAR(10) NULL);
         CREATE TABLE Sales.OrderLines (order_id INT NOT NULL, line_no INT NOT NULL, sku NVARCHAR(20) NOT NULL,
             CONSTRAINT PK_OrderLines PRIMARY KEY (order_id, line_no),
             CONSTRAINT FK_OrderLines_Orders FOREIGN KEY (order_id) REFERENCES Sales.Orders (id));
         CREATE TABLE Sales.[Line Notes]] x] (id INT NOT NULL PRIMARY KEY, order_id INT NOT NULL,
             line_no INT NOT NULL, note NVARCHAR(100) NULL,
             CONSTRAINT FK_Notes_Lines FOREIGN KEY (order_id, line_no) REFERENCES Sales.OrderLines (order_id, line_no));
         CREATE TABLE dbo.AuditLog (at_time NVARCHAR(30) NOT NULL, msg NVARCHAR(200) NULL);",
    )
    .await;
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The entry of `table` in the output: from its `- table:` line to the next
/// entry or comment at the list's level.
fn entry<'a>(out: &'a str, table: &str) -> &'a str {
    let start = out
        .find(&format!("  - table: {table}\n"))
        .unwrap_or_else(|| panic!("no entry for {table} in:\n{out}"));
    let rest = &out[start + 4..];
    let end = rest
        .find("\n  -")
        .or_else(|| rest.find("\n  #"))
        .map_or(rest.len(), |i| i + 1);
    &out[start..start + 4 + end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_output_loads_back_and_syncs() {
    real_server_note();
    let a = Sim::start("DiscoverA");
    let b = Sim::start("DiscoverB");
    create_schema(&a).await;
    create_schema(&b).await;
    let setup = Setup::new(&a, &b, "", "");

    let out = setup.run_to_end(&["discover"]);
    assert!(out.status.success(), "{}", text(&out));
    let yaml = String::from_utf8_lossy(&out.stdout).into_owned();

    assert!(yaml.contains("4 table(s) listed, 1 left out"), "{yaml}");
    assert_eq!(
        entry(&yaml, "dbo.Customers"),
        "  - table: dbo.Customers\n    key: [id]\n    identity: true\n    columns: [id, name]\n"
    );
    assert_eq!(
        entry(&yaml, "Sales.Orders"),
        "  - table: Sales.Orders\n    key: [id]\n    identity: true\n    columns: [id, customer_id, placed]\n    references: { customer_id: dbo.Customers }\n"
    );
    assert_eq!(
        entry(&yaml, "Sales.OrderLines"),
        "  - table: Sales.OrderLines\n    key: [order_id, line_no]\n    columns: [order_id, line_no, sku]\n    references: { order_id: Sales.Orders }\n"
    );
    let notes = entry(&yaml, "\"Sales.[Line Notes]] x]\"");
    assert!(
        notes.contains("    key: [id]\n")
            && !notes.contains("identity")
            && !notes.contains("references"),
        "{notes}"
    );
    assert!(
        notes.contains(
            "# foreign key (order_id, line_no) -> Sales.OrderLines: not on its single-column key"
        ),
        "{notes}"
    );
    assert!(
        yaml.contains("  # dbo.AuditLog: not synced: it has no primary key, and Change Tracking needs one (error 4997)"),
        "{yaml}"
    );
    assert!(!yaml.contains("- table: dbo.AuditLog"), "{yaml}");

    // Into a config: the servers of the setup plus this output.
    let config = std::fs::read_to_string(&setup.config).expect("config");
    let base = config
        .strip_suffix("tables:\n")
        .expect("setup ends with tables:");
    std::fs::write(&setup.config, format!("{base}{yaml}")).expect("config");
    let out = setup.run_to_end(&["check"]);
    assert!(
        out.status.success(),
        "check on the discovered config:\n{}",
        text(&out)
    );
    assert!(
        text(&out).contains("(4 table(s) checked)"),
        "{}",
        text(&out)
    );

    // The agent syncs with it: ids mapped through `references`. (Changes
    // after its first capture; `initial` is left at its default, none.)
    let agent = setup.start_agent();
    a.exec(
        "INSERT INTO dbo.Customers (name) VALUES (N'Ann'), (N'Bob');
         INSERT INTO Sales.Orders (customer_id, placed) VALUES (2, N'2024-01-02');
         INSERT INTO Sales.OrderLines VALUES (1, 1, N'X-1'), (1, 2, N'Y-2');",
    )
    .await;
    const ORDERS: &str =
        "SELECT c.name, o.placed FROM Sales.Orders o JOIN dbo.Customers c ON c.id = o.customer_id";
    const LINES: &str = "SELECT l.line_no, l.sku, o.placed FROM Sales.OrderLines l JOIN Sales.Orders o ON o.id = l.order_id ORDER BY l.line_no";
    const NOTES: &str = "SELECT id, order_id, line_no, note FROM Sales.[Line Notes]] x]";
    let ok = eventually(LIMIT, || async {
        b.rows(ORDERS).await == vec![vec!["Bob".to_string(), "2024-01-02".to_string()]]
            && b.rows(LINES).await.len() == 2
    })
    .await;
    assert!(ok, "orders did not arrive:\n{}", agent.log_text());
    assert_eq!(a.rows(LINES).await, b.rows(LINES).await);
    // The table whose name needs brackets syncs too.
    a.exec("INSERT INTO Sales.[Line Notes]] x] VALUES (7, 1, 2, N'fragile');")
        .await;
    let ok = eventually(LIMIT, || async { b.rows(NOTES).await.len() == 1 }).await;
    assert!(ok, "the note did not arrive:\n{}", agent.log_text());
    assert_eq!(a.rows(NOTES).await, b.rows(NOTES).await);
    let (code, log) = agent.terminate();
    assert_eq!(code, Some(0), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_and_exclude_filter_and_an_unmatched_include_is_an_error() {
    real_server_note();
    let a = Sim::start("DiscoverIncA");
    let b = Sim::start("DiscoverIncB");
    create_schema(&a).await;
    let setup = Setup::new(&a, &b, "", "");

    let out = setup.run_to_end(&["discover", "--include", "sales.*"]);
    assert!(out.status.success(), "{}", text(&out));
    let yaml = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(yaml.contains("3 table(s) listed, 0 left out"), "{yaml}");
    assert!(
        !yaml.contains("Customers\n") && !yaml.contains("AuditLog"),
        "{yaml}"
    );
    // Its referenced table is not listed now: a comment, not a reference.
    let orders = entry(&yaml, "Sales.Orders");
    assert!(!orders.contains("references"), "{orders}");
    assert!(
        orders.contains("# foreign key (customer_id) -> dbo.Customers: that table is not listed"),
        "{orders}"
    );

    let out = setup.run_to_end(&[
        "discover",
        "--include",
        "Sales.Order*",
        "--include",
        "customers",
        "--exclude",
        "*lines",
        "--direction",
        "both",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let yaml = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(yaml.contains("2 table(s) listed, 0 left out"), "{yaml}");
    assert!(
        entry(&yaml, "Sales.Orders").contains("    direction: both\n"),
        "{yaml}"
    );
    assert!(
        entry(&yaml, "dbo.Customers").contains("    direction: both\n"),
        "{yaml}"
    );
    assert!(
        !yaml.contains("OrderLines") && !yaml.contains("Line Notes"),
        "{yaml}"
    );

    let out = setup.run_to_end(&["discover", "--include", "Sales.*", "--include", "nothing*"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(out.stdout.is_empty(), "no half output: {}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--include \"nothing*\" matches no table of server a")
            && err.contains("Sales.OrderLines"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_replaces_the_tables_block_and_keeps_the_rest() {
    real_server_note();
    let a = Sim::start("DiscoverWriteA");
    let b = Sim::start("DiscoverWriteB");
    create_schema(&a).await;
    create_schema(&b).await;
    let old_tables = "  # field notes: one entry per table\n  - table: dbo.Gone\n    key: [id]\n    identity: true\n  # about Gone\n\n# logging, kept\nlog_level: info # inline comment, kept\n";
    let setup = Setup::new(&a, &b, "", old_tables);
    let original = std::fs::read_to_string(&setup.config).expect("config");
    std::fs::write(&setup.config, format!("# my ctsync config\n{original}")).expect("config");
    // With dbo.Gone listed, check fails: the table does not exist.
    assert!(!setup.run_to_end(&["check"]).status.success());

    let out = setup.run_to_end(&["discover", "--write", "--exclude", "*notes*"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("3 table(s) listed, 1 left out"),
        "{}",
        text(&out)
    );
    let written = std::fs::read_to_string(&setup.config).expect("config");
    assert!(
        written.starts_with("# my ctsync config\nagent_id: test-agent\n"),
        "{written}"
    );
    assert!(
        written.contains("\n  enable_change_tracking: true\n"),
        "{written}"
    );
    assert!(
        written.contains("  # field notes: one entry per table\n# Generated by `ctsync discover`"),
        "{written}"
    );
    assert!(
        written.ends_with("\n\n# logging, kept\nlog_level: info # inline comment, kept\n"),
        "{written}"
    );
    assert!(!written.contains("Gone"), "{written}");
    assert!(
        written.contains("  - table: Sales.OrderLines\n"),
        "{written}"
    );
    assert!(!written.contains("Line Notes"), "{written}");
    let out = setup.run_to_end(&["check"]);
    assert!(
        out.status.success(),
        "check on the written config:\n{}",
        text(&out)
    );

    // Again: the same file, not a second header or block.
    let out = setup.run_to_end(&["discover", "--write", "--exclude", "*notes*"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(&setup.config).expect("config"),
        written
    );
    let left: Vec<String> = std::fs::read_dir(setup.dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

/// Columns a target refuses writes to — rowversion, computed, an identity
/// outside the key — are left out of the generated `columns:` with a
/// comment naming each and why, read from the stand-in's catalog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_that_cannot_be_written_are_left_out_with_a_comment() {
    real_server_note();
    let a = Sim::start("DiscoverRvA");
    let b = Sim::start("DiscoverRvB");
    a.exec(
        "CREATE TABLE dbo.Stock (sku NVARCHAR(20) NOT NULL PRIMARY KEY, qty INT NOT NULL, \
         price DECIMAL(10,2) NOT NULL, total AS (qty * price), rv ROWVERSION, \
         seq INT IDENTITY(1,1) NOT NULL)",
    )
    .await;
    let setup = Setup::new(&a, &b, "", "");
    let out = setup.run_to_end(&["discover"]);
    assert!(out.status.success(), "{}", text(&out));
    let yaml = String::from_utf8_lossy(&out.stdout).into_owned();
    let stock = entry(&yaml, "dbo.Stock");
    assert!(stock.contains("    columns: [sku, qty, price]\n"), "{yaml}");
    for (col, why) in [
        ("total", "computed column, left out"),
        ("rv", "rowversion (timestamp), left out"),
        ("seq", "IDENTITY outside the key, left out"),
    ] {
        assert!(yaml.contains(&format!("# {col}: {why}")), "{col}:\n{yaml}");
    }
}
