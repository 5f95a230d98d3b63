//! Memory management, written to be read and tested on the host.
//!
//! Nothing here touches hardware: physical memory is reached through the
//! [`phys::PhysMem`] window and TLBs are flushed through a trait, so the host
//! tests run every algorithm over a `Vec<u8>` standing in for RAM.
//!
//! The layers, bottom up, each a folder (each file says what it owns):
//!
//! ```text
//! phys/    physical memory: e820 memblock numa page zone buddy gfp
//!          page_alloc vmstat (and phys.rs, the seam to the machine)
//! kalloc/  kernel allocators: slab kmalloc vmalloc
//! vm/      address spaces: page_table tlb vma address_space, the memory
//!          system calls (mmap munmap brk mremap mprotect madvise mlock
//!          mincore), fault fork file overcommit
//! memcg.rs the charge tree of memory cgroups (limits, events, statistics)
//! shrinker.rs the registry reclaim walks (page cache, lazy-free, slabs)
//! swap/   swap areas: the on-disk header, the slot map and its clusters
//! procfs/  the /proc renderers; frame_map, the picture of physical memory
//! ```

#![cfg_attr(not(any(test, feature = "sim")), no_std)]

extern crate alloc;

// Basics used by every layer.
pub mod addr;
pub mod error;
pub mod percpu;
pub mod ratelimit;
pub mod sync;

// The layers, in data-path order.
pub mod kalloc;
pub mod phys;
pub mod vm;

// Giving memory back: the caches that reclaim may shrink.
pub mod memcg;
pub mod shrinker;
pub mod swap;

// Views: the /proc and /sys renderers and the picture of physical memory.
pub mod frame_map;
pub mod procfs;

#[cfg(any(test, feature = "sim"))]
pub mod testing;
