//! x86_64 4-level page tables, read and written through the physical
//! window (cf. mm/pgtable-generic.c, arch/x86/mm/pgtable.c).
//!
//! ```text
//!   VA bits 47..39  38..30  29..21  20..12  11..0
//!           PML4    PDPT    PD      PT      offset
//!   a PDPT entry with PS maps 1 GiB, a PD entry with PS maps 2 MiB
//! ```
//!
//! This first part only reads: translate an address and visit every table
//! page of a tree (to reserve the bootloader's tables, to audit mappings).

use x86_64::structures::paging::{PageTable, PageTableFlags};

use crate::addr::{PhysAddr, VirtAddr};
use crate::phys::PhysMem;

/// Size of the page a translation ended in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapSize {
    Size4K,
    Size2M,
    Size1G,
}

impl MapSize {
    pub fn bytes(self) -> u64 {
        match self {
            MapSize::Size4K => 1 << 12,
            MapSize::Size2M => 1 << 21,
            MapSize::Size1G => 1 << 30,
        }
    }
}

/// A successful translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    pub phys: PhysAddr,
    pub flags: PageTableFlags,
    pub size: MapSize,
}

/// The table page at physical address `pa`, through the window.
pub fn table_at(phys: &dyn PhysMem, pa: PhysAddr) -> Option<&'static mut PageTable> {
    let p = phys.ptr(pa, 4096)? as *mut PageTable;
    // SAFETY: the window covers the 4 KiB table page; page tables are only
    // modified under the owning address space's lock, and callers hold it
    // (or, at boot, run alone).
    Some(unsafe { &mut *p })
}

fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * (level - 1))) & 0x1ff) as usize
}

/// Walk the tree at `root` for `va`.
pub fn translate(phys: &dyn PhysMem, root: PhysAddr, va: VirtAddr) -> Option<Translation> {
    let va = va.as_u64();
    let mut table = table_at(phys, root)?;
    for level in (1..=4u32).rev() {
        let e = &table[index(va, level)];
        let flags = e.flags();
        if !flags.contains(PageTableFlags::PRESENT) {
            return None;
        }
        let huge = flags.contains(PageTableFlags::HUGE_PAGE) && (level == 2 || level == 3);
        if level == 1 || huge {
            let size = match level {
                3 => MapSize::Size1G,
                2 => MapSize::Size2M,
                _ => MapSize::Size4K,
            };
            let offset = va & (size.bytes() - 1);
            return Some(Translation { phys: e.addr() + offset, flags, size });
        }
        table = table_at(phys, e.addr())?;
    }
    None
}

/// Visit every table page of the tree at `root` (the root included) with
/// its level (4 = PML4 .. 1 = PT). `range` limits the PML4 slots visited.
pub fn for_each_table(phys: &dyn PhysMem, root: PhysAddr, pml4_slots: core::ops::Range<usize>, f: &mut dyn FnMut(PhysAddr, u32)) {
    fn visit(phys: &dyn PhysMem, pa: PhysAddr, level: u32, slots: core::ops::Range<usize>, f: &mut dyn FnMut(PhysAddr, u32)) {
        f(pa, level);
        if level == 1 {
            return;
        }
        let Some(t) = table_at(phys, pa) else { return };
        for i in slots {
            let e = &t[i];
            let flags = e.flags();
            if !flags.contains(PageTableFlags::PRESENT) || (flags.contains(PageTableFlags::HUGE_PAGE) && level <= 3) {
                continue;
            }
            visit(phys, e.addr(), level - 1, 0..512, f);
        }
    }
    visit(phys, root, 4, pml4_slots, f);
}
