//! MinHash building blocks shared by `similar` coordination and reuse cascades: word shingles hashed to 64
//! bits, an integer mixer for MinHash permutations, exact Jaccard of sorted sets, and a hasher for keys that
//! are already hashes.

/// splitmix64's finaliser: a bijection on 64-bit integers that mixes every input bit into every output bit.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The sorted, de-duplicated hashes of the `k`-word shingles of `text` (a text shorter than `k` words is one
/// shingle).
#[cfg(test)]
pub fn shingles(text: &str, k: usize) -> Vec<u64> {
    let words: Vec<&str> = echolens_text::tokens(text).collect();
    shingle_set(&words, k)
}

/// The sorted, de-duplicated hashes of the `k`-word shingles of `words`: each word hashed once (xxh3), a
/// shingle's hash folded from its words' hashes in order.
pub fn shingle_set(words: &[&str], k: usize) -> Vec<u64> {
    if words.is_empty() {
        return Vec::new();
    }
    let hashes: Vec<u64> = words.iter().map(|w| xxhash_rust::xxh3::xxh3_64(w.as_bytes())).collect();
    let fold = |ws: &[u64]| ws.iter().fold(0x2545_f491_4f6c_dd1d_u64, |acc, &h| mix(acc.rotate_left(17) ^ h));
    let mut out: Vec<u64> = if hashes.len() <= k { vec![fold(&hashes)] } else { hashes.windows(k).map(fold).collect() };
    out.sort_unstable();
    out.dedup();
    out
}

/// A sorted set of 64-bit shingle hashes as the sorted set of their top 32 bits (what the kernels keep per text:
/// half the memory, and a collision within one corpus's texts is rare enough not to move a similarity).
pub fn top_halves(set: &[u64]) -> Vec<u32> {
    // Sorted 64-bit hashes have sorted top halves: only neighbours can repeat.
    let mut out: Vec<u32> = set.iter().map(|&h| (h >> 32) as u32).collect();
    out.dedup();
    out
}

/// Exact Jaccard similarity of two sorted sets.
pub fn jaccard<T: Ord>(x: &[T], y: &[T]) -> f64 {
    if x.is_empty() && y.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < x.len() && j < y.len() {
        match x[i].cmp(&y[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    common as f64 / (x.len() + y.len() - common) as f64
}

/// Band keys are already well-mixed 64-bit hashes: the index uses them as they are.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    /// A 32-bit key spread over all 64 bits: the table reads its top bits to tell entries apart, and a key
    /// taken as it is would leave them zero (every probe would compare every entry of a group).
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}
