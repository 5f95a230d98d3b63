//! Tests of the emulated CPU itself: each check of the page walk with its
//! error code, the accessed and dirty flags, the TLB keeping a translation
//! until an invalidation reaches it, and the trap's retry.

use x86_64::structures::paging::PageTableFlags as F;
use x86_64::structures::paging::page_table::PageTableEntry;

use super::cpu::Cpu;
use super::mmu::{Access, Controls, PageFault, Privilege};
use super::{machine, uniprocessor};
use crate::addr::{PAGE_SIZE, PhysAddr};
use crate::phys::gfp::Gfp;
use crate::vm::address_space::{AddressSpace, MmEnv};
use crate::vm::fault::{FaultError, FaultKind, SegvCode};
use crate::vm::mmap::MmapRequest;
use crate::vm::page_table::MapSize;
use abi::mman::{MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE};

const MB: u64 = 1 << 20;
/// A quiet user address for test pages.
const A: u64 = 0x1000_0000;
const P: u64 = PAGE_SIZE;
const USER_RW: F = F::PRESENT.union(F::USER_ACCESSIBLE).union(F::WRITABLE);

/// A machine with one CPU and an empty address space loaded on it.
fn setup() -> (&'static MmEnv<'static>, Cpu, AddressSpace) {
    let (env, mut cpu) = uniprocessor(16 * MB);
    let mm = AddressSpace::new(env).unwrap();
    cpu.switch_to(&mm);
    (env, cpu, mm)
}

/// Map a fresh zeroed frame at `va` with exactly `flags`; its address.
fn map(env: &MmEnv<'_>, mm: &AddressSpace, va: u64, flags: F) -> u64 {
    let frame = env.pa.alloc_pages(Gfp::ZERO, 0).unwrap().phys();
    mm.mapper(env).map_page(va, frame, MapSize::Size4K, flags).unwrap();
    frame
}

/// The entry for `va` in the table of `level` (4 = PML4 .. 1 = PT).
fn entry(env: &MmEnv<'_>, mm: &AddressSpace, va: u64, level: u32) -> &'static mut PageTableEntry {
    let mut table = mm.root;
    for l in (level + 1..=4).rev() {
        table = env.pa.phys().table(table).unwrap()[(va >> (12 + 9 * (l - 1))) as usize & 511].addr();
    }
    &mut env.pa.phys().table(table).unwrap()[(va >> (12 + 9 * (level - 1))) as usize & 511]
}

/// The error code of the fault an access gets, or None if it goes through.
fn code(cpu: &mut Cpu, va: u64, access: Access) -> Option<u64> {
    cpu.translate(va, access).err().map(|f| {
        assert_eq!(f.addr, va, "CR2 is the faulting address");
        f.code
    })
}

/// An anonymous private mapping of `pages` at `A` with `prot`.
fn mmap(env: &MmEnv<'_>, mm: &mut AddressSpace, pages: u64, prot: u32) {
    let req = MmapRequest {
        addr: A,
        len: pages * P,
        prot,
        flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
        file: None,
        offset: 0,
    };
    mm.mmap(env, &req, &Default::default()).unwrap();
}

const U: u64 = PageFault::U;
const W: u64 = PageFault::W;
const I: u64 = PageFault::I;
const PR: u64 = PageFault::P;

#[test]
fn user_accesses_fault_on_not_present_read_only_supervisor_and_no_execute_pages() {
    let (env, mut cpu, mm) = setup();
    let (ro, kernel, code_page) = (A, A + P, A + 2 * P);
    map(env, &mm, ro, F::PRESENT | F::USER_ACCESSIBLE | F::NO_EXECUTE);
    map(env, &mm, kernel, F::PRESENT | F::WRITABLE);
    map(env, &mm, code_page, F::PRESENT | F::USER_ACCESSIBLE);
    // Not present: P clear, the access's W, U and I bits.
    assert_eq!(code(&mut cpu, A + 3 * P, Access::Read), Some(U));
    assert_eq!(code(&mut cpu, A + 3 * P, Access::Write), Some(W | U));
    assert_eq!(code(&mut cpu, A + 3 * P, Access::Fetch), Some(I | U));
    // Present, rights denied: P set.
    assert_eq!(code(&mut cpu, ro, Access::Read), None);
    assert_eq!(code(&mut cpu, ro, Access::Write), Some(PR | W | U));
    assert_eq!(code(&mut cpu, ro, Access::Fetch), Some(PR | I | U));
    assert_eq!(code(&mut cpu, kernel, Access::Read), Some(PR | U), "no U/S: supervisor only");
    assert_eq!(code(&mut cpu, code_page, Access::Fetch), None);
    assert_eq!(code(&mut cpu, code_page, Access::Write), Some(PR | W | U));
    // The error code decodes into what the fault handler takes.
    let f = cpu.translate(ro, Access::Write).unwrap_err();
    assert_eq!(f.kind(), FaultKind { present: true, write: true, exec: false });
}

#[test]
fn every_level_must_allow_write_and_user_and_any_level_can_forbid_execution() {
    let (env, mut cpu, mm) = setup();
    let (a, b, c) = (A, A + 2 * MB, A + 4 * MB);
    for va in [a, b, c] {
        map(env, &mm, va, USER_RW);
    }
    // Three 2 MiB regions: each PD entry is the only way to one page.
    let pd = |va| entry(env, &mm, va, 2);
    pd(a).set_flags(pd(a).flags() - F::WRITABLE);
    pd(b).set_flags(pd(b).flags() - F::USER_ACCESSIBLE);
    pd(c).set_flags(pd(c).flags() | F::NO_EXECUTE);
    assert_eq!((code(&mut cpu, a, Access::Read), code(&mut cpu, a, Access::Write)), (None, Some(PR | W | U)));
    assert_eq!(code(&mut cpu, b, Access::Read), Some(PR | U));
    assert_eq!((code(&mut cpu, c, Access::Write), code(&mut cpu, c, Access::Fetch)), (None, Some(PR | I | U)));
    // Without EFER.NXE the XD bit is reserved, and I is not reported.
    cpu.controls = Controls { nxe: false, smep: false, ..Controls::default() };
    cpu.tlb().invalidate_all();
    assert_eq!(code(&mut cpu, c, Access::Read), Some(PR | PageFault::RSVD | U));
    assert_eq!(code(&mut cpu, a + 3 * P, Access::Fetch), Some(U));
}

#[test]
fn supervisor_accesses_obey_smap_smep_and_write_protect() {
    let (env, mut cpu, mm) = setup();
    let (user_ro, kernel_ro, user_x) = (A, 0xffff_8000_0000_0000, A + P);
    map(env, &mm, user_ro, F::PRESENT | F::USER_ACCESSIBLE | F::NO_EXECUTE);
    map(env, &mm, kernel_ro, F::PRESENT | F::NO_EXECUTE);
    map(env, &mm, user_x, F::PRESENT | F::USER_ACCESSIBLE);
    cpu.privilege = Privilege::Supervisor { ac: false };
    // SMAP: a user page is no data for the kernel, unless AC is set.
    assert_eq!(code(&mut cpu, user_ro, Access::Read), Some(PR));
    assert_eq!(code(&mut cpu, kernel_ro, Access::Read), None);
    // SMEP: never code for the kernel, AC or not.
    assert_eq!(code(&mut cpu, user_x, Access::Fetch), Some(PR | I));
    cpu.privilege = Privilege::Supervisor { ac: true };
    assert_eq!(code(&mut cpu, user_ro, Access::Read), None);
    assert_eq!(code(&mut cpu, user_x, Access::Fetch), Some(PR | I));
    // CR0.WP: read-only means read-only for the kernel too.
    assert_eq!(code(&mut cpu, user_ro, Access::Write), Some(PR | W));
    assert_eq!(code(&mut cpu, kernel_ro, Access::Write), Some(PR | W));
    // With the features off, each of those accesses goes through.
    cpu.controls = Controls { wp: false, smep: false, smap: false, nxe: true };
    cpu.privilege = Privilege::Supervisor { ac: false };
    cpu.tlb().invalidate_all();
    assert_eq!(code(&mut cpu, user_ro, Access::Read), None);
    assert_eq!(code(&mut cpu, user_ro, Access::Write), None);
    assert_eq!(code(&mut cpu, kernel_ro, Access::Write), None);
    assert_eq!(code(&mut cpu, user_x, Access::Fetch), None);
}

#[test]
fn a_walk_sets_accessed_at_every_level_and_dirty_on_a_write_and_a_tlb_hit_sets_neither() {
    let (env, mut cpu, mm) = setup();
    map(env, &mm, A, USER_RW);
    let flags = |level| entry(env, &mm, A, level).flags();
    // map_page's entries start with neither flag.
    assert!((1..=4).all(|l| !flags(l).intersects(F::ACCESSED | F::DIRTY)));
    cpu.translate(A, Access::Read).unwrap();
    assert!((1..=4).all(|l| flags(l).contains(F::ACCESSED)), "A on every level walked");
    assert!(!flags(1).contains(F::DIRTY));
    cpu.translate(A, Access::Write).unwrap();
    assert!(flags(1).contains(F::DIRTY), "a write dirties the leaf");
    assert!((2..=4).all(|l| !flags(l).contains(F::DIRTY)), "and only the leaf");
    // Cleared behind the TLB's back: a hit does not walk, so nothing is set.
    let leaf = entry(env, &mm, A, 1);
    leaf.set_flags(leaf.flags() - F::ACCESSED - F::DIRTY);
    let hits = cpu.stats().hits;
    cpu.translate(A, Access::Write).unwrap();
    assert!(!flags(1).intersects(F::ACCESSED | F::DIRTY), "served by the TLB's dirty entry");
    assert_eq!(cpu.stats().hits, hits + 1);
    env.tlb.flush_page(A);
    cpu.translate(A, Access::Read).unwrap();
    assert_eq!(flags(1) & (F::ACCESSED | F::DIRTY), F::ACCESSED);
    // A write through an entry cached clean walks again to set D.
    let walks = cpu.stats().walks;
    cpu.translate(A, Access::Write).unwrap();
    assert!(flags(1).contains(F::DIRTY));
    assert_eq!(cpu.stats().walks, walks + 1);
}

#[test]
fn a_stale_translation_is_used_until_a_flush_reaches_the_cpu() {
    let (env, mut cpu, mut mm) = setup();
    mmap(env, &mut mm, 1, PROT_READ | PROT_WRITE);
    cpu.store(&mut mm, A, &[1]).unwrap();
    // Point the page elsewhere and take its write right, without a flush.
    let other = map(env, &mm, A + P, USER_RW);
    cpu.store(&mut mm, A + P, &[2]).unwrap();
    let leaf = entry(env, &mm, A, 1);
    leaf.set_addr(PhysAddr::new(other), F::PRESENT | F::USER_ACCESSIBLE);
    assert_eq!(cpu.load_u8(&mut mm, A), Ok(1), "the old frame, through the TLB");
    cpu.store(&mut mm, A, &[3]).unwrap();
    assert_eq!(cpu.load_u8(&mut mm, A), Ok(3), "the old rights too");
    env.tlb.flush_page(A);
    assert_eq!(cpu.load_u8(&mut mm, A), Ok(2), "the new frame after the flush");
    assert_eq!(cpu.translate(A, Access::Write).map(|_| ()), Err(PageFault { addr: A, code: PR | W | U }));
}

#[test]
fn flush_page_drops_one_translation_flush_all_and_cr3_loads_drop_more() {
    let (env, mut cpu, mm) = setup();
    let pages = [A, A + P, A + 2 * P];
    pages.iter().for_each(|&va| _ = map(env, &mm, va, USER_RW));
    let huge = env.pa.alloc_pages(Gfp::ZERO, 9).unwrap().phys();
    mm.mapper(env).map_page(A + 2 * MB, huge, MapSize::Size2M, USER_RW).unwrap();
    let global = 0xffff_8000_0000_0000;
    map(env, &mm, global, F::PRESENT | F::WRITABLE | F::GLOBAL);
    let cache = |cpu: &mut Cpu| {
        for va in pages.into_iter().chain([A + 2 * MB + 5 * P]) {
            cpu.translate(va, Access::Read).unwrap();
        }
        cpu.privilege = Privilege::Supervisor { ac: false };
        cpu.translate(global, Access::Read).unwrap();
        cpu.privilege = Privilege::User;
    };
    cache(&mut cpu);
    assert_eq!(cpu.tlb().len(), 5, "one entry for the whole 2 MiB page");
    let before = cpu.stats();
    env.tlb.flush_page(A + P);
    assert!(cpu.tlb().lookup(A + P).is_none() && cpu.tlb().lookup(A).is_some() && cpu.tlb().len() == 4);
    env.tlb.flush_page(A + 2 * MB + 300 * P);
    assert!(cpu.tlb().lookup(A + 2 * MB).is_none(), "any address of a huge page drops it");
    let after = cpu.stats();
    assert_eq!((after.page_flushes, after.full_flushes), (before.page_flushes + 2, before.full_flushes));
    cpu.switch_to(&mm);
    assert_eq!(cpu.tlb().len(), 1, "a CR3 load keeps global entries only");
    assert!(cpu.tlb().lookup(global).is_some());
    cache(&mut cpu);
    env.tlb.flush_all();
    assert!(cpu.tlb().is_empty(), "a full flush drops global entries too");
    assert_eq!(cpu.stats().full_flushes, before.full_flushes + 1);
}

#[test]
fn mm_flushes_reach_the_tlb_of_every_cpu() {
    let (env, mut cpus) = machine(16 * MB, 2);
    let mut mm = AddressSpace::new(env).unwrap();
    mmap(env, &mut mm, 2, PROT_READ | PROT_WRITE);
    cpus[0].store(&mut mm, A, &[7]).unwrap();
    assert_eq!(cpus[1].load_u8(&mut mm, A), Ok(7), "two threads of one process");
    assert!(cpus.iter().all(|c| c.tlb().lookup(A).is_some()));
    mm.munmap(env, A, P).unwrap();
    for c in cpus.iter_mut() {
        assert!(c.tlb().lookup(A).is_none(), "cpu{}", c.id);
        assert!(c.stats().page_flushes >= 1, "cpu{}", c.id);
        assert_eq!(c.load_u8(&mut mm, A), Err(FaultError::Segv(SegvCode::MapErr)));
    }
}

#[test]
fn faults_go_to_the_address_space_and_the_access_is_retried() {
    let (env, mut cpu, mut mm) = setup();
    mmap(env, &mut mm, 3, PROT_READ | PROT_WRITE);
    // A store across a page boundary: two faults fixed, one access.
    cpu.store(&mut mm, A + P - 2, &[1, 2, 3, 4]).unwrap();
    assert_eq!(mm.counters().min_flt, 2);
    let mut b = [0u8; 6];
    cpu.load(&mut mm, A + P - 3, &mut b).unwrap();
    assert_eq!(b, [0, 1, 2, 3, 4, 0]);
    // Refused faults come back as the handler's error.
    assert_eq!(cpu.load_u8(&mut mm, A + 3 * P), Err(FaultError::Segv(SegvCode::MapErr)));
    assert_eq!(cpu.fetch(&mut mm, A), Err(FaultError::Segv(SegvCode::AccErr)), "not PROT_EXEC");
    // A copy helper (AC set) takes faults on user addresses like user mode.
    cpu.privilege = Privilege::Supervisor { ac: true };
    cpu.store(&mut mm, A + 2 * P, &[9]).unwrap();
    assert_eq!(cpu.load_u8(&mut mm, A + 3 * P), Err(FaultError::Segv(SegvCode::MapErr)));
}

#[test]
fn fetch_reads_code_from_executable_pages() {
    let (env, mut cpu, mut mm) = setup();
    mmap(env, &mut mm, 1, PROT_READ | PROT_EXEC);
    assert_eq!(cpu.fetch(&mut mm, A), Ok(0), "the zero page, faulted in for the fetch");
    assert_eq!(cpu.store(&mut mm, A, &[1]), Err(FaultError::Segv(SegvCode::AccErr)));
}

#[test]
#[should_panic(expected = "oops: supervisor page fault")]
fn a_supervisor_fault_outside_a_copy_helper_is_an_oops() {
    let (env, mut cpu, mut mm) = setup();
    mmap(env, &mut mm, 1, PROT_READ | PROT_WRITE);
    cpu.privilege = Privilege::Supervisor { ac: false };
    let _ = cpu.store(&mut mm, A, &[1]);
}

#[test]
#[should_panic(expected = "livelock")]
fn a_fault_the_handler_fixes_forever_is_a_livelock() {
    // The handler sees a writable leaf and calls the fault spurious; the
    // directory entry above it still forbids writes.
    let (env, mut cpu, mut mm) = setup();
    mmap(env, &mut mm, 1, PROT_READ | PROT_WRITE);
    cpu.store(&mut mm, A, &[1]).unwrap();
    let pd = entry(env, &mm, A, 2);
    pd.set_flags(pd.flags() - F::WRITABLE);
    env.tlb.flush_page(A);
    let _ = cpu.store(&mut mm, A, &[2]);
}
