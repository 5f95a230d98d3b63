//! Host tests that mm's TLB flushes are wide enough: each operation here
//! changes or removes translations a CPU has cached, and the test then
//! accesses the old address through that CPU. The emulated CPU keeps a
//! translation until a flush reaches it, so each test fails if the
//! operation skipped its flush or flushed too little (checked by taking
//! each flush out in turn).
//!
//! Every test first stores through the CPU, so the cached entry is
//! writable and dirty: a store through it needs no walk.

use abi::mman::*;

use super::*;
use crate::testing::cpu::Cpu;
use crate::vm::fault::{FaultError, SegvCode};
use crate::vm::mmap::*;

const P: u64 = PAGE_SIZE;
const MB: u64 = 1 << 20;
const RW: u32 = PROT_READ | PROT_WRITE;
const FIXED: u32 = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
/// A quiet place for fixed mappings, and the heap.
const A: u64 = 0x1000_0000;
const HEAP: u64 = 0x0060_0000;
const MAPERR: FaultError = FaultError::Segv(SegvCode::MapErr);
const ACCERR: FaultError = FaultError::Segv(SegvCode::AccErr);

/// An empty process on a machine of `cpus` CPUs.
fn setup(cpus: usize) -> (&'static MmEnv<'static>, AddressSpace, Vec<Cpu>) {
    let (env, cpus) = crate::testing::machine(64 * MB, cpus);
    let mut mm = AddressSpace::new(env).unwrap();
    mm.layout.mmap_base = AddressSpace::mmap_base_for(8 * MB);
    (mm.layout.start_brk, mm.layout.brk) = (HEAP, HEAP);
    (env, mm, cpus)
}

fn map(env: &MmEnv<'_>, mm: &mut AddressSpace, addr: u64, pages: u64, prot: u32, flags: u32) {
    let req = MmapRequest { addr, len: pages * P, prot, flags, file: None, offset: 0 };
    assert_eq!(mm.mmap(env, &req, &Rlimits::default()), Ok(addr));
}

/// Store a byte that differs per page into `pages` pages from `a`, then
/// check the CPU caches each page's translation.
fn fill(cpu: &mut Cpu, mm: &mut AddressSpace, a: u64, pages: u64) {
    for i in 0..pages {
        cpu.store(mm, a + i * P, &[pat(a + i * P)]).unwrap();
        assert!(cpu.tlb().lookup(a + i * P).is_some_and(|w| w.dirty));
    }
}

fn pat(va: u64) -> u8 {
    ((va >> 12) % 250) as u8 + 1
}

#[test]
fn munmap_leaves_no_translation_of_the_pages_it_removes() {
    //   [0 .. 4) stored; munmap [1, 3): loads there fault, 0 and 3 keep their bytes
    let (env, mut mm, mut cpus) = setup(1);
    let cpu = &mut cpus[0];
    map(env, &mut mm, A, 4, RW, FIXED);
    fill(cpu, &mut mm, A, 4);
    mm.munmap(env, A + P, 2 * P).unwrap();
    assert_eq!((cpu.load_u8(&mut mm, A + P), cpu.load_u8(&mut mm, A + 2 * P)), (Err(MAPERR), Err(MAPERR)));
    assert_eq!((cpu.load_u8(&mut mm, A), cpu.load_u8(&mut mm, A + 3 * P)), (Ok(pat(A)), Ok(pat(A + 3 * P))));
}

#[test]
fn munmap_of_more_pages_than_the_flush_ceiling_flushes_everything() {
    let (env, mut mm, mut cpus) = setup(1);
    let cpu = &mut cpus[0];
    let pages = crate::vm::tlb::FLUSH_CEILING + 3;
    map(env, &mut mm, A, pages, RW, FIXED);
    fill(cpu, &mut mm, A, pages);
    mm.munmap(env, A, pages * P).unwrap();
    assert!((0..pages).all(|i| cpu.load_u8(&mut mm, A + i * P) == Err(MAPERR)));
}

#[test]
fn mmap_fixed_over_a_mapping_replaces_its_translations() {
    let (env, mut mm, mut cpus) = setup(1);
    let cpu = &mut cpus[0];
    map(env, &mut mm, A, 2, RW, FIXED);
    fill(cpu, &mut mm, A, 2);
    map(env, &mut mm, A, 2, RW, FIXED);
    assert_eq!((cpu.load_u8(&mut mm, A), cpu.load_u8(&mut mm, A + P)), (Ok(0), Ok(0)), "fresh zero pages");
}

#[test]
fn brk_shrink_leaves_no_translation_above_the_new_break() {
    let (env, mut mm, mut cpus) = setup(1);
    let cpu = &mut cpus[0];
    assert_eq!(mm.brk(env, HEAP + 3 * P, &Rlimits::default()), HEAP + 3 * P);
    fill(cpu, &mut mm, HEAP, 3);
    assert_eq!(mm.brk(env, HEAP + P, &Rlimits::default()), HEAP + P);
    assert_eq!((cpu.load_u8(&mut mm, HEAP + P), cpu.load_u8(&mut mm, HEAP + 2 * P)), (Err(MAPERR), Err(MAPERR)));
    assert_eq!(cpu.load_u8(&mut mm, HEAP), Ok(pat(HEAP)));
}

#[test]
fn mprotect_takes_rights_away_from_cached_translations() {
    //   [0 RW ........ 3) -> mprotect [0, 2) READ, [2, 3) NONE
    let (env, mut mm, mut cpus) = setup(1);
    let cpu = &mut cpus[0];
    map(env, &mut mm, A, 3, RW, FIXED);
    fill(cpu, &mut mm, A, 3);
    mm.mprotect(env, A, 2 * P, PROT_READ).unwrap();
    mm.mprotect(env, A + 2 * P, P, PROT_NONE).unwrap();
    for va in [A, A + P] {
        assert_eq!(cpu.store(&mut mm, va, &[0]), Err(ACCERR), "a store to a read-only page");
        assert_eq!(cpu.load_u8(&mut mm, va), Ok(pat(va)));
    }
    assert_eq!(cpu.load_u8(&mut mm, A + 2 * P), Err(ACCERR), "a load from a PROT_NONE page");
}

#[test]
fn fork_write_protects_the_translations_the_parent_cached() {
    // The parent stores after fork through its old writable entries:
    // without fork's flush the stores land in the pages the child shares.
    let (env, mut parent, mut cpus) = setup(1);
    let cpu = &mut cpus[0];
    map(env, &mut parent, A, 2, RW, FIXED);
    fill(cpu, &mut parent, A, 2);
    let mut child = parent.fork(env, &Rlimits::default()).unwrap();
    cpu.store(&mut parent, A, &[0xaa]).unwrap();
    cpu.store(&mut parent, A + P, &[0xbb]).unwrap();
    for va in [A, A + P] {
        assert_eq!(cpu.load_u8(&mut child, va), Ok(pat(va)), "the parent's store stays in the parent");
    }
    assert_eq!((cpu.load_u8(&mut parent, A), cpu.load_u8(&mut parent, A + P)), (Ok(0xaa), Ok(0xbb)));
    child.destroy(env);
}

#[test]
fn a_copy_on_write_break_reaches_a_thread_on_another_cpu() {
    // Two threads of one process on CPUs 0 and 1 read a page shared with a
    // child after fork; CPU 0's store copies it. CPU 1 must see the copy,
    // not the old page its TLB held.
    let (env, mut mm, mut cpus) = setup(2);
    map(env, &mut mm, A, 1, RW, FIXED);
    cpus[0].store(&mut mm, A, &[1]).unwrap();
    let child = mm.fork(env, &Rlimits::default()).unwrap();
    assert_eq!((cpus[0].load_u8(&mut mm, A), cpus[1].load_u8(&mut mm, A)), (Ok(1), Ok(1)));
    cpus[0].store(&mut mm, A, &[2]).unwrap();
    assert_eq!(env.pa.vmstat.cow_faults.get(), 1, "the store copied the page");
    assert_eq!(cpus[1].load_u8(&mut mm, A), Ok(2));
    child.destroy(env);
}

#[test]
fn mremap_move_leaves_no_translation_at_the_old_address() {
    //   [old 0 .. 2)[blocker)   ->   mremap to 4 pages must move
    let (env, mut mm, mut cpus) = setup(1);
    let cpu = &mut cpus[0];
    map(env, &mut mm, A, 2, RW, FIXED);
    map(env, &mut mm, A + 2 * P, 1, PROT_READ, FIXED);
    fill(cpu, &mut mm, A, 2);
    let to = mm.mremap(env, A, 2 * P, 4 * P, MREMAP_MAYMOVE, 0, &Rlimits::default()).unwrap();
    assert_ne!(to, A);
    assert_eq!((cpu.load_u8(&mut mm, A), cpu.load_u8(&mut mm, A + P)), (Err(MAPERR), Err(MAPERR)));
    assert_eq!((cpu.load_u8(&mut mm, to), cpu.load_u8(&mut mm, to + P)), (Ok(pat(A)), Ok(pat(A + P))));
}

#[test]
fn mremap_shrink_leaves_no_translation_of_the_tail() {
    let (env, mut mm, mut cpus) = setup(1);
    let cpu = &mut cpus[0];
    map(env, &mut mm, A, 3, RW, FIXED);
    fill(cpu, &mut mm, A, 3);
    assert_eq!(mm.mremap(env, A, 3 * P, P, 0, 0, &Rlimits::default()), Ok(A));
    assert_eq!((cpu.load_u8(&mut mm, A + P), cpu.load_u8(&mut mm, A + 2 * P)), (Err(MAPERR), Err(MAPERR)));
}

#[test]
fn madvise_dontneed_and_remove_leave_no_translation_of_the_dropped_pages() {
    let (env, mut mm, mut cpus) = setup(1);
    let cpu = &mut cpus[0];
    map(env, &mut mm, A, 2, RW, FIXED);
    map(env, &mut mm, A + 4 * P, 2, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED);
    fill(cpu, &mut mm, A, 2);
    fill(cpu, &mut mm, A + 4 * P, 2);
    mm.madvise(env, A, 2 * P, MADV_DONTNEED, &Rlimits::default()).unwrap();
    mm.madvise(env, A + 4 * P, P, MADV_REMOVE, &Rlimits::default()).unwrap();
    mm.take_deferred().run();
    assert_eq!((cpu.load_u8(&mut mm, A), cpu.load_u8(&mut mm, A + P)), (Ok(0), Ok(0)), "private: zeros");
    assert_eq!(cpu.load_u8(&mut mm, A + 4 * P), Ok(0), "shared: a hole in the object");
    assert_eq!(cpu.load_u8(&mut mm, A + 5 * P), Ok(pat(A + 5 * P)));
}

#[test]
fn madvise_free_makes_the_next_store_dirty_the_page_again() {
    // MADV_FREE clears the dirty bits; a CPU still holding a dirty entry
    // would store without setting them, and reclaim would drop the data.
    let (env, mut mm, mut cpus) = setup(1);
    let cpu = &mut cpus[0];
    map(env, &mut mm, A, 2, RW, FIXED);
    fill(cpu, &mut mm, A, 2);
    mm.madvise(env, A, 2 * P, MADV_FREE, &Rlimits::default()).unwrap();
    cpu.store(&mut mm, A, &[0x5a]).unwrap();
    assert_eq!(mm.reclaim_lazyfree(env), 1, "only the page not written again goes");
    assert_eq!((cpu.load_u8(&mut mm, A), cpu.load_u8(&mut mm, A + P)), (Ok(0x5a), Ok(0)));
}
