//! The search's query language over normalised text: words, `"quoted phrases"` (words in a row) and prefixes
//! (`vot*`), all of which a message must hold. Words are the tokens keyness counts ([`echolens_text::tokens`]),
//! as in the store's search index ([`crate::search_index`]), which answers a search when the store has one.
//! Without it (or with a `where=` selector, which the index does not hold) the UDF
//! `search_match(text_norm, query)` tests each text: a substring search for the term's first word (memchr's
//! `memmem`) rules most texts out, and the others are tokenised and matched word by word.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray};
use arrow::datatypes::DataType;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Signature, SimpleScalarUDF, TypeSignature, Volatility};
use datafusion::scalar::ScalarValue;
use echolens_analysis::Strs;

use crate::search_index::SearchTerm as Term;

/// A term compiled for matching: its words, and a finder for the first.
pub(super) struct Compiled {
    words: Vec<String>,
    prefix: bool,
    first: memchr::memmem::Finder<'static>,
}

impl Compiled {
    pub(super) fn new(term: &Term) -> Compiled {
        let words: Vec<String> = echolens_text::tokens(&term.text).map(str::to_owned).collect();
        let first = memchr::memmem::Finder::new(words.first().map_or("", String::as_str).as_bytes()).into_owned();
        Compiled { words, prefix: term.prefix, first }
    }

    /// Whether `text` (normalised) might hold the term: its first word is in it somewhere.
    fn maybe_in(&self, text: &str) -> bool {
        !self.words.is_empty() && self.first.find(text.as_bytes()).is_some()
    }

    /// Whether the tokens of a text hold the term's words in a row (the last one only begun, for a prefix).
    fn in_tokens(&self, tokens: &[&str]) -> bool {
        let n = self.words.len();
        if n == 0 || tokens.len() < n {
            return false;
        }
        tokens.windows(n).any(|w| {
            w.iter()
                .zip(&self.words)
                .enumerate()
                .all(|(i, (t, word))| if self.prefix && i == n - 1 { t.starts_with(word.as_str()) } else { t == word })
        })
    }
}

/// Whether `text` holds every term.
pub(super) fn holds_all(text: &str, terms: &[Compiled]) -> bool {
    if !terms.iter().all(|t| t.maybe_in(text)) {
        return false;
    }
    let tokens: Vec<&str> = echolens_text::tokens(text).collect();
    terms.iter().all(|t| t.in_tokens(&tokens))
}

/// The query as the UDF's second argument: each term's text, `*` after a prefix, one per line.
pub(super) fn encode(terms: &[Term]) -> String {
    terms.iter().map(|t| if t.prefix { format!("{}*", t.text) } else { t.text.clone() }).collect::<Vec<_>>().join("\n")
}

fn decode(q: &str) -> Vec<Term> {
    q.lines()
        .filter(|l| !l.is_empty())
        .map(|l| match l.strip_suffix('*') {
            Some(text) => Term { text: text.to_owned(), prefix: true },
            None => Term { text: l.to_owned(), prefix: false },
        })
        .collect()
}

/// `search_match(text_norm, query)`: whether the text holds every term of the (encoded) query.
pub(super) fn udf() -> ScalarUDF {
    let exact = |first: DataType| TypeSignature::Exact(vec![first, DataType::Utf8]);
    let signature = Signature::one_of(vec![exact(DataType::Utf8View), exact(DataType::Utf8)], Volatility::Immutable);
    let fun = Arc::new(|args: &[ColumnarValue]| {
        let query = match &args[1] {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(q))) => decode(q),
            _ => return Err(DataFusionError::Plan("search_match takes the query as a string literal".into())),
        };
        let compiled: Vec<Compiled> = query.iter().map(Compiled::new).collect();
        let arrays = ColumnarValue::values_to_arrays(&args[..1])?;
        let texts = Strs::of(&arrays[0]).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let out: BooleanArray = texts.iter().map(|t| t.map(|t| holds_all(t, &compiled))).collect();
        let out: ArrayRef = Arc::new(out);
        Ok(ColumnarValue::Array(out))
    });
    ScalarUDF::from(SimpleScalarUDF::new_with_signature("search_match", signature, DataType::Boolean, fun))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search_index::query_terms;

    fn t(text: &str, prefix: bool) -> Term {
        Term { text: text.into(), prefix }
    }

    #[test]
    fn terms_are_normalised_words_phrases_and_prefixes() {
        assert_eq!(
            query_terms(r#"Vote  "the  TRUTH they" vot* now"#),
            [t("now", false), t("the truth they", false), t("vot", true), t("vote", false)]
        );
        assert!(query_terms("  * ").is_empty());
        // Arabic letters and a missing ZWNJ read as the Persian text is stored.
        assert_eq!(query_terms("كتاب"), [t(&echolens_text::normalize("کتاب"), false)]);
        assert_eq!(query_terms("\"b c\"* d"), [t("b c", true), t("d", false)]);
        assert_eq!(decode(&encode(&query_terms("a* \"b c\""))), query_terms("a* \"b c\""));
    }

    #[test]
    fn words_match_whole_words_and_prefixes_their_beginnings() {
        let check = |text: &str, q: &str| {
            let terms: Vec<Compiled> = query_terms(q).iter().map(Compiled::new).collect();
            holds_all(&echolens_text::normalize(text), &terms)
        };
        assert!(check("we vote today", "vote"));
        assert!(!check("the voters came", "vote"), "a word is whole");
        assert!(check("the voters came", "vote*"));
        assert!(!check("devote yourself", "vote*"), "a prefix starts a word");
        assert!(check("devote yourself and vote", "vote"), "a later hit counts");
        assert!(check("they hide the truth they hide", "\"truth they\" hide"));
        assert!(check("truth, they said", "\"truth they\""), "punctuation is not a word");
        assert!(!check("truth. and they said", "\"truth they\""));
        assert!(check("#زن_زندگی_آزادی", "#زن_زندگی*"), "a hashtag is one word");
        assert!(!check("#زن_زندگی_آزادی", "زندگی"));
        assert!(check("کتاب خوب", "کتاب"));
        assert!(!check("کتابخانه", "کتاب"));
        assert!(check("کتابخانه", "کتاب*"));
    }
}
