//! The panic handler: Linux's "Kernel panic - not syncing" with location
//! and a frame-pointer backtrace, then recovery into an active test
//! `catch`, an exit from QEMU for test kernels, or a halt. And the oops:
//! a fatal kernel exception reported in Linux's layout before the same
//! recovery or panic.

use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use arch::trap::{TrapFrame, exception_name};
use arch::{backtrace, fbcon, logger, recover};

/// Value a recovered `catch` returns after a panic.
pub const RECOVERED_FROM_PANIC: u64 = 1;
/// Value a recovered `catch` returns after a fatal trap (an oops).
pub const RECOVERED_FROM_TRAP: u64 = 2;

static EXIT_QEMU_ON_PANIC: AtomicBool = AtomicBool::new(false);
static IN_PANIC: AtomicBool = AtomicBool::new(false);

/// Make an unrecoverable panic leave QEMU with the failure code (test
/// kernels and `panic=exit` set this).
pub fn set_exit_on_panic(on: bool) {
    EXIT_QEMU_ON_PANIC.store(on, Ordering::Relaxed);
}

/// Make sure the consoles can be written from a fatal path, whatever lock
/// the interrupted code held.
pub fn quiesce_consoles() {
    x86_64::instructions::interrupts::disable();
    logger::force_unlock();
    fbcon::force_unlock();
}

/// Text of the last panic message (the test harness prints it as the reason).
pub static LAST_MESSAGE: spin::Mutex<FixedString> = spin::Mutex::new(FixedString::new());

/// The panic message buffer, usable without the heap.
pub type FixedString = arch::fixed_str::FixedStr<200>;

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    quiesce_consoles();
    let mut w = logger::ConsoleWriter;
    if IN_PANIC.swap(true, Ordering::SeqCst) {
        let _ = writeln!(w, "\nKernel panic while panicking: {}", info.message());
        arch::qemu::exit(arch::qemu::ExitCode::Failed);
    }
    // Held only if the panic came from inside a write to it (the only
    // CPU, interrupts off): then the message is not recorded.
    if let Some(mut last) = LAST_MESSAGE.try_lock() {
        last.clear();
        let _ = write!(last, "{}", info.message());
        if let Some(loc) = info.location() {
            let _ = write!(last, " at {}:{}", loc.file(), loc.line());
        }
    }
    let _ = writeln!(w, "Kernel panic - not syncing: {}", info.message());
    if let Some(loc) = info.location() {
        let _ = writeln!(w, "  at {}:{}:{}", loc.file(), loc.line(), loc.column());
    }
    let _ = backtrace::print_here(&mut w);
    if recover::is_active() {
        let _ = writeln!(w, "---[ end Kernel panic: recovered by the test harness ]---");
        IN_PANIC.store(false, Ordering::SeqCst);
        recover::recover(RECOVERED_FROM_PANIC);
    }
    let _ = writeln!(w, "---[ end Kernel panic - not syncing: {} ]---", info.message());
    if EXIT_QEMU_ON_PANIC.load(Ordering::Relaxed) {
        arch::qemu::exit(arch::qemu::ExitCode::Failed);
    }
    arch::halt_forever()
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
        let cr2 = arch::cpu::fault_address();
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
