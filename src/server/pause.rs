//! CLIENT PAUSE: while a pause is in effect, the commands it covers are not
//! rejected but postponed: the connection keeps the request un-executed and
//! waits until the pause ends (its deadline passes or CLIENT UNPAUSE runs),
//! then runs it and the rest of its pipeline in order.
//!
//! As in Redis 7.0, a new pause while one is in effect keeps the more
//! restrictive mode and the later end.

/// What a pause holds back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseMode {
    /// Commands that may write or replicate (writes, PUBLISH, EVAL, ...).
    Write,
    /// Every command.
    All,
}

/// The pause in effect, if any, and the clients waiting for its end.
#[derive(Default)]
pub struct Pause {
    /// Mode and end (Unix ms) of the pause.
    current: Option<(PauseMode, i64)>,
    /// Clients holding a postponed command, in the order they were held.
    postponed: Vec<u64>,
}

impl Pause {
    /// Starts or extends a pause until `end_ms`.
    pub fn start(&mut self, mode: PauseMode, end_ms: i64, now_ms: i64) {
        self.current = Some(match self.mode(now_ms) {
            Some(m) => (m.max(mode), self.end_ms().unwrap_or(end_ms).max(end_ms)),
            None => (mode, end_ms),
        });
    }

    /// Ends the pause (CLIENT UNPAUSE). Returns the clients to wake.
    pub fn stop(&mut self) -> Vec<u64> {
        self.current = None;
        std::mem::take(&mut self.postponed)
    }

    /// The mode in effect at `now_ms`, if any.
    pub fn mode(&self, now_ms: i64) -> Option<PauseMode> {
        match self.current {
            // Redis lifts a pause once its end is in the past.
            Some((m, end)) if end >= now_ms => Some(m),
            _ => None,
        }
    }

    /// When the pause in effect ends (Unix ms).
    pub fn end_ms(&self) -> Option<i64> {
        self.current.map(|(_, e)| e)
    }

    /// Notes that `client` holds a postponed command.
    pub fn postpone(&mut self, client: u64) {
        if !self.postponed.contains(&client) {
            self.postponed.push(client);
        }
    }

    /// `client` runs its command now, or went away.
    pub fn release(&mut self, client: u64) {
        self.postponed.retain(|&c| c != client);
    }

    /// Clients holding a postponed command (counted as blocked in INFO).
    pub fn postponed(&self) -> usize {
        self.postponed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_stricter_mode_and_the_later_end() {
        let mut p = Pause::default();
        assert_eq!(p.mode(0), None);
        p.start(PauseMode::Write, 1000, 0);
        p.start(PauseMode::Write, 100, 0);
        assert_eq!(p.mode(500), Some(PauseMode::Write));
        p.start(PauseMode::All, 200, 0);
        assert_eq!(p.mode(500), Some(PauseMode::All));
        assert_eq!(p.mode(1001), None);
        // An ended pause does not make the next one stricter.
        p.start(PauseMode::Write, 3000, 2000);
        assert_eq!(p.mode(2500), Some(PauseMode::Write));
        p.postpone(7);
        p.postpone(7);
        assert_eq!(p.postponed(), 1);
        assert_eq!(p.stop(), vec![7]);
        assert_eq!(p.mode(0), None);
    }
}
