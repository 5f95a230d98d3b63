//! /proc/mempic: the frame map ([`crate::frame_map`]) as text. A header
//! with the geometry, the legend and the totals per zone, then one line per
//! row of cells, one character per cell (the class owning most of its
//! frames). Runs of rows that are all hole collapse into one line:
//!
//! ```text
//! Physical memory map: 32768 frames (128 MiB spanned), 16 KiB per cell, 64 cells per row
//! Legend: 0-9,a free block of that order  S slab  ...
//! Node 0, zone    DMA: free 3000 ... ; free blocks by order: 2 1 ...
//! Total: free 28000 slab 500 ...
//! 0x0000000000 DMA    n0 RRRRRRRR-------RRRRRRR00112233aaaaaaaaaaaa
//! ```

use core::fmt;

use crate::addr::PAGE_SHIFT;
use crate::frame_map::{ClassCounts, FrameClass, FrameMap, LEGEND, Layout, MapRow, OWNED_CLASSES};
use crate::phys::page_alloc::PageAllocator;

/// Build the map of `pa` with the text layout and render it.
pub fn render(pa: &PageAllocator, w: &mut dyn fmt::Write) -> fmt::Result {
    render_map(&FrameMap::build(pa, Layout::text_default(pa)), w)
}

/// Render a map already built.
pub fn render_map(map: &FrameMap, w: &mut dyn fmt::Write) -> fmt::Result {
    let l = map.layout;
    let total = map.totals();
    writeln!(
        w,
        "Physical memory map: {} frames ({} MiB spanned), {} per cell, {} cells per row",
        total.total(),
        (total.total() << PAGE_SHIFT) >> 20,
        Size(l.pages_per_cell << PAGE_SHIFT),
        l.cells_per_row
    )?;
    writeln!(w, "Legend: {LEGEND}")?;
    for z in &map.zones {
        write!(w, "Node {}, zone {:>6}: ", z.node, z.ty.name())?;
        write_summary(&z.counts, w)?;
        write!(w, "; free blocks by order:")?;
        for n in z.free_blocks {
            write!(w, " {n}")?;
        }
        writeln!(w)?;
    }
    write!(w, "Total: ")?;
    write_summary(&total, w)?;
    writeln!(w)?;
    let rows = &map.rows;
    let is_hole = |r: &MapRow| r.cells.iter().all(|&c| c == FrameClass::Hole);
    let mut i = 0;
    while i < rows.len() {
        let r = &rows[i];
        if is_hole(r) {
            let mut j = i;
            while j + 1 < rows.len() && is_hole(&rows[j + 1]) && rows[j + 1].ty == r.ty && rows[j + 1].node == r.node {
                j += 1;
            }
            if j > i {
                let last = &rows[j];
                let end = last.start_pfn + last.cells.len() as u64 * l.pages_per_cell;
                writeln!(
                    w,
                    "{:#012x} {:<6} n{} -- hole up to {:#012x} --",
                    r.start_pfn << PAGE_SHIFT,
                    r.ty.name(),
                    r.node,
                    end << PAGE_SHIFT
                )?;
                i = j + 1;
                continue;
            }
        }
        write!(w, "{:#012x} {:<6} n{} ", r.start_pfn << PAGE_SHIFT, r.ty.name(), r.node)?;
        for c in &r.cells {
            write!(w, "{}", c.ch())?;
        }
        writeln!(w)?;
        i += 1;
    }
    Ok(())
}

/// `free 1234 slab 56 ...`: free pages then every non-empty owned class.
fn write_summary(counts: &ClassCounts, w: &mut dyn fmt::Write) -> fmt::Result {
    write!(w, "free {}", counts.free())?;
    for c in OWNED_CLASSES {
        let n = counts.get(c);
        if n > 0 {
            write!(w, " {} {}", c.name(), n)?;
        }
    }
    Ok(())
}

/// A byte size printed as `4 KiB`, `2 MiB`.
struct Size(u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b >= 1 << 20 && b % (1 << 20) == 0 { write!(f, "{} MiB", b >> 20) } else { write!(f, "{} KiB", b >> 10) }
    }
}
