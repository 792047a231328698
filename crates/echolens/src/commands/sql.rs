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
        let csv = args.output == OutputFormat::Csv;
        // The next batch of the result, as it prints (lists as JSON in CSV).
        let mut next = async || -> Result<Option<RecordBatch>> {
            match stream.next().await {
                None => Ok(None),
                Some(batch) => {
                    let batch = batch.context("running the query")?;
                    Ok(Some(echolens::printable::printable(&batch, csv).context("formatting the result")?))
                }
            }
        };
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        // CSV and JSON are written as the batches come; a table's columns are as wide as their widest cell, so it
        // is held until printed: its first `TABLE_ROWS` rows, and how many it left out.
        match args.output {
            OutputFormat::Csv => {
                let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
                while let Some(batch) = next().await? {
                    w.write(&batch)?;
                }
            }
            OutputFormat::Json => {
                let mut w = arrow::json::ArrayWriter::new(&mut out);
                while let Some(batch) = next().await? {
                    w.write(&batch)?;
                }
                w.finish()?;
                drop(w);
                writeln!(out)?;
            }
            OutputFormat::Table => {
                let (mut shown, mut left_out) = (Vec::new(), 0);
                let mut rows = 0;
                while let Some(batch) = next().await? {
                    let take = batch.num_rows().min(TABLE_ROWS - rows);
                    left_out += batch.num_rows() - take;
                    if take > 0 {
                        shown.push(batch.slice(0, take));
                        rows += take;
                    }
                }
                writeln!(out, "{}", arrow::util::pretty::pretty_format_batches(&shown)?)?;
                if left_out > 0 {
                    eprintln!(
                        "echolens: the table shows the first {TABLE_ROWS} rows; {left_out} more were left out \
                         (--output csv or json writes them all)"
                    );
                }
            }
        }
        out.flush()?;
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
