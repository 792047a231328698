//! Telegram Desktop writes control bytes inside strings as `\xNN`, which strict JSON rejects. This reader
//! rewrites them to `\u00NN` on the fly, so a streaming JSON parser can read the export as it is.

use std::io::{self, BufRead, Read};

/// Wraps a reader of Telegram JSON; rewrites `\x` escapes inside strings to `\u00`.
pub struct FixEscapes<R> {
    inner: R,
    in_string: bool,
    escaped: bool,
    out: Vec<u8>,
    pos: usize,
}

impl<R: BufRead> FixEscapes<R> {
    pub fn new(inner: R) -> Self {
        FixEscapes { inner, in_string: false, escaped: false, out: Vec::with_capacity(64 * 1024), pos: 0 }
    }

    /// Rewrite the next chunk of the inner reader into `out`. Between the bytes that matter (a quote, and inside
    /// a string a backslash) runs are found with memchr and copied whole: the byte-at-a-time loop was a sixth of
    /// a Telegram ingest.
    fn refill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.pos = 0;
        let chunk = self.inner.fill_buf()?;
        let n = chunk.len();
        let mut rest = chunk;
        while let Some((&first, tail)) = rest.split_first() {
            if self.escaped {
                self.escaped = false;
                if first == b'x' {
                    self.out.extend_from_slice(b"u00");
                } else {
                    self.out.push(first);
                }
                rest = tail;
                continue;
            }
            let next = if self.in_string { memchr::memchr2(b'\\', b'"', rest) } else { memchr::memchr(b'"', rest) };
            let Some(at) = next else {
                self.out.extend_from_slice(rest);
                break;
            };
            self.out.extend_from_slice(&rest[..=at]);
            if rest[at] == b'\\' {
                self.escaped = true;
            } else {
                self.in_string = !self.in_string;
            }
            rest = &rest[at + 1..];
        }
        self.inner.consume(n);
        Ok(())
    }
}

impl<R: BufRead> Read for FixEscapes<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.out.len() {
            self.refill()?;
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for FixEscapes<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.out.len() {
            self.refill()?;
        }
        Ok(&self.out[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.out.len());
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
    fn rewrites_x_escapes_in_strings_only() {
        assert_eq!(fix(r#"{"a": "x\x0By"}"#), r#"{"a": "x\u000By"}"#);
        // An escaped backslash followed by x is text, not an escape.
        assert_eq!(fix(r#"{"a": "\\x0B"}"#), r#"{"a": "\\x0B"}"#);
        assert_eq!(fix(r#"{"a\"": "\"\x01"}"#), r#"{"a\"": "\"\u0001"}"#);
    }

    /// The rewrite as a plain byte loop, to check the run-copying one against.
    fn fix_bytewise(input: &[u8]) -> Vec<u8> {
        let (mut out, mut in_string, mut escaped) = (Vec::new(), false, false);
        for &b in input {
            if escaped {
                escaped = false;
                if b == b'x' {
                    out.extend_from_slice(b"u00");
                    continue;
                }
            } else if in_string {
                match b {
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
            } else if b == b'"' {
                in_string = true;
            }
            out.push(b);
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn run_copying_matches_the_byte_loop(
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
