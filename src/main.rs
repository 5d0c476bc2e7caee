//! ctsync: keeps tables of two SQL Server databases in sync through Change Tracking.
mod agent;
mod apply;
mod backoff;
mod capture;
mod cli;
mod commands;
mod config;
mod conflict;
mod control;
mod discover;
mod error;
mod export;
mod fault;
mod link;
mod load;
mod logging;
mod model;
mod monitor;
mod mssql;
mod schema;
mod store;
mod tls;
mod verify;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    agent::memory::limit_arenas();
    let cli = cli::Cli::parse();
    let config = match config::load(&cli.config, &cli.overrides()) {
        Ok(c) => c,
        Err(e) => return fail(&error::Error::Config(e)),
    };
    if let Err(e) = logging::init(&config.log_level, config.log_format) {
        return fail(&e);
    }
    tracing::debug!(config = %config.redacted(), "configuration loaded");
    match commands::execute(&cli, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &error::Error) -> ExitCode {
    eprintln!("ctsync: {}", error::report(e));
    ExitCode::from(e.exit_code())
}
