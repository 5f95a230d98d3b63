//! The swap areas in use and the swap cache (Linux's `swap_info[]` and
//! `swapper_spaces`, mm/swapfile.c and mm/swap_state.c).
//!
//! ```text
//!   page table:  [swap entry (area 0, slot 17)] ---+
//!   page table:  [swap entry (area 0, slot 17)] ---+--> area 0: count[17] = 2 | HAS_CACHE
//!                                                        cache[17] = pfn 0x1234  (being written,
//!                                                                                 or read back)
//! ```
//!
//! A slot's count is the number of page-table entries that hold it (fork
//! copies them) plus temporary references of a fault reading it in. While
//! the page is also in memory it is in the swap cache: `cache[slot]` is
//! its pfn, the page has `SWAPCACHE` with the entry in its descriptor's
//! `private`, and the cache holds one page reference. The slot is free
//! when no entry, no reader and no cached page need it.
//!
//! Which pages the cache holds, and when they leave:
//!
//! - reclaim puts a page in (with `DIRTY`: not written yet) as it turns
//!   the page's first mapping into a swap entry; every later mapping it
//!   unmaps points at the same slot; after the write the page leaves and
//!   is freed if nothing maps it any more;
//! - a fault that reads a slot back puts the read page in, so that every
//!   process whose entry points at the slot maps the same page;
//! - a fault that maps the page drops its entry's count; the last one
//!   takes the page out (it becomes a plain anonymous page, writable), but
//!   never while a write to the slot is still pending or running.
//!
//! Shadows (anonymous workingset, Linux 5.9+): when a page leaves the
//! cache with nothing mapping it while entries still refer to its slot,
//! reclaim has evicted it, and `shadows[slot]` keeps its eviction shadow
//! (`phys::lru::workingset`), as Linux keeps it in the swap cache's
//! xarray slot. The read that brings the slot back takes the shadow and
//! may put the page straight on the active anon list. A slot's shadow is
//! cleared when the slot is free again.
//!
//! A page in the cache is mapped read-only everywhere (a write fault
//! copies it, the cache's reference making it shared), so its contents
//! always equal the slot's once written.
//!
//! Swap is charged to memory cgroups per slot: [`SwapSpace::alloc_for`]
//! charges the page's group (memory.swap.current) and records it beside
//! the slot; the slot's release uncharges it.
//!
//! Locks: each area's `IrqLock` covers its slot map, cache array, shadow
//! array and cgroup records; it is a leaf but for the memory cgroup
//! table's lock (itself a leaf), taken inside it by an uncharge (taken
//! after an address space's lock and its page-table
//! lock, which a swap-in fault holds; nothing is allocated or freed under
//! it: pages leave the cache first and are put after). Page flags and
//! counts it looks at are atomics, so it holds with several CPUs.
//! Disk I/O runs with no lock held, through the kernel's [`SwapIo`].

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::addr::Pfn;
use crate::phys::lru::workingset;
use crate::phys::page::{NIL, PageFlags};
use crate::phys::page_alloc::PageAllocator;
use crate::swap::entry::{MAX_SWAPFILES, SwapEntry};
use crate::swap::map::{SlotError, SwapMap};
use crate::sync::IrqLock;

/// Reads and writes pages of one swap area's device (the kernel's block
/// layer). May sleep: called with no lock held.
pub trait SwapIo: Send + Sync {
    fn read_page(&self, slot: u32, pfn: Pfn) -> Result<(), ()>;
    fn write_page(&self, slot: u32, pfn: Pfn) -> Result<(), ()>;
}

struct Area {
    map: SwapMap,
    /// Per slot: the pfn of the cached page, or NIL.
    cache: Vec<u64>,
    /// Per slot in use: the memory cgroup its swap is charged to (0: none;
    /// Linux's `swap_cgroup` map), uncharged when the slot is free again.
    memcg: Vec<crate::memcg::MemcgId>,
    /// Per slot: the shadow of the page reclaim evicted from it, or 0.
    shadows: Vec<u64>,
    prio: i32,
    io: Arc<dyn SwapIo>,
    /// New slots may come from it (Linux's SWP_WRITEOK): cleared while
    /// swapoff empties it.
    writeok: bool,
}

/// Why an area cannot leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AreaBusy {
    /// Pages are still swapped out to it.
    InUse,
    /// No such area.
    NoArea,
}

/// Every swap area, by type number.
pub struct SwapSpace {
    areas: [IrqLock<Option<Area>>; MAX_SWAPFILES],
    /// Areas on (a quick "is there swap at all").
    nr_on: AtomicUsize,
}

impl Default for SwapSpace {
    fn default() -> SwapSpace {
        SwapSpace::new()
    }
}

impl SwapSpace {
    pub const fn new() -> SwapSpace {
        SwapSpace { areas: [const { IrqLock::new(None) }; MAX_SWAPFILES], nr_on: AtomicUsize::new(0) }
    }

    /// Whether any area is on.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.nr_on.load(Ordering::Relaxed) != 0
    }

    /// Turn an area on: its type number, or None when all are taken or
    /// the cache and shadow arrays cannot be allocated.
    pub fn add_area(&self, map: SwapMap, prio: i32, io: Arc<dyn SwapIo>) -> Option<u8> {
        let slots = map.len();
        let (mut cache, mut shadows) = (Vec::new(), Vec::new());
        cache.try_reserve_exact(slots).ok()?;
        cache.resize(slots, NIL);
        let mut memcg = Vec::new();
        memcg.try_reserve_exact(slots).ok()?;
        memcg.resize(slots, 0);
        shadows.try_reserve_exact(slots).ok()?;
        shadows.resize(slots, 0);
        let mut area = Some(Area { map, cache, memcg, shadows, prio, io, writeok: true });
        for (i, a) in self.areas.iter().enumerate() {
            let mut a = a.lock();
            if a.is_none() {
                *a = area.take();
                self.nr_on.fetch_add(1, Ordering::Relaxed);
                return Some(i as u8);
            }
        }
        None
    }

    /// Turn an area off; only once nothing is swapped out to it.
    pub fn remove_area(&self, ty: u8) -> Result<(), AreaBusy> {
        let slot = self.areas.get(ty as usize).ok_or(AreaBusy::NoArea)?;
        let old = {
            let mut a = slot.lock();
            match a.as_ref() {
                None => return Err(AreaBusy::NoArea),
                Some(area) if area.map.inuse() != 0 => return Err(AreaBusy::InUse),
                Some(_) => {}
            }
            a.take()
        };
        self.nr_on.fetch_sub(1, Ordering::Relaxed);
        // Freed here, with the lock dropped.
        drop(old);
        Ok(())
    }

    /// Let slots be allocated from area `ty` again, or not (swapoff stops
    /// new ones while it empties the area, and allows them again if it
    /// fails).
    pub fn set_writeok(&self, ty: u8, ok: bool) {
        if let Some(a) = self.areas.get(ty as usize) {
            if let Some(a) = a.lock().as_mut() {
                a.writeok = ok;
            }
        }
    }

    /// (usable, in use) slots of area `ty`.
    pub fn usage(&self, ty: u8) -> Option<(u64, u64)> {
        let a = self.areas.get(ty as usize)?.lock();
        a.as_ref().map(|a| (a.map.usable(), a.map.inuse()))
    }

    /// (total, free) slots over every area (SwapTotal, SwapFree).
    pub fn totals(&self) -> (u64, u64) {
        let mut t = (0, 0);
        for a in &self.areas {
            if let Some(a) = a.lock().as_ref() {
                t.0 += a.map.usable();
                t.1 += a.map.usable() - a.map.inuse();
            }
        }
        t
    }

    /// A free slot, from the highest-priority area that has one, its
    /// count 1 (the entry about to be written).
    pub fn alloc(&self, cpu: usize) -> Option<SwapEntry> {
        if !self.enabled() {
            return None;
        }
        let mut order: [(i32, u8); MAX_SWAPFILES] = [(i32::MIN, 0); MAX_SWAPFILES];
        let mut n = 0;
        for (i, a) in self.areas.iter().enumerate() {
            if let Some(a) = a.lock().as_ref().filter(|a| a.writeok) {
                order[n] = (a.prio, i as u8);
                n += 1;
            }
        }
        order[..n].sort_unstable_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
        for &(_, ty) in &order[..n] {
            if let Some(slot) = self.areas[ty as usize].lock().as_mut().and_then(|a| a.map.alloc(cpu)) {
                return Some(SwapEntry::new(ty, slot));
            }
        }
        None
    }

    /// A slot for reclaim to write the page at `pfn` to: [`SwapSpace::alloc`],
    /// then the slot is charged to the page's memory cgroup (its
    /// memory.swap.max may refuse: then no slot, as when swap is full;
    /// Linux's `folio_alloc_swap` with `mem_cgroup_try_charge_swap`).
    pub fn alloc_for(&self, pa: &PageAllocator, cpu: usize, pfn: Pfn) -> Option<SwapEntry> {
        let e = self.alloc(cpu)?;
        let id = match pa.page(pfn).and_then(|p| p.memcg()) {
            Some(id) => id,
            None => return Some(e),
        };
        if !pa.memcg_charge_swap(id, 1) {
            self.free(pa, e);
            return None;
        }
        let charged = self.with_area(e, |a| match a.memcg.get_mut(e.slot as usize) {
            Some(m) => {
                *m = id;
                true
            }
            None => false,
        });
        if charged != Some(true) {
            pa.memcg_uncharge_swap(id, 1);
        }
        Some(e)
    }

    /// The slot just became free (under the area's lock): its swap charge
    /// goes back, and a shadow left in it is no one's now
    /// (`clear_shadow_from_swap_cache`).
    fn released(a: &mut Area, pa: &PageAllocator, slot: u32) {
        if let Some(s) = a.shadows.get_mut(slot as usize) {
            *s = 0;
        }
        if let Some(m) = a.memcg.get_mut(slot as usize) {
            let id = core::mem::take(m);
            if id != 0 {
                pa.memcg_uncharge_swap(id, 1);
            }
        }
    }

    /// The memory cgroup slot `e`'s swap is charged to (0: none).
    pub fn memcg_of(&self, e: SwapEntry) -> crate::memcg::MemcgId {
        self.with_area(e, |a| a.memcg.get(e.slot as usize).copied().unwrap_or(0)).unwrap_or(0)
    }

    fn with_area<R>(&self, e: SwapEntry, f: impl FnOnce(&mut Area) -> R) -> Option<R> {
        let mut a = self.areas.get(e.area as usize)?.lock();
        a.as_mut().map(f)
    }

    /// One more reference to `e` (fork copying an entry, a fault reading
    /// it; Linux's `swap_duplicate`).
    pub fn dup(&self, e: SwapEntry) -> Result<(), SlotError> {
        self.with_area(e, |a| a.map.dup(e.slot)).unwrap_or(Err(SlotError::Invalid))
    }

    /// References to `e` (entries and readers, not the cache).
    pub fn count(&self, e: SwapEntry) -> u16 {
        self.with_area(e, |a| a.map.count(e.slot)).unwrap_or(0)
    }

    /// The I/O of `e`'s area.
    pub fn io(&self, e: SwapEntry) -> Option<Arc<dyn SwapIo>> {
        self.with_area(e, |a| a.io.clone())
    }

    /// Take the page out of the cache (under the area's lock): the caller
    /// puts the cache's reference after unlocking. A page nothing maps
    /// whose slot entries still need is being evicted: its shadow stays.
    fn uncache(a: &mut Area, pa: &PageAllocator, e: SwapEntry, pfn: Pfn) {
        a.cache[e.slot as usize] = NIL;
        if a.map.set_cache(e.slot, false) == Ok(true) {
            Self::released(a, pa, e.slot);
        }
        if let Some(p) = pa.page(pfn) {
            if p.mapcount() == 0 && a.map.count(e.slot) > 0 {
                a.shadows[e.slot as usize] = workingset::eviction(pa, p);
            }
            // A write still owed to the slot is owed to nobody now.
            p.remove_flags(PageFlags::SWAPCACHE | PageFlags::DIRTY);
            p.private.store(0, Ordering::Relaxed);
        }
        pa.vmstat.swap_cached.sub(1);
    }

    /// Whether a cached page may leave the cache now (under the area's
    /// lock): no write of it is running, and if entries (`count`) still
    /// refer to the slot, the slot has its data (the page is not dirty).
    /// With no entry left a dirty page may go as well: nobody will read
    /// the slot (Linux's folio_free_swap only refuses writeback).
    fn may_uncache(pa: &PageAllocator, pfn: Pfn, count: u16) -> bool {
        pa.page(pfn).is_some_and(|p| {
            let f = p.flags();
            !f.contains(PageFlags::WRITEBACK) && (count == 0 || !f.contains(PageFlags::DIRTY))
        })
    }

    /// Drop one reference to `e` (an entry unmapped, a reader done; Linux's
    /// `free_swap_and_cache`): when none is left and the cached page is
    /// mapped nowhere and written, the page leaves the cache and is freed.
    pub fn free(&self, pa: &PageAllocator, e: SwapEntry) {
        let drop_page = self.with_area(e, |a| {
            match a.map.put(e.slot) {
                Err(_) => {
                    log::error!("swap: free of an unused entry {:?}", e);
                    return None;
                }
                Ok(true) => Self::released(a, pa, e.slot),
                Ok(false) => {}
            }
            let pfn = Pfn(*a.cache.get(e.slot as usize)?);
            if pfn.0 == NIL || a.map.count(e.slot) != 0 || !Self::may_uncache(pa, pfn, 0) {
                return None;
            }
            // Nothing refers to the slot: a page still mapped somewhere
            // (read back, mapped read-only) simply stops being cached.
            Self::uncache(a, pa, e, pfn);
            Some(pfn)
        });
        if let Some(Some(pfn)) = drop_page {
            pa.put_user_page(pfn);
        }
    }

    /// The cached page of `e`, with a reference for the caller.
    pub fn lookup(&self, pa: &PageAllocator, e: SwapEntry) -> Option<Pfn> {
        self.with_area(e, |a| {
            let pfn = *a.cache.get(e.slot as usize)?;
            if pfn == NIL {
                return None;
            }
            pa.page(Pfn(pfn))?.get();
            Some(Pfn(pfn))
        })?
    }

    /// Put `pfn` in the cache as `e`'s page; the cache takes a reference
    /// of its own. False if `e` has a cached page already (or is not in
    /// use).
    pub fn add(&self, pa: &PageAllocator, e: SwapEntry, pfn: Pfn, dirty: bool) -> bool {
        let Some(p) = pa.page(pfn) else { return false };
        self.with_area(e, |a| {
            let Some(c) = a.cache.get_mut(e.slot as usize) else { return false };
            if *c != NIL || a.map.set_cache(e.slot, true).is_err() {
                return false;
            }
            *c = pfn.0;
            p.get();
            p.private.store(e.to_raw(), Ordering::Relaxed);
            p.insert_flags(if dirty { PageFlags::SWAPCACHE | PageFlags::DIRTY } else { PageFlags::SWAPCACHE });
            pa.vmstat.swap_cached.add(1);
            true
        })
        .unwrap_or(false)
    }

    /// Let `new` take `old`'s place as `e`'s cached page (page migration;
    /// Linux's `folio_migrate_mapping` for the swap cache): if `old` still
    /// is that page, nothing maps it, no write of it runs, and only the
    /// cache and `held` references of the caller hold it. `copy` runs under
    /// the area's lock once those hold (no lookup can take `old` meanwhile):
    /// it copies the contents and passes the page's identity on. The cache's
    /// reference is then `new`'s (the caller's allocation); `old` keeps the
    /// one it had for the cache, which the caller puts.
    pub fn migrate_cached(
        &self,
        pa: &PageAllocator,
        e: SwapEntry,
        old: Pfn,
        new: Pfn,
        held: i32,
        copy: impl FnOnce(),
    ) -> bool {
        let (Some(op), Some(np)) = (pa.page(old), pa.page(new)) else { return false };
        self.with_area(e, |a| {
            let Some(c) = a.cache.get_mut(e.slot as usize) else { return false };
            let f = op.flags();
            if *c != old.0
                || !f.contains(PageFlags::SWAPCACHE)
                || f.contains(PageFlags::WRITEBACK)
                || op.mapcount() != 0
                || op.refcount() != 1 + held
            {
                return false;
            }
            copy();
            *c = new.0;
            np.private.store(op.private.load(Ordering::Relaxed), Ordering::Relaxed);
            np.insert_flags(PageFlags::SWAPCACHE);
            op.remove_flags(PageFlags::SWAPCACHE);
            op.private.store(0, Ordering::Relaxed);
            true
        })
        .unwrap_or(false)
    }

    /// A mapping of `e`'s cached page `pfn` replaced its entry (a fault
    /// mapped it): drop the entry's reference. Returns whether the page
    /// left the cache, so that the caller, holding the only other
    /// reference, may map it writable.
    pub fn mapped(&self, pa: &PageAllocator, e: SwapEntry, pfn: Pfn) -> bool {
        let left = self.with_area(e, |a| {
            match a.map.put(e.slot) {
                Err(_) => {
                    log::error!("swap: mapped an unused entry {:?}", e);
                    return false;
                }
                Ok(true) => Self::released(a, pa, e.slot),
                Ok(false) => {}
            }
            if a.map.count(e.slot) != 0
                || a.cache.get(e.slot as usize) != Some(&pfn.0)
                || !Self::may_uncache(pa, pfn, 0)
            {
                return false;
            }
            Self::uncache(a, pa, e, pfn);
            true
        });
        if left == Some(true) {
            // The caller holds a reference: this never frees the page.
            pa.put_user_page(pfn);
            return true;
        }
        false
    }

    /// Reclaim wrote `pfn` (its `DIRTY` and `WRITEBACK` are clear again):
    /// if no mapping is left the page is freed, and if no entry is left it
    /// stops being cached. Returns true if the page was freed. The caller's
    /// own reference is put either way.
    pub fn written(&self, pa: &PageAllocator, pfn: Pfn) -> bool {
        let Some(p) = pa.page(pfn) else { return false };
        self.written_keep(pa, pfn);
        let freed = p.refcount() == 1;
        pa.put_user_page(pfn);
        freed
    }

    /// [`Self::written`] without putting the caller's reference: the page
    /// leaves the cache if nothing maps it (the cache and the caller hold
    /// the only references) or no entry needs the slot. Returns whether it
    /// left the cache.
    pub fn written_keep(&self, pa: &PageAllocator, pfn: Pfn) -> bool {
        let Some(p) = pa.page(pfn) else { return false };
        let e = SwapEntry::from_raw(p.private.load(Ordering::Relaxed));
        let uncached = p.has(PageFlags::SWAPCACHE)
            && self
                .with_area(e, |a| {
                    let count = a.map.count(e.slot);
                    if a.cache.get(e.slot as usize) != Some(&pfn.0) || !Self::may_uncache(pa, pfn, count) {
                        return false;
                    }
                    let unmapped = p.mapcount() == 0 && p.refcount() == 2;
                    if unmapped || a.map.count(e.slot) == 0 {
                        Self::uncache(a, pa, e, pfn);
                        return true;
                    }
                    false
                })
                .unwrap_or(false);
        if uncached {
            pa.put_user_page(pfn);
        }
        uncached
    }

    /// A cached page that reclaim just unmapped and that is already on
    /// disk: free it now if nothing else holds it. True if freed.
    pub fn try_free_clean(&self, pa: &PageAllocator, pfn: Pfn) -> bool {
        self.try_uncache_clean(pa, pfn, 0)
    }

    /// Take a clean cached page that nothing maps out of the cache, if
    /// only the cache and `held` references of the caller hold it (Linux's
    /// `__remove_mapping` for the swap cache). True if it left the cache.
    pub fn try_uncache_clean(&self, pa: &PageAllocator, pfn: Pfn, held: i32) -> bool {
        let Some(p) = pa.page(pfn) else { return false };
        if !p.has(PageFlags::SWAPCACHE) || p.mapcount() != 0 || p.refcount() != 1 + held {
            return false;
        }
        let e = SwapEntry::from_raw(p.private.load(Ordering::Relaxed));
        let out = self
            .with_area(e, |a| {
                if a.cache.get(e.slot as usize) != Some(&pfn.0)
                    || !Self::may_uncache(pa, pfn, a.map.count(e.slot))
                    || p.refcount() != 1 + held
                {
                    return false;
                }
                Self::uncache(a, pa, e, pfn);
                true
            })
            .unwrap_or(false);
        if out {
            pa.put_user_page(pfn);
        }
        out
    }

    /// Cached pages that nothing maps and that are on disk already (read
    /// ahead and never used, or left behind by their last mapping): what
    /// the swap-cache shrinker could free now. An estimate, without waiting
    /// for a lock.
    pub fn count_unmapped(&self, pa: &PageAllocator) -> u64 {
        let mut n = 0;
        for a in &self.areas {
            let Some(a) = a.try_lock() else { continue };
            let Some(a) = a.as_ref() else { continue };
            n += a.cache.iter().filter(|&&pfn| pfn != NIL && Self::droppable(pa, Pfn(pfn))).count() as u64;
        }
        n
    }

    fn droppable(pa: &PageAllocator, pfn: Pfn) -> bool {
        // Clean: whether entries still refer to the slot is not looked up.
        pa.page(pfn).is_some_and(|p| p.mapcount() == 0 && p.refcount() == 1 && Self::may_uncache(pa, pfn, 1))
    }

    /// Free up to `nr` cached pages nothing maps (they stay on swap: a
    /// fault reads them again). Never waits for a lock nor allocates
    /// (reclaim calls it). Returns pages freed.
    pub fn shrink(&self, pa: &PageAllocator, nr: u64) -> u64 {
        let mut freed = 0;
        for a in &self.areas {
            let mut batch = [Pfn(0); 32];
            let mut from = 0;
            loop {
                let mut n = 0;
                {
                    let Some(mut g) = a.try_lock() else { break };
                    let Some(area) = g.as_mut() else { break };
                    for slot in from..area.cache.len() {
                        if n == batch.len() || freed + n as u64 >= nr {
                            break;
                        }
                        from = slot + 1;
                        let pfn = Pfn(area.cache[slot]);
                        if pfn.0 != NIL && Self::droppable(pa, pfn) {
                            Self::uncache(area, pa, SwapEntry::new(0, slot as u32), pfn);
                            batch[n] = pfn;
                            n += 1;
                        }
                    }
                }
                for &pfn in &batch[..n] {
                    pa.put_user_page(pfn);
                }
                freed += n as u64;
                if n < batch.len() || freed >= nr {
                    break;
                }
            }
            if freed >= nr {
                break;
            }
        }
        freed
    }

    /// Slots of area `ty` in use, in order (swapoff brings them back).
    pub fn used_slots(&self, ty: u8, from: u32, out: &mut [u32]) -> usize {
        let Some(a) = self.areas.get(ty as usize) else { return 0 };
        let a = a.lock();
        let Some(a) = a.as_ref() else { return 0 };
        let mut n = 0;
        for s in from..a.map.len() as u32 {
            if n == out.len() {
                break;
            }
            if a.map.count(s) != 0 || a.map.in_cache(s) {
                out[n] = s;
                n += 1;
            }
        }
        n
    }
}

/// Why a page could not be read back from swap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwapInError {
    /// No free page to read it into (reclaim, then try again).
    NoMemory,
    /// The disk failed the read, or the area is gone.
    Io,
}

impl SwapSpace {
    /// Read entry `e` into the swap cache (Linux's `swap_read_folio`
    /// after `__read_swap_cache_async`), with no lock held: it sleeps on
    /// the disk. The caller took a reference to `e` while its page table
    /// still held the entry; it is dropped here whatever happens.
    pub fn swap_in(&self, pa: &PageAllocator, e: SwapEntry) -> Result<(), SwapInError> {
        let r = self.read_into_cache(pa, e);
        self.free(pa, e);
        r
    }

    /// [`Self::swap_in`], then read-ahead: the other slots in use of the
    /// aligned block of `1 << cluster_shift` around `e` (Linux's
    /// `swap_cluster_readahead`, `vm.page-cluster`) come into the cache
    /// too, if pages are free without reclaim. Returns the pages read
    /// ahead besides.
    pub fn swap_in_cluster(&self, pa: &PageAllocator, e: SwapEntry, cluster_shift: u32) -> Result<u64, SwapInError> {
        self.swap_in(pa, e)?;
        let n = 1u32 << cluster_shift.min(5);
        let start = e.slot & !(n - 1);
        let mut ahead = 0;
        for slot in start..start.saturating_add(n) {
            let ne = SwapEntry::new(e.area, slot);
            if slot == e.slot {
                continue;
            }
            // A reference for the read, only to a slot in use and not cached.
            let taken = self
                .with_area(ne, |a| {
                    a.map.count(slot) > 0 && a.cache.get(slot as usize) == Some(&NIL) && a.map.dup(slot).is_ok()
                })
                .unwrap_or(false);
            if !taken {
                continue;
            }
            let r = self.read_with(pa, ne, crate::phys::gfp::Gfp::MOVABLE | crate::phys::gfp::Gfp::NOWARN);
            self.free(pa, ne);
            if r.is_err() {
                break;
            }
            ahead += 1;
            pa.vmstat.swap_ra.inc();
        }
        Ok(ahead)
    }

    fn read_into_cache(&self, pa: &PageAllocator, e: SwapEntry) -> Result<(), SwapInError> {
        self.read_with(pa, e, crate::phys::gfp::GFP_HIGHUSER_MOVABLE | crate::phys::gfp::Gfp::NOWARN)
    }

    fn read_with(&self, pa: &PageAllocator, e: SwapEntry, gfp: crate::phys::gfp::Gfp) -> Result<(), SwapInError> {
        if let Some(pfn) = self.lookup(pa, e) {
            // Read by someone else meanwhile (or still being written).
            pa.put_user_page(pfn);
            return Ok(());
        }
        let pfn = pa.alloc_pages(gfp, 0).ok_or(SwapInError::NoMemory)?;
        // Swap-in is charged whatever the limit (the page was charged when
        // it went out; the next fault of the group reclaims if it is over).
        pa.memcg_charge(pfn, crate::memcg::MemcgStat::Anon, crate::phys::page_alloc::ChargeMode::Force);
        if let Some(p) = pa.page(pfn) {
            p.insert_flags(PageFlags::ANON | PageFlags::SWAPBACKED);
        }
        pa.vmstat.anon_pages.add(1);
        let ok = self.io(e).is_some_and(|io| io.read_page(e.slot, pfn).is_ok());
        if !ok {
            pa.put_user_page(pfn);
            return Err(SwapInError::Io);
        }
        pa.vmstat.pswpin.inc();
        // If another reader won, its page is the one and ours goes.
        if self.add(pa, e, pfn, false) {
            let active = self.refault(pa, e, pfn);
            pa.lru_add_as(pfn, active);
        }
        pa.put_user_page(pfn);
        Ok(())
    }

    /// `pfn` was read into the cache as `e`'s page: take the slot's shadow
    /// and say whether the page goes straight to the active list
    /// (`workingset_refault` for anonymous pages).
    fn refault(&self, pa: &PageAllocator, e: SwapEntry, pfn: Pfn) -> bool {
        let shadow =
            self.with_area(e, |a| a.shadows.get_mut(e.slot as usize).map(core::mem::take)).flatten().unwrap_or(0);
        if !workingset::is_shadow(shadow) {
            return false;
        }
        let Some(p) = pa.page(pfn) else { return false };
        workingset::refault(pa, p, shadow, self.totals().1)
    }

    /// Write the pages MADV_PAGEOUT unmapped (each with a reference the
    /// caller took), with no lock held; pages nothing maps any more are
    /// freed. Returns pages freed.
    pub fn write_out(&self, pa: &PageAllocator, pages: &[Pfn]) -> u64 {
        let mut freed = 0;
        for &pfn in pages {
            self.write_page(pa, pfn);
            if self.written(pa, pfn) {
                freed += 1;
            }
        }
        freed
    }

    /// Write cached page `pfn` to its slot (`swap_writepage`), with no
    /// lock held: `WRITEBACK` while the disk has it, `DIRTY` cleared when
    /// it is on disk. A failed write leaves the page dirty in the cache:
    /// faults keep mapping it from there, and it is never freed. Returns
    /// whether the write succeeded.
    pub fn write_page(&self, pa: &PageAllocator, pfn: Pfn) -> bool {
        let Some(p) = pa.page(pfn) else { return false };
        let e = SwapEntry::from_raw(p.private.load(Ordering::Relaxed));
        // Still `e`'s page? It may have left the cache meanwhile (its last
        // entry went): then there is nothing to write. WRITEBACK is set
        // under the area lock, where every uncache looks for it.
        let started = self
            .with_area(e, |a| {
                let ours = p.has(PageFlags::SWAPCACHE) && a.cache.get(e.slot as usize) == Some(&pfn.0);
                if ours {
                    p.insert_flags(PageFlags::WRITEBACK);
                }
                ours
            })
            .unwrap_or(false);
        if !started {
            return false;
        }
        let ok = self.io(e).is_some_and(|io| io.write_page(e.slot, pfn).is_ok());
        p.remove_flags(if ok { PageFlags::WRITEBACK | PageFlags::DIRTY } else { PageFlags::WRITEBACK });
        if ok {
            pa.vmstat.pswpout.inc();
        }
        ok
    }
}
