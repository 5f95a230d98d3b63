//! The buddy allocator of one zone (cf. mm/page_alloc.c: `__free_one_page`,
//! `__rmqueue_smallest`, `expand`, `__rmqueue_fallback`).
//!
//! Free memory is kept as naturally aligned blocks of 2^order pages, order
//! 0..=10 (4 KiB .. 4 MiB), on one list per order and migrate type. Two free
//! blocks of the same order whose pfns differ only in bit `order` are
//! buddies and merge into one block of the next order:
//!
//! ```text
//!   order 1:  [pfn 8,9] [pfn 10,11]      buddy of 8 at order 1 is 8 ^ 2 = 10
//!   order 2:  [pfn 8 .. 11]              merged
//! ```
//!
//! Allocation takes the smallest block that fits and splits the rest back
//! ("expand"): an order-0 request served from an order-3 block returns
//! halves of order 2, 1 and 0 to the lists.
//!
//! Memory is grouped by mobility in 2 MiB pageblocks. Each pageblock has a
//! migrate type (unmovable, movable, reclaimable) and free pages go to the
//! list of their pageblock's type, so long-lived kernel allocations cluster
//! together instead of pinning every pageblock. When a type runs out, it
//! steals from another type, largest block first, and claims the whole
//! pageblock if at least half of it is free (`steal_suitable_fallback`).
//!
//! The lists are intrusive: links live in the page descriptors (`next`,
//! `prev` as pfns), the list's migrate type in `private`, the order in
//! `order`, and a free block's head page carries `PageFlags::BUDDY`.
//!
//! Locking: the zone lock (`Zone::free`) protects the lists and the
//! descriptors of the free blocks on them. Pageblock types are written
//! under it and read without it by the per-CPU free path (`pcp`): a type
//! read just before a steal changes it only puts a page on the other
//! type's per-CPU list, as in Linux.

use core::fmt;
use core::sync::atomic::Ordering;

use crate::addr::Pfn;
use crate::phys::page::{Memmap, NIL, Page, PageFlags};
use crate::phys::zone::ZoneType;

/// Largest order (`MAX_PAGE_ORDER`).
pub const MAX_ORDER: u32 = 10;
/// Number of orders (`NR_PAGE_ORDERS`).
pub const NR_ORDERS: usize = MAX_ORDER as usize + 1;
/// A pageblock is 2 MiB.
pub const PAGEBLOCK_ORDER: u32 = 9;
pub const PAGEBLOCK_PAGES: u64 = 1 << PAGEBLOCK_ORDER;

/// Mobility class of a pageblock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum MigrateType {
    Unmovable = 0,
    Movable = 1,
    Reclaimable = 2,
}

pub const MIGRATE_TYPES: usize = 3;

impl MigrateType {
    pub const ALL: [MigrateType; MIGRATE_TYPES] =
        [MigrateType::Unmovable, MigrateType::Movable, MigrateType::Reclaimable];

    #[inline]
    pub fn from_u8(v: u8) -> MigrateType {
        match v {
            0 => MigrateType::Unmovable,
            2 => MigrateType::Reclaimable,
            _ => MigrateType::Movable,
        }
    }

    /// Name as in /proc/pagetypeinfo.
    pub fn name(self) -> &'static str {
        match self {
            MigrateType::Unmovable => "Unmovable",
            MigrateType::Movable => "Movable",
            MigrateType::Reclaimable => "Reclaimable",
        }
    }

    /// Types to steal from, in order (Linux's `fallbacks[]`).
    fn fallbacks(self) -> [MigrateType; 2] {
        match self {
            MigrateType::Unmovable => [MigrateType::Reclaimable, MigrateType::Movable],
            MigrateType::Movable => [MigrateType::Reclaimable, MigrateType::Unmovable],
            MigrateType::Reclaimable => [MigrateType::Unmovable, MigrateType::Movable],
        }
    }
}

/// The zone a free area belongs to: merging never crosses it.
#[derive(Clone, Copy, Debug)]
pub struct ZoneId {
    pub node: u32,
    pub ty: ZoneType,
}

impl ZoneId {
    fn owns(&self, p: &Page) -> bool {
        p.node() == self.node && p.zone_type() == self.ty
    }
}

#[derive(Clone, Copy)]
struct List {
    head: u64,
    len: u64,
}

/// Migrate type of the pageblock containing `pfn`. Every page of a
/// pageblock carries it (see [`set_pageblock_mt`]), so this reads the
/// descriptor of `pfn` itself, which the caller is about to write anyway,
/// not the pageblock's first one, which another CPU may be writing.
#[inline]
pub fn pageblock_mt(mm: &Memmap, pfn: u64) -> MigrateType {
    mm.page(Pfn(pfn)).map(|p| MigrateType::from_u8(p.pageblock_mt())).unwrap_or(MigrateType::Movable)
}

/// Set the migrate type of the pageblock containing `pfn`, in every page
/// of it (Linux keeps it in a bitmap beside the memmap; a byte of each
/// descriptor serves the same purpose and keeps the per-CPU free path on
/// the lines of the page being freed). Called under the zone lock, and
/// rarely: a pageblock changes type only when it is stolen.
pub fn set_pageblock_mt(mm: &Memmap, pfn: u64, mt: MigrateType) {
    let start = pfn & !(PAGEBLOCK_PAGES - 1);
    for pfn in start..start + PAGEBLOCK_PAGES {
        if let Some(p) = mm.page(Pfn(pfn)) {
            p.set_pageblock_mt(mt as u8);
        }
    }
}

/// A zone's free lists.
pub struct FreeArea {
    lists: [[List; MIGRATE_TYPES]; NR_ORDERS],
    counts: [u64; NR_ORDERS],
    /// Bit `o` set while `counts[o] > 0`.
    orders: u64,
    /// Total free pages in the lists.
    pub free_pages: u64,
}

impl Default for FreeArea {
    fn default() -> Self {
        Self::new()
    }
}

impl FreeArea {
    pub const fn new() -> Self {
        FreeArea {
            lists: [[List { head: NIL, len: 0 }; MIGRATE_TYPES]; NR_ORDERS],
            counts: [0; NR_ORDERS],
            orders: 0,
            free_pages: 0,
        }
    }

    /// Free blocks of `order` (all types): a /proc/buddyinfo column.
    pub fn nr_free(&self, order: usize) -> u64 {
        self.counts[order]
    }

    /// A bit per order with free blocks.
    #[inline]
    pub fn nonempty_orders(&self) -> u64 {
        self.orders
    }

    /// Free blocks of `order` and type `mt`: a /proc/pagetypeinfo cell.
    pub fn nr_free_of(&self, order: usize, mt: MigrateType) -> u64 {
        self.lists[order][mt as usize].len
    }

    fn add(&mut self, mm: &Memmap, page: &Page, order: u32, mt: MigrateType) {
        let list = &mut self.lists[order as usize][mt as usize];
        page.set_order(order);
        page.private.store(mt as u64, Ordering::Relaxed);
        page.insert_flags_owned(PageFlags::BUDDY);
        page.prev.store(NIL, Ordering::Relaxed);
        page.next.store(list.head, Ordering::Relaxed);
        if list.head != NIL {
            if let Some(old) = mm.page(Pfn(list.head)) {
                old.prev.store(page.pfn().0, Ordering::Relaxed);
            }
        }
        list.head = page.pfn().0;
        list.len += 1;
        self.counts[order as usize] += 1;
        self.orders |= 1 << order;
        self.free_pages += 1 << order;
    }

    fn del(&mut self, mm: &Memmap, page: &Page) {
        let order = page.order();
        let mt = page.private.load(Ordering::Relaxed) as usize;
        let (prev, next) = (page.prev.load(Ordering::Relaxed), page.next.load(Ordering::Relaxed));
        let list = &mut self.lists[order as usize][mt];
        if prev == NIL {
            list.head = next;
        } else if let Some(p) = mm.page(Pfn(prev)) {
            p.next.store(next, Ordering::Relaxed);
        }
        if next != NIL {
            if let Some(n) = mm.page(Pfn(next)) {
                n.prev.store(prev, Ordering::Relaxed);
            }
        }
        list.len -= 1;
        self.counts[order as usize] -= 1;
        if self.counts[order as usize] == 0 {
            self.orders &= !(1 << order);
        }
        self.free_pages -= 1 << order;
        page.remove_flags_owned(PageFlags::BUDDY);
        page.next.store(NIL, Ordering::Relaxed);
        page.prev.store(NIL, Ordering::Relaxed);
        // Clean as the free path leaves every page: a block handed out has
        // no stale order or list type in a former head.
        page.set_order(0);
        page.private.store(0, Ordering::Relaxed);
    }

    /// `__free_one_page`: put the free block `[pfn, pfn + 2^order)` back,
    /// merging with its buddy as long as the buddy is free, of the same
    /// order and in the same zone.
    pub fn free_block(&mut self, mm: &Memmap, zone: ZoneId, pfn: u64, mut order: u32) {
        let mut pfn = pfn;
        while order < MAX_ORDER {
            let buddy_pfn = pfn ^ (1 << order);
            let Some(buddy) = mm.page(Pfn(buddy_pfn)) else { break };
            if !buddy.has(PageFlags::BUDDY) || buddy.order() != order || !zone.owns(buddy) {
                break;
            }
            self.del(mm, buddy);
            pfn &= !(1 << order);
            order += 1;
        }
        let head = mm.page(Pfn(pfn)).expect("buddy: freeing a block without descriptors");
        self.add(mm, head, order, pageblock_mt(mm, pfn));
    }

    /// `expand`: split the order-`high` block at `pfn` down to `low`,
    /// returning the upper halves to the lists.
    fn expand(&mut self, mm: &Memmap, pfn: u64, low: u32, mut high: u32, mt: MigrateType) {
        while high > low {
            high -= 1;
            let half = pfn + (1 << high);
            if let Some(p) = mm.page(Pfn(half)) {
                self.add(mm, p, high, mt);
            }
        }
    }

    /// `__rmqueue_smallest`: the smallest free block of type `mt` that fits.
    fn rmqueue_smallest(&mut self, mm: &Memmap, order: u32, mt: MigrateType) -> Option<u64> {
        for cur in order..=MAX_ORDER {
            let head = self.lists[cur as usize][mt as usize].head;
            if head == NIL {
                continue;
            }
            let page = mm.page(Pfn(head))?;
            self.del(mm, page);
            self.expand(mm, head, order, cur, mt);
            return Some(head);
        }
        None
    }

    /// Free pages inside the pageblock of `pfn`.
    fn free_in_pageblock(&self, mm: &Memmap, zone: ZoneId, pfn: u64) -> u64 {
        let start = pfn & !(PAGEBLOCK_PAGES - 1);
        let mut free = 0;
        let mut p = start;
        while p < start + PAGEBLOCK_PAGES {
            match mm.page(Pfn(p)) {
                Some(page) if page.has(PageFlags::BUDDY) && zone.owns(page) => {
                    free += 1 << page.order();
                    p += 1 << page.order();
                }
                _ => p += 1,
            }
        }
        free
    }

    /// Move every free block inside the pageblock(s) of `pfn` to `mt`'s
    /// lists; returns the free pages moved.
    fn move_freepages_block(&mut self, mm: &Memmap, zone: ZoneId, pfn: u64, mt: MigrateType) -> u64 {
        let start = pfn & !(PAGEBLOCK_PAGES - 1);
        let mut moved = 0;
        let mut p = start;
        while p < start + PAGEBLOCK_PAGES {
            match mm.page(Pfn(p)) {
                Some(page) if page.has(PageFlags::BUDDY) && zone.owns(page) => {
                    let order = page.order();
                    self.del(mm, page);
                    self.add(mm, page, order, mt);
                    moved += 1 << order;
                    p += 1 << order;
                }
                _ => p += 1,
            }
        }
        moved
    }

    /// `__rmqueue_fallback`: steal the largest block of another type, and
    /// claim its pageblock when that is worth it. Returns whether a
    /// pageblock changed type.
    fn rmqueue_fallback(
        &mut self,
        mm: &Memmap,
        zone: ZoneId,
        order: u32,
        start_mt: MigrateType,
    ) -> Option<(u64, bool)> {
        for cur in (order..=MAX_ORDER).rev() {
            for fb in start_mt.fallbacks() {
                let head = self.lists[cur as usize][fb as usize].head;
                if head == NIL {
                    continue;
                }
                let page = mm.page(Pfn(head))?;
                // Linux's can_steal_fallback: big blocks, or any block for
                // unmovable/reclaimable requests (to keep them clustered).
                let can_steal = cur >= PAGEBLOCK_ORDER / 2 || start_mt != MigrateType::Movable;
                if !can_steal {
                    return self.rmqueue_smallest(mm, order, fb).map(|p| (p, false));
                }
                let mut claimed = false;
                if cur >= PAGEBLOCK_ORDER {
                    // The block covers whole pageblocks: all become ours.
                    let mut pb = head;
                    while pb < head + (1 << cur) {
                        set_pageblock_mt(mm, pb, start_mt);
                        pb += PAGEBLOCK_PAGES;
                    }
                    self.del(mm, page);
                    self.add(mm, page, cur, start_mt);
                    claimed = true;
                } else if self.free_in_pageblock(mm, zone, head) >= PAGEBLOCK_PAGES / 2 {
                    // At least half the pageblock is free: claim it all.
                    self.move_freepages_block(mm, zone, head, start_mt);
                    set_pageblock_mt(mm, head, start_mt);
                    claimed = true;
                } else {
                    // Not worth claiming: take just this block.
                    self.del(mm, page);
                    self.add(mm, page, cur, start_mt);
                }
                return self.rmqueue_smallest(mm, order, start_mt).map(|p| (p, claimed));
            }
        }
        None
    }

    /// Take a block of `2^order` pages for migrate type `mt`. Returns the
    /// head pfn and whether a pageblock was stolen from another type.
    pub fn alloc_block(&mut self, mm: &Memmap, zone: ZoneId, order: u32, mt: MigrateType) -> Option<(u64, bool)> {
        if order > MAX_ORDER {
            return None;
        }
        if let Some(pfn) = self.rmqueue_smallest(mm, order, mt) {
            return Some((pfn, false));
        }
        self.rmqueue_fallback(mm, zone, order, mt)
    }

    /// Take the free block whose head is `pfn` off its list whole
    /// (compaction's free scanner, Linux's `__isolate_free_page`):
    /// returns its order, or None if `pfn` heads no free block of `zone`.
    pub fn take_block(&mut self, mm: &Memmap, zone: ZoneId, pfn: u64) -> Option<u32> {
        let page = mm.page(Pfn(pfn))?;
        if !page.has(PageFlags::BUDDY) || !zone.owns(page) {
            return None;
        }
        let order = page.order();
        self.del(mm, page);
        Some(order)
    }

    /// The free blocks by order, all types (a snapshot for the
    /// fragmentation measures of `phys::frag`).
    pub fn counts(&self) -> [u64; NR_ORDERS] {
        self.counts
    }

    /// Walk every list and check the invariants; panics with "buddy: ..."
    /// on a broken one. Returns the free pages counted.
    pub fn check_invariants(&self, mm: &Memmap, zone: ZoneId) -> u64 {
        let mut total = 0;
        for order in 0..NR_ORDERS {
            let mut per_order = 0;
            for mt in MigrateType::ALL {
                let list = self.lists[order][mt as usize];
                let mut n = 0;
                let mut prev = NIL;
                let mut cur = list.head;
                while cur != NIL {
                    let p = mm.page(Pfn(cur)).expect("buddy: list points at a pfn without a descriptor");
                    assert!(p.has(PageFlags::BUDDY), "buddy: pfn {cur:#x} on a free list lacks PG_buddy");
                    assert_eq!(p.order() as usize, order, "buddy: pfn {cur:#x} has the wrong order");
                    assert_eq!(
                        p.private.load(Ordering::Relaxed),
                        mt as u64,
                        "buddy: pfn {cur:#x} on the wrong type list"
                    );
                    assert_eq!(cur % (1 << order), 0, "buddy: pfn {cur:#x} misaligned for order {order}");
                    assert_eq!(p.prev.load(Ordering::Relaxed), prev, "buddy: broken back link at pfn {cur:#x}");
                    assert!(zone.owns(p), "buddy: pfn {cur:#x} belongs to another zone");
                    assert!(!p.has(PageFlags::RESERVED), "buddy: reserved pfn {cur:#x} is free");
                    n += 1;
                    prev = cur;
                    cur = p.next.load(Ordering::Relaxed);
                }
                assert_eq!(n, list.len, "buddy: list length out of date");
                per_order += n;
                total += n << order;
            }
            assert_eq!(per_order, self.counts[order], "buddy: order {order} count out of date");
            assert_eq!(self.orders >> order & 1 == 1, per_order > 0, "buddy: order {order} mask out of date");
        }
        assert_eq!(total, self.free_pages, "buddy: free page total out of date");
        total
    }
}

impl fmt::Debug for FreeArea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FreeArea {{ free_pages: {}, counts: {:?} }}", self.free_pages, self.counts)
    }
}
