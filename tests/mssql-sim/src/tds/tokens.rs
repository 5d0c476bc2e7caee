//! Encoding the server's token stream (MS-TDS 2.2.7).

use super::types::{write_type_info, write_value};
use crate::error::SqlError;
use crate::value::{ColumnMeta, SqlType, Value};

pub const TK_RETURNSTATUS: u8 = 0x79;
pub const TK_RETURNVALUE: u8 = 0xAC;
pub const TK_COLMETADATA: u8 = 0x81;
pub const TK_ERROR: u8 = 0xAA;
pub const TK_INFO: u8 = 0xAB;
pub const TK_LOGINACK: u8 = 0xAD;
pub const TK_ROW: u8 = 0xD1;
pub const TK_ENVCHANGE: u8 = 0xE3;
pub const TK_DONE: u8 = 0xFD;
pub const TK_DONEPROC: u8 = 0xFE;
pub const TK_DONEINPROC: u8 = 0xFF;

/// DONE status bits (MS-TDS 2.2.7.6).
pub const DONE_FINAL: u16 = 0x00;
pub const DONE_MORE: u16 = 0x01;
pub const DONE_ERROR: u16 = 0x02;
pub const DONE_INXACT: u16 = 0x04;
pub const DONE_COUNT: u16 = 0x10;
pub const DONE_ATTN: u16 = 0x20;

/// The server name in ERROR/INFO tokens.
pub const SERVER_NAME: &str = "mssql-sim";
/// TDS 7.4 (MS-TDS 2.2.7.14: 0x74000004).
pub const TDS_VERSION: u32 = 0x7400_0004;

fn b_varchar(out: &mut Vec<u8>, s: &str) {
    let at = out.len();
    out.push(0);
    let mut n = 0u8;
    for u in s.encode_utf16() {
        if n == u8::MAX {
            break;
        }
        out.extend_from_slice(&u.to_le_bytes());
        n += 1;
    }
    out[at] = n;
}

fn us_varchar(out: &mut Vec<u8>, s: &str) {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    let mut n = 0u16;
    for u in s.encode_utf16() {
        if n == u16::MAX {
            break;
        }
        out.extend_from_slice(&u.to_le_bytes());
        n += 1;
    }
    out[at..at + 2].copy_from_slice(&n.to_le_bytes());
}

/// Writes a token whose body starts with a u16 length, patching the length.
fn with_len16(out: &mut Vec<u8>, token: u8, body: impl FnOnce(&mut Vec<u8>)) {
    out.push(token);
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    body(out);
    let n = (out.len() - at - 2).min(u16::MAX as usize) as u16;
    out[at..at + 2].copy_from_slice(&n.to_le_bytes());
}

pub fn done(out: &mut Vec<u8>, token: u8, status: u16, cur_cmd: u16, count: u64) {
    out.push(token);
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&cur_cmd.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
}

/// ERROR (class > 10) or INFO token (MS-TDS 2.2.7.10 / 2.2.7.13).
pub fn error(out: &mut Vec<u8>, e: &SqlError) {
    let token = if e.class <= 10 { TK_INFO } else { TK_ERROR };
    with_len16(out, token, |o| {
        o.extend_from_slice(&e.number.to_le_bytes());
        o.push(e.state);
        o.push(e.class);
        us_varchar(o, &e.message);
        b_varchar(o, SERVER_NAME);
        b_varchar(o, &e.procedure);
        o.extend_from_slice(&e.line.to_le_bytes());
    });
}

pub fn info(out: &mut Vec<u8>, number: i32, message: &str) {
    let mut e = SqlError::new(number, 0, 1, message);
    e.line = 1;
    error(out, &e);
}

/// ENVCHANGE with B_VARCHAR new and old values (database, packet size).
pub fn env_strings(out: &mut Vec<u8>, ty: u8, new: &str, old: &str) {
    with_len16(out, TK_ENVCHANGE, |o| {
        o.push(ty);
        b_varchar(o, new);
        b_varchar(o, old);
    });
}

/// ENVCHANGE with B_VARBYTE new and old values (collation, transactions).
pub fn env_bytes(out: &mut Vec<u8>, ty: u8, new: &[u8], old: &[u8]) {
    with_len16(out, TK_ENVCHANGE, |o| {
        o.push(ty);
        o.push(new.len() as u8);
        o.extend_from_slice(new);
        o.push(old.len() as u8);
        o.extend_from_slice(old);
    });
}

/// LOGINACK (MS-TDS 2.2.7.14): interface SQL_TSQL, TDS 7.4, program name and
/// a SQL Server 2019-like version 15.0.
pub fn login_ack(out: &mut Vec<u8>) {
    with_len16(out, TK_LOGINACK, |o| {
        o.push(1);
        o.extend_from_slice(&TDS_VERSION.to_be_bytes());
        b_varchar(o, "Microsoft SQL Server");
        o.extend_from_slice(&[15, 0, 0x07, 0xD0]);
    });
}

/// Column flags: fNullable (0x01), usUpdateable = unknown (0x08) except for
/// identity columns, which are read-only (fIdentity 0x10) as SQL Server
/// reports them, and computed (fComputed 0x20) and timestamp columns, whose
/// values only the server writes (MS-TDS 2.2.7.4). A bulk copy client
/// (tiberius' `bulk_insert`) leaves read-only columns out of its load.
fn column_flags(c: &ColumnMeta) -> u16 {
    let mut f = 0u16;
    if c.nullable {
        f |= 0x01;
    }
    if c.identity {
        f |= 0x10;
    } else if c.computed {
        f |= 0x20;
    } else if !c.timestamp {
        f |= 0x08;
    }
    f
}

/// COLMETADATA UserType: 0x0050 for a timestamp column (MS-TDS 2.2.7.4,
/// "UserType ... 0x0050 (timestamp)"), 0 otherwise.
fn user_type(c: &ColumnMeta) -> u32 {
    if c.timestamp {
        0x50
    } else {
        0
    }
}

pub fn col_metadata(out: &mut Vec<u8>, cols: &[ColumnMeta]) {
    out.push(TK_COLMETADATA);
    out.extend_from_slice(&(cols.len().min(u16::MAX as usize - 1) as u16).to_le_bytes());
    for c in cols {
        out.extend_from_slice(&user_type(c).to_le_bytes());
        out.extend_from_slice(&column_flags(c).to_le_bytes());
        write_type_info(out, &c.ty, c.nullable);
        if c.ty.is_lob() {
            // TableName of a text/ntext/image column (MS-TDS 2.2.7.4):
            // NumParts, then each part as US_VARCHAR.
            table_name(out, c.table.as_deref());
        }
        b_varchar(out, &c.name);
    }
}

fn table_name(out: &mut Vec<u8>, table: Option<&str>) {
    let parts: Vec<&str> = table.map(|t| t.split('.').collect()).unwrap_or_default();
    out.push(parts.len() as u8);
    for p in parts {
        let units: Vec<u16> = p.encode_utf16().collect();
        out.extend_from_slice(&(units.len() as u16).to_le_bytes());
        for u in units {
            out.extend_from_slice(&u.to_le_bytes());
        }
    }
}

pub fn row(out: &mut Vec<u8>, cols: &[ColumnMeta], values: &[Value]) {
    out.push(TK_ROW);
    for (i, c) in cols.iter().enumerate() {
        let v = values.get(i).unwrap_or(&Value::Null);
        // A NOT NULL fixed-length column cannot carry NULL on the wire; the
        // engine guarantees it never sends one (debug-asserted in write_value).
        write_value(out, &c.ty, c.nullable, v);
    }
}

pub fn return_status(out: &mut Vec<u8>, status: i32) {
    out.push(TK_RETURNSTATUS);
    out.extend_from_slice(&status.to_le_bytes());
}

/// RETURNVALUE (MS-TDS 2.2.7.18): an output parameter's value after the
/// RPC's RETURNSTATUS. `ordinal` is the parameter's position in the
/// request; status 0x01 = output parameter of an RPC.
pub fn return_value(out: &mut Vec<u8>, ordinal: u16, name: &str, ty: &SqlType, v: &Value) {
    out.push(TK_RETURNVALUE);
    out.extend_from_slice(&ordinal.to_le_bytes());
    b_varchar(out, name);
    out.push(0x01);
    out.extend_from_slice(&0u32.to_le_bytes()); // UserType
    out.extend_from_slice(&0x0001u16.to_le_bytes()); // Flags: fNullable
    write_type_info(out, ty, true);
    write_value(out, ty, true, v);
}
