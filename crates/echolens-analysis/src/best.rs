//! The best few of a long stream ([`Best`]): what a report lists of results it never holds whole.

/// The best `cap` items pushed, by `order` (best first; equal ones in the order they came), holding at most a
/// few times `cap` whatever is pushed: past that it keeps the best `cap` and goes on.
pub struct Best<T> {
    items: Vec<T>,
    cap: usize,
    order: fn(&T, &T) -> std::cmp::Ordering,
}

impl<T> Best<T> {
    /// Keeps the best `cap` by `order`.
    pub fn new(cap: usize, order: fn(&T, &T) -> std::cmp::Ordering) -> Best<T> {
        Best { items: Vec::new(), cap, order }
    }

    /// Takes in one item.
    pub fn push(&mut self, item: T) {
        self.items.push(item);
        if self.items.len() >= 4 * self.cap.max(16) {
            self.trim();
        }
    }

    fn trim(&mut self) {
        // Stable: equal items stay in the order they came.
        self.items.sort_by(self.order);
        self.items.truncate(self.cap);
    }

    /// The best `cap`, best first.
    pub fn into_sorted(mut self) -> Vec<T> {
        self.trim();
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past many trims, the best are those of sorting everything at once, equal ones in the order they came.
    #[test]
    fn the_best_are_those_of_sorting_everything() {
        let items: Vec<(u32, usize)> = (0..1000).map(|i| ((i * 7919 % 13) as u32, i)).collect();
        let mut best = Best::new(20, |a: &(u32, usize), b: &(u32, usize)| b.0.cmp(&a.0));
        let by_first_descending = |a: &(u32, usize)| std::cmp::Reverse(a.0);
        for &item in &items {
            best.push(item);
        }
        let mut all = items.clone();
        all.sort_by_key(by_first_descending);
        all.truncate(20);
        assert_eq!(best.into_sorted(), all);
    }
}
