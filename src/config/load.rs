//! Merging the layers with figment, and turning figment's errors into
//! [`Problem`]s that name the key, the value and what is allowed.

use super::error::{shown, Problem};
use super::raw::RawConfig;
use super::{validate, Config, ConfigError, LogFormat};
use figment::error::{Actual, Kind};
use figment::providers::{Format, Serialized, Yaml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Prefix of the environment variables that set config keys.
pub const ENV_PREFIX: &str = "CTSYNC_";

/// Variables with the prefix that are not config keys: the `--config` flag's
/// own variable, and those of the test, demo and benchmark scripts
/// (`CTSYNC_TEST_MSSQL`, `CTSYNC_DEMO_KEEP`, ...). Every other `CTSYNC_*`
/// variable must name a config key, so a misspelt one is an error.
fn is_reserved(rest: &str) -> bool {
    rest == "CONFIG"
        || ["TEST_", "DEMO_", "BENCH_"]
            .iter()
            .any(|p| rest.starts_with(p))
}

/// The command-line layer: flags that, when given, win over every other
/// layer.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
}

/// Loads and validates the configuration: the YAML file at `path`, then the
/// `CTSYNC_*` environment, then `overrides`.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
    // `vars_os`, not `vars`: a non-UTF-8 variable elsewhere in the
    // environment must not stop (or crash) the agent.
    let env = std::env::vars_os().filter_map(|(k, v)| {
        let k = k.into_string().ok()?;
        k.starts_with(ENV_PREFIX).then_some((k, v))
    });
    let mut problems = Vec::new();
    let mut vars = Vec::new();
    for (name, value) in env {
        match value.into_string() {
            Ok(v) => vars.push((name, v)),
            Err(_) => problems.push(Problem {
                key: name.clone(),
                value: None,
                message: "the value is not valid UTF-8".to_string(),
                origin: Some(format!("environment variable {name}")),
            }),
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    load_with_env(path, vars, overrides)
}

/// [`load`] with the environment given explicitly (tests, and callers that
/// filtered it).
pub fn load_with_env(
    path: &Path,
    env: Vec<(String, String)>,
    overrides: &Overrides,
) -> Result<Config, ConfigError> {
    // figment treats a missing file as empty; an operator who mistyped the
    // path must hear about it instead.
    if let Err(source) = std::fs::metadata(path) {
        return Err(ConfigError::ReadFile {
            path: path.to_path_buf(),
            source,
        });
    }
    let env = EnvLayer::new(env)?;
    let figment = Figment::new()
        .merge(Yaml::file_exact(path))
        .merge(env)
        .merge(Flags(overrides.clone()));
    // Lossy: environment values are strings; "1433" must fill a number and
    // "true" a flag. Strings stay strings (a password "0123" keeps its zero).
    let raw: RawConfig = figment
        .extract_lossy()
        .map_err(|e| ConfigError::Invalid(from_figment(e)))?;
    validate::validate(raw).map_err(|mut problems| {
        // Say where each offending value came from (file, variable, flag).
        for p in problems.iter_mut().filter(|p| p.origin.is_none()) {
            p.origin = origin_of(&figment, &p.key);
        }
        ConfigError::Invalid(problems)
    })
}

/// Which layer supplied the value at `key` (`tables[1].references.x`):
/// figment's own lookup does not step into lists, so walk the merged value.
fn origin_of(figment: &Figment, key: &str) -> Option<String> {
    let dotted = key.replace('[', ".").replace(']', "");
    let segments: Vec<&str> = dotted.split('.').collect();
    let (first, rest) = segments.split_first()?;
    let mut value = figment.find_value(first).ok()?;
    for s in rest {
        value = match value {
            Value::Dict(_, d) => d.get(*s)?.clone(),
            Value::Array(_, a) => a.get(s.parse::<usize>().ok()?)?.clone(),
            _ => return None,
        };
    }
    let m = figment.get_metadata(value.tag())?;
    Some(match &m.source {
        Some(source) => source_text(source),
        None => m.interpolate(&Profile::Default, &segments),
    })
}

/// Where a value came from, for messages: a file by the path it was read
/// from (figment's own display makes it relative to the working directory,
/// which names a different file once the operator is elsewhere).
fn source_text(source: &figment::Source) -> String {
    match source {
        figment::Source::File(path) => path.display().to_string(),
        other => other.to_string(),
    }
}

/// The environment layer: `CTSYNC_SERVERS__A__PORT=1433` sets
/// `servers.a.port`. Values stay strings (see the lossy extraction above);
/// error messages name the variable.
struct EnvLayer {
    tree: BTreeMap<String, serde_json::Value>,
}

impl EnvLayer {
    fn new(vars: Vec<(String, String)>) -> Result<EnvLayer, ConfigError> {
        let mut tree = serde_json::Map::new();
        let mut problems = Vec::new();
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if is_reserved(rest) {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
            if path.iter().any(String::is_empty) {
                problems.push(Problem {
                    key: name.clone(),
                    value: None,
                    message: "empty key segment; nest keys with `__`, e.g. CTSYNC_SERVERS__A__PORT"
                        .to_string(),
                    origin: Some(format!("environment variable {name}")),
                });
                continue;
            }
            if !insert(&mut tree, &path, value) {
                problems.push(Problem {
                    key: path.join("."),
                    value: None,
                    message: "set both as a value and as a section by different variables"
                        .to_string(),
                    origin: Some(format!("environment variable {name}")),
                });
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        Ok(EnvLayer {
            tree: tree.into_iter().collect(),
        })
    }
}

/// Inserts `value` at `path`; false when the path crosses a leaf.
fn insert(
    map: &mut serde_json::Map<String, serde_json::Value>,
    path: &[String],
    value: String,
) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    if rest.is_empty() {
        if matches!(map.get(first), Some(serde_json::Value::Object(_))) {
            return false;
        }
        map.insert(first.clone(), serde_json::Value::String(value));
        return true;
    }
    let entry = map
        .entry(first.clone())
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    match entry {
        serde_json::Value::Object(inner) => insert(inner, rest, value),
        _ => false,
    }
}

impl Provider for EnvLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment").interpolater(|_: &Profile, keys: &[&str]| {
            format!(
                "environment variable {ENV_PREFIX}{}",
                keys.join("__").to_ascii_uppercase()
            )
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::defaults(&self.tree).data()
    }
}

/// The command-line layer, named so in error messages.
struct Flags(Overrides);

impl Provider for Flags {
    fn metadata(&self) -> Metadata {
        Metadata::named("command line").interpolater(|_: &Profile, keys: &[&str]| {
            format!("command-line flag --{}", keys.join("-").replace('_', "-"))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::defaults(&self.0).data()
    }
}

/// `["tables", "2", "force_id"]` → `tables[2].force_id`.
pub(super) fn key_path<S: AsRef<str>>(segments: &[S]) -> String {
    let mut out = String::new();
    for s in segments {
        let s = s.as_ref();
        if !out.is_empty() && s.parse::<usize>().is_ok() {
            out.push('[');
            out.push_str(s);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(s);
        }
    }
    out
}

fn actual(a: &Actual) -> String {
    match a {
        Actual::Str(s) => shown(s),
        Actual::Bool(b) => b.to_string(),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Signed(n) => n.to_string(),
        Actual::Float(n) => n.to_string(),
        Actual::Seq => "a list".to_string(),
        Actual::Map => "a map".to_string(),
        Actual::Unit | Actual::Option => "empty".to_string(),
        other => other.to_string(),
    }
}

/// serde's names of Rust types, in the operator's words.
fn plain(expected: &str) -> String {
    match expected {
        "u8" => "a whole number from 0 to 255".to_string(),
        "u16" => "a whole number from 0 to 65535".to_string(),
        "u32" => "a whole number from 0 to 4294967295".to_string(),
        "u64" | "usize" => "a whole number, 0 or more".to_string(),
        "a sequence" => "a list, e.g. [a, b]".to_string(),
        "a map" => "a map, e.g. { key: value }".to_string(),
        s if s.starts_with("struct ") => "a section of keys".to_string(),
        s if s.starts_with("enum ") => "one of the documented values".to_string(),
        other => other.to_string(),
    }
}

fn one_of(allowed: &[&str]) -> String {
    allowed
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// figment puts the field of an unknown-key error into the path itself, and
/// that of a missing-key error only into the kind: add it when absent.
fn push_field(path: &mut Vec<String>, field: &str) {
    if path.last().map(String::as_str) != Some(field) {
        path.push(field.to_string());
    }
}

fn from_figment(errors: figment::Error) -> Vec<Problem> {
    errors
        .into_iter()
        .map(|e| {
            let mut path = e.path.clone();
            let (value, message) = match &e.kind {
                Kind::UnknownField(field, allowed) => {
                    push_field(&mut path, field);
                    let message = if allowed.is_empty() {
                        "unknown key; this section takes no keys".to_string()
                    } else {
                        format!("unknown key; allowed here: {}", one_of(allowed))
                    };
                    (None, message)
                }
                Kind::MissingField(field) => {
                    push_field(&mut path, field);
                    (None, "missing; this key is required".to_string())
                }
                Kind::UnknownVariant(v, allowed) => (
                    Some(shown(v)),
                    format!("not an allowed value; allowed: {}", one_of(allowed)),
                ),
                Kind::InvalidType(a, expected) | Kind::InvalidValue(a, expected) => {
                    (Some(actual(a)), format!("expected {}", plain(expected)))
                }
                Kind::InvalidLength(n, expected) => {
                    (None, format!("has {n} elements; expected {expected}"))
                }
                Kind::DuplicateField(f) => {
                    push_field(&mut path, f);
                    (None, "given twice".to_string())
                }
                other => (None, other.to_string()),
            };
            let key = key_path(&path);
            // A password's value is never shown, even when it is the wrong
            // type.
            let value = if key.ends_with("password") {
                None
            } else {
                value
            };
            let origin = e.metadata.as_ref().map(|m| match &m.source {
                Some(source) => source_text(source),
                None => {
                    let profile = e.profile.clone().unwrap_or_default();
                    let keys: Vec<&str> = path.iter().map(String::as_str).collect();
                    m.interpolate(&profile, &keys)
                }
            });
            Problem {
                key,
                value,
                message,
                origin,
            }
        })
        .collect()
}
