use echolens_model::Message;
use echolens_text::{extract_entities, normalize, normalize_mention, normalize_tag, normalize_url};

/// A message as a reader found it: text not yet normalised, and the URLs, hashtags and mentions the source
/// stated, if it stated any (otherwise they are found in the text).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawMessage {
    /// The message; `text_norm`, `urls`, `hashtags` and `mentions` are filled by [`RawMessage::finish`].
    pub message: Message,
    /// URLs as the source stated them (entities, columns).
    pub urls: Option<Vec<String>>,
    /// Hashtags as the source stated them.
    pub hashtags: Option<Vec<String>>,
    /// Mentions as the source stated them.
    pub mentions: Option<Vec<String>>,
}

fn dedup(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !item.is_empty() && !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

impl RawMessage {
    /// Normalise: the text for matching, and URLs, hashtags and mentions (stated by the source, else found in the
    /// text).
    pub fn finish(self) -> Message {
        let RawMessage { mut message, urls, hashtags, mentions } = self;
        message.text_norm = normalize(&message.text);
        // Entities the source did not state are found in the text, scanning its links once.
        let (found_urls, found_tags, found_mentions) = if urls.is_none() || hashtags.is_none() || mentions.is_none() {
            extract_entities(&message.text)
        } else {
            Default::default()
        };
        message.urls = match urls {
            Some(urls) => dedup(urls.iter().map(|u| normalize_url(u))),
            None => found_urls,
        };
        message.hashtags = match hashtags {
            Some(tags) => dedup(tags.iter().map(|t| normalize_tag(t))),
            None => found_tags,
        };
        message.mentions = match mentions {
            Some(names) => dedup(names.iter().map(|m| normalize_mention(m))),
            None => found_mentions,
        };
        message
    }
}
