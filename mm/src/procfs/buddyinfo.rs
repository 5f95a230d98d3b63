//! /proc/buddyinfo: free blocks per order, per zone (mm/vmstat.c,
//! `frag_show_print`):
//!
//! ```text
//! Node 0, zone      DMA      1      1      1      0      2      1      1      0      1      1      3
//! ```

use core::fmt;

use crate::phys::buddy::NR_ORDERS;
use crate::phys::page_alloc::PageAllocator;

pub fn render(pa: &PageAllocator, w: &mut dyn fmt::Write) -> fmt::Result {
    for z in pa.zones().filter(|z| z.present > 0) {
        let counts: [u64; NR_ORDERS] = {
            let a = z.free.lock();
            core::array::from_fn(|o| a.nr_free(o))
        };
        write!(w, "Node {}, zone {:>8} ", z.node, z.name())?;
        for c in counts {
            write!(w, "{c:>6} ")?;
        }
        writeln!(w)?;
    }
    Ok(())
}
