//! TYPE_INFO and values on the wire (MS-TDS 2.2.5.4 data type definitions,
//! 2.2.5.5 type info rules), in both directions: the server encodes result
//! columns the way SQL Server does, and decodes what clients send in RPC
//! parameters and BULK LOAD rows.

use super::src::{Src, TdsError};
use crate::value::{Len, SqlType, Value};

// Fixed-length types (MS-TDS 2.2.5.4.1).
pub const NULLTYPE: u8 = 0x1F;
pub const INT1: u8 = 0x30;
pub const BIT: u8 = 0x32;
pub const INT2: u8 = 0x34;
pub const INT4: u8 = 0x38;
pub const DATETIM4: u8 = 0x3A;
pub const FLT4: u8 = 0x3B;
pub const MONEY: u8 = 0x3C;
pub const DATETIME: u8 = 0x3D;
pub const FLT8: u8 = 0x3E;
pub const MONEY4: u8 = 0x7A;
pub const INT8: u8 = 0x7F;
// Variable-length types (MS-TDS 2.2.5.4.2).
pub const GUIDTYPE: u8 = 0x24;
pub const INTN: u8 = 0x26;
pub const DATEN: u8 = 0x28;
pub const TIMEN: u8 = 0x29;
pub const DATETIME2N: u8 = 0x2A;
pub const DATETIMEOFFSETN: u8 = 0x2B;
pub const BITN: u8 = 0x68;
pub const DECIMALN: u8 = 0x6A;
pub const NUMERICN: u8 = 0x6C;
pub const FLTN: u8 = 0x6D;
pub const MONEYN: u8 = 0x6E;
pub const DATETIMN: u8 = 0x6F;
pub const BIGVARBIN: u8 = 0xA5;
pub const BIGVARCHR: u8 = 0xA7;
pub const BIGBINARY: u8 = 0xAD;
pub const BIGCHAR: u8 = 0xAF;
pub const NVARCHAR: u8 = 0xE7;
pub const NCHAR: u8 = 0xEF;
// The large-object types (MS-TDS 2.2.5.4.3 and 2.2.5.2.3 PLP).
pub const IMAGETYPE: u8 = 0x22;
pub const TEXTTYPE: u8 = 0x23;
pub const SSVARIANTTYPE: u8 = 0x62;
pub const NTEXTTYPE: u8 = 0x63;
pub const XMLTYPE: u8 = 0xF1;
pub const UDTTYPE: u8 = 0xF0;

/// SQL_Latin1_General_CP1_CI_AS, SQL Server's default server collation:
/// LCID 0x0409 with IgnoreCase/IgnoreKana/IgnoreWidth flags and sort id 52
/// (code page 1252). MS-TDS 2.2.5.1.2 (COLLATION).
pub const COLLATION: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 0x34];

/// Largest single value the stand-in accepts from a client (a PLP value or
/// the sum of its chunks): 64 MiB, far more than ctsync's tests use.
pub const MAX_VALUE_BYTES: usize = 64 << 20;

/// Days from 0001-01-01 to 1900-01-01, the epoch of datetime/smalldatetime.
const DAYS_TO_1900: i32 = 693_595;

/// A decoded TYPE_INFO: the wire code plus what decoding its values needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireType {
    pub code: u8,
    /// Max length in bytes (0xFFFF for PLP types), or the fixed size.
    pub len: u32,
    pub precision: u8,
    pub scale: u8,
    /// The SQL type; `None` for NULLTYPE (a NULL whose type comes from the
    /// parameter declarations).
    pub ty: Option<SqlType>,
}

impl WireType {
    fn plp(&self) -> bool {
        matches!(self.code, BIGVARBIN | BIGVARCHR | NVARCHAR) && self.len == 0xFFFF
            || self.code == XMLTYPE
            || self.code == UDTTYPE
    }

    /// text, ntext or image (values carry a LONGLEN length, and in rows a
    /// text pointer and timestamp first).
    pub fn is_lob(&self) -> bool {
        matches!(self.code, TEXTTYPE | NTEXTTYPE | IMAGETYPE)
    }
}

/// Reads a TYPE_INFO (the types tiberius and common drivers send).
pub fn read_type_info<S: Src + ?Sized>(src: &mut S) -> Result<WireType, TdsError> {
    let code = src.u8()?;
    let mut w = WireType {
        code,
        len: 0,
        precision: 0,
        scale: 0,
        ty: None,
    };
    let fixed = |w: &mut WireType, len: u32, ty: SqlType| {
        w.len = len;
        w.ty = Some(ty);
    };
    match code {
        NULLTYPE => {}
        INT1 => fixed(&mut w, 1, SqlType::TinyInt),
        BIT => fixed(&mut w, 1, SqlType::Bit),
        INT2 => fixed(&mut w, 2, SqlType::SmallInt),
        INT4 => fixed(&mut w, 4, SqlType::Int),
        INT8 => fixed(&mut w, 8, SqlType::BigInt),
        DATETIM4 => fixed(&mut w, 4, SqlType::SmallDateTime),
        DATETIME => fixed(&mut w, 8, SqlType::DateTime),
        FLT4 => fixed(&mut w, 4, SqlType::Real),
        FLT8 => fixed(&mut w, 8, SqlType::Float),
        MONEY => fixed(&mut w, 8, SqlType::Money),
        MONEY4 => fixed(&mut w, 4, SqlType::SmallMoney),
        INTN | BITN | FLTN | MONEYN | DATETIMN | GUIDTYPE => {
            w.len = src.u8()? as u32;
            w.ty = Some(match (code, w.len) {
                (INTN, 1) => SqlType::TinyInt,
                (INTN, 2) => SqlType::SmallInt,
                (INTN, 4) => SqlType::Int,
                (INTN, 8) => SqlType::BigInt,
                (BITN, 1) => SqlType::Bit,
                (FLTN, 4) => SqlType::Real,
                (FLTN, 8) => SqlType::Float,
                (MONEYN, 4) => SqlType::SmallMoney,
                (MONEYN, 8) => SqlType::Money,
                (DATETIMN, 4) => SqlType::SmallDateTime,
                (DATETIMN, 8) => SqlType::DateTime,
                (GUIDTYPE, 16) => SqlType::UniqueIdentifier,
                (c, l) => {
                    return Err(TdsError::protocol(format!(
                        "type 0x{c:02X} with invalid length {l}"
                    )))
                }
            });
        }
        DECIMALN | NUMERICN => {
            w.len = src.u8()? as u32;
            w.precision = src.u8()?;
            w.scale = src.u8()?;
            if !(1..=38).contains(&w.precision)
                || w.scale > w.precision
                || !(5..=17).contains(&w.len)
            {
                return Err(TdsError::protocol(
                    "invalid decimal precision, scale or length",
                ));
            }
            w.ty = Some(SqlType::Decimal {
                precision: w.precision,
                scale: w.scale,
            });
        }
        DATEN => {
            w.len = 3;
            w.ty = Some(SqlType::Date);
        }
        TIMEN | DATETIME2N | DATETIMEOFFSETN => {
            w.scale = src.u8()?;
            if w.scale > 7 {
                return Err(TdsError::protocol("time scale above 7"));
            }
            w.ty = Some(match code {
                TIMEN => SqlType::Time(w.scale),
                DATETIME2N => SqlType::DateTime2(w.scale),
                _ => SqlType::DateTimeOffset(w.scale),
            });
        }
        BIGVARBIN | BIGBINARY | BIGVARCHR | BIGCHAR | NVARCHAR | NCHAR => {
            let len = src.u16_le()?;
            w.len = len as u32;
            if matches!(code, BIGVARCHR | BIGCHAR | NVARCHAR | NCHAR) {
                let mut coll = [0u8; 5];
                src.fill(&mut coll)?;
            }
            let n = |chars: u16| -> Result<u16, TdsError> {
                if chars == 0 {
                    Err(TdsError::protocol("zero-length character or binary type"))
                } else {
                    Ok(chars)
                }
            };
            let vlen = |max: u16| -> Result<Len, TdsError> {
                if len == 0xFFFF {
                    Ok(Len::Max)
                } else {
                    Ok(Len::N(n(max)?))
                }
            };
            w.ty = Some(match code {
                BIGVARBIN => SqlType::VarBinary(vlen(len)?),
                BIGBINARY => SqlType::Binary(n(len)?),
                BIGVARCHR => SqlType::VarChar(vlen(len)?),
                BIGCHAR => SqlType::Char(n(len)?),
                NVARCHAR => SqlType::NVarChar(vlen(len / 2)?),
                _ => SqlType::NChar(n(len / 2)?),
            });
        }
        XMLTYPE => {
            // XML_INFO: SCHEMA_PRESENT, then the schema collection's
            // database, owning schema (B_VARCHAR) and name (US_VARCHAR).
            // The stand-in has no schema collections: a typed value is
            // stored as untyped xml.
            if src.u8()? == 1 {
                src.b_varchar()?;
                src.b_varchar()?;
                src.us_varchar()?;
            }
            w.len = 0xFFFF;
            w.ty = Some(SqlType::Xml);
        }
        TEXTTYPE | NTEXTTYPE | IMAGETYPE => {
            w.len = src.u32_le()?;
            if code != IMAGETYPE {
                let mut coll = [0u8; 5];
                src.fill(&mut coll)?;
            }
            w.ty = Some(match code {
                TEXTTYPE => SqlType::Text,
                NTEXTTYPE => SqlType::NText,
                _ => SqlType::Image,
            });
        }
        SSVARIANTTYPE => {
            w.len = src.u32_le()?;
            w.ty = Some(SqlType::Variant);
        }
        UDTTYPE => {
            // UDT_INFO of an RPC parameter (MS-TDS 2.2.5.5.2): the type's
            // database, schema and name (B_VARCHAR each). Only the CLR system
            // types are known to the stand-in.
            src.b_varchar()?;
            src.b_varchar()?;
            let name = src.b_varchar()?;
            w.len = 0xFFFF;
            w.ty = Some(match name.to_ascii_lowercase().as_str() {
                "hierarchyid" => SqlType::HierarchyId,
                "geography" => SqlType::Geography,
                "geometry" => SqlType::Geometry,
                other => {
                    return Err(TdsError::protocol(format!(
                        "user-defined type {other} is not supported by the stand-in"
                    )))
                }
            });
        }
        other => {
            return Err(TdsError::protocol(format!(
                "data type 0x{other:02X} is not supported by the stand-in"
            )))
        }
    }
    Ok(w)
}

/// Reads one value of type `w` (a TYPE_VARBYTE). Strings and binaries are
/// bounded by the declared length or [`MAX_VALUE_BYTES`].
pub fn read_value<S: Src + ?Sized>(src: &mut S, w: &WireType) -> Result<Value, TdsError> {
    let ty = match w.ty {
        None => return Ok(Value::Null),
        Some(t) => t,
    };
    // Fixed-length wire types carry no length prefix.
    let len = match w.code {
        SSVARIANTTYPE => return variant::read(src),
        UDTTYPE => {
            return Ok(match read_plp(src)? {
                None => Value::Null,
                Some(b) => Value::Binary(b),
            })
        }
        XMLTYPE => {
            return Ok(match read_plp(src)? {
                None => Value::Null,
                Some(b) => Value::String(super::src::utf16_to_string(&b)?),
            })
        }
        TEXTTYPE | NTEXTTYPE | IMAGETYPE => {
            // In an RPC parameter: a LONGLEN length (0xFFFFFFFF = NULL),
            // then the data (MS-TDS 2.2.5.2.2, 2.2.6.6).
            let l = src.u32_le()?;
            if l == u32::MAX {
                return Ok(Value::Null);
            }
            return lob_data(src, w.code, l as usize);
        }
        INT1 | BIT | INT2 | INT4 | INT8 | DATETIM4 | DATETIME | FLT4 | FLT8 | MONEY | MONEY4 => {
            w.len as usize
        }
        BIGVARBIN | BIGBINARY | BIGVARCHR | BIGCHAR | NVARCHAR | NCHAR => {
            let raw = if w.plp() {
                match read_plp(src)? {
                    None => return Ok(Value::Null),
                    Some(b) => b,
                }
            } else {
                let l = src.u16_le()?;
                if l == 0xFFFF {
                    return Ok(Value::Null);
                }
                if l as u32 > w.len {
                    return Err(TdsError::protocol("value longer than its declared type"));
                }
                src.bytes(l as usize)?
            };
            return Ok(match w.code {
                BIGVARBIN | BIGBINARY => Value::Binary(raw),
                NVARCHAR | NCHAR => Value::String(super::src::utf16_to_string(&raw)?),
                _ => Value::String(cp1252_decode(&raw)),
            });
        }
        _ => {
            let l = src.u8()? as usize;
            if l == 0 {
                return Ok(Value::Null);
            }
            l
        }
    };
    let mut b = [0u8; 17];
    if len > b.len() {
        return Err(TdsError::protocol("value length too large for its type"));
    }
    let b = &mut b[..len];
    src.fill(b)?;
    let bad = || TdsError::protocol(format!("invalid value length {len} for {ty}"));
    let v = match ty {
        SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt | SqlType::Bit => {
            let v = match len {
                1 => b[0] as i64,
                2 => i16::from_le_bytes([b[0], b[1]]) as i64,
                4 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
                8 => i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
                _ => return Err(bad()),
            };
            if ty == SqlType::Bit {
                Value::Int((v != 0) as i64)
            } else {
                Value::Int(v)
            }
        }
        SqlType::Real | SqlType::Float => match len {
            4 => Value::Float(f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64),
            8 => Value::Float(f64::from_le_bytes([
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
            ])),
            _ => return Err(bad()),
        },
        SqlType::Money | SqlType::SmallMoney => match len {
            // money: the high 4 bytes first, then the low 4 (MS-TDS 2.2.5.5.1.4).
            8 => {
                let hi = i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64;
                let lo = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as i64;
                Value::Decimal(((hi << 32) | lo) as i128, 4)
            }
            4 => Value::Decimal(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i128, 4),
            _ => return Err(bad()),
        },
        SqlType::Decimal { scale, .. } => {
            if len < 2 {
                return Err(bad());
            }
            let mut mag = [0u8; 16];
            mag[..len - 1].copy_from_slice(&b[1..]);
            let m = u128::from_le_bytes(mag);
            if m > i128::MAX as u128 {
                return Err(TdsError::protocol("decimal magnitude out of range"));
            }
            let m = m as i128;
            Value::Decimal(if b[0] == 0 { -m } else { m }, scale)
        }
        SqlType::UniqueIdentifier => {
            if len != 16 {
                return Err(bad());
            }
            let mut g = [0u8; 16];
            g.copy_from_slice(b);
            Value::Guid(guid_swap(g))
        }
        SqlType::Date => {
            if len != 3 {
                return Err(bad());
            }
            Value::Date(le3(b))
        }
        SqlType::Time(s) => {
            if len != time_len(s) {
                return Err(bad());
            }
            Value::Time(time_ticks(b, s))
        }
        SqlType::DateTime2(s) => {
            let tl = time_len(s);
            if len != tl + 3 {
                return Err(bad());
            }
            Value::DateTime {
                days: le3(&b[tl..]),
                ticks: time_ticks(&b[..tl], s),
            }
        }
        SqlType::DateTimeOffset(s) => {
            let tl = time_len(s);
            if len != tl + 5 {
                return Err(bad());
            }
            Value::DateTimeOffset {
                days: le3(&b[tl..tl + 3]),
                ticks: time_ticks(&b[..tl], s),
                offset_minutes: i16::from_le_bytes([b[tl + 3], b[tl + 4]]),
            }
        }
        SqlType::DateTime | SqlType::SmallDateTime => match len {
            8 => {
                let days = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                let frac = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as i64;
                // 1/300 s units to 100 ns ticks, rounded.
                Value::DateTime {
                    days: days.saturating_add(DAYS_TO_1900),
                    ticks: (frac * 100_000 + 1) / 3,
                }
            }
            4 => {
                let days = u16::from_le_bytes([b[0], b[1]]) as i32;
                let mins = u16::from_le_bytes([b[2], b[3]]) as i64;
                Value::DateTime {
                    days: days + DAYS_TO_1900,
                    ticks: mins * 600_000_000,
                }
            }
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    Ok(v)
}

fn lob_data<S: Src + ?Sized>(src: &mut S, code: u8, len: usize) -> Result<Value, TdsError> {
    if len > MAX_VALUE_BYTES {
        return Err(TdsError::protocol("value above the stand-in's size limit"));
    }
    let raw = src.bytes(len)?;
    Ok(match code {
        IMAGETYPE => Value::Binary(raw),
        NTEXTTYPE => Value::String(super::src::utf16_to_string(&raw)?),
        _ => Value::String(cp1252_decode(&raw)),
    })
}

/// A text, ntext or image value in a row (BULK LOAD): TextPointer
/// (B_VARBYTE; length 0 is NULL), Timestamp (8 bytes), then the LONGLEN
/// length and data (MS-TDS 2.2.7.17, TYPE_VARBYTE of the LOB types).
pub fn read_row_value<S: Src + ?Sized>(src: &mut S, w: &WireType) -> Result<Value, TdsError> {
    if !w.is_lob() {
        return read_value(src, w);
    }
    let ptr = src.u8()? as usize;
    if ptr == 0 {
        return Ok(Value::Null);
    }
    src.bytes(ptr + 8)?;
    let l = src.u32_le()? as usize;
    lob_data(src, w.code, l)
}

/// A PLP value (MS-TDS 2.2.5.2.3): total length (or unknown), then chunks
/// each prefixed with a u32 length, ended by a zero-length chunk.
fn read_plp<S: Src + ?Sized>(src: &mut S) -> Result<Option<Vec<u8>>, TdsError> {
    let total = src.u64_le()?;
    if total == u64::MAX {
        return Ok(None);
    }
    if total != u64::MAX - 1 && total > MAX_VALUE_BYTES as u64 {
        return Err(TdsError::protocol(
            "PLP value above the stand-in's size limit",
        ));
    }
    let mut out = Vec::new();
    loop {
        let chunk = src.u32_le()? as usize;
        if chunk == 0 {
            break;
        }
        if out.len() + chunk > MAX_VALUE_BYTES {
            return Err(TdsError::protocol(
                "PLP value above the stand-in's size limit",
            ));
        }
        let start = out.len();
        out.resize(start + chunk, 0);
        src.fill(&mut out[start..])?;
    }
    Ok(Some(out))
}

fn le3(b: &[u8]) -> i32 {
    i32::from_le_bytes([b[0], b[1], b[2], 0])
}

/// Bytes of a time(s) value: 3 for scale 0..=2, 4 for 3..=4, 5 for 5..=7
/// (docs/t-sql/data-types/time-transact-sql.md).
pub fn time_len(scale: u8) -> usize {
    match scale {
        0..=2 => 3,
        3..=4 => 4,
        _ => 5,
    }
}

fn pow10(n: u8) -> i64 {
    10i64.pow(n as u32)
}

fn time_ticks(b: &[u8], scale: u8) -> i64 {
    let mut v = [0u8; 8];
    v[..b.len()].copy_from_slice(b);
    let inc = i64::from_le_bytes(v);
    inc.saturating_mul(pow10(7 - scale.min(7)))
}

/// SQL Server stores a GUID's first three groups little-endian.
pub fn guid_swap(g: [u8; 16]) -> [u8; 16] {
    [
        g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13],
        g[14], g[15],
    ]
}

/// Windows-1252 bytes 0x80..=0x9F; the rest of the page equals Latin-1.
const CP1252_HIGH: [u16; 32] = [
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
    0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
];

pub fn cp1252_decode(b: &[u8]) -> String {
    b.iter()
        .map(|&c| match c {
            0x80..=0x9F => char::from_u32(CP1252_HIGH[(c - 0x80) as usize] as u32).unwrap_or('?'),
            _ => c as char,
        })
        .collect()
}

/// Encodes into code page 1252; characters outside it become `?`, as SQL
/// Server does when converting nvarchar to a varchar of that collation.
pub fn cp1252_encode(s: &str, out: &mut Vec<u8>) {
    for ch in s.chars() {
        let c = ch as u32;
        let b = if c < 0x80 || (0xA0..=0xFF).contains(&c) {
            c as u8
        } else {
            match CP1252_HIGH.iter().position(|&u| u as u32 == c) {
                Some(i) => 0x80 + i as u8,
                None => b'?',
            }
        };
        out.push(b);
    }
}

mod encode;
pub mod variant;
pub use encode::{rescale, write_type_info, write_value};

#[cfg(test)]
mod tests;
