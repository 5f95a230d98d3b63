//! memblock host tests. Ranges are drawn as
//! `[base ... end)` boxes on a line of addresses.

use super::*;
use crate::testing::SimRam;
use alloc::string::String;
use alloc::vec::Vec;

const MB: u64 = 1 << 20;

fn spans(arr: &RegionArray) -> Vec<(u64, u64)> {
    arr.regions().iter().map(|r| (r.base, r.end())).collect()
}

#[test]
fn overlapping_and_unsorted_adds_merge() {
    //   add 3:            [4M ....... 8M)
    //   add 1:  [0 .. 2M)
    //   add 2:       [1M ........ 5M)
    //   result: [0 ........................ 8M)
    let mut m = Memblock::new();
    m.add(4 * MB, 4 * MB).unwrap();
    m.add(0, 2 * MB).unwrap();
    m.add(MB, 4 * MB).unwrap();
    m.check_invariants();
    assert_eq!(spans(&m.memory), vec![(0, 8 * MB)]);
    assert_eq!(m.memory.total_size(), 8 * MB);
}

#[test]
fn zero_length_and_overflowing_ranges_are_refused() {
    let mut m = Memblock::new();
    assert_eq!(m.add(MB, 0), Err(MemblockError::InvalidRange));
    assert_eq!(m.reserve(u64::MAX - 10, 100, "x"), Err(MemblockError::InvalidRange));
    assert!(m.memory.regions().is_empty());
}

#[test]
fn reservations_keep_their_names_and_do_not_merge_across_names() {
    //   reserve "a":  [1M ... 2M)
    //   reserve "b":            [2M ... 3M)
    //   reserve "c":     [1.5M ......... 3.5M)  only [3M, 3.5M) is new
    let mut m = Memblock::new();
    m.reserve(MB, MB, "a").unwrap();
    m.reserve(2 * MB, MB, "b").unwrap();
    m.reserve(MB + MB / 2, 2 * MB, "c").unwrap();
    m.check_invariants();
    let names: Vec<&str> = m.reserved.regions().iter().map(|r| r.name).collect();
    assert_eq!(names, vec!["a", "b", "c"]);
    assert_eq!(spans(&m.reserved), vec![(MB, 2 * MB), (2 * MB, 3 * MB), (3 * MB, 3 * MB + MB / 2)]);
}

#[test]
fn remove_punches_a_hole_in_the_middle() {
    //   memory: [0 ......................... 16M)
    //   remove:          [4M .... 8M)
    //   result: [0 ... 4M)         [8M ..... 16M)
    let mut m = Memblock::new();
    m.add(0, 16 * MB).unwrap();
    m.remove(4 * MB, 4 * MB).unwrap();
    m.check_invariants();
    assert_eq!(spans(&m.memory), vec![(0, 4 * MB), (8 * MB, 16 * MB)]);
    assert!(!m.is_memory(3 * MB, 2 * MB));
    assert!(m.is_memory(8 * MB, 8 * MB));
}

#[test]
fn free_releases_part_of_a_reservation() {
    let mut m = Memblock::new();
    m.reserve(0, 8 * MB, "boot").unwrap();
    m.free(2 * MB, 2 * MB).unwrap();
    m.check_invariants();
    assert_eq!(spans(&m.reserved), vec![(0, 2 * MB), (4 * MB, 8 * MB)]);
    assert_eq!(m.reserved.total_size(), 6 * MB);
}

#[test]
fn allocation_is_top_down_aligned_and_avoids_reserved() {
    //   memory:   [0 ................................ 64M)
    //   reserved:                             [60M .. 64M)
    //   alloc 1M aligned 2M -> [58M, 59M)
    let mut m = Memblock::new();
    m.add(0, 64 * MB).unwrap();
    m.reserve(60 * MB, 4 * MB, "top").unwrap();
    let a = m.alloc(MB, 2 * MB, "test").unwrap();
    assert_eq!(a, 58 * MB);
    assert!(m.is_reserved(a, MB));
    m.check_invariants();
    m.bottom_up = true;
    let b = m.alloc(MB, MB, "low").unwrap();
    assert_eq!(b, MB, "bottom-up skips the zero page and takes the lowest aligned block");
}

#[test]
fn allocation_respects_range_and_reports_no_memory() {
    let mut m = Memblock::new();
    m.add(0, 32 * MB).unwrap();
    let a = m.alloc_range_nid(MB, PAGE_SIZE, 0, 16 * MB, NUMA_NO_NODE, false, "dma").unwrap();
    assert!(a + MB <= 16 * MB);
    assert_eq!(
        m.alloc_range_nid(64 * MB, PAGE_SIZE, 0, u64::MAX, NUMA_NO_NODE, false, "huge"),
        Err(MemblockError::NoMemory)
    );
    // Out-of-range window: nothing there.
    assert_eq!(
        m.alloc_range_nid(MB, PAGE_SIZE, 64 * MB, 128 * MB, NUMA_NO_NODE, false, "x"),
        Err(MemblockError::NoMemory)
    );
}

#[test]
fn node_preference_and_fallback() {
    //   node 0: [0 .. 32M)   node 1: [32M .. 64M), node 1 fully reserved
    let mut m = Memblock::new();
    m.add_node(0, 32 * MB, 0).unwrap();
    m.add_node(32 * MB, 32 * MB, 1).unwrap();
    let a = m.alloc_range_nid(MB, PAGE_SIZE, 0, u64::MAX, 0, false, "n0").unwrap();
    assert!(a < 32 * MB);
    let b = m.alloc_range_nid(MB, PAGE_SIZE, 0, u64::MAX, 1, false, "n1").unwrap();
    assert!(b >= 32 * MB);
    m.reserve(32 * MB, 32 * MB, "all of node 1").unwrap();
    assert_eq!(m.alloc_range_nid(MB, PAGE_SIZE, 0, u64::MAX, 1, true, "exact"), Err(MemblockError::NoMemory));
    let c = m.alloc_range_nid(MB, PAGE_SIZE, 0, u64::MAX, 1, false, "fallback").unwrap();
    assert!(c < 32 * MB);
    m.check_invariants();
}

#[test]
fn set_node_splits_regions_at_node_boundaries() {
    let mut m = Memblock::new();
    m.add(0, 64 * MB).unwrap();
    m.set_node(0, 24 * MB, 0).unwrap();
    m.set_node(24 * MB, 40 * MB, 1).unwrap();
    m.check_invariants();
    let r: Vec<(u64, u64, u32)> = m.memory.regions().iter().map(|r| (r.base, r.end(), r.nid)).collect();
    assert_eq!(r, vec![(0, 24 * MB, 0), (24 * MB, 64 * MB, 1)]);
    assert_eq!(m.nid_of(30 * MB), Some(1));
}

#[test]
fn free_ranges_are_memory_minus_reserved() {
    //   memory:   [0 ........ 10M)   [20M ...... 30M)
    //   reserved:     [2M..3M)   [9M ......... 21M)
    //   free:     [0..2M) [3M..9M)            [21M..30M)
    let mut m = Memblock::new();
    m.add(0, 10 * MB).unwrap();
    m.add(20 * MB, 10 * MB).unwrap();
    m.reserve(2 * MB, MB, "a").unwrap();
    m.reserve(9 * MB, 12 * MB, "b").unwrap();
    let mut free = Vec::new();
    m.for_each_free_range(NUMA_NO_NODE, |s, e, _| free.push((s, e)));
    assert_eq!(free, vec![(0, 2 * MB), (3 * MB, 9 * MB), (21 * MB, 30 * MB)]);
    assert_eq!(m.free_bytes(), 2 * MB + 6 * MB + 9 * MB);
}

#[test]
fn full_arrays_grow_instead_of_dropping_regions() {
    let ram = SimRam::new(0, 64 * MB);
    let mut m = Memblock::new();
    m.set_phys(ram.window);
    m.add(0, 64 * MB).unwrap();
    // 300 separate reservations with gaps: needs two doublings.
    for i in 0..300u64 {
        m.reserve(i * 2 * PAGE_SIZE, PAGE_SIZE, "many").unwrap();
    }
    m.check_invariants();
    let many = m.reserved.regions().iter().filter(|r| r.name == "many").count();
    assert_eq!(many, 300);
    assert!(m.reserved.capacity() >= 512);
    assert!(m.reserved.regions().iter().any(|r| r.name == "memblock arrays"));
}

#[test]
fn without_a_window_a_full_array_reports_instead_of_dropping() {
    let mut m = Memblock::new();
    for i in 0..INIT_MEMBLOCK_REGIONS as u64 {
        m.reserve(i * 2 * PAGE_SIZE, PAGE_SIZE, "x").unwrap();
    }
    assert_eq!(m.reserve(10_000 * PAGE_SIZE, PAGE_SIZE, "x"), Err(MemblockError::ArrayFull));
    assert_eq!(m.reserved.regions().len(), INIT_MEMBLOCK_REGIONS);
}

#[test]
fn dump_matches_linux_format() {
    let mut m = Memblock::new();
    m.add_node(0, 0x9f000, 0).unwrap();
    m.reserve(0, 0x1000, "first page").unwrap();
    let mut s = String::new();
    m.dump(&mut s).unwrap();
    assert!(
        s.starts_with(
            "MEMBLOCK configuration:\n memory size = 0x000000000009f000 reserved size = 0x0000000000001000\n"
        ),
        "{s}"
    );
    assert!(s.contains(" memory.cnt  = 0x1\n"), "{s}");
    assert!(
        s.contains(
            " memory[0x0]\t[0x0000000000000000-0x000000000009efff], 0x000000000009f000 bytes on node 0 flags: 0x0\n"
        ),
        "{s}"
    );
    assert!(s.contains(" reserved[0x0]\t[0x0000000000000000-0x0000000000000fff], 0x0000000000001000 bytes flags: 0x0 (first page)\n"), "{s}");
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    /// A byte-granular model: which 64 KiB units are memory / reserved.
    const UNIT: u64 = 64 * 1024;
    const UNITS: usize = 256;

    #[derive(Clone, Debug)]
    enum Op {
        Add(u8, u8),
        Remove(u8, u8),
        Reserve(u8, u8),
        Free(u8, u8),
        Alloc(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<u8>(), 1..32u8).prop_map(|(a, l)| Op::Add(a, l)),
            (any::<u8>(), 1..16u8).prop_map(|(a, l)| Op::Remove(a, l)),
            (any::<u8>(), 1..16u8).prop_map(|(a, l)| Op::Reserve(a, l)),
            (any::<u8>(), 1..16u8).prop_map(|(a, l)| Op::Free(a, l)),
            (1..8u8).prop_map(Op::Alloc),
        ]
    }

    proptest! {
        #[test]
        fn arrays_match_a_unit_model(ops in proptest::collection::vec(op(), 1..60)) {
            let mut m = Memblock::new();
            let mut mem = [false; UNITS];
            let mut res = [false; UNITS];
            for o in ops {
                match o {
                    Op::Add(a, l) => {
                        m.add(a as u64 * UNIT, l as u64 * UNIT).unwrap();
                        for u in a as usize..(a as usize + l as usize).min(UNITS) { mem[u] = true; }
                        // Units past the model's end are out of scope: trim them.
                        if a as usize + l as usize > UNITS { m.remove(UNITS as u64 * UNIT, (a as u64 + l as u64) * UNIT).unwrap(); }
                    }
                    Op::Remove(a, l) => {
                        m.remove(a as u64 * UNIT, l as u64 * UNIT).unwrap();
                        for u in a as usize..(a as usize + l as usize).min(UNITS) { mem[u] = false; }
                    }
                    Op::Reserve(a, l) => {
                        let l = l.min((UNITS - a as usize) as u8).max(1);
                        if a as usize + l as usize <= UNITS {
                            m.reserve(a as u64 * UNIT, l as u64 * UNIT, "r").unwrap();
                            for u in a as usize..a as usize + l as usize { res[u] = true; }
                        }
                    }
                    Op::Free(a, l) => {
                        m.free(a as u64 * UNIT, l as u64 * UNIT).unwrap();
                        for u in a as usize..(a as usize + l as usize).min(UNITS) { res[u] = false; }
                    }
                    Op::Alloc(l) => {
                        if let Ok(base) = m.alloc(l as u64 * UNIT, UNIT, "r") {
                            let first = (base / UNIT) as usize;
                            for u in first..first + l as usize {
                                prop_assert!(mem[u] && !res[u], "allocated a unit that was not free");
                                res[u] = true;
                            }
                        } else {
                            // Then no run of l free units (except unit 0,
                            // which memblock never hands out) may exist.
                            let mut run = 0;
                            for u in 1..UNITS { if mem[u] && !res[u] { run += 1; prop_assert!(run < l as usize, "alloc failed with room"); } else { run = 0; } }
                        }
                    }
                }
                m.check_invariants();
                for u in 0..UNITS {
                    prop_assert_eq!(m.is_memory(u as u64 * UNIT, UNIT), mem[u], "memory unit {}", u);
                    prop_assert_eq!(m.is_reserved(u as u64 * UNIT, UNIT), res[u], "reserved unit {}", u);
                }
            }
        }
    }
}

#[test]
fn frozen_memblock_refuses_to_allocate() {
    let mut m = Memblock::new();
    m.add(0, 16 * MB).unwrap();
    m.freeze();
    assert_eq!(m.alloc(PAGE_SIZE, PAGE_SIZE, "late"), Err(MemblockError::NoMemory));
}
