//! `echolens compare` as a library function ([`run`]): the sides measured over the store (within a period if
//! one is given), with the reuse cascades and coordination clusters found on the same messages.

use anyhow::{Context, Result};
use datafusion::prelude::SessionContext;
use echolens_analysis::compare::{self, Compare, Side};
use echolens_analysis::select::Selection;
use echolens_analysis::{Pseudonyms, coordination, reuse};

use crate::analyze::{NULL_RUNS, NULL_RUNS_UP_TO};

/// What to compare, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The sides, as `NAME=SELECTOR`.
    pub sides: Vec<String>,
    /// The period (or part of the corpus) everything is measured within.
    pub select: Vec<String>,
    /// Days and hours in this zone.
    pub tz: chrono_tz::Tz,
    /// The keyness z a marking term reaches at least.
    pub min_z: f64,
    /// Marking terms per side followed.
    pub top_terms: usize,
    /// Hours a side uses a term alone before it counts as the side's.
    pub lead_hours: u64,
    /// Messages in which a channel uses a term to have taken it up.
    pub min_adopter_uses: u64,
    /// Null-model runs of the coordination; `None`: as `analyze` does.
    pub null_runs: Option<usize>,
    /// Account ids as they are.
    pub reveal: bool,
}

/// Restrict `messages` in `ctx` to `period` (nothing to do when empty): every analysis then sees only it.
pub async fn restrict(ctx: &SessionContext, period: &Selection) -> Result<()> {
    if period.is_empty() {
        return Ok(());
    }
    period.count(ctx, "--select").await?;
    let expr = period.expr(ctx).await?;
    let view = ctx.table("messages").await?.filter(expr)?.into_view();
    ctx.deregister_table("messages")?;
    ctx.register_table("messages", view)?;
    Ok(())
}

/// Compare the sides over the messages registered in `ctx` (within `options.select`), pseudonymised unless
/// `options.reveal`: reuse and coordination run first, on the same messages.
pub async fn run(ctx: &SessionContext, pseudonyms: &Pseudonyms, options: &Options) -> Result<Compare> {
    let sides = Side::parse_all(&options.sides, Some(options.tz))?;
    let period = Selection::parse_in(&options.select, Some(options.tz)).context("--select")?;
    restrict(ctx, &period).await?;
    let messages = ctx.table("messages").await?.count().await? as u64;
    let reuse = reuse::run(ctx, reuse::Params::default()).await?;
    let params = coordination::Params {
        null_runs: options.null_runs.unwrap_or(if messages <= NULL_RUNS_UP_TO { NULL_RUNS } else { 0 }),
        sweep_similar: false,
        ..coordination::Params::default()
    };
    let coordination = coordination::run(ctx, params).await?;
    measure(ctx, pseudonyms, options, &sides, &reuse, &coordination).await
}

/// Compare `sides` with the reuse cascades and coordination clusters already found on the messages of `ctx`
/// (as `analyze --side` has them), pseudonymised unless `options.reveal`.
pub async fn measure(
    ctx: &SessionContext,
    pseudonyms: &Pseudonyms,
    options: &Options,
    sides: &[Side],
    reuse: &reuse::Reuse,
    coordination: &coordination::Coordination,
) -> Result<Compare> {
    let describe = |s: &Selection| if options.reveal { s.to_string() } else { pseudonyms.selection(s) };
    let descriptions: Vec<String> = sides.iter().map(|s| s.describe(describe)).collect();
    let params = compare::Params {
        time_zone: options.tz.name().to_owned(),
        min_z: options.min_z,
        top_terms: options.top_terms,
        lead_s: options.lead_hours.saturating_mul(3600),
        min_adopter_uses: options.min_adopter_uses.max(1),
        ..compare::Params::default()
    };
    let mut result = compare::run(ctx, sides, &descriptions, reuse, coordination, params).await?;
    if !options.reveal {
        pseudonyms.compare(&mut result);
    }
    Ok(result)
}

impl Options {
    /// The defaults of `echolens compare` for these sides.
    pub fn new(sides: Vec<String>, tz: chrono_tz::Tz, reveal: bool) -> Options {
        Options {
            sides,
            select: Vec::new(),
            tz,
            min_z: 3.29,
            top_terms: 20,
            lead_hours: 24,
            min_adopter_uses: 2,
            null_runs: None,
            reveal,
        }
    }
}
