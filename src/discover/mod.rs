//! `ctsync discover`: reads a server's schema (every schema, not only `dbo`)
//! and proposes the `tables:` section of config.yaml — each table's key
//! (composite included), whether the key is an identity, its columns, its
//! foreign keys as `references` among the listed tables — with a comment on
//! every table or column that cannot be synced and why.
//!
//! [`read_schema`] asks the server; [`render`] turns what it found into YAML
//! text; [`write_into`] puts that text into an existing config file
//! (`crate::commands::discover` checks the result loads before it replaces
//! the file).

mod render;

pub use render::{matches_pattern, render, unmatched_includes, write_into, Options};

use crate::mssql::discover_sql;
use crate::mssql::Connection;
use std::collections::BTreeMap;

/// One user table as the catalog describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub schema: String,
    pub name: String,
    /// (name, is_identity, is_computed) in column order.
    pub columns: Vec<Column>,
    /// Primary key columns in key order; empty when there is none.
    pub key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub identity: bool,
    pub computed: bool,
    /// rowversion (timestamp): the server sets it, a write cannot.
    pub rowversion: bool,
}

/// A foreign key of a table: its columns and the referenced table's columns.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub referenced_schema: String,
    pub referenced_table: String,
    pub referenced_columns: Vec<String>,
}

impl Table {
    /// `schema.name` as the config names the table (see [`render`]).
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// Whether the key is one IDENTITY column.
    pub fn identity_key(&self) -> bool {
        self.key.len() == 1
            && self
                .columns
                .iter()
                .any(|c| c.identity && c.name.eq_ignore_ascii_case(&self.key[0]))
    }
}

/// Reads every user table with its columns, key and foreign keys, in
/// `schema.table` order. Four catalog queries, whatever the table count. A
/// value of an unexpected type is an error (`try_get`), never a panic.
pub async fn read_schema(conn: &mut Connection) -> Result<Vec<Table>, tiberius::error::Error> {
    let mut tables: BTreeMap<i32, Table> = BTreeMap::new();
    let mut order = Vec::new();
    for row in conn
        .simple_query(discover_sql::TABLES)
        .await?
        .into_first_result()
        .await?
    {
        let (Some(id), Some(schema), Some(name)) = (
            row.try_get::<i32, _>(0)?,
            row.try_get::<&str, _>(1)?,
            row.try_get::<&str, _>(2)?,
        ) else {
            continue;
        };
        order.push(id);
        tables.insert(
            id,
            Table {
                schema: schema.to_string(),
                name: name.to_string(),
                columns: Vec::new(),
                key: Vec::new(),
                foreign_keys: Vec::new(),
            },
        );
    }
    for row in conn
        .simple_query(discover_sql::COLUMNS)
        .await?
        .into_first_result()
        .await?
    {
        let (Some(id), Some(name)) = (row.try_get::<i32, _>(0)?, row.try_get::<&str, _>(1)?) else {
            continue;
        };
        if let Some(t) = tables.get_mut(&id) {
            t.columns.push(Column {
                name: name.to_string(),
                identity: row.try_get::<bool, _>(2)?.unwrap_or(false),
                computed: row.try_get::<bool, _>(3)?.unwrap_or(false),
                rowversion: row.try_get::<bool, _>(4)?.unwrap_or(false),
            });
        }
    }
    for row in conn
        .simple_query(discover_sql::PRIMARY_KEYS)
        .await?
        .into_first_result()
        .await?
    {
        let (Some(id), Some(name)) = (row.try_get::<i32, _>(0)?, row.try_get::<&str, _>(1)?) else {
            continue;
        };
        if let Some(t) = tables.get_mut(&id) {
            t.key.push(name.to_string());
        }
    }
    // (constraint id) -> (referencing table id, fk)
    let mut fks: BTreeMap<i32, (i32, ForeignKey)> = BTreeMap::new();
    for row in conn
        .simple_query(discover_sql::FOREIGN_KEYS)
        .await?
        .into_first_result()
        .await?
    {
        let (Some(fk), Some(parent), Some(column), Some(referenced), Some(ref_column)) = (
            row.try_get::<i32, _>(0)?,
            row.try_get::<i32, _>(1)?,
            row.try_get::<&str, _>(2)?,
            row.try_get::<i32, _>(3)?,
            row.try_get::<&str, _>(4)?,
        ) else {
            continue;
        };
        let Some(rt) = tables.get(&referenced) else {
            continue;
        };
        let entry = fks.entry(fk).or_insert_with(|| {
            (
                parent,
                ForeignKey {
                    columns: Vec::new(),
                    referenced_schema: rt.schema.clone(),
                    referenced_table: rt.name.clone(),
                    referenced_columns: Vec::new(),
                },
            )
        });
        entry.1.columns.push(column.to_string());
        entry.1.referenced_columns.push(ref_column.to_string());
    }
    for (_, (parent, fk)) in fks {
        if let Some(t) = tables.get_mut(&parent) {
            t.foreign_keys.push(fk);
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|id| tables.remove(&id))
        .collect())
}
