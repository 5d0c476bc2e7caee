//! Start-up checks shared by `run` and `check`: each listed table and column
//! exists on each server that takes part, has the configured key, the key is
//! an identity when configured so, and Change Tracking (and SNAPSHOT
//! isolation, which capture reads under) is on. When `enable_change_tracking`
//! is set ctsync turns them on; otherwise it says which statement an
//! administrator must run. Then the two servers' columns of each table are
//! matched by name ([`crate::schema`]): both sides' shapes list the same
//! columns in the same order, and definitions that would lose data stop
//! `run` (and fail `check`).

use super::apply_loop::Applier;
use super::capture_loop::Capturer;
use super::catalog;
use super::Shared;
use crate::apply::plan::{ApplyTable, KeyMode};
use crate::backoff::Backoff;
use crate::config::{Config, TableConfig};
use crate::link::Link;
use crate::model::{Direction, Side};
use crate::mssql::statements::{self, TableShape};
use crate::mssql::Connection;
use crate::schema::{self, CatalogColumn};
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("server {side}: {message}")]
    Check { side: &'static str, message: String },
    #[error("server {side}: {context}: {source}")]
    Sql {
        side: &'static str,
        context: String,
        #[source]
        source: tiberius::error::Error,
    },
    #[error(transparent)]
    Store(crate::store::StoreError),
    #[error("shutting down")]
    Shutdown,
}

/// Problems found by [`check_server`]; `run` stops on the first list that is
/// not empty, `check` prints them all.
pub type Problems = Vec<String>;

pub struct Plan {
    pub capturers: Vec<Capturer>,
    pub appliers: Vec<Applier>,
    pub loaders: Vec<crate::load::Loader>,
}

fn sql_err(
    side: Side,
    context: impl Into<String>,
) -> impl FnOnce(tiberius::error::Error) -> SetupError {
    let context = context.into();
    move |source| SetupError::Sql {
        side: side.as_str(),
        context,
        source,
    }
}

fn backoff(config: &Config) -> Backoff {
    Backoff::new(
        config.sync.retry.initial_backoff_ms,
        config.sync.retry.max_backoff_ms,
    )
}

/// Connects to both servers (waiting with backoff while one is down), checks
/// every table and builds the loops.
pub async fn prepare(
    shared: &Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> Result<Plan, SetupError> {
    let config = &shared.config;
    let check = |side: Side| {
        let mut shutdown = shutdown.clone();
        async move {
            let mut link =
                Link::new(side, "setup", config, backoff(config)).watched_by(&shared.monitor);
            let conn = link.get(&mut shutdown).await.ok_or(SetupError::Shutdown)?;
            let checked =
                check_server(conn, config, side, config.sync.enable_change_tracking).await?;
            if !checked.problems.is_empty() {
                return Err(SetupError::Check {
                    side: side.as_str(),
                    message: checked.problems.join("\n  "),
                });
            }
            Ok(checked)
        }
    };
    let ca = check(Side::A).await?;
    let cb = check(Side::B).await?;
    let paired = pair(config, &ca, &cb);
    for w in &paired.warnings {
        tracing::warn!("{w}");
    }
    let shapes = paired.shapes;
    for (i, t) in config.tables.iter().enumerate() {
        // A table whose columns cannot be synced as they stand is held
        // (capture and apply leave it, with the reason in `inspect`) while
        // the others sync; the schema check lets it go on once fixed.
        let problem = paired
            .table_problems
            .get(i)
            .filter(|p| !p.is_empty())
            .map(|p| p.join("; "));
        if let Some(p) = &problem {
            tracing::error!(table = %t.name, reason = %p,
                "the table's columns cannot be synced as they stand; it is held (the other tables go on) until they are fixed (`ctsync check` names the fix)");
        }
        if let [Some(sa), Some(sb)] = &shapes[i] {
            shared.set_live_shape(
                &t.name.to_string(),
                super::LiveShape {
                    shapes: [sa.clone(), sb.clone()],
                    problem,
                    since: [ca.version, cb.version],
                },
            );
        }
    }
    let mut capturers = Vec::new();
    let mut appliers = Vec::new();
    let mut loaders = Vec::new();
    for side in [Side::A, Side::B] {
        let direction = Direction::from_source(side);
        let mut tables = Vec::new();
        for (i, t) in config.tables.iter().enumerate() {
            if !t.directions().contains(&direction) {
                continue;
            }
            let (Some(source), Some(target)) = (
                shapes[i][side as usize].clone(),
                shapes[i][side.other() as usize].clone(),
            ) else {
                continue;
            };
            let name = t.name.to_string();
            tables.push((name.clone(), source.clone()));
            // Every table gets a loader: it idles unless an initial load or
            // a re-initialisation is due (`initial`, `on_expired`).
            loaders.push(crate::load::Loader {
                direction,
                table: t.clone(),
                source_shape: source,
                apply: apply_table(t, target.clone(), config),
                source: Link::new(side, format!("load {name}"), config, backoff(config))
                    .watched_by(&shared.monitor),
                target: Link::new(
                    side.other(),
                    format!("load {name}"),
                    config,
                    backoff(config),
                )
                .watched_by(&shared.monitor),
                shared: shared.clone(),
            });
            appliers.push(Applier {
                direction,
                table: apply_table(t, target, config),
                link: Link::new(
                    side.other(),
                    format!("apply {name}"),
                    config,
                    backoff(config),
                )
                .watched_by(&shared.monitor),
                wake: shared.wake(direction, &name),
                shared: shared.clone(),
                two_way: t.two_way() && !crate::fault::active("no_conflict_detection"),
                unknown: None,
                floor: None,
                inbox: shared.take_inbox(direction, &name),
                pending_command: None,
                references: Default::default(),
            });
        }
        if !tables.is_empty() {
            capturers.push(Capturer {
                side,
                tables,
                link: Link::new(side, "capture", config, backoff(config))
                    .watched_by(&shared.monitor),
                shared: shared.clone(),
                backlog: Default::default(),
                schema_held: Default::default(),
                draining: Default::default(),
                row_bytes: Default::default(),
                turn: 0,
                quiet: None,
            });
        }
    }
    // Each applier knows the tables (same direction) that reference its
    // table: a parent's delete waits for their queued operations.
    let links: Vec<(crate::model::Direction, String, String, usize)> = appliers
        .iter()
        .flat_map(|a| {
            a.table
                .references
                .iter()
                .map(|(pos, parent)| (a.direction, parent.clone(), a.table.name.clone(), *pos))
                .collect::<Vec<_>>()
        })
        .collect();
    for a in &mut appliers {
        let children = links
            .iter()
            .filter(|(d, parent, _, _)| {
                *d == a.direction && parent.eq_ignore_ascii_case(&a.table.name)
            })
            .map(|(_, _, child, pos)| (child.clone(), *pos))
            .collect();
        a.references = super::references::References::new(children);
    }
    Ok(Plan {
        capturers,
        appliers,
        loaders,
    })
}

pub(crate) fn apply_table(t: &TableConfig, target: TableShape, config: &Config) -> ApplyTable {
    let mode = if !t.identity {
        KeyMode::Explicit
    } else if t.force_id {
        KeyMode::ForceId
    } else {
        KeyMode::Mapped
    };
    let references = t
        .references
        .iter()
        .filter_map(|(column, referenced)| {
            let pos = target
                .columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(column))?;
            // Only identity-mapped tables change keys between the servers;
            // a reference to any other table is written as is.
            let r = config.tables.iter().find(|x| {
                x.name
                    .to_string()
                    .eq_ignore_ascii_case(&referenced.to_string())
            })?;
            (r.identity && !r.force_id).then(|| (pos, r.name.to_string()))
        })
        .collect();
    ApplyTable {
        name: t.name.to_string(),
        shape: target,
        mode,
        references,
    }
}

/// Checks (and with `enable` fixes) one server for every table that involves
/// it. Returns each table's shape on this server (None when the table does
/// not involve this server) and the problems found.
pub async fn check_server(
    conn: &mut Connection,
    config: &Config,
    side: Side,
    enable: bool,
) -> Result<Checked, SetupError> {
    let mut problems = Vec::new();
    // What `run` would turn on itself (enable_change_tracking): for `check`
    // these are notes, not problems.
    let mut notes = Vec::new();
    let will_enable = !enable && config.sync.enable_change_tracking;
    let database = config.server(side).database.clone();
    // What this server needs: change tracking where some table is tracked on
    // it, snapshot isolation where changes are read (capture and initial
    // loads read under SNAPSHOT).
    let needs_tracking = config.tables.iter().any(|t| t.tracked_on(side));
    let needs_snapshot = config
        .tables
        .iter()
        .any(|t| t.directions().iter().any(|d| d.source() == side));
    // Database-level change tracking.
    let mut current = current_version(conn, side).await?;
    let db_statement =
        statements::enable_database_tracking(&database).map_err(|e| SetupError::Check {
            side: side.as_str(),
            message: format!("database name: {e}"),
        })?;
    if current.is_none() && needs_tracking {
        if enable {
            // Another agent (an edge of the same hub) may turn it on first.
            exec_idempotent(conn, side, &db_statement, 5088).await?;
            tracing::info!(server = side.as_str(), database = %database, "enabled change tracking on the database");
            // Where changes start: what the schema watcher reads again from
            // if the columns change before its first check.
            current = current_version(conn, side).await?;
        } else {
            let text =
                format!("change tracking is off for database {database}; run: {db_statement}");
            if will_enable {
                notes.push(text)
            } else {
                problems.push(text)
            }
        }
    }
    let snapshot: Option<u8> = conn
        .simple_query(statements::SNAPSHOT_STATE)
        .await
        .map_err(sql_err(side, "reading sys.databases"))?
        .into_row()
        .await
        .map_err(sql_err(side, "reading sys.databases"))?
        .and_then(|r| r.get::<u8, _>(0));
    if snapshot != Some(1) && needs_snapshot {
        let stmt =
            statements::enable_snapshot_isolation(&database).map_err(|e| SetupError::Check {
                side: side.as_str(),
                message: format!("database name: {e}"),
            })?;
        if enable {
            exec(conn, side, &stmt).await?;
            tracing::info!(server = side.as_str(), database = %database, "allowed snapshot isolation on the database");
        } else {
            let text = format!(
                "snapshot isolation is not allowed in database {database} (capture reads under it); run: {stmt}"
            );
            if will_enable {
                notes.push(text)
            } else {
                problems.push(text)
            }
        }
    }
    let mut shapes = Vec::with_capacity(config.tables.len());
    let mut catalogs = Vec::with_capacity(config.tables.len());
    let involved = |t: &TableConfig| {
        t.directions()
            .iter()
            .any(|d| d.source() == side || d.target() == side)
    };
    // Every involved table's catalog entry, many tables per request.
    let wanted: Vec<&TableConfig> = config.tables.iter().filter(|t| involved(t)).collect();
    let mut entries = catalog::read(conn, side, &wanted).await?.into_iter();
    for t in &config.tables {
        if !involved(t) {
            shapes.push(None);
            catalogs.push(None);
            continue;
        }
        let entry = entries.next().unwrap_or_default();
        let (tracked, tracks_columns) = (entry.tracked, entry.tracks_columns);
        match catalog::shape(t, entry) {
            Ok((shape, catalog)) => {
                catalogs.push(Some(catalog));
                let columns_on = t.merges_columns();
                if !tracked && t.tracked_on(side) {
                    let stmt = statements::enable_table_tracking(&shape.name, columns_on);
                    if enable {
                        exec_idempotent(conn, side, &stmt, 4996).await?;
                        tracing::info!(server = side.as_str(), table = %t.name, "enabled change tracking on the table");
                    } else {
                        let text =
                            format!("change tracking is off for table {}; run: {stmt}", t.name);
                        if will_enable {
                            notes.push(text)
                        } else {
                            problems.push(text)
                        }
                    }
                }
                if tracked && columns_on && !tracks_columns {
                    problems.push(format!(
                        "table {}: conflict policy merge_columns needs the columns each update changed, but change tracking on it does not track columns; run: {}; {}",
                        t.name,
                        statements::disable_table_tracking(&shape.name),
                        statements::enable_table_tracking(&shape.name, true)
                    ));
                }
                if let crate::config::ConflictPolicy::NewerWins(column) = &t.conflict {
                    if t.two_way() {
                        check_newer_column(&shape, &t.name.to_string(), column, &mut problems);
                    }
                }
                shapes.push(Some(shape));
            }
            Err(mut p) => {
                problems.append(&mut p);
                shapes.push(None);
                catalogs.push(None);
            }
        }
    }
    Ok(Checked {
        shapes,
        catalogs,
        problems,
        notes,
        version: current,
    })
}

/// What [`check_server`] found on one server.
pub struct Checked {
    /// Each table's shape on this server (None when the table does not
    /// involve this server or could not be read): the configured columns,
    /// or every column, in this server's order. A table synced between two
    /// servers uses [`pair`]'s shapes instead.
    pub shapes: Vec<Option<TableShape>>,
    /// Each table's columns as this server's catalog describes them.
    pub catalogs: Vec<Option<Vec<CatalogColumn>>>,
    pub problems: Problems,
    /// Settings `run` turns on itself because `enable_change_tracking` is set.
    pub notes: Vec<String>,
    /// `CHANGE_TRACKING_CURRENT_VERSION()` read before the catalog.
    pub version: Option<i64>,
}

/// Each table's shapes on a and b, matched by name ([`crate::schema`]).
pub struct Paired {
    /// Per table: the shapes on a and b (None where a side's check failed).
    pub shapes: Vec<[Option<TableShape>; 2]>,
    /// Columns left out, one line each.
    pub warnings: Vec<String>,
    /// Differences that would lose data: `check` fails; `run` holds the
    /// table.
    pub problems: Problems,
    /// The same per table, in config order.
    pub table_problems: Vec<Problems>,
}

/// Matches every table's columns across the two servers' checks.
pub fn pair(config: &Config, a: &Checked, b: &Checked) -> Paired {
    let mut out = Paired {
        shapes: Vec::with_capacity(config.tables.len()),
        warnings: Vec::new(),
        problems: Vec::new(),
        table_problems: Vec::with_capacity(config.tables.len()),
    };
    for (i, t) in config.tables.iter().enumerate() {
        let (Some(Some(ca)), Some(Some(cb))) = (a.catalogs.get(i), b.catalogs.get(i)) else {
            out.shapes.push([
                a.shapes.get(i).cloned().flatten(),
                b.shapes.get(i).cloned().flatten(),
            ]);
            out.table_problems.push(Vec::new());
            continue;
        };
        let matched = schema::match_columns(t, ca, cb);
        let [sa, sb] = schema::shapes(t, &matched, ca, cb);
        out.warnings.extend(matched.warnings);
        out.problems.extend(matched.problems.iter().cloned());
        out.table_problems.push(matched.problems);
        out.shapes.push([Some(sa), Some(sb)]);
    }
    out
}

/// Runs an ALTER that turns something on; `done` (4996: table already
/// tracked, 5088: database already tracked) means another agent did it
/// first, which is what was wanted.
/// docs/relational-databases/errors-events/database-engine-events-and-errors-4000-to-4999.md
async fn exec_idempotent(
    conn: &mut Connection,
    side: Side,
    sql: &str,
    done: u32,
) -> Result<(), SetupError> {
    match exec(conn, side, sql).await {
        Err(SetupError::Sql {
            source: tiberius::error::Error::Server(e),
            ..
        }) if e.code() == done => {
            tracing::info!(
                server = side.as_str(),
                statement = sql,
                "already on (another agent turned it on)"
            );
            Ok(())
        }
        other => other,
    }
}

/// The `newer_wins` column must be synced and of a type that orders by time
/// or number.
fn check_newer_column(shape: &TableShape, table: &str, column: &str, problems: &mut Problems) {
    const ORDERED: &[&str] = &[
        "datetime2",
        "datetime",
        "smalldatetime",
        "datetimeoffset",
        "date",
        "time",
        "bigint",
        "int",
        "smallint",
        "tinyint",
        "decimal",
        "numeric",
        "float",
        "real",
        "money",
        "smallmoney",
    ];
    match shape
        .columns
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(column))
    {
        None => problems.push(format!(
            "table {table}: conflict policy newer_wins names column {column}, which is not synced; name a synced datetime2 or number column (e.g. updated_at)"
        )),
        Some(c) if !ORDERED.contains(&c.data_type.to_ascii_lowercase().as_str()) => {
            problems.push(format!(
                "table {table}: conflict policy newer_wins names column {column} of type {}; allowed: a date/time or number column the application sets on every change",
                c.data_type
            ))
        }
        Some(_) => {}
    }
}

/// `CHANGE_TRACKING_CURRENT_VERSION()` (None while change tracking is off).
async fn current_version(conn: &mut Connection, side: Side) -> Result<Option<i64>, SetupError> {
    crate::apply::write::current_version(conn)
        .await
        .map_err(|e| match e {
            crate::apply::write::WriteError::Sql(source) => SetupError::Sql {
                side: side.as_str(),
                context: "reading CHANGE_TRACKING_CURRENT_VERSION()".into(),
                source,
            },
            other => SetupError::Check {
                side: side.as_str(),
                message: other.to_string(),
            },
        })
}

async fn exec(conn: &mut Connection, side: Side, sql: &str) -> Result<(), SetupError> {
    conn.simple_query(sql)
        .await
        .map_err(sql_err(side, sql.to_string()))?
        .into_results()
        .await
        .map_err(sql_err(side, sql.to_string()))?;
    Ok(())
}
