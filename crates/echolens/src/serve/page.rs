//! The pages: one HTML document, its script and its style sheet, compiled into the binary (no CDN, no font,
//! no library: the script is plain DOM code). The script renders every value from the API as text
//! (`textContent`, SVG text nodes), never as markup, so message text cannot become a tag or a script; the
//! Content-Security-Policy allows this server's own script and style only.

use super::{Body, Reply};

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/app.css");

/// The page asset at `path`, if it is one.
pub(super) fn asset(path: &str) -> Option<Reply> {
    let (content_type, text) = match path {
        "/" | "/index.html" => ("text/html; charset=utf-8", INDEX),
        "/app.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "/app.css" => ("text/css; charset=utf-8", STYLE),
        _ => return None,
    };
    Some(Reply { status: 200, body: Body::Bytes { content_type, bytes: text.as_bytes().to_vec(), download: None } })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pages_load_nothing_from_elsewhere_and_write_no_markup_from_data() {
        for (name, text) in [("index.html", super::INDEX), ("app.js", super::SCRIPT), ("app.css", super::STYLE)] {
            for outside in ["http://", "https://", "//cdn", "@import"] {
                // The SVG namespace is an identifier, not a request.
                let text = text.replace("http://www.w3.org/2000/svg", "");
                assert!(!text.contains(outside), "{name} names {outside}");
            }
        }
        for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
            assert!(!super::SCRIPT.contains(sink), "app.js uses {sink}");
        }
        assert!(!super::INDEX.contains("<script>"), "no inline script");
    }
}
