//! The one output layer. Every analysis lists its tables as [`Table`]s (a name and one Arrow batch typed by the
//! schema declared next to the code that fills it); [`write_table`] writes a table as CSV or Parquet from that
//! batch, so the two formats hold the same rows with the same types, and a browser or an exchange format can
//! read the same tables without a file in between.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Date32Type, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::{Error, Result};

/// How a table is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    /// RFC 4180 CSV with a header; times as RFC 3339, days as `YYYY-MM-DD`, an empty cell for no value.
    #[default]
    Csv,
    /// Apache Parquet (zstd), typed by the table's schema.
    Parquet,
}

impl TableFormat {
    /// The format a table is not written in.
    fn other(self) -> TableFormat {
        match self {
            TableFormat::Csv => TableFormat::Parquet,
            TableFormat::Parquet => TableFormat::Csv,
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            TableFormat::Csv => "csv",
            TableFormat::Parquet => "parquet",
        }
    }
}

/// The type of an output table's column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// Text (ids, names, keys, lists joined into one cell).
    Text,
    /// A whole number.
    Int,
    /// A real number, in CSV as the shortest text that reads back as the same number.
    Float,
    /// A real number, in CSV with this many decimals.
    Fixed(u8),
    /// `true` or `false`.
    Flag,
    /// A time (UTC, microseconds), in CSV as RFC 3339.
    Time,
    /// A day, in CSV as `YYYY-MM-DD`.
    Day,
}

/// The field metadata key holding a [`Col::Fixed`] column's decimals.
const DECIMALS: &str = "echolens.decimals";

/// An output table's schema, declared next to the code that fills the table: what both its formats are typed
/// by (never guessed from the names or the values). Every column is nullable (an empty cell is no value).
pub fn table_schema(columns: &[(&str, Col)]) -> SchemaRef {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, col)| {
            let t = match col {
                Col::Text => DataType::Utf8,
                Col::Int => DataType::Int64,
                Col::Float | Col::Fixed(_) => DataType::Float64,
                Col::Flag => DataType::Boolean,
                Col::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                Col::Day => DataType::Date32,
            };
            let field = Field::new(*name, t, true);
            match col {
                Col::Fixed(n) => field.with_metadata([(DECIMALS.to_owned(), n.to_string())].into()),
                _ => field,
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// One cell of a row pushed into [`Rows`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// No value (an empty CSV cell, a Parquet null).
    Null,
    /// For a [`Col::Text`] column.
    Text(&'a str),
    /// For a [`Col::Int`] column.
    Int(i64),
    /// For a [`Col::Float`] or [`Col::Fixed`] column.
    Float(f64),
    /// For a [`Col::Flag`] column.
    Flag(bool),
    /// For a [`Col::Time`] column: microseconds since the epoch.
    Time(i64),
    /// For a [`Col::Day`] column: days since 1970-01-01.
    Day(i32),
}

impl<'a> From<&'a str> for Cell<'a> {
    fn from(s: &'a str) -> Self {
        Cell::Text(s)
    }
}

impl<'a> From<&'a String> for Cell<'a> {
    fn from(s: &'a String) -> Self {
        Cell::Text(s)
    }
}

impl From<i64> for Cell<'_> {
    fn from(n: i64) -> Self {
        Cell::Int(n)
    }
}

impl From<u64> for Cell<'_> {
    fn from(n: u64) -> Self {
        Cell::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<usize> for Cell<'_> {
    fn from(n: usize) -> Self {
        Cell::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<f64> for Cell<'_> {
    fn from(x: f64) -> Self {
        Cell::Float(x)
    }
}

impl From<bool> for Cell<'_> {
    fn from(b: bool) -> Self {
        Cell::Flag(b)
    }
}

impl<'a, T: Into<Cell<'a>>> From<Option<T>> for Cell<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Cell::Null, Into::into)
    }
}

enum Builder {
    Text(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Flag(BooleanBuilder),
    Time(TimestampMicrosecondBuilder),
    Day(Date32Builder),
}

/// A table filled row by row, each cell checked against its column's declared type.
pub struct Rows {
    name: String,
    schema: SchemaRef,
    columns: Vec<Builder>,
    mismatch: Option<String>,
    len: usize,
}

impl Rows {
    /// An empty table `name` (its file stem: `edges` for `edges.csv`) with the declared `schema`
    /// ([`table_schema`]).
    pub fn new(name: &str, schema: SchemaRef) -> Rows {
        let columns = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Int64 => Builder::Int(Int64Builder::new()),
                DataType::Float64 => Builder::Float(Float64Builder::new()),
                DataType::Boolean => Builder::Flag(BooleanBuilder::new()),
                DataType::Timestamp(..) => Builder::Time(TimestampMicrosecondBuilder::new().with_timezone("UTC")),
                DataType::Date32 => Builder::Day(Date32Builder::new()),
                _ => Builder::Text(StringBuilder::new()),
            })
            .collect();
        Rows { name: name.to_owned(), schema, columns, mismatch: None, len: 0 }
    }

    /// Rows pushed since the table was made or last taken ([`Rows::take`]).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no row is pushed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append a row: one cell per column, in the schema's order. A cell of another type than its column's, or
    /// a row of another length, is a bug: [`Rows::finish`] says so.
    pub fn push<'a, const N: usize>(&mut self, cells: [Cell<'a>; N]) {
        self.len += 1;
        if N != self.columns.len() {
            self.mismatch.get_or_insert_with(|| format!("a row of {N} cells for {} columns", self.columns.len()));
            return;
        }
        for (i, (builder, cell)) in self.columns.iter_mut().zip(cells).enumerate() {
            let ok = match (builder, cell) {
                (Builder::Text(b), Cell::Text(s)) => {
                    b.append_value(s);
                    true
                }
                (Builder::Int(b), Cell::Int(n)) => {
                    b.append_value(n);
                    true
                }
                (Builder::Float(b), Cell::Float(x)) => {
                    b.append_value(x);
                    true
                }
                (Builder::Flag(b), Cell::Flag(x)) => {
                    b.append_value(x);
                    true
                }
                (Builder::Time(b), Cell::Time(us)) => {
                    b.append_value(us);
                    true
                }
                (Builder::Day(b), Cell::Day(d)) => {
                    b.append_value(d);
                    true
                }
                (b, Cell::Null) => {
                    match b {
                        Builder::Text(b) => b.append_null(),
                        Builder::Int(b) => b.append_null(),
                        Builder::Float(b) => b.append_null(),
                        Builder::Flag(b) => b.append_null(),
                        Builder::Time(b) => b.append_null(),
                        Builder::Day(b) => b.append_null(),
                    }
                    true
                }
                _ => false,
            };
            if !ok {
                let field = self.schema.field(i);
                self.mismatch.get_or_insert_with(|| {
                    format!("{cell:?} for column {} of type {}", field.name(), field.data_type())
                });
                return;
            }
        }
    }

    /// The rows pushed so far as one batch; the table is empty again after.
    pub fn take(&mut self) -> Result<RecordBatch> {
        if let Some(m) = &self.mismatch {
            return Err(Error::Internal(format!("table {}: {m}", self.name)));
        }
        self.len = 0;
        let columns: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Text(b) => Arc::new(b.finish()),
                    Builder::Int(b) => Arc::new(b.finish()),
                    Builder::Float(b) => Arc::new(b.finish()),
                    Builder::Flag(b) => Arc::new(b.finish()),
                    Builder::Time(b) => Arc::new(b.finish()),
                    Builder::Day(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }

    /// The table.
    pub fn finish(mut self) -> Result<Table> {
        let batch = self.take()?;
        Ok(Table { name: self.name, batch })
    }
}

/// An output table: its name (the file stem) and its rows, typed by the schema the analysis declared.
#[derive(Debug, Clone)]
pub struct Table {
    /// The file stem: `edges` is written as `edges.csv` or `edges.parquet`.
    pub name: String,
    /// The rows.
    pub batch: RecordBatch,
}

impl Table {
    /// Its file name in `format`.
    pub fn file_name(&self, format: TableFormat) -> String {
        format!("{}.{}", self.name, format.extension())
    }
}

/// Write `table` into `dir` as `format` (a new file: see [`crate::create_output`]); returns its path.
pub fn write_table(table: &Table, dir: &Path, format: TableFormat) -> Result<PathBuf> {
    let path = dir.join(table.file_name(format));
    match format {
        TableFormat::Csv => write_csv(&table.batch, &path)?,
        TableFormat::Parquet => write_parquet(&table.batch, &path)?,
    }
    Ok(path)
}

/// Write every table of `tables` into `dir`; returns the paths in the same order. The same table in the other
/// format, left by an earlier run, is removed: a folder never holds two versions of one table.
pub fn write_tables(tables: &[Table], dir: &Path, format: TableFormat) -> Result<Vec<PathBuf>> {
    let other = format.other();
    let mut written = Vec::with_capacity(tables.len());
    for t in tables {
        written.push(write_table(t, dir, format)?);
        remove_table(dir, &t.name, &[other])?;
    }
    Ok(written)
}

/// Remove table `name` in `formats` from `dir` where an earlier run left it (a table this run does not write,
/// such as `sweep` without a sweep).
pub fn remove_table(dir: &Path, name: &str, formats: &[TableFormat]) -> Result<()> {
    for format in formats {
        let path = dir.join(format!("{name}.{}", format.extension()));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Io { path, source }),
        }
    }
    Ok(())
}

fn write_parquet(batch: &RecordBatch, path: &Path) -> Result<()> {
    let mut writer = parquet_writer(path, batch.schema())?;
    writer.write(batch).map_err(|e| parquet_error(path, e))?;
    writer.close().map_err(|e| parquet_error(path, e))?;
    Ok(())
}

fn parquet_writer(path: &Path, schema: SchemaRef) -> Result<datafusion::parquet::arrow::ArrowWriter<std::fs::File>> {
    use datafusion::parquet::basic::{Compression, ZstdLevel};
    use datafusion::parquet::file::properties::WriterProperties;
    let file = crate::create_output(path)?;
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
    datafusion::parquet::arrow::ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| parquet_error(path, e))
}

fn parquet_error(path: &Path, e: datafusion::parquet::errors::ParquetError) -> Error {
    Error::Internal(format!("{}: {e}", path.display()))
}

/// Where a table's rows go, one at a time: kept whole ([`Rows`]) or written as they come ([`TableWriter`]). An
/// analysis that fills its tables through it writes the same rows either way.
pub trait RowSink {
    /// Append a row (see [`Rows::push`]).
    fn row<const N: usize>(&mut self, cells: [Cell<'_>; N]) -> Result<()>;
}

impl RowSink for Rows {
    fn row<const N: usize>(&mut self, cells: [Cell<'_>; N]) -> Result<()> {
        self.push(cells);
        Ok(())
    }
}

impl RowSink for TableWriter {
    fn row<const N: usize>(&mut self, cells: [Cell<'_>; N]) -> Result<()> {
        self.push(cells)
    }
}

/// Rows per batch a [`TableWriter`] writes.
const WRITE_BATCH: usize = 65_536;

/// A table written as its rows come, in batches: memory for one batch, however long the table. Rows are pushed
/// as into [`Rows`]; [`TableWriter::finish`] writes the last batch and closes the file. The same rows make the
/// same CSV file as [`write_table`] of the whole table, and a Parquet file of the same rows and types.
pub struct TableWriter {
    rows: Rows,
    path: PathBuf,
    sink: Sink,
}

enum Sink {
    Csv(csv::Writer<std::fs::File>),
    Parquet(datafusion::parquet::arrow::ArrowWriter<std::fs::File>),
}

impl TableWriter {
    /// A new file for table `name` with `schema` ([`table_schema`]) in `dir`, as `format`; the same table in the
    /// other format, left by an earlier run, is removed (as [`write_tables`] does).
    pub fn create(dir: &Path, name: &str, schema: SchemaRef, format: TableFormat) -> Result<TableWriter> {
        let path = dir.join(format!("{name}.{}", format.extension()));
        let sink = match format {
            TableFormat::Csv => {
                let mut w = crate::table::csv_writer(&path)?;
                w.write_record(schema.fields().iter().map(|f| f.name()))
                    .map_err(|source| Error::Csv { path: path.clone(), source })?;
                Sink::Csv(w)
            }
            TableFormat::Parquet => Sink::Parquet(parquet_writer(&path, schema.clone())?),
        };
        remove_table(dir, name, &[format.other()])?;
        Ok(TableWriter { rows: Rows::new(name, schema), path, sink })
    }

    /// Append a row (see [`Rows::push`]); a full batch is written.
    pub fn push<'a, const N: usize>(&mut self, cells: [Cell<'a>; N]) -> Result<()> {
        self.rows.push(cells);
        if self.rows.len() >= WRITE_BATCH { self.write() } else { Ok(()) }
    }

    fn write(&mut self) -> Result<()> {
        let batch = self.rows.take()?;
        match &mut self.sink {
            Sink::Csv(w) => csv_rows(&batch, w, &self.path),
            Sink::Parquet(w) => w.write(&batch).map_err(|e| parquet_error(&self.path, e)),
        }
    }

    /// Writes what is left and closes the file; returns its path.
    pub fn finish(mut self) -> Result<PathBuf> {
        if !self.rows.is_empty() {
            self.write()?;
        }
        match self.sink {
            Sink::Csv(mut w) => w.flush().map_err(|source| Error::Io { path: self.path.clone(), source })?,
            Sink::Parquet(w) => {
                w.close().map_err(|e| parquet_error(&self.path, e))?;
            }
        }
        Ok(self.path)
    }
}

/// How one column turns into CSV text.
enum Text<'a> {
    Str(&'a arrow::array::StringArray),
    Int(&'a arrow::array::PrimitiveArray<Int64Type>),
    Float(&'a arrow::array::PrimitiveArray<Float64Type>, Option<usize>),
    Flag(&'a arrow::array::BooleanArray),
    Time(&'a arrow::array::TimestampMicrosecondArray),
    Day(&'a arrow::array::PrimitiveArray<Date32Type>),
}

impl Text<'_> {
    fn cell(&self, row: usize, out: &mut String) {
        out.clear();
        let valid = match self {
            Text::Str(a) => a.is_valid(row),
            Text::Int(a) => a.is_valid(row),
            Text::Float(a, _) => a.is_valid(row),
            Text::Flag(a) => a.is_valid(row),
            Text::Time(a) => a.is_valid(row),
            Text::Day(a) => a.is_valid(row),
        };
        if !valid {
            return;
        }
        use std::fmt::Write;
        match self {
            Text::Str(a) => out.push_str(a.value(row)),
            Text::Int(a) => {
                let _ = write!(out, "{}", a.value(row));
            }
            Text::Float(a, Some(decimals)) => {
                let _ = write!(out, "{:.*}", decimals, a.value(row));
            }
            Text::Float(a, None) => out.push_str(ryu::Buffer::new().format(a.value(row))),
            Text::Flag(a) => out.push_str(if a.value(row) { "true" } else { "false" }),
            Text::Time(a) => out.push_str(&echolens_store::rfc3339(a.value(row))),
            Text::Day(a) => {
                let t = echolens_store::rfc3339(i64::from(a.value(row)) * 86_400_000_000);
                out.push_str(t.split('T').next().unwrap_or(""));
            }
        }
    }
}

fn write_csv(batch: &RecordBatch, path: &Path) -> Result<()> {
    let mut w = crate::table::csv_writer(path)?;
    w.write_record(batch.schema().fields().iter().map(|f| f.name()))
        .map_err(|source| Error::Csv { path: path.to_owned(), source })?;
    csv_rows(batch, &mut w, path)?;
    w.flush().map_err(|source| Error::Io { path: path.to_owned(), source })
}

/// The rows of `batch` as CSV records, without the header.
fn csv_rows(batch: &RecordBatch, w: &mut csv::Writer<std::fs::File>, path: &Path) -> Result<()> {
    let schema = batch.schema();
    let columns: Vec<Text> = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| match f.data_type() {
            DataType::Int64 => Text::Int(c.as_primitive()),
            DataType::Float64 => Text::Float(c.as_primitive(), f.metadata().get(DECIMALS).and_then(|d| d.parse().ok())),
            DataType::Boolean => Text::Flag(c.as_boolean()),
            DataType::Timestamp(..) => Text::Time(c.as_primitive()),
            DataType::Date32 => Text::Day(c.as_primitive()),
            _ => Text::Str(c.as_string()),
        })
        .collect();
    let err = |source| Error::Csv { path: path.to_owned(), source };
    let mut cells: Vec<String> = vec![String::new(); columns.len()];
    for row in 0..batch.num_rows() {
        for (text, cell) in columns.iter().zip(cells.iter_mut()) {
            text.cell(row, cell);
        }
        w.write_record(&cells).map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let schema = table_schema(&[
            ("text", Col::Text),
            ("n", Col::Int),
            ("x", Col::Float),
            ("fixed", Col::Fixed(3)),
            ("flag", Col::Flag),
            ("at", Col::Time),
            ("day", Col::Day),
        ]);
        let mut rows = Rows::new("sample", schema);
        rows.push([
            "a \"quoted\", hostile\nvalue".into(),
            Cell::Int(-3),
            Cell::Float(1.0),
            Cell::Float(2.0 / 3.0),
            true.into(),
            Cell::Time(1_674_783_830_000_000),
            Cell::Day(19_723),
        ]);
        rows.push([Cell::Null, Cell::Null, Cell::Float(1e-7), Cell::Null, false.into(), Cell::Null, Cell::Null]);
        rows.finish().unwrap()
    }

    #[test]
    fn csv_cells_follow_the_declared_types() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_table(&sample(), dir.path(), TableFormat::Csv).unwrap();
        assert_eq!(path.file_name().unwrap(), "sample.csv");
        let mut reader = csv::Reader::from_path(&path).unwrap();
        assert_eq!(reader.headers().unwrap(), vec!["text", "n", "x", "fixed", "flag", "at", "day"]);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(
            rows[0],
            vec!["a \"quoted\", hostile\nvalue", "-3", "1.0", "0.667", "true", "2023-01-27T01:43:50Z", "2024-01-01"]
        );
        assert_eq!(rows[1], vec!["", "", "1e-7", "", "false", "", ""]);
    }

    #[test]
    fn parquet_holds_the_same_rows_typed() {
        use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let table = sample();
        let dir = tempfile::tempdir().unwrap();
        let path = write_table(&table, dir.path(), TableFormat::Parquet).unwrap();
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap().build().unwrap();
        let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
        assert_eq!(batches.len(), 1);
        let read = &batches[0];
        for (i, field) in table.batch.schema().fields().iter().enumerate() {
            assert_eq!(read.schema().field(i).data_type(), field.data_type(), "{}", field.name());
            assert_eq!(read.column(i).as_ref(), table.batch.column(i).as_ref(), "{}", field.name());
        }
    }

    #[test]
    fn a_table_written_in_one_format_replaces_its_other_format() {
        let dir = tempfile::tempdir().unwrap();
        let tables = [sample()];
        write_tables(&tables, dir.path(), TableFormat::Csv).unwrap();
        std::fs::write(dir.path().join("other.csv"), "a user's own").unwrap();
        write_tables(&tables, dir.path(), TableFormat::Parquet).unwrap();
        assert!(dir.path().join("sample.parquet").exists());
        assert!(!dir.path().join("sample.csv").exists());
        assert!(dir.path().join("other.csv").exists(), "only the table's own file goes");
    }

    #[test]
    fn a_table_written_in_batches_is_the_table_written_at_once() {
        use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let schema = table_schema(&[("n", Col::Int), ("text", Col::Text), ("day", Col::Day)]);
        let n = WRITE_BATCH + 1234;
        let (whole, streamed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for format in [TableFormat::Parquet, TableFormat::Csv] {
            let mut rows = Rows::new("t", schema.clone());
            let mut writer = TableWriter::create(streamed.path(), "t", schema.clone(), format).unwrap();
            for i in 0..n {
                let text = format!("row \"{i}\",\n");
                let day = if i % 7 == 0 { Cell::Null } else { Cell::Day(i as i32) };
                rows.push([Cell::Int(i as i64), text.as_str().into(), day]);
                writer.push([Cell::Int(i as i64), text.as_str().into(), day]).unwrap();
            }
            let table = rows.finish().unwrap();
            write_table(&table, whole.path(), format).unwrap();
            let path = writer.finish().unwrap();
            assert!(!streamed.path().join(format!("t.{}", format.other().extension())).exists(), "one format");
            match format {
                TableFormat::Csv => {
                    let a = std::fs::read(whole.path().join("t.csv")).unwrap();
                    assert_eq!(std::fs::read(&path).unwrap(), a);
                }
                TableFormat::Parquet => {
                    let read = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
                        .unwrap()
                        .build()
                        .unwrap();
                    let batches: Vec<RecordBatch> = read.map(Result::unwrap).collect();
                    let all = arrow::compute::concat_batches(&table.batch.schema(), &batches).unwrap();
                    assert_eq!(all, table.batch);
                }
            }
        }
    }

    #[test]
    fn a_cell_of_the_wrong_type_is_an_internal_error() {
        let mut rows = Rows::new("t", table_schema(&[("n", Col::Int)]));
        rows.push(["text".into()]);
        assert!(matches!(rows.finish(), Err(Error::Internal(m)) if m.contains("column n")));
        let mut rows = Rows::new("t", table_schema(&[("n", Col::Int)]));
        rows.push([Cell::Int(1), Cell::Int(2)]);
        assert!(matches!(rows.finish(), Err(Error::Internal(m)) if m.contains("2 cells for 1 columns")));
    }
}
