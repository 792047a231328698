//! Word tables for counting: each distinct word once, numbered by the interner (found by its hash and checked
//! against its text, so two words with the same hash stay two words), with its counts beside it.

use crate::lists::Interner;

/// Distinct words with their counts on two sides (target, reference).
#[derive(Default)]
pub(super) struct Vocab {
    ids: Interner,
    pub counts: Vec<[u64; 2]>,
}

impl std::fmt::Debug for Vocab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vocab({} words)", self.len())
    }
}

impl Vocab {
    /// The id of `word`, added with zero counts when new.
    pub(super) fn id(&mut self, word: &str) -> u32 {
        let id = self.ids.get(word);
        if id as usize == self.counts.len() {
            self.counts.push([0, 0]);
        }
        id
    }

    /// The words, by id.
    pub(super) fn words(&self) -> &[String] {
        &self.ids.names
    }

    /// Add `side` counts to `word`.
    pub(super) fn add(&mut self, word: &str, side: [bool; 2]) {
        let id = self.id(word) as usize;
        self.counts[id][0] += u64::from(side[0]);
        self.counts[id][1] += u64::from(side[1]);
    }

    /// Add `counts` to `word`.
    pub(super) fn add_counts(&mut self, word: &str, counts: [u64; 2]) {
        let id = self.id(word) as usize;
        self.counts[id][0] += counts[0];
        self.counts[id][1] += counts[1];
    }

    /// The number of distinct words.
    pub(super) fn len(&self) -> usize {
        self.counts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_found_by_text() {
        let mut v = Vocab::default();
        v.add("a", [true, false]);
        v.add("b", [false, true]);
        v.add("a", [true, true]);
        v.add_counts("c", [1, 0]);
        v.add_counts("a", [0, 1]);
        assert_eq!(v.len(), 3);
        assert_eq!((v.id("a"), v.id("b"), v.id("c")), (0, 1, 2));
        assert_eq!((v.ids.find("b"), v.ids.find("d")), (Some(1), None));
        assert_eq!(v.counts, [[2, 2], [0, 1], [1, 0]]);
    }
}
