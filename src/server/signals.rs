//! What happens around the keyspace when keys change, and how messages reach
//! clients other than the one running a command.
//!
//! Every change to a key ends up in [`ServerState::key_modified`] (WATCH and
//! client-side caching hear about it there) and, for the event classes a
//! user enabled, in [`ServerState::notify`] (keyspace notifications).
//! Deletions the keyspace makes on its own (expiry, eviction) are logged by
//! [`crate::db::Keyspace`] and turned into the same signals by
//! [`ServerState::drain_keyspace_events`], so the keyspace itself stays free
//! of I/O; so are key creations and read misses while the `n` and `m`
//! notification classes are on. A command's own notifications drain that
//! log first (see [`crate::cmd::Ctx::notify`]), so subscribers hear events
//! in the order Redis sends them: `expired`, `new`, then the command's.
//!
//! [`ServerState::deliver`] appends an out-of-band message (pub/sub message,
//! invalidation, served blocking reply, MONITOR line) to a client's output
//! buffer, wakes its connection, and disconnects it if the buffer grows
//! past `client-output-buffer-limit`.

use super::client::Client;
use super::state::ServerState;
use crate::config::notify;
use crate::db::KeyEvent;
use crate::protocol::{Output, Reply};
use bytes::Bytes;

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
                    // The client is running a command higher up this call
                    // chain (a write that served a blocked client): it gets
                    // the message when its command ends.
                    if let Some(link) = self.links.get(&id) {
                        link.post(r.clone());
                    }
                    return;
                };
                if c.link.is_killed() {
                    return;
                }
                c.send(r);
                self.enforce_output_limit(&mut c);
                c.link.wake.notify_one();
            }
        }
    }

    /// Hands `current` (whose command has finished) the messages that
    /// reached its mailbox while it was busy, in order.
    pub fn flush_deferred(&mut self, current: &mut Client) {
        if !current.link.has_mail() {
            return;
        }
        let id = current.id;
        for r in current.link.take_mail() {
            self.deliver(Some(current), id, &r);
        }
    }

    /// Disconnects `c` if its output buffer is over its class's limit: the
    /// queued output is dropped at once so memory stays bounded, and the
    /// connection closes without writing more.
    pub fn enforce_output_limit(&mut self, c: &mut Client) {
        if c.link.is_killed()
            || !c.over_output_limit(&self.config.client_output_buffer_limit, now_ms)
        {
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
        c.out = Output::default();
        c.link.kill();
    }

    /// Called whenever `key` in `db` changed (written, deleted, expired,
    /// evicted): invalidates WATCHes on it and tells clients that cache it.
    pub fn key_modified(&mut self, current: Option<&mut Client>, db: usize, key: &[u8]) {
        if !self.key_changes_heard() {
            return;
        }
        let exists = !self.watches.is_empty() && self.ks.dbs[db].contains(key);
        self.key_changed(current, db, key, exists);
    }

    /// True when a blocked client, a WATCH or client tracking may care
    /// about key changes; writes skip the signalling work otherwise.
    pub fn key_changes_heard(&self) -> bool {
        !self.blocking.is_empty() || !self.watches.is_empty() || !self.tracking.is_idle()
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
        self.tracking_key_modified(current, key);
    }

    /// Called when a whole database (`Some(db)`) or all of them (`None`)
    /// are about to be flushed, while their keys are still there: WATCHes
    /// on keys that exist are invalidated (watching a missing key survives
    /// a flush, as in Redis).
    pub fn db_flushed(&mut self, mut current: Option<&mut Client>, db: Option<usize>) {
        let dbs = match db {
            Some(d) => d..d + 1,
            None => 0..self.ks.db_count(),
        };
        for d in dbs {
            let main = self.ks.dbs[d].table();
            for id in self.watches.flushed(d, |k| main.get(k).is_some()) {
                self.mark_dirty_cas(current.as_deref_mut(), id, false);
            }
        }
        self.tracking_flushed(current);
    }

    /// Publishes a keyspace notification for `event` on `key` when the
    /// `notify-keyspace-events` setting enables `class` (a
    /// [`crate::config::notify`] bit): `event` on `__keyspace@<db>__:<key>`
    /// (flag `K`), then `key` on `__keyevent@<db>__:<event>` (flag `E`), as
    /// Redis's `notifyKeyspaceEvent`.
    pub fn notify(
        &mut self,
        mut current: Option<&mut Client>,
        class: u32,
        event: &str,
        db: usize,
        key: &[u8],
    ) {
        let flags = self.config.notify_keyspace_events;
        if flags & class == 0 {
            return;
        }
        if flags & notify::KEYSPACE != 0 {
            let channel = notify_channel("keyspace", db, key);
            self.publish(current.as_deref_mut(), &channel, event.as_bytes());
        }
        if flags & notify::KEYEVENT != 0 {
            let channel = notify_channel("keyevent", db, event.as_bytes());
            self.publish(current, &channel, key);
        }
    }

    /// Makes the keyspace log what notifications of the `n` (new key) and
    /// `m` (key miss) classes need, only while they can be published.
    pub fn sync_keyspace_logging(&mut self) {
        let flags = self.config.notify_keyspace_events;
        let publishing = flags & (notify::KEYSPACE | notify::KEYEVENT) != 0;
        self.ks.log_new = publishing && flags & notify::NEW != 0;
        self.ks.log_misses = publishing && flags & notify::KEY_MISS != 0;
    }

    /// Turns the deletions the keyspace made by itself (expired and evicted
    /// keys) into the same signals a command's writes produce, and publishes
    /// the logged key creations and misses.
    pub fn drain_keyspace_events(&mut self, mut current: Option<&mut Client>) {
        if self.ks.events.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.ks.events);
        self.tracking.server_deletion = true;
        for ev in &events {
            let (db, key, class, name) = match ev {
                KeyEvent::Expired(db, key) => (*db, key, notify::EXPIRED, "expired"),
                KeyEvent::Evicted(db, key) => (*db, key, notify::EVICTED, "evicted"),
                // Not changes of their own: the command that created the
                // key signals it.
                KeyEvent::New(db, key) => (*db, key, notify::NEW, "new"),
                KeyEvent::Miss(db, key) => (*db, key, notify::KEY_MISS, "keymiss"),
            };
            if matches!(ev, KeyEvent::Expired(..) | KeyEvent::Evicted(..)) {
                self.key_changed(current.as_deref_mut(), db, key, false);
                if self.effects.enabled() {
                    let lazy = match ev {
                        KeyEvent::Expired(..) => self.config.lazyfree_lazy_expire,
                        _ => self.config.lazyfree_lazy_eviction,
                    };
                    let del: &'static [u8] = if lazy { b"UNLINK" } else { b"DEL" };
                    self.effects
                        .push(db, vec![Bytes::from_static(del), key.clone()]);
                }
            }
            self.notify(current.as_deref_mut(), class, name, db, key);
        }
        self.tracking.server_deletion = false;
        // Keep the allocation for the next batch, unless a burst (an
        // expiry cycle over many keys) made it large.
        let mut events = events;
        events.clear();
        if self.ks.events.is_empty() && events.capacity() <= 1024 {
            self.ks.events = events;
        }
    }
}

/// `__<kind>@<db>__:<suffix>`, the channel of a keyspace notification.
fn notify_channel(kind: &str, db: usize, suffix: &[u8]) -> Vec<u8> {
    let mut ch = Vec::with_capacity(kind.len() + suffix.len() + 16);
    ch.extend_from_slice(b"__");
    ch.extend_from_slice(kind.as_bytes());
    ch.push(b'@');
    ch.extend_from_slice(db.to_string().as_bytes());
    ch.extend_from_slice(b"__:");
    ch.extend_from_slice(suffix);
    ch
}

fn now_ms() -> i64 {
    crate::db::now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn channels_are_named_as_in_redis() {
        assert_eq!(notify_channel("keyspace", 0, b"k:1"), b"__keyspace@0__:k:1");
        assert_eq!(
            notify_channel("keyevent", 15, b"del"),
            b"__keyevent@15__:del"
        );
        assert_eq!(notify_channel("keyspace", 3, b""), b"__keyspace@3__:");
    }

    #[test]
    fn the_keyspace_logs_new_keys_and_misses_only_when_they_are_published() {
        let mut st = ServerState::new(Config::default(), 1);
        for (flags, new, miss) in [
            (0, false, false),
            (notify::NEW | notify::KEY_MISS, false, false),
            (notify::KEYSPACE | notify::ALL, false, false),
            (notify::KEYSPACE | notify::NEW, true, false),
            (notify::KEYEVENT | notify::KEY_MISS, false, true),
            (
                notify::KEYEVENT | notify::NEW | notify::KEY_MISS,
                true,
                true,
            ),
        ] {
            st.config.notify_keyspace_events = flags;
            st.sync_keyspace_logging();
            assert_eq!((st.ks.log_new, st.ks.log_misses), (new, miss), "{flags:#x}");
        }
    }
}
