//! memblock: the boot-time physical memory manager (cf. mm/memblock.c).
//!
//! Two sorted arrays of regions describe physical memory before the page
//! allocator exists:
//!
//! ```text
//!   memory:    [0x0000000-0x009ffff] [0x0100000-0x7fdffff]          all RAM
//!   reserved:  [0x0000000-0x00fffff]    [0x1000000-0x1595fff] ...   in use
//!   free     = memory - reserved
//! ```
//!
//! Regions never overlap inside one array and adjacent regions with the same
//! node, flags and name are merged. Each region carries a NUMA node id, and
//! reserved regions a name ("kernel image", "ramdisk", ...) that the dump
//! prints. Allocation is top-down by default, like Linux's: it takes the
//! highest free range that fits, so low memory (DMA) stays free longest.
//!
//! The arrays start in the `Memblock` value itself (128 entries each, as
//! `INIT_MEMBLOCK_REGIONS`); when one fills it is doubled into memory
//! allocated from memblock itself (`memblock_double_array`) and the new
//! array is reserved as "memblock arrays". Nothing is ever dropped silently.
//!
//! After the hand-off to the buddy allocator (`page_alloc`), memblock is
//! kept read-only for the dump and for releasing boot-time reservations.

use core::fmt;

use crate::addr::{PAGE_SIZE, PhysAddr, align_down, align_up};
use crate::phys::{PhysMem, place_array};

/// Initial capacity of each region array.
pub const INIT_MEMBLOCK_REGIONS: usize = 128;
/// "Any node" (Linux's NUMA_NO_NODE).
pub const NUMA_NO_NODE: u32 = u32::MAX;

/// One region of one array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub base: u64,
    pub size: u64,
    pub nid: u32,
    pub flags: u32,
    /// Why the range is reserved (empty for `memory` regions).
    pub name: &'static str,
}

impl Region {
    pub const EMPTY: Region = Region { base: 0, size: 0, nid: NUMA_NO_NODE, flags: 0, name: "" };

    pub fn end(&self) -> u64 {
        self.base + self.size
    }

    fn mergeable_with(&self, next: &Region) -> bool {
        self.end() == next.base && self.nid == next.nid && self.flags == next.flags && self.name == next.name
    }
}

/// Why a memblock operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemblockError {
    /// No free range satisfies the request.
    NoMemory,
    /// A region array is full and could not be grown.
    ArrayFull,
    /// Zero size, overflowing or otherwise impossible range.
    InvalidRange,
}

impl fmt::Display for MemblockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemblockError::NoMemory => write!(f, "no free memory satisfies the request"),
            MemblockError::ArrayFull => write!(f, "region array full and cannot grow"),
            MemblockError::InvalidRange => write!(f, "invalid range"),
        }
    }
}

/// Which array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Memory,
    Reserved,
}

/// A sorted, non-overlapping array of regions.
pub struct RegionArray {
    inline: [Region; INIT_MEMBLOCK_REGIONS],
    /// After growth: the array in physical memory, and its physical address.
    external: Option<(&'static mut [Region], u64)>,
    cnt: usize,
    total_size: u64,
    name: &'static str,
}

impl RegionArray {
    const fn new(name: &'static str) -> Self {
        RegionArray { inline: [Region::EMPTY; INIT_MEMBLOCK_REGIONS], external: None, cnt: 0, total_size: 0, name }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn capacity(&self) -> usize {
        self.external.as_ref().map_or(INIT_MEMBLOCK_REGIONS, |(a, _)| a.len())
    }

    /// Total bytes covered.
    pub fn total_size(&self) -> u64 {
        self.total_size
    }

    pub fn regions(&self) -> &[Region] {
        match &self.external {
            Some((a, _)) => &a[..self.cnt],
            None => &self.inline[..self.cnt],
        }
    }

    fn storage(&mut self) -> &mut [Region] {
        match &mut self.external {
            Some((a, _)) => a,
            None => &mut self.inline[..],
        }
    }

    fn insert_at(&mut self, idx: usize, r: Region) {
        debug_assert!(self.cnt < self.capacity());
        let cnt = self.cnt;
        let s = self.storage();
        s.copy_within(idx..cnt, idx + 1);
        s[idx] = r;
        self.cnt += 1;
        self.total_size += r.size;
    }

    fn remove_at(&mut self, idx: usize) {
        let cnt = self.cnt;
        let size = self.regions()[idx].size;
        self.storage().copy_within(idx + 1..cnt, idx);
        self.cnt -= 1;
        self.total_size -= size;
    }

    fn merge(&mut self) {
        let mut i = 0;
        while i + 1 < self.cnt {
            let (a, b) = (self.regions()[i], self.regions()[i + 1]);
            if a.mergeable_with(&b) {
                self.storage()[i].size += b.size;
                self.total_size += b.size; // remove_at subtracts it again
                self.remove_at(i + 1);
            } else {
                i += 1;
            }
        }
    }

    /// How many new entries adding `[base, end)` could need at most.
    fn insertions_needed(&self, base: u64, end: u64) -> usize {
        1 + self.regions().iter().filter(|r| r.base < end && r.end() > base).count()
    }

    /// memblock_add_range: insert the parts of `[base, end)` not already
    /// covered. Caller guarantees capacity for `insertions_needed`.
    fn add_range(&mut self, base: u64, end: u64, nid: u32, name: &'static str) {
        let mut cursor = base;
        let mut idx = 0;
        while idx < self.cnt && cursor < end {
            let r = self.regions()[idx];
            if r.end() <= cursor {
                idx += 1;
                continue;
            }
            if r.base >= end {
                break;
            }
            if r.base > cursor {
                self.insert_at(idx, Region { base: cursor, size: r.base - cursor, nid, flags: 0, name });
                idx += 1;
            }
            cursor = cursor.max(r.end());
            idx += 1;
        }
        if cursor < end {
            let at = self.regions().partition_point(|r| r.base < cursor);
            self.insert_at(at, Region { base: cursor, size: end - cursor, nid, flags: 0, name });
        }
        self.merge();
    }

    /// memblock_isolate_range: split regions so `[base, end)` starts and
    /// ends on region boundaries; returns the index range inside it.
    fn isolate(&mut self, base: u64, end: u64) -> (usize, usize) {
        let mut i = 0;
        while i < self.cnt {
            let r = self.regions()[i];
            if r.base >= end {
                break;
            }
            if r.end() <= base {
                i += 1;
                continue;
            }
            if r.base < base {
                // Split off the part below `base`.
                let low = Region { size: base - r.base, ..r };
                let high = Region { base, size: r.end() - base, ..r };
                self.remove_at(i);
                self.insert_at(i, high);
                self.insert_at(i, low);
                i += 1;
                continue;
            }
            if r.end() > end {
                let low = Region { size: end - r.base, ..r };
                let high = Region { base: end, size: r.end() - end, ..r };
                self.remove_at(i);
                self.insert_at(i, high);
                self.insert_at(i, low);
            }
            i += 1;
        }
        let start = self.regions().partition_point(|r| r.end() <= base);
        let stop = self.regions().partition_point(|r| r.base < end);
        (start, stop.max(start))
    }

    /// How many entries isolating `[base, end)` adds at most.
    fn isolate_needs(&self) -> usize {
        2
    }

    fn remove_range(&mut self, base: u64, end: u64) {
        let (start, stop) = self.isolate(base, end);
        for i in (start..stop).rev() {
            self.remove_at(i);
        }
    }
}

/// The boot memory allocator.
pub struct Memblock {
    pub memory: RegionArray,
    pub reserved: RegionArray,
    phys: Option<&'static dyn PhysMem>,
    /// Allocate from low addresses up instead of top-down.
    pub bottom_up: bool,
    /// Log every operation (kernel option `memblock=debug`).
    pub debug: bool,
    /// Set at the hand-off to the buddy allocator: allocating from memblock
    /// after that is a bug (the pages may already be in the buddy lists).
    frozen: bool,
}

fn checked_end(base: u64, size: u64) -> Result<u64, MemblockError> {
    if size == 0 {
        return Err(MemblockError::InvalidRange);
    }
    base.checked_add(size).ok_or(MemblockError::InvalidRange)
}

impl Default for Memblock {
    fn default() -> Self {
        Self::new()
    }
}

impl Memblock {
    pub const fn new() -> Self {
        Memblock {
            memory: RegionArray::new("memory"),
            reserved: RegionArray::new("reserved"),
            phys: None,
            bottom_up: false,
            debug: false,
            frozen: false,
        }
    }

    /// Give memblock a window onto physical memory, needed to grow its
    /// arrays beyond the initial 128 entries.
    pub fn set_phys(&mut self, phys: &'static dyn PhysMem) {
        self.phys = Some(phys);
    }

    fn array(&mut self, which: Which) -> &mut RegionArray {
        match which {
            Which::Memory => &mut self.memory,
            Which::Reserved => &mut self.reserved,
        }
    }

    /// Make room for `needed` more entries in `which`, doubling the array
    /// into memory taken from memblock itself when it is too small.
    fn ensure_room(&mut self, which: Which, needed: usize) -> Result<(), MemblockError> {
        while self.array(which).cnt + needed > self.array(which).capacity() {
            self.double_array(which)?;
        }
        Ok(())
    }

    /// memblock_double_array.
    fn double_array(&mut self, which: Which) -> Result<(), MemblockError> {
        let phys = self.phys.ok_or(MemblockError::ArrayFull)?;
        let old_cap = self.array(which).capacity();
        let new_cap = old_cap * 2;
        let bytes = (new_cap * core::mem::size_of::<Region>()) as u64;
        let bytes = align_up(bytes, PAGE_SIZE).ok_or(MemblockError::ArrayFull)?;
        // Find space without reserving yet: reserving may itself need the
        // room we are making.
        let base = self.find_in_range(bytes, PAGE_SIZE, 0, u64::MAX, NUMA_NO_NODE).ok_or(MemblockError::ArrayFull)?;
        let arr = self.array(which);
        let old_external = arr.external.as_ref().map(|(a, old_base)| (a.len(), *old_base));
        let old = arr.regions();
        let copy = |i: usize| old.get(i).copied().unwrap_or(Region::EMPTY);
        // SAFETY: free RAM that nothing else uses, reserved for this array
        // just below and freed only after the array is replaced.
        let grown = unsafe { place_array(phys, PhysAddr::new(base), new_cap, copy) }.ok_or(MemblockError::ArrayFull)?;
        arr.external = Some((grown, base));
        if self.debug {
            log::info!(
                "memblock: {} is doubled to {} at [{:#018x}-{:#018x}]",
                self.array(which).name,
                new_cap,
                base,
                base + bytes - 1
            );
        }
        // Both arrays have room now for the reservation bookkeeping.
        self.reserve(base, bytes, "memblock arrays")?;
        if let Some((cap, old_base)) = old_external {
            let old_bytes = align_up((cap * core::mem::size_of::<Region>()) as u64, PAGE_SIZE).unwrap_or(0);
            self.free(old_base, old_bytes)?;
        }
        Ok(())
    }

    fn add_to(
        &mut self,
        which: Which,
        base: u64,
        size: u64,
        nid: u32,
        name: &'static str,
    ) -> Result<(), MemblockError> {
        let end = checked_end(base, size)?;
        let needed = self.array(which).insertions_needed(base, end);
        self.ensure_room(which, needed)?;
        self.array(which).add_range(base, end, nid, name);
        Ok(())
    }

    fn remove_from(&mut self, which: Which, base: u64, size: u64) -> Result<(), MemblockError> {
        let end = checked_end(base, size)?;
        let needed = self.array(which).isolate_needs();
        self.ensure_room(which, needed)?;
        self.array(which).remove_range(base, end);
        Ok(())
    }

    /// memblock_add_node: register RAM on node `nid`.
    pub fn add_node(&mut self, base: u64, size: u64, nid: u32) -> Result<(), MemblockError> {
        if self.debug {
            log::info!(
                "memblock_add: [{:#018x}-{:#018x}] nid {}",
                base,
                base.wrapping_add(size).wrapping_sub(1),
                nid as i32
            );
        }
        self.add_to(Which::Memory, base, size, nid, "")
    }

    /// memblock_add: register RAM (node not yet known).
    pub fn add(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.add_node(base, size, NUMA_NO_NODE)
    }

    /// memblock_remove: forget RAM.
    pub fn remove(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.remove_from(Which::Memory, base, size)
    }

    /// memblock_reserve: mark `[base, base+size)` in use, named `name`.
    /// Parts already reserved keep their earlier name.
    pub fn reserve(&mut self, base: u64, size: u64, name: &'static str) -> Result<(), MemblockError> {
        if self.debug {
            log::info!("memblock_reserve: [{:#018x}-{:#018x}] {}", base, base.wrapping_add(size).wrapping_sub(1), name);
        }
        self.add_to(Which::Reserved, base, size, NUMA_NO_NODE, name)
    }

    /// memblock_phys_free: release a reservation.
    pub fn free(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        if self.debug {
            log::info!("memblock_phys_free: [{:#018x}-{:#018x}]", base, base.wrapping_add(size).wrapping_sub(1));
        }
        self.remove_from(Which::Reserved, base, size)
    }

    /// memblock_set_node: assign `[base, base+size)` of memory to `nid`,
    /// splitting regions at the boundaries.
    pub fn set_node(&mut self, base: u64, size: u64, nid: u32) -> Result<(), MemblockError> {
        let end = checked_end(base, size)?;
        self.ensure_room(Which::Memory, 2)?;
        let (start, stop) = self.memory.isolate(base, end);
        for r in &mut self.memory.storage()[start..stop] {
            r.nid = nid;
        }
        self.memory.merge();
        Ok(())
    }

    /// Stop allocating: the free memory now belongs to the buddy allocator.
    /// The arrays stay readable (dump, releasing boot reservations).
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// Whether any byte of `[base, base+size)` is reserved.
    pub fn is_reserved(&self, base: u64, size: u64) -> bool {
        let end = base.saturating_add(size);
        self.reserved.regions().iter().any(|r| r.base < end && r.end() > base)
    }

    /// Whether `[base, base+size)` is entirely memory.
    pub fn is_memory(&self, base: u64, size: u64) -> bool {
        let end = base.saturating_add(size);
        let mut cursor = base;
        for r in self.memory.regions() {
            if r.end() <= cursor {
                continue;
            }
            if r.base > cursor {
                return false;
            }
            cursor = r.end();
            if cursor >= end {
                return true;
            }
        }
        cursor >= end
    }

    /// Call `f(start, end, nid)` for every free range (memory minus
    /// reserved) on node `nid` (or any with `NUMA_NO_NODE`), ascending.
    pub fn for_each_free_range(&self, nid: u32, mut f: impl FnMut(u64, u64, u32)) {
        let reserved = self.reserved.regions();
        for m in self.memory.regions() {
            if nid != NUMA_NO_NODE && m.nid != nid {
                continue;
            }
            let mut cursor = m.base;
            let first = reserved.partition_point(|r| r.end() <= m.base);
            for r in &reserved[first..] {
                if r.base >= m.end() {
                    break;
                }
                if r.base > cursor {
                    f(cursor, r.base, m.nid);
                }
                cursor = cursor.max(r.end());
            }
            if cursor < m.end() {
                f(cursor, m.end(), m.nid);
            }
        }
    }

    /// Like `for_each_free_range`, descending; stops when `f` returns true.
    fn find_free_reverse(&self, nid: u32, mut f: impl FnMut(u64, u64) -> bool) -> bool {
        let reserved = self.reserved.regions();
        for m in self.memory.regions().iter().rev() {
            if nid != NUMA_NO_NODE && m.nid != nid {
                continue;
            }
            let mut cursor = m.end();
            let last = reserved.partition_point(|r| r.base < m.end());
            for r in reserved[..last].iter().rev() {
                if r.end() <= m.base {
                    break;
                }
                if r.end() < cursor && f(r.end().max(m.base), cursor) {
                    return true;
                }
                cursor = cursor.min(r.base.max(m.base));
            }
            if cursor > m.base && f(m.base, cursor) {
                return true;
            }
        }
        false
    }

    /// memblock_find_in_range_node: a free, aligned `size`-byte block
    /// inside `[start, end)` on `nid`, top-down unless `bottom_up`.
    pub fn find_in_range(&self, size: u64, align: u64, start: u64, end: u64, nid: u32) -> Option<u64> {
        if size == 0 || !align.is_power_of_two() {
            return None;
        }
        // Never hand out the zero page: a physical address of 0 reads as
        // "no memory" in too many places.
        let start = start.max(PAGE_SIZE);
        let mut found = None;
        if self.bottom_up {
            self.for_each_free_range(nid, |fs, fe, _| {
                if found.is_some() {
                    return;
                }
                let (lo, hi) = (fs.max(start), fe.min(end));
                if let Some(cand) = align_up(lo, align) {
                    if cand < hi && hi - cand >= size {
                        found = Some(cand);
                    }
                }
            });
        } else {
            self.find_free_reverse(nid, |fs, fe| {
                let (lo, hi) = (fs.max(start), fe.min(end));
                if hi <= lo || hi - lo < size {
                    return false;
                }
                let cand = align_down(hi - size, align);
                if cand >= lo {
                    found = Some(cand);
                    true
                } else {
                    false
                }
            });
        }
        found
    }

    /// memblock_alloc_range_nid: allocate and reserve `size` bytes aligned to
    /// `align` within `[start, end)`, preferring node `nid`; falls back to any
    /// node unless `exact_nid`.
    pub fn alloc_range_nid(
        &mut self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        nid: u32,
        exact_nid: bool,
        name: &'static str,
    ) -> Result<u64, MemblockError> {
        if size == 0 || !align.is_power_of_two() {
            return Err(MemblockError::InvalidRange);
        }
        if self.frozen {
            log::error!("memblock: BUG: allocation of {size} bytes ({name}) after the hand-off to the buddy allocator");
            return Err(MemblockError::NoMemory);
        }
        let mut base = self.find_in_range(size, align, start, end, nid);
        if base.is_none() && nid != NUMA_NO_NODE && !exact_nid {
            base = self.find_in_range(size, align, start, end, NUMA_NO_NODE);
        }
        let base = base.ok_or(MemblockError::NoMemory)?;
        self.reserve(base, size, name)?;
        Ok(base)
    }

    /// memblock_phys_alloc: anywhere, any node.
    pub fn alloc(&mut self, size: u64, align: u64, name: &'static str) -> Result<u64, MemblockError> {
        self.alloc_range_nid(size, align, 0, u64::MAX, NUMA_NO_NODE, false, name)
    }

    /// Node of the memory region containing `pa`.
    pub fn nid_of(&self, pa: u64) -> Option<u32> {
        self.memory.regions().iter().find(|r| r.base <= pa && pa < r.end()).map(|r| r.nid)
    }

    /// Bytes of memory minus reserved.
    pub fn free_bytes(&self) -> u64 {
        let mut total = 0;
        self.for_each_free_range(NUMA_NO_NODE, |s, e, _| total += e - s);
        total
    }

    /// Whole pages inside free ranges: what the hand-off can give to the
    /// buddy allocator.
    pub fn free_whole_pages(&self) -> u64 {
        let mut total = 0;
        self.for_each_free_range(NUMA_NO_NODE, |s, e, _| {
            let (s, e) = (s.div_ceil(PAGE_SIZE), e / PAGE_SIZE);
            total += e.saturating_sub(s);
        });
        total
    }

    /// Highest memory address (exclusive).
    pub fn end_of_ram(&self) -> u64 {
        self.memory.regions().last().map(Region::end).unwrap_or(0)
    }

    /// Print in the form of Linux's `memblock_dump_all`, with each
    /// reservation's name after its flags.
    pub fn dump(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(w, "MEMBLOCK configuration:")?;
        writeln!(
            w,
            " memory size = {:#018x} reserved size = {:#018x}",
            self.memory.total_size, self.reserved.total_size
        )?;
        for arr in [&self.memory, &self.reserved] {
            writeln!(w, " {}.cnt  = {:#x}", arr.name, arr.cnt)?;
            for (i, r) in arr.regions().iter().enumerate() {
                let node = if r.nid == NUMA_NO_NODE {
                    alloc::string::String::new()
                } else {
                    alloc::format!(" on node {}", r.nid)
                };
                write!(
                    w,
                    " {}[{:#x}]\t[{:#018x}-{:#018x}], {:#018x} bytes{} flags: {:#x}",
                    arr.name,
                    i,
                    r.base,
                    r.end() - 1,
                    r.size,
                    node,
                    r.flags
                )?;
                if r.name.is_empty() {
                    writeln!(w)?;
                } else {
                    writeln!(w, " ({})", r.name)?;
                }
            }
        }
        Ok(())
    }

    /// Check the arrays' invariants (sorted, non-overlapping, merged,
    /// totals right). Panics with "memblock: ..." on a broken invariant.
    pub fn check_invariants(&self) {
        for arr in [&self.memory, &self.reserved] {
            let mut total = 0;
            for (i, r) in arr.regions().iter().enumerate() {
                assert!(r.size > 0, "memblock: empty region in {}", arr.name);
                total += r.size;
                if i > 0 {
                    let p = arr.regions()[i - 1];
                    assert!(p.end() <= r.base, "memblock: {} regions overlap or are unsorted", arr.name);
                    assert!(!p.mergeable_with(r), "memblock: {} regions left unmerged", arr.name);
                }
            }
            assert_eq!(total, arr.total_size, "memblock: {} total_size out of date", arr.name);
        }
    }
}

#[cfg(test)]
mod tests;
