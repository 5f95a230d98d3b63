//! MADV_PAGEOUT and MADV_COLD on one address space (Linux's
//! madvise_cold_or_pageout_pte_range): the range's private anonymous
//! pages are swapped out at once, whether used or not, or made the next
//! ones reclaim looks at. Reclaim proper works from the LRU lists
//! (`vmscan.rs`).
//!
//! ```text
//!   each page of the range this space alone maps:
//!     page in the swap cache already (read back)
//!                          -> the PTE takes the cached page's entry
//!     otherwise            -> a new slot; the page enters the swap cache
//!                             marked DIRTY (to be written) and the PTE
//!                             takes the entry; the page is handed to the
//!                             caller, who writes it with no lock held
//! ```
//!
//! The page leaves memory once the write is done (`SwapSpace::written`).
//! Until then a fault on the entry maps the cached page again, without
//! I/O. The space's lock is held exclusive, nothing is allocated but the
//! list of pages to write, and the TLB of every unmapped page is flushed
//! before the lock is dropped, so no CPU can still write a page about to
//! be written out. A shared memory page (tmpfs, memfd, segment, shared
//! anonymous) this space alone maps, in a mapping that may write it, goes
//! to swap the same way, its object keeping the entry (shmem_swap.rs).
//! Read-only file pages, locked pages, lazily freed ones and huge pages
//! are left alone.

use alloc::vec::Vec;

use x86_64::structures::paging::PageTableFlags as F;

use crate::addr::{PAGE_SIZE, Pfn};
use crate::phys::page::PageFlags;
use crate::vm::address_space::{AddressSpace, MmEnv, RssKind};
use crate::vm::page_table::{MapSize, set_swap};
use crate::vm::tlb::TlbFlush;

/// Pages a scan hands back to be written (each with a reference held).
pub const WRITE_BATCH: usize = 32;

/// What one scan did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanResult {
    /// Page-table entries of candidate pages looked at.
    pub scanned: u64,
    /// Of those, found referenced (accessed bit cleared).
    pub referenced: u64,
    /// Entries turned into swap entries.
    pub unmapped: u64,
    /// Pages freed at once (already on swap, now mapped nowhere).
    pub freed: u64,
    /// Out of swap slots.
    pub swap_full: bool,
}

/// Pages a scan unmapped that must be written to swap.
pub struct WriteBatch {
    pub pages: [Pfn; WRITE_BATCH],
    pub n: usize,
}

impl Default for WriteBatch {
    fn default() -> WriteBatch {
        WriteBatch { pages: [Pfn(0); WRITE_BATCH], n: 0 }
    }
}

impl WriteBatch {
    pub fn is_full(&self) -> bool {
        self.n == WRITE_BATCH
    }

    pub fn as_slice(&self) -> &[Pfn] {
        &self.pages[..self.n]
    }
}

impl AddressSpace {
    #[allow(clippy::too_many_arguments)]
    fn try_to_swap_out(
        &mut self,
        env: &MmEnv<'_>,
        va: u64,
        pfn: Pfn,
        pte_flags: F,
        out: &mut WriteBatch,
        cpu: usize,
        r: &mut ScanResult,
        flush: &mut TlbFlush,
    ) {
        if pfn == env.zero_page {
            return;
        }
        let Some(p) = env.pa.page(pfn) else { return };
        let f = p.flags();
        if !f.contains(PageFlags::ANON)
            || f.intersects(PageFlags::SHMEM | PageFlags::MLOCKED | PageFlags::LAZYFREE | PageFlags::HEAD)
        {
            return;
        }
        r.scanned += 1;
        let Ok(Some(pte)) = self.mapper(env).pte(va, false) else { return };
        if pte_flags.contains(F::ACCESSED) {
            // Used since the last scan: a second chance. (No TLB flush:
            // a stale entry only delays the next accessed bit, as x86's
            // ptep_clear_flush_young allows.)
            pte.set_flags(pte.flags() - F::ACCESSED);
            r.referenced += 1;
            env.pa.vmstat.pgactivate.inc();
            return;
        }
        let entry = if f.contains(PageFlags::SWAPCACHE) {
            let e = crate::swap::entry::SwapEntry::from_raw(p.private.load(core::sync::atomic::Ordering::Relaxed));
            if env.swap.dup(e).is_err() {
                return;
            }
            e
        } else {
            if p.refcount() != p.mapcount() {
                // Held by the kernel besides its mappings (I/O into it):
                // not now. A page shared after fork is fine: its first
                // scanner puts it in the cache, the others find it there.
                return;
            }
            let Some(e) = env.swap.alloc_for(env.pa, cpu, pfn) else {
                r.swap_full = true;
                return;
            };
            if !env.swap.add(env.pa, e, pfn, true) {
                env.swap.free(env.pa, e);
                return;
            }
            // Held for the writer.
            p.get();
            out.pages[out.n] = pfn;
            out.n += 1;
            e
        };
        set_swap(pte, entry);
        *flush = flush.merge(TlbFlush::page(va, PAGE_SIZE));
        self.rss_add(RssKind::Anon, -1);
        self.swap_ents_add(1);
        p.dec_mapcount();
        // The mapping's reference; the cache keeps its own.
        env.pa.put_user_page(pfn);
        r.unmapped += 1;
        if env.swap.try_free_clean(env.pa, pfn) {
            r.freed += 1;
        }
    }
}

impl AddressSpace {
    /// A shmem page this space alone maps: unmapped here, then into the
    /// swap cache in its object's place (vm/shmem_swap.rs), for the
    /// caller to write.
    #[allow(clippy::too_many_arguments)]
    fn pageout_shmem(
        &mut self,
        env: &MmEnv<'_>,
        va: u64,
        pfn: Pfn,
        out: &mut WriteBatch,
        cpu: usize,
        r: &mut ScanResult,
        flush: &mut TlbFlush,
    ) {
        let Some(p) = env.pa.page(pfn) else { return };
        let Some((crate::vm::rmap_walk::PageOwner::File(obj), t)) = crate::vm::rmap_walk::page_owner(p) else {
            return;
        };
        r.scanned += 1;
        {
            let mut st = self.ptl.lock();
            let Ok(Some(pte)) = self.mapper(env).pte(va, false) else { return };
            if Pfn::from_phys(pte.addr().as_u64()) != pfn {
                return;
            }
            pte.set_unused();
            st.rss_add(RssKind::Shmem, -1);
        }
        *flush = flush.merge(TlbFlush::page(va, PAGE_SIZE));
        p.dec_mapcount();
        // The mapping's reference becomes the writer's (if the page goes).
        r.unmapped += 1;
        if obj.swap_out_page(t.index, pfn, 1, cpu) == crate::vm::shmem_swap::ShmemOut::Out {
            out.pages[out.n] = pfn;
            out.n += 1;
        } else {
            // Stays in its object; the next access maps it again.
            env.pa.put_user_page(pfn);
        }
    }
}

/// Pages MADV_PAGEOUT unmapped into the swap cache, to be written with
/// no lock held (`Deferred::run`), each with a reference held.
pub struct PageOut {
    pa: &'static crate::phys::page_alloc::PageAllocator,
    swap: &'static crate::swap::space::SwapSpace,
    pages: Vec<Pfn>,
}

impl PageOut {
    pub(crate) fn run(self) {
        self.swap.write_out(self.pa, &self.pages);
    }

    /// Drop the pages without writing them (their address space died).
    pub(crate) fn abandon(self) {
        for &pfn in &self.pages {
            if let Some(p) = self.pa.page(pfn) {
                p.remove_flags(PageFlags::DIRTY);
            }
            self.swap.written(self.pa, pfn);
        }
    }
}

impl AddressSpace {
    /// MADV_COLD: the range's pages that only this space maps go to the
    /// head of their inactive list with their accessed bits cleared
    /// (Linux's deactivation), so reclaim takes them before others.
    pub(crate) fn cold_range(&mut self, env: &MmEnv<'_>, start: u64, end: u64) {
        let mut leaves = Vec::new();
        self.for_each_leaf(env, start, end, &mut |l| {
            if l.size == MapSize::Size4K {
                leaves.push((l.va, Pfn::from_phys(l.phys.as_u64())));
            }
        });
        for (va, pfn) in leaves {
            let Some(p) = env.pa.page(pfn).filter(|p| pfn != env.zero_page && p.mapcount() == 1) else { continue };
            if let Ok(Some(pte)) = self.mapper(env).pte(va, false) {
                crate::vm::page_table::test_and_clear_young(pte);
            }
            if p.has(PageFlags::ACTIVE) {
                env.pa.vmstat.pgdeactivate.inc();
            }
            env.pa.lruvec(p).update(&env.pa.memmap, p, PageFlags::empty(), PageFlags::ACTIVE | PageFlags::REFERENCED);
        }
    }

    /// MADV_PAGEOUT: swap the range's private anonymous pages out now,
    /// used or not (Linux's madvise_pageout: pages other processes map
    /// too are left alone). Without swap, nothing happens to them, as in
    /// Linux. The writes run once the lock is dropped.
    pub(crate) fn pageout_range(&mut self, env: &MmEnv<'_>, start: u64, end: u64) {
        if !env.swap.enabled() {
            return;
        }
        let mut leaves = Vec::new();
        self.for_each_leaf(env, start, end, &mut |l| {
            if l.size == MapSize::Size4K {
                leaves.push((l.va, Pfn::from_phys(l.phys.as_u64()), l.flags));
            }
        });
        let mut r = ScanResult::default();
        let mut flush = TlbFlush::none();
        let mut out = WriteBatch::default();
        let mut pages = self.pageout.take().map(|p| p.pages).unwrap_or_default();
        let cpu = crate::percpu::this_cpu();
        // Shared memory too, in a mapping that could write it (Linux's
        // can_do_file_pageout: the file was opened for writing).
        let shmem_ok = self
            .vmas
            .containing(start)
            .is_some_and(|v| v.flags.contains(crate::vm::vma::VmFlags::MAYWRITE) && v.backing.object().is_some());
        for (va, pfn, flags) in leaves {
            if env.pa.page(pfn).is_some_and(|p| p.mapcount() != 1) {
                continue;
            }
            if shmem_ok && env.pa.page(pfn).is_some_and(|p| p.has(PageFlags::SHMEM)) {
                self.pageout_shmem(env, va, pfn, &mut out, cpu, &mut r, &mut flush);
            } else {
                self.try_to_swap_out(env, va, pfn, flags - F::ACCESSED, &mut out, cpu, &mut r, &mut flush);
            }
            if out.is_full() || r.swap_full {
                pages.extend_from_slice(out.as_slice());
                out.n = 0;
            }
            if r.swap_full {
                break;
            }
        }
        pages.extend_from_slice(out.as_slice());
        flush.flush(env.tlb);
        if !pages.is_empty() {
            self.pageout = Some(PageOut { pa: env.pa, swap: env.swap, pages });
        }
    }
}
