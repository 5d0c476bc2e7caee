//! Log output: text or JSON lines on stderr, filtered by `log_level` (an
//! `EnvFilter` directive such as `info` or `info,ctsync=debug`).

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Fails (never panics) on a bad filter or
/// when a subscriber is already installed.
pub fn init(level: &str, format: LogFormat) -> Result<(), crate::error::Error> {
    // tiberius warns on every connection made without TLS, which would be a
    // line per reconnect; ctsync says it once per server at start instead.
    // An explicit `tiberius=...` directive in `level` still wins.
    let directives = if level.contains("tiberius") {
        level.to_string()
    } else {
        format!("{level},tiberius=error")
    };
    let filter = EnvFilter::try_new(&directives)
        .map_err(|e| crate::error::Error::Logging(format!("log level {level:?}: {e}")))?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
    };
    result.map_err(|e| crate::error::Error::Logging(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_filter_is_an_error_not_a_panic() {
        let e = init("info,ctsync=loud", LogFormat::Json).unwrap_err();
        assert!(e.to_string().contains("ctsync=loud"), "{e}");
    }
}
