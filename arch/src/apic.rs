//! The local APIC: the timer that drives preemption, and end-of-interrupt.
//!
//! The APIC's registers are memory mapped at the address in the
//! IA32_APIC_BASE MSR; the kernel maps them uncached and hands the pointer
//! here. The timer is calibrated against the TSC (itself calibrated against
//! the PIT) and then runs periodically at `hz`.

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::registers::model_specific::Msr;

const IA32_APIC_BASE: u32 = 0x1b;
const REG_ID: u64 = 0x20;
const REG_EOI: u64 = 0xb0;
const REG_SVR: u64 = 0xf0;
const REG_ICR_LOW: u64 = 0x300;
const REG_ICR_HIGH: u64 = 0x310;
const ICR_DELIVERY_PENDING: u32 = 1 << 12;
const ICR_LEVEL_ASSERT: u32 = 1 << 14;
const ICR_INIT: u32 = 0b101 << 8;
const ICR_STARTUP: u32 = 0b110 << 8;
const ICR_NMI: u32 = 0b100 << 8;
const REG_LVT_TIMER: u64 = 0x320;
const REG_TIMER_INIT: u64 = 0x380;
const REG_TIMER_CUR: u64 = 0x390;
const REG_TIMER_DIV: u64 = 0x3e0;
const TIMER_PERIODIC: u32 = 1 << 17;
const LVT_MASKED: u32 = 1 << 16;

/// Vector of the timer interrupt.
pub const TIMER_VECTOR: u8 = 0x30;
/// Vector of spurious APIC interrupts.
pub const SPURIOUS_VECTOR: u8 = 0xff;

static BASE: AtomicU64 = AtomicU64::new(0);
static TICKS_PER_SEC: AtomicU64 = AtomicU64::new(0);

/// Physical address of the local APIC's registers.
pub fn phys_base() -> u64 {
    // SAFETY: reading IA32_APIC_BASE has no side effects.
    unsafe { Msr::new(IA32_APIC_BASE).read() & 0xf_ffff_f000 }
}

fn write(reg: u64, v: u32) {
    let base = BASE.load(Ordering::Acquire);
    // SAFETY: `base` maps the APIC register page (set by `init`); every
    // register is a 32-bit aligned word.
    unsafe { ((base + reg) as *mut u32).write_volatile(v) }
}

fn read(reg: u64) -> u32 {
    let base = BASE.load(Ordering::Acquire);
    // SAFETY: as in `write`.
    unsafe { ((base + reg) as *const u32).read_volatile() }
}

/// Enable the APIC whose registers the kernel mapped at `virt`, calibrate
/// its timer and start it at `hz` ticks per second. Returns the timer's
/// input frequency.
pub fn init(virt: u64, hz: u64) -> u64 {
    BASE.store(virt, Ordering::Release);
    // Software enable, spurious vector 0xff.
    write(REG_SVR, 0x100 | SPURIOUS_VECTOR as u32);
    write(REG_TIMER_DIV, 0b1011); // divide by 1
    write(REG_LVT_TIMER, LVT_MASKED | TIMER_VECTOR as u32);
    write(REG_TIMER_INIT, u32::MAX);
    crate::time::udelay(10_000);
    let elapsed = u32::MAX - read(REG_TIMER_CUR);
    write(REG_TIMER_INIT, 0);
    let per_sec = elapsed as u64 * 100;
    TICKS_PER_SEC.store(per_sec, Ordering::Release);
    write(REG_LVT_TIMER, TIMER_PERIODIC | TIMER_VECTOR as u32);
    write(REG_TIMER_INIT, (per_sec / hz).clamp(1, u32::MAX as u64) as u32);
    per_sec
}

/// Software-enable an application processor's local APIC (the register
/// page is the same physical address on every CPU, already mapped by the
/// boot CPU's `init`), timer masked until [`start_timer`].
pub fn init_ap() {
    write(REG_SVR, 0x100 | SPURIOUS_VECTOR as u32);
    write(REG_LVT_TIMER, LVT_MASKED | TIMER_VECTOR as u32);
    write(REG_EOI, 0);
}

/// Start this CPU's timer at `hz` ticks per second, with the boot CPU's
/// calibration (every local APIC timer runs off the same bus clock).
pub fn start_timer(hz: u64) {
    let per_sec = TICKS_PER_SEC.load(Ordering::Acquire);
    write(REG_TIMER_DIV, 0b1011);
    write(REG_LVT_TIMER, TIMER_PERIODIC | TIMER_VECTOR as u32);
    write(REG_TIMER_INIT, (per_sec / hz).clamp(1, u32::MAX as u64) as u32);
}

/// Write the interrupt command register: `low` to the CPU with APIC id
/// `dest`, then wait (bounded) for the APIC to accept it (nothing before
/// `init` mapped the registers). Interrupts are
/// off meanwhile so a handler on this CPU cannot interleave its own ICR
/// write between the two halves.
fn send(dest: u32, low: u32) {
    if BASE.load(Ordering::Acquire) == 0 {
        return;
    }
    x86_64::instructions::interrupts::without_interrupts(|| {
        write(REG_ICR_HIGH, dest << 24);
        write(REG_ICR_LOW, low);
        for _ in 0..1_000_000 {
            if read(REG_ICR_LOW) & ICR_DELIVERY_PENDING == 0 {
                break;
            }
            core::hint::spin_loop();
        }
    });
}

/// Send INIT (assert) to the CPU with APIC id `dest` (Intel SDM Vol. 3A,
/// 9.4.4.1: the start of INIT-SIPI-SIPI).
pub fn send_init(dest: u32) {
    send(dest, ICR_INIT | ICR_LEVEL_ASSERT);
}

/// Send a start-up IPI: `dest` starts in real mode at `page << 12`.
pub fn send_startup(dest: u32, page: u8) {
    send(dest, ICR_STARTUP | ICR_LEVEL_ASSERT | page as u32);
}

/// Send fixed interrupt `vector` to the CPU with APIC id `dest`.
pub fn send_ipi(dest: u32, vector: u8) {
    send(dest, ICR_LEVEL_ASSERT | vector as u32);
}

/// Send an NMI to the CPU with APIC id `dest`, from NMI context: the
/// destination half of the ICR is put back afterwards, so that a send the
/// NMI interrupted between its two writes still reaches its own target.
pub fn send_nmi(dest: u32) {
    if BASE.load(Ordering::Acquire) == 0 {
        return;
    }
    let high = read(REG_ICR_HIGH);
    send(dest, ICR_NMI | ICR_LEVEL_ASSERT);
    write(REG_ICR_HIGH, high);
}

/// This CPU's local APIC id (the destination the I/O APIC names); 0
/// before `init`.
pub fn id() -> u32 {
    if BASE.load(Ordering::Acquire) == 0 {
        return 0;
    }
    read(REG_ID) >> 24
}

/// Signal end of interrupt.
pub fn eoi() {
    if BASE.load(Ordering::Acquire) != 0 {
        write(REG_EOI, 0);
    }
}
