//! The wall clock: the RTC's time at boot plus the monotonic uptime
//! (CLOCK_REALTIME for clock_gettime, and file times for tmpfs).
//!
//! Set once at boot (`init`, from syscall setup) and read without a lock.

use core::sync::atomic::{AtomicU64, Ordering};

/// Wall-clock seconds at boot (from the RTC).
static BOOT_UNIX: AtomicU64 = AtomicU64::new(0);

/// Read the RTC.
pub fn init() {
    BOOT_UNIX.store(arch::rtc::read_unix_time(), Ordering::Relaxed);
}

/// Nanoseconds since the epoch.
pub fn realtime_ns() -> u64 {
    BOOT_UNIX.load(Ordering::Relaxed).saturating_mul(1_000_000_000).saturating_add(arch::time::uptime_ns())
}
