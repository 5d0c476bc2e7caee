//! `CONVERT(type, value, style)` for the styles that change a value's text:
//! docs/t-sql/functions/cast-and-convert-transact-sql.md, "float and real
//! styles", "Binary styles" and "Date and time styles". Styles the stand-in
//! does not know convert as CAST does.

use super::{convert, to_text, Target};
use crate::error::SqlError;
use crate::value::{Len, SqlType, Value};

/// The text of `v` (of type `from`) in `style`, or `None` when the style
/// does not apply (then CONVERT converts as CAST does).
fn styled_text(v: &Value, from: Option<&SqlType>, style: i64) -> Option<String> {
    match (from?, v) {
        // 1: 8 digits, 2: 16 digits, always scientific; 3: 17 digits, "for
        // lossless conversion ... every distinct float or real value is
        // guaranteed to convert to a distinct character string". The
        // exponent is written as style 2 shows it (`e+000`).
        (SqlType::Float | SqlType::Real, Value::Float(f)) if (1..=3).contains(&style) => {
            let digits = match style {
                1 => 7,
                2 => 15,
                _ => 16,
            };
            Some(scientific(*f, digits))
        }
        // 1: `0x` and two hex digits a byte; 2: without the `0x`.
        (SqlType::Binary(_) | SqlType::VarBinary(_) | SqlType::Image, Value::Binary(b))
            if style == 1 || style == 2 =>
        {
            let mut s = String::with_capacity(b.len() * 2 + 2);
            if style == 1 {
                s.push_str("0x");
            }
            for x in b {
                s.push_str(&format!("{x:02X}"));
            }
            Some(s)
        }
        // 121, ODBC canonical with fractions: yyyy-mm-dd hh:mi:ss.mmm for
        // datetime and smalldatetime, every digit of the type's scale for
        // datetime2, time and datetimeoffset (with the offset).
        (SqlType::SmallDateTime, _) if style == 121 => to_text(v, from).map(|t| format!("{t}.000")),
        (
            SqlType::Date
            | SqlType::Time(_)
            | SqlType::DateTime
            | SqlType::DateTime2(_)
            | SqlType::DateTimeOffset(_),
            _,
        ) if style == 121 => to_text(v, from),
        _ => None,
    }
}

/// `d.ddd...e+XXX` with `digits` digits after the point.
fn scientific(f: f64, digits: usize) -> String {
    let s = format!("{f:.digits$e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, n) = match e.strip_prefix('-') {
                Some(n) => ('-', n),
                None => ('+', e),
            };
            format!("{m}e{sign}{:0>3}", n)
        }
        None => s,
    }
}

/// CONVERT with a style: the styled text converted to `to` when `to` is a
/// character type and the style applies to `from`; CAST's conversion
/// otherwise.
pub fn convert_styled(
    v: &Value,
    from: Option<&SqlType>,
    to: &SqlType,
    style: i64,
) -> Result<Value, SqlError> {
    if to.is_string() {
        if let Some(text) = styled_text(v, from, style) {
            return convert(
                &Value::String(text),
                Some(&SqlType::NVarChar(Len::Max)),
                to,
                Target::Expr,
            );
        }
    }
    convert(v, from, to, Target::Expr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: Value, from: SqlType, style: i64) -> Value {
        convert_styled(&v, Some(&from), &SqlType::NVarChar(Len::Max), style).expect("convert")
    }

    #[test]
    fn float_style_3_is_lossless_and_style_0_is_not_changed() {
        let a = text(Value::Float(0.1), SqlType::Float, 3);
        assert_eq!(a, Value::String("1.0000000000000001e-001".into()));
        let b = text(Value::Float(0.1 + 1e-17 * 2.0), SqlType::Float, 3);
        assert_ne!(a, b, "neighbouring doubles convert to distinct strings");
        assert_eq!(
            text(Value::Float(-12345.5), SqlType::Float, 2),
            Value::String("-1.234550000000000e+004".into())
        );
        assert_eq!(
            text(Value::Float(2.5), SqlType::Float, 0),
            convert(
                &Value::Float(2.5),
                Some(&SqlType::Float),
                &SqlType::NVarChar(Len::Max),
                Target::Expr
            )
            .expect("cast")
        );
    }

    #[test]
    fn binary_styles_are_hex() {
        let b = Value::Binary(vec![0x00, 0xAB, 0x10]);
        assert_eq!(
            text(b.clone(), SqlType::VarBinary(Len::Max), 1),
            Value::String("0x00AB10".into())
        );
        assert_eq!(
            text(b, SqlType::VarBinary(Len::Max), 2),
            Value::String("00AB10".into())
        );
        assert_eq!(
            text(Value::Binary(vec![]), SqlType::VarBinary(Len::Max), 1),
            Value::String("0x".into())
        );
    }

    #[test]
    fn style_121_keeps_every_fraction_digit() {
        let v = convert(
            &Value::String("2024-02-29 13:45:10.1234567".into()),
            None,
            &SqlType::DateTime2(7),
            Target::Expr,
        )
        .expect("datetime2");
        assert_eq!(
            text(v, SqlType::DateTime2(7), 121),
            Value::String("2024-02-29 13:45:10.1234567".into())
        );
        let v = convert(
            &Value::String("2024-02-29 13:45:00".into()),
            None,
            &SqlType::SmallDateTime,
            Target::Expr,
        )
        .expect("smalldatetime");
        assert_eq!(
            text(v, SqlType::SmallDateTime, 121),
            Value::String("2024-02-29 13:45:00.000".into())
        );
    }
}
