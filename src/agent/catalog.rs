//! Tables' catalog entries on one server (columns, primary key, change
//! tracking), read for many tables per request
//! ([`crate::mssql::catalog_sql`]), and checked against the configuration.
//! Set-up and `check` read every table this way: a few requests for
//! hundreds of tables, not three each.

use super::setup::{Problems, SetupError};
use crate::config::TableConfig;
use crate::model::Side;
use crate::mssql::catalog_sql::{self, CATALOG_TABLES_PER_REQUEST, RESULT_SETS_PER_TABLE};
use crate::mssql::statements::{ColumnShape, TableShape};
use crate::mssql::Connection;
use crate::schema::CatalogColumn;
use tiberius::Row;

/// One table's catalog entry as the server describes it.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// Empty: no such table (or the login cannot see it).
    pub columns: Vec<CatalogColumn>,
    pub primary_key: Vec<String>,
    pub tracked: bool,
    /// Change tracking records the columns each update changed.
    pub tracks_columns: bool,
}

/// Reads the entries of `tables`, in order.
pub async fn read(
    conn: &mut Connection,
    side: Side,
    tables: &[&TableConfig],
) -> Result<Vec<Entry>, SetupError> {
    let mut out = Vec::with_capacity(tables.len());
    for group in tables.chunks(CATALOG_TABLES_PER_REQUEST) {
        let names: Vec<[String; 3]> = group
            .iter()
            .map(|t| [t.name.quoted(), t.name.schema.clone(), t.name.name.clone()])
            .collect();
        let params: Vec<&dyn tiberius::ToSql> = names
            .iter()
            .flat_map(|n| n.iter().map(|v| v as &dyn tiberius::ToSql))
            .collect();
        let context = match group {
            [one] => format!("reading the catalog of {}", one.name),
            _ => format!(
                "reading the catalog of {} tables ({} to {})",
                group.len(),
                group[0].name,
                group[group.len() - 1].name
            ),
        };
        let failed = |source| SetupError::Sql {
            side: side.as_str(),
            context: context.clone(),
            source,
        };
        let sets = conn
            .query(catalog_sql::catalog(group.len()), &params)
            .await
            .map_err(failed)?
            .into_results()
            .await
            .map_err(failed)?;
        if sets.len() != group.len() * RESULT_SETS_PER_TABLE {
            return Err(SetupError::Check {
                side: side.as_str(),
                message: format!(
                    "{context}: the server returned {} result sets, not {}; check that the login may read INFORMATION_SCHEMA and sys.change_tracking_tables",
                    sets.len(),
                    group.len() * RESULT_SETS_PER_TABLE
                ),
            });
        }
        for sets in sets.chunks(RESULT_SETS_PER_TABLE) {
            out.push(Entry {
                columns: columns(&sets[0]),
                tracked: sets[1]
                    .first()
                    .and_then(|r| r.try_get::<i32, _>(0).ok().flatten())
                    .unwrap_or(0)
                    > 0,
                primary_key: sets[2]
                    .iter()
                    .filter_map(|r| r.try_get::<&str, _>(0).ok().flatten().map(str::to_string))
                    .collect(),
                tracks_columns: sets[3]
                    .first()
                    .and_then(|r| r.try_get::<bool, _>(0).ok().flatten())
                    .unwrap_or(false),
            });
        }
    }
    Ok(out)
}

/// The rows of [`crate::mssql::statements::TABLE_COLUMNS`].
fn columns(rows: &[Row]) -> Vec<CatalogColumn> {
    let mut catalog = Vec::with_capacity(rows.len());
    for r in rows {
        let col = r.try_get::<&str, _>(0).ok().flatten();
        let ty = r.try_get::<&str, _>(1).ok().flatten();
        let int = |i: usize| r.try_get::<i32, _>(i).ok().flatten();
        if let (Some(col), Some(ty)) = (col, ty) {
            catalog.push(CatalogColumn {
                name: col.to_string(),
                data_type: ty.to_string(),
                identity: int(2) == Some(1),
                max_length: int(3),
                precision: int(4),
                scale: int(5),
                time_precision: int(6),
                // Unknown nullability is taken as nullable (the check then
                // errs on the side of refusing a NOT NULL target).
                nullable: int(7) != Some(0),
                has_default: int(8) == Some(1),
                computed: int(9) == Some(1),
                collation: r.try_get::<&str, _>(10).ok().flatten().map(str::to_string),
            });
        }
    }
    catalog
}

/// Reads one table's entry and checks it ([`shape`]).
pub async fn table_shape(
    conn: &mut Connection,
    side: Side,
    t: &TableConfig,
) -> Result<Result<(TableShape, Vec<CatalogColumn>), Problems>, SetupError> {
    let entry = read(conn, side, &[t]).await?.pop().unwrap_or_default();
    Ok(shape(t, entry))
}

/// A table's shape on this server (the configured columns, or every
/// column, in the server's order) checked against the configuration: the
/// table exists, the listed columns and the key are there, the key is the
/// primary key, `identity` matches the key column.
pub fn shape(t: &TableConfig, entry: Entry) -> Result<(TableShape, Vec<CatalogColumn>), Problems> {
    let name = &t.name;
    let catalog = entry.columns;
    let pk = entry.primary_key;
    let columns: Vec<ColumnShape> = catalog
        .iter()
        .map(|c| ColumnShape {
            name: c.name.clone(),
            data_type: c.data_type.clone(),
            identity: c.identity,
        })
        .collect();
    if columns.is_empty() {
        return Err(vec![format!(
            "table {name} does not exist (or the login cannot see it); create it or remove it from `tables`"
        )]);
    }
    let mut problems = Vec::new();
    let selected: Vec<ColumnShape> = match &t.columns {
        None => columns.clone(),
        Some(list) => list
            .iter()
            .filter_map(|c| {
                let found = columns
                    .iter()
                    .find(|x| x.name.eq_ignore_ascii_case(c))
                    .cloned();
                if found.is_none() {
                    problems.push(format!(
                        "table {name} has no column {c} (listed in `columns`); it has: {}",
                        columns
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                found
            })
            .collect(),
    };
    let same_key = pk.len() == t.key.len()
        && pk
            .iter()
            .zip(&t.key)
            .all(|(a, b)| a.eq_ignore_ascii_case(b));
    if pk.is_empty() {
        problems.push(format!(
            "table {name} has no primary key; change tracking needs one (error 4997): add a primary key on ({})",
            t.key.join(", ")
        ));
    } else if !same_key {
        problems.push(format!(
            "table {name}: configured key ({}) differs from its primary key ({})",
            t.key.join(", "),
            pk.join(", ")
        ));
    }
    for k in &t.key {
        if !selected.iter().any(|c| c.name.eq_ignore_ascii_case(k)) {
            problems.push(format!(
                "table {name}: key column {k} must be among the synced columns"
            ));
        }
    }
    if t.identity {
        let key_is_identity = selected
            .iter()
            .any(|c| c.identity && t.key.iter().any(|k| k.eq_ignore_ascii_case(&c.name)));
        if !key_is_identity {
            problems.push(format!(
                "table {name}: `identity: true` but its key column is not an IDENTITY column on this server"
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok((
        TableShape {
            name: name.clone(),
            key: t.key.clone(),
            columns: selected,
        },
        catalog,
    ))
}
