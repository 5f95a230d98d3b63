//! Host tests of page migration (vm/migrate.rs) on a two-node machine:
//! pages move with their data and every count where it was, the old frames
//! go back, and what cannot move says why.

use abi::mman::*;

use super::rmap_tests::{ENV, Owned, own};
use super::tests::{lim, req};
use super::*;
use crate::phys::lru::LruList;
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
    // Shared after fork: not without MOVE_ALL, and not with it either
    // here (no migration entries); alone again, it moves.
    let child = own(p.space.lock().fork(env, &lim()).unwrap());
    assert_eq!(p.space.lock().move_page(env, va + 2 * P, 1, false), Err(MigrateError::Shared));
    assert_eq!(p.space.lock().move_page(env, va + 2 * P, 1, true), Err(MigrateError::Busy));
    assert_eq!(env.pa.vmstat.pgmigrate_fail.get(), 1);
    assert_eq!(lru_total(env, LruList::InactiveAnon), 1, "put back on its list");
    exit(env, child);
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
