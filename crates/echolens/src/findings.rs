//! Reading what `analyze` wrote: its summary and the tables of its output folder, in CSV or Parquet, as rows
//! of text (what the STIX export and the share check read).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// A table's rows, each a map from column name to its value as text (empty for null).
pub type Rows = Vec<HashMap<String, String>>;

/// The output folder of an `analyze` run.
#[derive(Debug)]
pub struct ReportDir {
    /// The folder.
    pub dir: PathBuf,
    /// Its `summary.json`.
    pub summary: serde_json::Value,
}

impl ReportDir {
    /// Open `dir`, which must hold the `summary.json` of an `analyze` run.
    pub fn open(dir: &Path) -> Result<ReportDir> {
        let path = dir.join("summary.json");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!("reading {}: expected the output folder of `echolens analyze` (its summary.json)", path.display())
        })?;
        let summary: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
        if summary["analysis"] != "analyze" {
            bail!(
                "{}: the summary of {:?}, not of `echolens analyze`: export from the folder analyze wrote",
                path.display(),
                summary["analysis"].as_str().unwrap_or("an unknown command")
            );
        }
        Ok(ReportDir { dir: dir.to_owned(), summary })
    }

    /// Whether its outputs are pseudonymised.
    pub fn pseudonymised(&self) -> bool {
        self.summary["pseudonymised"] != false
    }

    /// The table `name` of the analysis folder `folder` (`coordination/edges`), from its CSV or Parquet file.
    pub fn table(&self, folder: &str, name: &str) -> Result<Rows> {
        let base = self.dir.join(folder);
        let csv = base.join(format!("{name}.csv"));
        let parquet = base.join(format!("{name}.parquet"));
        if csv.exists() {
            read_csv(&csv)
        } else if parquet.exists() {
            read_parquet(&parquet)
        } else {
            bail!("{} has no {name}.csv or {name}.parquet: was it written by this version of analyze?", base.display())
        }
    }
}

/// A table file's rows: CSV, or Parquet by its `.parquet` extension.
pub fn read_table_file(path: &Path) -> Result<Rows> {
    if path.extension().is_some_and(|e| e == "parquet") { read_parquet(path) } else { read_csv(path) }
}

fn read_csv(path: &Path) -> Result<Rows> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let header: Vec<String> = reader
        .headers()
        .with_context(|| format!("{}: reading the header", path.display()))?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: record {}", path.display(), i + 1))?;
        rows.push(header.iter().cloned().zip(record.iter().map(str::to_owned)).collect());
    }
    Ok(rows)
}

fn read_parquet(path: &Path) -> Result<Rows> {
    use arrow::array::Array;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .with_context(|| format!("{}: not a Parquet table", path.display()))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.with_context(|| format!("reading {}", path.display()))?;
        let schema = batch.schema();
        let mut columns: Vec<(String, Vec<String>)> = Vec::new();
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            let values: Vec<String> = match field.data_type() {
                // Times as RFC 3339 UTC, as the CSV tables write them.
                arrow::datatypes::DataType::Timestamp(..) => {
                    let unit = arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Second, None);
                    let seconds = arrow::compute::cast(column, &unit)?;
                    let seconds = seconds
                        .as_any()
                        .downcast_ref::<arrow::array::TimestampSecondArray>()
                        .context("a timestamp column")?;
                    (0..seconds.len())
                        .map(|i| {
                            if seconds.is_null(i) {
                                return String::new();
                            }
                            chrono::DateTime::from_timestamp(seconds.value(i), 0)
                                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                                .unwrap_or_default()
                        })
                        .collect()
                }
                _ => {
                    let text = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8)?;
                    let text = text.as_any().downcast_ref::<arrow::array::StringArray>().context("cast to text")?;
                    (0..text.len())
                        .map(|i| if text.is_null(i) { String::new() } else { text.value(i).to_owned() })
                        .collect()
                }
            };
            columns.push((field.name().clone(), values));
        }
        for i in 0..batch.num_rows() {
            rows.push(columns.iter().map(|(name, values)| (name.clone(), values[i].clone())).collect());
        }
    }
    Ok(rows)
}
