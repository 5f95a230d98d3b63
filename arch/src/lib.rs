//! The x86_64 machine layer.
//!
//! Everything that touches the hardware directly lives here: the serial port,
//! the framebuffer console, descriptor tables and trap entry, CPU feature
//! switches, timers and port I/O. The `kernel` crate builds policy on top and
//! the `mm` crate never sees any of it except through the traits it defines.

#![no_std]

extern crate alloc;

pub mod acpi;
pub mod apic;
pub mod backtrace;
pub mod context;
pub mod cpu;
pub mod cpuinfo;
pub mod fbcon;
pub mod firmware_map;
pub mod fixed_str;
pub mod fpu;
pub mod gdt;
pub mod idt;
pub mod ioapic;
pub mod ipi;
pub mod logger;
pub mod mm_hooks;
pub mod mmu;
pub mod pci;
pub mod percpu;
pub mod pic;
pub mod ps2;
pub mod qemu;
pub mod random;
pub use mm::ratelimit;
pub mod recover;
pub mod rtc;
pub mod serial;
pub mod smp;
pub mod syscall;
pub mod time;
pub mod trap;
pub mod usercopy;

/// Stop the CPU for good: interrupts off, then `hlt` forever.
pub fn halt_forever() -> ! {
    x86_64::instructions::interrupts::disable();
    loop {
        x86_64::instructions::hlt();
    }
}
