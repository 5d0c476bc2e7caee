//! Catalog views as SQLite views over the catalog tables, named as SQL Server
//! names them (`"sys.tables"`), with the SQL Server types of their columns.
//! docs/relational-databases/system-catalog-views/*.md and
//! docs/relational-databases/system-information-schema-views/*.md.

use crate::sql::ast::ObjectName;
use crate::value::{Len, SqlType};

pub struct View {
    pub name: &'static str,
    pub sql: &'static str,
    pub columns: &'static [(&'static str, SqlType)],
}

const NAME: SqlType = SqlType::NVarChar(Len::N(128));
const INT: SqlType = SqlType::Int;
const BIT: SqlType = SqlType::Bit;
const TINY: SqlType = SqlType::TinyInt;
const SMALL: SqlType = SqlType::SmallInt;
const BIG: SqlType = SqlType::BigInt;
const DESC: SqlType = SqlType::NVarChar(Len::N(60));
const VC: SqlType = SqlType::VarChar(Len::N(128));

pub static VIEWS: &[View] = &[
    View {
        name: "sys.schemas",
        sql: "SELECT name, schema_id, 1 AS principal_id FROM sim_schemas",
        columns: &[("name", NAME), ("schema_id", INT), ("principal_id", INT)],
    },
    View {
        name: "sys.tables",
        sql: "SELECT name, object_id, schema_id, 'U' AS type, 'USER_TABLE' AS type_desc, 0 AS is_ms_shipped,
                 sim_cast(datetime(create_date, 'localtime'), 'varchar(30)', 'datetime', 0) AS create_date,
                 sim_cast(strftime('%Y-%m-%d %H:%M:%f', modify_date, 'localtime'), 'varchar(30)', 'datetime', 0) AS modify_date
              FROM sim_tables",
        columns: &[
            ("name", NAME),
            ("object_id", INT),
            ("schema_id", INT),
            ("type", SqlType::Char(2)),
            ("type_desc", DESC),
            ("is_ms_shipped", BIT),
            ("create_date", SqlType::DateTime),
            ("modify_date", SqlType::DateTime),
        ],
    },
    View {
        name: "sys.objects",
        // create_date / modify_date (docs/relational-databases/
        // system-catalog-views/sys-objects-transact-sql.md); constraints show
        // their table's.
        sql: "WITH d AS (SELECT object_id,
                 sim_cast(datetime(create_date, 'localtime'), 'varchar(30)', 'datetime', 0) AS create_date,
                 sim_cast(strftime('%Y-%m-%d %H:%M:%f', modify_date, 'localtime'), 'varchar(30)', 'datetime', 0) AS modify_date
              FROM sim_tables)
              SELECT name, t.object_id, schema_id, 'U ' AS type, 0 AS parent_object_id, d.create_date, d.modify_date
              FROM sim_tables t JOIN d ON d.object_id = t.object_id
              UNION ALL SELECT c.name, c.object_id, t.schema_id,
                 CASE c.kind WHEN 'PK' THEN 'PK' WHEN 'UQ' THEN 'UQ' WHEN 'F' THEN 'F ' ELSE 'C ' END, c.table_id,
                 d.create_date, d.modify_date
              FROM sim_constraints c JOIN sim_tables t ON t.object_id = c.table_id JOIN d ON d.object_id = t.object_id
              WHERE c.kind <> 'IX'
              UNION ALL SELECT g.name, g.object_id, t.schema_id, 'TR', g.table_id,
                 sim_cast(datetime(g.create_date, 'localtime'), 'varchar(30)', 'datetime', 0),
                 sim_cast(datetime(g.modify_date, 'localtime'), 'varchar(30)', 'datetime', 0)
              FROM sim_triggers g JOIN sim_tables t ON t.object_id = g.table_id",
        columns: &[
            ("name", NAME),
            ("object_id", INT),
            ("schema_id", INT),
            ("type", SqlType::Char(2)),
            ("parent_object_id", INT),
            ("create_date", SqlType::DateTime),
            ("modify_date", SqlType::DateTime),
        ],
    },
    // docs/relational-databases/system-catalog-views/sys-triggers-transact-sql.md:
    // one row per DML trigger (the stand-in has AFTER triggers on tables
    // only). create_date and modify_date are not offered.
    View {
        name: "sys.triggers",
        sql: "SELECT name, object_id, 1 AS parent_class, 'OBJECT_OR_COLUMN' AS parent_class_desc,
                 table_id AS parent_id, 'TR' AS type, 'SQL_TRIGGER' AS type_desc, 0 AS is_ms_shipped,
                 is_disabled, 0 AS is_not_for_replication, 0 AS is_instead_of_trigger
              FROM sim_triggers",
        columns: &[
            ("name", NAME),
            ("object_id", INT),
            ("parent_class", TINY),
            ("parent_class_desc", DESC),
            ("parent_id", INT),
            ("type", SqlType::Char(2)),
            ("type_desc", DESC),
            ("is_ms_shipped", BIT),
            ("is_disabled", BIT),
            ("is_not_for_replication", BIT),
            ("is_instead_of_trigger", BIT),
        ],
    },
    View {
        name: "sys.columns",
        // docs/relational-databases/system-catalog-views/sys-columns-transact-sql.md;
        // a rowversion column is of type timestamp (system_type_id 189,
        // docs/relational-databases/system-catalog-views/sys-types-transact-sql.md).
        sql: "SELECT object_id, name, column_id, sim_type_info(type_code, 'max_length') AS max_length,
                 sim_type_info(type_code, 'precision') AS precision, sim_type_info(type_code, 'scale') AS scale,
                 nullable AS is_nullable, (identity_seed IS NOT NULL) AS is_identity,
                 (computed_sql IS NOT NULL) AS is_computed,
                 CASE WHEN is_rowversion THEN 189 ELSE sim_type_info(type_code, 'system_type_id') END AS system_type_id,
                 CASE WHEN is_rowversion THEN 189 ELSE sim_type_info(type_code, 'user_type_id') END AS user_type_id,
                 sim_collation_info(type_code, collation_name, 'name') AS collation_name,
                 is_sparse, 0 AS is_column_set
              FROM sim_columns",
        columns: &[
            ("object_id", INT),
            ("name", NAME),
            ("column_id", INT),
            ("max_length", SMALL),
            ("precision", TINY),
            ("scale", TINY),
            ("is_nullable", BIT),
            ("is_identity", BIT),
            ("is_computed", BIT),
            ("system_type_id", TINY),
            ("user_type_id", INT),
            ("collation_name", NAME),
            ("is_sparse", BIT),
            ("is_column_set", BIT),
        ],
    },
    // docs/relational-databases/system-catalog-views/sys-computed-columns-transact-sql.md:
    // a row per computed column, the columns of sys.columns plus definition,
    // uses_database_collation and is_persisted.
    View {
        name: "sys.computed_columns",
        sql: "SELECT c.object_id, c.name, c.column_id, c.system_type_id, c.user_type_id, c.max_length,
                 c.precision, c.scale, c.is_nullable, c.is_identity, c.is_computed,
                 s.computed_definition AS definition, 1 AS uses_database_collation, s.is_persisted
              FROM \"sys.columns\" c JOIN sim_columns s ON s.object_id = c.object_id AND s.column_id = c.column_id
              WHERE s.computed_sql IS NOT NULL",
        columns: &[
            ("object_id", INT),
            ("name", NAME),
            ("column_id", INT),
            ("system_type_id", TINY),
            ("user_type_id", INT),
            ("max_length", SMALL),
            ("precision", TINY),
            ("scale", TINY),
            ("is_nullable", BIT),
            ("is_identity", BIT),
            ("is_computed", BIT),
            ("definition", SqlType::NVarChar(Len::Max)),
            ("uses_database_collation", BIT),
            ("is_persisted", BIT),
        ],
    },
    View {
        name: "sys.types",
        sql: "WITH v(name, system_type_id, user_type_id) AS (VALUES
              ('tinyint',48,48),('smallint',52,52),('int',56,56),('bigint',127,127),('bit',104,104),('decimal',106,106),('numeric',108,108),
              ('float',62,62),('real',59,59),('money',60,60),('smallmoney',122,122),('nvarchar',231,231),('varchar',167,167),('nchar',239,239),
              ('char',175,175),('varbinary',165,165),('binary',173,173),('uniqueidentifier',36,36),('date',40,40),('time',41,41),
              ('datetime',61,61),('smalldatetime',58,58),('datetime2',42,42),('datetimeoffset',43,43),('timestamp',189,189),
              ('xml',241,241),('text',35,35),('ntext',99,99),('image',34,34),('sql_variant',98,98),
              ('hierarchyid',240,128),('geometry',240,129),('geography',240,130))
              SELECT name, system_type_id, user_type_id FROM v",
        columns: &[("name", NAME), ("system_type_id", TINY), ("user_type_id", INT)],
    },
    View {
        name: "sys.identity_columns",
        sql: "SELECT c.object_id, c.name, c.column_id, c.identity_seed AS seed_value,
                 c.identity_increment AS increment_value, i.last_value AS last_value
              FROM sim_columns c LEFT JOIN sim_identity i ON i.object_id = c.object_id
              WHERE c.identity_seed IS NOT NULL",
        columns: &[
            ("object_id", INT),
            ("name", NAME),
            ("column_id", INT),
            ("seed_value", BIG),
            ("increment_value", BIG),
            ("last_value", BIG),
        ],
    },
    View {
        name: "sys.foreign_keys",
        sql: "SELECT c.name, c.object_id, t.schema_id, c.table_id AS parent_object_id,
                 c.ref_table_id AS referenced_object_id, 0 AS delete_referential_action,
                 0 AS update_referential_action, 0 AS is_disabled, c.is_not_trusted, 'F ' AS type
              FROM sim_constraints c JOIN sim_tables t ON t.object_id = c.table_id WHERE c.kind = 'F'",
        columns: &[
            ("name", NAME),
            ("object_id", INT),
            ("schema_id", INT),
            ("parent_object_id", INT),
            ("referenced_object_id", INT),
            ("delete_referential_action", TINY),
            ("update_referential_action", TINY),
            ("is_disabled", BIT),
            ("is_not_trusted", BIT),
            ("type", SqlType::Char(2)),
        ],
    },
    // docs/relational-databases/system-catalog-views/sys-check-constraints-transact-sql.md:
    // a row per CHECK constraint. mssql-sim keeps neither the T-SQL text of
    // the condition nor whether it was declared on a column, so `definition`
    // and `parent_column_id` are not offered (rather than offered wrong).
    View {
        name: "sys.check_constraints",
        sql: "SELECT c.name, c.object_id, t.schema_id, c.table_id AS parent_object_id, 'C ' AS type,
                 'CHECK_CONSTRAINT' AS type_desc, 0 AS is_ms_shipped, 0 AS is_disabled,
                 0 AS is_not_for_replication, c.is_not_trusted
              FROM sim_constraints c JOIN sim_tables t ON t.object_id = c.table_id WHERE c.kind = 'C'",
        columns: &[
            ("name", NAME),
            ("object_id", INT),
            ("schema_id", INT),
            ("parent_object_id", INT),
            ("type", SqlType::Char(2)),
            ("type_desc", DESC),
            ("is_ms_shipped", BIT),
            ("is_disabled", BIT),
            ("is_not_for_replication", BIT),
            ("is_not_trusted", BIT),
        ],
    },
    View {
        name: "sys.foreign_key_columns",
        sql: "SELECT k.constraint_id AS constraint_object_id, k.ordinal AS constraint_column_id,
                 c.table_id AS parent_object_id, k.column_id AS parent_column_id,
                 c.ref_table_id AS referenced_object_id, k.ref_column_id AS referenced_column_id
              FROM sim_key_columns k JOIN sim_constraints c ON c.object_id = k.constraint_id WHERE c.kind = 'F'",
        columns: &[
            ("constraint_object_id", INT),
            ("constraint_column_id", INT),
            ("parent_object_id", INT),
            ("parent_column_id", INT),
            ("referenced_object_id", INT),
            ("referenced_column_id", INT),
        ],
    },
    View {
        name: "sys.databases",
        sql: "SELECT (SELECT value FROM sim_meta WHERE key = 'database_name') AS name,
                 (SELECT value FROM sim_meta WHERE key = 'database_id') AS database_id,
                 (SELECT value FROM sim_meta WHERE key = 'allow_snapshot_isolation') AS snapshot_isolation_state,
                 CASE (SELECT value FROM sim_meta WHERE key = 'allow_snapshot_isolation') WHEN 1 THEN 'ON' ELSE 'OFF' END
                    AS snapshot_isolation_state_desc,
                 (SELECT value FROM sim_meta WHERE key = 'read_committed_snapshot') AS is_read_committed_snapshot_on,
                 150 AS compatibility_level, 0 AS state, 'ONLINE' AS state_desc,
                 'SQL_Latin1_General_CP1_CI_AS' AS collation_name",
        columns: &[
            ("name", NAME),
            ("database_id", INT),
            ("snapshot_isolation_state", TINY),
            ("snapshot_isolation_state_desc", DESC),
            ("is_read_committed_snapshot_on", BIT),
            ("compatibility_level", TINY),
            ("state", TINY),
            ("state_desc", DESC),
            ("collation_name", NAME),
        ],
    },
    // docs/relational-databases/system-catalog-views/sys-database-recovery-status-transact-sql.md:
    // one row per database (the stand-in has one), kept in sim_meta so the
    // values survive restarts on the same data file (`Engine::open`).
    // - recovery_fork_guid "identifies the current recovery fork on which the
    //   database is currently active": replaced by `snapshot_restore` (a
    //   restore from backup starts a new recovery fork).
    // - database_guid relates the database's files; RESTORE HEADERONLY's
    //   BindingID, "When a database is restored, a new value is assigned"
    //   (docs/t-sql/statements/restore-statements-headeronly-transact-sql.md):
    //   replaced by `snapshot_restore` too.
    // - family_guid, the "backup family" (HEADERONLY's FamilyGUID, "ID of the
    //   original database when created. This value stays the same when the
    //   database is restored"): kept by `snapshot_restore`.
    // The stand-in has no transaction log, so the LSN columns
    // (last_log_backup_lsn, fork_point_lsn) and first_recovery_fork_guid,
    // which goes with fork_point_lsn, are not emulated.
    View {
        name: "sys.database_recovery_status",
        sql: "SELECT (SELECT value FROM sim_meta WHERE key = 'database_id') AS database_id,
                 (SELECT value FROM sim_meta WHERE key = 'database_guid') AS database_guid,
                 (SELECT value FROM sim_meta WHERE key = 'family_guid') AS family_guid,
                 (SELECT value FROM sim_meta WHERE key = 'recovery_fork_guid') AS recovery_fork_guid",
        columns: &[
            ("database_id", INT),
            ("database_guid", SqlType::UniqueIdentifier),
            ("family_guid", SqlType::UniqueIdentifier),
            ("recovery_fork_guid", SqlType::UniqueIdentifier),
        ],
    },
    // Indexes: the primary key is index 1 (clustered, as SQL Server creates
    // it by default); unique constraints and indexes follow in creation order.
    View {
        name: "sys.indexes",
        sql: "WITH ix AS (
                SELECT c.table_id AS object_id, c.name, c.kind, c.object_id AS cid, 1 AS is_unique
                FROM sim_constraints c WHERE c.kind IN ('PK', 'UQ', 'IX')
                UNION ALL
                SELECT i.table_id, i.name, 'NX', NULL, 0 FROM sim_indexes i WHERE i.is_unique = 0)
              SELECT object_id, name,
                 CASE WHEN kind = 'PK' THEN 1 ELSE 1 + ROW_NUMBER() OVER (PARTITION BY object_id, kind = 'PK' ORDER BY cid, name) END AS index_id,
                 CASE WHEN kind = 'PK' THEN 1 ELSE 2 END AS type,
                 CASE WHEN kind = 'PK' THEN 'CLUSTERED' ELSE 'NONCLUSTERED' END AS type_desc,
                 is_unique, (kind = 'PK') AS is_primary_key, (kind = 'UQ') AS is_unique_constraint
              FROM ix",
        columns: &[
            ("object_id", INT),
            ("name", NAME),
            ("index_id", INT),
            ("type", TINY),
            ("type_desc", DESC),
            ("is_unique", BIT),
            ("is_primary_key", BIT),
            ("is_unique_constraint", BIT),
        ],
    },
    View {
        name: "sys.key_constraints",
        sql: "SELECT c.name, c.object_id, t.schema_id, c.table_id AS parent_object_id,
                 CASE c.kind WHEN 'PK' THEN 'PK' ELSE 'UQ' END AS type,
                 CASE c.kind WHEN 'PK' THEN 'PRIMARY_KEY_CONSTRAINT' ELSE 'UNIQUE_CONSTRAINT' END AS type_desc
              FROM sim_constraints c JOIN sim_tables t ON t.object_id = c.table_id WHERE c.kind IN ('PK', 'UQ')",
        columns: &[
            ("name", NAME),
            ("object_id", INT),
            ("schema_id", INT),
            ("parent_object_id", INT),
            ("type", SqlType::Char(2)),
            ("type_desc", DESC),
        ],
    },
    View {
        name: "sys.index_columns",
        sql: "SELECT i.object_id, i.index_id, k.ordinal AS index_column_id, k.column_id, k.ordinal AS key_ordinal,
                 0 AS is_descending_key, 0 AS is_included_column
              FROM sim_key_columns k JOIN sim_constraints c ON c.object_id = k.constraint_id
              JOIN \"sys.indexes\" i ON i.object_id = c.table_id AND i.name = c.name
              WHERE c.kind IN ('PK', 'UQ', 'IX')",
        columns: &[
            ("object_id", INT),
            ("index_id", INT),
            ("index_column_id", INT),
            ("column_id", INT),
            ("key_ordinal", TINY),
            ("is_descending_key", BIT),
            ("is_included_column", BIT),
        ],
    },
    View {
        name: "INFORMATION_SCHEMA.TABLES",
        sql: "SELECT (SELECT value FROM sim_meta WHERE key = 'database_name') AS TABLE_CATALOG,
                 s.name AS TABLE_SCHEMA, t.name AS TABLE_NAME, 'BASE TABLE' AS TABLE_TYPE
              FROM sim_tables t JOIN sim_schemas s ON s.schema_id = t.schema_id",
        columns: &[("TABLE_CATALOG", NAME), ("TABLE_SCHEMA", NAME), ("TABLE_NAME", NAME), ("TABLE_TYPE", VC)],
    },
    View {
        name: "INFORMATION_SCHEMA.COLUMNS",
        sql: "SELECT (SELECT value FROM sim_meta WHERE key = 'database_name') AS TABLE_CATALOG,
                 s.name AS TABLE_SCHEMA, t.name AS TABLE_NAME, c.name AS COLUMN_NAME, c.column_id AS ORDINAL_POSITION,
                 sim_default_text(c.default_value, c.type_code, c.default_func) AS COLUMN_DEFAULT, CASE WHEN c.nullable THEN 'YES' ELSE 'NO' END AS IS_NULLABLE,
                 CASE WHEN c.is_rowversion THEN 'timestamp' ELSE sim_type_info(c.type_code, 'name') END AS DATA_TYPE,
                 sim_type_info(c.type_code, 'char_max') AS CHARACTER_MAXIMUM_LENGTH,
                 sim_type_info(c.type_code, 'num_precision') AS NUMERIC_PRECISION,
                 sim_type_info(c.type_code, 'num_scale') AS NUMERIC_SCALE,
                 sim_type_info(c.type_code, 'dt_precision') AS DATETIME_PRECISION,
                 sim_collation_info(c.type_code, c.collation_name, 'charset') AS CHARACTER_SET_NAME,
                 sim_collation_info(c.type_code, c.collation_name, 'name') AS COLLATION_NAME
              FROM sim_columns c JOIN sim_tables t ON t.object_id = c.object_id
              JOIN sim_schemas s ON s.schema_id = t.schema_id",
        columns: &[
            ("TABLE_CATALOG", NAME),
            ("TABLE_SCHEMA", NAME),
            ("TABLE_NAME", NAME),
            ("COLUMN_NAME", NAME),
            ("ORDINAL_POSITION", INT),
            ("COLUMN_DEFAULT", SqlType::NVarChar(Len::N(4000))),
            ("IS_NULLABLE", SqlType::VarChar(Len::N(3))),
            ("DATA_TYPE", NAME),
            ("CHARACTER_MAXIMUM_LENGTH", INT),
            ("NUMERIC_PRECISION", TINY),
            ("NUMERIC_SCALE", INT),
            ("DATETIME_PRECISION", SMALL),
            ("CHARACTER_SET_NAME", NAME),
            ("COLLATION_NAME", NAME),
        ],
    },
    View {
        name: "INFORMATION_SCHEMA.TABLE_CONSTRAINTS",
        sql: "SELECT (SELECT value FROM sim_meta WHERE key = 'database_name') AS CONSTRAINT_CATALOG,
                 s.name AS CONSTRAINT_SCHEMA, c.name AS CONSTRAINT_NAME,
                 (SELECT value FROM sim_meta WHERE key = 'database_name') AS TABLE_CATALOG,
                 s.name AS TABLE_SCHEMA, t.name AS TABLE_NAME,
                 CASE c.kind WHEN 'PK' THEN 'PRIMARY KEY' WHEN 'UQ' THEN 'UNIQUE' WHEN 'F' THEN 'FOREIGN KEY' ELSE 'CHECK' END
                    AS CONSTRAINT_TYPE, 'NO' AS IS_DEFERRABLE, 'NO' AS INITIALLY_DEFERRED
              FROM sim_constraints c JOIN sim_tables t ON t.object_id = c.table_id
              JOIN sim_schemas s ON s.schema_id = t.schema_id WHERE c.kind <> 'IX'",
        columns: &[
            ("CONSTRAINT_CATALOG", NAME),
            ("CONSTRAINT_SCHEMA", NAME),
            ("CONSTRAINT_NAME", NAME),
            ("TABLE_CATALOG", NAME),
            ("TABLE_SCHEMA", NAME),
            ("TABLE_NAME", NAME),
            ("CONSTRAINT_TYPE", SqlType::VarChar(Len::N(11))),
            ("IS_DEFERRABLE", SqlType::VarChar(Len::N(2))),
            ("INITIALLY_DEFERRED", SqlType::VarChar(Len::N(2))),
        ],
    },
    View {
        name: "INFORMATION_SCHEMA.KEY_COLUMN_USAGE",
        sql: "SELECT (SELECT value FROM sim_meta WHERE key = 'database_name') AS CONSTRAINT_CATALOG,
                 s.name AS CONSTRAINT_SCHEMA, c.name AS CONSTRAINT_NAME,
                 (SELECT value FROM sim_meta WHERE key = 'database_name') AS TABLE_CATALOG,
                 s.name AS TABLE_SCHEMA, t.name AS TABLE_NAME, col.name AS COLUMN_NAME, k.ordinal AS ORDINAL_POSITION
              FROM sim_key_columns k JOIN sim_constraints c ON c.object_id = k.constraint_id
              JOIN sim_tables t ON t.object_id = c.table_id JOIN sim_schemas s ON s.schema_id = t.schema_id
              JOIN sim_columns col ON col.object_id = c.table_id AND col.column_id = k.column_id
              WHERE c.kind IN ('PK', 'UQ', 'F')",
        columns: &[
            ("CONSTRAINT_CATALOG", NAME),
            ("CONSTRAINT_SCHEMA", NAME),
            ("CONSTRAINT_NAME", NAME),
            ("TABLE_CATALOG", NAME),
            ("TABLE_SCHEMA", NAME),
            ("TABLE_NAME", NAME),
            ("COLUMN_NAME", NAME),
            ("ORDINAL_POSITION", INT),
        ],
    },
    View {
        name: "INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS",
        sql: "SELECT (SELECT value FROM sim_meta WHERE key = 'database_name') AS CONSTRAINT_CATALOG,
                 s.name AS CONSTRAINT_SCHEMA, c.name AS CONSTRAINT_NAME,
                 (SELECT value FROM sim_meta WHERE key = 'database_name') AS UNIQUE_CONSTRAINT_CATALOG,
                 rs.name AS UNIQUE_CONSTRAINT_SCHEMA,
                 (SELECT p.name FROM sim_constraints p WHERE p.table_id = c.ref_table_id AND p.kind = 'PK') AS UNIQUE_CONSTRAINT_NAME,
                 'SIMPLE' AS MATCH_OPTION, 'NO ACTION' AS UPDATE_RULE, 'NO ACTION' AS DELETE_RULE
              FROM sim_constraints c JOIN sim_tables t ON t.object_id = c.table_id
              JOIN sim_schemas s ON s.schema_id = t.schema_id
              JOIN sim_tables rt ON rt.object_id = c.ref_table_id JOIN sim_schemas rs ON rs.schema_id = rt.schema_id
              WHERE c.kind = 'F'",
        columns: &[
            ("CONSTRAINT_CATALOG", NAME),
            ("CONSTRAINT_SCHEMA", NAME),
            ("CONSTRAINT_NAME", NAME),
            ("UNIQUE_CONSTRAINT_CATALOG", NAME),
            ("UNIQUE_CONSTRAINT_SCHEMA", NAME),
            ("UNIQUE_CONSTRAINT_NAME", NAME),
            ("MATCH_OPTION", SqlType::VarChar(Len::N(7))),
            ("UPDATE_RULE", SqlType::VarChar(Len::N(11))),
            ("DELETE_RULE", SqlType::VarChar(Len::N(11))),
        ],
    },
];

/// Views the change-tracking module creates (`ct::init_schema`); only their
/// column types are declared here.
pub static CT_VIEWS: &[View] = &[
    View {
        name: "sys.change_tracking_databases",
        sql: "",
        columns: &[
            ("database_id", INT),
            ("is_auto_cleanup_on", TINY),
            ("retention_period", INT),
            ("retention_period_units", TINY),
            ("retention_period_units_desc", DESC),
        ],
    },
    View {
        name: "sys.change_tracking_tables",
        sql: "",
        columns: &[
            ("object_id", INT),
            ("is_track_columns_updated_on", BIT),
            ("min_valid_version", BIG),
            ("begin_version", BIG),
            ("cleanup_version", BIG),
        ],
    },
];

/// Finds a catalog view by name (`sys.tables`, `INFORMATION_SCHEMA.COLUMNS`).
pub fn find(name: &ObjectName) -> Option<&'static View> {
    let schema = name.schema()?;
    let full = format!("{}.{}", schema, name.name());
    VIEWS
        .iter()
        .chain(CT_VIEWS.iter())
        .find(|v| v.name.eq_ignore_ascii_case(&full))
}

/// Creates (or re-creates) the views.
pub fn create_all(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    for v in VIEWS {
        let q = crate::engine::catalog::quote_ident(v.name);
        conn.execute_batch(&format!(
            "DROP VIEW IF EXISTS {q}; CREATE VIEW {q} AS {};",
            v.sql
        ))?;
    }
    Ok(())
}
