//! Reading columns out of collected batches, whatever string layout the engine chose.

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray, StringViewArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::prelude::{DataFrame, SessionContext};

use crate::Result;

/// With `ECHOLENS_EXPLAIN` set, print the plan of `sql` with its run-time metrics to stderr (for tuning).
pub(crate) async fn explain(ctx: &SessionContext, sql: &str) -> Result<()> {
    if std::env::var_os("ECHOLENS_EXPLAIN").is_some() {
        let plan = ctx.sql(&format!("EXPLAIN ANALYZE {sql}")).await?.collect().await?;
        eprintln!("{}", arrow::util::pretty::pretty_format_batches(&plan)?);
    }
    Ok(())
}

/// A context with `ctx`'s tables whose hash joins broadcast a build side of up to `rows` rows instead of
/// partitioning both sides by hash: for joining a result of up to that many rows back to the corpus, where the
/// default (a broadcast only under 128k rows or 1 MB) would shuffle every message, text and all, between the
/// partitions (6 GB of batches for reuse's members at 10M messages).
pub(crate) fn broadcasting(ctx: &SessionContext, rows: usize) -> SessionContext {
    let state = ctx.state();
    // The tables stay where they are: no new default catalog.
    let mut config = state.config().clone().with_create_default_catalog_and_schema(false);
    let optimizer = &mut config.options_mut().optimizer;
    optimizer.hash_join_single_partition_threshold_rows = rows;
    optimizer.hash_join_single_partition_threshold = usize::MAX;
    SessionContext::new_with_state(
        datafusion::execution::session_state::SessionStateBuilder::new_from_existing(state).with_config(config).build(),
    )
}

/// Run `sql` and collect its batches.
pub(crate) async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    explain(ctx, sql).await?;
    Ok(ctx.sql(sql).await?.collect().await?)
}

/// `t` with string views replaced by plain strings, inside lists too.
fn plain_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View => DataType::Utf8,
        DataType::List(f) => {
            DataType::List(std::sync::Arc::new(f.as_ref().clone().with_data_type(plain_type(f.data_type()))))
        }
        other => other.clone(),
    }
}

/// Collect `df` with its string columns copied out of the engine's view arrays, batch by batch: a view keeps the
/// whole decoded Parquet buffer it points into alive, so a sample of a few rows per batch, kept in memory, would
/// pin (and, once a join concatenates them, copy) most of the corpus's text.
pub async fn collect_plain(df: DataFrame) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let fields: Vec<Field> = df
        .schema()
        .as_arrow()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_data_type(plain_type(f.data_type())))
        .collect();
    let schema = std::sync::Arc::new(Schema::new(fields));
    let mut batches = Vec::new();
    // Batch by batch: collecting first would hold every batch's buffers at once (3.4 GB for a 1-in-50 sample
    // of 10M messages) before any was copied.
    let mut stream = df.execute_stream().await?;
    while let Some(batch) = futures::StreamExt::next(&mut stream).await {
        let batch = batch?;
        let columns =
            batch
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| {
                    if c.data_type() == f.data_type() { Ok(c.clone()) } else { arrow::compute::cast(c, f.data_type()) }
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
        batches.push(RecordBatch::try_new(schema.clone(), columns)?);
    }
    Ok((schema, batches))
}

/// `df`'s rows in a Parquet file among `into`'s spill files, registered in `into` as table `name`: a table that
/// later plans read again and again, kept on disk instead of in memory (the sources of a large corpus's
/// vocabulary were 0.85 GB of batches). The rows are written as the plan makes them, in row groups of 32k rows
/// (the reads' unit of parallelism), uncompressed; the file lives as long as the handle returned.
pub async fn register_on_disk(
    df: DataFrame,
    into: &SessionContext,
    name: &str,
) -> Result<std::sync::Arc<dyn datafusion::execution::SpillFile>> {
    let schema = df.schema().inner().clone();
    register_mapped_on_disk(df, into, name, schema, |batch| Ok(Some(batch))).await
}

/// [`register_on_disk`], each of `df`'s batches written as `map` makes it (of `schema`; `None`: nothing of it).
pub(crate) async fn register_mapped_on_disk(
    df: DataFrame,
    into: &SessionContext,
    name: &str,
    schema: SchemaRef,
    mut map: impl FnMut(RecordBatch) -> Result<Option<RecordBatch>>,
) -> Result<std::sync::Arc<dyn datafusion::execution::SpillFile>> {
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::basic::Compression;
    use datafusion::parquet::file::properties::WriterProperties;
    use datafusion::prelude::ParquetReadOptions;
    let what = "a table read again";
    let file = std::sync::Arc::clone(&into.runtime_env().disk_manager).create_tmp_file(what)?;
    let path = file
        .path()
        .and_then(|p| p.to_str())
        .ok_or_else(|| crate::Error::Internal(format!("{what}: spill files must be local, with a UTF-8 path")))?
        .to_owned();
    let props = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_max_row_group_row_count(Some(1 << 15))
        .build();
    let parquet = |e: datafusion::parquet::errors::ParquetError| crate::Error::Internal(format!("{what}: {e}"));
    let mut writer = ArrowWriter::try_new(file.open_writer()?, schema, Some(props)).map_err(parquet)?;
    let mut stream = df.execute_stream().await?;
    while let Some(batch) = futures::StreamExt::next(&mut stream).await {
        if let Some(batch) = map(batch?)? {
            writer.write(&batch).map_err(parquet)?;
        }
    }
    let mut inner = writer.into_inner().map_err(parquet)?;
    inner.finish()?;
    // The spill file's name has no extension: every file at the path is the table's.
    let options = ParquetReadOptions { file_extension: "", ..ParquetReadOptions::default() };
    into.register_parquet(name, &path, options).await?;
    Ok(file)
}

/// A string column, plain strings or views, read through one type (see [`strings`] and [`strings_in_place`]).
#[derive(Debug, Clone)]
pub enum Strs {
    /// `Utf8`, or any other type cast to it.
    Plain(StringArray),
    /// `Utf8View`.
    View(StringViewArray),
}

impl Strs {
    /// `array` as strings: views and plain strings as they are, anything else cast to plain strings.
    pub fn of(array: &ArrayRef) -> Result<Strs> {
        Ok(match array.data_type() {
            DataType::Utf8View => Strs::View(array.as_string_view().clone()),
            DataType::Utf8 => Strs::Plain(array.as_string::<i32>().clone()),
            _ => Strs::Plain(arrow::compute::cast(array, &DataType::Utf8)?.as_string::<i32>().clone()),
        })
    }

    /// The string at `i` (empty when null).
    #[inline]
    pub fn value(&self, i: usize) -> &str {
        match self {
            Strs::Plain(a) => a.value(i),
            Strs::View(a) => a.value(i),
        }
    }

    /// Whether the value at `i` is null.
    pub fn is_null(&self, i: usize) -> bool {
        match self {
            Strs::Plain(a) => a.is_null(i),
            Strs::View(a) => a.is_null(i),
        }
    }

    /// Whether the value at `i` is not null.
    pub fn is_valid(&self, i: usize) -> bool {
        !self.is_null(i)
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            Strs::Plain(a) => a.len(),
            Strs::View(a) => a.len(),
        }
    }

    /// Whether there is no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values, `None` for nulls.
    pub fn iter(&self) -> impl Iterator<Item = Option<&str>> + '_ {
        (0..self.len()).map(|i| self.is_valid(i).then(|| self.value(i)))
    }
}

/// Column `name` as plain strings: views are copied into one contiguous buffer. Keyness measured faster on the
/// copy than on the views in place (1M messages, 1–3 words: 3.7–4.2 s against 5.5–6.5 s), so the
/// tokenising kernels other than `similar` read the copy.
pub fn strings(batch: &RecordBatch, name: &str) -> Result<Strs> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("plan output has no column {name}"));
    Strs::of(&arrow::compute::cast(col, &DataType::Utf8)?)
}

/// Column `name` as strings read where they lie, views or not: no copy.
pub(crate) fn strings_in_place(batch: &RecordBatch, name: &str) -> Result<Strs> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("plan output has no column {name}"));
    Strs::of(col)
}

/// Column `name` as 64-bit integers.
pub fn i64s(batch: &RecordBatch, name: &str) -> Result<Int64Array> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("plan output has no column {name}"));
    let col = arrow::compute::cast(col, &DataType::Int64)?;
    Ok(col.as_any().downcast_ref::<Int64Array>().expect("Int64 cast").clone())
}

/// Column `name` as unsigned 64-bit integers.
pub(crate) fn u64s(batch: &RecordBatch, name: &str) -> Result<arrow::array::UInt64Array> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("plan output has no column {name}"));
    let col = arrow::compute::cast(col, &DataType::UInt64)?;
    Ok(col.as_any().downcast_ref::<arrow::array::UInt64Array>().expect("UInt64 cast").clone())
}

/// Column `name` as bytes (cast from any binary type).
pub(crate) fn binaries(batch: &RecordBatch, name: &str) -> Result<arrow::array::BinaryArray> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("plan output has no column {name}"));
    let col = arrow::compute::cast(col, &DataType::Binary)?;
    Ok(col.as_any().downcast_ref::<arrow::array::BinaryArray>().expect("Binary cast").clone())
}

/// Column `name` as 64-bit floats (cast from any numeric type).
pub(crate) fn f64s(batch: &RecordBatch, name: &str) -> Result<arrow::array::Float64Array> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("plan output has no column {name}"));
    let col = arrow::compute::cast(col, &DataType::Float64)?;
    Ok(col.as_any().downcast_ref::<arrow::array::Float64Array>().expect("Float64 cast").clone())
}

/// What an analysis's `write_outputs` wrote: its files (`summary.json` last) and the summary as written, so a
/// command answers `--json` from it rather than reading the file back.
#[derive(Debug, Clone)]
pub struct Written {
    /// The files, in the order written.
    pub files: Vec<std::path::PathBuf>,
    /// The contents of `summary.json`.
    pub summary: serde_json::Value,
}

impl Written {
    /// Take in what another `write_outputs` wrote (its files; its summary is its own).
    pub fn add(&mut self, other: Written) {
        self.files.extend(other.files);
    }

    /// How many files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether none.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

impl IntoIterator for Written {
    type Item = std::path::PathBuf;
    type IntoIter = std::vec::IntoIter<std::path::PathBuf>;

    fn into_iter(self) -> Self::IntoIter {
        self.files.into_iter()
    }
}

/// Write `summary` with the fields of `extra` (the run: command, version, store) merged in as
/// `dir/summary.json` after `files`; returns them all and the summary as written.
pub fn write_summary(
    dir: &std::path::Path,
    mut files: Vec<std::path::PathBuf>,
    mut summary: serde_json::Value,
    extra: serde_json::Value,
) -> Result<Written> {
    if let (Some(obj), serde_json::Value::Object(extra)) = (summary.as_object_mut(), extra) {
        obj.extend(extra);
    }
    let path = dir.join("summary.json");
    let text = serde_json::to_string_pretty(&summary).expect("a summary serialises");
    write_output(&path, text.as_bytes())?;
    files.push(path);
    Ok(Written { files, summary })
}

/// A new output file at `path`, never following a link: whatever is at `path` (a file from an earlier run, or
/// a symbolic link planted there) is removed first, and the file is created only if nothing is there then
/// (`O_EXCL`, which refuses a link too), so writing an output folder never writes through a link to a file
/// elsewhere. A folder at `path` is an error.
pub fn create_output(path: &std::path::Path) -> Result<std::fs::File> {
    let io = |source| crate::Error::Io { path: path.to_owned(), source };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(io(std::io::Error::new(std::io::ErrorKind::IsADirectory, "a folder is in the way")));
        }
        Ok(_) => std::fs::remove_file(path).map_err(io)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(io)
}

/// Write `bytes` to a new output file at `path` (see [`create_output`]).
pub fn write_output(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut file = create_output(path)?;
    file.write_all(bytes).map_err(|source| crate::Error::Io { path: path.to_owned(), source })
}

/// A CSV writer on a new output file at `path` (see [`create_output`]), its errors naming the file.
pub(crate) fn csv_writer(path: &std::path::Path) -> Result<csv::Writer<std::fs::File>> {
    Ok(csv::Writer::from_writer(create_output(path)?))
}

/// `s` on one line, cut to `n` characters with an ellipsis.
pub fn excerpt(s: &str, n: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= n {
        one_line
    } else {
        let mut t: String = one_line.chars().take(n).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table registered on disk gives the rows its plan gave, to any later plan; its file goes with the
    /// handle.
    #[tokio::test]
    async fn a_table_on_disk_reads_back_the_rows_of_its_plan() {
        let from = SessionContext::new();
        let into = crate::analysis_session(1 << 26).unwrap();
        // 100k rows: several row groups; strings as the engine's views.
        let sql = "SELECT value AS n, arrow_cast(concat('text ', CAST(value AS VARCHAR)), 'Utf8View') AS t \
                   FROM generate_series(1, 100000)";
        let file = register_on_disk(from.sql(sql).await.unwrap(), &into, "kept").await.unwrap();
        let path = file.path().unwrap().to_owned();
        assert!(path.exists());
        let count = "SELECT count(*) AS rows, sum(n) AS total, count(DISTINCT t) AS texts, \
                     min(t) AS first FROM kept";
        let batches = collect(&into, count).await.unwrap();
        let b = &batches[0];
        assert_eq!((i64s(b, "rows").unwrap().value(0), i64s(b, "total").unwrap().value(0)), (100_000, 5_000_050_000));
        assert_eq!(i64s(b, "texts").unwrap().value(0), 100_000);
        assert_eq!(strings(b, "first").unwrap().value(0), "text 1");
        drop(file);
        assert!(!path.exists(), "the file goes with its handle");
    }
}
