//! The binary page views: /proc/PID/pagemap (one u64 per virtual page of
//! a process), /proc/kpagecount and /proc/kpageflags (one u64 per page
//! frame) (cf. fs/proc/task_mmu.c `pagemap_read`, fs/proc/page.c,
//! Documentation/admin-guide/mm/pagemap.rst,
//! include/uapi/linux/kernel-page-flags.h).
//!
//! ```text
//!   pagemap entry   63 present   62 swapped (bits 0-4 swap type, 5-54 offset)
//!                   61 file page or shared anonymous
//!                   56 mapped by this process only (map count 1)
//!                   55 soft-dirty (the entry's bit, or the area's VM_SOFTDIRTY)
//!                   54..0 page frame number (0 unless the reader may see it)
//! ```
//!
//! A hole between areas reads as 0; a page of an area that is not mapped
//! reads as 0 too, plus bit 55 while the area is soft-dirty. The caller
//! holds the address space's lock (the `&AddressSpace`); kpagecount and
//! kpageflags read page descriptors without a lock, as Linux's do: each
//! value is a snapshot that may be stale by the time it is read.

use x86_64::structures::paging::PageTableFlags as F;

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn};
use crate::phys::page::PageFlags;
use crate::phys::page_alloc::PageAllocator;
use crate::vm::address_space::{AddressSpace, MmEnv, TASK_SIZE};
use crate::vm::page_table::SOFT_DIRTY;
use crate::vm::vma::VmFlags;

pub const PM_PFRAME_MASK: u64 = (1 << 55) - 1;
pub const PM_SOFT_DIRTY: u64 = 1 << 55;
pub const PM_MMAP_EXCLUSIVE: u64 = 1 << 56;
pub const PM_FILE: u64 = 1 << 61;
pub const PM_SWAP: u64 = 1 << 62;
pub const PM_PRESENT: u64 = 1 << 63;

/// Bytes per entry of every file here.
pub const ENTRY_BYTES: u64 = 8;

/// The pagemap entry of one present 4 KiB mapping of `pfn` with entry
/// flags `flags`, in an area with `vma_flags` (`pte_to_pagemap_entry`).
/// `show_pfn`: the reader had CAP_SYS_ADMIN when it opened the file.
pub fn present_entry(env: &MmEnv<'_>, pfn: Pfn, flags: F, vma_flags: VmFlags, show_pfn: bool) -> u64 {
    let mut e = PM_PRESENT;
    if show_pfn {
        e |= pfn.0 & PM_PFRAME_MASK;
    }
    if flags.contains(SOFT_DIRTY) || vma_flags.contains(VmFlags::SOFTDIRTY) {
        e |= PM_SOFT_DIRTY;
    }
    // The zero page is no "normal" page: neither file nor exclusive.
    if pfn != env.zero_page {
        if let Some(p) = env.pa.page(pfn) {
            if !p.has(PageFlags::ANON) {
                e |= PM_FILE;
            }
            if p.mapcount() == 1 {
                e |= PM_MMAP_EXCLUSIVE;
            }
        }
    }
    e
}

/// Fill `out` with the entries of the virtual pages from `start_vpn` on;
/// the number filled (fewer than `out.len()` at TASK_SIZE, the end of the
/// file).
pub fn read(space: &AddressSpace, env: &MmEnv<'_>, start_vpn: u64, out: &mut [u64], show_pfn: bool) -> usize {
    let end_vpn = TASK_SIZE >> PAGE_SHIFT;
    if start_vpn >= end_vpn {
        return 0;
    }
    let n = (out.len() as u64).min(end_vpn - start_vpn) as usize;
    let out = &mut out[..n];
    out.fill(0);
    let (start, end) = (start_vpn << PAGE_SHIFT, (start_vpn + n as u64) << PAGE_SHIFT);
    let slot = |va: u64| ((va - start) >> PAGE_SHIFT) as usize;
    for v in space.vmas.overlapping(start..end) {
        let (s, e) = (v.start.max(start), v.end.min(end));
        if v.flags.contains(VmFlags::SOFTDIRTY) {
            out[slot(s)..slot(e)].fill(PM_SOFT_DIRTY);
        }
        space.for_each_leaf(env, s, e, &mut |l| {
            // User memory is mapped with 4 KiB entries; a larger leaf gives
            // each of its pages the entry of its frame.
            let mut va = l.va.max(s);
            while va < (l.va + l.size.bytes()).min(e) {
                let pfn = Pfn::from_phys(l.phys.as_u64() + (va - l.va));
                out[slot(va)] = present_entry(env, pfn, l.flags, v.flags, show_pfn);
                va += PAGE_SIZE;
            }
        });
        // A page being moved (a migration entry) is resident: its entry
        // shows the page as it was mapped.
        space.for_each_migration_entry(env, s, e, &mut |va, m| {
            let flags = if m.soft_dirty { SOFT_DIRTY } else { F::empty() };
            out[slot(va)] = present_entry(env, Pfn(m.pfn), flags, v.flags, show_pfn);
        });
        // Swapped-out pages: bit 62, and where (type in bits 0-4, offset
        // above) when the reader may see frame numbers.
        space.for_each_swap_entry(env, s, e, &mut |va, entry| {
            let mut x = PM_SWAP | (out[slot(va)] & PM_SOFT_DIRTY);
            if show_pfn {
                x |= entry.pagemap_bits() & PM_PFRAME_MASK;
            }
            out[slot(va)] = x;
            true
        });
    }
    n
}

/// KPF_* bits (include/uapi/linux/kernel-page-flags.h).
pub mod kpf {
    pub const LOCKED: u32 = 0;
    pub const REFERENCED: u32 = 2;
    pub const UPTODATE: u32 = 3;
    pub const DIRTY: u32 = 4;
    pub const LRU: u32 = 5;
    pub const ACTIVE: u32 = 6;
    pub const SLAB: u32 = 7;
    pub const BUDDY: u32 = 10;
    pub const MMAP: u32 = 11;
    pub const ANON: u32 = 12;
    pub const SWAPBACKED: u32 = 14;
    pub const COMPOUND_HEAD: u32 = 15;
    pub const COMPOUND_TAIL: u32 = 16;
    pub const HUGE: u32 = 17;
    pub const UNEVICTABLE: u32 = 18;
    pub const NOPAGE: u32 = 20;
    pub const ZERO_PAGE: u32 = 24;
    pub const PGTABLE: u32 = 26;
    pub const RESERVED: u32 = 32;
    pub const MLOCKED: u32 = 33;
}

/// Number of entries kpagecount and kpageflags have (`max_pfn`).
pub fn nr_pfns(pa: &PageAllocator) -> u64 {
    pa.memmap.max_pfn()
}

/// /proc/kpagecount's entry: how many page-table entries map the frame.
pub fn kpagecount(pa: &PageAllocator, pfn: Pfn) -> u64 {
    pa.page(pfn).map_or(0, |p| p.mapcount().max(0) as u64)
}

/// /proc/kpageflags's entry (`stable_page_flags`): what the descriptor
/// truthfully tells. No page lock, reference bit or writeback exists
/// here, so LOCKED, REFERENCED and WRITEBACK are never set.
pub fn kpageflags(pa: &PageAllocator, zero_page: Pfn, pfn: Pfn) -> u64 {
    let Some(p) = pa.page(pfn) else { return 1 << kpf::NOPAGE };
    let f = p.flags();
    if f.contains(PageFlags::HOLE) {
        return 1 << kpf::NOPAGE;
    }
    let mut u = 0u64;
    let mut set = |bit: u32, on: bool| {
        if on {
            u |= 1 << bit;
        }
    };
    let user = f.intersects(PageFlags::ANON | PageFlags::FILE | PageFlags::SHMEM);
    set(kpf::MMAP, p.mapcount() > 0);
    set(kpf::ANON, f.contains(PageFlags::ANON));
    set(kpf::COMPOUND_HEAD, f.contains(PageFlags::HEAD));
    set(kpf::COMPOUND_TAIL, f.contains(PageFlags::TAIL));
    // A hugetlb page, head or tail (a tail's `private` is its head).
    let head = if f.contains(PageFlags::TAIL) {
        pa.page(Pfn(p.private.load(core::sync::atomic::Ordering::Relaxed)))
    } else {
        Some(p)
    };
    set(kpf::HUGE, head.is_some_and(|h| h.has(PageFlags::HUGETLB)));
    set(kpf::ZERO_PAGE, pfn == zero_page);
    set(kpf::BUDDY, f.contains(PageFlags::BUDDY));
    set(kpf::PGTABLE, f.contains(PageFlags::PAGETABLE));
    set(kpf::SLAB, f.contains(PageFlags::SLAB));
    // User pages are filled before anyone maps them.
    set(kpf::UPTODATE, user || pfn == zero_page);
    set(kpf::DIRTY, f.contains(PageFlags::DIRTY));
    set(kpf::LRU, f.contains(PageFlags::LRU));
    set(kpf::ACTIVE, f.contains(PageFlags::ACTIVE));
    set(kpf::SWAPBACKED, f.contains(PageFlags::SWAPBACKED));
    set(kpf::UNEVICTABLE, f.contains(PageFlags::MLOCKED));
    set(kpf::MLOCKED, f.contains(PageFlags::MLOCKED));
    set(kpf::RESERVED, f.contains(PageFlags::RESERVED));
    u
}

#[cfg(test)]
mod tests;
