//! The catalog reads of `ctsync discover`: every user table of every schema,
//! its columns, its primary key and its foreign keys, from the `sys` catalog
//! views (docs/relational-databases/system-catalog-views/sys-tables-transact-sql.md,
//! sys-columns-transact-sql.md, sys-indexes-transact-sql.md,
//! sys-index-columns-transact-sql.md, sys-foreign-keys-transact-sql.md,
//! sys-foreign-key-columns-transact-sql.md). Read-only; no parameters.

/// (object_id, schema, table) of every user table.
pub const TABLES: &str = "SELECT t.object_id, s.name, t.name FROM sys.tables AS t \
     JOIN sys.schemas AS s ON s.schema_id = t.schema_id \
     WHERE t.is_ms_shipped = 0 ORDER BY s.name, t.name";

/// (object_id, column, is_identity, is_computed, is rowversion) in column
/// order; a rowversion (timestamp) column has system_type_id 189
/// (docs/relational-databases/system-catalog-views/sys-types-transact-sql.md).
pub const COLUMNS: &str = "SELECT c.object_id, c.name, c.is_identity, c.is_computed, \
     CAST(CASE WHEN c.system_type_id = 189 THEN 1 ELSE 0 END AS BIT) FROM sys.columns AS c \
     JOIN sys.tables AS t ON t.object_id = c.object_id \
     WHERE t.is_ms_shipped = 0 ORDER BY c.object_id, c.column_id";

/// (object_id, column) of each primary key, in key order.
pub const PRIMARY_KEYS: &str = "SELECT i.object_id, c.name FROM sys.indexes AS i \
     JOIN sys.index_columns AS ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id \
     JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id \
     WHERE i.is_primary_key = 1 ORDER BY i.object_id, ic.key_ordinal";

/// (constraint, referencing table, column, referenced table, column) of
/// every foreign key column, in constraint column order.
pub const FOREIGN_KEYS: &str = "SELECT fk.object_id, fkc.parent_object_id, pc.name, fkc.referenced_object_id, rc.name \
     FROM sys.foreign_keys AS fk \
     JOIN sys.foreign_key_columns AS fkc ON fkc.constraint_object_id = fk.object_id \
     JOIN sys.columns AS pc ON pc.object_id = fkc.parent_object_id AND pc.column_id = fkc.parent_column_id \
     JOIN sys.columns AS rc ON rc.object_id = fkc.referenced_object_id AND rc.column_id = fkc.referenced_column_id \
     ORDER BY fk.object_id, fkc.constraint_column_id";
