//! The configuration as written: what the merged layers deserialize into,
//! strictly (`deny_unknown_fields` everywhere, so a misspelt key is an error
//! rather than a silently ignored setting). Defaults live here.
//! [`super::validate`] turns it into [`super::Config`].

use super::{
    ConflictPolicy, DirectionConfig, Encrypt, Initial, LogFormat, OnExpired, OneShotMode, Secret,
    SideName,
};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const DEFAULT_PORT: u16 = 1433;
pub const DEFAULT_STATE_DIR: &str = "./state";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub agent_id: String,
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    #[serde(default = "default_log_level")]
    pub log_level: String,
    #[serde(default = "default_log_format")]
    pub log_format: LogFormat,
    pub servers: RawServers,
    #[serde(default, deserialize_with = "null_default")]
    pub sync: RawSync,
    #[serde(default, deserialize_with = "null_default")]
    pub tables: Vec<RawTable>,
    #[serde(default, deserialize_with = "null_default")]
    pub targets: RawTargets,
    /// `None` (absent or empty): no metrics endpoint.
    #[serde(default)]
    pub metrics: Option<RawMetrics>,
}

/// `metrics`: the Prometheus and health endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub listen: RawListen,
}

/// `metrics.listen` as written: a text, or a bare number (a port alone),
/// which validation refuses with the fix rather than a type error.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawListen {
    Text(String),
    Number(i64),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServers {
    /// Both are required, except that a configuration that only exports
    /// (`targets.csv`) needs only its source server.
    #[serde(default)]
    pub a: Option<RawServer>,
    #[serde(default)]
    pub b: Option<RawServer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    pub database: String,
    pub user: String,
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default = "default_encrypt")]
    pub encrypt: Encrypt,
    #[serde(default)]
    pub trust_server_certificate: bool,
    /// A PEM file of the CA certificate(s) the server's certificate must
    /// chain to, besides the system's trust store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_command_timeout_ms")]
    pub command_timeout_ms: u64,
    #[serde(default = "default_application_name")]
    pub application_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSync {
    pub poll_interval_ms: u64,
    pub batch_size: u64,
    pub capture_rows_max: u64,
    pub batch_bytes_max: u64,
    pub capture_bytes_max: u64,
    pub enable_change_tracking: bool,
    pub retry: RawRetry,
    pub conflict: ConflictPolicy,
    pub conflict_log_max: u64,
    pub reference_wait_ms_max: u64,
    pub schema_check_interval_ms: u64,
}

impl Default for RawSync {
    fn default() -> Self {
        RawSync {
            poll_interval_ms: 1000,
            batch_size: 500,
            capture_rows_max: 10_000,
            // 16 MiB of row values per apply batch and load chunk.
            batch_bytes_max: 16 * 1024 * 1024,
            // 16 MiB of row images per capture poll (one table may take
            // one more read past it; see `capture::poll_in_snapshot`).
            capture_bytes_max: 16 * 1024 * 1024,
            // Altering a production database is opt-in: by default `run`
            // and `check` print the statement an administrator must run.
            enable_change_tracking: false,
            retry: RawRetry::default(),
            // The hub (publisher) wins, as in SQL Server's queued updating.
            conflict: ConflictPolicy::AWins,
            conflict_log_max: 100_000,
            // Five minutes: a parent row delayed by a slow link or a load
            // arrives well within; one that failed for good does not.
            reference_wait_ms_max: 300_000,
            // A minute: schema changes are rare, and one catalog read per
            // server per minute costs nothing an operator notices.
            schema_check_interval_ms: 60_000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRetry {
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    pub max_attempts: u64,
}

impl Default for RawRetry {
    fn default() -> Self {
        RawRetry {
            initial_backoff_ms: 200,
            max_backoff_ms: 30_000,
            max_attempts: 10,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTable {
    pub table: String,
    pub key: Vec<String>,
    #[serde(default)]
    pub identity: bool,
    #[serde(default)]
    pub force_id: bool,
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    #[serde(default = "default_direction")]
    pub direction: DirectionConfig,
    #[serde(default, deserialize_with = "null_default")]
    pub references: BTreeMap<String, String>,
    #[serde(default = "default_initial")]
    pub initial: Initial,
    #[serde(default = "default_on_expired")]
    pub on_expired: OnExpired,
    #[serde(default = "default_mode")]
    pub mode: OneShotMode,
    /// `None`: `sync.conflict`.
    #[serde(default)]
    pub conflict: Option<ConflictPolicy>,
    #[serde(default)]
    pub allow_key_collation: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTargets {
    #[serde(default)]
    pub csv: Option<RawCsv>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCsv {
    pub directory: PathBuf,
    #[serde(default = "default_csv_source")]
    pub source: SideName,
    #[serde(default = "default_max_workers")]
    pub max_workers: u64,
}

/// A key written with nothing after it (`sync:` with every sub-key
/// commented out) means its defaults, not an error.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

fn default_state_dir() -> PathBuf {
    PathBuf::from(DEFAULT_STATE_DIR)
}
fn default_log_level() -> String {
    "info".to_string()
}
fn default_log_format() -> LogFormat {
    LogFormat::Text
}
fn default_port() -> u16 {
    DEFAULT_PORT
}
fn default_encrypt() -> Encrypt {
    // Safe by default: a login password never crosses the network in clear
    // unless the operator says so.
    Encrypt::Required
}
fn default_connect_timeout_ms() -> u64 {
    15_000
}
fn default_command_timeout_ms() -> u64 {
    30_000
}
fn default_application_name() -> String {
    "ctsync".to_string()
}
fn default_direction() -> DirectionConfig {
    // One way unless asked: writing into server a is never a surprise.
    DirectionConfig::AToB
}
fn default_initial() -> Initial {
    Initial::None
}
fn default_on_expired() -> OnExpired {
    OnExpired::Reinit
}
fn default_mode() -> OneShotMode {
    OneShotMode::FullIncremental
}
fn default_csv_source() -> SideName {
    SideName::A
}
fn default_max_workers() -> u64 {
    4
}
