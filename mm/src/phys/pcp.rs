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
//! ```text
//!   pcp lock (one IrqLock per zone and CPU)  ->  zone lock (Zone::free)
//! ```
//!
//! The running CPU takes its own lists' lock, interrupts off, so an
//! interrupt handler allocating on the same CPU cannot find them half
//! changed. Another CPU takes it only to drain them or to read the counts
//! for /proc/zoneinfo. The CPU number is read before the lock: a task that
//! moves in between simply uses the other CPU's lists, under their lock.
//! A pcp lock is never taken with the zone lock held.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use crate::phys::buddy::{MIGRATE_TYPES, MigrateType};
use crate::phys::page::{Memmap, Page, PageFlags, PageList};
use crate::phys::zone::Zone;
use crate::sync::IrqLock;

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
/// counted there under the lists' lock (Linux's per-CPU vm events and
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
                let block = mm.block(crate::addr::Pfn(pfn), order).expect("pcp: buddy block without descriptors");
                // Clean descriptors, as a free leaves them: the buddy's
                // order and list type (and stale ones in former heads)
                // go, so an allocation from the lists only sets the
                // reference count (`PageAllocator::prep_new_page`).
                for p in block {
                    p.set_flags(PageFlags::empty());
                    p.set_order(0);
                    p.private.store(0, Ordering::Relaxed);
                    p.mapping.store(0, Ordering::Relaxed);
                    p.index.store(0, Ordering::Relaxed);
                }
                let page = &block[0];
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
        let id = zone.id();
        let mut freed = 0;
        let lists = &mut self.lists;
        zone.with_free(|area| {
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
        });
        self.count -= freed;
        freed
    }

    /// Give every page back to the buddy; returns how many.
    pub fn drain(&mut self, mm: &Memmap, zone: &Zone) -> u64 {
        if self.count == 0 {
            return 0;
        }
        self.free_bulk(mm, zone, self.count)
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

/// One CPU's lists on a cache line of their own.
#[repr(align(64))]
struct Slot(IrqLock<PerCpuPages>);

/// A zone's lists, one set per possible CPU (Linux's `zone->per_cpu_pageset`).
pub struct ZonePcp {
    cpus: Box<[Slot]>,
}

impl Default for ZonePcp {
    fn default() -> Self {
        Self::new()
    }
}

impl ZonePcp {
    /// Lists for every CPU up to `MAX_CPUS`, disabled (high and batch 0:
    /// every page goes straight through) until [`set_sizes`](Self::set_sizes).
    pub fn new() -> Self {
        let cpus: Vec<Slot> = (0..crate::percpu::MAX_CPUS).map(|_| Slot(IrqLock::new(PerCpuPages::new()))).collect();
        ZonePcp { cpus: cpus.into_boxed_slice() }
    }

    /// The lists of `cpu`.
    #[inline]
    pub fn cpu(&self, cpu: usize) -> &IrqLock<PerCpuPages> {
        &self.cpus[cpu].0
    }

    /// The lists of the running CPU.
    #[inline]
    pub fn this_cpu(&self) -> &IrqLock<PerCpuPages> {
        self.cpu(crate::percpu::this_cpu())
    }

    /// Set every CPU's `high` and `batch` (Linux's `zone_pcp_update`).
    pub fn set_sizes(&self, high: u64, batch: u64) {
        for slot in self.cpus.iter() {
            let mut pcp = slot.0.lock();
            pcp.high = high;
            pcp.batch = batch;
        }
    }

    /// `(count, high, batch)` of `cpu`'s lists.
    pub fn stats(&self, cpu: usize) -> (u64, u64, u64) {
        let pcp = self.cpu(cpu).lock();
        (pcp.count, pcp.high, pcp.batch)
    }

    /// Drain every CPU's lists into `zone`'s buddy (this is `zone.pcp`);
    /// returns the pages given back.
    pub fn drain_all(&self, mm: &Memmap, zone: &Zone) -> u64 {
        self.cpus.iter().map(|slot| slot.0.lock().drain(mm, zone)).sum()
    }

    /// Every CPU's events added up.
    pub fn events(&self) -> PcpEvents {
        let mut sum = PcpEvents::default();
        for slot in self.cpus.iter() {
            sum += slot.0.lock().events;
        }
        sum
    }

    /// Pages on every CPU's lists.
    pub fn total(&self) -> u64 {
        self.cpus.iter().map(|slot| slot.0.lock().count).sum()
    }

    /// Check every CPU's lists (see [`PerCpuPages::check_invariants`]).
    pub fn check_invariants(&self, mm: &Memmap, zone: &Zone) {
        for slot in self.cpus.iter() {
            slot.0.lock().check_invariants(mm, zone);
        }
    }
}

#[cfg(test)]
mod tests;
