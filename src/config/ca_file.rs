//! `servers.<side>.ca_file` and `trust_server_certificate`: checked when the
//! configuration loads, so a missing or unreadable CA file is named at start
//! rather than as a TLS failure on every connect.

use super::error::{shown, Problem};
use std::path::Path;

/// Adds a problem when `ca_file` cannot be read or holds no PEM
/// certificate, or when it is set together with
/// `trust_server_certificate: true` (one validates, the other skips
/// validation).
pub fn check(side: &str, ca_file: Option<&Path>, trust: bool, p: &mut Vec<Problem>) {
    let key = format!("servers.{side}.ca_file");
    let Some(path) = ca_file else {
        return;
    };
    let value = Some(shown(&path.display().to_string()));
    if trust {
        p.push(Problem::new(
            key,
            value,
            format!(
                "is set together with servers.{side}.trust_server_certificate: true, which skips certificate validation; keep ca_file (the server's certificate is validated against it) and remove trust_server_certificate"
            ),
        ));
        return;
    }
    if let Err(why) = readable_pem(path) {
        p.push(Problem::new(
            key,
            value,
            format!(
                "{why}; set it to a readable PEM file of the CA certificate that signed the server's certificate (-----BEGIN CERTIFICATE-----)"
            ),
        ));
    }
}

fn readable_pem(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        _ => format!("cannot be read: {e}"),
    })?;
    if !meta.is_file() {
        return Err("is not a file".into());
    }
    // A CA bundle is small; a huge file is not one.
    if meta.len() > 16 * 1024 * 1024 {
        return Err(format!("is {} bytes, too large for a CA file", meta.len()));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err("holds no PEM certificate".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_readable_pem_file_passes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ca.pem");
        std::fs::write(
            &f,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let mut p = Vec::new();
        check("a", Some(&f), false, &mut p);
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn a_missing_file_names_the_key_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("nope.pem");
        let mut p = Vec::new();
        check("b", Some(&f), false, &mut p);
        assert_eq!(p.len(), 1);
        let text = p[0].to_string();
        assert!(text.contains("`servers.b.ca_file`"), "{text}");
        assert!(text.contains("no such file"), "{text}");
        assert!(text.contains("readable PEM file"), "{text}");
    }

    #[test]
    fn a_file_without_a_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("key.pem");
        std::fs::write(
            &f,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let mut p = Vec::new();
        check("a", Some(&f), false, &mut p);
        assert!(
            p[0].to_string().contains("holds no PEM certificate"),
            "{p:?}"
        );
        let mut p = Vec::new();
        check("a", Some(dir.path()), false, &mut p);
        assert!(p[0].to_string().contains("is not a file"), "{p:?}");
    }

    #[test]
    fn ca_file_and_trust_server_certificate_exclude_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ca.pem");
        std::fs::write(&f, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let mut p = Vec::new();
        check("a", Some(&f), true, &mut p);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].to_string().contains("trust_server_certificate"),
            "{p:?}"
        );
    }
}
