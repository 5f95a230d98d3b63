//! Memory management, written to be read and tested on the host.
//!
//! Nothing here touches hardware: physical memory is reached through the
//! [`phys::PhysMem`] window and TLBs are flushed through a trait, so the host
//! tests run every algorithm over a `Vec<u8>` standing in for RAM.
//!
//! The layers, bottom up (each file says what it owns):
//!
//! ```text
//! e820       firmware memory map
//! memblock   boot-time allocator: memory and reserved region arrays
//! numa       nodes, their memory ranges and SLIT distances
//! page       page descriptors (struct page) in per-section arrays
//! zone       zones per node, spans, watermarks, counters
//! buddy      per-zone free lists by order and migrate type
//! page_alloc zonelists, GFP flags, the allocation entry points, hand-off
//! slab       object caches; kmalloc on top; vmalloc for the kernel
//! page_table 4-level tables: map, unmap, protect, split huge pages
//! vma        areas of an address space; address_space (mm_struct)
//! mmap munmap brk fault fork ...   one file per memory operation
//! ```

#![cfg_attr(not(any(test, feature = "sim")), no_std)]

extern crate alloc;

pub mod addr;
pub mod address_space;
pub mod brk;
pub mod buddy;
pub mod e820;
pub mod error;
pub mod fault;
pub mod file;
pub mod fork;
pub mod frame_map;
pub mod gfp;
pub mod kmalloc;
pub mod madvise;
pub mod memblock;
pub mod mincore;
pub mod mlock;
pub mod mmap;
pub mod mprotect;
pub mod mremap;
pub mod munmap;
pub mod numa;
pub mod overcommit;
pub mod page;
pub mod page_alloc;
pub mod page_table;
pub mod phys;
pub mod procfs;
pub mod ratelimit;
pub mod slab;
pub mod sync;
pub mod tlb;
pub mod vma;
pub mod vmalloc;
pub mod vmstat;
pub mod zone;

#[cfg(any(test, feature = "sim"))]
pub mod testing;
