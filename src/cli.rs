//! The command line: parsing only. Each command's work lives with its module.

use crate::config::{LogFormat, Overrides};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "ctsync",
    version,
    about = "Keeps tables of two SQL Server databases in sync through Change Tracking",
    propagate_version = true
)]
pub struct Cli {
    /// The YAML configuration file.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "CTSYNC_CONFIG",
        default_value = "config.yaml"
    )]
    pub config: PathBuf,
    /// Directory of the state store (overrides `state_dir`).
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Log line format (overrides `log_format`).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `info,ctsync=debug` (overrides `log_level`).
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The flags that form the last config layer.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            state_dir: self.state_dir.clone(),
            log_format: self.log_format,
            log_level: self.log_level.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent until SIGINT/SIGTERM.
    Run,
    /// Check config, connectivity, tables, keys, permissions and Change
    /// Tracking; print what is wrong and how to fix it; exit non-zero on any
    /// problem.
    Check,
    /// Show per table and direction the watermark, queue, parked operations,
    /// mappings, last times and errors (asks the running agent, or opens the
    /// store when it is stopped).
    Inspect(InspectArgs),
    /// List, retry or drop parked operations.
    Parked {
        #[command(subcommand)]
        action: ParkedCommand,
    },
    /// List, show, resolve or purge the recorded conflicts of two-way tables
    /// (the same row changed on both sides).
    Conflicts {
        #[command(subcommand)]
        action: ConflictsCommand,
    },
    /// Load a table again from its source (both directions unless one is
    /// named), superseding what is queued: the way out of `stopped` once the
    /// cause is fixed. Asks the running agent, or marks it in the store for
    /// the next start.
    Reinit(ReinitArgs),
    /// Read a server's schema and print a `tables:` section for config.yaml.
    Discover(DiscoverArgs),
    /// One-shot sync for cron-style runs. With `targets.csv` configured it
    /// runs the CSV export instead (exactly like `ctsync export`).
    Sync(SyncArgs),
    /// One CSV export pass (`targets.csv`): every configured table (or the
    /// `--table` ones) of `targets.csv.source` into a file each under
    /// `targets.csv.directory`, per its `mode` (full, incremental,
    /// full_incremental), `targets.csv.max_workers` tables at a time; exits
    /// non-zero naming each table that failed. For cron-style runs
    /// (`ctsync run` refuses a CSV target).
    Export(ExportArgs),
    /// Compare both sides of every configured table (or `--table`) by
    /// hashes the servers compute, and list the keys missing on either side
    /// and the rows that differ; keys queued and not applied yet are shown
    /// as in flight. Exit 0: equal, 1: differences, 2: could not verify.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Only this table (`schema.name`).
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    /// Machine-readable output, with both row images of each difference.
    #[arg(long)]
    pub json: bool,
    /// Queue corrective operations through the normal queues (a_to_b
    /// tables from a's rows, b_to_a from b's, both-way tables as their
    /// conflict policy decides); the running agent applies them, or the
    /// next run.
    #[arg(long)]
    pub repair: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DirectionArg {
    #[value(name = "a_to_b")]
    AToB,
    #[value(name = "b_to_a")]
    BToA,
}

impl DirectionArg {
    pub fn direction(self) -> crate::model::Direction {
        match self {
            DirectionArg::AToB => crate::model::Direction::AToB,
            DirectionArg::BToA => crate::model::Direction::BToA,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SideArg {
    A,
    B,
}

impl SideArg {
    pub fn side(self) -> crate::model::Side {
        match self {
            SideArg::A => crate::model::Side::A,
            SideArg::B => crate::model::Side::B,
        }
    }
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Only this table (`schema.name`).
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    /// Only this direction.
    #[arg(long, value_enum)]
    pub direction: Option<DirectionArg>,
    /// List the table's queued and parked operations.
    #[arg(long, requires = "table", conflicts_with = "key")]
    pub queue: bool,
    /// Show the mapping of this key (comma-separated for composite keys).
    #[arg(long, value_name = "KEY", requires = "table")]
    pub key: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReinitArgs {
    /// The table (`schema.name`).
    #[arg(long, value_name = "TABLE")]
    pub table: String,
    /// Only this direction (default: every configured direction of the table).
    #[arg(long, value_enum)]
    pub direction: Option<DirectionArg>,
}

#[derive(Debug, Subcommand)]
pub enum ParkedCommand {
    /// List parked operations with their errors.
    List(ParkedFilter),
    /// Put parked operations back at the head of their queue.
    Retry(ParkedTarget),
    /// Delete parked operations for good.
    Drop(ParkedTarget),
}

#[derive(Debug, Args)]
pub struct ParkedFilter {
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    #[arg(long, value_enum)]
    pub direction: Option<DirectionArg>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["id", "all"]))]
pub struct ParkedTarget {
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    #[arg(long, value_enum)]
    pub direction: Option<DirectionArg>,
    /// The parked operation's id, as `parked list` shows it.
    #[arg(value_name = "ID")]
    pub id: Option<u64>,
    /// Every parked operation (of `--table`/`--direction` when given).
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConflictsCommand {
    /// List recorded conflicts, oldest first.
    List {
        #[arg(long, value_name = "TABLE")]
        table: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one conflict whole: both row images, versions, policy, outcome.
    Show {
        #[arg(value_name = "ID")]
        id: u64,
        #[arg(long)]
        json: bool,
    },
    /// Settle a parked conflict: the kept side's row ends on both sides.
    Resolve {
        #[arg(value_name = "ID")]
        id: u64,
        #[arg(long, value_enum)]
        keep: SideArg,
    },
    /// Delete settled conflict records older than DURATION (e.g. 30d, 12h,
    /// 45m, 90s); parked ones stay until resolved.
    Purge {
        #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
        older_than: u64,
    },
}

/// `30d`, `12h`, `45m`, `90s` (or plain seconds) as milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; use e.g. 30d, 12h, 45m or 90s"))?;
    let per = match unit {
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text:?}: unknown unit {unit:?}; use d, h, m or s")),
    };
    n.checked_mul(per)
        .ok_or_else(|| format!("{text:?} is too long a duration"))
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// The server whose schema is read.
    #[arg(long, value_enum, default_value = "a")]
    pub server: SideArg,
    /// Only tables matching this pattern (`schema.table`, `*` wildcards);
    /// repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub include: Vec<String>,
    /// Leave out tables matching this pattern; repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Write the `tables:` section into the --config file, keeping its other
    /// keys and comments, instead of printing it.
    #[arg(long)]
    pub write: bool,
    /// Write this `direction:` for every listed table (default: none
    /// written, which means a_to_b).
    #[arg(long, value_parser = ["a_to_b", "b_to_a", "both"])]
    pub direction: Option<String>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Do the initial load if needed, drain all changes up to the current
    /// version, and exit (the only mode; required for clarity).
    #[arg(long, required = true)]
    pub once: bool,
    /// Only these tables; repeatable (default: all).
    #[arg(long, value_name = "TABLE")]
    pub table: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only these tables (`schema.name`); repeatable (default: all).
    #[arg(long, value_name = "TABLE")]
    pub table: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("ctsync").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_after_the_subcommand() {
        let c = parse(&[
            "run",
            "--config",
            "x.yaml",
            "--state-dir",
            "/s",
            "--log-format",
            "json",
            "--log-level",
            "debug",
        ])
        .unwrap();
        assert!(matches!(c.command, Command::Run));
        assert_eq!(c.config, PathBuf::from("x.yaml"));
        let o = c.overrides();
        assert_eq!(o.state_dir, Some(PathBuf::from("/s")));
        assert_eq!(o.log_format, Some(LogFormat::Json));
        assert_eq!(o.log_level.as_deref(), Some("debug"));
        assert!(parse(&["run", "--log-format", "xml"]).is_err());
    }

    #[test]
    fn inspect_options() {
        let c = parse(&["inspect", "--json", "--table", "dbo.Users", "--queue"]).unwrap();
        let Command::Inspect(a) = c.command else {
            panic!("not inspect")
        };
        assert!(a.json && a.queue);
        assert_eq!(a.table.as_deref(), Some("dbo.Users"));
        assert!(
            parse(&["inspect", "--queue"]).is_err(),
            "--queue needs --table"
        );
        let c = parse(&["inspect", "--table", "t", "--key", "1,2"]).unwrap();
        let Command::Inspect(a) = c.command else {
            panic!("not inspect")
        };
        assert_eq!(a.key.as_deref(), Some("1,2"));
    }

    #[test]
    fn conflicts_commands_and_durations() {
        let c = parse(&["conflicts", "resolve", "7", "--keep", "b"]).unwrap();
        assert!(matches!(
            c.command,
            Command::Conflicts {
                action: ConflictsCommand::Resolve {
                    id: 7,
                    keep: SideArg::B
                }
            }
        ));
        assert!(parse(&["conflicts", "resolve", "7"]).is_err());
        let c = parse(&["conflicts", "purge", "--older-than", "2d"]).unwrap();
        assert!(matches!(
            c.command,
            Command::Conflicts {
                action: ConflictsCommand::Purge {
                    older_than: 172_800_000
                }
            }
        ));
        assert_eq!(parse_duration_ms("90"), Ok(90_000));
        assert!(parse_duration_ms("3w").is_err());
        assert!(parse_duration_ms("x").is_err());
    }

    #[test]
    fn verify_options() {
        let c = parse(&["verify", "--table", "dbo.T", "--json", "--repair"]).unwrap();
        let Command::Verify(v) = c.command else {
            panic!("not verify")
        };
        assert_eq!(v.table.as_deref(), Some("dbo.T"));
        assert!(v.json && v.repair);
        let Command::Verify(v) = parse(&["verify"]).unwrap().command else {
            panic!("not verify")
        };
        assert!(v.table.is_none() && !v.json && !v.repair);
    }

    #[test]
    fn parked_commands() {
        let c = parse(&["parked", "retry", "--table", "dbo.Users", "42"]).unwrap();
        let Command::Parked {
            action: ParkedCommand::Retry(t),
        } = c.command
        else {
            panic!("not parked retry")
        };
        assert_eq!((t.id, t.all), (Some(42), false));
        let c = parse(&["parked", "drop", "--all"]).unwrap();
        assert!(matches!(
            c.command,
            Command::Parked {
                action: ParkedCommand::Drop(ParkedTarget { all: true, .. })
            }
        ));
        assert!(
            parse(&["parked", "drop"]).is_err(),
            "ID or --all is required"
        );
        assert!(parse(&["parked", "drop", "7", "--all"]).is_err());
        assert!(parse(&["parked", "list", "--direction", "b_to_a"]).is_ok());
    }

    #[test]
    fn sync_needs_once_and_discover_defaults_to_a() {
        assert!(parse(&["sync"]).is_err());
        assert!(matches!(
            parse(&["sync", "--once"]).unwrap().command,
            Command::Sync(SyncArgs { once: true, .. })
        ));
        let Command::Discover(d) = parse(&["discover"]).unwrap().command else {
            panic!("not discover")
        };
        assert_eq!(d.server, SideArg::A);
        assert!(!d.write);
        assert!(d.direction.is_none());
        let Command::Discover(d) = parse(&[
            "discover",
            "--server",
            "b",
            "--include",
            "Sales.*",
            "--include",
            "dbo.Users",
            "--exclude",
            "*_old",
            "--write",
            "--direction",
            "both",
        ])
        .unwrap()
        .command
        else {
            panic!("not discover")
        };
        assert_eq!(d.server, SideArg::B);
        assert_eq!(d.include, vec!["Sales.*", "dbo.Users"]);
        assert_eq!(d.exclude, vec!["*_old"]);
        assert!(d.write);
        assert_eq!(d.direction.as_deref(), Some("both"));
        assert!(parse(&["discover", "--direction", "sideways"]).is_err());
    }
}
