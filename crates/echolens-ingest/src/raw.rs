use echolens_model::{Message, MessageView};
use echolens_text::{Find, extract_some, normalize, normalize_mention, normalize_tag, normalize_url};

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

/// A [`RawMessage`] borrowed from the record a reader is parsing (what [`Sink::message_view`](crate::Sink)
/// takes): a sink that writes rows copies each field once, into its columns.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RawView<'a> {
    /// The message; its `text_norm`, `urls`, `hashtags` and `mentions` are left empty ([`Normalised`] has them).
    pub message: MessageView<'a>,
    /// URLs as the source stated them.
    pub urls: Option<&'a [String]>,
    /// Hashtags as the source stated them.
    pub hashtags: Option<&'a [String]>,
    /// Mentions as the source stated them.
    pub mentions: Option<&'a [String]>,
}

/// What normalisation adds to a message: the text for matching, and its URLs, hashtags and mentions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Normalised {
    /// The text normalised for matching.
    pub text_norm: String,
    /// Normalised URLs, without repeats.
    pub urls: Vec<String>,
    /// Normalised hashtags, without repeats.
    pub hashtags: Vec<String>,
    /// Normalised mentions, without repeats.
    pub mentions: Vec<String>,
}

impl Normalised {
    /// Normalise `text`, and the entities the source stated (those it did not state are found in the text,
    /// scanning its links once).
    pub fn of(
        text: &str,
        urls: Option<&[String]>,
        hashtags: Option<&[String]>,
        mentions: Option<&[String]>,
    ) -> Normalised {
        let find = Find { urls: urls.is_none(), hashtags: hashtags.is_none(), mentions: mentions.is_none() };
        let (found_urls, found_tags, found_mentions) = extract_some(text, find);
        Normalised {
            text_norm: normalize(text),
            urls: urls.map_or(found_urls, |urls| dedup(urls.iter().map(|u| normalize_url(u)))),
            hashtags: hashtags.map_or(found_tags, |tags| dedup(tags.iter().map(|t| normalize_tag(t)))),
            mentions: mentions.map_or(found_mentions, |names| dedup(names.iter().map(|m| normalize_mention(m)))),
        }
    }
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
        let n = Normalised::of(&message.text, urls.as_deref(), hashtags.as_deref(), mentions.as_deref());
        message.text_norm = n.text_norm;
        message.urls = n.urls;
        message.hashtags = n.hashtags;
        message.mentions = n.mentions;
        message
    }
}

impl RawView<'_> {
    /// Normalised.
    pub fn normalised(&self) -> Normalised {
        Normalised::of(self.message.text, self.urls, self.hashtags, self.mentions)
    }

    /// An owned copy.
    pub fn to_raw_message(&self) -> RawMessage {
        RawMessage {
            message: self.message.to_message(),
            urls: self.urls.map(<[String]>::to_vec),
            hashtags: self.hashtags.map(<[String]>::to_vec),
            mentions: self.mentions.map(<[String]>::to_vec),
        }
    }
}
