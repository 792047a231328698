//! What the CSV readers share: columns by header name, list cells, record positions.

/// Column positions looked up by header name (case-insensitive, BOM and quotes stripped).
pub(super) struct Columns {
    names: Vec<String>,
}

impl Columns {
    pub(super) fn new(header: &csv::StringRecord) -> Self {
        Columns { names: header.iter().map(|h| h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase()).collect() }
    }

    /// The first of `names` present in the header.
    pub(super) fn find(&self, names: &[&str]) -> Option<usize> {
        names.iter().find_map(|n| self.names.iter().position(|h| h == n))
    }

    pub(super) fn len(&self) -> usize {
        self.names.len()
    }
}

/// What a CSV record is.
pub(super) enum Record {
    /// A message, and what the record says about its account.
    Message(Box<crate::RawMessage>, Option<echolens_model::AccountSeen>),
    /// An account's profile alone (a row of an X archive's accounts file): stored with the accounts and counted
    /// as a skipped record (`account profile`), not a message.
    Account(echolens_model::AccountSeen),
}

impl From<crate::RawMessage> for Record {
    fn from(m: crate::RawMessage) -> Record {
        Record::Message(Box::new(m), None)
    }
}

/// Read a CSV with a header: `columns` maps the header to what `convert` needs; each record becomes a message,
/// or a quarantine record naming its line. An I/O error ends the file; a malformed record does not, and neither
/// does a stray quote: the [`LineGuard`] between the file and the CSV parser hands it whole records only, and
/// quarantines a line whose quote swallows the lines after it.
pub(super) fn read_records<C, R: std::io::BufRead>(
    reader: R,
    ctx: &crate::FileCtx<'_>,
    sink: &mut dyn crate::Sink,
    columns: impl FnOnce(&Columns) -> (C, Header),
    convert: impl Fn(&csv::StringRecord, &C, u64) -> Result<Record, String>,
) {
    let deliver = |sink: &mut dyn crate::Sink, record: Record| match record {
        Record::Message(m, account) => {
            sink.message(*m);
            if let Some(account) = account {
                sink.account(account);
            }
        }
        Record::Account(account) => {
            sink.account(account);
            sink.skip("account profile");
        }
    };
    let bad = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let guard = LineGuard::new(reader, bad.clone());
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(guard);
    let drain = |sink: &mut dyn crate::Sink| {
        for (line, reason, raw) in bad.borrow_mut().drain(..) {
            sink.quarantine(ctx.quarantined(line, format!("line {line}: {reason}"), &raw));
        }
    };
    let cols = match csv.headers() {
        Ok(h) => {
            let header = h.clone();
            let (cols, kind) = columns(&Columns::new(&header));
            if kind == Header::IsData {
                match convert(&header, &cols, 1) {
                    Ok(m) => deliver(sink, m),
                    Err(reason) => sink.quarantine(ctx.quarantined(1, format!("line 1: {reason}"), &raw(&header))),
                }
            }
            cols
        }
        Err(err) => {
            drain(sink);
            sink.quarantine(ctx.quarantined(1, format!("cannot read the CSV header: {err}"), ""));
            return;
        }
    };
    let mut record = csv::StringRecord::new();
    loop {
        let line = csv.position().line();
        let read = csv.read_record(&mut record);
        drain(sink);
        match read {
            Ok(false) => break,
            Ok(true) => match convert(&record, &cols, line) {
                Ok(m) => deliver(sink, m),
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
    drain(sink);
}

/// What the first row of a CSV file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Header {
    /// Column names.
    Names,
    /// A record: the file has no header, and its columns are known by position.
    IsData,
}

/// Lines a quoted field may span before its record is judged broken.
const MAX_RECORD_LINES: usize = 1000;

/// A quarantined line: its number, the reason, its text.
type BadLine = (u64, String, String);

/// Between a CSV file and its parser: hands on whole records only (lines grouped while a quoted field is open),
/// and takes out what would make the parser swallow good records: a line whose quote opens a field that does
/// not close within [`MAX_RECORD_LINES`] lines or [`MAX_RECORD_BYTES`](crate::MAX_RECORD_BYTES), or that closes
/// into a record with another number of fields than the header's (a stray quote that a later stray quote
/// closes), and any line longer than `MAX_RECORD_BYTES`. Such a line goes to `bad` and an empty line (which the
/// parser skips) stands in its place, so line numbers stay true; the lines after it are read again on their
/// own. Memory is bounded by the limits, whatever the file.
pub(super) struct LineGuard<R> {
    inner: R,
    /// Lines of the record being gathered, with their numbers; `replay` lines come before the file's next.
    group: Vec<(u64, Vec<u8>)>,
    replay: std::collections::VecDeque<(u64, Vec<u8>)>,
    /// The next line's number in the file.
    next_line: u64,
    eof: bool,
    /// Fields of the first record (the header).
    fields: Option<usize>,
    /// The shape ([`shape`]) and bytes of the lines in `group`.
    shape: (bool, usize),
    bytes: usize,
    out: Vec<u8>,
    out_pos: usize,
    bad: std::rc::Rc<std::cell::RefCell<Vec<BadLine>>>,
}

impl<R: std::io::BufRead> LineGuard<R> {
    /// Guard `inner`; quarantined lines are pushed to `bad`.
    pub(super) fn new(inner: R, bad: std::rc::Rc<std::cell::RefCell<Vec<BadLine>>>) -> Self {
        LineGuard {
            inner,
            group: Vec::new(),
            replay: std::collections::VecDeque::new(),
            next_line: 1,
            eof: false,
            fields: None,
            shape: EMPTY,
            bytes: 0,
            out: Vec::new(),
            out_pos: 0,
            bad,
        }
    }

    /// The next physical line (with its line end), from the replay queue or the file; `None` at the end.
    fn next_physical(&mut self) -> std::io::Result<Option<(u64, Vec<u8>)>> {
        if let Some(line) = self.replay.pop_front() {
            return Ok(Some(line));
        }
        if self.eof {
            return Ok(None);
        }
        let number = self.next_line;
        let mut line = Vec::new();
        let mut too_long = false;
        loop {
            let block = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if block.is_empty() {
                self.eof = true;
                break;
            }
            let (take, done) = match memchr::memchr(b'\n', block) {
                Some(i) => (i + 1, true),
                None => (block.len(), false),
            };
            if !too_long {
                line.extend_from_slice(&block[..take]);
                if line.len() > crate::MAX_RECORD_BYTES {
                    too_long = true;
                    line.truncate(echolens_model::RAW_LIMIT);
                }
            }
            self.inner.consume(take);
            if done {
                break;
            }
        }
        if line.is_empty() && !too_long {
            return Ok(None);
        }
        self.next_line += 1;
        if too_long {
            let reason = format!(
                "a line longer than {} MiB (a record is at most that): not read",
                crate::MAX_RECORD_BYTES >> 20
            );
            self.bad.borrow_mut().push((number, reason, String::from_utf8_lossy(&line).into_owned()));
            return Ok(Some((number, b"\n".to_vec())));
        }
        Ok(Some((number, line)))
    }

    /// Gather the next whole record into `out`; `false` at the end of the file.
    fn fill(&mut self) -> std::io::Result<bool> {
        loop {
            let Some((number, line)) = self.next_physical()? else {
                if self.group.is_empty() {
                    return Ok(false);
                }
                // The file ended inside a quoted field.
                self.break_group("a quoted field that the file ends inside (a stray quote?)");
                continue;
            };
            // The group's shape and size, carried from line to line rather than counted again.
            self.shape = shape(self.shape, &line);
            self.bytes += line.len();
            self.group.push((number, line));
            let (open, fields) = self.shape;
            if open {
                if self.group.len() > MAX_RECORD_LINES || self.bytes > crate::MAX_RECORD_BYTES {
                    self.break_group("a quoted field that does not close within 1000 lines (a stray quote?)");
                }
                continue;
            }
            let expected = *self.fields.get_or_insert(fields);
            if self.group.len() > 1 {
                // Lines the quote ran through that are whole records of their own.
                let records = self.group[1..].iter().filter(|(_, l)| shape(EMPTY, l) == (false, expected)).count();
                if fields != expected || (expected > 2 && records >= 2) {
                    self.break_group(&format!(
                        "a quote that runs over {} lines, into a record of {fields} fields (the header has {expected}) \
                         through {records} lines that are records of their own (a stray quote?)",
                        self.group.len()
                    ));
                    continue;
                }
            }
            for (_, l) in self.group.drain(..) {
                self.out.extend_from_slice(&l);
            }
            (self.shape, self.bytes) = (EMPTY, 0);
            return Ok(true);
        }
    }

    /// The gathered record is broken: its first line is quarantined and stands as an empty line, the others
    /// are read again.
    fn break_group(&mut self, reason: &str) {
        (self.shape, self.bytes) = (EMPTY, 0);
        let mut lines = std::mem::take(&mut self.group).into_iter();
        let Some((number, first)) = lines.next() else { return };
        let text = String::from_utf8_lossy(&first).trim_end().to_owned();
        self.bad.borrow_mut().push((number, reason.to_owned(), text));
        self.out.extend_from_slice(b"\n");
        for line in lines.rev() {
            self.replay.push_front(line);
        }
    }
}

/// The shape of a record before its first byte: outside quotes, one field.
const EMPTY: (bool, usize) = (false, 1);

/// The shape (inside a quoted field, fields so far) of a record of shape `start` once `line` is added to it.
fn shape(start: (bool, usize), line: &[u8]) -> (bool, usize) {
    let (mut quoted, mut fields) = start;
    for &b in line {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => fields += 1,
            _ => {}
        }
    }
    (quoted, fields)
}

impl<R: std::io::BufRead> std::io::Read for LineGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            if !self.fill()? && self.out.is_empty() {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

/// A cell, `None` when the column is absent or the cell empty.
pub(super) fn cell(record: &csv::StringRecord, col: Option<usize>) -> Option<&str> {
    col.and_then(|c| record.get(c)).map(str::trim).filter(|s| !s.is_empty())
}

/// A list cell as the archives write it: `[a, b]`, `['a', 'b']`, `["a"]`, `a b` (space-separated), or empty.
pub(super) fn list(cell: Option<&str>) -> Vec<String> {
    let Some(s) = cell else { return Vec::new() };
    let s = s.trim();
    let inner = s.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
    let items: Vec<&str> = match inner {
        Some(inner) => inner.split(',').collect(),
        None => s.split_whitespace().collect(),
    };
    items
        .into_iter()
        .map(|i| i.trim().trim_matches(|c| c == '\'' || c == '"').trim())
        .filter(|i| !i.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The raw text of a record for the quarantine.
pub(super) fn raw(record: &csv::StringRecord) -> String {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let _ = w.write_record(record);
    String::from_utf8_lossy(&w.into_inner().unwrap_or_default()).trim_end().to_owned()
}

/// A number written by a spreadsheet in scientific notation ("1.01421E+18") has lost its digits.
pub(super) fn is_mangled_id(id: &str) -> bool {
    id.contains(['e', 'E']) && id.contains('.') && id.chars().all(|c| c.is_ascii_digit() || "eE+-.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_cells() {
        assert_eq!(list(Some("[http://a.ru/1.html]")), vec!["http://a.ru/1.html"]);
        assert_eq!(list(Some("['uno', 'dos']")), vec!["uno", "dos"]);
        assert_eq!(list(Some("[]")), Vec::<String>::new());
        assert_eq!(list(Some("http://a http://b")), vec!["http://a", "http://b"]);
        assert_eq!(list(None), Vec::<String>::new());
    }

    /// A stray quote that never closes, and one that a later stray quote closes: each costs its own line, and
    /// the good records around them are read; multi-line quoted fields stay whole.
    #[test]
    fn a_stray_quote_costs_its_line_only() {
        let mut input = String::from("id,text,n\n1,plain,1\n2,\"two\nlines, fine\",2\n");
        input.push_str("3,\"stray,3\n");
        for i in 4..60 {
            input.push_str(&format!("{i},row {i},{i}\n"));
        }
        input.push_str("60,another \" stray,60\n61,last,61");
        let bad = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let guard = LineGuard::new(input.as_bytes(), bad.clone());
        let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(guard);
        let mut ids = Vec::new();
        for r in csv.records() {
            let r = r.unwrap();
            assert_eq!(r.len(), 3, "{r:?}");
            ids.push(r[0].to_owned());
        }
        let mut want: Vec<String> = vec!["1".into(), "2".into()];
        want.extend((4..60).map(|i| i.to_string()));
        want.push("61".into());
        assert_eq!(ids, want);
        let lines: Vec<u64> = bad.borrow().iter().map(|b| b.0).collect();
        assert_eq!(lines, vec![5, 62], "{:?}", bad.borrow());
    }

    #[test]
    fn a_line_without_end_is_cut_at_the_record_limit() {
        let mut input = b"id,text\n1,ok\n2,".to_vec();
        input.resize(input.len() + crate::MAX_RECORD_BYTES + 10, b'x');
        input.extend_from_slice(b"\n3,after\n");
        let bad = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let guard = LineGuard::new(&input[..], bad.clone());
        let ids: Vec<String> = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(guard)
            .records()
            .map(|r| r.unwrap()[0].to_owned())
            .collect();
        assert_eq!(ids, vec!["1", "3"]);
        assert_eq!(bad.borrow().len(), 1);
        assert_eq!(bad.borrow()[0].0, 3);
        assert!(bad.borrow()[0].2.len() <= echolens_model::RAW_LIMIT);
    }

    #[test]
    fn mangled_ids() {
        assert!(is_mangled_id("1.01421E+18"));
        assert!(!is_mangled_id("877919995432927232"));
    }
}
