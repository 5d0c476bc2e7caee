//! TLS towards the servers, as the operator sees it: what a failed
//! encryption handshake means and what to change in the configuration, and
//! the warnings for a server whose traffic or certificate is not protected.
//!
//! tiberius reports a rejected certificate as `Error::Tls` with rustls'
//! reason inside its own advice (written for tiberius' API), a server that
//! offers no encryption as a protocol error, and a connection closed in the
//! middle of the TLS handshake as an I/O error. [`explain`] turns those into
//! [`TlsFailure`]s that name the server, the certificate problem and the
//! config keys that fix it.

use crate::config::{Config, Encrypt, ServerConfig};
use crate::model::Side;
use std::path::PathBuf;

/// What [`explain`] needs of a server's configuration.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    side: &'static str,
    endpoint: String,
    encrypt: Encrypt,
    ca_file: Option<PathBuf>,
}

/// A failed connection: tiberius' error and its explanation for the
/// operator ([`describe`]: the certificate problem and the config keys that
/// fix it, or the server's own message).
#[derive(Debug)]
pub struct Refused {
    pub message: String,
    pub error: tiberius::error::Error,
    /// The encryption settings and the server do not fit (a certificate,
    /// `encrypt`): trying again without a change cannot help.
    pub configuration: bool,
}

/// Connects to server `side` as configured; a failure comes explained.
pub async fn connect(config: &Config, side: Side) -> Result<crate::mssql::Connection, Refused> {
    crate::mssql::connect(config.tiberius_config(side), config.connect_timeout(side))
        .await
        .map_err(|error| {
            let explained = explain(&TlsSettings::of(config, side), &error);
            Refused {
                configuration: explained.is_some(),
                message: explained.map_or_else(|| error.to_string(), |f| f.to_string()),
                error,
            }
        })
}

impl TlsSettings {
    pub fn of(config: &Config, side: Side) -> TlsSettings {
        let s: &ServerConfig = config.server(side);
        TlsSettings {
            side: side.as_str(),
            endpoint: format!("{}:{}", s.host, s.port),
            encrypt: s.encrypt,
            ca_file: s.ca_file.clone(),
        }
    }
}

/// A connect failure that is about encryption.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsFailure {
    #[error(
        "server {side} ({endpoint}): the server's certificate was not accepted: {reason}; {fix}"
    )]
    Certificate {
        side: &'static str,
        endpoint: String,
        reason: String,
        fix: String,
    },
    #[error(
        "server {side} ({endpoint}): the server's certificate cannot be validated: this host's trust store has no CA certificates ({detail}); set servers.{side}.ca_file to the CA that signed the server's certificate, or trust_server_certificate: true to skip validation (not for production)"
    )]
    NoTrustStore {
        side: &'static str,
        endpoint: String,
        detail: String,
    },
    #[error(
        "server {side} ({endpoint}): the server requires encryption and closed the connection ({detail}), but servers.{side}.encrypt is not_supported; a server that forces encryption (SQL Server's Force Encryption) refuses clients that cannot encrypt: set servers.{side}.encrypt: required (with servers.{side}.ca_file if its certificate comes from a private CA)"
    )]
    EncryptionRequired {
        side: &'static str,
        endpoint: String,
        detail: String,
    },
    #[error(
        "server {side} ({endpoint}): the server does not offer encryption (it has no certificate), but servers.{side}.encrypt is {encrypt}; give the server a certificate, or set servers.{side}.encrypt: not_supported (the login and the data then cross the network in clear)"
    )]
    NotOffered {
        side: &'static str,
        endpoint: String,
        encrypt: String,
    },
}

/// The encryption problem behind a failed connect, if it was one.
pub fn explain(s: &TlsSettings, e: &tiberius::error::Error) -> Option<TlsFailure> {
    use tiberius::error::Error as E;
    match e {
        E::Tls(msg) if is_certificate_failure(msg) => Some(TlsFailure::Certificate {
            side: s.side,
            endpoint: s.endpoint.clone(),
            reason: certificate_reason(msg),
            fix: certificate_fix(s, msg),
        }),
        // tiberius' words when the server answered ENCRYPT_NOT_SUP (or
        // ENCRYPT_OFF) to a client that requires encryption.
        E::Protocol(msg)
            if msg.contains("does not allow the requested encryption level")
                && s.encrypt != Encrypt::NotSupported =>
        {
            Some(TlsFailure::NotOffered {
                side: s.side,
                endpoint: s.endpoint.clone(),
                encrypt: encrypt_name(s.encrypt).to_string(),
            })
        }
        // tiberius fails closed when the system's trust store is empty and
        // no CA was given.
        E::Io { message, .. }
            if message.contains("platform trust store")
                || message.contains("could not load platform certificates") =>
        {
            Some(TlsFailure::NoTrustStore {
                side: s.side,
                endpoint: s.endpoint.clone(),
                detail: message.clone(),
            })
        }
        // A client that said ENCRYPT_NOT_SUP to a server that requires
        // encryption: the server answers ENCRYPT_REQ and closes (MS-TDS
        // 2.2.6.5); tiberius then starts a TLS handshake on the closed
        // connection, which ends at once.
        E::Io { kind, message }
            if s.encrypt == Encrypt::NotSupported
                && (message.contains("tls handshake eof")
                    || matches!(
                        kind,
                        std::io::ErrorKind::UnexpectedEof
                            | std::io::ErrorKind::ConnectionReset
                            | std::io::ErrorKind::ConnectionAborted
                            | std::io::ErrorKind::BrokenPipe
                    )) =>
        {
            Some(TlsFailure::EncryptionRequired {
                side: s.side,
                endpoint: s.endpoint.clone(),
                detail: message.clone(),
            })
        }
        _ => None,
    }
}

/// The message of a failed connect: the encryption problem when it was
/// one, else tiberius' error.
pub fn describe(s: &TlsSettings, e: &tiberius::error::Error) -> String {
    match explain(s, e) {
        Some(f) => f.to_string(),
        None => e.to_string(),
    }
}

fn encrypt_name(e: Encrypt) -> &'static str {
    match e {
        Encrypt::Required => "required",
        Encrypt::Strict => "strict",
        Encrypt::On => "on",
        Encrypt::Off => "off",
        Encrypt::NotSupported => "not_supported",
    }
}

fn is_certificate_failure(msg: &str) -> bool {
    msg.contains("certificate was rejected") || msg.contains("invalid peer certificate")
}

/// rustls' reason, cut out of tiberius' message ("the server's certificate
/// was rejected during the TLS handshake: UnknownIssuer. To connect anyway
/// you can: ..."), with a gloss for the common ones.
fn certificate_reason(msg: &str) -> String {
    let mut reason = msg;
    for lead in ["during the TLS handshake: ", "invalid peer certificate: "] {
        if let Some(i) = reason.find(lead) {
            reason = &reason[i + lead.len()..];
        }
    }
    // tiberius' advice follows the reason as new sentences.
    for tail in [". The SQL Server presented", ". To connect anyway"] {
        if let Some(i) = reason.find(tail) {
            reason = &reason[..i];
        }
    }
    let reason = reason.trim().trim_end_matches('.');
    let gloss = if reason.contains("UnknownIssuer") {
        " (it is not signed by a CA this host trusts)"
    } else if reason.contains("NotValidForName") {
        " (it does not name the host connected to)"
    } else if reason == "Expired" {
        " (it has expired)"
    } else if reason.contains("NotValidYet") {
        " (it is not valid yet)"
    } else {
        ""
    };
    format!("{reason}{gloss}")
}

fn certificate_fix(s: &TlsSettings, msg: &str) -> String {
    let side = s.side;
    let skip =
        "or trust_server_certificate: true to skip validation (not for production)".to_string();
    if msg.contains("NotValidForName") || msg.contains("not valid for name") {
        return format!(
            "connect with servers.{side}.host set to a name the certificate lists, or give the server a certificate that names {}, {skip}",
            s.endpoint
        );
    }
    match &s.ca_file {
        Some(ca) => format!(
            "servers.{side}.ca_file ({}) is not the CA that signed it: set servers.{side}.ca_file to the CA that signed the server's certificate, {skip}",
            ca.display()
        ),
        None => format!("set servers.{side}.ca_file to the CA that signed it, {skip}"),
    }
}

/// Warnings, once per server at start, for traffic or certificates that are
/// not protected.
pub fn warn_unprotected(config: &Config) {
    for side in [Side::A, Side::B] {
        let Some(s) = (match side {
            Side::A => config.servers.a.as_ref(),
            Side::B => config.servers.b.as_ref(),
        }) else {
            continue;
        };
        if matches!(s.encrypt, Encrypt::Off | Encrypt::NotSupported) {
            tracing::warn!(server = side.as_str(), host = %s.host, encrypt = ?s.encrypt,
                "TLS is off for this server: the login and the data cross the network in clear");
        }
        if s.trust_server_certificate && s.encrypt != Encrypt::NotSupported {
            tracing::warn!(server = side.as_str(), host = %s.host,
                "trust_server_certificate is true: the server's certificate is not validated, so anyone on the path can pose as this server; set ca_file instead (not for production)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiberius::error::Error as E;

    fn settings(encrypt: Encrypt, ca: Option<&str>) -> TlsSettings {
        TlsSettings {
            side: "a",
            endpoint: "127.0.0.1:1433".into(),
            encrypt,
            ca_file: ca.map(PathBuf::from),
        }
    }

    #[test]
    fn a_rejected_certificate_names_the_reason_and_the_keys() {
        let e = E::Tls("the server's certificate was rejected during the TLS handshake: UnknownIssuer. To connect anyway you can: (1) trust ...".into());
        let m = describe(&settings(Encrypt::Required, None), &e);
        assert!(m.starts_with("server a (127.0.0.1:1433): the server's certificate was not accepted: UnknownIssuer (it is not signed by a CA this host trusts); set servers.a.ca_file"), "{m}");
        assert!(m.contains("trust_server_certificate: true"), "{m}");
        assert!(
            !m.contains("Config::"),
            "tiberius' API advice is left out: {m}"
        );
        let m = describe(&settings(Encrypt::Required, Some("/etc/ca.pem")), &e);
        assert!(
            m.contains("servers.a.ca_file (/etc/ca.pem) is not the CA"),
            "{m}"
        );
    }

    #[test]
    fn a_name_mismatch_points_at_the_host() {
        let e = E::Tls("the server's certificate was rejected during the TLS handshake: certificate not valid for name \"db.example\"; certificate is only valid for IpAddress(127.0.0.1). To connect anyway you can: ...".into());
        let m = describe(&settings(Encrypt::Required, Some("/ca.pem")), &e);
        assert!(
            m.contains("is only valid for IpAddress(127.0.0.1);"),
            "the reason is kept whole: {m}"
        );
        assert!(m.contains("servers.a.host"), "{m}");
    }

    #[test]
    fn not_supported_against_a_server_that_requires_encryption() {
        let e = E::Io {
            kind: std::io::ErrorKind::UnexpectedEof,
            message: "tls handshake eof".into(),
        };
        let m = describe(&settings(Encrypt::NotSupported, None), &e);
        assert!(m.contains("the server requires encryption"), "{m}");
        assert!(m.contains("set servers.a.encrypt: required"), "{m}");
        // The same I/O error with encryption on is not explained as this.
        assert_eq!(explain(&settings(Encrypt::Required, None), &e), None);
    }

    #[test]
    fn a_server_without_encryption() {
        let e = E::Protocol("Server does not allow the requested encryption level.".into());
        let m = describe(&settings(Encrypt::Required, None), &e);
        assert!(m.contains("does not offer encryption"), "{m}");
        assert!(m.contains("servers.a.encrypt is required"), "{m}");
    }
}
