//! The kernel proper, as a library: the `kernel` binary and every test
//! kernel in `tests/` link it and call [`init`].

#![no_std]

extern crate alloc;

pub mod cmdline;
pub mod init;
pub mod initrd;
pub mod ktest;
pub mod layout;
pub mod mem;
pub mod panic;
pub mod traps;

pub use init::{init, BOOT_CONFIG};

/// Idle forever with interrupts enabled.
pub fn idle() -> ! {
    loop {
        x86_64::instructions::interrupts::enable_and_hlt();
    }
}
