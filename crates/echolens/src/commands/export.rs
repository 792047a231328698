//! `export stix` and `export share`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use echolens::findings::ReportDir;

use crate::args::ExportCommand;

pub(super) fn run(command: ExportCommand) -> Result<ExitCode> {
    match command {
        ExportCommand::Stix(args) => {
            let report = ReportDir::open(&args.from)?;
            let bundle = echolens::stix::export(&report, &args.stix.options(args.reveal))?;
            let text = serde_json::to_string_pretty(&bundle)?;
            echolens_analysis::write_output(&args.out, text.as_bytes())
                .with_context(|| format!("writing {}", args.out.display()))?;
            let objects = bundle["objects"].as_array().map_or(0, Vec::len);
            println!("wrote      {} ({objects} STIX 2.1 objects, TLP {:?})", args.out.display(), args.stix.tlp);
            Ok(ExitCode::SUCCESS)
        }
        ExportCommand::Share(args) => {
            let report = ReportDir::open(&args.from)?;
            let store_path = match &args.store {
                Some(s) => s.clone(),
                None => report.summary["store"]
                    .as_str()
                    .map(std::path::PathBuf::from)
                    .context("summary.json names no store: give --store")?,
            };
            let rt = super::runtime()?;
            let identities = rt
                .block_on(async {
                    let store = echolens_store::Store::open(&store_path).await?;
                    let ctx = datafusion::prelude::SessionContext::new();
                    store.register(&ctx).await?;
                    echolens::share::Identities::load(&ctx).await
                })
                .with_context(|| format!("reading the identities of the store {}", store_path.display()))?;
            let shared = echolens::share::share(&report, &identities, &args.out)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&shared)?);
            } else {
                println!(
                    "wrote      {} ({} files and {}, {} bytes); no raw account id, handle or profile URL of {} in it",
                    shared.zip.display(),
                    shared.files.len() - 1,
                    echolens::share::MANIFEST,
                    shared.bytes,
                    store_path.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
