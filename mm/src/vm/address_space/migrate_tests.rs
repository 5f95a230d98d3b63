//! Host tests of page migration (vm/migrate.rs) on a two-node machine:
//! pages move with their data and every count where it was, the old frames
//! go back, and what cannot move says why.

use abi::mman::*;

use super::rmap_tests::{ENV, Owned, own};
use super::tests::{lim, req};
use super::*;
use crate::phys::lru::LruList;
use crate::phys::page::PageFlags;
use crate::testing::cpu::Cpu;
use crate::vm::file::{MemObject, PageQuota};
use crate::vm::migrate::MigrateError;
use crate::vm::mmap::{FileMapping, MmapRequest};
use alloc::sync::Arc;

const P: u64 = PAGE_SIZE;
const RW: u32 = PROT_READ | PROT_WRITE;
const PRIV: u32 = MAP_PRIVATE | MAP_ANONYMOUS;

fn setup() -> (&'static MmEnv<'static>, Cpu) {
    let (env, cpu) = crate::testing::numa_uniprocessor(64 << 20, 2);
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

fn stamp(mm: &mut AddressSpace, cpu: &mut Cpu, va: u64, pages: u64, tag: u8) {
    for i in 0..pages {
        cpu.store(mm, va + i * P, &[tag, i as u8]).unwrap();
    }
}

fn check(mm: &mut AddressSpace, cpu: &mut Cpu, va: u64, pages: u64, tag: u8) {
    for i in 0..pages {
        let mut b = [0u8; 2];
        cpu.load(mm, va + i * P, &mut b).unwrap();
        assert_eq!(b, [tag, i as u8], "page {i}");
    }
}

fn lru_total(env: &MmEnv<'_>, l: LruList) -> u64 {
    env.pa.nodes.iter().map(|n| n.lru.len(l)).sum()
}

#[test]
fn anonymous_pages_move_with_their_data_and_counts() {
    let (env, mut cpu) = setup();
    let p = process(env);
    let mut mm = p.space.lock();
    let va = mm.mmap(env, &req(0, 16, RW, PRIV), &lim()).unwrap();
    stamp(&mut mm, &mut cpu, va, 16, 3);
    assert!((0..16).all(|i| mm.page_node(env, va + i * P) == Ok(0)), "the faults allocated locally");
    let free = env.pa.drained_free_pages();
    let (free0, free1) = (env.pa.node_free_pages(0), env.pa.node_free_pages(1));
    let anon = env.pa.vmstat.anon_pages.get();
    let lists = lru_total(env, LruList::InactiveAnon);
    for i in 0..16 {
        assert_eq!(mm.move_page(env, va + i * P, 1, false), Ok(1));
    }
    assert!((0..16).all(|i| mm.page_node(env, va + i * P) == Ok(1)));
    assert_eq!(env.pa.vmstat.pgmigrate_success.get(), 16);
    assert_eq!(env.pa.drained_free_pages(), free, "one page taken, one freed, per move");
    assert_eq!((env.pa.node_free_pages(0), env.pa.node_free_pages(1)), (free0 + 16, free1 - 16));
    assert_eq!(env.pa.vmstat.anon_pages.get(), anon);
    assert_eq!(lru_total(env, LruList::InactiveAnon), lists, "the new pages took the old ones' places");
    assert_eq!(mm.counters().rss_anon, 16);
    // Same data, still writable without a copy, and back again.
    cpu.switch_to(&mm);
    check(&mut mm, &mut cpu, va, 16, 3);
    let cows = env.pa.vmstat.cow_faults.get();
    stamp(&mut mm, &mut cpu, va, 16, 4);
    assert_eq!(env.pa.vmstat.cow_faults.get(), cows);
    assert_eq!(mm.move_page(env, va + 5 * P, 0, false), Ok(0));
    check(&mut mm, &mut cpu, va, 16, 4);
    drop(mm);
    exit(env, p);
}

#[test]
fn what_cannot_move_says_why() {
    let (env, mut cpu) = setup();
    let p = process(env);
    let va = p.space.lock().mmap(env, &req(0, 4, RW, PRIV), &lim()).unwrap();
    let mut mm = p.space.lock();
    assert_eq!(mm.move_page(env, va + 64 * P, 1, false), Err(MigrateError::Fault), "no area");
    assert_eq!(mm.move_page(env, va, 1, false), Err(MigrateError::NotPresent), "never touched");
    let mut b = [0u8; 1];
    cpu.load(&mut mm, va + P, &mut b).unwrap();
    assert_eq!(mm.move_page(env, va + P, 1, false), Err(MigrateError::Fault), "the zero page");
    cpu.store(&mut mm, va + 2 * P, &[1]).unwrap();
    assert_eq!(mm.move_page(env, va + 2 * P, 0, false), Ok(0), "there already");
    drop(mm);
    // Shared after fork: not without MOVE_ALL; a pinned page not at all.
    let child = own(p.space.lock().fork(env, &lim()).unwrap());
    assert_eq!(p.space.lock().move_page(env, va + 2 * P, 1, false), Err(MigrateError::Shared));
    exit(env, child);
    let (pfn, _) = p.space.lock().lookup(env, va + 2 * P).unwrap();
    env.pa.page(pfn).unwrap().get();
    assert_eq!(p.space.lock().move_page(env, va + 2 * P, 1, false), Err(MigrateError::Busy), "pinned");
    assert_eq!(env.pa.vmstat.pgmigrate_fail.get(), 1);
    assert_eq!(lru_total(env, LruList::InactiveAnon), 1, "put back on its list");
    env.pa.put_user_page(pfn);
    assert_eq!(p.space.lock().move_page(env, va + 2 * P, 1, false), Ok(1));
    check(&mut p.space.lock(), &mut cpu, va + 2 * P, 1, 1);
    exit(env, p);
}

#[test]
fn a_shared_file_page_moves_for_every_mapper() {
    let (env, mut cpu) = setup();
    let q = Arc::new(PageQuota::new(64));
    let obj = MemObject::tmpfs("/tmp/m", 5, env.pa, env.swap, q);
    obj.set_size(4 * P).unwrap();
    let (a, b) = (process(env), process(env));
    let map = |p: &Owned| {
        let file = Some(FileMapping { object: obj.clone(), readable: true, writable: true });
        p.space.lock().mmap(env, &MmapRequest { file, ..req(0, 4, RW, MAP_SHARED) }, &lim()).unwrap()
    };
    let (va, vb) = (map(&a), map(&b));
    cpu.switch_to(&a.space.lock());
    stamp(&mut a.space.lock(), &mut cpu, va, 4, 7);
    cpu.switch_to(&b.space.lock());
    check(&mut b.space.lock(), &mut cpu, vb, 4, 7);
    let shmem = env.pa.vmstat.shmem_pages.get();
    assert_eq!(a.space.lock().move_page(env, va + P, 1, false), Err(MigrateError::Shared));
    let rss = a.space.lock().counters().rss_shmem;
    assert_eq!(a.space.lock().move_page(env, va + P, 1, true), Ok(1));
    assert_eq!(a.space.lock().page_node(env, va + P), Ok(1), "mapped again here at once");
    assert_eq!(a.space.lock().counters().rss_shmem, rss);
    assert_eq!(env.pa.page(obj.find_page(1).unwrap()).unwrap().node(), 1, "the object names the new page");
    assert_eq!(env.pa.vmstat.shmem_pages.get(), shmem);
    let mut two = [0u8; 2];
    cpu.load(&mut b.space.lock(), vb + P, &mut two).unwrap();
    assert_eq!(two, [7, 1], "the data came along");
    // Both mappers fault the new page in: b's write shows in a.
    cpu.switch_to(&b.space.lock());
    cpu.store(&mut b.space.lock(), vb + P, &[9]).unwrap();
    cpu.switch_to(&a.space.lock());
    let mut x = [0u8; 1];
    cpu.load(&mut a.space.lock(), va + P, &mut x).unwrap();
    assert_eq!(x[0], 9);
    assert_eq!(a.space.lock().page_node(env, va + P), Ok(1));
    exit(env, a);
    exit(env, b);
    drop(obj);
}

#[test]
fn migrate_nodes_moves_everything_on_a_node() {
    let (env, mut cpu) = setup();
    let p = process(env);
    let mut mm = p.space.lock();
    let (a, b) =
        (mm.mmap(env, &req(0, 8, RW, PRIV), &lim()).unwrap(), mm.mmap(env, &req(0, 4, RW, PRIV), &lim()).unwrap());
    stamp(&mut mm, &mut cpu, a, 8, 1);
    stamp(&mut mm, &mut cpu, b, 4, 2);
    assert_eq!(mm.move_page(env, b, 1, false), Ok(1), "one page on node 1 already");
    let free = env.pa.drained_free_pages();
    assert_eq!(mm.migrate_nodes(env, &[Some(1), None], false), 0);
    assert!((0..8).all(|i| mm.page_node(env, a + i * P) == Ok(1)));
    assert!((0..4).all(|i| mm.page_node(env, b + i * P) == Ok(1)));
    assert_eq!(env.pa.vmstat.pgmigrate_success.get(), 1 + 11, "the page on node 1 stayed");
    assert_eq!(env.pa.drained_free_pages(), free);
    cpu.switch_to(&mm);
    check(&mut mm, &mut cpu, a, 8, 1);
    check(&mut mm, &mut cpu, b, 4, 2);
    drop(mm);
    exit(env, p);
}

/// The page `va` maps in `p`.
fn pfn_at(env: &MmEnv<'_>, p: &Owned, va: u64) -> Option<Pfn> {
    p.space.lock().lookup(env, va).map(|(pfn, _)| pfn)
}

fn load(cpu: &mut Cpu, p: &Owned, va: u64) -> [u8; 2] {
    let mut b = [0u8; 2];
    cpu.switch_to(&p.space.lock());
    cpu.load(&mut p.space.lock(), va, &mut b).unwrap();
    b
}

fn store(cpu: &mut Cpu, p: &Owned, va: u64, b: &[u8]) {
    cpu.switch_to(&p.space.lock());
    cpu.store(&mut p.space.lock(), va, b).unwrap();
}

///   parent  va ──┐
///                ├──> old page (node 0)   ==MOVE_ALL==>   new page (node 1)
///   child   va ──┘                                        both map it
#[test]
fn a_page_shared_since_fork_moves_for_both_with_move_all() {
    let (env, mut cpu) = setup();
    let parent = process(env);
    let va = parent.space.lock().mmap(env, &req(0, 2, RW, PRIV), &lim()).unwrap();
    stamp(&mut parent.space.lock(), &mut cpu, va, 2, 5);
    let child = own(parent.space.lock().fork(env, &lim()).unwrap());
    let old = pfn_at(env, &parent, va).unwrap();
    assert_eq!(pfn_at(env, &child, va), Some(old));
    let free = env.pa.drained_free_pages();
    assert_eq!(parent.space.lock().move_page(env, va, 1, false), Err(MigrateError::Shared));
    assert_eq!(parent.space.lock().move_page(env, va, 1, true), Ok(1));
    let new = pfn_at(env, &parent, va).unwrap();
    assert_ne!(new, old);
    assert_eq!(pfn_at(env, &child, va), Some(new), "the child maps the new page too");
    assert_eq!(child.space.lock().page_node(env, va), Ok(1));
    let np = env.pa.page(new).unwrap();
    assert_eq!((np.mapcount(), np.refcount()), (2, 2));
    assert_eq!(env.pa.drained_free_pages(), free, "one page taken, one freed");
    assert_eq!(parent.space.lock().counters().rss_anon, 2);
    assert_eq!(child.space.lock().counters().rss_anon, 2);
    assert_eq!(load(&mut cpu, &parent, va), [5, 0]);
    assert_eq!(load(&mut cpu, &child, va), [5, 0]);
    // Still copy-on-write: the child's write is its own.
    store(&mut cpu, &child, va, &[9]);
    assert_ne!(pfn_at(env, &child, va), Some(new));
    assert_eq!(load(&mut cpu, &parent, va), [5, 0]);
    assert_eq!(load(&mut cpu, &child, va), [9, 0]);
    parent.space.lock().check_invariants(env);
    child.space.lock().check_invariants(env);
    exit(env, child);
    exit(env, parent);
}

#[test]
fn a_pinned_shared_page_stays_and_every_mapping_is_restored() {
    let (env, mut cpu) = setup();
    let parent = process(env);
    let va = parent.space.lock().mmap(env, &req(0, 1, RW, PRIV), &lim()).unwrap();
    stamp(&mut parent.space.lock(), &mut cpu, va, 1, 6);
    let child = own(parent.space.lock().fork(env, &lim()).unwrap());
    let old = pfn_at(env, &parent, va).unwrap();
    let op = env.pa.page(old).unwrap();
    op.get();
    let free = env.pa.drained_free_pages();
    assert_eq!(parent.space.lock().move_page(env, va, 1, true), Err(MigrateError::Busy));
    assert_eq!(env.pa.drained_free_pages(), free, "the new page went back");
    assert_eq!(pfn_at(env, &parent, va), Some(old));
    assert_eq!(pfn_at(env, &child, va), Some(old));
    assert_eq!((op.mapcount(), op.refcount()), (2, 3));
    assert!(op.has(PageFlags::LRU), "back on its list");
    assert_eq!(parent.space.lock().counters().rss_anon, 1);
    assert_eq!(child.space.lock().counters().rss_anon, 1);
    env.pa.put_user_page(old);
    assert_eq!(load(&mut cpu, &child, va), [6, 0]);
    assert_eq!(parent.space.lock().move_page(env, va, 1, true), Ok(1));
    assert_eq!(load(&mut cpu, &child, va), [6, 0]);
    exit(env, child);
    exit(env, parent);
}

#[test]
fn an_mlocked_page_moves_and_stays_mlocked() {
    let (env, mut cpu) = setup();
    let p = process(env);
    let va = p.space.lock().mmap(env, &req(0, 2, RW, PRIV), &lim()).unwrap();
    stamp(&mut p.space.lock(), &mut cpu, va, 2, 8);
    let mut l = lim();
    l.can_lock = true;
    p.space.lock().mlock(env, va, 2 * P, 0, &l).unwrap();
    let unevictable = lru_total(env, LruList::Unevictable);
    let mlocked = env.pa.vmstat.mlocked_pages.get();
    assert_eq!(p.space.lock().move_page(env, va, 1, false), Ok(1));
    let np = env.pa.page(pfn_at(env, &p, va).unwrap()).unwrap();
    assert!(np.has(PageFlags::MLOCKED | PageFlags::UNEVICTABLE));
    assert_eq!(np.node(), 1);
    assert_eq!(lru_total(env, LruList::Unevictable), unevictable, "the new page took the old one's place");
    assert_eq!(env.pa.vmstat.mlocked_pages.get(), mlocked);
    assert_eq!(load(&mut cpu, &p, va), [8, 0]);
    p.space.lock().munlock(env, va, 2 * P).unwrap();
    assert!(!np.has(PageFlags::MLOCKED));
    exit(env, p);
    assert_eq!(env.pa.vmstat.mlocked_pages.get(), 0);
}

#[test]
fn a_swap_cache_page_moves_in_the_swap_cache() {
    let (env, mut cpu) = setup();
    let io = Arc::new(super::swap_tests::RamSwap {
        pa: env.pa,
        slots: std::sync::Mutex::new(Default::default()),
        writes: std::sync::Mutex::new(0),
    });
    env.swap.add_area(crate::swap::map::SwapMap::new(64, &[]), -2, io).expect("an area");
    let parent = process(env);
    let va = parent.space.lock().mmap(env, &req(0, 1, RW, PRIV), &lim()).unwrap();
    stamp(&mut parent.space.lock(), &mut cpu, va, 1, 3);
    let child = own(parent.space.lock().fork(env, &lim()).unwrap());
    let old = pfn_at(env, &parent, va).unwrap();
    let e = env.swap.alloc_for(env.pa, 0, old).unwrap();
    assert!(env.swap.add(env.pa, e, old, true));
    let free = env.pa.drained_free_pages();
    assert_eq!(parent.space.lock().move_page(env, va, 1, true), Ok(1));
    let new = pfn_at(env, &child, va).unwrap();
    assert_eq!(pfn_at(env, &parent, va), Some(new));
    assert_eq!(env.swap.lookup(env.pa, e), Some(new), "the swap cache names the new page");
    env.pa.put_user_page(new);
    let np = env.pa.page(new).unwrap();
    assert!(np.has(PageFlags::SWAPCACHE | PageFlags::DIRTY));
    assert_eq!(np.private.load(core::sync::atomic::Ordering::Relaxed), e.to_raw());
    assert_eq!((np.mapcount(), np.refcount()), (2, 3), "two mappings and the cache");
    assert_eq!(env.pa.drained_free_pages(), free);
    assert_eq!(load(&mut cpu, &child, va), [3, 0]);
    exit(env, child);
    exit(env, parent);
    // The slot's last reference: the page leaves the cache and is freed.
    env.swap.free(env.pa, e);
    assert_eq!(env.swap.lookup(env.pa, e), None);
}

/// A fault on a migration entry retries until the entry maps a page again,
/// then finds the new page.
#[test]
fn a_fault_on_a_migration_entry_waits_and_then_maps_the_new_page() {
    use crate::vm::fault::{FaultDone, FaultKind};
    use crate::vm::rmap_walk::{PageOwner, page_owner};
    let (env, mut cpu) = setup();
    let parent = process(env);
    let va = parent.space.lock().mmap(env, &req(0, 1, RW, PRIV), &lim()).unwrap();
    stamp(&mut parent.space.lock(), &mut cpu, va, 1, 4);
    let child = own(parent.space.lock().fork(env, &lim()).unwrap());
    let baseline = env.pa.drained_free_pages();
    let old = pfn_at(env, &parent, va).unwrap();
    let op = env.pa.page(old).unwrap();
    assert!(env.pa.lruvec(op).isolate_page(&env.pa.memmap, op));
    let Some((PageOwner::Anon(_), t)) = page_owner(op) else { panic!("an anonymous page") };
    for p in [&parent, &child] {
        assert_eq!(p.space.lock().migration_unmap(env, &t), 1);
    }
    assert_eq!((op.mapcount(), op.refcount()), (0, 1), "only the isolation holds it");
    assert!(child.space.lock().is_migrating(env, va));
    assert_eq!(child.space.lock().mincore(env, va, P).unwrap(), [1], "still resident");
    let mut pm = [0u64; 1];
    crate::procfs::pagemap::read(&child.space.lock(), env, va / P, &mut pm, true);
    assert_eq!(
        pm[0] & (crate::procfs::pagemap::PM_PRESENT | ((1 << 55) - 1)),
        crate::procfs::pagemap::PM_PRESENT | old.0
    );
    assert_eq!(child.space.lock().swap_entry(env, va), None, "no swap entry");
    let kind = FaultKind { write: false, present: false, exec: false };
    assert_eq!(child.space.lock().handle_fault(env, va, kind), Ok(FaultDone::Retry));
    assert!(child.space.lock().is_migrating(env, va), "the fault waits, it maps nothing");
    // The move, by hand.
    let new = env.pa.alloc_pages_node(1, crate::phys::gfp::GFP_HIGHUSER_MOVABLE, 0).unwrap();
    let _ = env.pa.phys().copy_page(new, old);
    crate::vm::migrate::transfer(op, env.pa.page(new).unwrap());
    env.pa.lru_add_as(new, false);
    for p in [&parent, &child] {
        let t = crate::vm::rmap_walk::PageTarget { pfn: old, ..t };
        assert_eq!(p.space.lock().remove_migration_ptes(env, &t, new), 1);
    }
    env.pa.put_user_page(new);
    env.pa.put_user_page(old);
    assert_eq!(pfn_at(env, &child, va), Some(new));
    assert_eq!(child.space.lock().handle_fault(env, va, kind), Ok(FaultDone::Minor));
    assert_eq!(load(&mut cpu, &child, va), [4, 0]);
    assert_eq!(load(&mut cpu, &parent, va), [4, 0]);
    assert_eq!(env.pa.drained_free_pages(), baseline);
    exit(env, child);
    exit(env, parent);
}
