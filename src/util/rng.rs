//! The one pseudo-random generator (xorshift64*) behind sampling: random
//! keys, eviction samples, SRANDMEMBER / HRANDFIELD / ZRANDMEMBER, SPOP and
//! skip-list levels. Not for anything an attacker must not predict.

/// One xorshift64* step on `s` (which must not be 0).
#[inline]
pub fn xorshift(s: &mut u64) -> u64 {
    let mut x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Maps a random `r` to 0..n without the bias of `%` (Lemire's multiply).
#[inline]
pub fn below(r: u64, n: usize) -> usize {
    ((r as u128 * n as u128) >> 64) as usize
}

/// A local generator, seeded from the keyspace's so that sampling a value
/// does not need a second borrow of the keyspace.
pub struct Rng(u64);

impl Rng {
    /// A generator from any seed (0 included).
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        xorshift(&mut self.0)
    }

    /// A number in 0..n (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        below(self.next_u64(), n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_in_range_and_moves() {
        let mut r = Rng::seeded(0);
        let a = r.next_u64();
        assert_ne!(a, r.next_u64());
        for n in [1, 2, 3, 1000] {
            assert!((0..100).all(|_| r.below(n) < n));
        }
        assert_eq!(r.below(0), 0);
    }
}
