//! `/metrics`: a [`Snapshot`] in the Prometheus text format (0.0.4),
//! encoded by `prometheus-client` (names, `_total` suffixes, label
//! escaping). Every series is labelled `table` and `direction`, links
//! `server` and `role`; see "Monitoring" in README.md for their meanings.

use super::snapshot::{QueueView, Snapshot, PHASES};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The text of `/metrics` for `snapshot`.
pub fn render(snapshot: Snapshot) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape(snapshot)));
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)?;
    Ok(out)
}

/// One scrape's values, encoded as constant metrics.
#[derive(Debug)]
struct Scrape(Snapshot);

type Labels<'a, const N: usize> = [(&'static str, &'a str); N];

/// The labels of a queue's series.
fn q(v: &QueueView) -> Labels<'_, 2> {
    [
        ("table", v.table.as_str()),
        ("direction", v.direction.as_str()),
    ]
}

fn family<'a, const N: usize, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    series: impl IntoIterator<Item = (Labels<'a, N>, M)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in series {
        value.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for Scrape {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        let gauge = MetricType::Gauge;
        let counter = MetricType::Counter;
        family(
            &mut e,
            "ctsync_lag_versions",
            "Change-tracking versions of the source not yet applied to the target (current version less the last one applied)",
            gauge,
            s.queues
                .iter()
                .filter_map(|v| v.lag_versions.map(|l| (q(v), ConstGauge::new(l)))),
        )?;
        family(
            &mut e,
            "ctsync_lag_seconds",
            "Age of the oldest queued change in seconds (0 when the queue is empty)",
            gauge,
            s.queues
                .iter()
                .map(|v| (q(v), ConstGauge::new(v.lag_seconds))),
        )?;
        family(
            &mut e,
            "ctsync_queue_depth",
            "Changes captured and queued, not yet applied",
            gauge,
            s.queues
                .iter()
                .map(|v| (q(v), ConstGauge::new(v.queue_depth))),
        )?;
        family(
            &mut e,
            "ctsync_parked",
            "Operations parked after permanent errors (ctsync parked list)",
            gauge,
            s.queues.iter().map(|v| (q(v), ConstGauge::new(v.parked))),
        )?;
        family(
            &mut e,
            "ctsync_conflicts",
            "Conflicts (a row changed on both sides) found while applying, since the agent started",
            counter,
            s.queues
                .iter()
                .map(|v| (q(v), ConstCounter::new(v.conflicts))),
        )?;
        family(
            &mut e,
            "ctsync_captured",
            "Changes captured from the source and queued, since the agent started",
            counter,
            s.queues
                .iter()
                .map(|v| (q(v), ConstCounter::new(v.captured))),
        )?;
        family(
            &mut e,
            "ctsync_loaded_rows",
            "Rows copied by initial loads and re-initialisations, since the agent started",
            counter,
            s.queues.iter().map(|v| (q(v), ConstCounter::new(v.loaded))),
        )?;
        family(
            &mut e,
            "ctsync_applied",
            "Changes applied to the target, since the agent started",
            counter,
            s.queues
                .iter()
                .map(|v| (q(v), ConstCounter::new(v.applied))),
        )?;
        family(
            &mut e,
            "ctsync_errors",
            "Errors by kind (link, transient, permanent, reinit, capture), since the agent started; table \"\" is a whole poll of the direction's source server",
            counter,
            s.errors.iter().map(|(d, t, class, n)| {
                (
                    [("table", t.as_str()), ("direction", d.as_str()), ("kind", class.as_str())],
                    ConstCounter::new(*n),
                )
            }),
        )?;
        family(
            &mut e,
            "ctsync_link_up",
            "1 when the link of a loop (role) to a server is up, 0 when it is down, as the loop last saw it",
            gauge,
            s.links.iter().map(|l| {
                (
                    [("server", l.server.as_str()), ("role", l.role.as_str())],
                    ConstGauge::new(i64::from(l.up)),
                )
            }),
        )?;
        family(
            &mut e,
            "ctsync_last_poll_timestamp_seconds",
            "When the capture of a server last finished a poll (seconds since the Unix epoch)",
            gauge,
            s.last_polls.iter().map(|(side, ms)| {
                (
                    [("server", side.as_str())],
                    ConstGauge::new(*ms as f64 / 1000.0),
                )
            }),
        )?;
        family(
            &mut e,
            "ctsync_phase",
            "1 for the table's current phase (init, initial_load, streaming, reinit, stopped), 0 for the others",
            gauge,
            s.queues.iter().flat_map(|v| {
                PHASES.iter().map(move |p| {
                    (
                        [("table", v.table.as_str()), ("direction", v.direction.as_str()), ("phase", *p)],
                        ConstGauge::new(i64::from(v.phase == *p)),
                    )
                })
            }),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::snapshot::{LinkView, QueueView, Snapshot};
    use super::super::{ErrorClass, LoopsState};
    use super::render;
    use crate::model::{Direction, Side};

    #[test]
    fn the_text_parses_with_escaped_labels_and_one_phase_set() {
        let table = r#"[Sales "Data"].[Order\Lines]"#;
        let s = Snapshot {
            queues: vec![QueueView {
                direction: Direction::BToA,
                table: table.into(),
                phase: "initial_load",
                phase_reason: None,
                queue_depth: 3,
                parked: 1,
                lag_versions: None,
                lag_seconds: 2.5,
                captured: 10,
                loaded: 40,
                applied: 7,
                conflicts: 2,
                stopped: None,
                held: None,
                erroring: None,
                waiting: None,
                last_error: None,
            }],
            errors: vec![(Direction::BToA, table.into(), ErrorClass::Permanent, 4)],
            links: vec![LinkView {
                server: Side::B,
                role: "capture".into(),
                up: false,
            }],
            last_polls: vec![(Side::B, 1_700_000_000_500)],
            loops: LoopsState::default(),
        };
        let text = render(s).expect("render");
        let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .expect("parses");
        let get = |metric: &str, extra: &[(&str, &str)]| -> Vec<f64> {
            parsed
                .samples
                .iter()
                .filter(|x| x.metric == metric)
                .filter(|x| extra.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
                .map(|x| match x.value {
                    prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
                    ref other => panic!("{metric}: {other:?}"),
                })
                .collect()
        };
        // Escaped as the format says (`\"`, `\\`); prometheus-parse keeps
        // label values as written.
        let escaped = r#"[Sales \"Data\"].[Order\\Lines]"#;
        let q = [("table", escaped), ("direction", "b_to_a")];
        assert_eq!(get("ctsync_queue_depth", &q), vec![3.0], "{text}");
        assert_eq!(get("ctsync_lag_seconds", &q), vec![2.5]);
        assert!(
            get("ctsync_lag_versions", &[]).is_empty(),
            "unknown lag is absent"
        );
        assert_eq!(get("ctsync_captured_total", &q), vec![10.0]);
        assert_eq!(get("ctsync_loaded_rows_total", &q), vec![40.0]);
        assert_eq!(get("ctsync_conflicts_total", &q), vec![2.0]);
        assert_eq!(
            get("ctsync_errors_total", &[("kind", "permanent")]),
            vec![4.0]
        );
        assert_eq!(
            get("ctsync_link_up", &[("server", "b"), ("role", "capture")]),
            vec![0.0]
        );
        assert_eq!(
            get("ctsync_last_poll_timestamp_seconds", &[("server", "b")]),
            vec![1_700_000_000.5]
        );
        assert_eq!(get("ctsync_phase", &[]).iter().sum::<f64>(), 1.0);
        assert_eq!(get("ctsync_phase", &[("phase", "initial_load")]), vec![1.0]);
        assert!(
            text.contains("# TYPE ctsync_applied_total counter"),
            "{text}"
        );
    }
}
