//! Physical memory management on the real machine: memblock's named
//! reservations, the memory map, zones and watermarks, the buddy
//! allocators with GFP zone modifiers, NUMA placement and fallback, and
//! exhaustion: allocate until refused, free everything, and every zone's
//! free count returns exactly to where it was.
//!
//! The matrix runs this kernel at 128 MiB, at 5 GiB (ZONE_NORMAL above
//! 4 GiB) and with three NUMA nodes; `test.*` command-line options tell it
//! what to expect.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use bootloader_api::{BootInfo, entry_point};
use kernel::ktest;
use kernel::mem::page_alloc;
use mm::addr::{PAGE_SIZE, Pfn, PhysAddr};
use mm::phys::PhysMem;
use mm::phys::gfp::{GFP_DMA, GFP_DMA32, GFP_HIGHUSER_MOVABLE, GFP_KERNEL, Gfp};
use mm::phys::page::{Page, PageFlags};
use mm::phys::page_alloc::FreeError;
use mm::phys::zone::ZoneType;

entry_point!(main, config = &kernel::BOOT_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel::init(boot_info);
    ktest::run(
        "pmm",
        &[
            ktest!(memblock_names_every_boot_reservation),
            ktest!(page_descriptors_are_64_bytes_and_cover_ram),
            ktest!(zones_match_the_firmware_map),
            ktest!(expected_zones_are_populated),
            ktest!(gfp_zone_modifiers_pick_the_zone),
            ktest!(kernel_allocations_prefer_the_highest_zone),
            ktest!(double_free_is_detected_not_corrupting),
            ktest!(exhaustion_then_free_returns_every_zone_to_its_start),
            ktest!(numa_topology_matches_the_machine),
            ktest!(numa_allocation_is_local_and_falls_back_by_distance),
            ktest!(proc_views_agree_with_the_allocator),
        ],
    )
}

const NIL: u64 = u64::MAX;

fn test_opt(key: &str) -> Option<&'static str> {
    kernel::cmdline::value(key)
}

/// Allocate blocks until refused, chaining them through the `index` field
/// of their head page descriptor, which belongs to the page's owner (no
/// heap needed for a million pages, and the pages themselves stay
/// untouched: under TCG the host's first touch of guest RAM is slow).
/// Returns (chain head, blocks).
fn exhaust(nid: Option<u32>, gfp: Gfp, order: u32) -> (u64, u64) {
    let pa = page_alloc();
    let mut head = NIL;
    let mut n = 0;
    loop {
        let got = match nid {
            Some(nid) => pa.alloc_pages_node(nid, gfp | Gfp::NOWARN, order),
            None => pa.alloc_pages(gfp | Gfp::NOWARN, order),
        };
        let Some(p) = got else { break };
        pa.page(p).expect("allocated page without descriptor").index.store(head, Ordering::Relaxed);
        head = p.0;
        n += 1;
    }
    (head, n)
}

fn release(mut head: u64, order: u32) -> u64 {
    let pa = page_alloc();
    let mut n = 0;
    while head != NIL {
        let next = pa.page(Pfn(head)).expect("chain page without descriptor").index.load(Ordering::Relaxed);
        pa.free_pages(Pfn(head), order).expect("freeing an exhausted page");
        head = next;
        n += 1;
    }
    n
}

/// Free pages per zone, measured after empty slabs and clean caches went
/// back to the buddy allocator (direct reclaim under exhaustion gives them
/// back too, so a baseline taken with them held would move).
fn per_zone_free() -> [u64; 16] {
    kernel::mem::drop_caches();
    // A fixed array: taking a Vec here could itself take a page.
    let mut v = [0; 16];
    for (slot, z) in v.iter_mut().zip(page_alloc().zones()) {
        *slot = z.free_pages();
    }
    v
}

fn memblock_names_every_boot_reservation() {
    let mb = kernel::mem::memblock();
    let names: Vec<&str> = mb.reserved.regions().iter().map(|r| r.name).collect();
    for want in [
        "first page (real-mode IVT, BDA)",
        "low memory (X86_RESERVE_LOW)",
        "kernel image",
        "boot stack",
        "memmap",
        "ramdisk (initrd)",
        "framebuffer",
        "ACPI tables",
    ] {
        assert!(names.contains(&want), "no reservation named {want:?}; have {names:?}");
    }
    // The bootloader's own memory was reserved at boot and given back once
    // the kernel ran on its own page tables.
    for gone in ["bootloader page tables", "boot info", "bootloader (other)"] {
        assert!(!names.contains(&gone), "{gone:?} still reserved after the switch");
    }
    assert!(mb.is_frozen(), "memblock still allocates after the hand-off");
    mb.check_invariants();
    // Everything reserved that is RAM is not free in the buddy allocator.
    let pa = page_alloc();
    for r in mb.reserved.regions().iter().filter(|r| r.name == "kernel image" || r.name == "memmap") {
        let p = pa.page(Pfn::from_phys(r.base)).expect("reserved RAM without descriptor");
        assert!(p.has(PageFlags::RESERVED), "{} page not reserved", r.name);
    }
}

fn page_descriptors_are_64_bytes_and_cover_ram() {
    assert_eq!(core::mem::size_of::<Page>(), 64);
    let mb = kernel::mem::memblock();
    let pa = page_alloc();
    for r in mb.memory.regions() {
        for pa_addr in [r.base.next_multiple_of(PAGE_SIZE), (r.end() - 1) & !(PAGE_SIZE - 1)] {
            let p = pa.page(Pfn::from_phys(pa_addr)).expect("RAM page without a descriptor");
            assert!(!p.has(PageFlags::HOLE));
            assert_eq!(p.pfn(), Pfn::from_phys(pa_addr));
            assert_eq!(p.node(), r.nid);
        }
    }
    let expected = pa.memmap.populated_sections * mm::phys::page::PAGES_PER_SECTION * 64;
    assert_eq!(pa.memmap.memmap_bytes, expected);
}

fn zones_match_the_firmware_map() {
    let pa = page_alloc();
    let e820 = kernel::init::e820();
    // Present pages are exactly the whole pages of firmware RAM.
    let ram_pages: u64 = e820
        .entries()
        .iter()
        .filter(|e| e.kind.is_ram())
        .map(|e| (e.end / PAGE_SIZE).saturating_sub(e.start.div_ceil(PAGE_SIZE)))
        .sum();
    assert_eq!(pa.nr_present_pages(), ram_pages);
    for z in pa.zones() {
        assert!(z.present <= z.spanned);
        assert!(z.managed() <= z.present);
        let (lo, hi) = z.ty.bounds();
        if z.spanned > 0 {
            assert!(
                z.start_pfn * PAGE_SIZE >= lo && z.end_pfn() * PAGE_SIZE <= hi,
                "zone {} outside its range",
                z.name()
            );
        }
        if z.is_populated() {
            use mm::phys::zone::Watermark::*;
            assert!(
                z.watermark(Min) > 0 && z.watermark(Min) < z.watermark(Low) && z.watermark(Low) < z.watermark(High)
            );
        }
    }
    assert_eq!(pa.check_invariants(), pa.nr_free_pages());
}

fn expected_zones_are_populated() {
    let want = test_opt("test.zones").unwrap_or("DMA,DMA32");
    let pa = page_alloc();
    for ty in ZoneType::ALL {
        let populated = pa.zones().any(|z| z.ty == ty && z.is_populated());
        assert_eq!(populated, want.split(',').any(|w| w == ty.name()), "zone {} populated: {}", ty.name(), populated);
    }
}

fn gfp_zone_modifiers_pick_the_zone() {
    let pa = page_alloc();
    let a = pa.alloc_pages(GFP_DMA, 0).expect("no DMA page");
    assert!(a.phys() < 16 << 20);
    let b = pa.alloc_pages(GFP_DMA32, 3).expect("no DMA32 block");
    assert!(b.phys() < 4 << 30);
    assert_eq!(b.0 % 8, 0);
    let c = pa.alloc_pages(GFP_KERNEL | Gfp::ZERO, 0).unwrap();
    let ptr = kernel::mem::direct_map().ptr(PhysAddr::new(c.phys()), 4096).unwrap();
    // SAFETY: just allocated.
    let page = unsafe { core::slice::from_raw_parts(ptr, 4096) };
    assert!(page.iter().all(|&x| x == 0), "__GFP_ZERO page is not zero");
    for (p, o) in [(a, 0), (b, 3), (c, 0)] {
        pa.free_pages(p, o).unwrap();
    }
}

fn kernel_allocations_prefer_the_highest_zone() {
    let pa = page_alloc();
    let p = pa.alloc_pages(GFP_HIGHUSER_MOVABLE, 0).unwrap();
    let highest = ZoneType::ALL.into_iter().rev().find(|&t| pa.zones().any(|z| z.ty == t && z.is_populated())).unwrap();
    assert_eq!(pa.page(p).unwrap().zone_type(), highest);
    pa.free_pages(p, 0).unwrap();
}

fn double_free_is_detected_not_corrupting() {
    let pa = page_alloc();
    let before = pa.drained_free_pages();
    let p = pa.alloc_pages(GFP_KERNEL, 2).unwrap();
    pa.free_pages(p, 2).unwrap();
    let again = pa.free_pages(p, 2);
    assert!(matches!(again, Err(FreeError::DoubleFree) | Err(FreeError::NotAllocated)), "{again:?}");
    assert_eq!(pa.drained_free_pages(), before);
    assert_eq!(pa.check_invariants(), before);
}

fn exhaustion_then_free_returns_every_zone_to_its_start() {
    let pa = page_alloc();
    let start = per_zone_free();
    // Big blocks first, then whatever single pages are left.
    let (big, nbig) = exhaust(None, GFP_KERNEL, 9);
    let (small, nsmall) = exhaust(None, GFP_KERNEL, 0);
    let (reserve, nres) = exhaust(None, Gfp::HIGH, 0);
    log::info!("pmm: exhausted memory with {} order-9 blocks, {} pages, {} pages from reserves", nbig, nsmall, nres);
    assert!(nbig > 0 && nres > 0);
    let left = pa.nr_free_pages();
    let managed = pa.nr_managed_pages();
    assert!(left < managed / 50, "refused with {left} of {managed} pages still free");
    assert_eq!(release(reserve, 0), nres);
    assert_eq!(release(small, 0), nsmall);
    assert_eq!(release(big, 9), nbig);
    let end = per_zone_free();
    assert_eq!(end, start, "free pages per zone did not return to the baseline");
    pa.check_invariants();
}

fn numa_topology_matches_the_machine() {
    let pa = page_alloc();
    let nodes: u32 = test_opt("test.nodes").and_then(|v| v.parse().ok()).unwrap_or(1);
    assert_eq!(pa.topology.nr_nodes, nodes);
    assert_eq!(pa.nodes.len() as u32, nodes);
    if let Some(d) = test_opt("test.dist") {
        let want: Vec<u8> = d.split(',').map(|x| x.parse().unwrap()).collect();
        let mut k = 0;
        for i in 0..nodes {
            assert_eq!(pa.topology.distance(i, i), 10);
            for j in i + 1..nodes {
                assert_eq!(pa.topology.distance(i, j), want[k], "distance {i}-{j}");
                assert_eq!(pa.topology.distance(j, i), want[k]);
                k += 1;
            }
        }
    }
    for n in &pa.nodes {
        assert!(n.present > 0, "node {} has no memory", n.id);
    }
}

fn numa_allocation_is_local_and_falls_back_by_distance() {
    let pa = page_alloc();
    let nodes = pa.nodes.len() as u32;
    for nid in 0..nodes {
        let p = pa.alloc_pages_node(nid, GFP_KERNEL | Gfp::THISNODE, 0).expect("node-local page");
        assert_eq!(pa.page(p).unwrap().node(), nid, "THISNODE allocation left node {nid}");
        pa.free_pages(p, 0).unwrap();
        let q = pa.alloc_pages_node(nid, GFP_KERNEL, 0).unwrap();
        assert_eq!(pa.page(q).unwrap().node(), nid, "preferred node {nid} not used while it has memory");
        pa.free_pages(q, 0).unwrap();
    }
    if nodes < 2 {
        return;
    }
    // Exhaust node 0, then a node-0 request must land on the nearest
    // other node (by SLIT distance, lowest id on ties).
    let start = per_zone_free();
    let (chain, _) = exhaust(Some(0), GFP_KERNEL | Gfp::THISNODE, 0);
    let nearest = (1..nodes).min_by_key(|&n| (pa.topology.distance(0, n), n)).unwrap();
    let spill = pa.alloc_pages_node(0, GFP_KERNEL, 0).expect("fallback to another node");
    assert_eq!(pa.page(spill).unwrap().node(), nearest, "fallback ignored the distance table");
    pa.free_pages(spill, 0).unwrap();
    release(chain, 0);
    assert_eq!(per_zone_free(), start);
}

fn proc_views_agree_with_the_allocator() {
    let pa = page_alloc();
    // Room reserved up front: growing the string while rendering would take
    // pages from the allocator between the render and the count.
    let mut s = String::with_capacity(8192);
    mm::procfs::buddyinfo::render(pa, &mut s).unwrap();
    // Counted now: parsing below allocates.
    let free_now = pa.nr_free_pages();
    let mut total = 0;
    for line in s.lines() {
        let cols: Vec<u64> = line.split_whitespace().skip(4).map(|c| c.parse().unwrap()).collect();
        assert_eq!(cols.len(), 11, "{line}");
        total += cols.iter().enumerate().map(|(o, n)| n << o).sum::<u64>();
    }
    assert_eq!(total, free_now);
    let mut z = String::new();
    mm::procfs::zoneinfo::render(pa, None, &mut z).unwrap();
    assert_eq!(z.matches("        protection: (").count(), pa.zones().count());
    let mut t = String::new();
    mm::procfs::pagetypeinfo::render(pa, &mut t).unwrap();
    assert!(t.contains("Number of blocks type"));
}
