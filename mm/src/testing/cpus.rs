//! Simulated CPUs for per-CPU data: run a closure "on" CPU N.
//!
//! mm's `percpu::this_cpu` asks a hook; host tests install one that answers
//! a thread-local number, so each test thread chooses the CPU it runs on
//! and several simulated CPUs can interleave their operations.

extern crate std;

use std::cell::Cell;

std::thread_local! {
    static CPU: Cell<usize> = const { Cell::new(0) };
}

fn current() -> usize {
    CPU.with(Cell::get)
}

/// Run `f` with `percpu::this_cpu()` answering `cpu` on this thread.
pub fn on_cpu<R>(cpu: usize, f: impl FnOnce() -> R) -> R {
    crate::percpu::set_cpu_hook(current);
    let old = CPU.with(|c| c.replace(cpu));
    let r = f();
    CPU.with(|c| c.set(old));
    r
}
