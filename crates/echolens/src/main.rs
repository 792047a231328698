//! The `echolens` command: glue between the readers, the store and the analyses.

mod alloc;
mod args;
mod commands;

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
            for cause in causes(&err) {
                eprintln!("  caused by: {cause}");
            }
            if out_of_engine_memory(&err) {
                eprintln!(
                    "hint: a step needed more of the engine's memory than --memory gives it (its sorts and \
                     aggregations spill to disk beyond it, but each needs a minimum in memory): run it again \
                     with a larger --memory (the default is 1G)"
                );
            }
            // A bug says so in its message, and exits apart from bad parameters and bad input (EX_SOFTWARE).
            let bug = err.chain().any(|c| {
                matches!(c.downcast_ref::<echolens_analysis::Error>(), Some(echolens_analysis::Error::Internal(_)))
            });
            ExitCode::from(if bug { 70 } else { 2 })
        }
    }
}

/// The causes of `err` worth printing under it. DataFusion's errors repeat their source in their own message,
/// so a cause already contained in the line above it is left out rather than printed again.
fn causes(err: &anyhow::Error) -> Vec<String> {
    let mut above = err.to_string();
    let mut out = Vec::new();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !above.contains(&text) {
            out.push(text.clone());
        }
        above = text;
    }
    out
}

/// Whether `err` is the engine's memory pool refusing an allocation.
fn out_of_engine_memory(err: &anyhow::Error) -> bool {
    use datafusion::error::DataFusionError;
    err.chain().any(|c| {
        c.downcast_ref::<DataFusionError>()
            .is_some_and(|e| matches!(e.find_root(), DataFusionError::ResourcesExhausted(_)))
    })
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose message repeats its source's, as DataFusion's do.
    #[derive(Debug)]
    struct Wrapping(Inner);

    #[derive(Debug)]
    struct Inner;

    impl std::fmt::Display for Wrapping {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Schema error: {}", self.0)
        }
    }

    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("No field named file.")
        }
    }

    impl std::error::Error for Wrapping {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    impl std::error::Error for Inner {}

    #[test]
    fn a_cause_repeated_in_the_message_above_is_printed_once() {
        let err = anyhow::Error::new(Wrapping(Inner)).context("planning the query");
        assert_eq!(causes(&err), ["Schema error: No field named file."]);
        let distinct = anyhow::Error::new(Inner).context("reading x.json").context("ingesting");
        assert_eq!(causes(&distinct), ["reading x.json", "No field named file."]);
    }

    /// The pool refusing an allocation is recognised however deep the engine wrapped it; other errors are not.
    #[test]
    fn an_exhausted_engine_pool_is_told_apart() {
        use datafusion::error::DataFusionError;
        let exhausted = DataFusionError::ResourcesExhausted("Failed to allocate additional 2.2 MB".into());
        let wrapped = DataFusionError::Context("sorting".into(), Box::new(exhausted));
        let err = anyhow::Error::new(echolens_analysis::Error::DataFusion(wrapped)).context("coordination");
        assert!(out_of_engine_memory(&err));
        let other = DataFusionError::Plan("no table".into());
        assert!(!out_of_engine_memory(&anyhow::Error::new(echolens_analysis::Error::DataFusion(other))));
        assert!(!out_of_engine_memory(&anyhow::anyhow!("Resources exhausted, as a sentence")));
    }
}
