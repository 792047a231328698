//! `char::is_alphanumeric` and `char::is_alphabetic` without the general Unicode table search for the scripts
//! echolens sees most.
//!
//! The standard library answers these by a binary search and then a linear scan of its tables: about 500
//! instructions for an Arabic letter, 3% of ingest. Below U+0800 (Latin, Greek, Cyrillic, Armenian, Hebrew,
//! Arabic, Syriac, Thaana, N'Ko) the answers are looked up in a bitmap instead. The bitmaps hold the standard
//! library's own answers; a test compares them, character by character, so a new Unicode version in Rust that
//! changes one fails the build's tests rather than the matching.

/// The first character the bitmaps do not cover.
const COVERED: u32 = 0x800;

type Bitmap = [u64; (COVERED / 64) as usize];

/// A bitmap of the characters below [`COVERED`] in `ranges` (inclusive, as `(first, last)`).
const fn bitmap(ranges: &[(u32, u32)]) -> Bitmap {
    let mut bits = [0u64; (COVERED / 64) as usize];
    let mut r = 0;
    while r < ranges.len() {
        let (first, last) = ranges[r];
        let mut u = first;
        while u <= last {
            bits[(u / 64) as usize] |= 1 << (u % 64);
            u += 1;
        }
        r += 1;
    }
    bits
}

/// Letters below U+0800, as `char::is_alphabetic` has them (Rust 1.95, Unicode 16).
const ALPHABETIC_RANGES: &[(u32, u32)] = &[
    (0x0041, 0x005A),
    (0x0061, 0x007A),
    (0x00AA, 0x00AA),
    (0x00B5, 0x00B5),
    (0x00BA, 0x00BA),
    (0x00C0, 0x00D6),
    (0x00D8, 0x00F6),
    (0x00F8, 0x02C1),
    (0x02C6, 0x02D1),
    (0x02E0, 0x02E4),
    (0x02EC, 0x02EC),
    (0x02EE, 0x02EE),
    (0x0345, 0x0345),
    (0x0363, 0x0374),
    (0x0376, 0x0377),
    (0x037A, 0x037D),
    (0x037F, 0x037F),
    (0x0386, 0x0386),
    (0x0388, 0x038A),
    (0x038C, 0x038C),
    (0x038E, 0x03A1),
    (0x03A3, 0x03F5),
    (0x03F7, 0x0481),
    (0x048A, 0x052F),
    (0x0531, 0x0556),
    (0x0559, 0x0559),
    (0x0560, 0x0588),
    (0x05B0, 0x05BD),
    (0x05BF, 0x05BF),
    (0x05C1, 0x05C2),
    (0x05C4, 0x05C5),
    (0x05C7, 0x05C7),
    (0x05D0, 0x05EA),
    (0x05EF, 0x05F2),
    (0x0610, 0x061A),
    (0x0620, 0x0657),
    (0x0659, 0x065F),
    (0x066E, 0x06D3),
    (0x06D5, 0x06DC),
    (0x06E1, 0x06E8),
    (0x06ED, 0x06EF),
    (0x06FA, 0x06FC),
    (0x06FF, 0x06FF),
    (0x0710, 0x073F),
    (0x074D, 0x07B1),
    (0x07CA, 0x07EA),
    (0x07F4, 0x07F5),
    (0x07FA, 0x07FA),
];

/// Numbers below U+0800 that are not letters: with the letters, what `char::is_alphanumeric` accepts.
const NUMERIC_RANGES: &[(u32, u32)] = &[
    (0x0030, 0x0039),
    (0x00B2, 0x00B3),
    (0x00B9, 0x00B9),
    (0x00BC, 0x00BE),
    (0x0660, 0x0669),
    (0x06F0, 0x06F9),
    (0x07C0, 0x07C9),
];

static ALPHABETIC: Bitmap = bitmap(ALPHABETIC_RANGES);

static ALPHANUMERIC: Bitmap = {
    let mut bits = bitmap(ALPHABETIC_RANGES);
    let numeric = bitmap(NUMERIC_RANGES);
    let mut i = 0;
    while i < bits.len() {
        bits[i] |= numeric[i];
        i += 1;
    }
    bits
};

fn lookup(bits: &Bitmap, u: u32) -> bool {
    bits[(u / 64) as usize] >> (u % 64) & 1 == 1
}

/// `c.is_alphanumeric()`, fast for characters below U+0800.
#[inline]
pub(crate) fn is_alphanumeric(c: char) -> bool {
    let u = c as u32;
    if u < COVERED { lookup(&ALPHANUMERIC, u) } else { c.is_alphanumeric() }
}

/// `c.is_alphabetic()`, fast for characters below U+0800.
#[inline]
pub(crate) fn is_alphabetic(c: char) -> bool {
    let u = c as u32;
    if u < COVERED { lookup(&ALPHABETIC, u) } else { c.is_alphabetic() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character, not a sample: the bitmaps must be exactly the standard library's answers.
    #[test]
    fn agrees_with_the_standard_library_on_every_character() {
        for c in (0..=char::MAX as u32).filter_map(char::from_u32) {
            assert_eq!(is_alphanumeric(c), c.is_alphanumeric(), "is_alphanumeric({c:?} U+{:04X})", c as u32);
            assert_eq!(is_alphabetic(c), c.is_alphabetic(), "is_alphabetic({c:?} U+{:04X})", c as u32);
        }
    }

    #[test]
    fn covers_the_scripts_it_is_for() {
        // Persian and Arabic letters, Persian digits, Cyrillic, Latin: answered from the bitmap.
        for c in ['ک', 'ی', 'ي', 'ك', '۴', 'ж', 'é', 'z'] {
            assert!((c as u32) < COVERED && is_alphanumeric(c), "{c}");
        }
        assert!(!is_alphabetic('۴') && is_alphanumeric('۴'));
        // ZWNJ, the Arabic comma and space are not word characters.
        for c in ['\u{200C}', '،', ' '] {
            assert!(!is_alphanumeric(c), "{c:?}");
        }
    }
}
