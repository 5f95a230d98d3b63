//! hugetlb mappings: areas whose pages are 2 MiB or 1 GiB pages of a pool
//! (`phys::hugetlb`), mapped by one directory entry (PMD) or one
//! page-directory-pointer entry (PUD, 1 GiB) each (cf. mm/hugetlb.c
//! `hugetlb_fault`, `hugetlb_no_page`, `hugetlb_wp`, `copy_hugetlb_page_range`,
//! `hugetlb_reserve_pages`; fs/hugetlbfs).
//!
//! ```text
//!   mmap(MAP_HUGETLB) ─> area [2M-aligned, 2M multiple), backing Huge(object)
//!                        promises its pages now (HugePages_Rsvd), unless
//!                        MAP_NORESERVE: ENOMEM when the pool cannot
//!   fault ───────────────> shared: the object's page (taken and zeroed once)
//!                          private: a new zeroed page for this mapping
//!                          none left: SIGBUS
//!   fork ────────────────> shared: both map the page; private: both map it
//!                          read-only, the first write copies (or reuses)
//!   munmap, mprotect ───> only at huge page boundaries (EINVAL otherwise)
//!   zap ─────────────────> the entry goes, the page's reference with it
//! ```
//!
//! The object ([`HugeObject`]) is what the mapping is made of: for a
//! shared mapping (MAP_SHARED|MAP_ANONYMOUS|MAP_HUGETLB, an SHM_HUGETLB
//! segment, a MFD_HUGETLB memfd) it holds the pages by huge index; for a
//! private mapping it holds only the promises (Linux's per-VMA `resv_map`)
//! and the pages live in the page tables alone. A huge index is the
//! area's page offset / 512 (2 MiB) or / 262144 (1 GiB): an object is of
//! one size, its pool's (MAP_HUGE_1GB, MFD_HUGE_1GB, a `pagesize=1G`
//! hugetlbfs).
//!
//! hugetlb pages are never on LRU lists, never swapped and never migrated
//! or compacted; they do not count in RSS (`HugetlbPages` in status does).
//!
//! Locks: an object's `inner` lock guards its page index and promises; the
//! pool's lock nests inside it only for promises (reserve/unreserve); a
//! fault takes pages from the pool and zeroes them with no lock held and
//! installs under the page-table lock (`AddressSpace::ptl`), as 4 KiB
//! faults do.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::sync::Arc;

use x86_64::structures::paging::PageTableFlags as F;
use x86_64::structures::paging::page_table::PageTableEntry;

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn, PhysAddr};
use crate::phys::hugetlb::{HPAGE_ORDER, HPAGE_SIZE, HugePool};
use crate::phys::page_alloc::PageAllocator;
use crate::vm::address_space::{AddressSpace, MmEnv, PtlState};
use crate::vm::fault::{FaultDone, FaultError, FaultKind};
use crate::vm::vma::{Backing, VmFlags, Vma};

/// A hugetlbfs mount's limit (`size=`): huge pages its files may hold.
pub struct HugeQuota {
    /// `size=` in huge pages (u64::MAX: none).
    max: u64,
    /// `min_size=` in huge pages (0: none).
    min: u64,
    pa: &'static PageAllocator,
    /// The order of the mount's pages (its `pagesize=`).
    order: u32,
    inner: spin::Mutex<QuotaInner>,
}

/// Linux's `hugepage_subpool` counts.
struct QuotaInner {
    /// Pages and promises the mount's files hold.
    used: u64,
    /// Of the pool's promises the mount took at mount time for its
    /// minimum, those no file uses now (`rsv_hpages`).
    rsv: u64,
}

impl HugeQuota {
    /// A mount's limits: at most `max` huge pages (None: the pool's), and
    /// `min` of them promised by the pool from now on, so that the
    /// mount's files find them (None if the pool cannot promise that
    /// many: ENOMEM, as `hugepage_new_subpool`).
    pub fn new(pa: &'static PageAllocator, max: Option<u64>, min: u64) -> Option<Arc<HugeQuota>> {
        HugeQuota::new_sized(pa, HPAGE_ORDER, max, min)
    }

    /// [`HugeQuota::new`] of a mount whose pages are of `order`.
    pub fn new_sized(pa: &'static PageAllocator, order: u32, max: Option<u64>, min: u64) -> Option<Arc<HugeQuota>> {
        if min > 0 && !pool_of_order(pa, order).reserve(pa, min) {
            return None;
        }
        let inner = spin::Mutex::new(QuotaInner { used: 0, rsv: min });
        Some(Arc::new(HugeQuota { max: max.unwrap_or(u64::MAX), min, pa, order, inner }))
    }

    /// `size=` in huge pages, if the mount has one.
    pub fn max(&self) -> Option<u64> {
        (self.max != u64::MAX).then_some(self.max)
    }

    /// `min_size=` in huge pages (0: none).
    pub fn min(&self) -> u64 {
        self.min
    }

    pub fn used(&self) -> u64 {
        self.inner.lock().used
    }

    /// Count one page or promise (`hugepage_subpool_get_pages`): None
    /// over `size=`; Some(true) when the mount's minimum covers it (the
    /// pool promised it already: the caller must not ask for another
    /// promise, and may take a promised page).
    fn charge(&self) -> Option<bool> {
        let mut q = self.inner.lock();
        if q.used >= self.max {
            return None;
        }
        q.used += 1;
        if q.rsv > 0 {
            q.rsv -= 1;
            return Some(true);
        }
        Some(false)
    }

    /// Undo a [`HugeQuota::charge`] that answered `covered`.
    fn undo(&self, covered: bool) {
        let mut q = self.inner.lock();
        q.used -= 1;
        if covered {
            q.rsv += 1;
        }
    }

    /// A page or promise went (`hugepage_subpool_put_pages`): true when
    /// the mount keeps its pool promise for its minimum (the caller must
    /// not give the promise back; a freed page must restore one).
    fn uncharge(&self) -> bool {
        let mut q = self.inner.lock();
        q.used = q.used.saturating_sub(1);
        if q.used + q.rsv < self.min {
            q.rsv += 1;
            return true;
        }
        false
    }
}

impl Drop for HugeQuota {
    /// The mount is gone (and every file with it): its minimum's
    /// promises go back to the pool.
    fn drop(&mut self) {
        let rsv = self.inner.lock().rsv;
        pool_of_order(self.pa, self.order).unreserve(self.pa, rsv);
    }
}

/// What a hugetlb mapping is made of (see the module comment).
pub struct HugeObject {
    pa: &'static PageAllocator,
    shared: bool,
    /// The pool's order (9: 2 MiB, 18: 1 GiB).
    order: u32,
    /// The name /proc/PID/maps shows (`/anon_hugepage (deleted)`,
    /// `/SYSV%08x (deleted)`, `/memfd:NAME (deleted)`) and the inode.
    pub name: alloc::string::String,
    pub ino: u64,
    /// Bytes (a file's size; a mapping's length): faults past it SIGBUS.
    size: core::sync::atomic::AtomicU64,
    /// The mount's limit its pages count against (hugetlbfs files).
    quota: Option<Arc<HugeQuota>>,
    inner: spin::Mutex<ObjInner>,
}

#[derive(Default)]
struct ObjInner {
    /// Huge index -> page (shared objects), each holding one reference.
    pages: BTreeMap<u64, Pfn>,
    /// Huge indices promised and not yet faulted in.
    resv: BTreeSet<u64>,
}

impl HugeObject {
    /// A new empty object: `shared` holds pages, a private one promises.
    pub fn new(pa: &'static PageAllocator, shared: bool, name: &str, ino: u64) -> Arc<HugeObject> {
        let name = alloc::string::String::from(name);
        let size = core::sync::atomic::AtomicU64::new(u64::MAX);
        let inner = spin::Mutex::new(ObjInner::default());
        Arc::new(HugeObject { pa, shared, order: HPAGE_ORDER, name, ino, size, quota: None, inner })
    }

    /// [`HugeObject::new`] of the pool of `order` (a MAP_HUGE_1GB mapping).
    pub fn new_sized(pa: &'static PageAllocator, shared: bool, name: &str, ino: u64, order: u32) -> Arc<HugeObject> {
        let name = alloc::string::String::from(name);
        let size = core::sync::atomic::AtomicU64::new(u64::MAX);
        let inner = spin::Mutex::new(ObjInner::default());
        Arc::new(HugeObject { pa, shared, order, name, ino, size, quota: None, inner })
    }

    /// The pool the object's pages come from.
    pub fn pool(&self) -> &'static HugePool {
        pool_of_order(self.pa, self.order)
    }

    /// Bytes in one of the object's pages.
    pub fn hpage_size(&self) -> u64 {
        PAGE_SIZE << self.order
    }

    /// 4 KiB pages in one of the object's pages.
    pub fn hpage_pages(&self) -> u64 {
        1 << self.order
    }

    /// A hugetlbfs file's object: shared, empty, its pages counted
    /// against `quota`.
    pub fn file(pa: &'static PageAllocator, name: &str, ino: u64, quota: Option<Arc<HugeQuota>>) -> Arc<HugeObject> {
        HugeObject::file_sized(pa, name, ino, quota, HPAGE_ORDER)
    }

    /// [`HugeObject::file`] of pages of `order` (a `pagesize=1G` mount,
    /// a MFD_HUGE_1GB memfd).
    pub fn file_sized(
        pa: &'static PageAllocator,
        name: &str,
        ino: u64,
        quota: Option<Arc<HugeQuota>>,
        order: u32,
    ) -> Arc<HugeObject> {
        let name = alloc::string::String::from(name);
        let size = core::sync::atomic::AtomicU64::new(0);
        let inner = spin::Mutex::new(ObjInner::default());
        Arc::new(HugeObject { pa, shared: true, order, name, ino, size, quota, inner })
    }

    /// The file's size in bytes (u64::MAX: a mapping's object, unbounded).
    pub fn size(&self) -> u64 {
        self.size.load(core::sync::atomic::Ordering::Relaxed)
    }

    /// Set a file's size (a multiple of the page size): pages and promises past
    /// a smaller one go (those mapped stay with their mappers until they
    /// unmap; a new fault there is SIGBUS).
    pub fn set_size(&self, bytes: u64) {
        let old = self.size.swap(bytes, core::sync::atomic::Ordering::Relaxed);
        if bytes < old {
            self.truncate(bytes.div_ceil(self.hpage_size()));
        }
    }

    /// Copy the file's bytes at `off` into `buf` (holes read zero), up to
    /// the size; the count copied.
    pub fn read_at(&self, off: u64, buf: &mut [u8]) -> usize {
        let end = self.size().min(off.saturating_add(buf.len() as u64));
        let mut done = 0usize;
        let mut at = off;
        while at < end {
            let hsize = self.hpage_size();
            let idx = at / hsize;
            let in_page = at % hsize;
            let n = ((hsize - in_page).min(end - at)) as usize;
            let page = self.inner.lock().pages.get(&idx).copied();
            let dst = &mut buf[done..done + n];
            match page {
                // A pool page of this object: RAM inside the window.
                Some(pfn) => {
                    if self.pa.phys().read(PhysAddr::new(pfn.phys() + in_page), dst).is_err() {
                        dst.fill(0);
                    }
                }
                None => dst.fill(0),
            }
            done += n;
            at += n as u64;
        }
        done
    }

    /// Fill huge indices `[first, last)` with pages (fallocate): false
    /// when the pool runs out (the pages made so far stay).
    pub fn populate(&self, first: u64, last: u64, nid: u32) -> bool {
        for idx in first..last {
            match self.get_page(idx, nid) {
                Some(pfn) => self.pool().put(self.pa, pfn),
                None => return false,
            }
        }
        true
    }

    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Promise the pages of huge indices `[first, last)` that are neither
    /// present nor promised already; false (nothing promised): ENOMEM.
    pub fn reserve(&self, first: u64, last: u64) -> bool {
        let mut i = self.inner.lock();
        // More than the pool holds cannot be promised: refused before a
        // list of that many indices is made (a length from user space may
        // name millions of huge pages).
        let held = i.pages.range(first..last).count() + i.resv.range(first..last).count();
        let pool = self.pool().counts();
        let need = last.saturating_sub(first).saturating_sub(held as u64);
        // A mount's minimum holds promises of its own (`min_size=`).
        let mount_rsv = self.quota.as_ref().map_or(0, |q| q.inner.lock().rsv);
        let room = pool.free.saturating_sub(pool.resv) + pool.overcommit.saturating_sub(pool.surplus) + mount_rsv;
        if need > room {
            return false;
        }
        let want: alloc::vec::Vec<u64> =
            (first..last).filter(|x| !i.pages.contains_key(x) && !i.resv.contains(x)).collect();
        // A mount's limit counts promises too (`hugepage_subpool_get_pages`);
        // those its minimum covers are promised by the pool already.
        let mut charged: alloc::vec::Vec<bool> = alloc::vec::Vec::new();
        if let Some(q) = &self.quota {
            while charged.len() < want.len() {
                match q.charge() {
                    Some(covered) => charged.push(covered),
                    None => break,
                }
            }
        }
        let covered = charged.iter().filter(|&&c| c).count();
        let undo = |charged: &[bool]| charged.iter().for_each(|&c| self.quota.as_ref().map_or((), |q| q.undo(c)));
        if (self.quota.is_some() && charged.len() < want.len())
            || !self.pool().reserve(self.pa, (want.len() - covered) as u64)
        {
            undo(&charged);
            return false;
        }
        i.resv.extend(want);
        true
    }

    /// Give back the promises of `[first, last)` (a private mapping's
    /// range went away).
    pub fn unreserve(&self, first: u64, last: u64) {
        let mut i = self.inner.lock();
        let gone: alloc::vec::Vec<u64> = i.resv.range(first..last).copied().collect();
        for x in &gone {
            i.resv.remove(x);
        }
        drop(i);
        self.give_back_promises(gone.len() as u64);
    }

    /// `n` promises went: the pool takes back those the mount's minimum
    /// does not keep.
    fn give_back_promises(&self, n: u64) {
        let kept = match &self.quota {
            Some(q) => (0..n).filter(|_| q.uncharge()).count() as u64,
            None => 0,
        };
        self.pool().unreserve(self.pa, n - kept);
    }

    /// A page of this object goes back to the pool; if the mount's
    /// minimum keeps it, the pool promises it again (`restore_reserve`).
    fn give_back_page(&self, pfn: Pfn) {
        self.pool().put(self.pa, pfn);
        if self.quota.as_ref().is_some_and(|q| q.uncharge()) {
            self.pool().reserve(self.pa, 1);
        }
    }

    /// Drop every page and promise at huge index `from` or above (a
    /// shrinking ftruncate, removal). The pages stay with whoever maps
    /// them until they unmap.
    pub fn truncate(&self, from: u64) {
        let mut i = self.inner.lock();
        let pages = i.pages.split_off(&from);
        let resv = i.resv.split_off(&from);
        drop(i);
        for (_, pfn) in pages {
            self.give_back_page(pfn);
        }
        self.give_back_promises(resv.len() as u64);
    }

    /// Pages the object holds.
    pub fn nr_pages(&self) -> u64 {
        self.inner.lock().pages.len() as u64
    }

    /// A zeroed page for huge index `idx` from node `nid` (any node after
    /// it), using the promise for `idx` if there is one. None: the pool
    /// has none to give (SIGBUS).
    fn new_page(&self, idx: u64, nid: u32) -> Option<Pfn> {
        let promised = self.inner.lock().resv.remove(&idx);
        // A promise was counted against the mount's limit when made; a
        // page its minimum covers has the pool's promise already.
        let mut covered = None;
        if let Some(q) = self.quota.as_ref().filter(|_| !promised) {
            covered = Some(q.charge()?);
        }
        let Some(pfn) = self.pool().take(self.pa, nid as usize, promised || covered == Some(true)) else {
            if promised {
                self.inner.lock().resv.insert(idx);
            } else if let (Some(q), Some(c)) = (&self.quota, covered) {
                q.undo(c);
            }
            return None;
        };
        zero_huge(self.pa, pfn, self.order);
        Some(pfn)
    }

    /// The shared page at huge index `idx`, with a reference for the
    /// caller: made (zeroed) on first use.
    pub fn get_page(&self, idx: u64, nid: u32) -> Option<Pfn> {
        if let Some(pfn) = self.find_get(idx) {
            return Some(pfn);
        }
        let new = self.new_page(idx, nid)?;
        let mut i = self.inner.lock();
        if let Some(&other) = i.pages.get(&idx) {
            // Another fault made it meanwhile: ours goes back, and with it
            // the promise it used, if it used one.
            if let Some(p) = self.pa.page(other) {
                p.get();
            }
            drop(i);
            self.give_back_page(new);
            return Some(other);
        }
        i.pages.insert(idx, new);
        if let Some(p) = self.pa.page(new) {
            // The object's reference and the caller's.
            p.get();
        }
        Some(new)
    }

    /// The page at `idx` with a reference, if present.
    fn find_get(&self, idx: u64) -> Option<Pfn> {
        let i = self.inner.lock();
        let pfn = *i.pages.get(&idx)?;
        if let Some(p) = self.pa.page(pfn) {
            p.get();
        }
        Some(pfn)
    }
}

impl Drop for HugeObject {
    fn drop(&mut self) {
        self.truncate(0);
    }
}

/// The pool of `order` (the 2 MiB one for any other order).
fn pool_of_order(pa: &PageAllocator, order: u32) -> &HugePool {
    if order == pa.hugetlb_1g.order() { &pa.hugetlb_1g } else { &pa.hugetlb }
}

/// The pool the huge page at `pfn` belongs to (by its head's order).
fn pool_of_page(pa: &PageAllocator, pfn: Pfn) -> &HugePool {
    pool_of_order(pa, pa.page(pfn).map_or(HPAGE_ORDER, |p| p.order()))
}

/// Zero a pool page of `order` (a pool page is RAM inside the window).
/// A gigantic page spans memory-map sections: zeroed in 2 MiB steps.
fn zero_huge(pa: &PageAllocator, pfn: Pfn, order: u32) {
    for i in (0..1u64 << order).step_by(1 << HPAGE_ORDER.min(order)) {
        let _ = pa.phys().zero_pages(Pfn(pfn.0 + i), HPAGE_ORDER.min(order));
    }
}

/// Bytes in a page of the hugetlb area `v` (2 MiB for any other area).
pub fn vma_hpage_size(v: &Vma) -> u64 {
    match &v.backing {
        Backing::Huge(o) => o.hpage_size(),
        _ => HPAGE_SIZE,
    }
}

/// Whether an area may be split at `addr`: hugetlb areas only at huge
/// page boundaries (Linux's `hugetlb_vm_op_split`).
fn may_split(v: &Vma, addr: u64) -> bool {
    !v.flags.contains(VmFlags::HUGETLB) || addr % vma_hpage_size(v) == 0 || addr <= v.start || addr >= v.end
}

/// A private hugetlb area going away gives back its promises.
pub(crate) fn unreserve_private(v: &Vma) {
    if let Backing::Huge(o) = &v.backing {
        if !o.is_shared() {
            let (first, last) = index_range(v);
            o.unreserve(first, last);
        }
    }
}

/// The huge index of `addr` in `vma`.
fn huge_index(vma: &Vma, addr: u64) -> u64 {
    let size = vma_hpage_size(vma);
    vma.pgoff_of(addr & !(size - 1)) / (size >> PAGE_SHIFT)
}

/// The huge indices `[first, last)` an area covers.
pub(crate) fn index_range(vma: &Vma) -> (u64, u64) {
    let pages = vma_hpage_size(vma) >> PAGE_SHIFT;
    (vma.pgoff / pages, (vma.pgoff + vma.pages()).div_ceil(pages))
}

fn huge_object(vma: &Vma) -> Result<&Arc<HugeObject>, FaultError> {
    match &vma.backing {
        Backing::Huge(o) => Ok(o),
        _ => Err(FaultError::Bus),
    }
}

/// Whether `e` maps `pfn` as a huge page without write permission.
fn maps_readonly(e: &PageTableEntry, pfn: Pfn) -> bool {
    let f = e.flags();
    f.contains(F::PRESENT | F::HUGE_PAGE) && !f.contains(F::WRITABLE) && Pfn::from_phys(e.addr().as_u64()) == pfn
}

impl AddressSpace {
    /// EINVAL when `[start, end)` would cut a hugetlb area inside a huge
    /// page (munmap, mprotect, madvise, mlock, mbind).
    pub(crate) fn hugetlb_may_split(&self, start: u64, end: u64) -> Result<(), crate::error::MmError> {
        for a in [start, end] {
            if self.vmas.containing(a).is_some_and(|v| !may_split(v, a)) {
                return Err(crate::error::MmError::Invalid);
            }
        }
        Ok(())
    }

    /// The node a new huge page of `vma` at `addr` should come from.
    fn huge_node(env: &MmEnv<'_>, vma: &Vma, addr: u64) -> u32 {
        match vma.policy.as_ref().or(env.policy.as_ref()) {
            Some(p) => crate::vm::mempolicy::target_node(env.pa, p, huge_index(vma, addr)).0,
            None => env.pa.local_node(),
        }
    }

    /// Run `f` on the directory entry of the 2 MiB at `va` with the PTL
    /// held (upper tables allocated outside the lock, as `with_pte` does).
    pub(crate) fn with_pmd<R>(
        &self,
        env: &MmEnv<'_>,
        va: u64,
        f: impl FnOnce(&mut PageTableEntry, &mut PtlState) -> R,
    ) -> Result<R, FaultError> {
        self.with_leaf_entry(env, va, false, f)
    }

    /// [`AddressSpace::with_pmd`] for a page of `size` bytes: the level-3
    /// entry (PUD) of a 1 GiB page. Under a 1 GiB hugetlb area a level-3
    /// entry is a leaf or empty; a table left there by earlier small
    /// mappings is SIGBUS (not reclaimed here).
    fn with_huge_entry<R>(
        &self,
        env: &MmEnv<'_>,
        va: u64,
        size: u64,
        f: impl FnOnce(&mut PageTableEntry, &mut PtlState) -> R,
    ) -> Result<R, FaultError> {
        self.with_leaf_entry(env, va, size != HPAGE_SIZE, f)
    }

    /// The level-2 (or, `gigantic`, level-3) entry of `va` under the PTL:
    /// a missing table is allocated with the lock dropped and the walk
    /// tried again; one left unused goes back.
    fn with_leaf_entry<R>(
        &self,
        env: &MmEnv<'_>,
        va: u64,
        gigantic: bool,
        f: impl FnOnce(&mut PageTableEntry, &mut PtlState) -> R,
    ) -> Result<R, FaultError> {
        let mut spare: Option<PhysAddr> = None;
        let found = loop {
            let st = self.ptl.lock();
            let mut m = self.mapper(env);
            let entry = if gigantic { m.pud_with_spare(va, &mut spare) } else { m.pmd_with_spare(va, &mut spare) };
            match entry {
                Ok(Some(e)) if gigantic && e.flags().contains(F::PRESENT) && !e.flags().contains(F::HUGE_PAGE) => {
                    break Err(FaultError::Bus);
                }
                Ok(Some(e)) => break Ok((st, e)),
                Ok(None) => {
                    drop(st);
                    match env.tables.alloc_table() {
                        Some(t) => spare = Some(t),
                        None => break Err(FaultError::Oom),
                    }
                }
                Err(_) => break Err(FaultError::Bus),
            }
        };
        let r = found.map(|(mut st, e)| f(e, &mut st));
        if let Some(t) = spare {
            env.tables.free_table(t);
        }
        r
    }

    /// The present huge leaf of `size` bytes at `va`, if any (PTL held
    /// by the caller, or the address space exclusively).
    fn huge_leaf(&self, env: &MmEnv<'_>, va: u64, size: u64) -> Option<&'static mut PageTableEntry> {
        let e = if size == HPAGE_SIZE { self.mapper(env).pmd(va) } else { self.mapper(env).pud(va) };
        e.filter(|e| e.flags().contains(F::PRESENT | F::HUGE_PAGE))
    }

    /// Entry flags of a huge page of `vma`.
    fn huge_flags(vma: &Vma, writable: bool, write: bool) -> F {
        Self::fault_pte_flags(vma.flags, writable, write) | F::HUGE_PAGE
    }

    /// Map the huge page `pfn` at `haddr` if nothing is mapped there,
    /// taking over the caller's reference (given back otherwise).
    fn install_huge(
        &self,
        env: &MmEnv<'_>,
        vma: &Vma,
        haddr: u64,
        pfn: Pfn,
        writable: bool,
        write: bool,
    ) -> Result<(), FaultError> {
        let flags = Self::huge_flags(vma, writable, write);
        let size = vma_hpage_size(vma);
        let r = self.with_huge_entry(env, haddr, size, |e, st| {
            if !e.is_unused() {
                return false;
            }
            e.set_addr(PhysAddr::new(pfn.phys()), flags);
            if let Some(p) = env.pa.page(pfn) {
                p.inc_mapcount();
            }
            st.hugetlb += size >> PAGE_SHIFT;
            true
        });
        if r != Ok(true) {
            pool_of_page(env.pa, pfn).put(env.pa, pfn);
        }
        r.map(|_| ())
    }

    /// A fault in a hugetlb area (`hugetlb_fault`): the access was checked
    /// against the area's rights already.
    pub(crate) fn hugetlb_fault(
        &self,
        env: &MmEnv<'_>,
        vma: &Vma,
        addr: u64,
        kind: FaultKind,
    ) -> Result<FaultDone, FaultError> {
        let obj = huge_object(vma)?;
        let size = obj.hpage_size();
        let haddr = addr & !(size - 1);
        let idx = huge_index(vma, addr);
        if idx.saturating_mul(size) >= obj.size() {
            return Err(FaultError::Bus);
        }
        let nid = Self::huge_node(env, vma, addr);
        let shared = vma.flags.contains(VmFlags::SHARED);
        let now = {
            let _ptl = self.ptl.lock();
            self.huge_leaf(env, haddr, size).map(|e| (e.addr(), e.flags()))
        };
        match now {
            None if shared => {
                let pfn = obj.get_page(idx, nid).ok_or(FaultError::Bus)?;
                let writable = Self::shared_writable(vma, kind.write);
                self.install_huge(env, vma, haddr, pfn, writable, kind.write)?;
            }
            None if obj.is_shared() => match obj.find_get(idx) {
                // A private mapping of a hugetlb file: the file's page
                // read-only (the first write copies it), or a page of its
                // own where the file has none (`hugetlb_no_page`).
                Some(src) if !kind.write => self.install_huge(env, vma, haddr, src, false, false)?,
                Some(src) => {
                    let copy = self.huge_copy(env, vma, addr, src);
                    obj.pool().put(env.pa, src);
                    self.install_huge(env, vma, haddr, copy?, true, true)?;
                }
                None => {
                    let new = obj.pool().take(env.pa, nid as usize, false).ok_or(FaultError::Bus)?;
                    zero_huge(env.pa, new, obj.order);
                    self.install_huge(env, vma, haddr, new, true, kind.write)?;
                }
            },
            None => {
                let pfn = obj.new_page(idx, nid).ok_or(FaultError::Bus)?;
                self.install_huge(env, vma, haddr, pfn, true, kind.write)?;
            }
            Some((pa, flags)) if kind.write && !flags.contains(F::WRITABLE) => {
                self.hugetlb_wp(env, vma, haddr, Pfn::from_phys(pa.as_u64()), shared)?;
            }
            Some(_) => env.tlb.flush_page(haddr),
        }
        Ok(FaultDone::Minor)
    }

    /// A copy of the huge page `src` for a private mapping (no promise:
    /// the copy needs a free page nobody was promised; SIGBUS otherwise,
    /// where Linux would unmap the page from the other process instead).
    fn huge_copy(&self, env: &MmEnv<'_>, vma: &Vma, addr: u64, src: Pfn) -> Result<Pfn, FaultError> {
        let nid = Self::huge_node(env, vma, addr);
        let obj = huge_object(vma)?;
        let new = obj.pool().take(env.pa, nid as usize, false).ok_or(FaultError::Bus)?;
        for i in 0..obj.hpage_pages() {
            // Both are pool pages, RAM inside the window.
            let _ = env.pa.phys().copy_page(Pfn(new.0 + i), Pfn(src.0 + i));
        }
        env.pa.vmstat.cow_faults.inc();
        Ok(new)
    }

    /// A write to a read-only huge entry (`hugetlb_wp`): shared mappings
    /// just allow it; a private page mapped only here is reused; any
    /// other is copied.
    fn hugetlb_wp(&self, env: &MmEnv<'_>, vma: &Vma, haddr: u64, old: Pfn, shared: bool) -> Result<(), FaultError> {
        let obj = huge_object(vma)?;
        let size = obj.hpage_size();
        let pool = obj.pool();
        let flags = Self::huge_flags(vma, true, true);
        let page = env.pa.page(old).ok_or(FaultError::Bus)?;
        // A private page only this entry holds (not the object's).
        let sole = || page.refcount() == 1 && page.mapcount() == 1;
        if shared || (!obj.is_shared() && sole()) {
            let done = self.with_huge_entry(env, haddr, size, |e, _| {
                let still = maps_readonly(e, old) && (shared || sole());
                if still {
                    e.set_flags(flags);
                }
                still
            })?;
            if done {
                env.tlb.flush_page(haddr);
                return Ok(());
            }
        }
        // Hold the old page while copying it.
        let held = {
            let _ptl = self.ptl.lock();
            let still = self.huge_leaf(env, haddr, size).is_some_and(|e| maps_readonly(e, old));
            if still {
                page.get();
            }
            still
        };
        if !held {
            return Ok(());
        }
        let new = self.huge_copy(env, vma, haddr, old);
        let new = match new {
            Ok(n) => n,
            Err(e) => {
                pool.put(env.pa, old);
                return Err(e);
            }
        };
        let replaced = self.with_huge_entry(env, haddr, size, |e, _| {
            if !maps_readonly(e, old) {
                return false;
            }
            e.set_addr(PhysAddr::new(new.phys()), flags);
            if let Some(p) = env.pa.page(new) {
                p.inc_mapcount();
            }
            true
        })?;
        if replaced {
            env.tlb.flush_range(haddr, haddr + size);
            page.dec_mapcount();
            pool.put(env.pa, old); // the entry's reference
        } else {
            pool.put(env.pa, new);
        }
        pool.put(env.pa, old); // ours
        Ok(())
    }

    /// mprotect of a hugetlb area: rewrite its huge entries for the area
    /// flags `flags` (a private page stays read-only if it was: the next
    /// write decides between reuse and copy).
    pub(crate) fn reprotect_huge(&mut self, env: &MmEnv<'_>, start: u64, end: u64, flags: VmFlags) {
        let shared = flags.contains(VmFlags::SHARED);
        let size = self.vmas.containing(start).map_or(HPAGE_SIZE, vma_hpage_size);
        let mut va = start & !(size - 1);
        let mut flush = crate::vm::tlb::TlbFlush::none();
        while va < end {
            if let Some(e) = self.huge_leaf(env, va, size) {
                let old = e.flags();
                let writable = shared || old.contains(F::WRITABLE);
                let new = Self::pte_flags(flags, writable)
                    | F::HUGE_PAGE
                    | (old & (F::ACCESSED | F::DIRTY | crate::vm::page_table::SOFT_DIRTY));
                e.set_flags(new);
                flush = flush.merge(crate::vm::tlb::TlbFlush::page(va, size));
            }
            va += size;
        }
        flush.flush(env.tlb);
    }

    /// A zapped huge entry's page: its mapping and reference go.
    pub(crate) fn release_huge(&self, env: &MmEnv<'_>, pfn: Pfn) {
        let pool = pool_of_page(env.pa, pfn);
        if let Some(p) = env.pa.page(pfn) {
            p.dec_mapcount();
        }
        {
            let mut st = self.ptl.lock();
            st.hugetlb = st.hugetlb.saturating_sub(pool.pages_per_hpage());
        }
        pool.put(env.pa, pfn);
    }

    /// fork's copy of the hugetlb area `v` into `child`
    /// (`copy_hugetlb_page_range`): shared pages are mapped by both,
    /// private ones read-only by both until a write copies or reuses.
    pub(crate) fn fork_hugetlb(
        &mut self,
        env: &MmEnv<'_>,
        child: &AddressSpace,
        v: &Vma,
        flush: &mut crate::vm::tlb::TlbFlush,
    ) -> Result<(), FaultError> {
        let shared = v.flags.contains(VmFlags::SHARED);
        let size = vma_hpage_size(v);
        let pool = huge_object(v)?.pool();
        let mut va = v.start;
        while va < v.end {
            let Some(pe) = self.huge_leaf(env, va, size) else {
                va += size;
                continue;
            };
            let pfn = Pfn::from_phys(pe.addr().as_u64());
            let mut flags = pe.flags();
            if !shared && flags.contains(F::WRITABLE) {
                flags.remove(F::WRITABLE);
                pe.set_flags(flags);
                *flush = flush.merge(crate::vm::tlb::TlbFlush::page(va, size));
            }
            flags.remove(F::ACCESSED | F::DIRTY);
            if let Some(p) = env.pa.page(pfn) {
                p.get();
            }
            let cf = flags;
            if let Err(e) = child.with_huge_entry(env, va, size, |ce, st| {
                ce.set_addr(PhysAddr::new(pfn.phys()), cf);
                st.hugetlb += size >> PAGE_SHIFT;
            }) {
                pool.put(env.pa, pfn);
                return Err(e);
            }
            if let Some(p) = env.pa.page(pfn) {
                p.inc_mapcount();
            }
            va += size;
        }
        Ok(())
    }
}

/// The child's backing of a hugetlb area at fork: a shared object is
/// shared; a private mapping's promises stay with the parent (the child
/// has none, as in Linux, where only the owner's mapping is reserved).
pub(crate) fn fork_backing(env: &MmEnv<'_>, v: &Vma) -> Backing {
    match &v.backing {
        Backing::Huge(o) if !o.is_shared() => {
            Backing::Huge(HugeObject::new_sized(env.pa, false, &o.name, o.ino, o.order))
        }
        b => b.clone(),
    }
}

/// Length of a hugetlb mapping of `size`-byte pages: `len` rounded up to
/// whole huge pages.
pub fn huge_len(len: u64, size: u64) -> Option<u64> {
    len.checked_next_multiple_of(size)
}

/// 4 KiB pages per huge page, for views.
pub const HPAGE_KB: u64 = HPAGE_SIZE >> 10;

const _: () = assert!(HPAGE_SIZE == PAGE_SIZE << (21 - PAGE_SHIFT));
