//! Conversion rules and errors.
use super::*;

#[test]
fn decimals_rescale_and_check_precision() {
    let to = SqlType::Decimal {
        precision: 5,
        scale: 2,
    };
    assert_eq!(
        convert(&Value::String("12.345".into()), None, &to, Target::Expr),
        Ok(Value::Decimal(1235, 2))
    );
    let err = convert(&Value::Int(1000), Some(&SqlType::Int), &to, Target::Expr).unwrap_err();
    assert_eq!(err.number, 8115);
    assert_eq!(format_decimal(-5, 2), "-0.05");
}

#[test]
fn strings_truncate_in_columns_only() {
    let to = SqlType::NVarChar(Len::N(3));
    let v = Value::String("abcdef".into());
    assert_eq!(
        convert(&v, None, &to, Target::Expr),
        Ok(Value::String("abc".into()))
    );
    let e = convert(
        &v,
        None,
        &to,
        Target::Column {
            table: "db.dbo.T",
            column: "c",
        },
    )
    .unwrap_err();
    assert_eq!(e.number, 2628);
    assert!(e.message.contains("Truncated value: 'abc'"));
}

#[test]
fn bad_int_text_is_245() {
    let e = convert(
        &Value::String("abc".into()),
        Some(&SqlType::VarChar(Len::N(3))),
        &SqlType::Int,
        Target::Expr,
    )
    .unwrap_err();
    assert_eq!(e.number, 245);
    assert_eq!(
        e.message,
        "Conversion failed when converting the varchar value 'abc' to data type int."
    );
}

#[test]
fn datetime_text_parses() {
    let v = convert(
        &Value::String("2024-02-29 13:45:10.1234567".into()),
        None,
        &SqlType::DateTime2(7),
        Target::Expr,
    )
    .unwrap();
    let text = to_text(&v, Some(&SqlType::DateTime2(7))).unwrap();
    assert_eq!(text, "2024-02-29 13:45:10.1234567");
}

#[test]
fn binary_to_integers_takes_the_rightmost_bytes() {
    let b = |v: &[u8]| Value::Binary(v.to_vec());
    let from = Some(&SqlType::VarBinary(Len::Max));
    let to = |t: SqlType, v: &[u8]| convert(&b(v), from, &t, Target::Expr);
    assert_eq!(
        to(SqlType::Int, &[0xFF, 0xFF, 0xFF, 0xFF]),
        Ok(Value::Int(-1))
    );
    assert_eq!(
        to(SqlType::BigInt, &[0xFF, 0xFF, 0xFF, 0xFF]),
        Ok(Value::Int(4_294_967_295))
    );
    assert_eq!(
        to(SqlType::Int, &[0x01, 0x00, 0x00, 0x00, 0x0A]),
        Ok(Value::Int(10))
    );
    assert_eq!(to(SqlType::Int, &[0xFF]), Ok(Value::Int(255)));
    assert_eq!(to(SqlType::SmallInt, &[0x80, 0x00]), Ok(Value::Int(-32768)));
}
