//! The one keyed hash for every table whose keys a client chooses: the
//! keyspace and the hash, set and sorted-set tables ([`crate::db::dict`]),
//! pub/sub channels and patterns, the tracking table, WATCH and blocking
//! key maps.
//!
//! A fixed or guessable hash lets a client send keys that all land in one
//! bucket and turn every lookup into a list walk (hash flooding). Like
//! Redis, which keys SipHash-1-2 at start, forkv uses SipHash (here 1-3,
//! the variant Rust's std `HashMap` uses) under a 128-bit key read once per
//! process from the kernel (`getrandom`, falling back to `/dev/urandom`).
//! The key is process-wide, so a fork child hashes as its parent does, and
//! two servers (or one server restarted) lay the same keys out differently.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

static KEY: OnceLock<[u64; 2]> = OnceLock::new();

/// The process's key, drawn on first use.
#[inline]
fn key() -> &'static [u64; 2] {
    KEY.get_or_init(random_key)
}

/// 16 bytes from the kernel. Never fails: without getrandom or
/// /dev/urandom (a broken sandbox), it mixes the time, the pid and an
/// address, which still differ between processes.
fn random_key() -> [u64; 2] {
    let mut buf = [0u8; 16];
    // SAFETY: `buf` is a live, writable 16-byte buffer.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    let filled = n == buf.len() as isize
        || std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
            .is_ok();
    if !filled {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let salt = [nanos, std::process::id() as u64 ^ (&buf as *const _ as u64)];
        let mut h = SipHasher13::new_with_keys(salt[0], salt[1]);
        h.write_u64(nanos);
        let a = h.finish();
        h.write_u64(a);
        return [a, h.finish()];
    }
    [
        u64::from_le_bytes(buf[..8].try_into().unwrap_or_default()),
        u64::from_le_bytes(buf[8..].try_into().unwrap_or_default()),
    ]
}

/// The keyed hash of `bytes` (what [`crate::db::dict::Dict`] uses).
#[inline]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let k = key();
    let mut s = State::<1, 3>::new(k[0], k[1]);
    let mut blocks = bytes.chunks_exact(8);
    for b in &mut blocks {
        s.block(u64::from_le_bytes(b.try_into().unwrap_or_default()));
    }
    s.finish(load_le(blocks.remainder()), bytes.len())
}

/// A [`BuildHasher`] for `HashMap`s keyed by client bytes: every hasher it
/// builds is SipHash-1-3 under the process key.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keyed;

impl BuildHasher for Keyed {
    type Hasher = SipHasher13;

    #[inline]
    fn build_hasher(&self) -> SipHasher13 {
        let k = key();
        SipHasher13::new_with_keys(k[0], k[1])
    }
}

/// A `HashMap` hashed with the process key.
pub type Map<K, V> = std::collections::HashMap<K, V, Keyed>;

/// A `HashSet` hashed with the process key.
pub type Set<K> = std::collections::HashSet<K, Keyed>;

/// The SipHash state: `C` compression rounds per block, `D` finalization
/// rounds.
#[derive(Debug, Clone, Copy)]
struct State<const C: usize, const D: usize> {
    v: [u64; 4],
}

impl<const C: usize, const D: usize> State<C, D> {
    #[inline]
    fn new(k0: u64, k1: u64) -> Self {
        State {
            v: [
                k0 ^ 0x736f_6d65_7073_6575,
                k1 ^ 0x646f_7261_6e64_6f6d,
                k0 ^ 0x6c79_6765_6e65_7261,
                k1 ^ 0x7465_6462_7974_6573,
            ],
        }
    }

    #[inline(always)]
    fn round(&mut self) {
        let [mut v0, mut v1, mut v2, mut v3] = self.v;
        v0 = v0.wrapping_add(v1);
        v1 = v1.rotate_left(13) ^ v0;
        v0 = v0.rotate_left(32);
        v2 = v2.wrapping_add(v3);
        v3 = v3.rotate_left(16) ^ v2;
        v0 = v0.wrapping_add(v3);
        v3 = v3.rotate_left(21) ^ v0;
        v2 = v2.wrapping_add(v1);
        v1 = v1.rotate_left(17) ^ v2;
        v2 = v2.rotate_left(32);
        self.v = [v0, v1, v2, v3];
    }

    /// Absorbs one 8-byte little-endian block.
    #[inline(always)]
    fn block(&mut self, m: u64) {
        self.v[3] ^= m;
        for _ in 0..C {
            self.round();
        }
        self.v[0] ^= m;
    }

    /// The last block (the 0..7 trailing bytes `tail` and the low byte of
    /// the total length), then finalization.
    #[inline(always)]
    fn finish(mut self, tail: u64, len: usize) -> u64 {
        self.block(((len as u64) << 56) | tail);
        self.v[2] ^= 0xff;
        for _ in 0..D {
            self.round();
        }
        self.v[0] ^ self.v[1] ^ self.v[2] ^ self.v[3]
    }
}

/// Up to 7 bytes as a little-endian number.
#[inline(always)]
fn load_le(b: &[u8]) -> u64 {
    let mut out = 0u64;
    for (i, &x) in b.iter().enumerate().take(8) {
        out |= (x as u64) << (8 * i);
    }
    out
}

/// Streaming SipHash-c-d (the `Hasher` `HashMap` needs, fed in pieces).
#[derive(Debug, Clone, Copy)]
pub struct Sip<const C: usize, const D: usize> {
    state: State<C, D>,
    /// Bytes not yet absorbed (fewer than 8), little-endian.
    tail: u64,
    ntail: usize,
    length: usize,
}

/// SipHash-1-3.
pub type SipHasher13 = Sip<1, 3>;

impl<const C: usize, const D: usize> Sip<C, D> {
    /// A hasher under the 128-bit key `(k0, k1)`.
    pub fn new_with_keys(k0: u64, k1: u64) -> Self {
        Sip {
            state: State::new(k0, k1),
            tail: 0,
            ntail: 0,
            length: 0,
        }
    }
}

impl<const C: usize, const D: usize> Hasher for Sip<C, D> {
    #[inline]
    fn write(&mut self, mut msg: &[u8]) {
        self.length += msg.len();
        if self.ntail != 0 {
            let take = (8 - self.ntail).min(msg.len());
            self.tail |= load_le(&msg[..take]) << (8 * self.ntail);
            self.ntail += take;
            msg = &msg[take..];
            if self.ntail < 8 {
                return;
            }
            self.state.block(self.tail);
            self.tail = 0;
            self.ntail = 0;
        }
        let mut blocks = msg.chunks_exact(8);
        for b in &mut blocks {
            self.state
                .block(u64::from_le_bytes(b.try_into().unwrap_or_default()));
        }
        let rest = blocks.remainder();
        self.tail = load_le(rest);
        self.ntail = rest.len();
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.state.finish(self.tail, self.length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_shot<const C: usize, const D: usize>(k: [u64; 2], msg: &[u8]) -> u64 {
        let mut h = Sip::<C, D>::new_with_keys(k[0], k[1]);
        h.write(msg);
        h.finish()
    }

    /// The key 00 01 .. 0f of the SipHash paper's test vectors.
    const PAPER_KEY: [u64; 2] = [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908];

    #[test]
    fn siphash_2_4_reference_vectors() {
        // From the reference implementation's vectors.h (SipHash-2-4,
        // 64-bit output, key 00..0f, message 00 01 .. len-1).
        let msg: Vec<u8> = (0..64).collect();
        let want: [(usize, u64); 5] = [
            (0, 0x726f_db47_dd0e_0e31),
            (1, 0x74f8_39c5_93dc_67fd),
            (7, 0xab02_00f5_8b01_d137),
            (8, 0x93f5_f579_9a93_2462),
            (15, 0xa129_ca61_49be_45e5),
        ];
        for (len, h) in want {
            assert_eq!(one_shot::<2, 4>(PAPER_KEY, &msg[..len]), h, "len {len}");
        }
    }

    #[test]
    #[allow(deprecated)]
    fn siphash_2_4_matches_std_for_every_length() {
        let msg: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..msg.len() {
            let mut std = std::hash::SipHasher::new_with_keys(PAPER_KEY[0], PAPER_KEY[1]);
            std.write(&msg[..len]);
            assert_eq!(one_shot::<2, 4>(PAPER_KEY, &msg[..len]), std.finish());
        }
    }

    #[test]
    fn siphash_1_3_matches_std_default_hasher() {
        // std's DefaultHasher::new() is SipHash-1-3 under the key (0, 0).
        let msg: Vec<u8> = (0..100u32).map(|i| (i * 13 + 1) as u8).collect();
        for len in 0..msg.len() {
            let mut std = std::collections::hash_map::DefaultHasher::new();
            std.write(&msg[..len]);
            assert_eq!(one_shot::<1, 3>([0, 0], &msg[..len]), std.finish());
        }
    }

    #[test]
    fn one_shot_and_streaming_agree_at_every_split() {
        let k = key();
        let msg: Vec<u8> = (0..40u8).collect();
        for len in 0..msg.len() {
            let whole = hash_bytes(&msg[..len]);
            assert_eq!(whole, one_shot::<1, 3>(*k, &msg[..len]));
            for a in 0..=len {
                for b in a..=len {
                    let mut h = Keyed.build_hasher();
                    h.write(&msg[..a]);
                    h.write(&msg[a..b]);
                    h.write(&msg[b..len]);
                    assert_eq!(h.finish(), whole, "len {len} split {a} {b}");
                }
            }
        }
    }

    #[test]
    fn the_key_is_random() {
        // Two draws of 128 random bits are equal with probability 2^-128;
        // a constant or zero key would fail here.
        let (a, b) = (random_key(), random_key());
        assert_ne!(a, b);
        assert_ne!(*key(), [0, 0]);
        assert_ne!(hash_bytes(b"k"), one_shot::<1, 3>([0, 0], b"k"));
    }
}
