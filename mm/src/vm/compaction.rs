//! Memory compaction (Linux's mm/compaction.c): move user pages out of the
//! way so that free pages come together into large blocks, for the
//! allocations that need them (huge pages, kernel stacks, large kmalloc).
//!
//! ```text
//!   zone  [ A . A A . B . A | A . . A . A . . | . . A . . . . . | . B . . . . . . ]
//!           migrate scanner ──>                          <── free scanner
//!           isolates movable user pages       takes free pages out of the buddy
//!                        each page moved (vm::migrate) into a free page
//!   after [ . . . . . . . . | . . . . . . . . | A A A A A A A . | A B A A A A A A ]
//!           an order-9 block free, and another
//! ```
//!
//! Both scanners work a pageblock (2 MiB) at a time. The migrate scanner
//! starts at the bottom of the zone and isolates pages on the LRU lists
//! that migration can move (`vm::migrate::migrate_isolated`: anonymous
//! pages however many processes map them, in the swap cache or not,
//! through migration entries; page-cache and shmem pages; mlocked ones when
//! `vm.compact_unevictable_allowed` is 1), up to [`CLUSTER`] at a time.
//! The free scanner starts at the top and takes free blocks out of the
//! buddy, split into order-0 pages, from movable pageblocks only (and
//! never a free block of a whole pageblock: breaking one up is what
//! compaction exists to avoid). Pages move from bottom to top; compaction
//! ends when the scanners meet ([`CompactResult::Complete`]), or, for an
//! allocation of a given order, as soon as a free block of that order
//! exists ([`CompactResult::Success`]). Free pages isolated and not used
//! go back to the buddy at the end, and the per-CPU lists are drained so
//! that the pages moved from merge at once.
//!
//! Who compacts:
//! - an allocation of order > 0 that may sleep, in the allocator's slow
//!   path (direct compaction, [`try_to_compact_pages`], installed as the
//!   allocator's hook by [`install`]): asynchronous (movable pageblocks
//!   only), zone by zone of its zonelist, stopping at the first zone that
//!   has the block; vmstat `compact_stall`, `compact_success`,
//!   `compact_fail`;
//! - kcompactd, one per node, woken by a failed high-order allocation
//!   ([`kcompactd_do_work`]) or every 500 ms to check the node's
//!   fragmentation score ([`proactive_compact_node`]);
//! - a write to /proc/sys/vm/compact_memory or
//!   /sys/devices/system/node/nodeN/compact ([`compact_node`]): every zone
//!   fully, moving pages out of every kind of pageblock.
//!
//! Whether to compact for an order at all is [`suitable`]: not if the block
//! is there already, not if the zone has too little free memory to move
//! pages into (twice the request above the watermark), and, for costly
//! orders, not if the fragmentation index says a failure would be for lack
//! of memory rather than fragmentation (`vm.extfrag_threshold`).
//!
//! Locks: none is held across a scan. Each free block is taken under its
//! zone lock, each page isolated under its node's LRU lock, and each move
//! takes the locks `vm::migrate` names (an address space's lock only
//! tried). So compaction may run inside an allocation, as reclaim does.

use alloc::vec::Vec;

use crate::addr::Pfn;
use crate::phys::buddy::{MAX_ORDER, MigrateType, PAGEBLOCK_ORDER, PAGEBLOCK_PAGES, pageblock_mt};
use crate::phys::gfp::Gfp;
use crate::phys::page::{Page, PageFlags};
use crate::phys::page_alloc::{PAGE_ALLOC_COSTLY_ORDER, PageAllocator};
use crate::phys::zone::{Watermark, Zone};
use crate::vm::migrate::migrate_isolated;

/// Pages isolated and moved per batch (`COMPACT_CLUSTER_MAX`).
pub const CLUSTER: usize = 32;

/// How a compaction run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompactResult {
    /// Not worth trying: the block is free already, or too little memory
    /// is free to move pages into (`COMPACT_SKIPPED`).
    Skipped,
    /// A free block of the order asked for exists (`COMPACT_SUCCESS`), or
    /// a proactive run brought the score down.
    Success,
    /// The scanners met: the whole zone was compacted
    /// (`COMPACT_COMPLETE`).
    Complete,
}

/// What one run did (added into vmstat by the callers' paths).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactStats {
    pub migrate_scanned: u64,
    pub free_scanned: u64,
    /// Pages isolated, by both scanners (vmstat `compact_isolated`).
    pub isolated: u64,
    pub migrated: u64,
    pub failed: u64,
}

impl core::ops::AddAssign for CompactStats {
    fn add_assign(&mut self, o: CompactStats) {
        self.migrate_scanned += o.migrate_scanned;
        self.free_scanned += o.free_scanned;
        self.isolated += o.isolated;
        self.migrated += o.migrated;
        self.failed += o.failed;
    }
}

/// When a run stops early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Goal {
    /// Run until the scanners meet (compact_memory).
    Full,
    /// Until a free block of this order exists.
    Order(u32),
    /// Until the zone's fragmentation score is at or under this.
    Score(u64),
}

/// One run over one zone (Linux's `compact_control`).
struct Control<'a> {
    pa: &'a PageAllocator,
    zone: &'a Zone,
    goal: Goal,
    /// Asynchronous: move pages out of movable pageblocks only.
    async_mode: bool,
    /// The next pfn the migrate scanner looks at.
    migrate_pfn: u64,
    /// The pageblocks below this (aligned) are the free scanner's yet.
    free_pfn: u64,
    freepages: Vec<Pfn>,
    stats: CompactStats,
}

fn block_start(pfn: u64) -> u64 {
    pfn & !(PAGEBLOCK_PAGES - 1)
}

/// Whether compaction for `order` is worth running on `zone`
/// (`compaction_suitable`): Success if the block is there already,
/// Skipped if it cannot help, None to go ahead.
pub fn suitable(pa: &PageAllocator, zone: &Zone, order: u32) -> Option<CompactResult> {
    let mark = zone.watermark(if order > PAGE_ALLOC_COSTLY_ORDER { Watermark::Low } else { Watermark::Min });
    if zone.watermark_ok(order, mark, zone.ty, false) {
        return Some(CompactResult::Success);
    }
    // Room to move pages into (`compact_gap`: twice the request).
    if !zone.watermark_ok(0, mark + (2 << order), zone.ty, false) {
        return Some(CompactResult::Skipped);
    }
    if order > PAGE_ALLOC_COSTLY_ORDER {
        let index = pa.contig_info(zone, order).fragmentation_index(order);
        if (0..=pa.compact_tunables.extfrag_threshold() as i64).contains(&index) {
            return Some(CompactResult::Skipped);
        }
    }
    None
}

impl<'a> Control<'a> {
    fn new(pa: &'a PageAllocator, zone: &'a Zone, goal: Goal, async_mode: bool) -> Control<'a> {
        Control {
            pa,
            zone,
            goal,
            async_mode,
            migrate_pfn: zone.start_pfn,
            free_pfn: block_start(zone.end_pfn() - 1) + PAGEBLOCK_PAGES,
            freepages: Vec::new(),
            stats: CompactStats::default(),
        }
    }

    fn owns(&self, p: &Page) -> bool {
        p.node() == self.zone.node && p.zone_type() == self.zone.ty
    }

    /// The scanners met: no pageblock is left between them.
    fn met(&self) -> bool {
        self.free_pfn <= block_start(self.migrate_pfn) + PAGEBLOCK_PAGES || self.migrate_pfn >= self.zone.end_pfn()
    }

    /// `__compact_finished` for a goal short of the whole zone.
    fn goal_reached(&self) -> bool {
        match self.goal {
            Goal::Full => false,
            Goal::Order(order) => self.pa.contig_info(self.zone, order).free_blocks_suitable > 0,
            Goal::Score(low) => self.pa.fragmentation_score_zone(self.zone) <= low,
        }
    }

    fn run(&mut self) -> CompactResult {
        self.pa.drain_all_pages();
        let result = loop {
            if self.goal_reached() {
                break CompactResult::Success;
            }
            if self.met() {
                break CompactResult::Complete;
            }
            let batch = self.isolate_migratepages();
            if batch.is_empty() {
                continue;
            }
            if self.migrate(batch) {
                // Pages moved from went to this CPU's lists: into the
                // buddy with them, where they merge.
                self.pa.drain_all_pages();
            }
        };
        for pfn in self.freepages.drain(..) {
            let _ = self.pa.free_pages(pfn, 0);
        }
        self.pa.drain_all_pages();
        result
    }

    /// The migrate scanner (`isolate_migratepages`): from `migrate_pfn` to
    /// the end of its pageblock, isolate up to [`CLUSTER`] pages that
    /// migration can move.
    fn isolate_migratepages(&mut self) -> Vec<&'static Page> {
        let mut out = Vec::new();
        let end = (block_start(self.migrate_pfn) + PAGEBLOCK_PAGES).min(self.zone.end_pfn());
        let mm = &self.pa.memmap;
        if self.async_mode && pageblock_mt(mm, self.migrate_pfn) != MigrateType::Movable {
            self.migrate_pfn = end;
            return out;
        }
        if out.try_reserve(CLUSTER).is_err() {
            self.migrate_pfn = end;
            return out;
        }
        let unevictable = self.pa.compact_tunables.unevictable_allowed();
        let mut pfn = self.migrate_pfn;
        while pfn < end && out.len() < CLUSTER {
            let Some(p) = mm.page(Pfn(pfn)) else {
                pfn += 1;
                continue;
            };
            self.stats.migrate_scanned += 1;
            let f = p.flags();
            if f.contains(PageFlags::BUDDY) {
                // Read without the zone lock: a stale order only makes the
                // scanner skip less or look at a page twice.
                let order = p.order().min(MAX_ORDER);
                pfn = (pfn | ((1 << order) - 1)) + 1;
                continue;
            }
            pfn += 1;
            let movable = f.contains(PageFlags::LRU)
                && !f.intersects(PageFlags::HEAD | PageFlags::TAIL | PageFlags::WRITEBACK)
                && (unevictable || !f.contains(PageFlags::MLOCKED))
                && self.owns(p);
            if movable && self.pa.lruvec(p).isolate_page(mm, p) {
                out.push(p);
            }
        }
        self.stats.isolated += out.len() as u64;
        self.migrate_pfn = pfn.min(end);
        if pfn >= end {
            self.migrate_pfn = end;
        }
        out
    }

    /// Whether the free scanner may take pages from the pageblock at `b`
    /// (`suitable_migration_target`).
    fn suitable_target(&self, b: u64) -> bool {
        let mm = &self.pa.memmap;
        if let Some(p) = mm.page(Pfn(b)) {
            if p.has(PageFlags::BUDDY) && p.order() >= PAGEBLOCK_ORDER {
                return false;
            }
        }
        pageblock_mt(mm, b) == MigrateType::Movable
    }

    /// The free scanner (`isolate_freepages`): pageblocks from the top
    /// down, above the migrate scanner's, until `want` free pages are
    /// isolated. A pageblock left part-scanned is scanned again next time
    /// (the pages taken from it are no longer free).
    fn isolate_freepages(&mut self, want: usize) {
        let low = block_start(self.migrate_pfn) + PAGEBLOCK_PAGES;
        while self.freepages.len() < want && self.free_pfn > low {
            let b = self.free_pfn - PAGEBLOCK_PAGES;
            self.free_pfn = b;
            if !self.suitable_target(b) {
                continue;
            }
            let (start, end) = (b.max(self.zone.start_pfn), (b + PAGEBLOCK_PAGES).min(self.zone.end_pfn()));
            let mut pfn = start;
            while pfn < end {
                if self.freepages.len() >= want {
                    // Come back to the rest of this pageblock.
                    self.free_pfn = b + PAGEBLOCK_PAGES;
                    return;
                }
                self.stats.free_scanned += 1;
                let Some(p) = self.pa.memmap.page(Pfn(pfn)) else {
                    pfn += 1;
                    continue;
                };
                if !p.has(PageFlags::BUDDY) || !self.owns(p) {
                    pfn += 1;
                    continue;
                }
                let order = p.order().min(MAX_ORDER);
                let got = self.pa.isolate_free_block(self.zone, pfn, &mut self.freepages);
                self.stats.isolated += got;
                pfn = if got > 0 { pfn + got } else { (pfn | ((1 << order) - 1)) + 1 };
            }
        }
    }

    /// Move each isolated page into a free page; put back what did not
    /// move. Returns whether any page moved.
    fn migrate(&mut self, batch: Vec<&'static Page>) -> bool {
        let pa = self.pa;
        let mut moved = false;
        let n = batch.len();
        for (i, old) in batch.into_iter().enumerate() {
            if self.freepages.is_empty() {
                self.isolate_freepages(n - i);
            }
            // No free page left (the scanners met): not a failure of the
            // page, it just stays.
            let result = self.freepages.pop().map(|new| migrate_isolated(old, new).map(|()| new).map_err(|_| new));
            match result {
                Some(Ok(_)) => {
                    pa.vmstat.pgmigrate_success.inc();
                    self.stats.migrated += 1;
                    moved = true;
                }
                failed => {
                    if let Some(Err(new)) = failed {
                        self.freepages.push(new);
                        pa.vmstat.pgmigrate_fail.inc();
                        self.stats.failed += 1;
                    }
                    pa.lruvec(old).putback(&pa.memmap, old, PageFlags::empty(), PageFlags::empty());
                }
            }
            // The isolation's reference: the last one if the page moved.
            pa.put_user_page(old.pfn());
        }
        moved
    }
}

/// Compact one zone toward `goal` and count what the scanners did.
fn compact_zone(pa: &PageAllocator, zone: &Zone, goal: Goal, async_mode: bool) -> (CompactResult, CompactStats) {
    if !zone.is_populated() {
        return (CompactResult::Skipped, CompactStats::default());
    }
    let mut cc = Control::new(pa, zone, goal, async_mode);
    let r = cc.run();
    let s = cc.stats;
    pa.vmstat.compact_migrate_scanned.add(s.migrate_scanned);
    pa.vmstat.compact_free_scanned.add(s.free_scanned);
    pa.vmstat.compact_isolated.add(s.isolated);
    (r, s)
}

/// Compact every zone of node `nid` completely (`compact_node`:
/// /proc/sys/vm/compact_memory, /sys/devices/system/node/nodeN/compact).
pub fn compact_node(pa: &PageAllocator, nid: u32) -> CompactStats {
    let mut total = CompactStats::default();
    let Some(node) = pa.nodes.get(nid as usize) else { return total };
    for zone in &node.zones {
        total += compact_zone(pa, zone, Goal::Full, false).1;
    }
    total
}

/// Compact every node (`compact_nodes`).
pub fn compact_all(pa: &PageAllocator) -> CompactStats {
    let mut total = CompactStats::default();
    for nid in 0..pa.nr_nodes() {
        total += compact_node(pa, nid);
    }
    total
}

/// Direct compaction (`try_to_compact_pages`): the zones of `nid`'s
/// zonelist that `gfp` may use, asynchronously, until one has a free
/// block of `order`. Returns whether that happened or pages moved.
pub fn try_to_compact_pages(pa: &PageAllocator, nid: u32, gfp: Gfp, order: u32) -> bool {
    let Some(node) = pa.nodes.get(nid as usize) else { return false };
    let highest = gfp.highest_zone();
    let mut progress = false;
    for &(n, ty) in &node.zonelist {
        if ty > highest || (gfp.contains(Gfp::THISNODE) && n != nid) {
            continue;
        }
        let zone = pa.zone(n, ty);
        if !zone.is_populated() {
            continue;
        }
        let r = match suitable(pa, zone, order) {
            Some(r) => r,
            None => {
                let (r, s) = compact_zone(pa, zone, Goal::Order(order), true);
                progress |= s.migrated > 0;
                r
            }
        };
        if r == CompactResult::Success {
            return true;
        }
    }
    progress
}

/// kcompactd woken for an allocation of `order` (`kcompactd_do_work`):
/// each zone of the node where compaction is suitable, synchronously,
/// until it has the block. Returns what its scanners did.
pub fn kcompactd_do_work(pa: &PageAllocator, nid: u32, order: u32) -> CompactStats {
    let mut total = CompactStats::default();
    let Some(node) = pa.nodes.get(nid as usize) else { return total };
    pa.vmstat.compact_daemon_wake.inc();
    for zone in node.zones.iter().filter(|z| z.is_populated()) {
        if suitable(pa, zone, order).is_none() {
            total += compact_zone(pa, zone, Goal::Order(order), false).1;
        }
    }
    pa.vmstat.compact_daemon_migrate_scanned.add(total.migrate_scanned);
    pa.vmstat.compact_daemon_free_scanned.add(total.free_scanned);
    total
}

/// Whether node `nid`'s fragmentation score is over the high mark that
/// `vm.compaction_proactiveness` sets (`should_proactive_compact_node`).
pub fn should_proactive_compact(pa: &PageAllocator, nid: u32) -> bool {
    let t = &pa.compact_tunables;
    t.proactiveness() > 0 && pa.fragmentation_score_node(nid) > t.score_wmarks().1
}

/// Proactive compaction (`proactive_compact_node`): every zone of the
/// node until its score is at the low mark. Returns what the scanners did.
pub fn proactive_compact_node(pa: &PageAllocator, nid: u32) -> CompactStats {
    let mut total = CompactStats::default();
    let Some(node) = pa.nodes.get(nid as usize) else { return total };
    let low = pa.compact_tunables.score_wmarks().0;
    for zone in node.zones.iter().filter(|z| z.is_populated()) {
        total += compact_zone(pa, zone, Goal::Score(low), false).1;
    }
    pa.vmstat.compact_daemon_migrate_scanned.add(total.migrate_scanned);
    pa.vmstat.compact_daemon_free_scanned.add(total.free_scanned);
    total
}

/// The allocator's direct-compaction hook.
fn direct_hook(pa: &PageAllocator, nid: u32, gfp: Gfp, order: u32) -> bool {
    try_to_compact_pages(pa, nid, gfp, order)
}

/// Let `pa`'s allocations of order > 0 compact directly.
pub fn install(pa: &PageAllocator) {
    pa.set_compact_hook(direct_hook);
}
