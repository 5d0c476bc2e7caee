//! `metrics.listen`: where the Prometheus (`/metrics`) and health
//! (`/health`) endpoint listens, checked as an `IP:PORT` socket address.

use super::error::{shown, Problem};
use super::raw::{RawListen, RawMetrics};
use super::MetricsConfig;
use std::net::SocketAddr;

const KEY: &str = "metrics.listen";
const FIX: &str = "write IP:PORT, e.g. 127.0.0.1:9187 (this host only), 0.0.0.0:9187 \
                   (every interface) or [::1]:9187; host names are not resolved, and the \
                   port is 1 to 65535";

/// The endpoint's configuration, or a problem naming `metrics.listen`.
pub fn metrics(raw: Option<RawMetrics>, p: &mut Vec<Problem>) -> Option<MetricsConfig> {
    let raw = raw?;
    let text = match raw.listen {
        RawListen::Text(t) => t,
        RawListen::Number(n) => {
            p.push(Problem::new(
                KEY,
                Some(n.to_string()),
                format!("a port alone is not an address; {FIX} (for this port: 127.0.0.1:{n})"),
            ));
            return None;
        }
    };
    match text.trim().parse::<SocketAddr>() {
        Ok(a) if a.port() == 0 => {
            p.push(Problem::new(
                KEY,
                Some(shown(&text)),
                format!("port 0 would pick a port at random that Prometheus cannot know; {FIX}"),
            ));
            None
        }
        Ok(listen) => Some(MetricsConfig { listen }),
        Err(_) => {
            p.push(Problem::new(
                KEY,
                Some(shown(&text)),
                format!("not a listen address; {FIX}"),
            ));
            None
        }
    }
}
