//! `ECHOLENS_TIMINGS=1`: each step's start time and the process's memory on stderr, for benchmarks.

use std::time::Instant;

/// A clock for one analysis' steps; silent unless `ECHOLENS_TIMINGS` is set.
pub(crate) struct Timings {
    on: bool,
    started: Instant,
}

impl Timings {
    pub(crate) fn new() -> Timings {
        Timings { on: std::env::var_os("ECHOLENS_TIMINGS").is_some(), started: Instant::now() }
    }

    /// Seconds since the clock started.
    pub(crate) fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Prints `name` with the time since the clock started and the memory now and at its peak.
    pub(crate) fn step(&self, name: &str) {
        if self.on {
            eprintln!("{:>8.2} s  {name}{}", self.elapsed(), memory());
        }
    }
}

/// `  [rss N MB, peak M MB]`, or nothing where the process's memory cannot be read.
pub fn memory() -> String {
    match memory_mb() {
        Some((rss, peak)) => format!("  [rss {rss} MB, peak {peak} MB]"),
        None => String::new(),
    }
}

/// Starts the process's peak resident memory afresh from what is resident now (Linux: `/proc/self/clear_refs`),
/// so that the next [`memory_mb`] reports the peak since this call. Where the platform cannot, the peak stays the
/// process's; returns whether it was reset.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The process's resident memory now and at its peak so far, in MB (`VmRSS`, `VmHWM` from
/// `/proc/self/status`; None where there is none).
pub fn memory_mb() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb / 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
