//! Words of normalised text, for matching and counting.
//!
//! A token is a run of letters, digits, combining marks and `_`, with a ZWNJ kept where it joins two such
//! characters (it is part of a Persian word, never a break). A leading `#` or `@` stays on the token, so
//! `#tag` and `tag` count apart. URLs (a white-space separated chunk that starts with `http://`, `https://` or
//! `www.`) are not words and are skipped whole. Input is expected to be [`normalize`](crate::normalize)d
//! already: tokenising does not fold case or letters.

use crate::ZWNJ;

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || unicode_general_mark(c)
}

/// Combining marks that normalisation keeps (Devanagari vowel signs and the like). Arabic harakat are removed by
/// `normalize` before they reach here.
fn unicode_general_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x0900..=0x0DFF | 0x1AB0..=0x1AFF | 0x20D0..=0x20FF) && !c.is_alphanumeric()
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
pub fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split_whitespace().filter(|chunk| !is_url(chunk)).flat_map(chunk_tokens)
}

/// The number of tokens in `text`; the same as `tokens(text).count()`.
pub fn token_count(text: &str) -> usize {
    tokens(text).count()
}

fn chunk_tokens(chunk: &str) -> ChunkTokens<'_> {
    ChunkTokens { rest: chunk }
}

struct ChunkTokens<'a> {
    rest: &'a str,
}

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
    fn count_matches_tokens() {
        for s in ["", "   ", "one two three four", "!!", "a\u{200C}"] {
            assert_eq!(token_count(s), toks(s).len());
        }
    }
}
