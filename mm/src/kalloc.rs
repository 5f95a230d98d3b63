//! Kernel allocators on top of the page allocator (cf. mm/slub.c,
//! mm/vmalloc.c):
//!
//! ```text
//! slab       object caches (SLUB-like: per-cache slabs, partial lists)
//! kmalloc    power-of-two caches for the kernel heap, large sizes as pages
//! vmalloc    virtually contiguous kernel memory, kernel stacks, guard pages
//! ```

pub mod kmalloc;
pub mod slab;
pub mod vmalloc;
