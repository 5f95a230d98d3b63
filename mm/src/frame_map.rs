//! A picture of physical memory: every page frame classified by who owns
//! it, read from the page descriptors (cf. Linux's tools/mm/page-types.c
//! and /proc/kpageflags, which answer the same question from user space).
//!
//! ```text
//!   descriptor flags                      class
//!   HOLE                                  hole          '-'
//!   RESERVED + KERNEL / MEMMAP / other    kernel image 'K', memmap 'M', reserved 'R'
//!   BUDDY head of order N, or a page      free block of order N   '0'..'9', 'a'
//!   inside such a block
//!   SLAB, LARGE_KMALLOC                   slab          'S'
//!   PAGETABLE                             page table    'P'
//!   KSTACK / VMALLOC                      kernel stack 'T', vmalloc 'V'
//!   SHMEM / FILE / ANON                   shmem 'H', page cache 'F', user anon 'U'
//!     ... and LRU + ACTIVE                  active page cache 'G', active anon 'A'
//!     ANON and UNEVICTABLE                  unevictable (mlocked) anon 'L'
//!   anything else handed out              other kernel allocation 'k'
//! ```
//!
//! A page inside a free block carries no flag of its own: only the block's
//! head has `BUDDY` and the order. Blocks are naturally aligned, so the
//! block holding `pfn`, if any, starts at `pfn` rounded down to `2^order`
//! for some order (Linux's `is_free_buddy_page` looks the same way). Tail
//! pages of a compound allocation take the class of their head.
//!
//! [`FrameMap::build`] scans every zone under its lock, in chunks of one
//! `MAX_ORDER` block so that no free block is ever cut in two and the zone
//! lock is never held long, and produces exact page counts per class, the
//! free-block histogram per order (which must equal /proc/buddyinfo) and
//! the cells of the map: one cell per `pages_per_cell` frames, showing the
//! class that owns most of its frames. `procfs::mempic` renders it as text
//! (the kernel serves that as /proc/mempic); the kernel's framebuffer
//! picture draws the same classes, where [`ScreenLayout`] (`screen.rs`)
//! places them.
//!
//! Reads race with allocations unless the caller stops them (the zone lock
//! only orders the free lists); a live picture simply redraws.

use alloc::vec::Vec;

use crate::addr::Pfn;
use crate::phys::buddy::{MAX_ORDER, NR_ORDERS};
use crate::phys::page::{Memmap, Page, PageFlags};
use crate::phys::page_alloc::PageAllocator;
use crate::phys::zone::{Zone, ZoneType};

mod screen;
pub use screen::{Screen, ScreenLayout, ZonePlace};

/// Who owns a page frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameClass {
    /// Part of a free buddy block of this order.
    Free(u8),
    Slab,
    PageTable,
    /// Anonymous, on the inactive list (or on none yet).
    Anon,
    /// Anonymous (or shmem), on the active list.
    AnonActive,
    /// Anonymous, on the unevictable list (mlocked).
    Unevictable,
    /// Anonymous, in the swap cache (on disk too, or about to be).
    SwapCache,
    /// Being written to swap.
    Writeback,
    /// Page cache, on the inactive list.
    File,
    /// Page cache, on the active list.
    FileActive,
    Shmem,
    KernelStack,
    Vmalloc,
    /// Allocated from the buddy allocator by the kernel for anything else.
    Kernel,
    KernelImage,
    Memmap,
    /// Firmware or boot-time (memblock) reservation.
    Reserved,
    /// No RAM behind the frame.
    Hole,
}

/// Number of classes (free orders count one each).
pub const NR_CLASSES: usize = NR_ORDERS + 17;

/// The classes that are not free blocks, in legend order.
pub const OWNED_CLASSES: [FrameClass; 17] = [
    FrameClass::Slab,
    FrameClass::PageTable,
    FrameClass::Anon,
    FrameClass::AnonActive,
    FrameClass::Unevictable,
    FrameClass::SwapCache,
    FrameClass::Writeback,
    FrameClass::File,
    FrameClass::FileActive,
    FrameClass::Shmem,
    FrameClass::KernelStack,
    FrameClass::Vmalloc,
    FrameClass::Kernel,
    FrameClass::KernelImage,
    FrameClass::Memmap,
    FrameClass::Reserved,
    FrameClass::Hole,
];

impl FrameClass {
    /// Dense index: free orders first, then [`OWNED_CLASSES`].
    pub fn index(self) -> usize {
        match self {
            FrameClass::Free(o) => o as usize,
            other => NR_ORDERS + OWNED_CLASSES.iter().position(|&c| c == other).unwrap_or(OWNED_CLASSES.len() - 1),
        }
    }

    pub fn from_index(i: usize) -> FrameClass {
        if i < NR_ORDERS {
            FrameClass::Free(i as u8)
        } else {
            OWNED_CLASSES[(i - NR_ORDERS).min(OWNED_CLASSES.len() - 1)]
        }
    }

    /// The character in the text map.
    pub fn ch(self) -> char {
        match self {
            FrameClass::Free(o) => char::from_digit(o as u32, 36).unwrap_or('+'),
            FrameClass::Slab => 'S',
            FrameClass::PageTable => 'P',
            FrameClass::Anon => 'U',
            FrameClass::AnonActive => 'A',
            FrameClass::Unevictable => 'L',
            FrameClass::SwapCache => 'C',
            FrameClass::Writeback => 'W',
            FrameClass::File => 'F',
            FrameClass::FileActive => 'G',
            FrameClass::Shmem => 'H',
            FrameClass::KernelStack => 'T',
            FrameClass::Vmalloc => 'V',
            FrameClass::Kernel => 'k',
            FrameClass::KernelImage => 'K',
            FrameClass::Memmap => 'M',
            FrameClass::Reserved => 'R',
            FrameClass::Hole => '-',
        }
    }

    /// Short name for totals and legends.
    pub fn name(self) -> &'static str {
        match self {
            FrameClass::Free(_) => "free",
            FrameClass::Slab => "slab",
            FrameClass::PageTable => "pagetable",
            FrameClass::Anon => "anon",
            FrameClass::AnonActive => "anon_active",
            FrameClass::Unevictable => "unevictable",
            FrameClass::SwapCache => "swapcache",
            FrameClass::Writeback => "writeback",
            FrameClass::File => "file",
            FrameClass::FileActive => "file_active",
            FrameClass::Shmem => "shmem",
            FrameClass::KernelStack => "kstack",
            FrameClass::Vmalloc => "vmalloc",
            FrameClass::Kernel => "kernel",
            FrameClass::KernelImage => "image",
            FrameClass::Memmap => "memmap",
            FrameClass::Reserved => "reserved",
            FrameClass::Hole => "hole",
        }
    }

    pub fn is_free(self) -> bool {
        matches!(self, FrameClass::Free(_))
    }
}

/// The legend of the text map, one line.
pub const LEGEND: &str = "0-9,a free block of that order  S slab  P page table  U user anon (inactive)  A active anon  \
L mlocked anon  C swap cache  W under writeback  F page cache (inactive)  G active page cache  H shmem  \
T kernel stack  V vmalloc  k other kernel  K kernel image  M memmap  R reserved  - hole";

/// Class of a page from its own flags, for a page that is not free.
fn class_of_flags(f: PageFlags) -> FrameClass {
    if f.contains(PageFlags::HOLE) {
        FrameClass::Hole
    } else if f.contains(PageFlags::RESERVED) {
        if f.contains(PageFlags::KERNEL) {
            FrameClass::KernelImage
        } else if f.contains(PageFlags::MEMMAP) {
            FrameClass::Memmap
        } else {
            FrameClass::Reserved
        }
    } else if f.intersects(PageFlags::SLAB | PageFlags::LARGE_KMALLOC) {
        FrameClass::Slab
    } else if f.contains(PageFlags::PAGETABLE) {
        FrameClass::PageTable
    } else if f.contains(PageFlags::KSTACK) {
        FrameClass::KernelStack
    } else if f.contains(PageFlags::VMALLOC) {
        FrameClass::Vmalloc
    } else if f.contains(PageFlags::SHMEM) {
        FrameClass::Shmem
    } else if f.contains(PageFlags::FILE) {
        if f.contains(PageFlags::LRU | PageFlags::ACTIVE) { FrameClass::FileActive } else { FrameClass::File }
    } else if f.contains(PageFlags::WRITEBACK) {
        FrameClass::Writeback
    } else if f.contains(PageFlags::SWAPCACHE) {
        FrameClass::SwapCache
    } else if f.contains(PageFlags::ANON) {
        if f.contains(PageFlags::LRU | PageFlags::UNEVICTABLE) {
            FrameClass::Unevictable
        } else if f.contains(PageFlags::LRU | PageFlags::ACTIVE) {
            FrameClass::AnonActive
        } else {
            FrameClass::Anon
        }
    } else {
        FrameClass::Kernel
    }
}

/// Order of the free block that contains `pfn` without starting there.
fn enclosing_free_block(mm: &Memmap, pfn: u64) -> Option<u32> {
    (1..=MAX_ORDER).find(|&order| {
        let head = pfn & !((1u64 << order) - 1);
        head != pfn && mm.page(Pfn(head)).is_some_and(|h| h.has(PageFlags::BUDDY) && h.order() == order)
    })
}

/// The class of one frame.
pub fn classify_pfn(mm: &Memmap, pfn: u64) -> FrameClass {
    match mm.page(Pfn(pfn)) {
        None => FrameClass::Hole,
        Some(p) => classify_page(mm, p),
    }
}

/// The class of the frame `p` describes.
pub fn classify_page(mm: &Memmap, p: &'static Page) -> FrameClass {
    let f = p.flags();
    if f.contains(PageFlags::BUDDY) {
        return FrameClass::Free(p.order() as u8);
    }
    if f.is_empty() && p.refcount() == 0 {
        if let Some(order) = enclosing_free_block(mm, p.pfn().0) {
            return FrameClass::Free(order as u8);
        }
    }
    if f.contains(PageFlags::TAIL) {
        let head = mm.compound_head(p);
        return class_of_flags(if core::ptr::eq(head, p) { f } else { head.flags() });
    }
    class_of_flags(f)
}

/// Classify `[pfn, end)` as runs: returns the class of `pfn` and how many
/// frames from `pfn` on share it (a whole free block at once).
pub fn next_run(mm: &Memmap, pfn: u64, end: u64) -> (FrameClass, u64) {
    let class = classify_pfn(mm, pfn);
    let len = match class {
        FrameClass::Free(o) => {
            let head = pfn & !((1u64 << o) - 1);
            (head + (1 << o)).min(end) - pfn
        }
        _ => 1,
    };
    (class, len.max(1))
}

/// Page counts per class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassCounts(pub [u64; NR_CLASSES]);

impl Default for ClassCounts {
    fn default() -> Self {
        ClassCounts([0; NR_CLASSES])
    }
}

impl ClassCounts {
    pub fn add(&mut self, c: FrameClass, pages: u64) {
        self.0[c.index()] += pages;
    }

    pub fn get(&self, c: FrameClass) -> u64 {
        self.0[c.index()]
    }

    /// Pages in free blocks of any order.
    pub fn free(&self) -> u64 {
        self.0[..NR_ORDERS].iter().sum()
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub fn merge(&mut self, other: &ClassCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    /// The class with the most pages (first in index order on a tie).
    pub fn dominant(&self) -> FrameClass {
        let mut best = 0;
        for i in 1..NR_CLASSES {
            if self.0[i] > self.0[best] {
                best = i;
            }
        }
        FrameClass::from_index(best)
    }
}

/// Classify up to `n` frames from `start` (one cell of a map): adds every
/// frame to `counts` and returns the class owning most of them.
pub fn classify_cell(mm: &Memmap, start: u64, n: u64, counts: &mut ClassCounts) -> FrameClass {
    classify_cell_runs(mm, start, n, counts).0
}

/// [`classify_cell`], also returning how many runs it looked at (a whole
/// free block is one): the work done, for callers on a time budget.
pub fn classify_cell_runs(mm: &Memmap, start: u64, n: u64, counts: &mut ClassCounts) -> (FrameClass, u64) {
    if n == 1 {
        let c = classify_pfn(mm, start);
        counts.add(c, 1);
        return (c, 1);
    }
    let mut cell = ClassCounts::default();
    let (mut pfn, end, mut runs) = (start, start + n, 0);
    while pfn < end {
        let (c, len) = next_run(mm, pfn, end);
        cell.add(c, len);
        pfn += len;
        runs += 1;
    }
    counts.merge(&cell);
    (cell.dominant(), runs)
}

/// What one zone holds.
#[derive(Clone, Debug)]
pub struct ZoneSummary {
    pub node: u32,
    pub ty: ZoneType,
    pub start_pfn: u64,
    pub end_pfn: u64,
    /// Pages per class over the zone's span (holes included).
    pub counts: ClassCounts,
    /// Free blocks per order, counted from the block heads: the zone's
    /// /proc/buddyinfo line.
    pub free_blocks: [u64; NR_ORDERS],
}

/// One row of the map.
#[derive(Clone, Debug)]
pub struct MapRow {
    pub start_pfn: u64,
    pub node: u32,
    pub ty: ZoneType,
    pub cells: Vec<FrameClass>,
}

/// Geometry of a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Frames per cell (a power of two).
    pub pages_per_cell: u64,
    pub cells_per_row: u64,
}

impl Layout {
    /// The smallest power-of-two cell size that keeps the map of
    /// `spanned_pages` frames within `max_cells` cells.
    pub fn fit(spanned_pages: u64, max_cells: u64, cells_per_row: u64) -> Layout {
        // One cell for the whole span always fits.
        let whole = spanned_pages.max(1).next_power_of_two();
        let ppc =
            smallest_pages_per_cell(whole, |ppc| (spanned_pages.div_ceil(ppc) <= max_cells.max(1)).then_some(ppc))
                .unwrap_or(whole);
        Layout { pages_per_cell: ppc, cells_per_row: cells_per_row.max(1) }
    }

    /// The text map's default: at most 8192 cells, 64 per row.
    pub fn text_default(pa: &PageAllocator) -> Layout {
        Layout::fit(spanned_pages(pa), 8192, 64)
    }
}

/// Try the cell sizes 1, 2, 4, ... frames up to `max_ppc`, smallest first,
/// and return the first answer `try_fit` gives: the finest map that fits,
/// for the text map ([`Layout::fit`]) and the screen ([`ScreenLayout::plan`]).
fn smallest_pages_per_cell<T>(max_ppc: u64, mut try_fit: impl FnMut(u64) -> Option<T>) -> Option<T> {
    let mut ppc = 1u64;
    while ppc <= max_ppc {
        if let Some(fit) = try_fit(ppc) {
            return Some(fit);
        }
        ppc = ppc.checked_mul(2)?;
    }
    None
}

/// Frames spanned by every populated zone.
pub fn spanned_pages(pa: &PageAllocator) -> u64 {
    pa.zones().filter(|z| z.present > 0).map(|z| z.spanned).sum()
}

/// The populated zones in physical order (nodes may interleave zones).
pub fn zones_by_address(pa: &PageAllocator) -> Vec<&Zone> {
    let mut zones: Vec<&Zone> = pa.zones().filter(|z| z.present > 0).collect();
    zones.sort_by_key(|z| z.start_pfn);
    zones
}

/// The whole picture: per-zone summaries and the rows of cells.
#[derive(Clone, Debug)]
pub struct FrameMap {
    pub layout: Layout,
    pub zones: Vec<ZoneSummary>,
    pub rows: Vec<MapRow>,
}

/// Frames classified under one hold of the zone lock.
const CHUNK_PAGES: u64 = 1 << MAX_ORDER;

impl FrameMap {
    /// Scan every populated zone. Each zone's rows start at the zone's first
    /// frame; the last row of a zone stops at its end.
    ///
    /// Every row is allocated before the scan starts: an allocation during
    /// it could take a page from a part already scanned and make the map
    /// disagree with the free lists (and nothing may allocate under the
    /// zone lock, which the allocator takes).
    pub fn build(pa: &PageAllocator, layout: Layout) -> FrameMap {
        let ppc = layout.pages_per_cell.max(1);
        let row_pages = ppc * layout.cells_per_row;
        let by_address = zones_by_address(pa);
        let mut zones = Vec::with_capacity(by_address.len());
        let nr_rows: u64 = by_address.iter().map(|z| z.spanned.div_ceil(row_pages)).sum();
        let mut rows = Vec::with_capacity(nr_rows as usize);
        for z in &by_address {
            let mut at = z.start_pfn;
            while at < z.end_pfn() {
                let cells = (z.end_pfn() - at).min(row_pages).div_ceil(ppc);
                rows.push(MapRow { start_pfn: at, node: z.node, ty: z.ty, cells: Vec::with_capacity(cells as usize) });
                at += row_pages;
            }
        }
        // Those allocations may have refilled a CPU's page list: pages
        // waiting there are free, but the scan would see them as the
        // kernel's. They go back to the buddy lists first.
        pa.drain_all_pages();
        let mut row_idx = 0;
        let mut classes = [FrameClass::Hole; CHUNK_PAGES as usize];
        for z in by_address {
            let (start, end) = (z.start_pfn, z.end_pfn());
            let mut counts = ClassCounts::default();
            let mut free_blocks = [0u64; NR_ORDERS];
            let mut cell = ClassCounts::default();
            let mut cell_fill = 0;
            // Chunks aligned to MAX_ORDER blocks so none is cut in two; a
            // chunk is classified under the zone lock into a buffer.
            let mut chunk = start & !(CHUNK_PAGES - 1);
            while chunk < end {
                let (from, chunk_end) = (chunk.max(start), (chunk + CHUNK_PAGES).min(end));
                {
                    let _guard = z.free.lock();
                    let mut pfn = from;
                    while pfn < chunk_end {
                        let (mut class, mut len) = next_run(&pa.memmap, pfn, chunk_end);
                        if let Some(p) = pa.memmap.page(Pfn(pfn)) {
                            if p.node() != z.node || p.zone_type() != z.ty {
                                // Another node's frames inside this zone's span.
                                class = FrameClass::Hole;
                                len = 1;
                            } else if p.has(PageFlags::BUDDY) {
                                free_blocks[p.order() as usize] += 1;
                            }
                        }
                        for i in 0..len {
                            classes[(pfn + i - chunk) as usize] = class;
                        }
                        pfn += len;
                    }
                }
                for pfn in from..chunk_end {
                    let class = classes[(pfn - chunk) as usize];
                    cell.add(class, 1);
                    counts.add(class, 1);
                    cell_fill += 1;
                    if cell_fill == ppc || pfn + 1 == end {
                        let row = &mut rows[row_idx];
                        row.cells.push(cell.dominant());
                        if row.cells.len() as u64 == layout.cells_per_row || pfn + 1 == end {
                            row_idx += 1;
                        }
                        cell = ClassCounts::default();
                        cell_fill = 0;
                    }
                }
                chunk = chunk_end;
            }
            zones.push(ZoneSummary { node: z.node, ty: z.ty, start_pfn: start, end_pfn: end, counts, free_blocks });
        }
        FrameMap { layout, zones, rows }
    }

    /// Pages per class over all zones.
    pub fn totals(&self) -> ClassCounts {
        let mut t = ClassCounts::default();
        for z in &self.zones {
            t.merge(&z.counts);
        }
        t
    }

    /// The free-block histogram of one zone, if the zone is populated.
    pub fn free_blocks(&self, node: u32, ty: ZoneType) -> Option<[u64; NR_ORDERS]> {
        self.zones.iter().find(|z| z.node == node && z.ty == ty).map(|z| z.free_blocks)
    }
}

#[cfg(test)]
mod tests;
