//! The server's side of `maxmemory`: when eviction runs (before every
//! command, from the cron tick, right after `CONFIG SET maxmemory`, and in
//! the background while a pass ran out of time) and what it measures
//! (`used_memory`, as INFO reports it; nothing is left out of the count, so
//! `mem_not_counted_for_evict` is 0). The policy itself lives in
//! [`crate::db::evict`].

use super::Shared;
use super::state::ServerState;
use crate::config::Config;
use crate::db::Keyspace;
use crate::db::evict::{EvictConfig, EvictResult, Policy};
use std::rc::Rc;

/// Applies the eviction settings of `c` to the keyspace, at startup and
/// after CONFIG SET.
pub fn apply(ks: &mut Keyspace, c: &Config) {
    ks.evict = settings(c);
    crate::db::evict::set_memory_limit(limit(c));
}

fn limit(c: &Config) -> usize {
    usize::try_from(c.maxmemory).unwrap_or(usize::MAX)
}

/// The keyspace's eviction settings from the configuration.
fn settings(c: &Config) -> EvictConfig {
    EvictConfig {
        policy: Policy::from_name(&c.maxmemory_policy).unwrap_or_default(),
        samples: c.maxmemory_samples.max(1) as usize,
        tenacity: c.maxmemory_eviction_tenacity,
        lfu_log_factor: c.lfu_log_factor,
        lfu_decay_time: c.lfu_decay_time,
    }
}

/// Logs Redis's startup warning for a suspiciously small limit.
pub fn check_at_startup(c: &Config) {
    if c.maxmemory > 0 && c.maxmemory < 1024 * 1024 {
        tracing::warn!(
            "WARNING: You specified a maxmemory value that is less than 1MB (current value is {} bytes). Are you sure this is what you really want?",
            c.maxmemory
        );
    }
}

impl ServerState {
    /// Evicts keys while used memory is over `maxmemory`, as Redis's
    /// `performEvictions` before each command. [`EvictResult::Fail`] means
    /// commands flagged `denyoom` must be refused. When the pass ran out of
    /// time the background eviction is woken to carry on.
    pub fn perform_evictions(&mut self) -> EvictResult {
        if self.config.maxmemory == 0 || self.loading {
            return EvictResult::Ok;
        }
        let max = limit(&self.config);
        let now = crate::db::now_ms();
        let r = self
            .ks
            .perform_evictions(max, now, &|_| crate::alloc::used_memory());
        if r == EvictResult::Running {
            self.eviction_wake.notify_one();
        }
        r
    }

    /// After `CONFIG SET maxmemory`: warns when the new limit is below the
    /// memory in use, and starts evicting at once.
    pub fn maxmemory_changed(&mut self) {
        let used = crate::alloc::used_memory() as u64;
        let max = self.config.maxmemory;
        if max > 0 && max < used {
            tracing::warn!(
                "WARNING: the new maxmemory value set via CONFIG SET ({max}) is smaller than the current memory usage ({used}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy."
            );
        }
        self.perform_evictions();
    }
}

/// Keeps evicting, one time-bounded pass per turn of the event loop, after
/// a pass stopped on its time limit while still over the limit (Redis's
/// `evictionTimeProc`).
pub(super) async fn background(shared: Rc<Shared>) {
    let wake = shared.state.borrow().eviction_wake.clone();
    loop {
        wake.notified().await;
        loop {
            let running = {
                let mut st = shared.state.borrow_mut();
                let r = st.perform_evictions();
                st.drain_keyspace_events(None);
                if r != EvictResult::Running {
                    st.ks.eviction_caught_up();
                }
                r == EvictResult::Running
            };
            if !running {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
}
