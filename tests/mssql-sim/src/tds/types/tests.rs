//! Round trips of TYPE_INFO and values.
use super::*;
use crate::tds::src::Cur;

fn round_trip(ty: SqlType, nullable: bool, v: Value) {
    let mut ti = Vec::new();
    write_type_info(&mut ti, &ty, nullable);
    let w = read_type_info(&mut Cur::new(&ti)).expect("type info");
    assert_eq!(w.ty, Some(ty));
    let mut buf = Vec::new();
    write_value(&mut buf, &ty, nullable, &v);
    let mut c = Cur::new(&buf);
    let back = read_value(&mut c, &w).expect("value");
    assert!(c.is_empty(), "{ty}: trailing bytes");
    assert_eq!(back, v, "{ty}");
}

#[test]
fn every_type_round_trips() {
    round_trip(SqlType::Int, true, Value::Int(-5));
    round_trip(SqlType::Int, false, Value::Int(7));
    round_trip(SqlType::Int, true, Value::Null);
    round_trip(SqlType::BigInt, true, Value::Int(i64::MIN));
    round_trip(SqlType::TinyInt, false, Value::Int(255));
    round_trip(SqlType::SmallInt, true, Value::Int(-32768));
    round_trip(SqlType::Bit, true, Value::Int(1));
    round_trip(SqlType::Float, true, Value::Float(1.5e300));
    round_trip(SqlType::Real, false, Value::Float(0.25));
    round_trip(SqlType::Money, true, Value::Decimal(-1234567, 4));
    round_trip(SqlType::SmallMoney, false, Value::Decimal(99999, 4));
    round_trip(
        SqlType::Decimal {
            precision: 38,
            scale: 10,
        },
        true,
        Value::Decimal(-(10i128.pow(37)), 10),
    );
    round_trip(
        SqlType::Decimal {
            precision: 5,
            scale: 2,
        },
        true,
        Value::Decimal(1250, 2),
    );
    round_trip(
        SqlType::NVarChar(Len::N(10)),
        true,
        Value::String("héllo 🦀".into()),
    );
    round_trip(
        SqlType::NVarChar(Len::Max),
        true,
        Value::String("x".repeat(10_000)),
    );
    round_trip(
        SqlType::NVarChar(Len::Max),
        true,
        Value::String(String::new()),
    );
    round_trip(SqlType::NVarChar(Len::Max), true, Value::Null);
    round_trip(
        SqlType::VarChar(Len::N(20)),
        true,
        Value::String("café €".into()),
    );
    round_trip(SqlType::VarChar(Len::Max), true, Value::Null);
    round_trip(SqlType::Char(3), true, Value::String("ab ".into()));
    round_trip(SqlType::NChar(3), false, Value::String("ab ".into()));
    round_trip(
        SqlType::VarBinary(Len::N(4)),
        true,
        Value::Binary(vec![1, 2, 3]),
    );
    round_trip(
        SqlType::VarBinary(Len::Max),
        true,
        Value::Binary(vec![9; 9000]),
    );
    round_trip(SqlType::Binary(2), true, Value::Null);
    round_trip(
        SqlType::UniqueIdentifier,
        true,
        Value::Guid([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]),
    );
    round_trip(SqlType::Date, true, Value::Date(738_000));
    round_trip(SqlType::Time(7), true, Value::Time(863_999_999_999));
    round_trip(SqlType::Time(0), true, Value::Time(3_600 * 10_000_000));
    round_trip(
        SqlType::DateTime2(3),
        true,
        Value::DateTime {
            days: 738_000,
            ticks: 12_345_670_000,
        },
    );
    round_trip(
        SqlType::DateTimeOffset(7),
        true,
        Value::DateTimeOffset {
            days: 738_000,
            ticks: 1,
            offset_minutes: -330,
        },
    );
    round_trip(
        SqlType::DateTime,
        true,
        Value::DateTime {
            days: 738_000,
            ticks: 30_000 * 100_000 / 3,
        },
    );
    round_trip(
        SqlType::SmallDateTime,
        false,
        Value::DateTime {
            days: 738_000,
            ticks: 600_000_000 * 61,
        },
    );
}

#[test]
fn truncated_values_are_errors() {
    let w = WireType {
        code: INTN,
        len: 4,
        precision: 0,
        scale: 0,
        ty: Some(SqlType::Int),
    };
    assert!(read_value(&mut Cur::new(&[4, 1, 2]), &w).is_err());
    let w = WireType {
        code: NVARCHAR,
        len: 0xFFFF,
        precision: 0,
        scale: 0,
        ty: Some(SqlType::NVarChar(Len::Max)),
    };
    let mut b = (u64::MAX - 1).to_le_bytes().to_vec();
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(read_value(&mut Cur::new(&b), &w).is_err());
    assert!(read_type_info(&mut Cur::new(&[0x99])).is_err());
}

#[test]
fn xml_and_variant_round_trip() {
    round_trip(SqlType::Xml, true, Value::String("<a b=\"1\">é</a>".into()));
    round_trip(SqlType::Xml, true, Value::Null);
    round_trip(
        SqlType::Variant,
        true,
        Value::Variant(Box::new((SqlType::Int, Value::Int(7)))),
    );
    round_trip(SqlType::Variant, true, Value::Null);
}

#[test]
fn lob_rows_carry_a_text_pointer_and_rpc_values_do_not() {
    for (ty, v) in [
        (SqlType::Text, Value::String("café".into())),
        (SqlType::NText, Value::String("ω🦀".into())),
        (SqlType::Image, Value::Binary(vec![1, 2, 3])),
        (SqlType::Text, Value::Null),
    ] {
        let mut ti = Vec::new();
        write_type_info(&mut ti, &ty, true);
        let w = read_type_info(&mut Cur::new(&ti)).expect("type info");
        assert_eq!(w.ty, Some(ty));
        let mut row = Vec::new();
        write_value(&mut row, &ty, true, &v);
        if !v.is_null() {
            assert_eq!(row[0], 16, "a 16-byte text pointer");
        }
        let mut c = Cur::new(&row);
        assert_eq!(read_row_value(&mut c, &w).expect("row value"), v);
        assert!(c.is_empty());
    }
    // An RPC parameter: LONGLEN, then the data.
    let w = read_type_info(&mut Cur::new(&[
        NTEXTTYPE, 0xFE, 0xFF, 0xFF, 0x7F, 9, 4, 0xD0, 0, 0x34,
    ]))
    .expect("type info");
    let v = read_value(&mut Cur::new(&[4, 0, 0, 0, b'h', 0, b'i', 0]), &w).expect("value");
    assert_eq!(v, Value::String("hi".into()));
    let null = read_value(&mut Cur::new(&[0xFF; 4]), &w).expect("null");
    assert_eq!(null, Value::Null);
}
