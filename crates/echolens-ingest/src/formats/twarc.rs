//! X API v2 JSONL as twarc2 writes it: one response page per line (`data` an array or, from the stream, one
//! tweet; `includes.users` for names and what they say of each account: creation date, follower and following
//! counts, location; the tweet's `source` is the app), or the flattened layout (one tweet per line with
//! `author` inline).
//!
//! Edited tweets: every version lists `edit_history_tweet_ids`, oldest first. The message id is the first (the
//! original) and a later version carries `edited`, so ingesting a newer version replaces an older one.
//! Retweets' originals become `repost_of`, replies' targets `reply_to`. URLs are the expanded ones from the
//! entities, not t.co links.

use std::collections::HashMap;
use std::io::BufRead;

use serde_json::{Map, Value};

use super::{for_each_line, raw_json, string};
use crate::{FileCtx, RawMessage, Sink, time};
use echolens_model::{AccountSeen, Engagement, Message};

pub(crate) fn read(reader: impl BufRead, ctx: &FileCtx<'_>, sink: &mut dyn Sink) {
    for_each_line(reader, ctx, sink, |line_no, line, sink| read_line(line_no, line, ctx, sink));
}

/// One line: a response page's tweets, one tweet, or a quarantined record.
pub(crate) fn read_line(line_no: u64, line: &[u8], ctx: &FileCtx<'_>, sink: &mut dyn Sink) {
    match super::parse_strict(line, |_| true) {
        Ok(Ok(value)) => read_value(&value, ctx, line_no, sink),
        Ok(Err(reason)) => {
            sink.quarantine(ctx.quarantined(
                line_no,
                format!("line {line_no}: {reason}"),
                &String::from_utf8_lossy(line),
            ));
        }
        Err(err) => {
            let reason = format!("line {line_no}: invalid JSON ({err}); expected a twarc response page or tweet");
            sink.quarantine(ctx.quarantined(line_no, reason, &String::from_utf8_lossy(line)));
        }
    }
}

fn read_value(value: &Value, ctx: &FileCtx<'_>, line_no: u64, sink: &mut dyn Sink) {
    let Some(obj) = value.as_object() else {
        sink.quarantine(ctx.quarantined(line_no, format!("line {line_no}: expected a JSON object"), &raw_json(value)));
        return;
    };
    let tweets: Vec<&Value> = match obj.get("data") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(tweet @ Value::Object(_)) => vec![tweet],
        Some(_) | None if obj.contains_key("id") && obj.contains_key("text") => vec![value],
        _ => {
            // A page of only `errors` holds no tweets; anything else is not twarc output.
            if obj.contains_key("errors") {
                return;
            }
            let reason = format!("line {line_no}: expected a twarc response page (data) or a tweet (id, text)");
            sink.quarantine(ctx.quarantined(line_no, reason, &raw_json(value)));
            return;
        }
    };
    let mut users: HashMap<&str, &Value> = HashMap::new();
    if let Some(list) = obj.get("includes").and_then(|i| i.get("users")).and_then(Value::as_array) {
        for u in list {
            if let Some(id) = u.get("id").and_then(Value::as_str) {
                users.insert(id, u);
            }
        }
    }
    for tweet in tweets {
        match convert(tweet, &users, ctx, line_no) {
            Ok(m) => {
                // What the user object says of the author (creation date, counts, location), and the app.
                let user = tweet.get("author").or_else(|| users.get(m.message.author_id.as_deref()?).copied());
                let seen = account(user, tweet, &m, ctx);
                sink.message(m);
                if let Some(seen) = seen {
                    sink.account(seen);
                }
            }
            Err(reason) => {
                sink.quarantine(ctx.quarantined(line_no, format!("line {line_no}: {reason}"), &raw_json(tweet)))
            }
        }
    }
}

/// What the user object (`includes.users`, or a flattened tweet's `author`) and the tweet's `source` say of the
/// author of `m`, if anything.
fn account(user: Option<&Value>, tweet: &Value, m: &RawMessage, ctx: &FileCtx<'_>) -> Option<AccountSeen> {
    let metric = |name: &str| user?.get("public_metrics")?.get(name)?.as_i64().filter(|n| *n >= 0);
    let seen = AccountSeen {
        platform: m.message.platform.clone(),
        author_id: m.message.author_id.clone()?,
        at: Some(m.message.ts),
        created: user.and_then(|u| string(u.get("created_at"))).and_then(|c| time::from_rfc3339(&c)),
        followers: metric("followers_count"),
        following: metric("following_count"),
        client: string(tweet.get("source")),
        location: user.and_then(|u| string(u.get("location"))),
        language: None,
        source_file: ctx.path.clone(),
    };
    (!seen.is_empty()).then_some(seen)
}

fn convert(t: &Value, users: &HashMap<&str, &Value>, ctx: &FileCtx<'_>, line_no: u64) -> Result<RawMessage, String> {
    let t = t.as_object().ok_or("expected a tweet object")?;
    let id = string(t.get("id")).ok_or("missing tweet id")?;
    let author = string(t.get("author_id")).ok_or("missing author_id")?;
    let created = string(t.get("created_at")).ok_or("missing created_at")?;
    let ts = time::from_rfc3339(&created).ok_or_else(|| format!("created_at {created:?} is not an RFC 3339 time"))?;
    let history: Vec<&str> = t
        .get("edit_history_tweet_ids")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let (message_id, edited) = match history.first() {
        Some(&first) if first != id => (first.to_owned(), Some(ts)),
        _ => (id, None),
    };
    let referenced = |kind: &str| {
        t.get("referenced_tweets")?
            .as_array()?
            .iter()
            .find(|r| r.get("type").and_then(Value::as_str) == Some(kind))
            .and_then(|r| string(r.get("id")))
    };
    let author_name = t
        .get("author")
        .and_then(|a| string(a.get("username")))
        .or_else(|| users.get(author.as_str()).and_then(|u| string(u.get("username"))));
    let entities = t.get("entities").and_then(Value::as_object);
    let metric = |key: &str| super::count(t.get("public_metrics").and_then(|m| m.get(key)));
    let engagement = Engagement {
        views: metric("impression_count"),
        likes: metric("like_count"),
        shares: metric("retweet_count"),
        replies: metric("reply_count"),
        quotes: metric("quote_count"),
        reactions: None,
    };
    Ok(RawMessage {
        message: Message {
            platform: ctx.platform_or("x").to_owned(),
            channel_id: author.clone(),
            channel_name: author_name.clone(),
            message_id,
            author_id: Some(author),
            author_name,
            ts,
            ts_exact: true,
            edited,
            text: string(t.get("text")).unwrap_or_default(),
            reply_to: referenced("replied_to"),
            repost_of: referenced("retweeted"),
            quote_of: referenced("quoted"),
            engagement,
            source_file: ctx.path.clone(),
            source_record: line_no,
            ..Message::default()
        },
        urls: entities.map(|e| {
            entity_list(e, "urls", |u| {
                string(u.get("unwound_url")).or_else(|| string(u.get("expanded_url"))).or_else(|| string(u.get("url")))
            })
        }),
        hashtags: entities.map(|e| entity_list(e, "hashtags", |h| string(h.get("tag")))),
        mentions: entities.map(|e| entity_list(e, "mentions", |m| string(m.get("username")))),
    })
}

fn entity_list(entities: &Map<String, Value>, key: &str, pick: impl Fn(&Value) -> Option<String>) -> Vec<String> {
    entities.get(key).and_then(Value::as_array).map(|l| l.iter().filter_map(&pick).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use crate::{Collect, Format, ReadOptions, read_bytes};

    /// A page's user objects say what they know of each author; a quote names its original.
    #[test]
    fn user_objects_describe_their_accounts_and_quotes_name_the_original() {
        let input = concat!(
            r#"{"data": [{"id": "10", "author_id": "7", "created_at": "2021-04-08T19:34:16.000Z", "text": "look", "source": "Twitter Web App", "referenced_tweets": [{"type": "quoted", "id": "9"}], "public_metrics": {"retweet_count": 2, "reply_count": 0, "like_count": 7, "quote_count": 1}}, {"id": "11", "author_id": "8", "created_at": "2021-04-08T19:35:00.000Z", "text": "plain"}], "#,
            r#""includes": {"users": [{"id": "7", "username": "seven", "created_at": "2020-01-02T00:00:00.000Z", "location": "Earth", "public_metrics": {"followers_count": 12, "following_count": 30}}, {"id": "8", "username": "eight"}]}}"#,
            "\n"
        );
        let mut sink = Collect::default();
        let counts = read_bytes(input.as_bytes(), "p.jsonl", Format::Twarc, &ReadOptions::default(), &mut sink);
        assert_eq!(counts.messages, 2);
        assert_eq!(sink.messages[0].quote_of.as_deref(), Some("9"));
        // Author 8's user object says nothing beyond its name: no account row.
        assert_eq!(sink.accounts.len(), 1);
        let a = &sink.accounts[0];
        assert_eq!((a.author_id.as_str(), a.followers, a.following), ("7", Some(12), Some(30)));
        assert_eq!((a.client.as_deref(), a.location.as_deref()), (Some("Twitter Web App"), Some("Earth")));
        assert_eq!(a.created, Some(1_577_923_200_000_000));
        // The tweet's public metrics, not the user's (`followers_count` is the account's, read above).
        let e = sink.messages[0].engagement;
        assert_eq!((e.likes, e.shares, e.replies, e.quotes, e.views), (Some(7), Some(2), Some(0), Some(1), None));
        assert!(sink.messages[1].engagement.is_empty());
    }

    #[test]
    fn pages_flat_lines_edits_and_truncation() {
        let input = concat!(
            r#"{"data": [{"id": "10", "author_id": "7", "created_at": "2021-04-08T19:34:16.000Z", "text": "RT @a: hi", "referenced_tweets": [{"type": "retweeted", "id": "9"}], "entities": {"urls": [{"url": "https://t.co/x", "expanded_url": "https://Example.com/p?utm_campaign=z"}], "hashtags": [{"tag": "Brexit"}]}}], "includes": {"users": [{"id": "7", "username": "seven"}]}}"#,
            "\n",
            r#"{"id": "12", "author_id": "8", "created_at": "2022-10-03T17:57:11.000Z", "text": "v2", "edit_history_tweet_ids": ["11", "12"], "author": {"username": "eight"}}"#,
            "\n",
            r#"{"data": {"author_id": "1021159080151404544""#,
            "\n"
        );
        let mut sink = Collect::default();
        let counts = read_bytes(input.as_bytes(), "x.jsonl", Format::Twarc, &ReadOptions::default(), &mut sink);
        assert_eq!((counts.messages, counts.quarantined), (2, 1));
        let rt = &sink.messages[0];
        assert_eq!(rt.key(), "x:7:10");
        assert_eq!(rt.repost_of.as_deref(), Some("9"));
        assert_eq!(rt.author_name.as_deref(), Some("seven"));
        assert_eq!(rt.urls, vec!["https://example.com/p"]);
        assert_eq!(rt.hashtags, vec!["brexit"]);
        let edited = &sink.messages[1];
        assert_eq!(edited.key(), "x:8:11");
        assert_eq!(edited.edited, Some(edited.ts));
        assert_eq!(sink.quarantined[0].source_record, 3);
    }
}
