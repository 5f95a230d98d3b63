//! Time keeping: the TSC as a clock, calibrated once against PIT channel 2.
//!
//! The log's timestamps and `clock_gettime(CLOCK_MONOTONIC)` both read the
//! TSC. Before calibration the clock reads zero.

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::instructions::port::Port;

/// PIT input clock, Hz.
const PIT_HZ: u64 = 1_193_182;
/// Calibration window.
const CALIBRATE_MS: u64 = 10;

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
static TSC_AT_BOOT: AtomicU64 = AtomicU64::new(0);

/// Read the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects; CR4.TSD is never set by this kernel.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Measure the TSC frequency with a one-shot count on PIT channel 2 (the
/// speaker channel, whose output can be polled on port 0x61 bit 5).
pub fn calibrate() -> u64 {
    let mut gate: Port<u8> = Port::new(0x61);
    let mut command: Port<u8> = Port::new(0x43);
    let mut channel2: Port<u8> = Port::new(0x42);
    let count = PIT_HZ * CALIBRATE_MS / 1000;

    // SAFETY: ports 0x42/0x43/0x61 are the legacy PIT and system control
    // port, owned by this module; channel 2 only drives the PC speaker,
    // which stays disabled (bit 1 cleared).
    let (start, end) = unsafe {
        let old = gate.read();
        gate.write((old & !0x02) | 0x01);
        // Channel 2, lobyte/hibyte, mode 0 (interrupt on terminal count).
        command.write(0b1011_0000);
        channel2.write((count & 0xff) as u8);
        channel2.write((count >> 8) as u8);
        let start = rdtsc();
        while gate.read() & 0x20 == 0 {
            core::hint::spin_loop();
        }
        let end = rdtsc();
        gate.write(old);
        (start, end)
    };
    let hz = (end - start) * 1000 / CALIBRATE_MS;
    TSC_HZ.store(hz.max(1), Ordering::Release);
    if TSC_AT_BOOT.load(Ordering::Acquire) == 0 {
        TSC_AT_BOOT.store(start, Ordering::Release);
    }
    hz
}

/// Record the TSC value that counts as time zero (the kernel's entry).
pub fn mark_boot() {
    TSC_AT_BOOT.store(rdtsc(), Ordering::Release);
}

/// TSC frequency in Hz, or 0 before calibration.
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Acquire)
}

/// Nanoseconds since `mark_boot`, or 0 before calibration.
pub fn uptime_ns() -> u64 {
    let hz = tsc_hz();
    if hz == 0 {
        return 0;
    }
    let ticks = rdtsc().wrapping_sub(TSC_AT_BOOT.load(Ordering::Acquire));
    (ticks as u128 * 1_000_000_000 / hz as u128) as u64
}

/// Busy-wait for `us` microseconds (needs calibration).
pub fn udelay(us: u64) {
    let hz = tsc_hz();
    let end = rdtsc() + hz / 1_000_000 * us;
    while rdtsc() < end {
        core::hint::spin_loop();
    }
}
