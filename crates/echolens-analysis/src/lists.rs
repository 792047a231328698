//! Compact per-document state of the MinHash kernels: lists of `u32` (shingle sets, band keys) stored in
//! chunks (the kernels keep one per message of the corpus, and a single vector of them would be copied whole
//! each time it grew), and an interner that numbers the strings (channels, accounts) they compare.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::minhash::KeyHasher;

/// Strings numbered in order of first sight, looked up by a 64-bit hash that callers may compute in parallel
/// ([`Interner::hash`]); the string is still compared, so two strings with one hash stay apart.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    index: HashMap<u64, u32, BuildHasherDefault<KeyHasher>>,
    /// Strings whose hash an earlier, different string has.
    clashes: HashMap<String, u32>,
    pub(crate) names: Vec<String>,
}

impl Interner {
    /// The hash [`Interner::get_hashed`] takes.
    pub(crate) fn hash(s: &str) -> u64 {
        xxhash_rust::xxh3::xxh3_64(s.as_bytes())
    }

    /// The number of `s`, given on first sight.
    pub(crate) fn get(&mut self, s: &str) -> u32 {
        self.get_hashed(Interner::hash(s), s)
    }

    /// The number of `s`, if it has one.
    pub(crate) fn find(&self, s: &str) -> Option<u32> {
        let i = *self.index.get(&Interner::hash(s))?;
        if self.names[i as usize] == s { Some(i) } else { self.clashes.get(s).copied() }
    }

    /// [`Interner::get`] of `s`, whose [`Interner::hash`] is `h`.
    pub(crate) fn get_hashed(&mut self, h: u64, s: &str) -> u32 {
        let next = self.names.len() as u32;
        let i = *self.index.entry(h).or_insert(next);
        if i != next && self.names[i as usize] == s {
            return i;
        }
        let i = if i == next { next } else { *self.clashes.entry(s.to_owned()).or_insert(next) };
        if i == next {
            self.names.push(s.to_owned());
        }
        i
    }
}

/// A batch of `n` rows cut into pieces for the threads (a few per thread, so that uneven texts even out), each
/// of which fills chunks of its own.
pub(crate) fn pieces(n: usize) -> Vec<std::ops::Range<usize>> {
    let piece = n.div_ceil(4 * rayon::current_num_threads()).max(256);
    (0..n).step_by(piece).map(|start| start..(start + piece).min(n)).collect()
}

/// Gives back the spare capacity of `v` by moving it into an allocation of its length. `shrink_to_fit` is not
/// enough: mimalloc keeps a block that shrinks by less than half where it is, so a vector grown by doubling
/// kept a third more than it held on average (300 MB of the `similar` kernel's sets at 10M messages).
pub(crate) fn exact<T>(v: &mut Vec<T>) {
    if v.capacity() > v.len() {
        let mut sized = Vec::with_capacity(v.len());
        sized.append(v);
        *v = sized;
    }
}

/// Lists of `u32` (shingle sets, band keys) for consecutive documents, one chunk per scanned batch: no
/// allocation grows with the corpus, so none is ever copied whole to grow.
#[derive(Default)]
pub(crate) struct Lists {
    pub(crate) chunks: Vec<Chunk>,
    /// For each block of 2^`BLOCK` documents, the chunk of its first document (see [`Lists::index`]).
    blocks: Vec<u32>,
}

pub(crate) struct Chunk {
    /// The first document of the chunk.
    pub(crate) first: u32,
    offsets: Vec<u32>,
    data: Vec<u32>,
}

impl Chunk {
    #[cfg(test)]
    pub(crate) fn new<L: AsRef<[u32]>>(first: u32, lists: impl IntoIterator<Item = L>) -> Chunk {
        let mut chunk = Chunk { first, offsets: vec![0], data: Vec::new() };
        for list in lists {
            chunk.data.extend_from_slice(list.as_ref());
            chunk.offsets.push(chunk.data.len() as u32);
        }
        chunk.data.shrink_to_fit();
        chunk
    }

    /// A chunk to fill list by list, from document `first` on.
    pub(crate) fn empty(first: u32) -> Chunk {
        Chunk { first, offsets: vec![0], data: Vec::new() }
    }

    /// The next document's list: what `fill` appends to the chunk's data.
    pub(crate) fn push_with(&mut self, fill: impl FnOnce(&mut Vec<u32>)) {
        fill(&mut self.data);
        self.offsets.push(self.data.len() as u32);
    }

    /// Empties the chunk, keeping its memory (a scratch chunk filled again and again).
    pub(crate) fn clear(&mut self) {
        self.offsets.truncate(1);
        self.data.clear();
    }

    /// A copy of the chunk in allocations of its size: filling a reused scratch chunk and copying it once
    /// touches fresh memory once, where growing a new chunk by doubling and then shrinking it touched it about
    /// three times (the kernel's page faults were an eighth of its time).
    pub(crate) fn copy_exact(&self) -> Chunk {
        Chunk { first: self.first, offsets: self.offsets.to_vec(), data: self.data.to_vec() }
    }

    /// Gives back the spare capacity of a filled chunk.
    pub(crate) fn shrink(&mut self) {
        exact(&mut self.data);
        exact(&mut self.offsets);
    }

    pub(crate) fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The chunk's offsets (one more than its documents) and data, as [`Chunk::from_raw`] takes them.
    pub(crate) fn raw(&self) -> (&[u32], &[u32]) {
        (&self.offsets, &self.data)
    }

    /// A chunk from [`Chunk::raw`]'s parts, or None when they do not make one (offsets not starting at 0,
    /// decreasing, or past the data).
    pub(crate) fn from_raw(first: u32, offsets: Vec<u32>, data: Vec<u32>) -> Option<Chunk> {
        let fits = offsets.first() == Some(&0)
            && offsets.windows(2).all(|w| w[0] <= w[1])
            && offsets.last().is_some_and(|&end| end as usize == data.len());
        fits.then_some(Chunk { first, offsets, data })
    }

    pub(crate) fn get(&self, i: usize) -> &[u32] {
        &self.data[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }
}

/// Documents per entry of [`Lists::index`]'s table (as a shift).
const BLOCK: u32 = 8;

impl Lists {
    /// Builds the table that finds a document's chunk in a step or two instead of a binary search over every
    /// chunk (the `similar` window looks up each document's lists several times). Chunks pushed or replaced
    /// after it must keep their documents.
    pub(crate) fn index(&mut self) {
        let end = self.chunks.last().map_or(0, |c| c.first as usize + c.len());
        let mut blocks = vec![0u32; end.div_ceil(1 << BLOCK)];
        for (i, c) in self.chunks.iter().enumerate().filter(|(_, c)| c.len() > 0) {
            let (first, last) = (c.first as usize, c.first as usize + c.len() - 1);
            blocks[first.div_ceil(1 << BLOCK)..=last >> BLOCK].fill(i as u32);
        }
        self.blocks = blocks;
    }

    pub(crate) fn get(&self, doc: u32) -> &[u32] {
        let c = match self.blocks.get((doc >> BLOCK) as usize) {
            // The chunk that holds the block's first document, then on to the one that holds `doc`.
            Some(&c) => {
                let mut c = c as usize;
                while self.chunks.get(c + 1).is_some_and(|next| next.first <= doc) {
                    c += 1;
                }
                c
            }
            None => self.chunks.partition_point(|c| c.first <= doc) - 1,
        };
        let chunk = &self.chunks[c];
        chunk.get((doc - chunk.first) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_strings_keep_their_numbers_even_when_hashes_clash() {
        let mut names = Interner::default();
        assert_eq!((names.get("a"), names.get("b"), names.get("a")), (0, 1, 0));
        // Two other strings under one hash (as if xxh3 collided): they stay apart, and so does "a".
        assert_eq!(names.get_hashed(7, "x"), 2);
        assert_eq!(names.get_hashed(7, "y"), 3);
        assert_eq!(names.get_hashed(7, "x"), 2);
        assert_eq!(names.get_hashed(7, "y"), 3);
        assert_eq!(names.get_hashed(Interner::hash("a"), "z"), 4);
        assert_eq!(names.get("a"), 0);
        assert_eq!(names.names, ["a", "b", "x", "y", "z"]);
    }

    #[test]
    fn the_index_finds_every_document_across_chunks_of_any_size() {
        // Chunks of 0 to 700 documents (empty ones among them), each document's list its own number.
        let mut lists = Lists::default();
        let mut first = 0u32;
        for (i, n) in [300u32, 0, 1, 255, 256, 0, 0, 700, 2, 513].into_iter().enumerate() {
            lists.chunks.push(Chunk::new(first, (first..first + n).map(|d| vec![d, i as u32])));
            first += n;
        }
        let before: Vec<Vec<u32>> = (0..first).map(|d| lists.get(d).to_vec()).collect();
        lists.index();
        for d in 0..first {
            assert_eq!(lists.get(d), before[d as usize]);
            assert_eq!(lists.get(d)[0], d);
        }
    }

    #[test]
    fn documents_are_found_across_chunks() {
        let mut lists = Lists::default();
        lists.chunks.push(Chunk::new(0, [vec![1, 2], vec![], vec![3]]));
        lists.chunks.push(Chunk::new(3, [vec![4]]));
        lists.chunks.push(Chunk::new(4, [vec![5, 6, 7], vec![8]]));
        let mut filled = Chunk::empty(6);
        filled.push_with(|data| data.extend([9, 10]));
        filled.push_with(|_| {});
        filled.shrink();
        lists.chunks.push(filled);
        let all: Vec<Vec<u32>> = (0..8).map(|d| lists.get(d).to_vec()).collect();
        assert_eq!(all, [vec![1, 2], vec![], vec![3], vec![4], vec![5, 6, 7], vec![8], vec![9, 10], vec![]]);
        lists.index();
        assert_eq!((0..8).map(|d| lists.get(d).to_vec()).collect::<Vec<_>>(), all);
        assert_eq!(lists.chunks[0].len(), 3);
    }
}
