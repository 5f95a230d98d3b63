//! x86_64 4-level page tables, built and changed through the physical
//! window (cf. mm/memory.c, mm/mprotect.c, arch/x86/mm/pat/set_memory.c).
//!
//! ```text
//!   VA bits 47..39  38..30  29..21  20..12  11..0
//!           PML4    PDPT    PD      PT      offset
//!   level      4       3       2       1
//!   a PDPT entry with PS maps 1 GiB, a PD entry with PS maps 2 MiB
//! ```
//!
//! [`Mapper`] maps, unmaps, re-protects and translates ranges with 4 KiB,
//! 2 MiB and 1 GiB pages. An operation that covers only part of a huge page
//! first splits it into the next smaller size (a table of 512 entries with
//! the same flags), so permissions can change at any 4 KiB boundary. Tables
//! left empty by an unmap are freed, except the tables that kernel-half PML4
//! entries point at: every address space shares them, so they live forever.
//! Every change returns a [`TlbFlush`] token.
//!
//! Entry bits are the `x86_64` crate's `PageTableFlags` (Intel SDM Vol. 3A,
//! 4.5, Tables 4-15..4-20). Intermediate entries are always present and
//! writable (plus user-accessible below the canonical hole): the leaf
//! decides the access rights.

use x86_64::structures::paging::page_table::PageTableEntry;
use x86_64::structures::paging::{PageTable, PageTableFlags as F};

use crate::addr::{PhysAddr, VirtAddr};
use crate::phys::PhysMem;
use crate::swap::entry::SwapEntry;
use crate::vm::tlb::TlbFlush;

/// The whole value of a page-table entry (the x86_64 crate shows it as
/// an address and flags; every bit below 12 is a named flag).
pub fn raw(e: &PageTableEntry) -> u64 {
    e.addr().as_u64() | e.flags().bits()
}

/// Write a swap entry into a page-table entry.
pub fn set_swap(e: &mut PageTableEntry, s: SwapEntry) {
    let v = s.to_pte();
    e.set_addr(PhysAddr::new(v & 0x000f_ffff_ffff_f000), F::from_bits_truncate(v & 0xfff));
}

/// Clear the accessed bit of a live entry in one atomic step, returning
/// whether it was set (`ptep_test_and_clear_young`): another CPU's MMU may
/// be setting the dirty bit of the same entry at that moment, which a
/// plain read-modify-write could lose.
pub fn test_and_clear_young(e: &mut PageTableEntry) -> bool {
    let bit = F::ACCESSED.bits();
    // SAFETY: `PageTableEntry` is a `repr(transparent)` u64 inside an
    // aligned page table, so the pointer is valid and 8-byte aligned for
    // the borrow's length; the only other writer is the MMU, whose
    // accessed/dirty updates are atomic locked operations.
    let a = unsafe { core::sync::atomic::AtomicU64::from_ptr((e as *mut PageTableEntry).cast::<u64>()) };
    a.fetch_and(!bit, core::sync::atomic::Ordering::Relaxed) & bit != 0
}

/// The software PTE bit of soft-dirty tracking: set with DIRTY by every
/// write fault, cleared (with the write permission) by `clear_refs` 4.
/// Bit 11 is free for software in a leaf (Intel SDM Vol. 3A, Table 4-19:
/// "Ignored"), and is where Linux puts it (`_PAGE_BIT_SOFT_DIRTY` =
/// `_PAGE_BIT_SOFTW3`). No other software bit is used.
pub const SOFT_DIRTY: F = F::BIT_11;

/// Size of a leaf mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
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

    fn level(self) -> u32 {
        match self {
            MapSize::Size4K => 1,
            MapSize::Size2M => 2,
            MapSize::Size1G => 3,
        }
    }

    fn of_level(level: u32) -> MapSize {
        match level {
            3 => MapSize::Size1G,
            2 => MapSize::Size2M,
            _ => MapSize::Size4K,
        }
    }
}

/// A successful translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    pub phys: PhysAddr,
    pub flags: F,
    pub size: MapSize,
}

/// Why a page-table operation failed. Nothing was changed when it fails,
/// except that tables allocated on the way may remain (empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// Something is already mapped at this address.
    AlreadyMapped { va: u64 },
    /// No memory for a page table.
    NoMemory,
    /// Address or length not page aligned, or not canonical.
    BadRange,
}

/// Where page-table pages come from.
pub trait TableAlloc {
    /// A zeroed, 4 KiB aligned frame.
    fn alloc_table(&self) -> Option<PhysAddr>;
    /// Give back a table frame (all entries clear).
    fn free_table(&self, pa: PhysAddr);
}

/// First kernel-half PML4 slot.
pub const KERNEL_PML4_START: usize = 256;

fn shift(level: u32) -> u32 {
    12 + 9 * (level - 1)
}

fn level_size(level: u32) -> u64 {
    1 << shift(level)
}

fn index(va: u64, level: u32) -> usize {
    ((va >> shift(level)) & 0x1ff) as usize
}

fn is_user(va: u64) -> bool {
    va < 0x0000_8000_0000_0000
}

fn canonical(va: u64) -> bool {
    let top = va >> 47;
    top == 0 || top == 0x1ffff
}

/// Sign-extend a 48-bit address.
fn canon(va: u64) -> u64 {
    (((va << 16) as i64) >> 16) as u64
}

fn is_leaf(e: &PageTableEntry, level: u32) -> bool {
    level == 1 || e.flags().contains(F::HUGE_PAGE)
}

/// Walk the tree at `root` for `va`.
pub fn translate(phys: &dyn PhysMem, root: PhysAddr, va: VirtAddr) -> Option<Translation> {
    let va = va.as_u64();
    let mut table = phys.table(root)?;
    for level in (1..=4u32).rev() {
        let e = &table[index(va, level)];
        if !e.flags().contains(F::PRESENT) {
            return None;
        }
        if level < 4 && is_leaf(e, level) {
            let size = MapSize::of_level(level);
            return Some(Translation { phys: e.addr() + (va & (size.bytes() - 1)), flags: e.flags(), size });
        }
        table = phys.table(e.addr())?;
    }
    None
}

/// Visit every table page of the tree at `root` (the root included) with
/// its level (4 = PML4 .. 1 = PT). `pml4_slots` limits the slots visited.
pub fn for_each_table(
    phys: &dyn PhysMem,
    root: PhysAddr,
    pml4_slots: core::ops::Range<usize>,
    f: &mut dyn FnMut(PhysAddr, u32),
) {
    fn visit(
        phys: &dyn PhysMem,
        pa: PhysAddr,
        level: u32,
        slots: core::ops::Range<usize>,
        f: &mut dyn FnMut(PhysAddr, u32),
    ) {
        f(pa, level);
        if level == 1 {
            return;
        }
        let Some(t) = phys.table(pa) else { return };
        for i in slots {
            let e = &t[i];
            if !e.flags().contains(F::PRESENT) || (level < 4 && is_leaf(e, level)) {
                continue;
            }
            visit(phys, e.addr(), level - 1, 0..512, f);
        }
    }
    visit(phys, root, 4, pml4_slots, f);
}

/// A leaf as seen by [`Mapper::for_each_leaf`]: the *effective* rights
/// (writable only if every level allows it, executable only if no level
/// sets NX, user only if every level allows it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    pub va: u64,
    pub phys: PhysAddr,
    pub size: MapSize,
    pub flags: F,
    pub writable: bool,
    pub executable: bool,
    pub user: bool,
}

/// Changes one tree of page tables.
pub struct Mapper<'a> {
    phys: &'a dyn PhysMem,
    alloc: &'a dyn TableAlloc,
    root: PhysAddr,
    /// Huge leaves are never split by unmap and protect: they are visited
    /// whole (a process's hugetlb pages, whose areas only split at their
    /// boundaries, so that no smaller entry ever owns a piece of one).
    whole_huge: bool,
}

impl<'a> Mapper<'a> {
    pub fn new(phys: &'a dyn PhysMem, alloc: &'a dyn TableAlloc, root: PhysAddr) -> Mapper<'a> {
        Mapper { phys, alloc, root, whole_huge: false }
    }

    /// A mapper for a process's address space (huge leaves stay whole).
    pub fn for_user(phys: &'a dyn PhysMem, alloc: &'a dyn TableAlloc, root: PhysAddr) -> Mapper<'a> {
        Mapper { phys, alloc, root, whole_huge: true }
    }

    pub fn root(&self) -> PhysAddr {
        self.root
    }

    fn table(&self, pa: PhysAddr) -> &'static mut PageTable {
        self.phys.table(pa).expect("page_table: table outside the physical window")
    }

    fn intermediate_flags(va: u64) -> F {
        if is_user(va) { F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE } else { F::PRESENT | F::WRITABLE }
    }

    pub fn translate(&self, va: VirtAddr) -> Option<Translation> {
        translate(self.phys, self.root, va)
    }

    /// The next-level table under `e`, creating it if absent.
    fn next_table(&self, e: &mut PageTableEntry, va: u64) -> Result<PhysAddr, MapError> {
        if e.flags().contains(F::PRESENT) {
            return Ok(e.addr());
        }
        let t = self.alloc.alloc_table().ok_or(MapError::NoMemory)?;
        e.set_addr(t, Self::intermediate_flags(va));
        Ok(t)
    }

    /// Map one page of `size` at `va` to `pa` with `flags` (PRESENT and, for
    /// huge sizes, HUGE_PAGE are added).
    pub fn map_page(&mut self, va: u64, pa: u64, size: MapSize, flags: F) -> Result<(), MapError> {
        let bytes = size.bytes();
        if va % bytes != 0 || pa % bytes != 0 || !canonical(va) {
            return Err(MapError::BadRange);
        }
        let target = size.level();
        let mut table = self.root;
        for level in (target + 1..=4).rev() {
            let t = self.table(table);
            let e = &mut t[index(va, level)];
            if e.flags().contains(F::PRESENT) && level < 4 && is_leaf(e, level) {
                return Err(MapError::AlreadyMapped { va });
            }
            table = self.next_table(e, va)?;
        }
        let e = &mut self.table(table)[index(va, target)];
        if e.flags().contains(F::PRESENT) {
            return Err(MapError::AlreadyMapped { va });
        }
        let mut f = flags | F::PRESENT;
        if target > 1 {
            f |= F::HUGE_PAGE;
        }
        e.set_addr(PhysAddr::new(pa), f);
        Ok(())
    }

    /// Map `[va, va+len)` to `[pa, pa+len)`, using the largest page size up
    /// to `max` that alignment allows at each step. Nothing mapped before
    /// needs invalidating, so no flush is returned; on failure the part
    /// already mapped is removed again.
    pub fn map_range(&mut self, va: u64, pa: u64, len: u64, flags: F, max: MapSize) -> Result<(), MapError> {
        if va % 4096 != 0 || pa % 4096 != 0 || len % 4096 != 0 || !canonical(va) || va.checked_add(len).is_none() {
            return Err(MapError::BadRange);
        }
        let mut off = 0;
        while off < len {
            let size = [MapSize::Size1G, MapSize::Size2M, MapSize::Size4K]
                .into_iter()
                .find(|s| {
                    *s <= max && (va + off) % s.bytes() == 0 && (pa + off) % s.bytes() == 0 && len - off >= s.bytes()
                })
                .unwrap_or(MapSize::Size4K);
            if let Err(e) = self.map_page(va + off, pa + off, size, flags) {
                if off > 0 {
                    let _ = self.unmap_range(va, off, &mut |_| {}).map(TlbFlush::ignore);
                }
                return Err(e);
            }
            off += size.bytes();
        }
        Ok(())
    }

    /// Replace the huge leaf `e` (at `level`, mapping `va`) by a table of
    /// 512 entries of the next size with the same flags.
    fn split(&self, e: &mut PageTableEntry, level: u32, va: u64) -> Result<(), MapError> {
        let t = self.alloc.alloc_table().ok_or(MapError::NoMemory)?;
        let child = self.table(t);
        let base = e.addr().as_u64();
        let child_level = level - 1;
        let mut flags = e.flags();
        if child_level == 1 {
            flags.remove(F::HUGE_PAGE);
        }
        for (i, ce) in child.iter_mut().enumerate() {
            ce.set_addr(PhysAddr::new(base + i as u64 * level_size(child_level)), flags);
        }
        e.set_addr(t, Self::intermediate_flags(va));
        Ok(())
    }

    /// Unmap every leaf in `[va, va+len)`, splitting huge pages that stick
    /// out of the range, calling `f` for each leaf removed (the caller owns
    /// the frames), and freeing tables left empty.
    pub fn unmap_range(&mut self, va: u64, len: u64, f: &mut dyn FnMut(Leaf)) -> Result<TlbFlush, MapError> {
        self.unmap_range_swap(va, len, f, &mut |_| {})
    }

    /// `unmap_range` that also clears swap entries, handing each to
    /// `swap` (the caller drops the slot's reference).
    pub fn unmap_range_swap(
        &mut self,
        va: u64,
        len: u64,
        f: &mut dyn FnMut(Leaf),
        swap: &mut dyn FnMut(SwapEntry),
    ) -> Result<TlbFlush, MapError> {
        self.walk_range(va, len, &mut |leaf, e| {
            if leaf.flags.contains(F::PRESENT) {
                f(leaf);
            } else if let Some(s) = SwapEntry::from_pte(raw(e)) {
                swap(s);
            }
            e.set_unused();
            true
        })
    }

    /// Set and clear flags on every leaf in `[va, va+len)` (splitting huge
    /// pages that stick out).
    pub fn protect_range(&mut self, va: u64, len: u64, set: F, clear: F) -> Result<TlbFlush, MapError> {
        self.walk_range(va, len, &mut |leaf, e| {
            if !leaf.flags.contains(F::PRESENT) {
                // A swap entry keeps its bits; the fault that reads the
                // page back maps it with the area's protection.
                return false;
            }
            let flags = (e.flags() | set) - clear;
            e.set_flags(flags);
            false
        })
    }

    /// Shared walker: `visit(leaf, entry)` changes a leaf entirely inside
    /// the range and says whether it was removed.
    fn walk_range(
        &mut self,
        va: u64,
        len: u64,
        visit: &mut dyn FnMut(Leaf, &mut PageTableEntry) -> bool,
    ) -> Result<TlbFlush, MapError> {
        if va % 4096 != 0 || len % 4096 != 0 || !canonical(va) {
            return Err(MapError::BadRange);
        }
        let end = va.checked_add(len).ok_or(MapError::BadRange)?;
        if len == 0 {
            return Ok(TlbFlush::none());
        }
        let mut flush = TlbFlush::none();
        // Work in the 48-bit space; sign-extend when reporting.
        let (s, e) = (va & 0xffff_ffff_ffff, (end - 1) & 0xffff_ffff_ffff);
        self.walk_level(self.root, 4, 0, s, e + 1, visit, &mut flush, true, true, true)?;
        Ok(flush)
    }

    /// Recursive part of `walk_range` over `[start, end)` (48-bit, end
    /// exclusive) inside the table at `table_pa` of `level`, whose first
    /// address is `base`. Returns whether the table is now empty.
    #[allow(clippy::too_many_arguments)]
    fn walk_level(
        &self,
        table_pa: PhysAddr,
        level: u32,
        base: u64,
        start: u64,
        end: u64,
        visit: &mut dyn FnMut(Leaf, &mut PageTableEntry) -> bool,
        flush: &mut TlbFlush,
        w: bool,
        x: bool,
        u: bool,
    ) -> Result<bool, MapError> {
        let size = level_size(level);
        let t = self.table(table_pa);
        let first = ((start - base) / size) as usize;
        let last = ((end - 1 - base) / size) as usize;
        for i in first..=last.min(511) {
            let eb = base + i as u64 * size;
            let ee = eb + size;
            let entry = &mut t[i];
            let fl = entry.flags();
            if !fl.contains(F::PRESENT) {
                // A swap entry (the only other non-empty value a user
                // page table holds) in the range: the visitor decides.
                if level == 1 && !entry.is_unused() && start <= eb && ee <= end {
                    let leaf = Leaf {
                        va: canon(eb),
                        phys: PhysAddr::new(0),
                        size: MapSize::Size4K,
                        flags: fl,
                        writable: false,
                        executable: false,
                        user: true,
                    };
                    visit(leaf, entry);
                }
                continue;
            }
            let (w2, x2, u2) =
                (w && fl.contains(F::WRITABLE), x && !fl.contains(F::NO_EXECUTE), u && fl.contains(F::USER_ACCESSIBLE));
            // A process's huge leaf is a hugetlb page: it goes whole.
            let covered = (start <= eb && ee <= end) || (self.whole_huge && level < 4 && is_leaf(entry, level));
            if level < 4 && is_leaf(entry, level) {
                if !covered {
                    self.split(entry, level, canon(eb))?;
                } else {
                    let leaf = Leaf {
                        va: canon(eb),
                        phys: entry.addr(),
                        size: MapSize::of_level(level),
                        flags: fl,
                        writable: w2,
                        executable: x2,
                        user: u2,
                    };
                    visit(leaf, entry);
                    *flush = flush.merge(TlbFlush::page(canon(eb), size));
                    continue;
                }
            }
            let child = entry.addr();
            let empty = self.walk_level(child, level - 1, eb, start.max(eb), end.min(ee), visit, flush, w2, x2, u2)?;
            // Tables under kernel-half PML4 slots are shared by every
            // address space: never free them.
            let shared = level == 4 && i >= KERNEL_PML4_START;
            if empty && !shared {
                entry.set_unused();
                self.alloc.free_table(child);
            }
        }
        Ok(t.iter().all(|e| e.is_unused()))
    }

    /// Give the PML4 slot of `va` its PDPT now (kernel-half slots are
    /// created once at boot so every address space can share them).
    pub fn prealloc_pdpt(&mut self, va: u64) -> Result<(), MapError> {
        if !canonical(va) {
            return Err(MapError::BadRange);
        }
        let e = &mut self.table(self.root)[index(va, 4)];
        self.next_table(e, va).map(|_| ())
    }

    /// The 4 KiB leaf entry for `va`, creating the tables on the way when
    /// `create`. Fails with `AlreadyMapped` if a huge page covers `va`.
    pub fn pte(&mut self, va: u64, create: bool) -> Result<Option<&'static mut PageTableEntry>, MapError> {
        self.walk_to_pte(va, &mut |m, e| if create { m.next_table(e, va).map(Some) } else { Ok(None) })
    }

    /// The 4 KiB leaf entry for `va` for a fault under the page-table lock
    /// (Linux's `pte_alloc` + `pmd_install`): a missing table is taken from
    /// `spare` (allocated by the caller outside the lock, zeroed) and
    /// `spare` left `None`; when a table is missing and `spare` is empty,
    /// `Ok(None)`: the caller drops the lock, allocates one and walks again
    /// (another CPU may have installed it meanwhile; the caller frees an
    /// unused spare). Fails with `AlreadyMapped` if a huge page covers `va`.
    pub fn pte_with_spare(
        &mut self,
        va: u64,
        spare: &mut Option<PhysAddr>,
    ) -> Result<Option<&'static mut PageTableEntry>, MapError> {
        self.walk_to_pte(va, &mut |_, e| {
            Ok(spare.take().map(|new| {
                // The zeroed table must be seen zeroed by whoever walks
                // through the entry (the MMU, lock-free readers).
                core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
                e.set_addr(new, Self::intermediate_flags(va));
                new
            }))
        })
    }

    /// Walk to the 4 KiB entry for `va`; at a missing table, `missing`
    /// installs one (its address) or gives up (`None`: the walk answers
    /// `Ok(None)`).
    fn walk_to_pte(
        &mut self,
        va: u64,
        missing: &mut dyn FnMut(&Self, &mut PageTableEntry) -> Result<Option<PhysAddr>, MapError>,
    ) -> Result<Option<&'static mut PageTableEntry>, MapError> {
        if !canonical(va) {
            return Err(MapError::BadRange);
        }
        let mut table = self.root;
        for level in (2..=4).rev() {
            let t = self.table(table);
            let e = &mut t[index(va, level)];
            if e.flags().contains(F::PRESENT) {
                if level < 4 && is_leaf(e, level) {
                    return Err(MapError::AlreadyMapped { va });
                }
                table = e.addr();
            } else {
                match missing(self, e)? {
                    Some(new) => table = new,
                    None => return Ok(None),
                }
            }
        }
        Ok(Some(&mut self.table(table)[index(va, 1)]))
    }

    /// The directory (level 2) entry for the 2 MiB around `va`, for a
    /// hugetlb fault under the page-table lock: a missing upper table is
    /// taken from `spare` as in [`Self::pte_with_spare`] (`Ok(None)` when
    /// one is needed and `spare` is empty). Never splits anything; fails
    /// with `AlreadyMapped` under a 1 GiB leaf.
    pub fn pmd_with_spare(
        &mut self,
        va: u64,
        spare: &mut Option<PhysAddr>,
    ) -> Result<Option<&'static mut PageTableEntry>, MapError> {
        if !canonical(va) {
            return Err(MapError::BadRange);
        }
        let mut table = self.root;
        for level in (3..=4).rev() {
            let e = &mut self.table(table)[index(va, level)];
            if e.flags().contains(F::PRESENT) {
                if level < 4 && is_leaf(e, level) {
                    return Err(MapError::AlreadyMapped { va });
                }
                table = e.addr();
            } else {
                let Some(new) = spare.take() else { return Ok(None) };
                core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
                e.set_addr(new, Self::intermediate_flags(va));
                table = new;
            }
        }
        Ok(Some(&mut self.table(table)[index(va, 2)]))
    }

    /// The directory entry for `va` if its upper tables exist (no change).
    pub fn pmd(&mut self, va: u64) -> Option<&'static mut PageTableEntry> {
        self.pmd_with_spare(va, &mut None).ok().flatten()
    }

    /// The page-directory-pointer (level 3) entry for the 1 GiB around
    /// `va`, for a hugetlb fault of a gigantic page under the page-table
    /// lock: the level-3 table is taken from `spare` when missing
    /// (`Ok(None)` when one is needed and `spare` is empty).
    pub fn pud_with_spare(
        &mut self,
        va: u64,
        spare: &mut Option<PhysAddr>,
    ) -> Result<Option<&'static mut PageTableEntry>, MapError> {
        if !canonical(va) {
            return Err(MapError::BadRange);
        }
        let e = &mut self.table(self.root)[index(va, 4)];
        let table = if e.flags().contains(F::PRESENT) {
            e.addr()
        } else {
            let Some(new) = spare.take() else { return Ok(None) };
            core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
            e.set_addr(new, Self::intermediate_flags(va));
            new
        };
        Ok(Some(&mut self.table(table)[index(va, 3)]))
    }

    /// The level-3 entry for `va` if its level-3 table exists (no change).
    pub fn pud(&mut self, va: u64) -> Option<&'static mut PageTableEntry> {
        self.pud_with_spare(va, &mut None).ok().flatten()
    }

    /// The level-1 table (page table) for the 2 MiB around `va`: created
    /// when `create`, a huge leaf there split first (refused, `AlreadyMapped`,
    /// by a process's mapper). None if absent.
    fn page_table_of(&mut self, va: u64, create: bool) -> Result<Option<PhysAddr>, MapError> {
        let mut table = self.root;
        for level in (2..=4).rev() {
            let e = &mut self.table(table)[index(va, level)];
            if e.flags().contains(F::PRESENT) {
                if is_leaf(e, level) {
                    // A process's huge page has no page table under it.
                    if self.whole_huge {
                        return Err(MapError::AlreadyMapped { va });
                    }
                    self.split(e, level, va)?;
                }
                table = e.addr();
            } else if create {
                table = self.next_table(e, va)?;
            } else {
                return Ok(None);
            }
        }
        Ok(Some(table))
    }

    /// The page table (level 1) covering `va`, created when `create` (a
    /// huge leaf there is split first): for walks that visit many entries
    /// of one table without walking from the root for each.
    pub fn page_table_at(&mut self, va: u64, create: bool) -> Result<Option<&'static mut PageTable>, MapError> {
        Ok(self.page_table_of(va, create)?.map(|pa| self.table(pa)))
    }

    /// Move the entries mapping `[from, from+len)` so that they map
    /// `[to, to+len)` instead (Linux's `move_page_tables`): where both sides
    /// are 2 MiB aligned over a whole 2 MiB, the page table itself changes
    /// place (one directory entry, `move_normal_pmd`); elsewhere entries
    /// move one by one inside cached tables. The ranges must not overlap
    /// and the destination must be empty. Destination tables are made
    /// first, so a failure (ENOMEM) leaves everything where it was. The
    /// caller flushes the TLB for `from`; tables the move empties stay
    /// until the caller unmaps the old range.
    pub fn move_range(&mut self, from: u64, to: u64, len: u64) -> Result<(), MapError> {
        const PMD: u64 = 1 << 21;
        if from % 4096 != 0 || to % 4096 != 0 || len % 4096 != 0 || !canonical(from) || !canonical(to) {
            return Err(MapError::BadRange);
        }
        // The destination's page tables, before anything moves.
        let mut d = to;
        while d < to + len {
            self.page_table_of(d, true)?;
            d = (d & !(PMD - 1)) + PMD;
        }
        let mut off = 0;
        while off < len {
            let (s, d) = (from + off, to + off);
            if s % PMD == 0 && d % PMD == 0 && len - off >= PMD && self.move_page_table(s, d) {
                off += PMD;
                continue;
            }
            let end = len.min(off + (PMD - s % PMD)).min(off + (PMD - d % PMD));
            if let Some(spt) = self.page_table_of(s, false)? {
                let dpt = self.page_table_of(d, false)?.ok_or(MapError::NoMemory)?;
                for o in (off..end).step_by(4096) {
                    let src = &mut self.table(spt)[index(from + o, 1)];
                    if src.is_unused() {
                        continue;
                    }
                    let entry = src.clone();
                    src.set_unused();
                    self.table(dpt)[index(to + o, 1)] = entry;
                }
            }
            off = end;
        }
        Ok(())
    }

    /// Hand the page table under the directory entry for `from` to `to`'s
    /// entry (both 2 MiB aligned), freeing the empty table `to` had; a
    /// 2 MiB leaf there (a transparent huge page) moves the same way. False
    /// when there is nothing to move or `to`'s table is not empty.
    fn move_page_table(&mut self, from: u64, to: u64) -> bool {
        let pd_entry = |m: &Self, va: u64| -> Option<&'static mut PageTableEntry> {
            let mut table = m.root;
            for level in (3..=4).rev() {
                let e = &m.table(table)[index(va, level)];
                if !e.flags().contains(F::PRESENT) || is_leaf(e, level) {
                    return None;
                }
                table = e.addr();
            }
            Some(&mut m.table(table)[index(va, 2)])
        };
        let Some(src) = pd_entry(self, from) else { return false };
        if !src.flags().contains(F::PRESENT) {
            return false;
        }
        let (pt, flags) = (src.addr(), src.flags());
        let Some(dst) = pd_entry(self, to) else { return false };
        if dst.flags().contains(F::PRESENT) {
            if is_leaf(dst, 2) || self.table(dst.addr()).iter().any(|e| !e.is_unused()) {
                return false;
            }
            self.alloc.free_table(dst.addr());
        }
        dst.set_addr(pt, flags);
        if let Some(src) = pd_entry(self, from) {
            src.set_unused();
        }
        true
    }

    /// Visit every leaf in `[start, end)` with its effective rights.
    pub fn for_each_leaf(&self, start: u64, end: u64, f: &mut dyn FnMut(Leaf)) {
        self.for_each_leaf_while(start, end, &mut |l| {
            f(l);
            true
        });
    }

    /// Visit the leaves of `[start, end)` in address order until `f`
    /// returns false; whether the walk reached the end.
    pub fn for_each_leaf_while(&self, start: u64, end: u64, f: &mut dyn FnMut(Leaf) -> bool) -> bool {
        fn visit(
            m: &Mapper<'_>,
            pa: PhysAddr,
            level: u32,
            base: u64,
            start: u64,
            end: u64,
            w: bool,
            x: bool,
            u: bool,
            f: &mut dyn FnMut(Leaf) -> bool,
        ) -> bool {
            let size = level_size(level);
            let t = m.table(pa);
            for (i, e) in t.iter().enumerate() {
                let eb = base + i as u64 * size;
                if eb >= end || eb + size <= start {
                    continue;
                }
                let fl = e.flags();
                if !fl.contains(F::PRESENT) {
                    continue;
                }
                let (w2, x2, u2) = (
                    w && fl.contains(F::WRITABLE),
                    x && !fl.contains(F::NO_EXECUTE),
                    u && fl.contains(F::USER_ACCESSIBLE),
                );
                let go_on = if level < 4 && is_leaf(e, level) {
                    f(Leaf {
                        va: canon(eb),
                        phys: e.addr(),
                        size: MapSize::of_level(level),
                        flags: fl,
                        writable: w2,
                        executable: x2,
                        user: u2,
                    })
                } else {
                    level == 1 || visit(m, e.addr(), level - 1, eb, start, end, w2, x2, u2, f)
                };
                if !go_on {
                    return false;
                }
            }
            true
        }
        // An empty range visits nothing, wherever it lies (an empty range
        // at a kernel address once walked the whole kernel half). `end` 0
        // stands for 2^64; the walk is in the 48-bit space.
        if end != 0 && end <= start {
            return true;
        }
        let s = start & 0xffff_ffff_ffff;
        let e = (end.wrapping_sub(1) & 0xffff_ffff_ffff) + 1;
        visit(self, self.root, 4, 0, s, e, true, true, true, f)
    }

    /// Number of table pages in the tree (root included) under the PML4
    /// slots `slots`.
    pub fn count_tables(&self, slots: core::ops::Range<usize>) -> u64 {
        let mut n = 0;
        for_each_table(self.phys, self.root, slots, &mut |_, _| n += 1);
        n
    }

    /// Free every table below the user-half PML4 slots (the address space
    /// is being destroyed; its leaves must already be unmapped or owned
    /// elsewhere). The root itself is left to the caller.
    pub fn free_user_tables(&mut self) {
        let mut tables = alloc::vec::Vec::new();
        for_each_table(self.phys, self.root, 0..KERNEL_PML4_START, &mut |pa, level| {
            if level < 4 {
                tables.push(pa);
            }
        });
        let root = self.table(self.root);
        for e in root.iter_mut().take(KERNEL_PML4_START) {
            e.set_unused();
        }
        for t in tables {
            self.alloc.free_table(t);
        }
    }
}

#[cfg(test)]
mod tests;
