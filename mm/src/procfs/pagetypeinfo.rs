//! /proc/pagetypeinfo: free blocks per order and migrate type, and
//! pageblocks per migrate type (mm/vmstat.c, `pagetypeinfo_show`).
//!
//! ```text
//! Page block order: 9
//! Pages per block:  512
//!
//! Free pages count per migrate type at order       0      1 ...     10
//! Node    0, zone      DMA, type    Unmovable      0      0 ...      0
//! ...
//! Number of blocks type     Unmovable      Movable  Reclaimable
//! Node 0, zone      DMA            0            8            0
//! ```
//!
//! Only the three migrate types this kernel has are listed (Linux adds
//! HighAtomic, CMA and Isolate columns depending on its configuration).

use core::fmt;

use crate::phys::buddy::{MigrateType, NR_ORDERS, PAGEBLOCK_ORDER, PAGEBLOCK_PAGES};
use crate::phys::page_alloc::PageAllocator;

pub fn render(pa: &PageAllocator, w: &mut dyn fmt::Write) -> fmt::Result {
    writeln!(w, "Page block order: {PAGEBLOCK_ORDER}")?;
    writeln!(w, "Pages per block:  {PAGEBLOCK_PAGES}")?;
    writeln!(w)?;
    write!(w, "{:<43} ", "Free pages count per migrate type at order")?;
    for o in 0..NR_ORDERS {
        write!(w, "{o:>6} ")?;
    }
    writeln!(w)?;
    for z in pa.zones().filter(|z| z.present > 0) {
        let cells: [[u64; NR_ORDERS]; 3] = {
            let a = z.free.lock();
            MigrateType::ALL.map(|mt| core::array::from_fn(|o| a.nr_free_of(o, mt)))
        };
        for (mt, row) in MigrateType::ALL.iter().zip(cells) {
            write!(w, "Node {:>4}, zone {:>8}, type {:>12} ", z.node, z.name(), mt.name())?;
            for c in row {
                write!(w, "{c:>6} ")?;
            }
            writeln!(w)?;
        }
    }
    write!(w, "\n{:<23}", "Number of blocks type ")?;
    for mt in MigrateType::ALL {
        write!(w, "{:>12} ", mt.name())?;
    }
    writeln!(w)?;
    for z in pa.zones().filter(|z| z.present > 0) {
        write!(w, "Node {}, zone {:>8} ", z.node, z.name())?;
        for c in pa.pageblock_counts(z) {
            write!(w, "{c:>12} ")?;
        }
        writeln!(w)?;
    }
    Ok(())
}
