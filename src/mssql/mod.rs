//! Everything ctsync says to SQL Server: connections, T-SQL text (only in
//! [`statements`]), identifier quoting and value conversion. Capture, queue and
//! apply speak typed operations ([`crate::model`]) and call into here.

pub mod discover_sql;
pub mod ident;
pub mod load_sql;
pub mod statements;
pub mod value;

use tiberius::Client;
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

/// A connection to one server.
pub type Connection = Client<Compat<TcpStream>>;

/// Connects and logs in. The TCP connect is bounded by `timeout`.
pub async fn connect(
    config: tiberius::Config,
    timeout: std::time::Duration,
) -> Result<Connection, tiberius::error::Error> {
    let addr = config.get_addr();
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| tiberius::error::Error::Io {
            kind: std::io::ErrorKind::TimedOut,
            message: format!("connecting timed out after {} ms", timeout.as_millis()),
        })??;
    tcp.set_nodelay(true)?;
    tokio::time::timeout(timeout, Client::connect(config, tcp.compat_write()))
        .await
        .map_err(|_| tiberius::error::Error::Io {
            kind: std::io::ErrorKind::TimedOut,
            message: format!("login timed out after {} ms", timeout.as_millis()),
        })?
}
