//! Words of normalised text, for matching and counting.
//!
//! A token is a run of letters, digits, combining marks and `_`, with a ZWNJ kept where it joins two such
//! characters (it is part of a Persian word, never a break). A leading `#` or `@` stays on the token, so
//! `#tag` and `tag` count apart. URLs (a white-space separated chunk that starts with `http://`, `https://` or
//! `www.`) are not words and are skipped whole. Input is expected to be [`normalize`](crate::normalize)d
//! already: tokenising does not fold case or letters.

use crate::ZWNJ;
use crate::chars;

#[inline]
fn is_word(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    // The scripts echolens sees most, without the general Unicode table lookup: Cyrillic letters, Arabic-script
    // letters and digits (Persian, Arabic, Urdu).
    if matches!(u, 0x0400..=0x0481 | 0x048A..=0x052F | 0x0620..=0x064A | 0x0660..=0x0669 | 0x066E..=0x06D3 | 0x06F0..=0x06FF)
    {
        return true;
    }
    chars::is_alphanumeric(c) || unicode_general_mark(c)
}

/// Combining marks that normalisation keeps (Devanagari vowel signs and the like). Arabic harakat are removed by
/// `normalize` before they reach here.
fn unicode_general_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x0900..=0x0DFF | 0x1AB0..=0x1AFF | 0x20D0..=0x20FF)
        && !chars::is_alphanumeric(c)
}

fn is_url(chunk: &str) -> bool {
    chunk.starts_with("http://") || chunk.starts_with("https://") || chunk.starts_with("www.")
}

/// The tokens of `text`, in order.
///
/// ```
/// use echolens_text::tokens;
/// let t: Vec<&str> = tokens("می\u{200C}شود، #زن_زندگی see https://x.org/a?b=1 don't").collect();
/// assert_eq!(t, ["می\u{200C}شود", "#زن_زندگی", "see", "don", "t"]);
/// ```
pub fn tokens(text: &str) -> Tokens<'_> {
    Tokens { text, pos: 0, chunk_start: true }
}

/// The iterator of [`tokens`]: one pass over the bytes, ASCII without decoding, other characters decoded once.
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    text: &'a str,
    pos: usize,
    /// Whether `pos` starts a white-space separated chunk (where a URL would start).
    chunk_start: bool,
}

/// The character at byte `pos` of `text` and its length in bytes.
#[inline]
fn char_at(text: &str, pos: usize) -> (char, usize) {
    let b = text.as_bytes()[pos];
    if b < 0x80 {
        return (b as char, 1);
    }
    let c = text[pos..].chars().next().expect("pos is a char boundary");
    (c, c.len_utf8())
}

#[inline]
fn is_space(c: char) -> bool {
    if (c as u32) < 0x80 { matches!(c, '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ') } else { c.is_whitespace() }
}

impl<'a> Tokens<'a> {
    /// Whether the character at byte `pos` (if any) is a word character.
    #[inline]
    fn word_at(&self, pos: usize) -> bool {
        pos < self.text.len() && is_word(char_at(self.text, pos).0)
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let text = self.text;
        let bytes = text.as_bytes();
        // Find the start: a word character, or `#`/`@` directly before one, outside URLs.
        let (start, mut pos) = loop {
            if self.pos >= text.len() {
                return None;
            }
            let (c, len) = char_at(text, self.pos);
            if is_space(c) {
                self.pos += len;
                self.chunk_start = true;
                continue;
            }
            if std::mem::take(&mut self.chunk_start) && is_url(&text[self.pos..]) {
                while self.pos < text.len() && !is_space(char_at(text, self.pos).0) {
                    self.pos += char_at(text, self.pos).1;
                }
                continue;
            }
            if is_word(c) {
                break (self.pos, self.pos + len);
            }
            if (c == '#' || c == '@') && self.word_at(self.pos + 1) {
                break (self.pos, self.pos + 1 + char_at(text, self.pos + 1).1);
            }
            self.pos += len;
        };
        // Extend over word characters, and a ZWNJ between two of them.
        let mut prev_word = true;
        while pos < text.len() {
            if bytes[pos] < 0x80 {
                if is_word(bytes[pos] as char) {
                    prev_word = true;
                    pos += 1;
                    continue;
                }
                break;
            }
            let (c, len) = char_at(text, pos);
            if is_word(c) {
                prev_word = true;
            } else if c == ZWNJ && prev_word && self.word_at(pos + len) {
                prev_word = false;
            } else {
                break;
            }
            pos += len;
        }
        self.pos = pos;
        Some(&text[start..pos])
    }
}

/// The number of tokens in `text`; the same as `tokens(text).count()`, in one pass without building tokens
/// (analyses call it on every message).
pub fn token_count(text: &str) -> usize {
    token_count_capped(text, usize::MAX)
}

/// `min(token_count(text), cap)`, stopping as soon as `cap` tokens are seen: "has this text at least `cap`
/// words?" reads only as far as needed.
pub fn token_count_capped(text: &str, cap: usize) -> usize {
    if cap == 0 {
        return 0;
    }
    let mut count = 0;
    let mut in_token = false;
    let mut chunk_start = true;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_whitespace() {
            in_token = false;
            chunk_start = true;
            continue;
        }
        if chunk_start {
            chunk_start = false;
            if is_url(&text[i..]) {
                while chars.next_if(|&(_, n)| !n.is_whitespace()).is_some() {}
                continue;
            }
        }
        if is_word(c) {
            if !in_token {
                count += 1;
                if count >= cap {
                    return count;
                }
                in_token = true;
            }
        } else if c == ZWNJ && in_token {
            in_token = chars.peek().is_some_and(|&(_, n)| is_word(n));
        } else if c == '#' || c == '@' {
            in_token = chars.peek().is_some_and(|&(_, n)| is_word(n));
            count += usize::from(in_token);
            if count >= cap {
                return count;
            }
        } else {
            in_token = false;
        }
    }
    count
}

/// Characters that end a phrase: no n-gram spans them (`hello, world` has no phrase `hello world`).
fn is_phrase_break(c: char) -> bool {
    matches!(
        c,
        '.' | ','
            | ';'
            | ':'
            | '!'
            | '?'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '"'
            | '«'
            | '»'
            | '“'
            | '”'
            | '„'
            | '…'
            | '،'
            | '؛'
            | '؟'
            | '|'
            | '—'
            | '–'
            | '•'
            | '·'
            | '\n'
    )
}

/// The tokens of `text` in order, each with whether it starts a new phrase: the first token, and every token
/// after a line break, clause punctuation (`.,;:!?()"«»،؛؟…—` and the like) or a URL. Word n-grams are runs
/// of tokens within one phrase. The tokens are exactly those of [`tokens`].
///
/// ```
/// use echolens_text::phrase_tokens;
/// let mut runs: Vec<Vec<&str>> = Vec::new();
/// phrase_tokens("death to x, long live y https://t.co/a z", |t, new| {
///     if new { runs.push(Vec::new()); }
///     runs.last_mut().unwrap().push(t);
/// });
/// assert_eq!(runs, [vec!["death", "to", "x"], vec!["long", "live", "y"], vec!["z"]]);
/// ```
pub fn phrase_tokens<'a>(text: &'a str, mut f: impl FnMut(&'a str, bool)) {
    // One pass over the tokens: a token starts a phrase when what lies between it and the token before holds a
    // break. A skipped URL always does (`://` or `www.`), and so does a line break.
    let mut end: Option<usize> = None;
    for token in tokens(text) {
        let start = token.as_ptr() as usize - text.as_ptr() as usize;
        let new = end.is_none_or(|end| text[end..start].contains(is_phrase_break));
        f(token, new);
        end = Some(start + token.len());
    }
}

/// The phrases of `text` (see [`phrase_tokens`]), each as its run of tokens; empty phrases are skipped.
///
/// ```
/// use echolens_text::phrases;
/// let mut runs: Vec<Vec<String>> = Vec::new();
/// phrases("death to x, long live y", |run| runs.push(run.iter().map(|t| t.to_string()).collect()));
/// assert_eq!(runs, [vec!["death", "to", "x"], vec!["long", "live", "y"]]);
/// ```
pub fn phrases<'a>(text: &'a str, mut f: impl FnMut(&[&'a str])) {
    let mut run: Vec<&'a str> = Vec::new();
    phrase_tokens(text, |w, new| {
        if new && !run.is_empty() {
            f(&run);
            run.clear();
        }
        run.push(w);
    });
    if !run.is_empty() {
        f(&run);
    }
}

/// The tokens of one white-space separated chunk, character by character: the definition the tests hold
/// [`tokens`] and [`phrase_tokens`] to.
#[cfg(test)]
fn chunk_tokens(chunk: &str) -> ChunkTokens<'_> {
    ChunkTokens { rest: chunk }
}

#[cfg(test)]
struct ChunkTokens<'a> {
    rest: &'a str,
}

#[cfg(test)]
impl<'a> Iterator for ChunkTokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest;
        let mut chars = s.char_indices().peekable();
        // Find the start: a word character, or `#`/`@` directly before one.
        let start = loop {
            let (i, c) = chars.next()?;
            if is_word(c) {
                break i;
            }
            if (c == '#' || c == '@') && chars.peek().is_some_and(|&(_, n)| is_word(n)) {
                chars.next();
                break i;
            }
        };
        let mut end = s.len();
        let mut prev_word = true;
        while let Some((i, c)) = chars.next() {
            if is_word(c) {
                prev_word = true;
                continue;
            }
            if c == ZWNJ && prev_word && chars.peek().is_some_and(|&(_, n)| is_word(n)) {
                prev_word = false;
                continue;
            }
            end = i;
            break;
        }
        self.rest = &s[end..];
        Some(&s[start..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize;

    fn toks(s: &str) -> Vec<&str> {
        tokens(s).collect()
    }

    /// The definition [`tokens`] implements in one pass: white-space chunks, URLs skipped, each chunk's tokens.
    fn reference(text: &str) -> Vec<&str> {
        text.split_whitespace().filter(|chunk| !is_url(chunk)).flat_map(chunk_tokens).collect()
    }

    #[test]
    fn one_pass_agrees_with_the_definition_on_edges() {
        for s in [
            "",
            " ",
            "a",
            "#",
            "#a",
            "##a",
            "@@b c",
            "x#y",
            "a\u{200C}b",
            "a\u{200C}",
            "\u{200C}a",
            "a\u{200C}\u{200C}b",
            "http://x.org y",
            "zhttp://x.org",
            "a,http://x.org",
            "a\u{0B}b",
            "a\u{85}b\u{3000}c",
            "a\u{A0}https://q r",
            "\tnbsp\u{202F}x",
            "мир،سلام\u{200C}ها #زن_زندگی",
            "www.x www.y z",
            "é\u{301}t",
            "#\u{200C}a",
        ] {
            assert_eq!(toks(s), reference(s), "{s:?}");
        }
    }

    #[test]
    fn zwnj_joins_never_splits() {
        assert_eq!(toks("کتاب\u{200C}ها را"), ["کتاب\u{200C}ها", "را"]);
        // A ZWNJ at a word's edge is not part of it.
        assert_eq!(toks("\u{200C}کتاب\u{200C} x"), ["کتاب", "x"]);
    }

    #[test]
    fn persian_written_three_ways_is_one_token_after_normalize() {
        let ways = ["میشود", "می شود", "می\u{200C}شود"];
        let norm: Vec<String> = ways.iter().map(|w| normalize(w)).collect();
        for n in &norm {
            assert_eq!(toks(n), ["می\u{200C}شود"], "{n:?}");
        }
    }

    #[test]
    fn arabic_russian_english_and_punctuation() {
        assert_eq!(toks(&normalize("مرحبا، بالعالم!")), ["مرحبا", "بالعالم"]);
        assert_eq!(toks(&normalize("Привет, МИР — это тест.")), ["привет", "мир", "это", "тест"]);
        assert_eq!(toks("a--b (c) 12.5 x_y"), ["a", "b", "c", "12", "5", "x_y"]);
    }

    #[test]
    fn hashtags_mentions_and_urls() {
        assert_eq!(toks("#a @b # @ c https://t.co/x www.e.org"), ["#a", "@b", "c"]);
        assert_eq!(toks("x#y"), ["x", "#y"]);
    }

    #[test]
    fn fast_paths_agree_with_unicode() {
        for u in 0..0x3000u32 {
            if let Some(c) = char::from_u32(u) {
                let general = chars::is_alphanumeric(c) || c == '_' || unicode_general_mark(c);
                // Arabic-script ranges listed as letters include a few non-alphabetic signs (U+06D4 is excluded by
                // the range; U+06FD..06FE are signs that join words in Sindhi/Urdu).
                if (0x06FD..=0x06FE).contains(&u) {
                    continue;
                }
                assert_eq!(is_word(c), general, "U+{u:04X}");
            }
        }
    }

    /// The definition [`phrase_tokens`] implements in one pass: lines, white-space chunks (a URL ends a phrase),
    /// each chunk's tokens, a break anywhere between two tokens ending a phrase.
    fn phrase_tokens_by_chunks<'a>(text: &'a str, mut f: impl FnMut(&'a str, bool)) {
        for line in text.split('\n') {
            let mut new_phrase = true;
            for chunk in line.split_whitespace() {
                if is_url(chunk) {
                    new_phrase = true;
                    continue;
                }
                let base = chunk.as_ptr() as usize;
                let mut at = 0;
                for token in chunk_tokens(chunk) {
                    let start = token.as_ptr() as usize - base;
                    if chunk[at..start].contains(is_phrase_break) {
                        new_phrase = true;
                    }
                    f(token, new_phrase);
                    new_phrase = false;
                    at = start + token.len();
                }
                if chunk[at..].contains(is_phrase_break) {
                    new_phrase = true;
                }
            }
        }
    }

    fn phrase_starts(s: &str, by_chunks: bool) -> Vec<(&str, bool)> {
        let mut out = Vec::new();
        if by_chunks {
            phrase_tokens_by_chunks(s, |t, new| out.push((t, new)));
        } else {
            phrase_tokens(s, |t, new| out.push((t, new)));
        }
        out
    }

    fn runs(s: &str) -> Vec<Vec<&str>> {
        let mut out: Vec<Vec<&str>> = Vec::new();
        phrase_tokens(s, |t, new| {
            if new {
                out.push(Vec::new());
            }
            out.last_mut().expect("the first token starts a phrase").push(t);
        });
        out
    }

    #[test]
    fn phrases_break_at_punctuation_lines_and_urls() {
        assert_eq!(runs("a b. c d"), [vec!["a", "b"], vec!["c", "d"]]);
        assert_eq!(runs("a\nb (c) d"), [vec!["a"], vec!["b"], vec!["c"], vec!["d"]]);
        assert_eq!(runs("don't stop"), [vec!["don", "t", "stop"]]);
        assert_eq!(
            runs(&normalize("مرگ بر دیکتاتور، زن زندگی آزادی")),
            [vec!["مرگ", "بر", "دیکتاتور"], vec!["زن", "زندگی", "آزادی"]]
        );
        assert_eq!(runs("«нет войне» сказал"), [vec!["нет", "войне"], vec!["сказал"]]);
        assert!(runs(" .. ").is_empty());
    }

    #[test]
    fn count_matches_tokens() {
        for s in ["", "   ", "one two three four", "!!", "a\u{200C}", "x#y #a@b", "a\u{200C}\u{200C}b", "https://x y"] {
            assert_eq!(token_count(s), toks(s).len(), "{s:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn count_is_the_number_of_tokens(s in "[a-z #@_.\u{200C}\u{0627}-\u{0649} \t\n:/wh]{0,40}") {
            proptest::prop_assert_eq!(token_count(&s), tokens(&s).count());
        }

        #[test]
        fn phrase_tokens_are_the_tokens(s in "\\PC{0,40}") {
            let mut seen = Vec::new();
            phrase_tokens(&s, |t, _| seen.push(t));
            proptest::prop_assert_eq!(seen, tokens(&s).collect::<Vec<_>>());
        }

        #[test]
        fn phrases_in_one_pass_agree_with_the_definition(s in "\\PC{0,60}") {
            proptest::prop_assert_eq!(phrase_starts(&s, false), phrase_starts(&s, true));
        }

        #[test]
        fn phrases_in_one_pass_agree_with_the_definition_on_breaks_and_urls(
            s in "[a-z #@_.,;!?()«»،؛؟…/:wh\u{200C}\u{0627}-\u{0649}\u{0430}-\u{044F}\u{00A0}\u{0B}\t\n]{0,60}"
        ) {
            proptest::prop_assert_eq!(phrase_starts(&s, false), phrase_starts(&s, true));
        }

        #[test]
        fn one_pass_agrees_with_the_definition(s in "\\PC{0,60}") {
            proptest::prop_assert_eq!(toks(&s), reference(&s));
        }

        #[test]
        fn one_pass_agrees_with_the_definition_on_mixed_scripts(
            s in "[a-z #@_.,/:wh\u{200C}\u{0627}-\u{0649}\u{0430}-\u{044F}\u{00A0}\u{2000}\u{0B}\t\n]{0,60}"
        ) {
            proptest::prop_assert_eq!(toks(&s), reference(&s));
        }

        #[test]
        fn count_is_the_number_of_tokens_any_text(s in "\\PC{0,40}") {
            proptest::prop_assert_eq!(token_count(&s), tokens(&s).count());
            for cap in 0..5 {
                proptest::prop_assert_eq!(token_count_capped(&s, cap), tokens(&s).count().min(cap));
            }
        }
    }

    /// The gold tokenisation of ParsTwiNER's test split (real Persian tweets, tokenised by its annotators): each
    /// gold word is one echolens token, and Persian words written with a ZWNJ stay whole.
    #[test]
    fn persian_tweets_tokenise_as_their_annotators_did() {
        let path = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo"))
            .join("../../testdata/samples/persian-parstwiner/twitter_data/persian-ner-twitter-data/test.txt");
        let text = std::fs::read_to_string(path).unwrap();
        let (mut gold_words, mut agreed, mut zwnj_words) = (0usize, 0usize, 0usize);
        for sentence in text.split("\n\n") {
            let gold: Vec<&str> = sentence.lines().filter_map(|l| l.split('\t').next()).collect();
            let ours: Vec<String> = tokens(&normalize(&gold.join(" "))).map(str::to_owned).collect();
            let mut pool: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
            for t in &ours {
                *pool.entry(t).or_default() += 1;
            }
            for g in gold.iter().filter(|g| g.chars().any(is_word)) {
                let g = normalize(g);
                gold_words += 1;
                if g.contains(ZWNJ) {
                    zwnj_words += 1;
                    assert!(ours.contains(&g), "{g:?} split in {ours:?}");
                }
                if let Some(n) = pool.get_mut(g.as_str()).filter(|n| **n > 0) {
                    *n -= 1;
                    agreed += 1;
                }
            }
        }
        assert!(gold_words > 8000 && zwnj_words > 300, "{gold_words} {zwnj_words}");
        // The rest are verb prefixes and plural suffixes that normalisation joins to their word on purpose
        // (`می شود` is one token, `می‌شود`), and tokens such as `#tag` or `e-mail` the annotators split.
        let share = agreed as f64 / gold_words as f64;
        assert!(share > 0.97, "{agreed} of {gold_words} gold words are echolens tokens");
    }
}
