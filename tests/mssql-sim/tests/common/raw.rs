//! A hand-rolled TDS client for protocol and fuzz tests: packets built byte
//! by byte (MS-TDS 2.2.3 header, 2.2.6.5 PRELOGIN, 2.2.6.4 LOGIN7, 2.2.6.7
//! SQL batch), so tests can send what no real client would.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub const PRELOGIN: u8 = 0x12;
pub const LOGIN7: u8 = 0x10;
pub const SQL_BATCH: u8 = 0x01;
pub const RPC: u8 = 0x03;
pub const ATTENTION: u8 = 0x06;
pub const BULK: u8 = 0x07;
pub const TM: u8 = 0x0E;

/// One packet: 8-byte header (type, status EOM, length BE, spid, id, window).
pub fn packet(ty: u8, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() + 8) as u16;
    let mut p = vec![ty, 0x01, (len >> 8) as u8, len as u8, 0, 0, 1, 0];
    p.extend_from_slice(payload);
    p
}

pub fn prelogin_payload() -> Vec<u8> {
    // VERSION (6 bytes), ENCRYPTION (1 byte: 2 = not supported), terminator.
    let mut v = vec![0x00, 0, 11, 0, 6, 0x01, 0, 17, 0, 1, 0xFF];
    v.extend_from_slice(&[15, 0, 0, 0, 0, 0]);
    v.push(0x02);
    v
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

pub fn login_payload(user: &str, password: &str, db: &str) -> Vec<u8> {
    let mut v = vec![0u8; 94];
    v[4..8].copy_from_slice(&0x7400_0004u32.to_le_bytes());
    v[8..12].copy_from_slice(&4096u32.to_le_bytes());
    let fields: [(usize, &str, bool); 4] = [
        (40, user, false),
        (44, password, true),
        (48, "raw", false),
        (68, db, false),
    ];
    for (at, s, pw) in fields {
        let off = v.len() as u16;
        let units: Vec<u16> = s.encode_utf16().collect();
        for u in &units {
            for b in u.to_le_bytes() {
                v.push(if pw { b.rotate_left(4) ^ 0xA5 } else { b });
            }
        }
        v[at..at + 2].copy_from_slice(&off.to_le_bytes());
        v[at + 2..at + 4].copy_from_slice(&(units.len() as u16).to_le_bytes());
    }
    let n = v.len() as u32;
    v[0..4].copy_from_slice(&n.to_le_bytes());
    v
}

/// ALL_HEADERS with a transaction descriptor header (MS-TDS 2.2.5.3), then
/// the batch text in UTF-16.
pub fn batch_payload(sql: &str) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&22u32.to_le_bytes());
    v.extend_from_slice(&18u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&0u64.to_le_bytes());
    v.extend_from_slice(&1u32.to_le_bytes());
    v.extend_from_slice(&utf16(sql));
    v
}

pub struct Raw {
    pub s: TcpStream,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> std::io::Result<Raw> {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Raw { s })
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.s.write_all(bytes)
    }

    /// Reads one whole reply message (packets up to END_OF_MESSAGE); its
    /// payload, or an error if the server closed the connection.
    pub fn reply(&mut self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let mut h = [0u8; 8];
            self.s.read_exact(&mut h)?;
            let len = u16::from_be_bytes([h[2], h[3]]) as usize;
            let mut body = vec![0u8; len.saturating_sub(8)];
            self.s.read_exact(&mut body)?;
            out.extend_from_slice(&body);
            if h[1] & 0x01 != 0 {
                return Ok(out);
            }
        }
    }

    /// PRELOGIN and LOGIN7; the login reply's payload.
    pub fn login(&mut self, user: &str, password: &str, db: &str) -> std::io::Result<Vec<u8>> {
        self.send(&packet(PRELOGIN, &prelogin_payload()))?;
        self.reply()?;
        self.send(&packet(LOGIN7, &login_payload(user, password, db)))?;
        self.reply()
    }
}

/// Error numbers of the ERROR tokens (0xAA) in a reply, scanning tokens.
pub fn error_numbers(reply: &[u8]) -> Vec<i32> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 3 <= reply.len() {
        match reply[i] {
            0xAA | 0xAB | 0xE3 | 0xAD => {
                let len = u16::from_le_bytes([reply[i + 1], reply[i + 2]]) as usize;
                if reply[i] == 0xAA && i + 7 <= reply.len() {
                    out.push(i32::from_le_bytes([
                        reply[i + 3],
                        reply[i + 4],
                        reply[i + 5],
                        reply[i + 6],
                    ]));
                }
                i += 3 + len;
            }
            0xFD | 0xFE | 0xFF => i += 13,
            _ => break,
        }
    }
    out
}
