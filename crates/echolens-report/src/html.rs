//! Escaping. Message text, channel names, terms and URLs are hostile input: they reach the page only through
//! these functions.

use std::fmt::Write;

/// `s` escaped for HTML text and for quoted attribute values (also inside inline SVG).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether `c` is a bidi override or isolate, or a control character other than newline and tab: characters
/// that would reorder or hide what surrounds them.
fn is_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') || (c.is_control() && c != '\n' && c != '\t')
}

/// User text (a message, a name, a term) for display: escaped, bidi overrides and control characters shown as
/// visible `[U+202E]` marks, and isolated in a `<bdi>` so right-to-left text cannot reorder the page around it.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str("<bdi>");
    let mut plain = String::new();
    for c in s.chars() {
        if is_control(c) {
            out.push_str(&esc(&plain));
            plain.clear();
            let _ = write!(out, "<span class=\"ctl\">[U+{:04X}]</span>", c as u32);
        } else {
            plain.push(c);
        }
    }
    out.push_str(&esc(&plain));
    out.push_str("</bdi>");
    out
}

/// User text for an attribute or an SVG `<title>`: escaped, with bidi and control characters written as
/// `[U+202E]` (markup cannot go there).
pub fn plain(s: &str) -> String {
    let mut t = String::with_capacity(s.len());
    for c in s.chars() {
        if is_control(c) {
            let _ = write!(t, "[U+{:04X}]", c as u32);
        } else {
            t.push(c);
        }
    }
    esc(&t)
}

/// `s` on one line, cut to `n` characters with an ellipsis.
pub use echolens_analysis::excerpt as cut;

/// JSON for a `<script type="application/json">` block: `<`, `>`, `&` and the JavaScript line separators
/// written as `\u` escapes, so no text inside can close the element or start a comment.
pub fn json_in_script(v: &serde_json::Value) -> String {
    let s = serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned());
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A whole number with thousands separators.
pub fn n(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(
            esc(r#"<img src=x onerror="alert(1)">&'"#),
            "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;"
        );
        assert_eq!(text("a<b"), "<bdi>a&lt;b</bdi>");
    }

    #[test]
    fn bidi_overrides_are_shown_not_obeyed() {
        let t = text("abc\u{202E}txt.exe");
        assert!(!t.contains('\u{202E}'));
        assert!(t.contains("[U+202E]"), "{t}");
        assert!(!plain("x\u{2066}y\u{0007}").contains('\u{2066}'));
        assert_eq!(plain("x\u{2066}y"), "x[U+2066]y");
        // Persian text keeps its ZWNJ: it is a letter joiner, not a control.
        assert_eq!(text("می\u{200C}شود"), "<bdi>می\u{200C}شود</bdi>");
    }

    #[test]
    fn json_cannot_close_its_script_element() {
        let v = serde_json::json!({"t": "</script><script>alert(1)</script><!--", "u": "\u{2028}"});
        let s = json_in_script(&v);
        assert!(!s.contains('<') && !s.contains('>') && !s.contains('\u{2028}'), "{s}");
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v, "still the same JSON");
    }

    #[test]
    fn numbers_get_separators() {
        assert_eq!(n(0), "0");
        assert_eq!(n(999), "999");
        assert_eq!(n(1000), "1,000");
        assert_eq!(n(10_000_000), "10,000,000");
    }
}
