//! The `echolens` command: glue between the readers, the store and the analyses.

mod alloc;
mod args;
mod commands;
mod pipeline;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    // Ingest frees and allocates commit-sized buffers over and over: returning them to the system made the
    // kernel zero them again on the next commit (10% of ingest time).
    if matches!(cli.command, args::Command::Ingest(_)) {
        alloc::keep_freed_memory();
    } else {
        alloc::purge_freed_memory_promptly();
        echolens_analysis::memory::set_release(alloc::release_freed_memory);
    }
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}
