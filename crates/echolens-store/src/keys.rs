//! The writer's index of stored keys: is a key stored, and with which edit?
//!
//! It is the one part of ingest's memory that grows with the store, so it is kept small. A key is known by its
//! 128-bit hash ([`key_hash`](crate::batch::key_hash)), whose bits are uniform. Most messages were never
//! edited: for those the index keeps 80 bits of the hash, 16 to pick one of 65,536 shards and 64 stored in the
//! shard. That is 11.9 bytes a key in all at a million keys and 8.7 at ten million, as the shards' headers and
//! spare room become a smaller share. Edited messages (few) keep their whole hash with the edit time in a map.
//! A shard is a sorted run of fingerprints followed by a short unsorted tail, merged into the run when it
//! fills, so the index grows a little at a time and never holds a table and its doubled copy at once.
//!
//! A hash set of whole hashes would take 16 bytes a key at best, 35.6 at a million keys (2²¹ buckets), and
//! twice that for a moment each time the table grew.
//!
//! Two different keys with the same 80 bits would make the later one look stored, and it would be dropped as
//! unchanged. Among n keys that happens with probability about n²/2⁸¹: 4·10⁻¹¹ at ten million keys.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::batch::edit_rank;

/// Shards are picked by the hash's top `SHARD_BITS` bits.
const SHARD_BITS: u32 = 16;

/// Fingerprints a shard takes unsorted before they are merged into its sorted run: a lookup scans at most this
/// many, and a merge comes once every this many inserts.
const TAIL: usize = 16;

/// Hashes key hashes: they are uniform already, so their two halves folded are the hash.
#[derive(Default)]
pub(crate) struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not reached for u128 keys; a plain mix keeps the hasher correct for anything else.
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 ^= (v as u64) ^ ((v >> 64) as u64);
    }
}

pub(crate) type FoldBuild = BuildHasherDefault<FoldHasher>;

/// One shard's fingerprints: `keys[..sorted]` ascending, then up to [`TAIL`] in the order they came.
#[derive(Default)]
struct Shard {
    keys: Vec<u64>,
    sorted: usize,
}

impl Shard {
    fn contains(&self, fingerprint: u64) -> bool {
        let (run, tail) = self.keys.split_at(self.sorted);
        tail.contains(&fingerprint) || in_run(run, fingerprint)
    }

    /// Append a fingerprint, growing by an eighth (at least half a tail): the spare room stays a small part of
    /// the shard.
    fn append(&mut self, fingerprint: u64) {
        if self.keys.len() == self.keys.capacity() {
            self.keys.reserve_exact((TAIL / 2).max(self.keys.len() / 8));
        }
        self.keys.push(fingerprint);
    }

    /// Add a fingerprint that is not in the shard.
    fn push(&mut self, fingerprint: u64) {
        self.append(fingerprint);
        if self.keys.len() - self.sorted >= TAIL {
            self.merge_tail();
        }
    }

    /// Merge the tail into the sorted run in place, from the back: the tail is sorted on the stack and each
    /// run element greater than a tail element moves up once. No allocation, no search for runs.
    fn merge_tail(&mut self) {
        let mut tail = [0u64; TAIL];
        let extra = self.keys.len() - self.sorted;
        tail[..extra].copy_from_slice(&self.keys[self.sorted..]);
        let tail = &mut tail[..extra];
        tail.sort_unstable();
        let (mut run, mut rest, mut to) = (self.sorted, extra, self.keys.len());
        while rest > 0 {
            to -= 1;
            if run > 0 && self.keys[run - 1] > tail[rest - 1] {
                run -= 1;
                self.keys[to] = self.keys[run];
            } else {
                rest -= 1;
                self.keys[to] = tail[rest];
            }
        }
        self.sorted = self.keys.len();
    }

    fn remove(&mut self, fingerprint: u64) {
        if let Some(i) = self.keys[self.sorted..].iter().position(|&k| k == fingerprint) {
            self.keys.swap_remove(self.sorted + i);
        } else if let Ok(i) = self.keys[..self.sorted].binary_search(&fingerprint) {
            self.keys.remove(i);
            self.sorted -= 1;
        }
    }
}

/// The stored keys with their edit rank ([`edit_rank`]).
pub(crate) struct KeyIndex {
    shards: Box<[Shard]>,
    /// Unedited keys in `shards`.
    plain: usize,
    /// Edited keys, by their whole hash, with their edit rank.
    edited: HashMap<u128, i64, FoldBuild>,
}

impl Default for KeyIndex {
    fn default() -> Self {
        KeyIndex {
            shards: (0..1usize << SHARD_BITS).map(|_| Shard::default()).collect(),
            plain: 0,
            edited: HashMap::default(),
        }
    }
}

/// The shard of `hash` and the fingerprint it keeps there: the top 16 bits, and the 64 after them.
fn locate(hash: u128) -> (usize, u64) {
    ((hash >> (128 - SHARD_BITS)) as usize, (hash >> (64 - SHARD_BITS)) as u64)
}

/// Whether the sorted `run` holds `fingerprint`. Fingerprints are uniform over the 64 bits, so a fingerprint's
/// place is about its share of 2⁶⁴ times the run's length, within a few √n: the search starts there and
/// gallops outward, touching two or three cache lines where a binary search over a shard of a store of 50M keys
/// (800 a shard) touches seven or more. Any sorted run is answered correctly; uniformity only makes it fast.
fn in_run(run: &[u64], fingerprint: u64) -> bool {
    let n = run.len();
    if n == 0 {
        return false;
    }
    let guess = ((u128::from(fingerprint) * n as u128) >> 64) as usize;
    let at = run[guess];
    if at == fingerprint {
        return true;
    }
    // The bounds of a stretch known to hold the fingerprint if the run does: doubling steps away from the guess.
    let (lo, hi) = if at < fingerprint {
        let (mut lo, mut step) = (guess + 1, 1);
        loop {
            let probe = guess + step;
            if probe >= n {
                break (lo, n);
            }
            if run[probe] >= fingerprint {
                break (lo, probe + 1);
            }
            lo = probe + 1;
            step *= 2;
        }
    } else {
        let (mut hi, mut step) = (guess, 1);
        loop {
            let Some(probe) = guess.checked_sub(step) else { break (0, hi) };
            if run[probe] <= fingerprint {
                break (probe, hi);
            }
            hi = probe;
            step *= 2;
        }
    };
    run[lo..hi].binary_search(&fingerprint).is_ok()
}

impl KeyIndex {
    /// Keys known, edited or not.
    pub(crate) fn len(&self) -> usize {
        self.plain + self.edited.len()
    }

    /// The stored edit rank of `hash`, if it is stored.
    pub(crate) fn get(&self, hash: u128) -> Option<i64> {
        if let Some(&rank) = self.edited.get(&hash) {
            return Some(rank);
        }
        let (shard, fingerprint) = locate(hash);
        self.shards[shard].contains(fingerprint).then_some(edit_rank(None))
    }

    /// Record `hash`, which is not recorded yet (the caller looked it up), with `rank`: no lookup first.
    pub(crate) fn insert_new(&mut self, hash: u128, rank: i64) {
        self.record(hash, rank, Shard::push);
    }

    /// Record `hash`, not recorded yet, with `rank`: an unedited key's fingerprint put in its shard by `put`.
    fn record(&mut self, hash: u128, rank: i64, put: fn(&mut Shard, u64)) {
        if rank == edit_rank(None) {
            let (shard, fingerprint) = locate(hash);
            put(&mut self.shards[shard], fingerprint);
            self.plain += 1;
        } else {
            self.edited.insert(hash, rank);
        }
    }

    /// An index to be filled with a table's keys, which are unique there ([`Loading`]).
    pub(crate) fn loading() -> Loading {
        Loading(KeyIndex::default())
    }

    /// Record `hash` with `rank`. An edit replaces what was recorded; no edit leaves a recorded edit alone.
    pub(crate) fn insert(&mut self, hash: u128, rank: i64) {
        let (shard, fingerprint) = locate(hash);
        let shard = &mut self.shards[shard];
        if rank == edit_rank(None) {
            if !self.edited.contains_key(&hash) && !shard.contains(fingerprint) {
                shard.push(fingerprint);
                self.plain += 1;
            }
        } else if self.edited.insert(hash, rank).is_none() && shard.contains(fingerprint) {
            shard.remove(fingerprint);
            self.plain -= 1;
        }
    }

    /// Bytes held, for the tests' bound.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        let shards: usize = self.shards.iter().map(|s| s.keys.capacity() * 8).sum();
        shards + self.shards.len() * std::mem::size_of::<Shard>() + self.edited.capacity() * 24
    }
}

/// A [`KeyIndex`] being filled with a table's keys: each fingerprint is appended to its shard as it comes and
/// every shard sorted once at the end. Recording them one by one merged a shard's tail into its run every
/// [`TAIL`] keys, work that grows with the shard: with the lookups, a quarter of the CPU of re-reading 53M
/// messages into their store.
pub(crate) struct Loading(KeyIndex);

impl Loading {
    /// Record `hash`, not recorded yet, with `rank`.
    pub(crate) fn add(&mut self, hash: u128, rank: i64) {
        self.0.record(hash, rank, Shard::append);
    }

    /// The index, every shard sorted.
    pub(crate) fn finish(mut self) -> KeyIndex {
        for shard in self.0.shards.iter_mut() {
            shard.keys.sort_unstable();
            shard.sorted = shard.keys.len();
        }
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::key_hash;
    use proptest::prelude::*;

    #[test]
    fn edit_times_are_kept_only_for_edited_keys() {
        let mut index = KeyIndex::default();
        let (a, b) = (key_hash("x:1:1"), key_hash("x:1:2"));
        assert_eq!(index.get(a), None);
        index.insert(a, edit_rank(None));
        index.insert(b, edit_rank(Some(5)));
        assert_eq!((index.get(a), index.get(b)), (Some(i64::MIN), Some(5)));
        assert_eq!((index.plain, index.edited.len(), index.len()), (1, 1, 2));
        // A stored key gets an edit: it moves from the shards to the map, and is counted once.
        index.insert(a, edit_rank(Some(9)));
        assert_eq!((index.get(a), index.plain, index.edited.len(), index.len()), (Some(9), 0, 2, 2));
        index.insert(b, edit_rank(Some(7)));
        assert_eq!(index.get(b), Some(7));
        assert_eq!(index.get(key_hash("x:1:3")), None);
        // Recording an unedited version again changes nothing.
        index.insert(a, edit_rank(None));
        assert_eq!((index.get(a), index.len()), (Some(9), 2));
    }

    /// A million keys take under 12.5 bytes each, shard headers and spare room included; a hash set of whole
    /// hashes took 35.6 at this count (2²¹ buckets of 17 bytes). The share of the headers and the spare room
    /// falls as shards fill: 8.7 bytes a key at ten million.
    #[test]
    fn a_million_keys_take_under_twelve_and_a_half_bytes_each() {
        let mut index = KeyIndex::default();
        for i in 0..1_000_000 {
            index.insert_new(key_hash(&format!("telegram:c:{i}")), edit_rank(None));
        }
        assert_eq!(index.len(), 1_000_000);
        let per_key = index.bytes() as f64 / 1e6;
        assert!(per_key < 12.5, "{per_key:.1} bytes a key");
        assert_eq!(index.get(key_hash("telegram:c:999999")), Some(i64::MIN));
        assert_eq!(index.get(key_hash("telegram:c:1000000")), None);
    }

    /// Hashes crowded into four shards, so that shards fill, merge their tails and grow.
    fn crowded() -> impl Strategy<Value = u128> {
        (0u128..4, any::<u64>(), any::<u16>())
            .prop_map(|(shard, fp, low)| (shard << 112) | (u128::from(fp) << 48) | u128::from(low))
    }

    /// Sorted runs of any spread: uniform, bunched at one end, or repeating a few values.
    fn sorted_run() -> impl Strategy<Value = Vec<u64>> {
        prop_oneof![
            proptest::collection::vec(any::<u64>(), 0..600),
            proptest::collection::vec(0u64..1000, 0..600),
            proptest::collection::vec((0u64..4).prop_map(|v| u64::MAX - v), 0..50),
        ]
        .prop_map(|mut run| {
            run.sort_unstable();
            run
        })
    }

    proptest! {
        /// The search from the fingerprint's likely place answers as a binary search does, whatever the spread.
        #[test]
        fn a_run_is_searched_as_a_binary_search_would(run in sorted_run(), probes in proptest::collection::vec(any::<u64>(), 0..50)) {
            let mut probes = probes;
            probes.extend(run.iter().step_by(7).copied());
            probes.extend(run.iter().step_by(5).map(|v| v.wrapping_add(1)));
            for fingerprint in probes {
                prop_assert_eq!(in_run(&run, fingerprint), run.binary_search(&fingerprint).is_ok(), "{}", fingerprint);
            }
        }

        /// An index loaded from a table's keys answers as one made by recording them one by one, and goes on
        /// taking keys after.
        #[test]
        fn a_loaded_index_answers_as_one_recorded_key_by_key(
            pool in proptest::collection::vec((crowded(), proptest::option::of(0i64..5)), 1..400),
            later in proptest::collection::vec(crowded(), 0..100),
        ) {
            let mut pool = pool;
            pool.sort_unstable_by_key(|k| k.0);
            pool.dedup_by_key(|k| locate(k.0));
            let (mut loading, mut recorded) = (KeyIndex::loading(), KeyIndex::default());
            for &(hash, edited) in &pool {
                loading.add(hash, edit_rank(edited));
                recorded.insert_new(hash, edit_rank(edited));
            }
            let mut loaded = loading.finish();
            for &(hash, _) in &pool {
                prop_assert_eq!(loaded.get(hash), recorded.get(hash));
            }
            prop_assert_eq!(loaded.len(), recorded.len());
            for hash in later {
                if pool.iter().any(|k| locate(k.0) == locate(hash)) {
                    continue;
                }
                prop_assert_eq!(loaded.get(hash), recorded.get(hash));
                loaded.insert(hash, edit_rank(None));
                recorded.insert(hash, edit_rank(None));
                prop_assert_eq!(loaded.get(hash), Some(edit_rank(None)));
            }
            for &(hash, _) in &pool {
                prop_assert_eq!(loaded.get(hash), recorded.get(hash));
            }
        }

        /// Any sequence of inserts, edited or not, answers every lookup as a map of whole hashes does.
        #[test]
        fn answers_as_a_map_does(
            pool in proptest::collection::vec(crowded(), 1..400),
            ops in proptest::collection::vec((any::<prop::sample::Index>(), proptest::option::of(0i64..5)), 0..2000),
        ) {
            // Distinct keys with the same 80 bits are the collision the index accepts; keep them out of the pool.
            let mut pool = pool;
            pool.sort_unstable();
            pool.dedup_by_key(|h| locate(*h));
            let mut index = KeyIndex::default();
            let mut model: HashMap<u128, i64> = HashMap::new();
            for (pick, edited) in ops {
                let hash = *pick.get(&pool);
                let rank = edit_rank(edited);
                // What the writer does: record a key it has not seen, or a newer edit of one it has.
                match model.get(&hash) {
                    Some(&stored) if rank <= stored => {}
                    Some(_) => {
                        model.insert(hash, rank);
                        index.insert(hash, rank);
                    }
                    None => {
                        model.insert(hash, rank);
                        index.insert_new(hash, rank);
                    }
                }
                prop_assert_eq!(index.get(hash), model.get(&hash).copied());
            }
            prop_assert_eq!(index.len(), model.len());
            for &hash in &pool {
                prop_assert_eq!(index.get(hash), model.get(&hash).copied());
            }
        }
    }
}
