//! The catalog: our own metadata tables inside the SQLite file (schemas,
//! tables with object ids, columns with their SQL Server types, identity,
//! defaults, keys, foreign keys, checks, indexes), loaded into [`TableInfo`].
//!
//! User tables live in SQLite as `"schema.name"`; columns keep their names.

pub use super::collation::collate_clause;
use super::collation::{self, Collation};
use super::types::{self, storage_decl};
use crate::error::{self, SqlError};
use crate::sql::ast::ObjectName;
use crate::value::SqlType;
use rusqlite::types::Value as DbValue;
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::Arc;

use super::sqlerr;

pub const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS sim_schemas(
    schema_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE);
INSERT OR IGNORE INTO sim_schemas(schema_id, name) VALUES (1, 'dbo'), (4, 'sys'), (3, 'INFORMATION_SCHEMA');
CREATE TABLE IF NOT EXISTS sim_tables(
    object_id INTEGER PRIMARY KEY,
    schema_id INTEGER NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    create_date TEXT NOT NULL DEFAULT (datetime('now')),
    -- sys.objects.modify_date: moved by every ALTER TABLE of the table.
    modify_date TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    UNIQUE(schema_id, name));
CREATE TABLE IF NOT EXISTS sim_columns(
    object_id INTEGER NOT NULL,
    column_id INTEGER NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    type_code TEXT NOT NULL,
    nullable INTEGER NOT NULL,
    identity_seed INTEGER,
    identity_increment INTEGER,
    default_value,
    default_func TEXT,
    -- Computed columns: the SQLite expression over the bare column names,
    -- the T-SQL definition as sys.computed_columns shows it, PERSISTED.
    computed_sql TEXT,
    computed_definition TEXT,
    is_persisted INTEGER NOT NULL DEFAULT 0,
    -- rowversion (timestamp) columns: binary(8), or varbinary(8) when nullable.
    is_rowversion INTEGER NOT NULL DEFAULT 0,
    collation_name TEXT,
    is_sparse INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(object_id, column_id));
CREATE TABLE IF NOT EXISTS sim_identity(
    object_id INTEGER PRIMARY KEY,
    last_value INTEGER);
-- kind: PK, UQ (constraints), IX (unique index), F (foreign key), C (check).
-- columns / ref_columns: column ids separated by commas, in key order.
CREATE TABLE IF NOT EXISTS sim_constraints(
    object_id INTEGER PRIMARY KEY,
    table_id INTEGER NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    kind TEXT NOT NULL,
    columns TEXT NOT NULL DEFAULT '',
    ref_table_id INTEGER,
    ref_columns TEXT,
    check_sql TEXT,
    -- sys.check_constraints / sys.foreign_keys.is_not_trusted (C and F).
    is_not_trusted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sim_key_columns(
    constraint_id INTEGER NOT NULL,
    ordinal INTEGER NOT NULL,
    column_id INTEGER NOT NULL,
    ref_column_id INTEGER,
    PRIMARY KEY(constraint_id, ordinal));
CREATE TABLE IF NOT EXISTS sim_indexes(
    table_id INTEGER NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    is_unique INTEGER NOT NULL,
    columns TEXT NOT NULL,
    PRIMARY KEY(table_id, name));
-- DML triggers (sys.triggers): events, disabled flag and the definition
-- (CREATE ... to the end of its batch), parsed again when they fire.
CREATE TABLE IF NOT EXISTS sim_triggers(
    object_id INTEGER PRIMARY KEY,
    table_id INTEGER NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    on_insert INTEGER NOT NULL,
    on_update INTEGER NOT NULL,
    on_delete INTEGER NOT NULL,
    is_disabled INTEGER NOT NULL DEFAULT 0,
    definition TEXT NOT NULL,
    create_date TEXT NOT NULL DEFAULT (datetime('now')),
    modify_date TEXT NOT NULL DEFAULT (datetime('now')));
CREATE INDEX IF NOT EXISTS sim_triggers_table ON sim_triggers(table_id);
CREATE TABLE IF NOT EXISTS sim_meta(
    key TEXT PRIMARY KEY,
    value);
INSERT OR IGNORE INTO sim_meta(key, value) VALUES ('next_object_id', 245575913), ('allow_snapshot_isolation', 0), ('read_committed_snapshot', 0), ('database_id', 5);
";

#[derive(Debug, Clone)]
pub enum DefaultKind {
    /// A constant in the column's storage form.
    Value(DbValue),
    /// GETDATE(), NEWID(), ...: upper-cased function name.
    Func(String),
}

#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub column_id: i32,
    pub name: String,
    pub ty: SqlType,
    pub nullable: bool,
    pub identity: Option<(i64, i64)>,
    pub default: Option<DefaultKind>,
    /// A computed column (see `computed`).
    pub computed: Option<Computed>,
    /// A rowversion (timestamp) column (see `computed`).
    pub rowversion: bool,
    /// The collation of a character column (`None` for other types).
    pub collation: Option<Collation>,
    /// A SPARSE column (`sys.columns.is_sparse`); stored like any other.
    pub sparse: bool,
}

/// A computed column's expression.
#[derive(Debug, Clone)]
pub struct Computed {
    /// SQLite expression over the table's bare column names (storage forms).
    pub sql: String,
    /// `sys.computed_columns.definition`.
    pub definition: String,
    pub persisted: bool,
}

impl ColumnInfo {
    /// A column whose value the server derives: computed or rowversion.
    pub fn is_derived(&self) -> bool {
        self.computed.is_some() || self.rowversion
    }
}

#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub name: String,
    /// PK, UQ or IX.
    pub kind: String,
    /// Indexes into [`TableInfo::columns`].
    pub columns: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct FkInfo {
    pub name: String,
    pub table_id: i64,
    /// `schema.name` of the referencing table.
    pub table_name: String,
    pub columns: Vec<String>,
    pub ref_table_name: String,
    pub ref_columns: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct TableInfo {
    pub object_id: i64,
    pub schema: String,
    pub name: String,
    pub columns: Vec<ColumnInfo>,
    pub identity: Option<usize>,
    pub pk: Option<KeyInfo>,
    /// UNIQUE constraints and unique indexes.
    pub uniques: Vec<KeyInfo>,
    pub fks: Vec<FkInfo>,
    /// Foreign keys of other tables (or this one) that reference this table.
    pub referenced_by: Vec<FkInfo>,
    /// CHECK constraints: (name, SQLite condition over the bare column names).
    pub checks: Vec<(String, String)>,
    /// Where the rows live when it is not the table `"schema.name"` of the
    /// main database: a TEMP table for table variables and the `inserted` /
    /// `deleted` tables of triggers (quoted, with its schema).
    pub storage: Option<String>,
}

impl TableInfo {
    /// `dbo.T`
    pub fn full_name(&self) -> String {
        if self.schema.is_empty() {
            // A table variable or `inserted` / `deleted`.
            return self.name.clone();
        }
        format!("{}.{}", self.schema, self.name)
    }
    /// The SQLite table name, quoted.
    pub fn sqlite_name(&self) -> String {
        match &self.storage {
            Some(s) => s.clone(),
            None => quote_ident(&self.full_name()),
        }
    }
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }
}

pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Splits `ObjectName` into (schema, name), defaulting the schema to dbo.
pub fn split_name(name: &ObjectName) -> (String, String) {
    (
        name.schema().unwrap_or("dbo").to_string(),
        name.name().to_string(),
    )
}

pub fn display_name(name: &ObjectName) -> String {
    name.parts.join(".")
}

pub fn schema_id(conn: &Connection, schema: &str) -> Result<Option<i64>, SqlError> {
    conn.prepare_cached("SELECT schema_id FROM sim_schemas WHERE name = ?1")
        .and_then(|mut s| s.query_row([schema], |r| r.get(0)).optional())
        .map_err(sqlerr)
}

pub fn next_object_id(conn: &Connection) -> Result<i64, SqlError> {
    let id: i64 = conn
        .query_row(
            "UPDATE sim_meta SET value = value + 16 WHERE key = 'next_object_id' RETURNING value",
            [],
            |r| r.get(0),
        )
        .map_err(sqlerr)?;
    Ok(id)
}

/// Finds a table's object id by (schema, name).
pub fn table_id(conn: &Connection, schema: &str, name: &str) -> Result<Option<i64>, SqlError> {
    conn.prepare_cached(
        "SELECT t.object_id FROM sim_tables t JOIN sim_schemas s ON s.schema_id = t.schema_id
         WHERE s.name = ?1 AND t.name = ?2",
    )
    .and_then(|mut s| s.query_row([schema, name], |r| r.get(0)).optional())
    .map_err(sqlerr)
}

/// `OBJECT_ID('name')`: tables, constraints and triggers.
pub fn object_id_of(conn: &Connection, text: &str) -> Result<Option<i64>, SqlError> {
    let parts = split_text_name(text);
    let (schema, name) = match parts.len() {
        0 => return Ok(None),
        1 => ("dbo".to_string(), parts[0].clone()),
        n => (parts[n - 2].clone(), parts[n - 1].clone()),
    };
    if let Some(id) = table_id(conn, &schema, &name)? {
        return Ok(Some(id));
    }
    conn.prepare_cached(
        "SELECT c.object_id FROM sim_constraints c JOIN sim_tables t ON t.object_id = c.table_id
         JOIN sim_schemas s ON s.schema_id = t.schema_id WHERE s.name = ?1 AND c.name = ?2
         UNION ALL
         SELECT g.object_id FROM sim_triggers g JOIN sim_tables t ON t.object_id = g.table_id
         JOIN sim_schemas s ON s.schema_id = t.schema_id WHERE s.name = ?1 AND g.name = ?2",
    )
    .and_then(|mut s| s.query_row([&schema, &name], |r| r.get(0)).optional())
    .map_err(sqlerr)
}

/// Splits `[dbo].[T]`, `dbo.T`, `db.dbo.T` into unbracketed parts.
pub fn split_text_name(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = text.trim().chars().peekable();
    let mut in_br = false;
    while let Some(c) = chars.next() {
        match c {
            '[' if !in_br => in_br = true,
            ']' if in_br => {
                if chars.peek() == Some(&']') {
                    chars.next();
                    cur.push(']');
                } else {
                    in_br = false;
                }
            }
            '.' if !in_br => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts
}

fn parse_ids(s: &str) -> Vec<i32> {
    s.split(',').filter_map(|x| x.trim().parse().ok()).collect()
}

/// Loads a table's metadata; `None` if it does not exist.
pub fn load_table(conn: &Connection, object_id: i64) -> Result<Option<TableInfo>, SqlError> {
    let head: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT s.name, t.name FROM sim_tables t JOIN sim_schemas s ON s.schema_id = t.schema_id
             WHERE t.object_id = ?1",
        )
        .and_then(|mut s| {
            s.query_row([object_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(sqlerr)?;
    let Some((schema, name)) = head else {
        return Ok(None);
    };
    let mut columns = Vec::new();
    {
        let mut st = conn
            .prepare_cached(
                "SELECT column_id, name, type_code, nullable, identity_seed, identity_increment,
                        default_value, default_func, computed_sql, computed_definition,
                        is_persisted, is_rowversion, collation_name, is_sparse
                 FROM sim_columns WHERE object_id = ?1 ORDER BY column_id",
            )
            .map_err(sqlerr)?;
        let rows = st
            .query_map([object_id], |r| {
                Ok((
                    r.get::<_, i32>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, DbValue>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    (
                        r.get::<_, Option<String>>(8)?,
                        r.get::<_, Option<String>>(9)?,
                        r.get::<_, bool>(10)?,
                        r.get::<_, bool>(11)?,
                    ),
                    (r.get::<_, Option<String>>(12)?, r.get::<_, bool>(13)?),
                ))
            })
            .map_err(sqlerr)?;
        for row in rows {
            let (column_id, cname, code, nullable, seed, inc, dv, df, derived, (coll, sparse)) =
                row.map_err(sqlerr)?;
            let (csql, cdef, persisted, rowversion) = derived;
            let ty = types::type_from_code(&code).ok_or_else(|| {
                SqlError::new(50000, 16, 1, format!("corrupt catalog type '{code}'"))
            })?;
            let default = match (dv, df) {
                (_, Some(f)) => Some(DefaultKind::Func(f)),
                (DbValue::Null, None) => None,
                (v, None) => Some(DefaultKind::Value(v)),
            };
            columns.push(ColumnInfo {
                column_id,
                name: cname,
                ty,
                nullable,
                identity: seed.map(|s| (s, inc.unwrap_or(1))),
                default,
                computed: csql.map(|sql| Computed {
                    sql,
                    definition: cdef.unwrap_or_default(),
                    persisted,
                }),
                rowversion,
                collation: match coll {
                    _ if !ty.is_string() => None,
                    Some(n) => Some(collation::parse(&n)?),
                    None => Some(collation::database_default()),
                },
                sparse,
            });
        }
    }
    let idx_of = |id: i32| columns.iter().position(|c| c.column_id == id);
    let mut pk = None;
    let mut uniques = Vec::new();
    let mut fks = Vec::new();
    let mut checks = Vec::new();
    type ConsRow = (
        String,
        String,
        String,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let cons: Vec<ConsRow> = {
        let mut st = conn
            .prepare_cached(
                "SELECT name, kind, columns, ref_table_id, ref_columns, check_sql FROM sim_constraints
                 WHERE table_id = ?1 ORDER BY object_id",
            )
            .map_err(sqlerr)?;
        let rows = st
            .query_map([object_id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .map_err(sqlerr)?;
        rows.collect::<Result<_, _>>().map_err(sqlerr)?
    };
    for (cname, kind, cols, ref_id, ref_cols, check_sql) in cons {
        let col_idx: Vec<usize> = parse_ids(&cols).into_iter().filter_map(idx_of).collect();
        match kind.as_str() {
            "PK" => {
                pk = Some(KeyInfo {
                    name: cname,
                    kind,
                    columns: col_idx,
                })
            }
            "UQ" | "IX" => uniques.push(KeyInfo {
                name: cname,
                kind,
                columns: col_idx,
            }),
            "F" => {
                let ref_id = ref_id.unwrap_or(0);
                let ref_ids = parse_ids(ref_cols.as_deref().unwrap_or(""));
                fks.push(FkInfo {
                    name: cname,
                    table_id: object_id,
                    table_name: format!("{schema}.{name}"),
                    columns: col_idx.iter().map(|i| columns[*i].name.clone()).collect(),
                    ref_table_name: table_name_of(conn, ref_id)?.unwrap_or_default(),
                    ref_columns: column_names(conn, ref_id, &ref_ids)?,
                });
            }
            "C" => checks.push((cname, check_sql.unwrap_or_else(|| "1".into()))),
            _ => {}
        }
    }
    // Foreign keys that point at this table.
    let mut referenced_by = Vec::new();
    let refs: Vec<(String, i64, String, String)> = {
        let mut st = conn
            .prepare_cached(
                "SELECT name, table_id, columns, ref_columns FROM sim_constraints
                 WHERE kind = 'F' AND ref_table_id = ?1",
            )
            .map_err(sqlerr)?;
        let rows = st
            .query_map([object_id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                ))
            })
            .map_err(sqlerr)?;
        rows.collect::<Result<_, _>>().map_err(sqlerr)?
    };
    for (fname, child, cols, ref_cols) in refs {
        referenced_by.push(FkInfo {
            name: fname,
            table_id: child,
            table_name: table_name_of(conn, child)?.unwrap_or_default(),
            columns: column_names(conn, child, &parse_ids(&cols))?,
            ref_table_name: format!("{schema}.{name}"),
            ref_columns: parse_ids(&ref_cols)
                .into_iter()
                .filter_map(idx_of)
                .map(|i| columns[i].name.clone())
                .collect(),
        });
    }
    let identity = columns.iter().position(|c| c.identity.is_some());
    Ok(Some(TableInfo {
        object_id,
        schema,
        name,
        columns,
        identity,
        pk,
        uniques,
        fks,
        referenced_by,
        checks,
        storage: None,
    }))
}

pub fn table_name_of(conn: &Connection, object_id: i64) -> Result<Option<String>, SqlError> {
    conn.prepare_cached(
        "SELECT s.name || '.' || t.name FROM sim_tables t JOIN sim_schemas s ON s.schema_id = t.schema_id
         WHERE t.object_id = ?1",
    )
    .and_then(|mut s| s.query_row([object_id], |r| r.get(0)).optional())
    .map_err(sqlerr)
}

fn column_names(conn: &Connection, object_id: i64, ids: &[i32]) -> Result<Vec<String>, SqlError> {
    let mut out = Vec::new();
    let mut st = conn
        .prepare_cached("SELECT name FROM sim_columns WHERE object_id = ?1 AND column_id = ?2")
        .map_err(sqlerr)?;
    for id in ids {
        let n: Option<String> = st
            .query_row(params![object_id, id], |r| r.get(0))
            .optional()
            .map_err(sqlerr)?;
        out.push(n.unwrap_or_default());
    }
    Ok(out)
}

/// Resolves a table name to its metadata, error 208 if it does not exist.
pub fn resolve(conn: &Connection, name: &ObjectName) -> Result<Arc<TableInfo>, SqlError> {
    let (schema, tname) = split_name(name);
    let id = table_id(conn, &schema, &tname)?
        .ok_or_else(|| error::invalid_object(&display_name(name)))?;
    load_table(conn, id)?
        .map(Arc::new)
        .ok_or_else(|| error::invalid_object(&display_name(name)))
}

/// [`resolve`], first among `locals` (table variables, and `inserted` /
/// `deleted` inside a trigger) for a one-part name.
pub fn resolve_in(
    conn: &Connection,
    locals: &std::collections::HashMap<String, Arc<TableInfo>>,
    name: &ObjectName,
) -> Result<Arc<TableInfo>, SqlError> {
    if name.parts.len() == 1 {
        if let Some(t) = locals.get(&name.name().to_ascii_lowercase()) {
            return Ok(Arc::clone(t));
        }
        if name.name().starts_with('@') {
            // docs: "Must declare the table variable "@t"."
            return Err(SqlError::new(
                1087,
                15,
                2,
                format!("Must declare the table variable \"{}\".", name.name()),
            ));
        }
    }
    resolve(conn, name)
}

/// The SQLite column definition of a column.
pub fn column_sql(c: &ColumnInfo) -> String {
    format!(
        "{} {} {}{}",
        quote_ident(&c.name),
        storage_decl(&c.ty),
        collate_clause(c),
        if c.nullable { "" } else { " NOT NULL" }
    )
}

/// The identity counter of a table as stored (rolls back with transactions).
pub fn last_identity(conn: &Connection, object_id: i64) -> Result<Option<i64>, SqlError> {
    Ok(conn
        .prepare_cached("SELECT last_value FROM sim_identity WHERE object_id = ?1")
        .and_then(|mut s| s.query_row([object_id], |r| r.get(0)).optional())
        .map_err(sqlerr)?
        .flatten())
}

/// The later of two identity positions in the increment's direction.
pub fn identity_max(a: Option<i64>, b: Option<i64>, inc: i64) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if inc >= 0 { x.max(y) } else { x.min(y) }),
        (x, y) => x.or(y),
    }
}

pub fn identity_overflow() -> SqlError {
    SqlError::new(
        8115,
        16,
        1,
        "Arithmetic overflow error converting IDENTITY to data type bigint.",
    )
}

pub fn set_identity(conn: &Connection, object_id: i64, value: i64) -> Result<(), SqlError> {
    conn.prepare_cached(
        "INSERT INTO sim_identity(object_id, last_value) VALUES (?1, ?2)
         ON CONFLICT(object_id) DO UPDATE SET last_value = excluded.last_value",
    )
    .and_then(|mut s| s.execute(params![object_id, value]))
    .map_err(sqlerr)?;
    Ok(())
}

/// Marks a table's CHECK and FOREIGN KEY constraints not trusted
/// (`is_not_trusted = 1`), as a bulk load without CHECK_CONSTRAINTS does.
pub fn mark_not_trusted(conn: &Connection, table_id: i64) -> Result<(), SqlError> {
    conn.prepare_cached(
        "UPDATE sim_constraints SET is_not_trusted = 1
         WHERE table_id = ?1 AND kind IN ('C', 'F') AND is_not_trusted = 0",
    )
    .and_then(|mut s| s.execute([table_id]))
    .map_err(sqlerr)?;
    Ok(())
}
