//! Clients blocked on keys (BLPOP, BZPOPMIN, ...): who waits on which key,
//! in arrival order, and which keys a write has made ready.
//!
//! A blocking command that finds nothing to serve asks to block; the
//! connection parks its client here. After every write command the keys it
//! touched are checked; for a ready key the waiting clients are re-run in
//! FIFO order, inside the writer's turn, so the first client to block is the
//! first served and a pushed element is never stolen by a later client.

use crate::util::hash::Map;
use bytes::Bytes;
use std::collections::VecDeque;

/// The waiting lists.
#[derive(Default)]
pub struct Blocking {
    waiters: Map<(usize, Bytes), VecDeque<u64>>,
    ready: VecDeque<(usize, Bytes)>,
    blocked: usize,
}

impl Blocking {
    /// True when nobody is blocked (the common case, checked on every write).
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Number of blocked clients (INFO `blocked_clients`).
    pub fn blocked_clients(&self) -> usize {
        self.blocked
    }

    /// Parks client `id` on `keys` of database `db`.
    pub fn block(&mut self, id: u64, db: usize, keys: &[Bytes]) {
        for k in keys {
            let q = self.waiters.entry((db, k.clone())).or_default();
            if !q.contains(&id) {
                q.push_back(id);
            }
        }
        self.blocked += 1;
    }

    /// Removes client `id` from the lists of `keys` (unblocked, timed out,
    /// killed or disconnected).
    pub fn unblock(&mut self, id: u64, db: usize, keys: &[Bytes]) {
        for k in keys {
            let key = (db, k.clone());
            if let Some(q) = self.waiters.get_mut(&key) {
                q.retain(|&c| c != id);
                if q.is_empty() {
                    self.waiters.remove(&key);
                }
            }
        }
        self.blocked = self.blocked.saturating_sub(1);
    }

    /// Notes that `key` in `db` was written; if clients wait on it, it is
    /// queued for serving.
    pub fn touched(&mut self, db: usize, key: &[u8]) {
        if self.waiters.is_empty() {
            return;
        }
        let k = Bytes::copy_from_slice(key);
        if self.waiters.contains_key(&(db, k.clone()))
            && !self.ready.iter().any(|(d, r)| *d == db && *r == k)
        {
            self.ready.push_back((db, k));
        }
    }

    /// Notes a write to `key` in every database (MOVE, COPY ... DB).
    pub fn touched_any_db(&mut self, key: &[u8], dbs: usize) {
        for db in 0..dbs {
            self.touched(db, key);
        }
    }

    /// Takes the next ready key and the clients waiting on it, in order.
    pub fn next_ready(&mut self) -> Option<(usize, Bytes, Vec<u64>)> {
        while let Some((db, key)) = self.ready.pop_front() {
            if let Some(q) = self.waiters.get(&(db, key.clone())) {
                return Some((db, key, q.iter().copied().collect()));
            }
        }
        None
    }
}
