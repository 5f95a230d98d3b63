//! /proc/vmallocinfo (mm/vmalloc.c, `vmalloc_info_show`): one line per
//! area, its range and size including the guard page as Linux prints, who
//! asked for it, and for vmalloc'd areas the pages and their nodes:
//!
//! ```text
//! 0xffffc90000000000-0xffffc90000009000   36864 fork pages=8 vmalloc N0=8
//! ```

use core::fmt;

use crate::addr::Pfn;
use crate::kalloc::vmalloc::{GUARD, Vmalloc};
use crate::phys::numa::MAX_NUMNODES;
use crate::phys::page_alloc::PageAllocator;

pub fn render(vmalloc: &Vmalloc, pa: &PageAllocator, w: &mut dyn fmt::Write) -> fmt::Result {
    for a in vmalloc.areas() {
        let size = a.size + GUARD;
        write!(w, "0x{:016x}-0x{:016x} {:>7} {}", a.start, a.start + size, size, a.caller)?;
        if a.kind.owns_pages() {
            write!(w, " pages={}", a.frames.len())?;
        }
        if let Some(p) = a.phys {
            write!(w, " phys=0x{p:016x}")?;
        }
        write!(w, " {}", a.kind.name())?;
        if a.kind.owns_pages() {
            let mut per_node = [0u64; MAX_NUMNODES];
            for &f in &a.frames {
                if let Some(p) = pa.page(Pfn::from_phys(f)) {
                    per_node[(p.node() as usize).min(MAX_NUMNODES - 1)] += 1;
                }
            }
            for (n, c) in per_node.iter().enumerate().filter(|(_, c)| **c > 0) {
                write!(w, " N{n}={c}")?;
            }
        }
        writeln!(w)?;
    }
    Ok(())
}
