//! The anonymous reverse map against a model (vm/rmap_walk.rs): a family
//! of processes forks, writes (new pages, copy-on-write), unmaps single
//! pages (splitting areas), moves its region with mremap and exits, in
//! random order; afterwards, for every anonymous page mapped anywhere,
//! the walk from the page finds exactly the entries that map it (counted
//! by scanning every process's page tables), which is also its map count.

use std::collections::BTreeMap;

use abi::mman::*;
use alloc::sync::Arc;
use proptest::prelude::*;

use super::rmap_tests::{ENV, Owned, own};
use super::tests::{lim, machine, req};
use super::*;
use crate::testing::cpu::Cpu;
use crate::vm::rmap_walk::page_referenced;

const P: u64 = PAGE_SIZE;
const PAGES: u64 = 6;
const RW: u32 = PROT_READ | PROT_WRITE;

#[derive(Clone, Debug)]
enum Op {
    Write(usize, u64),
    Fork(usize),
    Unmap(usize, u64),
    Move(usize),
    Exit(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, 0..PAGES).prop_map(|(p, i)| Op::Write(p, i)),
        1 => (0..4usize).prop_map(Op::Fork),
        1 => (0..4usize, 0..PAGES).prop_map(|(p, i)| Op::Unmap(p, i)),
        1 => (0..4usize).prop_map(Op::Move),
        1 => (0..4usize).prop_map(Op::Exit),
    ]
}

struct Proc {
    mm: Arc<Owned>,
    /// Where its region is now.
    base: u64,
}

/// Anonymous pages mapped in `procs`, with how many entries map each.
fn mapped_pages(env: &MmEnv<'_>, procs: &[Proc]) -> BTreeMap<u64, u32> {
    let mut seen = BTreeMap::new();
    for p in procs {
        let s = p.mm.space.lock();
        s.for_each_leaf(env, 0, TASK_SIZE, &mut |l| {
            let pfn = Pfn::from_phys(l.phys.as_u64());
            if env.pa.page(pfn).is_some_and(|pg| pg.has(crate::phys::page::PageFlags::ANON)) {
                *seen.entry(pfn.0).or_insert(0) += 1;
            }
        });
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn the_walk_finds_every_entry_of_every_page(ops in proptest::collection::vec(op(), 1..40)) {
        let (env, mut cpu): (&'static MmEnv<'static>, Cpu) = machine(64);
        ENV.set(Some(env));
        let first = {
            let mut mm = AddressSpace::new(env).unwrap();
            mm.layout.mmap_base = AddressSpace::mmap_base_for(8 << 20);
            own(mm)
        };
        let base = first.space.lock().mmap(env, &req(0, PAGES, RW, MAP_PRIVATE | MAP_ANONYMOUS), &lim()).unwrap();
        let mut procs = vec![Proc { mm: first, base }];
        for o in ops {
            match o {
                Op::Write(i, pg) => {
                    let p = &procs[i % procs.len()];
                    let mut s = p.mm.space.lock();
                    cpu.switch_to(&s);
                    // A page unmapped earlier faults as SIGSEGV: skipped.
                    let _ = cpu.store(&mut s, p.base + pg * P, &[pg as u8 + 1]);
                }
                Op::Fork(i) if procs.len() < 4 => {
                    let p = &procs[i % procs.len()];
                    let child = own(p.mm.space.lock().fork(env, &lim()).unwrap());
                    procs.push(Proc { mm: child, base: p.base });
                }
                Op::Unmap(i, pg) => {
                    let p = &procs[i % procs.len()];
                    p.mm.space.lock().munmap(env, p.base + pg * P, P).unwrap();
                }
                Op::Move(i) => {
                    let n = procs.len();
                    let p = &mut procs[i % n];
                    let mut s = p.mm.space.lock();
                    // A fresh place (reserved, then taken over by the move).
                    let to = s.mmap(env, &req(0, PAGES, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS), &lim()).unwrap();
                    // Page by page: holes left by Unmap stay holes.
                    for pg in 0..PAGES {
                        let from = p.base + pg * P;
                        if s.vmas.containing(from).is_some() {
                            s.mremap(env, from, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, to + pg * P, &lim()).unwrap();
                        }
                    }
                    p.base = to;
                }
                Op::Exit(i) if procs.len() > 1 => {
                    let p = procs.remove(i % procs.len());
                    let o = Arc::into_inner(p.mm).expect("the only reference");
                    o.space.into_inner().destroy(env);
                }
                _ => {}
            }
        }
        for (pfn, n) in mapped_pages(env, &procs) {
            let page = env.pa.page(Pfn(pfn)).unwrap();
            let r = page_referenced(page);
            prop_assert_eq!(r.mapped, n, "pfn {:#x}", pfn);
            prop_assert_eq!(page.mapcount() as u32, n, "pfn {:#x}", pfn);
        }
        for p in procs {
            let o = Arc::into_inner(p.mm).expect("the only reference");
            o.space.into_inner().destroy(env);
        }
    }
}
