//! Memory objects behind shared and file mappings: a file's page cache
//! and shared anonymous memory (cf. mm/filemap.c, mm/shmem.c).
//!
//! A [`MemObject`] owns pages indexed by page offset. The object holds one
//! reference on each of its pages; every page-table entry mapping one holds
//! another. Pages are created on demand: a file page is filled from the
//! file's bytes (the initrd) with the part past end-of-file zeroed, a shmem
//! page is zeroed. When the object goes away (no VMA and no open file uses
//! it any more), its references go too.
//!
//! File pages count as `Cached` in /proc/meminfo, shmem pages as `Shmem`
//! (and `Cached`, as in Linux).
//!
//! A tmpfs file's data are a shmem object of its own (`MemObject::tmpfs`):
//! read(2) and write(2) go through `file_io.rs`, mappings through
//! `get_page`, so both see the same pages. Its size changes (write,
//! truncate); its pages are charged to the mount's [`PageQuota`].
//!
//! A shmem object's new pages go where the shared policy of their range
//! says (shared_policy.rs), else locally.
//!
//! Locks: `pages` (an IrqLock) guards the page index; the size is an
//! atomic; `policy` (the shared policy, a leaf) is taken inside `pages`. Callers that change the size and the pages together (tmpfs)
//! serialise those calls with a lock of their own, taken before `pages`.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use abi::fcntl::{F_SEAL_FUTURE_WRITE, F_SEAL_SEAL, F_SEAL_WRITE};

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn, PhysAddr};
use crate::memcg::MemcgStat;
use crate::phys::gfp::{GFP_HIGHUSER_MOVABLE, Gfp};
use crate::phys::lru::workingset;
use crate::phys::page::{Page, PageFlags};
use crate::phys::page_alloc::ChargeMode;
use crate::phys::page_alloc::PageAllocator;
use crate::swap::entry::SwapEntry;
use crate::swap::space::SwapSpace;
use crate::sync::IrqLock;
use crate::vm::overcommit::Overcommit;
use crate::vm::rmap::{MapCounts, Rmap};

/// Kind of object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjKind {
    /// A file's page cache (read-only files of the initrd).
    File,
    /// Shared anonymous memory.
    Shmem,
}

/// Why a page could not be provided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjError {
    /// The offset lies beyond the end of the file (SIGBUS).
    BeyondEof,
    /// No memory.
    NoMemory,
    /// The mount's page quota is used up (tmpfs `size=`): ENOSPC, or
    /// SIGBUS at a fault.
    NoSpace,
    /// The page is on swap (entry `.0`) and not in the swap cache: the
    /// caller now holds a reference to the entry, taken while the object
    /// still held it, and reads the page in with no lock held (the
    /// kernel's `reclaim::swap_in`, which drops it), then tries again.
    SwapIn(SwapEntry),
    /// The swap device failed (EIO, or SIGBUS at a fault).
    Io,
}

/// What the page index holds at an offset: the page, or the swap entry it
/// was written to (bit 63; Linux's shmem keeps swap entries in the page
/// cache's xarray where the folio was).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Slot {
    Page(Pfn),
    Swap(SwapEntry),
}

const SWAPPED: u64 = 1 << 63;

impl Slot {
    pub(super) fn of(v: u64) -> Slot {
        if v & SWAPPED != 0 { Slot::Swap(SwapEntry::from_raw(v & !SWAPPED)) } else { Slot::Page(Pfn(v)) }
    }

    pub(super) fn raw(self) -> u64 {
        match self {
            Slot::Page(p) => p.0,
            Slot::Swap(e) => e.to_raw() | SWAPPED,
        }
    }
}

/// Pages a tmpfs mount may hold (its `size=`), shared by its files.
pub struct PageQuota {
    used: AtomicU64,
    max: u64,
}

impl PageQuota {
    pub fn new(max_pages: u64) -> PageQuota {
        PageQuota { used: AtomicU64::new(0), max: max_pages }
    }

    /// Take `n` pages, or none if that would pass the limit.
    pub fn try_charge(&self, n: u64) -> bool {
        self.used
            .try_update(Ordering::Relaxed, Ordering::Relaxed, |u| u.checked_add(n).filter(|t| *t <= self.max))
            .is_ok()
    }

    pub fn uncharge(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::Relaxed);
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn max(&self) -> u64 {
        self.max
    }
}

/// A page cache or a shmem segment.
pub struct MemObject {
    pub kind: ObjKind,
    /// Path shown in /proc/PID/maps (`/dev/zero (deleted)` for shmem, as
    /// Linux); a tmpfs file's gains ` (deleted)` when its last name goes.
    name: IrqLock<String>,
    /// Size in bytes.
    size: AtomicU64,
    pub ino: u64,
    data: Option<&'static [u8]>,
    /// Page offset -> [`Slot::raw`]: a page, or where it went on swap.
    pub(super) pages: IrqLock<BTreeMap<u64, u64>>,
    pub(super) pa: &'static PageAllocator,
    /// Where reclaim writes the object's pages (shmem; None for files,
    /// whose pages are dropped instead).
    pub(super) swap: Option<&'static SwapSpace>,
    /// SHM_LOCK: the pages stay in memory (reclaim moves them to the
    /// unevictable list; Linux's mapping_set_unevictable).
    pub(super) unevictable: AtomicBool,
    /// Pages committed for the object (shmem), given back when it dies.
    charged: Option<(&'static Overcommit, u64)>,
    /// The mount whose `size=` the pages count against (tmpfs files).
    quota: Option<Arc<PageQuota>>,
    /// The address spaces mapping the object (rmap.rs).
    pub rmap: Rmap,
    /// Per page of a read-only file: the shadow reclaim left when it
    /// dropped the page (bit 63, the node's refault clock then in bits
    /// 8-62, the node in bits 0-7), 0 for none (Linux's workingset shadow
    /// entries, which sit in the page cache's xarray in place of the
    /// page). Made by the first eviction, with a fallible allocation (no
    /// room: no shadows, the pages still go).
    pub(super) shadows: spin::Once<alloc::boxed::Box<[AtomicU64]>>,
    /// File seals (abi::fcntl F_SEAL_*), Linux's `shmem_inode_info.seals`:
    /// a tmpfs file starts with F_SEAL_SEAL (no seals may be added), a memfd
    /// made with MFD_ALLOW_SEALING with none. mmap refuses shared writable
    /// mappings of a write-sealed object (mmap.rs); the kernel checks the
    /// others (write, truncate, fallocate) under the file's own lock.
    seals: AtomicU32,
    /// The policies of page ranges set by mbind on any mapping
    /// (shared_policy.rs; shmem only).
    pub(super) policy: IrqLock<crate::vm::shared_policy::SharedPolicy>,
}

impl MemObject {
    /// The page cache of a read-only file with contents `data`.
    pub fn file(name: &str, data: &'static [u8], ino: u64, pa: &'static PageAllocator) -> Arc<MemObject> {
        let obj = Arc::new(MemObject {
            kind: ObjKind::File,
            name: IrqLock::new(String::from(name)),
            size: AtomicU64::new(data.len() as u64),
            ino,
            data: Some(data),
            pages: IrqLock::new(BTreeMap::new()),
            pa,
            swap: None,
            unevictable: AtomicBool::new(false),
            charged: None,
            quota: None,
            rmap: Rmap::new(),
            shadows: spin::Once::new(),
            seals: AtomicU32::new(0),
            policy: IrqLock::new(crate::vm::shared_policy::SharedPolicy::new()),
        });
        // Reclaim finds the file from its pages (rmap_walk.rs).
        crate::vm::rmap_walk::FILES.insert(&obj);
        obj
    }

    /// A shared anonymous segment of `size` bytes, for which `charged`
    /// pages were committed (released when the last mapping goes).
    pub fn shmem(
        size: u64,
        ino: u64,
        pa: &'static PageAllocator,
        swap: &'static SwapSpace,
        commit: &'static Overcommit,
        charged: u64,
    ) -> Arc<MemObject> {
        MemObject::shmem_named("/dev/zero (deleted)", size, ino, pa, swap, commit, charged)
    }

    /// A shmem segment shown as `name` in /proc/PID/maps (System V shared
    /// memory: `/SYSV%08x (deleted)`), `charged` pages committed for it.
    pub fn shmem_named(
        name: &str,
        size: u64,
        ino: u64,
        pa: &'static PageAllocator,
        swap: &'static SwapSpace,
        commit: &'static Overcommit,
        charged: u64,
    ) -> Arc<MemObject> {
        MemObject::registered(MemObject {
            kind: ObjKind::Shmem,
            name: IrqLock::new(String::from(name)),
            size: AtomicU64::new(size),
            ino,
            data: None,
            pages: IrqLock::new(BTreeMap::new()),
            pa,
            swap: Some(swap),
            unevictable: AtomicBool::new(false),
            charged: Some((commit, charged)),
            quota: None,
            rmap: Rmap::new(),
            shadows: spin::Once::new(),
            seals: AtomicU32::new(0),
            policy: IrqLock::new(crate::vm::shared_policy::SharedPolicy::new()),
        })
    }

    /// The data of an empty tmpfs file `name`, its pages charged to `quota`.
    pub fn tmpfs(
        name: &str,
        ino: u64,
        pa: &'static PageAllocator,
        swap: &'static SwapSpace,
        quota: Arc<PageQuota>,
    ) -> Arc<MemObject> {
        MemObject::registered(MemObject {
            kind: ObjKind::Shmem,
            name: IrqLock::new(String::from(name)),
            size: AtomicU64::new(0),
            ino,
            data: None,
            pages: IrqLock::new(BTreeMap::new()),
            pa,
            swap: Some(swap),
            unevictable: AtomicBool::new(false),
            charged: None,
            quota: Some(quota),
            rmap: Rmap::new(),
            shadows: spin::Once::new(),
            seals: AtomicU32::new(F_SEAL_SEAL),
            policy: IrqLock::new(crate::vm::shared_policy::SharedPolicy::new()),
        })
    }

    /// A shmem object, found by reclaim from its pages (rmap_walk.rs).
    fn registered(obj: MemObject) -> Arc<MemObject> {
        let obj = Arc::new(obj);
        crate::vm::rmap_walk::FILES.insert(&obj);
        obj
    }

    /// The file seals (F_SEAL_*).
    pub fn seals(&self) -> u32 {
        self.seals.load(Ordering::SeqCst)
    }

    /// Add `seals`; returns the seals before. Whoever adds seals serialises
    /// the calls (the tmpfs file's `io` lock) and checks F_SEAL_SEAL first.
    pub fn add_seals(&self, seals: u32) -> u32 {
        self.seals.fetch_or(seals, Ordering::SeqCst)
    }

    /// Take back seals just added (F_SEAL_WRITE found a shared writable
    /// mapping after it was published: EBUSY).
    pub fn remove_seals(&self, seals: u32) {
        self.seals.fetch_and(!seals, Ordering::SeqCst);
    }

    /// The seals forbid writing through write(2) and new shared writable
    /// mappings (F_SEAL_WRITE or F_SEAL_FUTURE_WRITE).
    pub fn write_sealed(&self) -> bool {
        self.seals() & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0
    }

    /// The path /proc/PID/maps shows.
    pub fn name(&self) -> String {
        self.name.lock().clone()
    }

    /// The file lost its last name: maps show it as Linux's d_path does.
    pub fn mark_deleted(&self) {
        let mut n = self.name.lock();
        if !n.ends_with(" (deleted)") {
            n.push_str(" (deleted)");
        }
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    pub(super) fn store_size(&self, size: u64) {
        self.size.store(size, Ordering::Release);
    }

    /// Pages past the last byte (files only).
    /// Past the end of the file, or of the shared segment (a mapping grown
    /// by mremap does not grow the segment: SIGBUS there, as shmem gives).
    fn beyond_eof(&self, pgoff: u64) -> bool {
        pgoff >= self.size().div_ceil(PAGE_SIZE)
    }

    /// The page at `pgoff`, created if needed, with one more reference
    /// taken for the caller (who will map it). A page on swap comes back
    /// from the swap cache, or the caller is sent to read it
    /// ([`ObjError::SwapIn`]).
    pub fn get_page(&self, pgoff: u64) -> Result<Pfn, ObjError> {
        self.get_page_for(pgoff, None)
    }

    /// [`Self::get_page`] for a task whose policy is `task_pol`: a new
    /// shmem page where its range has no shared policy goes by that
    /// (shmem_get_pgoff_policy's fallback to the task's policy).
    pub fn get_page_for(
        &self,
        pgoff: u64,
        task_pol: Option<&crate::vm::mempolicy::MemPolicy>,
    ) -> Result<Pfn, ObjError> {
        if self.beyond_eof(pgoff) {
            return Err(ObjError::BeyondEof);
        }
        self.page_ref(pgoff, true, task_pol)?.ok_or(ObjError::NoMemory)
    }

    /// Allocate the page at `pgoff` (absent from `pages`), fill it, and
    /// enter it with the cache's one reference. A shmem page goes by its
    /// range's shared policy, else by `task_pol` (None: locally).
    pub(super) fn insert_new(
        &self,
        pages: &mut BTreeMap<u64, u64>,
        pgoff: u64,
        task_pol: Option<&crate::vm::mempolicy::MemPolicy>,
    ) -> Result<Pfn, ObjError> {
        if let Some(q) = &self.quota {
            if !q.try_charge(1) {
                return Err(ObjError::NoSpace);
            }
        }
        let uncharge = || {
            if let Some(q) = &self.quota {
                q.uncharge(1);
            }
        };
        // The range's shared policy places a shmem page (shmem_alloc_folio).
        let pol = if self.has_shared_policy() { self.policy_at(pgoff).or(task_pol.copied()) } else { None };
        let gfp = GFP_HIGHUSER_MOVABLE | Gfp::ZERO;
        let Some(pfn) = crate::vm::mempolicy::alloc_page(self.pa, gfp, pol.as_ref(), self.interleave_index(pgoff))
        else {
            uncharge();
            return Err(ObjError::NoMemory);
        };
        let stat = if self.kind == ObjKind::File { MemcgStat::File } else { MemcgStat::Shmem };
        if !self.pa.memcg_charge(pfn, stat, ChargeMode::MayFail) {
            let _ = self.pa.free_pages(pfn, 0);
            uncharge();
            return Err(ObjError::NoMemory);
        }
        if let Some(data) = self.data {
            let off = (pgoff << PAGE_SHIFT) as usize;
            let n = data.len().saturating_sub(off).min(PAGE_SIZE as usize);
            // A fresh page: `n` bytes of the file fit in it.
            let _ = self.pa.phys().write(PhysAddr::new(pfn.phys()), &data[off..off + n]);
        }
        let Some(page) = self.pa.page(pfn) else {
            uncharge();
            return Err(ObjError::NoMemory);
        };
        page.insert_flags(if self.kind == ObjKind::File {
            PageFlags::FILE
        } else {
            PageFlags::SHMEM | PageFlags::SWAPBACKED
        });
        page.mapping.store(self as *const MemObject as u64, Ordering::Relaxed);
        page.index.store(pgoff, Ordering::Relaxed);
        self.pa.vmstat.file_pages.add(1);
        if self.kind == ObjKind::Shmem {
            self.pa.vmstat.shmem_pages.add(1);
        }
        pages.insert(pgoff, pfn.0);
        let active = self.refault(pgoff, page);
        self.pa.lru_add_as(pfn, active);
        Ok(pfn)
    }

    /// The page at `pgoff` if it is in memory (no reference taken).
    pub fn find_page(&self, pgoff: u64) -> Option<Pfn> {
        match Slot::of(*self.pages.lock().get(&pgoff)?) {
            Slot::Page(p) => Some(p),
            Slot::Swap(_) => None,
        }
    }

    /// Pages in memory.
    pub fn nr_pages(&self) -> u64 {
        self.pages.lock().values().filter(|&&v| matches!(Slot::of(v), Slot::Page(_))).count() as u64
    }

    /// Pages on swap.
    pub fn nr_swapped(&self) -> u64 {
        self.swapped_in(0, u64::MAX)
    }

    /// Pages on swap at offsets `[first, last)`.
    pub fn swapped_in(&self, first: u64, last: u64) -> u64 {
        if first >= last {
            return 0;
        }
        self.pages.lock().range(first..last).filter(|&(_, &v)| matches!(Slot::of(v), Slot::Swap(_))).count() as u64
    }

    /// Drop what the object held at an offset (removed from `pages` by the
    /// caller): its reference on the page, or its swap entry.
    pub(super) fn release(&self, v: u64) {
        if let Some(q) = &self.quota {
            q.uncharge(1);
        }
        match Slot::of(v) {
            Slot::Page(pfn) => self.pa.put_user_page(pfn),
            Slot::Swap(e) => {
                if let Some(swap) = self.swap {
                    swap.free(self.pa, e);
                }
            }
        }
    }

    /// Drop pages that nobody maps (page-cache reclaim, `drop_caches`).
    /// Only clean file pages can be dropped; shmem pages are the data.
    pub fn shrink(&self) -> u64 {
        if self.kind != ObjKind::File {
            return 0;
        }
        // Reclaim may run inside an allocation made under this very lock:
        // skip the object then rather than deadlock.
        let Some(mut pages) = self.pages.try_lock() else { return 0 };
        // No allocation here: this runs when memory is short.
        let mut freed = 0;
        pages.retain(|_, pfn| {
            let idle = self.pa.page(Pfn(*pfn)).is_some_and(|p| p.refcount() == 1);
            if idle {
                self.release(*pfn);
                freed += 1;
            }
            !idle
        });
        if pages.is_empty() {
            // An emptied BTreeMap keeps its root node: give that back too, so
            // a dropped cache holds no kernel memory at all.
            *pages = BTreeMap::new();
        }
        freed
    }

    /// Drop the clean page-cache page `pfn` at `pgoff` if nothing but the
    /// cache and `held` references of the caller hold it (reclaim of one
    /// page, Linux's `__remove_mapping`). Never waits for the lock.
    pub fn try_drop_page(&self, pgoff: u64, pfn: Pfn, held: i32) -> bool {
        if self.kind != ObjKind::File {
            return false;
        }
        let shadows = self.shadows();
        let Some(mut pages) = self.pages.try_lock() else { return false };
        let idle = self.pa.page(pfn).is_some_and(|p| p.refcount() == 1 + held && p.mapcount() == 0);
        if pages.get(&pgoff) != Some(&pfn.0) || !idle {
            return false;
        }
        pages.remove(&pgoff);
        if let (Some(shadow), Some(p)) = (shadows.and_then(|s| s.get(pgoff as usize)), self.pa.page(pfn)) {
            shadow.store(workingset::eviction(self.pa, p), Ordering::Relaxed);
        }
        drop(pages);
        self.release(pfn.0);
        true
    }

    /// The shadow array of a read-only file, made on first use (None if
    /// there is no memory for it).
    fn shadows(&self) -> Option<&[AtomicU64]> {
        if let Some(s) = self.shadows.get() {
            return Some(s);
        }
        let n = self.data?.len().div_ceil(PAGE_SIZE as usize);
        let mut v = alloc::vec::Vec::new();
        v.try_reserve_exact(n).ok()?;
        v.extend((0..n).map(|_| AtomicU64::new(0)));
        Some(self.shadows.call_once(|| v.into_boxed_slice()))
    }

    /// The page at `pgoff`, `p`, is read in again: if reclaim had dropped
    /// it, whether it goes straight to the active list (`workingset_refault`).
    /// Anonymous memory counts in the working set only while swap has
    /// room (an object made without the swap space sees none).
    fn refault(&self, pgoff: u64, p: &Page) -> bool {
        let slot = self.shadows.get().and_then(|s| s.get(pgoff as usize));
        let Some(shadow) = slot.map(|s| s.swap(0, Ordering::Relaxed)) else {
            return false;
        };
        if !workingset::is_shadow(shadow) {
            return false;
        }
        let swap_free = self.swap.map_or(0, |s| s.totals().1);
        workingset::refault(self.pa, p, shadow, swap_free)
    }

    /// Take the pages of `[first, last)` out of the object and away from
    /// every mapping (Linux's truncate_pagecache and shmem_undo_range with
    /// unmap_mapping_range around them): the mappers lose the range first,
    /// the pages then leave the index (each freed once its last user lets
    /// go), and the mappers lose the range again, in case a fault mapped a
    /// page in between. Afterwards every mapping reads zeros there (a hole)
    /// or gets SIGBUS (past a truncated end), and shares what is written
    /// next. `even_cows`: truncation, which also takes away the private
    /// copies private mappings made of those pages. For a read-only file
    /// (the initrd's bytes never change) this only drops cached pages.
    /// Call with no address-space lock held (rmap.rs). Returns the pages
    /// dropped from the object.
    pub fn remove_range(&self, first: u64, last: u64, even_cows: bool) -> u64 {
        self.rmap.unmap_range(self, first, last, even_cows);
        let mut dropped = 0;
        let mut pages = self.pages.lock();
        while let Some((&k, &pfn)) = pages.range(first..last).next() {
            pages.remove(&k);
            self.release(pfn);
            dropped += 1;
        }
        drop(pages);
        self.rmap.unmap_range(self, first, last, even_cows);
        dropped
    }

    /// The mappings of the object in every address space (call with no
    /// address-space lock held).
    pub fn mapping_counts(&self) -> MapCounts {
        self.rmap.counts(self)
    }

    /// File bytes (for read(2) through the same object).
    pub fn data(&self) -> Option<&'static [u8]> {
        self.data
    }
}

impl Drop for MemObject {
    fn drop(&mut self) {
        crate::vm::rmap_walk::FILES.remove(self as *const MemObject as u64);
        let pages = core::mem::take(&mut *self.pages.lock());
        for (_, pfn) in pages {
            self.release(pfn);
        }
        if let Some((commit, pages)) = self.charged {
            commit.unaccount(pages);
        }
    }
}
