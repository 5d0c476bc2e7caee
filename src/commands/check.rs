//! `ctsync check`: validates the configuration (already loaded), connects to
//! each server, and checks every listed table, its columns and key, and
//! Change Tracking, without changing anything. Prints each problem with its
//! fix; exits non-zero when there is any.

use crate::agent::setup::{self, SetupError};
use crate::config::Config;
use crate::error::Error;
use crate::model::Side;
use crate::mssql;

pub async fn check(config: &Config) -> Result<(), Error> {
    let mut problems: Vec<String> = Vec::new();
    for side in [Side::A, Side::B] {
        let label = config.server_label(side);
        let mut conn = match mssql::connect(
            config.tiberius_config(side),
            config.connect_timeout(side),
        )
        .await
        {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!(
                    "{label}: cannot connect: {e}; check host, port, that the server accepts TCP connections, the login and its password, and `encrypt`"
                ));
                continue;
            }
        };
        match setup::check_server(&mut conn, config, side, false).await {
            Ok(checked) => {
                for n in &checked.notes {
                    println!("note: {label}: {n} (`ctsync run` does this itself: enable_change_tracking is set)");
                }
                if checked.problems.is_empty() {
                    println!("{label}: ok ({} table(s) checked)", config.tables.len());
                }
                problems.extend(
                    checked
                        .problems
                        .into_iter()
                        .map(|p| format!("{label}: {p}")),
                );
            }
            Err(SetupError::Sql {
                context, source, ..
            }) => {
                problems.push(format!("{label}: {context} failed: {source}; does the login have VIEW DEFINITION and VIEW CHANGE TRACKING permissions?"));
            }
            Err(e) => problems.push(format!("{label}: {e}")),
        }
    }
    if problems.is_empty() {
        println!("configuration, connectivity, tables, keys and change tracking: ok");
        return Ok(());
    }
    for p in &problems {
        println!("problem: {p}");
    }
    Err(Error::Failed(format!(
        "{} problem(s) found",
        problems.len()
    )))
}
