//! Pub/sub state and delivery: which clients listen on which channels,
//! patterns and shard channels, subscribing and unsubscribing (with the
//! confirmation each one sends), and [`ServerState::publish`].
//!
//! The server keeps, per topic, its subscribers in subscription order (so
//! messages reach them in that order, as in Redis); each client keeps the
//! topics it listens on in [`Subscriptions`], in subscription order too, so
//! `UNSUBSCRIBE` without arguments answers in a stable order. Messages reach
//! other clients through [`ServerState::deliver`], which also enforces the
//! `pubsub` class of `client-output-buffer-limit`.

use super::client::Client;
use super::state::ServerState;
use crate::protocol::Reply;
use crate::util::glob::glob_match;
use crate::util::hash::Keyed;
use bytes::Bytes;
use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// A map that remembers insertion order, with O(1) lookup and O(log n)
/// removal (a subscriber list that can hold many thousands of clients must
/// not make each unsubscribe linear).
pub struct OrderedMap<K, V> {
    map: HashMap<K, (u64, V), Keyed>,
    order: BTreeMap<u64, K>,
    next: u64,
}

impl<K, V> Default for OrderedMap<K, V> {
    fn default() -> Self {
        OrderedMap {
            map: HashMap::default(),
            order: BTreeMap::new(),
            next: 0,
        }
    }
}

impl<K: Hash + Eq + Clone, V> OrderedMap<K, V> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The value of `k`.
    pub fn get<Q: Hash + Eq + ?Sized>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.map.get(k).map(|(_, v)| v)
    }

    /// True if `k` is present.
    pub fn contains<Q: Hash + Eq + ?Sized>(&self, k: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.map.contains_key(k)
    }

    /// The value of `k`, inserted last with `make` if absent.
    pub fn get_or_insert_with(&mut self, k: K, make: impl FnOnce() -> V) -> &mut V {
        let next = &mut self.next;
        let order = &mut self.order;
        &mut self
            .map
            .entry(k)
            .or_insert_with_key(|k| {
                let seq = *next;
                *next += 1;
                order.insert(seq, k.clone());
                (seq, make())
            })
            .1
    }

    /// The value of `k`, mutable.
    pub fn get_mut<Q: Hash + Eq + ?Sized>(&mut self, k: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.map.get_mut(k).map(|(_, v)| v)
    }

    /// Removes `k`, returning its value.
    pub fn remove<Q: Hash + Eq + ?Sized>(&mut self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let (seq, v) = self.map.remove(k)?;
        self.order.remove(&seq);
        Some(v)
    }

    /// Keys in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.order.values()
    }

    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.order.values().map(|k| (k, &self.map[k].1))
    }
}

/// An insertion-ordered set (see [`OrderedMap`]).
pub type OrderedSet<K> = OrderedMap<K, ()>;

impl<K: Hash + Eq + Clone> OrderedSet<K> {
    /// Adds `k` last; false if it was already present.
    pub fn insert(&mut self, k: K) -> bool {
        if self.contains(&k) {
            return false;
        }
        self.get_or_insert_with(k, || ());
        true
    }
}

/// Topic -> subscriber client ids, both in subscription order.
pub type Topics = OrderedMap<Bytes, OrderedSet<u64>>;

/// Server-wide subscriptions.
#[derive(Default)]
pub struct PubSub {
    /// SUBSCRIBE channels.
    pub channels: Topics,
    /// PSUBSCRIBE patterns.
    pub patterns: Topics,
    /// SSUBSCRIBE shard channels.
    pub shard: Topics,
}

/// What one client is subscribed to (CLIENT LIST `sub=`, `psub=`, `ssub=`).
#[derive(Default)]
pub struct Subscriptions {
    /// Channels.
    pub channels: OrderedSet<Bytes>,
    /// Patterns.
    pub patterns: OrderedSet<Bytes>,
    /// Shard channels.
    pub shard: OrderedSet<Bytes>,
}

impl Subscriptions {
    /// True when subscribed to nothing.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty()
    }
}

/// The three kinds of subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE / UNSUBSCRIBE / PUBLISH.
    Channel,
    /// PSUBSCRIBE / PUNSUBSCRIBE.
    Pattern,
    /// SSUBSCRIBE / SUNSUBSCRIBE / SPUBLISH.
    Shard,
}

/// Every kind, in the order a dropped client leaves them.
const KINDS: [Kind; 3] = [Kind::Channel, Kind::Shard, Kind::Pattern];

impl Kind {
    fn subscribe_name(self) -> &'static str {
        match self {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
            Kind::Shard => "ssubscribe",
        }
    }

    fn unsubscribe_name(self) -> &'static str {
        match self {
            Kind::Channel => "unsubscribe",
            Kind::Pattern => "punsubscribe",
            Kind::Shard => "sunsubscribe",
        }
    }

    fn server(self, ps: &mut PubSub) -> &mut Topics {
        match self {
            Kind::Channel => &mut ps.channels,
            Kind::Pattern => &mut ps.patterns,
            Kind::Shard => &mut ps.shard,
        }
    }

    fn client(self, subs: &mut Subscriptions) -> &mut OrderedSet<Bytes> {
        match self {
            Kind::Channel => &mut subs.channels,
            Kind::Pattern => &mut subs.patterns,
            Kind::Shard => &mut subs.shard,
        }
    }

    /// The count a confirmation reports: shard subscriptions are counted
    /// apart from channels and patterns, as Redis does.
    fn count(self, subs: &Subscriptions) -> i64 {
        let n = match self {
            Kind::Channel | Kind::Pattern => subs.channels.len() + subs.patterns.len(),
            Kind::Shard => subs.shard.len(),
        };
        n as i64
    }
}

/// A confirmation: `[subscribe|unsubscribe|..., topic or null, count]`,
/// a push in RESP3.
fn confirmation(name: &'static str, topic: Option<&Bytes>, count: i64) -> Reply {
    Reply::Push(vec![
        Reply::bulk_static(name),
        topic.map_or(Reply::Nil, |t| Reply::Bulk(t.clone())),
        Reply::Int(count),
    ])
}

impl ServerState {
    /// Subscribes `c` to `topic`; returns the confirmation to send.
    pub fn subscribe(&mut self, c: &mut Client, kind: Kind, topic: &Bytes) -> Reply {
        if !kind.client(&mut c.subs).contains(&topic[..]) {
            // A copy: `topic` shares the whole request buffer it came in,
            // which a long-lived subscription must not keep alive.
            let owned = Bytes::copy_from_slice(topic);
            kind.client(&mut c.subs).insert(owned.clone());
            kind.server(&mut self.pubsub)
                .get_or_insert_with(owned, OrderedSet::default)
                .insert(c.id);
        }
        confirmation(kind.subscribe_name(), Some(topic), kind.count(&c.subs))
    }

    /// Unsubscribes `c` from `topic` (subscribed or not); returns the
    /// confirmation to send.
    pub fn unsubscribe(&mut self, c: &mut Client, kind: Kind, topic: &Bytes) -> Reply {
        if kind.client(&mut c.subs).remove(&topic[..]).is_some() {
            let topics = kind.server(&mut self.pubsub);
            if let Some(ids) = topics.get_mut(&topic[..]) {
                ids.remove(&c.id);
                if ids.is_empty() {
                    topics.remove(&topic[..]);
                }
            }
        }
        confirmation(kind.unsubscribe_name(), Some(topic), kind.count(&c.subs))
    }

    /// Unsubscribes `c` from every topic of `kind`, in subscription order;
    /// returns one confirmation per topic, or a single one with a null
    /// topic when there was none.
    pub fn unsubscribe_all(&mut self, c: &mut Client, kind: Kind) -> Vec<Reply> {
        let topics: Vec<Bytes> = kind.client(&mut c.subs).keys().cloned().collect();
        if topics.is_empty() {
            return vec![confirmation(
                kind.unsubscribe_name(),
                None,
                kind.count(&c.subs),
            )];
        }
        topics
            .iter()
            .map(|t| self.unsubscribe(c, kind, t))
            .collect()
    }

    /// Drops every subscription of `c` without confirmations (RESET, and a
    /// connection that closes).
    pub fn forget_subscriptions(&mut self, c: &mut Client) {
        if c.subs.is_empty() {
            return;
        }
        for kind in KINDS {
            self.unsubscribe_all(c, kind);
        }
    }

    /// Sends `message` to every client subscribed to `channel` (or to a
    /// pattern matching it) and returns how many received it: a client
    /// listening on the channel and on matching patterns counts once for
    /// each. `current` is the client whose command is running, if any (it
    /// may be a subscriber itself).
    pub fn publish(
        &mut self,
        current: Option<&mut Client>,
        channel: &[u8],
        message: &[u8],
    ) -> usize {
        self.publish_to(
            current,
            Kind::Channel,
            Bytes::copy_from_slice(channel),
            Bytes::copy_from_slice(message),
        )
    }

    /// [`Self::publish`] for `Kind::Channel`, or SPUBLISH for `Kind::Shard`
    /// (shard channels have no patterns), without copying the message: large
    /// messages are shared by every subscriber's output buffer.
    pub fn publish_to(
        &mut self,
        mut current: Option<&mut Client>,
        kind: Kind,
        channel: Bytes,
        message: Bytes,
    ) -> usize {
        let mut receivers = 0;
        let direct: Vec<u64> = kind
            .server(&mut self.pubsub)
            .get(&channel[..])
            .map(|ids| ids.keys().copied().collect())
            .unwrap_or_default();
        if !direct.is_empty() {
            let name = if kind == Kind::Shard {
                "smessage"
            } else {
                "message"
            };
            let msg = Reply::Push(vec![
                Reply::bulk_static(name),
                Reply::Bulk(channel.clone()),
                Reply::Bulk(message.clone()),
            ]);
            for id in &direct {
                self.deliver(current.as_deref_mut(), *id, &msg);
            }
            receivers += direct.len();
        }
        if kind != Kind::Channel || self.pubsub.patterns.is_empty() {
            return receivers;
        }
        let matched: Vec<(Bytes, Vec<u64>)> = self
            .pubsub
            .patterns
            .iter()
            .filter(|(pat, _)| glob_match(pat, &channel, false))
            .map(|(pat, ids)| (pat.clone(), ids.keys().copied().collect()))
            .collect();
        for (pat, ids) in matched {
            let msg = Reply::Push(vec![
                Reply::bulk_static("pmessage"),
                Reply::Bulk(pat),
                Reply::Bulk(channel.clone()),
                Reply::Bulk(message.clone()),
            ]);
            for id in &ids {
                self.deliver(current.as_deref_mut(), *id, &msg);
            }
            receivers += ids.len();
        }
        receivers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_map_keeps_insertion_order_across_removals() {
        let mut s: OrderedSet<u64> = OrderedSet::default();
        for i in [5, 3, 9, 1] {
            assert!(s.insert(i));
        }
        assert!(!s.insert(3));
        assert!(s.remove(&3).is_some());
        assert!(s.remove(&3).is_none());
        assert!(s.insert(3));
        assert_eq!(s.keys().copied().collect::<Vec<_>>(), vec![5, 9, 1, 3]);
        assert_eq!(s.len(), 4);
        assert!(s.contains(&9));
    }
}
