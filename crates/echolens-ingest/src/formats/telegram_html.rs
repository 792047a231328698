//! Telegram Desktop's HTML export, the exporter's default format: `messages.html`, `messages2.html`, … (a
//! thousand messages a file), parsed with html5ever (through `scraper`) as a browser would parse it.
//!
//! What the exporter writes for each message (`export_output_html.cpp`): a `div.message.default` with id
//! `message<N>`; a `div.pull_right.date.details` whose `title` is the time, `DD.MM.YYYY HH:MM:SS UTC+03:00`
//! (older exports leave out the offset: then the time is local, kept as if UTC and marked inexact unless
//! `--utc-offset` gives it); the sender's `div.from_name` (with ` via @bot`), left out on a `joined` message that
//! continues the previous sender's run; a `div.forwarded.body` around a forward, its `from_name` the source; a
//! `div.reply_to.details` linking `#go_to_message<N>`; the text in `div.text` (links as `<a href>`, line breaks
//! as `<br>`); the signature in `div.signature.details`. Service messages (`div.message.service`) are
//! skipped.
//!
//! The export names its chat (`div.page_header … div.text.bold`) but not the chat's id, nor the senders' ids:
//! the channel's id is its name, and an author's id is the sender's name as shown, so messages of one chat
//! exported as HTML and as JSON do not share keys.

use std::io::Read;

use scraper::{ElementRef, Html, Selector};

use crate::{FileCtx, RawMessage, Sink};
use echolens_model::Message;

/// The largest HTML file read (the exporter writes about a thousand messages a file: a few MB).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

pub(crate) fn read(reader: impl Read, ctx: &FileCtx<'_>, sink: &mut dyn Sink) {
    let mut bytes = Vec::new();
    if let Err(err) = reader.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes) {
        return sink.quarantine(ctx.quarantined(1, format!("read error: {err}; the file was not read"), ""));
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let reason = format!("an HTML export file over {} MiB was not read", MAX_FILE_BYTES >> 20);
        return sink.quarantine(ctx.quarantined(1, reason, ""));
    }
    let text = String::from_utf8_lossy(&bytes);
    let doc = Html::parse_document(&text);
    read_document(&doc, ctx, sink);
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).expect("a valid selector")
}

/// The text of an element: text nodes in order, `<br>` as a line break, white space at the ends trimmed.
fn text_of(el: ElementRef<'_>) -> String {
    let mut out = String::new();
    for node in el.descendants() {
        if let Some(t) = node.value().as_text() {
            out.push_str(t);
        } else if node.value().as_element().is_some_and(|e| e.name() == "br") {
            out.push('\n');
        }
    }
    out.trim().to_owned()
}

/// The direct children of `el` that match `sel`.
fn child<'a>(el: ElementRef<'a>, sel: &Selector) -> Option<ElementRef<'a>> {
    el.children().filter_map(ElementRef::wrap).find(|c| sel.matches(c))
}

fn read_document(doc: &Html, ctx: &FileCtx<'_>, sink: &mut dyn Sink) {
    let chat = doc.select(&selector("div.page_header div.text.bold")).next().map(text_of).filter(|n| !n.is_empty());
    let messages = selector("div.message");
    let signature = selector("div.signature.details");
    let (body, date, from, forwarded, reply, text, link) = (
        selector("div.body"),
        selector("div.pull_right.date.details"),
        selector("div.from_name"),
        selector("div.forwarded.body"),
        selector("div.reply_to.details"),
        selector("div.text"),
        selector("a[href]"),
    );
    let mut sender: Option<String> = None;
    let mut bot: Option<String> = None;
    let mut warned = false;
    for (i, m) in doc.select(&messages).enumerate() {
        let record = i as u64 + 1;
        let classes: Vec<&str> = m.value().classes().collect();
        if classes.contains(&"service") {
            (sender, bot) = (None, None);
            sink.skip("service message");
            continue;
        }
        let raw = || echolens_model::truncate_utf8(&m.html(), echolens_model::RAW_LIMIT).to_owned();
        let Some(chat) = chat.as_deref() else {
            let reason = "the export names no chat (div.page_header div.text.bold): its messages have no channel";
            sink.quarantine(ctx.quarantined(record, reason, &raw()));
            continue;
        };
        let Some(id) = m.value().id().and_then(|id| id.strip_prefix("message")).filter(|n| n.parse::<i64>().is_ok())
        else {
            sink.quarantine(ctx.quarantined(record, "a message without an id like message123", &raw()));
            continue;
        };
        let Some(body) = child(m, &body) else {
            sink.quarantine(ctx.quarantined(record, format!("message {id}: no div.body"), &raw()));
            continue;
        };
        let Some(title) = child(body, &date).and_then(|d| d.value().attr("title")) else {
            sink.quarantine(ctx.quarantined(record, format!("message {id}: no date (div.date with a title)"), &raw()));
            continue;
        };
        let Some((ts, exact)) = parse_time(title, ctx.options.utc_offset) else {
            let reason = format!("message {id}: date {title:?} is not like 15.08.2020 10:57:36 UTC+03:00");
            sink.quarantine(ctx.quarantined(record, reason, &raw()));
            continue;
        };
        if !exact && !warned {
            warned = true;
            sink.warn(format!(
                "{}: dates without a UTC offset (an older export): the exporting machine's local time, stored with \
                 ts_exact = false (--utc-offset gives it)",
                ctx.path
            ));
        }
        // A joined message continues the previous sender's run (and its bot).
        if let Some(name) = child(body, &from).map(text_of) {
            let mut parts = name.splitn(2, " via @");
            let shown = parts.next().unwrap_or_default().trim().to_owned();
            bot = parts.next().map(|b| b.trim().to_owned()).filter(|b| !b.is_empty());
            sender = (!shown.is_empty()).then_some(shown);
        }
        let fwd = child(body, &forwarded);
        let forwarded_from = fwd.and_then(|f| child(f, &from)).map(|n| {
            // The source's name, without the forward's date (a span inside) or the bot.
            let own: String = n.children().filter_map(|c| c.value().as_text().map(|t| t.to_string())).collect();
            own.split(" via @").next().unwrap_or_default().trim().to_owned()
        });
        let text_el = child(body, &text).or_else(|| fwd.and_then(|f| child(f, &text)));
        let reply_to = child(body, &reply)
            .and_then(|r| r.select(&link).next())
            .and_then(|a| a.value().attr("href"))
            .and_then(|h| h.strip_prefix("#go_to_message"))
            .map(str::to_owned);
        let urls: Vec<String> = text_el
            .map(|t| {
                t.select(&link)
                    .filter_map(|a| a.value().attr("href"))
                    .filter(|h| h.starts_with("http://") || h.starts_with("https://"))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        sink.message(RawMessage {
            message: Message {
                platform: ctx.platform_or("telegram").to_owned(),
                channel_id: chat.to_owned(),
                channel_name: Some(chat.to_owned()),
                message_id: id.to_owned(),
                author_id: sender.clone(),
                author_name: sender.clone(),
                ts,
                ts_exact: exact,
                text: text_el.map(text_of).unwrap_or_default(),
                forwarded_from: forwarded_from.filter(|f| !f.is_empty()),
                reply_to,
                signature: child(body, &signature).or_else(|| fwd.and_then(|f| child(f, &signature))).map(text_of),
                via_bot: bot.clone(),
                source_file: ctx.path.clone(),
                source_record: record,
                ..Message::default()
            },
            urls: Some(urls),
            ..RawMessage::default()
        });
    }
}

/// `15.08.2020 10:57:36 UTC+03:00` (exact), or without the offset (local: `offset` if given, else as if UTC
/// and inexact).
fn parse_time(title: &str, offset: Option<i32>) -> Option<(i64, bool)> {
    let title = title.trim();
    let (local, zone) = match title.split_once(" UTC") {
        Some((local, zone)) => (local, Some(zone)),
        None => (title, None),
    };
    let naive = chrono::NaiveDateTime::parse_from_str(local.trim(), "%d.%m.%Y %H:%M:%S").ok()?;
    let at = naive.and_utc().timestamp_micros();
    match zone {
        Some(z) => {
            let seconds = crate::parse_utc_offset(z).ok()?;
            Some((at - i64::from(seconds) * 1_000_000, true))
        }
        None => match offset {
            Some(s) => Some((at - i64::from(s) * 1_000_000, true)),
            None => Some((at, false)),
        },
    }
}

/// Whether the start of a file is a Telegram Desktop HTML export page.
pub(crate) fn looks_like(head: &str) -> bool {
    let start = head.trim_start().get(..15).unwrap_or("").to_ascii_lowercase();
    (start.starts_with("<!doctype html") || start.starts_with("<html"))
        && head.contains("class=\"page_wrap\"")
        && (head.contains("class=\"message ") || head.contains("class=\"page_header\""))
}

#[cfg(test)]
mod tests {
    use crate::{Collect, Format, ReadOptions, read_bytes};

    const PAGE: &str = r##"<!DOCTYPE html>
<html><head><meta charset="utf-8"/><title>Exported Data</title></head>
<body><div class="page_wrap">
 <div class="page_header"><div class="content"><div class="text bold">Demo News</div></div></div>
 <div class="page_body chat_page"><div class="history">
  <div class="message service" id="message-1"><div class="body details">15 August 2020</div></div>
  <div class="message default clearfix" id="message10">
   <div class="pull_left userpic_wrap"><div class="userpic userpic1"></div></div>
   <div class="body">
    <div class="pull_right date details" title="15.08.2020 10:57:36 UTC+03:00">10:57</div>
    <div class="from_name">Demo News</div>
    <div class="text">Первая строка<br>with a <a href="https://example.com/a?utm_source=x">link</a> &lt;script&gt; <a href="" onclick="return ShowHashtag(&quot;tag&quot;)">#tag</a></div>
    <div class="signature details">Editor</div>
   </div>
  </div>
  <div class="message default clearfix joined" id="message11">
   <div class="body">
    <div class="pull_right date details" title="15.08.2020 10:58:00 UTC+03:00">10:58</div>
    <div class="reply_to details">In reply to <a href="#go_to_message10" onclick="return GoToMessage(10)">this message</a></div>
    <div class="text">a reply</div>
   </div>
  </div>
  <div class="message default clearfix" id="message12">
   <div class="body">
    <div class="pull_right date details" title="15.08.2020 11:00:00 UTC+03:00">11:00</div>
    <div class="from_name">Demo News</div>
    <div class="pull_left forwarded userpic_wrap"></div>
    <div class="forwarded body">
     <div class="from_name">Other Channel<span class="date details" title="14.08.2020 09:00:00 UTC+03:00"> 14.08.2020 09:00:00</span></div>
     <div class="text">copied text</div>
    </div>
   </div>
  </div>
  <div class="message default clearfix" id="message13"><div class="body"><div class="pull_right date details" title="yesterday">?</div></div></div>
 </div></div>
</div></body></html>"##;

    #[test]
    fn messages_replies_forwards_and_joined_senders_from_an_html_export() {
        let mut sink = Collect::default();
        let counts =
            read_bytes(PAGE.as_bytes(), "messages.html", Format::TelegramHtml, &ReadOptions::default(), &mut sink);
        assert_eq!((counts.messages, counts.skipped, counts.quarantined), (3, 1, 1), "{:?}", sink.quarantined);
        let m = &sink.messages;
        assert_eq!(m[0].key(), "telegram:Demo News:10");
        assert_eq!(echolens_model::rfc3339(m[0].ts), "2020-08-15T07:57:36Z");
        assert!(m[0].ts_exact);
        assert_eq!(m[0].text, "Первая строка\nwith a link <script> #tag");
        assert_eq!(m[0].urls, ["https://example.com/a"], "the link's target, tracking dropped");
        assert_eq!(m[0].hashtags, ["tag"]);
        assert_eq!(m[0].signature.as_deref(), Some("Editor"));
        assert_eq!((m[1].author_id.as_deref(), m[1].reply_to.as_deref()), (Some("Demo News"), Some("10")), "joined");
        assert_eq!((m[2].forwarded_from.as_deref(), m[2].text.as_str()), (Some("Other Channel"), "copied text"));
        assert!(sink.quarantined[0].reason.contains("\"yesterday\""), "{:?}", sink.quarantined);
    }

    #[test]
    fn older_exports_without_an_offset_are_local_unless_one_is_given() {
        let page = PAGE.replace(" UTC+03:00", "");
        let mut sink = Collect::default();
        read_bytes(page.as_bytes(), "messages.html", Format::TelegramHtml, &ReadOptions::default(), &mut sink);
        assert!(!sink.messages[0].ts_exact);
        assert_eq!(sink.warnings.len(), 1);
        let options = ReadOptions { utc_offset: Some(3 * 3600), ..ReadOptions::default() };
        let mut sink = Collect::default();
        read_bytes(page.as_bytes(), "messages.html", Format::TelegramHtml, &options, &mut sink);
        assert_eq!(echolens_model::rfc3339(sink.messages[0].ts), "2020-08-15T07:57:36Z");
        assert!(sink.messages[0].ts_exact);
    }
}
