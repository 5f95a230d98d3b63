//! Frame map host tests: simulated machines with a real page allocator,
//! classified frame by frame and checked against the allocator's own
//! counts (free pages, /proc/buddyinfo, vmstat).

use super::*;
use crate::addr::PAGE_SIZE;
use crate::kalloc::kmalloc::Kmalloc;
use crate::kalloc::slab::{CacheRegistry, SlabFlags};
use crate::phys::gfp::{GFP_KERNEL, Gfp};
use crate::phys::memblock::Memblock;
use crate::phys::numa::Topology;
use crate::procfs::mempic::render_map;
use crate::testing::SimRam;
use alloc::boxed::Box;
use alloc::string::String;

const MB: u64 = 1 << 20;

/// A leaked one-node machine: RAM ranges and named reservations.
fn machine(ram_ranges: &[(u64, u64)], reserved: &[(u64, u64)]) -> &'static PageAllocator {
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
    let topo = Topology::single_node(end);
    topo.apply(&mut mb).unwrap();
    let pa: &'static PageAllocator = Box::leak(Box::new(PageAllocator::new(&mut mb, topo, ram.window).unwrap()));
    pa.free_boot_memory(&mb);
    pa.setup_watermarks(None);
    pa
}

fn buddyinfo(pa: &PageAllocator) -> Vec<[u64; NR_ORDERS]> {
    zones_by_address(pa)
        .into_iter()
        .map(|z| {
            let a = z.free.lock();
            core::array::from_fn(|o| a.nr_free(o))
        })
        .collect()
}

fn histograms(m: &FrameMap) -> Vec<[u64; NR_ORDERS]> {
    m.zones.iter().map(|z| z.free_blocks).collect()
}

/// The map agrees with the allocator: free pages, buddyinfo, and every
/// frame of every zone span counted once.
fn check_against_allocator(pa: &PageAllocator, m: &FrameMap) {
    let t = m.totals();
    assert_eq!(t.free(), pa.nr_free_pages(), "free pages in the map = nr_free_pages");
    assert_eq!(histograms(m), buddyinfo(pa), "free-order histogram = /proc/buddyinfo");
    assert_eq!(t.total(), spanned_pages(pa), "every spanned frame classified once");
    for z in &m.zones {
        let free_from_blocks: u64 = z.free_blocks.iter().enumerate().map(|(o, n)| n << o).sum();
        assert_eq!(z.counts.free(), free_from_blocks, "free pages = sum of block sizes in {:?}", z.ty);
    }
    let cells: u64 = m.rows.iter().map(|r| r.cells.len() as u64).sum();
    assert_eq!(cells, m.zones.iter().map(|z| (z.end_pfn - z.start_pfn).div_ceil(m.layout.pages_per_cell)).sum::<u64>());
}

#[test]
fn fresh_machine_is_reserved_memmap_and_high_order_free() {
    //   RAM: [0 ............................................. 64M)
    //        [pg0: R] [1M..2M: R]   free ...   memmap (M) at the top
    let pa = machine(&[(0, 64 * MB)], &[(MB, 2 * MB)]);
    let m = FrameMap::build(pa, Layout { pages_per_cell: 1, cells_per_row: 64 });
    check_against_allocator(pa, &m);
    let t = m.totals();
    assert_eq!(classify_pfn(&pa.memmap, 0), FrameClass::Reserved);
    assert_eq!(classify_pfn(&pa.memmap, MB >> 12), FrameClass::Reserved);
    assert!(t.get(FrameClass::Reserved) >= 1 + 256);
    assert!(t.get(FrameClass::Memmap) >= (64 * MB >> 12) * 64 / PAGE_SIZE, "the descriptors' own frames are memmap");
    assert_eq!(t.get(FrameClass::Kernel), 0);
    // Most free memory sits in order-10 blocks; a frame in the middle of
    // one reads as order 10 although only the head has PG_buddy.
    assert!(t.get(FrameClass::Free(10)) > t.free() / 2);
    let mid = (32 * MB >> 12) + 517;
    assert_eq!(classify_pfn(&pa.memmap, mid), FrameClass::Free(10));
    assert!(pa.page(Pfn(mid)).unwrap().flags().is_empty());
}

#[test]
fn scattered_order0_pages_fragment_and_coalesce_back() {
    let pa = machine(&[(0, 32 * MB)], &[]);
    let layout = Layout { pages_per_cell: 1, cells_per_row: 64 };
    let before = FrameMap::build(pa, layout);
    check_against_allocator(pa, &before);
    // Take 2048 single pages, give back every other one: the kept half
    // is scattered, each hole an order-0 free block.
    let pages: Vec<Pfn> = (0..2048).map(|_| pa.alloc_pages(GFP_KERNEL, 0).unwrap()).collect();
    let (keep, give): (Vec<(usize, &Pfn)>, Vec<(usize, &Pfn)>) =
        pages.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    for (_, p) in &give {
        pa.free_pages(**p, 0).unwrap();
    }
    // Pages on the per-CPU lists are neither free nor kept: give them back.
    pa.drain_all_pages();
    let frag = FrameMap::build(pa, layout);
    check_against_allocator(pa, &frag);
    assert_eq!(frag.totals().get(FrameClass::Kernel), 1024, "every kept page is an other-kernel frame");
    assert!(frag.totals().get(FrameClass::Free(0)) >= 1024, "the given-back halves are order-0 holes");
    for (_, p) in &keep {
        assert_eq!(classify_pfn(&pa.memmap, p.0), FrameClass::Kernel);
    }
    let mut text = String::new();
    render_map(&frag, &mut text).unwrap();
    assert!(text.contains("k0k0k0k0k0k0k0k0"), "fragmentation is visible:\n{text}");
    if std::env::var_os("SHOW_MAP").is_some() {
        std::eprintln!("{text}");
    }
    for (_, p) in &keep {
        pa.free_pages(**p, 0).unwrap();
    }
    pa.drain_all_pages();
    let after = FrameMap::build(pa, layout);
    check_against_allocator(pa, &after);
    assert_eq!(histograms(&after), histograms(&before), "every block merged back");
    assert_eq!(after.totals(), before.totals());
}

#[test]
fn owners_are_read_from_page_flags_and_match_vmstat() {
    let pa = machine(&[(0, 32 * MB)], &[]);
    let registry: &'static CacheRegistry = Box::leak(Box::new(CacheRegistry::new()));
    let k: &'static Kmalloc = Box::leak(Box::new(Kmalloc::new(pa, registry, SlabFlags::empty()).unwrap()));
    let small: Vec<_> = (0..500).map(|_| k.alloc(200, 8, false).unwrap()).collect();
    let large = k.alloc(40_000, 8, false).unwrap();
    let owned = |flag: PageFlags| {
        let p = pa.alloc_pages(GFP_KERNEL, 0).unwrap();
        pa.page(p).unwrap().insert_flags(flag);
        p
    };
    let table = owned(PageFlags::PAGETABLE);
    let anon = owned(PageFlags::ANON | PageFlags::SWAPBACKED);
    let file = owned(PageFlags::FILE);
    let shmem = owned(PageFlags::SHMEM | PageFlags::SWAPBACKED);
    let stack = owned(PageFlags::KSTACK);
    let vm = owned(PageFlags::VMALLOC);
    let compound = pa.alloc_pages(GFP_KERNEL | Gfp::COMP, 2).unwrap();
    let m = FrameMap::build(pa, Layout { pages_per_cell: 1, cells_per_row: 64 });
    check_against_allocator(pa, &m);
    let t = m.totals();
    let v = &pa.vmstat;
    assert_eq!(
        t.get(FrameClass::Slab),
        v.slab_reclaimable.get() + v.slab_unreclaimable.get(),
        "slab pages and large kmalloc = vmstat"
    );
    let large_pa = pa.phys().phys_of(large.as_ptr()).unwrap().as_u64();
    assert_eq!(classify_pfn(&pa.memmap, (large_pa >> 12) + 5), FrameClass::Slab, "large kmalloc tail pages are slab");
    for (pfn, class) in [
        (table, FrameClass::PageTable),
        (anon, FrameClass::Anon),
        (file, FrameClass::File),
        (shmem, FrameClass::Shmem),
        (stack, FrameClass::KernelStack),
        (vm, FrameClass::Vmalloc),
    ] {
        assert_eq!(classify_pfn(&pa.memmap, pfn.0), class);
        assert_eq!(t.get(class), 1, "{class:?}");
    }
    for i in 0..4 {
        assert_eq!(
            classify_pfn(&pa.memmap, compound.0 + i),
            FrameClass::Kernel,
            "compound tails take the head's class"
        );
    }
    drop(small);
}

#[test]
fn holes_zones_and_grouped_cells_render_as_labelled_rows() {
    //   RAM: [0..640K)  hole  [1M ........................ 40M)
    //   DMA [0..16M)          DMA32 [16M..40M)
    let pa = machine(&[(0, 640 * 1024), (MB, 40 * MB)], &[]);
    let m = FrameMap::build(pa, Layout { pages_per_cell: 4, cells_per_row: 64 });
    check_against_allocator(pa, &m);
    assert_eq!(classify_pfn(&pa.memmap, 0xa0), FrameClass::Hole);
    assert_eq!(m.totals().get(FrameClass::Hole), (MB - 640 * 1024) >> 12);
    let mut text = String::new();
    render_map(&m, &mut text).unwrap();
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("0x")).collect();
    // 16 MiB of DMA at 1 MiB per row, then 24 rows of DMA32.
    assert_eq!(rows[0].split_whitespace().collect::<Vec<_>>()[..3], ["0x0000000000", "DMA", "n0"]);
    assert!(rows[0].ends_with(&"-".repeat(24)) || rows[0].contains(&"-".repeat(24)), "{}", rows[0]);
    assert!(rows.iter().any(|r| r.starts_with("0x0001000000 DMA32  n0 ")), "{text}");
    assert_eq!(rows.len(), 16 + 24);
    assert!(rows.iter().all(|r| r.len() == "0x0000000000 DMA32  n0 ".len() + 64), "{text}");
    assert!(text.contains("Node 0, zone    DMA: free "), "{text}");
    assert!(text.contains("16 KiB per cell"), "{text}");
    // A cell of several frames shows the class owning most of them.
    let mut counts = ClassCounts::default();
    assert_eq!(classify_cell(&pa.memmap, 0x9f, 4, &mut counts), FrameClass::Hole);
    assert_eq!(counts.total(), 4);
}

#[test]
fn layout_fits_large_machines_into_the_cell_budget() {
    assert_eq!(Layout::fit(32768, 8192, 64).pages_per_cell, 4);
    assert_eq!(Layout::fit(8192, 8192, 64).pages_per_cell, 1);
    let five_g = (5u64 << 30) >> 12;
    let l = Layout::fit(five_g, 8192, 64);
    assert!(five_g.div_ceil(l.pages_per_cell) <= 8192 && five_g.div_ceil(l.pages_per_cell / 2) > 8192);
    for i in 0..NR_CLASSES {
        assert_eq!(FrameClass::from_index(i).index(), i);
    }
    assert_eq!(FrameClass::Free(10).ch(), 'a');
}

#[test]
fn render_text_uses_the_default_layout() {
    let pa = machine(&[(0, 64 * MB)], &[]);
    let mut text = String::new();
    crate::procfs::mempic::render(pa, &mut text).unwrap();
    assert!(
        text.starts_with("Physical memory map: 16384 frames (64 MiB spanned), 8 KiB per cell, 64 cells per row"),
        "{text}"
    );
    assert!(text.contains("Legend: 0-9,a free block"));
}
