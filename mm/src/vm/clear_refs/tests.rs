//! clear_refs and soft-dirty on a simulated machine: the emulated CPU's
//! stores fault exactly where the hardware's would, so "the next write
//! faults" is checked, not assumed. Ranges in pages.

use abi::mman::*;
use x86_64::structures::paging::PageTableFlags as F;

use super::*;
use crate::procfs::pagemap::{self, PM_PRESENT, PM_SOFT_DIRTY};
use crate::testing::cpu::Cpu;
use crate::vm::address_space::Rlimits;
use crate::vm::mmap::MmapRequest;

const P: u64 = PAGE_SIZE;
const A: u64 = 0x1000_0000;

fn setup() -> (&'static MmEnv<'static>, AddressSpace, Cpu) {
    let (env, cpu) = crate::testing::uniprocessor(64 << 20);
    let mut mm = AddressSpace::new(env).unwrap();
    mm.layout.mmap_base = AddressSpace::mmap_base_for(8 << 20);
    (env, mm, cpu)
}

fn map(mm: &mut AddressSpace, env: &MmEnv<'_>, addr: u64, pages: u64, flags: u32) -> u64 {
    let req = MmapRequest { addr, len: pages * P, prot: PROT_READ | PROT_WRITE, flags, file: None, offset: 0 };
    let a = mm.mmap(env, &req, &Rlimits::default()).unwrap();
    mm.check_invariants(env);
    a
}

/// The pagemap entries of `n` pages from `a`.
fn entries(mm: &AddressSpace, env: &MmEnv<'_>, a: u64, n: usize) -> Vec<u64> {
    let mut out = alloc::vec![0u64; n];
    assert_eq!(pagemap::read(mm, env, a / P, &mut out, false), n);
    out
}

fn soft_dirty(mm: &AddressSpace, env: &MmEnv<'_>, a: u64, n: usize) -> Vec<bool> {
    entries(mm, env, a, n).iter().map(|e| e & PM_SOFT_DIRTY != 0).collect()
}

#[test]
fn a_new_area_is_soft_dirty_until_cleared_and_a_write_marks_exactly_its_page_again() {
    //   [0 w][1 w][2 w][3 -]   written before clear_refs 4, then page 1 again
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, 0, 4, MAP_PRIVATE | MAP_ANONYMOUS);
    assert_eq!(soft_dirty(&mm, env, a, 4), [true; 4], "a new area is soft-dirty as a whole");
    (0..3).for_each(|i| cpu.store(&mut mm, a + i * P, &[i as u8 + 1]).unwrap());
    let before: Vec<_> = (0..3).map(|i| mm.lookup(env, a + i * P).unwrap().0).collect();
    mm.clear_refs(env, ClearRefs::SoftDirty);
    mm.check_invariants(env);
    assert_eq!(soft_dirty(&mm, env, a, 4), [false; 4]);
    assert!(entries(&mm, env, a, 3).iter().all(|e| e & PM_PRESENT != 0), "pages stay mapped");
    assert!(!mm.vmas.containing(a).unwrap().flags.contains(VmFlags::SOFTDIRTY));
    let (cow, reuse) = (env.pa.vmstat.cow_faults.get(), env.pa.vmstat.pgreuse.get());
    cpu.store(&mut mm, a + P + 9, &[0x77]).unwrap();
    assert_eq!(soft_dirty(&mm, env, a, 4), [false, true, false, false]);
    // The write-protected page was ours alone: reused in place, not copied.
    assert_eq!(mm.lookup(env, a + P).unwrap().0, before[1]);
    assert_eq!(env.pa.vmstat.cow_faults.get(), cow, "no copy for a page write-protected by clear_refs");
    assert_eq!(env.pa.vmstat.pgreuse.get(), reuse + 1);
    assert_eq!((cpu.load_u8(&mut mm, a + P), cpu.load_u8(&mut mm, a + P + 9)), (Ok(2), Ok(0x77)));
    // Reads do not make a page soft-dirty.
    assert_eq!(cpu.load_u8(&mut mm, a), Ok(1));
    assert_eq!(soft_dirty(&mm, env, a, 4), [false, true, false, false]);
    mm.check_invariants(env);
}

#[test]
fn a_page_shared_with_a_child_is_still_copied_after_clear_refs() {
    let (env, mut parent, mut cpu) = setup();
    let a = map(&mut parent, env, 0, 1, MAP_PRIVATE | MAP_ANONYMOUS);
    cpu.store(&mut parent, a, &[5]).unwrap();
    let mut child = parent.fork(env, &Rlimits::default()).unwrap();
    parent.clear_refs(env, ClearRefs::SoftDirty);
    let cow = env.pa.vmstat.cow_faults.get();
    cpu.store(&mut parent, a, &[6]).unwrap();
    assert_eq!(env.pa.vmstat.cow_faults.get(), cow + 1);
    assert_eq!(soft_dirty(&parent, env, a, 1), [true]);
    assert_eq!((cpu.load_u8(&mut child, a), cpu.load_u8(&mut parent, a)), (Ok(5), Ok(6)));
    child.destroy(env);
    parent.check_invariants(env);
}

#[test]
fn a_shared_mapping_gets_its_write_bit_back_on_the_next_write() {
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, 0, 2, MAP_SHARED | MAP_ANONYMOUS);
    cpu.store(&mut mm, a, &[1]).unwrap();
    let pfn = mm.lookup(env, a).unwrap().0;
    mm.clear_refs(env, ClearRefs::SoftDirty);
    assert!(!mm.lookup(env, a).unwrap().1.contains(F::WRITABLE));
    cpu.store(&mut mm, a + 1, &[2]).unwrap();
    let (p2, f2) = mm.lookup(env, a).unwrap();
    assert!(p2 == pfn && f2.contains(F::WRITABLE | SOFT_DIRTY));
    assert_eq!(soft_dirty(&mm, env, a, 2), [true, false]);
}

#[test]
fn mprotect_and_merging_keep_soft_dirty_state() {
    //   [A: 2 pages, cleared][B: 1 page, new]  -> one area, soft-dirty
    let (env, mut mm, mut cpu) = setup();
    map(&mut mm, env, A, 2, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    cpu.store(&mut mm, A, &[1]).unwrap();
    cpu.store(&mut mm, A + P, &[1]).unwrap();
    mm.clear_refs(env, ClearRefs::SoftDirty);
    cpu.store(&mut mm, A, &[2]).unwrap();
    mm.mprotect(env, A, 2 * P, PROT_READ).unwrap();
    assert_eq!(soft_dirty(&mm, env, A, 2), [true, false], "mprotect keeps the entry's bit");
    mm.mprotect(env, A, 2 * P, PROT_READ | PROT_WRITE).unwrap();
    map(&mut mm, env, A + 2 * P, 1, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    assert_eq!(mm.vmas.len(), 1, "soft-dirty does not keep areas apart");
    assert_eq!(soft_dirty(&mm, env, A, 3), [true; 3], "the merged area is soft-dirty");
    mm.check_invariants(env);
}

#[test]
fn clear_refs_1_to_3_clear_accessed_bits_by_kind_of_area_and_5_resets_vm_hwm() {
    let (env, mut mm, mut cpu) = setup();
    let anon = map(&mut mm, env, 0, 2, MAP_PRIVATE | MAP_ANONYMOUS);
    let shm = map(&mut mm, env, 0, 2, MAP_SHARED | MAP_ANONYMOUS);
    for va in [anon, anon + P, shm, shm + P] {
        cpu.store(&mut mm, va, &[1]).unwrap();
    }
    let young = |mm: &AddressSpace, va: u64| mm.lookup(env, va).unwrap().1.contains(F::ACCESSED);
    mm.clear_refs(env, ClearRefs::Anon);
    assert_eq!([young(&mm, anon), young(&mm, anon + P), young(&mm, shm)], [false, false, true]);
    cpu.load_u8(&mut mm, anon).unwrap();
    assert!(young(&mm, anon), "the flushed TLB made the CPU set the bit again");
    mm.clear_refs(env, ClearRefs::Mapped);
    assert_eq!([young(&mm, anon), young(&mm, shm), young(&mm, shm + P)], [true, false, false]);
    cpu.load_u8(&mut mm, shm).unwrap();
    mm.clear_refs(env, ClearRefs::All);
    assert!(!young(&mm, anon) && !young(&mm, shm));
    // Dirty and write bits are left alone by 1..3.
    assert!(mm.lookup(env, anon).unwrap().1.contains(F::WRITABLE | F::DIRTY));

    assert_eq!(mm.counters().hiwater_rss, 4);
    mm.munmap(env, anon, 2 * P).unwrap();
    assert_eq!(mm.counters().hiwater_rss, 4);
    mm.clear_refs(env, ClearRefs::MmHiwaterRss);
    assert_eq!(mm.counters().hiwater_rss, 2);
}

#[test]
fn only_1_to_5_are_requests() {
    assert_eq!(ClearRefs::from_value(4), Some(ClearRefs::SoftDirty));
    assert_eq!(ClearRefs::from_value(5), Some(ClearRefs::MmHiwaterRss));
    for bad in [0, 6, -1, 100] {
        assert_eq!(ClearRefs::from_value(bad), None);
    }
}

#[test]
fn after_clear_refs_a_shared_page_faulted_by_a_read_or_reprotected_waits_for_its_first_write() {
    //   shared [0: read after clear][1: written after clear][2: mprotect R -> RW]
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, 0, 3, MAP_SHARED | MAP_ANONYMOUS);
    cpu.store(&mut mm, a + 2 * P, &[1]).unwrap();
    mm.clear_refs(env, ClearRefs::SoftDirty);
    cpu.load_u8(&mut mm, a).unwrap();
    assert!(!mm.lookup(env, a).unwrap().1.contains(F::WRITABLE), "a read maps it read-only now");
    assert_eq!(soft_dirty(&mm, env, a, 3), [false; 3]);
    cpu.store(&mut mm, a, &[1]).unwrap();
    cpu.store(&mut mm, a + P, &[1]).unwrap();
    assert_eq!(soft_dirty(&mm, env, a, 3), [true, true, false], "a write fault marks the page");
    mm.mprotect(env, a, 3 * P, PROT_READ).unwrap();
    mm.mprotect(env, a, 3 * P, PROT_READ | PROT_WRITE).unwrap();
    assert!(!mm.lookup(env, a + 2 * P).unwrap().1.contains(F::WRITABLE), "clean: no write bit from mprotect");
    assert!(mm.lookup(env, a).unwrap().1.contains(F::WRITABLE), "soft-dirty pages get theirs back");
    cpu.store(&mut mm, a + 2 * P, &[2]).unwrap();
    assert_eq!(soft_dirty(&mm, env, a, 3), [true; 3]);
    mm.check_invariants(env);
}
