//! Progress of a load: a bar per table on a terminal (rows done, rate, time
//! left), and in logs a line at most every [`super::PROGRESS_LOG_MS`].

use indicatif::{ProgressBar, ProgressStyle};
use std::time::Instant;

pub struct Progress {
    bar: Option<ProgressBar>,
    last_log: Instant,
    label: String,
}

impl Progress {
    pub fn new(label: String, total: Option<u64>, done: u64) -> Progress {
        let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
            let bar = ProgressBar::new(total.unwrap_or(0));
            let style = ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} rows, {per_sec}, {eta} left",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(label.clone());
            bar.set_position(done);
            bar
        });
        Progress {
            bar,
            last_log: Instant::now(),
            label,
        }
    }

    pub fn update(&mut self, done: u64, total: Option<u64>) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
        if self.last_log.elapsed().as_millis() as u64 >= super::PROGRESS_LOG_MS {
            self.last_log = Instant::now();
            tracing::info!(table = %self.label, rows_done = done, rows_total = total, "initial load progress");
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
