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

use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// Most CPUs per-CPU arrays are sized for.
pub const MAX_CPUS: usize = 64;

/// The hook, a `fn() -> usize` (null until installed): one load on the
/// fast paths, which ask it on every allocation.
static HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
static NR_CPUS: AtomicUsize = AtomicUsize::new(1);

/// Install the hook that answers the running CPU's number (the kernel
/// calls this once at boot; a second call is ignored).
pub fn set_cpu_hook(hook: fn() -> usize) {
    let _ = HOOK.compare_exchange(core::ptr::null_mut(), hook as *mut (), Ordering::AcqRel, Ordering::Acquire);
}

/// The running CPU's number, below [`nr_cpus`] (0 without a hook).
#[inline]
pub fn this_cpu() -> usize {
    let h = HOOK.load(Ordering::Acquire);
    if h.is_null() {
        return 0;
    }
    // SAFETY: `HOOK` only ever holds null or the `fn() -> usize` that
    // `set_cpu_hook` stored.
    let h: fn() -> usize = unsafe { core::mem::transmute::<*mut (), fn() -> usize>(h) };
    h().min(MAX_CPUS - 1)
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

/// A function run on another CPU: its argument in, its answer out.
pub type CpuFn = fn(u64) -> u64;

/// The kernel's way to run a [`CpuFn`] on a given CPU (see [`call_on`]).
static CALL_HOOK: spin::Once<fn(usize, CpuFn, u64) -> Option<u64>> = spin::Once::new();

/// Install the hook behind [`call_on`] (once; a second call is ignored).
pub fn set_call_hook(hook: fn(usize, CpuFn, u64) -> Option<u64>) {
    CALL_HOOK.call_once(|| hook);
}

/// Run `f(arg)` on CPU `cpu` and wait for its answer (Linux's
/// `smp_call_function_single`, for per-CPU data that only its own CPU may
/// change: the slab caches' active slabs). `None` when that CPU is not
/// online (so it holds no per-CPU state).
///
/// `f` runs with interrupts off, at a point where `cpu` is outside every
/// per-CPU fast path: directly when `cpu` is the caller's own, else from
/// an interrupt, or while `cpu` spins on a lock (`sync::spin_wait`). So it
/// may find that CPU inside a slow path holding locks: it must only
/// try-lock, and say in its answer whether it could do its work.
///
/// Callable with interrupts off and locks held: the caller serves requests
/// for its own CPU while it waits. Without a hook only CPU 0 has ever run
/// (before SMP starts, or a host test that simulates no CPUs), so a call
/// for another CPU finds nothing to do there and answers `None`.
pub fn call_on(cpu: usize, f: CpuFn, arg: u64) -> Option<u64> {
    let _irq = crate::sync::IrqOff::new();
    if cpu == this_cpu() {
        return Some(f(arg));
    }
    CALL_HOOK.get().and_then(|hook| hook(cpu, f, arg))
}
