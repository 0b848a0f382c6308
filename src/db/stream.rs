//! Stream values (Redis's t_stream): entries keyed by `ms-seq` IDs, kept
//! in blocks the way Redis keeps them in radix-tree nodes.
//!
//! Redis packs entries into listpacks of at most `stream-node-max-entries`
//! entries or `stream-node-max-bytes` bytes, one per radix-tree node keyed
//! by the ID of the node's first ("master") entry. Deleting an entry only
//! flags it inside its node; a node goes away when its last live entry is
//! deleted, or as a whole when trimming. Approximate trimming (`~`) removes
//! whole nodes only, so `XLEN` after `MAXLEN ~` depends on where node
//! boundaries fall. forkv keeps the same blocks ([`Node`]) in an ordered map
//! keyed by master ID, and tracks the byte size the node's listpack would
//! have (every element's encoding as Redis's listpack writes it), so node
//! boundaries, and therefore approximate trimming, match Redis exactly.
//!
//! Each entry's fields and values are packed in one allocation.

use std::collections::BTreeMap;
use std::fmt;

/// A stream entry ID: milliseconds and a sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// `0-0`.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest ID.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// An ID.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID, or None past the largest (Redis's `streamIncrID`).
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID, or None before `0-0` (Redis's `streamDecrID`).
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// True for `0-0`.
    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Node size limits (`stream-node-max-bytes`, `stream-node-max-entries`).
#[derive(Clone, Copy, Debug)]
pub struct NodeLimits {
    /// Bytes per node's listpack (0: no limit but Redis's 1 GB cap).
    pub max_bytes: u64,
    /// Entries per node, live and deleted (0: no limit).
    pub max_entries: u64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

/// Redis's `STREAM_LISTPACK_MAX_SIZE`.
const LISTPACK_MAX_SIZE: u64 = 1 << 30;

/// One entry: its ID, whether it is deleted (a tombstone in its node), and
/// its field/value pairs packed as `len (u32 LE) | bytes` each.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The entry's ID.
    pub id: StreamId,
    deleted: bool,
    data: Box<[u8]>,
}

impl Entry {
    fn new(id: StreamId, pairs: &[impl AsRef<[u8]>]) -> Entry {
        let len = pairs.iter().map(|p| 4 + p.as_ref().len()).sum();
        let mut data = Vec::with_capacity(len);
        for p in pairs {
            let p = p.as_ref();
            data.extend_from_slice(&(p.len() as u32).to_le_bytes());
            data.extend_from_slice(p);
        }
        Entry {
            id,
            deleted: false,
            data: data.into_boxed_slice(),
        }
    }

    /// Fields and values, alternating.
    pub fn items(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = &self.data[..];
        std::iter::from_fn(move || {
            if rest.len() < 4 {
                return None;
            }
            let n = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let item = rest.get(4..4 + n)?;
            rest = &rest[4 + n..];
            Some(item)
        })
    }

    /// Number of field/value pairs.
    pub fn pairs(&self) -> usize {
        self.items().count() / 2
    }

    fn heap_size(&self) -> usize {
        self.data.len()
    }
}

/// Bytes a listpack element holding the integer `v` takes.
fn lp_int_size(v: i64) -> u64 {
    let enc = match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8_388_608..=8_388_607 => 4,
        -2_147_483_648..=2_147_483_647 => 5,
        _ => 9,
    };
    enc + 1
}

/// Bytes of a listpack element's back-length for an element of `l` bytes.
fn lp_backlen_size(l: u64) -> u64 {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2_097_151 {
        3
    } else if l < 268_435_455 {
        4
    } else {
        5
    }
}

/// Bytes a listpack element holding the string `s` takes (stored as an
/// integer when it is one, as listpack does).
fn lp_str_size(s: &[u8]) -> u64 {
    if let Some(v) = crate::util::num::parse_i64(s) {
        return lp_int_size(v);
    }
    let l = s.len() as u64;
    let enc = if l < 64 {
        1 + l
    } else if l < 4096 {
        2 + l
    } else {
        5 + l
    };
    enc + lp_backlen_size(enc)
}

/// A block of entries: Redis's radix-tree node with its listpack.
#[derive(Clone, Debug)]
pub struct Node {
    master_fields: Vec<Box<[u8]>>,
    entries: Vec<Entry>,
    live: u64,
    deleted: u64,
    /// Listpack bytes other than the header, the end byte and the two
    /// counters (live, deleted), which change size as they change.
    rest_bytes: u64,
}

impl Node {
    fn new(id: StreamId, pairs: &[impl AsRef<[u8]>]) -> Node {
        let fields: Vec<Box<[u8]>> = pairs.iter().step_by(2).map(|f| f.as_ref().into()).collect();
        let mut rest = lp_int_size(fields.len() as i64) + lp_int_size(0);
        rest += fields.iter().map(|f| lp_str_size(f)).sum::<u64>();
        let mut n = Node {
            master_fields: fields,
            entries: Vec::new(),
            live: 0,
            deleted: 0,
            rest_bytes: rest,
        };
        n.push(id, id, pairs);
        n
    }

    /// The listpack's total bytes.
    fn bytes(&self) -> u64 {
        7 + lp_int_size(self.live as i64) + lp_int_size(self.deleted as i64) + self.rest_bytes
    }

    fn same_fields(&self, pairs: &[impl AsRef<[u8]>]) -> bool {
        pairs.len() / 2 == self.master_fields.len()
            && pairs
                .iter()
                .step_by(2)
                .zip(&self.master_fields)
                .all(|(a, b)| a.as_ref() == &b[..])
    }

    fn push(&mut self, master: StreamId, id: StreamId, pairs: &[impl AsRef<[u8]>]) {
        let same = self.same_fields(pairs);
        let n = pairs.len() as i64 / 2;
        let mut b = lp_int_size(if same { 2 } else { 0 });
        b += lp_int_size(id.ms.wrapping_sub(master.ms) as i64);
        b += lp_int_size(id.seq.wrapping_sub(master.seq) as i64);
        let mut lp_count = n + 3;
        if !same {
            b += lp_int_size(n);
            lp_count += n + 1;
        }
        for (i, p) in pairs.iter().enumerate() {
            if !same || i % 2 == 1 {
                b += lp_str_size(p.as_ref());
            }
        }
        b += lp_int_size(lp_count);
        self.rest_bytes += b;
        self.entries.push(Entry::new(id, pairs));
        self.live += 1;
    }

    /// The last entry's ID, deleted or not (Redis's `lpGetEdgeStreamID`).
    fn last_id(&self) -> StreamId {
        self.entries.last().map_or(StreamId::MIN, |e| e.id)
    }

    /// Live entries.
    pub fn live(&self) -> u64 {
        self.live
    }

    fn heap_size(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.entries.iter().map(Entry::heap_size).sum::<usize>()
            + self
                .master_fields
                .iter()
                .map(|f| f.len() + 16)
                .sum::<usize>()
    }
}

/// A consumer group's pending entry (Redis's `streamNACK`).
#[derive(Clone, Debug)]
pub struct Nack {
    /// Last delivery time (Unix ms).
    pub delivery_time: i64,
    /// Times delivered.
    pub delivery_count: u64,
    /// The owning consumer.
    pub consumer: Vec<u8>,
}

/// A consumer of a group (Redis's `streamConsumer`).
#[derive(Clone, Debug, Default)]
pub struct Consumer {
    /// Last time it was seen (Unix ms).
    pub seen_time: i64,
    /// Its pending entries.
    pub pel: BTreeMap<StreamId, ()>,
}

/// A consumer group (Redis's `streamCG`).
#[derive(Clone, Debug, Default)]
pub struct Group {
    /// Last delivered ID.
    pub last_id: StreamId,
    /// Entries read, or None when unknown (Redis's `SCG_INVALID_ENTRIES_READ`).
    pub entries_read: Option<u64>,
    /// Pending entries of all consumers.
    pub pel: BTreeMap<StreamId, Nack>,
    /// Consumers, by name.
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

/// How a trim chooses what to remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimBy {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Remove entries below this ID.
    MinId(StreamId),
}

/// A trim request (Redis's `streamAddTrimArgs` trimming part).
#[derive(Clone, Copy, Debug)]
pub struct Trim {
    /// The strategy.
    pub by: TrimBy,
    /// Whole nodes only (`~`).
    pub approx: bool,
    /// At most this many entries (0: no limit).
    pub limit: u64,
}

/// Why an append failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddError {
    /// The ID is not above the stream's last ID.
    NotGreater,
    /// The fields and values are larger than a node can hold, or the
    /// sequence of `<ms>-*` would overflow (Redis reports both alike).
    TooLarge,
}

/// A stream.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Node>,
    length: u64,
    /// The last ID added (or set by XSETID).
    pub last_id: StreamId,
    /// The first live entry's ID (0-0 when empty).
    pub first_id: StreamId,
    /// The largest ID ever deleted by XDEL.
    pub max_deleted_entry_id: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// Consumer groups by name.
    pub groups: BTreeMap<Vec<u8>, Group>,
}

impl Stream {
    /// An empty stream.
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Live entries (`XLEN`).
    pub fn len(&self) -> u64 {
        self.length
    }

    /// True when no live entry is left.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Number of nodes (XINFO STREAM FULL `radix-tree-nodes` estimate).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// `OBJECT ENCODING`.
    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    /// Appends an entry (Redis's `streamAppendItem`). `id`: None for `*`
    /// (from `now_ms`), `(id, true)` for an explicit ID, `(ms, false)`
    /// for `<ms>-*`. Returns the ID used.
    pub fn append(
        &mut self,
        pairs: &[impl AsRef<[u8]>],
        id: Option<(StreamId, bool)>,
        now_ms: u64,
        limits: NodeLimits,
    ) -> Result<StreamId, AddError> {
        let id = match id {
            Some((id, true)) => id,
            Some((id, false)) => {
                if self.last_id.ms == id.ms {
                    if self.last_id.seq == u64::MAX {
                        // Redis fails here without setting errno, so XADD
                        // reports the other error (7.0.15's text).
                        return Err(AddError::TooLarge);
                    }
                    StreamId::new(id.ms, self.last_id.seq + 1)
                } else {
                    id
                }
            }
            None => {
                if now_ms > self.last_id.ms {
                    StreamId::new(now_ms, 0)
                } else {
                    self.last_id.incr().unwrap_or(StreamId::MIN)
                }
            }
        };
        if id <= self.last_id {
            return Err(AddError::NotGreater);
        }
        let total: u64 = pairs.iter().map(|p| p.as_ref().len() as u64).sum();
        if total > LISTPACK_MAX_SIZE {
            return Err(AddError::TooLarge);
        }
        let mut max_bytes = limits.max_bytes;
        if max_bytes == 0 || max_bytes > LISTPACK_MAX_SIZE {
            max_bytes = LISTPACK_MAX_SIZE;
        }
        let tail = self.nodes.iter_mut().next_back();
        let fits = tail.as_ref().is_some_and(|(_, n)| {
            n.bytes() + total < max_bytes
                && (limits.max_entries == 0 || n.live + n.deleted < limits.max_entries)
        });
        match tail {
            Some((master, node)) if fits => {
                let master = *master;
                node.push(master, id, pairs);
            }
            _ => {
                self.nodes.insert(id, Node::new(id, pairs));
            }
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(id)
    }

    /// Live entries from `start` to `end` inclusive, forwards or backwards.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
    ) -> Box<dyn Iterator<Item = &Entry> + '_> {
        if start > end {
            return Box::new(std::iter::empty());
        }
        let from = self
            .nodes
            .range(..=start)
            .next_back()
            .map_or(StreamId::MIN, |(k, _)| *k);
        let nodes = self.nodes.range(from..=end).map(|(_, n)| n);
        let keep = move |e: &&Entry| !e.deleted && e.id >= start && e.id <= end;
        if rev {
            Box::new(
                nodes
                    .rev()
                    .flat_map(|n| n.entries.iter().rev())
                    .filter(keep),
            )
        } else {
            Box::new(nodes.flat_map(|n| n.entries.iter()).filter(keep))
        }
    }

    /// The live entry `id`, if any.
    pub fn get(&self, id: StreamId) -> Option<&Entry> {
        self.range(id, id, false).next()
    }

    /// The first or last live ID, or None when empty.
    pub fn edge(&self, first: bool) -> Option<StreamId> {
        if first {
            self.range(StreamId::MIN, StreamId::MAX, false)
                .next()
                .map(|e| e.id)
        } else {
            self.range(StreamId::MIN, StreamId::MAX, true)
                .next()
                .map(|e| e.id)
        }
    }

    /// The first ID of the first node, tombstones included; `MAX-MAX` when
    /// empty (Redis's `streamGetEdgeID(s,1,0,..)`, used to rewrite `MINID ~`).
    pub fn first_id_with_tombstones(&self) -> StreamId {
        self.nodes
            .values()
            .flat_map(|n| n.entries.iter())
            .next()
            .map_or(StreamId::MAX, |e| e.id)
    }

    /// Deletes the live entry `id` (Redis's `streamDeleteItem`). True if
    /// it existed. Updates neither `first_id` nor `max_deleted_entry_id`
    /// (see [`Stream::delete_ids`]).
    fn delete_one(&mut self, id: StreamId) -> bool {
        let Some((&master, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let Ok(i) = node.entries.binary_search_by(|e| e.id.cmp(&id)) else {
            return false;
        };
        if node.entries[i].deleted {
            return false;
        }
        if node.live == 1 {
            self.nodes.remove(&master);
        } else {
            node.entries[i].deleted = true;
            node.live -= 1;
            node.deleted += 1;
        }
        self.length -= 1;
        true
    }

    /// XDEL: deletes the entries `ids`; returns how many existed.
    pub fn delete_ids(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        let mut first_entry = false;
        for &id in ids {
            if self.delete_one(id) {
                if id == self.first_id {
                    first_entry = true;
                }
                if id > self.max_deleted_entry_id {
                    self.max_deleted_entry_id = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first_entry {
                self.first_id = self.edge(true).unwrap_or(StreamId::MIN);
            }
        }
        deleted
    }

    /// Trims the stream (Redis's `streamTrim`); returns entries removed.
    pub fn trim(&mut self, t: &Trim) -> u64 {
        let mut deleted = 0u64;
        loop {
            if let TrimBy::MaxLen(max) = t.by
                && self.length <= max
            {
                break;
            }
            let Some(mut first) = self.nodes.first_entry() else {
                break;
            };
            let node = first.get_mut();
            let entries = node.live;
            if t.limit != 0 && deleted + entries > t.limit {
                break;
            }
            let remove_node = match t.by {
                TrimBy::MaxLen(max) => self.length - entries >= max,
                TrimBy::MinId(min) => node.last_id() < min,
            };
            if remove_node {
                first.remove();
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if t.approx {
                break;
            }
            let mut from_node = 0u64;
            for e in node.entries.iter_mut() {
                let stop = match t.by {
                    TrimBy::MaxLen(max) => self.length <= max,
                    TrimBy::MinId(min) => e.id >= min,
                };
                if stop {
                    break;
                }
                if !e.deleted {
                    e.deleted = true;
                    from_node += 1;
                    self.length -= 1;
                }
            }
            node.live -= from_node;
            node.deleted += from_node;
            deleted += from_node;
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.edge(true).unwrap_or(StreamId::MIN);
        }
        deleted
    }

    /// Approximate heap bytes.
    pub fn heap_size(&self) -> usize {
        self.nodes
            .values()
            .map(|n| n.heap_size() + 64)
            .sum::<usize>()
            + self
                .groups
                .iter()
                .map(|(k, g)| k.len() + 64 + g.pel.len() * 64 + g.consumers.len() * 64)
                .sum::<usize>()
    }

    /// Checks the stream's own bookkeeping (DEBUG's consistency check).
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut live = 0u64;
        let mut prev: Option<StreamId> = None;
        for (k, n) in &self.nodes {
            if n.entries.first().map(|e| e.id) != Some(*k) {
                return Err(format!("node {k} does not start with its master ID"));
            }
            let l = n.entries.iter().filter(|e| !e.deleted).count() as u64;
            if l != n.live || l == 0 || n.entries.len() as u64 != n.live + n.deleted {
                return Err(format!("node {k} counts are wrong"));
            }
            for e in &n.entries {
                if prev.is_some_and(|p| p >= e.id) {
                    return Err(format!("entry {} out of order", e.id));
                }
                prev = Some(e.id);
            }
            live += l;
        }
        if live != self.length {
            return Err(format!("length {} but {live} live entries", self.length));
        }
        if prev.is_some_and(|p| p > self.last_id) {
            return Err("an entry is above last_id".to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_sizes() {
        assert_eq!(lp_int_size(0), 2);
        assert_eq!(lp_int_size(128), 3);
        assert_eq!(lp_int_size(-1), 3);
        assert_eq!(lp_str_size(b"abc"), 5);
        assert_eq!(lp_str_size(b"123"), 2);
        assert_eq!(lp_str_size(&[b'x'; 100]), 103);
    }

    #[test]
    fn nodes_split_on_entry_count() {
        let mut s = Stream::new();
        let lim = NodeLimits::default();
        for i in 1..=250u64 {
            s.append(&[b"f", b"v"], Some((StreamId::new(i, 0), true)), 0, lim)
                .unwrap();
        }
        assert_eq!(s.node_count(), 3);
        let t = Trim {
            by: TrimBy::MaxLen(120),
            approx: true,
            limit: 10000,
        };
        assert_eq!(s.trim(&t), 100);
        assert_eq!(s.len(), 150);
        s.check_invariants().unwrap();
    }
}
