//! X/Twitter information-operations archive CSV (the "elections integrity" releases), columns found by header
//! name because releases order them differently.
//!
//! `tweet_time` is UTC at minute precision ("2017-06-22 16:03"); hashtags, urls and mentions are bracketed lists;
//! a retweet's original becomes `repost_of`. The accounts file of a release (no tweet columns) is not a message
//! export and is not recognised as one.

use std::io::BufRead;

use super::csv_util::{Columns, Header, cell, is_mangled_id, list, read_records};
use crate::{FileCtx, RawMessage, Sink, time};
use echolens_model::Message;

pub fn read(reader: impl BufRead, ctx: &FileCtx<'_>, sink: &mut dyn Sink) {
    let columns = |cols: &Columns| {
        let c = XColumns {
            id: cols.find(&["tweetid", "tweet_id"]),
            user: cols.find(&["userid", "user_id"]),
            display: cols.find(&["user_display_name"]),
            screen: cols.find(&["user_screen_name"]),
            text: cols.find(&["tweet_text", "text"]),
            time: cols.find(&["tweet_time", "created_at"]),
            reply: cols.find(&["in_reply_to_tweetid"]),
            is_rt: cols.find(&["is_retweet"]),
            rt_id: cols.find(&["retweet_tweetid"]),
            hashtags: cols.find(&["hashtags"]),
            urls: cols.find(&["urls"]),
            mentions: cols.find(&["user_mentions"]),
        };
        (c, Header::Names)
    };
    read_records(reader, ctx, sink, columns, |record, c, line| convert(record, c, ctx, line));
}

struct XColumns {
    id: Option<usize>,
    user: Option<usize>,
    display: Option<usize>,
    screen: Option<usize>,
    text: Option<usize>,
    time: Option<usize>,
    reply: Option<usize>,
    is_rt: Option<usize>,
    rt_id: Option<usize>,
    hashtags: Option<usize>,
    urls: Option<usize>,
    mentions: Option<usize>,
}

fn convert(r: &csv::StringRecord, c: &XColumns, ctx: &FileCtx<'_>, line: u64) -> Result<RawMessage, String> {
    let id = cell(r, c.id).ok_or("missing tweetid")?;
    if is_mangled_id(id) {
        return Err(format!(
            "tweetid {id:?} is in scientific notation: a spreadsheet rounded it and its digits are lost"
        ));
    }
    let user = cell(r, c.user).ok_or("missing userid")?;
    let when = cell(r, c.time).ok_or("missing tweet_time")?;
    let ts = time::from_naive(when)
        .or_else(|| time::from_rfc3339(when))
        .ok_or_else(|| format!("tweet_time {when:?} is not a time like 2017-06-22 16:03"))?;
    let is_rt = cell(r, c.is_rt).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok(RawMessage {
        message: Message {
            platform: ctx.platform_or("x").to_owned(),
            channel_id: user.to_owned(),
            channel_name: cell(r, c.screen).map(str::to_owned),
            message_id: id.to_owned(),
            author_id: Some(user.to_owned()),
            author_name: cell(r, c.screen).or(cell(r, c.display)).map(str::to_owned),
            ts,
            ts_exact: true,
            text: cell(r, c.text).unwrap_or("").to_owned(),
            reply_to: cell(r, c.reply).map(str::to_owned),
            repost_of: if is_rt { cell(r, c.rt_id).map(str::to_owned) } else { None },
            source_file: ctx.path.clone(),
            source_record: line,
            ..Message::default()
        },
        urls: c.urls.map(|_| list(cell(r, c.urls))),
        hashtags: c.hashtags.map(|_| list(cell(r, c.hashtags))),
        mentions: c.mentions.map(|_| list(cell(r, c.mentions))),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::{Collect, Format, ReadOptions, read_bytes, read_file};

    #[test]
    fn real_ira_rows_by_header_name() {
        let path = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo"))
            .join("../../testdata/samples/twitter-io-archive-frequenter/ira_tweets_csv_hashed.sample.csv");
        let mut sink = Collect::default();
        let counts = read_file(&path, Format::XArchive, &ReadOptions::default(), &mut sink).unwrap();
        assert_eq!((counts.messages, counts.quarantined), (2, 0));
        for m in &sink.messages {
            assert_eq!(m.platform, "x");
            assert_eq!(m.author_id.as_deref(), Some(m.channel_id.as_str()));
            assert_eq!(m.ts % 60_000_000, 0, "minute precision");
            assert!(m.text.chars().any(|c| ('а'..='я').contains(&c.to_lowercase().next().unwrap())));
        }
        assert!(sink.messages.iter().any(|m| m.urls.iter().any(|u| u.contains("livejournal.com"))));
    }

    #[test]
    fn columns_in_any_order_retweets_and_mangled_ids() {
        let input = "tweet_time,is_retweet,retweet_tweetid,tweet_text,userid,tweetid,hashtags\n\
                     2019-01-02 03:04,true,555,RT @x: hello,u1,101,\"['Uno', 'dos']\"\n\
                     2019-01-02 03:05:06,false,,own words,u2,1.01421E+18,\n\
                     02/01/2019,false,,bad time,u3,103,\n";
        let mut sink = Collect::default();
        let counts = read_bytes(input.as_bytes(), "io.csv", Format::XArchive, &ReadOptions::default(), &mut sink);
        assert_eq!((counts.messages, counts.quarantined), (1, 2));
        let m = &sink.messages[0];
        assert_eq!(m.key(), "x:u1:101");
        assert_eq!(m.repost_of.as_deref(), Some("555"));
        assert_eq!(m.hashtags, vec!["uno", "dos"]);
        assert!(sink.quarantined[0].reason.contains("scientific notation"));
        assert_eq!(sink.quarantined[1].source_record, 4);
    }
}
