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
    let mut checked: Vec<Option<setup::Checked>> = Vec::with_capacity(2);
    crate::tls::warn_unprotected(config);
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
                let tls = crate::tls::TlsSettings::of(config, side);
                problems.push(match crate::tls::explain(&tls, &e) {
                    // "server a (host:port): the server's certificate ..."
                    Some(failure) => format!("cannot connect to {failure}"),
                    None => format!(
                        "{label}: cannot connect: {e}; check host, port, that the server accepts TCP connections, the login and its password, and `encrypt`"
                    ),
                });
                checked.push(None);
                continue;
            }
        };
        match setup::check_server(&mut conn, config, side, false).await {
            Ok(checked_side) => {
                for n in &checked_side.notes {
                    println!("note: {label}: {n} (`ctsync run` does this itself: enable_change_tracking is set)");
                }
                if checked_side.problems.is_empty() {
                    println!("{label}: ok ({} table(s) checked)", config.tables.len());
                }
                problems.extend(
                    checked_side
                        .problems
                        .iter()
                        .map(|p| format!("{label}: {p}")),
                );
                checked.push(Some(checked_side));
            }
            Err(SetupError::Sql {
                context, source, ..
            }) => {
                problems.push(format!("{label}: {context} failed: {source}; does the login have VIEW DEFINITION and VIEW CHANGE TRACKING permissions?"));
                checked.push(None);
            }
            Err(e) => {
                problems.push(format!("{label}: {e}"));
                checked.push(None);
            }
        }
    }
    // The two sides' columns, matched by name.
    if let [Some(a), Some(b)] = checked.as_slice() {
        let paired = setup::pair(config, a, b);
        for w in &paired.warnings {
            println!("warning: {w}");
        }
        problems.extend(paired.problems);
    }
    if problems.is_empty() {
        println!("configuration, connectivity, tables, keys, columns and change tracking: ok");
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
