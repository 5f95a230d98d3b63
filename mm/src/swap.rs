//! Swap: the on-disk header in Linux's format (`header.rs`), the slot map
//! with its cluster allocator (`map.rs`), swap entries in page tables
//! (`entry.rs`), and the areas in use with the swap cache (`space.rs`).
//! The kernel reads and writes the disks; what is decided here is the
//! format, which slot holds what, and which page is where.

pub mod entry;
pub mod header;
pub mod map;
pub mod space;
