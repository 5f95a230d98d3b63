//! The panic handler: Linux's "Kernel panic - not syncing" with location and
//! a frame-pointer backtrace, then recovery into an active test `catch`, an
//! exit from QEMU for test kernels, or a halt.

use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use arch::{backtrace, fbcon, logger, recover};

/// Value a recovered `catch` returns after a panic.
pub const RECOVERED_FROM_PANIC: u64 = 1;

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
    {
        if LAST_MESSAGE.is_locked() {
            // SAFETY: single CPU, interrupts off; the holder is the code
            // that panicked.
            unsafe { LAST_MESSAGE.force_unlock() };
        }
        let mut last = LAST_MESSAGE.lock();
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
