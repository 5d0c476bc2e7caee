//! The server's side of values on the wire: TYPE_INFO of result columns
//! and their values, encoded the way SQL Server sends them (MS-TDS 2.2.5.4,
//! 2.2.5.5).

use super::*;

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Bytes of a decimal(p) magnitude (MS-TDS 2.2.5.5.1.6).
fn decimal_bytes(precision: u8) -> usize {
    match precision {
        0..=9 => 4,
        10..=19 => 8,
        20..=28 => 12,
        _ => 16,
    }
}

/// Writes the TYPE_INFO SQL Server uses for a result column of this type.
/// NOT NULL columns of fixed-size types use the fixed-length codes (INT4,
/// FLT8, ...), nullable ones the nullable variants (INTN, FLTN, ...), as SQL
/// Server does.
pub fn write_type_info(out: &mut Vec<u8>, ty: &SqlType, nullable: bool) {
    let fixed_or = |out: &mut Vec<u8>, fixed: u8, var: u8, len: u8| {
        if nullable {
            out.push(var);
            out.push(len);
        } else {
            out.push(fixed);
        }
    };
    match *ty {
        SqlType::TinyInt => fixed_or(out, INT1, INTN, 1),
        SqlType::SmallInt => fixed_or(out, INT2, INTN, 2),
        SqlType::Int => fixed_or(out, INT4, INTN, 4),
        SqlType::BigInt => fixed_or(out, INT8, INTN, 8),
        SqlType::Bit => fixed_or(out, BIT, BITN, 1),
        SqlType::Real => fixed_or(out, FLT4, FLTN, 4),
        SqlType::Float => fixed_or(out, FLT8, FLTN, 8),
        SqlType::Money => fixed_or(out, MONEY, MONEYN, 8),
        SqlType::SmallMoney => fixed_or(out, MONEY4, MONEYN, 4),
        SqlType::DateTime => fixed_or(out, DATETIME, DATETIMN, 8),
        SqlType::SmallDateTime => fixed_or(out, DATETIM4, DATETIMN, 4),
        SqlType::Decimal { precision, scale } => {
            out.extend_from_slice(&[
                DECIMALN,
                1 + decimal_bytes(precision) as u8,
                precision,
                scale,
            ]);
        }
        SqlType::UniqueIdentifier => out.extend_from_slice(&[GUIDTYPE, 16]),
        SqlType::Date => out.push(DATEN),
        SqlType::Time(s) => out.extend_from_slice(&[TIMEN, s]),
        SqlType::DateTime2(s) => out.extend_from_slice(&[DATETIME2N, s]),
        SqlType::DateTimeOffset(s) => out.extend_from_slice(&[DATETIMEOFFSETN, s]),
        SqlType::NVarChar(l) => {
            out.push(NVARCHAR);
            put_u16(out, max_len(l, 2));
            out.extend_from_slice(&COLLATION);
        }
        SqlType::VarChar(l) => {
            out.push(BIGVARCHR);
            put_u16(out, max_len(l, 1));
            out.extend_from_slice(&COLLATION);
        }
        SqlType::NChar(n) => {
            out.push(NCHAR);
            put_u16(out, n.saturating_mul(2));
            out.extend_from_slice(&COLLATION);
        }
        SqlType::Char(n) => {
            out.push(BIGCHAR);
            put_u16(out, n);
            out.extend_from_slice(&COLLATION);
        }
        SqlType::VarBinary(l) => {
            out.push(BIGVARBIN);
            put_u16(out, max_len(l, 1));
        }
        SqlType::Binary(n) => {
            out.push(BIGBINARY);
            put_u16(out, n);
        }
        // XMLTYPE, no schema collection (SCHEMA_PRESENT 0), MS-TDS 2.2.5.5.3.
        SqlType::Xml => out.extend_from_slice(&[XMLTYPE, 0]),
        // The LOB types: LONGLEN maximum length (2^31-1 bytes; ntext 2^30-1
        // characters), the collation for text and ntext. In COLMETADATA the
        // TableName follows (see `tokens::col_metadata`).
        SqlType::Text => {
            out.push(TEXTTYPE);
            out.extend_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
            out.extend_from_slice(&COLLATION);
        }
        SqlType::NText => {
            out.push(NTEXTTYPE);
            out.extend_from_slice(&0x7FFF_FFFEu32.to_le_bytes());
            out.extend_from_slice(&COLLATION);
        }
        SqlType::Image => {
            out.push(IMAGETYPE);
            out.extend_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
        }
        SqlType::Variant => {
            out.push(SSVARIANTTYPE);
            out.extend_from_slice(&variant::MAX_LEN.to_le_bytes());
        }
        SqlType::HierarchyId | SqlType::Geography | SqlType::Geometry => write_udt_info(out, ty),
    }
}

/// UDT_INFO of a result column (MS-TDS 2.2.5.5.2): MAX_BYTE_SIZE (892 for
/// hierarchyid; 0xFFFF, unlimited, for the spatial types), the database,
/// schema and type names, then the assembly-qualified CLR type name. The
/// stand-in sends an empty database name (SQL Server names the current
/// database).
fn write_udt_info(out: &mut Vec<u8>, ty: &SqlType) {
    let (max, clr) = match ty {
        SqlType::HierarchyId => (892u16, "SqlHierarchyId"),
        SqlType::Geography => (0xFFFF, "SqlGeography"),
        _ => (0xFFFF, "SqlGeometry"),
    };
    out.push(UDTTYPE);
    put_u16(out, max);
    let b_varchar = |out: &mut Vec<u8>, s: &str| {
        let units: Vec<u16> = s.encode_utf16().collect();
        out.push(units.len() as u8);
        units
            .iter()
            .for_each(|u| out.extend_from_slice(&u.to_le_bytes()));
    };
    b_varchar(out, "");
    b_varchar(out, "sys");
    b_varchar(out, ty.base_name());
    let aqn = format!(
        "Microsoft.SqlServer.Types.{clr}, Microsoft.SqlServer.Types, Version=11.0.0.0, Culture=neutral, PublicKeyToken=89845dcd8080cc91"
    );
    let units: Vec<u16> = aqn.encode_utf16().collect();
    put_u16(out, units.len() as u16);
    units
        .iter()
        .for_each(|u| out.extend_from_slice(&u.to_le_bytes()));
}

/// A text pointer (16 bytes) and timestamp (8 bytes) SQL Server sends ahead
/// of a text/ntext/image value; clients skip them (the stand-in has no
/// TEXTPTR/READTEXT), so they are fixed.
const TEXT_PTR: [u8; 16] = *b"mssql-sim-txtptr";
const TEXT_TS: [u8; 8] = [0; 8];

fn max_len(l: Len, unit: u16) -> u16 {
    match l {
        Len::Max => 0xFFFF,
        Len::N(n) => n.saturating_mul(unit).min(8000),
    }
}

fn is_plp(ty: &SqlType) -> bool {
    matches!(
        ty,
        SqlType::NVarChar(Len::Max)
            | SqlType::VarChar(Len::Max)
            | SqlType::VarBinary(Len::Max)
            | SqlType::Xml
            | SqlType::HierarchyId
            | SqlType::Geography
            | SqlType::Geometry
    )
}

/// Rescales an unscaled decimal to `to` digits, rounding half away from zero.
pub fn rescale(v: i128, from: u8, to: u8) -> i128 {
    if from == to {
        v
    } else if to > from {
        v.saturating_mul(10i128.saturating_pow((to - from) as u32))
    } else {
        let f = 10i128.saturating_pow((from - to) as u32);
        let half = f / 2;
        if v >= 0 {
            v.saturating_add(half) / f
        } else {
            v.saturating_sub(half) / f
        }
    }
}

fn as_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Decimal(d, s) => rescale(*d, *s, 0) as i64,
        _ => 0,
    }
}

fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Float(f) => *f,
        Value::Int(i) => *i as f64,
        Value::Decimal(d, s) => *d as f64 / 10f64.powi(*s as i32),
        _ => 0.0,
    }
}

fn as_decimal(v: &Value, scale: u8) -> i128 {
    match v {
        Value::Decimal(d, s) => rescale(*d, *s, scale),
        Value::Int(i) => rescale(*i as i128, 0, scale),
        Value::Float(f) => (f * 10f64.powi(scale as i32)).round() as i128,
        _ => 0,
    }
}

fn date_parts(v: &Value) -> (i32, i64, i16) {
    match v {
        Value::Date(d) => (*d, 0, 0),
        Value::Time(t) => (0, *t, 0),
        Value::DateTime { days, ticks } => (*days, *ticks, 0),
        Value::DateTimeOffset {
            days,
            ticks,
            offset_minutes,
        } => (*days, *ticks, *offset_minutes),
        _ => (0, 0, 0),
    }
}

fn write_time(out: &mut Vec<u8>, ticks: i64, scale: u8) {
    let s = scale.min(7);
    let inc = ticks.max(0) / pow10(7 - s);
    out.extend_from_slice(&inc.to_le_bytes()[..time_len(s)]);
}

fn write_date(out: &mut Vec<u8>, days: i32) {
    out.extend_from_slice(&days.max(0).to_le_bytes()[..3]);
}

/// Writes one value of a result column (or a RETURNVALUE). The engine
/// guarantees the value matches the column type; a mismatch is coerced rather
/// than allowed to corrupt the stream.
pub fn write_value(out: &mut Vec<u8>, ty: &SqlType, nullable: bool, v: &Value) {
    debug_assert!(nullable || !v.is_null(), "NULL in a NOT NULL column");
    let null = v.is_null();
    if null && is_plp(ty) {
        out.extend_from_slice(&u64::MAX.to_le_bytes());
        return;
    }
    match *ty {
        SqlType::Variant => variant::write(out, v),
        SqlType::Text | SqlType::NText | SqlType::Image => {
            if null {
                out.push(0);
                return;
            }
            out.push(TEXT_PTR.len() as u8);
            out.extend_from_slice(&TEXT_PTR);
            out.extend_from_slice(&TEXT_TS);
            let len_at = out.len();
            out.extend_from_slice(&[0u8; 4]);
            match (ty, v) {
                (SqlType::NText, Value::String(s)) => {
                    for u in s.encode_utf16() {
                        out.extend_from_slice(&u.to_le_bytes());
                    }
                }
                (_, Value::String(s)) => cp1252_encode(s, out),
                (_, Value::Binary(b)) => out.extend_from_slice(b),
                _ => {}
            }
            let n = (out.len() - len_at - 4) as u32;
            out[len_at..len_at + 4].copy_from_slice(&n.to_le_bytes());
        }
        SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt | SqlType::Bit => {
            let size = match ty {
                SqlType::TinyInt | SqlType::Bit => 1,
                SqlType::SmallInt => 2,
                SqlType::Int => 4,
                _ => 8,
            };
            if nullable {
                if null {
                    out.push(0);
                    return;
                }
                out.push(size as u8);
            }
            let mut i = as_i64(v);
            if *ty == SqlType::Bit {
                i = (i != 0) as i64;
            }
            out.extend_from_slice(&i.to_le_bytes()[..size]);
        }
        SqlType::Real | SqlType::Float => {
            let size = if *ty == SqlType::Real { 4 } else { 8 };
            if nullable {
                if null {
                    out.push(0);
                    return;
                }
                out.push(size);
            }
            if size == 4 {
                out.extend_from_slice(&(as_f64(v) as f32).to_le_bytes());
            } else {
                out.extend_from_slice(&as_f64(v).to_le_bytes());
            }
        }
        SqlType::Money | SqlType::SmallMoney => {
            let size = if *ty == SqlType::Money { 8 } else { 4 };
            if nullable {
                if null {
                    out.push(0);
                    return;
                }
                out.push(size);
            }
            let m = as_decimal(v, 4);
            if size == 8 {
                let m = m as i64;
                out.extend_from_slice(&((m >> 32) as i32).to_le_bytes());
                out.extend_from_slice(&(m as u32).to_le_bytes());
            } else {
                out.extend_from_slice(&(m as i32).to_le_bytes());
            }
        }
        SqlType::DateTime | SqlType::SmallDateTime => {
            let size = if *ty == SqlType::DateTime { 8 } else { 4 };
            if nullable {
                if null {
                    out.push(0);
                    return;
                }
                out.push(size);
            }
            let (mut days, ticks, _) = date_parts(v);
            days -= DAYS_TO_1900;
            if size == 8 {
                // 100 ns ticks to 1/300 s, rounded (datetime-transact-sql.md).
                let mut frac = (ticks * 3 + 50_000) / 100_000;
                if frac >= 300 * 86_400 {
                    days += 1;
                    frac -= 300 * 86_400;
                }
                out.extend_from_slice(&days.to_le_bytes());
                out.extend_from_slice(&(frac as u32).to_le_bytes());
            } else {
                let mut mins = (ticks + 300_000_000) / 600_000_000;
                if mins >= 1440 {
                    days += 1;
                    mins -= 1440;
                }
                out.extend_from_slice(&(days.clamp(0, u16::MAX as i32) as u16).to_le_bytes());
                out.extend_from_slice(&(mins as u16).to_le_bytes());
            }
        }
        SqlType::Decimal { precision, scale } => {
            if null {
                out.push(0);
                return;
            }
            let n = decimal_bytes(precision);
            out.push(1 + n as u8);
            let d = as_decimal(v, scale);
            out.push(if d < 0 { 0 } else { 1 });
            out.extend_from_slice(&d.unsigned_abs().to_le_bytes()[..n]);
        }
        SqlType::UniqueIdentifier => match v {
            Value::Guid(g) => {
                out.push(16);
                out.extend_from_slice(&guid_swap(*g));
            }
            _ => out.push(0),
        },
        SqlType::Date => {
            if null {
                out.push(0);
                return;
            }
            out.push(3);
            write_date(out, date_parts(v).0);
        }
        SqlType::Time(s) => {
            if null {
                out.push(0);
                return;
            }
            out.push(time_len(s) as u8);
            write_time(out, date_parts(v).1, s);
        }
        SqlType::DateTime2(s) => {
            if null {
                out.push(0);
                return;
            }
            let (d, t, _) = date_parts(v);
            out.push(time_len(s) as u8 + 3);
            write_time(out, t, s);
            write_date(out, d);
        }
        SqlType::DateTimeOffset(s) => {
            if null {
                out.push(0);
                return;
            }
            let (d, t, o) = date_parts(v);
            out.push(time_len(s) as u8 + 5);
            write_time(out, t, s);
            write_date(out, d);
            out.extend_from_slice(&o.to_le_bytes());
        }
        SqlType::NVarChar(_)
        | SqlType::NChar(_)
        | SqlType::VarChar(_)
        | SqlType::Char(_)
        | SqlType::VarBinary(_)
        | SqlType::Binary(_)
        | SqlType::Xml
        | SqlType::HierarchyId
        | SqlType::Geography
        | SqlType::Geometry => {
            if null {
                out.extend_from_slice(&0xFFFFu16.to_le_bytes());
                return;
            }
            let plp = is_plp(ty);
            // Reserve the length, write the data in place, then patch the
            // length: no temporary buffer per value.
            let len_at = out.len();
            if plp {
                out.extend_from_slice(&[0u8; 12]);
            } else {
                out.extend_from_slice(&[0u8; 2]);
            }
            let data_at = out.len();
            match (ty, v) {
                (SqlType::NVarChar(_) | SqlType::NChar(_) | SqlType::Xml, Value::String(s)) => {
                    for u in s.encode_utf16() {
                        out.extend_from_slice(&u.to_le_bytes());
                    }
                }
                (SqlType::VarChar(_) | SqlType::Char(_), Value::String(s)) => cp1252_encode(s, out),
                (_, Value::Binary(b)) => out.extend_from_slice(b),
                (_, Value::String(s)) => out.extend_from_slice(s.as_bytes()),
                _ => {}
            }
            let n = out.len() - data_at;
            if plp {
                // Known total length, one chunk, then the terminator.
                out[len_at..len_at + 8].copy_from_slice(&(n as u64).to_le_bytes());
                out[len_at + 8..len_at + 12].copy_from_slice(&(n as u32).to_le_bytes());
                if n > 0 {
                    out.extend_from_slice(&0u32.to_le_bytes());
                } else {
                    // The zero-length chunk already is the terminator.
                }
            } else {
                let n = n.min(0xFFFE) as u16;
                out[len_at..len_at + 2].copy_from_slice(&n.to_le_bytes());
            }
        }
    }
}
