//! Scenario: CSV export (`targets.csv`). Files are read back with the `csv`
//! crate and compared with the source rows read through tiberius; NULL and
//! the empty string are told apart by the raw bytes (`,,` vs `,"",`).

mod common;

use common::*;
use std::path::{Path, PathBuf};
use tiberius::numeric::Numeric;
use tiberius::time::chrono::{NaiveDate, NaiveDateTime};

const THINGS: &str = "CREATE TABLE dbo.Things (id INT NOT NULL PRIMARY KEY, name NVARCHAR(200) NULL, \
    born DATE NULL, seen DATETIME2 NULL, amount DECIMAL(12,3) NULL, flag BIT NULL, blob VARBINARY(50) NULL);";
const TRICKY: &str = "Zoë, \"the\" 東京\r\nline2";
const COLUMNS: &str = "id, name, born, seen, amount, flag, blob";

fn things_rows() -> String {
    format!(
        "INSERT INTO dbo.Things ({COLUMNS}) VALUES \
         (1, N'{TRICKY}', '2024-01-31', '2024-01-31T12:34:56.1234567', 1234.567, 1, 0x00AB), \
         (2, N'', '1999-12-31', '2000-01-01T00:00:00', -0.5, 0, 0x), \
         (3, NULL, NULL, NULL, NULL, NULL, NULL), \
         (4, N'O''Brien\nsays \"hi\"', '0001-01-01', '9999-12-31T23:59:59.9999999', 0, 1, 0xFF);"
    )
}

fn setup(a: &Sim, b: &Sim, out: &Path, max_workers: u32, tables: &str) -> Setup {
    let targets = format!(
        "targets:\n  csv:\n    directory: {}\n    max_workers: {max_workers}\n",
        out.display()
    );
    Setup::new(a, b, &targets, tables)
}

fn export(setup: &Setup, args: &[&str]) -> (bool, String) {
    let out = setup.run_to_end(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Every file under `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn only_file(dir: &Path, contains: &str) -> PathBuf {
    let found: Vec<PathBuf> = files(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(contains))
        .collect();
    assert_eq!(found.len(), 1, "one file named *{contains}*: {found:?}");
    found[0].clone()
}

fn assert_no_tmp(dir: &Path) {
    let tmp: Vec<PathBuf> = files(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}");
}

/// Whether each field of a raw RFC 4180 record was quoted (a quoted empty
/// field is the empty string; a bare one is NULL).
fn quoted_fields(raw: &[u8]) -> Vec<bool> {
    // The reader's position may still be before the previous CRLF's LF.
    let start = raw
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    let (mut out, mut quoted, mut inside, mut i) = (Vec::new(), false, false, start);
    while i < raw.len() {
        match (raw[i], inside) {
            (b'"', false) => (quoted, inside) = (true, true),
            (b'"', true) if raw.get(i + 1) == Some(&b'"') => i += 1,
            (b'"', true) => inside = false,
            (b',', false) => out.push(std::mem::take(&mut quoted)),
            (b'\r' | b'\n', false) => break,
            _ => {}
        }
        i += 1;
    }
    out.push(quoted);
    out
}

/// A parsed file: header, and each record as fields (`None` = NULL).
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let bytes = std::fs::read(path).expect("read export");
    let text = String::from_utf8(bytes.clone()).expect("UTF-8");
    assert!(text.ends_with("\r\n"), "records end with CRLF");
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes.as_slice());
    let header: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let start = r.position().byte() as usize;
        if !r.read_record(&mut record).expect("RFC 4180 record") {
            break;
        }
        let quoted = quoted_fields(&bytes[start..]);
        assert_eq!(quoted.len(), record.len(), "{record:?}");
        rows.push(
            record
                .iter()
                .zip(quoted)
                .map(|(f, q)| (!f.is_empty() || q).then(|| f.to_string()))
                .collect(),
        );
    }
    (header, rows)
}

/// The source rows of dbo.Things by id, each value as the export must show
/// it, derived through tiberius' own (chrono, Numeric) types.
async fn source_things(a: &Sim) -> Vec<Vec<Option<String>>> {
    let mut c = a.client().await;
    let rows = c
        .simple_query(format!("SELECT {COLUMNS} FROM dbo.Things ORDER BY id"))
        .await
        .expect("query")
        .into_first_result()
        .await
        .expect("rows");
    rows.iter()
        .map(|r| {
            vec![
                r.get::<i32, _>(0).map(|v| v.to_string()),
                r.get::<&str, _>(1).map(String::from),
                r.get::<NaiveDate, _>(2)
                    .map(|d| d.format("%Y-%m-%d").to_string()),
                r.get::<NaiveDateTime, _>(3)
                    .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
                r.get::<Numeric, _>(4).map(|n| n.to_string()),
                r.get::<bool, _>(5)
                    .map(|b| if b { "1" } else { "0" }.to_string()),
                r.get::<&[u8], _>(6).map(|b| {
                    let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
                    format!("0x{hex}")
                }),
            ]
        })
        .collect()
}

/// Exported values in the comparable form: datetime2's seven digits read
/// back through chrono, so both sides are formatted the same way.
fn normalise(mut row: Vec<Option<String>>) -> Vec<Option<String>> {
    if let Some(Some(s)) = row.get(3) {
        let d = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .unwrap_or_else(|e| panic!("{s:?} is not ISO 8601: {e}"));
        row[3] = Some(d.format("%Y-%m-%dT%H:%M:%S%.f").to_string());
    }
    if let Some(Some(s)) = row.get(2) {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| panic!("{s:?}: {e}"));
    }
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_and_full_incremental_round_trip() {
    real_server_note();
    let a = Sim::start("CsvA");
    let b = Sim::start("CsvB");
    a.exec(THINGS).await;
    a.exec(&things_rows()).await;
    a.exec("CREATE TABLE dbo.Plain (k INT NOT NULL PRIMARY KEY, v NVARCHAR(10) NULL); INSERT INTO dbo.Plain VALUES (1, N'x'), (2, NULL);").await;
    let out = tempfile::tempdir().expect("tempdir");
    let setup = setup(
        &a,
        &b,
        out.path(),
        4,
        "  - table: dbo.Things\n    key: [id]\n  - table: dbo.Plain\n    key: [k]\n    mode: full\n",
    );

    // First run: full_incremental exports everything.
    let (ok, text) = export(&setup, &["export"]);
    assert!(ok, "{text}");
    let full = only_file(out.path(), "dbo.Things.full.");
    assert!(full.starts_with(out.path().join("dbo.Things")), "{full:?}");
    let (header, rows) = read_csv(&full);
    assert_eq!(header.join(","), COLUMNS.replace(' ', ""));
    let rows: Vec<_> = rows.into_iter().map(normalise).collect();
    assert_eq!(rows, source_things(&a).await, "{text}");
    assert_eq!(rows[0][1].as_deref(), Some(TRICKY));
    assert_eq!(rows[1][1].as_deref(), Some(""), "empty string, not NULL");
    assert!(rows[2][1..].iter().all(Option::is_none), "{:?}", rows[2]);
    let raw = std::fs::read_to_string(&full).unwrap();
    assert!(raw.contains("\r\n2,\"\","), "{raw}");
    assert!(raw.contains("\r\n3,,,,,,\r\n"), "{raw}");
    let plain = only_file(out.path(), "dbo.Plain.full.");
    assert_eq!(
        std::fs::read_to_string(&plain).unwrap(),
        "k,v\r\n1,x\r\n2,\r\n"
    );
    assert_no_tmp(out.path());

    // Changes, then the second run: only those, with operation and version.
    a.exec(&format!(
        "INSERT INTO dbo.Things ({COLUMNS}) VALUES (5, N'new, \"five\"', '2024-02-29', '2024-02-29T01:02:03.5', 5.5, 0, 0x05); \
         UPDATE dbo.Things SET name = N'{TRICKY} again' WHERE id = 1; DELETE FROM dbo.Things WHERE id = 2; \
         UPDATE dbo.Plain SET v = N'y' WHERE k = 2;"
    ))
    .await;
    let (ok, text) = export(&setup, &["export"]);
    assert!(ok, "{text}");
    let inc = only_file(out.path(), "dbo.Things.incremental.");
    let (header, rows) = read_csv(&inc);
    assert_eq!(
        header.join(","),
        format!("{},_ct_operation,_ct_version", COLUMNS.replace(' ', ""))
    );
    let from: i64 = {
        // The file name carries the range: dbo.Things.incremental.<from>-<to>.csv
        let name = inc.file_name().unwrap().to_string_lossy().to_string();
        let range = name
            .trim_start_matches("dbo.Things.incremental.")
            .trim_end_matches(".csv");
        range
            .split('-')
            .next()
            .unwrap()
            .parse()
            .expect("from version")
    };
    let ct = a
        .rows(&format!(
            "SELECT CT.id, CT.SYS_CHANGE_OPERATION, CT.SYS_CHANGE_VERSION FROM CHANGETABLE(CHANGES dbo.Things, {from}) AS CT ORDER BY CT.id"
        ))
        .await;
    let mut got: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let n = r.len();
            vec![
                r[0].clone().unwrap(),
                r[n - 2].clone().unwrap(),
                r[n - 1].clone().unwrap(),
            ]
        })
        .collect();
    got.sort_by_key(|r| r[0].parse::<i32>().unwrap());
    assert_eq!(got, ct, "operations and versions as CHANGETABLE has them");
    let ops: Vec<&str> = got.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(ops, ["U", "D", "I"]);
    let source = source_things(&a).await;
    for r in &rows {
        let image = normalise(r[..7].to_vec());
        match r[7].as_deref() {
            Some("D") => {
                assert_eq!(image[0].as_deref(), Some("2"));
                assert!(image[1..].iter().all(Option::is_none), "{r:?}");
            }
            _ => assert!(source.contains(&image), "{image:?} not in {source:?}"),
        }
    }
    let raw = std::fs::read_to_string(&inc).unwrap();
    assert!(raw.contains("\r\n2,,,,,,,D,"), "{raw}");
    // `full` reloads everything each run.
    let fulls: Vec<PathBuf> = files(out.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("dbo.Plain.full."))
        .collect();
    assert_eq!(fulls.len(), 2, "{fulls:?}");
    assert_eq!(
        std::fs::read_to_string(&fulls[1]).unwrap(),
        "k,v\r\n1,x\r\n2,y\r\n"
    );

    // Nothing changed: the third run writes an empty incremental file.
    let (ok, text) = export(&setup, &["export", "--table", "dbo.Things"]);
    assert!(ok, "{text}");
    let incs: Vec<PathBuf> = files(out.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("dbo.Things.incremental."))
        .collect();
    assert_eq!(incs.len(), 2, "{incs:?}");
    let (_, rows) = read_csv(&incs.iter().find(|p| **p != inc).unwrap().clone());
    assert!(rows.is_empty(), "{rows:?}");
    assert_no_tmp(out.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_needs_a_valid_watermark() {
    real_server_note();
    let a = Sim::start("CsvIncA");
    let b = Sim::start("CsvIncB");
    a.exec(THINGS).await;
    a.exec(&things_rows()).await;
    let out = tempfile::tempdir().expect("tempdir");
    let table = |mode: &str| format!("  - table: dbo.Things\n    key: [id]\n    mode: {mode}\n");
    let setup = setup(&a, &b, out.path(), 1, &table("incremental"));
    let write_mode = |mode: &str| {
        let text = std::fs::read_to_string(&setup.config).unwrap();
        let at = text.find("tables:").unwrap();
        std::fs::write(
            &setup.config,
            format!("{}tables:\n{}", &text[..at], table(mode)),
        )
        .unwrap();
    };

    let (ok, text) = export(&setup, &["export"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("dbo.Things")
            && text.contains("mode: incremental")
            && text.contains("full_incremental"),
        "{text}"
    );
    assert!(files(out.path()).is_empty(), "{:?}", files(out.path()));

    // `run` refuses a CSV target and points at `export`.
    let (ok, text) = export(&setup, &["run"]);
    assert!(!ok && text.contains("ctsync export"), "{text}");

    // A first full export gives the watermark; incremental then works.
    write_mode("full_incremental");
    let (ok, text) = export(&setup, &["sync", "--once"]);
    assert!(ok, "sync --once exports with a CSV target: {text}");
    only_file(out.path(), "dbo.Things.full.");
    write_mode("incremental");
    a.exec("UPDATE dbo.Things SET flag = 0 WHERE id = 1;").await;
    let (ok, text) = export(&setup, &["export"]);
    assert!(ok, "{text}");
    let inc = only_file(out.path(), "dbo.Things.incremental.");
    assert_eq!(read_csv(&inc).1.len(), 1);

    // History cleaned up past the watermark: incremental fails with both
    // versions; full_incremental falls back to a full export.
    a.exec("UPDATE dbo.Things SET flag = 1 WHERE id = 1;").await;
    a.exec("EXEC mssql_sim.ct_cleanup").await;
    let min_valid = a
        .rows("SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(N'dbo.Things'))")
        .await[0][0]
        .clone();
    let (ok, text) = export(&setup, &["export"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("CHANGE_TRACKING_MIN_VALID_VERSION")
            && text.contains(&format!("CHANGE_TRACKING_MIN_VALID_VERSION {min_valid}"))
            && text.contains("mode: full"),
        "{text}"
    );
    assert_eq!(files(out.path()).len(), 2, "{:?}", files(out.path()));
    write_mode("full_incremental");
    let (ok, text) = export(&setup, &["export"]);
    assert!(ok, "{text}");
    assert!(text.contains("exporting the whole table"), "{text}");
    let fulls = files(out.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".full."))
        .count();
    assert_eq!(fulls, 2);
    assert_no_tmp(out.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_write_keeps_the_watermark_and_other_tables_go_on() {
    real_server_note();
    let a = Sim::start("CsvFailA");
    let b = Sim::start("CsvFailB");
    let mut tables = String::new();
    for i in 1..=3 {
        a.exec(&format!(
            "CREATE TABLE dbo.T{i} (id INT NOT NULL PRIMARY KEY, v NVARCHAR(20) NULL); INSERT INTO dbo.T{i} VALUES (1, N'a'), (2, N'b');"
        ))
        .await;
        tables.push_str(&format!("  - table: dbo.T{i}\n    key: [id]\n"));
    }
    let out = tempfile::tempdir().expect("tempdir");
    let setup = setup(&a, &b, out.path(), 2, &tables);
    let (ok, text) = export(&setup, &["export"]);
    assert!(ok, "{text}");
    for i in 1..=3 {
        let f = only_file(out.path(), &format!("dbo.T{i}.full."));
        assert_eq!(read_csv(&f).1.len(), 2, "{f:?}");
    }

    // dbo.T1's directory cannot be written: T1 fails, naming the path; T2
    // and T3 still export.
    a.exec("INSERT INTO dbo.T1 VALUES (3, N'c'); INSERT INTO dbo.T2 VALUES (3, N'c');")
        .await;
    let t1 = out.path().join("dbo.T1");
    let saved = out.path().join("saved-T1");
    std::fs::rename(&t1, &saved).unwrap();
    std::fs::write(&t1, b"not a directory").unwrap();
    let (ok, text) = export(&setup, &["export"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("dbo.T1") && text.contains(&t1.display().to_string()),
        "the failure names the table and the path: {text}"
    );
    let t2 = only_file(out.path(), "dbo.T2.incremental.");
    assert_eq!(read_csv(&t2).1.len(), 1);
    only_file(out.path(), "dbo.T3.incremental.");

    // The file is written but cannot be renamed into place (a directory
    // holds its name): the run fails after reading, before the watermark.
    std::fs::remove_file(&t1).unwrap();
    std::fs::rename(&saved, &t1).unwrap();
    let full = only_file(out.path(), "dbo.T1.full.");
    let name = full.file_name().unwrap().to_string_lossy().to_string();
    let from = name
        .trim_start_matches("dbo.T1.full.")
        .trim_end_matches(".csv");
    let to = &a.rows("SELECT CHANGE_TRACKING_CURRENT_VERSION()").await[0][0];
    let blocked = t1.join(format!("dbo.T1.incremental.{from}-{to}.csv"));
    std::fs::create_dir(&blocked).unwrap();
    let (ok, text) = export(&setup, &["export", "--table", "dbo.T1"]);
    assert!(!ok, "{text}");
    assert!(text.contains("cannot rename into place"), "{text}");
    assert_no_tmp(out.path());
    std::fs::remove_dir(&blocked).unwrap();

    // Once writable again, T1's next file still holds the change: its
    // watermark did not move.
    let (ok, text) = export(&setup, &["export", "--table", "dbo.T1"]);
    assert!(ok, "{text}");
    let t1_inc = only_file(out.path(), "dbo.T1.incremental.");
    let (_, rows) = read_csv(&t1_inc);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0].as_deref(), Some("3"));
    assert_eq!(rows[0][2].as_deref(), Some("I"));
    assert_no_tmp(out.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_needs_only_its_source_server() {
    real_server_note();
    let a = Sim::start("CsvOnlyA");
    a.exec("CREATE TABLE dbo.T (id INT NOT NULL PRIMARY KEY, v NVARCHAR(20) NULL); INSERT INTO dbo.T VALUES (1, N'a');")
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "agent_id: test-agent\nstate_dir: {}\nservers:\n  a: {{ host: {}, port: {}, database: {}, user: {}, {} }}\n\
             sync:\n  enable_change_tracking: true\ntargets:\n  csv:\n    directory: {}\ntables:\n  - table: dbo.T\n    key: [id]\n",
            dir.path().join("state").display(),
            a.host(),
            a.port(),
            a.database,
            a.user(),
            a.encrypt_yaml(),
            out.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_ctsync"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .env("CTSYNC_SERVERS__A__PASSWORD", a.password())
            .env_remove("CTSYNC_SERVERS__B__PASSWORD")
            .output()
            .expect("run ctsync");
        assert_no_password(&o);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.success(), text)
    };
    let (ok, text) = run(&["export"]);
    assert!(ok, "{text}");
    let f = only_file(&out, "dbo.T.full.");
    assert_eq!(std::fs::read_to_string(f).unwrap(), "id,v\r\n1,a\r\n");
    // `inspect` of an export shows the table's export watermark.
    let (ok, text) = run(&["inspect", "--json"]);
    assert!(ok, "{text}");
    let json = &text[text.find('{').expect("json")..];
    let v: serde_json::Value = serde_json::from_str(json.lines().collect::<String>().as_str())
        .unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(v["exports"][0]["table"], "dbo.T", "{v}");
    assert_eq!(v["exports"][0]["last_export"]["rows"], 1, "{v}");
    assert!(
        v["exports"][0]["last_export"]["version"].as_i64().is_some(),
        "{v}"
    );
    let (ok, text) = run(&["inspect"]);
    assert!(
        ok && text.contains("export dbo.T from a (full_incremental): version"),
        "{text}"
    );
    let (ok, text) = run(&["check"]);
    assert!(
        !ok && text.contains("servers.b is not configured"),
        "{text}"
    );
}
