use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use arrow::record_batch::RecordBatch;
use datafusion::execution::context::SQLOptions;
use echolens_store::Store;
use futures::StreamExt;

use super::runtime;
use crate::args::{OutputFormat, SqlArgs};

/// Rows the table output shows; CSV and JSON stream every row.
const TABLE_ROWS: usize = 10_000;

pub(super) fn run(args: SqlArgs) -> Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        let store = Store::open(&args.store.store)
            .await
            .with_context(|| format!("opening the store {}", args.store.store.display()))?;
        // The analyses' session: their UDFs (hash64, token_count, has_tokens) work in ad-hoc queries too, and
        // sorts and aggregations spill past `--memory`.
        let ctx = echolens::run::session(&store, args.memory, &echolens::run::Engine::Local).await?;
        // Queries only: no DDL (CREATE EXTERNAL TABLE over any file), no DML (INSERT, COPY ... TO), no
        // statements (SET, transactions). The store is written by `echolens ingest` alone.
        let read_only = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        let df = ctx.sql_with_options(&args.query, read_only).await.context("planning the query")?;
        let mut stream = df.execute_stream().await.context("running the query")?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let mut printer = Printer::new(args.output);
        while let Some(batch) = stream.next().await {
            let batch = batch.context("running the query")?;
            let batch = echolens::printable::printable(&batch, args.output == OutputFormat::Csv)
                .context("formatting the result")?;
            printer.write(&mut out, batch)?;
        }
        printer.finish(&mut out)
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The result written as its batches come: CSV and JSON whole, the table its first [`TABLE_ROWS`] rows (a table's
/// columns are as wide as their widest cell, so it is held until printed) and then how many rows it left out.
enum Printer {
    Table { batches: Vec<RecordBatch>, rows: usize, left_out: usize },
    Csv { header: bool },
    Json { rows: usize },
}

impl Printer {
    fn new(output: OutputFormat) -> Printer {
        match output {
            OutputFormat::Table => Printer::Table { batches: Vec::new(), rows: 0, left_out: 0 },
            OutputFormat::Csv => Printer::Csv { header: true },
            OutputFormat::Json => Printer::Json { rows: 0 },
        }
    }

    fn write(&mut self, out: &mut impl Write, batch: RecordBatch) -> Result<()> {
        match self {
            Printer::Table { batches, rows, left_out } => {
                let take = batch.num_rows().min(TABLE_ROWS - *rows);
                *left_out += batch.num_rows() - take;
                if take > 0 {
                    batches.push(batch.slice(0, take));
                    *rows += take;
                }
            }
            Printer::Csv { header } => {
                // The header before the first batch only.
                arrow::csv::WriterBuilder::new().with_header(*header).build(&mut *out).write(&batch)?;
                *header = false;
            }
            Printer::Json { rows } => {
                // A JSON array written an object at a time.
                let mut objects = arrow::json::LineDelimitedWriter::new(Vec::new());
                objects.write(&batch)?;
                objects.finish()?;
                for line in objects.into_inner().split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    out.write_all(if *rows == 0 { b"[" } else { b"," })?;
                    out.write_all(line)?;
                    *rows += 1;
                }
            }
        }
        Ok(())
    }

    fn finish(self, out: &mut impl Write) -> Result<()> {
        match self {
            Printer::Table { batches, left_out, .. } => {
                writeln!(out, "{}", arrow::util::pretty::pretty_format_batches(&batches)?)?;
                if left_out > 0 {
                    eprintln!(
                        "echolens: the table shows the first {TABLE_ROWS} rows; {left_out} more were left out \
                         (--output csv or json writes them all)"
                    );
                }
            }
            Printer::Csv { .. } => {}
            Printer::Json { rows } => writeln!(out, "{}", if rows == 0 { "[]" } else { "]" })?,
        }
        out.flush()?;
        Ok(())
    }
}
