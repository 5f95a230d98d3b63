//! Per-CPU page lists (Linux's `per_cpu_pages`; mm/page_alloc.c:
//! `rmqueue_pcplist`, `rmqueue_bulk`, `free_unref_page_commit`,
//! `free_pcppages_bulk`, `drain_all_pages`, `zone_batchsize`,
//! `zone_highsize`).
//!
//! Each zone keeps, for every CPU, a list of free blocks per order 0..=3
//! (up to `PAGE_ALLOC_COSTLY_ORDER`) and migrate type. Small allocations and
//! frees go to the running CPU's lists and reach the buddy allocator, under
//! the zone lock, only in batches:
//!
//! ```text
//!   alloc order <= 3:  list empty? -> rmqueue_bulk: `batch` pages from the buddy, one zone lock
//!                      pop the newest block (cache hot)
//!   free  order <= 3:  push on the list
//!                      count >= high? -> free_pcppages_bulk: `batch` pages, oldest first, one zone lock
//! ```
//!
//! Sizes, as Linux's defaults (no `percpu_pagelist_high_fraction`):
//!
//! ```text
//!   batch = max(1, rounddown_pow_of_two(b + b/2) - 1),  b = max(1, min(managed >> 10, 256) / 4)
//!   high  = max(low watermark / CPUs, 4 * batch)
//! ```
//!
//! Pages on these lists are not free in the buddy: the zone's free count
//! (`NR_FREE_PAGES`, MemFree, /proc/buddyinfo) excludes them, as Linux's
//! does, and watermark checks see only the buddy. Where a count must be
//! exact (an allocation about to fail, the OOM killer, drop_caches, tests
//! comparing free pages to a baseline) the caller first drains every CPU's
//! lists with `PageAllocator::drain_all_pages`. A page on a list has empty
//! flags and reference count 0, so freeing it again is refused as a free of
//! a page that was never allocated. Its descriptors are clean (no flags,
//! order 0, `private`, `mapping` and `index` 0: the free path and the
//! refill leave them so), so an allocation from a list only checks them
//! and sets the reference count and the compound fields.
//!
//! # Locking
//!
//! A CPU's lists take no lock: only their own CPU touches them, with
//! interrupts off (as Linux did before 5.14, `local_irq_save`), so an
//! interrupt handler allocating on the same CPU cannot find them half
//! changed, and the fast path makes no atomic read-modify-write. While it
//! works on them the CPU marks its slot `busy` (a plain store only it
//! reads).
//!
//! ```text
//!   own lists (busy, interrupts off)  ->  zone lock (Zone::free)
//! ```
//!
//! Another CPU never touches the lists: it drains them by asking their CPU
//! (`percpu::call_on`, Linux's `drain_all_pages` IPI). The request runs on
//! that CPU from an interrupt or while it spins on a lock, so it may find
//! the lists `busy` (the CPU spins on the zone lock in the middle of a
//! refill): it then answers "busy" and the drainer asks again. It only
//! try-locks the zone lock, so it never spins inside another spin. The
//! counts other CPUs read (/proc/zoneinfo, vmstat, MemFree) are copies
//! each CPU publishes when it leaves its lists, and `high` and `batch` are
//! atomics anyone may set (Linux's `WRITE_ONCE`). The lists are never
//! touched with the zone lock held.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::percpu::CpuFn;
use crate::phys::buddy::{MIGRATE_TYPES, MigrateType};
use crate::phys::page::{Memmap, Page, PageList};
use crate::phys::zone::Zone;
use crate::sync::IrqOff;

/// Highest order kept on the lists (`PAGE_ALLOC_COSTLY_ORDER`).
pub const PCP_MAX_ORDER: u32 = 3;
/// Orders kept on the lists.
pub const NR_PCP_ORDERS: usize = PCP_MAX_ORDER as usize + 1;

/// Linux's `zone_batchsize`: about 0.1% of the zone or 1 MiB, whichever is
/// smaller, divided by 4, at least 1, clamped to 2^n - 1 (so 0 for a tiny
/// zone; [`pcp_sizes`] then uses at least 1).
pub fn zone_batchsize(managed: u64) -> u64 {
    let batch = (managed >> 10).min((1 << 20) / 4096) / 4;
    let batch = batch.max(1);
    let x = batch + batch / 2;
    (1u64 << (63 - x.leading_zeros())) - 1
}

/// Linux's `zone_highsize` with no `percpu_pagelist_high_fraction`: the
/// zone's low watermark split over the CPUs, at least 4 batches.
pub fn zone_highsize(low_wmark: u64, batch: u64, cpus: u64) -> u64 {
    (low_wmark / cpus.max(1)).max(batch << 2)
}

/// `(high, batch)` of every CPU's lists in a zone of `managed` pages whose
/// low watermark is `low_wmark`, shared by `cpus` CPUs (Linux's
/// `zone_set_pageset_high_and_batch`).
pub fn pcp_sizes(managed: u64, low_wmark: u64, cpus: u64) -> (u64, u64) {
    let batch = zone_batchsize(managed).max(1);
    (zone_highsize(low_wmark, batch, cpus), batch)
}

/// Events of the allocations and frees that went through one CPU's lists,
/// counted there by their CPU (Linux's per-CPU vm events and
/// `per_cpu_zonestat`): the fast path then writes no cache line another
/// CPU writes too. Readers add up every CPU's (and the zone's own atomic
/// counters, for orders above the lists and for the rare NUMA misses).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PcpEvents {
    /// Pages allocated (pgalloc_*).
    pub alloc: u64,
    /// Pages freed (pgfree).
    pub free: u64,
    /// Allocations on the node they asked for.
    pub numa_hit: u64,
    /// Allocations on the node of the CPU that asked.
    pub numa_local: u64,
}

impl core::ops::AddAssign for PcpEvents {
    fn add_assign(&mut self, o: PcpEvents) {
        self.alloc += o.alloc;
        self.free += o.free;
        self.numa_hit += o.numa_hit;
        self.numa_local += o.numa_local;
    }
}

/// One CPU's lists in one zone.
pub struct PerCpuPages {
    /// Pages (not blocks) on all the lists.
    pub count: u64,
    /// Above this many pages a free gives a batch back to the buddy.
    pub high: u64,
    /// Pages moved to or from the buddy in one go.
    pub batch: u64,
    /// What went through these lists.
    pub events: PcpEvents,
    lists: [[PageList; MIGRATE_TYPES]; NR_PCP_ORDERS],
}

impl PerCpuPages {
    const fn new() -> Self {
        PerCpuPages {
            count: 0,
            high: 0,
            batch: 0,
            events: PcpEvents { alloc: 0, free: 0, numa_hit: 0, numa_local: 0 },
            lists: [[PageList::new(); MIGRATE_TYPES]; NR_PCP_ORDERS],
        }
    }

    /// Count an allocation of `order` from these lists: on the node asked
    /// for (`hit`), on the running CPU's node (`local`).
    #[inline]
    pub fn count_alloc(&mut self, order: u32, hit: bool, local: bool) {
        self.events.alloc += 1 << order;
        self.events.numa_hit += hit as u64;
        self.events.numa_local += local as u64;
    }

    /// Count a free of `order` that went straight to the buddy.
    #[inline]
    pub fn count_free(&mut self, order: u32) {
        self.events.free += 1 << order;
    }

    /// Blocks of `order` on the lists (all migrate types).
    pub fn blocks(&self, order: u32) -> u64 {
        self.lists[order as usize].iter().map(PageList::len).sum()
    }

    /// `rmqueue_pcplist`: a block of `2^order` pages (order <= 3) of type
    /// `mt`, refilling an empty list from `zone`'s buddy first; its head's
    /// descriptor. None when the buddy has nothing either.
    #[inline]
    pub fn alloc(&mut self, mm: &Memmap, zone: &Zone, order: u32, mt: MigrateType) -> Option<&'static Page> {
        debug_assert!(order <= PCP_MAX_ORDER);
        if self.lists[order as usize][mt as usize].is_empty() {
            self.refill(mm, zone, order, mt);
        }
        let page = self.lists[order as usize][mt as usize].pop_front(mm)?;
        self.count -= 1 << order;
        Some(page)
    }

    /// `rmqueue_bulk`: move a batch from the buddy to the list of `order`
    /// and `mt` under one zone lock (`batch` blocks for order 0, at least 2
    /// and `batch >> order` above, as Linux's `nr_pcp_alloc`; one block
    /// while the lists are disabled).
    fn refill(&mut self, mm: &Memmap, zone: &Zone, order: u32, mt: MigrateType) {
        let want = match (self.batch, order) {
            (0, _) => 1,
            (b, 0) => b,
            (b, o) => (b >> o).max(2),
        };
        let id = zone.id();
        let list = &mut self.lists[order as usize][mt as usize];
        let mut got = 0;
        let mut stolen = 0;
        zone.with_free(|area| {
            for _ in 0..want {
                let Some((pfn, steal)) = area.alloc_block(mm, id, order, mt) else { break };
                // Its descriptors are clean (the buddy's `del` leaves the
                // head as a free leaves every page), so an allocation from
                // the lists only checks them (`PageAllocator::prep_new_page`).
                let page = mm.page(crate::addr::Pfn(pfn)).expect("pcp: buddy block without descriptors");
                // Behind the blocks taken before, so they are handed out
                // in the order the buddy gave them (Linux's list_add_tail).
                list.push_back(mm, page);
                got += 1;
                stolen += steal as u64;
            }
        });
        self.count += got << order;
        if stolen > 0 {
            zone.counters.steals.fetch_add(stolen, Ordering::Relaxed);
        }
    }

    /// `free_unref_page_commit`: take back the free block whose head is
    /// `page`, and give a batch to the buddy when the lists hold `high`
    /// pages or more.
    #[inline]
    pub fn free(&mut self, mm: &Memmap, zone: &Zone, page: &'static Page, order: u32) {
        debug_assert!(order <= PCP_MAX_ORDER);
        let mt = MigrateType::from_u8(page.pageblock_mt());
        self.lists[order as usize][mt as usize].push_front(mm, page);
        self.count += 1 << order;
        self.events.free += 1 << order;
        if self.count >= self.high {
            self.free_bulk(mm, zone, self.batch.max(1));
        }
    }

    /// `free_pcppages_bulk`: give at least `pages` pages (or all there
    /// are) back to the buddy under one zone lock, the oldest block of
    /// each non-empty list in turn. Returns the pages given.
    fn free_bulk(&mut self, mm: &Memmap, zone: &Zone, pages: u64) -> u64 {
        let freed = zone.with_free(|area| Self::give_back(&mut self.lists, mm, zone, area, pages));
        self.count -= freed;
        freed
    }

    fn give_back(
        lists: &mut [[PageList; MIGRATE_TYPES]; NR_PCP_ORDERS],
        mm: &Memmap,
        zone: &Zone,
        area: &mut crate::phys::buddy::FreeArea,
        pages: u64,
    ) -> u64 {
        let id = zone.id();
        let mut freed = 0;
        while freed < pages {
            let mut any = false;
            for (order, by_type) in lists.iter_mut().enumerate() {
                for list in by_type.iter_mut() {
                    if freed >= pages {
                        break;
                    }
                    if let Some(page) = list.pop_back(mm) {
                        area.free_block(mm, id, page.pfn().0, order as u32);
                        freed += 1 << order;
                        any = true;
                    }
                }
            }
            if !any {
                break;
            }
        }
        freed
    }

    /// Give every page back to the buddy; returns how many, or `None` if
    /// the zone lock is held now (a drain this CPU serves from inside a
    /// spin).
    pub fn try_drain(&mut self, mm: &Memmap, zone: &Zone) -> Option<u64> {
        if self.count == 0 {
            return Some(0);
        }
        let count = self.count;
        let freed = zone.try_with_free(|area| Self::give_back(&mut self.lists, mm, zone, area, count))?;
        self.count -= freed;
        Some(freed)
    }

    /// Check the lists against `count` and the page descriptors; panics
    /// with "pcp: ..." on a broken one.
    pub fn check_invariants(&self, mm: &Memmap, zone: &Zone) {
        let mut pages = 0;
        for (order, by_type) in self.lists.iter().enumerate() {
            for list in by_type {
                for p in list.iter(mm) {
                    let pfn = p.pfn().0;
                    assert!(p.flags().is_empty(), "pcp: pfn {pfn:#x} on a list has flags {:?}", p.flags());
                    assert_eq!(p.refcount(), 0, "pcp: pfn {pfn:#x} on a list is referenced");
                    assert_eq!(pfn % (1 << order), 0, "pcp: pfn {pfn:#x} misaligned for order {order}");
                    assert!(p.node() == zone.node && p.zone_type() == zone.ty, "pcp: pfn {pfn:#x} in another zone");
                    pages += 1u64 << order;
                }
            }
        }
        assert_eq!(pages, self.count, "pcp: count out of date");
    }
}

/// One CPU's lists, and what other CPUs may read of them, on cache lines
/// of their own.
#[repr(align(64))]
struct Slot {
    /// The running CPU works on `pages` (only that CPU reads or writes it).
    busy: AtomicBool,
    /// Only this slot's CPU makes references to it, interrupts off.
    pages: UnsafeCell<PerCpuPages>,
    /// Set by anyone (`set_sizes`), read by the CPU at each use.
    high: AtomicU64,
    batch: AtomicU64,
    /// `pages.count` and `pages.events`, as the CPU last published them.
    count: AtomicU64,
    events: [AtomicU64; 4],
}

// SAFETY: `pages` is only reached by its own CPU, with interrupts off and
// `busy` set (`ZonePcp::local`); other CPUs read the atomics.
unsafe impl Sync for Slot {}

/// The running CPU's lists, interrupts off: see [`ZonePcp::local`].
pub struct LocalPcp<'a> {
    slot: &'a Slot,
    pages: &'a mut PerCpuPages,
    _irq: IrqOff,
}

impl core::ops::Deref for LocalPcp<'_> {
    type Target = PerCpuPages;
    fn deref(&self) -> &PerCpuPages {
        self.pages
    }
}

impl core::ops::DerefMut for LocalPcp<'_> {
    fn deref_mut(&mut self) -> &mut PerCpuPages {
        self.pages
    }
}

impl Drop for LocalPcp<'_> {
    /// Publish the counts for other CPUs (plain stores: only this CPU
    /// writes them), then leave the lists.
    #[inline]
    fn drop(&mut self) {
        let (slot, p) = (self.slot, &*self.pages);
        slot.count.store(p.count, Ordering::Relaxed);
        let e = p.events;
        for (a, v) in slot.events.iter().zip([e.alloc, e.free, e.numa_hit, e.numa_local]) {
            a.store(v, Ordering::Relaxed);
        }
        slot.busy.store(false, Ordering::Relaxed);
    }
}

/// A zone's lists, one set per possible CPU (Linux's `zone->per_cpu_pageset`).
pub struct ZonePcp {
    cpus: Box<[Slot]>,
}

impl Default for ZonePcp {
    fn default() -> Self {
        Self::new()
    }
}

/// What a request carries to the CPU it runs on.
struct Request<'a> {
    pcp: &'a ZonePcp,
    mm: &'a Memmap,
    zone: &'a Zone,
}

/// The answer of a request that found the lists (or the zone lock) in use.
const BUSY: u64 = u64::MAX;

/// [`CpuFn`]: drain the running CPU's lists.
fn drain_here(arg: u64) -> u64 {
    // SAFETY: `ZonePcp::ask` passes a `&Request` and waits for the answer.
    let req = unsafe { &*(arg as *const Request<'_>) };
    req.pcp.try_local().and_then(|mut pcp| pcp.try_drain(req.mm, req.zone)).unwrap_or(BUSY)
}

/// [`CpuFn`]: check the running CPU's lists.
fn check_here(arg: u64) -> u64 {
    // SAFETY: as in `drain_here`.
    let req = unsafe { &*(arg as *const Request<'_>) };
    match req.pcp.try_local() {
        Some(pcp) => {
            pcp.check_invariants(req.mm, req.zone);
            0
        }
        None => BUSY,
    }
}

impl ZonePcp {
    /// Lists for every CPU up to `MAX_CPUS`, disabled (high and batch 0:
    /// every page goes straight through) until [`set_sizes`](Self::set_sizes).
    pub fn new() -> Self {
        let cpus: Vec<Slot> = (0..crate::percpu::MAX_CPUS)
            .map(|_| Slot {
                busy: AtomicBool::new(false),
                pages: UnsafeCell::new(PerCpuPages::new()),
                high: AtomicU64::new(0),
                batch: AtomicU64::new(0),
                count: AtomicU64::new(0),
                events: [const { AtomicU64::new(0) }; 4],
            })
            .collect();
        ZonePcp { cpus: cpus.into_boxed_slice() }
    }

    /// The running CPU's lists, with interrupts off until the guard goes
    /// (no lock: nobody else touches them).
    #[inline]
    pub fn local(&self) -> LocalPcp<'_> {
        self.try_local().expect("pcp: the running CPU's lists are in use already")
    }

    /// [`local`](Self::local), or `None` if this CPU is working on its
    /// lists already (a request it serves from inside that work).
    #[inline(always)]
    fn try_local(&self) -> Option<LocalPcp<'_>> {
        let irq = IrqOff::new();
        let slot = &self.cpus[crate::percpu::this_cpu()];
        if slot.busy.load(Ordering::Relaxed) {
            return None;
        }
        slot.busy.store(true, Ordering::Relaxed);
        // SAFETY: only this CPU reaches `pages`, with interrupts off (so
        // neither another task nor an interrupt handler of this CPU runs
        // in between), and `busy` was clear: no other reference exists.
        let pages = unsafe { &mut *slot.pages.get() };
        pages.high = slot.high.load(Ordering::Relaxed);
        pages.batch = slot.batch.load(Ordering::Relaxed);
        Some(LocalPcp { slot, pages, _irq: irq })
    }

    /// Set every CPU's `high` and `batch` (Linux's `zone_pcp_update`):
    /// each CPU uses them from its next allocation or free on.
    pub fn set_sizes(&self, high: u64, batch: u64) {
        for slot in self.cpus.iter() {
            slot.high.store(high, Ordering::Relaxed);
            slot.batch.store(batch, Ordering::Relaxed);
        }
    }

    /// `(count, high, batch)` of `cpu`'s lists (the count as published).
    pub fn stats(&self, cpu: usize) -> (u64, u64, u64) {
        let slot = &self.cpus[cpu];
        (slot.count.load(Ordering::Relaxed), slot.high.load(Ordering::Relaxed), slot.batch.load(Ordering::Relaxed))
    }

    /// `drain_all_pages` for `zone` (this is `zone.pcp`): every CPU with
    /// pages on its lists gives them back to the buddy, asked by
    /// `percpu::call_on`; returns the pages given back. Exact when no CPU
    /// allocates meanwhile.
    pub fn drain_all(&self, mm: &Memmap, zone: &Zone) -> u64 {
        let req = Request { pcp: self, mm, zone };
        let mut drained = 0;
        for (cpu, slot) in self.cpus.iter().enumerate() {
            // A racy look, as Linux's: an empty CPU is not asked.
            if slot.count.load(Ordering::Relaxed) != 0 {
                drained += Self::ask(cpu, drain_here, &req).unwrap_or(0);
            }
        }
        drained
    }

    /// Run `f` on `cpu` until it is not busy; `None` if `cpu` is offline.
    fn ask(cpu: usize, f: CpuFn, req: &Request<'_>) -> Option<u64> {
        loop {
            match crate::percpu::call_on(cpu, f, req as *const Request<'_> as u64)? {
                BUSY => crate::sync::spin_wait(),
                n => return Some(n),
            }
        }
    }

    /// Blocks of `order` on `cpu`'s lists (asked of that CPU).
    pub fn blocks(&self, cpu: usize, order: u32) -> u64 {
        fn blocks_here(arg: u64) -> u64 {
            let (pcp, order) = (arg & !7, arg & 7);
            // SAFETY: `blocks` passes its `&ZonePcp` (8-byte aligned) with
            // the order in the low bits, and waits for the answer.
            let pcp = unsafe { &*(pcp as *const ZonePcp) };
            pcp.try_local().map_or(BUSY, |l| l.blocks(order as u32))
        }
        loop {
            match crate::percpu::call_on(cpu, blocks_here, self as *const ZonePcp as u64 | order as u64) {
                Some(BUSY) => crate::sync::spin_wait(),
                n => return n.unwrap_or(0),
            }
        }
    }

    /// Every CPU's events added up (as each CPU last published them).
    pub fn events(&self) -> PcpEvents {
        let mut sum = PcpEvents::default();
        for slot in self.cpus.iter() {
            let e: [u64; 4] = core::array::from_fn(|i| slot.events[i].load(Ordering::Relaxed));
            sum += PcpEvents { alloc: e[0], free: e[1], numa_hit: e[2], numa_local: e[3] };
        }
        sum
    }

    /// `cpu`'s events (as it last published them).
    pub fn events_of(&self, cpu: usize) -> PcpEvents {
        let e: [u64; 4] = core::array::from_fn(|i| self.cpus[cpu].events[i].load(Ordering::Relaxed));
        PcpEvents { alloc: e[0], free: e[1], numa_hit: e[2], numa_local: e[3] }
    }

    /// Pages on every CPU's lists (as each CPU last published them).
    pub fn total(&self) -> u64 {
        self.cpus.iter().map(|slot| slot.count.load(Ordering::Relaxed)).sum()
    }

    /// Check every CPU's lists (see [`PerCpuPages::check_invariants`]), on
    /// each CPU that has used them.
    pub fn check_invariants(&self, mm: &Memmap, zone: &Zone) {
        let req = Request { pcp: self, mm, zone };
        for (cpu, slot) in self.cpus.iter().enumerate() {
            let used =
                slot.count.load(Ordering::Relaxed) != 0 || slot.events.iter().any(|e| e.load(Ordering::Relaxed) != 0);
            if used {
                Self::ask(cpu, check_here, &req);
            }
        }
    }
}

#[cfg(test)]
mod tests;
