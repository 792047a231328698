use std::process::ExitCode;

use anyhow::Result;
use echolens::serve::{Options, serve};

use super::runtime;
use crate::args::ServeArgs;

pub(super) fn run(args: ServeArgs) -> Result<ExitCode> {
    let options = Options {
        store: args.store.store,
        results: args.results,
        bind: args.bind,
        port: args.port,
        reveal: args.reveal,
        memory: args.memory,
    };
    runtime()?.block_on(serve(options))?;
    Ok(ExitCode::SUCCESS)
}
