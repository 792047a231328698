//! Every reader on any bytes: the first byte picks the format (or detection), the rest is the file. A reader
//! never panics, never loses a record (records = messages + quarantined + skipped), and the chunked path the
//! import takes gives the same counts and messages as the whole-file read.
#![no_main]

use echolens_ingest::{Collect, Format, ReadOptions, detect, read_bytes, read_bytes_in_chunks};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else { return };
    let format = match pick as usize % (Format::ALL.len() + 1) {
        i if i < Format::ALL.len() => Format::ALL[i],
        _ => match detect(file) {
            Some(f) => f,
            None => return,
        },
    };
    let options = ReadOptions::default();
    let mut whole = Collect::default();
    let counts = read_bytes(file, "fuzz", format, &options, &mut whole);
    assert_eq!(counts.records, counts.messages + counts.quarantined + counts.skipped);
    assert_eq!(counts.messages as usize, whole.messages.len());
    assert_eq!(counts.quarantined as usize, whole.quarantined.len());
    let mut chunked = Collect::default();
    let chunk_counts = read_bytes_in_chunks(file, "fuzz", format, &options, 1 + pick as usize, &mut chunked);
    assert_eq!(chunk_counts, counts, "{format}: the chunked read counts what the whole read counts");
    assert_eq!(chunked.messages, whole.messages, "{format}: the same messages");
});
