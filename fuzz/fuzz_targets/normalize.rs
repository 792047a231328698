//! The normaliser and entity extraction on any text: no panic, and normalising twice changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let once = echolens_text::normalize(text);
    assert_eq!(echolens_text::normalize(&once), once, "normalisation is idempotent");
    let _ = echolens_text::extract_urls(text);
    let _ = echolens_text::extract_hashtags(text);
    let _ = echolens_text::extract_mentions(text);
    let _ = echolens_text::tokens(&once).count();
    echolens_text::phrases(&once, |_| {});
});
