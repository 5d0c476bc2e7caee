//! TDS encryption of the stand-in (MS-TDS 2.2.6.5 PRELOGIN ENCRYPTION and
//! 3.3.5.2; TDS 8.0 strict): the PRELOGIN answer for each client setting,
//! the TLS handshake inside PRELOGIN packets, login-only encryption, forced
//! encryption refusing a client that cannot encrypt, and tiberius connecting
//! at every level with certificate validation on.

mod common;

use common::certs::{self, Pki};
use common::raw::{login_payload, packet, LOGIN7, PRELOGIN};
use common::{DB, PASSWORD, USER};
use mssql_sim::{SimConfig, SimServer, TlsConfig};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio_util::compat::TokioAsyncWriteCompatExt;

fn start(pki: &Pki, forced: bool) -> SimServer {
    let mut tls = TlsConfig::new(&pki.cert, &pki.key);
    tls.force_encryption = forced;
    SimServer::start(SimConfig::new(DB, USER, PASSWORD).with_tls(tls))
        .expect("the stand-in starts with TLS")
}

fn config(server: &SimServer, level: EncryptionLevel, ca: &std::path::Path) -> Config {
    let mut cfg = Config::new();
    cfg.host("127.0.0.1");
    cfg.port(server.addr().port());
    cfg.database(DB);
    cfg.authentication(AuthMethod::sql_server(USER, PASSWORD));
    cfg.encryption(level);
    cfg.trust_cert_ca(ca.display());
    cfg.handshake_timeout(Some(Duration::from_secs(10)));
    cfg
}

async fn try_connect(
    cfg: Config,
    server: &SimServer,
) -> Result<common::Conn, tiberius::error::Error> {
    let tcp = tokio::net::TcpStream::connect(server.addr())
        .await
        .expect("tcp connect");
    tcp.set_nodelay(true).expect("nodelay");
    Client::connect(cfg, tcp.compat_write()).await
}

/// Connects at `level`, writes and reads a row.
async fn round_trip(server: &SimServer, level: EncryptionLevel, ca: &std::path::Path) {
    let mut c = try_connect(config(server, level, ca), server)
        .await
        .unwrap_or_else(|e| panic!("login at {level:?}: {e}"));
    common::exec(
        &mut c,
        "CREATE TABLE dbo.T (id INT PRIMARY KEY, v NVARCHAR(20))",
    )
    .await;
    common::exec(&mut c, "INSERT INTO dbo.T VALUES (1, N'sécurité')").await;
    let rows = common::rows(&mut c, "SELECT id, v FROM dbo.T").await;
    assert_eq!(
        rows,
        vec![vec![common::int(1), common::text("sécurité")]],
        "{level:?}"
    );
}

/// A PRELOGIN with `encryption` as ENCRYPTION: the ENCRYPTION byte of the
/// server's answer.
fn prelogin(s: &mut TcpStream, encryption: u8) -> u8 {
    let mut v = vec![0x00, 0, 11, 0, 6, 0x01, 0, 17, 0, 1, 0xFF];
    v.extend_from_slice(&[15, 0, 0, 0, 0, 0]);
    v.push(encryption);
    s.write_all(&packet(PRELOGIN, &v)).expect("send PRELOGIN");
    let (ty, body) = read_packet(s).expect("the PRELOGIN answer");
    assert_eq!(ty, 0x04, "PRELOGIN is answered in a TABULAR RESULT packet");
    // Option table: token, offset, length; find ENCRYPTION (0x01).
    let mut i = 0;
    while body[i] != 0xFF {
        if body[i] == 0x01 {
            let off = u16::from_be_bytes([body[i + 1], body[i + 2]]) as usize;
            return body[off];
        }
        i += 5;
    }
    panic!("no ENCRYPTION option in {body:?}");
}

fn read_packet(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut h = [0u8; 8];
    s.read_exact(&mut h)?;
    let len = u16::from_be_bytes([h[2], h[3]]) as usize;
    let mut body = vec![0u8; len.saturating_sub(8)];
    s.read_exact(&mut body)?;
    Ok((h[0], body))
}

fn raw(server: &SimServer) -> TcpStream {
    let s = TcpStream::connect(server.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

#[test]
fn prelogin_answers_follow_the_negotiation_table() {
    let pki = certs::make();
    let optional = start(&pki, false);
    // ENCRYPT_OFF → ENCRYPT_OFF (login only); ON → ON; REQ → ON;
    // NOT_SUP → NOT_SUP.
    for (client, want) in [(0x00, 0x00), (0x01, 0x01), (0x03, 0x01), (0x02, 0x02)] {
        assert_eq!(
            prelogin(&mut raw(&optional), client),
            want,
            "client {client}"
        );
    }
    let forced = start(&pki, true);
    for client in [0x00, 0x01, 0x03] {
        assert_eq!(prelogin(&mut raw(&forced), client), 0x03, "client {client}");
    }
    let clear = common::start();
    for client in [0x00, 0x01, 0x02, 0x03] {
        assert_eq!(prelogin(&mut raw(&clear), client), 0x02, "client {client}");
    }
}

#[test]
fn the_tls_handshake_travels_in_prelogin_packets() {
    let pki = certs::make();
    let server = start(&pki, false);
    let mut s = raw(&server);
    assert_eq!(prelogin(&mut s, 0x01), 0x01);
    // A ClientHello would be answered with a PRELOGIN packet carrying the
    // server's handshake records; a ServerHello from the client is out of
    // place and gets a TLS alert (record type 0x15), also inside a
    // PRELOGIN packet, then the close.
    let hello_like = [0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00];
    s.write_all(&packet(PRELOGIN, &hello_like)).unwrap();
    let (ty, body) = read_packet(&mut s).expect("the server's TLS answer");
    assert_eq!(
        ty, PRELOGIN,
        "handshake records travel in PRELOGIN (0x12) packets"
    );
    assert_eq!(body[0], 0x15, "a TLS alert record: {body:?}");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    // A LOGIN7 instead of the handshake closes the connection (3.3.5.2).
    let mut s = raw(&server);
    assert_eq!(prelogin(&mut s, 0x01), 0x01);
    s.write_all(&packet(LOGIN7, &login_payload(USER, PASSWORD, DB)))
        .unwrap();
    let mut rest = Vec::new();
    assert!(
        matches!(s.read_to_end(&mut rest), Ok(0) | Err(_)),
        "no reply to a clear LOGIN7 after TLS was negotiated: {rest:?}"
    );
}

#[test]
fn forced_encryption_refuses_a_client_that_cannot_encrypt() {
    let pki = certs::make();
    let server = start(&pki, true);
    let mut s = raw(&server);
    // The server answers ENCRYPT_REQ, then closes: a LOGIN7 sent anyway
    // gets no reply.
    assert_eq!(prelogin(&mut s, 0x02), 0x03);
    let _ = s.write_all(&packet(LOGIN7, &login_payload(USER, PASSWORD, DB)));
    let mut rest = Vec::new();
    assert!(
        matches!(s.read_to_end(&mut rest), Ok(0) | Err(_)),
        "the connection is closed: {rest:?}"
    );
    assert_eq!(server.controls().open_connections(), 0);
}

#[tokio::test]
async fn tiberius_connects_at_every_level_with_a_validated_certificate() {
    let pki = certs::make();
    // Encrypted throughout (ENCRYPT_ON / ENCRYPT_REQ).
    round_trip(&start(&pki, false), EncryptionLevel::Required, &pki.ca).await;
    round_trip(&start(&pki, false), EncryptionLevel::On, &pki.ca).await;
    // Login-only: only LOGIN7 is encrypted; the reply and the queries
    // after it are clear text (tiberius drops TLS after sending LOGIN7,
    // so a server that stayed in TLS would fail every request).
    round_trip(&start(&pki, false), EncryptionLevel::Off, &pki.ca).await;
    // Forced encryption: a client that said ENCRYPT_OFF is encrypted
    // throughout.
    round_trip(&start(&pki, true), EncryptionLevel::Off, &pki.ca).await;
    round_trip(&start(&pki, true), EncryptionLevel::Required, &pki.ca).await;
    // TDS 8.0 strict: TLS before PRELOGIN, ALPN tds/8.0.
    round_trip(&start(&pki, false), EncryptionLevel::Strict, &pki.ca).await;
    round_trip(&start(&pki, true), EncryptionLevel::Strict, &pki.ca).await;
    // Without a certificate, clear text as before.
    let clear = common::start();
    let mut c = common::connect(&clear).await;
    assert_eq!(
        common::rows(&mut c, "SELECT 1").await,
        vec![vec![common::int(1)]]
    );
}

#[tokio::test]
async fn certificates_are_validated() {
    let pki = certs::make();
    let server = start(&pki, false);
    // Signed by a CA the client does not trust.
    let e = try_connect(
        config(&server, EncryptionLevel::Required, &pki.other_ca),
        &server,
    )
    .await
    .err()
    .expect("a certificate from another CA is refused");
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    // Signed by the trusted CA, for another name.
    let mut tls = TlsConfig::new(&pki.wrong_name_cert, &pki.wrong_name_key);
    tls.force_encryption = false;
    let wrong = SimServer::start(SimConfig::new(DB, USER, PASSWORD).with_tls(tls)).unwrap();
    let e = try_connect(config(&wrong, EncryptionLevel::Required, &pki.ca), &wrong)
        .await
        .err()
        .expect("a certificate for another name is refused");
    assert!(e.to_string().contains("not valid for name"), "{e}");
    // The server goes on serving valid clients.
    round_trip(&server, EncryptionLevel::Required, &pki.ca).await;
}

#[tokio::test]
async fn a_client_requiring_encryption_gets_an_error_from_a_server_without_a_certificate() {
    let pki = certs::make();
    let clear = common::start();
    let e = try_connect(config(&clear, EncryptionLevel::Required, &pki.ca), &clear)
        .await
        .err()
        .expect("no encryption offered");
    assert!(
        e.to_string()
            .contains("does not allow the requested encryption level"),
        "{e}"
    );
    // A forced server and a client that cannot encrypt: refused, not hung.
    let forced = start(&pki, true);
    let mut cfg = config(&forced, EncryptionLevel::NotSupported, &pki.ca);
    cfg.handshake_timeout(Some(Duration::from_secs(10)));
    let r = try_connect(cfg, &forced).await;
    assert!(r.is_err(), "a client without encryption is refused");
}

#[test]
fn a_missing_certificate_file_is_a_start_error() {
    let pki = certs::make();
    let tls = TlsConfig::new(pki.dir.path().join("nope.pem"), &pki.key);
    let e = SimServer::start(SimConfig::new(DB, USER, PASSWORD).with_tls(tls))
        .err()
        .expect("no such certificate");
    assert!(e.to_string().contains("nope.pem"), "{e}");
    let tls = TlsConfig::new(&pki.cert, &pki.cert);
    let e = SimServer::start(SimConfig::new(DB, USER, PASSWORD).with_tls(tls))
        .err()
        .expect("a certificate is not a key");
    assert!(e.to_string().contains("TLS key"), "{e}");
}
