//! The memory cgroup view of the frame map (`echo cgroup > /proc/mempic`):
//! each cell shows the group that most of its frames are charged to, so a
//! group's memory can be seen where it lies.
//!
//! ```text
//! Memory cgroups map: 32768 frames, 16 KiB per cell, 64 cells per row
//! Legend: . free  - not charged (the kernel's, the root's)  space hole
//!   a /t_memcg.1/g        2048 pages
//!   b /t_memcg.1/kmem      130 pages
//! 0x0000000000 DMA    n0 ------.....aaaaaaaaaab-----............
//! ```
//!
//! A frame counts for the group recorded in its page descriptor (the head's
//! for a compound page); free frames and holes for nobody. The map is read
//! without locks: a snapshot that frames changing hands meanwhile may blur.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::addr::{PAGE_SHIFT, Pfn};
use crate::frame_map::{self, FrameClass, Layout};
use crate::memcg::{MemcgId, ROOT_MEMCG_ID};
use crate::phys::page::Memmap;
use crate::phys::page_alloc::PageAllocator;

/// Who holds most of a cell's frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellOwner {
    Hole,
    Free,
    /// In use, charged to no group below the root.
    Uncharged,
    Group(MemcgId),
}

/// The owner of frames `start .. start + n` by majority (ties: the first
/// seen), with the pages each group holds there added to `pages`.
pub fn cell_owner(mm: &Memmap, start: u64, n: u64, pages: &mut dyn FnMut(MemcgId)) -> CellOwner {
    // A cell has few owners: a handful of slots is enough.
    let mut tally: [(CellOwner, u64); 6] = [(CellOwner::Hole, 0); 6];
    for pfn in start..start + n {
        let owner = match frame_map::classify_pfn(mm, pfn) {
            FrameClass::Hole => CellOwner::Hole,
            FrameClass::Free(_) => CellOwner::Free,
            _ => match mm.page(Pfn(pfn)).and_then(|p| mm.compound_head(p).memcg()) {
                Some(id) if id != ROOT_MEMCG_ID => {
                    pages(id);
                    CellOwner::Group(id)
                }
                _ => CellOwner::Uncharged,
            },
        };
        match tally.iter_mut().find(|(o, c)| *c > 0 && *o == owner) {
            Some(t) => t.1 += 1,
            None => {
                if let Some(t) = tally.iter_mut().find(|(_, c)| *c == 0) {
                    *t = (owner, 1);
                }
            }
        }
    }
    tally.iter().fold((CellOwner::Hole, 0), |best, t| if t.1 > best.1 { *t } else { best }).0
}

/// The text map's character for an owner: groups by their index in
/// `groups` (a, b, ... z, then `+`).
fn owner_char(o: CellOwner, groups: &[(MemcgId, u64)]) -> char {
    match o {
        CellOwner::Hole => ' ',
        CellOwner::Free => '.',
        CellOwner::Uncharged => '-',
        CellOwner::Group(id) => match groups.iter().position(|g| g.0 == id) {
            Some(i) if i < 26 => (b'a' + i as u8) as char,
            _ => '+',
        },
    }
}

/// Render the group map of `pa`; `name` gives a group's path.
pub fn render(pa: &PageAllocator, name: &dyn Fn(MemcgId) -> Option<String>, w: &mut dyn fmt::Write) -> fmt::Result {
    let l = Layout::text_default(pa);
    let ppc = l.pages_per_cell.max(1);
    // First pass: the owners, and every group's pages (sorted by id).
    let mut groups: Vec<(MemcgId, u64)> = Vec::new();
    let mut rows: Vec<(u64, &'static str, u32, Vec<CellOwner>)> = Vec::new();
    let mut frames = 0;
    for z in frame_map::zones_by_address(pa) {
        frames += z.spanned;
        let mut at = z.start_pfn;
        while at < z.end_pfn() {
            let row_end = (at + ppc * l.cells_per_row).min(z.end_pfn());
            let mut cells = Vec::with_capacity(l.cells_per_row as usize);
            let mut cell = at;
            while cell < row_end {
                let n = ppc.min(row_end - cell);
                let mut count = |id: MemcgId| match groups.binary_search_by_key(&id, |g| g.0) {
                    Ok(i) => groups[i].1 += 1,
                    Err(i) => groups.insert(i, (id, 1)),
                };
                cells.push(cell_owner(&pa.memmap, cell, n, &mut count));
                cell += n;
            }
            rows.push((at, z.ty.name(), z.node, cells));
            at = row_end;
        }
    }
    writeln!(
        w,
        "Memory cgroups map: {} frames, {} KiB per cell, {} cells per row",
        frames,
        (ppc << PAGE_SHIFT) >> 10,
        l.cells_per_row
    )?;
    writeln!(w, "Legend: . free  - not charged (the kernel's, the root's)  space hole")?;
    for (i, &(id, pages)) in groups.iter().enumerate() {
        let c = owner_char(CellOwner::Group(id), &groups);
        let path = name(id).unwrap_or_else(|| alloc::format!("(removed, id {})", id));
        writeln!(w, "  {} {:<24} {:>8} pages{}", c, path, pages, if i >= 26 { " (shown as +)" } else { "" })?;
    }
    for (start, ty, node, cells) in &rows {
        write!(w, "{:#012x} {:<6} n{} ", start << PAGE_SHIFT, ty, node)?;
        for &o in cells {
            write!(w, "{}", owner_char(o, &groups))?;
        }
        writeln!(w)?;
    }
    Ok(())
}
