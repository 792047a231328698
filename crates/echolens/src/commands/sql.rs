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
        .map(|b| echolens::printable::printable(b, args.output == OutputFormat::Csv))
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
