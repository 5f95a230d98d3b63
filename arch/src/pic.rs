//! The legacy 8259 PIC pair: remapped away from the exception vectors and
//! masked.
//!
//! After firmware hand-off the master PIC delivers IRQ0 (the PIT) on vector
//! 8, which would look like a double fault the moment interrupts are enabled.
//! The kernel uses the local APIC for its timer, so the PICs are moved to
//! vectors 0x20..0x2f (where a spurious IRQ7/IRQ15 is harmless) and every
//! line is masked.

use x86_64::instructions::port::Port;

/// Vector of master IRQ0 after remapping.
pub const PIC1_VECTOR_BASE: u8 = 0x20;
/// Vector of slave IRQ8 after remapping.
pub const PIC2_VECTOR_BASE: u8 = 0x28;

/// Remap both PICs and mask all of their lines (ICW1..ICW4, then OCW1).
pub fn remap_and_mask() {
    let mut cmd1: Port<u8> = Port::new(0x20);
    let mut data1: Port<u8> = Port::new(0x21);
    let mut cmd2: Port<u8> = Port::new(0xa0);
    let mut data2: Port<u8> = Port::new(0xa1);
    let mut delay: Port<u8> = Port::new(0x80);
    // SAFETY: the 8259 command/data ports; this is the standard
    // initialisation sequence, run with interrupts disabled.
    unsafe {
        let mut io_wait = || delay.write(0);
        cmd1.write(0x11); // ICW1: init, expect ICW4
        io_wait();
        cmd2.write(0x11);
        io_wait();
        data1.write(PIC1_VECTOR_BASE); // ICW2: vector base
        io_wait();
        data2.write(PIC2_VECTOR_BASE);
        io_wait();
        data1.write(4); // ICW3: slave on IRQ2
        io_wait();
        data2.write(2); // ICW3: cascade identity
        io_wait();
        data1.write(0x01); // ICW4: 8086 mode
        io_wait();
        data2.write(0x01);
        io_wait();
        data1.write(0xff); // OCW1: mask everything
        data2.write(0xff);
    }
}
