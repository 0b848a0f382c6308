//! The latency monitor's data: events (`command`, `fast-command`, `fork`,
//! `expire-cycle`) that took at least `latency-monitor-threshold`
//! milliseconds (0 = off) are sampled, one sample per event and second (the
//! highest), 160 samples of history per event, as Redis keeps them. The
//! LATENCY command (`cmd::latency`) reports them.

use super::state::ServerState;

/// Samples kept per event (Redis's LATENCY_TS_LEN).
pub const HISTORY: usize = 160;

/// One sample: the highest latency of an event in one second.
#[derive(Clone, Copy, Default)]
pub struct Sample {
    /// Unix seconds (0 = unused slot).
    pub time: i64,
    /// Milliseconds.
    pub latency: u64,
}

/// The history of one event.
pub struct Series {
    /// Slot of the next sample.
    idx: usize,
    /// Highest latency ever recorded.
    pub max: u64,
    samples: [Sample; HISTORY],
}

impl Series {
    /// An empty history.
    pub fn new() -> Self {
        Series {
            idx: 0,
            max: 0,
            samples: [Sample::default(); HISTORY],
        }
    }

    /// Records `latency` at `now` (one sample per second: the highest).
    pub fn add(&mut self, now: i64, latency: u64) {
        self.max = self.max.max(latency);
        let prev = &mut self.samples[(self.idx + HISTORY - 1) % HISTORY];
        if prev.time == now {
            prev.latency = prev.latency.max(latency);
            return;
        }
        self.samples[self.idx] = Sample { time: now, latency };
        self.idx = (self.idx + 1) % HISTORY;
    }

    /// The newest sample.
    pub fn last(&self) -> Sample {
        self.samples[(self.idx + HISTORY - 1) % HISTORY]
    }

    /// Used samples, oldest first.
    pub fn in_order(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..HISTORY)
            .map(|j| self.samples[(self.idx + j) % HISTORY])
            .filter(|s| s.time != 0)
    }
}

/// Recorded events, in the order they first happened.
#[derive(Default)]
pub struct Latency {
    /// Event name and its history.
    pub events: Vec<(String, Series)>,
}

impl Latency {
    /// The history of `event`.
    pub fn get(&self, event: &[u8]) -> Option<&Series> {
        self.events
            .iter()
            .find(|(n, _)| n.as_bytes() == event)
            .map(|(_, s)| s)
    }
}

impl Default for Series {
    fn default() -> Self {
        Series::new()
    }
}

impl ServerState {
    /// Records `ms` for `event` when the latency monitor is on and the
    /// threshold is met (Redis's `latencyAddSampleIfNeeded`).
    pub fn latency_sample(&mut self, event: &str, ms: u64) {
        let threshold = self.config.latency_monitor_threshold;
        if threshold == 0 || ms < threshold {
            return;
        }
        let now = crate::db::now_ms() / 1000;
        let events = &mut self.latency.events;
        let i = match events.iter().position(|(n, _)| n == event) {
            Some(i) => i,
            None => {
                events.push((event.to_string(), Series::new()));
                events.len() - 1
            }
        };
        events[i].1.add(now, ms);
    }
}
