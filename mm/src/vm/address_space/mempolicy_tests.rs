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
