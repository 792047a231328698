//! Vocabulary: which words and phrases mark part of a corpus ([`keyness`]), how they spread from channel to
//! channel ([`diffusion`]), and how much there is of everything, period by period ([`timeline`]).
//!
//! Counting words is an aggregation. Keyness's words and `keyness --by`'s (group, word) counts are folds per
//! partition inside aggregate UDFs (`crate::fold`); keyness's phrases and diffusion's uses are UDFs whose lists
//! are unnested and grouped; the timeline is a plain aggregate with a lexicon UDF: all run where the engine puts
//! the plan (on a cluster, the executors), and what they group spills through the engine's pool.

pub mod diffusion;
pub mod keyness;
pub mod keyness_by;
pub mod lexicon;
pub mod timeline;
mod words;

#[cfg(test)]
mod tests;

/// The UTC day of `seconds` as `YYYY-MM-DD`.
pub(crate) fn day_string(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}
