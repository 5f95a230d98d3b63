//! Backtraces by walking the frame-pointer chain.
//!
//! Every crate of the kernel is built with `-C force-frame-pointers=yes`, so
//! each frame starts with `[saved rbp][return address]`. The walk only
//! follows frame pointers that stay inside one known stack (the boot stack,
//! an IST stack, or the current task's kernel stack), so a corrupt chain ends
//! the trace instead of faulting inside the panic handler.
//!
//! Each frame prints as ` [<ffffffff8001a2b3>]`; `boot` resolves these lines
//! to function names and source lines from the kernel ELF on the host.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::gdt;

const MAX_FRAMES: usize = 32;

static BOOT_STACK: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
/// Per CPU: the running task's kernel stack.
static TASK_STACK: [[AtomicU64; 2]; mm::percpu::MAX_CPUS] =
    [const { [AtomicU64::new(0), AtomicU64::new(0)] }; mm::percpu::MAX_CPUS];

/// Tell the walker where the boot stack is (`[start, end)`).
pub fn set_boot_stack(start: u64, end: u64) {
    BOOT_STACK[0].store(start, Ordering::Relaxed);
    BOOT_STACK[1].store(end, Ordering::Relaxed);
}

/// Tell the walker which kernel stack the current task runs on.
pub fn set_task_stack(start: u64, end: u64) {
    let s = &TASK_STACK[crate::percpu::cpu_id() % mm::percpu::MAX_CPUS];
    s[0].store(start, Ordering::Relaxed);
    s[1].store(end, Ordering::Relaxed);
}

/// The boot stack `[start, end)` as set by `set_boot_stack` (zeros before).
pub fn boot_stack() -> (u64, u64) {
    (BOOT_STACK[0].load(Ordering::Relaxed), BOOT_STACK[1].load(Ordering::Relaxed))
}

/// The current task's kernel stack `[start, end)` as set by `set_task_stack`.
pub fn task_stack() -> (u64, u64) {
    let s = &TASK_STACK[crate::percpu::cpu_id_paranoid() % mm::percpu::MAX_CPUS];
    (s[0].load(Ordering::Relaxed), s[1].load(Ordering::Relaxed))
}

fn stack_containing(addr: u64) -> Option<(u64, u64)> {
    let mut ranges = [task_stack(), boot_stack(), (0, 0), (0, 0), (0, 0)];
    for (i, ist) in [gdt::IST_DOUBLE_FAULT, gdt::IST_NMI, gdt::IST_MACHINE_CHECK].into_iter().enumerate() {
        ranges[2 + i] = gdt::ist_stack_range(ist);
    }
    ranges.into_iter().find(|&(s, e)| s < e && addr >= s && addr + 16 <= e)
}

/// The frame pointer of the caller.
#[inline(always)]
pub fn current_frame_pointer() -> u64 {
    let rbp: u64;
    // SAFETY: reading rbp has no side effects.
    unsafe { core::arch::asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack)) };
    rbp
}

/// Print the return addresses of the frame chain that starts at `rbp`.
pub fn print_from(w: &mut dyn fmt::Write, rbp: u64) -> fmt::Result {
    writeln!(w, "Call Trace:")?;
    let Some((lo, hi)) = stack_containing(rbp) else {
        return writeln!(w, " <frame pointer {rbp:#x} is outside every known stack>");
    };
    walk(w, rbp, lo, hi)
}

/// Print the frame chain of a task that is switched out: `saved_rsp` is
/// where `context::switch` left its callee-saved registers (rbp sixth,
/// then the return address into the scheduler), on the kernel stack
/// `[lo, hi)`. The caller keeps the task from running meanwhile, or
/// accepts a trace that ends early (every read stays inside the stack).
pub fn print_switched_out(w: &mut dyn fmt::Write, saved_rsp: u64, lo: u64, hi: u64) -> fmt::Result {
    writeln!(w, "Call Trace:")?;
    if saved_rsp % 8 != 0 || saved_rsp < lo || saved_rsp + 7 * 8 > hi {
        return writeln!(w, " <saved stack pointer {saved_rsp:#x} is outside its stack>");
    }
    // SAFETY: the seven words lie inside the task's mapped kernel stack.
    let (rbp, ret) = unsafe { (*((saved_rsp + 5 * 8) as *const u64), *((saved_rsp + 6 * 8) as *const u64)) };
    writeln!(w, " [<{ret:016x}>]")?;
    walk(w, rbp, lo, hi)
}

fn walk(w: &mut dyn fmt::Write, rbp: u64, lo: u64, hi: u64) -> fmt::Result {
    let mut fp = rbp;
    for _ in 0..MAX_FRAMES {
        if fp % 8 != 0 || fp < lo || fp + 16 > hi {
            break;
        }
        // SAFETY: fp..fp+16 lies inside a mapped kernel stack (checked above).
        let (next, ret) = unsafe { (*(fp as *const u64), *((fp + 8) as *const u64)) };
        if ret == 0 {
            break;
        }
        writeln!(w, " [<{ret:016x}>]")?;
        if next <= fp {
            break;
        }
        fp = next;
    }
    Ok(())
}

/// Print the backtrace of the caller.
#[inline(always)]
pub fn print_here(w: &mut dyn fmt::Write) -> fmt::Result {
    print_from(w, current_frame_pointer())
}
