//! The I/O APIC: routes device interrupt lines (GSIs) to vectors on a
//! local APIC (cf. Linux's arch/x86/kernel/apic/io_apic.c, one chip, ISA
//! lines only).
//!
//! Two registers in an uncached MMIO page: IOREGSEL at +0x00 selects a
//! 32-bit register, IOWIN at +0x10 reads or writes it. Register 0x01 holds
//! the number of redirection entries; entry N is the 64-bit pair at
//! 0x10 + 2N (low word: vector, delivery, polarity, trigger, mask; high
//! word: destination APIC id in bits 56..63).
//!
//! ISA IRQ n is GSI n unless the MADT has an interrupt source override
//! (QEMU and most PCs move IRQ0 to GSI 2); ISA lines are edge triggered
//! and active high unless the override says otherwise.

use core::sync::atomic::{AtomicU64, Ordering};

const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
const REG_VERSION: u32 = 0x01;
const REG_REDTBL: u32 = 0x10;

const RTE_MASKED: u32 = 1 << 16;
const RTE_LEVEL: u32 = 1 << 15;
const RTE_ACTIVE_LOW: u32 = 1 << 13;

/// The usual address when the MADT names none.
pub const DEFAULT_PHYS_BASE: u64 = 0xfec0_0000;

/// First vector for ISA interrupts: IRQ n arrives on `ISA_VECTOR_BASE + n`
/// (above the timer at 0x30, below the spurious vector).
pub const ISA_VECTOR_BASE: u8 = 0x40;

static BASE: AtomicU64 = AtomicU64::new(0);

fn read(reg: u32) -> u32 {
    let base = BASE.load(Ordering::Acquire);
    // SAFETY: `base` maps the I/O APIC's register page uncached (set by
    // `init`); IOREGSEL and IOWIN are aligned 32-bit registers. Callers run
    // with interrupts off or before they are enabled, so the select/access
    // pair is not interleaved on this CPU.
    unsafe {
        ((base + IOREGSEL) as *mut u32).write_volatile(reg);
        ((base + IOWIN) as *const u32).read_volatile()
    }
}

fn write(reg: u32, v: u32) {
    let base = BASE.load(Ordering::Acquire);
    // SAFETY: as in `read`.
    unsafe {
        ((base + IOREGSEL) as *mut u32).write_volatile(reg);
        ((base + IOWIN) as *mut u32).write_volatile(v);
    }
}

/// Take the I/O APIC mapped at `virt` (uncached) and mask every entry.
/// Returns the number of redirection entries.
pub fn init(virt: u64) -> u32 {
    BASE.store(virt, Ordering::Release);
    let entries = ((read(REG_VERSION) >> 16) & 0xff) + 1;
    for i in 0..entries {
        write(REG_REDTBL + 2 * i, RTE_MASKED);
        write(REG_REDTBL + 2 * i + 1, 0);
    }
    entries
}

/// Polarity and trigger mode of a line, from the MPS INTI flags of a MADT
/// interrupt source override (bits 0..1 polarity, 2..3 trigger; 0 means
/// "as the bus says", which for ISA is active high, edge).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineMode {
    pub active_low: bool,
    pub level: bool,
}

impl LineMode {
    pub const ISA: LineMode = LineMode { active_low: false, level: false };

    pub fn from_mps_flags(flags: u16) -> LineMode {
        LineMode { active_low: flags & 0b11 == 0b11, level: (flags >> 2) & 0b11 == 0b11 }
    }
}

/// Route input `pin` (GSI minus the chip's GSI base) to `vector` on the
/// local APIC `dest_apic_id` (physical mode, fixed delivery) and unmask it.
pub fn route(pin: u32, vector: u8, dest_apic_id: u32, mode: LineMode) {
    let mut low = vector as u32;
    if mode.active_low {
        low |= RTE_ACTIVE_LOW;
    }
    if mode.level {
        low |= RTE_LEVEL;
    }
    write(REG_REDTBL + 2 * pin + 1, (dest_apic_id & 0xff) << 24);
    write(REG_REDTBL + 2 * pin, low);
}

/// Mask input `pin`.
pub fn mask(pin: u32) {
    write(REG_REDTBL + 2 * pin, RTE_MASKED);
}
