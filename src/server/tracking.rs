//! Client-side caching (`CLIENT TRACKING`), as Redis 7.0 does it.
//!
//! Two ways to learn about changes:
//!
//! - **Default mode**: after a read-only command of a tracking client, the
//!   keys it read are remembered in the tracking table (key -> client ids).
//!   When such a key changes, each of those clients gets one invalidation
//!   and the key is forgotten until it is read again. OPTIN/OPTOUT with
//!   `CLIENT CACHING` choose which reads are remembered.
//! - **Broadcast mode** (BCAST): nothing is remembered per key; every
//!   changed key that starts with a registered prefix is collected for that
//!   prefix and sent to the prefix's clients as one batch at the end of the
//!   turn (Redis does it once per event-loop iteration, in `beforeSleep`).
//!   Here the batch leaves at the end of the turn of the client whose
//!   command changed the keys (covering the blocked clients it served), or
//!   at the end of the cron tick for keys the server expired by itself.
//!
//! Invalidations go to the tracking client itself as a RESP3 push
//! (`>2 invalidate [keys]`, a null for FLUSHDB/FLUSHALL), or to its
//! REDIRECT client: as a push if that one speaks RESP3, as a pub/sub
//! message on `__redis__:invalidate` if it is subscribed in RESP2, not at
//! all otherwise. A message caused by a client's own command reaches it
//! after that command's reply.

use super::client::Client;
use super::state::ServerState;
use crate::protocol::Reply;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The pub/sub channel RESP2 redirect targets receive invalidations on.
pub const CHANNEL: &str = "__redis__:invalidate";

/// A client's tracking state; `Client::tracking` is None while off.
#[derive(Debug, Default, Clone)]
pub struct ClientTracking {
    /// Id invalidations are redirected to (0 = the client itself).
    pub redirect: u64,
    /// Broadcast mode.
    pub bcast: bool,
    /// Only reads after `CLIENT CACHING yes` are remembered.
    pub optin: bool,
    /// Reads after `CLIENT CACHING no` are not remembered.
    pub optout: bool,
    /// No invalidations for the client's own changes.
    pub noloop: bool,
    /// `CLIENT CACHING` was given for the next command.
    pub caching: bool,
    /// The redirect client went away.
    pub broken_redirect: bool,
    /// Broadcast prefixes, in order.
    pub prefixes: BTreeSet<Bytes>,
}

/// The options of one `CLIENT TRACKING ON`.
#[derive(Debug, Default)]
pub struct TrackingOptions {
    /// REDIRECT id (0 = none).
    pub redirect: u64,
    /// BCAST.
    pub bcast: bool,
    /// OPTIN.
    pub optin: bool,
    /// OPTOUT.
    pub optout: bool,
    /// NOLOOP.
    pub noloop: bool,
    /// PREFIX arguments, in the order given.
    pub prefixes: Vec<Bytes>,
}

/// The tracking table: key -> ids of the clients that may cache it. Kept
/// as a vector plus an index so a random key can be picked in O(1) when
/// `tracking-table-max-keys` makes the server forget keys.
#[derive(Default)]
struct KeyTable {
    entries: Vec<(Bytes, Vec<u64>)>,
    index: HashMap<Bytes, usize, crate::util::hash::Keyed>,
}

impl KeyTable {
    /// Remembers that client `id` may cache `key`; true if that is new.
    fn insert(&mut self, key: &[u8], id: u64) -> bool {
        let i = match self.index.get(key) {
            Some(&i) => i,
            None => {
                // A copy: the argument may share a large request buffer.
                let k = Bytes::copy_from_slice(key);
                self.index.insert(k.clone(), self.entries.len());
                self.entries.push((k, Vec::new()));
                self.entries.len() - 1
            }
        };
        let ids = &mut self.entries[i].1;
        match ids.binary_search(&id) {
            Ok(_) => false,
            Err(p) => {
                ids.insert(p, id);
                true
            }
        }
    }

    /// Forgets `key`, returning the ids that cached it.
    fn remove(&mut self, key: &[u8]) -> Option<Vec<u64>> {
        let i = self.index.remove(key)?;
        let (_, ids) = self.entries.swap_remove(i);
        if let Some((moved, _)) = self.entries.get(i) {
            self.index.insert(moved.clone(), i);
        }
        Some(ids)
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn key_at(&self, i: usize) -> Bytes {
        self.entries[i].0.clone()
    }

    fn clear(&mut self) {
        *self = KeyTable::default();
    }
}

/// One broadcast prefix: its clients and the keys changed since the last
/// batch, each with the id of the client that changed it last (for NOLOOP).
#[derive(Default)]
struct Prefix {
    clients: BTreeSet<u64>,
    keys: BTreeMap<Bytes, Option<u64>>,
}

/// What an invalidation carries.
#[derive(Clone)]
enum Payload {
    /// An array of key names.
    Keys(Reply),
    /// Every key (after a flush): a null in the tracking client's protocol
    /// as Redis sends it (`$-1` from a RESP2 client even to a RESP3 redirect
    /// target), except that a RESP2 target never gets RESP3's `_`.
    Flush,
}

impl Payload {
    fn key(key: &[u8]) -> Payload {
        Payload::Keys(Reply::Array(vec![Reply::bulk(key)]))
    }

    /// The payload for a message from a client speaking `tracking_resp`
    /// to one speaking `target_resp`.
    fn reply(&self, tracking_resp: u8, target_resp: u8) -> Reply {
        match self {
            Payload::Keys(r) => r.clone(),
            Payload::Flush if tracking_resp >= 3 && target_resp >= 3 => {
                Reply::Raw(Bytes::from_static(b"_\r\n"))
            }
            Payload::Flush => Reply::Raw(Bytes::from_static(b"$-1\r\n")),
        }
    }
}

/// Server-wide tracking state.
#[derive(Default)]
pub struct Tracking {
    table: KeyTable,
    /// Ids stored across the table (INFO `tracking_total_items`).
    items: u64,
    prefixes: BTreeMap<Bytes, Prefix>,
    /// Clients with tracking on (INFO `tracking_clients`).
    pub clients: usize,
    /// Invalidations for the client running a command, sent after its
    /// reply: (tracking client id, payload).
    pending: Vec<(u64, Payload)>,
    /// Invalidations whose clients were busy (their turn was running a
    /// blocked client's command): (tracking client id, payload).
    deferred: Vec<(u64, Payload)>,
    /// Rounds the table stayed over its limit (more effort each round).
    limit_rounds: u32,
    /// Set while the keyspace's own deletions (expiry, eviction) are
    /// signalled: those have no writer for NOLOOP in broadcast mode.
    pub server_deletion: bool,
}

impl Tracking {
    /// True when no key is tracked and no prefix broadcast: key changes
    /// need no invalidation work.
    pub fn is_idle(&self) -> bool {
        self.table.len() == 0 && self.prefixes.is_empty()
    }

    /// Keys in the table (INFO `tracking_total_keys`).
    pub fn total_keys(&self) -> usize {
        self.table.len()
    }

    /// Client ids stored in the table (INFO `tracking_total_items`).
    pub fn total_items(&self) -> u64 {
        self.items
    }

    /// Registered broadcast prefixes (INFO `tracking_total_prefixes`).
    pub fn total_prefixes(&self) -> usize {
        self.prefixes.len()
    }
}

/// Result of looking a client up while another one may be borrowed.
enum Lookup<R> {
    Found(R),
    Gone,
    Busy,
}

/// True if two prefixes would both match some key (one starts the other).
fn overlap(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// A prefix as Redis prints it with `%s`: up to its first NUL byte.
fn shown(p: &[u8]) -> std::borrow::Cow<'_, str> {
    let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
    String::from_utf8_lossy(&p[..end])
}

/// Checks new broadcast prefixes against the client's and each other;
/// `Err` is the error to send. (Redis 7.0 answers both this error and +OK,
/// and enables tracking, when two given prefixes overlap and the first of
/// them is not the first one given; forkv answers once and changes
/// nothing, as for every other overlap.)
pub fn check_prefixes(current: Option<&ClientTracking>, prefixes: &[Bytes]) -> Result<(), String> {
    const TAIL: &str = "Prefixes for a single client must not overlap.";
    for (i, p) in prefixes.iter().enumerate() {
        if let Some(old) = current
            .into_iter()
            .flat_map(|t| t.prefixes.iter())
            .find(|old| overlap(old, p))
        {
            return Err(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. {TAIL}",
                shown(p),
                shown(old)
            ));
        }
        if let Some(q) = prefixes[i + 1..].iter().find(|q| overlap(p, q)) {
            return Err(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. {TAIL}",
                shown(p),
                shown(q)
            ));
        }
    }
    Ok(())
}

impl ServerState {
    /// Runs `f` on client `id`: `current` if it is that client, else the
    /// registered one if it is not borrowed.
    fn with_client<R>(
        &self,
        current: Option<&mut Client>,
        id: u64,
        f: impl FnOnce(&mut Client) -> R,
    ) -> Lookup<R> {
        if let Some(c) = current
            && c.id == id
        {
            return Lookup::Found(f(c));
        }
        match self.clients.get(&id) {
            None => Lookup::Gone,
            Some(rc) => match rc.try_borrow_mut() {
                Ok(mut c) => Lookup::Found(f(&mut c)),
                Err(_) => Lookup::Busy,
            },
        }
    }

    /// CLIENT TRACKING ON: sets `c`'s mode (options already validated).
    pub fn tracking_enable(&mut self, c: &mut Client, opts: TrackingOptions) {
        if c.tracking.is_none() {
            self.tracking.clients += 1;
        }
        let t = c.tracking.get_or_insert_with(Default::default);
        t.redirect = opts.redirect;
        t.broken_redirect = false;
        t.bcast = opts.bcast;
        t.optin = opts.optin;
        t.optout = opts.optout;
        t.noloop = opts.noloop;
        if !opts.bcast {
            return;
        }
        let mut prefixes = opts.prefixes;
        if prefixes.is_empty() {
            prefixes.push(Bytes::new());
        }
        for p in prefixes {
            let p = Bytes::copy_from_slice(&p);
            self.tracking
                .prefixes
                .entry(p.clone())
                .or_default()
                .clients
                .insert(c.id);
            t.prefixes.insert(p);
        }
    }

    /// CLIENT TRACKING OFF, RESET and disconnection. The client's entries
    /// in the tracking table stay until their keys change (as in Redis,
    /// which drops them lazily).
    pub fn tracking_disable(&mut self, c: &mut Client) {
        let Some(t) = c.tracking.take() else {
            return;
        };
        self.tracking.clients -= 1;
        for p in &t.prefixes {
            if let Some(state) = self.tracking.prefixes.get_mut(p) {
                state.clients.remove(&c.id);
                if state.clients.is_empty() {
                    self.tracking.prefixes.remove(p);
                }
            }
        }
    }

    /// After a read-only command of `c`: remembers `keys`, the keys it
    /// read, if `c` tracks in default mode and OPTIN/OPTOUT allow it.
    pub fn tracking_remember_keys<'a>(
        &mut self,
        c: &Client,
        keys: impl Iterator<Item = &'a Bytes>,
    ) {
        let Some(t) = &c.tracking else {
            return;
        };
        if t.bcast || (t.optin && !t.caching) || (t.optout && t.caching) {
            return;
        }
        for k in keys {
            if self.tracking.table.insert(k, c.id) {
                self.tracking.items += 1;
            }
        }
    }

    /// `key` changed (or is forgotten when `bcast` is false): every client
    /// that may cache it is told once, and broadcast prefixes matching it
    /// collect it. `executing` is true while `current` runs a command, so
    /// its own invalidation waits for the reply.
    fn tracking_invalidate_key(
        &mut self,
        mut current: Option<&mut Client>,
        key: &[u8],
        bcast: bool,
        executing: bool,
    ) {
        let me = current.as_ref().map(|c| c.id);
        if bcast && !self.tracking.prefixes.is_empty() {
            let writer = if self.tracking.server_deletion {
                None
            } else {
                me
            };
            for (p, state) in self.tracking.prefixes.iter_mut() {
                if key.starts_with(p) {
                    state.keys.insert(Bytes::copy_from_slice(key), writer);
                }
            }
        }
        let Some(ids) = self.tracking.table.remove(key) else {
            return;
        };
        self.tracking.items -= ids.len() as u64;
        for id in ids {
            let mode = self.with_client(current.as_deref_mut(), id, |c| {
                c.tracking.as_ref().map(|t| (t.bcast, t.noloop))
            });
            match mode {
                Lookup::Found(Some((false, noloop))) => {
                    if noloop && me == Some(id) {
                        continue;
                    }
                    if executing && me == Some(id) {
                        self.tracking.pending.push((id, Payload::key(key)));
                    } else {
                        self.send_tracking_message(current.as_deref_mut(), id, &Payload::key(key));
                    }
                }
                Lookup::Busy => self.tracking.deferred.push((id, Payload::key(key))),
                _ => {}
            }
        }
    }

    /// Called for every changed key (see [`ServerState::key_modified`]).
    pub fn tracking_key_modified(&mut self, current: Option<&mut Client>, key: &[u8]) {
        if self.tracking.is_idle() {
            return;
        }
        let executing = current.is_some();
        self.tracking_invalidate_key(current, key, true, executing);
    }

    /// After FLUSHDB/FLUSHALL: every tracking client is told that all keys
    /// are invalid, and the table is emptied.
    pub fn tracking_flushed(&mut self, mut current: Option<&mut Client>) {
        if self.tracking.clients > 0 {
            let me = current.as_ref().map(|c| c.id);
            let ids: Vec<u64> = self.clients.keys().copied().collect();
            for id in ids {
                if me == Some(id) {
                    if current.as_ref().is_some_and(|c| c.tracking.is_some()) {
                        self.tracking.pending.push((id, Payload::Flush));
                    }
                    continue;
                }
                match self.with_client(None, id, |c| c.tracking.is_some()) {
                    Lookup::Found(true) => {
                        self.send_tracking_message(current.as_deref_mut(), id, &Payload::Flush)
                    }
                    Lookup::Busy => self.tracking.deferred.push((id, Payload::Flush)),
                    _ => {}
                }
            }
        }
        self.tracking.table.clear();
        self.tracking.items = 0;
    }

    /// Sends the invalidations `c`'s command caused for `c` itself; called
    /// right after its reply is queued.
    pub fn tracking_after_command(&mut self, c: &mut Client) {
        if self.tracking.pending.is_empty() {
            return;
        }
        for (id, payload) in std::mem::take(&mut self.tracking.pending) {
            self.send_tracking_message(Some(c), id, &payload);
        }
    }

    /// Before a command runs and on each cron tick: forgets random keys
    /// (invalidating them) while the table is over
    /// `tracking-table-max-keys`, with more effort each time it stays over
    /// the limit, as Redis.
    pub fn tracking_limit_keys(&mut self, mut current: Option<&mut Client>) {
        let max = self.config.tracking_table_max_keys as usize;
        if max == 0 || self.tracking.clients == 0 {
            return;
        }
        if self.tracking.table.len() <= max {
            self.tracking.limit_rounds = 0;
            return;
        }
        let mut effort = 100 * (self.tracking.limit_rounds as u64 + 1);
        while effort > 0 && self.tracking.table.len() > 0 {
            effort -= 1;
            let i = (self.ks.rand() % self.tracking.table.len() as u64) as usize;
            let key = self.tracking.table.key_at(i);
            self.tracking_invalidate_key(current.as_deref_mut(), &key, false, false);
            if self.tracking.table.len() <= max {
                self.tracking.limit_rounds = 0;
                return;
            }
        }
        self.tracking.limit_rounds += 1;
    }

    /// End of a turn (or of the cron tick): sends the broadcast batches and
    /// the invalidations that had to wait for a busy client.
    pub fn tracking_end_of_turn(&mut self, mut current: Option<&mut Client>) {
        // Left pending by a command that blocked (its lookups may have
        // expired keys it tracks): nothing else of its will be sent now.
        let mut waiting = std::mem::take(&mut self.tracking.pending);
        waiting.append(&mut self.tracking.deferred);
        for (id, payload) in waiting {
            self.send_tracking_message(current.as_deref_mut(), id, &payload);
        }
        if self.tracking.clients == 0 {
            return;
        }
        let mut batches = Vec::new();
        for state in self.tracking.prefixes.values_mut() {
            if !state.keys.is_empty() {
                let keys = std::mem::take(&mut state.keys);
                batches.push((state.clients.iter().copied().collect::<Vec<_>>(), keys));
            }
        }
        for (clients, keys) in batches {
            let all = Payload::Keys(Reply::bulk_array(keys.keys()));
            for id in clients {
                let noloop = self.with_client(current.as_deref_mut(), id, |c| {
                    c.tracking.as_ref().is_some_and(|t| t.noloop)
                });
                let payload = match noloop {
                    Lookup::Found(true) => {
                        let mine: Vec<&Bytes> = keys
                            .iter()
                            .filter(|(_, w)| **w != Some(id))
                            .map(|(k, _)| k)
                            .collect();
                        if mine.is_empty() {
                            continue;
                        }
                        Payload::Keys(Reply::bulk_array(mine))
                    }
                    _ => all.clone(),
                };
                self.send_tracking_message(current.as_deref_mut(), id, &payload);
            }
        }
    }

    /// Sends one invalidation for tracking client `id` where it must go
    /// (itself or its redirect client), or notes a broken redirection.
    fn send_tracking_message(&mut self, mut current: Option<&mut Client>, id: u64, p: &Payload) {
        let state = self.with_client(current.as_deref_mut(), id, |c| {
            c.tracking.as_ref().map(|t| (t.redirect, c.resp))
        });
        let (redirect, resp) = match state {
            Lookup::Found(Some(s)) => s,
            Lookup::Busy => return self.tracking.deferred.push((id, p.clone())),
            _ => return,
        };
        if redirect == 0 {
            if resp >= 3 {
                self.deliver(current, id, &invalidate(p.reply(resp, resp)));
            }
            return;
        }
        if !self.clients.contains_key(&redirect) {
            let _ = self.with_client(current.as_deref_mut(), id, |c| {
                if let Some(t) = c.tracking.as_mut() {
                    t.broken_redirect = true;
                }
            });
            if resp >= 3 {
                let msg = Reply::Push(vec![
                    Reply::bulk_static("tracking-redir-broken"),
                    Reply::Int(redirect as i64),
                ]);
                self.deliver(current, id, &msg);
            }
            return;
        }
        let target = self.with_client(current.as_deref_mut(), redirect, |t| {
            (t.resp, t.is_pubsub())
        });
        let msg = match target {
            Lookup::Found((r, _)) if r >= 3 => invalidate(p.reply(resp, r)),
            Lookup::Found((r, true)) => Reply::Push(vec![
                Reply::bulk_static("message"),
                Reply::bulk_static(CHANNEL),
                p.reply(resp, r),
            ]),
            Lookup::Busy => return self.tracking.deferred.push((id, p.clone())),
            _ => return,
        };
        self.deliver(current, redirect, &msg);
    }
}

/// `>2 invalidate <payload>`.
fn invalidate(payload: Reply) -> Reply {
    Reply::Push(vec![Reply::bulk_static("invalidate"), payload])
}
