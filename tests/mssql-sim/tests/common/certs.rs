//! Certificates for the TLS tests, made with rcgen in a temporary
//! directory: a private CA, a server certificate it signed for 127.0.0.1
//! and localhost, one it signed for another name only, and a second,
//! unrelated CA. Shared by the stand-in's tests and ctsync's (`#[path]`).
#![allow(dead_code)]

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::path::PathBuf;

pub struct Pki {
    pub dir: tempfile::TempDir,
    /// The private CA (PEM certificate).
    pub ca: PathBuf,
    /// The server's certificate (signed by `ca`, for 127.0.0.1 and
    /// localhost) and key.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Signed by `ca` for `db.example.invalid` only.
    pub wrong_name_cert: PathBuf,
    pub wrong_name_key: PathBuf,
    /// Another CA, which signed none of the above.
    pub other_ca: PathBuf,
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("a CA key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = p.self_signed(&key).expect("a self-signed CA");
    (cert, key)
}

fn leaf(names: &[&str], ca: &rcgen::Certificate, ca_key: &KeyPair) -> (String, String) {
    let key = KeyPair::generate().expect("a server key");
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut p = CertificateParams::new(names.clone()).expect("server params");
    p.distinguished_name
        .push(DnType::CommonName, names[0].as_str());
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = p.signed_by(&key, ca, ca_key).expect("a signed server cert");
    (cert.pem(), key.serialize_pem())
}

pub fn make() -> Pki {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = |n: &str| dir.path().join(n);
    let (ca_cert, ca_key) = ca("ctsync test CA");
    let (other, _) = ca("an unrelated CA");
    let (cert, key) = leaf(&["localhost", "127.0.0.1"], &ca_cert, &ca_key);
    let (wcert, wkey) = leaf(&["db.example.invalid"], &ca_cert, &ca_key);
    let files = [
        ("ca.pem", ca_cert.pem()),
        ("server.pem", cert),
        ("server.key", key),
        ("wrong-name.pem", wcert),
        ("wrong-name.key", wkey),
        ("other-ca.pem", other.pem()),
    ];
    for (n, text) in &files {
        std::fs::write(path(n), text).expect("write a PEM file");
    }
    Pki {
        ca: path("ca.pem"),
        cert: path("server.pem"),
        key: path("server.key"),
        wrong_name_cert: path("wrong-name.pem"),
        wrong_name_key: path("wrong-name.key"),
        other_ca: path("other-ca.pem"),
        dir,
    }
}
