//! URLs, hashtags and mentions: found in text, and normalised so that the same link or tag written two ways is
//! one key.

use crate::chars;
use crate::normalize::{ZWNJ, normalize};

/// Query parameters that only track the click, not the content: dropped from normalised URLs.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "igshid",
    "igsh",
    "si",
    "mc_cid",
    "mc_eid",
    "_ga",
    "_gl",
    "ref_src",
    "ref_url",
    "spm",
    "mkt_tok",
    "vero_id",
    "oly_anon_id",
    "oly_enc_id",
    "__s",
    "s_cid",
];

fn is_tracking_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("utm_") || TRACKING_PARAMS.contains(&lower.as_str())
}

/// Normalise one URL: scheme and host lowercased, default port dropped, fragment and tracking parameters dropped.
/// A string that does not parse as a URL is returned trimmed and lowercased, so it can still be matched.
pub fn normalize_url(raw: &str) -> String {
    let trimmed = raw.trim();
    if let Some(plain) = plain_web_url(trimmed) {
        return plain;
    }
    let with_scheme;
    let candidate = if has_scheme(trimmed) {
        trimmed
    } else {
        with_scheme = format!("http://{trimmed}");
        &with_scheme
    };
    let Ok(mut url) = url::Url::parse(candidate) else {
        return trimmed.to_lowercase();
    };
    if url.cannot_be_a_base() || url.host().is_none() {
        return trimmed.to_lowercase();
    }
    url.set_fragment(None);
    if url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !is_tracking_param(k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    // `url` already lowercases scheme and host and drops default ports.
    url.into()
}

/// Characters of a path that the URL parser copies as they are (no escaping, no `\\` → `/`), `%` left out:
/// ASCII letters, digits and `-._~!$&'()*+,;=:@/`, as a table indexed by byte.
const PLAIN_PATH: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let others = b"-._~!$&'()*+,;=:@/";
    let mut i = 0;
    while i < others.len() {
        table[others[i] as usize] = true;
        i += 1;
    }
    table
};

/// A host [`plain_web_url`] takes: at most 253 bytes of labels of 1 to 63 ASCII letters, digits and `-`, none
/// starting `xn--` (punycode), the last of letters only (no IP address).
fn plain_host(host: &[u8]) -> bool {
    if host.len() > 253 {
        return false;
    }
    let mut last: &[u8] = &[];
    for label in host.split(|&b| b == b'.') {
        let chars_ok = label.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-');
        if !(1..=63).contains(&label.len())
            || !chars_ok
            || label.get(..4).is_some_and(|p| p.eq_ignore_ascii_case(b"xn--"))
        {
            return false;
        }
        last = label;
    }
    last.iter().all(u8::is_ascii_alphabetic)
}

/// A path [`plain_web_url`] takes: plain characters only, and no `.` segment (which the parser would resolve).
fn plain_path(path: &[u8]) -> bool {
    path.iter().all(|&c| PLAIN_PATH[usize::from(c)])
        && !memchr::memchr_iter(b'.', path).any(|i| i > 0 && path[i - 1] == b'/')
}

/// [`normalize_url`] without the parser, for the links most messages hold: `http://` or `https://` (any case),
/// a host of ASCII letters, digits and `-` in labels whose last is letters only (no IP address, no punycode),
/// and a path of plain characters with no `.` segment; no port, user, query or fragment. The parser would only
/// lowercase the scheme and host, and write an empty path as `/` (proptest: the same string as the parser's).
/// `None` for anything else, which takes the parser. The parse was 6% of ingest at 1M messages.
fn plain_web_url(url: &str) -> Option<String> {
    let bytes = url.as_bytes();
    let scheme = [&b"http://"[..], b"https://"]
        .into_iter()
        .find(|s| bytes.len() >= s.len() && bytes[..s.len()].eq_ignore_ascii_case(s))?
        .len();
    let rest = &bytes[scheme..];
    let (host, path) = rest.split_at(memchr::memchr(b'/', rest).unwrap_or(rest.len()));
    if !plain_host(host) || !plain_path(path) {
        return None;
    }
    let path = &url[scheme + host.len()..];
    let mut out = String::with_capacity(url.len() + 1);
    out.push_str(&url[..scheme + host.len()]);
    out.make_ascii_lowercase();
    out.push_str(if path.is_empty() { "/" } else { path });
    Some(out)
}

fn has_scheme(s: &str) -> bool {
    match s.find("://") {
        Some(i) => i > 0 && s[..i].chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')),
        None => false,
    }
}

/// Whether `bytes` holds one of what every link holds: `://`, `www.`, `WWW.` or `t.me/`. Each holds a `:` or a
/// `.`, and text holds few of those: one vectorised search for them, and a look around each (four substring
/// searches, one per mark, were 3% of ingest).
fn might_hold_link(bytes: &[u8]) -> bool {
    memchr::memchr2_iter(b':', b'.', bytes).any(|at| {
        let (before, after) = (&bytes[..at], &bytes[at + 1..]);
        if bytes[at] == b':' {
            return after.starts_with(b"//");
        }
        before.ends_with(b"www") || before.ends_with(b"WWW") || (before.ends_with(b"t") && after.starts_with(b"me/"))
    })
}

/// Where each URL found in `text` starts and ends (byte offsets).
fn url_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    // Most messages hold no link.
    if !might_hold_link(text.as_bytes()) {
        return spans;
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Links start with h, w or t; any other byte (including inside multi-byte characters) is skipped.
        if !matches!(bytes[i], b'h' | b'H' | b'w' | b'W' | b't' | b'T') {
            i += 1;
            continue;
        }
        let rest = &text[i..];
        let head = rest.as_bytes();
        let prefix = |p: &[u8]| head.len() >= p.len() && head[..p.len()].eq_ignore_ascii_case(p);
        let starts = prefix(b"http://")
            || prefix(b"https://")
            || (prefix(b"www.") && boundary_before(text, i))
            || (prefix(b"t.me/") && boundary_before(text, i));
        if !starts {
            i += utf8_len(bytes[i]);
            continue;
        }
        let mut end = i;
        for (off, c) in rest.char_indices() {
            if c.is_whitespace() || matches!(c, '<' | '>' | '"' | '«' | '»' | '\u{200C}') {
                break;
            }
            end = i + off + c.len_utf8();
        }
        // Trailing punctuation belongs to the sentence, not the link; a closing bracket only when unbalanced.
        while end > i {
            let last = text[i..end].chars().next_back().unwrap_or(' ');
            let trim = match last {
                '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '،' | '؛' | '؟' | '…' => true,
                ')' => text[i..end].matches('(').count() < text[i..end].matches(')').count(),
                ']' => text[i..end].matches('[').count() < text[i..end].matches(']').count(),
                _ => false,
            };
            if !trim {
                break;
            }
            end -= last.len_utf8();
        }
        if end > i + 7 || (end > i + 4 && !rest.starts_with("http")) {
            spans.push((i, end));
        }
        i = end.max(i + 1);
        while i < bytes.len() && !text.is_char_boundary(i) {
            i += 1;
        }
    }
    spans
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

fn boundary_before(text: &str, i: usize) -> bool {
    text[..i].chars().next_back().is_none_or(|c| !chars::is_alphanumeric(c) && c != '.' && c != '/' && c != '@')
}

/// URLs in `text`, normalised, in order of appearance, without repeats.
pub fn extract_urls(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (s, e) in url_spans(text) {
        let url = normalize_url(&text[s..e]);
        if !out.contains(&url) {
            out.push(url);
        }
    }
    out
}

/// May a hashtag continue with `c`? Letters, digits, marks, `_` and ZWNJ (Persian hashtags keep it).
fn is_tag_char(c: char) -> bool {
    chars::is_alphanumeric(c) || c == '_' || c == ZWNJ || is_mark(c)
}

fn is_mark(c: char) -> bool {
    // Combining marks of the scripts echolens cares about: Arabic harakat, Cyrillic and Latin combining marks.
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{0483}'..='\u{0489}' | '\u{064B}'..='\u{065F}' | '\u{0670}')
}

/// Hashtags in `text` (without `#`), normalised (see [`normalize_tag`]), without repeats. A `#` inside a word or a
/// URL does not start a tag, and a tag needs at least one letter.
pub fn extract_hashtags(text: &str) -> Vec<String> {
    hashtags_outside(text, &url_spans(text))
}

fn hashtags_outside(text: &str, spans: &[(usize, usize)]) -> Vec<String> {
    extract_marked(text, spans, ['#', '＃'], is_tag_char, true)
        .into_iter()
        .map(|t| normalize_tag(&t))
        .filter(|t| !t.is_empty())
        .fold(Vec::new(), |mut acc, t| {
            if !acc.contains(&t) {
                acc.push(t);
            }
            acc
        })
}

/// Mentioned account names in `text` (without `@`), lowercased, without repeats.
pub fn extract_mentions(text: &str) -> Vec<String> {
    mentions_outside(text, &url_spans(text))
}

/// URLs, hashtags and mentions of `text` in one pass over its links.
pub fn extract_entities(text: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    extract_some(text, Find { urls: true, hashtags: true, mentions: true })
}

/// Which entities [`extract_some`] looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Find {
    /// Links, normalised.
    pub urls: bool,
    /// Hashtags outside links, normalised.
    pub hashtags: bool,
    /// Mentions outside links, lowercased.
    pub mentions: bool,
}

/// The entities of `text` that `find` asks for, as [`extract_entities`] finds them; empty lists for the others.
/// A source that states its URLs but not its tags (most JSONL) needs the links only to leave out the `#` and `@`
/// inside them: the links are not normalised then, and not looked for at all in text without a mark.
pub fn extract_some(text: &str, find: Find) -> (Vec<String>, Vec<String>, Vec<String>) {
    // A mark is `#` or `@`, or a full-width form, whose UTF-8 starts with 0xEF.
    let marks = (find.hashtags || find.mentions) && memchr::memchr3(b'#', b'@', 0xEF, text.as_bytes()).is_some();
    if !find.urls && !marks {
        return Default::default();
    }
    let spans = url_spans(text);
    let mut urls: Vec<String> = Vec::new();
    if find.urls {
        for &(s, e) in &spans {
            let url = normalize_url(&text[s..e]);
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
    }
    let hashtags = if find.hashtags && marks { hashtags_outside(text, &spans) } else { Vec::new() };
    let mentions = if find.mentions && marks { mentions_outside(text, &spans) } else { Vec::new() };
    (urls, hashtags, mentions)
}

fn mentions_outside(text: &str, spans: &[(usize, usize)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in extract_marked(text, spans, ['@', '＠'], |c| c.is_ascii_alphanumeric() || c == '_' || c == '.', false) {
        let m = m.trim_end_matches('.').to_ascii_lowercase();
        if !m.is_empty() && !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

/// Normalise a hashtag as stated by a source (with or without `#`).
pub fn normalize_tag(tag: &str) -> String {
    let tag = tag.trim().trim_start_matches(['#', '＃']);
    let tag = normalize(tag);
    // A tag found in text holds no space; one a source states may.
    if tag.contains(' ') { tag.replace(' ', "_") } else { tag }
}

/// Normalise a mention as stated by a source (with or without `@`).
pub fn normalize_mention(name: &str) -> String {
    name.trim().trim_start_matches(['@', '＠']).to_lowercase()
}

/// The bodies of the marked words of `text` (hashtags, mentions) outside URLs. A mark starts a word only after
/// a character that is not a letter, digit, `_`, `&` or mark; the body is the run of `continues` characters after
/// it (a trailing ZWNJ dropped), and with `need_letter` it must hold a letter.
fn extract_marked(
    text: &str,
    spans: &[(usize, usize)],
    marks: [char; 2],
    continues: impl Fn(char) -> bool,
    need_letter: bool,
) -> Vec<String> {
    let (ascii, wide) = (marks[0], marks[1]);
    debug_assert!(ascii.is_ascii() && wide.len_utf8() == 3 && wide as u32 >= 0xF000);
    let in_url = |i: usize| spans.iter().any(|&(s, e)| i >= s && i < e);
    let mut out = Vec::new();
    // Only the places where a mark can be are looked at: its ASCII byte, or the lead byte of a full-width form.
    for i in memchr::memchr2_iter(ascii as u8, 0xEF, text.as_bytes()) {
        let Some(c) = text[i..].chars().next() else { continue };
        if c != ascii && c != wide {
            continue;
        }
        let prev = text[..i].chars().next_back();
        if prev.is_some_and(|p| chars::is_alphanumeric(p) || p == '_' || p == '&' || p == ascii || p == wide)
            || in_url(i)
        {
            continue;
        }
        let begin = i + c.len_utf8();
        let end = text[begin..].char_indices().find(|&(_, d)| !continues(d)).map_or(text.len(), |(j, _)| begin + j);
        let body = text[begin..end].trim_end_matches(ZWNJ);
        if body.is_empty() || (need_letter && !body.chars().any(chars::is_alphabetic)) {
            continue;
        }
        out.push(body.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stated_tags_with_spaces_join_with_underscores() {
        assert_eq!(normalize_tag("#Zan  Zendegi "), "zan_zendegi");
        assert_eq!(normalize_tag("＃زن زندگی"), "زن_زندگی");
        assert_eq!(normalize_tag("#Tag"), "tag");
    }

    proptest! {
        /// The look around each `:` and `.` finds exactly the texts that hold one of the four marks.
        #[test]
        fn might_hold_link_is_holding_a_mark(s in "[wWt.me/:hx ]{0,12}") {
            let marks = ["://", "www.", "WWW.", "t.me/"];
            prop_assert_eq!(might_hold_link(s.as_bytes()), marks.iter().any(|m| s.contains(m)), "{:?}", s);
        }
    }

    #[test]
    fn url_scheme_host_port_fragment_tracking() {
        assert_eq!(
            normalize_url("HTTPS://Example.COM:443/Path?utm_source=tw&id=7&fbclid=abc#frag"),
            "https://example.com/Path?id=7"
        );
        assert_eq!(normalize_url("http://example.com:80"), "http://example.com/");
        assert_eq!(normalize_url("http://example.com:8080/a"), "http://example.com:8080/a");
        assert_eq!(normalize_url("https://youtu.be/xyz?si=TRACK"), "https://youtu.be/xyz");
        assert_eq!(normalize_url("https://www.instagram.com/p/abc/?igshid=Zz"), "https://www.instagram.com/p/abc/");
    }

    #[test]
    fn url_without_scheme_gets_one() {
        assert_eq!(normalize_url("t.me/somechannel/12"), "http://t.me/somechannel/12");
    }

    #[test]
    fn urls_found_in_text_without_trailing_punctuation() {
        let text = "see https://a.example/x?utm_medium=1. and (http://b.example/y) or www.c.example/z, done";
        assert_eq!(extract_urls(text), vec!["https://a.example/x", "http://b.example/y", "http://www.c.example/z"]);
    }

    #[test]
    fn url_with_balanced_parentheses_kept() {
        assert_eq!(
            extract_urls("https://en.wikipedia.org/wiki/Foo_(bar)"),
            vec!["https://en.wikipedia.org/wiki/Foo_(bar)"]
        );
    }

    #[test]
    fn markdown_links_give_their_url() {
        assert_eq!(extract_urls("[label](https://naked-science.ru/a/b)"), vec!["https://naked-science.ru/a/b"]);
    }

    #[test]
    fn persian_hashtags_with_zwnj_and_underscore() {
        let text = "#زن_زندگی_آزادی و #می‌خواهم، #Mahsa_Amini! #123 a#b";
        assert_eq!(extract_hashtags(text), vec!["زن_زندگی_آزادی", "می\u{200C}خواهم", "mahsa_amini"]);
    }

    #[test]
    fn hashtag_variants_fold_to_one() {
        // Arabic yeh and kaf: the same tag as with Persian letters.
        assert_eq!(extract_hashtags("#آزادي_كتاب #آزادی_کتاب"), vec!["آزادی_کتاب"]);
    }

    #[test]
    fn hashtag_in_url_fragment_is_not_a_tag() {
        assert!(extract_hashtags("http://example.com/#section").is_empty());
    }

    #[test]
    fn only_the_entities_asked_for_and_full_width_marks_without_ascii_ones() {
        let text = "＃تست_یک and ＠Someone at https://Ex.com/a?utm_source=x";
        let find = Find { urls: false, hashtags: true, mentions: true };
        assert_eq!(extract_some(text, find), (vec![], vec!["تست_یک".to_owned()], vec!["someone".to_owned()]));
        let urls_only = Find { urls: true, hashtags: false, mentions: false };
        assert_eq!(extract_some(text, urls_only), (vec!["https://ex.com/a".to_owned()], vec![], vec![]));
    }

    #[test]
    fn mentions_lowercased_not_emails() {
        assert_eq!(extract_mentions("hi @SomeOne and @other_1. mail me@example.com"), vec!["someone", "other_1"]);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// URLs built mostly from what the shortcut takes, now and then with something it must leave to the parser.
    fn web_url() -> impl Strategy<Value = String> {
        fn part(plain: &'static [&'static str], odd: &'static [&'static str], max: usize) -> BoxedStrategy<String> {
            let piece = prop_oneof![8 => proptest::sample::select(plain), 1 => proptest::sample::select(odd)];
            proptest::collection::vec(piece, 0..max).prop_map(|p| p.concat()).boxed()
        }
        (
            proptest::sample::select(vec!["http://", "HTTPS://", "https://", "Http://", "ftp://", "http:/"]),
            part(&["a", "Z", "0", "9", "-", "."], &["xn--", "é", "_", ":80", "@", ".."], 8),
            part(&["com", "Org"], &["1", "0x7f", ""], 2),
            part(
                &["/", "a", "B", "0", "~", ";", "=", "'", "-", "_", "!", "(", "*", ",", "$", "@", ":"],
                &[".", "..", "/.", "%", "%2e", " ", "\\", "?", "#", "|", "^", "é", "`", "{"],
                10,
            ),
        )
            .prop_map(|(scheme, host, tld, path)| format!("{scheme}{host}.{tld}{path}"))
    }

    proptest! {
        /// The shortcut gives what the parser gives, where it takes a URL at all.
        #[test]
        fn plain_web_urls_normalise_as_the_parser_does(url in web_url()) {
            let parsed = url::Url::parse(&url).map(String::from);
            if let Some(plain) = plain_web_url(&url) {
                prop_assert_eq!(Ok(plain), parsed);
            }
        }
    }

    #[test]
    fn the_links_most_messages_hold_take_the_shortcut() {
        for url in
            ["https://ex.com/2022/a-b-3b8", "HTTP://Ex.COM", "https://news.site.info/a/b/", "http://a-b.co/x:y@z"]
        {
            assert!(plain_web_url(url).is_some(), "{url}");
        }
        for url in [
            "https://ex.com/a?b=1",
            "https://ex.com/a#f",
            "https://1.2.3.4/",
            "https://ex.com:443/",
            "https://ex.com/./a",
        ] {
            assert!(plain_web_url(url).is_none(), "{url}");
        }
        assert_eq!(normalize_url("HTTP://Ex.COM"), "http://ex.com/");
    }

    /// The plain definition of [`extract_marked`]: every character in turn, the one before it remembered.
    fn marked_by_chars(
        text: &str,
        spans: &[(usize, usize)],
        marks: [char; 2],
        continues: impl Fn(char) -> bool,
        need_letter: bool,
    ) -> Vec<String> {
        let in_url = |i: usize| spans.iter().any(|&(s, e)| i >= s && i < e);
        let mut out = Vec::new();
        let mut prev: Option<char> = None;
        let mut iter = text.char_indices().peekable();
        while let Some((i, c)) = iter.next() {
            let starts = marks.contains(&c)
                && prev.is_none_or(|p| !(chars::is_alphanumeric(p) || p == '_' || p == '&' || marks.contains(&p)))
                && !in_url(i);
            prev = Some(c);
            if !starts {
                continue;
            }
            let begin = i + c.len_utf8();
            let mut end = begin;
            while let Some(&(j, d)) = iter.peek() {
                if !continues(d) {
                    break;
                }
                end = j + d.len_utf8();
                prev = Some(d);
                iter.next();
            }
            let body = text[begin..end].trim_end_matches(ZWNJ);
            if !body.is_empty() && (!need_letter || body.chars().any(chars::is_alphabetic)) {
                out.push(body.to_owned());
            }
        }
        out
    }

    proptest! {
        #[test]
        fn marked_words_are_those_of_the_plain_definition(
            s in "([#@＃＠ _&.\u{200C}\u{064B}]|[a-c]|[بپت]|é|ﬁ|http://a\\.b/#x|@@|##|\\PC){0,40}"
        ) {
            let spans = url_spans(&s);
            prop_assert_eq!(
                extract_marked(&s, &spans, ['#', '＃'], is_tag_char, true),
                marked_by_chars(&s, &spans, ['#', '＃'], is_tag_char, true)
            );
            let mention = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
            prop_assert_eq!(
                extract_marked(&s, &spans, ['@', '＠'], mention, false),
                marked_by_chars(&s, &spans, ['@', '＠'], mention, false)
            );
        }

        #[test]
        fn some_entities_are_those_each_finder_finds(
            s in "(\\PC|[#@＃＠ \u{200C}:/.a-z]|https?://|www\\.|t\\.me/|#x|@y){0,40}",
            urls: bool,
            hashtags: bool,
            mentions: bool,
        ) {
            let (found_urls, found_tags, found_mentions) = extract_some(&s, Find { urls, hashtags, mentions });
            prop_assert_eq!(found_urls, if urls { extract_urls(&s) } else { Vec::new() });
            prop_assert_eq!(found_tags, if hashtags { extract_hashtags(&s) } else { Vec::new() });
            prop_assert_eq!(found_mentions, if mentions { extract_mentions(&s) } else { Vec::new() });
        }

        #[test]
        fn extraction_never_panics(s in "(\\PC|[#@ \u{200C}:/.a-z]|https?://|www\\.|t\\.me/){0,40}") {
            let _ = extract_urls(&s);
            let _ = extract_hashtags(&s);
            let _ = extract_mentions(&s);
        }

        #[test]
        fn normalized_urls_are_stable(s in "https?://[a-zA-Z]{1,8}\\.[a-z]{2,3}(/[a-z0-9]{0,6}){0,3}(\\?[a-z_]{1,6}=[a-z0-9]{0,4}){0,2}") {
            let once = normalize_url(&s);
            prop_assert_eq!(normalize_url(&once), once);
        }
    }
}
