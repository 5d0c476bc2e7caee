//! sql_variant (SSVARIANTTYPE 0x62) values on the wire, MS-TDS 2.2.5.5.4
//! (https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-tds/2435ed85-8a8c-4b3c-9ed7-1a6dbf4f1a2b):
//! a LONGLEN total length (0 = NULL), the base type's TYPE code, the number
//! of property bytes, the properties, then the value without a length
//! prefix. Properties: none for the fixed-length types, uniqueidentifier and
//! date; precision and scale for decimal/numeric; the scale for time,
//! datetime2 and datetimeoffset; the maximum length (USHORT) for binary and
//! varbinary; the collation (5 bytes) then the maximum length for the
//! character types.

use super::*;

/// The largest sql_variant value: 8016 bytes (8000 of data plus type
/// information), docs/t-sql/data-types/sql-variant-transact-sql.md.
pub const MAX_LEN: u32 = 8016;

/// The base type's TYPE code and property bytes.
fn base_info(ty: &SqlType) -> (u8, Vec<u8>) {
    let mut ti = Vec::new();
    write_type_info(&mut ti, ty, false);
    let code = ti[0];
    let props = match ty {
        SqlType::Decimal { precision, scale } => vec![*precision, *scale],
        SqlType::Time(s) | SqlType::DateTime2(s) | SqlType::DateTimeOffset(s) => vec![*s],
        SqlType::VarBinary(_) | SqlType::Binary(_) => ti[1..3].to_vec(),
        t if t.is_string() => {
            // TYPE_INFO is code, max length, collation; the variant's
            // properties are collation, then max length.
            let mut p = ti[3..8].to_vec();
            p.extend_from_slice(&ti[1..3]);
            p
        }
        _ => Vec::new(),
    };
    (code, props)
}

/// Writes a sql_variant value (`Value::Variant` or NULL).
pub fn write(out: &mut Vec<u8>, v: &Value) {
    let Value::Variant(b) = v else {
        out.extend_from_slice(&0u32.to_le_bytes());
        return;
    };
    let (ty, inner) = (&b.0, &b.1);
    let (code, props) = base_info(ty);
    // The value as a nullable column would carry it, less its length prefix.
    let mut data = Vec::new();
    let prefix = match ty {
        SqlType::VarBinary(_)
        | SqlType::Binary(_)
        | SqlType::NVarChar(_)
        | SqlType::VarChar(_)
        | SqlType::NChar(_)
        | SqlType::Char(_) => {
            write_value(&mut data, ty, true, inner);
            2
        }
        SqlType::Decimal { .. }
        | SqlType::UniqueIdentifier
        | SqlType::Date
        | SqlType::Time(_)
        | SqlType::DateTime2(_)
        | SqlType::DateTimeOffset(_) => {
            write_value(&mut data, ty, true, inner);
            1
        }
        _ => {
            write_value(&mut data, ty, false, inner);
            0
        }
    };
    let data = &data[prefix.min(data.len())..];
    let total = 2 + props.len() + data.len();
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.push(code);
    out.push(props.len() as u8);
    out.extend_from_slice(&props);
    out.extend_from_slice(data);
}

/// Reads a sql_variant value.
pub fn read<S: Src + ?Sized>(src: &mut S) -> Result<Value, TdsError> {
    let total = src.u32_le()? as usize;
    if total == 0 {
        return Ok(Value::Null);
    }
    if total < 2 || total > MAX_LEN as usize {
        return Err(TdsError::protocol("invalid sql_variant length"));
    }
    let code = src.u8()?;
    let nprops = src.u8()? as usize;
    if 2 + nprops > total {
        return Err(TdsError::protocol("sql_variant properties past its length"));
    }
    let props = src.bytes(nprops)?;
    let data = src.bytes(total - 2 - nprops)?;
    // Rebuild the TYPE_INFO and the length-prefixed value a column of the
    // base type would have, and decode those.
    let mut ti = vec![code];
    let mut val = Vec::new();
    let p = |i: usize| -> Result<u8, TdsError> {
        props
            .get(i)
            .copied()
            .ok_or_else(|| TdsError::protocol("sql_variant: missing property bytes"))
    };
    match code {
        INT1 | BIT | INT2 | INT4 | INT8 | DATETIM4 | DATETIME | FLT4 | FLT8 | MONEY | MONEY4 => {
            val.extend_from_slice(&data)
        }
        GUIDTYPE => {
            ti.push(16);
            val.push(data.len() as u8);
            val.extend_from_slice(&data);
        }
        DECIMALN | NUMERICN => {
            ti.extend_from_slice(&[17, p(0)?, p(1)?]);
            val.push(data.len() as u8);
            val.extend_from_slice(&data);
        }
        DATEN => {
            val.push(data.len() as u8);
            val.extend_from_slice(&data);
        }
        TIMEN | DATETIME2N | DATETIMEOFFSETN => {
            ti.push(p(0)?);
            val.push(data.len() as u8);
            val.extend_from_slice(&data);
        }
        BIGVARBIN | BIGBINARY => {
            ti.extend_from_slice(&[p(0)?, p(1)?]);
            val.extend_from_slice(&(data.len() as u16).to_le_bytes());
            val.extend_from_slice(&data);
        }
        BIGVARCHR | BIGCHAR | NVARCHAR | NCHAR => {
            ti.extend_from_slice(&[p(5)?, p(6)?]);
            ti.extend_from_slice(&props[..5]);
            val.extend_from_slice(&(data.len() as u16).to_le_bytes());
            val.extend_from_slice(&data);
        }
        other => {
            return Err(TdsError::protocol(format!(
                "sql_variant base type 0x{other:02X} is not supported"
            )))
        }
    }
    let mut c = crate::tds::src::Cur::new(&ti);
    let w = read_type_info(&mut c)?;
    let ty =
        w.ty.ok_or_else(|| TdsError::protocol("sql_variant of NULL type"))?;
    let v = read_value(&mut crate::tds::src::Cur::new(&val), &w)?;
    Ok(match v {
        Value::Null => Value::Null,
        v => Value::Variant(Box::new((ty, v))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tds::src::Cur;

    #[test]
    fn variants_round_trip() {
        for (ty, v) in [
            (SqlType::Int, Value::Int(42)),
            (SqlType::BigInt, Value::Int(-1)),
            (SqlType::Float, Value::Float(2.5)),
            (SqlType::Money, Value::Decimal(123_4500, 4)),
            (
                SqlType::Decimal {
                    precision: 8,
                    scale: 2,
                },
                Value::Decimal(4_627_910, 2),
            ),
            (
                SqlType::NVarChar(Len::N(4000)),
                Value::String("h\u{e9}llo".into()),
            ),
            (SqlType::VarChar(Len::N(10)), Value::String("abc".into())),
            (SqlType::VarBinary(Len::N(8)), Value::Binary(vec![1, 2, 3])),
            (SqlType::UniqueIdentifier, Value::Guid([9; 16])),
            (SqlType::Date, Value::Date(738_000)),
            (
                SqlType::DateTime2(7),
                Value::DateTime {
                    days: 738_000,
                    ticks: 12_345,
                },
            ),
        ] {
            let val = Value::Variant(Box::new((ty, v)));
            let mut buf = Vec::new();
            write(&mut buf, &val);
            let mut c = Cur::new(&buf);
            assert_eq!(read(&mut c).unwrap(), val, "{ty}");
            assert!(c.is_empty());
        }
        let mut buf = Vec::new();
        write(&mut buf, &Value::Null);
        assert_eq!(buf, [0, 0, 0, 0]);
        assert_eq!(read(&mut Cur::new(&buf)).unwrap(), Value::Null);
    }

    #[test]
    fn int_variant_matches_the_spec_layout() {
        let mut buf = Vec::new();
        write(
            &mut buf,
            &Value::Variant(Box::new((SqlType::Int, Value::Int(1)))),
        );
        assert_eq!(buf, [6, 0, 0, 0, INT4, 0, 1, 0, 0, 0]);
    }
}
