//! One run seed, many independent generators: every random stream of a run (each client
//! slot, the network, the nemesis, each simulated node) gets its own seed derived from the
//! run's seed and the stream's name and number.
//!
//! Streams are separate so that one consumer drawing more or fewer numbers (a node that
//! retries once more) does not shift what every other consumer draws: a client's values do
//! not depend on how replies interleave.

/// The seed of stream `stream` number `index` of the run seeded with `seed`: SplitMix64
/// over the seed, the index and the stream's bytes. Stable across versions and platforms
/// (a failing seed must replay next week).
pub fn derive_seed(seed: u64, stream: &str, index: u64) -> u64 {
    let mut x = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for b in stream.bytes() {
        x = splitmix64(x ^ u64::from(b));
    }
    splitmix64(x)
}

/// One step of SplitMix64 (Steele, Lea and Flood, 2014): a bijective mixer.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_indices_differ_and_are_stable() {
        assert_ne!(derive_seed(1, "client", 0), derive_seed(1, "client", 1));
        assert_ne!(derive_seed(1, "client", 0), derive_seed(1, "node", 0));
        assert_ne!(derive_seed(1, "client", 0), derive_seed(2, "client", 0));
        // Pinned: a change here breaks every recorded failing seed.
        assert_eq!(derive_seed(0, "", 0), splitmix64(0));
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
    }
}
