//! Telegram Desktop writes control bytes inside strings as `\xNN`, which strict JSON rejects. This reader
//! rewrites them to `\u00NN` on the fly, so a streaming JSON parser can read the export as it is.

use std::io::{self, BufRead, Read};

/// Wraps a reader of Telegram JSON; rewrites `\x` escapes to `\u00`.
///
/// In JSON a backslash can only stand in a string, so an escape is a backslash that no other backslash escapes,
/// wherever it is: the reader needs no string state, only whether the last backslash seen escapes the next byte.
/// The runs between escapes to rewrite, which are nearly the whole file, are handed on from the inner reader's
/// buffer without a copy: copying every byte, and finding every quote to know what was a string, was a twentieth
/// of a Telegram ingest's instructions.
pub(crate) struct FixEscapes<R> {
    inner: R,
    /// Whether the byte after the ones scanned so far is escaped by a backslash.
    escaped: bool,
    /// Bytes at the front of the inner buffer scanned and handed on as they are.
    clean: usize,
    /// The rewritten form of an escape (`u00` for the `x`), handed on before the inner buffer.
    out: &'static [u8],
}

impl<R: BufRead> FixEscapes<R> {
    pub(crate) fn new(inner: R) -> Self {
        FixEscapes { inner, escaped: false, clean: 0, out: b"" }
    }

    /// Find how much of the inner buffer can be handed on as it is, up to the next `x` to rewrite; at that `x`,
    /// consume it and hand on its rewritten form instead.
    fn scan(&mut self) -> io::Result<()> {
        let chunk = self.inner.fill_buf()?;
        let mut at = 0;
        loop {
            if self.escaped {
                let Some(&b) = chunk.get(at) else { break };
                self.escaped = false;
                if b == b'x' {
                    if at == 0 {
                        self.inner.consume(1);
                        self.out = b"u00";
                        return Ok(());
                    }
                    // Hand on what comes before it first.
                    self.escaped = true;
                    break;
                }
                at += 1;
            }
            match memchr::memchr(b'\\', &chunk[at..]) {
                Some(i) => {
                    at += i + 1;
                    self.escaped = true;
                }
                None => {
                    at = chunk.len();
                    break;
                }
            }
        }
        self.clean = at;
        Ok(())
    }
}

impl<R: BufRead> Read for FixEscapes<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = buf.len().min(available.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for FixEscapes<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.out.is_empty() && self.clean == 0 {
            self.scan()?;
        }
        if !self.out.is_empty() {
            return Ok(self.out);
        }
        Ok(&self.inner.fill_buf()?[..self.clean])
    }

    fn consume(&mut self, amt: usize) {
        if !self.out.is_empty() {
            self.out = &self.out[amt.min(self.out.len())..];
        } else {
            let amt = amt.min(self.clean);
            self.inner.consume(amt);
            self.clean -= amt;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fix(s: &str) -> String {
        let mut out = String::new();
        FixEscapes::new(s.as_bytes()).read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn rewrites_x_escapes_only() {
        assert_eq!(fix(r#"{"a": "x\x0By"}"#), r#"{"a": "x\u000By"}"#);
        // An escaped backslash followed by x is text, not an escape.
        assert_eq!(fix(r#"{"a": "\\x0B"}"#), r#"{"a": "\\x0B"}"#);
        assert_eq!(fix(r#"{"a\"": "\"\x01"}"#), r#"{"a\"": "\"\u0001"}"#);
    }

    /// The rewrite as a plain byte loop, to check the run-handing one against: an `x` that a backslash escapes,
    /// inside a string or (in broken JSON) not.
    fn fix_bytewise(input: &[u8]) -> Vec<u8> {
        let (mut out, mut escaped) = (Vec::new(), false);
        for &b in input {
            if escaped {
                escaped = false;
                if b == b'x' {
                    out.extend_from_slice(b"u00");
                    continue;
                }
            } else if b == b'\\' {
                escaped = true;
            }
            out.push(b);
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn handing_runs_on_matches_the_byte_loop(
            input in proptest::collection::vec(proptest::sample::select(b"ax\\\"{}: 0".to_vec()), 0..200),
            capacity in 1usize..16,
        ) {
            let mut out = Vec::new();
            FixEscapes::new(io::BufReader::with_capacity(capacity, input.as_slice())).read_to_end(&mut out).unwrap();
            proptest::prop_assert_eq!(out, fix_bytewise(&input));
        }
    }

    #[test]
    fn escapes_split_across_chunks() {
        let text = format!("{{\"a\": \"{}\\x0B\"}}", "y".repeat(10));
        let reader = io::BufReader::with_capacity(3, text.as_bytes());
        let mut out = String::new();
        FixEscapes::new(reader).read_to_string(&mut out).unwrap();
        assert_eq!(out, format!("{{\"a\": \"{}\\u000B\"}}", "y".repeat(10)));
    }
}
