//! The `echolens` binary as a user runs it, in one test binary (each binary is a link of the whole tool): the
//! commands (`cli`), the main job and its report (`report`), the cross-checks against the peers (`peers`), and
//! snapshots of every command's tables and of the report's structure (`snapshots`), and what a user hands
//! on: outputs free of identities, the STIX bundle, the shareable zip (`shared`); sides compared (`compare`); results independent of the engine's partitions (`partitions`); a store read from an object-store URL (`remote`); the JSON API of `serve` (`serve`).

mod cli;
#[cfg(feature = "cluster")]
mod cluster;
mod common;
mod compare;
mod partitions;
mod peers;
mod remote;
mod report;
mod serve;
mod shared;
mod snapshots;
