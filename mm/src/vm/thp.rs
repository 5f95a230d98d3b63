//! Transparent huge pages for private anonymous memory (cf.
//! mm/huge_memory.c `do_huge_pmd_anonymous_page`, `__split_huge_pmd`,
//! `split_huge_page`).
//!
//! ```text
//!   fault in an eligible area, its 2 MiB block inside the area and not
//!   mapped yet ──> a zeroed order-9 page mapped by one directory entry
//!                  (no 2 MiB block free: thp_fault_fallback, 4 KiB pages)
//!   anything that works on 4 KiB pages (a cut by munmap, mprotect,
//!   mlock, madvise; mremap to a place not aligned alike) ──> split
//!                  first: the entry becomes a page table of 512 entries
//!                  and the page 512 pages, each with its own reference,
//!                  map count and LRU place
//!   fork ──> the entry is copied into the child, write-protected on both
//!                  sides; the page gains a reference and a mapping
//!   write to such an entry ──> mapped once: made writable again (reuse);
//!                  mapped by several spaces: this space's entry is split
//!                  into 512 private copies, the others keep the page
//!   mremap of the whole block to a 2 MiB aligned place ──> the entry moves
//!   zap of the whole block ──> one mapping goes; the last frees the page
//! ```
//!
//! Eligible: `enabled` is always (and the area is not MADV_NOHUGEPAGE) or
//! madvise and the area is MADV_HUGEPAGE; the process did not
//! PR_SET_THP_DISABLE. A read fault takes a huge page too (Linux with
//! `use_zero_page` 0: there is no huge zero page here). `defrag` decides
//! whether the fault may reclaim and compact for its block (always; madvise
//! in MADV_HUGEPAGE areas) or takes only what is free.
//!
//! A huge page is mapped whole, by one directory entry in each address
//! space that maps it (several after fork: the head's map count says how
//! many; AnonHugePages counts it in each space's smaps, once in meminfo).
//! Split of a page mapped by several spaces splits only the splitting
//! space's entry, which takes private copies of the 512 pages (Linux maps
//! the huge page's parts by 4 KiB entries instead; here a page is either
//! a whole huge page or an ordinary one). It is not on an LRU list, so
//! reclaim does not age or swap it until something splits it (reclaim
//! leaves a page several spaces map whole), and compaction and migration
//! leave it where it is.
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
        && !env.pa.thp.is_huge_zero(pfn)
}

impl AddressSpace {
    /// Try a huge page for a fault at `va` in the private anonymous `vma`:
    /// None when the fault should take a 4 KiB page instead.
    pub(crate) fn thp_fault(
        &self,
        env: &MmEnv<'_>,
        vma: &Vma,
        va: u64,
        write: bool,
    ) -> Result<Option<FaultDone>, FaultError> {
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
        // A read maps the huge zero page (`do_huge_pmd_anonymous_page` with
        // use_zero_page): nothing is allocated until a write.
        let use_zero = env.pa.thp.use_zero_page.load(core::sync::atomic::Ordering::Relaxed);
        if let Some(zero) = (!write && use_zero).then(|| env.pa.thp.huge_zero_page(env.pa)).flatten() {
            let flags = Self::fault_pte_flags(vma.flags, false, false) | F::HUGE_PAGE;
            self.with_pmd(env, haddr, |e, st| {
                if e.is_unused() {
                    e.set_addr(PhysAddr::new(zero.phys()), flags);
                    st.thp_zero += 1;
                }
            })?;
            return Ok(Some(FaultDone::Minor));
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
        if !env.pa.memcg_charge(pfn, crate::memcg::MemcgStat::Anon, crate::phys::page_alloc::ChargeMode::MayFail) {
            // Over the memory cgroup's limit: small pages instead (Linux's
            // thp_fault_fallback_charge), which reclaim in the group.
            let _ = env.pa.free_pages(pfn, HPAGE_ORDER);
            env.pa.vmstat.thp_fault_fallback.inc();
            return Ok(None);
        }
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

    /// A zapped mapping of the huge zero page: only counted.
    pub(crate) fn release_huge_zero(&self) {
        let mut st = self.ptl.lock();
        st.thp_zero = st.thp_zero.saturating_sub(1);
    }

    /// A write to the huge zero page mapped at `va`'s block (a read-only
    /// present huge entry of an anonymous area), as Linux 6.x's
    /// `do_huge_zero_wp_pmd`: a new zeroed huge page replaces it; when none
    /// can be had (or the area may no longer have one), the entry is split
    /// into 512 entries of the 4 KiB zero page and the retried access
    /// takes a 4 KiB page. Whether it was the huge zero page.
    pub(crate) fn thp_zero_wp(&self, env: &MmEnv<'_>, va: u64) -> Result<bool, FaultError> {
        let haddr = va & !(HPAGE_SIZE - 1);
        let is_zero = |e: &x86_64::structures::paging::page_table::PageTableEntry| {
            e.flags().contains(F::PRESENT | F::HUGE_PAGE) && env.pa.thp.is_huge_zero(Pfn::from_phys(e.addr().as_u64()))
        };
        let zero = {
            let _ptl = self.ptl.lock();
            self.mapper(env).pmd(haddr).is_some_and(|e| is_zero(e))
        };
        if !zero {
            return Ok(false);
        }
        let vma = self.vmas.containing(haddr).cloned();
        let new = vma.as_ref().filter(|v| vma_eligible(env, self, v)).and_then(|v| {
            let gfp = GFP_HIGHUSER_MOVABLE | Gfp::COMP | Gfp::NOWARN | Gfp::ZERO;
            let pfn = env.pa.alloc_pages_node(env.pa.local_node(), gfp, HPAGE_ORDER)?;
            // Over the memory cgroup's limit: the split below, as when no
            // huge page can be had.
            if !env.pa.memcg_charge(pfn, crate::memcg::MemcgStat::Anon, crate::phys::page_alloc::ChargeMode::MayFail) {
                let _ = env.pa.free_pages(pfn, HPAGE_ORDER);
                return None;
            }
            if let Some(p) = env.pa.page(pfn) {
                p.insert_flags(PageFlags::ANON | PageFlags::SWAPBACKED);
                self.set_anon_owner(p, v, haddr);
            }
            Some((pfn, Self::fault_pte_flags(v.flags, true, true) | F::HUGE_PAGE))
        });
        let Some((pfn, flags)) = new else {
            env.pa.vmstat.thp_fault_fallback.inc();
            self.split_thp(env, haddr).map_err(|_| FaultError::Oom)?;
            return Ok(true);
        };
        let replaced = self.with_pmd(env, haddr, |e, st| {
            if !is_zero(e) {
                return false;
            }
            e.set_addr(PhysAddr::new(pfn.phys()), flags);
            st.thp_zero = st.thp_zero.saturating_sub(1);
            st.thp += 1;
            st.rss_add(RssKind::Anon, HPAGE_PAGES as i64);
            true
        })?;
        if replaced {
            env.tlb.flush_range(haddr, haddr + HPAGE_SIZE);
            if let Some(p) = env.pa.page(pfn) {
                p.inc_mapcount();
            }
            env.pa.vmstat.anon_pages.add(HPAGE_PAGES as i64);
            env.pa.vmstat.anon_thp.add(1);
            env.pa.vmstat.thp_fault_alloc.inc();
        } else {
            if let Some(p) = env.pa.page(pfn) {
                p.remove_flags(PageFlags::ANON | PageFlags::SWAPBACKED);
                p.mapping.store(0, core::sync::atomic::Ordering::Relaxed);
            }
            let _ = env.pa.free_pages(pfn, HPAGE_ORDER);
        }
        Ok(true)
    }

    /// A zapped entry's transparent huge page: its mapping goes, and with
    /// the last mapping (fork shares the page) the page.
    pub(crate) fn release_thp(&self, env: &MmEnv<'_>, pfn: Pfn) {
        {
            let mut st = self.ptl.lock();
            st.rss_add(RssKind::Anon, -(HPAGE_PAGES as i64));
            st.thp = st.thp.saturating_sub(1);
        }
        drop_thp_mapping(env, pfn);
    }

    /// Share the huge entry at `haddr` (a whole 2 MiB block of the private
    /// anonymous area being copied) with `child` (`copy_huge_pmd`): a
    /// transparent huge page gains a reference and a mapping and is
    /// write-protected on both sides (the first write takes
    /// [`Self::thp_wp`]); the huge zero page is copied as it is. The
    /// parent's flush joins `flush`. ENOMEM when the child's directory
    /// cannot be had. Whether the entry was a huge one.
    pub(crate) fn copy_huge_pmd(
        &mut self,
        env: &MmEnv<'_>,
        child: &AddressSpace,
        haddr: u64,
        flush: &mut crate::vm::tlb::TlbFlush,
    ) -> Result<bool, crate::error::MmError> {
        let Some(pe) = self.mapper(env).pmd(haddr) else { return Ok(false) };
        let mut flags = pe.flags();
        if !flags.contains(F::PRESENT | F::HUGE_PAGE) {
            return Ok(false);
        }
        let pfn = Pfn::from_phys(pe.addr().as_u64());
        let zero = env.pa.thp.is_huge_zero(pfn);
        if !zero && !is_thp(env, pfn) {
            return Ok(false);
        }
        // The child's directory first: a failure leaves the parent as it was.
        let installed = child
            .with_pmd(env, haddr, |ce, st| {
                if !ce.is_unused() {
                    return false;
                }
                // The child's entry starts old and clean, as the 4 KiB ones.
                ce.set_addr(pe.addr(), flags - (F::WRITABLE | F::ACCESSED | F::DIRTY));
                if zero {
                    st.thp_zero += 1;
                } else {
                    st.thp += 1;
                    st.rss_add(RssKind::Anon, HPAGE_PAGES as i64);
                }
                true
            })
            .map_err(|_| crate::error::MmError::NoMemory)?;
        if !installed {
            return Err(crate::error::MmError::NoMemory);
        }
        if zero {
            return Ok(true);
        }
        if let Some(p) = env.pa.page(pfn) {
            p.get();
            p.inc_mapcount();
        }
        if flags.contains(F::WRITABLE) {
            flags.remove(F::WRITABLE);
            pe.set_flags(flags);
            *flush = flush.merge(crate::vm::tlb::TlbFlush::page(haddr, HPAGE_SIZE));
        }
        Ok(true)
    }

    /// A write to a read-only entry mapping a transparent huge page at
    /// `va`'s block (`do_huge_pmd_wp_page`). The page mapped only here (one
    /// mapping, one reference: no other space since fork, no pin) is
    /// reused: the entry becomes writable. Otherwise this space's entry is
    /// split ([`Self::split_thp`], which leaves the page whole for the
    /// other spaces) and the retried write takes the 4 KiB path. Whether
    /// the entry was such a one (false: the caller's 4 KiB path).
    pub(crate) fn thp_wp(&self, env: &MmEnv<'_>, vma: &Vma, va: u64) -> Result<bool, FaultError> {
        let haddr = va & !(HPAGE_SIZE - 1);
        let maps_readonly = |e: &x86_64::structures::paging::page_table::PageTableEntry, pfn: Option<Pfn>| {
            let f = e.flags();
            let here = Pfn::from_phys(e.addr().as_u64());
            f.contains(F::PRESENT | F::HUGE_PAGE)
                && !f.contains(F::WRITABLE)
                && pfn.is_none_or(|p| p == here)
                && is_thp(env, here)
        };
        let pfn = {
            let _ptl = self.ptl.lock();
            match self.mapper(env).pmd(haddr) {
                Some(e) if maps_readonly(e, None) => Pfn::from_phys(e.addr().as_u64()),
                _ => return Ok(false),
            }
        };
        let Some(p) = env.pa.page(pfn) else { return Ok(false) };
        // A mapping is only added with the space lock exclusive (fork), so
        // the look under the PTL holds until the entry changes.
        let sole = || p.has(PageFlags::ANON) && p.refcount() == 1 && p.mapcount() == 1;
        if sole() {
            let flags = Self::fault_pte_flags(vma.flags, true, true) | F::HUGE_PAGE;
            let reused = self.with_pmd(env, haddr, |e, _| {
                let still = maps_readonly(e, Some(pfn)) && sole();
                if still {
                    e.set_flags(flags);
                }
                still
            })?;
            if reused {
                env.tlb.flush_range(haddr, haddr + HPAGE_SIZE);
                env.pa.vmstat.pgreuse.inc();
            }
            // Not reused: another CPU changed the entry (or took a
            // reference meanwhile); the access retries and looks again.
            return Ok(true);
        }
        self.split_thp(env, haddr).map_err(|_| FaultError::Oom)?;
        Ok(true)
    }

    /// Whether the entry at `haddr` maps a transparent huge page another
    /// space maps too (under the PTL).
    fn maps_shared_thp(&self, env: &MmEnv<'_>, haddr: u64) -> bool {
        let _ptl = self.ptl.lock();
        self.mapper(env).pmd(haddr).is_some_and(|e| {
            let pfn = Pfn::from_phys(e.addr().as_u64());
            e.flags().contains(F::PRESENT | F::HUGE_PAGE)
                && is_thp(env, pfn)
                && env.pa.page(pfn).is_some_and(|p| p.mapcount() > 1)
        })
    }

    /// Split this space's entry for a transparent huge page that other
    /// spaces map too (after fork): the page stays whole, mapped by their
    /// directory entries, and this space gets 512 private 4 KiB copies of
    /// it under a page table, mapped with the entry's rights. (Linux maps
    /// the huge page's own 4 KiB parts instead; pages here are either
    /// whole huge pages or ordinary ones, so this space takes copies.)
    ///
    /// ```text
    ///   before:  A ──PMD──┐            after:  A ──PMD──> huge page
    ///   (fork)   B ──PMD──┴> huge page          B ──PT──> 512 copies
    /// ```
    ///
    /// ENOMEM when the copies or the table cannot be had (nothing changed).
    fn split_shared_thp(&self, env: &MmEnv<'_>, haddr: u64) -> Result<(), crate::error::MmError> {
        use crate::error::MmError;
        let vma = self.vmas.containing(haddr).cloned().ok_or(MmError::NoMemory)?;
        // Held while copying: another thread's split may drop this
        // space's mapping meanwhile, and the other spaces theirs.
        let pfn = {
            let _ptl = self.ptl.lock();
            match self.mapper(env).pmd(haddr) {
                Some(e)
                    if e.flags().contains(F::PRESENT | F::HUGE_PAGE)
                        && is_thp(env, Pfn::from_phys(e.addr().as_u64())) =>
                {
                    let pfn = Pfn::from_phys(e.addr().as_u64());
                    env.pa.page(pfn).ok_or(MmError::NoMemory)?.get();
                    pfn
                }
                _ => return Ok(()),
            }
        };
        let Some(table) = env.tables.alloc_table() else {
            let _ = env.pa.free_pages(pfn, HPAGE_ORDER);
            return Err(MmError::NoMemory);
        };
        let mut copies = alloc::vec::Vec::with_capacity(HPAGE_PAGES as usize);
        let undo = |copies: &[Pfn]| {
            for &c in copies {
                env.pa.put_user_page(c);
            }
            env.tables.free_table(table);
            let _ = env.pa.free_pages(pfn, HPAGE_ORDER);
        };
        for i in 0..HPAGE_PAGES {
            match self.new_anon_page(env, &vma, haddr + i * PAGE_SIZE) {
                Ok(c) => {
                    // Both are RAM inside the window.
                    let _ = env.pa.phys().copy_page(c, Pfn(pfn.0 + i));
                    copies.push(c);
                }
                Err(_) => {
                    undo(&copies);
                    return Err(MmError::NoMemory);
                }
            }
        }
        let split = {
            let mut st = self.ptl.lock();
            match self.mapper(env).pmd(haddr) {
                Some(e)
                    if e.flags().contains(F::PRESENT | F::HUGE_PAGE) && Pfn::from_phys(e.addr().as_u64()) == pfn =>
                {
                    let flags = e.flags() - F::HUGE_PAGE;
                    let pt = env.pa.phys().table(table).expect("thp: page table outside the window");
                    for (pte, &c) in pt.iter_mut().zip(&copies) {
                        pte.set_addr(PhysAddr::new(c.phys()), flags);
                        if let Some(p) = env.pa.page(c) {
                            p.inc_mapcount();
                        }
                    }
                    core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
                    e.set_addr(table, F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE);
                    // 512 pages of RSS before and after.
                    st.thp = st.thp.saturating_sub(1);
                    true
                }
                _ => false,
            }
        };
        if !split {
            // Another CPU changed the entry: the access retries.
            undo(&copies);
            return Ok(());
        }
        env.tlb.flush_range(haddr, haddr + HPAGE_SIZE);
        for &c in &copies {
            env.pa.lru_add(c);
        }
        drop_thp_mapping(env, pfn);
        let _ = env.pa.free_pages(pfn, HPAGE_ORDER);
        env.pa.vmstat.thp_split_pmd.inc();
        Ok(())
    }

    /// Split the transparent huge page mapped at the 2 MiB block of `va`
    /// into 512 pages mapped by a page table (`split_huge_pmd` and
    /// `split_huge_page` at once). Nothing there: nothing done. ENOMEM
    /// when no page table can be had.
    pub(crate) fn split_thp(&self, env: &MmEnv<'_>, va: u64) -> Result<(), crate::error::MmError> {
        let haddr = va & !(HPAGE_SIZE - 1);
        // Only another space's fork adds a mapping, and it holds that
        // space's lock, not ours: a page mapped once here stays so.
        if self.maps_shared_thp(env, haddr) {
            return self.split_shared_thp(env, haddr);
        }
        let table = env.tables.alloc_table().ok_or(crate::error::MmError::NoMemory)?;
        let vma = self.vmas.containing(haddr).cloned();
        let split = {
            let mut st = self.ptl.lock();
            let mut m = self.mapper(env);
            match m.pmd(haddr) {
                Some(e)
                    if e.flags().contains(F::PRESENT | F::HUGE_PAGE)
                        && env.pa.thp.is_huge_zero(Pfn::from_phys(e.addr().as_u64())) =>
                {
                    // The huge zero page: 512 entries of the 4 KiB one.
                    let flags = e.flags() - F::HUGE_PAGE;
                    let pt = env.pa.phys().table(table).expect("thp: page table outside the window");
                    for pte in pt.iter_mut() {
                        pte.set_addr(PhysAddr::new(env.zero_page.phys()), flags);
                    }
                    core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
                    e.set_addr(table, F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE);
                    st.thp_zero = st.thp_zero.saturating_sub(1);
                    Some(Pfn(u64::MAX))
                }
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
        if pfn.0 == u64::MAX {
            return Ok(()); // the huge zero page: no page to split
        }
        // The compound page becomes 512 ordinary anonymous pages, each
        // mapped once here, with its reverse-map index and LRU place.
        let block = env.pa.memmap.block(pfn, HPAGE_ORDER).expect("thp: a mapped block without descriptors");
        for (i, p) in block.iter().enumerate() {
            if i == 0 {
                p.remove_flags(PageFlags::HEAD);
                p.set_order(0);
            } else {
                p.remove_flags(PageFlags::TAIL);
                // Each page carries the group's charge of itself from now
                // on (the head's record charged all 512).
                if let Some((id, stat)) = block[0].memcg_record() {
                    p.set_memcg(id, stat);
                }
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

    /// No huge page (nor huge zero page) is mapped here.
    fn ptl_thp_none(&self) -> bool {
        let st = self.ptl.lock();
        st.thp == 0 && st.thp_zero == 0
    }

    /// Split every transparent huge page mapped in `[start, end)` (the
    /// 2 MiB blocks it touches).
    pub(crate) fn split_thp_range(&self, env: &MmEnv<'_>, start: u64, end: u64) -> Result<(), crate::error::MmError> {
        if self.ptl_thp_none() || end <= start {
            return Ok(());
        }
        let mut va = start & !(HPAGE_SIZE - 1);
        while va < end {
            self.split_thp(env, va)?;
            va += HPAGE_SIZE;
        }
        Ok(())
    }

    /// Split the transparent huge pages in `[start, end)` that only this
    /// space maps, for advice that only helps reclaim (MADV_FREE, COLD,
    /// PAGEOUT): a page other spaces map too stays whole and untouched,
    /// as Linux skips a folio mapped by several processes there (and a
    /// split here would copy it).
    pub(crate) fn split_thp_range_unshared(
        &self,
        env: &MmEnv<'_>,
        start: u64,
        end: u64,
    ) -> Result<(), crate::error::MmError> {
        if self.ptl_thp_none() || end <= start {
            return Ok(());
        }
        let mut va = start & !(HPAGE_SIZE - 1);
        while va < end {
            if !self.maps_shared_thp(env, va) {
                self.split_thp(env, va)?;
            }
            va += HPAGE_SIZE;
        }
        Ok(())
    }

    /// Split the huge pages `[start, end)` cuts: those of the 2 MiB blocks
    /// its ends fall inside (munmap, MADV_DONTNEED keep the whole ones).
    pub(crate) fn split_thp_ends(&self, env: &MmEnv<'_>, start: u64, end: u64) -> Result<(), crate::error::MmError> {
        if self.ptl_thp_none() {
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

/// One mapping of the transparent huge page `pfn` went (its entry is
/// gone): the last one takes the page out of the anonymous counters, and
/// the last reference frees it.
fn drop_thp_mapping(env: &MmEnv<'_>, pfn: Pfn) {
    if let Some(p) = env.pa.page(pfn) {
        if p.dec_mapcount() == 0 {
            p.remove_flags(PageFlags::ANON | PageFlags::SWAPBACKED);
            p.mapping.store(0, core::sync::atomic::Ordering::Relaxed);
            env.pa.vmstat.anon_pages.sub(HPAGE_PAGES as i64);
            env.pa.vmstat.anon_thp.sub(1);
        }
    }
    let _ = env.pa.free_pages(pfn, HPAGE_ORDER);
}

/// Why a block did not collapse (Linux's `SCAN_*` results, reduced).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CollapseError {
    /// Not a whole 2 MiB block of one eligible area, or already huge.
    NotSuitable,
    /// Too many empty entries (`max_ptes_none`), a swapped-out page, a
    /// page shared with another process or busy: try again later.
    Busy,
    /// No 2 MiB block free.
    NoMemory,
}

/// The khugepaged tunables (/sys/kernel/mm/transparent_hugepage/khugepaged)
/// and its counters.
pub struct Khugepaged {
    /// Page-table entries looked at per wake-up.
    pub pages_to_scan: core::sync::atomic::AtomicU64,
    pub scan_sleep_millisecs: core::sync::atomic::AtomicU64,
    pub alloc_sleep_millisecs: core::sync::atomic::AtomicU64,
    /// Empty entries a block may have and still collapse (0..=511).
    pub max_ptes_none: core::sync::atomic::AtomicU64,
    pub pages_collapsed: core::sync::atomic::AtomicU64,
    pub full_scans: core::sync::atomic::AtomicU64,
}

/// Linux's defaults.
pub static KHUGEPAGED: Khugepaged = Khugepaged {
    pages_to_scan: core::sync::atomic::AtomicU64::new(4096),
    scan_sleep_millisecs: core::sync::atomic::AtomicU64::new(10000),
    alloc_sleep_millisecs: core::sync::atomic::AtomicU64::new(60000),
    max_ptes_none: core::sync::atomic::AtomicU64::new(511),
    pages_collapsed: core::sync::atomic::AtomicU64::new(0),
    full_scans: core::sync::atomic::AtomicU64::new(0),
};

impl AddressSpace {
    /// Collapse the 4 KiB pages of the 2 MiB block at `haddr` into one
    /// transparent huge page (`collapse_huge_page`): every mapped page must
    /// be an anonymous page only this space has (one reference, one
    /// mapping, not in the swap cache); at most `max_none` entries may be
    /// empty (they read as zeros, as the zero page does). The block's
    /// data is copied into a new 2 MiB page, which replaces the page table.
    /// With the address-space lock exclusive.
    pub fn collapse_thp(&mut self, env: &MmEnv<'_>, haddr: u64, max_none: u64) -> Result<(), CollapseError> {
        let vma = self.vmas.containing(haddr).cloned().ok_or(CollapseError::NotSuitable)?;
        let private_anon = matches!(vma.backing, Backing::Anon) && !vma.flags.contains(VmFlags::SHARED);
        if haddr % HPAGE_SIZE != 0
            || haddr + HPAGE_SIZE > vma.end
            || !private_anon
            || vma.flags.intersects(VmFlags::LOCKED | VmFlags::NOHUGEPAGE)
            || self.thp_disabled
        {
            return Err(CollapseError::NotSuitable);
        }
        let table = match self.mapper(env).pmd(haddr) {
            Some(e) if e.flags().contains(F::PRESENT) && !e.flags().contains(F::HUGE_PAGE) => e.addr(),
            _ => return Err(CollapseError::NotSuitable),
        };
        let pt = env.pa.phys().table(table).ok_or(CollapseError::NotSuitable)?;
        let mut none = 0;
        let mut writable = true;
        for e in pt.iter() {
            let f = e.flags();
            if e.is_unused() {
                none += 1;
                continue;
            }
            if !f.contains(F::PRESENT) {
                return Err(CollapseError::Busy); // swapped out
            }
            let pfn = Pfn::from_phys(e.addr().as_u64());
            if pfn == env.zero_page {
                none += 1;
                continue;
            }
            let Some(p) = env.pa.page(pfn) else { return Err(CollapseError::Busy) };
            let own = p.has(PageFlags::ANON)
                && !p.flags().intersects(PageFlags::SWAPCACHE | PageFlags::HEAD | PageFlags::TAIL | PageFlags::MLOCKED)
                && p.refcount() == 1
                && p.mapcount() == 1;
            if !own {
                return Err(CollapseError::Busy);
            }
            writable &= f.contains(F::WRITABLE) || !vma.flags.contains(VmFlags::WRITE);
        }
        if none > max_none {
            return Err(CollapseError::Busy);
        }
        let nid = env.pa.local_node();
        let gfp = GFP_HIGHUSER_MOVABLE | Gfp::COMP | Gfp::NOWARN;
        let Some(new) = env.pa.alloc_pages_node(nid, gfp, HPAGE_ORDER) else {
            env.pa.vmstat.thp_collapse_alloc_failed.inc();
            return Err(CollapseError::NoMemory);
        };
        let mut old = [Pfn(0); HPAGE_PAGES as usize];
        let mut present = 0i64;
        for (i, e) in pt.iter().enumerate() {
            let dst = Pfn(new.0 + i as u64);
            let src = (!e.is_unused()).then(|| Pfn::from_phys(e.addr().as_u64())).filter(|&s| s != env.zero_page);
            // Both frames are RAM inside the window.
            match src {
                Some(s) => {
                    let _ = env.pa.phys().copy_page(dst, s);
                    old[i] = s;
                    present += 1;
                }
                None => {
                    let _ = env.pa.phys().zero_pages(dst, 0);
                }
            }
        }
        if let Some(p) = env.pa.page(new) {
            p.insert_flags(PageFlags::ANON | PageFlags::SWAPBACKED);
            self.set_anon_owner(p, &vma, haddr);
            p.inc_mapcount();
        }
        // The huge page belongs to the group the small ones did (khugepaged
        // is not the process whose memory this is).
        if let Some(&like) = old.iter().find(|p| p.0 != 0) {
            env.pa.memcg_charge_like(new, like);
        }
        // A read-only entry among them (a page never written since
        // mprotect gave write back) keeps the huge one read-only: the next
        // write takes a fault that makes it writable.
        let flags = Self::fault_pte_flags(vma.flags, writable, true) | F::HUGE_PAGE;
        {
            let mut st = self.ptl.lock();
            if let Some(e) = self.mapper(env).pmd(haddr) {
                e.set_addr(PhysAddr::new(new.phys()), flags);
            }
            st.rss_add(RssKind::Anon, HPAGE_PAGES as i64 - present);
            st.thp += 1;
        }
        env.tlb.flush_range(haddr, haddr + HPAGE_SIZE);
        env.tables.free_table(table);
        for pfn in old.into_iter().filter(|p| p.0 != 0) {
            if let Some(p) = env.pa.page(pfn) {
                p.dec_mapcount();
            }
            env.pa.put_user_page(pfn);
        }
        env.pa.vmstat.anon_pages.add(HPAGE_PAGES as i64);
        env.pa.vmstat.anon_thp.add(1);
        env.pa.vmstat.thp_collapse_alloc.inc();
        KHUGEPAGED.pages_collapsed.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// MADV_COLLAPSE of `[start, end)` (page aligned, inside areas): every
    /// whole 2 MiB block collapses, whatever `enabled` says, empty entries
    /// allowed. EINVAL for an area that may not have huge pages; ENOMEM
    /// when a block found no 2 MiB page, EAGAIN when one could not
    /// collapse now.
    pub(crate) fn madvise_collapse(
        &mut self,
        env: &MmEnv<'_>,
        start: u64,
        end: u64,
    ) -> Result<(), crate::error::MmError> {
        use crate::error::MmError;
        let areas: alloc::vec::Vec<(u64, u64)> =
            self.vmas.overlapping(start..end).map(|v| (v.start.max(start), v.end.min(end))).collect();
        let mut result = Ok(());
        for (s, e) in areas {
            let v = self.vmas.containing(s).ok_or(MmError::NoMemory)?;
            let ok = matches!(v.backing, Backing::Anon)
                && !v.flags.intersects(VmFlags::SHARED | VmFlags::NOHUGEPAGE)
                && !self.thp_disabled;
            if !ok {
                return Err(MmError::Invalid);
            }
            let mut h = s.next_multiple_of(HPAGE_SIZE);
            while h + HPAGE_SIZE <= e {
                let huge = self.mapper(env).pmd(h).is_some_and(|x| x.flags().contains(F::PRESENT | F::HUGE_PAGE));
                if !huge {
                    match self.collapse_thp(env, h, HPAGE_PAGES) {
                        Ok(()) => {}
                        Err(CollapseError::NoMemory) => result = Err(MmError::NoMemory),
                        Err(CollapseError::Busy) if result.is_ok() => result = Err(MmError::Again),
                        Err(CollapseError::Busy) => {}
                        // No page table there (never touched): Linux's
                        // SCAN_PMD_NULL, EINVAL.
                        Err(CollapseError::NotSuitable) if result.is_ok() => result = Err(MmError::Invalid),
                        Err(CollapseError::NotSuitable) => {}
                    }
                }
                h += HPAGE_SIZE;
            }
        }
        result
    }
}

impl AddressSpace {
    /// khugepaged's pass over this space from `from`: each whole 2 MiB
    /// block of an eligible area still mapped by a page table is tried
    /// (`max_ptes_none` empty entries allowed); `budget` page-table
    /// entries are looked at in all (512 a block). Returns where to go on
    /// next time, or None when the space was scanned to its end.
    pub fn khugepaged_scan(&mut self, env: &MmEnv<'_>, from: u64, budget: &mut u64) -> Option<u64> {
        use core::sync::atomic::Ordering::Relaxed;
        let max_none = KHUGEPAGED.max_ptes_none.load(Relaxed).min(HPAGE_PAGES - 1);
        let areas: alloc::vec::Vec<(u64, u64)> = self
            .vmas
            .iter()
            .filter(|v| v.end > from && vma_eligible(env, self, v) && !v.flags.contains(VmFlags::LOCKED))
            .map(|v| (v.start.max(from), v.end))
            .collect();
        for (s, e) in areas {
            let mut h = s.next_multiple_of(HPAGE_SIZE);
            while h + HPAGE_SIZE <= e {
                if *budget == 0 {
                    return Some(h);
                }
                let table = self.mapper(env).pmd(h).is_some_and(|x| {
                    let f = x.flags();
                    f.contains(F::PRESENT) && !f.contains(F::HUGE_PAGE)
                });
                if table {
                    *budget = budget.saturating_sub(HPAGE_PAGES);
                    let _ = self.collapse_thp(env, h, max_none);
                }
                h += HPAGE_SIZE;
            }
        }
        None
    }
}

impl AddressSpace {
    /// Reclaim's split (kswapd, when anonymous memory must go to swap):
    /// split up to `max` of this space's transparent huge pages, those on
    /// node `nid` when given, so that their pages join the LRU lists and
    /// can be swapped out one by one. Returns how many were split.
    pub fn split_thps_for_reclaim(&mut self, env: &MmEnv<'_>, nid: Option<u32>, max: u64) -> u64 {
        if self.ptl.lock().thp == 0 || max == 0 {
            return 0;
        }
        let areas: alloc::vec::Vec<(u64, u64)> =
            self.vmas.iter().filter(|v| v.backing.is_anon()).map(|v| (v.start, v.end)).collect();
        let mut done = 0;
        for (s, e) in areas {
            let mut h = s.next_multiple_of(HPAGE_SIZE);
            while h + HPAGE_SIZE <= e && done < max {
                // A page other spaces map too stays whole: splitting this
                // space's entry would copy it, the opposite of reclaim.
                let on_node = self.mapper(env).pmd(h).is_some_and(|x| {
                    x.flags().contains(F::PRESENT | F::HUGE_PAGE)
                        && is_thp(env, Pfn::from_phys(x.addr().as_u64()))
                        && env.pa.page(Pfn::from_phys(x.addr().as_u64())).is_some_and(|p| p.mapcount() == 1)
                        && nid.is_none_or(|n| {
                            env.pa.page(Pfn::from_phys(x.addr().as_u64())).is_some_and(|p| p.node() == n)
                        })
                });
                if on_node {
                    if self.split_thp(env, h).is_err() {
                        return done;
                    }
                    done += 1;
                }
                h += HPAGE_SIZE;
            }
        }
        done
    }
}
