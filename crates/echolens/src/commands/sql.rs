use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use arrow::record_batch::RecordBatch;
use datafusion::execution::context::SQLOptions;
use echolens_store::Store;

use super::runtime;
use crate::args::{OutputFormat, SqlArgs};

pub(super) fn run(args: SqlArgs) -> Result<ExitCode> {
    let rt = runtime()?;
    let batches: Vec<RecordBatch> = rt.block_on(async {
        let store = Store::open(&args.store.store)
            .await
            .with_context(|| format!("opening the store {}", args.store.store.display()))?;
        let ctx = store.session().await?;
        // The analyses' UDFs (hash64, token_count, has_tokens) work in ad-hoc queries too.
        echolens_analysis::register_udfs(&ctx);
        // Queries only: no DDL (CREATE EXTERNAL TABLE over any file), no DML (INSERT, COPY ... TO), no
        // statements (SET, transactions). The store is written by `echolens ingest` alone.
        let read_only = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        let df = ctx.sql_with_options(&args.query, read_only).await.context("planning the query")?;
        df.collect().await.context("running the query")
    })?;
    let batches = batches
        .iter()
        .map(|b| printable(b, args.output))
        .collect::<std::result::Result<Vec<_>, _>>()
        .context("formatting the result")?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.output {
        OutputFormat::Table => {
            writeln!(out, "{}", arrow::util::pretty::pretty_format_batches(&batches)?)?;
        }
        OutputFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
            for b in &batches {
                w.write(b)?;
            }
        }
        OutputFormat::Json => {
            let mut w = arrow::json::ArrayWriter::new(&mut out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            w.write_batches(&refs)?;
            w.finish()?;
            drop(w);
            writeln!(out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A result batch as it is printed: times as RFC 3339 UTC text whatever their year (Arrow's own formatting fails
/// outside chrono's range), and for CSV, lists as JSON arrays (CSV has no lists).
fn printable(batch: &RecordBatch, output: OutputFormat) -> Result<RecordBatch, arrow::error::ArrowError> {
    use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let text = match column.data_type() {
            DataType::Timestamp(unit, _) => {
                let raw = arrow::compute::cast(column, &DataType::Int64)?;
                let raw = raw.as_primitive::<arrow::datatypes::Int64Type>();
                let micros = |v: i64| match unit {
                    TimeUnit::Second => v.saturating_mul(1_000_000),
                    TimeUnit::Millisecond => v.saturating_mul(1_000),
                    TimeUnit::Microsecond => v,
                    TimeUnit::Nanosecond => v.div_euclid(1_000),
                };
                let mut b = StringBuilder::new();
                for i in 0..raw.len() {
                    if raw.is_null(i) {
                        b.append_null();
                    } else {
                        b.append_value(echolens_store::rfc3339(micros(raw.value(i))));
                    }
                }
                Some(Arc::new(b.finish()) as ArrayRef)
            }
            DataType::List(_) | DataType::LargeList(_) | DataType::Struct(_) | DataType::Map(_, _)
                if output == OutputFormat::Csv =>
            {
                let one = RecordBatch::try_new(
                    Arc::new(Schema::new(vec![Field::new("v", column.data_type().clone(), true)])),
                    vec![column.clone()],
                )?;
                let mut buf = Vec::new();
                let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
                w.write(&one)?;
                w.finish()?;
                drop(w);
                let mut b = StringBuilder::new();
                for line in String::from_utf8_lossy(&buf).lines() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
                    match v.get("v") {
                        Some(inner) => b.append_value(inner.to_string()),
                        None => b.append_null(),
                    }
                }
                Some(Arc::new(b.finish()) as ArrayRef)
            }
            _ => None,
        };
        match text {
            Some(array) => {
                fields.push(Field::new(field.name(), DataType::Utf8, true));
                columns.push(array);
            }
            None => {
                fields.push(field.as_ref().clone());
                columns.push(column.clone());
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}
