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

/// The server's answer: VERSION, ENCRYPTION = ENCRYPT_NOT_SUP (TLS is not
/// offered; SIM-SPEC), INSTOPT (0 = instance name accepted), THREADID (empty,
/// as SQL Server sends it to clients), MARS off, terminator.
pub fn response() -> Vec<u8> {
    // (token, data)
    let options: [(u8, &[u8]); 5] = [
        (0x00, &[15, 0, 0x07, 0xD0, 0, 0]),
        (0x01, &[ENCRYPT_NOT_SUP]),
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
