//! Host tests of transparent huge pages (vm/thp.rs) on the simulated
//! machine: eligible areas fault in 2 MiB pages mapped by directory
//! entries; cuts and mprotect split them into 512 pages that keep their
//! data; fork shares them whole and a write splits only the writer's
//! entry; mremap moves an aligned one whole; every page comes back.

use abi::mman::*;

use super::tests::{lim, machine, req};
use super::*;
use crate::phys::hugetlb::{HPAGE_PAGES, HPAGE_SIZE};
use crate::testing::cpu::Cpu;
use crate::vm::fault::FaultError;
use crate::vm::page_table::MapSize;

const H: u64 = HPAGE_SIZE;
const RW: u32 = PROT_READ | PROT_WRITE;
std::thread_local! {
    /// Free pages before the test's process existed.
    static FREE: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
}

/// A 2 MiB aligned place for fixed mappings.
const A: u64 = 0x4000_0000;

fn setup() -> (&'static MmEnv<'static>, AddressSpace, Cpu) {
    let (env, cpu) = machine(64);
    FREE.set(env.pa.drained_free_pages());
    let mut mm = AddressSpace::new(env).unwrap();
    mm.layout.mmap_base = AddressSpace::mmap_base_for(8 << 20);
    (env, mm, cpu)
}

/// `n` huge pages' worth of private anonymous memory at A, MADV_HUGEPAGE.
fn huge_area(env: &MmEnv<'_>, mm: &mut AddressSpace, n: u64) {
    let r = req(A, n * H / 4096, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    assert_eq!(mm.mmap(env, &r, &lim()), Ok(A));
    mm.madvise(env, A, n * H, MADV_HUGEPAGE, &lim()).unwrap();
}

fn fill(cpu: &mut Cpu, mm: &mut AddressSpace, start: u64, len: u64, tag: u64) {
    for va in (start..start + len).step_by(4096) {
        cpu.store(mm, va, &(va ^ tag).to_le_bytes()).unwrap();
    }
}

fn check(cpu: &mut Cpu, mm: &mut AddressSpace, start: u64, len: u64, tag: u64) {
    for va in (start..start + len).step_by(4096) {
        let mut b = [0u8; 8];
        cpu.load(mm, va, &mut b).unwrap();
        assert_eq!(u64::from_le_bytes(b), va ^ tag, "page {va:#x}");
    }
}

fn huge_leaves(env: &MmEnv<'_>, mm: &AddressSpace) -> usize {
    mm.leaves(env, 0, TASK_SIZE).iter().filter(|l| l.size == MapSize::Size2M).count()
}

#[test]
fn an_madv_hugepage_area_faults_in_2m_pages() {
    let (env, mut mm, mut cpu) = setup();
    let free = FREE.get();
    huge_area(env, &mut mm, 2);
    cpu.store(&mut mm, A + 5, &[1]).unwrap();
    assert_eq!(huge_leaves(env, &mm), 1);
    assert_eq!(mm.counters().rss_anon, HPAGE_PAGES);
    assert_eq!(env.pa.vmstat.anon_thp.get(), 1);
    assert_eq!(env.pa.vmstat.thp_fault_alloc.get(), 1);
    fill(&mut cpu, &mut mm, A, 2 * H, 0x77);
    assert_eq!(huge_leaves(env, &mm), 2);
    check(&mut cpu, &mut mm, A, 2 * H, 0x77);
    mm.check_invariants(env);
    mm.munmap(env, A, 2 * H).unwrap();
    assert_eq!(env.pa.vmstat.anon_thp.get(), 0);
    mm.destroy(env);
    assert_eq!(env.pa.drained_free_pages(), free, "every page came back");
}

#[test]
fn the_enabled_setting_decides() {
    let (env, mut mm, mut cpu) = setup();
    let r = req(A, 2 * H / 4096, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    mm.mmap(env, &r, &lim()).unwrap();
    cpu.store(&mut mm, A, &[1]).unwrap();
    assert_eq!(huge_leaves(env, &mm), 0, "madvise mode, no MADV_HUGEPAGE");
    assert!(env.pa.thp.set_enabled("always"));
    cpu.store(&mut mm, A + H, &[1]).unwrap();
    assert_eq!(huge_leaves(env, &mm), 1, "always: a block nothing mapped yet");
    mm.madvise(env, A, 2 * H, MADV_NOHUGEPAGE, &lim()).unwrap();
    mm.munmap(env, A + H, H).unwrap();
    mm.mmap(env, &req(A + H, H / 4096, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), &lim()).unwrap();
    mm.madvise(env, A + H, H, MADV_NOHUGEPAGE, &lim()).unwrap();
    cpu.store(&mut mm, A + H, &[1]).unwrap();
    assert_eq!(huge_leaves(env, &mm), 0, "MADV_NOHUGEPAGE");
    assert!(env.pa.thp.set_enabled("never"));
    assert!(!env.pa.thp.set_enabled("sometimes"));
    mm.destroy(env);
}

#[test]
fn a_cut_splits_the_page_and_keeps_the_rest() {
    let (env, mut mm, mut cpu) = setup();
    let free = FREE.get();
    huge_area(env, &mut mm, 1);
    fill(&mut cpu, &mut mm, A, H, 0x1234);
    mm.munmap(env, A + 8 * 4096, 4096).unwrap();
    assert_eq!(huge_leaves(env, &mm), 0);
    assert_eq!(env.pa.vmstat.thp_split_page.get(), 1);
    assert_eq!(mm.counters().rss_anon, HPAGE_PAGES - 1);
    assert_eq!(cpu.load_u8(&mut mm, A + 8 * 4096), Err(FaultError::Segv(crate::vm::fault::SegvCode::MapErr)));
    check(&mut cpu, &mut mm, A, 8 * 4096, 0x1234);
    check(&mut cpu, &mut mm, A + 9 * 4096, H - 9 * 4096, 0x1234);
    mm.check_invariants(env);
    // The split pages are ordinary ones now: on the LRU, freed one by one.
    mm.destroy(env);
    assert_eq!(env.pa.drained_free_pages(), free);
}

#[test]
fn mprotect_and_fork_split_and_copy_on_write_still_holds() {
    let (env, mut mm, mut cpu) = setup();
    huge_area(env, &mut mm, 2);
    fill(&mut cpu, &mut mm, A, 2 * H, 5);
    mm.mprotect(env, A, 4096, PROT_READ).unwrap();
    assert_eq!(huge_leaves(env, &mm), 1, "only the page mprotect touched was split");
    assert!(matches!(cpu.store(&mut mm, A, &[0]), Err(FaultError::Segv(_))));
    let mut child = mm.fork(env, &lim()).unwrap();
    assert_eq!(huge_leaves(env, &mm), 1, "fork shares the other whole");
    assert_eq!(huge_leaves(env, &child), 1);
    child.check_invariants(env);
    cpu.store(&mut child, A + H, &[0xee]).unwrap();
    check(&mut cpu, &mut mm, A, 2 * H, 5);
    assert_eq!(cpu.load_u8(&mut child, A + H).unwrap(), 0xee);
    child.destroy(env);
    mm.check_invariants(env);
    mm.destroy(env);
}

#[test]
fn madv_collapse_makes_a_huge_page_of_4k_ones() {
    let (env, mut mm, mut cpu) = setup();
    let free = FREE.get();
    let r = req(A, 2 * H / 4096, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    mm.mmap(env, &r, &lim()).unwrap();
    // Every other page of the first block, and nothing of the second.
    for va in (A..A + H).step_by(8192) {
        cpu.store(&mut mm, va, &(va ^ 9).to_le_bytes()).unwrap();
    }
    assert_eq!(huge_leaves(env, &mm), 0);
    assert_eq!(
        mm.madvise(env, A, 2 * H, MADV_COLLAPSE, &lim()),
        Err(MmError::Invalid),
        "the second block has no table"
    );
    assert_eq!(huge_leaves(env, &mm), 1, "the first block collapsed all the same");
    assert_eq!(env.pa.vmstat.thp_collapse_alloc.get(), 1);
    assert_eq!(mm.counters().rss_anon, HPAGE_PAGES);
    for va in (A..A + H).step_by(4096) {
        let mut b = [0u8; 8];
        cpu.load(&mut mm, va, &mut b).unwrap();
        let want = if (va - A) % 8192 == 0 { va ^ 9 } else { 0 };
        assert_eq!(u64::from_le_bytes(b), want, "page {va:#x}");
    }
    mm.check_invariants(env);
    // A page another process shares cannot be collapsed now.
    mm.munmap(env, A + 4096, 4096).unwrap();
    let child = mm.fork(env, &lim()).unwrap();
    assert_eq!(mm.madvise(env, A, 4096, MADV_COLLAPSE, &lim()), Ok(()), "no whole block in the range");
    mm.munmap(env, A + H, H).unwrap();
    mm.mmap(env, &req(A + 4096, 1, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), &lim()).unwrap();
    assert_eq!(mm.madvise(env, A, H, MADV_COLLAPSE, &lim()), Err(MmError::Again));
    child.destroy(env);
    mm.destroy(env);
    assert_eq!(env.pa.drained_free_pages(), free);
}

#[test]
fn reclaim_splits_puts_the_pages_on_the_lru() {
    use crate::phys::lru::LruList;
    let (env, mut mm, mut cpu) = setup();
    huge_area(env, &mut mm, 2);
    fill(&mut cpu, &mut mm, A, 2 * H, 3);
    let lru =
        |env: &MmEnv<'_>| env.pa.nodes[0].lru.len(LruList::InactiveAnon) + env.pa.nodes[0].lru.len(LruList::ActiveAnon);
    let before = lru(env);
    assert_eq!(mm.split_thps_for_reclaim(env, Some(0), 1), 1);
    assert_eq!(huge_leaves(env, &mm), 1);
    assert_eq!(lru(env), before + HPAGE_PAGES, "the split page's 512 pages joined the LRU");
    assert_eq!(mm.split_thps_for_reclaim(env, Some(1), 8), 0, "nothing on node 1");
    assert_eq!(mm.split_thps_for_reclaim(env, None, 8), 1);
    check(&mut cpu, &mut mm, A, 2 * H, 3);
    mm.check_invariants(env);
    mm.destroy(env);
}

#[test]
fn reads_map_the_huge_zero_page_and_a_write_splits_it() {
    let (env, mut mm, mut cpu) = setup();
    huge_area(env, &mut mm, 2);
    assert_eq!(cpu.load_u8(&mut mm, A + 77).unwrap(), 0);
    assert_eq!(cpu.load_u8(&mut mm, A + H + 5).unwrap(), 0);
    let leaves = mm.leaves(env, A, A + 2 * H);
    assert_eq!(leaves.len(), 2);
    assert_eq!(leaves[0].phys, leaves[1].phys, "one huge zero page for both");
    assert!(leaves.iter().all(|l| l.size == MapSize::Size2M && !l.writable));
    assert_eq!(env.pa.vmstat.thp_zero_page_alloc.get(), 1);
    assert_eq!(mm.counters().rss(), 0, "the huge zero page is not RSS");
    mm.check_invariants(env);
    cpu.store(&mut mm, A + 4096, &[9]).unwrap();
    assert_eq!(huge_leaves(env, &mm), 2, "the written block got a huge page of its own");
    assert_eq!(mm.counters().rss_anon, HPAGE_PAGES);
    assert_eq!(env.pa.vmstat.anon_thp.get(), 1);
    // With no huge page to be had (never), the next block splits instead.
    assert!(env.pa.thp.set_enabled("never"));
    cpu.store(&mut mm, A + H, &[1]).unwrap();
    assert_eq!(huge_leaves(env, &mm), 1);
    assert_eq!(mm.counters().rss_anon, HPAGE_PAGES + 1, "one 4 KiB page, the rest still the zero page");
    assert_eq!(cpu.load_u8(&mut mm, A + 4096).unwrap(), 9);
    assert_eq!(cpu.load_u8(&mut mm, A + 8192).unwrap(), 0);
    let child = mm.fork(env, &lim()).unwrap();
    child.check_invariants(env);
    mm.check_invariants(env);
    child.destroy(env);
    mm.munmap(env, A, 2 * H).unwrap();
    assert_eq!(mm.ptl.lock().thp_zero, 0);
    mm.destroy(env);
}

/// The one huge leaf of `mm` at `va`'s block.
fn huge_leaf(env: &MmEnv<'_>, mm: &AddressSpace, va: u64) -> crate::vm::page_table::Leaf {
    let l = mm.leaves(env, va, va + H);
    assert_eq!(l.len(), 1, "one leaf at {va:#x}");
    assert_eq!(l[0].size, MapSize::Size2M);
    l[0]
}

/// ```text
///   fork:          parent ──PMD (ro)──┐
///                  child  ──PMD (ro)──┴──> huge page  (ref 2, map 2)
///   child writes:  parent ──PMD (ro)─────> huge page  (ref 1, map 1)
///                  child  ──PT──> 512 private copies
///   parent writes: the PMD becomes writable again, same page
/// ```
#[test]
fn fork_shares_the_huge_page_and_a_child_write_splits_only_its_entry() {
    let (env, mut mm, mut cpu) = setup();
    let free = FREE.get();
    huge_area(env, &mut mm, 1);
    fill(&mut cpu, &mut mm, A, H, 0x51);
    let pfn = Pfn::from_phys(huge_leaf(env, &mm, A).phys.as_u64());
    let mut child = mm.fork(env, &lim()).unwrap();
    let (pl, cl) = (huge_leaf(env, &mm, A), huge_leaf(env, &child, A));
    assert_eq!(pl.phys, cl.phys, "one page for both");
    assert!(!pl.writable && !cl.writable, "both entries write-protected");
    let page = env.pa.page(pfn).unwrap();
    assert_eq!((page.refcount(), page.mapcount()), (2, 2));
    assert_eq!(env.pa.vmstat.anon_thp.get(), 1, "meminfo counts the page once");
    assert_eq!(child.counters().rss_anon, HPAGE_PAGES);
    mm.check_invariants(env);
    child.check_invariants(env);
    // Reads just work on both sides.
    check(&mut cpu, &mut child, A, H, 0x51);
    let splits = env.pa.vmstat.thp_split_pmd.get();
    cpu.store(&mut child, A + 3 * 4096, &[0xab]).unwrap();
    assert_eq!(huge_leaves(env, &child), 0, "the child's entry was split");
    assert_eq!(huge_leaf(env, &mm, A).phys, pl.phys, "the parent keeps the huge page");
    assert_eq!(env.pa.vmstat.thp_split_pmd.get(), splits + 1);
    assert_eq!(env.pa.vmstat.anon_thp.get(), 1);
    assert_eq!((page.refcount(), page.mapcount()), (1, 1));
    assert_eq!(child.counters().rss_anon, HPAGE_PAGES);
    assert_eq!(cpu.load_u8(&mut child, A + 3 * 4096).unwrap(), 0xab);
    check(&mut cpu, &mut mm, A, H, 0x51);
    check(&mut cpu, &mut child, A + 4 * 4096, H - 4 * 4096, 0x51);
    mm.check_invariants(env);
    child.check_invariants(env);
    // The parent is the only user now: its write reuses the page.
    let reuse = env.pa.vmstat.pgreuse.get();
    cpu.store(&mut mm, A + 8, &[1]).unwrap();
    let l = huge_leaf(env, &mm, A);
    assert!(l.writable && l.phys == pl.phys, "reused, not copied");
    assert_eq!(env.pa.vmstat.pgreuse.get(), reuse + 1);
    child.destroy(env);
    mm.check_invariants(env);
    mm.destroy(env);
    assert_eq!(env.pa.vmstat.anon_thp.get(), 0);
    assert_eq!(env.pa.drained_free_pages(), free, "every page came back");
}

#[test]
fn a_parent_write_after_the_child_exits_reuses_the_huge_page() {
    let (env, mut mm, mut cpu) = setup();
    let free = FREE.get();
    huge_area(env, &mut mm, 2);
    fill(&mut cpu, &mut mm, A, 2 * H, 0x99);
    let child = mm.fork(env, &lim()).unwrap();
    let before: std::vec::Vec<_> = (0..2).map(|i| huge_leaf(env, &mm, A + i * H).phys).collect();
    child.destroy(env);
    assert_eq!(env.pa.vmstat.anon_thp.get(), 2, "the parent still maps both");
    fill(&mut cpu, &mut mm, A, 2 * H, 0x98);
    for i in 0..2 {
        let l = huge_leaf(env, &mm, A + i * H);
        assert!(l.writable);
        assert_eq!(l.phys, before[i as usize], "no copy");
    }
    check(&mut cpu, &mut mm, A, 2 * H, 0x98);
    mm.check_invariants(env);
    mm.destroy(env);
    assert_eq!(env.pa.drained_free_pages(), free);
}

#[test]
fn a_partial_munmap_in_the_child_leaves_the_parents_huge_page() {
    let (env, mut mm, mut cpu) = setup();
    let free = FREE.get();
    huge_area(env, &mut mm, 1);
    fill(&mut cpu, &mut mm, A, H, 0x7);
    let mut child = mm.fork(env, &lim()).unwrap();
    child.munmap(env, A + 4096, 4096).unwrap();
    assert_eq!(huge_leaves(env, &child), 0);
    assert_eq!(huge_leaves(env, &mm), 1);
    assert_eq!(child.counters().rss_anon, HPAGE_PAGES - 1);
    check(&mut cpu, &mut child, A + 8192, H - 8192, 0x7);
    child.check_invariants(env);
    // A shared page stays whole under reclaim's split.
    let mut child2 = mm.fork(env, &lim()).unwrap();
    assert_eq!(mm.split_thps_for_reclaim(env, None, 8), 0, "shared with child2");
    assert_eq!(child2.split_thps_for_reclaim(env, None, 8), 0);
    child2.destroy(env);
    assert_eq!(mm.split_thps_for_reclaim(env, None, 8), 1);
    check(&mut cpu, &mut mm, A, H, 0x7);
    mm.check_invariants(env);
    child.destroy(env);
    mm.destroy(env);
    assert_eq!(env.pa.drained_free_pages(), free);
}

/// ```text
///   A      A+H                    A+4H     A+5H
///   [ THP ]          ──mremap──>  [ THP ]        the entry moves
///                                 A+6H+4K: not aligned alike: split
/// ```
#[test]
fn mremap_moves_an_aligned_huge_page_whole() {
    let (env, mut mm, mut cpu) = setup();
    let free = FREE.get();
    huge_area(env, &mut mm, 1);
    fill(&mut cpu, &mut mm, A, H, 0x3c);
    let phys = huge_leaf(env, &mm, A).phys;
    let to = mm.mremap(env, A, H, H, MREMAP_MAYMOVE | MREMAP_FIXED, A + 4 * H, &lim()).unwrap();
    assert_eq!(to, A + 4 * H);
    assert_eq!(huge_leaf(env, &mm, to).phys, phys, "the same page, not copied");
    assert_eq!(huge_leaves(env, &mm), 1);
    assert_eq!(env.pa.vmstat.anon_thp.get(), 1);
    assert_eq!(mm.counters().rss_anon, HPAGE_PAGES);
    mm.check_invariants(env);
    // Check with the tag of the old addresses: data moved with the page.
    for va in (to..to + H).step_by(4096) {
        let mut b = [0u8; 8];
        cpu.load(&mut mm, va, &mut b).unwrap();
        assert_eq!(u64::from_le_bytes(b), (va - 4 * H) ^ 0x3c);
    }
    // Shared with a child, it moves whole too.
    let child = mm.fork(env, &lim()).unwrap();
    let to2 = mm.mremap(env, to, H, H, MREMAP_MAYMOVE | MREMAP_FIXED, A + 8 * H, &lim()).unwrap();
    assert_eq!(huge_leaf(env, &mm, to2).phys, phys);
    child.destroy(env);
    // Not aligned alike: split, entry by entry.
    let to3 = mm.mremap(env, to2, H, H, MREMAP_MAYMOVE | MREMAP_FIXED, A + 12 * H + 4096, &lim()).unwrap();
    assert_eq!(huge_leaves(env, &mm), 0);
    for va in (to3..to3 + H).step_by(4096) {
        let mut b = [0u8; 8];
        cpu.load(&mut mm, va, &mut b).unwrap();
        assert_eq!(u64::from_le_bytes(b), (va - 12 * H - 4096) ^ 0x3c);
    }
    mm.check_invariants(env);
    mm.destroy(env);
    assert_eq!(env.pa.drained_free_pages(), free);
}

#[test]
fn reclaim_advice_leaves_a_shared_huge_page_whole() {
    let (env, mut mm, mut cpu) = setup();
    let free = FREE.get();
    huge_area(env, &mut mm, 1);
    fill(&mut cpu, &mut mm, A, H, 0x44);
    let child = mm.fork(env, &lim()).unwrap();
    let before = env.pa.drained_free_pages();
    for advice in [MADV_COLD, MADV_PAGEOUT, MADV_FREE] {
        mm.madvise(env, A, H, advice, &lim()).unwrap();
        assert_eq!(huge_leaves(env, &mm), 1, "advice {advice}: still whole");
        assert!(env.pa.drained_free_pages() >= before, "advice {advice}: nothing copied");
    }
    check(&mut cpu, &mut mm, A, H, 0x44);
    mm.check_invariants(env);
    child.destroy(env);
    // Mapped once now: the advice splits it as before.
    mm.madvise(env, A, H, MADV_COLD, &lim()).unwrap();
    assert_eq!(huge_leaves(env, &mm), 0);
    check(&mut cpu, &mut mm, A, H, 0x44);
    mm.destroy(env);
    assert_eq!(env.pa.drained_free_pages(), free);
}

#[test]
fn a_remote_write_into_a_shared_huge_page_breaks_cow_for_that_space_only() {
    let (env, mut mm, mut cpu) = setup();
    huge_area(env, &mut mm, 1);
    fill(&mut cpu, &mut mm, A, H, 0x21);
    let mut child = mm.fork(env, &lim()).unwrap();
    // /proc/PID/mem of the child, into a tail part of the huge page.
    assert_eq!(child.write_remote(env, A + 5 * 4096, b"zz"), 2);
    assert_eq!(cpu.load_u8(&mut child, A + 5 * 4096).unwrap(), b'z');
    check(&mut cpu, &mut mm, A, H, 0x21);
    assert_eq!(huge_leaves(env, &mm), 1);
    // The parent's page is its alone now: a remote write reuses it.
    let phys = huge_leaf(env, &mm, A).phys;
    assert_eq!(mm.write_remote(env, A + 7 * 4096, b"y"), 1);
    assert_eq!(huge_leaf(env, &mm, A).phys, phys);
    assert_eq!(cpu.load_u8(&mut mm, A + 7 * 4096).unwrap(), b'y');
    mm.check_invariants(env);
    child.check_invariants(env);
    child.destroy(env);
    mm.destroy(env);
}
