//! vmalloc host tests: areas in simulated kernel page tables.

use super::*;
use core::sync::atomic::Ordering;

const START: u64 = 0xffff_c900_0000_0000;

use crate::testing::{Flushes, PaTables};

fn setup() -> (&'static PageAllocator, &'static PaTables, PhysAddr, &'static Flushes) {
    let pa = crate::testing::page_allocator(64 << 20);
    let tables: &'static PaTables = alloc::boxed::Box::leak(alloc::boxed::Box::new(PaTables(pa)));
    let root = tables.alloc_table().unwrap();
    let flushes: &'static Flushes = alloc::boxed::Box::leak(alloc::boxed::Box::default());
    (pa, tables, root, flushes)
}

#[test]
fn areas_are_separated_by_guard_pages_and_backed_by_single_pages() {
    //   START [guard][A: 3 pages][guard][B: 1 page][guard]
    let (pa, tables, root, tlb) = setup();
    let ks = KernelSpace { pa, tables, root, tlb };
    let v = Vmalloc::new(START, START + (1 << 30));
    let a = v.vmalloc(&ks, 3 * PAGE_SIZE, VmKind::Vmalloc, "test_a", true).unwrap();
    let b = v.vmalloc(&ks, 100, VmKind::KernelStack, "test_b", true).unwrap();
    assert_eq!(a, START + PAGE_SIZE);
    assert_eq!(b, a + 3 * PAGE_SIZE + PAGE_SIZE, "one guard page between areas");
    let m = Mapper::new(pa.phys(), tables, root);
    for i in 0..3 {
        let t = m.translate(crate::addr::VirtAddr::new(a + i * PAGE_SIZE)).unwrap();
        assert!(t.flags.contains(F::WRITABLE | F::NO_EXECUTE | F::GLOBAL));
        assert!(pa.page(Pfn::from_phys(t.phys.as_u64())).unwrap().has(PageFlags::VMALLOC));
    }
    assert!(m.translate(crate::addr::VirtAddr::new(a + 3 * PAGE_SIZE)).is_none(), "guard page unmapped");
    assert_eq!(v.guard_hit(b - 8).map(|x| x.start), Some(b), "the page below a stack is its guard");
    assert_eq!(v.guard_hit(a + 10).map(|x| x.start), None);
    assert_eq!(pa.vmstat.vmalloc_pages.get(), 4);
    assert_eq!(pa.vmstat.kernel_stack_kb.get(), 4);
}

#[test]
fn vfree_unmaps_flushes_and_returns_every_page() {
    let (pa, tables, root, tlb) = setup();
    let ks = KernelSpace { pa, tables, root, tlb };
    let v = Vmalloc::new(START, START + (1 << 30));
    let free = pa.drained_free_pages();
    let a = v.vmalloc(&ks, 16 * PAGE_SIZE, VmKind::Vmalloc, "t", false).unwrap();
    let after_alloc = pa.drained_free_pages();
    assert!(after_alloc <= free - 16);
    v.vfree(&ks, a).unwrap();
    assert!(tlb.0.load(Ordering::Relaxed) > 0, "vfree flushed the TLB");
    // The page tables below the shared PDPT were freed too.
    assert_eq!(pa.drained_free_pages(), free - 1, "only the shared kernel PDPT stays");
    assert_eq!(v.vfree(&ks, a), Err(VmallocError::BadAddress));
    assert_eq!(pa.vmstat.vmalloc_pages.get(), 0);
}

#[test]
fn freed_space_is_reused_first_fit_and_chunk_is_reported() {
    let (pa, tables, root, tlb) = setup();
    let ks = KernelSpace { pa, tables, root, tlb };
    let v = Vmalloc::new(START, START + 64 * PAGE_SIZE);
    let a = v.vmalloc(&ks, 4 * PAGE_SIZE, VmKind::Vmalloc, "a", false).unwrap();
    let b = v.vmalloc(&ks, 4 * PAGE_SIZE, VmKind::Vmalloc, "b", false).unwrap();
    v.vfree(&ks, a).unwrap();
    let c = v.vmalloc(&ks, 2 * PAGE_SIZE, VmKind::Vmalloc, "c", false).unwrap();
    assert_eq!(c, a, "first fit reuses the hole");
    assert!(v.vmalloc(&ks, 60 * PAGE_SIZE, VmKind::Vmalloc, "too big", false).is_err());
    assert!(v.largest_free() >= 40 * PAGE_SIZE);
    v.vfree(&ks, b).unwrap();
    v.vfree(&ks, c).unwrap();
    assert_eq!(v.nr_areas(), 0);
}

#[test]
fn ioremap_maps_device_ranges_and_vmallocinfo_lists_areas() {
    let (pa, tables, root, tlb) = setup();
    let ks = KernelSpace { pa, tables, root, tlb };
    let v = Vmalloc::new(START, START + (1 << 30));
    let fb =
        v.ioremap(&ks, 0xfd00_0100, 3 * PAGE_SIZE, F::WRITABLE | F::NO_EXECUTE | F::WRITE_THROUGH, "fbcon").unwrap();
    assert_eq!(fb & 0xfff, 0x100);
    let m = Mapper::new(pa.phys(), tables, root);
    assert_eq!(m.translate(crate::addr::VirtAddr::new(fb)).unwrap().phys.as_u64(), 0xfd00_0100);
    v.vmalloc(&ks, 8192, VmKind::KernelStack, "kernel_stack", true).unwrap();
    let mut s = alloc::string::String::new();
    crate::procfs::vmallocinfo::render(&v, pa, &mut s).unwrap();
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 2, "{s}");
    assert!(
        lines[0].starts_with("0xffffc90000001000-0xffffc90000006000   20480 fbcon phys=0x00000000fd000000 ioremap"),
        "{s}"
    );
    assert!(lines[1].ends_with("12288 kernel_stack pages=2 vmalloc N0=2"), "{s}");
    // Freeing an ioremap leaves the device frames alone.
    let free = pa.drained_free_pages();
    v.vfree(&ks, fb).unwrap();
    assert!(pa.drained_free_pages() >= free);
}
