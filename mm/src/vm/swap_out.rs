//! Reclaim's scan of one address space: age its anonymous pages and swap
//! out the ones not used since the last scan (Linux 2.4's `swap_out_mm` /
//! `try_to_swap_out`, with the accessed bit as the second chance).
//!
//! ```text
//!   from the space's cursor, over private areas (not locked), their
//!   anonymous pages:
//!     PTE accessed         -> clear the bit; the page stays (pgactivate)
//!     not accessed, page in the swap cache already (read back, or shared
//!       with another process that was scanned first)
//!                          -> the PTE takes the cached page's entry
//!     not accessed         -> a new slot; the page enters the swap cache
//!                             marked DIRTY (to be written) and the PTE
//!                             takes the entry; the page is handed to the
//!                             caller, who writes it with no lock held
//! ```
//!
//! The page leaves memory once every process that mapped it has been
//! scanned and the write is done (`SwapSpace::written`). Until then a
//! fault on any of the entries maps the cached page again, without I/O.
//!
//! The scan holds the space's lock exclusive (other threads cannot fault
//! meanwhile), allocates nothing, and flushes the TLB of every unmapped
//! page before it returns, so no CPU can still write a page the caller is
//! about to write out. Only 4 KiB private anonymous pages mapped once by
//! this space are candidates; shared (MAP_SHARED) and file pages, locked
//! pages, lazily freed ones (their shrinker drops them without I/O) and
//! huge pages are left alone.

use alloc::vec::Vec;

use x86_64::structures::paging::PageTableFlags as F;

use crate::addr::{PAGE_SIZE, Pfn};
use crate::phys::page::PageFlags;
use crate::vm::address_space::{AddressSpace, MmEnv, RssKind, TASK_SIZE};
use crate::vm::page_table::{Leaf, MapSize, set_swap};
use crate::vm::tlb::TlbFlush;
use crate::vm::vma::VmFlags;

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
    /// Scan up to `budget` candidate entries from where the last scan
    /// stopped, wrapping around once. Unmapped pages that need writing go
    /// into `out` (the scan stops when it is full); `cpu` picks the slot
    /// cluster.
    pub fn swap_out(&mut self, env: &MmEnv<'_>, budget: u64, out: &mut WriteBatch, cpu: usize) -> ScanResult {
        let mut r = ScanResult::default();
        if !env.swap.enabled() {
            return r;
        }
        let mut flush = TlbFlush::none();
        let mut addr = self.swap_cursor;
        let mut wrapped = false;
        loop {
            let Some(v) = self.vmas.find(addr).map(|v| (v.start, v.end, v.flags)) else {
                if wrapped || addr == 0 {
                    addr = 0;
                    break;
                }
                wrapped = true;
                addr = 0;
                continue;
            };
            let (start, end, flags) = v;
            let from = start.max(addr);
            addr = end;
            // Private areas: anonymous ones, and the copies a private file
            // mapping made (each page is checked to be anonymous).
            if flags.intersects(VmFlags::SHARED | VmFlags::LOCKED) {
                continue;
            }
            // Leaves of this area a batch at a time, on the stack.
            let mut cursor = from;
            while cursor < end {
                let mut batch = [(0u64, Pfn(0), F::empty()); 64];
                let mut n = 0;
                let mut resume = end;
                self.mapper(env).for_each_leaf_while(cursor, end.min(TASK_SIZE), &mut |l: Leaf| {
                    if n == batch.len() {
                        resume = l.va;
                        return false;
                    }
                    if l.size == MapSize::Size4K {
                        batch[n] = (l.va, Pfn::from_phys(l.phys.as_u64()), l.flags);
                        n += 1;
                    }
                    true
                });
                for &(va, pfn, pte_flags) in &batch[..n] {
                    if r.scanned >= budget || out.is_full() || r.swap_full {
                        self.swap_cursor = va;
                        flush.flush(env.tlb);
                        return r;
                    }
                    self.try_to_swap_out(env, va, pfn, pte_flags, out, cpu, &mut r, &mut flush);
                }
                cursor = resume;
            }
            if wrapped && addr >= self.swap_cursor {
                break;
            }
        }
        self.swap_cursor = addr;
        flush.flush(env.tlb);
        r
    }

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
            let Some(e) = env.swap.alloc(cpu) else {
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
    /// MADV_COLD: the range's pages look unused to the next reclaim scan
    /// (their accessed bits are cleared; Linux moves them to the inactive
    /// list).
    pub(crate) fn cold_range(&mut self, env: &MmEnv<'_>, start: u64, end: u64) {
        let mut vas = Vec::new();
        self.for_each_leaf(env, start, end, &mut |l| {
            if l.flags.contains(F::ACCESSED) {
                vas.push(l.va);
            }
        });
        for va in vas {
            if let Ok(Some(pte)) = self.mapper(env).pte(va, false) {
                pte.set_flags(pte.flags() - F::ACCESSED);
            }
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
        for (va, pfn, flags) in leaves {
            if env.pa.page(pfn).is_some_and(|p| p.mapcount() != 1) {
                continue;
            }
            self.try_to_swap_out(env, va, pfn, flags - F::ACCESSED, &mut out, cpu, &mut r, &mut flush);
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
