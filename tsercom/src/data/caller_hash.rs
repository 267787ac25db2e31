//! The hash of the aggregator's caller table, looked up on every sample.
//!
//! A caller id is 16 random bytes; SipHash (std's default) cost about 3.5 %
//! of the in-process handle path (perf). This is a keyed multiply-fold, the
//! key random per table: several times cheaper, and a peer that chooses
//! its id cannot aim at collisions without knowing the key.

use std::hash::{BuildHasher, Hasher, RandomState};

/// Builds [`CallerHasher`]s with a random key.
#[derive(Clone, Debug)]
pub(crate) struct CallerHashing {
    key: [u64; 2],
}

impl Default for CallerHashing {
    fn default() -> Self {
        let random = RandomState::new();
        CallerHashing {
            key: [random.hash_one(0u64), random.hash_one(1u64) | 1],
        }
    }
}

impl BuildHasher for CallerHashing {
    type Hasher = CallerHasher;

    fn build_hasher(&self) -> CallerHasher {
        CallerHasher {
            state: self.key[0],
            multiplier: self.key[1],
        }
    }
}

/// Folds 8 bytes at a time: `(state ^ word) × multiplier`, high and low
/// halves of the 128-bit product xored.
#[derive(Debug)]
pub(crate) struct CallerHasher {
    state: u64,
    multiplier: u64,
}

impl CallerHasher {
    fn mix(&mut self, word: u64) {
        let product = u128::from(self.state ^ word) * u128::from(self.multiplier);
        self.state = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for CallerHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::CallerHashing;
    use crate::CallerId;

    #[test]
    fn distinct_ids_spread_over_buckets_and_equal_ids_hash_equal() {
        let hashing = CallerHashing::default();
        let id = CallerId::random();
        assert_eq!(hashing.hash_one(id), hashing.hash_one(id));
        // The low 10 bits (a 1 024-bucket table's index) of 4 096 random
        // ids: close to all 1 024 values are used.
        let buckets: HashSet<u64> = (0..4096)
            .map(|_| hashing.hash_one(CallerId::random()) & 1023)
            .collect();
        assert!(buckets.len() > 950, "{} buckets of 1 024", buckets.len());
        // Another table's key hashes the same id differently.
        assert_ne!(CallerHashing::default().hash_one(id), hashing.hash_one(id));
    }
}
