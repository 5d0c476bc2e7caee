//! ctsync: keeps tables of two SQL Server databases in sync through Change Tracking.
mod apply;
mod backoff;
mod capture;
// Parsed here; the commands' bodies are wired by the agent.
#[allow(dead_code)]
mod cli;
// Used by the agent modules, which are wired separately.
#[allow(dead_code)]
mod config;
#[allow(dead_code)]
mod control;
#[allow(dead_code)]
mod error;
mod link;
#[allow(dead_code)]
mod logging;
mod model;
mod mssql;
#[allow(dead_code)]
mod store;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let config = match config::load(&cli.config, &cli.overrides()) {
        Ok(c) => c,
        Err(e) => return fail(&error::Error::Config(e)),
    };
    if let Err(e) = logging::init(&config.log_level, config.log_format) {
        return fail(&e);
    }
    tracing::debug!(config = %config.redacted(), "configuration loaded");
    eprintln!("ctsync: the agent is not wired yet; the configuration is valid");
    ExitCode::from(2)
}

fn fail(e: &error::Error) -> ExitCode {
    eprintln!("ctsync: {}", error::report(e));
    ExitCode::from(e.exit_code())
}
