//! cachestat(2)'s count of a file's page cache (cf. mm/filemap.c,
//! `filemap_cachestat`): over a range of page offsets, the pages in
//! memory, those of them dirty and under writeback, the pages evicted
//! from the range, and those of the evicted whose return now would count
//! as a working-set refault.
//!
//! What is where in a [`MemObject`]:
//!
//! ```text
//!   index slot    Page(pfn)  -> cached; for a file, dirty if PG_dirty and
//!                               under writeback if PG_writeback; for shmem
//!                               neither (Linux's shmem sets PG_dirty
//!                               without tagging its page cache, and writes
//!                               pages out from the swap cache, so its
//!                               cachestat shows 0 dirty, 0 writeback)
//!                 Swap(e)    -> evicted (a shmem page on swap)
//!   shadow        nonzero    -> evicted (a read-only file's page dropped
//!                               by reclaim); recently evicted if
//!                               `workingset::test_recent` says so
//! ```
//!
//! Linux also reads a shadow from the swap cache for a shmem page on
//! swap; this kernel keeps no shadow there, so such a page counts as
//! evicted but never as recently evicted.
//!
//! Locks: the object's page index lock, alone; the shadows are atomics
//! read without it.

use core::sync::atomic::Ordering;

use crate::phys::lru::workingset;
use crate::phys::page::PageFlags;
use crate::vm::file::{MemObject, ObjKind, Slot};

/// What cachestat reports (Linux's `struct cachestat`), in pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStat {
    pub nr_cache: u64,
    pub nr_dirty: u64,
    pub nr_writeback: u64,
    pub nr_evicted: u64,
    pub nr_recently_evicted: u64,
}

impl MemObject {
    /// The page cache of page offsets `first..=last` (an empty range when
    /// `last < first`).
    pub fn cachestat(&self, first: u64, last: u64) -> CacheStat {
        let mut cs = CacheStat::default();
        if last < first {
            return cs;
        }
        let shmem = self.kind == ObjKind::Shmem;
        {
            let pages = self.pages.lock();
            for (_, &raw) in pages.range(first..=last) {
                match Slot::of(raw) {
                    Slot::Page(pfn) => {
                        cs.nr_cache += 1;
                        if shmem {
                            continue;
                        }
                        let flags = self.pa.page(pfn).map(|p| p.flags()).unwrap_or(PageFlags::empty());
                        if flags.contains(PageFlags::DIRTY) {
                            cs.nr_dirty += 1;
                        }
                        if flags.contains(PageFlags::WRITEBACK) {
                            cs.nr_writeback += 1;
                        }
                    }
                    Slot::Swap(_) => cs.nr_evicted += 1,
                }
            }
        }
        if let Some(shadows) = self.shadows.get() {
            let end = last.min(shadows.len() as u64);
            for shadow in shadows.iter().take(end.saturating_add(1) as usize).skip(first as usize) {
                let s = shadow.load(Ordering::Relaxed);
                if workingset::is_shadow(s) {
                    cs.nr_evicted += 1;
                    if workingset::test_recent(self.pa, s, true, 0) {
                        cs.nr_recently_evicted += 1;
                    }
                }
            }
        }
        cs
    }
}

#[cfg(test)]
mod tests;
