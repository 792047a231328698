//! What the CSV readers share: columns by header name, list cells, record positions.

/// Column positions looked up by header name (case-insensitive, BOM and quotes stripped).
pub struct Columns {
    names: Vec<String>,
}

impl Columns {
    pub fn new(header: &csv::StringRecord) -> Self {
        Columns { names: header.iter().map(|h| h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase()).collect() }
    }

    /// The first of `names` present in the header.
    pub fn find(&self, names: &[&str]) -> Option<usize> {
        names.iter().find_map(|n| self.names.iter().position(|h| h == n))
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }
}

/// Read a CSV with a header: `columns` maps the header to what `convert` needs; each record becomes a message,
/// or a quarantine record naming its line. An I/O error ends the file; a malformed record does not.
pub fn read_records<C, R: std::io::Read>(
    reader: R,
    ctx: &crate::FileCtx<'_>,
    sink: &mut dyn crate::Sink,
    columns: impl FnOnce(&Columns) -> C,
    convert: impl Fn(&csv::StringRecord, &C, u64) -> Result<crate::RawMessage, String>,
) {
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let cols = match csv.headers() {
        Ok(h) => columns(&Columns::new(h)),
        Err(err) => {
            sink.quarantine(ctx.quarantined(1, format!("cannot read the CSV header: {err}"), ""));
            return;
        }
    };
    let mut record = csv::StringRecord::new();
    loop {
        let line = csv.position().line();
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => match convert(&record, &cols, line) {
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

/// A cell, `None` when the column is absent or the cell empty.
pub fn cell(record: &csv::StringRecord, col: Option<usize>) -> Option<&str> {
    col.and_then(|c| record.get(c)).map(str::trim).filter(|s| !s.is_empty())
}

/// A list cell as the archives write it: `[a, b]`, `['a', 'b']`, `["a"]`, `a b` (space-separated), or empty.
pub fn list(cell: Option<&str>) -> Vec<String> {
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
pub fn raw(record: &csv::StringRecord) -> String {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let _ = w.write_record(record);
    String::from_utf8_lossy(&w.into_inner().unwrap_or_default()).trim_end().to_owned()
}

/// A number written by a spreadsheet in scientific notation ("1.01421E+18") has lost its digits.
pub fn is_mangled_id(id: &str) -> bool {
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

    #[test]
    fn mangled_ids() {
        assert!(is_mangled_id("1.01421E+18"));
        assert!(!is_mangled_id("877919995432927232"));
    }
}
