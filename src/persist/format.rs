//! The snapshot file format (see `docs/snapshot-format.md`): pure encoding
//! and decoding over byte slices, shared by the server, the loader and the
//! `forkv-snapshot` tool, and fuzzable.
//!
//! Nothing here trusts a length before checking it against the bytes that
//! are actually there, and no allocation is sized by an unchecked count.

use std::fmt;

/// File magic.
pub const MAGIC: &[u8; 8] = b"FORKVSNP";
/// Block magic.
pub const BLOCK_MAGIC: &[u8; 4] = b"FBLK";
/// Footer magic.
pub const FOOTER_MAGIC: &[u8; 4] = b"FEND";
/// Current format version.
pub const VERSION: u32 = 2;
/// Blocks are closed once their payload reaches this size.
pub const BLOCK_TARGET: usize = 64 * 1024;
/// Fixed part of a block header: magic, index u64, len u32, count u32, crc u32.
pub const BLOCK_HEADER_LEN: usize = 4 + 8 + 4 + 4 + 4;
/// Largest block payload a reader accepts (a single huge value may exceed
/// the target; 4 GiB - 1 is the field's range).
pub const MAX_BLOCK_PAYLOAD: usize = u32::MAX as usize;

/// Value type tags.
pub mod tag {
    /// Binary-safe string.
    pub const STRING: u8 = 0;
    /// List of strings.
    pub const LIST: u8 = 1;
    /// Set of strings.
    pub const SET: u8 = 2;
    /// Hash of field -> value.
    pub const HASH: u8 = 3;
    /// Sorted set of (member, score).
    pub const ZSET: u8 = 4;
    /// Stream with its blocks, consumer groups and pending entries
    /// (format version 2).
    pub const STREAM: u8 = 5;
}

/// Record flag: an expiry deadline follows.
const FLAG_EXPIRE: u8 = 1;

/// A decoded value, borrowing from the file.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueRef<'a> {
    /// A string.
    Str(&'a [u8]),
    /// A list, head first.
    List(Vec<&'a [u8]>),
    /// A set.
    Set(Vec<&'a [u8]>),
    /// A hash.
    Hash(Vec<(&'a [u8], &'a [u8])>),
    /// A sorted set.
    ZSet(Vec<(&'a [u8], f64)>),
    /// A stream.
    Stream(Box<StreamRef<'a>>),
}

/// A stream ID as stored: (ms, seq).
pub type IdRef = (u64, u64);

/// A decoded stream: its blocks as the server laid them out (deleted
/// entries included, so approximate trims behave the same after a load),
/// its counters, and its consumer groups.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamRef<'a> {
    /// Last ID generated.
    pub last_id: IdRef,
    /// First live entry's ID.
    pub first_id: IdRef,
    /// Largest ID deleted by XDEL.
    pub max_deleted_id: IdRef,
    /// Entries ever added.
    pub entries_added: u64,
    /// Blocks, each a run of entries in ID order.
    pub blocks: Vec<Vec<EntryRef<'a>>>,
    /// Consumer groups.
    pub groups: Vec<GroupRef<'a>>,
}

/// One stream entry.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryRef<'a> {
    /// Its ID.
    pub id: IdRef,
    /// A tombstone (deleted, kept in its block).
    pub deleted: bool,
    /// Fields and values, alternating.
    pub items: Vec<&'a [u8]>,
}

/// One consumer group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRef<'a> {
    /// Its name.
    pub name: &'a [u8],
    /// Last delivered ID.
    pub last_id: IdRef,
    /// Entries read, -1 when unknown.
    pub entries_read: i64,
    /// Pending entries: ID, delivery time (Unix ms), delivery count, consumer.
    pub pending: Vec<(IdRef, i64, u64, &'a [u8])>,
    /// Consumers: name and seen time (Unix ms).
    pub consumers: Vec<(&'a [u8], i64)>,
}

impl StreamRef<'_> {
    /// Live entries.
    pub fn live(&self) -> impl Iterator<Item = &EntryRef<'_>> {
        self.blocks.iter().flatten().filter(|e| !e.deleted)
    }
}

impl ValueRef<'_> {
    /// The type tag.
    pub fn tag(&self) -> u8 {
        match self {
            ValueRef::Str(_) => tag::STRING,
            ValueRef::List(_) => tag::LIST,
            ValueRef::Set(_) => tag::SET,
            ValueRef::Hash(_) => tag::HASH,
            ValueRef::ZSet(_) => tag::ZSET,
            ValueRef::Stream(_) => tag::STREAM,
        }
    }

    /// Bytes of payload (for statistics).
    pub fn size(&self) -> usize {
        match self {
            ValueRef::Str(s) => s.len(),
            ValueRef::List(v) | ValueRef::Set(v) => v.iter().map(|s| s.len()).sum(),
            ValueRef::Hash(v) => v.iter().map(|(a, b)| a.len() + b.len()).sum(),
            ValueRef::ZSet(v) => v.iter().map(|(a, _)| a.len() + 8).sum(),
            ValueRef::Stream(st) => st
                .blocks
                .iter()
                .flatten()
                .map(|e| 16 + e.items.iter().map(|i| i.len()).sum::<usize>())
                .sum(),
        }
    }
}

/// The name of a type tag, as TYPE reports it.
pub fn type_name(t: u8) -> &'static str {
    match t {
        tag::STRING => "string",
        tag::LIST => "list",
        tag::SET => "set",
        tag::HASH => "hash",
        tag::ZSET => "zset",
        tag::STREAM => "stream",
        _ => "unknown",
    }
}

/// One key as stored in a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    /// Database number.
    pub db: u32,
    /// Absolute deadline in Unix ms.
    pub expire: Option<i64>,
    /// The key.
    pub key: &'a [u8],
    /// The value.
    pub value: ValueRef<'a>,
}

/// The file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub version: u32,
    /// Creation time, Unix ms.
    pub created_ms: i64,
    /// Version string of the server that wrote the file.
    pub server_version: String,
    /// Bytes the header occupies.
    pub len: usize,
}

/// Per-database counts in the footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DbCount {
    /// Database number.
    pub db: u32,
    /// Keys in it.
    pub keys: u64,
    /// Keys with a deadline.
    pub expires: u64,
}

/// The file footer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Footer {
    /// Number of blocks.
    pub blocks: u64,
    /// Keys in all databases.
    pub keys: u64,
    /// Counts per non-empty database.
    pub dbs: Vec<DbCount>,
    /// CRC32 of every byte before the checksum field.
    pub file_crc: u32,
}

/// What is wrong with a file, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// Byte offset of the problem.
    pub offset: u64,
    /// Block number, when inside a block.
    pub block: Option<u64>,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// Kinds of format errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not a snapshot file.
    BadMagic,
    /// Written by a newer forkv.
    NewerVersion(u32),
    /// The file ends early.
    Truncated,
    /// A checksum does not match.
    Checksum {
        /// Stored value.
        stored: u32,
        /// Computed value.
        computed: u32,
    },
    /// A value type this version does not know.
    UnknownType(u8),
    /// Anything else malformed (named).
    Malformed(&'static str),
    /// Footer counts disagree with the blocks.
    CountMismatch(&'static str),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::BadMagic => write!(f, "not a forkv snapshot (bad magic)")?,
            ErrorKind::NewerVersion(v) => write!(
                f,
                "snapshot format version {v} is newer than this forkv supports (version {VERSION}); upgrade forkv to read it"
            )?,
            ErrorKind::Truncated => write!(f, "file is truncated")?,
            ErrorKind::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:08x}, computed {computed:08x})"
            )?,
            ErrorKind::UnknownType(t) => write!(f, "unknown value type tag {t}")?,
            ErrorKind::Malformed(what) => write!(f, "malformed {what}")?,
            ErrorKind::CountMismatch(what) => write!(f, "footer {what} does not match the blocks")?,
        }
        write!(f, " at byte offset {}", self.offset)?;
        if let Some(b) = self.block {
            write!(f, " (block {b})")?;
        }
        Ok(())
    }
}

impl std::error::Error for FormatError {}

// ---------------------------------------------------------------- encoding

/// Appends a LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Encodes the file header.
pub fn encode_header(created_ms: i64, server_version: &str) -> Vec<u8> {
    // At most 255 bytes, cut on a character boundary.
    let mut cut = server_version.len().min(255);
    while !server_version.is_char_boundary(cut) {
        cut -= 1;
    }
    let v = &server_version.as_bytes()[..cut];
    let mut out = Vec::with_capacity(32 + v.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    let len = (8 + 4 + 4 + 8 + 1 + v.len() + 4) as u32;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&created_ms.to_le_bytes());
    out.push(v.len() as u8);
    out.extend_from_slice(v);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Appends one record to a block payload.
pub fn encode_record(out: &mut Vec<u8>, rec: &Record<'_>) {
    put_varint(out, rec.db as u64);
    out.push(rec.value.tag());
    match rec.expire {
        Some(t) => {
            out.push(FLAG_EXPIRE);
            out.extend_from_slice(&t.to_le_bytes());
        }
        None => out.push(0),
    }
    put_bytes(out, rec.key);
    match &rec.value {
        ValueRef::Str(s) => put_bytes(out, s),
        ValueRef::List(v) | ValueRef::Set(v) => {
            put_varint(out, v.len() as u64);
            for s in v {
                put_bytes(out, s);
            }
        }
        ValueRef::Hash(v) => {
            put_varint(out, v.len() as u64);
            for (f, val) in v {
                put_bytes(out, f);
                put_bytes(out, val);
            }
        }
        ValueRef::ZSet(v) => {
            put_varint(out, v.len() as u64);
            for (m, score) in v {
                put_bytes(out, m);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
        ValueRef::Stream(st) => encode_stream(out, st),
    }
}

fn put_id(out: &mut Vec<u8>, id: IdRef) {
    put_varint(out, id.0);
    put_varint(out, id.1);
}

/// The body of a stream record (see the format document).
fn encode_stream(out: &mut Vec<u8>, st: &StreamRef<'_>) {
    put_id(out, st.last_id);
    put_id(out, st.first_id);
    put_id(out, st.max_deleted_id);
    put_varint(out, st.entries_added);
    put_varint(out, st.blocks.len() as u64);
    for b in &st.blocks {
        put_varint(out, b.len() as u64);
        for e in b {
            out.push(e.deleted as u8);
            put_id(out, e.id);
            put_varint(out, e.items.len() as u64);
            for i in &e.items {
                put_bytes(out, i);
            }
        }
    }
    put_varint(out, st.groups.len() as u64);
    for g in &st.groups {
        put_bytes(out, g.name);
        put_id(out, g.last_id);
        out.extend_from_slice(&g.entries_read.to_le_bytes());
        put_varint(out, g.consumers.len() as u64);
        for (name, seen) in &g.consumers {
            put_bytes(out, name);
            out.extend_from_slice(&seen.to_le_bytes());
        }
        put_varint(out, g.pending.len() as u64);
        for (id, time, count, consumer) in &g.pending {
            put_id(out, *id);
            out.extend_from_slice(&time.to_le_bytes());
            put_varint(out, *count);
            put_bytes(out, consumer);
        }
    }
}

/// Frames a block payload: header with index, length, count and CRC.
pub fn encode_block_header(index: u64, payload: &[u8], count: u32) -> [u8; BLOCK_HEADER_LEN] {
    let mut h = [0u8; BLOCK_HEADER_LEN];
    h[0..4].copy_from_slice(BLOCK_MAGIC);
    h[4..12].copy_from_slice(&index.to_le_bytes());
    h[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[16..20].copy_from_slice(&count.to_le_bytes());
    let crc = block_crc(&h[4..20], payload);
    h[20..24].copy_from_slice(&crc.to_le_bytes());
    h
}

fn block_crc(fields: &[u8], payload: &[u8]) -> u32 {
    let mut c = crc32fast::Hasher::new();
    c.update(fields);
    c.update(payload);
    c.finalize()
}

/// Encodes the footer except its final checksum field.
pub fn encode_footer_body(blocks: u64, dbs: &[DbCount]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + dbs.len() * 20);
    out.extend_from_slice(FOOTER_MAGIC);
    out.extend_from_slice(&blocks.to_le_bytes());
    let keys: u64 = dbs.iter().map(|d| d.keys).sum();
    out.extend_from_slice(&keys.to_le_bytes());
    put_varint(&mut out, dbs.len() as u64);
    for d in dbs {
        put_varint(&mut out, d.db as u64);
        out.extend_from_slice(&d.keys.to_le_bytes());
        out.extend_from_slice(&d.expires.to_le_bytes());
    }
    out
}

/// Streams a snapshot into a sink: header, records grouped into blocks,
/// footer, with a running whole-file checksum.
pub struct Writer<W: std::io::Write> {
    sink: W,
    file_crc: crc32fast::Hasher,
    payload: Vec<u8>,
    count: u32,
    blocks: u64,
    dbs: Vec<DbCount>,
    /// Bytes written so far.
    pub written: u64,
}

impl<W: std::io::Write> Writer<W> {
    /// Starts a snapshot, writing the header.
    pub fn new(mut sink: W, created_ms: i64, server_version: &str) -> std::io::Result<Self> {
        let header = encode_header(created_ms, server_version);
        sink.write_all(&header)?;
        let mut file_crc = crc32fast::Hasher::new();
        file_crc.update(&header);
        Ok(Writer {
            sink,
            file_crc,
            payload: Vec::with_capacity(BLOCK_TARGET + 1024),
            count: 0,
            blocks: 0,
            dbs: Vec::new(),
            written: header.len() as u64,
        })
    }

    /// Adds one record.
    pub fn record(&mut self, rec: &Record<'_>) -> std::io::Result<()> {
        encode_record(&mut self.payload, rec);
        self.count += 1;
        match self.dbs.iter_mut().find(|d| d.db == rec.db) {
            Some(d) => {
                d.keys += 1;
                d.expires += rec.expire.is_some() as u64;
            }
            None => self.dbs.push(DbCount {
                db: rec.db,
                keys: 1,
                expires: rec.expire.is_some() as u64,
            }),
        }
        if self.payload.len() >= BLOCK_TARGET || self.count == u32::MAX {
            self.flush_block()?;
        }
        Ok(())
    }

    fn emit(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.sink.write_all(b)?;
        self.file_crc.update(b);
        self.written += b.len() as u64;
        Ok(())
    }

    fn flush_block(&mut self) -> std::io::Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        let payload = std::mem::take(&mut self.payload);
        let h = encode_block_header(self.blocks, &payload, self.count);
        self.emit(&h)?;
        self.emit(&payload)?;
        self.blocks += 1;
        self.count = 0;
        self.payload = payload;
        self.payload.clear();
        Ok(())
    }

    /// Writes the last block and the footer; returns the sink.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.flush_block()?;
        self.dbs.sort_by_key(|d| d.db);
        let body = encode_footer_body(self.blocks, &self.dbs);
        self.emit(&body)?;
        let crc = self.file_crc.clone().finalize();
        self.sink.write_all(&crc.to_le_bytes())?;
        self.written += 4;
        Ok(self.sink)
    }

    /// Keys written so far.
    pub fn keys(&self) -> u64 {
        self.dbs.iter().map(|d| d.keys).sum()
    }
}

// ---------------------------------------------------------------- decoding

/// A cursor over a byte slice that reports offsets relative to the file.
struct Cur<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
    block: Option<u64>,
}

impl<'a> Cur<'a> {
    fn err(&self, kind: ErrorKind) -> FormatError {
        FormatError {
            offset: self.base + self.pos as u64,
            block: self.block,
            kind,
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if self.buf.len() - self.pos < n {
            return Err(self.err(ErrorKind::Truncated));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, FormatError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, FormatError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn varint(&mut self) -> Result<u64, FormatError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.u8()?;
            if i == 9 && b > 1 {
                return Err(self.err(ErrorKind::Malformed("varint")));
            }
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err(ErrorKind::Malformed("varint")))
    }
    fn bytes(&mut self) -> Result<&'a [u8], FormatError> {
        let n = self.varint()?;
        if n > (self.buf.len() - self.pos) as u64 {
            return Err(self.err(ErrorKind::Truncated));
        }
        self.take(n as usize)
    }
    /// A count of items each at least `min` bytes long, checked against
    /// the bytes left so it can size an allocation.
    fn count(&mut self, min: usize) -> Result<usize, FormatError> {
        let n = self.varint()?;
        if n > ((self.buf.len() - self.pos) / min.max(1)) as u64 {
            return Err(self.err(ErrorKind::Malformed("element count")));
        }
        Ok(n as usize)
    }
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
}

fn id_of(c: &mut Cur<'_>) -> Result<IdRef, FormatError> {
    Ok((c.varint()?, c.varint()?))
}

fn bad<T>(c: &Cur<'_>, what: &'static str) -> Result<T, FormatError> {
    Err(c.err(ErrorKind::Malformed(what)))
}

/// The body of a stream record, checked: IDs ascending across blocks,
/// every block non-empty with a live entry, field/value pairs complete,
/// the live count within the entries added, consumers unique and
/// ascending, pending entries ascending and owned by a listed consumer.
fn decode_stream<'a>(c: &mut Cur<'a>) -> Result<StreamRef<'a>, FormatError> {
    let mut st = StreamRef {
        last_id: id_of(c)?,
        first_id: id_of(c)?,
        max_deleted_id: id_of(c)?,
        entries_added: c.varint()?,
        ..StreamRef::default()
    };
    let nblocks = c.count(4)?;
    let mut prev: Option<IdRef> = None;
    let mut live = 0u64;
    for _ in 0..nblocks {
        let n = c.count(4)?;
        if n == 0 {
            return bad(c, "stream block (empty)");
        }
        let mut block = Vec::with_capacity(n);
        for _ in 0..n {
            let flags = c.u8()?;
            if flags > 1 {
                return bad(c, "stream entry flags");
            }
            let id = id_of(c)?;
            if prev.is_some_and(|p| p >= id) || id > st.last_id {
                return bad(c, "stream entry ID (out of order)");
            }
            prev = Some(id);
            let k = c.count(1)?;
            if k < 2 || k % 2 != 0 {
                return bad(c, "stream entry (incomplete field/value pairs)");
            }
            let mut items = Vec::with_capacity(k);
            for _ in 0..k {
                items.push(c.bytes()?);
            }
            let deleted = flags == 1;
            live += !deleted as u64;
            block.push(EntryRef { id, deleted, items });
        }
        if block.iter().all(|e| e.deleted) {
            return bad(c, "stream block (no live entry)");
        }
        st.blocks.push(block);
    }
    if live > st.entries_added {
        return bad(c, "stream counters (more entries than ever added)");
    }
    let ngroups = c.count(2)?;
    for _ in 0..ngroups {
        let name = c.bytes()?;
        if st
            .groups
            .last()
            .is_some_and(|g: &GroupRef<'_>| g.name >= name)
        {
            return bad(c, "stream groups (not in order)");
        }
        let last_id = id_of(c)?;
        let entries_read = c.u64()? as i64;
        if entries_read < -1 {
            return bad(c, "stream group read counter");
        }
        let nc = c.count(9)?;
        let mut consumers: Vec<(&[u8], i64)> = Vec::with_capacity(nc);
        for _ in 0..nc {
            let cname = c.bytes()?;
            if consumers.last().is_some_and(|(p, _)| *p >= cname) {
                return bad(c, "stream consumers (not in order)");
            }
            consumers.push((cname, c.u64()? as i64));
        }
        let np = c.count(12)?;
        let mut pending: Vec<(IdRef, i64, u64, &[u8])> = Vec::with_capacity(np);
        for _ in 0..np {
            let id = id_of(c)?;
            if pending.last().is_some_and(|p| p.0 >= id) {
                return bad(c, "stream pending entries (not in order)");
            }
            let time = c.u64()? as i64;
            let count = c.varint()?;
            let owner = c.bytes()?;
            if consumers
                .binary_search_by(|(n, _)| (*n).cmp(owner))
                .is_err()
            {
                return bad(c, "stream pending entry (unknown consumer)");
            }
            pending.push((id, time, count, owner));
        }
        st.groups.push(GroupRef {
            name,
            last_id,
            entries_read,
            pending,
            consumers,
        });
    }
    Ok(st)
}

/// Parses and checks the header.
pub fn decode_header(data: &[u8]) -> Result<Header, FormatError> {
    let mut c = Cur {
        buf: data,
        pos: 0,
        base: 0,
        block: None,
    };
    if c.remaining() < 8 {
        return Err(c.err(if MAGIC.starts_with(data) {
            ErrorKind::Truncated
        } else {
            ErrorKind::BadMagic
        }));
    }
    if c.take(8)? != MAGIC {
        return Err(FormatError {
            offset: 0,
            block: None,
            kind: ErrorKind::BadMagic,
        });
    }
    let version = c.u32()?;
    let len = c.u32()? as usize;
    // Check the header's checksum before believing its version, so a damaged
    // version byte is reported as damage, not as a newer format.
    if len < 8 + 4 + 4 + 8 + 1 + 4 || len > data.len() {
        return Err(FormatError {
            offset: 12,
            block: None,
            kind: if len > data.len() {
                ErrorKind::Truncated
            } else {
                ErrorKind::Malformed("header length")
            },
        });
    }
    let computed = crc32fast::hash(&data[..len - 4]);
    let stored = u32::from_le_bytes([data[len - 4], data[len - 3], data[len - 2], data[len - 1]]);
    if stored != computed {
        return Err(FormatError {
            offset: (len - 4) as u64,
            block: None,
            kind: ErrorKind::Checksum { stored, computed },
        });
    }
    if version > VERSION {
        return Err(FormatError {
            offset: 8,
            block: None,
            kind: ErrorKind::NewerVersion(version),
        });
    }
    if version == 0 {
        return Err(c.err(ErrorKind::Malformed("version")));
    }
    let created_ms = c.u64()? as i64;
    let vlen = c.u8()? as usize;
    let v = c.take(vlen)?;
    if c.pos + 4 != len {
        return Err(c.err(ErrorKind::Malformed("header length")));
    }
    Ok(Header {
        version,
        created_ms,
        server_version: String::from_utf8_lossy(v).into_owned(),
        len,
    })
}

/// A block located in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef<'a> {
    /// Block number from its header.
    pub index: u64,
    /// Offset of the block header in the file.
    pub offset: u64,
    /// Records in the block.
    pub count: u32,
    /// The payload (records).
    pub payload: &'a [u8],
}

impl BlockRef<'_> {
    /// Total bytes including the header.
    pub fn total_len(&self) -> usize {
        BLOCK_HEADER_LEN + self.payload.len()
    }
}

/// What follows the header at some offset: a block or the footer.
pub enum Item<'a> {
    /// A block whose checksum matches.
    Block(BlockRef<'a>),
    /// The footer, checked against the whole-file checksum.
    Footer(Footer),
}

/// Reads the block or footer at `offset` (checking its checksum).
pub fn decode_item(
    data: &[u8],
    offset: usize,
    expect_index: Option<u64>,
) -> Result<Item<'_>, FormatError> {
    decode_item_with(data, offset, expect_index, None)
}

/// [`decode_item`], where `prefix` (when given) is the whole-file checksum
/// state over `data[..offset]` already computed, so a footer costs only
/// its own bytes instead of a pass over the whole file.
fn decode_item_with(
    data: &[u8],
    offset: usize,
    expect_index: Option<u64>,
    prefix: Option<crc32fast::Hasher>,
) -> Result<Item<'_>, FormatError> {
    let mut c = Cur {
        buf: data,
        pos: offset,
        base: 0,
        block: expect_index,
    };
    let magic = c.take(4)?;
    if magic == FOOTER_MAGIC {
        let f = parse_footer_with(data, offset, prefix)?;
        if f.footer.file_crc != f.computed_crc {
            return Err(FormatError {
                offset: f.crc_offset as u64,
                block: None,
                kind: ErrorKind::Checksum {
                    stored: f.footer.file_crc,
                    computed: f.computed_crc,
                },
            });
        }
        if f.end != data.len() {
            return Err(FormatError {
                offset: f.end as u64,
                block: None,
                kind: ErrorKind::Malformed("trailing bytes after the footer"),
            });
        }
        return Ok(Item::Footer(f.footer));
    }
    if magic != BLOCK_MAGIC {
        return Err(FormatError {
            offset: offset as u64,
            block: expect_index,
            kind: ErrorKind::Malformed("block header (bad block magic)"),
        });
    }
    let fields_at = c.pos;
    let index = c.u64()?;
    let len = c.u32()? as usize;
    let count = c.u32()?;
    let stored = c.u32()?;
    if len > c.remaining() {
        return Err(FormatError {
            offset: offset as u64,
            block: Some(expect_index.unwrap_or(index)),
            kind: ErrorKind::Truncated,
        });
    }
    let payload = c.take(len)?;
    let computed = block_crc(&data[fields_at..fields_at + 16], payload);
    if stored != computed {
        return Err(FormatError {
            offset: offset as u64,
            block: Some(expect_index.unwrap_or(index)),
            kind: ErrorKind::Checksum { stored, computed },
        });
    }
    if let Some(e) = expect_index
        && e != index
    {
        return Err(FormatError {
            offset: offset as u64,
            block: Some(e),
            kind: ErrorKind::Malformed("block number (blocks out of order)"),
        });
    }
    Ok(Item::Block(BlockRef {
        index,
        offset: offset as u64,
        count,
        payload,
    }))
}

/// A footer read without judging it: its fields, where it ends, and the
/// checksum the bytes before its checksum field actually have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFooter {
    /// The fields; `file_crc` is the stored checksum.
    pub footer: Footer,
    /// CRC32 of every byte of the file before the checksum field.
    pub computed_crc: u32,
    /// Offset of the checksum field.
    pub crc_offset: usize,
    /// Offset just past the footer (the file's length, in a sound file).
    pub end: usize,
}

impl ParsedFooter {
    /// The whole-file checksum matches: nothing before the footer's
    /// checksum field changed since it was written.
    pub fn verified(&self) -> bool {
        self.footer.file_crc == self.computed_crc
    }
}

/// Parses the footer at `offset` (its magic included) up to its checksum
/// field, whatever follows it and whether or not the checksum matches;
/// [`decode_item`] is the judging reader. Used by salvage to tell a sound
/// footer followed by junk from a damaged one.
pub fn parse_footer(data: &[u8], offset: usize) -> Result<ParsedFooter, FormatError> {
    parse_footer_with(data, offset, None)
}

/// [`parse_footer`], where `prefix` (when given) is the whole-file checksum
/// state over `data[..offset]` already computed, so the footer costs only
/// its own bytes instead of a pass over the whole file.
fn parse_footer_with(
    data: &[u8],
    offset: usize,
    prefix: Option<crc32fast::Hasher>,
) -> Result<ParsedFooter, FormatError> {
    let mut c = Cur {
        buf: data,
        pos: offset,
        base: 0,
        block: None,
    };
    if c.take(4)? != FOOTER_MAGIC {
        return Err(c.err(ErrorKind::Malformed("footer (bad footer magic)")));
    }
    let blocks = c.u64()?;
    let keys = c.u64()?;
    let n = c.count(17)?;
    let mut dbs = Vec::with_capacity(n);
    for _ in 0..n {
        let db = c.varint()?;
        if db > u32::MAX as u64 {
            return Err(c.err(ErrorKind::Malformed("footer database number")));
        }
        let k = c.u64()?;
        let e = c.u64()?;
        dbs.push(DbCount {
            db: db as u32,
            keys: k,
            expires: e,
        });
    }
    let crc_offset = c.pos;
    let computed_crc = match prefix {
        Some(mut h) => {
            h.update(&data[offset..crc_offset]);
            h.finalize()
        }
        None => crc32fast::hash(&data[..crc_offset]),
    };
    let stored = c.u32()?;
    Ok(ParsedFooter {
        footer: Footer {
            blocks,
            keys,
            dbs,
            file_crc: stored,
        },
        computed_crc,
        crc_offset,
        end: c.pos,
    })
}

/// Decodes the records of a checked block.
pub fn decode_records<'a>(block: &BlockRef<'a>) -> Result<Vec<Record<'a>>, FormatError> {
    let mut c = Cur {
        buf: block.payload,
        pos: 0,
        base: block.offset + BLOCK_HEADER_LEN as u64,
        block: Some(block.index),
    };
    // Every record takes at least 5 bytes, which bounds the allocation.
    let mut out = Vec::with_capacity((block.count as usize).min(block.payload.len() / 5));
    while c.remaining() > 0 {
        out.push(decode_record(&mut c)?);
    }
    if out.len() != block.count as usize {
        return Err(c.err(ErrorKind::CountMismatch("block record count")));
    }
    Ok(out)
}

fn decode_record<'a>(c: &mut Cur<'a>) -> Result<Record<'a>, FormatError> {
    let start = c.pos;
    let db = c.varint()?;
    if db > u32::MAX as u64 {
        return Err(c.err(ErrorKind::Malformed("database number")));
    }
    let t = c.u8()?;
    let flags = c.u8()?;
    if flags & !FLAG_EXPIRE != 0 {
        return Err(c.err(ErrorKind::Malformed("record flags")));
    }
    let expire = if flags & FLAG_EXPIRE != 0 {
        Some(c.u64()? as i64)
    } else {
        None
    };
    let key = c.bytes()?;
    let value = match t {
        tag::STRING => ValueRef::Str(c.bytes()?),
        tag::LIST | tag::SET => {
            let n = c.count(1)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(c.bytes()?);
            }
            if t == tag::LIST {
                ValueRef::List(v)
            } else {
                ValueRef::Set(v)
            }
        }
        tag::HASH => {
            let n = c.count(2)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let f = c.bytes()?;
                v.push((f, c.bytes()?));
            }
            ValueRef::Hash(v)
        }
        tag::ZSET => {
            let n = c.count(9)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let m = c.bytes()?;
                let s = f64::from_le_bytes(c.u64()?.to_le_bytes());
                if s.is_nan() {
                    return Err(c.err(ErrorKind::Malformed("sorted set score (NaN)")));
                }
                v.push((m, s));
            }
            ValueRef::ZSet(v)
        }
        tag::STREAM => ValueRef::Stream(Box::new(decode_stream(c)?)),
        other => {
            return Err(FormatError {
                offset: c.base + start as u64,
                block: c.block,
                kind: ErrorKind::UnknownType(other),
            });
        }
    };
    Ok(Record {
        db: db as u32,
        expire,
        key,
        value,
    })
}

/// A fully checked snapshot: header, blocks in order, footer.
#[derive(Debug)]
pub struct Checked<'a> {
    /// The header.
    pub header: Header,
    /// Every block, checksums verified.
    pub blocks: Vec<BlockRef<'a>>,
    /// The footer, whole-file checksum verified.
    pub footer: Footer,
}

/// Checks a whole file: header, every block's checksum and numbering, the
/// footer and the whole-file checksum, and that counts agree. Records are
/// not decoded (see [`decode_records`]).
pub fn check(data: &[u8]) -> Result<Checked<'_>, FormatError> {
    let mut checker = Checker::new(data)?;
    loop {
        if let Some(checked) = checker.step(usize::MAX)? {
            return Ok(checked);
        }
    }
}

/// [`check`] done a few blocks at a time, so a server loading a large file
/// can serve clients in between.
pub struct Checker<'a> {
    data: &'a [u8],
    header: Option<Header>,
    blocks: Vec<BlockRef<'a>>,
    pos: usize,
    /// Whole-file checksum of `data[..pos]`.
    file_crc: crc32fast::Hasher,
}

impl<'a> Checker<'a> {
    /// Checks the header.
    pub fn new(data: &'a [u8]) -> Result<Self, FormatError> {
        let header = decode_header(data)?;
        let pos = header.len;
        let mut file_crc = crc32fast::Hasher::new();
        file_crc.update(&data[..pos]);
        Ok(Checker {
            data,
            header: Some(header),
            blocks: Vec::new(),
            pos,
            file_crc,
        })
    }

    /// Bytes checked so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Checks blocks until about `budget` bytes were covered; the checked
    /// file once the footer is reached.
    pub fn step(&mut self, budget: usize) -> Result<Option<Checked<'a>>, FormatError> {
        let start = self.pos;
        while self.pos - start < budget {
            let item = decode_item_with(
                self.data,
                self.pos,
                Some(self.blocks.len() as u64),
                Some(self.file_crc.clone()),
            )?;
            let b = match item {
                Item::Block(b) => b,
                Item::Footer(footer) => return self.finish(footer).map(Some),
            };
            let end = self.pos + b.total_len();
            self.file_crc.update(&self.data[self.pos..end]);
            self.pos = end;
            self.blocks.push(b);
        }
        Ok(None)
    }

    fn finish(&mut self, footer: Footer) -> Result<Checked<'a>, FormatError> {
        let err = |what| FormatError {
            offset: self.pos as u64,
            block: None,
            kind: ErrorKind::CountMismatch(what),
        };
        if footer.blocks != self.blocks.len() as u64 {
            return Err(err("block count"));
        }
        let records: u64 = self.blocks.iter().map(|b| b.count as u64).sum();
        if footer.keys != records
            || footer
                .dbs
                .iter()
                .try_fold(0u64, |a, d| a.checked_add(d.keys))
                != Some(records)
        {
            return Err(err("key count"));
        }
        let header = self.header.take().ok_or_else(|| err("footer read twice"))?;
        Ok(Checked {
            header,
            blocks: std::mem::take(&mut self.blocks),
            footer,
        })
    }
}

/// Finds the next offset after `from` where a block magic appears (used to
/// resynchronise when salvaging a damaged file).
pub fn find_next_block(data: &[u8], from: usize) -> Option<usize> {
    data.get(from..)?
        .windows(4)
        .position(|w| w == BLOCK_MAGIC)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks `data` a few bytes at a time, as the server's loader does.
    fn check_in_steps(data: &[u8]) -> Result<Checked<'_>, FormatError> {
        let mut c = Checker::new(data)?;
        let mut last = c.position();
        loop {
            if let Some(checked) = c.step(1)? {
                return Ok(checked);
            }
            assert!(c.position() > last, "every step moves on");
            last = c.position();
        }
    }

    #[test]
    fn checking_in_steps_agrees_with_checking_at_once() {
        let data = sample();
        let whole = check(&data).unwrap();
        let stepped = check_in_steps(&data).unwrap();
        assert!(whole.blocks.len() > 1);
        assert_eq!(whole.blocks, stepped.blocks);
        assert_eq!(whole.footer, stepped.footer);
        assert_eq!(whole.header, stepped.header);
        // Damage in a block, in the footer's counts, and in the whole-file
        // checksum is found the same way.
        for at in [data.len() / 2, data.len() - 6, data.len() - 1] {
            let mut bad = data.clone();
            bad[at] ^= 0x10;
            assert_eq!(check(&bad).unwrap_err(), check_in_steps(&bad).unwrap_err());
        }
    }

    fn sample() -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), 1234, "forkv test").unwrap();
        for i in 0..10_000u32 {
            let k = format!("key:{i}");
            let v = format!("value:{i}");
            w.record(&Record {
                db: i % 3,
                expire: if i % 5 == 0 { Some(99_999) } else { None },
                key: k.as_bytes(),
                value: ValueRef::Str(v.as_bytes()),
            })
            .unwrap();
        }
        w.record(&Record {
            db: 0,
            expire: None,
            key: b"z",
            value: ValueRef::ZSet(vec![(b"a", 1.5), (b"b", f64::INFINITY)]),
        })
        .unwrap();
        w.record(&Record {
            db: 0,
            expire: None,
            key: b"h",
            value: ValueRef::Hash(vec![(b"f", b"v")]),
        })
        .unwrap();
        w.record(&Record {
            db: 1,
            expire: None,
            key: b"l",
            value: ValueRef::List(vec![b"x", b"", b"y"]),
        })
        .unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn round_trip() {
        let data = sample();
        let c = check(&data).unwrap();
        assert_eq!(c.header.created_ms, 1234);
        assert_eq!(c.footer.keys, 10_003);
        assert!(c.blocks.len() > 1);
        let mut n = 0;
        for b in &c.blocks {
            for r in decode_records(b).unwrap() {
                n += 1;
                if r.key == b"z" {
                    assert_eq!(
                        r.value,
                        ValueRef::ZSet(vec![(b"a", 1.5), (b"b", f64::INFINITY)])
                    );
                }
            }
        }
        assert_eq!(n, 10_003);
    }

    #[test]
    fn every_flipped_byte_and_truncation_is_caught() {
        let data = sample();
        for i in (0..data.len()).step_by(97) {
            let mut d = data.clone();
            d[i] ^= 0x40;
            assert!(check(&d).is_err(), "flip at {i} not detected");
        }
        for cut in (0..data.len()).step_by(101) {
            assert!(check(&data[..cut]).is_err(), "cut at {cut} not detected");
        }
    }

    #[test]
    fn a_footer_parses_whatever_follows_and_decode_item_judges_it() {
        let data = sample();
        let c = check(&data).unwrap();
        let last = c.blocks.last().unwrap();
        let at = last.offset as usize + last.total_len();
        let mut d = data.clone();
        d.extend_from_slice(b"junk");
        let f = parse_footer(&d, at).unwrap();
        assert!(f.verified());
        assert_eq!(f.end, data.len());
        assert_eq!(f.footer, c.footer);
        let e = decode_item(&d, at, None).err().unwrap();
        assert_eq!(
            e.kind,
            ErrorKind::Malformed("trailing bytes after the footer")
        );
        assert_eq!(e.offset, data.len() as u64);
        // A flipped count: parsed, not verified; decode_item says checksum.
        let mut d = data.clone();
        d[at + 5] ^= 1;
        let f = parse_footer(&d, at).unwrap();
        assert!(!f.verified());
        assert!(matches!(
            decode_item(&d, at, None).err().unwrap().kind,
            ErrorKind::Checksum { .. }
        ));
        assert!(parse_footer(&data[..data.len() - 1], at).is_err());
    }

    #[test]
    fn newer_version_is_refused_by_name() {
        let mut d = sample();
        d[8] = 9;
        let hlen = decode_header(&sample()).unwrap().len;
        let crc = crc32fast::hash(&d[..hlen - 4]);
        d[hlen - 4..hlen].copy_from_slice(&crc.to_le_bytes());
        let e = check(&d).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NewerVersion(9));
        assert!(e.to_string().contains("newer"));
    }

    #[test]
    fn hostile_counts_do_not_allocate() {
        // A block claiming a billion-element list inside a tiny payload.
        let mut payload = Vec::new();
        put_varint(&mut payload, 0);
        payload.push(tag::LIST);
        payload.push(0);
        put_bytes(&mut payload, b"k");
        put_varint(&mut payload, 1 << 40);
        let h = encode_block_header(0, &payload, 1);
        let mut data = h.to_vec();
        data.extend_from_slice(&payload);
        let b = match decode_item(&data, 0, Some(0)).unwrap() {
            Item::Block(b) => b,
            Item::Footer(_) => panic!(),
        };
        assert!(decode_records(&b).is_err());
    }
}
