//! Text normalisation for matching.
//!
//! Two messages that a reader would call "the same text" must normalise to the same string, whichever keyboard,
//! exporter or platform wrote them. For Persian and Arabic that takes more than NFKC:
//! - Arabic yeh (ي U+064A), alef maksura (ى U+0649) and kaf (ك U+0643) become Persian yeh (ی) and keheh (ک);
//! - Persian (۰–۹) and Arabic-Indic (٠–٩) digits become ASCII;
//! - tatweel (ـ) and harakat (the short-vowel marks) are removed;
//! - ZWNJ (U+200C) is kept inside a word — it is part of Persian spelling — and removed at word edges;
//! - the verb prefixes می/نمی and the plural suffixes ها/های, which writers join with a space, with nothing or
//!   with a ZWNJ, are joined with a ZWNJ, as the hazm normaliser does;
//! - other zero-width characters and bidi controls are removed, white space is collapsed, case is folded.
//!
//! [`normalize`] is idempotent and never panics (property-tested).

use std::borrow::Cow;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

use crate::chars;

/// Zero-width non-joiner: part of Persian spelling.
pub const ZWNJ: char = '\u{200C}';

/// Normalise `text` for matching. See the module docs for what changes.
pub fn normalize(text: &str) -> String {
    if text.is_ascii() {
        return normalize_ascii(text);
    }
    if let Some(mapped) = fold_simple(text) {
        // Every character is NFKC-stable and lowercase-stable after folding, so one mapping pass is the fixpoint.
        return join_to_fixpoint(mapped);
    }
    let mut s = pass(text);
    // Removing a control between a letter and its combining mark, or folding case, can leave text that one more
    // pass would change; the checks are cheap, the extra pass rare.
    for _ in 0..4 {
        if is_nfkc_quick(s.chars()) == IsNormalized::Yes && !changes_under_lowercase(&s) {
            break;
        }
        let next = pass(&s);
        if next == s {
            break;
        }
        s = next;
    }
    s
}

fn pass(text: &str) -> String {
    let composed: String =
        if is_nfkc_quick(text.chars()) == IsNormalized::Yes { text.to_owned() } else { text.nfkc().collect() };
    let lowered = composed.to_lowercase();
    let mapped = map_chars(&lowered);
    join_to_fixpoint(mapped)
}

/// Joining affixes can expose another join ("کتاب ها ها"): run it to its fixpoint. Every change joins two words
/// or puts a ZWNJ in a word that had none, so this ends; text without a join costs one call.
fn join_to_fixpoint(mut current: String) -> String {
    while let Some(next) = join_persian_affixes(&current) {
        current = next;
    }
    current
}

/// Characters that NFKC leaves alone and whose lowercase (if any) is one character that NFKC also leaves alone:
/// ASCII, basic Cyrillic, Arabic and Persian letters and digits, ZWNJ, common punctuation, and pictographs.
/// Text made only of them skips NFKC and the general case mapping, which are most of normalisation's cost: it is
/// folded and mapped ([`map_chars`]) in one pass.
fn fold_simple(text: &str) -> Option<String> {
    let mut out = Mapper::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let run = unchanged_run(&text.as_bytes()[i..]);
        if run > 0 {
            out.push_unchanged(&text[i..i + run]);
            i += run;
            continue;
        }
        let c = text[i..].chars().next().expect("i is on a character boundary");
        out.push(fold_simple_char(c)?);
        i += c.len_utf8();
    }
    Some(out.out)
}

/// One character of [`fold_simple`]: folded, or `None` when it is not one of the simple characters.
fn fold_simple_char(c: char) -> Option<char> {
    Some(match c {
        'A'..='Z' => c.to_ascii_lowercase(),
        '\u{0410}'..='\u{042F}' => char::from_u32(c as u32 + 0x20)?,
        '\u{0400}'..='\u{040F}' => char::from_u32(c as u32 + 0x50)?,
        '\u{0000}'..='\u{007F}'
        | '\u{0430}'..='\u{045F}'
        | '\u{060C}'
        | '\u{061B}'
        | '\u{061F}'
        | '\u{0621}'..='\u{063A}'
        | '\u{0641}'..='\u{064A}'
        | '\u{0660}'..='\u{0669}'
        | '\u{067E}'
        | '\u{0686}'
        | '\u{0698}'
        | '\u{06A9}'
        | '\u{06AF}'
        | '\u{06CC}'
        | '\u{06F0}'..='\u{06F9}'
        | '\u{200C}'
        | '\u{00AB}'
        | '\u{00BB}'
        | '\u{2013}'
        | '\u{2014}'
        | '\u{2018}'..='\u{201D}'
        | '\u{1F300}'..='\u{1F5FF}'
        | '\u{1F600}'..='\u{1F64F}'
        | '\u{1F680}'..='\u{1F6FF}'
        | '\u{1F900}'..='\u{1F9FF}' => c,
        _ => return None,
    })
}

/// How many bytes at the start of `bytes` are characters that [`fold_simple_char`] and [`Mapper::push`] both
/// leave as they are and that are not white space or ZWNJ: lowercase ASCII, punctuation and digits, the Arabic
/// and Persian letters already in their Persian form, and lowercase Cyrillic. Such a run is copied whole, with
/// the single spaces between its words: a space the mapper would keep, as it stands between two such characters.
fn unchanged_run(bytes: &[u8]) -> usize {
    let mut i = unchanged_char_len(bytes);
    if i == 0 {
        return 0;
    }
    loop {
        let rest = &bytes[i..];
        let len = match rest.first() {
            // A space goes with the character after it, or ends the run.
            Some(b' ') => match unchanged_char_len(&rest[1..]) {
                0 => 0,
                len => 1 + len,
            },
            _ => unchanged_char_len(rest),
        };
        if len == 0 {
            return i;
        }
        i += len;
    }
}

/// The length of the character at the start of `bytes` if it is one of [`unchanged_run`]'s, else 0.
fn unchanged_char_len(bytes: &[u8]) -> usize {
    let Some(&b) = bytes.first() else { return 0 };
    if b < 0x80 {
        return usize::from(!(b.is_ascii_uppercase() || is_ascii_white_space(b)));
    }
    // Two-byte characters: U+0400..=U+06FF start with 0xD0..=0xDB.
    let Some(&next) = bytes.get(1) else { return 0 };
    if !(0xD0..=0xDB).contains(&b) {
        return 0;
    }
    let i = (usize::from(b & 0x1F) << 6 | usize::from(next & 0x3F)) - 0x0400;
    if UNCHANGED_TWO_BYTE[i / 64] & (1 << (i % 64)) != 0 { 2 } else { 0 }
}

/// The two-byte characters of [`unchanged_run`], a bit for each code point from U+0400 to U+06FF: lowercase
/// Cyrillic, Arabic punctuation, and the Arabic letters that are already in their Persian form.
const UNCHANGED_TWO_BYTE: [u64; 12] = {
    let mut bits = [0u64; 12];
    let mut c = 0x0400;
    while c < 0x0700 {
        let unchanged = matches!(c,
            0x0430..=0x045F
            | 0x060C
            | 0x061B
            | 0x061F
            | 0x0621..=0x063A
            | 0x0641..=0x0642
            | 0x0644..=0x0648
            | 0x067E
            | 0x0686
            | 0x0698
            | 0x06A9
            | 0x06AF
            | 0x06CC);
        if unchanged {
            let i = c - 0x0400;
            bits[i / 64] |= 1 << (i % 64);
        }
        c += 1;
    }
    bits
};

fn changes_under_lowercase(s: &str) -> bool {
    s.chars().any(|c| {
        let mut lower = c.to_lowercase();
        lower.next() != Some(c) || lower.next().is_some()
    })
}

/// White space among the ASCII bytes, as `char::is_whitespace` has it (with the vertical tab, which
/// `u8::is_ascii_whitespace` leaves out).
fn is_ascii_white_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C)
}

/// Built once: `memmem::find` builds a searcher per call.
static DOUBLE_SPACE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"  "));

/// The fast path: ASCII text only needs case folding and white space collapsed.
fn normalize_ascii(text: &str) -> String {
    let bytes = text.as_bytes();
    // Most messages have single spaces only: then folding case is all. Deciding takes passes that vectorise
    // (an OR over the bytes, a substring search), not a branch per byte.
    let other_space = bytes.iter().fold(false, |any, &b| any | (b != b' ' && is_ascii_white_space(b)));
    let edge_space = bytes.first() == Some(&b' ') || bytes.last() == Some(&b' ');
    if !other_space && !edge_space && DOUBLE_SPACE.find(bytes).is_none() {
        return text.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(text.len());
    // White space as `char::is_whitespace` has it in ASCII, as the other paths do: with the vertical tab, which
    // `split_ascii_whitespace` leaves in.
    for word in text.split(|c: char| c.is_whitespace()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    // One pass over the copied bytes, not a push per byte.
    out.make_ascii_lowercase();
    out
}

/// Letters, digits and marks: what a ZWNJ may sit between.
fn is_word_char(c: char) -> bool {
    chars::is_alphanumeric(c)
}

/// Map letters and digits, drop marks and controls, collapse white space, keep ZWNJ only inside words.
fn map_chars(text: &str) -> String {
    let mut out = Mapper::with_capacity(text.len());
    for c in text.chars() {
        out.push(c);
    }
    out.out
}

/// [`map_chars`] one character at a time.
struct Mapper {
    out: String,
    pending_space: bool,
    pending_zwnj: bool,
}

impl Mapper {
    fn with_capacity(n: usize) -> Mapper {
        Mapper { out: String::with_capacity(n), pending_space: false, pending_zwnj: false }
    }

    /// A run of characters that map to themselves and are neither white space nor ZWNJ ([`unchanged_run`]):
    /// the first settles a pending space or ZWNJ, the rest are copied as they are.
    fn push_unchanged(&mut self, run: &str) {
        let mut chars = run.chars();
        if let Some(first) = chars.next() {
            self.push(first);
            self.out.push_str(chars.as_str());
        }
    }

    fn push(&mut self, c: char) {
        let c = match c {
            '\u{064A}' | '\u{0649}' => '\u{06CC}',
            '\u{0643}' => '\u{06A9}',
            '\u{06F0}'..='\u{06F9}' => char::from(b'0' + (c as u32 - 0x06F0) as u8),
            '\u{0660}'..='\u{0669}' => char::from(b'0' + (c as u32 - 0x0660) as u8),
            // Tatweel, harakat (fathatan..sukun and the rarer marks after them), superscript alef.
            '\u{0640}' | '\u{064B}'..='\u{065F}' | '\u{0670}' => return,
            // Zero-width space/joiner, directional marks, embeddings, overrides, isolates, BOM, soft hyphen,
            // Arabic letter mark, word joiner, variation selectors.
            '\u{200B}'
            | '\u{200D}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
            | '\u{00AD}'
            | '\u{061C}'
            | '\u{FE00}'..='\u{FE0F}' => return,
            c => c,
        };
        if c == ZWNJ {
            self.pending_zwnj = true;
            return;
        }
        if c.is_whitespace() {
            self.pending_space = true;
            self.pending_zwnj = false;
            return;
        }
        if self.pending_space {
            if !self.out.is_empty() {
                self.out.push(' ');
            }
            self.pending_space = false;
        }
        if self.pending_zwnj {
            // Keep one ZWNJ only between two word characters.
            if self.out.chars().next_back().is_some_and(is_word_char) && is_word_char(c) {
                self.out.push(ZWNJ);
            }
            self.pending_zwnj = false;
        }
        self.out.push(c);
    }
}

/// Present-tense and past verb stems that take the می/نمی prefix. With a stem on this list, a prefix written with
/// nothing between it and the verb ("میشود") is joined with a ZWNJ; without the list that would break words such
/// as میز (table) or میوه (fruit).
const VERB_STEMS: &[&str] = &[
    "شو",
    "شد",
    "کن",
    "کرد",
    "خواه",
    "خواست",
    "دان",
    "دانست",
    "گوی",
    "گو",
    "گفت",
    "ده",
    "داد",
    "توان",
    "توانست",
    "رو",
    "رفت",
    "آی",
    "آمد",
    "گیر",
    "گرفت",
    "بین",
    "دید",
    "زن",
    "زد",
    "آور",
    "آورد",
    "گذار",
    "گذاشت",
    "رس",
    "رسید",
    "پرداز",
    "پرداخت",
    "ساز",
    "ساخت",
    "یاب",
    "یافت",
    "نویس",
    "نوشت",
    "خور",
    "خورد",
    "پذیر",
    "پذیرفت",
    "کش",
    "کشید",
    "ماند",
    "مان",
    "گرد",
    "گشت",
    "خوان",
    "خواند",
    "پرس",
    "پرسید",
    "فهم",
    "فهمید",
    "نشین",
    "نشست",
    "شناس",
    "شناخت",
    "بر",
    "برد",
    "دار",
    "داشت",
    "ترس",
    "ترسید",
    "جنگ",
    "جنگید",
    "کوش",
    "کوشید",
    "افت",
    "افتاد",
    "فرست",
    "فرستاد",
];

/// Personal endings a verb stem takes.
const VERB_ENDINGS: &[&str] = &["", "م", "ی", "د", "یم", "ید", "ند", "ه", "یم"];

/// Words that end in ها without being plurals, or whose plural is not split the usual way.
const HA_EXCEPTIONS: &[&str] = &["تنها", "رها", "بها", "اژدها", "انتها", "اشتها", "ها", "های", "هایی"];

fn is_prefixed_verb(rest: &str) -> bool {
    VERB_STEMS.iter().any(|stem| rest.strip_prefix(stem).is_some_and(|ending| VERB_ENDINGS.contains(&ending)))
}

/// Join می/نمی prefixes and ها/های suffixes with a ZWNJ (input already through [`map_chars`]: single spaces,
/// ZWNJ only inside words). `None` when nothing is joined, as in text without Arabic-script letters: every join
/// changes the text, so `None` is also the fixpoint. Nothing is copied until the first word that changes.
fn join_persian_affixes(text: &str) -> Option<String> {
    // Every join takes a word holding می or ها (the prefixes, the suffixes, the glued plurals): text with
    // neither, as most text in other languages and a third of Persian messages, has nothing to join.
    let bytes = text.as_bytes();
    if MI.find(bytes).is_none() && HA.find(bytes).is_none() {
        return None;
    }
    let mut words = Words(Some(text)).peekable();
    let mut out: Option<String> = None;
    // Where the current word starts in `text`.
    let mut start = 0;
    while let Some(word) = words.next() {
        let word_start = start;
        start += word.len() + 1;
        let mut joined = Cow::Borrowed(word);
        // "می شود" / "نمی شود": a prefix standing alone before a word.
        if (word == "می" || word == "نمی") && words.peek().is_some_and(|next| starts_with_persian_letter(next)) {
            let next = words.next().expect("peeked");
            start += next.len() + 1;
            joined = Cow::Owned(format!("{word}{ZWNJ}{next}"));
        } else if let Some(rest) = word.strip_prefix("نمی").or_else(|| word.strip_prefix("می"))
            && !rest.is_empty()
            && !rest.starts_with(ZWNJ)
            && is_prefixed_verb(rest)
        {
            // "میشود": the prefix written with nothing between.
            let prefix_len = word.len() - rest.len();
            joined = Cow::Owned(format!("{}{}{}", &word[..prefix_len], ZWNJ, rest));
        }
        // "کتاب ها" / "کتابها" → "کتاب‌ها".
        // A ZWNJ only stands between letters: "(هوم لس) ها" keeps its space.
        if words.peek().is_some_and(|next| is_plural_suffix(next))
            && persian_letters(&joined) >= 2
            && joined.chars().next_back().is_some_and(is_word_char)
        {
            let next = words.next().expect("peeked");
            start += next.len() + 1;
            let mut plural = joined.into_owned();
            plural.push(ZWNJ);
            plural.push_str(next);
            joined = Cow::Owned(plural);
        } else if let Some(split) = split_glued_plural(&joined) {
            joined = Cow::Owned(split);
        }
        match (&mut out, joined) {
            (None, Cow::Borrowed(_)) => {}
            (None, Cow::Owned(changed)) => {
                // The words before this one, with the space after them, as they were.
                let mut copy = String::with_capacity(text.len() + 8);
                copy.push_str(&text[..word_start]);
                copy.push_str(&changed);
                out = Some(copy);
            }
            (Some(copy), joined) => {
                copy.push(' ');
                copy.push_str(&joined);
            }
        }
    }
    out
}

/// The verb prefix می, in every word that a prefix join changes.
static MI: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new("می".as_bytes()));

/// ها, in every word that a suffix join changes.
static HA: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new("ها".as_bytes()));

/// `text.split(' ')`, without a `memchr` call per word: Persian words are a few bytes long, and a plain loop
/// finds their ends sooner (the call was 4% of ingest).
struct Words<'a>(Option<&'a str>);

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.0?;
        match rest.bytes().position(|b| b == b' ') {
            Some(end) => {
                self.0 = Some(&rest[end + 1..]);
                Some(&rest[..end])
            }
            None => {
                self.0 = None;
                Some(rest)
            }
        }
    }
}

fn starts_with_persian_letter(word: &str) -> bool {
    word.chars().next().is_some_and(|c| ('\u{0620}'..='\u{06FF}').contains(&c) && chars::is_alphabetic(c))
}

fn persian_letters(word: &str) -> usize {
    word.chars().filter(|c| ('\u{0620}'..='\u{06FF}').contains(c)).count()
}

fn is_plural_suffix(word: &str) -> bool {
    matches!(word, "ها" | "های" | "هایی" | "هایم" | "هایت" | "هایش" | "هایمان" | "هایتان" | "هایشان")
}

/// "کتابها" → "کتاب‌ها" when the stem before ها keeps at least three letters and the word is not a known
/// exception; shorter stems (تنها, رها) are too often whole words. `None` when the word stays as it is.
fn split_glued_plural(word: &str) -> Option<String> {
    // Every split ends in ها or های(ی): most words are ruled out by their last letter.
    if !(word.ends_with("ها") || word.ends_with("های") || word.ends_with("هایی")) || word.contains(ZWNJ) {
        return None;
    }
    if word == "آنها" || word == "اینها" {
        let stem = &word[..word.len() - "ها".len()];
        return Some(format!("{stem}{ZWNJ}ها"));
    }
    if HA_EXCEPTIONS.contains(&word) {
        return None;
    }
    for suffix in ["هایی", "های", "ها"] {
        if let Some(stem) = word.strip_suffix(suffix) {
            if stem.chars().count() >= 3 && stem.chars().all(|c| ('\u{0620}'..='\u{06FF}').contains(&c)) {
                return Some(format!("{stem}{ZWNJ}{suffix}"));
            }
            break;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ascii_folds_case_and_space() {
        assert_eq!(normalize("  Hello\tWORLD \n again "), "hello world again");
        assert_eq!(normalize("Hello WORLD, again!"), "hello world, again!");
        for spaced in ["a  b", " a b", "a b ", "a\tb", "a\nb", "a\rb", "a\u{0B}b", "a\u{0C}b"] {
            assert_eq!(normalize(spaced), "a b", "{spaced:?}");
        }
    }

    #[test]
    fn arabic_letters_become_persian() {
        // كتاب with Arabic kaf, علي with Arabic yeh.
        assert_eq!(normalize("\u{0643}\u{062A}\u{0627}\u{0628}"), "کتاب");
        assert_eq!(normalize("علي"), "علی");
        assert_eq!(normalize("موسى"), "موسی");
    }

    #[test]
    fn digits_become_ascii() {
        assert_eq!(normalize("سال ۱۴۰۲ و ٢٠٢٣"), "سال 1402 و 2023");
    }

    #[test]
    fn tatweel_and_harakat_removed() {
        assert_eq!(normalize("ســـلام"), "سلام");
        assert_eq!(normalize("مُحَمَّد"), "محمد");
    }

    #[test]
    fn zwnj_kept_inside_words_removed_at_edges() {
        assert_eq!(normalize("کتاب\u{200C}ها"), "کتاب\u{200C}ها");
        assert_eq!(normalize("\u{200C}سلام\u{200C} دنیا"), "سلام دنیا");
        assert_eq!(normalize("کتاب\u{200C}\u{200C}ها"), "کتاب\u{200C}ها");
    }

    #[test]
    fn bidi_and_zero_width_controls_removed() {
        assert_eq!(normalize("\u{202B}سلام\u{202C}\u{200F}"), "سلام");
        assert_eq!(normalize("a\u{200B}b"), "ab");
    }

    #[test]
    fn mi_prefix_three_ways_one_word() {
        let want = "می\u{200C}شود";
        assert_eq!(normalize("می شود"), want);
        assert_eq!(normalize("میشود"), want);
        assert_eq!(normalize("می\u{200C}شود"), want);
        assert_eq!(normalize("نمی خواهم"), "نمی\u{200C}خواهم");
        assert_eq!(normalize("نمیخواهم"), "نمی\u{200C}خواهم");
        // Words that merely start with می are left alone.
        assert_eq!(normalize("میز"), "میز");
        assert_eq!(normalize("میوه"), "میوه");
    }

    #[test]
    fn plural_suffix_three_ways_one_word() {
        let want = "کتاب\u{200C}ها";
        assert_eq!(normalize("کتاب ها"), want);
        assert_eq!(normalize("کتابها"), want);
        assert_eq!(normalize("کتاب\u{200C}ها"), want);
        assert_eq!(normalize("رسانه های"), "رسانه\u{200C}های");
        assert_eq!(normalize("آنها"), "آن\u{200C}ها");
        assert_eq!(normalize("تنها"), "تنها");
        // Regression (ParsTwiNER): a plural suffix after a closing bracket is not joined, a ZWNJ there would not
        // survive a second pass.
        assert_eq!(normalize("(هوم لس) ها"), "(هوم لس) ها");
    }

    #[test]
    fn arabic_and_zwnj_less_copy_is_the_same_text() {
        let persian = "آن\u{200C}ها می\u{200C}گویند که کتاب\u{200C}های ما را می\u{200C}خوانند";
        let variant = "آنها ميگويند كه كتاب هاي ما را ميخوانند";
        assert_eq!(normalize(variant), normalize(persian));
    }

    #[test]
    fn russian_case_folds() {
        assert_eq!(normalize("ПРИВЕТ Мир"), "привет мир");
    }

    #[test]
    fn nfkc_folds_compatibility_forms() {
        assert_eq!(normalize("ＡＢＣ１２３"), "abc123");
        // Arabic presentation form of lam-alef.
        assert_eq!(normalize("\u{FEFB}"), "لا");
    }

    proptest! {
        #[test]
        fn words_are_split_at_each_space(s in "[ aب]{0,12}") {
            prop_assert_eq!(Words(Some(&s)).collect::<Vec<_>>(), s.split(' ').collect::<Vec<_>>());
        }
    }

    proptest! {
        #[test]
        fn ascii_text_is_its_words_lowercased_and_joined(s in "[ \t\n\r\u{0B}\u{0C}a-zA-Z0-9.!]{0,30}") {
            let words: Vec<String> = s.split_whitespace().map(str::to_ascii_lowercase).collect();
            prop_assert_eq!(normalize(&s), words.join(" "));
        }
    }

    /// Every one- and two-byte character, inside a run and at its edges, folds as it does on its own.
    #[test]
    fn runs_stop_at_characters_that_are_not_simple() {
        for c in (0u32..0x800).filter_map(char::from_u32) {
            for s in [format!("ab{c}سل"), format!("{c}сл"), format!("ک{c}"), format!("{c}")] {
                assert_eq!(fold_simple(&s), fold_simple_per_char(&s), "{s:?}");
            }
        }
    }

    /// [`fold_simple`] as it was before runs were copied whole: one character at a time.
    fn fold_simple_per_char(text: &str) -> Option<String> {
        let mut out = Mapper::with_capacity(text.len());
        for c in text.chars() {
            out.push(fold_simple_char(c)?);
        }
        Some(out.out)
    }

    proptest! {
        #[test]
        fn copying_unchanged_runs_is_folding_each_character(s in "[ \t\na-zA-Z0-9.,!?\u{0400}-\u{045F}\u{060C}\u{061B}\u{061F}\u{0621}-\u{063A}\u{0641}-\u{064A}\u{0660}-\u{0669}\u{067E}\u{0686}\u{0698}\u{06A9}\u{06AF}\u{06CC}\u{06F0}-\u{06F9}\u{200C}\u{00AB}\u{1F600}-\u{1F64F}]{0,40}") {
            let folded = fold_simple(&s);
            prop_assert!(folded.is_some());
            prop_assert_eq!(folded, fold_simple_per_char(&s));
        }

        #[test]
        fn simple_path_agrees_with_the_general_one(s in "[ a-zA-Z0-9.,!?\u{0400}-\u{045F}\u{0621}-\u{064A}\u{067E}\u{06A9}\u{06AF}\u{06CC}\u{06F0}-\u{06F9}\u{200C}\u{1F600}-\u{1F64F}]{0,40}") {
            let mut general = pass(&s);
            for _ in 0..4 {
                let next = pass(&general);
                if next == general { break; }
                general = next;
            }
            prop_assert_eq!(normalize(&s), general);
        }

        #[test]
        fn idempotent(s in "\\PC{0,64}") {
            let once = normalize(&s);
            prop_assert_eq!(normalize(&once), once);
        }

        #[test]
        fn idempotent_on_persian_mixtures(s in "[ \u{200C}\u{200D}\u{064A}\u{0643}\u{06CC}\u{06A9}می ها نکتابشودز\u{0640}\u{064E}۱٢a-zA-Z0-9]{0,40}") {
            let once = normalize(&s);
            prop_assert_eq!(normalize(&once), once);
        }

        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let s = String::from_utf8_lossy(&bytes);
            let _ = normalize(&s);
        }
    }
}

/// The real Persian tweets of ParsTwiNER (testdata/samples/persian-parstwiner): what normalisation must do on
/// text written by thousands of people with every keyboard.
#[cfg(test)]
mod real_persian {
    use super::*;

    #[test]
    fn parstwiner_tweets_normalise_cleanly() {
        let path = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo"))
            .join("../../testdata/samples/persian-parstwiner/twitter_data/extracted_data.txt");
        let text = std::fs::read_to_string(path).unwrap();
        let tweets: Vec<&str> = text.split("\n\n**************\n\n").filter(|t| !t.trim().is_empty()).collect();
        assert!(tweets.len() > 9000, "{}", tweets.len());
        let mut zwnj_words = 0;
        for tweet in &tweets {
            let n = normalize(tweet);
            assert_eq!(normalize(&n), n, "not idempotent on {tweet:?}");
            for c in n.chars() {
                assert!(
                    !matches!(c, '\u{064A}' | '\u{0643}' | '\u{0640}' | '\u{064B}'..='\u{065F}' | '\u{06F0}'..='\u{06F9}'
                        | '\u{0660}'..='\u{0669}' | '\u{200B}' | '\u{200D}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
                        | '\u{2066}'..='\u{2069}'),
                    "{c:?} left in {n:?}"
                );
            }
            for word in n.split(' ') {
                assert!(!word.starts_with(ZWNJ) && !word.ends_with(ZWNJ), "ZWNJ at a word edge in {word:?}");
                zwnj_words += usize::from(word.contains(ZWNJ));
            }
        }
        // ZWNJ inside words is kept (the corpus has 8,221 of them, and joining affixes adds more).
        assert!(zwnj_words > 8000, "{zwnj_words}");
    }
}
