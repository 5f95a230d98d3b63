//! The Linux x86_64 user ABI, once: what the kernel, `mm` and the user
//! runtime (`user/rust/rt`) must agree on bit for bit.
//!
//! - [`errno`]: the [`Errno`] newtype with Linux's numbers and messages;
//! - [`nr`]: the system-call numbers (syscall_64.tbl);
//! - [`mman`]: PROT_*, MAP_*, MREMAP_*, MADV_*, MS_*, MLOCK_* and MCL_*;
//! - [`fcntl`]: O_*, AT_* path flags, SEEK_*;
//! - [`stat`]: `struct stat` and the S_IF* file types;
//! - [`termios`]: `struct termios`, its flags and control characters;
//! - [`signal`], [`wait`], [`sched`], [`resource`], [`time`], [`prctl`],
//!   [`auxv`]: signal numbers, wait options, clone flags, resource limits,
//!   clocks, arch_prctl codes and auxiliary-vector types;
//! - [`poll`]: poll, select and epoll events and structures, eventfd,
//!   timerfd and pidfd flags;
//! - [`ipc`]: System V shared memory's structures and constants;
//! - [`pod`]: [`Pod`], the plain-data types copied to and from user memory.
//!
//! No dependencies, no allocation, and no `unsafe` outside [`pod`]. The
//! numbers are Linux's, from the uapi headers named in each module; what a
//! value means is documented where it is used (the kernel and `mm`).

#![no_std]
#![deny(unsafe_code)]

pub mod auxv;
pub mod errno;
pub mod fcntl;
pub mod futex;
pub mod ipc;
pub mod mman;
pub mod nr;
#[allow(unsafe_code)]
pub mod pod;
pub mod poll;
pub mod prctl;
pub mod resource;
pub mod sched;
pub mod signal;
pub mod stat;
pub mod termios;
pub mod time;
pub mod wait;

pub use errno::Errno;
pub use pod::Pod;
pub use stat::Stat;
pub use termios::Termios;
