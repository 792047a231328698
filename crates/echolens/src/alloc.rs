//! The allocator, and the one setting echolens changes in it.
//!
//! mimalloc: ingest allocates and frees many short strings across threads; glibc's allocator returned pages to
//! the kernel and faulted them back in (12% of ingest time in a profile).
//!
//! mimalloc v3 keeps freed memory for a second (`purge_delay` = 1000 ms) before it returns it to the system. The
//! analyses free large buffers on one thread while others allocate: at 10M messages, the all-kinds coordination
//! run peaked at 2147 MB with the default and at 1185 MB with 10 ms (mimalloc v2's default), same output,
//! 84 → 94 s.
//!
//! `echolens ingest` never purges: each commit allocates and frees buffers of about the same size (the rows,
//! the Parquet pages, the file), so memory kept is memory the next commit reuses, while memory returned is
//! faulted and zeroed by the kernel again. At 1M messages that was 10% of its time (4.70 against 5.21 s over
//! four rounds), for a peak 9% higher (592 against 541 MB). A `MIMALLOC_PURGE_DELAY` set by the
//! user wins over both settings.
#![allow(unsafe_code)]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (include/mimalloc.h); `libmimalloc-sys` has no constant
/// for it. The test below checks the index against the option's documented default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Milliseconds freed memory is kept before it is returned to the system.
pub(crate) const PURGE_DELAY_MS: i64 = 10;

/// Return freed memory to the system after [`PURGE_DELAY_MS`], unless the user's environment says otherwise.
/// Call once, in `main` before any thread is started.
pub(crate) fn purge_freed_memory_promptly() {
    set_purge_delay(PURGE_DELAY_MS);
}

/// Keep freed memory for reuse until the process ends, unless the user's environment says otherwise. Call once,
/// in `main` before any thread is started.
pub(crate) fn keep_freed_memory() {
    set_purge_delay(-1);
}

/// Set mimalloc's purge delay (milliseconds; -1 never purges) unless `MIMALLOC_PURGE_DELAY` is set.
fn set_purge_delay(ms: i64) {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: mi_option_set writes one word of mimalloc's option table; it takes any option index and value
    // (indices out of range are ignored), and is called before echolens starts any thread (the callers'
    // contract).
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ms as _) };
}

/// Returns the memory freed so far to the system now, whatever the purge delay: collects the calling thread's
/// free pages and purges every arena's free pages (mimalloc's `mi_collect(true)`). The analyses call it between
/// their steps (`echolens_analysis::memory`).
pub(crate) fn release_freed_memory() {
    // SAFETY: mi_collect takes no pointer and may be called from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index names purge_delay: its default is v3's 1000 ms, and its neighbours' defaults (1 and 0) differ.
    #[test]
    fn the_option_index_is_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads one word of the option table.
        let before = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(before, 1000, "mimalloc's option {MI_OPTION_PURGE_DELAY} is not purge_delay (default 1000)");
        keep_freed_memory();
        // SAFETY: as above.
        let kept = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(kept, -1);
        purge_freed_memory_promptly();
        // SAFETY: as above.
        let after = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(after, PURGE_DELAY_MS as std::ffi::c_long);
    }
}
