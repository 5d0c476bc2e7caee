//! Everything ctsync says to SQL Server: connections, T-SQL text (only in
//! [`statements`]), identifier quoting and value conversion. Capture, queue and
//! apply speak typed operations ([`crate::model`]) and call into here.

pub mod capture_sql;
pub mod catalog_sql;
pub mod check_sql;
pub mod discover_sql;
pub mod ident;
pub mod load_sql;
pub mod schema_sql;
pub mod statements;
pub mod value;
pub mod verify_sql;

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

/// Failures of [`read_max_key`].
#[derive(Debug, thiserror::Error)]
pub enum MaxKeyError {
    #[error(transparent)]
    Sql(#[from] tiberius::error::Error),
    #[error(transparent)]
    Identifier(#[from] ident::IdentError),
    #[error(transparent)]
    Unsupported(#[from] value::UnsupportedType),
}

/// The largest key of a table ([`statements::max_key`]); `None` when it is
/// empty. Inside a snapshot when the caller opened one.
pub async fn read_max_key(
    conn: &mut Connection,
    shape: &statements::TableShape,
) -> Result<Option<Vec<crate::model::SqlValue>>, MaxKeyError> {
    let text = statements::max_key(shape)?;
    let Some(row) = conn.simple_query(text).await?.into_row().await? else {
        return Ok(None);
    };
    let mut key = Vec::new();
    for data in row.into_iter() {
        let v = value::from_column(data)?;
        if matches!(v, crate::model::SqlValue::Null) {
            return Ok(None);
        }
        key.push(v);
    }
    Ok(Some(key))
}
