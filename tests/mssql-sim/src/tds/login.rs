//! LOGIN7 (MS-TDS 2.2.6.4).

use super::src::{utf16_to_string, TdsError};

/// What the stand-in needs from a LOGIN7 record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub tds_version: u32,
    pub packet_size: u32,
    pub hostname: String,
    pub user: String,
    pub password: String,
    pub app_name: String,
    pub database: String,
}

/// Fixed part: Length, TDSVersion, PacketSize, ClientProgVer, ClientPID,
/// ConnectionID (4 bytes each), four flag bytes, ClientTimeZone, ClientLCID.
const FIXED: usize = 36;

fn field(data: &[u8], at: usize, password: bool) -> Result<String, TdsError> {
    let e = data
        .get(at..at + 4)
        .ok_or_else(|| TdsError::protocol("LOGIN7 offset table ends early"))?;
    let off = u16::from_le_bytes([e[0], e[1]]) as usize;
    let chars = u16::from_le_bytes([e[2], e[3]]) as usize;
    let raw = data
        .get(off..off + chars * 2)
        .ok_or_else(|| TdsError::protocol("LOGIN7 field outside the record"))?;
    if password {
        // Each byte was nibble-swapped then XORed with 0xA5 (MS-TDS 2.2.6.4).
        let plain: Vec<u8> = raw
            .iter()
            .map(|b| {
                let x = b ^ 0xA5;
                x.rotate_left(4)
            })
            .collect();
        utf16_to_string(&plain)
    } else {
        utf16_to_string(raw)
    }
}

pub fn parse(data: &[u8]) -> Result<Login, TdsError> {
    if data.len() < FIXED + 4 * 9 {
        return Err(TdsError::protocol("LOGIN7 record too short"));
    }
    let u32_at = |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    Ok(Login {
        tds_version: u32_at(4),
        packet_size: u32_at(8),
        hostname: field(data, FIXED, false)?,
        user: field(data, FIXED + 4, false)?,
        password: field(data, FIXED + 8, true)?,
        app_name: field(data, FIXED + 12, false)?,
        database: field(data, FIXED + 32, false)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a LOGIN7 record the way clients do (tiberius `login.rs`).
    pub fn build(user: &str, password: &str, db: &str) -> Vec<u8> {
        let mut v = vec![0u8; 94];
        v[4..8].copy_from_slice(&0x7400_0004u32.to_le_bytes());
        v[8..12].copy_from_slice(&4096u32.to_le_bytes());
        let fields: [(usize, &str, bool); 4] = [
            (40, user, false),
            (44, password, true),
            (48, "app", false),
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

    #[test]
    fn decodes_user_password_database() {
        let l = parse(&build("sa", "Secret#1é", "SalesA")).expect("login");
        assert_eq!(l.user, "sa");
        assert_eq!(l.password, "Secret#1é");
        assert_eq!(l.database, "SalesA");
        assert_eq!(l.app_name, "app");
        assert_eq!(l.packet_size, 4096);
    }

    #[test]
    fn rejects_truncated_records() {
        let full = build("sa", "pw", "db");
        for n in [0, 10, 50, full.len() - 1] {
            assert!(parse(&full[..n]).is_err(), "length {n}");
        }
    }
}
