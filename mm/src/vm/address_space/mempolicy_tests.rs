//! Host tests of memory policies (vm/mempolicy.rs) on a two-node machine:
//! faults place pages as the area's or the task's policy says, mbind
//! splits and merges areas, moves misplaced pages and reports them.

use abi::mman::*;

use super::rmap_tests::{ENV, Owned, own};
use super::tests::{lim, req};
use super::*;
use crate::error::MmError;
use crate::testing::cpu::Cpu;
use crate::vm::mempolicy::*;
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

fn pol(mode: u32, nodes: NodeMask) -> Option<MemPolicy> {
    MemPolicy::new(mode, nodes, 0b11).unwrap()
}

fn touch(mm: &mut AddressSpace, cpu: &mut Cpu, va: u64, pages: u64) {
    for i in 0..pages {
        cpu.store(mm, va + i * P, &[i as u8 + 1]).unwrap();
    }
}

fn nodes(mm: &AddressSpace, env: &MmEnv<'_>, va: u64, pages: u64) -> alloc::vec::Vec<u32> {
    (0..pages).map(|i| mm.page_node(env, va + i * P).unwrap()).collect()
}

#[test]
fn areas_place_their_pages_as_their_policy_says() {
    let (env, mut cpu) = setup();
    let p = process(env);
    let mut mm = p.space.lock();
    let va = mm.mmap(env, &req(0, 12, RW, PRIV), &lim()).unwrap();
    cpu.switch_to(&mm);
    mm.mbind(env, va, 4 * P, pol(MPOL_BIND, 0b10), 0).unwrap();
    mm.mbind(env, va + 4 * P, 4 * P, pol(MPOL_INTERLEAVE, 0b11), 0).unwrap();
    mm.mbind(env, va + 8 * P, 4 * P, pol(MPOL_PREFERRED, 0b10), 0).unwrap();
    assert_eq!(mm.vmas.len(), 3, "one area per policy");
    let hits =
        env.pa.zones().map(|z| z.counters.interleave_hit.load(core::sync::atomic::Ordering::Relaxed)).sum::<u64>();
    touch(&mut mm, &mut cpu, va, 12);
    assert_eq!(nodes(&mm, env, va, 4), [1, 1, 1, 1], "bind");
    // Interleave by the page's offset (va >> 12 counts from the area's
    // pgoff): alternating nodes, whatever the fault order.
    let il = nodes(&mm, env, va + 4 * P, 4);
    assert!(il == [0, 1, 0, 1] || il == [1, 0, 1, 0], "interleave: {il:?}");
    let after =
        env.pa.zones().map(|z| z.counters.interleave_hit.load(core::sync::atomic::Ordering::Relaxed)).sum::<u64>();
    assert_eq!(after - hits, 4, "each interleaved page landed where it was sent");
    assert_eq!(nodes(&mm, env, va + 8 * P, 4), [1, 1, 1, 1], "preferred");
    assert_eq!(mm.policy_at(va + 5 * P), Ok(pol(MPOL_INTERLEAVE, 0b11)));
    assert_eq!(mm.policy_at(va + 64 * P), Err(MmError::Fault));
    // MPOL_DEFAULT over all of it: one area again.
    mm.mbind(env, va, 12 * P, None, 0).unwrap();
    assert_eq!(mm.vmas.len(), 1);
    drop(mm);
    exit(env, p);
}

#[test]
fn the_task_policy_applies_where_the_area_has_none() {
    let (env, mut cpu) = setup();
    let task_env: &'static MmEnv<'static> =
        alloc::boxed::Box::leak(alloc::boxed::Box::new(MmEnv { policy: pol(MPOL_BIND, 0b10), ..*env }));
    let p = process(env);
    let mut mm = p.space.lock();
    let (a, b) =
        (mm.mmap(env, &req(0, 4, RW, PRIV), &lim()).unwrap(), mm.mmap(env, &req(0, 4, RW, PRIV), &lim()).unwrap());
    mm.mbind(env, b, 4 * P, pol(MPOL_PREFERRED, 0b01), 0).unwrap();
    cpu.switch_to(&mm);
    for i in 0..4 {
        mm.handle_fault(task_env, a + i * P, crate::vm::fault::FaultKind::WRITE).unwrap();
        mm.handle_fault(task_env, b + i * P, crate::vm::fault::FaultKind::WRITE).unwrap();
    }
    assert_eq!(nodes(&mm, env, a, 4), [1, 1, 1, 1], "the task's bind");
    assert_eq!(nodes(&mm, env, b, 4), [0, 0, 0, 0], "the area's own policy wins");
    drop(mm);
    exit(env, p);
}

#[test]
fn mbind_checks_its_range_and_moves_or_reports_misplaced_pages() {
    let (env, mut cpu) = setup();
    let p = process(env);
    let mut mm = p.space.lock();
    let va = mm.mmap(env, &req(0, 8, RW, PRIV), &lim()).unwrap();
    cpu.switch_to(&mm);
    touch(&mut mm, &mut cpu, va, 8);
    assert_eq!(nodes(&mm, env, va, 8), [0; 8], "local first");
    assert_eq!(mm.mbind(env, va + 1, P, None, 0), Err(MmError::Invalid), "unaligned");
    assert_eq!(mm.mbind(env, va, 64 * P, None, 0), Err(MmError::Fault), "a hole");
    assert_eq!(mm.mbind(env, va, u64::MAX - va, None, 0), Err(MmError::Invalid), "overflow");
    assert_eq!(mm.mbind(env, va, 0, pol(MPOL_BIND, 1), 0), Ok(()), "empty range");
    // STRICT alone: the pages on node 0 do not follow bind(1): EIO, but
    // the policy is set.
    assert_eq!(mm.mbind(env, va, 4 * P, pol(MPOL_BIND, 0b10), MPOL_MF_STRICT), Err(MmError::Io));
    assert_eq!(mm.policy_at(va), Ok(pol(MPOL_BIND, 0b10)));
    assert_eq!(nodes(&mm, env, va, 4), [0; 4], "not moved");
    // MOVE: they go, with their data.
    mm.mbind(env, va, 4 * P, pol(MPOL_BIND, 0b10), MPOL_MF_MOVE | MPOL_MF_STRICT).unwrap();
    assert_eq!(nodes(&mm, env, va, 8), [1, 1, 1, 1, 0, 0, 0, 0]);
    for i in 0..8 {
        let mut b = [0u8; 1];
        cpu.load(&mut mm, va + i * P, &mut b).unwrap();
        assert_eq!(b[0], i as u8 + 1);
    }
    drop(mm);
    // Shared with a child: MOVE leaves it (STRICT: EIO), MOVE_ALL cannot
    // move it either here (no migration entries).
    let child = own(p.space.lock().fork(env, &lim()).unwrap());
    let r = p.space.lock().mbind(env, va + 4 * P, 4 * P, pol(MPOL_BIND, 0b10), MPOL_MF_MOVE | MPOL_MF_STRICT);
    assert_eq!(r, Err(MmError::Io));
    assert_eq!(child.space.lock().policy_at(va), Ok(pol(MPOL_BIND, 0b10)), "fork copies area policies");
    exit(env, child);
    exit(env, p);
}

#[test]
fn weighted_interleave_gives_each_node_its_weight_in_pages() {
    let (env, mut cpu) = setup();
    assert!(!env.pa.set_interleave_weight(0, 0) && !env.pa.set_interleave_weight(2, 1), "0, a missing node");
    assert!(env.pa.interleave_weights_auto());
    assert!(env.pa.set_interleave_weight(0, 3));
    assert!(!env.pa.interleave_weights_auto(), "a written weight ends auto");
    let p = process(env);
    let mut mm = p.space.lock();
    let va = mm.mmap(env, &req(0, 16, RW, PRIV), &lim()).unwrap();
    mm.mbind(env, va, 16 * P, pol(MPOL_WEIGHTED_INTERLEAVE, 0b11), 0).unwrap();
    cpu.switch_to(&mm);
    touch(&mut mm, &mut cpu, va, 16);
    let n = nodes(&mm, env, va, 16);
    assert_eq!(n.iter().filter(|&&x| x == 0).count(), 12, "{n:?}");
    assert_eq!(n.iter().filter(|&&x| x == 1).count(), 4, "{n:?}");
    env.pa.set_interleave_weights_auto(true);
    assert_eq!(env.pa.interleave_weights()[0], 1, "auto restores the defaults");
    drop(mm);
    exit(env, p);
}

/// A tmpfs object of `pages` pages (inode `ino`) and a shared mapping of
/// it in `p`.
fn tmpfs(env: &'static MmEnv<'static>, ino: u64, pages: u64) -> Arc<crate::vm::file::MemObject> {
    let q = Arc::new(crate::vm::file::PageQuota::new(1 << 20));
    let obj = crate::vm::file::MemObject::tmpfs("/tmp/pol", ino, env.pa, env.swap, q);
    obj.set_size(pages * P).unwrap();
    obj
}

fn map_shared(env: &MmEnv<'_>, p: &Owned, obj: &Arc<crate::vm::file::MemObject>, pages: u64, flags: u32) -> u64 {
    let file = Some(crate::vm::mmap::FileMapping { object: obj.clone(), readable: true, writable: true });
    p.space.lock().mmap(env, &crate::vm::mmap::MmapRequest { file, ..req(0, pages, RW, flags) }, &lim()).unwrap()
}

#[test]
fn mbind_on_a_shmem_mapping_places_every_mappers_pages() {
    //   object pages   0   1   2   3   4   5   6   7
    //   a's mbind          [bind:1     )[interleave:0-1)
    //   b touches all: 0 local, 1-3 on node 1, 4-7 alternating, from b
    let (env, mut cpu) = setup();
    let obj = tmpfs(env, 10, 8);
    let (a, b) = (process(env), process(env));
    let (va, vb) = (map_shared(env, &a, &obj, 8, MAP_SHARED), map_shared(env, &b, &obj, 8, MAP_SHARED));
    a.space.lock().mbind(env, va + P, 3 * P, pol(MPOL_BIND, 0b10), 0).unwrap();
    a.space.lock().mbind(env, va + 4 * P, 4 * P, pol(MPOL_INTERLEAVE, 0b11), 0).unwrap();
    let ranges: alloc::vec::Vec<(u64, u64, u32)> = obj.policy_ranges().iter().map(|r| (r.0, r.1, r.2.mode)).collect();
    assert_eq!(ranges, [(1, 4, MPOL_BIND), (4, 8, MPOL_INTERLEAVE)], "the object's ranges");
    // b, which set nothing, sees the shared policy and follows it.
    assert_eq!(b.space.lock().policy_at(vb + 2 * P), Ok(pol(MPOL_BIND, 0b10)));
    assert_eq!(b.space.lock().policy_at(vb), Ok(None), "page 0 has none");
    assert_eq!(b.space.lock().vmas.len(), 1, "b's area is not split");
    cpu.switch_to(&b.space.lock());
    touch(&mut b.space.lock(), &mut cpu, vb, 8);
    let n = nodes(&b.space.lock(), env, vb, 8);
    assert_eq!(&n[..4], [0, 1, 1, 1], "local, then bind:1");
    // Interleave index = inode 10 + offset: 14 is even, so node 0 first.
    assert_eq!(&n[4..], [0, 1, 0, 1], "interleaved by the object's offset");
    // A page written through write(2) (no mapping at all) also obeys.
    let obj2 = tmpfs(env, 11, 4);
    let c = process(env);
    let vc = map_shared(env, &c, &obj2, 4, MAP_SHARED);
    c.space.lock().mbind(env, vc, 4 * P, pol(MPOL_BIND, 0b10), 0).unwrap();
    obj2.write_at(2 * P, &[5]).unwrap();
    obj2.allocate(3 * P, P).unwrap();
    let node_of = |o: &crate::vm::file::MemObject, i| env.pa.page(o.find_page(i).unwrap()).unwrap().node();
    assert_eq!((node_of(&obj2, 2), node_of(&obj2, 3)), (1, 1), "write(2) and fallocate follow the policy");
    // MPOL_DEFAULT from b, whose area never had a policy: nothing
    // changes (Linux's mbind_range finds the area's policy equal).
    b.space.lock().mbind(env, vb, 8 * P, None, 0).unwrap();
    assert_eq!(obj.policy_ranges().len(), 2, "b's MPOL_DEFAULT leaves a's ranges");
    // From a, whose areas have them: the ranges go.
    a.space.lock().mbind(env, va, 8 * P, None, 0).unwrap();
    assert!(obj.policy_ranges().is_empty());
    assert_eq!(b.space.lock().policy_at(vb + 2 * P), Ok(None), "b sees the shared policy gone");
    exit(env, a);
    exit(env, b);
    exit(env, c);
}

#[test]
fn mbind_move_on_a_shmem_mapping_moves_the_pages_mapped_there_only() {
    let (env, mut cpu) = setup();
    let obj = tmpfs(env, 20, 4);
    let (a, b) = (process(env), process(env));
    let (va, vb) = (map_shared(env, &a, &obj, 4, MAP_SHARED), map_shared(env, &b, &obj, 4, MAP_SHARED));
    cpu.switch_to(&a.space.lock());
    touch(&mut a.space.lock(), &mut cpu, va, 4);
    // b maps page 3 too: MOVE leaves it (shared), MOVE_ALL moves it.
    cpu.switch_to(&b.space.lock());
    let mut x = [0u8; 1];
    cpu.load(&mut b.space.lock(), vb + 3 * P, &mut x).unwrap();
    assert_eq!(nodes(&a.space.lock(), env, va, 4), [0; 4]);
    let r = a.space.lock().mbind(env, va, 4 * P, pol(MPOL_BIND, 0b10), MPOL_MF_MOVE | MPOL_MF_STRICT);
    assert_eq!(r, Err(MmError::Io), "the page b maps too stays");
    assert_eq!(nodes(&a.space.lock(), env, va, 4), [1, 1, 1, 0]);
    a.space.lock().mbind(env, va, 4 * P, pol(MPOL_BIND, 0b10), MPOL_MF_MOVE_ALL | MPOL_MF_STRICT).unwrap();
    assert_eq!(nodes(&a.space.lock(), env, va, 4), [1; 4]);
    for i in 0..4u64 {
        let mut b1 = [0u8; 1];
        cpu.load(&mut b.space.lock(), vb + i * P, &mut b1).unwrap();
        assert_eq!(b1[0], i as u8 + 1, "the data came along");
    }
    exit(env, a);
    exit(env, b);
}

#[test]
fn a_private_mapping_of_a_shmem_object_sets_and_follows_the_shared_policy() {
    // As in Linux (shmem's vm_ops on a private mapping): the object's
    // policy is set, and a private copy made at a write follows it.
    let (env, mut cpu) = setup();
    let obj = tmpfs(env, 30, 2);
    let a = process(env);
    let va = map_shared(env, &a, &obj, 2, MAP_PRIVATE);
    a.space.lock().mbind(env, va, 2 * P, pol(MPOL_PREFERRED, 0b10), 0).unwrap();
    assert_eq!(obj.policy_ranges().len(), 1);
    cpu.switch_to(&a.space.lock());
    touch(&mut a.space.lock(), &mut cpu, va, 2);
    assert_eq!(nodes(&a.space.lock(), env, va, 2), [1, 1]);
    exit(env, a);
}

#[test]
fn shared_anonymous_mappings_share_the_policy_across_fork() {
    let (env, mut cpu) = setup();
    let p = process(env);
    let va = p.space.lock().mmap(env, &req(0, 4, RW, MAP_SHARED | MAP_ANONYMOUS), &lim()).unwrap();
    let child = own(p.space.lock().fork(env, &lim()).unwrap());
    // The child binds after the fork; the parent's faults follow it.
    child.space.lock().mbind(env, va, 4 * P, pol(MPOL_BIND, 0b10), 0).unwrap();
    cpu.switch_to(&p.space.lock());
    touch(&mut p.space.lock(), &mut cpu, va, 4);
    assert_eq!(nodes(&p.space.lock(), env, va, 4), [1; 4]);
    let mut s = alloc::string::String::new();
    let mm = p.space.lock();
    let v = mm.vmas.containing(va).unwrap().clone();
    crate::procfs::numa_maps::write_numa_map(&mm, env, &v, &mut s).unwrap();
    assert!(s.contains(" bind:1 ") && s.contains("N1=4"), "numa_maps shows the shared policy: {s}");
    // An area without any policy shows the task's.
    drop(mm);
    let anon_va = p.space.lock().mmap(env, &req(0, 1, RW, PRIV), &lim()).unwrap();
    let mm = p.space.lock();
    let v = mm.vmas.containing(anon_va).unwrap().clone();
    let task_env = MmEnv { policy: pol(MPOL_PREFERRED, 0b10), ..*env };
    let mut t = alloc::string::String::new();
    crate::procfs::numa_maps::write_numa_map(&mm, &task_env, &v, &mut t).unwrap();
    assert!(t.contains(" prefer:1"), "the task's policy: {t}");
    drop(mm);
    exit(env, child);
    exit(env, p);
}

#[test]
fn the_home_node_is_where_bind_starts() {
    let (env, mut cpu) = setup();
    let p = process(env);
    let mut mm = p.space.lock();
    let va = mm.mmap(env, &req(0, 12, RW, PRIV), &lim()).unwrap();
    // [0, 4) bind:0-1   [4, 8) no policy   [8, 12) interleave
    mm.mbind(env, va, 4 * P, pol(MPOL_BIND, 0b11), 0).unwrap();
    mm.mbind(env, va + 8 * P, 4 * P, pol(MPOL_INTERLEAVE, 0b11), 0).unwrap();
    assert_eq!(mm.set_home_node(env, va + 4 * P, va + 8 * P, 1), Ok(0), "no policy: nothing changed (ENOENT)");
    assert_eq!(mm.set_home_node(env, va + 6 * P, va + 12 * P, 1), Err(MmError::NotSupported), "interleave");
    // Home node 1 for pages 2-3 only: the area splits, the policy keeps
    // its mode and set, get_mempolicy does not see the home node.
    assert_eq!(mm.set_home_node(env, va + 2 * P, va + 6 * P, 1), Ok(1));
    assert_eq!(mm.vmas.len(), 4, "bind, bind with home 1, none, interleave");
    let home = mm.policy_at(va + 2 * P).unwrap().unwrap();
    assert_eq!((home.home_node, MemPolicy::to_user(Some(&home))), (Some(1), (MPOL_BIND, 0b11)));
    assert_eq!(mm.policy_at(va).unwrap().unwrap().home_node, None);
    cpu.switch_to(&mm);
    touch(&mut mm, &mut cpu, va, 4);
    assert_eq!(nodes(&mm, env, va, 4), [0, 0, 1, 1], "local first without a home node, node 1 with it");
    // The same home node on the rest: the two halves merge again.
    assert_eq!(mm.set_home_node(env, va, va + 2 * P, 1), Ok(1));
    assert_eq!(mm.vmas.len(), 3);
    drop(mm);
    exit(env, p);
}

#[test]
fn a_home_node_outside_the_set_starts_from_the_nearest_node_of_it() {
    // Policy selection alone: BIND {0, 2} with home 1 asks the allocator
    // for node 1's zonelist within {0, 2}; PREFERRED_MANY the same.
    let near = [0, 1, 2, 3];
    let mut b = MemPolicy::new(MPOL_BIND, 0b101, 0b1111).unwrap().unwrap();
    assert_eq!(b.target(0, &near, 0, &[]), (0, Some(0b101)), "no home: the local node");
    b.home_node = Some(1);
    assert_eq!(b.target(0, &near, 0, &[]), (1, Some(0b101)));
    let mut m = MemPolicy::new(MPOL_PREFERRED_MANY, 0b1100, 0b1111).unwrap().unwrap();
    m.home_node = Some(3);
    assert_eq!(m.target(0, &near, 0, &[]), (3, Some(0b1100)));
    assert_eq!(alloc::format!("{m}"), "prefer (many):2-3", "numa_maps does not show the home node");
}

#[test]
fn a_shmem_page_without_a_shared_policy_follows_the_faulting_tasks() {
    //   object pages   0   1   2   3
    //   shared policy          [prefer:0)
    //   the task's bind:1 places 0-1; the shared policy wins on 2-3
    let (env, mut cpu) = setup();
    let task_env: &'static MmEnv<'static> =
        alloc::boxed::Box::leak(alloc::boxed::Box::new(MmEnv { policy: pol(MPOL_BIND, 0b10), ..*env }));
    let obj = tmpfs(env, 40, 4);
    let a = process(env);
    let va = map_shared(env, &a, &obj, 4, MAP_SHARED);
    a.space.lock().mbind(env, va + 2 * P, 2 * P, pol(MPOL_PREFERRED, 0b01), 0).unwrap();
    cpu.switch_to(&a.space.lock());
    for i in 0..4 {
        a.space.lock().handle_fault(task_env, va + i * P, crate::vm::fault::FaultKind::WRITE).unwrap();
    }
    assert_eq!(nodes(&a.space.lock(), env, va, 4), [1, 1, 0, 0]);
    exit(env, a);
}
