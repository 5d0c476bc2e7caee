//! Loading real files through every layer. Each test runs in a
//! `figment::Jail`: its own working directory and an environment restored
//! afterwards, serialized with the other jailed tests.

// figment's error type is large; it only travels through these tests.
#![allow(clippy::result_large_err)]

use super::*;
use figment::Jail;
use std::path::Path;

const PW_A: &str = "pw-a-S3cret!";
const PW_B: &str = "pw-b-S3cret!";

fn base() -> String {
    format!(
        r#"
agent_id: edge-01
servers:
  a: {{ host: 127.0.0.1, database: SalesA, user: sync, password: "{PW_A}", encrypt: not_supported }}
  b: {{ host: 10.0.0.5, port: 1434, database: SalesB, user: sync, password: "{PW_B}", encrypt: "off" }}
tables:
  - table: dbo.Users
    key: [id]
    identity: true
    direction: both
  - table: Orders
    key: [id]
    identity: true
    direction: both
    references: {{ user_id: dbo.Users }}
  - table: dbo.OrderLines
    key: [order_id, line_no]
    references: {{ order_id: "[dbo].[Orders]" }}
"#
    )
}

/// Loads `yaml` as config.yaml with `env` set and `flags` given.
fn load_in_jail(
    yaml: &str,
    env: &[(&str, &str)],
    flags: Overrides,
    check: impl FnOnce(Result<Config, ConfigError>),
) {
    Jail::expect_with(|jail| {
        jail.create_file("config.yaml", yaml)?;
        // The jail restores the environment afterwards; clearing it keeps a
        // `CTSYNC_*` variable of the machine running the tests (CI's, a
        // developer's) out of these layers.
        jail.clear_env();
        for (k, v) in env {
            jail.set_env(k, v);
        }
        check(load(Path::new("config.yaml"), &flags));
        Ok(())
    });
}

fn ok(yaml: &str) -> Config {
    let mut out = None;
    load_in_jail(yaml, &[], Overrides::default(), |r| match r {
        Ok(c) => out = Some(c),
        Err(e) => panic!("config did not load: {e}"),
    });
    out.unwrap_or_else(|| unreachable!())
}

/// Loads `yaml`, expects an error and returns its problems and message.
fn problems(yaml: &str, env: &[(&str, &str)]) -> (Vec<Problem>, String) {
    let mut out = None;
    load_in_jail(yaml, env, Overrides::default(), |r| match r {
        Ok(_) => panic!("config loaded but should not have"),
        Err(e) => {
            let text = e.to_string();
            assert!(
                !text.contains(PW_A) && !text.contains(PW_B),
                "password in: {text}"
            );
            out = Some((e.problems().to_vec(), text));
        }
    });
    out.unwrap_or_else(|| unreachable!())
}

/// The one problem at `key`.
fn at<'a>(ps: &'a [Problem], key: &str) -> &'a Problem {
    ps.iter()
        .find(|p| p.key == key)
        .unwrap_or_else(|| panic!("no problem at `{key}` in {ps:#?}"))
}

#[test]
fn the_base_config_loads_with_defaults() {
    let c = ok(&base());
    assert_eq!(c.agent_id, "edge-01");
    assert_eq!(c.servers.a.as_ref().unwrap().port, 1433);
    assert_eq!(c.servers.b.as_ref().unwrap().port, 1434);
    assert_eq!(c.servers.a.as_ref().unwrap().encrypt, Encrypt::NotSupported);
    assert_eq!(c.servers.b.as_ref().unwrap().encrypt, Encrypt::Off);
    assert_eq!(c.servers.a.as_ref().unwrap().password.expose(), PW_A);
    assert_eq!(c.sync.batch_size, 500);
    assert_eq!(c.sync.retry.max_attempts, 10);
    assert!(!c.sync.enable_change_tracking);
    assert_eq!(c.state_dir, Path::new("./state"));
    let orders = &c.tables[1];
    assert_eq!(orders.name.to_string(), "dbo.Orders");
    assert_eq!(orders.references["user_id"].to_string(), "dbo.Users");
    assert_eq!(orders.initial, Initial::None);
    assert_eq!(orders.on_expired, OnExpired::Reinit);
    let lines = &c.tables[2];
    assert_eq!(lines.directions(), vec![crate::model::Direction::AToB]);
    assert_eq!(lines.references["order_id"].name, "Orders");
    assert!(c.table("DBO.users").is_some());
    assert_eq!(c.context_prefix(), b"ctsync:edge-01:".to_vec());
}

#[test]
fn password_never_in_debug_or_display() {
    let c = ok(&base());
    let debug = format!("{c:?}");
    assert!(!debug.contains(PW_A) && !debug.contains(PW_B), "{debug}");
    assert!(debug.contains("***"));
    let shown = c.redacted().to_string();
    assert!(!shown.contains(PW_A) && !shown.contains(PW_B), "{shown}");
    assert_eq!(c.redacted()["servers"]["a"]["password"], "***");
    let client = format!("{:?}", c.tiberius_config(crate::model::Side::A));
    assert!(!client.contains(PW_A), "{client}");
}

#[test]
fn tiberius_config_carries_the_server_settings() {
    let c = ok(&base());
    let t = c.tiberius_config(crate::model::Side::B);
    assert_eq!(t.get_addr(), "10.0.0.5:1434");
    assert_eq!(
        t.get_handshake_timeout(),
        Some(std::time::Duration::from_secs(15))
    );
    assert_eq!(
        t.get_command_timeout(),
        Some(std::time::Duration::from_secs(30))
    );
}

#[test]
fn unknown_key_names_the_key_and_the_allowed_ones() {
    let yaml = base().replace(
        "user: sync, password: \"pw-a",
        "user: sync, passwrd: \"pw-a",
    );
    let (ps, text) = problems(&yaml, &[]);
    let p = at(&ps, "servers.a.passwrd");
    assert!(p.message.contains("unknown key"), "{p}");
    assert!(
        p.message.contains("`password`") && p.message.contains("`password_file`"),
        "{p}"
    );
    assert!(
        p.origin
            .as_deref()
            .is_some_and(|o| o.contains("config.yaml")),
        "{p:?}"
    );
    assert!(text.contains("servers.a.passwrd"), "{text}");

    let (ps, _) = problems(&format!("{}\ntabels: []\n", base()), &[]);
    assert!(at(&ps, "tabels").message.contains("`tables`"));
}

#[test]
fn missing_server() {
    let yaml = base()
        .lines()
        .filter(|l| !l.trim_start().starts_with("b:"))
        .collect::<Vec<_>>()
        .join("\n");
    let (ps, text) = problems(&yaml, &[]);
    let p = at(&ps, "servers.b");
    assert!(p.message.contains("required"), "{p}");
    assert!(text.contains("`servers.b`"), "{text}");
}

#[test]
fn table_without_key() {
    let yaml = base().replace("    key: [order_id, line_no]\n", "");
    let (ps, _) = problems(&yaml, &[]);
    assert!(at(&ps, "tables[2].key").message.contains("required"));

    let yaml = base().replace("key: [order_id, line_no]", "key: []");
    let (ps, _) = problems(&yaml, &[]);
    let p = at(&ps, "tables[2].key");
    assert_eq!(p.value.as_deref(), Some("[]"));
    assert!(p.message.contains("e.g. [id]"), "{p}");
}

#[test]
fn reference_to_a_table_not_listed() {
    let yaml = base().replace("user_id: dbo.Users", "user_id: dbo.Customers");
    let (ps, _) = problems(&yaml, &[]);
    let p = at(&ps, "tables[1].references.user_id");
    assert_eq!(p.value.as_deref(), Some("\"dbo.Customers\""));
    assert!(
        p.message.contains("not a listed table") && p.message.contains("dbo.Users"),
        "{p}"
    );
}

#[test]
fn force_id_on_a_table_that_is_not_identity() {
    let yaml = base().replace(
        "key: [order_id, line_no]\n",
        "key: [order_id, line_no]\n    force_id: true\n",
    );
    let (ps, _) = problems(&yaml, &[]);
    let p = at(&ps, "tables[2].force_id");
    assert_eq!(p.value.as_deref(), Some("true"));
    assert_eq!(p.origin.as_deref(), Some("config.yaml"));
    assert!(p.message.contains("identity: true"), "{p}");
}

#[test]
fn password_inline_and_from_a_file() {
    let yaml = base().replace(
        &format!("password: \"{PW_A}\""),
        &format!("password: \"{PW_A}\", password_file: /run/secrets/a"),
    );
    let (ps, text) = problems(&yaml, &[]);
    let p = at(&ps, "servers.a.password");
    assert!(
        p.message.contains("exactly one") && p.message.contains("/run/secrets/a"),
        "{p}"
    );
    assert_eq!(p.value, None);
    assert!(!text.contains(PW_A));

    // The same through the environment: the env password meets the file.
    let yaml = base().replace(
        &format!("password: \"{PW_A}\""),
        "password_file: /run/secrets/a",
    );
    let (ps, _) = problems(&yaml, &[("CTSYNC_SERVERS__A__PASSWORD", PW_A)]);
    assert!(at(&ps, "servers.a.password")
        .message
        .contains("exactly one"));

    let (ps, _) = problems(&base(), &[("CTSYNC_SYNC__BATCH_SIZE", "0")]);
    let p = at(&ps, "sync.batch_size");
    assert_eq!(
        p.origin.as_deref(),
        Some("environment variable CTSYNC_SYNC__BATCH_SIZE")
    );
}

#[test]
fn bad_direction() {
    let yaml = base().replacen("direction: both", "direction: sideways", 1);
    let (ps, _) = problems(&yaml, &[]);
    let p = at(&ps, "tables[0].direction");
    assert_eq!(p.value.as_deref(), Some("\"sideways\""));
    for allowed in ["`a_to_b`", "`b_to_a`", "`both`"] {
        assert!(p.message.contains(allowed), "{p}");
    }
}

#[test]
fn environment_overrides_a_nested_key() {
    let yaml = base().replace(&format!("password: \"{PW_A}\", "), "");
    let env = [
        ("CTSYNC_SERVERS__A__PORT", "1500"),
        ("CTSYNC_SERVERS__A__PASSWORD", "0123"),
        ("CTSYNC_SYNC__RETRY__MAX_ATTEMPTS", "3"),
        ("CTSYNC_SYNC__ENABLE_CHANGE_TRACKING", "true"),
        ("CTSYNC_CONFIG", "ignored.yaml"),
        ("CTSYNC_TEST_MSSQL", "server=x"),
        ("CTSYNC_DEMO_KEEP", "1"),
    ];
    load_in_jail(&yaml, &env, Overrides::default(), |r| {
        let c = r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.servers.a.as_ref().unwrap().port, 1500);
        // Env values stay text for text keys: the leading zero survives.
        assert_eq!(c.servers.a.as_ref().unwrap().password.expose(), "0123");
        assert_eq!(c.sync.retry.max_attempts, 3);
        assert!(c.sync.enable_change_tracking);
    });
}

#[test]
fn environment_errors_name_the_variable() {
    let (ps, _) = problems(&base(), &[("CTSYNC_SERVERS__A__PORT", "abc")]);
    let p = at(&ps, "servers.a.port");
    assert_eq!(p.value.as_deref(), Some("\"abc\""));
    assert!(p.message.contains("0 to 65535"), "{p}");
    assert!(
        p.origin.as_deref() == Some("environment variable CTSYNC_SERVERS__A__PORT"),
        "{p:?}"
    );
    let (ps, _) = problems(&base(), &[("CTSYNC_SERVERS__A__NOPE", "1")]);
    let p = at(&ps, "servers.a.nope");
    assert!(
        p.origin
            .as_deref()
            .is_some_and(|o| o.contains("CTSYNC_SERVERS__A__NOPE")),
        "{p:?}"
    );
}

#[test]
fn command_line_flags_win() {
    let yaml = format!("{}\nstate_dir: /from/file\nlog_level: warn\n", base());
    let env = [
        ("CTSYNC_STATE_DIR", "/from/env"),
        ("CTSYNC_LOG_LEVEL", "debug"),
    ];
    let flags = Overrides {
        state_dir: Some("/from/flag".into()),
        log_format: Some(LogFormat::Json),
        log_level: None,
    };
    load_in_jail(&yaml, &env, flags, |r| {
        let c = r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.state_dir, Path::new("/from/flag"));
        assert_eq!(c.log_format, LogFormat::Json);
        // No flag: the environment wins over the file.
        assert_eq!(c.log_level, "debug");
    });
}

#[test]
fn password_file_is_read_at_load_and_errors_name_it() {
    let yaml = base().replace(&format!("password: \"{PW_A}\""), "password_file: secrets/a");
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("config.yaml", &yaml)?;
        match load(Path::new("config.yaml"), &Overrides::default()) {
            Err(e) => {
                let p = at(e.problems(), "servers.a.password_file");
                assert!(p.message.contains("secrets/a"), "{p}");
            }
            Ok(_) => panic!("a missing password file must fail"),
        }
        std::fs::create_dir("secrets").map_err(|e| e.to_string())?;
        jail.create_file("secrets/a", "from-file\n")?;
        let c = load(Path::new("config.yaml"), &Overrides::default()).map_err(|e| e.to_string())?;
        assert_eq!(c.servers.a.as_ref().unwrap().password.expose(), "from-file");
        assert_eq!(
            c.servers.a.as_ref().unwrap().password_file.as_deref(),
            Some(Path::new("secrets/a"))
        );
        Ok(())
    });
}

#[test]
fn more_bad_values() {
    let yaml = base()
        .replace("agent_id: edge-01", "agent_id: \"edge 01/x\"")
        .replace("table: Orders", "table: dbo.Users")
        + "sync: { batch_size: 0, retry: { initial_backoff_ms: 500, max_backoff_ms: 100 } }\n";
    let (ps, text) = problems(&yaml, &[]);
    assert!(at(&ps, "agent_id").message.contains("A-Z a-z 0-9"));
    assert!(at(&ps, "tables[1].table").message.contains("twice"));
    let b = at(&ps, "sync.batch_size");
    assert!(
        b.value.as_deref() == Some("0") && b.message.contains("1 to 5000"),
        "{b}"
    );
    assert!(at(&ps, "sync.retry.max_backoff_ms")
        .message
        .contains("initial_backoff_ms"));
    assert!(text.starts_with("invalid config ("), "{text}");
}

#[test]
fn table_shape_rules() {
    let yaml = base()
        .replace(
            "key: [order_id, line_no]",
            "key: [order_id, line_no]\n    identity: true",
        )
        .replace(
            "references: { user_id: dbo.Users }",
            "columns: [id, name]\n    references: { user_id: dbo.Users }",
        );
    let (ps, _) = problems(&yaml, &[]);
    assert!(at(&ps, "tables[2].identity")
        .message
        .contains("single column"));
    assert!(at(&ps, "tables[1].references.user_id")
        .message
        .contains("columns"));

    let yaml = base().replace(
        "references: { user_id: dbo.Users }",
        "columns: [name, user_id]\n    references: { user_id: dbo.Users }",
    );
    let (ps, _) = problems(&yaml, &[]);
    assert!(at(&ps, "tables[1].columns").message.contains("key column"));

    // Users one way, Orders both ways: b's new users are never mapped.
    let yaml = base().replacen("direction: both", "direction: a_to_b", 1);
    let (ps, _) = problems(&yaml, &[]);
    assert!(at(&ps, "tables[1].references.user_id")
        .message
        .contains("syncs a_to_b"));

    let yaml = base().replace("table: dbo.OrderLines", "table: \"my table\"");
    let (ps, _) = problems(&yaml, &[]);
    assert!(at(&ps, "tables[2].table").message.contains("[my table]"));
}

#[test]
fn initial_and_on_expired() {
    let yaml = base().replace(
        "key: [order_id, line_no]",
        "key: [order_id, line_no]\n    initial: { latest: 100 }\n    on_expired: stop\n    mode: incremental",
    );
    let c = ok(&yaml);
    assert_eq!(c.tables[2].initial, Initial::Latest(100));
    assert_eq!(c.tables[2].on_expired, OnExpired::Stop);
    assert_eq!(c.tables[2].mode, OneShotMode::Incremental);
    let yaml = base().replace(
        "key: [order_id, line_no]",
        "key: [order_id, line_no]\n    initial: all",
    );
    let (ps, _) = problems(&yaml, &[]);
    let p = at(&ps, "tables[2].initial");
    assert!(
        p.message.contains("`full`") && p.message.contains("`latest`"),
        "{p}"
    );
}

#[test]
fn missing_file_and_bad_yaml() {
    Jail::expect_with(|_| {
        match load(Path::new("nowhere.yaml"), &Overrides::default()) {
            Err(e @ ConfigError::ReadFile { .. }) => {
                assert!(e.to_string().contains("nowhere.yaml"), "{e}")
            }
            other => panic!("expected a read error, got {other:?}"),
        }
        Ok(())
    });
    let (ps, text) = problems("agent_id: [unclosed\n", &[]);
    assert!(text.contains("config.yaml"), "{text}");
    assert_eq!(ps.len(), 1);
    assert!(
        text.starts_with("invalid config: ") && text.contains("line 2"),
        "{text}"
    );
}

#[test]
fn empty_sections_mean_defaults_and_plain_yaml_words_work() {
    let yaml = base()
        .replace("encrypt: not_supported", "encrypt: on")
        .replace("encrypt: \"off\"", "encrypt: off")
        + "sync:\ntargets:\n";
    let c = ok(&yaml);
    assert_eq!(c.servers.a.as_ref().unwrap().encrypt, Encrypt::On);
    assert_eq!(c.servers.b.as_ref().unwrap().encrypt, Encrypt::Off);
    assert_eq!(c.sync.poll_interval_ms, 1000);
    assert!(c.targets.csv.is_none());
    let (ps, text) = problems(&(base() + "sync: 5\n"), &[]);
    assert!(
        at(&ps, "sync").message.contains("a section of keys"),
        "{text}"
    );
    assert!(!text.contains("Raw"), "{text}");
}

#[test]
fn csv_target() {
    let c = ok(&format!(
        "{}\ntargets: {{ csv: {{ directory: ./export }} }}\n",
        base()
    ));
    let csv = c.targets.csv.unwrap_or_else(|| panic!("no csv target"));
    assert_eq!(csv.max_workers, 4);
    assert_eq!(csv.source, SideName::A);
    let (ps, _) = problems(
        &format!(
            "{}\ntargets: {{ csv: {{ directory: ./e, max_workers: 0 }} }}\n",
            base()
        ),
        &[],
    );
    assert!(at(&ps, "targets.csv.max_workers")
        .message
        .contains("1 to 64"));
}

#[test]
fn an_export_needs_only_its_source_server() {
    let only_a = base()
        .lines()
        .filter(|l| !l.trim_start().starts_with("b:"))
        .collect::<Vec<_>>()
        .join("\n");
    let c = ok(&format!(
        "{only_a}\ntargets: {{ csv: {{ directory: ./export }} }}\n"
    ));
    assert!(c.servers.b.is_none());
    assert_eq!(c.server(crate::model::Side::A).database, "SalesA");
    let e = c.require_servers().unwrap_err();
    assert!(
        e.contains("servers.b") && e.contains("ctsync export"),
        "{e}"
    );
    // Without an export both servers are required...
    let (ps, text) = problems(&only_a, &[]);
    assert!(
        at(&ps, "servers.b").message.contains("both servers"),
        "{text}"
    );
    // ...and an export cannot leave out the server it reads.
    let (ps, text) = problems(
        &format!("{only_a}\ntargets: {{ csv: {{ directory: ./e, source: b }} }}\n"),
        &[],
    );
    assert!(
        at(&ps, "servers.b").message.contains("targets.csv.source"),
        "{text}"
    );
    // With both servers present nothing is missing.
    let c = ok(&format!(
        "{}\ntargets: {{ csv: {{ directory: ./e }} }}\n",
        base()
    ));
    assert!(c.require_servers().is_ok());
}

#[test]
fn the_example_config_loads() {
    let example = include_str!("../../config.yaml.example");
    load_in_jail(
        example,
        &[
            ("CTSYNC_SERVERS__A__PASSWORD", PW_A),
            ("CTSYNC_SERVERS__B__PASSWORD", PW_B),
        ],
        Overrides::default(),
        |r| {
            let c = r.unwrap_or_else(|e| panic!("config.yaml.example: {e}"));
            assert!(c.tables.len() >= 3);
            assert_eq!(c.servers.b.as_ref().unwrap().password.expose(), PW_B);
        },
    );
}

/// The service's config (`deploy/ctsync.yaml.example`) loads with the
/// passwords the unit hands over: `CTSYNC_SERVERS__<A|B>__PASSWORD_FILE`
/// set to a file in the credentials directory (`%d/...`) wins over the
/// `password_file` the example names for operators' commands.
#[test]
fn the_service_example_config_reads_the_credentials_the_unit_names() {
    let example = include_str!("../../deploy/ctsync.yaml.example");
    Jail::expect_with(|jail| {
        jail.create_file("ctsync.yaml", example)?;
        jail.create_dir("credentials")?;
        jail.create_file("credentials/db-a-password", &format!("{PW_A}\n"))?;
        jail.create_file("credentials/db-b-password", PW_B)?;
        jail.clear_env();
        jail.set_env("CREDENTIALS_DIRECTORY", "credentials");
        jail.set_env(
            "CTSYNC_SERVERS__A__PASSWORD_FILE",
            "credentials/db-a-password",
        );
        jail.set_env(
            "CTSYNC_SERVERS__B__PASSWORD_FILE",
            "credentials/db-b-password",
        );
        let c = load(Path::new("ctsync.yaml"), &Overrides::default())
            .unwrap_or_else(|e| panic!("deploy/ctsync.yaml.example: {e}"));
        assert_eq!(c.servers.a.as_ref().unwrap().password.expose(), PW_A);
        assert_eq!(c.servers.b.as_ref().unwrap().password.expose(), PW_B);
        assert_eq!(
            c.servers.a.as_ref().unwrap().password_file.as_deref(),
            Some(Path::new("credentials/db-a-password"))
        );
        assert_eq!(c.state_dir, Path::new("/var/lib/ctsync"));
        assert!(!c.tables.is_empty());
        Ok(())
    });
}

#[test]
fn metrics_listen_is_off_by_default_and_parsed_when_set() {
    assert!(ok(&base()).metrics.is_none());
    assert!(ok(&format!("{}metrics:\n", base())).metrics.is_none());
    let c = ok(&format!(
        "{}metrics: {{ listen: 127.0.0.1:9187 }}\n",
        base()
    ));
    assert_eq!(
        c.metrics.map(|m| m.listen.to_string()),
        Some("127.0.0.1:9187".into())
    );
    let mut from_env = None;
    let env = [("CTSYNC_METRICS__LISTEN", "[::1]:9200")];
    load_in_jail(&base(), &env, Overrides::default(), |r| {
        from_env = r.ok().and_then(|c| c.metrics).map(|m| m.listen.to_string());
    });
    assert_eq!(from_env.as_deref(), Some("[::1]:9200"));
}

#[test]
fn a_bad_metrics_listen_names_the_key_and_the_fix() {
    for (listen, says) in [
        ("localhost:9187", "host names are not resolved"),
        ("127.0.0.1", "IP:PORT"),
        ("127.0.0.1:99999", "not a listen address"),
        ("127.0.0.1:0", "port 0"),
        ("9187", "127.0.0.1:9187"),
    ] {
        let (ps, text) = problems(&format!("{}metrics: {{ listen: {listen} }}\n", base()), &[]);
        let p = at(&ps, "metrics.listen");
        assert!(p.message.contains(says), "{listen}: {text}");
        assert!(text.contains("e.g. 127.0.0.1:9187"), "{listen}: {text}");
    }
    let (ps, _) = problems(&format!("{}metrics: {{ port: 9187 }}\n", base()), &[]);
    assert!(ps.iter().any(|p| p.key.starts_with("metrics")), "{ps:?}");
}
