//! `boot`: the host side of the kernel.
//!
//! It builds BIOS and UEFI disk images with the `bootloader` crate, packs the
//! initrd, starts QEMU with the right devices, runs test kernels with a
//! timeout and turns isa-debug-exit codes into exit statuses, resolves
//! backtrace addresses to names, and writes images to USB sticks safely.
//! Everything that decides something is a plain function with host tests;
//! `cli` declares the command line; `main.rs` only parses it and calls in.

#![forbid(unsafe_code)]

pub mod cli;
pub mod cpio;
pub mod exit;
pub mod image;
pub mod ktest_output;
pub mod matrix;
pub mod picture;
pub mod qemu;
pub mod runner;
pub mod screendump;
pub mod symbolize;
pub mod usb;
