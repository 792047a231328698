//! The search's query language over normalised text: words (whole words), `"quoted phrases"` (words in a
//! row) and prefixes (`vot*`), all of which a message must hold. A UDF, `search_match(text_norm, query)`,
//! tests a batch of texts against the query: substring search (memchr's `memmem`) with word boundaries
//! checked around each hit.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray};
use arrow::datatypes::DataType;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Signature, SimpleScalarUDF, TypeSignature, Volatility};
use datafusion::scalar::ScalarValue;
use echolens_analysis::Strs;

/// One term of a search.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Term {
    /// Normalised words, space-separated.
    pub(super) text: String,
    /// Whether its last word may go on (`vot*` finds "vote" and "voters").
    pub(super) prefix: bool,
}

impl std::fmt::Display for Term {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.text.contains(' '), self.prefix) {
            (true, false) => write!(f, "\"{}\"", self.text),
            (true, true) => write!(f, "\"{}\"*", self.text),
            (false, false) => write!(f, "{}", self.text),
            (false, true) => write!(f, "{}*", self.text),
        }
    }
}

/// The terms of a query, normalised as message text is; a `*` ending a word or a phrase makes it a prefix.
pub(super) fn query_terms(q: &str) -> Vec<Term> {
    let mut out = Vec::new();
    let mut push = |raw: &str, prefix: bool| {
        let text = echolens_text::normalize(raw).split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() {
            out.push(Term { text, prefix });
        }
    };
    let parts: Vec<&str> = q.split('"').collect();
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 {
            // A phrase, a prefix when a `*` follows its closing quote.
            let prefix = parts.get(i + 1).is_some_and(|next| next.starts_with('*'));
            push(part, prefix);
        } else {
            for word in part.split_whitespace() {
                push(word.trim_end_matches('*'), word.ends_with('*'));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn is_word_char(c: Option<char>) -> bool {
    c.is_some_and(char::is_alphanumeric)
}

/// Whether `text` holds `term` with word boundaries around it (only before it for a prefix).
pub(super) fn holds(text: &str, finder: &memchr::memmem::Finder<'_>, term: &Term) -> bool {
    let len = term.text.len();
    finder.find_iter(text.as_bytes()).any(|at| {
        let before = text[..at].chars().next_back();
        let after = text[at + len..].chars().next();
        !is_word_char(before) && (term.prefix || !is_word_char(after))
    })
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
        let finders: Vec<memchr::memmem::Finder<'_>> =
            query.iter().map(|t| memchr::memmem::Finder::new(t.text.as_bytes())).collect();
        let arrays = ColumnarValue::values_to_arrays(&args[..1])?;
        let texts = Strs::of(&arrays[0]).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let out: BooleanArray =
            texts.iter().map(|t| t.map(|t| query.iter().zip(&finders).all(|(term, f)| holds(t, f, term)))).collect();
        let out: ArrayRef = Arc::new(out);
        Ok(ColumnarValue::Array(out))
    });
    ScalarUDF::from(SimpleScalarUDF::new_with_signature("search_match", signature, DataType::Boolean, fun))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let terms = query_terms(q);
            terms.iter().all(|term| holds(text, &memchr::memmem::Finder::new(term.text.as_bytes()), term))
        };
        assert!(check("we vote today", "vote"));
        assert!(!check("the voters came", "vote"), "a word is whole");
        assert!(check("the voters came", "vote*"));
        assert!(!check("devote yourself", "vote*"), "a prefix starts a word");
        assert!(check("devote yourself and vote", "vote"), "a later hit counts");
        assert!(check("they hide the truth they hide", "\"truth they\" hide"));
        assert!(!check("truth, they said", "\"truth they\""));
        assert!(check("کتاب خوب", "کتاب"));
        assert!(!check("کتابخانه", "کتاب"));
        assert!(check("کتابخانه", "کتاب*"));
    }
}
