//! Page allocator host tests over simulated RAM.

use super::*;
use crate::phys::buddy::{MigrateType, NR_ORDERS};
use crate::phys::gfp::{GFP_DMA, GFP_DMA32, GFP_HIGHUSER_MOVABLE, GFP_KERNEL};
use crate::testing::SimRam;
use alloc::collections::BTreeSet;
use alloc::vec;

const MB: u64 = 1 << 20;

/// A machine: RAM ranges, reservations, optional NUMA split.
struct Machine {
    pa: PageAllocator,
    ram: SimRam,
}

fn machine(ram_ranges: &[(u64, u64)], reserved: &[(u64, u64)], topo: Option<Topology>) -> Machine {
    let end = ram_ranges.iter().map(|r| r.1).max().unwrap();
    let ram = SimRam::new(0, end);
    let mut mb = Memblock::new();
    mb.set_phys(ram.window);
    for &(s, e) in ram_ranges {
        mb.add(s, e - s).unwrap();
    }
    mb.reserve(0, PAGE_SIZE, "first page").unwrap();
    for &(s, e) in reserved {
        mb.reserve(s, e - s, "test reservation").unwrap();
    }
    let topo = topo.unwrap_or_else(|| Topology::single_node(end));
    topo.apply(&mut mb).unwrap();
    let pa = PageAllocator::new(&mut mb, topo, ram.window).unwrap();
    let freed = pa.free_boot_memory(&mb);
    assert_eq!(freed, mb.free_whole_pages(), "hand-off must free exactly memory - reserved");
    pa.setup_watermarks(None);
    pa.check_invariants();
    Machine { pa, ram }
}

fn buddyinfo(pa: &PageAllocator) -> Vec<[u64; NR_ORDERS]> {
    pa.zones()
        .map(|z| {
            let a = z.free.lock();
            core::array::from_fn(|o| a.nr_free(o))
        })
        .collect()
}

#[test]
fn hand_off_frees_largest_aligned_blocks_and_keeps_reservations() {
    //   RAM:      [0 ................................ 64M)
    //   reserved: [pg0] [1M..3M)   memmap and section table (top)
    let m = machine(&[(0, 64 * MB)], &[(MB, 3 * MB)], None);
    let pa = &m.pa;
    // The reserved range stays reserved and unmanaged.
    assert!(pa.page(Pfn(MB >> 12)).unwrap().has(PageFlags::RESERVED));
    assert!(pa.page(Pfn(0)).unwrap().has(PageFlags::RESERVED));
    // 64 MiB of RAM minus reservations; most of it in order-10 blocks.
    let dma32 = pa.zone(0, ZoneType::Dma32);
    assert!(dma32.free.lock().nr_free(10) >= 10);
    assert_eq!(pa.drained_free_pages(), pa.nr_managed_pages());
    assert_eq!(pa.nr_present_pages(), 64 * MB / PAGE_SIZE);
}

#[test]
fn zones_split_at_16m_and_4g_with_holes() {
    //   RAM:  [0..640K)  [1M ........ 3G)   hole   [4G ..... 5G)
    //   DMA:  [0..16M)   DMA32: [16M..3G)          Normal: [4G..5G)
    let m = machine(&[(0, 640 * 1024), (MB, 3 << 30), (4 << 30, 5 << 30)], &[], None);
    let (dma, dma32, normal) =
        (m.pa.zone(0, ZoneType::Dma), m.pa.zone(0, ZoneType::Dma32), m.pa.zone(0, ZoneType::Normal));
    assert_eq!(dma.start_pfn, 0);
    assert_eq!(dma.spanned, 16 * MB / PAGE_SIZE);
    assert_eq!(dma.present, (640 * 1024 + 15 * MB) / PAGE_SIZE);
    assert_eq!(dma32.start_pfn, 16 * MB / PAGE_SIZE);
    assert_eq!(dma32.spanned, ((3 << 30) - 16 * MB) / PAGE_SIZE);
    assert_eq!(normal.start_pfn, (4u64 << 30) / PAGE_SIZE);
    assert_eq!(normal.present, (1u64 << 30) / PAGE_SIZE);
    // Holes inside populated sections have no free pages and stay reserved.
    let hole = m.pa.page(Pfn(0xa0)).unwrap();
    assert!(hole.has(PageFlags::HOLE));
    // Sections of the 3G..4G hole have no descriptors at all.
    assert!(m.pa.page(Pfn((3u64 << 30) / PAGE_SIZE + 100)).is_none());
    // Every zone got managed pages and watermarks.
    for z in [dma, dma32, normal] {
        assert!(z.managed() > 0);
        assert!(z.watermark(Watermark::Min) > 0);
        assert!(z.watermark(Watermark::Low) > z.watermark(Watermark::Min));
        assert!(z.watermark(Watermark::High) > z.watermark(Watermark::Low));
    }
    // Lowmem reserve protects DMA from Normal-capable allocations.
    assert!(dma.lowmem_reserve(ZoneType::Normal) > 0);
    assert_eq!(normal.lowmem_reserves(), [0, 0, 0]);
}

#[test]
fn unaligned_ram_ends_are_handled() {
    // RAM ending 4 KiB past a boundary and starting mid-page.
    let m = machine(&[(0x1800, 16 * MB + 0x1000)], &[], None);
    assert!(m.pa.page(Pfn(1)).unwrap().has(PageFlags::HOLE), "the partial first page is not RAM");
    m.pa.check_invariants();
    assert_eq!(m.pa.zone(0, ZoneType::Dma32).present, 1);
}

#[test]
fn gfp_zone_modifiers_pick_the_zone() {
    let m = machine(&[(0, 64 * MB)], &[], None);
    let a = m.pa.alloc_pages(GFP_DMA, 0).unwrap();
    assert!(a.phys() < 16 * MB);
    let b = m.pa.alloc_pages(GFP_DMA32, 2).unwrap();
    assert!(b.phys() < 4 << 30);
    assert_eq!(b.0 % 4, 0, "order-2 blocks are 4-page aligned");
    m.pa.free_pages(a, 0).unwrap();
    m.pa.free_pages(b, 2).unwrap();
    m.pa.check_invariants();
}

#[test]
fn free_coalesces_buddies_back_to_the_starting_blocks() {
    let m = machine(&[(0, 32 * MB)], &[], None);
    let before = buddyinfo(&m.pa);
    let free_before = m.pa.drained_free_pages();
    let pages: Vec<Pfn> = (0..1000).map(|_| m.pa.alloc_pages(GFP_KERNEL, 0).unwrap()).collect();
    assert_eq!(m.pa.drained_free_pages(), free_before - 1000);
    for p in pages.iter().rev() {
        m.pa.free_pages(*p, 0).unwrap();
    }
    assert_eq!(m.pa.drained_free_pages(), free_before);
    assert_eq!(buddyinfo(&m.pa), before, "every split block merged back");
    m.pa.check_invariants();
}

#[test]
fn double_free_and_bogus_frees_are_refused() {
    let m = machine(&[(0, 32 * MB)], &[(2 * MB, 3 * MB)], None);
    let p = m.pa.alloc_pages(GFP_KERNEL, 0).unwrap();
    m.pa.free_pages(p, 0).unwrap();
    let free = m.pa.drained_free_pages();
    // p may have merged into a bigger block; the block head is then the
    // one with PG_buddy. Freeing p again must be refused either way.
    let again = m.pa.free_pages(p, 0);
    assert!(matches!(again, Err(FreeError::DoubleFree) | Err(FreeError::NotAllocated)), "{again:?}");
    assert_eq!(m.pa.free_pages(Pfn(2 * MB >> 12), 0), Err(FreeError::Reserved));
    assert_eq!(m.pa.free_pages(Pfn(0x10_0000), 0), Err(FreeError::NotRam));
    // A compound page must be freed whole, from its head.
    let c = m.pa.alloc_pages(GFP_KERNEL | Gfp::COMP, 2).unwrap();
    assert_eq!(m.pa.free_pages(c.add(1), 0), Err(FreeError::TailPage));
    assert_eq!(m.pa.free_pages(c, 1), Err(FreeError::WrongOrder));
    m.pa.free_pages(c, 2).unwrap();
    assert_eq!(m.pa.drained_free_pages(), free);
    assert!(m.pa.stats.bad_frees.load(Ordering::Relaxed) >= 4);
    m.pa.check_invariants();
}

#[test]
fn references_keep_a_page_until_the_last_put() {
    let m = machine(&[(0, 32 * MB)], &[], None);
    let free = m.pa.drained_free_pages();
    let p = m.pa.alloc_pages(GFP_KERNEL, 0).unwrap();
    m.pa.page(p).unwrap().get();
    m.pa.free_pages(p, 0).unwrap();
    assert_eq!(m.pa.drained_free_pages(), free - 1, "still referenced");
    m.pa.free_pages(p, 0).unwrap();
    assert_eq!(m.pa.drained_free_pages(), free);
}

#[test]
fn allocation_failure_warnings_are_rate_limited_like_warn_alloc() {
    use core::sync::atomic::{AtomicU64, Ordering};
    static NOW: AtomicU64 = AtomicU64::new(1_000_000_000);
    let m = machine(&[(0, 32 * MB)], &[], None);
    m.pa.set_clock(|| NOW.load(Ordering::Relaxed));
    let allowed = (0..25).filter(|_| m.pa.warn_allowed()).count();
    assert_eq!(allowed, 10, "a burst of ten, then silence");
    NOW.fetch_add(5_000_000_001, Ordering::Relaxed);
    assert!(m.pa.warn_allowed(), "the next interval opens");
    // An impossible order still fails, warned or not.
    assert_eq!(m.pa.alloc_pages(GFP_KERNEL, MAX_ORDER + 1), None);
}

#[test]
fn zeroed_allocation_is_zero() {
    let m = machine(&[(0, 32 * MB)], &[], None);
    let p = m.pa.alloc_pages(GFP_KERNEL, 1).unwrap();
    m.ram.fill(p.phys(), 2 * PAGE_SIZE, 0xaa);
    m.pa.free_pages(p, 1).unwrap();
    let q = m.pa.alloc_pages(GFP_KERNEL | Gfp::ZERO, 1).unwrap();
    for off in (0..2 * PAGE_SIZE).step_by(61) {
        assert_eq!(m.ram.read_u8(q.phys() + off), 0);
    }
}

#[test]
fn allocating_until_refused_stops_at_the_watermark_and_frees_back_exactly() {
    let m = machine(&[(0, 64 * MB)], &[], None);
    let start: Vec<u64> = m.pa.zones().map(Zone::free_pages).collect();
    let mut got = Vec::new();
    while let Some(p) = m.pa.alloc_pages(GFP_KERNEL | Gfp::NOWARN, 0) {
        got.push(p);
    }
    // Refused while the zones still hold their min reserves.
    for z in m.pa.zones().filter(|z| z.is_populated()) {
        assert!(
            z.free_pages() <= z.watermark(Watermark::Min) + z.lowmem_reserve(ZoneType::Normal) + 1,
            "{} left {}",
            z.name(),
            z.free_pages()
        );
    }
    // __GFP_HIGH may go below the min mark.
    let extra = m.pa.alloc_pages(Gfp::HIGH | Gfp::NOWARN, 0);
    assert!(extra.is_some());
    got.extend(extra);
    let distinct: BTreeSet<u64> = got.iter().map(|p| p.0).collect();
    assert_eq!(distinct.len(), got.len(), "a page was handed out twice");
    for p in got {
        m.pa.free_pages(p, 0).unwrap();
    }
    m.pa.drain_all_pages();
    let end: Vec<u64> = m.pa.zones().map(Zone::free_pages).collect();
    assert_eq!(start, end, "per-zone free counts return exactly");
    assert!(m.pa.stats.alloc_failures.load(Ordering::Relaxed) >= 1);
}

#[test]
fn unmovable_allocations_steal_and_claim_a_movable_pageblock() {
    let m = machine(&[(0, 32 * MB)], &[], None);
    let z = m.pa.zone(0, ZoneType::Dma32);
    let before = m.pa.pageblock_counts(z);
    assert_eq!(before[MigrateType::Unmovable as usize], 0, "all pageblocks start movable");
    let p = m.pa.alloc_pages(GFP_KERNEL, 0).unwrap();
    let after = m.pa.pageblock_counts(m.pa.zone(p.phys() as u32 * 0, ZoneType::of_phys(p.phys())));
    assert!(after[MigrateType::Unmovable as usize] >= 1, "a pageblock was claimed: {after:?}");
    // Movable allocations keep using movable blocks.
    let q = m.pa.alloc_pages(GFP_HIGHUSER_MOVABLE, 0).unwrap();
    assert_eq!(crate::phys::buddy::pageblock_mt(&m.pa.memmap, q.0), MigrateType::Movable);
    m.pa.free_pages(p, 0).unwrap();
    m.pa.free_pages(q, 0).unwrap();
    m.pa.check_invariants();
}

#[test]
fn numa_allocation_is_node_local_then_falls_back_by_distance() {
    // Three nodes of 16 MiB at 32..80M; distances 0-1: 20, 0-2: 30, 1-2: 20.
    let slit = [10, 20, 30, 20, 10, 20, 30, 20, 10];
    let topo = Topology::from_srat(
        &[(0, 0, 32 * MB), (1, 32 * MB, 16 * MB), (2, 48 * MB, 16 * MB)],
        &[(0, 0)],
        Some((3, &slit)),
    )
    .unwrap();
    let m = machine(&[(0, 64 * MB)], &[], Some(topo));
    assert_eq!(m.pa.nodes.len(), 3);
    assert_eq!(m.pa.nodes[0].zonelist[0], (0, ZoneType::Normal));
    let order_of_nodes: Vec<u32> = m.pa.nodes[0].zonelist.iter().map(|z| z.0).collect();
    assert_eq!(order_of_nodes, vec![0, 0, 0, 1, 1, 1, 2, 2, 2]);
    let p = m.pa.alloc_pages_node(2, GFP_KERNEL, 0).unwrap();
    assert_eq!(m.pa.page(p).unwrap().node(), 2);
    // Exhaust node 1 with __GFP_THISNODE, then a node-1 request spills to
    // node 0 or 2 (both at distance 20), never failing.
    let mut held = Vec::new();
    while let Some(q) = m.pa.alloc_pages_node(1, GFP_KERNEL | Gfp::THISNODE | Gfp::NOWARN, 0) {
        assert_eq!(m.pa.page(q).unwrap().node(), 1);
        held.push(q);
    }
    let spill = m.pa.alloc_pages_node(1, GFP_KERNEL, 0).unwrap();
    assert_ne!(m.pa.page(spill).unwrap().node(), 1);
    let miss: u64 = m.pa.zones().map(|z| z.counters.numa_miss.load(Ordering::Relaxed)).sum();
    assert!(miss >= 1);
    for q in held.into_iter().chain([p, spill]) {
        m.pa.free_pages(q, 0).unwrap();
    }
    m.pa.check_invariants();
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        /// Random alloc/free of random orders against a model set of
        /// allocated pfns: blocks never overlap, are aligned, and freeing
        /// everything restores exactly the starting free blocks.
        #[test]
        fn buddy_matches_a_model(ops in proptest::collection::vec((0u32..=MAX_ORDER, any::<bool>(), any::<u16>(), 0u8..3), 1..400)) {
            let m = machine(&[(0, 24 * MB)], &[(5 * MB, 5 * MB + 3 * PAGE_SIZE)], None);
            let before = buddyinfo(&m.pa);
            let mut live: Vec<(u64, u32)> = Vec::new();
            let mut owned: BTreeSet<u64> = BTreeSet::new();
            for (order, alloc, pick, kind) in ops {
                if alloc || live.is_empty() {
                    let gfp = [GFP_KERNEL, GFP_HIGHUSER_MOVABLE, GFP_DMA][kind as usize] | Gfp::NOWARN;
                    if let Some(p) = m.pa.alloc_pages(gfp, order) {
                        prop_assert_eq!(p.0 % (1 << order), 0);
                        for i in 0..(1u64 << order) {
                            prop_assert!(owned.insert(p.0 + i), "pfn {:#x} handed out twice", p.0 + i);
                            prop_assert!(!m.pa.page(Pfn(p.0 + i)).unwrap().has(PageFlags::RESERVED));
                        }
                        if gfp.contains(Gfp::DMA) { prop_assert!(p.phys() < 16 * MB); }
                        live.push((p.0, order));
                    }
                } else {
                    let (pfn, order) = live.swap_remove(pick as usize % live.len());
                    m.pa.free_pages(Pfn(pfn), order).unwrap();
                    for i in 0..(1u64 << order) { owned.remove(&(pfn + i)); }
                }
                let free = m.pa.check_invariants();
                prop_assert_eq!(free + m.pa.nr_pcp_pages() + owned.len() as u64, m.pa.nr_managed_pages());
            }
            for (pfn, order) in live { m.pa.free_pages(Pfn(pfn), order).unwrap(); }
            m.pa.drain_all_pages();
            prop_assert_eq!(buddyinfo(&m.pa), before);
        }
    }
}

#[test]
fn proc_views_have_linux_shape_and_agree_with_the_allocator() {
    use alloc::string::String;
    let m = machine(&[(0, 64 * MB)], &[], None);
    let mut b = String::new();
    crate::procfs::buddyinfo::render(&m.pa, &mut b).unwrap();
    let lines: Vec<&str> = b.lines().collect();
    assert_eq!(lines.len(), 2, "DMA and DMA32 are populated: {b}");
    assert!(lines[0].starts_with("Node 0, zone      DMA "), "{b}");
    // 11 order columns, and the counts add up to the free pages.
    let cols: Vec<u64> = lines[1].split_whitespace().skip(4).map(|c| c.parse().unwrap()).collect();
    assert_eq!(cols.len(), NR_ORDERS);
    let pages: u64 = cols.iter().enumerate().map(|(o, n)| n << o).sum();
    assert_eq!(pages, m.pa.zone(0, ZoneType::Dma32).free_pages());

    let mut z = String::new();
    crate::procfs::zoneinfo::render(&m.pa, None, &mut z).unwrap();
    assert!(z.starts_with("Node 0, zone      DMA\n  per-node stats\n      nr_inactive_anon 0\n"), "{z}");
    assert!(z.contains("\n      nr_mapped    0\n  pages free     "), "{z}");
    for key in [
        "        min      ",
        "        low      ",
        "        high     ",
        "        spanned  ",
        "        present  ",
        "        managed  ",
        "        protection: (",
        "      nr_free_pages ",
        "  start_pfn:           ",
    ] {
        assert!(z.contains(key), "missing {key:?}");
    }
    assert!(z.contains("Node 0, zone   Normal\n  pages free     0\n"), "empty zones are listed: {z}");

    let mut t = String::new();
    crate::procfs::pagetypeinfo::render(&m.pa, &mut t).unwrap();
    assert!(
        t.starts_with(
            "Page block order: 9\nPages per block:  512\n\nFree pages count per migrate type at order       0 "
        ),
        "{t}"
    );
    assert!(t.contains("Node    0, zone    DMA32, type      Movable "), "{t}");
    assert!(t.contains("Number of blocks type     Unmovable      Movable  Reclaimable \n"), "{t}");
}

#[test]
fn the_flat_run_and_the_section_table_give_the_same_descriptors() {
    // The first run of sections on one node is one array looked up by
    // index; every pfn it covers must find the descriptor the section
    // table has. Two nodes: the flat run ends where node 1 begins.
    let topo = Topology::from_srat(&[(0, 0, 256 * MB), (1, 256 * MB, 256 * MB)], &[(0, 0)], None).unwrap();
    for (m, flat) in
        [(machine(&[(0, 512 * MB)], &[], None), 512 * MB), (machine(&[(0, 512 * MB)], &[], Some(topo)), 256 * MB)]
    {
        let mm = &m.pa.memmap;
        assert_eq!(mm.flat_pages() * PAGE_SIZE, flat);
        for pfn in (0..mm.max_pfn()).step_by(97).chain([0, mm.flat_pages() - 1, mm.flat_pages(), mm.max_pfn() - 1]) {
            let by_index = mm.page(Pfn(pfn)).map(|p| p as *const Page);
            let by_table = mm.page_in_section(Pfn(pfn)).map(|p| p as *const Page);
            assert_eq!(by_index, by_table, "pfn {pfn:#x}");
            assert_eq!(mm.page(Pfn(pfn)).map(|p| p.pfn().0), (pfn < mm.max_pfn()).then_some(pfn));
        }
        // A compound block's tails find their head by arithmetic.
        let head = m.pa.alloc_pages(GFP_KERNEL | Gfp::COMP, 4).unwrap();
        for i in 0..16 {
            let tail = mm.page(Pfn(head.0 + i)).unwrap();
            assert_eq!(mm.compound_head(tail).pfn(), head);
        }
        m.pa.free_pages(head, 4).unwrap();
    }
}
