//! Page-table manager host tests: the tables live in simulated RAM and
//! every translation is checked against a model of expected mappings.

use super::*;
use crate::testing::SimRam;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cell::RefCell;

const MB: u64 = 1 << 20;
const GB: u64 = 1 << 30;

/// Table frames from a simulated RAM region, with a live count.
struct Tables {
    ram: SimRam,
    free: RefCell<Vec<u64>>,
    live: RefCell<u64>,
}

impl Tables {
    fn new(frames: u64) -> Tables {
        let ram = SimRam::new(0x100_0000, frames * 4096);
        let free = (0..frames).rev().map(|i| 0x100_0000 + i * 4096).collect();
        Tables { ram, free: RefCell::new(free), live: RefCell::new(0) }
    }

    fn root(&self) -> PhysAddr {
        self.alloc_table().unwrap()
    }

    fn live(&self) -> u64 {
        *self.live.borrow()
    }
}

impl TableAlloc for Tables {
    fn alloc_table(&self) -> Option<PhysAddr> {
        let pa = self.free.borrow_mut().pop()?;
        self.ram.fill(pa, 4096, 0);
        *self.live.borrow_mut() += 1;
        Some(PhysAddr::new(pa))
    }

    fn free_table(&self, pa: PhysAddr) {
        // Freed tables must be empty.
        for off in (0..4096).step_by(8) {
            // SAFETY-free read through the test helper.
            assert_eq!(self.ram.read_u8(pa.as_u64() + off), 0, "freed a non-empty table");
        }
        self.ram.fill(pa.as_u64(), 4096, 0xee);
        self.free.borrow_mut().push(pa.as_u64());
        *self.live.borrow_mut() -= 1;
    }
}

const RW: F = F::WRITABLE;

fn tr(m: &Mapper, va: u64) -> Option<(u64, bool, MapSize)> {
    m.translate(VirtAddr::new(va)).map(|t| (t.phys.as_u64(), t.flags.contains(F::WRITABLE), t.size))
}

#[test]
fn map_uses_the_largest_pages_alignment_allows() {
    //   va 1G-4K ....... 1G ............... 2G ..... 2G+2M+4K
    //   [4K]            [1 GiB page      ] [2M] [4K]
    let t = Tables::new(64);
    let root = t.root();
    let mut m = Mapper::new(t.ram.window, &t, root);
    let va = GB - 4096;
    m.map_range(va, 5 * GB - 4096, GB + 2 * MB + 2 * 4096, RW, MapSize::Size1G).unwrap();
    assert_eq!(tr(&m, va), Some((5 * GB - 4096, true, MapSize::Size4K)));
    assert_eq!(tr(&m, GB + 12345), Some((5 * GB + 12345, true, MapSize::Size1G)));
    assert_eq!(tr(&m, 2 * GB + 4096), Some((6 * GB + 4096, true, MapSize::Size2M)));
    assert_eq!(tr(&m, 2 * GB + 2 * MB), Some((6 * GB + 2 * MB, true, MapSize::Size4K)));
    assert_eq!(tr(&m, 2 * GB + 2 * MB + 4096), None);
    // Mapping over an existing page fails and changes nothing.
    assert_eq!(
        m.map_range(GB + 2 * MB, 0, 4096, RW, MapSize::Size4K),
        Err(MapError::AlreadyMapped { va: GB + 2 * MB })
    );
    assert_eq!(tr(&m, GB + 2 * MB), Some((5 * GB + 2 * MB, true, MapSize::Size1G)));
}

#[test]
fn unmapping_4k_inside_a_gigabyte_page_splits_it_twice() {
    //   [1 GiB page at 4G]  unmap one 4K page at 4G + 3M + 8K
    //   -> 1G split into 512 x 2M, the 2M at +2M split into 512 x 4K
    let t = Tables::new(64);
    let root = t.root();
    let mut m = Mapper::new(t.ram.window, &t, root);
    m.map_range(4 * GB, 0, GB, RW, MapSize::Size1G).unwrap();
    let tables_before = t.live();
    let hole = 4 * GB + 3 * MB + 8192;
    let mut seen = Vec::new();
    let flush = m.unmap_range(hole, 4096, &mut |l| seen.push((l.va, l.phys.as_u64(), l.size))).unwrap();
    assert_eq!(seen, vec![(hole, 3 * MB + 8192, MapSize::Size4K)]);
    assert!(!flush.is_empty());
    assert_eq!(t.live(), tables_before + 2, "one PD and one PT created by the splits");
    assert_eq!(tr(&m, hole), None);
    assert_eq!(tr(&m, hole - 4096), Some((3 * MB + 4096, true, MapSize::Size4K)));
    assert_eq!(tr(&m, hole + 4096), Some((3 * MB + 12288, true, MapSize::Size4K)));
    assert_eq!(tr(&m, 4 * GB + 5 * MB), Some((5 * MB, true, MapSize::Size2M)));
}

#[test]
fn protect_changes_rights_at_any_4k_boundary() {
    let t = Tables::new(64);
    let root = t.root();
    let mut m = Mapper::new(t.ram.window, &t, root);
    m.map_range(0x40_0000, 0x80_0000, 2 * MB, RW | F::NO_EXECUTE, MapSize::Size2M).unwrap();
    m.protect_range(0x40_0000 + 4096, 4096, F::empty(), F::WRITABLE).unwrap().ignore();
    assert_eq!(tr(&m, 0x40_0000), Some((0x80_0000, true, MapSize::Size4K)));
    assert_eq!(tr(&m, 0x40_1000), Some((0x80_1000, false, MapSize::Size4K)));
    assert_eq!(tr(&m, 0x40_2000), Some((0x80_2000, true, MapSize::Size4K)));
}

#[test]
fn empty_tables_are_freed_but_shared_kernel_pdpts_are_not() {
    let t = Tables::new(64);
    let root = t.root();
    let mut m = Mapper::new(t.ram.window, &t, root);
    m.map_range(0x1000, 0x1000, 3 * 4096, RW | F::USER_ACCESSIBLE, MapSize::Size4K).unwrap();
    assert_eq!(t.live(), 4, "root, PDPT, PD, PT");
    m.unmap_range(0, 2 * MB, &mut |_| {}).unwrap().ignore();
    assert_eq!(t.live(), 1, "only the root remains");
    let kva = 0xffff_c900_0000_0000;
    m.map_range(kva, 0x20_0000, 4096, RW, MapSize::Size4K).unwrap();
    assert_eq!(t.live(), 4);
    m.unmap_range(kva, 4096, &mut |_| {}).unwrap().ignore();
    assert_eq!(t.live(), 2, "the kernel-half PDPT stays for every address space to share");
    assert_eq!(m.translate(VirtAddr::new(kva)), None);
}

#[test]
fn leaves_report_effective_rights_and_pte_creates_tables() {
    let t = Tables::new(64);
    let root = t.root();
    let mut m = Mapper::new(t.ram.window, &t, root);
    m.map_range(0x1000, 0x5000, 4096, RW | F::USER_ACCESSIBLE, MapSize::Size4K).unwrap();
    m.map_range(0xffff_ffff_8000_0000, 0x10_0000, 8192, F::empty(), MapSize::Size4K).unwrap();
    let mut leaves = Vec::new();
    m.for_each_leaf(0, u64::MAX, &mut |l| leaves.push(l));
    assert_eq!(leaves.len(), 3);
    assert!(leaves[0].user && leaves[0].writable && leaves[0].executable);
    assert!(!leaves[1].user && !leaves[1].writable);
    assert_eq!(leaves[2].va, 0xffff_ffff_8000_1000);
    let e = m.pte(0x7000_0000, true).unwrap().unwrap();
    assert!(e.is_unused());
    assert!(m.pte(0x7100_0000_0000, false).unwrap().is_none());
}

#[test]
fn an_empty_range_visits_no_leaf_even_at_a_kernel_address() {
    let t = Tables::new(64);
    let root = t.root();
    let mut m = Mapper::new(t.ram.window, &t, root);
    let kva = 0xffff_c900_0000_0000;
    m.map_range(kva, 0x20_0000, 8 * 4096, RW, MapSize::Size4K).unwrap();
    let mut n = 0;
    for (s, e) in [(0xffff_8880_0000_0000, 0xffff_8880_0000_0000), (kva, kva), (kva + 4096, kva), (0x1000, 0x1000)] {
        m.for_each_leaf(s, e, &mut |_| n += 1);
    }
    assert_eq!(n, 0, "empty and inverted ranges");
    m.for_each_leaf(kva + 4096, kva + 3 * 4096, &mut |_| n += 1);
    assert_eq!(n, 2, "exactly the range");
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    /// Window of 16 MiB at 4 GiB, checked page by page.
    const BASE: u64 = 4 * GB;
    const PAGES: u64 = 4096;

    #[derive(Clone, Debug)]
    enum Op {
        Map { page: u64, pages: u64, pa_page: u64, writable: bool, max: u8 },
        Unmap { page: u64, pages: u64 },
        Protect { page: u64, pages: u64, writable: bool },
    }

    fn op() -> impl Strategy<Value = Op> {
        let range = (0..PAGES, 1..2048u64);
        prop_oneof![
            (range.clone(), 0..8192u64, any::<bool>(), 0..3u8).prop_map(|((page, pages), pa_page, writable, max)| {
                // Keep huge-page-friendly alignment between va and pa often.
                Op::Map { page, pages, pa_page: if max > 0 { page + pa_page * 512 } else { pa_page }, writable, max }
            }),
            range.clone().prop_map(|(page, pages)| Op::Unmap { page, pages }),
            (range, any::<bool>()).prop_map(|((page, pages), writable)| Op::Protect { page, pages, writable }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn translations_match_a_map_of_expected_mappings(ops in proptest::collection::vec(op(), 1..40)) {
            let t = Tables::new(256);
            let root = t.root();
            let mut m = Mapper::new(t.ram.window, &t, root);
            let mut model: BTreeMap<u64, (u64, bool)> = BTreeMap::new();
            for o in ops {
                match o {
                    Op::Map { page, pages, pa_page, writable, max } => {
                        let pages = pages.min(PAGES - page);
                        let max = [MapSize::Size4K, MapSize::Size2M, MapSize::Size1G][max as usize];
                        let flags = if writable { RW } else { F::empty() };
                        let r = m.map_range(BASE + page * 4096, pa_page * 4096, pages * 4096, flags, max);
                        let clash = (page..page + pages).any(|p| model.contains_key(&p));
                        prop_assert_eq!(r.is_err(), clash, "map result {:?}", r);
                        if !clash {
                            for i in 0..pages { model.insert(page + i, (pa_page + i, writable)); }
                        }
                    }
                    Op::Unmap { page, pages } => {
                        let pages = pages.min(PAGES - page);
                        let mut removed = 0;
                        m.unmap_range(BASE + page * 4096, pages * 4096, &mut |l| removed += l.size.bytes() / 4096).unwrap().ignore();
                        let expect = (page..page + pages).filter(|p| model.remove(p).is_some()).count() as u64;
                        prop_assert_eq!(removed, expect);
                    }
                    Op::Protect { page, pages, writable } => {
                        let pages = pages.min(PAGES - page);
                        let (set, clear) = if writable { (RW, F::empty()) } else { (F::empty(), RW) };
                        m.protect_range(BASE + page * 4096, pages * 4096, set, clear).unwrap().ignore();
                        for p in page..page + pages {
                            if let Some(v) = model.get_mut(&p) { v.1 = writable; }
                        }
                    }
                }
                for p in 0..PAGES {
                    let got = tr(&m, BASE + p * 4096).map(|(pa, w, _)| (pa / 4096, w));
                    prop_assert_eq!(got, model.get(&p).copied(), "page {}", p);
                }
            }
            m.unmap_range(BASE, PAGES * 4096, &mut |_| {}).unwrap().ignore();
            prop_assert_eq!(t.live(), 1, "all tables but the root freed");
        }
    }
}

#[test]
fn move_range_hands_over_whole_page_tables_when_both_sides_are_2m_aligned() {
    let t = Tables::new(64);
    let mut m = Mapper::new(t.ram.window, &t, t.root());
    let (from, to) = (0x4000_0000u64, 0x8000_0000u64);
    let len = 2 * MB + 3 * 4096;
    for i in 0..len / 4096 {
        m.map_page(from + i * 4096, 0x7000_0000 + i * 4096, MapSize::Size4K, RW | F::USER_ACCESSIBLE).unwrap();
    }
    let pt_before = m.page_table_of(from, false).unwrap().unwrap();
    m.move_range(from, to, len).unwrap();
    assert_eq!(m.page_table_of(to, false).unwrap(), Some(pt_before), "the page table itself moved (move_normal_pmd)");
    for i in 0..len / 4096 {
        assert_eq!(tr(&m, to + i * 4096), Some((0x7000_0000 + i * 4096, true, MapSize::Size4K)), "page {i}");
        assert_eq!(tr(&m, from + i * 4096), None, "old page {i} still mapped");
    }
    // The old range's emptied tables go when it is unmapped; what is left
    // is exactly what mapping `len` at `to` from scratch would use.
    let mut seen = 0;
    m.unmap_range(from, len, &mut |_| seen += 1).unwrap().ignore();
    assert_eq!(seen, 0);
    let live = t.live();
    let t2 = Tables::new(64);
    let mut m2 = Mapper::new(t2.ram.window, &t2, t2.root());
    for i in 0..len / 4096 {
        m2.map_page(to + i * 4096, 0x7000_0000 + i * 4096, MapSize::Size4K, RW | F::USER_ACCESSIBLE).unwrap();
    }
    assert_eq!(live, t2.live());
}

#[test]
fn move_range_moves_entries_one_by_one_across_unaligned_tables() {
    let t = Tables::new(64);
    let mut m = Mapper::new(t.ram.window, &t, t.root());
    let (from, to) = (0x4000_0000u64 + 2 * MB - 2 * 4096, 0x8000_0000u64 + 5 * 4096);
    let n = 6;
    for i in 0..n {
        let flags = if i % 2 == 0 { RW | F::USER_ACCESSIBLE } else { F::USER_ACCESSIBLE | F::NO_EXECUTE };
        m.map_page(from + i * 4096, 0x7000_0000 + i * 4096, MapSize::Size4K, flags).unwrap();
    }
    m.move_range(from, to, n * 4096).unwrap();
    for i in 0..n {
        assert_eq!(tr(&m, to + i * 4096), Some((0x7000_0000 + i * 4096, i % 2 == 0, MapSize::Size4K)), "page {i}");
        assert_eq!(tr(&m, from + i * 4096), None);
    }
    assert_eq!(m.move_range(from + 1, to, 4096), Err(MapError::BadRange));
}

#[test]
fn pte_with_spare_takes_missing_tables_only_from_the_spare_and_leaves_an_unneeded_one() {
    // A fault's walk under the page-table lock allocates nothing: with no
    // spare it stops at the first missing table; each spare fills one
    // level; once the tables exist a spare stays with the caller (the
    // loser of a race frees it).
    let t = Tables::new(16);
    let root = t.root();
    let mut m = Mapper::new(t.ram.window, &t, root);
    let va = 0x4000_3000;
    let mut spare = None;
    assert!(matches!(m.pte_with_spare(va, &mut spare), Ok(None)));
    assert_eq!(t.live(), 1, "nothing allocated under the lock");
    let mut steps = 0;
    let pte = loop {
        if let Some(pte) = m.pte_with_spare(va, &mut spare).unwrap() {
            break pte;
        }
        assert!(spare.is_none());
        spare = t.alloc_table();
        steps += 1;
    };
    assert_eq!((steps, t.live()), (3, 4), "PDPT, PD and PT, one per walk");
    assert!(pte.is_unused());
    pte.set_addr(PhysAddr::new(0x7000), F::PRESENT | RW);
    assert_eq!(tr(&m, va), Some((0x7000, true, MapSize::Size4K)));
    // Another CPU built the tables meanwhile: the spare is not used.
    let mut spare = t.alloc_table();
    let pte = m.pte_with_spare(va + 4096, &mut spare).unwrap().unwrap();
    assert!(pte.is_unused() && spare.is_some());
    t.free_table(spare.unwrap());
    assert_eq!(t.live(), 4);
    // A huge leaf in the way is refused, not split (faults map 4 KiB pages).
    m.map_page(0x8000_0000, 0x20_0000, MapSize::Size2M, RW).unwrap();
    assert_eq!(m.pte_with_spare(0x8000_1000, &mut None).err(), Some(MapError::AlreadyMapped { va: 0x8000_1000 }));
}
