//! coordination-network-toolkit CSV: `message_id,user_id,username,repost_id,reply_id,message,timestamp,urls`.
//!
//! Columns are found by name (the toolkit's own obsolete layout `tweet_id,user_id,retweeted_tweet_id,text,
//! toUnixTimestamp(created_at)` too), falling back to the toolkit's positions when the names are unknown.
//! `urls` is space-separated, or a Python list as the toolkit's own sample writes it. Timestamps are seconds.

use std::io::BufRead;

use super::csv_util::{Columns, Header, cell, list, read_records};
use crate::{FileCtx, RawMessage, Sink, time};
use echolens_model::Message;

pub(crate) fn read(reader: impl BufRead, ctx: &FileCtx<'_>, sink: &mut dyn Sink) {
    let columns = |cols: &Columns| {
        // A first row that names none of the toolkit's columns is a record: the toolkit's files have no
        // header when written by its own export, and reading that row as names would lose it.
        let named = ["message_id", "tweet_id", "user_id", "username", "repost_id", "reply_id", "message", "text"]
            .iter()
            .chain(&["timestamp", "urls", "retweeted_tweet_id", "tounixtimestamp(created_at)"])
            .any(|n| cols.find(&[n]).is_some());
        let header = if named { Header::Names } else { Header::IsData };
        let by_position = |i: usize| (cols.len() == 8 || !named).then_some(i);
        let c = ToolkitColumns {
            id: cols.find(&["message_id", "tweet_id"]).or(by_position(0)),
            user: cols.find(&["user_id"]).or(by_position(1)),
            username: cols.find(&["username"]).or(by_position(2)),
            repost: cols.find(&["repost_id", "retweeted_tweet_id"]).or(by_position(3)),
            reply: cols.find(&["reply_id"]).or(by_position(4)),
            text: cols.find(&["message", "text"]).or(by_position(5)),
            time: cols.find(&["timestamp", "tounixtimestamp(created_at)"]).or(by_position(6)),
            urls: cols.find(&["urls"]).or(by_position(7)),
        };
        (c, header)
    };
    read_records(reader, ctx, sink, columns, |record, c, line| convert(record, c, ctx, line).map(Into::into));
}

struct ToolkitColumns {
    id: Option<usize>,
    user: Option<usize>,
    username: Option<usize>,
    repost: Option<usize>,
    reply: Option<usize>,
    text: Option<usize>,
    time: Option<usize>,
    urls: Option<usize>,
}

fn convert(r: &csv::StringRecord, c: &ToolkitColumns, ctx: &FileCtx<'_>, line: u64) -> Result<RawMessage, String> {
    let id = cell(r, c.id).ok_or("missing message_id")?;
    let user = cell(r, c.user).ok_or("missing user_id")?;
    let when = cell(r, c.time).ok_or("missing timestamp")?;
    let ts = time::from_secs_str(when).ok_or_else(|| format!("timestamp {when:?} is not a number of seconds"))?;
    Ok(RawMessage {
        message: Message {
            platform: ctx.platform_or("generic").to_owned(),
            channel_id: user.to_owned(),
            message_id: id.to_owned(),
            author_id: Some(user.to_owned()),
            author_name: cell(r, c.username).map(str::to_owned),
            ts,
            ts_exact: true,
            text: cell(r, c.text).unwrap_or("").to_owned(),
            reply_to: cell(r, c.reply).map(str::to_owned),
            repost_of: cell(r, c.repost).map(str::to_owned),
            source_file: ctx.path.clone(),
            source_record: line,
            ..Message::default()
        },
        urls: c.urls.map(|_| list(cell(r, c.urls))),
        hashtags: None,
        mentions: None,
    })
}

#[cfg(test)]
mod tests {
    use crate::{Collect, Format, ReadOptions, read_bytes};

    #[test]
    fn toolkit_rows_with_bom_lists_and_float_times() {
        let input = "\u{feff}message_id,user_id,username,repost_id,reply_id,message,timestamp,urls\n\
                     1,u1,name1,,,\"hello there\",1606451170.518101,\"['http://example.com/4', 'http://example.com/6']\"\n\
                     2,u2,name2,1,,rt,1606451229,http://a.example/x http://b.example/y\n\
                     3,u3,name3,,,bad time,soon,\n";
        let mut sink = Collect::default();
        let counts = read_bytes(input.as_bytes(), "t.csv", Format::ToolkitCsv, &ReadOptions::default(), &mut sink);
        assert_eq!((counts.messages, counts.quarantined), (2, 1));
        assert_eq!(sink.messages[0].urls, vec!["http://example.com/4", "http://example.com/6"]);
        assert_eq!(sink.messages[0].ts, 1_606_451_170_518_101);
        assert_eq!(sink.messages[1].repost_of.as_deref(), Some("1"));
        assert_eq!(sink.messages[1].urls, vec!["http://a.example/x", "http://b.example/y"]);
        assert_eq!(sink.quarantined[0].source_record, 4);
    }

    /// A file without a header (as `--format toolkit-csv` may be given one): its first row is a record.
    #[test]
    fn a_headerless_file_keeps_its_first_row() {
        let input = "1,u1,name1,,,first,1606451170,\n2,u2,name2,,,second,1606451171,\n";
        let mut sink = Collect::default();
        let counts = read_bytes(input.as_bytes(), "t.csv", Format::ToolkitCsv, &ReadOptions::default(), &mut sink);
        assert_eq!((counts.records, counts.messages, counts.quarantined), (2, 2, 0));
        let texts: Vec<_> = sink.messages.iter().map(|m| (m.source_record, m.text.as_str())).collect();
        assert_eq!(texts, vec![(1, "first"), (2, "second")]);
    }
}
