//! Transparent huge pages for private anonymous memory (cf.
//! mm/huge_memory.c `do_huge_pmd_anonymous_page`, `__split_huge_pmd`,
//! `split_huge_page`).
//!
//! ```text
//!   fault in an eligible area, its 2 MiB block inside the area and not
//!   mapped yet ──> a zeroed order-9 page mapped by one directory entry
//!                  (no 2 MiB block free: thp_fault_fallback, 4 KiB pages)
//!   anything that works on 4 KiB pages (a cut by munmap, mprotect,
//!   mlock, madvise, mremap; fork) ──> split first: the entry becomes a
//!                  page table of 512 entries and the page 512 pages, each
//!                  with its own reference, map count and LRU place
//!   zap of the whole block ──> the 2 MiB page goes back at once
//! ```
//!
//! Eligible: `enabled` is always (and the area is not MADV_NOHUGEPAGE) or
//! madvise and the area is MADV_HUGEPAGE; the process did not
//! PR_SET_THP_DISABLE. A read fault takes a huge page too (Linux with
//! `use_zero_page` 0: there is no huge zero page here). `defrag` decides
//! whether the fault may reclaim and compact for its block (always; madvise
//! in MADV_HUGEPAGE areas) or takes only what is free.
//!
//! A huge page is mapped by exactly one entry of one address space: fork
//! splits it first (Linux shares it copy-on-write and splits at the first
//! write). It is not on an LRU list, so reclaim does not age or swap it
//! until something splits it, and compaction and migration leave it
//! where it is.
//!
//! Locks: a fault installs under the page-table lock as 4 KiB faults do;
//! splits run with the address-space lock exclusive (or under the PTL
//! from a fault), so no other CPU walks the entry being replaced.

use x86_64::structures::paging::PageTableFlags as F;

use crate::addr::{PAGE_SIZE, Pfn, PhysAddr};
use crate::phys::gfp::{GFP_HIGHUSER_MOVABLE, Gfp};
use crate::phys::hugetlb::{HPAGE_ORDER, HPAGE_PAGES, HPAGE_SIZE, ThpDefrag, ThpEnabled};
use crate::phys::page::PageFlags;
use crate::vm::address_space::{AddressSpace, MmEnv, RssKind};
use crate::vm::fault::{FaultDone, FaultError};
use crate::vm::vma::{Backing, VmFlags, Vma};

/// Whether `vma` may have transparent huge pages (smaps' THPeligible).
pub fn vma_eligible(env: &MmEnv<'_>, mm: &AddressSpace, vma: &Vma) -> bool {
    if !matches!(vma.backing, Backing::Anon) || vma.flags.contains(VmFlags::SHARED) || mm.thp_disabled {
        return false;
    }
    let whole = vma.start.next_multiple_of(HPAGE_SIZE) + HPAGE_SIZE <= vma.end;
    whole
        && match env.pa.thp.enabled() {
            ThpEnabled::Always => !vma.flags.contains(VmFlags::NOHUGEPAGE),
            ThpEnabled::Madvise => vma.flags.contains(VmFlags::HUGEPAGE),
            ThpEnabled::Never => false,
        }
}

/// Whether `pfn` is the head of a transparent huge page.
pub(crate) fn is_thp(env: &MmEnv<'_>, pfn: Pfn) -> bool {
    env.pa.page(pfn).is_some_and(|p| p.has(PageFlags::HEAD) && !p.has(PageFlags::HUGETLB))
}

impl AddressSpace {
    /// Try a huge page for a fault at `va` in the private anonymous `vma`:
    /// None when the fault should take a 4 KiB page instead.
    pub(crate) fn thp_fault(&self, env: &MmEnv<'_>, vma: &Vma, va: u64) -> Result<Option<FaultDone>, FaultError> {
        let haddr = va & !(HPAGE_SIZE - 1);
        if haddr < vma.start || haddr + HPAGE_SIZE > vma.end || !vma_eligible(env, self, vma) {
            return Ok(None);
        }
        // Only where nothing is mapped yet in the block: not even a page table.
        let empty = {
            let _ptl = self.ptl.lock();
            self.mapper(env).pmd(haddr).is_none_or(|e| e.is_unused())
        };
        if !empty {
            return Ok(None);
        }
        let direct = match env.pa.thp.defrag() {
            ThpDefrag::Always => true,
            ThpDefrag::Madvise | ThpDefrag::DeferMadvise => vma.flags.contains(VmFlags::HUGEPAGE),
            ThpDefrag::Defer | ThpDefrag::Never => false,
        };
        let mut gfp = GFP_HIGHUSER_MOVABLE | Gfp::COMP | Gfp::NOWARN;
        if !direct {
            gfp.remove(Gfp::DIRECT_RECLAIM);
        }
        let nid = match vma.policy.as_ref().or(env.policy.as_ref()) {
            Some(p) => crate::vm::mempolicy::target_node(env.pa, p, vma.pgoff_of(haddr) >> HPAGE_ORDER).0,
            None => env.pa.local_node(),
        };
        let Some(pfn) = env.pa.alloc_pages_node(nid, gfp, HPAGE_ORDER) else {
            env.pa.vmstat.thp_fault_fallback.inc();
            return Ok(None);
        };
        // A fresh block is RAM inside the window.
        let _ = env.pa.phys().zero_pages(pfn, HPAGE_ORDER);
        if let Some(p) = env.pa.page(pfn) {
            p.insert_flags(PageFlags::ANON | PageFlags::SWAPBACKED);
            self.set_anon_owner(p, vma, haddr);
        }
        let flags = Self::fault_pte_flags(vma.flags, true, true) | F::HUGE_PAGE;
        let installed = self.with_pmd(env, haddr, |e, st| {
            if !e.is_unused() {
                return false;
            }
            e.set_addr(PhysAddr::new(pfn.phys()), flags);
            st.rss_add(RssKind::Anon, HPAGE_PAGES as i64);
            st.thp += 1;
            true
        })?;
        if !installed {
            // Another CPU mapped something there first: the access retries.
            if let Some(p) = env.pa.page(pfn) {
                p.remove_flags(PageFlags::ANON | PageFlags::SWAPBACKED);
                p.mapping.store(0, core::sync::atomic::Ordering::Relaxed);
            }
            let _ = env.pa.free_pages(pfn, HPAGE_ORDER);
            return Ok(Some(FaultDone::Minor));
        }
        if let Some(p) = env.pa.page(pfn) {
            p.inc_mapcount();
        }
        env.pa.vmstat.anon_pages.add(HPAGE_PAGES as i64);
        env.pa.vmstat.anon_thp.add(1);
        env.pa.vmstat.thp_fault_alloc.inc();
        Ok(Some(FaultDone::Minor))
    }

    /// A zapped entry's transparent huge page: its mapping goes, and with
    /// it the page (mapped nowhere else).
    pub(crate) fn release_thp(&self, env: &MmEnv<'_>, pfn: Pfn) {
        {
            let mut st = self.ptl.lock();
            st.rss_add(RssKind::Anon, -(HPAGE_PAGES as i64));
            st.thp = st.thp.saturating_sub(1);
        }
        if let Some(p) = env.pa.page(pfn) {
            p.dec_mapcount();
            p.remove_flags(PageFlags::ANON | PageFlags::SWAPBACKED);
            p.mapping.store(0, core::sync::atomic::Ordering::Relaxed);
        }
        env.pa.vmstat.anon_pages.sub(HPAGE_PAGES as i64);
        env.pa.vmstat.anon_thp.sub(1);
        let _ = env.pa.free_pages(pfn, HPAGE_ORDER);
    }

    /// Split the transparent huge page mapped at the 2 MiB block of `va`
    /// into 512 pages mapped by a page table (`split_huge_pmd` and
    /// `split_huge_page` at once). Nothing there: nothing done. ENOMEM
    /// when no page table can be had.
    pub(crate) fn split_thp(&self, env: &MmEnv<'_>, va: u64) -> Result<(), crate::error::MmError> {
        let haddr = va & !(HPAGE_SIZE - 1);
        let table = env.tables.alloc_table().ok_or(crate::error::MmError::NoMemory)?;
        let vma = self.vmas.containing(haddr).cloned();
        let split = {
            let mut st = self.ptl.lock();
            let mut m = self.mapper(env);
            match m.pmd(haddr) {
                Some(e)
                    if e.flags().contains(F::PRESENT | F::HUGE_PAGE)
                        && is_thp(env, Pfn::from_phys(e.addr().as_u64())) =>
                {
                    let pfn = Pfn::from_phys(e.addr().as_u64());
                    // PAT sits in bit 12 of a 2 MiB entry and in bit 7 (the
                    // PS bit's place) of a 4 KiB one: write-back memory has
                    // neither set, so the flags carry over without PS.
                    let flags = e.flags() - F::HUGE_PAGE;
                    let pt = env.pa.phys().table(table).expect("thp: page table outside the window");
                    for (i, pte) in pt.iter_mut().enumerate() {
                        pte.set_addr(PhysAddr::new(pfn.phys() + i as u64 * PAGE_SIZE), flags);
                    }
                    core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
                    e.set_addr(table, F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE);
                    st.thp = st.thp.saturating_sub(1);
                    Some(pfn)
                }
                _ => None,
            }
        };
        let Some(pfn) = split else {
            env.tables.free_table(table);
            return Ok(());
        };
        env.tlb.flush_range(haddr, haddr + HPAGE_SIZE);
        // The compound page becomes 512 ordinary anonymous pages, each
        // mapped once here, with its reverse-map index and LRU place.
        let block = env.pa.memmap.block(pfn, HPAGE_ORDER).expect("thp: a mapped block without descriptors");
        for (i, p) in block.iter().enumerate() {
            if i == 0 {
                p.remove_flags(PageFlags::HEAD);
                p.set_order(0);
            } else {
                p.remove_flags(PageFlags::TAIL);
                p.private.store(0, core::sync::atomic::Ordering::Relaxed);
                p.set_refcount(1);
                p.set_mapcount(1);
                p.insert_flags(PageFlags::ANON | PageFlags::SWAPBACKED);
            }
            if let Some(v) = &vma {
                self.set_anon_owner(p, v, haddr + i as u64 * PAGE_SIZE);
            }
            env.pa.lru_add(Pfn(pfn.0 + i as u64));
        }
        env.pa.vmstat.anon_thp.sub(1);
        env.pa.vmstat.thp_split_pmd.inc();
        env.pa.vmstat.thp_split_page.inc();
        Ok(())
    }

    /// Split every transparent huge page mapped in `[start, end)` (the
    /// 2 MiB blocks it touches).
    pub(crate) fn split_thp_range(&self, env: &MmEnv<'_>, start: u64, end: u64) -> Result<(), crate::error::MmError> {
        if self.ptl.lock().thp == 0 || end <= start {
            return Ok(());
        }
        let mut va = start & !(HPAGE_SIZE - 1);
        while va < end {
            self.split_thp(env, va)?;
            va += HPAGE_SIZE;
        }
        Ok(())
    }

    /// Split the huge pages `[start, end)` cuts: those of the 2 MiB blocks
    /// its ends fall inside (munmap, MADV_DONTNEED keep the whole ones).
    pub(crate) fn split_thp_ends(&self, env: &MmEnv<'_>, start: u64, end: u64) -> Result<(), crate::error::MmError> {
        if self.ptl.lock().thp == 0 {
            return Ok(());
        }
        for a in [start, end] {
            if a % HPAGE_SIZE != 0 {
                self.split_thp(env, a)?;
            }
        }
        Ok(())
    }
}
