//! The running agent's control socket: how `ctsync inspect` and
//! `ctsync parked ...` reach an agent that holds the state store open (sled
//! locks the store for one process).
//!
//! Protocol: a Unix stream socket `ctsync.sock` in `state_dir`, readable and
//! writable by the agent's user only (mode 0600). One request per connection:
//! the client writes one JSON line ([`Request`]), the agent answers one JSON
//! line ([`Reply`]) and closes. Requests are bounded ([`REQUEST_BYTES_MAX`]) and
//! each connection has a deadline, so a stuck client cannot hold the agent.
//!
//! No password or row data beyond what `inspect` shows ever crosses it.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

/// Longest request line accepted.
pub const REQUEST_BYTES_MAX: u64 = 64 * 1024;
/// Longest reply a client reads (a queue listing is paged below this).
pub const REPLY_BYTES_MAX: u64 = 64 * 1024 * 1024;
const DEADLINE: Duration = Duration::from_secs(10);

pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("ctsync.sock")
}

/// What a client asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    Inspect {
        table: Option<String>,
        queue: bool,
        key: Option<String>,
    },
    ParkedList {
        table: Option<String>,
    },
    ParkedRetry {
        table: Option<String>,
        id: Option<u64>,
        all: bool,
    },
    ParkedDrop {
        table: Option<String>,
        id: Option<u64>,
        all: bool,
    },
    ConflictsList {
        table: Option<String>,
    },
    ConflictShow {
        id: u64,
    },
    ConflictResolve {
        id: u64,
        keep: crate::model::Side,
    },
    ConflictsPurge {
        older_than_ms: u64,
    },
    /// Load the table again from its source (both directions unless one is
    /// named): the way out of `stopped`, or a fresh start on request.
    Reinit {
        table: String,
        direction: Option<crate::model::Direction>,
    },
}

/// The agent's answer: a JSON document, or an error message for the operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Ok(serde_json::Value),
    Error(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("control socket {path}: the agent's answer is not valid: {source}")]
    Decode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "control socket {path}: the agent did not answer within {0:?}",
        DEADLINE
    )]
    Timeout { path: PathBuf },
}

/// Asks a running agent. `Ok(None)`: no agent listens (the socket is missing or
/// stale), so the caller opens the store itself.
pub async fn ask(state_dir: &Path, request: &Request) -> Result<Option<Reply>, ControlError> {
    let path = socket_path(state_dir);
    let io = |source| ControlError::Io {
        path: path.clone(),
        source,
    };
    let mut stream = match UnixStream::connect(&path).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(io(e)),
    };
    let exchange = async {
        let mut line = serde_json::to_vec(request).map_err(|source| ControlError::Decode {
            path: path.clone(),
            source,
        })?;
        line.push(b'\n');
        stream.write_all(&line).await.map_err(io)?;
        let mut reader = BufReader::new(stream).take(REPLY_BYTES_MAX);
        let mut answer = String::new();
        reader.read_line(&mut answer).await.map_err(io)?;
        serde_json::from_str::<Reply>(&answer).map_err(|source| ControlError::Decode {
            path: path.clone(),
            source,
        })
    };
    match tokio::time::timeout(DEADLINE, exchange).await {
        Ok(r) => r.map(Some),
        Err(_) => Err(ControlError::Timeout { path: path.clone() }),
    }
}

/// Serves requests until `shutdown` turns true; removes the socket on exit.
/// `handle` runs on a blocking thread (it reads the store).
pub async fn serve<H>(
    state_dir: &Path,
    handle: Arc<H>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ControlError>
where
    H: Fn(Request) -> Reply + Send + Sync + 'static,
{
    let path = socket_path(state_dir);
    let io = |source| ControlError::Io {
        path: path.clone(),
        source,
    };
    // A socket left by a killed agent: we hold the store's lock, so no other
    // agent uses this state_dir; the stale file can go.
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let listener = UnixListener::bind(&path).map_err(io)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let handle = handle.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(DEADLINE, answer(stream, handle)).await;
                });
            }
        }
        if *shutdown.borrow() {
            break;
        }
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

async fn answer<H>(stream: UnixStream, handle: Arc<H>) -> std::io::Result<()>
where
    H: Fn(Request) -> Reply + Send + Sync + 'static,
{
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read).take(REQUEST_BYTES_MAX);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(request) => tokio::task::spawn_blocking(move || handle(request))
            .await
            .unwrap_or_else(|e| Reply::Error(format!("the request failed inside the agent: {e}"))),
        Err(e) => Reply::Error(format!("not a control request: {e}")),
    };
    let mut out =
        serde_json::to_vec(&reply).unwrap_or_else(|_| b"{\"error\":\"encoding\"}".to_vec());
    out.push(b'\n');
    write.write_all(&out).await?;
    write.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn request_and_reply_round_trip_and_missing_agent_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let none = ask(dir.path(), &Request::ParkedList { table: None }).await;
        assert!(matches!(none, Ok(None)));

        let (tx, rx) = watch::channel(false);
        let handler = Arc::new(|r: Request| match r {
            Request::ParkedList { table } => Reply::Ok(serde_json::json!({ "table": table })),
            _ => Reply::Error("no".into()),
        });
        let p = dir.path().to_path_buf();
        let server = tokio::spawn(async move { serve(&p, handler, rx).await });
        // Wait for the socket to appear.
        for _ in 0..100 {
            if socket_path(dir.path()).exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let reply = ask(
            dir.path(),
            &Request::ParkedList {
                table: Some("dbo.T".into()),
            },
        )
        .await
        .expect("ask");
        match reply {
            Some(Reply::Ok(v)) => assert_eq!(v["table"], "dbo.T"),
            other => panic!("unexpected {other:?}"),
        }
        let reply = ask(
            dir.path(),
            &Request::ParkedDrop {
                table: None,
                id: Some(1),
                all: false,
            },
        )
        .await
        .expect("ask");
        assert!(matches!(reply, Some(Reply::Error(_))));
        let _ = tx.send(true);
        server.await.expect("join").expect("serve");
        assert!(!socket_path(dir.path()).exists(), "socket removed on exit");
    }
}
