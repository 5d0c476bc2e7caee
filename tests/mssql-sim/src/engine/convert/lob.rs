//! Which conversions SQL Server allows to and from xml, text, ntext, image,
//! sql_variant and the CLR types.

use super::Target;
use crate::error::SqlError;
use crate::value::SqlType;

/// The conversions SQL Server refuses for xml, text, ntext and image
/// (the conversion chart of docs/t-sql/functions/cast-and-convert-transact-sql.md):
/// 529 for an explicit conversion, 206 "Operand type clash" for an implicit
/// one (an assignment to a column).
pub(super) fn check_allowed(
    from: &SqlType,
    to: &SqlType,
    target: Target<'_>,
) -> Result<(), SqlError> {
    let chars = |t: &SqlType| t.is_string() || matches!(t, SqlType::Xml);
    let bins = |t: &SqlType| {
        matches!(
            t,
            SqlType::VarBinary(_) | SqlType::Binary(_) | SqlType::Image
        )
    };
    let clr_ok = |f: &SqlType, t: &SqlType| {
        f == t
            || matches!(t, SqlType::VarBinary(_) | SqlType::Binary(_))
            || matches!(f, SqlType::VarBinary(_) | SqlType::Binary(_))
            || (t.is_string() && !t.is_lob() || f.is_string() && !f.is_lob())
    };
    let ok = match (from, to) {
        (f, t) if f.is_clr() || t.is_clr() => clr_ok(f, t),
        (_, SqlType::Variant) | (SqlType::Variant, _) => true,
        (SqlType::Xml, t) => chars(t) && !t.is_lob() || bins(t) && !t.is_lob(),
        (SqlType::Text | SqlType::NText, t) => chars(t) || bins(t) && !t.is_lob(),
        (SqlType::Image, t) => bins(t) || chars(t) && !t.is_lob(),
        (f, SqlType::Xml) => chars(f) || bins(f),
        (f, SqlType::Text | SqlType::NText) => chars(f) && *f != SqlType::Xml || bins(f),
        (f, SqlType::Image) => bins(f) || f.is_string(),
        _ => true,
    };
    if ok {
        return Ok(());
    }
    Err(match target {
        Target::Expr => super::not_allowed(Some(from), to),
        Target::Column { .. } => crate::engine::variant::clash(from, to),
    })
}
