//! The endpoint's HTTP server: hyper (HTTP/1.1), one request per
//! connection, bounded in every way a client could hold it: at most
//! [`CONNECTIONS_MAX`] connections at once (more are closed at accept),
//! request headers within [`HEADER_READ_TIMEOUT`] and at most
//! [`REQUEST_BUF_BYTES`], the whole exchange within
//! [`CONNECTION_DEADLINE`]. Only `GET` (or `HEAD`) of `/metrics` and
//! `/health` (and `/`, which names them) are answered.

use super::{health, metrics, snapshot};
use crate::agent::Shared;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// Connections served at once; Prometheus and a health checker need a few.
pub const CONNECTIONS_MAX: usize = 32;
/// A client must send its request headers within this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection is closed after this, answered or not.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(15);
/// hyper's read buffer (its minimum): the longest request head accepted.
pub const REQUEST_BUF_BYTES: usize = 8 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("metrics.listen {addr}: cannot listen: {source}; {hint}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
        hint: &'static str,
    },
}

fn listen_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "another process (another ctsync agent?) listens on this port: stop it, or set metrics.listen to a free port"
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "this host has no such address: use 127.0.0.1:PORT, 0.0.0.0:PORT or one of the host's own addresses in metrics.listen"
        }
        std::io::ErrorKind::PermissionDenied => {
            "ports below 1024 need privileges: set metrics.listen to a port above 1023"
        }
        _ => "check metrics.listen (IP:PORT of this host)",
    }
}

/// Starts the endpoint when `metrics.listen` is set: binds now (a port in
/// use is an error here, before the agent starts), then serves until
/// `shutdown` turns true.
pub async fn start(
    shared: &Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), MonitorError> {
    let Some(m) = &shared.config.metrics else {
        return Ok(());
    };
    let addr = m.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| MonitorError::Listen {
            addr,
            hint: listen_hint(&source),
            source,
        })?;
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!(listen = %bound, "serving /metrics and /health");
    tokio::spawn(serve(listener, shared.clone(), shutdown));
    Ok(())
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    let mut accept_failing = false;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let accepted = tokio::select! {
            // A closed channel: no one can ask for a shutdown any more,
            // the agent is gone.
            changed = shutdown.changed() => match changed {
                Ok(()) => continue,
                Err(_) => break,
            },
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                accept_failing = false;
                stream
            }
            Err(e) => {
                // Out of file descriptors and the like: logged once per
                // streak, tried again shortly.
                if !accept_failing {
                    tracing::warn!(error = %e, "metrics endpoint: accepting a connection failed");
                    accept_failing = true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(
                connections_max = CONNECTIONS_MAX,
                "metrics endpoint: too many connections; one closed"
            );
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| answer(shared.clone(), req));
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(false)
                .max_buf_size(REQUEST_BUF_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(CONNECTION_DEADLINE, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "metrics endpoint: connection failed"),
                Err(_) => tracing::debug!("metrics endpoint: connection closed at its deadline"),
            }
        });
    }
    tracing::debug!("metrics endpoint stopped");
}

fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

async fn answer(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    // HEAD as GET: hyper sends the headers without the body.
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "only GET and HEAD are answered\n",
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(r);
    }
    let path = req.uri().path().to_string();
    let r = match path.as_str() {
        "/metrics" | "/health" => {
            let health = path == "/health";
            // The snapshot reads the store: off the async workers.
            let taken = tokio::task::spawn_blocking(move || {
                let s = snapshot::take(&shared).map_err(|e| e.to_string())?;
                if health {
                    let (ok, body) = health::report(&s);
                    let status = if ok {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    Ok((status, JSON, body.to_string()))
                } else {
                    metrics::render(s)
                        .map(|text| (StatusCode::OK, metrics::CONTENT_TYPE, text))
                        .map_err(|e| format!("encoding the metrics: {e}"))
                }
            })
            .await
            .unwrap_or_else(|e| Err(format!("the request failed inside the agent: {e}")));
            match taken {
                Ok((status, content_type, body)) => reply(status, content_type, body),
                Err(e) => {
                    tracing::warn!(path = %path, error = %e, "metrics endpoint: reading the state failed");
                    let body = if health {
                        serde_json::json!({ "status": "unhealthy", "problems": [format!("reading the state store failed: {e}")] }).to_string()
                    } else {
                        format!("reading the state store failed: {e}\n")
                    };
                    match health {
                        true => reply(StatusCode::SERVICE_UNAVAILABLE, JSON, body),
                        false => reply(StatusCode::INTERNAL_SERVER_ERROR, TEXT, body),
                    }
                }
            }
        }
        "/" => reply(
            StatusCode::OK,
            TEXT,
            "ctsync: GET /metrics (Prometheus text format), GET /health (JSON; 200 healthy, 503 not)\n",
        ),
        _ => reply(StatusCode::NOT_FOUND, TEXT, "not found: GET /metrics or /health\n"),
    };
    Ok(r)
}
