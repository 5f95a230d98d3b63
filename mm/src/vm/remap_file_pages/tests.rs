//! remap_file_pages(2) against Linux's emulation (mm/mmap.c): the pages
//! of a shared file mapping show other offsets of the file afterwards,
//! writes go to the file at those offsets, and every refusal is EINVAL.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::mman::*;

use crate::addr::PAGE_SIZE;
use crate::error::MmError;
use crate::swap::space::SwapSpace;
use crate::testing::cpu::Cpu;
use crate::vm::address_space::{AddressSpace, MmEnv, Rlimits};
use crate::vm::file::{MemObject, PageQuota};
use crate::vm::mmap::{FileMapping, MmapRequest};
use crate::vm::vma::VmFlags;

const P: u64 = PAGE_SIZE;
const A: u64 = 0x1000_0000;
const RW: u32 = PROT_READ | PROT_WRITE;

fn setup() -> (&'static MmEnv<'static>, AddressSpace, Cpu, Arc<MemObject>) {
    let (env, cpu) = crate::testing::uniprocessor(64 << 20);
    let mut mm = AddressSpace::new(env).unwrap();
    mm.layout.mmap_base = AddressSpace::mmap_base_for(8 << 20);
    let f = MemObject::tmpfs("/tmp/r", 5, env.pa, Box::leak(Box::new(SwapSpace::new())), Arc::new(PageQuota::new(64)));
    // Page i of the file starts with the byte i + 1.
    for i in 0..8u64 {
        f.write_at(i * P, &[i as u8 + 1]).unwrap();
    }
    f.set_size(8 * P).unwrap();
    (env, mm, cpu, f)
}

fn map_file(env: &MmEnv<'_>, mm: &mut AddressSpace, f: &Arc<MemObject>, addr: u64, pages: u64, flags: u32) -> u64 {
    let req = MmapRequest {
        addr,
        len: pages * P,
        prot: RW,
        flags: flags | MAP_FIXED,
        file: Some(FileMapping { object: f.clone(), readable: true, writable: true }),
        offset: 0,
    };
    mm.mmap(env, &req, &Rlimits::default()).unwrap()
}

fn firsts(cpu: &mut Cpu, mm: &mut AddressSpace, pages: u64) -> Vec<u8> {
    (0..pages).map(|i| cpu.load_u8(mm, A + i * P).unwrap()).collect()
}

#[test]
fn pages_show_the_offsets_asked_and_writes_reach_the_file() {
    let (env, mut mm, mut cpu, f) = setup();
    map_file(env, &mut mm, &f, A, 4, MAP_SHARED);
    assert_eq!(firsts(&mut cpu, &mut mm, 4), [1, 2, 3, 4]);
    // Pages 1..=2 of the mapping now show file pages 6 and 7; the size
    // is rounded down to pages, the start too.
    mm.remap_file_pages(env, A + P + 5, 2 * P + 100, 0, 6, 0, &Rlimits::default()).unwrap();
    mm.check_invariants(env);
    assert_eq!(firsts(&mut cpu, &mut mm, 4), [1, 7, 8, 4]);
    let v = mm.vmas.containing(A + P).unwrap();
    assert_eq!((v.start, v.end, v.pgoff), (A + P, A + 3 * P, 6));
    assert!(v.flags.contains(VmFlags::SHARED | VmFlags::WRITE));
    cpu.store(&mut mm, A + 2 * P + 1, &[0xee]).unwrap();
    let mut back = [0u8; 2];
    f.read_at(7 * P, &mut back).unwrap();
    assert_eq!(back, [8, 0xee], "the write went to file page 7");
    // And back to the linear layout.
    mm.remap_file_pages(env, A + P, 2 * P, 0, 1, 0, &Rlimits::default()).unwrap();
    assert_eq!(firsts(&mut cpu, &mut mm, 4), [1, 2, 3, 4]);
    mm.check_invariants(env);
}

#[test]
fn refusals_are_einval_and_change_nothing() {
    let (env, mut mm, _cpu, f) = setup();
    let l = Rlimits::default();
    map_file(env, &mut mm, &f, A, 2, MAP_SHARED);
    map_file(env, &mut mm, &f, A + 3 * P, 2, MAP_SHARED);
    map_file(env, &mut mm, &f, A + 6 * P, 2, MAP_PRIVATE);
    let before: Vec<_> = mm.vmas.iter().map(|v| (v.start, v.end, v.pgoff)).collect();
    let rfp =
        |mm: &mut AddressSpace, start, size, prot, pgoff| mm.remap_file_pages(env, start, size, prot, pgoff, 0, &l);
    assert_eq!(rfp(&mut mm, A, P, PROT_READ as u64, 1), Err(MmError::Invalid), "prot must be 0");
    assert_eq!(rfp(&mut mm, A, P, 1 << 32, 1), Err(MmError::Invalid), "all of prot's bits count");
    assert_eq!(rfp(&mut mm, A, 100, 0, 1), Err(MmError::Invalid), "a size below a page");
    assert_eq!(rfp(&mut mm, A, P, 0, u64::MAX), Err(MmError::Invalid), "pgoff wraps");
    assert_eq!(rfp(&mut mm, A + 2 * P, P, 0, 1), Err(MmError::Invalid), "no area");
    assert_eq!(rfp(&mut mm, A + 6 * P, P, 0, 1), Err(MmError::Invalid), "private");
    assert_eq!(rfp(&mut mm, A, 4 * P, 0, 1), Err(MmError::Invalid), "a hole inside");
    assert_eq!(rfp(&mut mm, A + 3 * P, 3 * P, 0, 1), Err(MmError::Invalid), "past the last area");
    let after: Vec<_> = mm.vmas.iter().map(|v| (v.start, v.end, v.pgoff)).collect();
    assert_eq!(before, after);
    mm.check_invariants(env);
}

#[test]
fn a_shared_anonymous_area_stays_one_and_sealed_areas_refuse() {
    let (env, mut mm, mut cpu, _f) = setup();
    let l = Rlimits::default();
    let anon = MmapRequest {
        addr: A,
        len: 4 * P,
        prot: RW,
        flags: MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
        file: None,
        offset: 0,
    };
    mm.mmap(env, &anon, &l).unwrap();
    (0..4).for_each(|i| cpu.store(&mut mm, A + i * P, &[0x10 + i as u8]).unwrap());
    mm.remap_file_pages(env, A, P, 0, 3, 0, &l).unwrap();
    assert_eq!(cpu.load_u8(&mut mm, A), Ok(0x13), "the segment's page 3");
    assert!(matches!(mm.vmas.containing(A).unwrap().backing, crate::vm::vma::Backing::Shared(_)));
    mm.mseal(env, A + 2 * P, 2 * P, 0).unwrap();
    assert_eq!(mm.remap_file_pages(env, A + 2 * P, P, 0, 0, 0, &l), Err(MmError::Perm));
    mm.check_invariants(env);
}
