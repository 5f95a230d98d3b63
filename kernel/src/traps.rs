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

use arch::trap::{self, TrapFrame, exception_name};
use arch::{backtrace, recover};

/// Value a recovered `catch` returns after a fatal trap (panics use 1).
pub const RECOVERED_FROM_TRAP: u64 = 2;

/// Breakpoints taken (tests read this).
pub static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);
/// Kernel stack overflows detected.
pub static STACK_OVERFLOWS: AtomicU64 = AtomicU64::new(0);

/// Register the kernel's exception policy.
pub fn install() {
    trap::set_default_exception_handler(exception);
    trap::set_handler(3, breakpoint);
    trap::set_handler(8, double_fault);
    trap::set_handler(2, nmi);
    trap::set_handler(14, crate::fault::page_fault);
    trap::set_handler(18, machine_check);
    trap::set_handler(arch::apic::TIMER_VECTOR, crate::proc::sched::timer_tick);
    trap::set_handler(arch::apic::SPURIOUS_VECTOR, |_| {});
    // A spurious IRQ7 / IRQ15 from the (masked) legacy PICs.
    trap::set_handler(arch::pic::PIC1_VECTOR_BASE + 7, |_| {});
    trap::set_handler(arch::pic::PIC2_VECTOR_BASE + 7, |_| {});
}

/// An exception nobody else handles: from user mode it becomes the
/// signal Linux would send; in the kernel it is an oops.
fn exception(frame: &mut TrapFrame) {
    if frame.is_user() {
        let sig = crate::proc::signal::for_exception(frame.vector).unwrap_or(abi::signal::SIGSEGV);
        crate::proc::signal::fatal_fault(frame, sig, 0);
    }
    oops(frame);
}

fn breakpoint(frame: &mut TrapFrame) {
    if frame.is_user() {
        crate::proc::signal::fatal_fault(frame, abi::signal::SIGTRAP, 0);
    }
    BREAKPOINTS.fetch_add(1, Ordering::Relaxed);
    log::info!("traps: int3 at {:#x}, resuming", frame.rip.wrapping_sub(1));
}

/// NMIs taken (tests read this).
pub static NMIS: AtomicU64 = AtomicU64::new(0);

/// Vector 2. Nothing here raises NMIs on purpose (no watchdog, no perf),
/// so every one is "unknown" as Linux would say; report it (rate-limited)
/// and carry on: whatever ran, user process or kernel, continues. An NMI
/// that interrupted a log line does not log (it would wait on itself).
fn nmi(frame: &mut TrapFrame) {
    NMIS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: port 0x61 (NMI status and control) is readable on every PC.
    let reason: u8 = unsafe { x86_64::instructions::port::Port::new(0x61).read() };
    if !arch::logger::busy() {
        crate::ratelimited!(
            log::Level::Error,
            "Uhhuh. NMI received for unknown reason {:02x} on CPU 0 (ip {:#x}).",
            reason,
            frame.rip
        );
        crate::ratelimited!(log::Level::Error, "Dazed and confused, but trying to continue");
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
    recover::recover(RECOVERED_FROM_TRAP);
    panic!("machine check: hardware error (MCE) at {:#x}", frame.rip);
}

/// Describe a page-fault error code (Intel SDM Vol. 3A, 4.7).
pub fn describe_pf_error(code: u64) -> (&'static str, &'static str, &'static str, &'static str) {
    let who = if code & 4 != 0 { "user" } else { "supervisor" };
    let access = if code & 16 != 0 {
        "instruction fetch"
    } else if code & 2 != 0 {
        "write access"
    } else {
        "read access"
    };
    let mode = if code & 4 != 0 { "user" } else { "kernel" };
    let cause = if code & 1 != 0 {
        if code & 8 != 0 { "reserved bit violation" } else { "permissions violation" }
    } else {
        "not-present page"
    };
    (who, access, mode, cause)
}

/// Report a fatal kernel exception, then recover into an active test
/// `catch` or panic.
pub fn oops(frame: &mut TrapFrame) {
    crate::panic::quiesce_consoles();
    let mut w = arch::logger::ConsoleWriter;
    if frame.vector == 14 {
        let cr2 = x86_64::registers::control::Cr2::read_raw();
        let (who, access, mode, cause) = describe_pf_error(frame.error_code);
        let _ = writeln!(w, "BUG: unable to handle page fault for address: {cr2:016x}");
        let _ = writeln!(w, "#PF: {who} {access} in {mode} mode");
        let _ = writeln!(w, "#PF: error_code({:#06x}) - {cause}", frame.error_code);
    } else {
        let _ = writeln!(
            w,
            "traps: {} (vector {}) in kernel mode, error_code {:#x}",
            exception_name(frame.vector),
            frame.vector,
            frame.error_code
        );
    }
    let _ = writeln!(w, "Oops: {:04x} [#1]", frame.error_code);
    let _ = frame.dump(&mut w);
    let _ = writeln!(w, " [<{:016x}>] (faulting instruction)", frame.rip);
    let _ = backtrace::print_from(&mut w, frame.rbp);
    recover::recover(RECOVERED_FROM_TRAP);
    panic!("fatal exception {} ({}) at {:#x}", frame.vector, exception_name(frame.vector), frame.rip);
}

/// Whether `rsp` lies in the guard page below a known stack.
fn in_guard_page(rsp: u64, stack_bottom: u64) -> bool {
    // The bootloader counts its unmapped guard page as part of the stack, so
    // the page just above `stack_bottom` is a guard page too.
    stack_bottom != 0 && rsp < stack_bottom + 4096 && rsp >= stack_bottom.saturating_sub(2 * 4096)
}

static BOOT_STACK_BOTTOM: AtomicU64 = AtomicU64::new(0);
static TASK_STACK_BOTTOM: AtomicU64 = AtomicU64::new(0);

/// Record the lowest address of the boot stack (for overflow detection).
pub fn set_boot_stack_bottom(bottom: u64) {
    BOOT_STACK_BOTTOM.store(bottom, Ordering::Relaxed);
}

/// Record the lowest address of the current task's kernel stack.
pub fn set_task_stack_bottom(bottom: u64) {
    TASK_STACK_BOTTOM.store(bottom, Ordering::Relaxed);
}

fn double_fault(frame: &mut TrapFrame) {
    crate::panic::quiesce_consoles();
    let mut w = arch::logger::ConsoleWriter;
    let vmalloc_stack = crate::mem::try_page_alloc().and_then(|_| crate::mem::kvm::vmalloc_area().guard_hit(frame.rsp));
    let overflow = vmalloc_stack.is_some()
        || [&BOOT_STACK_BOTTOM, &TASK_STACK_BOTTOM].iter().any(|b| in_guard_page(frame.rsp, b.load(Ordering::Relaxed)));
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
    recover::recover(RECOVERED_FROM_TRAP);
    panic!("double fault{}", if overflow { ": kernel stack overflow" } else { "" });
}
