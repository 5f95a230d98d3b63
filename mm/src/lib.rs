//! Memory management, written to be read and tested on the host.
//!
//! Nothing here touches hardware: physical memory is reached through the
//! [`phys::PhysMem`] window and TLBs are flushed through a trait, so the host
//! tests run every algorithm over a `Vec<u8>` standing in for RAM.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod e820;
