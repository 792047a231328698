//! X/Twitter information-operations archive CSV (the "elections integrity" releases), columns found by header
//! name because releases order them differently.
//!
//! `tweet_time` is UTC at minute precision ("2017-06-22 16:03"); hashtags, urls and mentions are bracketed lists;
//! a retweet's original becomes `repost_of`. The accounts file of a release (no tweet columns) is not a message
//! export and is not recognised as one.

use std::io::BufRead;

use super::csv_util::{Columns, cell, is_mangled_id, list, raw};
use crate::{FileCtx, RawMessage, Sink, time};
use echolens_model::Message;

pub fn read(reader: impl BufRead, ctx: &FileCtx<'_>, sink: &mut dyn Sink) {
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let cols = match csv.headers() {
        Ok(h) => Columns::new(h),
        Err(err) => {
            sink.quarantine(ctx.quarantined(1, format!("cannot read the CSV header: {err}"), ""));
            return;
        }
    };
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
    let mut record = csv::StringRecord::new();
    loop {
        let line = csv.position().line();
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => match convert(&record, &c, ctx, line) {
                Ok(m) => sink.message(m),
                Err(reason) => sink.quarantine(ctx.quarantined(line, format!("line {line}: {reason}"), &raw(&record))),
            },
            Err(err) => {
                let fatal = err.is_io_error();
                sink.quarantine(ctx.quarantined(line, format!("line {line}: {err}"), ""));
                if fatal {
                    break;
                }
            }
        }
    }
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
