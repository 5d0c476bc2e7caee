//! The running agent's control socket: how `ctsync inspect` and
//! `ctsync parked ...` reach an agent that holds the state store open (sled
//! locks the store for one process).
//!
//! Protocol: a Unix stream socket `ctsync.sock` in `state_dir`, readable and
//! writable by the agent's user only (mode 0600 from the moment it appears:
//! see `bind_private`). One request per connection:
//! the client writes one JSON line ([`Request`]), the agent answers one JSON
//! line ([`Reply`]) and closes. Requests are bounded ([`REQUEST_BYTES_MAX`]) and
//! each connection has a deadline, so a stuck client cannot hold the agent.
//!
//! No password crosses it. Row data crosses it only for `verify --repair`
//! (the row images of the corrective operations, as `inspect --queue`
//! shows queued ones).

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
    /// `ctsync verify`: the keys of `table` with queued or parked
    /// operations, per side's key space.
    QueuedKeys {
        table: String,
    },
    /// `ctsync verify`: keys of `table` on `direction`'s source as the
    /// applier translates them to its target.
    MapKeys {
        table: String,
        direction: crate::model::Direction,
        keys: Packed<Vec<Vec<crate::model::SqlValue>>>,
    },
    /// `ctsync verify --repair`: corrective operations appended to the
    /// queue of (`direction`, `table`) by its owner.
    Repair {
        table: String,
        direction: crate::model::Direction,
        ops: Packed<Vec<crate::model::Operation>>,
    },
}

/// Typed values carried as bincode in hex: keys and row images hold
/// decimals as i128, which JSON numbers (serde_json) do not carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Packed<T>(pub T);

impl<T: Serialize> Serialize for Packed<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bytes = bincode::serde::encode_to_vec(&self.0, bincode::config::standard())
            .map_err(serde::ser::Error::custom)?;
        let mut hex = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            hex.push_str(&format!("{b:02x}"));
        }
        s.serialize_str(&hex)
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Packed<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let hex = String::deserialize(d)?;
        if hex.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd number of hex digits"));
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| serde::de::Error::custom("not hex"))
            })
            .collect::<Result<Vec<u8>, D::Error>>()?;
        let (v, _) = bincode::serde::decode_from_slice(&bytes, bincode::config::standard())
            .map_err(serde::de::Error::custom)?;
        Ok(Packed(v))
    }
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
    let listener = bind_private(&path)
        .and_then(|l| {
            l.set_nonblocking(true)?;
            UnixListener::from_std(l)
        })
        .map_err(io)?;
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

/// The private directory the socket is bound in, in `state_dir` next to it.
/// "/.sock.tmp/s" is no longer than "/ctsync.sock": whenever the final path
/// fits a socket address (108 bytes), the bound one does too.
const BIND_DIR: &str = ".sock.tmp";

/// Binds the socket at `path` so that no other user can ever connect to it,
/// not even between `bind` and `chmod`: it is bound inside a directory of
/// mode 0700, made 0600 there, and only then renamed to `path` (a Unix
/// socket stays bound to its inode, so the listener follows the rename).
///
/// Not `umask(0o177)` around the bind: the umask is process-wide and the
/// agent's other threads run meanwhile (the control server starts alongside
/// the agent's loops; sled, exports and the logs create files), so a file or
/// directory created elsewhere in that window would get the wrong mode.
fn bind_private(path: &Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
    let parent = path.parent().unwrap_or(Path::new("."));
    let private = parent.join(BIND_DIR);
    // Left by a killed agent: we hold the store's lock, so no other agent
    // uses this state_dir; the stale directory can go.
    match std::fs::remove_dir_all(&private) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // `create_dir` fails on an existing entry, so the directory is ours; the
    // umask can only narrow 0700, and the chmod sets exactly that.
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let bound = private.join("s");
    let listener = std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700))
        .and_then(|()| std::os::unix::net::UnixListener::bind(&bound))
        .and_then(|listener| {
            std::fs::set_permissions(&bound, std::fs::Permissions::from_mode(0o600))?;
            // Replaces a socket left by a killed agent in one step.
            std::fs::rename(&bound, path)?;
            Ok(listener)
        });
    let _ = std::fs::remove_dir_all(&private);
    let listener = listener?;
    // Belt and braces: what clients reach is a socket of mode 0600.
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_socket() || meta.permissions().mode() & 0o777 != 0o600 {
        return Err(std::io::Error::other(format!(
            "the socket was bound with mode 0600 but is now {:o} (a {:?})",
            meta.permissions().mode() & 0o777,
            meta.file_type()
        )));
    }
    Ok(listener)
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

    #[test]
    fn packed_values_carry_decimals_through_json() {
        use crate::model::SqlValue;
        let keys = vec![vec![
            SqlValue::Decimal {
                value: i128::MAX,
                precision: 38,
                scale: 0,
            },
            SqlValue::String("k".into()),
        ]];
        let r = Request::MapKeys {
            table: "dbo.T".into(),
            direction: crate::model::Direction::AToB,
            keys: Packed(keys.clone()),
        };
        let text = serde_json::to_string(&r).expect("encode");
        let Request::MapKeys { keys: back, .. } = serde_json::from_str(&text).expect("decode")
        else {
            panic!("not MapKeys")
        };
        assert_eq!(back.0, keys);
        assert!(serde_json::from_str::<Packed<Vec<u8>>>("\"0g\"").is_err());
    }

    #[tokio::test]
    async fn socket_has_mode_0600_from_the_moment_it_appears() {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let dir = tempfile::tempdir().expect("tempdir");
        // What a killed agent can leave: a half-done bind.
        std::fs::create_dir(dir.path().join(BIND_DIR)).expect("mkdir");
        std::fs::write(dir.path().join(BIND_DIR).join("s"), b"").expect("write");

        let (tx, rx) = watch::channel(false);
        let handler = Arc::new(|_: Request| Reply::Ok(serde_json::json!("here")));
        let p = dir.path().to_path_buf();
        let server = tokio::spawn(async move { serve(&p, handler, rx).await });
        // Checked as soon as the path exists: never a moment with wider mode.
        let meta = loop {
            match std::fs::symlink_metadata(socket_path(dir.path())) {
                Ok(m) => break m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    assert!(!server.is_finished(), "serve ended before binding");
                    tokio::time::sleep(Duration::from_millis(1)).await
                }
                Err(e) => panic!("stat: {e}"),
            }
        };
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert!(
            !dir.path().join(BIND_DIR).exists(),
            "the private bind directory is gone"
        );
        // The listener follows the rename.
        let reply = ask(dir.path(), &Request::ParkedList { table: None })
            .await
            .expect("ask");
        assert!(matches!(reply, Some(Reply::Ok(_))), "{reply:?}");
        let _ = tx.send(true);
        server.await.expect("join").expect("serve");
    }

    #[tokio::test]
    async fn a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let stale = std::os::unix::net::UnixListener::bind(socket_path(dir.path())).expect("bind");
        drop(stale);
        let listener = bind_private(&socket_path(dir.path())).expect("bind over a stale socket");
        let _client =
            std::os::unix::net::UnixStream::connect(socket_path(dir.path())).expect("connect");
        let (_conn, _) = listener.accept().expect("accept");
    }
}
