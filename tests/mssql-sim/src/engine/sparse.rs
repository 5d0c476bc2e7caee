//! SPARSE columns (docs/relational-databases/tables/use-sparse-columns.md):
//! stored like any other column (the storage optimisation has no meaning
//! here), reported by `sys.columns.is_sparse`. Column sets
//! (`COLUMN_SET FOR ALL_SPARSE_COLUMNS`) are refused by the parser as
//! unsupported; `sys.columns.is_column_set` is always 0.

use crate::error::SqlError;
use crate::sql::ast::ColumnDef;
use crate::value::SqlType;

/// "A sparse column must be nullable and cannot have the ROWGUIDCOL or
/// IDENTITY properties. A sparse column cannot be of the following data
/// types: text, ntext, image, timestamp, user-defined data type, geometry,
/// or geography": error 1731
/// (docs/relational-databases/errors-events/database-engine-events-and-errors-1000-to-1999.md).
pub fn check(
    table: &str,
    def: &ColumnDef,
    ty: &SqlType,
    nullable: bool,
    rowversion: bool,
) -> Result<(), SqlError> {
    if def.sparse
        && (!nullable
            || def.identity.is_some()
            || rowversion
            || ty.is_lob()
            || ty.is_spatial()
            || def.computed.is_some())
    {
        return Err(SqlError::new(
            1731,
            16,
            1,
            format!(
                "Cannot create the sparse column '{}' in the table '{table}' because an option or data type specified is not valid. A sparse column must be nullable and cannot have the ROWGUIDCOL, IDENTITY, or FILESTREAM properties. A sparse column cannot be of the following data types: text, ntext, image, geometry, geography, or user-defined type.",
                def.name
            ),
        ));
    }
    Ok(())
}
