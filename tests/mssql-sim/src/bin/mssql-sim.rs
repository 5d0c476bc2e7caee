//! `mssql-sim`: the SQL Server stand-in as a process, for scripts and
//! clients in other languages.
//!
//! Prints `listening on ADDR` once ready; SIGTERM or SIGINT stops it cleanly
//! (open transactions roll back, the data file stays consistent), exit 0.

use clap::Parser;
use mssql_sim::{SimConfig, SimServer, TlsConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "A SQL Server stand-in that speaks TDS (for tests only)"
)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:1433")]
    listen: SocketAddr,
    /// The one database clients log in to.
    #[arg(long)]
    database: String,
    /// The login name.
    #[arg(long, default_value = "sa")]
    user: String,
    /// The login's password (or MSSQL_SIM_PASSWORD).
    #[arg(long, env = "MSSQL_SIM_PASSWORD", hide_env_values = true)]
    password: String,
    /// Keep the data in this SQLite file (kept across restarts); in memory
    /// when absent.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Append every statement received to this file.
    #[arg(long)]
    log_statements: Option<PathBuf>,
    /// The server certificate (PEM, chain with the server's first): with
    /// --tls-key, PRELOGIN offers encryption and TDS 8.0 strict is accepted.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Like SQL Server's Force Encryption: every connection is encrypted and
    /// a client that does not support encryption is refused.
    #[arg(long, requires = "tls_cert")]
    force_encryption: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let signals = match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mssql-sim: cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    let mut config = SimConfig::new(&args.database, &args.user, &args.password);
    config.listen = args.listen;
    config.data_file = args.data;
    config.log_statements = args.log_statements;
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        let mut tls = TlsConfig::new(cert, key);
        tls.force_encryption = args.force_encryption;
        config.tls = Some(tls);
    }
    let server = match SimServer::start(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mssql-sim: {e}");
            return ExitCode::from(1);
        }
    };
    println!("listening on {}", server.addr());
    let mut signals = signals;
    // Blocks until the first SIGTERM/SIGINT.
    let _ = signals.forever().next();
    server.stop();
    ExitCode::SUCCESS
}
