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
    assert!(pool.set_overcommit(2));
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

#[test]
fn the_command_line_sizes_apply_to_the_hugepages_after_them() {
    let parse = |text: &str| {
        let words: Vec<(&str, &str)> = text.split_whitespace().filter_map(|w| w.split_once('=')).collect();
        let mut warned = 0;
        let c = HugeCmdline::parse(words.iter().copied(), &mut |_, _| warned += 1);
        (c, warned)
    };
    let (c, w) = parse("hugepages=4");
    assert_eq!((c.pages_2m, c.pages_1g, c.default_1g, w), (Some(4), None, false, 0));
    let (c, _) = parse("hugepagesz=1G hugepages=2 hugepagesz=2M hugepages=8");
    assert_eq!((c.pages_2m, c.pages_1g), (Some(8), Some(2)));
    let (c, _) = parse("default_hugepagesz=1G hugepages=3");
    assert_eq!((c.pages_2m, c.pages_1g, c.default_1g), (None, Some(3), true));
    let (c, w) = parse("hugepagesz=16M hugepages=3 hugepages=x");
    assert_eq!((c.pages_2m, c.pages_1g, w), (None, None, 1), "the unknown size's count is skipped; x too");
    for (text, order) in [
        ("2M", Some(9)),
        ("2048K", Some(9)),
        ("1G", Some(18)),
        ("1024M", Some(18)),
        ("1073741824", Some(18)),
        ("4M", None),
    ] {
        assert_eq!(order_of_size(text), order, "{text}");
    }
}

#[test]
fn a_gigantic_pool_neither_grows_at_run_time_nor_overcommits() {
    let pa = page_allocator(64 << 20);
    let pool = HugePool::gigantic();
    assert!(!pool.is_registered() && pool.is_gigantic());
    assert_eq!(pool.hpage_size(), 1 << 30);
    assert_eq!(pool.set_persistent(pa, None, 1), 0, "no 1 GiB block in the buddy allocator");
    assert!(!pool.set_overcommit(1), "no surplus gigantic pages: EINVAL");
    assert!(pool.set_overcommit(0));
    assert!(!pool.reserve(pa, 1), "an empty pool promises nothing");
    assert!(pool.take(pa, 0, false).is_none());
}

/// A 3 GiB machine: memblock gives the gigantic pages before the buddy
/// allocator sees the memory; shrinking the pool hands them to the buddy.
///
/// ```text
///   0        1G        2G        3G
///   |  buddy  | gigantic| gigantic|   (the 1G-aligned ranges memblock finds)
/// ```
#[test]
fn boot_gigantic_pages_are_taken_before_the_buddy_and_go_back_to_it() {
    let size = 3u64 << 30;
    let ram = crate::testing::SimRam::new(0, size);
    let mut mb = crate::phys::memblock::Memblock::new();
    mb.set_phys(ram.window);
    mb.add(0, size).unwrap();
    mb.reserve(0, crate::addr::PAGE_SIZE, "first page").unwrap();
    let topo = crate::phys::numa::Topology::single_node(size);
    topo.apply(&mut mb).unwrap();
    let pages = reserve_boot_gigantic(&mut mb, 5);
    assert_eq!(pages.len(), 2, "the first gigabyte holds the reserved first page");
    assert!(pages.iter().all(|(p, nid)| p.phys() % GPAGE_SIZE == 0 && *nid == 0));
    let pa: &'static PageAllocator =
        alloc::boxed::Box::leak(alloc::boxed::Box::new(PageAllocator::new(&mut mb, topo, ram.window).unwrap()));
    pa.free_boot_memory(&mb);
    pa.setup_watermarks(None);
    let pool = HugePool::gigantic();
    pool.register();
    pool.add_boot_pages(pa, &pages);
    let c = pool.counts();
    assert_eq!((c.nr, c.free, c.persistent, c.surplus), (2, 2, 2, 0));
    assert_eq!(pool.node_counts(0), (2, 2, 0));
    assert!(free_pages(pa) < (1 << 30) >> 12, "the buddy has less than the first gigabyte");
    let head = pa.page(pages[0].0).unwrap();
    assert!(head.has(PageFlags::HUGETLB) && head.has(PageFlags::HEAD));
    assert_eq!(pool.set_persistent(pa, None, 5), 2, "no run-time growth");
    // A page in use stays; the free one goes to the buddy allocator.
    let used = pool.take(pa, 0, false).unwrap();
    let before = free_pages(pa);
    assert_eq!(pool.set_persistent(pa, None, 0), 0);
    let c = pool.counts();
    assert_eq!((c.nr, c.free, c.surplus), (1, 0, 1), "in use: surplus until freed");
    assert_eq!(free_pages(pa), before + (1 << GPAGE_ORDER));
    pool.put(pa, used);
    assert_eq!(pool.counts(), PoolCounts::default());
    assert_eq!(free_pages(pa), before + (2 << GPAGE_ORDER));
    assert_eq!(pa.vmstat.hugetlb_pages.get(), 0);
    let big = pa.alloc_pages(crate::phys::gfp::Gfp::empty(), crate::phys::buddy::MAX_ORDER);
    assert!(big.is_some(), "the freed gigabytes are buddy blocks of MAX_ORDER");
}
