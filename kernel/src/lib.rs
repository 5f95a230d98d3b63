//! The kernel proper, as a library: the `kernel` binary and every test
//! kernel in `tests/` link it and call [`init`].
//!
//! The modules form layers. Read bottom up, each line a layer; a module
//! may use (`crate::...`) only the modules listed before it: earlier on
//! its own line or on a line above. `make layers` (part of `make test`)
//! checks this with `scripts/check-layers.sh`, which reads this block.
//!
//! ```text
//! layers:
//!   leaf      layout ratelimit panic initrd cmdline sysctl
//!   mem       mem usercopy
//!   platform  platform mempic file
//!   proc      proc
//!   block     block
//!   ipc       ipc
//!   vfs       vfs
//!   entry     nmi_report fault traps syscall ktest
//!   init      init
//! ```
//!
//! Below them all are the crates: `abi` (errno values, `Stat`, `Termios`,
//! `Pod`, flag values, syscall numbers), `mm` (the memory-management
//! algorithms), `arch` (every instruction that touches the hardware),
//! `formats` (cpio, ELF, the command line) and `tty` (the console's line
//! discipline).
//!
//! - leaf: the virtual-memory layout, rate limiting, the
//!   panic and oops reports, the boot ramdisk, the command line, sysctls.
//! - mem: the memory-management state built from `mm` at boot (physical
//!   memory, kernel page tables, heap, slab, user address spaces), the
//!   shrinker registry reclaim walks, and checked copies to and from user
//!   memory.
//! - platform: ACPI facts and input devices, the memory picture on the
//!   framebuffer, and the file object model (inodes, open files,
//!   descriptor tables) that processes hold.
//! - proc: tasks, the scheduler, fork, exec, exit, signals, the OOM killer.
//! - block: disks (the block layer's requests and the virtio-blk
//!   driver), below the /dev files that read and write them.
//! - ipc: System V IPC objects (shared memory segments).
//! - vfs: the file systems (initrd, /dev, /proc, pipes, the console and its
//!   tty) and the namespace.
//! - entry: what the CPU enters the kernel through (page faults, other
//!   traps and the timer's fan-out, system calls), the report an NMI
//!   prints (every CPU's backtrace, every task's state) and the test
//!   harness.
//! - init: the boot sequence that builds it all in this order.
//!
//! Upward calls go through registries filled by the upper layer: reclaim
//! calls `mem::shrinkers()`, input calls the console's sink, the timer
//! interrupt is dispatched by `traps`.

#![no_std]
#![feature(alloc_error_handler)]
// Hardware access lives in `arch`; here only the modules that say so at
// their top may use `unsafe` (each block with its SAFETY comment): `mem`
// (the heap, the kernel's page tables and memory the bootloader left),
// `usercopy` (the one path to user memory), `proc::sched` (the
// context switch), `platform::smp` (the AP trampoline in low memory and
// an AP's first switch to the kernel's page tables), `platform::pci`'s
// device-register accessors and `block::virtio` (rings shared with a
// device).
#![deny(unsafe_code)]

extern crate alloc;

pub mod block;
pub mod cmdline;
pub mod fault;
pub mod file;
pub mod init;
pub mod initrd;
pub mod ipc;
pub mod ktest;
pub mod layout;
pub mod mem;
pub mod mempic;
pub mod nmi_report;
pub mod panic;
pub mod platform;
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
