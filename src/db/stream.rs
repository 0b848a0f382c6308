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
//! Entries are packed in their block's one buffer (ID deltas and lengths
//! as varints, field names left out when they repeat the block's first
//! entry's, as Redis's listpacks do): about 16 bytes per entry of two
//! short fields, where Redis 7.0 spends about 18.5.

use std::collections::{BTreeMap, BTreeSet};
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

/// An entry copied out of its block (delivered or claimed entries):
/// its ID, whether it is a tombstone, and its field/value pairs packed as
/// `len (u32 LE) | bytes` each.
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

    /// True for a tombstone (deleted, still in its block).
    pub fn is_deleted(&self) -> bool {
        self.deleted
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
///
/// Entries are packed back to back in one buffer, each `flags (u8: 1
/// deleted, 2 same fields as the master entry) | ms - master ms (varint) |
/// seq (varint) | [pairs (varint) unless same fields] | items`, an item
/// being `len (varint) | bytes`; with the same fields only the values
/// are stored, as Redis's listpack does.
#[derive(Clone, Debug)]
pub struct Node {
    master_fields: Vec<Box<[u8]>>,
    buf: Vec<u8>,
    live: u64,
    deleted: u64,
    /// Listpack bytes other than the header, the end byte and the two
    /// counters (live, deleted), which change size as they change.
    rest_bytes: u64,
    master: StreamId,
    last: StreamId,
    last_off: usize,
}

const FLAG_DELETED: u8 = 1;
const FLAG_SAME: u8 = 2;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A varint at `*pos` of `buf` (0 past the end: the buffer is our own).
fn get_varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    while let Some(&b) = buf.get(*pos) {
        *pos += 1;
        if shift < 64 {
            v |= u64::from(b & 0x7f) << shift;
        }
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    v
}

/// One entry read in place from its block.
#[derive(Clone, Copy, Debug)]
pub struct EntryView<'a> {
    /// The entry's ID.
    pub id: StreamId,
    deleted: bool,
    /// Offset of its flags byte in the block.
    off: usize,
    same: bool,
    pairs: usize,
    /// Its items, as packed.
    data: &'a [u8],
    fields: &'a [Box<[u8]>],
}

impl<'a> EntryView<'a> {
    /// True for a tombstone (deleted, still in its block).
    pub fn is_deleted(&self) -> bool {
        self.deleted
    }

    /// Fields and values, alternating.
    pub fn items(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let (data, fields, same, pairs) = (self.data, self.fields, self.same, self.pairs);
        let mut pos = 0;
        let mut i = 0;
        std::iter::from_fn(move || {
            if i >= pairs * 2 {
                return None;
            }
            let item = if same && i % 2 == 0 {
                fields.get(i / 2).map_or(&[][..], |f| &f[..])
            } else {
                let n = get_varint(data, &mut pos) as usize;
                let end = (pos + n).min(data.len());
                let item = &data[pos.min(end)..end];
                pos = end;
                item
            };
            i += 1;
            Some(item)
        })
    }

    /// A copy that owns its data.
    pub fn to_entry(&self) -> Entry {
        let items: Vec<&[u8]> = self.items().collect();
        let mut e = Entry::new(self.id, &items);
        e.deleted = self.deleted;
        e
    }
}

impl Node {
    fn new(id: StreamId, pairs: &[impl AsRef<[u8]>]) -> Node {
        let fields: Vec<Box<[u8]>> = pairs.iter().step_by(2).map(|f| f.as_ref().into()).collect();
        let mut rest = lp_int_size(fields.len() as i64) + lp_int_size(0);
        rest += fields.iter().map(|f| lp_str_size(f)).sum::<u64>();
        let mut n = Node {
            master_fields: fields,
            buf: Vec::new(),
            live: 0,
            deleted: 0,
            rest_bytes: rest,
            master: id,
            last: id,
            last_off: 0,
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
        self.last_off = self.buf.len();
        self.buf.push(if same { FLAG_SAME } else { 0 });
        put_varint(&mut self.buf, id.ms.wrapping_sub(master.ms));
        put_varint(&mut self.buf, id.seq);
        if !same {
            put_varint(&mut self.buf, n as u64);
        }
        for (i, p) in pairs.iter().enumerate() {
            if !same || i % 2 == 1 {
                let p = p.as_ref();
                put_varint(&mut self.buf, p.len() as u64);
                self.buf.extend_from_slice(p);
            }
        }
        self.last = id;
        self.live += 1;
    }

    /// The entry at `off` and the offset of the next one.
    fn view_at(&self, off: usize) -> Option<(EntryView<'_>, usize)> {
        let flags = *self.buf.get(off)?;
        let mut pos = off + 1;
        let ms = self.master.ms.wrapping_add(get_varint(&self.buf, &mut pos));
        let seq = get_varint(&self.buf, &mut pos);
        let same = flags & FLAG_SAME != 0;
        let pairs = if same {
            self.master_fields.len()
        } else {
            get_varint(&self.buf, &mut pos) as usize
        };
        let start = pos.min(self.buf.len());
        let items = if same { pairs } else { pairs * 2 };
        for _ in 0..items {
            let n = get_varint(&self.buf, &mut pos) as usize;
            pos = pos.saturating_add(n).min(self.buf.len());
        }
        let view = EntryView {
            id: StreamId::new(ms, seq),
            deleted: flags & FLAG_DELETED != 0,
            off,
            same,
            pairs,
            data: &self.buf[start..pos.max(start)],
            fields: &self.master_fields,
        };
        Some((view, pos))
    }

    /// Every entry, tombstones included, in order.
    fn entries(&self) -> impl DoubleEndedIterator<Item = EntryView<'_>> + '_ {
        let mut all = Vec::new();
        let mut off = 0;
        while let Some((v, next)) = self.view_at(off) {
            all.push(v);
            if next <= off {
                break;
            }
            off = next;
        }
        all.into_iter()
    }

    /// Marks the entry at `off` deleted.
    fn mark_deleted(&mut self, off: usize) {
        if let Some(f) = self.buf.get_mut(off) {
            *f |= FLAG_DELETED;
        }
    }

    /// The last entry's ID, deleted or not (Redis's `lpGetEdgeStreamID`).
    fn last_id(&self) -> StreamId {
        self.last
    }

    /// Live entries.
    pub fn live(&self) -> u64 {
        self.live
    }

    fn heap_size(&self) -> usize {
        self.buf.capacity()
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
    pub pel: BTreeSet<StreamId>,
}

/// `entries_read` when unknown (Redis's `SCG_INVALID_ENTRIES_READ`).
pub const INVALID_ENTRIES_READ: i64 = -1;

/// A consumer group (Redis's `streamCG`).
#[derive(Clone, Debug)]
pub struct Group {
    /// Last delivered ID.
    pub last_id: StreamId,
    /// Entries read, or [`INVALID_ENTRIES_READ`].
    pub entries_read: i64,
    /// Pending entries of all consumers.
    pub pel: BTreeMap<StreamId, Nack>,
    /// Consumers, by name.
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

impl Group {
    /// A group at `last_id`.
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Creates consumer `name` seen at `now`; false if it exists.
    pub fn create_consumer(&mut self, name: &[u8], now: i64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            name.to_vec(),
            Consumer {
                seen_time: now,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Deletes consumer `name` and its pending entries; returns how many
    /// it had, or None if it did not exist.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Acknowledges `id`; true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(n) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&n.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// Makes `id` pending for `consumer` (which must exist), delivered at
    /// `now` once: a new pending entry, or one taken from its owner
    /// (Redis's XREADGROUP delivery).
    fn deliver(&mut self, id: StreamId, consumer: &[u8], now: i64) -> Nack {
        if let Some(old) = self.pel.get(&id).map(|n| n.consumer.clone())
            && let Some(c) = self.consumers.get_mut(&old)
        {
            c.pel.remove(&id);
        }
        let nack = Nack {
            delivery_time: now,
            delivery_count: 1,
            consumer: consumer.to_vec(),
        };
        self.pel.insert(id, nack.clone());
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
        nack
    }
}

/// What XCLAIM / XAUTOCLAIM did with one pending ID.
#[derive(Debug)]
pub enum Claim {
    /// Now owned by the claiming consumer: the entry (None with JUSTID)
    /// and its pending entry.
    Taken(StreamId, Option<Entry>, Nack),
    /// The entry was deleted: its pending entry (as it was) is dropped.
    Dropped(StreamId, Nack),
}

/// XCLAIM's options.
#[derive(Clone, Copy, Debug)]
pub struct ClaimOpts {
    /// Only entries idle this long (ms; 0: any).
    pub min_idle: i64,
    /// New delivery time (Unix ms).
    pub delivery_time: i64,
    /// New delivery count (None: add one unless `justid`).
    pub retry_count: Option<u64>,
    /// Create missing pending entries for existing entries.
    pub force: bool,
    /// Reply with IDs only, and leave the delivery count.
    pub justid: bool,
    /// The command's time.
    pub now: i64,
}

/// One entry delivered to a consumer by XREADGROUP `>`, and the pending
/// entry it created (None with NOACK), for the write-effect stream.
#[derive(Debug)]
pub struct Delivery {
    /// The entry.
    pub entry: Entry,
    /// Its pending entry.
    pub nack: Option<Nack>,
    /// The group's last ID after delivering it.
    pub last_id: StreamId,
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

/// Live entries of `nodes` from `start` to `end` inclusive.
fn range_in(
    nodes: &BTreeMap<StreamId, Node>,
    start: StreamId,
    end: StreamId,
    rev: bool,
) -> Box<dyn Iterator<Item = EntryView<'_>> + '_> {
    if start > end {
        return Box::new(std::iter::empty());
    }
    let from = nodes
        .range(..=start)
        .next_back()
        .map_or(StreamId::MIN, |(k, _)| *k);
    let nodes = nodes.range(from..=end).map(|(_, n)| n);
    let keep = move |e: &EntryView<'_>| !e.deleted && e.id >= start && e.id <= end;
    if rev {
        Box::new(nodes.rev().flat_map(|n| n.entries().rev()).filter(keep))
    } else {
        Box::new(nodes.flat_map(|n| n.entries()).filter(keep))
    }
}

/// The counters Redis's lag and entries-read estimates read.
#[derive(Clone, Copy)]
struct Counters {
    length: u64,
    last_id: StreamId,
    first_id: StreamId,
    max_deleted: StreamId,
    entries_added: u64,
}

impl Counters {
    /// Redis's `streamRangeHasTombstones` from `start` to the end.
    fn tombstones_from(&self, start: StreamId) -> bool {
        if self.length == 0 || self.max_deleted.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted {
            return false;
        }
        start <= self.max_deleted
    }

    /// Redis's `streamEstimateDistanceFromFirstEverEntry`.
    fn distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return self.entries_added as i64,
            std::cmp::Ordering::Greater => return INVALID_ENTRIES_READ,
            std::cmp::Ordering::Less => {}
        }
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            if id < self.first_id {
                return (self.entries_added - self.length) as i64;
            } else if id == self.first_id {
                return (self.entries_added - self.length + 1) as i64;
            }
        }
        INVALID_ENTRIES_READ
    }
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

    /// Nodes of the radix tree Redis would hold for this stream's blocks
    /// (XINFO STREAM `radix-tree-nodes`): the root, every branching prefix
    /// of the 16-byte big-endian block keys, every child of one, and a
    /// node for each key; a single key hangs from the root.
    pub fn radix_tree_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self
            .nodes
            .keys()
            .map(|id| {
                let mut k = [0u8; 16];
                k[..8].copy_from_slice(&id.ms.to_be_bytes());
                k[8..].copy_from_slice(&id.seq.to_be_bytes());
                k
            })
            .collect();
        match keys.len() {
            0 => return 1,
            1 => return 2,
            _ => {}
        }
        let mut nodes: std::collections::HashSet<Vec<u8>> =
            keys.iter().map(|k| k.to_vec()).collect();
        nodes.insert(Vec::new());
        for w in keys.windows(2) {
            let lcp = w[0].iter().zip(&w[1]).take_while(|(a, b)| a == b).count();
            nodes.insert(w[0][..lcp].to_vec());
            nodes.insert(w[0][..=lcp].to_vec());
            nodes.insert(w[1][..=lcp].to_vec());
        }
        nodes.len()
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
    ) -> Box<dyn Iterator<Item = EntryView<'_>> + '_> {
        range_in(&self.nodes, start, end, rev)
    }

    /// The live entry `id`, if any.
    pub fn get(&self, id: StreamId) -> Option<EntryView<'_>> {
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
        self.nodes.keys().next().copied().unwrap_or(StreamId::MAX)
    }

    /// Deletes the live entry `id` (Redis's `streamDeleteItem`). True if
    /// it existed. Updates neither `first_id` nor `max_deleted_entry_id`
    /// (see [`Stream::delete_ids`]).
    fn delete_one(&mut self, id: StreamId) -> bool {
        let Some((&master, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let Some(off) = node
            .entries()
            .find(|e| e.id == id && !e.deleted)
            .map(|e| e.off)
        else {
            return false;
        };
        if node.live == 1 {
            self.nodes.remove(&master);
        } else {
            node.mark_deleted(off);
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
            let mut marks = Vec::new();
            for e in node.entries() {
                let stop = match t.by {
                    TrimBy::MaxLen(max) => self.length <= max,
                    TrimBy::MinId(min) => e.id >= min,
                };
                if stop {
                    break;
                }
                if !e.deleted {
                    marks.push(e.off);
                    from_node += 1;
                    self.length -= 1;
                }
            }
            for off in marks {
                node.mark_deleted(off);
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

    fn counters(&self) -> Counters {
        Counters {
            length: self.length,
            last_id: self.last_id,
            first_id: self.first_id,
            max_deleted: self.max_deleted_entry_id,
            entries_added: self.entries_added,
        }
    }

    /// Redis's `streamEstimateDistanceFromFirstEverEntry`.
    pub fn distance(&self, id: StreamId) -> i64 {
        self.counters().distance(id)
    }

    /// A group's lag (XINFO GROUPS), or None when it cannot be known
    /// (Redis's `streamReplyWithCGLag`).
    pub fn lag(&self, g: &Group) -> Option<i64> {
        let c = self.counters();
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != INVALID_ENTRIES_READ && !c.tombstones_from(g.last_id) {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let read = c.distance(g.last_id);
        (read != INVALID_ENTRIES_READ).then(|| self.entries_added as i64 - read)
    }

    /// XREADGROUP `>`: delivers to `consumer` of `group` (both must
    /// exist) the entries from `start`, at most `count` (0: all), moving
    /// the group's last ID and read counter (Redis's
    /// `streamReplyWithRange` with a group).
    pub fn deliver(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        start: StreamId,
        count: usize,
        noack: bool,
        now: i64,
    ) -> Vec<Delivery> {
        let c = self.counters();
        let Stream { nodes, groups, .. } = self;
        let Some(g) = groups.get_mut(group) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in range_in(nodes, start, StreamId::MAX, false) {
            if e.id > g.last_id {
                if g.entries_read != INVALID_ENTRIES_READ && !c.tombstones_from(e.id) {
                    g.entries_read += 1;
                } else if c.entries_added != 0 {
                    g.entries_read = c.distance(e.id);
                }
                g.last_id = e.id;
            }
            let nack = (!noack).then(|| g.deliver(e.id, consumer, now));
            out.push(Delivery {
                entry: e.to_entry(),
                nack,
                last_id: g.last_id,
            });
            if count > 0 && out.len() == count {
                break;
            }
        }
        out
    }

    /// XREADGROUP with an ID: the consumer's pending entries from
    /// `start`, at most `count` (0: all), each with its entry (None when
    /// deleted); the ones found count as delivered again at `now`.
    pub fn history(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        start: StreamId,
        count: usize,
        now: i64,
    ) -> Vec<(StreamId, Option<Entry>)> {
        let Stream { nodes, groups, .. } = self;
        let Some(g) = groups.get_mut(group) else {
            return Vec::new();
        };
        let Some(cons) = g.consumers.get(consumer) else {
            return Vec::new();
        };
        let ids: Vec<StreamId> = cons
            .pel
            .range(start..)
            .take(if count > 0 { count } else { usize::MAX })
            .copied()
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let e = range_in(nodes, id, id, false).next().map(|e| e.to_entry());
            if e.is_some()
                && let Some(n) = g.pel.get_mut(&id)
            {
                n.delivery_time = now;
                n.delivery_count += 1;
            }
            out.push((id, e));
        }
        out
    }

    /// Gives pending entry `id` (in `g`, for an entry that exists) to
    /// `consumer`, creating the consumer if needed; true if it created it.
    fn take_over(g: &mut Group, id: StreamId, consumer: &[u8], o: &ClaimOpts) -> (bool, Nack) {
        let created = match g.consumers.get_mut(consumer) {
            Some(c) => {
                c.seen_time = o.now;
                false
            }
            None => g.create_consumer(consumer, o.now),
        };
        let old = g.pel.get(&id).map(|n| n.consumer.clone());
        if let Some(old) = &old
            && old.as_slice() != consumer
            && let Some(c) = g.consumers.get_mut(old)
        {
            c.pel.remove(&id);
        }
        if let Some(c) = g.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
        let n = g.pel.entry(id).or_insert_with(|| Nack {
            delivery_time: o.now,
            delivery_count: 1,
            consumer: Vec::new(),
        });
        n.delivery_time = o.delivery_time;
        if let Some(rc) = o.retry_count {
            n.delivery_count = rc;
        } else if !o.justid {
            n.delivery_count += 1;
        }
        n.consumer = consumer.to_vec();
        (created, n.clone())
    }

    /// Drops the pending entry `id` of `g`; returns it.
    fn drop_pending(g: &mut Group, id: StreamId) -> Option<Nack> {
        let n = g.pel.remove(&id)?;
        if let Some(c) = g.consumers.get_mut(&n.consumer) {
            c.pel.remove(&id);
        }
        Some(n)
    }

    /// XCLAIM (Redis's `xclaimCommand` after parsing): one result per ID
    /// acted on, in order, with the index of its ID in `ids`; and whether
    /// the consumer was created.
    pub fn claim(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        ids: &[StreamId],
        o: &ClaimOpts,
    ) -> (Vec<(usize, Claim)>, bool) {
        let Stream { nodes, groups, .. } = self;
        let Some(g) = groups.get_mut(group) else {
            return (Vec::new(), false);
        };
        let mut out = Vec::new();
        let mut created = false;
        for (i, &id) in ids.iter().enumerate() {
            let entry = range_in(nodes, id, id, false).next();
            let Some(entry) = entry else {
                if let Some(n) = Stream::drop_pending(g, id) {
                    out.push((i, Claim::Dropped(id, n)));
                }
                continue;
            };
            let pending = g.pel.get(&id);
            if pending.is_none() && !o.force {
                continue;
            }
            if let Some(n) = pending
                && o.min_idle != 0
                && o.now - n.delivery_time < o.min_idle
            {
                continue;
            }
            let (c, nack) = Stream::take_over(g, id, consumer, o);
            created |= c;
            let e = (!o.justid).then(|| entry.to_entry());
            out.push((i, Claim::Taken(id, e, nack)));
        }
        (out, created)
    }

    /// XAUTOCLAIM: claims pending entries from `start` idle at least
    /// `o.min_idle`, at most `count`, looking at no more than `count * 10`
    /// (Redis's `xautoclaimCommand`). Returns the results, the cursor for
    /// the next call (0-0 at the end), and whether the consumer was created.
    pub fn autoclaim(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        start: StreamId,
        mut count: u64,
        o: &ClaimOpts,
    ) -> (Vec<Claim>, StreamId, bool) {
        let Stream { nodes, groups, .. } = self;
        let Some(g) = groups.get_mut(group) else {
            return (Vec::new(), StreamId::MIN, false);
        };
        let mut attempts = count.saturating_mul(10);
        let mut out = Vec::new();
        let mut created = false;
        let mut from = Some(start);
        let mut exhausted = false;
        loop {
            if attempts == 0 {
                break;
            }
            attempts -= 1;
            if count == 0 {
                break;
            }
            let Some(id) = from.and_then(|f| g.pel.range(f..).next().map(|(k, _)| *k)) else {
                exhausted = true;
                break;
            };
            from = id.incr();
            if range_in(nodes, id, id, false).next().is_none() {
                if let Some(n) = Stream::drop_pending(g, id) {
                    out.push(Claim::Dropped(id, n));
                }
                count -= 1;
                continue;
            }
            if o.min_idle != 0
                && g.pel
                    .get(&id)
                    .is_some_and(|n| o.now - n.delivery_time < o.min_idle)
            {
                continue;
            }
            let (c, nack) = Stream::take_over(g, id, consumer, o);
            created |= c;
            let e = if o.justid {
                None
            } else {
                range_in(nodes, id, id, false).next().map(|e| e.to_entry())
            };
            out.push(Claim::Taken(id, e, nack));
            count -= 1;
        }
        let cursor = if exhausted {
            StreamId::MIN
        } else {
            from.and_then(|f| g.pel.range(f..).next().map(|(k, _)| *k))
                .unwrap_or(StreamId::MIN)
        };
        (out, cursor, created)
    }

    /// The blocks, entries in order, tombstones included (snapshots keep
    /// the layout so approximate trims behave the same after a load).
    pub fn blocks(&self) -> impl Iterator<Item = impl Iterator<Item = EntryView<'_>>> {
        self.nodes.values().map(|n| n.entries())
    }

    /// Rebuilds a stream from its blocks (each `(id, deleted, items)`),
    /// counters and groups, as a snapshot holds them. Blocks, entries and
    /// pending entries are taken as given when consistent; an empty block
    /// or one with no live entry is dropped, entries out of order are
    /// skipped, and pending entries of unknown consumers are left out.
    pub fn restore<'a>(
        blocks: impl IntoIterator<Item = Vec<(StreamId, bool, Vec<&'a [u8]>)>>,
        last_id: StreamId,
        max_deleted_entry_id: StreamId,
        entries_added: u64,
        groups: BTreeMap<Vec<u8>, Group>,
    ) -> Stream {
        let mut s = Stream {
            last_id,
            max_deleted_entry_id,
            entries_added,
            ..Stream::default()
        };
        let mut prev: Option<StreamId> = None;
        for block in blocks {
            let mut node: Option<(StreamId, Node)> = None;
            for (id, deleted, items) in block {
                if prev.is_some_and(|p| p >= id) || items.len() < 2 || items.len() % 2 != 0 {
                    continue;
                }
                prev = Some(id);
                match &mut node {
                    None => node = Some((id, Node::new(id, &items))),
                    Some((master, n)) => n.push(*master, id, &items),
                }
                if deleted && let Some((_, n)) = &mut node {
                    let off = n.last_off;
                    n.mark_deleted(off);
                    n.live -= 1;
                    n.deleted += 1;
                }
            }
            if let Some((master, n)) = node
                && n.live > 0
            {
                s.length += n.live;
                s.nodes.insert(master, n);
            }
        }
        s.first_id = s.edge(true).unwrap_or(StreamId::MIN);
        if s.last_id < prev.unwrap_or(StreamId::MIN) {
            s.last_id = prev.unwrap_or(StreamId::MIN);
        }
        s.entries_added = s.entries_added.max(s.length);
        let mut groups = groups;
        for g in groups.values_mut() {
            for c in g.consumers.values_mut() {
                c.pel.clear();
            }
            let Group { pel, consumers, .. } = g;
            pel.retain(|id, n| match consumers.get_mut(&n.consumer) {
                Some(c) => {
                    c.pel.insert(*id);
                    true
                }
                None => false,
            });
        }
        s.groups = groups;
        s
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
            let entries: Vec<EntryView<'_>> = n.entries().collect();
            if entries.first().map(|e| e.id) != Some(*k) {
                return Err(format!("node {k} does not start with its master ID"));
            }
            let l = entries.iter().filter(|e| !e.deleted).count() as u64;
            if l != n.live || l == 0 || entries.len() as u64 != n.live + n.deleted {
                return Err(format!("node {k} counts are wrong"));
            }
            for e in &entries {
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
