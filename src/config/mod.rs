//! The agent's configuration: `config.yaml.example` documents every key.
//!
//! Layers, later wins: built-in defaults (serde defaults on [`raw`]'s
//! structs) → the YAML file (`--config`) → environment variables `CTSYNC_*`
//! with `__` for nesting (`CTSYNC_SERVERS__A__PASSWORD`) → command-line flags
//! ([`Overrides`]). The merged value is deserialized strictly (unknown keys
//! are errors) and then validated as a whole ([`validate`]); every problem is
//! reported with its key path, the value and what is allowed.

mod ca_file;
mod error;
mod load;
mod monitoring;
mod names;
mod raw;
pub mod secret;
mod validate;
pub use validate::BATCH_SIZE_MAX;

#[cfg(test)]
mod tests;

#[allow(unused_imports)] // named by callers that list problems
pub use error::{ConfigError, Problem};
pub use load::{load, Overrides};
pub use secret::Secret;

use crate::model::{Direction, Side};
use crate::mssql::ident::TableName;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The validated configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// Names this agent; its writes carry `ctsync:<agent_id>:<op>` as their
    /// change tracking context.
    pub agent_id: String,
    pub state_dir: PathBuf,
    pub log_level: String,
    pub log_format: LogFormat,
    pub servers: Servers,
    pub sync: SyncConfig,
    pub tables: Vec<TableConfig>,
    pub targets: Targets,
    /// `None`: no metrics and health endpoint (`metrics` absent).
    pub metrics: Option<MetricsConfig>,
}

/// `metrics`: the HTTP endpoint serving `/metrics` (Prometheus text
/// format) and `/health` (see `crate::monitor`).
#[derive(Debug, Clone, Serialize)]
pub struct MetricsConfig {
    pub listen: std::net::SocketAddr,
}

/// Both servers, except for a configuration that only exports
/// (`targets.csv`): then the server other than `targets.csv.source` may be
/// left out (`None`). Commands that sync check [`Config::require_servers`]
/// first.
#[derive(Debug, Clone, Serialize)]
pub struct Servers {
    pub a: Option<ServerConfig>,
    pub b: Option<ServerConfig>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    /// Resolved at load (inline, environment or `password_file`). Shown as
    /// `***` when the config is displayed; the value is never serialized.
    #[serde(serialize_with = "redact")]
    pub password: Secret,
    /// Where the password was read from, when it came from a file.
    pub password_file: Option<PathBuf>,
    pub encrypt: Encrypt,
    /// Accept any certificate (no validation); excludes `ca_file`.
    pub trust_server_certificate: bool,
    /// The CA certificate(s) (PEM) the server's certificate is validated
    /// against, besides the system's trust store; checked readable at load.
    pub ca_file: Option<PathBuf>,
    /// Bounds the TCP connect and, separately, the TLS and login handshake.
    pub connect_timeout_ms: u64,
    /// Bounds each wait for the server's next response; 0 waits forever.
    pub command_timeout_ms: u64,
    pub application_name: String,
}

fn redact<S: Serializer>(_: &Secret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret::REDACTED)
}

/// `servers.<side>.encrypt`, mapped to tiberius' `EncryptionLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encrypt {
    /// Encrypt everything; fail if the server cannot.
    Required,
    /// TDS 8.0: TLS before the prelogin (SQL Server 2022 `Encrypt=Strict`).
    Strict,
    /// Encrypt everything if the server can.
    On,
    /// Encrypt only the login packet.
    Off,
    /// No encryption at all (the login password travels in clear).
    NotSupported,
}

impl Encrypt {
    pub fn level(self) -> tiberius::EncryptionLevel {
        match self {
            Encrypt::Required => tiberius::EncryptionLevel::Required,
            Encrypt::Strict => tiberius::EncryptionLevel::Strict,
            Encrypt::On => tiberius::EncryptionLevel::On,
            Encrypt::Off => tiberius::EncryptionLevel::Off,
            Encrypt::NotSupported => tiberius::EncryptionLevel::NotSupported,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncConfig {
    pub poll_interval_ms: u64,
    pub batch_size: usize,
    /// Changes one poll reads from one table at most (whole source
    /// transactions, so one bigger transaction is read whole); the rest is
    /// read by the next poll, right away. Bounds the capture's memory.
    pub capture_rows_max: i64,
    /// Bytes of row values one apply batch (and one load chunk) carries at
    /// most, besides `batch_size` rows: a batch of wide rows is cut
    /// shorter (never below one operation), so memory and request size
    /// stay bounded in bytes.
    pub batch_bytes_max: usize,
    /// Bytes of row images one capture read of a table holds at most
    /// (besides `capture_rows_max`), judged by the table's last read, and
    /// one poll of a server about at most (later tables wait for the next
    /// poll); a source transaction larger than a read is read in pieces
    /// (see `store::staged`).
    pub capture_bytes_max: usize,
    pub enable_change_tracking: bool,
    pub retry: RetryConfig,
    /// The conflict policy of tables that do not name their own.
    pub conflict: ConflictPolicy,
    /// Conflict records kept in the state store at most; the oldest are
    /// dropped (and counted) beyond.
    pub conflict_log_max: u64,
    /// How long an operation waits for the mapping of a row it references
    /// (its parent's insert not applied yet) before it is parked with a
    /// reason naming the parent, so that the table's other keys go on.
    pub reference_wait_ms_max: u64,
    /// How often the tables' columns are compared with the ones being
    /// synced (one catalog read per server): a column added on both sides
    /// is taken up, one added on one side is left out with a warning, a
    /// change that would lose data holds the table with the reason.
    pub schema_check_interval_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RetryConfig {
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// Attempts of an operation failing with a permanent error (or an
    /// unclassified one) before it is parked. Transient errors retry forever.
    pub max_attempts: u32,
}

/// One synced table.
#[derive(Debug, Clone, Serialize)]
pub struct TableConfig {
    #[serde(rename = "table", serialize_with = "table_name")]
    pub name: TableName,
    pub key: Vec<String>,
    pub identity: bool,
    pub force_id: bool,
    /// `None`: every column of the table.
    pub columns: Option<Vec<String>>,
    pub direction: DirectionConfig,
    /// Column → the listed table whose id map translates its values.
    #[serde(serialize_with = "references")]
    pub references: BTreeMap<String, TableName>,
    pub initial: Initial,
    pub on_expired: OnExpired,
    /// What `ctsync sync --once` (and a CSV export) does with this table.
    pub mode: OneShotMode,
    /// How a change made on both sides meanwhile is settled (tables synced
    /// `both` ways; a one-way target simply follows its source).
    pub conflict: ConflictPolicy,
    /// Sync a key column whose target collation compares fewer differences
    /// than the source's (case- or accent-sensitive into insensitive):
    /// refused unless set, as keys that differ only in case would merge.
    pub allow_key_collation: bool,
}

fn table_name<S: Serializer>(t: &TableName, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(t)
}

fn references<S: Serializer>(r: &BTreeMap<String, TableName>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(r.iter().map(|(c, t)| (c, t.to_string())))
}

impl TableConfig {
    /// The directions this table flows in (owned, so callers can iterate
    /// by value and use `contains`).
    pub fn directions(&self) -> Vec<Direction> {
        self.direction.directions().to_vec()
    }

    /// Whether changes flow both ways, so that conflicts are detected.
    pub fn two_way(&self) -> bool {
        self.direction == DirectionConfig::Both
    }

    /// Whether rows that existed on both sides before the sync began are
    /// the same row by equal keys although each server assigns its own ids
    /// (identity-mapped, `initial: none`): their id map starts as identity.
    pub fn implicit_identity(&self) -> bool {
        self.identity && !self.force_id && self.initial == Initial::None
    }

    /// Whether capture reads which columns an update changed (policy
    /// `merge_columns` on a two-way table).
    pub fn merges_columns(&self) -> bool {
        self.two_way() && matches!(self.conflict, ConflictPolicy::MergeColumns(_))
    }

    /// Whether the table must be change-tracked on server `side`: where
    /// changes are captured, and where ctsync inserts rows that get their own
    /// identity (an insert in flight at a crash is found again there through
    /// CHANGETABLE by its context). A one-way target of any other table needs
    /// nothing: its writes are idempotent.
    pub fn tracked_on(&self, side: Side) -> bool {
        self.direction
            .directions()
            .iter()
            .any(|d| d.source() == side || (d.target() == side && self.identity && !self.force_id))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirectionConfig {
    AToB,
    BToA,
    Both,
}

impl DirectionConfig {
    pub fn directions(self) -> &'static [Direction] {
        match self {
            DirectionConfig::AToB => &[Direction::AToB],
            DirectionConfig::BToA => &[Direction::BToA],
            DirectionConfig::Both => &[Direction::AToB, Direction::BToA],
        }
    }

    pub fn includes(self, d: Direction) -> bool {
        self.directions().contains(&d)
    }
}

/// `tables[].initial`: how the two sides get to a common start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Initial {
    /// Start from the current version; rows with equal keys on both sides
    /// are taken as the same row.
    None,
    /// Copy every row of the source inside a SNAPSHOT transaction.
    Full,
    /// Copy (and map) only the N most recent rows by key.
    Latest(u64),
}

/// `tables[].conflict` / `sync.conflict`: which change wins when the same
/// row changed on both sides before either change reached the other side.
/// The decision itself is [`crate::conflict::decide`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// a's row (or a's delete) ends on both sides: the hub / publisher wins.
    AWins,
    /// b's row (or b's delete) ends on both sides.
    BWins,
    /// The row whose COLUMN (maintained by the application, e.g.
    /// `updated_at`) is greater wins; ties and NULLs go to a; an update beats
    /// a concurrent delete.
    NewerWins(String),
    /// Both edits are kept in one row when the columns the two sides changed
    /// are disjoint; anything else goes to the fallback.
    MergeColumns(ConflictFallback),
    /// Neither change is applied; the key waits for
    /// `ctsync conflicts resolve ID --keep a|b`.
    Park,
}

/// The fallback of `merge_columns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictFallback {
    AWins,
    BWins,
}

impl ConflictPolicy {
    /// The policy as written in the configuration, for logs and records.
    pub fn describe(&self) -> String {
        match self {
            ConflictPolicy::AWins => "a_wins".into(),
            ConflictPolicy::BWins => "b_wins".into(),
            ConflictPolicy::NewerWins(c) => format!("newer_wins: {c}"),
            ConflictPolicy::MergeColumns(ConflictFallback::AWins) => "merge_columns: a_wins".into(),
            ConflictPolicy::MergeColumns(ConflictFallback::BWins) => "merge_columns: b_wins".into(),
            ConflictPolicy::Park => "park".into(),
        }
    }
}

/// `tables[].on_expired`: what happens when a table's history is gone
/// (watermark older than its min valid version, a restore, a failover).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExpired {
    Reinit,
    Stop,
}

/// `tables[].mode`: the one-shot job `ctsync sync --once` runs per table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OneShotMode {
    /// Reload everything.
    Full,
    /// Only changes since the watermark; an error if there is none.
    Incremental,
    /// Full the first time, incremental after.
    FullIncremental,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

/// `targets`: where captured changes go besides (or instead of) the other
/// server.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Targets {
    pub csv: Option<CsvTarget>,
}

/// `targets.csv`: export the tables of `source` as CSV files instead of
/// syncing them to the other server.
#[derive(Debug, Clone, Serialize)]
pub struct CsvTarget {
    pub directory: PathBuf,
    pub source: SideName,
    pub max_workers: usize,
}

/// A server named in the config (`a` or `b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SideName {
    A,
    B,
}

impl SideName {
    pub fn side(self) -> Side {
        match self {
            SideName::A => Side::A,
            SideName::B => Side::B,
        }
    }
}

impl Config {
    /// The server of `side`. Validation makes both present unless only
    /// exporting, where the source is; commands that use both servers call
    /// [`Config::require_servers`] before anything else.
    pub fn server(&self, side: Side) -> &ServerConfig {
        let s = match side {
            Side::A => self.servers.a.as_ref(),
            Side::B => self.servers.b.as_ref(),
        };
        s.expect("a server left out of the config is refused at command start (require_servers)")
    }

    /// `Err` naming the missing server when one was left out (allowed only
    /// for a CSV export): every command but the export needs both.
    pub fn require_servers(&self) -> Result<(), String> {
        self.require_server(Side::A)?;
        self.require_server(Side::B)
    }

    /// "server a (host:port, database D)" for messages (never the password).
    pub fn server_label(&self, side: Side) -> String {
        let s = self.server(side);
        format!(
            "server {} ({}:{}, database {})",
            side.as_str(),
            s.host,
            s.port,
            s.database
        )
    }

    /// `Err` naming the server of `side` when it was left out.
    pub fn require_server(&self, side: Side) -> Result<(), String> {
        let (name, s) = match side {
            Side::A => ("a", &self.servers.a),
            Side::B => ("b", &self.servers.b),
        };
        match s {
            Some(_) => Ok(()),
            None => Err(format!(
                "servers.{name} is not configured: only the CSV export (`ctsync export`, targets.csv) runs with one server; add servers.{name} for this command"
            )),
        }
    }

    /// The configured table named `name` (`schema.name`, compared
    /// case-insensitively).
    pub fn table(&self, name: &str) -> Option<&TableConfig> {
        self.tables
            .iter()
            .find(|t| t.name.to_string().eq_ignore_ascii_case(name))
    }

    /// The change tracking context prefix of this agent's writes.
    pub fn context_prefix(&self) -> Vec<u8> {
        format!("ctsync:{}:", self.agent_id).into_bytes()
    }

    /// Bound of the TCP connect to `side` (the handshake after it has its own
    /// bound of the same length, set in [`Config::tiberius_config`]).
    pub fn connect_timeout(&self, side: Side) -> Duration {
        Duration::from_millis(self.server(side).connect_timeout_ms)
    }

    /// The client configuration for `side`: host, port, database, SQL
    /// Server authentication, encryption, certificate trust, application
    /// name and timeouts.
    pub fn tiberius_config(&self, side: Side) -> tiberius::Config {
        let s = self.server(side);
        let mut c = tiberius::Config::new();
        c.host(&s.host);
        c.port(s.port);
        c.database(&s.database);
        c.authentication(tiberius::AuthMethod::sql_server(
            &s.user,
            s.password.expose(),
        ));
        c.encryption(s.encrypt.level());
        // Validation keeps these two apart (tiberius refuses both at once).
        if s.trust_server_certificate {
            c.trust_cert();
        } else if let Some(ca) = &s.ca_file {
            c.trust_cert_ca(ca.display());
        }
        c.application_name(&s.application_name);
        c.handshake_timeout(Some(Duration::from_millis(s.connect_timeout_ms)));
        c.command_timeout(match s.command_timeout_ms {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        });
        c
    }

    /// The whole configuration as JSON for logs and `check`, passwords shown
    /// as `***`.
    pub fn redacted(&self) -> serde_json::Value {
        // Serializing these plain structs cannot fail; fall back to a note
        // rather than panic if it ever did.
        serde_json::to_value(self)
            .unwrap_or_else(|e| serde_json::Value::String(format!("(config not shown: {e})")))
    }
}
