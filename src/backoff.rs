//! Capped exponential backoff with full jitter, for link reconnects and
//! transient write errors.

use std::time::Duration;

/// Backoff state for one thing being retried.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial_ms: u64,
    max_ms: u64,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial_ms: u64, max_ms: u64) -> Backoff {
        let initial_ms = initial_ms.max(1);
        Backoff {
            initial_ms,
            max_ms: max_ms.max(initial_ms),
            attempt: 0,
        }
    }

    /// Number of delays handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The next delay: uniformly random in [cap/2, cap] where cap doubles per
    /// attempt up to the maximum ("equal jitter": never zero, so a flapping
    /// link is not hammered, and spread so that many appliers do not retry in
    /// lockstep).
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.attempt.min(32);
        self.attempt = self.attempt.saturating_add(1);
        let cap = self
            .initial_ms
            .saturating_mul(1u64 << exp.min(40))
            .min(self.max_ms);
        let half = cap / 2;
        let jitter = if cap > half {
            rand::random::<u64>() % (cap - half + 1)
        } else {
            0
        };
        Duration::from_millis(half + jitter)
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_stays_within_bounds() {
        let mut b = Backoff::new(100, 1000);
        let mut last_cap = 0;
        for i in 0..20 {
            let d = b.next_delay().as_millis() as u64;
            let cap = (100u64 << i.min(20)).min(1000);
            assert!(
                d >= cap / 2 && d <= cap,
                "attempt {i}: {d} not in [{}, {cap}]",
                cap / 2
            );
            assert!(cap >= last_cap);
            last_cap = cap;
        }
        b.reset();
        assert!(b.next_delay().as_millis() <= 100);
    }
}
