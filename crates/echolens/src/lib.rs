//! echolens as a library: the import of exports into a store ([`ingest`]), the main job ([`analyze`]), the
//! demo ([`demo`]), and the exports of an analysis's findings ([`stix`], [`share`]), which the `echolens`
//! binary's commands call; the binary itself is argument parsing and printing.

pub mod analyze;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod compare;
pub mod demo;
pub mod findings;
pub mod ingest;
pub mod printable;
pub mod run;
pub mod search_index;
pub mod serve;
pub mod share;
pub mod stix;
