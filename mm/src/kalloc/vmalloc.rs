//! vmalloc: virtually contiguous kernel memory built from single pages
//! (cf. mm/vmalloc.c).
//!
//! A range of kernel virtual addresses is handed out in areas, each
//! followed by an unmapped guard page, so running off the end of an area
//! (or off the bottom of the area above it: a kernel stack growing down)
//! faults instead of corrupting a neighbour:
//!
//! ```text
//!   VMALLOC_START  [guard][area A ......][guard][area B ...][guard] ...
//! ```
//!
//! Areas are tracked in an ordered map from start address (the interval
//! structure; Linux uses a red-black tree) and placed first-fit. `vmalloc`
//! backs an area with pages from the buddy allocator, one at a time, so a
//! large area does not need physically contiguous memory; `vmap` and
//! `ioremap` map frames the caller owns (the initrd, the framebuffer).
//! `vfree` unmaps, flushes the TLB and returns the pages.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use x86_64::structures::paging::PageTableFlags as F;

use crate::addr::{PAGE_SIZE, Pfn, PhysAddr};
use crate::phys::gfp::Gfp;
use crate::phys::page::PageFlags;
use crate::phys::page_alloc::PageAllocator;
use crate::sync::IrqLock;
use crate::vm::page_table::{MapSize, Mapper, TableAlloc};
use crate::vm::tlb::TlbFlusher;

/// What an area is for (the flags column of /proc/vmallocinfo).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmKind {
    /// Pages allocated by vmalloc.
    Vmalloc,
    /// A kernel stack (vmalloc'd, counted in KernelStack too).
    KernelStack,
    /// Frames owned by someone else, mapped with `vmap`.
    Vmap,
    /// Device memory mapped with `ioremap`.
    Ioremap,
}

impl VmKind {
    /// The flag /proc/vmallocinfo prints.
    pub fn name(self) -> &'static str {
        match self {
            VmKind::Vmalloc | VmKind::KernelStack => "vmalloc",
            VmKind::Vmap => "vmap",
            VmKind::Ioremap => "ioremap",
        }
    }

    /// Whether the area's frames are its own (allocated by vmalloc).
    pub fn owns_pages(self) -> bool {
        matches!(self, VmKind::Vmalloc | VmKind::KernelStack)
    }
}

/// One area.
#[derive(Clone, Debug)]
pub struct VmArea {
    pub start: u64,
    /// Mapped bytes (the guard page after it not included).
    pub size: u64,
    pub kind: VmKind,
    /// Who asked for it, as shown in /proc/vmallocinfo.
    pub caller: &'static str,
    /// Frames mapped, in order (owned for vmalloc, borrowed for vmap).
    pub frames: Vec<u64>,
    /// Start of the physical range for ioremap.
    pub phys: Option<u64>,
}

impl VmArea {
    pub fn end(&self) -> u64 {
        self.start + self.size
    }
}

/// Why a vmalloc operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmallocError {
    /// No virtual space left, or no pages.
    NoMemory,
    /// `vfree` of an address that starts no area.
    BadAddress,
    BadSize,
}

/// The kernel page tables vmalloc writes to.
pub struct KernelSpace<'a> {
    pub pa: &'static PageAllocator,
    pub tables: &'a dyn TableAlloc,
    pub root: PhysAddr,
    pub tlb: &'a dyn TlbFlusher,
}

/// A vmalloc address range and its areas.
pub struct Vmalloc {
    pub start: u64,
    pub end: u64,
    areas: IrqLock<BTreeMap<u64, VmArea>>,
}

/// The unmapped page after every area.
pub const GUARD: u64 = PAGE_SIZE;
const KERNEL_FLAGS: F = F::WRITABLE.union(F::NO_EXECUTE).union(F::GLOBAL);

impl Vmalloc {
    pub const fn new(start: u64, end: u64) -> Vmalloc {
        Vmalloc { start, end, areas: IrqLock::new(BTreeMap::new()) }
    }

    /// First-fit search for `size` bytes plus a guard page. The space starts
    /// with a guard page too, so the first area also has one below it.
    fn find_gap(&self, areas: &BTreeMap<u64, VmArea>, size: u64) -> Option<u64> {
        let need = size.checked_add(GUARD)?;
        let mut cand = self.start + GUARD;
        for a in areas.values() {
            if a.start >= cand && a.start - cand >= need {
                return Some(cand);
            }
            cand = cand.max(a.end() + GUARD);
        }
        (cand.checked_add(need)? <= self.end).then_some(cand)
    }

    fn map_frames(&self, ks: &KernelSpace<'_>, start: u64, frames: &[u64], flags: F) -> bool {
        let mut m = Mapper::new(ks.pa.phys(), ks.tables, ks.root);
        for (i, &f) in frames.iter().enumerate() {
            if m.map_page(start + i as u64 * PAGE_SIZE, f, MapSize::Size4K, flags).is_err() {
                if i > 0 {
                    let _ = m.unmap_range(start, i as u64 * PAGE_SIZE, &mut |_| {}).map(|f| f.flush(ks.tlb));
                }
                return false;
            }
        }
        true
    }

    /// `vmalloc(size)`: back a new area with single pages (zeroed when
    /// `zero`). Returns its address.
    pub fn vmalloc(
        &self,
        ks: &KernelSpace<'_>,
        size: u64,
        kind: VmKind,
        caller: &'static str,
        zero: bool,
    ) -> Result<u64, VmallocError> {
        if size == 0 {
            return Err(VmallocError::BadSize);
        }
        let size = size.checked_next_multiple_of(PAGE_SIZE).ok_or(VmallocError::BadSize)?;
        let mut areas = self.areas.lock();
        let start = self.find_gap(&areas, size).ok_or(VmallocError::NoMemory)?;
        let mut frames = Vec::with_capacity((size / PAGE_SIZE) as usize);
        let gfp = if zero { Gfp::DIRECT_RECLAIM | Gfp::ZERO } else { Gfp::DIRECT_RECLAIM };
        let give_back = |frames: &[u64]| {
            for &f in frames {
                let _ = ks.pa.free_pages(Pfn::from_phys(f), 0);
            }
        };
        for _ in 0..size / PAGE_SIZE {
            match ks.pa.alloc_pages(gfp, 0) {
                Some(p) => frames.push(p.phys()),
                None => {
                    give_back(&frames);
                    return Err(VmallocError::NoMemory);
                }
            }
        }
        if !self.map_frames(ks, start, &frames, KERNEL_FLAGS) {
            give_back(&frames);
            return Err(VmallocError::NoMemory);
        }
        let flag = if kind == VmKind::KernelStack { PageFlags::KSTACK } else { PageFlags::VMALLOC };
        for &f in &frames {
            if let Some(p) = ks.pa.page(Pfn::from_phys(f)) {
                p.insert_flags(flag);
            }
        }
        ks.pa.vmstat.vmalloc_pages.add(frames.len() as i64);
        if kind == VmKind::KernelStack {
            ks.pa.vmstat.kernel_stack_kb.add((size / 1024) as i64);
        }
        areas.insert(start, VmArea { start, size, kind, caller, frames, phys: None });
        Ok(start)
    }

    /// Map frames the caller owns into a new area (`vmap`), or a
    /// physically contiguous device range (`ioremap`, `phys` set).
    pub fn vmap(
        &self,
        ks: &KernelSpace<'_>,
        frames: Vec<u64>,
        flags: F,
        kind: VmKind,
        caller: &'static str,
    ) -> Result<u64, VmallocError> {
        if frames.is_empty() || kind.owns_pages() {
            return Err(VmallocError::BadSize);
        }
        let size = frames.len() as u64 * PAGE_SIZE;
        let mut areas = self.areas.lock();
        let start = self.find_gap(&areas, size).ok_or(VmallocError::NoMemory)?;
        if !self.map_frames(ks, start, &frames, flags | F::GLOBAL) {
            return Err(VmallocError::NoMemory);
        }
        let phys = (kind == VmKind::Ioremap).then(|| frames[0]);
        areas.insert(start, VmArea { start, size, kind, caller, frames, phys });
        Ok(start)
    }

    /// `ioremap`: map `[pa, pa+len)` (rounded out to pages). Returns the
    /// kernel address of `pa` itself.
    pub fn ioremap(
        &self,
        ks: &KernelSpace<'_>,
        pa: u64,
        len: u64,
        flags: F,
        caller: &'static str,
    ) -> Result<u64, VmallocError> {
        let first = pa & !(PAGE_SIZE - 1);
        let end = pa.checked_add(len).ok_or(VmallocError::BadSize)?.next_multiple_of(PAGE_SIZE);
        let frames: Vec<u64> = (first..end).step_by(PAGE_SIZE as usize).collect();
        let va = self.vmap(ks, frames, flags, VmKind::Ioremap, caller)?;
        Ok(va + (pa - first))
    }

    /// `vfree` / `vunmap` / `iounmap`: remove the area starting at `va`.
    pub fn vfree(&self, ks: &KernelSpace<'_>, va: u64) -> Result<(), VmallocError> {
        let mut areas = self.areas.lock();
        let area = areas.remove(&(va & !(PAGE_SIZE - 1))).ok_or_else(|| {
            log::error!("vfree: BUG: {:#x} does not start a vmalloc area", va);
            VmallocError::BadAddress
        })?;
        let mut m = Mapper::new(ks.pa.phys(), ks.tables, ks.root);
        match m.unmap_range(area.start, area.size, &mut |_| {}) {
            Ok(f) => f.flush(ks.tlb),
            Err(_) => ks.tlb.flush_all(),
        }
        if area.kind.owns_pages() {
            for &f in &area.frames {
                if let Some(p) = ks.pa.page(Pfn::from_phys(f)) {
                    p.remove_flags(PageFlags::VMALLOC | PageFlags::KSTACK);
                }
                let _ = ks.pa.free_pages(Pfn::from_phys(f), 0);
            }
            ks.pa.vmstat.vmalloc_pages.sub(area.frames.len() as i64);
            if area.kind == VmKind::KernelStack {
                ks.pa.vmstat.kernel_stack_kb.sub((area.size / 1024) as i64);
            }
        }
        Ok(())
    }

    /// The area containing `va`, if any.
    pub fn find(&self, va: u64) -> Option<VmArea> {
        let areas = self.areas.lock();
        areas.range(..=va).next_back().map(|(_, a)| a).filter(|a| va < a.end()).cloned()
    }

    /// If `va` lies in the guard page just below an area, that area (a
    /// kernel stack that overflowed downwards, or an overrun of the area
    /// below it).
    /// Does not wait for the lock (it runs on the double-fault path):
    /// returns `None` if the areas are locked.
    pub fn guard_hit(&self, va: u64) -> Option<VmArea> {
        if va < self.start || va >= self.end {
            return None;
        }
        let areas = self.areas.try_lock()?;
        if areas.range(..=va).next_back().is_some_and(|(_, a)| va < a.end()) {
            return None;
        }
        areas.range(va..).next().map(|(_, a)| a).filter(|a| a.start - (va & !(PAGE_SIZE - 1)) <= GUARD).cloned()
    }

    /// Largest free gap (VmallocChunk).
    pub fn largest_free(&self) -> u64 {
        let areas = self.areas.lock();
        let mut cursor = self.start;
        let mut best = 0;
        for a in areas.values() {
            best = best.max(a.start.saturating_sub(cursor));
            cursor = a.end() + GUARD;
        }
        best.max(self.end.saturating_sub(cursor))
    }

    pub fn total(&self) -> u64 {
        self.end - self.start
    }

    pub fn nr_areas(&self) -> usize {
        self.areas.lock().len()
    }

    /// A snapshot of the areas, by address.
    pub fn areas(&self) -> Vec<VmArea> {
        self.areas.lock().values().cloned().collect()
    }
}

#[cfg(test)]
mod tests;
