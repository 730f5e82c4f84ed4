//! How long the allocator keeps memory that training freed before giving it back to the kernel.
//!
//! The app, the CLI and the benchmarks allocate through mimalloc (see their `main`). mimalloc
//! hands freed memory back to the kernel after a delay (1 s in its v3); the next large
//! allocation then faults in fresh pages, which the kernel zeroes first. A run of GOAT with
//! the authors' encoder allocates about 2 GB of features, generated domains and batches; with
//! the default delay each run of a sweep paid those faults again: a 3-run sweep spent 39 s of
//! its 147 in the kernel, 22 of 106 with freed memory kept (docs/performance.md).

use std::time::Duration;

/// What the allocator does with memory the process freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreedMemory {
    /// Keep it for the process's next allocations: for processes that train and exit (the
    /// CLI's `run`, `resume`, a Slurm worker, the benchmarks). The resident size stays at its peak.
    Kept,
    /// Give it back once unused this long: for processes that stay open (the app, `serve`).
    ReturnedAfter(Duration),
}

/// mimalloc's `purge_delay` option. libmimalloc-sys does not export the options' numbers as
/// constants; 15 is `mi_option_purge_delay` in both of its versions (mimalloc.h, v2 and v3).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets the policy. Call it first thing in `main`, before any other thread starts: mimalloc's
/// options are not thread-safe to set. Without mimalloc as the global allocator it changes nothing.
pub fn hold_freed_memory(policy: FreedMemory) {
    let value = match policy {
        FreedMemory::Kept => -1,
        FreedMemory::ReturnedAfter(after) => after.as_millis().min(i32::MAX as u128) as std::ffi::c_long,
    };
    // SAFETY: sets one numeric option; callers do it before starting threads, as mimalloc asks.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, value) }
    hold_libtorch_memory(policy);
}

/// LibTorch (the `libtorch` backend) allocates its tensors through the C library's malloc,
/// not through mimalloc. glibc maps each block above its threshold afresh and unmaps it when
/// freed, so a convolution's activations paid page faults every step: with the threshold at
/// glibc's maximum (32 MiB) and freed memory kept, GOAT's unpooled encoder trained at
/// 766-769 images/s instead of 599-604 through LibTorch (docs/performance.md, change 9).
/// Processes that give memory back (the app, `serve`) keep glibc's defaults.
#[cfg(all(feature = "libtorch", target_os = "linux", target_env = "gnu"))]
fn hold_libtorch_memory(policy: FreedMemory) {
    if policy == FreedMemory::Kept {
        // SAFETY: sets two numeric options of glibc's malloc, before other threads start.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        }
    }
}

#[cfg(not(all(feature = "libtorch", target_os = "linux", target_env = "gnu")))]
fn hold_libtorch_memory(_policy: FreedMemory) {}

/// The delay mimalloc uses now, in milliseconds (-1: never).
pub fn purge_delay_ms() -> i64 {
    // SAFETY: reads one option.
    unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) as i64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_reaches_mimallocs_purge_delay() {
        hold_freed_memory(FreedMemory::ReturnedAfter(Duration::from_secs(10)));
        assert_eq!(purge_delay_ms(), 10_000);
        hold_freed_memory(FreedMemory::Kept);
        assert_eq!(purge_delay_ms(), -1);
    }
}
