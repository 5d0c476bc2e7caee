//! `ctsync discover`: reads the schema of server a or b and prints the
//! `tables:` section it proposes ([`crate::discover`]), or with `--write`
//! puts it into the `--config` file: the new text goes to a temporary file
//! beside it, must load as a valid configuration, is flushed to disk and
//! only then renamed over the original. A text that would not load leaves
//! the original untouched.

use crate::cli::DiscoverArgs;
use crate::config::{self, Config, Overrides};
use crate::discover::{self, Options};
use crate::error::Error;
use crate::mssql;
use std::io::Write;
use std::path::{Path, PathBuf};

pub async fn discover(
    config: &Config,
    args: &DiscoverArgs,
    config_path: &Path,
    overrides: &Overrides,
) -> Result<(), Error> {
    let side = args.server.side();
    let label = config.server_label(side);
    let mut conn = match mssql::connect(config.tiberius_config(side), config.connect_timeout(side))
        .await
    {
        Ok(c) => c,
        Err(source) => {
            if let Some(failure) =
                crate::tls::explain(&crate::tls::TlsSettings::of(config, side), &source)
            {
                return Err(Error::Failed(format!("cannot connect to {failure}")));
            }
            return Err(Error::Sql {
                context: format!(
                    "{label}: cannot connect; check host, port, the login and its password, and `encrypt`"
                ),
                source,
            });
        }
    };
    let tables = discover::read_schema(&mut conn)
        .await
        .map_err(|source| Error::Sql {
            context: format!(
                "{label}: reading the catalog (sys.tables, sys.columns, sys.indexes, sys.foreign_keys) failed; does the login have VIEW DEFINITION permission?"
            ),
            source,
        })?;
    tracing::info!(server = side.as_str(), tables = tables.len(), "schema read");
    let opts = Options {
        server: side.as_str().to_string(),
        database: config.server(side).database.clone(),
        include: args.include.clone(),
        exclude: args.exclude.clone(),
        direction: args.direction.clone(),
    };
    let unmatched = discover::unmatched_includes(&tables, &opts);
    if !unmatched.is_empty() {
        let found: Vec<String> = tables.iter().map(|t| t.full_name()).collect();
        return Err(Error::Failed(format!(
            "--include {} matches no table of {label}; patterns are `schema.table` or `table`, with `*` and `?`, case-insensitive; its tables: {}",
            unmatched
                .iter()
                .map(|p| format!("{p:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            if found.is_empty() {
                "none".to_string()
            } else {
                found.join(", ")
            }
        )));
    }
    for p in &args.exclude {
        if !tables
            .iter()
            .any(|t| discover::matches_pattern(p, &t.schema, &t.name))
        {
            tracing::warn!(pattern = %p, "--exclude matches no table");
        }
    }
    let section = discover::render(&tables, &opts);
    if !args.write {
        print!("{section}");
        return Ok(());
    }
    write_config(config_path, &section, overrides)?;
    // The header's summary: "N table(s) listed, M left out."
    let summary = section
        .lines()
        .next()
        .and_then(|l| l.split_once("): "))
        .map_or("", |(_, s)| s);
    println!(
        "wrote the `tables:` section into {}: {summary}",
        config_path.display()
    );
    Ok(())
}

/// Puts `section` into the config file at `path` through a checked
/// temporary file (see the module doc).
fn write_config(path: &Path, section: &str, overrides: &Overrides) -> Result<(), Error> {
    let io = |context: String| move |source| Error::Io { context, source };
    // A symlinked config stays a symlink: the file it points to is replaced.
    let target =
        std::fs::canonicalize(path).map_err(io(format!("cannot resolve {}", path.display())))?;
    let old = std::fs::read_to_string(&target)
        .map_err(io(format!("cannot read {}", target.display())))?;
    let new = discover::write_into(&old, section);
    let tmp = temp_path(&target);
    let result = write_checked(&target, &tmp, &new, overrides);
    if result.is_err() {
        // Best effort: the temporary file is ours and useless now.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.yaml".to_string());
    target.with_file_name(format!(".{name}.discover-{}.tmp", std::process::id()))
}

fn write_checked(
    target: &Path,
    tmp: &Path,
    text: &str,
    overrides: &Overrides,
) -> Result<(), Error> {
    let io = |context: String| move |source| Error::Io { context, source };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(io(format!("cannot create {}", tmp.display())))?;
    // The config may hold a password: the new file gets the old one's
    // permissions before any text is written into it.
    let perms = std::fs::metadata(target)
        .map_err(io(format!("cannot read {}", target.display())))?
        .permissions();
    std::fs::set_permissions(tmp, perms).map_err(io(format!(
        "cannot set the permissions of {}",
        tmp.display()
    )))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io(format!("cannot write {}", tmp.display())))?;
    drop(file);
    if let Err(e) = config::load(tmp, overrides) {
        // Problems name the file they come from: the new text, not the
        // temporary file, which is gone by the time this is read.
        let problems = crate::error::report(&e).replace(
            &tmp.display().to_string(),
            &format!("the new text of {}", target.display()),
        );
        return Err(Error::Failed(format!(
            "{} is left as it was: with the discovered tables it would not load as a configuration: {problems}",
            target.display(),
        )));
    }
    std::fs::rename(tmp, target).map_err(io(format!(
        "cannot rename {} to {}",
        tmp.display(),
        target.display()
    )))?;
    // The rename itself is durable once the directory is flushed.
    if let Some(dir) = target.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(format!("cannot flush directory {}", dir.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "# mine\nagent_id: t\nservers:\n  a: { host: h, database: d, user: u, password: p }\n  b: { host: h, database: e, user: u, password: p }\ntables:\n  - table: dbo.Old\n    key: [id]\n";

    #[test]
    fn a_text_that_would_not_load_leaves_the_file_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, BASE).expect("write");
        let bad = "tables:\n  - table: dbo.T\n    key: []\n";
        let e = write_config(&path, bad, &Overrides::default()).expect_err("must not load");
        let text = crate::error::report(&e);
        assert!(text.contains("is left as it was"), "{text}");
        assert!(text.contains("tables[0].key"), "{text}");
        assert!(text.contains("from the new text of"), "{text}");
        assert!(!text.contains(".discover-"), "{text}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), BASE);
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert_eq!(left.len(), 1, "the temporary file is removed");

        let good = "tables:\n  - table: dbo.T\n    key: [id]\n";
        write_config(&path, good, &Overrides::default()).expect("loads");
        let now = std::fs::read_to_string(&path).expect("read");
        assert!(
            now.starts_with("# mine\nagent_id: t\n") && now.ends_with(good),
            "{now}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert_eq!(left.len(), 1, "the temporary file is renamed");
    }

    #[cfg(unix)]
    #[test]
    fn the_new_file_keeps_the_old_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, BASE).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        write_config(&path, "tables: []\n", &Overrides::default()).expect("loads");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
