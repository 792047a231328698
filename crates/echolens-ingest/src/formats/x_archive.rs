//! X/Twitter information-operations archive CSV (the "elections integrity" releases), columns found by header
//! name because releases order them differently.
//!
//! `tweet_time` is UTC at minute precision ("2017-06-22 16:03"); hashtags, urls and mentions are bracketed lists;
//! a retweet's original becomes `repost_of`. What a tweet row says about its account (creation date, follower
//! and following counts, the client app, stated location and language) goes to the store's accounts; the
//! accounts file of a release (`userid` and `account_creation_date`, no tweet columns) is read for that alone,
//! each row a skipped record (`account profile`). `like_count`, `retweet_count`, `reply_count` and `quote_count`
//! are the engagement columns `likes`, `shares`, `replies`, `quotes`.

use std::io::BufRead;

use super::count_cell;
use super::csv_util::{Columns, Header, Record, cell, is_mangled_id, list, read_records};
use crate::{FileCtx, RawMessage, Sink, time};
use echolens_model::{AccountSeen, Engagement, Message};

pub(crate) fn read(reader: impl BufRead, ctx: &FileCtx<'_>, sink: &mut dyn Sink) {
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
            created: cols.find(&["account_creation_date"]),
            followers: cols.find(&["follower_count"]),
            following: cols.find(&["following_count"]),
            client: cols.find(&["tweet_client_name"]),
            location: cols.find(&["user_reported_location"]),
            language: cols.find(&["account_language"]),
            quoted: cols.find(&["quoted_tweet_tweetid"]),
            likes: cols.find(&["like_count"]),
            retweets: cols.find(&["retweet_count"]),
            replies: cols.find(&["reply_count"]),
            quotes: cols.find(&["quote_count"]),
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
    created: Option<usize>,
    followers: Option<usize>,
    following: Option<usize>,
    client: Option<usize>,
    location: Option<usize>,
    language: Option<usize>,
    quoted: Option<usize>,
    likes: Option<usize>,
    retweets: Option<usize>,
    replies: Option<usize>,
    quotes: Option<usize>,
}

/// What the record says about account `user`, if anything; `at` is the tweet's time.
fn account(r: &csv::StringRecord, c: &XColumns, ctx: &FileCtx<'_>, user: &str, at: Option<i64>) -> Option<AccountSeen> {
    let count = |i| cell(r, i).and_then(|v| v.trim().parse::<i64>().ok()).filter(|n| *n >= 0);
    let created = cell(r, c.created).and_then(|d| {
        time::from_naive(d).or_else(|| time::from_naive(&format!("{d} 00:00"))).or_else(|| time::from_rfc3339(d))
    });
    let seen = AccountSeen {
        platform: ctx.platform_or("x").to_owned(),
        author_id: user.to_owned(),
        at,
        created,
        followers: count(c.followers),
        following: count(c.following),
        client: cell(r, c.client).map(str::to_owned),
        location: cell(r, c.location).map(str::to_owned),
        language: cell(r, c.language).map(str::to_owned),
        source_file: ctx.path.clone(),
    };
    (!seen.is_empty()).then_some(seen)
}

fn convert(r: &csv::StringRecord, c: &XColumns, ctx: &FileCtx<'_>, line: u64) -> Result<Record, String> {
    // An accounts file: no tweets, only profiles.
    if c.id.is_none() && c.text.is_none() && c.created.is_some() {
        let user = cell(r, c.user).ok_or("missing userid")?;
        return account(r, c, ctx, user, None)
            .map(Record::Account)
            .ok_or_else(|| "an accounts row with nothing but its userid".to_owned());
    }
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
    let seen = account(r, c, ctx, user, Some(ts));
    let message = RawMessage {
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
            quote_of: cell(r, c.quoted).map(str::to_owned),
            engagement: Engagement {
                likes: count_cell(cell(r, c.likes)),
                shares: count_cell(cell(r, c.retweets)),
                replies: count_cell(cell(r, c.replies)),
                quotes: count_cell(cell(r, c.quotes)),
                ..Engagement::default()
            },
            source_file: ctx.path.clone(),
            source_record: line,
            ..Message::default()
        },
        urls: c.urls.map(|_| list(cell(r, c.urls))),
        hashtags: c.hashtags.map(|_| list(cell(r, c.hashtags))),
        mentions: c.mentions.map(|_| list(cell(r, c.mentions))),
    };
    Ok(Record::Message(Box::new(message), seen))
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
            // The release states zero of each: a stated zero, not a missing figure.
            let e = m.engagement;
            assert_eq!((e.likes, e.shares, e.replies, e.quotes, e.views), (Some(0), Some(0), Some(0), Some(0), None));
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

    #[test]
    fn quotes_and_what_a_tweet_says_of_its_account() {
        let input = "tweetid,userid,tweet_time,tweet_text,quoted_tweet_tweetid,account_creation_date,follower_count,\
                     tweet_client_name\n\
                     7,u1,2019-01-02 03:04,look at this,6,2018-05-01,12,TweetDeck\n\
                     8,u2,2019-01-02 03:05,plain,,,,\n";
        let mut sink = Collect::default();
        let counts = read_bytes(input.as_bytes(), "io.csv", Format::XArchive, &ReadOptions::default(), &mut sink);
        assert_eq!(counts.messages, 2);
        assert_eq!(sink.messages[0].quote_of.as_deref(), Some("6"));
        assert_eq!(sink.messages[1].quote_of, None);
        // Only the first row says anything about its account.
        assert_eq!(sink.accounts.len(), 1);
        let a = &sink.accounts[0];
        assert_eq!((a.author_id.as_str(), a.followers, a.client.as_deref()), ("u1", Some(12), Some("TweetDeck")));
        assert_eq!(a.created, Some(1_525_132_800_000_000), "2018-05-01 00:00 UTC");
        assert_eq!(a.at, Some(sink.messages[0].ts));
    }

    #[test]
    fn an_accounts_file_gives_profiles_and_no_messages() {
        let input = "userid,follower_count,following_count,account_creation_date,account_language\n\
                     u1,5,6,2014-06-13,en\n\
                     u2,,,,\n";
        let mut sink = Collect::default();
        let counts = read_bytes(input.as_bytes(), "users.csv", Format::XArchive, &ReadOptions::default(), &mut sink);
        assert_eq!((counts.records, counts.messages, counts.skipped, counts.quarantined), (2, 0, 1, 1));
        assert_eq!(sink.accounts.len(), 1);
        assert_eq!((sink.accounts[0].following, sink.accounts[0].language.as_deref()), (Some(6), Some("en")));
        assert!(sink.quarantined[0].reason.contains("nothing but its userid"), "{:?}", sink.quarantined);
        assert_eq!(crate::detect(input.as_bytes()), Some(Format::XArchive));
    }
}
