//! Simulated CPUs for per-CPU data: run a closure "on" CPU N.
//!
//! mm's `percpu::this_cpu` asks a hook; host tests install one that answers
//! a thread-local number, so each test thread chooses the CPU it runs on
//! and several simulated CPUs can interleave their operations.
//!
//! In mm's own tests the simulated CPUs also have interrupts, so that
//! `percpu::call_on` (the kernel's call-function IPI) can run a function
//! on another simulated CPU only where the real one could take it:
//!
//! ```text
//!   thread on CPU n:  IrqOff / IrqLock  ─ claims CPU n ─┐ (interrupts off: a
//!                     drop              ─ releases ─────┘  fast path runs here)
//!                     spinning on a lock: serves the call posted for CPU n
//!   call_on(n, f):    claim CPU n ─ ok ──> run f as CPU n, release
//!                               └ held ──> post f for CPU n; wait (serving calls
//!                                          for its own CPU) until the thread on
//!                                          n serves it, or n is free to claim
//! ```
//!
//! So `f` runs between two of the owner's interrupts-off sections, or while
//! the owner spins on a lock, as on the machine. Only threads inside
//! [`on_cpu`] take part; a thread outside is CPU 0 without interrupts (the
//! single-CPU tests). The claims are global to the test binary, so tests
//! running at once on the same CPU number only wait for each other's
//! interrupts-off sections, which are short. The benchmarks (feature `sim`
//! without `cfg(test)`) simulate no interrupts: their threads run no call
//! while others run, and a call runs on the caller's thread as CPU n.

extern crate std;

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::cell::Cell;

use crate::percpu::{CpuFn, MAX_CPUS};

std::thread_local! {
    static CPU: Cell<usize> = const { Cell::new(0) };
    /// Whether this thread runs inside `on_cpu` (and so has interrupts).
    static SIMULATED: Cell<bool> = const { Cell::new(false) };
    /// 1 + the CPU whose interrupts this thread has turned off (0: none).
    static IRQ_OFF: Cell<usize> = const { Cell::new(0) };
}

fn current() -> usize {
    CPU.with(Cell::get)
}

/// One simulated CPU's interrupt state and call mailbox.
struct SimCpu {
    /// Held while the CPU has interrupts off: by the thread running on it,
    /// or by a thread running a call as this CPU.
    irq_off: AtomicBool,
    /// A sender owns the mailbox (one call at a time).
    busy: AtomicBool,
    /// A call is posted and not yet run.
    pending: AtomicBool,
    f: AtomicU64,
    arg: AtomicU64,
    result: AtomicU64,
}

static SIM: [SimCpu; MAX_CPUS] = [const {
    SimCpu {
        irq_off: AtomicBool::new(false),
        busy: AtomicBool::new(false),
        pending: AtomicBool::new(false),
        f: AtomicU64::new(0),
        arg: AtomicU64::new(0),
        result: AtomicU64::new(0),
    }
}; MAX_CPUS];

fn try_claim(cpu: usize) -> bool {
    SIM[cpu].irq_off.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
}

fn release(cpu: usize) {
    SIM[cpu].irq_off.store(false, Ordering::Release);
}

/// The interrupt hooks: turning interrupts off claims the thread's CPU.
fn irq_save() -> bool {
    if !SIMULATED.with(Cell::get) || IRQ_OFF.with(Cell::get) != 0 {
        return false;
    }
    let cpu = current();
    while !try_claim(cpu) {
        std::thread::yield_now();
    }
    IRQ_OFF.with(|c| c.set(cpu + 1));
    true
}

fn irq_restore(was_enabled: bool) {
    if was_enabled {
        let cpu = IRQ_OFF.with(|c| c.replace(0)) - 1;
        release(cpu);
    }
}

/// Run the call posted for `cpu`, whose claim the caller holds.
fn serve(cpu: usize) {
    let sim = &SIM[cpu];
    if sim.pending.load(Ordering::Acquire) {
        // SAFETY: the sender stored a `CpuFn` in `f` before `pending`.
        let f: CpuFn = unsafe { core::mem::transmute(sim.f.load(Ordering::Relaxed) as usize) };
        let r = run_as(cpu, f, sim.arg.load(Ordering::Relaxed));
        sim.result.store(r, Ordering::Relaxed);
        sim.pending.store(false, Ordering::Release);
    }
}

/// The spin hook: a thread spinning with interrupts off serves its CPU.
fn spin_hook() {
    let off = IRQ_OFF.with(Cell::get);
    if off != 0 {
        serve(off - 1);
    }
}

/// Run `f(arg)` as CPU `cpu` with interrupts off (its claim held, or no
/// simulation).
fn run_as(cpu: usize, f: CpuFn, arg: u64) -> u64 {
    let old_cpu = CPU.with(|c| c.replace(cpu));
    let old_off = IRQ_OFF.with(|c| c.replace(cpu + 1));
    let r = f(arg);
    IRQ_OFF.with(|c| c.set(old_off));
    CPU.with(|c| c.set(old_cpu));
    r
}

/// The call hook (`percpu::call_on` for another CPU).
fn call(cpu: usize, f: CpuFn, arg: u64) -> Option<u64> {
    if !cfg!(test) {
        return Some(run_as(cpu, f, arg));
    }
    let sim = &SIM[cpu];
    loop {
        if try_claim(cpu) {
            let r = run_as(cpu, f, arg);
            release(cpu);
            return Some(r);
        }
        if sim.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            break;
        }
        spin_hook();
        std::thread::yield_now();
    }
    sim.f.store(f as usize as u64, Ordering::Relaxed);
    sim.arg.store(arg, Ordering::Relaxed);
    sim.pending.store(true, Ordering::Release);
    while sim.pending.load(Ordering::Acquire) {
        // The thread on `cpu` may have left its section: serve it here.
        if try_claim(cpu) {
            serve(cpu);
            release(cpu);
            break;
        }
        spin_hook();
        std::thread::yield_now();
    }
    let r = sim.result.load(Ordering::Relaxed);
    sim.busy.store(false, Ordering::Release);
    Some(r)
}

/// Run `f` with `percpu::this_cpu()` answering `cpu` on this thread (with
/// simulated interrupts in mm's tests: see the module comment).
pub fn on_cpu<R>(cpu: usize, f: impl FnOnce() -> R) -> R {
    crate::percpu::set_cpu_hook(current);
    crate::percpu::set_call_hook(call);
    if cfg!(test) {
        crate::sync::set_irq_hooks(irq_save, irq_restore);
        crate::sync::set_spin_hook(spin_hook);
    }
    assert_eq!(IRQ_OFF.with(Cell::get), 0, "on_cpu: switching CPUs with interrupts off");
    let old = CPU.with(|c| c.replace(cpu));
    let was_simulated = SIMULATED.with(|c| c.replace(true));
    let r = f();
    SIMULATED.with(|c| c.set(was_simulated));
    CPU.with(|c| c.set(old));
    r
}
