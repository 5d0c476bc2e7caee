//! TDS encryption on the server side (MS-TDS 2.2.6.5 PRELOGIN, 3.3.5.2
//! "TLS/SSL Negotiation State", and TDS 8.0 "strict"), with rustls driven
//! synchronously on the connection's thread.
//!
//! - TDS 7.x: after a clear-text PRELOGIN exchange that settles on
//!   encryption, the TLS handshake records travel as the payload of PRELOGIN
//!   (0x12) packets, in both directions; once it completes, TLS records go
//!   straight on the TCP stream and the TDS packets travel inside them. When
//!   only the login is encrypted (both sides said ENCRYPT_OFF), the LOGIN7
//!   packet is the only one read through TLS; everything after it is clear
//!   text again (MS-TDS 2.2.6.5: "only the login packet is encrypted").
//! - TDS 8.0 strict (docs/relational-databases/security/networking/tds-8.md):
//!   the client opens with a TLS ClientHello (ALPN `tds/8.0`) before any TDS
//!   byte; PRELOGIN and everything after travel inside TLS.
//!
//! SQL Server negotiates TLS 1.3 only for TDS 8.0 connections; TDS 7.x
//! connections use TLS 1.2 (docs/database-engine/configure-windows/
//! tls-1-3-support.md). The stand-in does the same.

use crate::tds::packet::{write_packets, PacketReader, DEFAULT_PACKET_SIZE, PT_PRELOGIN};
use crate::tds::TdsError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

/// The ALPN protocol of TDS 8.0.
pub const TDS8_ALPN: &[u8] = b"tds/8.0";

/// The first byte of a TLS handshake record: a TDS 8.0 client opens with
/// one (a TDS 7.x client opens with a PRELOGIN packet, type 0x12).
pub const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// A server certificate and key (PEM files), and whether encryption is
/// forced (SQL Server's "Force Encryption",
/// docs/database-engine/configure-windows/configure-sql-server-encryption.md).
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// The certificate chain, server certificate first.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Refuse clients that do not support encryption; encrypt every
    /// connection that does.
    pub force_encryption: bool,
}

impl TlsConfig {
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> TlsConfig {
        TlsConfig {
            cert: cert.into(),
            key: key.into(),
            force_encryption: false,
        }
    }
}

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read the TLS certificate {}: {reason}", path.display())]
    Cert { path: PathBuf, reason: String },
    #[error("cannot read the TLS key {}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    #[error("the TLS certificate and key do not make a server configuration: {0}")]
    Config(rustls::Error),
}

/// The loaded TLS settings of a running stand-in.
pub(crate) struct Tls {
    /// TDS 7.x: TLS 1.2, the handshake inside PRELOGIN packets.
    pub prelogin: Arc<ServerConfig>,
    /// TDS 8.0: TLS 1.2 or 1.3, ALPN `tds/8.0`.
    pub strict: Arc<ServerConfig>,
    pub forced: bool,
}

impl Tls {
    pub fn load(cfg: &TlsConfig) -> Result<Tls, TlsSetupError> {
        let certs = read_certs(&cfg.cert)?;
        let key = read_key(&cfg.key)?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let prelogin = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .map_err(TlsSetupError::Config)?
            .with_no_client_auth()
            .with_single_cert(certs.clone(), key.clone_key())
            .map_err(TlsSetupError::Config)?;
        let mut strict = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(TlsSetupError::Config)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(TlsSetupError::Config)?;
        strict.alpn_protocols = vec![TDS8_ALPN.to_vec()];
        Ok(Tls {
            prelogin: Arc::new(prelogin),
            strict: Arc::new(strict),
            forced: cfg.force_encryption,
        })
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let err = |reason: String| TlsSetupError::Cert {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(format!("not a PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(err("no CERTIFICATE block in the file".into()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    let pem = std::fs::read(path).map_err(|e| TlsSetupError::Key {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsSetupError::Key {
        path: path.to_path_buf(),
        reason: format!("not a PEM private key: {e}"),
    })
}

/// The TCP stream, with bytes already read from it (by a buffered reader,
/// before TLS began) served first.
pub(crate) struct Prefixed {
    head: Vec<u8>,
    pos: usize,
    tcp: TcpStream,
}

impl Read for Prefixed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.head.len() {
            let n = (self.head.len() - self.pos).min(buf.len());
            buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.tcp.read(buf)
    }
}

impl Write for Prefixed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

enum Inner {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, Prefixed>>),
    /// Only while switching.
    Gone,
}

/// A connection's byte stream, clear or TLS, shared by its buffered reader
/// and writer (one thread per connection, so no lock).
#[derive(Clone)]
pub(crate) struct Transport(Rc<RefCell<Inner>>);

impl Transport {
    pub fn plain(tcp: TcpStream) -> Transport {
        Transport(Rc::new(RefCell::new(Inner::Plain(tcp))))
    }

    /// From here on, bytes go through `tls` (its handshake done or under
    /// way); `head` holds bytes already read from the socket after the
    /// handshake's last record.
    pub fn start_tls(&self, tls: ServerConnection, head: Vec<u8>) -> io::Result<()> {
        let mut inner = self.0.borrow_mut();
        let tcp = match std::mem::replace(&mut *inner, Inner::Gone) {
            Inner::Plain(tcp) => tcp,
            other => {
                *inner = other;
                return Err(io::Error::other("TLS already started"));
            }
        };
        *inner = Inner::Tls(Box::new(StreamOwned::new(
            tls,
            Prefixed { head, pos: 0, tcp },
        )));
        Ok(())
    }

    /// Login-only encryption: drop TLS (without a close_notify, as the
    /// client drops it too) and go on in clear text.
    pub fn end_tls(&self) -> io::Result<()> {
        let mut inner = self.0.borrow_mut();
        match std::mem::replace(&mut *inner, Inner::Gone) {
            Inner::Tls(s) => {
                let Prefixed { head, pos, tcp } = s.sock;
                if pos < head.len() {
                    return Err(io::Error::other(
                        "the client sent more than LOGIN7 before the clear-text reply",
                    ));
                }
                *inner = Inner::Plain(tcp);
                Ok(())
            }
            other => {
                *inner = other;
                Err(io::Error::other("TLS was not started"))
            }
        }
    }

    /// Completes a TDS 8.0 handshake on the raw stream (TLS records
    /// straight on TCP). `Ok(alpn)` with the protocol the client chose.
    pub fn strict_handshake(&self, tls: ServerConnection) -> io::Result<Option<Vec<u8>>> {
        self.start_tls(tls, Vec::new())?;
        let mut inner = self.0.borrow_mut();
        let Inner::Tls(s) = &mut *inner else {
            return Err(io::Error::other("TLS was not started"));
        };
        while s.conn.is_handshaking() {
            let (rd, wr) = s.conn.complete_io(&mut s.sock)?;
            if rd == 0 && wr == 0 && s.conn.is_handshaking() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the client closed the connection during the TLS handshake",
                ));
            }
        }
        Ok(s.conn.alpn_protocol().map(|p| p.to_vec()))
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut *self.0.borrow_mut() {
            Inner::Plain(t) => t.read(buf),
            Inner::Tls(s) => s.read(buf),
            Inner::Gone => Err(io::Error::other("connection stream gone")),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut *self.0.borrow_mut() {
            Inner::Plain(t) => t.write(buf),
            Inner::Tls(s) => s.write(buf),
            Inner::Gone => Err(io::Error::other("connection stream gone")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut *self.0.borrow_mut() {
            Inner::Plain(t) => t.flush(),
            Inner::Tls(s) => s.flush(),
            Inner::Gone => Err(io::Error::other("connection stream gone")),
        }
    }
}

/// The TDS 7.x handshake (MS-TDS 3.3.5.2): each flight of TLS records from
/// the client arrives as the payload of a PRELOGIN (0x12) message, and the
/// server's flights go back the same way (one message each, split at the
/// default packet size). A packet of another type, or a handshake that
/// fails, closes the connection. The returned connection has completed its
/// handshake; the caller switches the stream to it.
pub(crate) fn prelogin_handshake<R: Read, W: Write>(
    reader: &mut PacketReader<R>,
    writer: &mut W,
    config: Arc<ServerConfig>,
) -> Result<ServerConnection, TdsError> {
    let mut tls =
        ServerConnection::new(config).map_err(|e| TdsError::protocol(format!("TLS: {e}")))?;
    loop {
        send_flight(&mut tls, writer)?;
        if !tls.is_handshaking() {
            return Ok(tls);
        }
        let Some(msg) = reader.message(MAX_HANDSHAKE_MESSAGE)? else {
            return Err(TdsError::protocol(
                "the client closed the connection during the TLS handshake",
            ));
        };
        if msg.ty != PT_PRELOGIN {
            return Err(TdsError::protocol(format!(
                "expected a PRELOGIN packet carrying TLS during the handshake, got packet type 0x{:02X}",
                msg.ty
            )));
        }
        let mut rd: &[u8] = &msg.data;
        while !rd.is_empty() {
            tls.read_tls(&mut rd)?;
            if let Err(e) = tls.process_new_packets() {
                // The alert rustls queued tells the client why.
                let _ = send_flight(&mut tls, writer);
                return Err(TdsError::protocol(format!("TLS handshake failed: {e}")));
            }
        }
    }
}

/// A handshake flight is a few kilobytes (a certificate chain); anything
/// far larger is not a handshake.
const MAX_HANDSHAKE_MESSAGE: usize = 1024 * 1024;

fn send_flight<W: Write>(tls: &mut ServerConnection, writer: &mut W) -> Result<(), TdsError> {
    if !tls.wants_write() {
        return Ok(());
    }
    let mut out = Vec::new();
    while tls.wants_write() {
        tls.write_tls(&mut out)?;
    }
    let mut id = 1u8;
    write_packets(
        writer,
        PT_PRELOGIN,
        &out,
        DEFAULT_PACKET_SIZE,
        &mut id,
        true,
    )?;
    writer.flush()?;
    Ok(())
}
