//! MinHash building blocks shared by `similar` coordination and reuse cascades: word shingles hashed to 64
//! bits (kept as their top 32), an integer mixer, vectorised MinHash permutations, exact Jaccard of sorted sets,
//! and a hasher for keys that are already hashes.

/// splitmix64's finaliser: a bijection on 64-bit integers that mixes every input bit into every output bit.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The sorted, de-duplicated hashes of the `k`-word shingles of `text` (a text shorter than `k` words is one
/// shingle).
#[cfg(test)]
pub(crate) fn shingles(text: &str, k: usize) -> Vec<u64> {
    let words: Vec<&str> = echolens_text::tokens(text).collect();
    shingle_set(&words, k)
}

/// The sorted, de-duplicated hashes of the `k`-word shingles of `words`: each word hashed once (xxh3), a
/// shingle's hash folded from its words' hashes in order.
#[cfg(test)]
pub(crate) fn shingle_set(words: &[&str], k: usize) -> Vec<u64> {
    let hashes: Vec<u64> = words.iter().map(|w| xxhash_rust::xxh3::xxh3_64(w.as_bytes())).collect();
    let mut out = shingle_hashes(&hashes, k).collect::<Vec<u64>>();
    out.sort_unstable();
    out.dedup();
    out
}

/// The shingle set as the kernels keep it: the sorted, distinct top 32 bits of each shingle's hash (half the
/// memory, and a collision within one corpus's texts is rare enough not to move a similarity).
#[cfg(test)]
pub(crate) fn shingle_halves(words: &[&str], k: usize) -> Vec<u32> {
    let hashes: Vec<u64> = words.iter().map(|w| xxhash_rust::xxh3::xxh3_64(w.as_bytes())).collect();
    let mut out = Vec::new();
    push_shingle_halves(&hashes, k, &mut out);
    out
}

/// The hashes (xxh3) of the words of `text`, into `out` (cleared first).
pub(crate) fn word_hashes(text: &str, out: &mut Vec<u64>) {
    out.clear();
    out.extend(echolens_text::tokens(text).map(|w| xxhash_rust::xxh3::xxh3_64(w.as_bytes())));
}

/// [`shingle_halves`] of the words whose hashes are `words`, appended to `out` (what was there is kept).
pub(crate) fn push_shingle_halves(words: &[u64], k: usize, out: &mut Vec<u32>) {
    let start = out.len();
    out.extend(shingle_hashes(words, k).map(|h| (h >> 32) as u32));
    sort_tail(out, start);
}

/// Sorts `out[start..]` and removes its repeats (what is before `start` is left as it is): a list appended to
/// a chunk's data in place.
pub(crate) fn sort_tail(out: &mut Vec<u32>, start: usize) {
    out[start..].sort_unstable();
    let mut kept = start;
    for i in start..out.len() {
        if kept == start || out[i] != out[kept - 1] {
            out[kept] = out[i];
            kept += 1;
        }
    }
    out.truncate(kept);
}

/// The hash of each `k`-word shingle of the words hashed to `words`, in order (one for a text shorter than `k`
/// words, none for no words).
fn shingle_hashes(words: &[u64], k: usize) -> impl Iterator<Item = u64> + '_ {
    let fold = |ws: &[u64]| ws.iter().fold(0x2545_f491_4f6c_dd1d_u64, |acc, &h| mix(acc.rotate_left(17) ^ h));
    let n = if words.is_empty() { 0 } else { words.len().saturating_sub(k) + 1 };
    (0..n).map(move |i| fold(&words[i..(i + k).min(words.len())]))
}

/// Permutations evaluated together: one block is a vector of this many 32-bit lanes.
const LANES: usize = 8;

/// MinHash permutations of 32-bit shingle hashes, `x ↦ (x ⊕ seed) · odd mod 2³²`: bijections, so the shingle
/// at which a permutation is minimal is recovered from the minimum (`argmin`). The shingles are hashes already
/// (well mixed), and one xor and one multiply per permutation are enough to order them anew. The minima are
/// computed [`LANES`] permutations at a time in vector registers (SSE4.1 or AVX2 where the CPU has them,
/// chosen at run time): a text's 48 minima cost about as much as its six blocks, not 48 passes.
#[derive(Debug, Clone)]
pub(crate) struct Permutations {
    n: usize,
    seed: Vec<[u32; LANES]>,
    odd: Vec<[u32; LANES]>,
    /// The multiplicative inverse of each `odd` (mod 2³²).
    inverse: Vec<[u32; LANES]>,
}

impl Permutations {
    /// `n` permutations, the same for every run.
    pub(crate) fn new(n: usize) -> Permutations {
        let blocks = n.div_ceil(LANES);
        let mut p = Permutations {
            n,
            seed: vec![[0; LANES]; blocks],
            odd: vec![[0; LANES]; blocks],
            inverse: vec![[0; LANES]; blocks],
        };
        for j in 0..blocks * LANES {
            let h = mix((j as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let odd = (h >> 32) as u32 | 1;
            p.seed[j / LANES][j % LANES] = h as u32;
            p.odd[j / LANES][j % LANES] = odd;
            p.inverse[j / LANES][j % LANES] = inverse(odd);
        }
        p
    }

    /// The minimum of each permutation over `set` (not empty), into `out` (cleared first; `n` values).
    pub(crate) fn minima(&self, set: &[u32], out: &mut Vec<u32>) {
        out.clear();
        for (seed, odd) in self.seed.iter().zip(&self.odd) {
            out.extend_from_slice(&block_minima(set, seed, odd));
        }
        out.truncate(self.n);
    }

    /// The shingle at which permutation `j` takes its minimum `min`.
    pub(crate) fn argmin(&self, j: usize, min: u32) -> u32 {
        min.wrapping_mul(self.inverse[j / LANES][j % LANES]) ^ self.seed[j / LANES][j % LANES]
    }
}

/// One block's minima over a set: written lane-wise so that the compiler keeps the lanes in vector registers.
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn block_minima(set: &[u32], seed: &[u32; LANES], odd: &[u32; LANES]) -> [u32; LANES] {
    let mut min = [u32::MAX; LANES];
    for &x in set {
        for l in 0..LANES {
            min[l] = min[l].min((x ^ seed[l]).wrapping_mul(odd[l]));
        }
    }
    min
}

/// The inverse of an odd number mod 2³² (Newton's iteration: each step doubles the correct low bits).
fn inverse(a: u32) -> u32 {
    let mut x = a;
    for _ in 0..5 {
        x = x.wrapping_mul(2u32.wrapping_sub(a.wrapping_mul(x)));
    }
    x
}

/// Exact Jaccard similarity of two sorted sets.
pub(crate) fn jaccard<T: Ord>(x: &[T], y: &[T]) -> f64 {
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

/// Whether two sorted sets of distinct items are at least `threshold` alike: exactly `jaccard(x, y) + 1e-12 >=
/// threshold` (the kernels' test), without always merging the whole of both. The similarity grows with the
/// items in common, so the fewest in common that pass is found first; sets too unequal in size to have that
/// many are not merged, and the merge stops once either set has passed over more items than it can spare.
pub(crate) fn jaccard_at_least<T: Ord>(x: &[T], y: &[T], threshold: f64) -> bool {
    let n = x.len() + y.len();
    let passes = |common: usize| {
        let sim = if n == 0 { 1.0 } else { common as f64 / (n - common) as f64 };
        sim + 1e-12 >= threshold
    };
    let most = x.len().min(y.len());
    // The fewest items in common that pass: near t·n/(1+t), stepped to the exact bound of `passes`.
    let guess = if threshold.is_finite() && threshold > 0.0 { threshold * n as f64 / (1.0 + threshold) } else { 0.0 };
    let mut needed = (guess.floor() as usize).min(most);
    while needed > 0 && passes(needed - 1) {
        needed -= 1;
    }
    while needed <= most && !passes(needed) {
        needed += 1;
    }
    if needed > most {
        return false;
    }
    // Items of each set that may be passed over (found in the other set no more) before too few are left.
    let (mut spare_x, mut spare_y) = (x.len() - needed, y.len() - needed);
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < x.len() && j < y.len() {
        match x[i].cmp(&y[j]) {
            std::cmp::Ordering::Less => {
                let Some(left) = spare_x.checked_sub(1) else { return false };
                spare_x = left;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                let Some(left) = spare_y.checked_sub(1) else { return false };
                spare_y = left;
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    passes(common)
}

/// Band keys are already well-mixed 64-bit hashes: the index uses them as they are.
#[derive(Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_undoes_the_multiply() {
        for a in [1u32, 3, 0x9e37_79b9, u32::MAX, 12345 | 1] {
            assert_eq!(a.wrapping_mul(inverse(a)), 1, "{a}");
        }
    }

    #[test]
    fn minima_and_argmins_are_those_of_each_permutation() {
        let p = Permutations::new(13);
        let mut out = Vec::new();
        for n in [1usize, 2, 7, 40] {
            let set: Vec<u32> = (0..n as u64).map(|i| (mix(i + 1000 * n as u64) >> 7) as u32).collect();
            p.minima(&set, &mut out);
            assert_eq!(out.len(), 13);
            for (j, &m) in out.iter().enumerate() {
                let (seed, odd) = (p.seed[j / LANES][j % LANES], p.odd[j / LANES][j % LANES]);
                let brute = set.iter().map(|&x| (x ^ seed).wrapping_mul(odd)).min().unwrap();
                assert_eq!(m, brute);
                let arg = p.argmin(j, m);
                assert!(set.contains(&arg));
                assert_eq!((arg ^ seed).wrapping_mul(odd), m);
            }
        }
    }

    #[test]
    fn permutations_pick_each_shingle_about_equally_often() {
        // Over many sets of 4, each position's shingle is the argmin of a permutation about a quarter of the
        // time: a permutation that preferred some inputs would bias every similarity estimate.
        let p = Permutations::new(48);
        let mut out = Vec::new();
        let mut wins = [0u32; 4];
        for s in 0..5000u64 {
            let set: Vec<u32> = (0..4).map(|i| (mix(s * 4 + i) >> 32) as u32).collect();
            p.minima(&set, &mut out);
            for (j, &m) in out.iter().enumerate() {
                wins[set.iter().position(|&x| x == p.argmin(j, m)).unwrap()] += 1;
            }
        }
        let expected = 5000.0 * 48.0 / 4.0;
        for w in wins {
            assert!((f64::from(w) - expected).abs() < 0.02 * expected, "{wins:?}");
        }
    }

    #[test]
    fn halves_are_the_top_bits_of_the_shingle_set() {
        let words = ["a", "b", "c", "a", "b", "d"];
        let mut want: Vec<u32> = shingle_set(&words, 2).iter().map(|&h| (h >> 32) as u32).collect();
        want.dedup();
        assert_eq!(shingle_halves(&words, 2), want);
        assert_eq!(shingle_halves(&words, 2).len(), 4);
        assert_eq!(shingle_halves(&["x"], 3).len(), 1);
        assert!(shingle_halves(&[], 2).is_empty());
        // Appending keeps what is there and sorts only the new set.
        let mut out = vec![99, 1];
        let hashes: Vec<u64> = words.iter().map(|w| xxhash_rust::xxh3::xxh3_64(w.as_bytes())).collect();
        push_shingle_halves(&hashes, 2, &mut out);
        assert_eq!(out[..2], [99, 1]);
        assert_eq!(out[2..], want[..]);
    }

    /// The test `jaccard(x, y) + 1e-12 >= threshold` the kernels made: at the threshold exactly (4 items in
    /// common of 6, and 2 of 4) and just above it, on empty sets, and on sets too unequal in size to pass.
    #[test]
    fn jaccard_at_least_is_the_exact_test_at_and_around_the_threshold() {
        let a = [1u32, 2, 3, 4, 5];
        let b = [1u32, 2, 3, 4, 6];
        assert!(jaccard_at_least(&a, &b, 4.0 / 6.0));
        assert!(!jaccard_at_least(&a, &b, 4.0 / 6.0 + 1e-9));
        assert!(jaccard_at_least(&a, &a, 1.0));
        assert!(jaccard_at_least::<u32>(&[], &[], 1.0));
        assert!(!jaccard_at_least(&a, &[], 0.1));
        // Unequal sizes: 2 of 10 at most, below 0.5 without a merge.
        assert!(!jaccard_at_least(&[1u32, 2], &[1u32, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.5));
        assert!(jaccard_at_least(&[1u32, 2], &[1u32, 2, 3, 4], 0.5));
    }

    proptest::proptest! {
        #[test]
        fn jaccard_at_least_agrees_with_jaccard(
            x in proptest::collection::btree_set(0u32..40, 0..30),
            y in proptest::collection::btree_set(0u32..40, 0..30),
            t in 0.0f64..1.0,
            exact in proptest::bool::ANY,
        ) {
            let (x, y): (Vec<u32>, Vec<u32>) = (x.into_iter().collect(), y.into_iter().collect());
            // Half the thresholds are the pair's own similarity or another small fraction exactly.
            let t = if exact { jaccard(&x, &y).max((t * 10.0).round() / 10.0).min(1.0) } else { t };
            proptest::prop_assert_eq!(jaccard_at_least(&x, &y, t), jaccard(&x, &y) + 1e-12 >= t, "{:?} {:?} {}", x, y, t);
        }
    }
}
