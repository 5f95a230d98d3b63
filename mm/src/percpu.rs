//! Which CPU the caller runs on, for per-CPU data (the page allocator's
//! per-CPU page lists, the slab caches' per-CPU slabs).
//!
//! mm cannot read the CPU itself: the kernel installs a hook at boot that
//! answers the running CPU's number (0 until SMP starts the others), and
//! says how many CPUs may run. Host tests install their own hook (a
//! thread-local number per simulated CPU) to interleave several CPUs.
//!
//! Per-CPU data is indexed by [`this_cpu`] and only valid while the caller
//! cannot move to another CPU: take it with interrupts off (the per-CPU
//! structures sit behind `sync::IrqLock`s, uncontended except when another
//! CPU drains them), or with `sync::IrqOff` alone where only the owning CPU
//! writes (the slab fast path: see `kalloc::slab::cpu_slab`).

use core::sync::atomic::{AtomicUsize, Ordering};

/// Most CPUs per-CPU arrays are sized for.
pub const MAX_CPUS: usize = 64;

static HOOK: spin::Once<fn() -> usize> = spin::Once::new();
static NR_CPUS: AtomicUsize = AtomicUsize::new(1);

/// Install the hook that answers the running CPU's number (the kernel
/// calls this once at boot; a second call is ignored).
pub fn set_cpu_hook(hook: fn() -> usize) {
    HOOK.call_once(|| hook);
}

/// The running CPU's number, below [`nr_cpus`] (0 without a hook).
#[inline]
pub fn this_cpu() -> usize {
    HOOK.get().map_or(0, |h| h()).min(MAX_CPUS - 1)
}

/// How many CPUs may run (possible CPUs), at most [`MAX_CPUS`].
#[inline]
pub fn nr_cpus() -> usize {
    NR_CPUS.load(Ordering::Relaxed)
}

/// Set the number of possible CPUs (before per-CPU data is first used).
pub fn set_nr_cpus(n: usize) {
    NR_CPUS.store(n.clamp(1, MAX_CPUS), Ordering::Relaxed);
}
