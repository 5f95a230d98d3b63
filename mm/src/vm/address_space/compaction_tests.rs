//! Host tests of compaction (vm/compaction.rs) on the simulated machine:
//! memory fragmented by a process that frees every other page of a region
//! gets its free pageblocks back, every page keeps its data, its mappings
//! and every count; what compaction must leave alone stays; an allocation
//! of a huge block compacts for itself.

use abi::mman::*;

use super::rmap_tests::{ENV, Owned, own};
use super::tests::{lim, req};
use super::*;
use crate::phys::buddy::PAGEBLOCK_ORDER;
use crate::phys::gfp::{GFP_KERNEL, Gfp};
use crate::phys::lru::LruList;
use crate::testing::cpu::Cpu;
use crate::vm::compaction::{compact_all, install, kcompactd_do_work, should_proactive_compact, suitable};
use crate::vm::file::{MemObject, PageQuota};
use crate::vm::mmap::{FileMapping, MmapRequest};
use alloc::sync::Arc;

const P: u64 = PAGE_SIZE;
const RW: u32 = PROT_READ | PROT_WRITE;
const PRIV: u32 = MAP_PRIVATE | MAP_ANONYMOUS;
/// 16 MiB: eight pageblocks.
const PAGES: u64 = 4096;

fn setup() -> (&'static MmEnv<'static>, Cpu) {
    let (env, cpu) = crate::testing::uniprocessor(64 << 20);
    ENV.set(Some(env));
    (env, cpu)
}

fn process(env: &'static MmEnv<'static>) -> Arc<Owned> {
    let mut mm = AddressSpace::new(env).unwrap();
    mm.layout.mmap_base = AddressSpace::mmap_base_for(8 << 20);
    own(mm)
}

fn exit(env: &MmEnv<'_>, p: Arc<Owned>) {
    Arc::into_inner(p).expect("the only reference").space.into_inner().destroy(env);
}

/// Page `i` of a region holds `[tag, i, i >> 8]`.
fn stamp(mm: &mut AddressSpace, cpu: &mut Cpu, va: u64, pages: impl Iterator<Item = u64>, tag: u8) {
    for i in pages {
        cpu.store(mm, va + i * P, &[tag, i as u8, (i >> 8) as u8]).unwrap();
    }
}

fn check(mm: &mut AddressSpace, cpu: &mut Cpu, va: u64, pages: impl Iterator<Item = u64>, tag: u8) {
    for i in pages {
        let mut b = [0u8; 3];
        cpu.load(mm, va + i * P, &mut b).unwrap();
        assert_eq!(b, [tag, i as u8, (i >> 8) as u8], "page {i}");
    }
}

/// Free pages in blocks of a pageblock or more, every zone.
fn huge_free(env: &MmEnv<'_>) -> u64 {
    env.pa.zones().map(|z| env.pa.contig_info(z, PAGEBLOCK_ORDER).free_blocks_suitable).sum()
}

/// A process with a 16 MiB region whose odd pages were freed again.
fn fragmented(env: &'static MmEnv<'static>, cpu: &mut Cpu) -> (Arc<Owned>, u64) {
    let p = process(env);
    let mut mm = p.space.lock();
    let va = mm.mmap(env, &req(0, PAGES, RW, PRIV), &lim()).unwrap();
    cpu.switch_to(&mm);
    stamp(&mut mm, cpu, va, 0..PAGES, 5);
    for i in (1..PAGES).step_by(2) {
        mm.munmap(env, va + i * P, P).unwrap();
    }
    drop(mm);
    (p, va)
}

fn pfn_at(p: &Owned, env: &MmEnv<'_>, va: u64) -> Pfn {
    p.space.lock().lookup(env, va).unwrap().0
}

#[test]
fn compaction_gives_back_free_pageblocks_and_every_page_its_data() {
    let (env, mut cpu) = setup();
    let base = env.pa.drained_free_pages();
    let (p, va) = fragmented(env, &mut cpu);
    let pfns: Vec<Pfn> = (0..PAGES).step_by(2).map(|i| pfn_at(&p, env, va + i * P)).collect();
    let (free, huge) = (env.pa.drained_free_pages(), huge_free(env));
    let (anon, rss) = (env.pa.vmstat.anon_pages.get(), p.space.lock().counters().rss_anon);
    let lists = env.pa.nodes[0].lru.len(LruList::InactiveAnon);
    let s = compact_all(env.pa);
    assert!(s.migrated >= PAGES / 8, "half the region's pages moved at least: {s:?}");
    assert_eq!(s.failed, 0, "nothing pinned them: {s:?}");
    assert!(huge_free(env) >= huge + 3, "free pageblocks came back: {} -> {}", huge, huge_free(env));
    assert_eq!(env.pa.drained_free_pages(), free, "a page taken for each page freed");
    assert_eq!(env.pa.vmstat.anon_pages.get(), anon);
    assert_eq!(p.space.lock().counters().rss_anon, rss);
    assert_eq!(env.pa.nodes[0].lru.len(LruList::InactiveAnon), lists, "the new pages took the old ones' places");
    let vs = &env.pa.vmstat;
    assert_eq!(vs.pgmigrate_success.get(), s.migrated);
    assert_eq!(vs.compact_migrate_scanned.get(), s.migrate_scanned);
    assert!(vs.compact_free_scanned.get() > 0 && vs.compact_isolated.get() >= 2 * s.migrated);
    let moved = (0..PAGES).step_by(2).zip(&pfns).filter(|&(i, &old)| pfn_at(&p, env, va + i * P) != old).count() as u64;
    assert_eq!(moved, s.migrated, "the moved pages are mapped at their new frames");
    env.pa.check_invariants();
    // The data came along, and the pages are still this process's own:
    // a write needs no copy.
    let mut mm = p.space.lock();
    cpu.switch_to(&mm);
    check(&mut mm, &mut cpu, va, (0..PAGES).step_by(2), 5);
    let cows = env.pa.vmstat.cow_faults.get();
    stamp(&mut mm, &mut cpu, va, (0..PAGES).step_by(2), 6);
    assert_eq!(env.pa.vmstat.cow_faults.get(), cows);
    drop(mm);
    exit(env, p);
    assert_eq!(env.pa.drained_free_pages(), base, "every page came back at exit");
}

#[test]
fn shmem_pages_move_in_their_object_and_mlocked_pages_as_the_sysctl_says() {
    let (env, mut cpu) = setup();
    let q = Arc::new(PageQuota::new(1 << 12));
    let obj = MemObject::tmpfs("/tmp/c", 9, env.pa, env.swap, q);
    const N: u64 = 1024;
    obj.set_size(N * P).unwrap();
    let p = process(env);
    let mut mm = p.space.lock();
    let file = Some(FileMapping { object: obj.clone(), readable: true, writable: true });
    let shared = mm.mmap(env, &MmapRequest { file, ..req(0, N, RW, MAP_SHARED) }, &lim()).unwrap();
    let locked = mm.mmap(env, &req(0, N, RW, PRIV), &lim()).unwrap();
    let scratch = mm.mmap(env, &req(0, 2 * N, RW, PRIV), &lim()).unwrap();
    cpu.switch_to(&mm);
    // Interleave the three kinds of pages, then free the scratch ones.
    for i in 0..N {
        stamp(&mut mm, &mut cpu, shared, i..i + 1, 1);
        stamp(&mut mm, &mut cpu, scratch, 2 * i..2 * i + 2, 3);
        stamp(&mut mm, &mut cpu, locked, i..i + 1, 2);
    }
    mm.mlock(env, locked, N * P, 0, &lim()).unwrap();
    mm.munmap(env, scratch, 2 * N * P).unwrap();
    drop(mm);
    let locked_pfns: Vec<Pfn> = (0..N).map(|i| pfn_at(&p, env, locked + i * P)).collect();
    let mlocked = env.pa.vmstat.mlocked_pages.get();
    let unevictable = env.pa.nodes[0].lru.len(LruList::Unevictable);
    let shmem_pfns: Vec<Pfn> = (0..N).map(|i| obj.find_page(i).unwrap()).collect();
    // vm.compact_unevictable_allowed = 0: mlocked pages stay put.
    assert!(env.pa.compact_tunables.set_unevictable_allowed(0));
    let s = compact_all(env.pa);
    assert!(s.migrated > 0, "{s:?}");
    assert!((0..N).all(|i| pfn_at(&p, env, locked + i * P) == locked_pfns[i as usize]));
    let shmem_moved = (0..N).filter(|&i| obj.find_page(i).unwrap() != shmem_pfns[i as usize]).count();
    assert!(shmem_moved > 0, "shmem pages moved in their object");
    // = 1: they move too, and stay locked and counted.
    assert!(env.pa.compact_tunables.set_unevictable_allowed(1));
    let free = env.pa.drained_free_pages();
    compact_all(env.pa);
    let locked_moved = (0..N).filter(|&i| pfn_at(&p, env, locked + i * P) != locked_pfns[i as usize]).count();
    assert!(locked_moved > 0, "mlocked pages moved");
    assert_eq!(env.pa.vmstat.mlocked_pages.get(), mlocked);
    assert_eq!(env.pa.nodes[0].lru.len(LruList::Unevictable), unevictable);
    assert_eq!(env.pa.drained_free_pages(), free);
    for i in 0..N {
        let pfn = pfn_at(&p, env, locked + i * P);
        assert!(env.pa.page(pfn).unwrap().has(crate::phys::page::PageFlags::MLOCKED), "page {i}");
    }
    let mut mm = p.space.lock();
    cpu.switch_to(&mm);
    check(&mut mm, &mut cpu, shared, 0..N, 1);
    check(&mut mm, &mut cpu, locked, 0..N, 2);
    let mut b = [0u8; 3];
    obj.read_at(7 * P, &mut b).unwrap();
    assert_eq!(b, [1, 7, 0], "the object reads the moved page");
    // munlock finds the moved pages' counts.
    mm.munlock(env, locked, N * P).unwrap();
    assert_eq!(env.pa.vmstat.mlocked_pages.get(), mlocked - N);
    drop(mm);
    exit(env, p);
    drop(obj);
    env.pa.check_invariants();
}

#[test]
fn pages_shared_since_fork_move_for_both_and_read_the_same() {
    let (env, mut cpu) = setup();
    let (p, va) = fragmented(env, &mut cpu);
    let child = own(p.space.lock().fork(env, &lim()).unwrap());
    let pfns: Vec<Pfn> = (0..PAGES).step_by(2).map(|i| pfn_at(&p, env, va + i * P)).collect();
    let free = env.pa.drained_free_pages();
    let s = compact_all(env.pa);
    assert!(s.migrated > 0, "migration entries in both: pages mapped twice move");
    assert_eq!(env.pa.drained_free_pages(), free);
    let moved = (0..PAGES).step_by(2).zip(&pfns).filter(|&(i, &old)| pfn_at(&p, env, va + i * P) != old).count();
    assert!(moved > 0);
    // Parent and child map the same (new) pages, still copy-on-write.
    assert!((0..PAGES).step_by(2).all(|i| pfn_at(&p, env, va + i * P) == pfn_at(&child, env, va + i * P)));
    for q in [&p, &child] {
        let mut mm = q.space.lock();
        cpu.switch_to(&mm);
        check(&mut mm, &mut cpu, va, (0..PAGES).step_by(2), 5);
        assert!((0..PAGES).step_by(2).all(|i| !mm.lookup(env, va + i * P).unwrap().1.contains(F::WRITABLE)));
        mm.check_invariants(env);
    }
    exit(env, child);
    exit(env, p);
}

#[test]
fn a_huge_allocation_compacts_directly_when_no_block_is_free() {
    let (env, mut cpu) = setup();
    install(env.pa);
    let (p, va) = fragmented(env, &mut cpu);
    // Take every free pageblock-sized block (without compacting).
    let mut held = Vec::new();
    while let Some(pfn) = env.pa.alloc_pages(Gfp::NOWARN, PAGEBLOCK_ORDER) {
        held.push(pfn);
    }
    assert_eq!(huge_free(env), 0);
    let zone = env.pa.zones().find(|z| z.is_populated() && z.managed() > 8192).unwrap();
    assert_eq!(suitable(env.pa, zone, PAGEBLOCK_ORDER), None, "worth compacting");
    let got = env.pa.alloc_pages(GFP_KERNEL | Gfp::NOWARN, PAGEBLOCK_ORDER).expect("direct compaction made a block");
    let vs = &env.pa.vmstat;
    assert_eq!((vs.compact_stall.get(), vs.compact_success.get(), vs.compact_fail.get()), (1, 1, 0));
    assert!(vs.pgmigrate_success.get() > 0);
    held.push(got);
    // Each stall is counted once, as a success or a failure.
    if let Some(m) = env.pa.alloc_pages(GFP_KERNEL | Gfp::NOWARN, PAGEBLOCK_ORDER) {
        held.push(m);
    }
    assert_eq!(vs.compact_stall.get(), 2);
    assert_eq!(vs.compact_success.get() + vs.compact_fail.get(), 2);
    let mut mm = p.space.lock();
    cpu.switch_to(&mm);
    check(&mut mm, &mut cpu, va, (0..PAGES).step_by(2), 5);
    drop(mm);
    for pfn in held {
        env.pa.free_pages(pfn, PAGEBLOCK_ORDER).unwrap();
    }
    exit(env, p);
    env.pa.check_invariants();
}

#[test]
fn kcompactd_works_for_an_order_and_the_score_decides_proactive_runs() {
    let (env, mut cpu) = setup();
    let (p, _va) = fragmented(env, &mut cpu);
    let mut held = Vec::new();
    while let Some(pfn) = env.pa.alloc_pages(Gfp::NOWARN, PAGEBLOCK_ORDER) {
        held.push(pfn);
    }
    // Nearly all free memory is in the region's holes: over the marks.
    assert!(env.pa.fragmentation_score_node(0) > 90, "score {}", env.pa.fragmentation_score_node(0));
    assert!(should_proactive_compact(env.pa, 0));
    assert!(env.pa.compact_tunables.set_proactiveness(0));
    assert!(!should_proactive_compact(env.pa, 0), "proactiveness 0 turns it off");
    let s = kcompactd_do_work(env.pa, 0, PAGEBLOCK_ORDER);
    assert!(s.migrated > 0 && huge_free(env) > 0, "{s:?}");
    let vs = &env.pa.vmstat;
    assert_eq!(vs.compact_daemon_wake.get(), 1);
    assert_eq!(vs.compact_daemon_migrate_scanned.get(), s.migrate_scanned);
    assert_eq!(vs.compact_daemon_free_scanned.get(), s.free_scanned);
    assert_eq!(vs.compact_stall.get(), 0, "not an allocation's stall");
    for pfn in held {
        env.pa.free_pages(pfn, PAGEBLOCK_ORDER).unwrap();
    }
    exit(env, p);
}
