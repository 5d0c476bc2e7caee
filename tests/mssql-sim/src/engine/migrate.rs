//! Upgrades of the catalog tables of a data file written by an earlier
//! mssql-sim (see `catalog::SCHEMA_SQL`).

use super::sqlerr;
use crate::error::SqlError;
use rusqlite::Connection;

/// Brings a catalog written by an earlier mssql-sim up to [`super::catalog::SCHEMA_SQL`]:
/// columns added since are added with their defaults.
pub fn migrate(conn: &Connection) -> Result<(), SqlError> {
    let has: bool = conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('sim_constraints') WHERE name = 'is_not_trusted'",
            [],
            |r| r.get(0),
        )
        .map_err(sqlerr)?;
    if !has {
        conn.execute_batch(
            "ALTER TABLE sim_constraints ADD COLUMN is_not_trusted INTEGER NOT NULL DEFAULT 0",
        )
        .map_err(sqlerr)?;
    }
    let has: bool = conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('sim_columns') WHERE name = 'is_rowversion'",
            [],
            |r| r.get(0),
        )
        .map_err(sqlerr)?;
    if !has {
        conn.execute_batch(
            "ALTER TABLE sim_columns ADD COLUMN computed_sql TEXT;
             ALTER TABLE sim_columns ADD COLUMN computed_definition TEXT;
             ALTER TABLE sim_columns ADD COLUMN is_persisted INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE sim_columns ADD COLUMN is_rowversion INTEGER NOT NULL DEFAULT 0;",
        )
        .map_err(sqlerr)?;
    }
    let has: bool = conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('sim_columns') WHERE name = 'collation_name'",
            [],
            |r| r.get(0),
        )
        .map_err(sqlerr)?;
    if !has {
        // Character columns of earlier files have the database default
        // collation (NULL reads as it).
        conn.execute_batch("ALTER TABLE sim_columns ADD COLUMN collation_name TEXT;")
            .map_err(sqlerr)?;
    }
    let has: bool = conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('sim_columns') WHERE name = 'is_sparse'",
            [],
            |r| r.get(0),
        )
        .map_err(sqlerr)?;
    if !has {
        conn.execute_batch(
            "ALTER TABLE sim_columns ADD COLUMN is_sparse INTEGER NOT NULL DEFAULT 0;",
        )
        .map_err(sqlerr)?;
    }
    let has: bool = conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('sim_tables') WHERE name = 'modify_date'",
            [],
            |r| r.get(0),
        )
        .map_err(sqlerr)?;
    if !has {
        // SQLite adds no column with a non-constant default.
        conn.execute_batch(
            "ALTER TABLE sim_tables ADD COLUMN modify_date TEXT NOT NULL DEFAULT '';
             UPDATE sim_tables SET modify_date = create_date;",
        )
        .map_err(sqlerr)?;
    }
    Ok(())
}
