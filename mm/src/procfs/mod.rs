//! Text renderers for the /proc views, in Linux's exact formats (and
//! /proc/mempic, this kernel's picture of physical memory), one file per
//! view; the data they read stays with its owner (`phys/`, `kalloc/`, `vm/`,
//! `frame_map`).
//!
//! Each renderer writes the whole file into a `fmt::Write`, from live
//! allocator state; the kernel serves them as /proc files and prints them at
//! boot. Format strings follow Linux's mm/vmstat.c, mm/slub.c, fs/proc/.

pub mod buddyinfo;
pub mod lru;
pub mod meminfo;
pub mod mempic;
pub mod mempic_groups;
pub mod numa_maps;
pub mod pagemap;
pub mod pagetypeinfo;
pub mod pid;
pub mod slabinfo;
pub mod vmallocinfo;
pub mod vmstat;
pub mod zoneinfo;
