//! The kernel proper, as a library: the `kernel` binary and every test
//! kernel in `tests/` link it and call [`init`].

#![no_std]
#![feature(alloc_error_handler)]

extern crate alloc;

pub mod cmdline;
pub mod fault;
pub mod init;
pub mod initrd;
pub mod input;
pub mod ktest;
pub mod layout;
pub mod mem;
pub mod mempic;
pub mod panic;
pub mod proc;
pub mod ratelimit;
pub mod syscall;
pub mod sysctl;
pub mod traps;
pub mod usercopy;
pub mod vfs;

pub use init::{BOOT_CONFIG, init};

/// The idle task's loop: run whatever is runnable, halt otherwise.
pub fn idle() -> ! {
    loop {
        proc::sched::schedule();
        x86_64::instructions::interrupts::enable_and_hlt();
    }
}
