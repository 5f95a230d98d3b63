//! Virtual memory areas and the ordered set that holds them (cf.
//! include/linux/mm_types.h `vm_area_struct`, mm/vma.c, mm/mmap.c).
//!
//! A process's address space is a set of non-overlapping VMAs, each a
//! page-aligned range `[start, end)` with one set of flags and one backing
//! (anonymous memory, shared anonymous memory, or a file). They are kept
//! in a `BTreeMap` keyed by start address (Linux keeps them in a maple
//! tree); `find_vma(addr)` is "the first VMA that ends above addr".
//!
//! Splitting and merging follow Linux:
//!
//! ```text
//!   split at A:      [start .......A....... end)
//!                ->  [start ... A) [A ... end)      pgoff of the second += (A-start)/4K
//!
//!   merge:  [a .. b) [b .. c) with equal flags and backing, and pgoff of the
//!           second == pgoff of the first + (b-a)/4K   ->  [a .. c)
//! ```

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::ops::Range;

use bitflags::bitflags;

use crate::addr::PAGE_SHIFT;
use crate::vm::file::MemObject;

bitflags! {
    /// VMA flags, with Linux's values (include/linux/mm.h).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct VmFlags: u64 {
        const READ       = 0x0000_0001;
        const WRITE      = 0x0000_0002;
        const EXEC       = 0x0000_0004;
        const SHARED     = 0x0000_0008;
        const MAYREAD    = 0x0000_0010;
        const MAYWRITE   = 0x0000_0020;
        const MAYEXEC    = 0x0000_0040;
        const MAYSHARE   = 0x0000_0080;
        const GROWSDOWN  = 0x0000_0100;
        const LOCKED     = 0x0000_2000;
        const SEQ_READ   = 0x0000_8000;
        const RAND_READ  = 0x0001_0000;
        const DONTCOPY   = 0x0002_0000;
        const DONTEXPAND = 0x0004_0000;
        const LOCKONFAULT = 0x0008_0000;
        const ACCOUNT    = 0x0010_0000;
        const NORESERVE  = 0x0020_0000;
        /// Pages of the hugetlb pool (vm/hugetlb.rs).
        const HUGETLB    = 0x0040_0000;
        const WIPEONFORK = 0x0200_0000;
        const DONTDUMP   = 0x0400_0000;
        /// Every page of the area reads as soft-dirty in /proc/PID/pagemap
        /// until the next `clear_refs` 4 (set on new areas, as Linux's
        /// VM_SOFTDIRTY; never keeps areas from merging).
        const SOFTDIRTY  = 0x0800_0000;
        const HUGEPAGE   = 0x2000_0000;
        const NOHUGEPAGE = 0x4000_0000;
        /// mseal(2): the area's place, size and protection are fixed
        /// (vm/mseal.rs; Linux's VM_SEALED, bit 63).
        const SEALED     = 1 << 63;
    }
}

impl VmFlags {
    /// Access-permission bits.
    pub const ACCESS: VmFlags = VmFlags::READ.union(VmFlags::WRITE).union(VmFlags::EXEC);

    /// The two-letter mnemonics of /proc/PID/smaps' VmFlags line, in
    /// Linux's order (fs/proc/task_mmu.c, `show_smap_vma_flags`).
    pub fn mnemonics(self) -> impl Iterator<Item = &'static str> {
        const TABLE: [(VmFlags, &str); 23] = [
            (VmFlags::READ, "rd"),
            (VmFlags::WRITE, "wr"),
            (VmFlags::EXEC, "ex"),
            (VmFlags::SHARED, "sh"),
            (VmFlags::MAYREAD, "mr"),
            (VmFlags::MAYWRITE, "mw"),
            (VmFlags::MAYEXEC, "me"),
            (VmFlags::MAYSHARE, "ms"),
            (VmFlags::GROWSDOWN, "gd"),
            (VmFlags::LOCKED, "lo"),
            (VmFlags::SEQ_READ, "sr"),
            (VmFlags::RAND_READ, "rr"),
            (VmFlags::DONTCOPY, "dc"),
            (VmFlags::DONTEXPAND, "de"),
            (VmFlags::LOCKONFAULT, "lf"),
            (VmFlags::ACCOUNT, "ac"),
            (VmFlags::NORESERVE, "nr"),
            (VmFlags::WIPEONFORK, "wf"),
            (VmFlags::DONTDUMP, "dd"),
            (VmFlags::SOFTDIRTY, "sd"),
            (VmFlags::HUGEPAGE, "hg"),
            (VmFlags::NOHUGEPAGE, "nh"),
            (VmFlags::SEALED, "sl"),
        ];
        TABLE.into_iter().filter(move |(f, _)| self.contains(*f)).map(|(_, s)| s)
    }
}

/// What backs a VMA's pages.
#[derive(Clone)]
pub enum Backing {
    /// Private anonymous memory: zero-filled on first touch.
    Anon,
    /// Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS): pages live in
    /// the object and are seen by every mapping of it, across fork.
    Shared(Arc<MemObject>),
    /// A file (the page cache of an initrd file). Private mappings copy
    /// a page on the first write.
    File(Arc<MemObject>),
    /// 2 MiB pages of the hugetlb pool (vm/hugetlb.rs): the object holds
    /// the pages of a shared mapping, the promises of a private one.
    Huge(Arc<crate::vm::hugetlb::HugeObject>),
}

impl Backing {
    pub fn object(&self) -> Option<&Arc<MemObject>> {
        match self {
            Backing::Anon | Backing::Huge(_) => None,
            Backing::Shared(o) | Backing::File(o) => Some(o),
        }
    }

    pub fn is_anon(&self) -> bool {
        matches!(self, Backing::Anon)
    }

    /// Private memory that would need committing if writable (anonymous
    /// or a private file mapping; shared anonymous memory is committed
    /// when created).
    pub fn is_anon_or_private_file(&self) -> bool {
        !matches!(self, Backing::Shared(_) | Backing::Huge(_))
    }

    pub(crate) fn same(&self, other: &Backing) -> bool {
        match (self, other) {
            (Backing::Anon, Backing::Anon) => true,
            (Backing::Shared(a), Backing::Shared(b)) | (Backing::File(a), Backing::File(b)) => Arc::ptr_eq(a, b),
            (Backing::Huge(a), Backing::Huge(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// One area.
#[derive(Clone)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub flags: VmFlags,
    /// Page offset of `start` in the backing object (for anonymous memory
    /// `start >> 12`, as Linux does, so that merges line up).
    pub pgoff: u64,
    pub backing: Backing,
    /// The area's memory policy (mbind); None: the task's.
    pub policy: Option<crate::vm::mempolicy::MemPolicy>,
}

impl Vma {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    pub fn pages(&self) -> u64 {
        self.len() >> PAGE_SHIFT
    }

    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// Page offset in the backing object of address `addr`.
    pub fn pgoff_of(&self, addr: u64) -> u64 {
        self.pgoff + ((addr - self.start) >> PAGE_SHIFT)
    }

    /// Whether `next` (starting at our end) could be merged into us.
    pub fn can_merge_with(&self, next: &Vma) -> bool {
        self.end == next.start
            && (self.flags ^ next.flags) - VmFlags::SOFTDIRTY == VmFlags::empty()
            && self.backing.same(&next.backing)
            && next.pgoff == self.pgoff + self.pages()
            && self.policy == next.policy
    }

    /// A private writable mapping that is not the stack: counted in
    /// VmData and limited by RLIMIT_DATA (Linux's `is_data_mapping`).
    pub fn is_data(&self) -> bool {
        self.flags & (VmFlags::WRITE | VmFlags::SHARED | VmFlags::GROWSDOWN) == VmFlags::WRITE
    }

    /// Executable and not writable: VmExe (`is_exec_mapping`).
    pub fn is_exec(&self) -> bool {
        self.flags & (VmFlags::WRITE | VmFlags::EXEC | VmFlags::GROWSDOWN) == VmFlags::EXEC
    }

    pub fn is_stack(&self) -> bool {
        self.flags.contains(VmFlags::GROWSDOWN)
    }
}

/// Why a VMA tree operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmaError {
    /// The new area overlaps an existing one.
    Overlap,
    /// More areas than `max_map_count`.
    TooMany,
}

/// The VMAs of one address space.
#[derive(Clone, Default)]
pub struct VmaTree {
    map: BTreeMap<u64, Vma>,
}

impl VmaTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Vma> {
        self.map.values()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Vma> {
        self.map.values_mut()
    }

    /// `find_vma`: the first area with `end > addr` (it may start above
    /// `addr`).
    pub fn find(&self, addr: u64) -> Option<&Vma> {
        if let Some((_, v)) = self.map.range(..=addr).next_back() {
            if v.end > addr {
                return Some(v);
            }
        }
        self.map.range(addr.saturating_add(1)..).next().map(|(_, v)| v)
    }

    /// The area containing `addr`.
    pub fn containing(&self, addr: u64) -> Option<&Vma> {
        self.map.range(..=addr).next_back().map(|(_, v)| v).filter(|v| v.end > addr)
    }

    pub fn containing_mut(&mut self, addr: u64) -> Option<&mut Vma> {
        self.map.range_mut(..=addr).next_back().map(|(_, v)| v).filter(|v| v.end > addr)
    }

    /// The last area starting below `addr`.
    pub fn prev(&self, addr: u64) -> Option<&Vma> {
        self.map.range(..addr).next_back().map(|(_, v)| v)
    }

    /// `find_vma_intersection`: the first area overlapping `[start, end)`.
    pub fn intersection(&self, start: u64, end: u64) -> Option<&Vma> {
        self.find(start).filter(|v| v.start < end)
    }

    /// Every area overlapping `[start, end)`, in order.
    pub fn overlapping(&self, r: Range<u64>) -> impl Iterator<Item = &Vma> {
        let first = self.find(r.start).map(|v| v.start).unwrap_or(u64::MAX);
        self.map.range(first..).map(|(_, v)| v).take_while(move |v| v.start < r.end)
    }

    /// Insert an area that overlaps nothing.
    pub fn insert(&mut self, vma: Vma, max_count: usize) -> Result<(), VmaError> {
        if self.intersection(vma.start, vma.end).is_some() {
            return Err(VmaError::Overlap);
        }
        // Linux refuses only when map_count already exceeds the limit.
        if self.map.len() > max_count {
            return Err(VmaError::TooMany);
        }
        self.map.insert(vma.start, vma);
        Ok(())
    }

    pub fn remove(&mut self, start: u64) -> Option<Vma> {
        self.map.remove(&start)
    }

    /// Split the area containing `addr` at `addr` (no-op on a boundary).
    /// Returns false if that would exceed `max_count`.
    pub fn split_at(&mut self, addr: u64, max_count: usize) -> bool {
        let Some(v) = self.containing(addr) else { return true };
        if v.start == addr {
            return true;
        }
        if self.map.len() > max_count {
            return false;
        }
        let start = v.start;
        let mut high = self.map.get(&start).cloned().expect("vma: area vanished");
        if let Some(low) = self.map.get_mut(&start) {
            low.end = addr;
        }
        high.pgoff += (addr - start) >> PAGE_SHIFT;
        high.start = addr;
        self.map.insert(addr, high);
        true
    }

    /// Merge the area starting at `start` with its neighbours where
    /// compatible. Returns the start of the merged area.
    pub fn merge_around(&mut self, start: u64) -> u64 {
        let mut cur = start;
        // With the previous area.
        if let Some(prev) = self.prev(cur).cloned() {
            if let Some(this) = self.map.get(&cur) {
                if prev.can_merge_with(this) {
                    let this = self.map.remove(&cur).expect("vma: area vanished");
                    if let Some(p) = self.map.get_mut(&prev.start) {
                        p.end = this.end;
                        p.flags |= this.flags & VmFlags::SOFTDIRTY;
                    }
                    cur = prev.start;
                }
            }
        }
        // With the next area.
        if let Some(this) = self.map.get(&cur).cloned() {
            if let Some(next) = self.map.get(&this.end).cloned() {
                if this.can_merge_with(&next) {
                    self.map.remove(&next.start);
                    if let Some(t) = self.map.get_mut(&cur) {
                        t.end = next.end;
                        t.flags |= next.flags & VmFlags::SOFTDIRTY;
                    }
                }
            }
        }
        cur
    }

    /// The lowest hole of `len` bytes inside `[low, high)` (Linux's
    /// `unmapped_area`, the legacy layout's search), keeping
    /// `gap_below_stack` free under a growing-down area.
    pub fn gap_bottomup(&self, len: u64, low: u64, high: u64, gap_below_stack: u64) -> Option<u64> {
        if len == 0 || high < low || high - low < len {
            return None;
        }
        let mut start = low;
        let first = self.find(low).map_or(u64::MAX, |v| v.start);
        for v in self.map.range(first..).map(|(_, v)| v) {
            // The hole below this area is [start, v.start) (less the guard
            // gap under a growing-down area).
            let below = if v.is_stack() { v.start.saturating_sub(gap_below_stack) } else { v.start };
            if below >= start && below - start >= len {
                break;
            }
            start = start.max(v.end);
            if start > high || high - start < len {
                return None;
            }
        }
        (high - start >= len).then_some(start)
    }

    /// The highest hole of `len` bytes inside `[low, high)` (Linux's
    /// `unmapped_area_topdown`), keeping `gap_below_stack` free under a
    /// growing-down area.
    pub fn gap_topdown(&self, len: u64, low: u64, high: u64, gap_below_stack: u64) -> Option<u64> {
        if len == 0 || high < low || high - low < len {
            return None;
        }
        let mut hole_end = high;
        // A growing-down area just above the window claims its gap too.
        if let Some((_, above)) = self.map.range(high..).next() {
            if above.is_stack() {
                hole_end = hole_end.min(above.start.saturating_sub(gap_below_stack));
            }
        }
        if hole_end < low + len {
            return None;
        }
        for v in self.map.range(..high).rev().map(|(_, v)| v) {
            // The hole above this area is [v.end, hole_end).
            if v.end < hole_end {
                let hole_start = v.end.max(low);
                if hole_end >= hole_start + len {
                    return Some(hole_end - len);
                }
            }
            let below = if v.is_stack() { v.start.saturating_sub(gap_below_stack) } else { v.start };
            hole_end = hole_end.min(below);
            if hole_end < low + len {
                return None;
            }
        }
        (hole_end >= low + len).then(|| hole_end - len)
    }

    /// Whether `[start, end)` overlaps nothing (growing-down areas claim
    /// `gap_below_stack` below them too).
    pub fn is_free(&self, start: u64, end: u64, gap_below_stack: u64) -> bool {
        if self.intersection(start, end).is_some() {
            return false;
        }
        match self.find(end) {
            Some(next) if next.is_stack() => end + gap_below_stack <= next.start,
            _ => true,
        }
    }

    /// Check ordering, alignment and merging; panics with "vma: ..." on a
    /// broken invariant.
    pub fn check_invariants(&self) {
        let mut prev: Option<&Vma> = None;
        for (k, v) in &self.map {
            assert_eq!(*k, v.start, "vma: key does not match start");
            assert!(v.start < v.end, "vma: empty area");
            assert!(v.start % 4096 == 0 && v.end % 4096 == 0, "vma: unaligned area");
            if let Some(p) = prev {
                assert!(p.end <= v.start, "vma: areas overlap");
            }
            prev = Some(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn anon(start: u64, end: u64, flags: VmFlags) -> Vma {
        Vma { start, end, flags, pgoff: start >> 12, backing: Backing::Anon, policy: None }
    }

    const RW: VmFlags = VmFlags::READ.union(VmFlags::WRITE);
    const K: u64 = 0x1000;

    fn spans(t: &VmaTree) -> Vec<(u64, u64)> {
        t.iter().map(|v| (v.start, v.end)).collect()
    }

    #[test]
    fn find_returns_first_area_ending_above() {
        let mut t = VmaTree::new();
        t.insert(anon(0x10 * K, 0x20 * K, RW), 100).unwrap();
        t.insert(anon(0x30 * K, 0x40 * K, RW), 100).unwrap();
        assert_eq!(t.find(0x5 * K).unwrap().start, 0x10 * K);
        assert_eq!(t.find(0x1f * K).unwrap().start, 0x10 * K);
        assert_eq!(t.find(0x20 * K).unwrap().start, 0x30 * K);
        assert!(t.find(0x40 * K).is_none());
        assert!(t.containing(0x25 * K).is_none());
        assert_eq!(t.intersection(0x18 * K, 0x32 * K).unwrap().start, 0x10 * K);
        assert!(t.intersection(0x20 * K, 0x30 * K).is_none());
        assert_eq!(t.insert(anon(0x1f * K, 0x21 * K, RW), 100), Err(VmaError::Overlap));
    }

    #[test]
    fn split_and_merge_restore_one_area() {
        //   [10 ......................... 40)
        //   split at 20 and 30: [10..20) [20..30) [30..40)
        //   merge around 20:    [10 ......................... 40)
        let mut t = VmaTree::new();
        t.insert(anon(0x10 * K, 0x40 * K, RW), 100).unwrap();
        assert!(t.split_at(0x20 * K, 100));
        assert!(t.split_at(0x30 * K, 100));
        assert_eq!(spans(&t), vec![(0x10 * K, 0x20 * K), (0x20 * K, 0x30 * K), (0x30 * K, 0x40 * K)]);
        assert_eq!(t.containing(0x35 * K).unwrap().pgoff, 0x30);
        t.merge_around(0x20 * K);
        t.merge_around(0x10 * K);
        assert_eq!(spans(&t), vec![(0x10 * K, 0x40 * K)]);
        assert!(!t.split_at(0x20 * K, 0), "split refused past the map-count limit");
        t.check_invariants();
    }

    #[test]
    fn areas_with_different_flags_do_not_merge() {
        let mut t = VmaTree::new();
        t.insert(anon(0x10 * K, 0x20 * K, RW), 100).unwrap();
        t.insert(anon(0x20 * K, 0x30 * K, VmFlags::READ), 100).unwrap();
        t.merge_around(0x20 * K);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn topdown_gap_search_takes_the_highest_hole_and_respects_stack_gap() {
        //   low                                              high
        //   |   [a 10..20)        hole 20..50        [stack 60..70)|
        let mut t = VmaTree::new();
        t.insert(anon(0x10 * K, 0x20 * K, RW), 100).unwrap();
        t.insert(anon(0x60 * K, 0x70 * K, RW | VmFlags::GROWSDOWN), 100).unwrap();
        assert_eq!(t.gap_topdown(0x10 * K, K, 0x70 * K, 0x10 * K), Some(0x40 * K));
        assert_eq!(t.gap_topdown(0x40 * K, K, 0x70 * K, 0x10 * K), None);
        assert_eq!(t.gap_topdown(0xf * K, K, 0x70 * K, 0), Some(0x51 * K));
        assert!(t.is_free(0x20 * K, 0x50 * K, 0x10 * K));
        assert!(!t.is_free(0x20 * K, 0x58 * K, 0x10 * K), "too close below the stack");
    }
}
