//! Shared memory on swap (Linux's shmem_writeout, shmem_swapin_folio and
//! shmem_unuse): tmpfs files, memfds, System V segments and shared
//! anonymous mappings have no file to go back to, so reclaim writes their
//! pages to swap like anonymous pages, and the object's page index keeps
//! the swap entry where the page was.
//!
//! ```text
//!   reclaim (vmscan, the page isolated and unmapped everywhere):
//!     pages[off] = pfn  --swap_out_page-->  pages[off] = entry (+ slot count 1)
//!                                           pfn in the swap cache (dirty),
//!                                           no longer the object's
//!     then written and freed like an anonymous page
//!   a fault, read(2), write(2), truncate of a partial page, swapoff:
//!     pages[off] = entry, page in the swap cache  -> the page is the
//!       object's again (the entry's count goes; the page leaves the cache)
//!     pages[off] = entry, not cached  -> ObjError::SwapIn(entry): the
//!       caller reads it in with no lock held and asks again
//! ```
//!
//! The object's entry holds one count of its slot, as a page-table entry
//! does for an anonymous page; truncation and the object's death free it.
//! A swapped page stays charged to its tmpfs mount (Linux counts blocks on
//! swap in `size=` too) and committed to the segment.
//!
//! Locks: the object's `pages` lock, then the swap area's lock (a leaf)
//! inside it. Nothing here sleeps: reads from the disk are the caller's,
//! with no lock held.

use alloc::collections::BTreeMap;
use core::sync::atomic::Ordering;

use crate::addr::Pfn;
use crate::phys::page::PageFlags;
use crate::swap::entry::SwapEntry;
use crate::vm::file::{MemObject, ObjError, ObjKind, Slot};

/// What [`MemObject::swap_out_page`] did with a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShmemOut {
    /// In the swap cache, its entry in the object: the caller writes it.
    Out,
    /// Not now: the index was locked by another CPU, or the page is held
    /// or mapped again. Reclaim leaves it on its list for a later look.
    Busy,
    /// Not at all: no swap slot, SHM_LOCKed, or no longer this object's.
    Refused,
}

impl MemObject {
    /// The page at `pgoff` with a reference for the caller: the one in
    /// memory, the one the swap cache has for its entry, or (`create`) a
    /// new one in a hole (placed as `insert_new` says, `task_pol` the
    /// caller's policy); Ok(None) for a hole otherwise.
    pub(super) fn page_ref(
        &self,
        pgoff: u64,
        create: bool,
        task_pol: Option<&crate::vm::mempolicy::MemPolicy>,
    ) -> Result<Option<Pfn>, ObjError> {
        let mut pages = self.pages.lock();
        match pages.get(&pgoff).map(|&v| Slot::of(v)) {
            Some(Slot::Page(pfn)) => {
                if let Some(p) = self.pa.page(pfn) {
                    p.get();
                }
                Ok(Some(pfn))
            }
            Some(Slot::Swap(e)) => self.swapped_back(&mut pages, pgoff, e).map(Some),
            None if create => {
                let pfn = self.insert_new(&mut pages, pgoff, task_pol)?;
                if let Some(p) = self.pa.page(pfn) {
                    p.get();
                }
                Ok(Some(pfn))
            }
            None => Ok(None),
        }
    }

    /// The swapped page at `pgoff` (entry `e`) becomes the object's again
    /// if the swap cache has it; else the caller is to read it: a
    /// reference to `e` is taken for that read.
    fn swapped_back(&self, pages: &mut BTreeMap<u64, u64>, pgoff: u64, e: SwapEntry) -> Result<Pfn, ObjError> {
        let Some(swap) = self.swap else { return Err(ObjError::Io) };
        let Some(pfn) = swap.lookup(self.pa, e) else {
            return match swap.dup(e) {
                Ok(()) => Err(ObjError::SwapIn(e)),
                Err(_) => Err(ObjError::Io),
            };
        };
        let Some(p) = self.pa.page(pfn) else { return Err(ObjError::Io) };
        // Read back as an anonymous page, or still cached from its
        // writeout: either way a shmem page of this object from now on
        // (the list it is on, anon, does not change: SWAPBACKED stays).
        if p.has(PageFlags::ANON) {
            p.remove_flags(PageFlags::ANON);
            self.pa.vmstat.anon_pages.sub(1);
        }
        p.insert_flags(PageFlags::SHMEM | PageFlags::SWAPBACKED);
        p.mapping.store(self as *const MemObject as u64, Ordering::Relaxed);
        p.index.store(pgoff, Ordering::Relaxed);
        self.pa.vmstat.file_pages.add(1);
        self.pa.vmstat.shmem_pages.add(1);
        pages.insert(pgoff, pfn.0);
        // The lookup's reference is the object's now; the entry's count
        // goes, and with it the page leaves the cache (unless its write
        // is still running: then the write's end takes it out).
        swap.mapped(self.pa, e, pfn);
        p.get();
        Ok(pfn)
    }

    /// Reclaim's writeout of page `pfn` at `pgoff`, which nothing maps and
    /// only the object and `held` references of the caller hold: a swap
    /// slot, the page into the swap cache (dirty, for the caller to
    /// write), and the entry in its place here. Never waits: an index
    /// another CPU holds, or a page someone took meanwhile, is
    /// [`ShmemOut::Busy`] (try again later); no slot, SHM_LOCK or a page
    /// no longer this object's is [`ShmemOut::Refused`].
    pub fn swap_out_page(&self, pgoff: u64, pfn: Pfn, held: i32, cpu: usize) -> ShmemOut {
        let Some(swap) = self.swap else { return ShmemOut::Refused };
        if self.kind != ObjKind::Shmem || self.is_unevictable() {
            return ShmemOut::Refused;
        }
        let Some(p) = self.pa.page(pfn) else { return ShmemOut::Refused };
        let Some(mut pages) = self.pages.try_lock() else { return ShmemOut::Busy };
        if pages.get(&pgoff) != Some(&pfn.0) || p.has(PageFlags::SWAPCACHE) {
            return ShmemOut::Refused;
        }
        if p.mapcount() != 0 || p.refcount() != 1 + held {
            return ShmemOut::Busy;
        }
        let Some(e) = swap.alloc_for(self.pa, cpu, pfn) else { return ShmemOut::Refused };
        if !swap.add(self.pa, e, pfn, true) {
            swap.free(self.pa, e);
            return ShmemOut::Refused;
        }
        pages.insert(pgoff, Slot::Swap(e).raw());
        p.remove_flags(PageFlags::SHMEM);
        p.mapping.store(0, Ordering::Relaxed);
        p.index.store(0, Ordering::Relaxed);
        self.pa.vmstat.file_pages.sub(1);
        self.pa.vmstat.shmem_pages.sub(1);
        drop(pages);
        // The object's reference: the swap cache holds the page now.
        self.pa.put_user_page(pfn);
        ShmemOut::Out
    }

    /// Bring this object's pages on swap area `area` back (swapoff's
    /// shmem_unuse): Err(SwapIn(e)) when entry `e` must be read first
    /// (its reference taken), then call again.
    pub fn unuse_swap(&self, area: u8) -> Result<(), ObjError> {
        let mut from = 0;
        loop {
            let next = {
                let pages = self.pages.lock();
                pages
                    .range(from..)
                    .find(|(_, v)| matches!(Slot::of(**v), Slot::Swap(e) if e.area == area))
                    .map(|(&k, _)| k)
            };
            let Some(pgoff) = next else { return Ok(()) };
            from = pgoff + 1;
            if let Some(pfn) = self.page_ref(pgoff, false, None)? {
                self.pa.put_user_page(pfn);
            }
        }
    }

    /// SHM_LOCK / SHM_UNLOCK: whether reclaim must leave the pages in
    /// memory. Unlocking makes the pages reclaim had set aside evictable
    /// again (Linux's shmem_unlock_mapping).
    pub fn set_unevictable(&self, on: bool) {
        self.unevictable.store(on, Ordering::Relaxed);
        if on {
            return;
        }
        let pages = self.pages.lock();
        for &v in pages.values() {
            let Slot::Page(pfn) = Slot::of(v) else { continue };
            let Some(p) = self.pa.page(pfn) else { continue };
            if p.has(PageFlags::UNEVICTABLE) && !p.has(PageFlags::MLOCKED) {
                self.pa.lruvec(p).update(&self.pa.memmap, p, PageFlags::empty(), PageFlags::UNEVICTABLE);
                self.pa.vmstat.unevictable_pgs_rescued.inc();
            }
        }
    }

    pub fn is_unevictable(&self) -> bool {
        self.unevictable.load(Ordering::Relaxed)
    }
}
