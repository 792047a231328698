//! echolens as a library: the import of exports into a store ([`ingest`]), which the `echolens` binary's
//! commands (`ingest`, `analyze`, `demo`) call; the binary itself is argument parsing and printing.

pub mod analyze;
pub mod demo;
pub mod ingest;
pub mod run;
