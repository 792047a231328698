//! Lexicons: categories of terms (a dictionary such as a threat or a slur list), matched Persian-aware.
//!
//! A lexicon file is TOML, one array of terms per category:
//!
//! ```toml
//! threat = ["kill*", "death to", "مرگ بر"]
//! praise = ["hero*", "قهرمان"]
//! ```
//!
//! or CSV with a header `category,term`. Terms are normalised like message text (Arabic yeh and kaf are the
//! Persian letters, case folded, digits ASCII). A term is one or more words; a word ending in `*` matches any
//! token that starts with it. A plain word matches the token itself, and also the token with a Persian affix
//! joined by a ZWNJ: `کتاب` matches `کتاب‌ها` and `کتاب‌های`, `رفت` matches `می‌رفت` and `نمی‌رفت`. The words of
//! a phrase must follow one another within a clause (see `echolens_text::phrase_tokens`).

use std::collections::HashMap;
use std::path::Path;

use echolens_text::{ZWNJ, normalize, phrases};

use crate::{Error, Result};

/// Persian suffixes written after a ZWNJ: plurals, indefinite and possessive endings, comparatives.
const SUFFIXES: [&str; 19] = [
    "ها",
    "های",
    "هایی",
    "هایم",
    "هایت",
    "هایش",
    "هایمان",
    "هایتان",
    "هایشان",
    "ای",
    "ی",
    "ام",
    "ات",
    "اش",
    "مان",
    "تان",
    "شان",
    "تر",
    "ترین",
];
/// Persian verb prefixes written before a ZWNJ.
const PREFIXES: [&str; 2] = ["می", "نمی"];

#[derive(Debug, Clone, PartialEq)]
struct Word {
    text: String,
    prefix: bool,
}

/// A compiled lexicon.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    categories: Vec<String>,
    /// Each term: its category and words.
    terms: Vec<(usize, Vec<Word>)>,
    /// Terms whose first word is exact, by that word.
    by_word: HashMap<String, Vec<usize>>,
    /// Terms whose first word is a prefix, by that prefix.
    by_prefix: HashMap<String, Vec<usize>>,
    /// What it was made from.
    entries: Vec<(String, Vec<String>)>,
}

impl Lexicon {
    /// Most categories a lexicon may have (they are a bit mask in plans).
    pub const MAX_CATEGORIES: usize = 63;

    /// A lexicon of `(category, terms)`.
    pub fn new(entries: Vec<(String, Vec<String>)>) -> Result<Lexicon> {
        let mut lex = Lexicon { entries: entries.clone(), ..Lexicon::default() };
        for (category, terms) in entries {
            let c = match lex.categories.iter().position(|x| *x == category) {
                Some(c) => c,
                None => {
                    lex.categories.push(category.clone());
                    lex.categories.len() - 1
                }
            };
            for term in terms {
                let words = compile(&term)
                    .ok_or_else(|| Error::Param(format!("lexicon category {category:?}: term {term:?} has no word")))?;
                let t = lex.terms.len();
                let first = &words[0];
                let index = if first.prefix { &mut lex.by_prefix } else { &mut lex.by_word };
                index.entry(first.text.clone()).or_default().push(t);
                lex.terms.push((c, words));
            }
        }
        if lex.categories.len() > Self::MAX_CATEGORIES {
            return Err(Error::Param(format!(
                "the lexicon has {} categories; at most {} are supported",
                lex.categories.len(),
                Self::MAX_CATEGORIES
            )));
        }
        if lex.terms.is_empty() {
            return Err(Error::Param("the lexicon has no terms".into()));
        }
        Ok(lex)
    }

    /// Read a TOML (`category = ["term", ...]`) or CSV (`category,term`) lexicon file.
    pub fn from_file(path: &Path) -> Result<Lexicon> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
        let bad = |why: String| Error::Param(format!("lexicon {}: {why}", path.display()));
        let is_csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        let entries = if is_csv {
            let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
            let header = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
            let col = |name: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
            let (Some(ci), Some(ti)) = (col("category"), col("term")) else {
                return Err(bad("expected a header with the columns category and term".into()));
            };
            let mut entries: Vec<(String, Vec<String>)> = Vec::new();
            for (n, row) in reader.records().enumerate() {
                let row = row.map_err(|e| bad(format!("record {}: {e}", n + 1)))?;
                let (c, t) = (row.get(ci).unwrap_or("").trim(), row.get(ti).unwrap_or("").trim());
                if c.is_empty() || t.is_empty() {
                    return Err(bad(format!("record {}: empty category or term", n + 1)));
                }
                match entries.iter_mut().find(|(x, _)| x == c) {
                    Some((_, terms)) => terms.push(t.to_owned()),
                    None => entries.push((c.to_owned(), vec![t.to_owned()])),
                }
            }
            entries
        } else {
            let table: toml::Table = text.parse().map_err(|e: toml::de::Error| bad(e.to_string()))?;
            let mut entries = Vec::new();
            for (category, value) in table {
                let terms = value
                    .as_array()
                    .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| bad(format!("category {category:?}: expected an array of strings")))?;
                entries.push((category, terms));
            }
            entries
        };
        Lexicon::new(entries).map_err(|e| bad(e.to_string()))
    }

    /// The `(category, terms)` it was made from.
    pub fn entries(&self) -> &[(String, Vec<String>)] {
        &self.entries
    }

    /// The category names, in order (bit `i` of a mask is category `i`).
    pub fn categories(&self) -> &[String] {
        &self.categories
    }

    /// The categories `text_norm` matches, as a bit mask.
    pub fn mask(&self, text_norm: &str) -> u64 {
        let mut mask = 0u64;
        phrases(text_norm, |run| {
            for start in 0..run.len() {
                self.match_at(run, start, &mut mask);
            }
        });
        mask
    }

    fn match_at(&self, run: &[&str], start: usize, mask: &mut u64) {
        let token = run[start];
        let mut try_terms = |ids: &[usize]| {
            for &t in ids {
                let (c, words) = &self.terms[t];
                if *mask & (1 << c) == 0
                    && words.len() <= run.len() - start
                    && words.iter().zip(&run[start..]).all(|(w, tok)| word_matches(w, tok))
                {
                    *mask |= 1 << c;
                }
            }
        };
        for stem in stems(token) {
            if let Some(ids) = self.by_word.get(stem) {
                try_terms(ids);
            }
        }
        if !self.by_prefix.is_empty() {
            for (i, _) in token.char_indices().skip(1).chain(std::iter::once((token.len(), ' '))) {
                if let Some(ids) = self.by_prefix.get(&token[..i]) {
                    try_terms(ids);
                }
            }
        }
    }
}

fn compile(term: &str) -> Option<Vec<Word>> {
    let mut words = Vec::new();
    for raw in term.split_whitespace() {
        let (body, prefix) = match raw.strip_suffix('*') {
            Some(b) => (b, true),
            None => (raw, false),
        };
        // A word is normalised like text; punctuation in it is not part of any token and is dropped.
        let norm = normalize(body);
        let toks: Vec<&str> = echolens_text::tokens(&norm).collect();
        for (i, tok) in toks.iter().enumerate() {
            words.push(Word { text: (*tok).to_owned(), prefix: prefix && i + 1 == toks.len() });
        }
    }
    (!words.is_empty()).then_some(words)
}

/// The token, and its stem without a ZWNJ-joined Persian prefix or suffix.
fn stems(token: &str) -> impl Iterator<Item = &str> {
    let mut out = [Some(token), None, None];
    if let Some((head, tail)) = token.rsplit_once(ZWNJ)
        && SUFFIXES.contains(&tail)
    {
        out[1] = Some(head);
    }
    if let Some((head, tail)) = token.split_once(ZWNJ)
        && PREFIXES.contains(&head)
    {
        out[2] = Some(tail);
    }
    out.into_iter().flatten()
}

fn word_matches(w: &Word, token: &str) -> bool {
    if w.prefix { token.starts_with(&w.text) } else { stems(token).any(|s| s == w.text) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(entries: &[(&str, &[&str])]) -> Lexicon {
        Lexicon::new(entries.iter().map(|(c, t)| (c.to_string(), t.iter().map(|s| s.to_string()).collect())).collect())
            .unwrap()
    }

    fn cats(l: &Lexicon, text: &str) -> Vec<String> {
        let m = l.mask(&normalize(text));
        l.categories().iter().enumerate().filter(|(i, _)| m & (1 << i) != 0).map(|(_, c)| c.clone()).collect()
    }

    #[test]
    fn words_prefixes_and_phrases() {
        let l = lex(&[("threat", &["kill*", "death to"]), ("praise", &["hero"])]);
        assert_eq!(cats(&l, "They will KILL us"), ["threat"]);
        assert_eq!(cats(&l, "killers everywhere, heroes"), ["threat"]);
        assert_eq!(cats(&l, "Death to the hero"), ["threat", "praise"]);
        // A phrase does not span clauses.
        assert!(cats(&l, "death. to").is_empty());
        assert!(cats(&l, "skill").is_empty());
    }

    #[test]
    fn persian_affixes_and_letters() {
        // The term in Arabic letters (ي, ك) matches text in Persian letters, and the other way round.
        let l = lex(&[("book", &["كتاب"]), ("go", &["رفت"]), ("slogan", &["مرگ بر"])]);
        assert_eq!(cats(&l, "کتاب\u{200C}های من"), ["book"]);
        assert_eq!(cats(&l, "كتابها"), ["book"], "normalisation joins the plural suffix with a ZWNJ");
        assert_eq!(cats(&l, "او نمی\u{200C}رفت"), ["go"]);
        assert_eq!(cats(&l, "مرگ بر دیکتاتور"), ["slogan"]);
        // A compound is not its first part.
        assert!(cats(&l, "کتاب\u{200C}فروش").is_empty());
    }

    #[test]
    fn files_in_toml_and_csv() {
        let dir = tempfile::tempdir().unwrap();
        let toml_path = dir.path().join("l.toml");
        std::fs::write(&toml_path, "threat = [\"kill*\", \"مرگ بر\"]\npraise = [\"hero\"]\n").unwrap();
        let l = Lexicon::from_file(&toml_path).unwrap();
        assert_eq!(l.categories(), ["threat", "praise"]);
        let csv_path = dir.path().join("l.csv");
        std::fs::write(&csv_path, "category,term\nthreat,kill*\npraise,hero\nthreat,death to\n").unwrap();
        let l = Lexicon::from_file(&csv_path).unwrap();
        assert_eq!(l.categories(), ["threat", "praise"]);
        assert_eq!(cats(&l, "death to all"), ["threat"]);
        std::fs::write(&toml_path, "threat = \"kill\"\n").unwrap();
        let err = Lexicon::from_file(&toml_path).unwrap_err().to_string();
        assert!(err.contains("expected an array of strings"), "{err}");
    }
}
