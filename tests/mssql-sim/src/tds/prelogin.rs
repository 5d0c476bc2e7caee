//! PRELOGIN (MS-TDS 2.2.6.5): option table, then data.

use super::src::TdsError;

pub const ENCRYPT_OFF: u8 = 0x00;
pub const ENCRYPT_ON: u8 = 0x01;
pub const ENCRYPT_NOT_SUP: u8 = 0x02;
pub const ENCRYPT_REQ: u8 = 0x03;

/// What the client asked for in its PRELOGIN.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClientPrelogin {
    pub encryption: Option<u8>,
}

/// Parses the client's option table; only ENCRYPTION matters to the stand-in.
pub fn parse(data: &[u8]) -> Result<ClientPrelogin, TdsError> {
    let mut out = ClientPrelogin::default();
    let mut i = 0;
    loop {
        let Some(&token) = data.get(i) else {
            return Err(TdsError::protocol("PRELOGIN without terminator"));
        };
        if token == 0xFF {
            return Ok(out);
        }
        let entry = data
            .get(i + 1..i + 5)
            .ok_or_else(|| TdsError::protocol("PRELOGIN option table ends early"))?;
        let off = u16::from_be_bytes([entry[0], entry[1]]) as usize;
        let len = u16::from_be_bytes([entry[2], entry[3]]) as usize;
        let value = data
            .get(off..off.saturating_add(len))
            .ok_or_else(|| TdsError::protocol("PRELOGIN option outside the message"))?;
        if token == 0x01 && len >= 1 {
            out.encryption = Some(value[0]);
        }
        i += 5;
    }
}

/// What the server can do: no certificate (ENCRYPT_NOT_SUP), or a
/// certificate with encryption optional or forced (SQL Server's "Force
/// Encryption" setting, docs/database-engine/configure-windows/
/// configure-sql-server-encryption.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerEncryption {
    NotSupported,
    Available { forced: bool },
}

/// What a PRELOGIN exchange settled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiated {
    /// No TLS at all.
    Clear,
    /// TLS for the LOGIN7 packet only, then back to clear text.
    LoginOnly,
    /// TLS for the whole connection.
    Full,
    /// The server answers, then closes: the client cannot encrypt and the
    /// server requires it.
    Refused,
}

/// The ENCRYPTION byte the server answers and what follows, from the
/// client's ENCRYPTION byte (MS-TDS 2.2.6.5, the table under ENCRYPTION):
///
/// | client \ server | ENCRYPT_OFF    | ENCRYPT_REQ    | ENCRYPT_NOT_SUP |
/// |------------------|----------------|----------------|-----------------|
/// | ENCRYPT_OFF      | login only     | full           | clear           |
/// | ENCRYPT_ON       | full           | full           | client closes   |
/// | ENCRYPT_NOT_SUP  | clear          | terminated     | clear           |
///
/// A server with a certificate that does not force encryption answers
/// ENCRYPT_OFF to a client that said ENCRYPT_OFF and ENCRYPT_ON to one that
/// asked for encryption (ENCRYPT_ON, or ENCRYPT_REQ as tiberius sends for
/// `Required`); a server that forces encryption answers ENCRYPT_REQ to every
/// client, and closes the connection of one that said ENCRYPT_NOT_SUP.
/// The ENCRYPT_CLIENT_CERT bit (0x80) is not offered and is ignored; a
/// missing ENCRYPTION option counts as ENCRYPT_NOT_SUP (the client cannot
/// take part in a TLS handshake it did not mention).
pub fn negotiate(client: Option<u8>, server: ServerEncryption) -> (u8, Negotiated) {
    let client = client.map(|c| c & !0x80).unwrap_or(ENCRYPT_NOT_SUP);
    match server {
        // The client decides what happens when it asked for encryption:
        // tiberius and python-tds close the connection themselves.
        ServerEncryption::NotSupported => (ENCRYPT_NOT_SUP, Negotiated::Clear),
        ServerEncryption::Available { forced: true } => match client {
            ENCRYPT_OFF | ENCRYPT_ON | ENCRYPT_REQ => (ENCRYPT_REQ, Negotiated::Full),
            _ => (ENCRYPT_REQ, Negotiated::Refused),
        },
        ServerEncryption::Available { forced: false } => match client {
            ENCRYPT_OFF => (ENCRYPT_OFF, Negotiated::LoginOnly),
            ENCRYPT_ON | ENCRYPT_REQ => (ENCRYPT_ON, Negotiated::Full),
            _ => (ENCRYPT_NOT_SUP, Negotiated::Clear),
        },
    }
}

/// The server's answer: VERSION, ENCRYPTION (`encryption`, from
/// [`negotiate`]), INSTOPT (0 = instance name accepted), THREADID (empty,
/// as SQL Server sends it to clients), MARS off, terminator.
pub fn response(encryption: u8) -> Vec<u8> {
    // (token, data)
    let enc = [encryption];
    let options: [(u8, &[u8]); 5] = [
        (0x00, &[15, 0, 0x07, 0xD0, 0, 0]),
        (0x01, &enc),
        (0x02, &[0]),
        (0x03, &[]),
        (0x04, &[0]),
    ];
    let mut table = Vec::new();
    let mut data = Vec::new();
    let base = options.len() * 5 + 1;
    for (tok, val) in options {
        table.push(tok);
        table.extend_from_slice(&((base + data.len()) as u16).to_be_bytes());
        table.extend_from_slice(&(val.len() as u16).to_be_bytes());
        data.extend_from_slice(val);
    }
    table.push(0xFF);
    table.extend_from_slice(&data);
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_CERT: ServerEncryption = ServerEncryption::NotSupported;
    const OPTIONAL: ServerEncryption = ServerEncryption::Available { forced: false };
    const FORCED: ServerEncryption = ServerEncryption::Available { forced: true };

    #[test]
    fn without_a_certificate_the_answer_is_always_not_supported() {
        for c in [ENCRYPT_OFF, ENCRYPT_ON, ENCRYPT_NOT_SUP, ENCRYPT_REQ] {
            assert_eq!(
                negotiate(Some(c), NO_CERT),
                (ENCRYPT_NOT_SUP, Negotiated::Clear)
            );
        }
    }

    #[test]
    fn with_optional_encryption_the_client_chooses() {
        assert_eq!(
            negotiate(Some(ENCRYPT_OFF), OPTIONAL),
            (ENCRYPT_OFF, Negotiated::LoginOnly)
        );
        assert_eq!(
            negotiate(Some(ENCRYPT_ON), OPTIONAL),
            (ENCRYPT_ON, Negotiated::Full)
        );
        assert_eq!(
            negotiate(Some(ENCRYPT_REQ), OPTIONAL),
            (ENCRYPT_ON, Negotiated::Full)
        );
        assert_eq!(
            negotiate(Some(ENCRYPT_NOT_SUP), OPTIONAL),
            (ENCRYPT_NOT_SUP, Negotiated::Clear)
        );
        assert_eq!(
            negotiate(None, OPTIONAL),
            (ENCRYPT_NOT_SUP, Negotiated::Clear)
        );
        // ENCRYPT_CLIENT_CERT is a flag on top of the level.
        assert_eq!(
            negotiate(Some(0x80 | ENCRYPT_ON), OPTIONAL),
            (ENCRYPT_ON, Negotiated::Full)
        );
    }

    #[test]
    fn forced_encryption_encrypts_everything_and_refuses_a_client_that_cannot() {
        for c in [ENCRYPT_OFF, ENCRYPT_ON, ENCRYPT_REQ] {
            assert_eq!(negotiate(Some(c), FORCED), (ENCRYPT_REQ, Negotiated::Full));
        }
        assert_eq!(
            negotiate(Some(ENCRYPT_NOT_SUP), FORCED),
            (ENCRYPT_REQ, Negotiated::Refused)
        );
    }

    #[test]
    fn the_response_carries_the_encryption_byte() {
        let r = response(ENCRYPT_REQ);
        // The ENCRYPTION entry is the second of the table (5 bytes each).
        let off = u16::from_be_bytes([r[6], r[7]]) as usize;
        assert_eq!(r[5], 0x01);
        assert_eq!(r[off], ENCRYPT_REQ);
    }
}
