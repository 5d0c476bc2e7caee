//! The commands of the binary, each a thin layer over the domain modules:
//! `run` ([`run`]), `inspect` and `parked` ([`inspect`], answered by
//! [`report`] in the agent or from the store), `check` ([`check`]),
//! `discover` ([`discover`]), `verify` ([`verify`]).

pub mod check;
pub mod conflicts;
pub mod discover;
pub mod export;
pub mod inspect;
pub mod report;
pub mod run;
pub mod sync_once;
pub mod verify;

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::error::Error;

/// Runs the command of `cli` to completion on a Tokio runtime.
pub fn execute(cli: &Cli, config: Config) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ctsync")
        .build()
        .map_err(|source| Error::Io {
            context: "starting the async runtime".into(),
            source,
        })?;
    // Only an export may run with one server configured (validation allows
    // leaving out the other only then); `discover` needs the one it reads.
    match &cli.command {
        // `inspect` of an export shows its export watermarks.
        Command::Export(_) | Command::Inspect(_) if config.targets.csv.is_some() => {}
        Command::Export(_) => {}
        // `run` refuses a CSV target itself, pointing at `export`.
        Command::Sync(_) | Command::Run if config.targets.csv.is_some() => {}
        Command::Discover(args) => config
            .require_server(args.server.side())
            .map_err(Error::Failed)?,
        _ => config.require_servers().map_err(Error::Failed)?,
    }
    runtime.block_on(async move {
        match &cli.command {
            Command::Run => run::run(config).await,
            Command::Check => check::check(&config).await,
            Command::Inspect(args) => inspect::inspect(&config, args).await,
            Command::Parked { action } => inspect::parked(&config, action).await,
            Command::Conflicts { action } => conflicts::conflicts(&config, action).await,
            Command::Reinit(args) => inspect::reinit(&config, args).await,
            // With a CSV target, a one-shot run is the export.
            Command::Sync(args) if config.targets.csv.is_some() => {
                export::run(config, &args.table).await
            }
            Command::Sync(args) => sync_once::run(config, args).await,
            Command::Export(args) => export::run(config, &args.table).await,
            Command::Verify(args) => verify::verify(&config, args).await,
            Command::Discover(args) => {
                discover::discover(&config, args, &cli.config, &cli.overrides()).await
            }
        }
    })
}
