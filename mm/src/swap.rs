//! Swap areas: the on-disk header in Linux's format (`header.rs`) and the
//! slot map with its cluster allocator (`map.rs`). The kernel reads and
//! writes the disk and keeps the areas; what is decided here is the
//! format and which slot holds what.

pub mod header;
pub mod map;
