//! The listener, connections and test controls of the stand-in.
use std::net::SocketAddr;
use std::path::PathBuf;

/// How to start a stand-in.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub listen: SocketAddr,
    pub database: String,
    pub user: String,
    pub password: String,
    pub data_file: Option<PathBuf>,
    pub log_statements: Option<PathBuf>,
}

/// A running stand-in.
pub struct SimServer {
    _private: (),
}
