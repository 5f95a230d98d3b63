//! What the kernel does with CPU exceptions that nothing else claims: an
//! oops in Linux's layout (what happened, the registers, a backtrace), then
//! either recovery into an active test-harness `catch` or a panic.
//!
//! Breakpoints are logged and resumed; a double fault whose stack pointer
//! sits in a guard page is reported as a kernel stack overflow. NMIs are
//! reported (rate-limited) and resumed; a machine check panics with a
//! clear message. Neither kills the process that happened to run.

use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

use arch::trap::{self, TrapFrame};
use arch::{backtrace, recover};

/// Breakpoints taken (tests read this).
pub static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);
/// Kernel stack overflows detected.
pub static STACK_OVERFLOWS: AtomicU64 = AtomicU64::new(0);

/// Register the kernel's exception policy.
pub fn install() {
    trap::set_default_exception_handler(exception);
    trap::set_user_return_hook(crate::proc::signal::deliver::trap_return);
    trap::set_handler(3, breakpoint);
    trap::set_handler(8, double_fault);
    trap::set_handler(2, nmi);
    trap::set_handler(14, crate::fault::page_fault);
    trap::set_handler(18, machine_check);
    trap::set_handler(arch::apic::TIMER_VECTOR, timer);
    trap::set_handler(arch::apic::SPURIOUS_VECTOR, |_| {});
    // A spurious IRQ7 / IRQ15 from the (masked) legacy PICs.
    trap::set_handler(arch::pic::PIC1_VECTOR_BASE + 7, |_| {});
    trap::set_handler(arch::pic::PIC2_VECTOR_BASE + 7, |_| {});
}

/// The timer interrupt fans out to everything that runs on the tick, in
/// this order: the scheduler's accounting and wake-ups, the memory
/// picture's redraw, the input poll, the processes' timers, timerfd
/// expirations, signals that had to wait for a lock, then preemption
/// (which may switch tasks, so it comes last).
fn timer(frame: &mut TrapFrame) {
    arch::apic::eoi();
    let now = crate::proc::sched::scheduler_tick(frame);
    // Every CPU charges its running task's interval timers; the
    // machine-wide work runs on the boot CPU's tick only.
    crate::proc::timer::tick(frame.is_user());
    if mm::percpu::this_cpu() == 0 {
        crate::mempic::tick();
        crate::platform::input::tick(now);
        crate::vfs::timerfd::tick();
        crate::proc::signal::flush_deferred();
    }
    crate::proc::sched::preempt_tick(frame);
}

/// An exception nobody else handles: from user mode it becomes the
/// signal Linux would send (delivered on the way back, so a handler may
/// fix the cause and retry); in the kernel it is an oops.
fn exception(frame: &mut TrapFrame) {
    if frame.is_user() {
        let info = crate::proc::signal::for_exception(frame);
        crate::proc::signal::force_fault(frame, info);
        return;
    }
    crate::panic::oops(frame);
}

fn breakpoint(frame: &mut TrapFrame) {
    if frame.is_user() {
        let info = crate::proc::signal::for_exception(frame);
        crate::proc::signal::force_fault(frame, info);
        return;
    }
    BREAKPOINTS.fetch_add(1, Ordering::Relaxed);
    log::info!("traps: int3 at {:#x}, resuming", frame.rip.wrapping_sub(1));
}

/// NMIs taken with no known source (tests read this; the backtrace
/// requests `nmi_report` sends between CPUs are not counted).
pub static NMIS: AtomicU64 = AtomicU64::new(0);

/// Vector 2. Nothing here raises NMIs on purpose (no watchdog, no perf),
/// so every one is "unknown" as Linux would say: report it with where
/// this CPU was and what every task waits on (`nmi_report`), and carry
/// on: whatever ran, user process or kernel, continues.
fn nmi(frame: &mut TrapFrame) {
    if crate::nmi_report::nmi(frame, arch::cpu::nmi_reason()) {
        NMIS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Vector 18. A machine check means the hardware lost data: no process
/// is to blame and no state can be trusted, so panic with a clear message
/// (Linux's "Machine check: ..." panic) rather than killing whoever ran.
fn machine_check(frame: &mut TrapFrame) {
    crate::panic::quiesce_consoles();
    let mut w = arch::logger::ConsoleWriter;
    let _ = writeln!(
        w,
        "mce: [Hardware Error]: machine check exception at ip {:#x} ({} mode)",
        frame.rip,
        if frame.is_user() { "user" } else { "kernel" }
    );
    let _ = frame.dump(&mut w);
    recover::recover(crate::panic::RECOVERED_FROM_TRAP);
    panic!("machine check: hardware error (MCE) at {:#x}", frame.rip);
}

/// Whether `rsp` lies in the guard page below a known stack.
fn in_guard_page(rsp: u64, stack_bottom: u64) -> bool {
    // The bootloader counts its unmapped guard page as part of the stack, so
    // the page just above `stack_bottom` is a guard page too.
    stack_bottom != 0 && rsp < stack_bottom + 4096 && rsp >= stack_bottom.saturating_sub(2 * 4096)
}

fn double_fault(frame: &mut TrapFrame) {
    crate::panic::quiesce_consoles();
    let mut w = arch::logger::ConsoleWriter;
    let vmalloc_stack = crate::mem::try_page_alloc().and_then(|_| crate::mem::kvm::vmalloc_area().guard_hit(frame.rsp));
    let overflow = vmalloc_stack.is_some()
        || [backtrace::boot_stack(), backtrace::task_stack()]
            .iter()
            .any(|&(bottom, _)| in_guard_page(frame.rsp, bottom));
    if let Some(area) = &vmalloc_stack {
        STACK_OVERFLOWS.fetch_add(1, Ordering::Relaxed);
        let _ = writeln!(
            w,
            "BUG: stack guard page was hit at {:#x} (stack is {:#x}..{:#x}, {})",
            frame.rsp,
            area.start,
            area.end(),
            area.caller
        );
        let _ = writeln!(w, "kernel stack overflow (double-fault): 0000 [#1]");
    } else if overflow {
        STACK_OVERFLOWS.fetch_add(1, Ordering::Relaxed);
        let _ = writeln!(
            w,
            "BUG: kernel stack overflow: stack pointer {:#x} is in a guard page (double fault on IST stack)",
            frame.rsp
        );
    } else {
        let _ = writeln!(w, "traps: double fault, error_code {:#x}", frame.error_code);
    }
    let _ = frame.dump(&mut w);
    let _ = writeln!(w, " [<{:016x}>] (faulting instruction)", frame.rip);
    recover::recover(crate::panic::RECOVERED_FROM_TRAP);
    panic!("double fault{}", if overflow { ": kernel stack overflow" } else { "" });
}
