//! Parsers for the byte formats the kernel reads from outside: the initrd's
//! cpio archive, ELF executables, and the command line.
//!
//! Each parser takes a byte slice, never panics on malformed input, and
//! returns a typed error saying what was wrong, so bad input is refused
//! clearly and the kernel keeps running. All of it runs under `cargo test`
//! on the host.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod cmdline;
pub mod cpio;
pub mod elf;
