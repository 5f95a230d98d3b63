//! External fragmentation: how far a zone's free memory is from serving a
//! large block, measured as Linux measures it (mm/vmstat.c's
//! `fill_contig_page_info`, `__fragmentation_index`, `extfrag_for_order`),
//! the compaction tunables that read those measures, and taking one free
//! block out of the buddy for compaction's free scanner.
//!
//! ```text
//!   fragmentation_index(order)   -1000 : a block of that order is free
//!                                0..1000: 0 = failure would be for lack of
//!                                memory, 1000 = for fragmentation; below
//!                                vm.extfrag_threshold (500) compaction is
//!                                skipped, reclaim is the answer
//!   extfrag_for_order(order)     0..100: percent of the free pages that are
//!                                in blocks smaller than `order` (the
//!                                fragmentation score proactive compaction
//!                                keeps under 100 - vm.compaction_proactiveness)
//! ```

use core::sync::atomic::{AtomicU64, Ordering};

use crate::addr::Pfn;
use crate::phys::buddy::NR_ORDERS;
use crate::phys::page::PageFlags;
use crate::phys::page_alloc::PageAllocator;
use crate::phys::zone::{Watermark, Zone};

/// What the free lists of a zone hold, for one order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContigInfo {
    /// Free blocks of every order.
    pub free_blocks_total: u64,
    /// Free pages.
    pub free_pages: u64,
    /// Blocks of `order` that the free blocks of `order` and above make.
    pub free_blocks_suitable: u64,
}

impl ContigInfo {
    /// From the count of free blocks by order (`fill_contig_page_info`).
    pub fn of(counts: &[u64; NR_ORDERS], order: u32) -> ContigInfo {
        let mut info = ContigInfo::default();
        for (o, &n) in counts.iter().enumerate() {
            info.free_blocks_total += n;
            info.free_pages += n << o;
            if o as u32 >= order {
                info.free_blocks_suitable += n << (o as u32 - order);
            }
        }
        info
    }

    /// `__fragmentation_index`: -1000 when a block of `order` is free,
    /// else 0 (no free memory at all, or failing for lack of it) to 1000
    /// (failing for fragmentation only).
    pub fn fragmentation_index(&self, order: u32) -> i64 {
        if self.free_blocks_total == 0 {
            return 0;
        }
        if self.free_blocks_suitable > 0 {
            return -1000;
        }
        let requested = 1u64 << order;
        1000 - ((1000 + self.free_pages * 1000 / requested) / self.free_blocks_total) as i64
    }

    /// `extfrag_for_order`: percent of the free pages not in blocks of
    /// `order` or above.
    pub fn extfrag_for_order(&self, order: u32) -> u64 {
        if self.free_pages == 0 {
            return 0;
        }
        (self.free_pages - (self.free_blocks_suitable << order)) * 100 / self.free_pages
    }
}

/// The compaction sysctls (`vm.compaction_proactiveness`,
/// `vm.extfrag_threshold`, `vm.compact_unevictable_allowed`).
pub struct CompactTunables {
    proactiveness: AtomicU64,
    extfrag_threshold: AtomicU64,
    unevictable_allowed: AtomicU64,
}

impl Default for CompactTunables {
    fn default() -> CompactTunables {
        CompactTunables::new()
    }
}

impl CompactTunables {
    pub const fn new() -> CompactTunables {
        CompactTunables {
            proactiveness: AtomicU64::new(20),
            extfrag_threshold: AtomicU64::new(500),
            unevictable_allowed: AtomicU64::new(1),
        }
    }

    pub fn proactiveness(&self) -> u64 {
        self.proactiveness.load(Ordering::Relaxed)
    }

    /// 0..=100, as Linux's handler accepts; false (and no change) outside.
    pub fn set_proactiveness(&self, v: u64) -> bool {
        self.set(&self.proactiveness, v, 100)
    }

    pub fn extfrag_threshold(&self) -> u64 {
        self.extfrag_threshold.load(Ordering::Relaxed)
    }

    /// 0..=1000.
    pub fn set_extfrag_threshold(&self, v: u64) -> bool {
        self.set(&self.extfrag_threshold, v, 1000)
    }

    /// Whether compaction may move mlocked pages.
    pub fn unevictable_allowed(&self) -> bool {
        self.unevictable_allowed.load(Ordering::Relaxed) != 0
    }

    pub fn unevictable_allowed_value(&self) -> u64 {
        self.unevictable_allowed.load(Ordering::Relaxed)
    }

    /// 0 or 1.
    pub fn set_unevictable_allowed(&self, v: u64) -> bool {
        self.set(&self.unevictable_allowed, v, 1)
    }

    fn set(&self, a: &AtomicU64, v: u64, max: u64) -> bool {
        if v > max {
            return false;
        }
        a.store(v, Ordering::Relaxed);
        true
    }

    /// The fragmentation scores between which proactive compaction works
    /// (`fragmentation_score_wmark`): it starts above `high` and stops at
    /// `low`.
    pub fn score_wmarks(&self) -> (u64, u64) {
        let low = 100u64.saturating_sub(self.proactiveness()).max(5);
        (low, (low + 10).min(100))
    }
}

impl PageAllocator {
    /// The free lists of `zone` for `order`.
    pub fn contig_info(&self, zone: &Zone, order: u32) -> ContigInfo {
        ContigInfo::of(&zone.free.lock().counts(), order)
    }

    /// `fragmentation_score_zone`: percent of the zone's free pages that
    /// are in blocks smaller than a pageblock (2 MiB, the huge page size).
    pub fn fragmentation_score_zone(&self, zone: &Zone) -> u64 {
        self.contig_info(zone, crate::phys::buddy::PAGEBLOCK_ORDER)
            .extfrag_for_order(crate::phys::buddy::PAGEBLOCK_ORDER)
    }

    /// `fragmentation_score_node`: the zones' scores weighted by their
    /// share of the node's present pages.
    pub fn fragmentation_score_node(&self, nid: u32) -> u64 {
        let Some(node) = self.nodes.get(nid as usize) else { return 0 };
        node.zones
            .iter()
            .filter(|z| z.is_populated())
            .map(|z| self.fragmentation_score_zone(z) * z.present / (node.present + 1))
            .sum()
    }

    /// Take the free block headed by `pfn` out of `zone`'s buddy and split
    /// it into order-0 pages, each as an allocation leaves it (reference
    /// count 1), appended to `out` (`isolate_freepages_block` with
    /// `split_page`). Refused when it would leave the zone under its min
    /// watermark, as Linux's `__isolate_free_page` refuses. Returns the
    /// pages taken.
    pub fn isolate_free_block(&self, zone: &Zone, pfn: u64, out: &mut alloc::vec::Vec<Pfn>) -> u64 {
        let Some(page) = self.memmap.page(Pfn(pfn)) else { return 0 };
        if !page.has(PageFlags::BUDDY) {
            return 0;
        }
        let order = page.order();
        if out.try_reserve(1 << order).is_err() {
            return 0;
        }
        let mark = zone.watermark(Watermark::Min) + (1 << order);
        if !zone.watermark_ok(0, mark, zone.ty, false) {
            return 0;
        }
        let Some(order) = zone.with_free(|a| a.take_block(&self.memmap, zone.id(), pfn)) else { return 0 };
        for i in 0..1u64 << order {
            let Some(p) = self.memmap.page(Pfn(pfn + i)) else { continue };
            p.set_flags(PageFlags::empty());
            p.set_order(0);
            p.private.store(0, Ordering::Relaxed);
            p.mapping.store(0, Ordering::Relaxed);
            p.index.store(0, Ordering::Relaxed);
            p.set_mapcount(0);
            p.set_refcount(1);
            out.push(Pfn(pfn + i));
        }
        1 << order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(v: &[(usize, u64)]) -> [u64; NR_ORDERS] {
        let mut c = [0; NR_ORDERS];
        for &(o, n) in v {
            c[o] = n;
        }
        c
    }

    #[test]
    fn index_is_minus_1000_when_a_block_is_free_and_grows_with_fragmentation() {
        assert_eq!(ContigInfo::of(&counts(&[(9, 1)]), 9).fragmentation_index(9), -1000);
        assert_eq!(ContigInfo::of(&counts(&[]), 9).fragmentation_index(9), 0);
        // 512 free order-0 pages, no order-9 block: pure fragmentation.
        // 1000 - (1000 + 512*1000/512) / 512 = 1000 - 3 = 997.
        assert_eq!(ContigInfo::of(&counts(&[(0, 512)]), 9).fragmentation_index(9), 997);
        // One order-8 block: half a request of memory in one block, the
        // failure is for lack of memory: 1000 - (1000 + 500) / 1 < 0.
        assert_eq!(ContigInfo::of(&counts(&[(8, 1)]), 9).fragmentation_index(9), -500);
    }

    #[test]
    fn extfrag_counts_the_share_of_free_pages_in_small_blocks() {
        // 512 pages in one order-9 block, 512 as order-0 pages: 50%.
        assert_eq!(ContigInfo::of(&counts(&[(9, 1), (0, 512)]), 9).extfrag_for_order(9), 50);
        assert_eq!(ContigInfo::of(&counts(&[(10, 3)]), 9).extfrag_for_order(9), 0);
        assert_eq!(ContigInfo::of(&counts(&[(3, 7)]), 9).extfrag_for_order(9), 100);
        assert_eq!(ContigInfo::of(&counts(&[]), 9).extfrag_for_order(9), 0);
    }

    #[test]
    fn tunables_keep_linux_ranges_and_score_marks() {
        let t = CompactTunables::new();
        assert_eq!((t.proactiveness(), t.extfrag_threshold(), t.unevictable_allowed()), (20, 500, true));
        assert_eq!(t.score_wmarks(), (80, 90));
        assert!(!t.set_proactiveness(101) && t.proactiveness() == 20);
        assert!(t.set_proactiveness(100));
        assert_eq!(t.score_wmarks(), (5, 15));
        assert!(t.set_proactiveness(0));
        assert_eq!(t.score_wmarks(), (100, 100));
        assert!(!t.set_extfrag_threshold(1001) && t.set_extfrag_threshold(0));
        assert!(!t.set_unevictable_allowed(2) && t.set_unevictable_allowed(0) && !t.unevictable_allowed());
    }
}
