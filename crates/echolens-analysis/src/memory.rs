//! Giving freed memory back to the system between the steps of an analysis.
//!
//! The analyses free large buffers (a kernel's signatures, a plan's hash tables and sorts) and then start the
//! next step. An allocator that keeps freed pages for a while holds them under the next step's allocations, and
//! the process's peak becomes the sum of two steps instead of the larger one. The analyses do not know the
//! allocator: the binary installs a release function ([`set_release`]; echolens's forces mimalloc to purge what
//! is free), and [`release`] calls it at step boundaries. Without one installed, [`release`] does nothing.

use std::sync::OnceLock;

static RELEASE: OnceLock<fn()> = OnceLock::new();

/// Installs `f` as the function that returns freed memory to the system; the first one installed stays.
pub fn set_release(f: fn()) {
    let _ = RELEASE.set(f);
}

/// Returns freed memory to the system, if a release function is installed: the analyses call it between their
/// steps, `analyze` between its stages.
pub fn release() {
    if let Some(f) = RELEASE.get() {
        f();
    }
}
