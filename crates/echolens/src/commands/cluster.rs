//! `cluster scheduler` and `cluster executor`.

use std::process::ExitCode;

use anyhow::Result;

use crate::args::ClusterCommand;

#[cfg(feature = "cluster")]
pub(super) fn run(command: ClusterCommand) -> Result<ExitCode> {
    use anyhow::Context;
    use echolens::cluster::{ExecutorOptions, SchedulerOptions};

    echolens::cluster::log_to_stderr();
    let rt = super::runtime()?;
    match command {
        ClusterCommand::Scheduler(args) => {
            let options = SchedulerOptions {
                bind: std::net::SocketAddr::new(args.bind, args.port),
                external_host: args.external_host.unwrap_or_else(|| args.bind.to_string()),
                executor_timeout_s: args.executor_timeout.max(1),
            };
            eprintln!(
                "echolens scheduler on {} (clients: --cluster df://{}:{})",
                options.bind, options.external_host, args.port
            );
            rt.block_on(echolens::cluster::scheduler(&options))?;
        }
        ClusterCommand::Executor(args) => {
            let (host, port) = args
                .scheduler
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
                .with_context(|| format!("--scheduler {:?}: expected HOST:PORT", args.scheduler))?;
            let options = ExecutorOptions {
                scheduler_host: host,
                scheduler_port: port,
                bind: args.bind,
                external_host: args.external_host.or_else(|| Some(args.bind.to_string())),
                port: args.port,
                concurrent_tasks: args
                    .concurrent_tasks
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
                work_dir: args.work_dir,
                memory: args.memory,
            };
            eprintln!("echolens executor on {}:{} for the scheduler {}", args.bind, args.port, args.scheduler);
            rt.block_on(echolens::cluster::executor(&options))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "cluster"))]
pub(super) fn run(_: ClusterCommand) -> Result<ExitCode> {
    anyhow::bail!("this echolens was built without the `cluster` feature")
}
