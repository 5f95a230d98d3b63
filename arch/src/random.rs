//! Random numbers for the kernel: RDRAND where the CPU has it (CPUID.1:ECX
//! bit 30, Intel SDM Vol. 1, 7.3.17), otherwise a mix of the time-stamp
//! counter into a per-boot state (cf. drivers/char/random.c's use of
//! `rdrand_long` only after `boot_cpu_has(X86_FEATURE_RDRAND)`).
//!
//! A CPU without RDRAND (anything older than Ivy Bridge, QEMU's `qemu64`)
//! raises #UD on the instruction, so it is executed only after CPUID said
//! it exists. The fallback is not cryptographic: it is what AT_RANDOM and
//! getrandom(2) get on such CPUs until the kernel has an entropy pool.

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// 0: not probed yet, 1: no RDRAND, 2: RDRAND.
static HAS_RDRAND: AtomicU8 = AtomicU8::new(0);
/// The fallback's state (splitmix64 over TSC readings).
static STATE: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);

/// Whether the CPU has RDRAND (read from CPUID once).
pub fn has_rdrand() -> bool {
    match HAS_RDRAND.load(Ordering::Relaxed) {
        0 => {
            // CPUID leaf 1 exists on every x86_64 CPU and has no side effects.
            let ecx = core::arch::x86_64::__cpuid(1).ecx;
            let has = ecx & (1 << 30) != 0;
            HAS_RDRAND.store(if has { 2 } else { 1 }, Ordering::Relaxed);
            has
        }
        v => v == 2,
    }
}

fn rdrand() -> Option<u64> {
    if !has_rdrand() {
        return None;
    }
    // RDRAND may fail transiently (CF=0); Intel suggests 10 retries.
    for _ in 0..10 {
        let mut v = 0u64;
        // SAFETY: CPUID said RDRAND exists; the intrinsic writes only `v`.
        if unsafe { core::arch::x86_64::_rdrand64_step(&mut v) } == 1 {
            return Some(v);
        }
    }
    None
}

fn fallback() -> u64 {
    let t = crate::time::rdtsc();
    let mut z = STATE.fetch_add(t | 1, Ordering::Relaxed).wrapping_add(t);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A random 64-bit value.
pub fn random_u64() -> u64 {
    rdrand().unwrap_or_else(fallback)
}

/// Fill `out` with random bytes.
pub fn fill(out: &mut [u8]) {
    for chunk in out.chunks_mut(8) {
        chunk.copy_from_slice(&random_u64().to_le_bytes()[..chunk.len()]);
    }
}
