//! The WATCH index: which clients watch which keys, so that a change to a
//! key can mark its watchers' transactions dirty (EXEC then answers with a
//! null array).
//!
//! Each client keeps its own list of watched keys (`Client::watched`); this
//! index maps every watched key to its watchers in the order they watched
//! it, with Redis 7.0's "expired" flag: a key that was already logically
//! expired when WATCH ran is deleted by its expiry without that counting as
//! a change.

use crate::util::hash::Map;
use bytes::Bytes;

/// One client watching one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Watcher {
    client: u64,
    /// The key was logically expired (but still stored) at WATCH time.
    expired: bool,
}

/// Watched keys by (database, key).
#[derive(Default)]
pub struct Watches {
    by_key: Map<(usize, Bytes), Vec<Watcher>>,
}

impl Watches {
    /// True when no key is watched (the common case, checked on every write).
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Adds `client` as a watcher of `key` in `db`. The caller checks that
    /// the client does not watch it already.
    pub fn add(&mut self, client: u64, db: usize, key: Bytes, expired: bool) {
        self.by_key
            .entry((db, key))
            .or_default()
            .push(Watcher { client, expired });
    }

    /// Removes `client` from the watchers of `keys`.
    pub fn remove(&mut self, client: u64, keys: &[(usize, Bytes)]) {
        for k in keys {
            if let Some(list) = self.by_key.get_mut(k) {
                list.retain(|w| w.client != client);
                if list.is_empty() {
                    self.by_key.remove(k);
                }
            }
        }
    }

    /// `key` in `db` changed; `exists` says whether it is stored now.
    /// Returns the clients whose transactions become dirty.
    ///
    /// As in Redis 7.0 (`touchWatchedKey`): a watcher that saw the key
    /// already expired is not dirtied when the key is gone (its expiry was
    /// deleted, no logical change) and loses the flag; if the key is still
    /// stored, the walk over the watchers stops there, leaving that watcher
    /// and the ones after it untouched.
    pub fn touched(&mut self, db: usize, key: &[u8], exists: bool) -> Vec<u64> {
        let Some(list) = self.by_key.get_mut(&(db, Bytes::copy_from_slice(key))) else {
            return Vec::new();
        };
        let mut dirty = Vec::new();
        for w in list.iter_mut() {
            if w.expired {
                if exists {
                    break;
                }
                w.expired = false;
                continue;
            }
            dirty.push(w.client);
        }
        dirty
    }

    /// Database `db` is about to be emptied: returns the clients watching a
    /// key that is stored in it (`exists`), except watchers that saw their
    /// key already expired (they lose the flag instead), as Redis 7.0's
    /// `touchAllWatchedKeysInDb`.
    pub fn flushed(&mut self, db: usize, exists: impl Fn(&[u8]) -> bool) -> Vec<u64> {
        let mut dirty = Vec::new();
        for ((d, key), list) in self.by_key.iter_mut() {
            if *d != db || !exists(key) {
                continue;
            }
            for w in list.iter_mut() {
                if w.expired {
                    w.expired = false;
                } else if !dirty.contains(&w.client) {
                    dirty.push(w.client);
                }
            }
        }
        dirty
    }

    /// True if `client`'s watch of `key` in `db` started on an already
    /// expired key.
    pub fn was_expired(&self, client: u64, db: usize, key: &Bytes) -> bool {
        self.by_key
            .get(&(db, key.clone()))
            .and_then(|l| l.iter().find(|w| w.client == client))
            .is_some_and(|w| w.expired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn touch_marks_watchers_in_order() {
        let mut w = Watches::default();
        w.add(1, 0, k("a"), false);
        w.add(2, 0, k("a"), false);
        w.add(3, 1, k("a"), false);
        assert_eq!(w.touched(0, b"a", true), vec![1, 2]);
        assert!(w.touched(0, b"b", true).is_empty());
        w.remove(1, &[(0, k("a"))]);
        assert_eq!(w.touched(0, b"a", false), vec![2]);
        w.remove(2, &[(0, k("a"))]);
        w.remove(3, &[(1, k("a"))]);
        assert!(w.is_empty());
    }

    #[test]
    fn expired_at_watch_time() {
        let mut w = Watches::default();
        w.add(1, 0, k("a"), true);
        w.add(2, 0, k("a"), false);
        // Still stored: the walk stops at the first flagged watcher.
        assert!(w.touched(0, b"a", true).is_empty());
        // Its expiry deleted it: no change for 1, which loses the flag.
        assert_eq!(w.touched(0, b"a", false), vec![2]);
        assert!(!w.was_expired(1, 0, &k("a")));
        assert_eq!(w.touched(0, b"a", true), vec![1, 2]);
    }

    #[test]
    fn flush_only_dirties_stored_keys() {
        let mut w = Watches::default();
        w.add(1, 0, k("a"), false);
        w.add(1, 0, k("b"), false);
        w.add(2, 0, k("c"), true);
        w.add(3, 1, k("a"), false);
        let mut d = w.flushed(0, |key| key != b"b");
        d.sort();
        assert_eq!(d, vec![1]);
        assert!(!w.was_expired(2, 0, &k("c")));
    }
}
