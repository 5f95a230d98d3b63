//! The picture of physical memory on the real machine: the frame map's
//! classes agree with the page allocator and vmstat, order-0 pages taken
//! all over memory show up as fragments and coalesce back into the same
//! high-order blocks when freed (the map's free-order histogram equals
//! /proc/buddyinfo at every step), and the framebuffer picture sweeps and
//! toggles through /proc/mempic.
//!
//! The fragmented map is printed on serial, so the log of this test shows
//! fragmentation happening and coalescing undoing it.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use bootloader_api::{BootInfo, entry_point};
use kernel::ktest;
use kernel::mem::page_alloc;
use mm::addr::Pfn;
use mm::frame_map::{FrameClass, FrameMap, Layout};
use mm::phys::buddy::NR_ORDERS;
use mm::phys::gfp::GFP_KERNEL;
use mm::phys::page_alloc::PageAllocator;

entry_point!(main, config = &kernel::BOOT_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel::init(boot_info);
    ktest::run(
        "mempic",
        &[
            ktest!(map_classes_agree_with_allocator_and_vmstat),
            ktest!(scattered_pages_fragment_then_coalesce_back),
            ktest!(proc_mempic_reads_the_map_and_toggles_the_picture),
            ktest!(picture_sweeps_all_memory_from_the_tick),
        ],
    )
}

/// /proc/buddyinfo's numbers, zone by zone in physical order. Call with
/// the map already built and the vector's room reserved: nothing may
/// allocate between the map and this reading.
fn buddyinfo_into(pa: &PageAllocator, out: &mut Vec<[u64; NR_ORDERS]>) {
    out.clear();
    for z in pa.zones().filter(|z| z.present > 0) {
        let a = z.free.lock();
        out.push(core::array::from_fn(|o| a.nr_free(o)));
    }
}

/// Build the map and read /proc/buddyinfo right after it, with nothing
/// allocated in between; returns both.
/// What the allocator said right after the map was built, before anything
/// else allocates: a later allocation may take a page from a CPU's page
/// list (which the map shows as the kernel's) for a new slab, or refill
/// that list from the free lists.
struct Snapshot {
    free: u64,
    slab: u64,
}

fn map_and_buddyinfo_with(layout: Layout) -> ((FrameMap, Vec<[u64; NR_ORDERS]>), Snapshot) {
    let pa = page_alloc();
    let mut info = Vec::with_capacity(16);
    // Zones in the map are in physical order; pa.zones() is node by node.
    let starts: Vec<u64> = pa.zones().filter(|z| z.present > 0).map(|z| z.start_pfn).collect();
    let m = FrameMap::build(pa, layout);
    buddyinfo_into(pa, &mut info);
    let v = &pa.vmstat;
    let snap = Snapshot { free: pa.nr_free_pages(), slab: v.slab_reclaimable.get() + v.slab_unreclaimable.get() };
    let mut keyed: Vec<(u64, [u64; NR_ORDERS])> = starts.into_iter().zip(info).collect();
    keyed.sort_by_key(|k| k.0);
    ((m, keyed.into_iter().map(|k| k.1).collect()), snap)
}

/// One frame per cell, so each fragment shows.
const FRAME_PER_CELL: Layout = Layout { pages_per_cell: 1, cells_per_row: 64 };

fn histograms(m: &FrameMap) -> Vec<[u64; NR_ORDERS]> {
    m.zones.iter().map(|z| z.free_blocks).collect()
}

fn map_classes_agree_with_allocator_and_vmstat() {
    // Interrupts off from the walk to the last comparison: a timer tick
    // in between (the picture's redraw, a wake-up) may allocate, and under
    // a loaded host the walk spans several ticks.
    x86_64::instructions::interrupts::without_interrupts(classes_agree);
}

fn classes_agree() {
    let pa = page_alloc();
    let ((m, info), snap) = map_and_buddyinfo_with(Layout::text_default(pa));
    let t = m.totals();
    let v = &pa.vmstat;
    assert_eq!(t.free(), snap.free, "free pages");
    assert_eq!(histograms(&m), info, "free-order histogram = /proc/buddyinfo");
    assert_eq!(t.get(FrameClass::Slab), snap.slab, "slab");
    assert_eq!(t.get(FrameClass::PageTable), v.page_table_pages.get(), "page tables");
    assert_eq!(
        t.get(FrameClass::KernelStack) + t.get(FrameClass::Vmalloc),
        v.vmalloc_pages.get(),
        "vmalloc incl. stacks"
    );
    assert_eq!(t.get(FrameClass::KernelStack) * 4, v.kernel_stack_kb.get(), "kernel stacks");
    assert_eq!(
        t.get(FrameClass::Anon)
            + t.get(FrameClass::AnonActive)
            + t.get(FrameClass::Unevictable)
            + t.get(FrameClass::SwapCache)
            + t.get(FrameClass::Writeback),
        v.anon_pages.get(),
        "anon incl. swap cache"
    );
    assert_eq!(t.get(FrameClass::Shmem), v.shmem_pages.get(), "shmem");
    assert_eq!(
        t.get(FrameClass::File) + t.get(FrameClass::FileActive) + t.get(FrameClass::Shmem),
        v.file_pages.get(),
        "page cache incl. shmem"
    );
    let image: u64 = kernel::mem::memblock()
        .reserved
        .regions()
        .iter()
        .filter(|r| r.name == "kernel image")
        .map(|r| r.size / 4096)
        .sum();
    assert_eq!(t.get(FrameClass::KernelImage), image, "kernel image frames");
    assert!(t.get(FrameClass::Memmap) >= pa.memmap.memmap_bytes / 4096, "memmap");
    let managed = pa.nr_managed_pages();
    let owned: u64 = [
        FrameClass::Slab,
        FrameClass::PageTable,
        FrameClass::Anon,
        FrameClass::File,
        FrameClass::Shmem,
        FrameClass::KernelStack,
        FrameClass::Vmalloc,
        FrameClass::Kernel,
    ]
    .iter()
    .map(|&c| t.get(c))
    .sum();
    assert_eq!(t.free() + owned, managed, "every managed page is free or has an owner");
}

fn scattered_pages_fragment_then_coalesce_back() {
    let pa = page_alloc();
    let mut pages: Vec<Pfn> = Vec::with_capacity(4096);
    let mut kept: Vec<Pfn> = Vec::with_capacity(4096);
    // Warm up: the map's and the text's allocations come from slabs that
    // exist from now on.
    let mut text = String::new();
    mm::procfs::mempic::render_map(&map_and_buddyinfo_with(FRAME_PER_CELL).0.0, &mut text).expect("render");
    drop(text);
    // Freed pages wait on the per-CPU lists before they reach the buddy
    // lists the picture shows: drain them before each look.
    pa.drain_all_pages();
    let (before, info) = map_and_buddyinfo_with(FRAME_PER_CELL).0;
    let slab_pages = || pa.vmstat.slab_reclaimable.get() + pa.vmstat.slab_unreclaimable.get();
    let slab_at_start = slab_pages();
    let kernel_before = before.totals().get(FrameClass::Kernel);
    let hist_before = histograms(&before);
    assert_eq!(hist_before, info);
    // Each map holds a few slab pages while it lives: keep one at a time.
    drop((before, info));
    for _ in 0..4096 {
        pages.push(pa.alloc_pages(GFP_KERNEL, 0).expect("order-0 page"));
    }
    // Of every pair of buddies we hold (pfn 2k and 2k+1), give back the
    // odd one: the even one stays, so the hole can never merge.
    pages.sort_unstable_by_key(|p| p.0);
    let mut holes = 0u64;
    let mut i = 0;
    while i < pages.len() {
        let p = pages[i];
        kept.push(p);
        if p.0 % 2 == 0 && pages.get(i + 1).is_some_and(|q| q.0 == p.0 + 1) {
            pa.free_pages(pages[i + 1], 0).expect("free");
            holes += 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    assert!(holes >= 1024, "most pages came in buddy pairs ({holes})");
    pa.drain_all_pages();
    let slab_before = slab_pages();
    let (frag, info) = map_and_buddyinfo_with(FRAME_PER_CELL).0;
    // Counted before anything else allocates (and refills a per-CPU list).
    let free_now = pa.nr_free_pages();
    // The map's own row vectors may have taken a few holes for new slabs.
    let taken = slab_pages().saturating_sub(slab_before);
    assert_eq!(histograms(&frag), info, "fragmented: histogram = /proc/buddyinfo");
    assert_eq!(frag.totals().free(), free_now);
    assert_eq!(
        frag.totals().get(FrameClass::Kernel),
        kernel_before + kept.len() as u64,
        "the kept pages are other-kernel frames"
    );
    let order0 = frag.totals().get(FrameClass::Free(0));
    assert!(
        order0 + taken >= holes,
        "an order-0 hole beside each kept page: {order0} order-0 free pages, {holes} holes, {taken} slab pages for the map"
    );
    let mut text = String::new();
    mm::procfs::mempic::render_map(&frag, &mut text).expect("render");
    assert!(text.contains("k0k0k0k0"), "fragments visible in the text map");
    arch::kprintln!("mempic: fragmented ({} pages kept, {} order-0 holes between them):", kept.len(), holes);
    for line in text.lines().filter(|l| !l.starts_with("0x") || l.contains("k0")).take(24) {
        arch::kprintln!("{}", line);
    }
    drop((text, frag));
    for p in kept.drain(..) {
        pa.free_pages(p, 0).expect("free");
    }
    pa.drain_all_pages();
    let (after, info) = map_and_buddyinfo_with(FRAME_PER_CELL).0;
    assert_eq!(histograms(&after), info, "coalesced: histogram = /proc/buddyinfo");
    // A slab page the looks took from a hole (and still use: their caches
    // grew) keeps its block split; every other block merged back.
    let slab_gained = slab_pages().saturating_sub(slab_at_start);
    if slab_gained == 0 {
        assert_eq!(histograms(&after), hist_before, "every split block merged back");
    } else {
        let free_of =
            |h: &[[u64; NR_ORDERS]]| -> u64 { h.iter().flat_map(|z| z.iter().enumerate().map(|(o, n)| n << o)).sum() };
        assert_eq!(
            free_of(&histograms(&after)) + slab_gained,
            free_of(&hist_before),
            "every page back but the {slab_gained} the slabs took meanwhile"
        );
    }
    assert_eq!(after.totals().get(FrameClass::Kernel), kernel_before);
    arch::kprintln!("mempic: after freeing them all, free blocks by order are as before:");
    for z in &after.zones {
        arch::kprintln!("Node {}, zone {:>6}: {:?}", z.node, z.ty.name(), z.free_blocks);
    }
}

fn proc_mempic_reads_the_map_and_toggles_the_picture() {
    let f = kernel::vfs::lookup("/proc/mempic", "/").expect("/proc/mempic exists");
    let text = String::from_utf8(f.snapshot().expect("readable")).expect("utf-8");
    assert!(text.starts_with("Physical memory map: "), "{}", &text[..text.len().min(200)]);
    assert!(text.contains("Legend: "));
    assert!(
        text.lines().any(|l| l.starts_with("0x0000000000 DMA    n0 ")),
        "rows labelled with address, zone and node"
    );
    assert_eq!(f.write_at(0, b"maybe\n"), Err(abi::errno::EINVAL));
    assert_eq!(f.write_at(0, b"1\n"), Ok(2));
    assert!(kernel::mempic::is_enabled());
    assert_eq!(f.write_at(0, b"0\n"), Ok(2));
    assert!(!kernel::mempic::is_enabled());
}

fn picture_sweeps_all_memory_from_the_tick() {
    assert!(kernel::mempic::set_enabled(true), "QEMU has a framebuffer");
    let start = kernel::mempic::sweeps();
    // Two full sweeps driven by the timer tick (interrupts on, idle).
    let deadline = kernel::proc::sched::ticks() + 3000;
    while kernel::mempic::sweeps() < start + 2 && kernel::proc::sched::ticks() < deadline {
        x86_64::instructions::interrupts::enable_and_hlt();
    }
    assert!(kernel::mempic::sweeps() >= start + 2, "the tick hook swept all memory twice");
    assert!(kernel::mempic::set_enabled(false));
}
