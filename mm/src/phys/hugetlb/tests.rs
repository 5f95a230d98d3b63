//! The hugetlb pool on the simulated machine: it grows and shrinks with
//! the persistent size, free pages come back to the buddy allocator,
//! reservations keep faults from failing, surplus pages follow
//! overcommit, and per-node sizes stay on their node.

use super::*;
use crate::testing::{numa_page_allocator, page_allocator};

fn free_pages(pa: &PageAllocator) -> u64 {
    pa.drained_free_pages()
}

#[test]
fn the_pool_grows_and_shrinks_back_to_the_same_free_memory() {
    let pa = page_allocator(64 << 20);
    let pool = HugePool::new();
    let before = free_pages(pa);
    assert_eq!(pool.set_persistent(pa, None, 4), 4);
    let c = pool.counts();
    assert_eq!((c.nr, c.free, c.resv, c.surplus, c.persistent), (4, 4, 0, 0, 4));
    assert_eq!(free_pages(pa), before - 4 * HPAGE_PAGES);
    assert_eq!(pa.vmstat.hugetlb_pages.get(), 4 * HPAGE_PAGES);
    assert_eq!(pool.set_persistent(pa, None, 1), 1);
    assert_eq!(free_pages(pa), before - HPAGE_PAGES);
    assert_eq!(pool.set_persistent(pa, None, 0), 0);
    assert_eq!(free_pages(pa), before, "every page went back");
    assert_eq!(pa.vmstat.hugetlb_pages.get(), 0);
}

#[test]
fn the_pool_stops_where_memory_ends() {
    let pa = page_allocator(32 << 20);
    let pool = HugePool::new();
    let got = pool.set_persistent(pa, None, 1000);
    assert!(got > 0 && got < 16, "{got} pages of 2 MiB in 32 MiB");
    assert_eq!(pool.counts().free, got);
    pool.set_persistent(pa, None, 0);
}

#[test]
fn pages_in_use_become_surplus_when_the_pool_shrinks() {
    let pa = page_allocator(64 << 20);
    let pool = HugePool::new();
    let before = free_pages(pa);
    pool.set_persistent(pa, None, 2);
    let a = pool.take(pa, 0, false).unwrap();
    let b = pool.take(pa, 0, false).unwrap();
    assert_eq!(pa.page(a).unwrap().refcount(), 1);
    assert!(pool.take(pa, 0, false).is_none(), "no page left, no overcommit");
    assert_eq!(pool.set_persistent(pa, None, 0), 0);
    let c = pool.counts();
    assert_eq!((c.nr, c.free, c.surplus), (2, 0, 2), "in use: surplus until freed");
    pool.put(pa, a);
    pool.put(pa, b);
    assert_eq!(pool.counts(), PoolCounts::default());
    assert_eq!(free_pages(pa), before);
}

#[test]
fn a_reservation_is_kept_from_unreserved_takers() {
    let pa = page_allocator(64 << 20);
    let pool = HugePool::new();
    pool.set_persistent(pa, None, 2);
    assert!(pool.reserve(pa, 2));
    assert!(!pool.reserve(pa, 1), "only two pages");
    assert!(pool.take(pa, 0, false).is_none(), "both free pages are promised");
    let a = pool.take(pa, 0, true).unwrap();
    assert_eq!(pool.counts().resv, 1);
    assert!(pool.set_persistent(pa, None, 0) == 0);
    assert_eq!(pool.counts().nr, 2, "one in use, one promised: neither leaves");
    pool.unreserve(pa, 1);
    assert_eq!(pool.counts().nr, 1, "the promise went, and with it the free surplus page");
    pool.put(pa, a);
    assert_eq!(pool.counts(), PoolCounts::default());
}

#[test]
fn overcommit_allows_surplus_pages_that_leave_when_freed() {
    let pa = page_allocator(64 << 20);
    let pool = HugePool::new();
    let before = free_pages(pa);
    pool.set_overcommit(2);
    assert!(pool.reserve(pa, 1), "a surplus page for the promise");
    assert_eq!(pool.counts().surplus, 1);
    let a = pool.take(pa, 0, true).unwrap();
    let b = pool.take(pa, 0, false).unwrap();
    assert!(pool.take(pa, 0, false).is_none(), "overcommit is 2");
    assert_eq!(pool.counts().surplus, 2);
    pool.put(pa, a);
    pool.put(pa, b);
    assert_eq!(pool.counts().nr, 0);
    assert_eq!(free_pages(pa), before);
}

#[test]
fn per_node_sizes_stay_on_their_node() {
    let pa = numa_page_allocator(64 << 20, 2);
    let pool = HugePool::new();
    assert_eq!(pool.set_persistent(pa, Some(1), 2), 2);
    assert_eq!(pool.node_counts(1), (2, 2, 0));
    assert_eq!(pool.node_counts(0), (0, 0, 0));
    assert_eq!(pool.set_persistent(pa, Some(0), 1), 3, "the total");
    let p = pool.take(pa, 1, false).unwrap();
    assert_eq!(pa.page(p).unwrap().node(), 1);
    assert_eq!(pool.node_counts(1), (2, 1, 0));
    assert_eq!(pool.set_persistent(pa, None, 4), 4, "round robin over both");
    pool.put(pa, p);
    pool.set_persistent(pa, None, 0);
    assert_eq!(pool.counts().nr, 0);
    assert_eq!(pool.set_persistent(pa, Some(5), 1), 0, "no node 5");
}
