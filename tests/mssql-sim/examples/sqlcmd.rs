//! A tiny sqlcmd for the demo and for poking at a stand-in (or a real SQL
//! Server without TLS): runs one batch and prints each result set as
//! tab-separated lines.
//!
//! `cargo run -p mssql-sim --example sqlcmd -- ADDR DATABASE USER PASSWORD "SQL"`
//! (the SQL is read from standard input when the last argument is `-`).

use std::io::Read;
use tiberius::{AuthMethod, Client, ColumnData, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::TokioAsyncWriteCompatExt;

fn show(data: &ColumnData<'static>) -> String {
    match data {
        ColumnData::U8(v) => v.map_or("NULL".into(), |x| x.to_string()),
        ColumnData::I16(v) => v.map_or("NULL".into(), |x| x.to_string()),
        ColumnData::I32(v) => v.map_or("NULL".into(), |x| x.to_string()),
        ColumnData::I64(v) => v.map_or("NULL".into(), |x| x.to_string()),
        ColumnData::F32(v) => v.map_or("NULL".into(), |x| x.to_string()),
        ColumnData::F64(v) => v.map_or("NULL".into(), |x| x.to_string()),
        ColumnData::Bit(v) => v.map_or("NULL".into(), |x| (x as u8).to_string()),
        ColumnData::String(v) => v.as_ref().map_or("NULL".into(), |x| x.to_string()),
        ColumnData::Guid(v) => v.map_or("NULL".into(), |x| x.to_string().to_uppercase()),
        ColumnData::Binary(v) => v.as_ref().map_or("NULL".into(), |x| {
            let hex: String = x.iter().map(|b| format!("{b:02X}")).collect();
            format!("0x{hex}")
        }),
        ColumnData::Numeric(v) => v.map_or("NULL".into(), |x| x.to_string()),
        // Dates and times through tiberius' chrono conversions, in ISO 8601.
        other => {
            use tiberius::FromSql;
            match other {
                ColumnData::DateTime2(_)
                | ColumnData::DateTime(_)
                | ColumnData::SmallDateTime(_) => chrono::NaiveDateTime::from_sql(other)
                    .ok()
                    .flatten()
                    .map_or_else(|| "NULL".to_string(), |d| d.to_string()),
                ColumnData::Date(_) => chrono::NaiveDate::from_sql(other)
                    .ok()
                    .flatten()
                    .map_or_else(|| "NULL".to_string(), |d| d.to_string()),
                ColumnData::Time(_) => chrono::NaiveTime::from_sql(other)
                    .ok()
                    .flatten()
                    .map_or_else(|| "NULL".to_string(), |d| d.to_string()),
                _ => format!("{other:?}"),
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 5 {
        eprintln!("usage: sqlcmd ADDR DATABASE USER PASSWORD SQL|-");
        std::process::exit(2);
    }
    let sql = if args[4] == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut s) {
            eprintln!("sqlcmd: reading standard input: {e}");
            std::process::exit(2);
        }
        s
    } else {
        args[4].clone()
    };
    let mut config = Config::new();
    let (host, port) = match args[0].rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse::<u16>().unwrap_or(1433)),
        None => (args[0].clone(), 1433),
    };
    config.host(&host);
    config.port(port);
    config.database(&args[1]);
    config.authentication(AuthMethod::sql_server(&args[2], &args[3]));
    config.encryption(EncryptionLevel::NotSupported);
    let tcp = match TcpStream::connect((host.as_str(), port)).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("sqlcmd: connecting to {}: {e}", args[0]);
            std::process::exit(1);
        }
    };
    let mut client = match Client::connect(config, tcp.compat_write()).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sqlcmd: login: {e}");
            std::process::exit(1);
        }
    };
    let results = match client.simple_query(sql).await {
        Ok(stream) => stream.into_results().await,
        Err(e) => Err(e),
    };
    match results {
        Ok(sets) => {
            for rows in sets {
                if let Some(first) = rows.first() {
                    let names: Vec<&str> = first.columns().iter().map(|c| c.name()).collect();
                    println!("{}", names.join("\t"));
                }
                for row in rows {
                    let cells: Vec<String> = row.cells().map(|(_, d)| show(d)).collect();
                    println!("{}", cells.join("\t"));
                }
            }
        }
        Err(e) => {
            eprintln!("sqlcmd: {e}");
            std::process::exit(1);
        }
    }
}
