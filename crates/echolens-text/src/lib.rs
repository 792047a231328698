//! Text for matching: normalisation that is right for Persian, Arabic and Russian as well as English, and the
//! URLs, hashtags and mentions found in a message.
//!
//! ```
//! use echolens_text::{normalize, extract_hashtags, normalize_url};
//! // Arabic yeh/kaf, a ZWNJ-less prefix and Persian digits: one spelling.
//! assert_eq!(normalize("ميشود ۱۲"), "می\u{200C}شود 12");
//! assert_eq!(extract_hashtags("#زن_زندگی_آزادی"), vec!["زن_زندگی_آزادی"]);
//! assert_eq!(normalize_url("HTTPS://Example.com/a?utm_source=x#top"), "https://example.com/a");
//! ```
#![deny(missing_docs)]

mod chars;
mod domain;
mod extract;
mod normalize;
mod script;
mod stopwords;
mod tokens;

pub use domain::{host, is_shortener, registrable_domain};
pub use extract::{
    Find, extract_entities, extract_hashtags, extract_mentions, extract_some, extract_urls, normalize_mention,
    normalize_tag, normalize_url,
};
pub use normalize::{ZWNJ, normalize};
pub use script::{Script, script};
pub use stopwords::{Language, StopWords};
pub use tokens::{Tokens, phrase_tokens, phrases, token_count, token_count_capped, tokens};
