//! Host tests of the memory system calls after mmap: mprotect, mremap,
//! madvise, the mlock family, mincore and msync, each held against what
//! Linux does (the man pages and mm/*.c, cited per case).
//!
//! The machine is the one `tests.rs` builds, with its emulated CPU; these
//! calls depend on what the CPU does: an access faults if the page is
//! missing, lacks the USER bit (PROT_NONE pages stay mapped for the kernel
//! only) or is read-only for a write, and a walk sets the PTE's accessed
//! bit, and for a write its dirty bit (Intel SDM Vol. 3A 4.8), which
//! MADV_FREE relies on.
//!
//! Ranges are drawn as `[start .. end)` in pages from the base address.

use abi::mman::*;

use super::*;
use crate::testing::cpu::Cpu;
use crate::vm::fault::{FaultError, SegvCode};
use crate::vm::file::MemObject;
use crate::vm::mmap::*;
use crate::vm::overcommit::OVERCOMMIT_NEVER;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;

const P: u64 = PAGE_SIZE;
const MB: u64 = 1 << 20;
const R: u32 = PROT_READ;
const RW: u32 = PROT_READ | PROT_WRITE;
const RX: u32 = PROT_READ | PROT_EXEC;
const RWX: u32 = PROT_READ | PROT_WRITE | PROT_EXEC;
/// Linux's PROT_SEM (asm-generic/mman-common.h): valid, and ignored on x86.
const PROT_SEM: u32 = 0x8;
const PRIV: u32 = MAP_PRIVATE | MAP_ANONYMOUS;
const SHARED: u32 = MAP_SHARED | MAP_ANONYMOUS;
const FIXED: u32 = PRIV | MAP_FIXED;
/// Quiet places for fixed mappings, far apart.
const A: u64 = 0x1000_0000;
const B: u64 = 0x2000_0000;
const MAPERR: FaultError = FaultError::Segv(SegvCode::MapErr);
const ACCERR: FaultError = FaultError::Segv(SegvCode::AccErr);

// ---------------------------------------------------------------- machine

use super::tests::{lim, req};

/// A 64 MiB machine (the one `tests.rs` builds) and an empty process on it.
fn setup() -> (&'static MmEnv<'static>, AddressSpace, Cpu) {
    let (env, cpu) = super::tests::machine(64);
    let mm = new_mm(env);
    (env, mm, cpu)
}

fn new_mm(env: &MmEnv<'_>) -> AddressSpace {
    let mut mm = AddressSpace::new(env).unwrap();
    mm.layout.mmap_base = AddressSpace::mmap_base_for(8 * MB);
    mm
}

/// mmap that must succeed; checks the invariants.
fn map(mm: &mut AddressSpace, env: &MmEnv<'_>, addr: u64, pages: u64, prot: u32, flags: u32) -> u64 {
    let a = mm.mmap(env, &req(addr, pages, prot, flags), &lim()).unwrap();
    mm.check_invariants(env);
    a
}

/// A file of `n` non-zero bytes and its page cache.
fn file(env: &MmEnv<'_>, n: usize) -> (Arc<MemObject>, &'static [u8]) {
    let data: &'static [u8] = Box::leak((0..n).map(|i| (i % 251) as u8 + 1).collect::<Vec<u8>>().into_boxed_slice());
    (MemObject::file("/bin/x", data, 1, env.pa), data)
}

fn map_file(
    mm: &mut AddressSpace,
    env: &MmEnv<'_>,
    obj: &Arc<MemObject>,
    pages: u64,
    prot: u32,
    flags: u32,
    writable: bool,
) -> u64 {
    let file = Some(FileMapping { object: obj.clone(), readable: true, writable });
    let a = mm.mmap(env, &MmapRequest { file, ..req(0, pages, prot, flags) }, &lim()).unwrap();
    mm.check_invariants(env);
    a
}

/// A non-zero byte that differs from page to page.
fn pat(va: u64) -> u8 {
    ((va >> 12) % 250) as u8 + 1
}

/// Write `pat` into each of `pages` pages from `a`.
fn fill(cpu: &mut Cpu, mm: &mut AddressSpace, a: u64, pages: u64) {
    (0..pages).for_each(|i| cpu.store(mm, a + i * P, &[pat(a + i * P)]).unwrap());
}

fn spans(mm: &AddressSpace) -> Vec<(u64, u64)> {
    mm.vmas.iter().map(|v| (v.start, v.end)).collect()
}

fn flags_at(mm: &AddressSpace, va: u64) -> VmFlags {
    mm.vmas.containing(va).expect("an area").flags
}

fn pfn_at(mm: &AddressSpace, env: &MmEnv<'_>, va: u64) -> Pfn {
    mm.lookup(env, va).expect("a mapped page").0
}

fn page_has(env: &MmEnv<'_>, pfn: Pfn, f: crate::phys::page::PageFlags) -> bool {
    env.pa.page(pfn).unwrap().has(f)
}

/// The counters agree with the areas, and the system's commit with the
/// process's share plus its shared anonymous segments (each committed once,
/// for its size, when created).
fn check(mm: &AddressSpace, env: &MmEnv<'_>) {
    mm.check_invariants(env);
    let mut segments: Vec<*const MemObject> = Vec::new();
    let mut shmem = 0;
    for v in mm.vmas.iter() {
        if let crate::vm::vma::Backing::Shared(o) = &v.backing {
            if !segments.contains(&Arc::as_ptr(o)) {
                segments.push(Arc::as_ptr(o));
                shmem += o.size() / P;
            }
        }
    }
    assert_eq!(
        env.commit.committed(),
        mm.counters().committed + shmem,
        "the commit does not match the process's areas"
    );
}

// ---------------------------------------------------------------- mprotect

#[test]
fn mprotect_middle_splits_at_both_ends_and_restoring_merges_back() {
    //   [0 RW ...................... 8)
    //   mprotect [2, 5) READ:  [0 RW 2)[2 R 5)[5 RW 8)
    //   mprotect [2, 5) RW:    [0 RW ...................... 8)
    let (env, mut mm, mut cpu) = setup();
    let pg = |i: u64| A + i * P;
    map(&mut mm, env, A, 8, RW, FIXED);
    fill(&mut cpu, &mut mm, A, 8);
    mm.mprotect(env, pg(2), 3 * P, R).unwrap();
    check(&mm, env);
    assert_eq!(spans(&mm), vec![(pg(0), pg(2)), (pg(2), pg(5)), (pg(5), pg(8))]);
    assert!(!flags_at(&mm, pg(3)).contains(VmFlags::WRITE) && flags_at(&mm, pg(5)).contains(VmFlags::WRITE));
    assert!(mm.leaves(env, pg(2), pg(5)).iter().all(|l| !l.writable && l.user), "the middle lost W in its PTEs");
    assert_eq!(cpu.store(&mut mm, pg(3), &[0]), Err(ACCERR));
    assert_eq!((cpu.load_u8(&mut mm, pg(3)), cpu.store(&mut mm, pg(1), &[0x11])), (Ok(pat(pg(3))), Ok(())));
    assert_eq!(mm.counters().committed, 8, "dropping write keeps the commitment (VM_ACCOUNT stays)");
    let (cows, reuses) = (env.pa.vmstat.cow_faults.get(), env.pa.vmstat.pgreuse.get());
    mm.mprotect(env, pg(2), 3 * P, RW).unwrap();
    check(&mm, env);
    assert_eq!(spans(&mm), vec![(pg(0), pg(8))], "the three areas merge back into one");
    assert_eq!(mm.counters().committed, 8, "nothing charged twice");
    cpu.store(&mut mm, pg(3), &[0x33]).unwrap();
    assert_eq!(env.pa.vmstat.cow_faults.get(), cows, "our own page is reused, not copied");
    assert_eq!(env.pa.vmstat.pgreuse.get(), reuses + 1);
    assert_eq!((cpu.load_u8(&mut mm, pg(3)), cpu.load_u8(&mut mm, pg(4))), (Ok(0x33), Ok(pat(pg(4)))));
}

#[test]
fn mprotect_across_a_hole_changes_the_areas_before_it_then_fails_enomem() {
    //   pages:  0     1           4     6     8           12
    //           [a RW ............)[c RWX)     [b RW ......)
    //   mprotect [1 ........................... 11) READ:
    //           [a RW)[a+c R .......... 6)  hole  [b RW ......)   -> ENOMEM
    // do_mprotect_pkey: `if (vma->vm_start != tmp) { error = -ENOMEM; break; }`
    // after mprotect_fixup ran for every area before the hole.
    let (env, mut mm, mut cpu) = setup();
    let pg = |i: u64| A + i * P;
    map(&mut mm, env, pg(0), 4, RW, FIXED);
    map(&mut mm, env, pg(4), 2, RWX, FIXED);
    map(&mut mm, env, pg(8), 4, RW, FIXED);
    fill(&mut cpu, &mut mm, pg(0), 6);
    fill(&mut cpu, &mut mm, pg(8), 4);
    assert_eq!(mm.mprotect(env, pg(1), 10 * P, R), Err(MmError::NoMemory));
    check(&mm, env);
    assert_eq!(spans(&mm), vec![(pg(0), pg(1)), (pg(1), pg(6)), (pg(8), pg(12))]);
    assert_eq!(flags_at(&mm, pg(1)) & VmFlags::ACCESS, VmFlags::READ);
    assert_eq!(flags_at(&mm, pg(8)) & VmFlags::ACCESS, VmFlags::READ | VmFlags::WRITE, "past the hole: unchanged");
    assert_eq!(cpu.store(&mut mm, pg(5), &[0]), Err(ACCERR));
    assert_eq!(cpu.store(&mut mm, pg(9), &[0x99]), Ok(()));
    assert_eq!(cpu.load_u8(&mut mm, pg(5)), Ok(pat(pg(5))));
    // A start inside the hole: `if (vma->vm_start > start) goto out` -> ENOMEM, nothing changes.
    assert_eq!(mm.mprotect(env, pg(6), 6 * P, PROT_NONE), Err(MmError::NoMemory));
    assert_eq!(flags_at(&mm, pg(8)) & VmFlags::ACCESS, VmFlags::READ | VmFlags::WRITE);
    // Past the last area: ENOMEM too.
    assert_eq!(mm.mprotect(env, pg(12), P, R), Err(MmError::NoMemory));
    // A range covering several areas and no hole: all change, and merge.
    mm.mprotect(env, pg(0), 6 * P, RW).unwrap();
    check(&mm, env);
    assert_eq!(spans(&mm), vec![(pg(0), pg(6)), (pg(8), pg(12))]);
}

#[test]
fn prot_none_hides_pages_and_restoring_gives_the_same_data_back() {
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, 0, 4, RW, PRIV);
    fill(&mut cpu, &mut mm, a, 4);
    let pfns: Vec<Pfn> = (0..4).map(|i| pfn_at(&mm, env, a + i * P)).collect();
    let free = env.pa.drained_free_pages();
    mm.mprotect(env, a, 4 * P, PROT_NONE).unwrap();
    check(&mm, env);
    let leaves = mm.leaves(env, a, a + 4 * P);
    assert_eq!(leaves.len(), 4, "the pages stay mapped");
    assert!(leaves.iter().all(|l| !l.user && !l.writable), "for the kernel only");
    assert_eq!(mm.counters().rss_anon, 4);
    for i in 0..4 {
        assert_eq!(cpu.load_u8(&mut mm, a + i * P), Err(ACCERR), "read of page {i}");
        assert_eq!(cpu.store(&mut mm, a + i * P, &[0]), Err(ACCERR), "write of page {i}");
    }
    mm.mprotect(env, a, 4 * P, RW).unwrap();
    check(&mm, env);
    for i in 0..4 {
        assert_eq!(cpu.load_u8(&mut mm, a + i * P), Ok(pat(a + i * P)));
        cpu.store(&mut mm, a + i * P, &[0x5a]).unwrap();
        assert_eq!(pfn_at(&mm, env, a + i * P), pfns[i as usize], "the same frame, written in place");
    }
    assert_eq!(env.pa.drained_free_pages(), free, "no frame allocated or freed");
}

#[test]
fn dropping_write_on_private_pages_makes_a_write_fault_accerr() {
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, 0, 1, RW, PRIV);
    cpu.store(&mut mm, a, &[0x42]).unwrap();
    mm.mprotect(env, a, P, R).unwrap();
    check(&mm, env);
    assert!(!mm.lookup(env, a).unwrap().1.contains(F::WRITABLE));
    assert_eq!(cpu.store(&mut mm, a, &[0]), Err(ACCERR));
    assert_eq!(cpu.load_u8(&mut mm, a), Ok(0x42));
    // A private file mapping whose page was copied on write.
    let (obj, data) = file(env, 2 * P as usize);
    let f = map_file(&mut mm, env, &obj, 2, RW, MAP_PRIVATE, false);
    cpu.store(&mut mm, f, &[0xee]).unwrap();
    mm.mprotect(env, f, 2 * P, R).unwrap();
    assert_eq!((cpu.store(&mut mm, f, &[0]), cpu.store(&mut mm, f + P, &[0])), (Err(ACCERR), Err(ACCERR)));
    assert_eq!((cpu.load_u8(&mut mm, f), cpu.load_u8(&mut mm, f + P)), (Ok(0xee), Ok(data[P as usize])));
    check(&mm, env);
}

#[test]
fn mprotect_write_on_a_shared_mapping_of_a_read_only_file_is_eacces() {
    // A MAP_SHARED mapping of an O_RDONLY file has no VM_MAYWRITE:
    // `if ((newflags & ~(newflags >> 4)) & VM_ACCESS_FLAGS) error = -EACCES`.
    let (env, mut mm, mut cpu) = setup();
    let (obj, data) = file(env, 2 * P as usize);
    let s = map_file(&mut mm, env, &obj, 2, R, MAP_SHARED, false);
    assert_eq!(mm.mprotect(env, s, 2 * P, RW), Err(MmError::Access));
    assert_eq!(mm.mprotect(env, s, P, PROT_WRITE), Err(MmError::Access));
    assert_eq!(flags_at(&mm, s) & VmFlags::ACCESS, VmFlags::READ, "unchanged");
    mm.mprotect(env, s, 2 * P, RX).unwrap();
    assert_eq!(cpu.load_u8(&mut mm, s + 5), Ok(data[5]));
    // A private mapping of the same file may become writable: writes copy.
    let p = map_file(&mut mm, env, &obj, 2, R, MAP_PRIVATE, false);
    mm.mprotect(env, p, 2 * P, RW).unwrap();
    cpu.store(&mut mm, p + 5, &[0]).unwrap();
    assert_eq!(
        (cpu.load_u8(&mut mm, p + 5), cpu.load_u8(&mut mm, s + 5)),
        (Ok(0), Ok(data[5])),
        "the file is unchanged"
    );
    check(&mm, env);
}

#[test]
fn mprotect_write_and_exec_combinations_set_pte_bits_and_counters() {
    // Intel SDM Vol. 3A 4.6: R/W (bit 1) allows writes, XD (bit 63) forbids
    // fetches. is_exec_mapping (VmExe) is EXEC without WRITE, is_data_mapping
    // (VmData) private WRITE.
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, 0, 2, RW, PRIV);
    cpu.store(&mut mm, a, &[1]).unwrap();
    let bits = |mm: &AddressSpace| mm.lookup(env, a).unwrap().1;
    assert!(bits(&mm).contains(F::NO_EXECUTE | F::WRITABLE));
    mm.mprotect(env, a, 2 * P, RWX).unwrap();
    assert!(bits(&mm).contains(F::WRITABLE) && !bits(&mm).contains(F::NO_EXECUTE), "exclusive page stays writable");
    assert_eq!((mm.counters().data_vm, mm.counters().exec_vm), (2, 0));
    mm.mprotect(env, a, 2 * P, RX).unwrap();
    assert!(!bits(&mm).intersects(F::WRITABLE | F::NO_EXECUTE));
    assert_eq!((mm.counters().data_vm, mm.counters().exec_vm), (0, 2));
    assert_eq!(cpu.store(&mut mm, a, &[0]), Err(ACCERR));
    mm.mprotect(env, a, 2 * P, PROT_EXEC).unwrap();
    assert_eq!(cpu.load_u8(&mut mm, a), Ok(1), "x86 cannot fetch without reading");
    mm.mprotect(env, a, 2 * P, PROT_WRITE).unwrap();
    assert_eq!(
        (cpu.store(&mut mm, a + P, &[2]), cpu.load_u8(&mut mm, a + P)),
        (Ok(()), Ok(2)),
        "x86 cannot write without reading"
    );
    assert!(bits(&mm).contains(F::NO_EXECUTE | F::USER_ACCESSIBLE));
    assert_eq!((mm.counters().data_vm, mm.counters().exec_vm), (2, 0));
    check(&mm, env);
}

#[test]
fn mprotect_rejects_unaligned_addresses_and_unknown_bits_with_einval() {
    let (env, mut mm, _) = setup();
    let a = map(&mut mm, env, A, 2, RW, FIXED);
    let unchanged = |mm: &AddressSpace| {
        spans(mm) == vec![(a, a + 2 * P)] && flags_at(mm, a) & VmFlags::ACCESS == VmFlags::READ | VmFlags::WRITE
    };
    // `if (start & ~PAGE_MASK) return -EINVAL;`
    assert_eq!(mm.mprotect(env, a + 1, P, R), Err(MmError::Invalid));
    // arch_validate_prot: only READ, WRITE, EXEC and SEM.
    assert_eq!(mm.mprotect(env, a, P, R | 0x10), Err(MmError::Invalid));
    assert_eq!(mm.mprotect(env, a, P, R | 0x8000_0000), Err(MmError::Invalid));
    // `if (grows == (PROT_GROWSDOWN|PROT_GROWSUP)) return -EINVAL;`
    assert_eq!(mm.mprotect(env, a, P, R | PROT_GROWSDOWN | PROT_GROWSUP), Err(MmError::Invalid));
    // PROT_GROWSDOWN on an area that does not grow down; PROT_GROWSUP on
    // x86, which has no VM_GROWSUP.
    assert_eq!(mm.mprotect(env, a, P, R | PROT_GROWSDOWN), Err(MmError::Invalid));
    assert_eq!(mm.mprotect(env, a, P, R | PROT_GROWSUP), Err(MmError::Invalid));
    assert!(unchanged(&mm));
    // `if (!len) return 0;` even unmapped; a length that wraps: ENOMEM.
    assert_eq!(mm.mprotect(env, B, 0, R), Ok(()));
    assert_eq!(mm.mprotect(env, a, u64::MAX, R), Err(MmError::NoMemory));
    assert!(unchanged(&mm));
    // PROT_SEM is valid and changes nothing else.
    mm.mprotect(env, a, 2 * P, RW | PROT_SEM).unwrap();
    assert!(unchanged(&mm));
    check(&mm, env);
}

#[test]
fn mprotect_growsdown_extends_the_change_down_to_the_start_of_the_stack_area() {
    //   [S ........ S+4)  growing down
    //   mprotect(S+2, 1 page, READ | PROT_GROWSDOWN): `start = vma->vm_start`
    //   -> [S R .. S+3)[S+3 RW)
    let (env, mut mm, mut cpu) = setup();
    let s = B;
    map(&mut mm, env, s, 4, RW, FIXED | MAP_GROWSDOWN);
    mm.mprotect(env, s + 2 * P, P, R | PROT_GROWSDOWN).unwrap();
    check(&mm, env);
    assert_eq!(spans(&mm), vec![(s, s + 3 * P), (s + 3 * P, s + 4 * P)]);
    assert_eq!(
        flags_at(&mm, s),
        VmFlags::READ
            | VmFlags::GROWSDOWN
            | VmFlags::MAYREAD
            | VmFlags::MAYWRITE
            | VmFlags::MAYEXEC
            | VmFlags::ACCOUNT
            | VmFlags::SOFTDIRTY
    );
    assert!(flags_at(&mm, s + 3 * P).contains(VmFlags::WRITE | VmFlags::GROWSDOWN));
    assert_eq!(cpu.store(&mut mm, s, &[0]), Err(ACCERR));
    assert_eq!(cpu.store(&mut mm, s + 3 * P, &[1]), Ok(()));
}

#[test]
fn mprotect_making_private_memory_writable_commits_it() {
    // mprotect_fixup: a private area gaining VM_WRITE without VM_ACCOUNT is
    // charged (security_vm_enough_memory_mm) and gets VM_ACCOUNT.
    let (env, mut mm, _) = setup();
    let a = map(&mut mm, env, 0, 4, R, PRIV);
    assert_eq!(env.commit.committed(), 0, "read-only private is not charged");
    mm.mprotect(env, a + P, 2 * P, RW).unwrap();
    check(&mm, env);
    assert_eq!(env.commit.committed(), 2);
    assert!(flags_at(&mm, a + P).contains(VmFlags::ACCOUNT) && !flags_at(&mm, a).contains(VmFlags::ACCOUNT));
    mm.mprotect(env, a + P, 2 * P, RW).unwrap();
    assert_eq!(env.commit.committed(), 2, "already accounted: not charged again");
    // Strict overcommit refuses a large one: ENOMEM, nothing changed.
    let big = map(&mut mm, env, 0, 1000, R, PRIV);
    let before = spans(&mm);
    env.commit.set_mode(OVERCOMMIT_NEVER).unwrap();
    env.commit.set_kbytes(4 * 100); // CommitLimit: 100 pages
    assert_eq!(mm.mprotect(env, big, 1000 * P, RW), Err(MmError::NoMemory));
    assert!(!flags_at(&mm, big).contains(VmFlags::WRITE));
    assert_eq!(spans(&mm), before, "not split either");
    check(&mm, env);
    mm.destroy(env);
    assert_eq!(env.commit.committed(), 0);
}

// ---------------------------------------------------------------- mremap

#[test]
fn mremap_shrink_in_place_frees_the_tail_pages() {
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, A, 8, RW, FIXED | MAP_POPULATE);
    fill(&mut cpu, &mut mm, a, 8);
    let free = env.pa.drained_free_pages();
    assert_eq!(mm.mremap(env, a, 8 * P, 3 * P, 0, 0, &lim()), Ok(a));
    check(&mm, env);
    assert_eq!(env.pa.drained_free_pages(), free + 5, "the tail's five frames are free");
    assert_eq!((spans(&mm), mm.counters().rss_anon, mm.counters().committed), (vec![(a, a + 3 * P)], 3, 3));
    assert_eq!((cpu.load_u8(&mut mm, a + 2 * P), cpu.load_u8(&mut mm, a + 3 * P)), (Ok(pat(a + 2 * P)), Err(MAPERR)));
    // Same size: nothing to do.
    assert_eq!(mm.mremap(env, a, 3 * P, 3 * P, 0, 0, &lim()), Ok(a));
    assert_eq!(spans(&mm), vec![(a, a + 3 * P)]);
}

#[test]
fn mremap_shrink_unmaps_the_whole_tail_even_past_the_area() {
    //   [0 a .... 4)  hole  [6 b 7)
    //   mremap(0, 8 pages -> 2 pages): do_vmi_munmap(2, 6 pages) -> [0 a 2)
    // Linux checks only that the old address is mapped (vma_lookup) before
    // shrinking; "old_len > vm_end - addr" is for growing and moving.
    let (env, mut mm, _) = setup();
    let pg = |i: u64| A + i * P;
    map(&mut mm, env, pg(0), 4, RW, FIXED);
    map(&mut mm, env, pg(6), 1, RW, FIXED);
    assert_eq!(mm.mremap(env, pg(0), 8 * P, 2 * P, 0, 0, &lim()), Ok(pg(0)));
    check(&mm, env);
    assert_eq!(spans(&mm), vec![(pg(0), pg(2))]);
}

#[test]
fn mremap_grows_in_place_when_the_next_pages_are_free() {
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, A, 2, RW, FIXED);
    fill(&mut cpu, &mut mm, a, 2);
    let pfn = pfn_at(&mm, env, a);
    assert_eq!(mm.mremap(env, a, 2 * P, 6 * P, 0, 0, &lim()), Ok(a));
    check(&mm, env);
    assert_eq!(spans(&mm), vec![(a, a + 6 * P)]);
    assert_eq!((mm.counters().total_vm, mm.counters().committed), (6, 6));
    assert_eq!(pfn_at(&mm, env, a), pfn, "not moved");
    assert_eq!((cpu.load_u8(&mut mm, a + P), cpu.load_u8(&mut mm, a + 5 * P)), (Ok(pat(a + P)), Ok(0)));
}

#[test]
fn mremap_grow_without_maymove_is_enomem_when_the_next_pages_are_taken() {
    //   [0 a .. 2)[2 free)[3 b)
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, A, 2, RW, FIXED);
    map(&mut mm, env, A + 3 * P, 1, R, FIXED);
    fill(&mut cpu, &mut mm, a, 2);
    assert_eq!(mm.mremap(env, a, 2 * P, 4 * P, 0, 0, &lim()), Err(MmError::NoMemory));
    check(&mm, env);
    assert_eq!(spans(&mm), vec![(a, a + 2 * P), (a + 3 * P, a + 4 * P)]);
    assert_eq!((cpu.load_u8(&mut mm, a + P), mm.counters().committed), (Ok(pat(a + P)), 2));
    // Growing an inner part of an area cannot be done in place either.
    assert_eq!(mm.mremap(env, a, P, 2 * P, 0, 0, &lim()), Err(MmError::NoMemory));
    // One page fits exactly.
    assert_eq!(mm.mremap(env, a, 2 * P, 3 * P, 0, 0, &lim()), Ok(a));
    check(&mm, env);
}

#[test]
fn mremap_maymove_moves_page_table_entries_not_data() {
    //   [0 a RW ....... 4)[4 blocker R)          ->   a moves elsewhere and grows to 8
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, A, 4, RW, FIXED);
    map(&mut mm, env, A + 4 * P, 1, R, FIXED);
    fill(&mut cpu, &mut mm, a, 4);
    let before: Vec<(u64, u64)> = mm.leaves(env, a, a + 4 * P).iter().map(|l| (l.va - a, l.phys.as_u64())).collect();
    let (free, tables) = (env.pa.drained_free_pages(), mm.page_table_pages(env));
    let to = mm.mremap(env, a, 4 * P, 8 * P, MREMAP_MAYMOVE, 0, &lim()).unwrap();
    check(&mm, env);
    assert!(to != a);
    let after: Vec<(u64, u64)> = mm.leaves(env, to, to + 8 * P).iter().map(|l| (l.va - to, l.phys.as_u64())).collect();
    assert_eq!(after, before, "the same frames at the same offsets");
    let tables_now = mm.page_table_pages(env);
    assert_eq!(
        free as i64 - env.pa.drained_free_pages() as i64,
        tables_now as i64 - tables as i64,
        "only page tables were allocated"
    );
    for (i, _) in &before {
        let pg = env.pa.page(pfn_at(&mm, env, to + i)).unwrap();
        assert_eq!((pg.mapcount(), pg.refcount()), (1, 1));
    }
    assert!(mm.leaves(env, a, a + 4 * P).is_empty());
    assert_eq!(cpu.load_u8(&mut mm, a), Err(MAPERR));
    assert_eq!((cpu.load_u8(&mut mm, to + 3 * P), cpu.load_u8(&mut mm, to + 7 * P)), (Ok(pat(a + 3 * P)), Ok(0)));
    assert_eq!((mm.counters().rss_anon, mm.counters().total_vm, mm.counters().committed), (4, 9, 8));
    mm.destroy(env);
    assert_eq!(env.commit.committed(), 0, "the moved area's commitment is given back once");
}

#[test]
fn mremap_fixed_moves_to_the_given_address_replacing_what_was_there() {
    //   [A a 2)          [B old ......... B+3)
    //   mremap(A, 2, 2, FIXED, B)  ->  [B a 2)[B+2 old)
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, A, 2, RW, FIXED);
    map(&mut mm, env, B, 3, RW, FIXED);
    fill(&mut cpu, &mut mm, a, 2);
    (0..3).for_each(|i| cpu.store(&mut mm, B + i * P, &[0x90 + i as u8]).unwrap());
    let free = env.pa.drained_free_pages();
    assert_eq!(mm.mremap(env, a, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, B, &lim()), Ok(B));
    check(&mm, env);
    assert_eq!(
        env.pa.drained_free_pages(),
        free + 2 + 1,
        "the two replaced frames and A's emptied page table are free"
    );
    assert_eq!((cpu.load_u8(&mut mm, B), cpu.load_u8(&mut mm, B + P)), (Ok(pat(a)), Ok(pat(a + P))));
    assert_eq!((cpu.load_u8(&mut mm, B + 2 * P), cpu.load_u8(&mut mm, a)), (Ok(0x92), Err(MAPERR)));
    assert_eq!((mm.counters().rss_anon, mm.counters().total_vm, mm.counters().committed), (3, 3, 3));
    // FIXED with a smaller new size shrinks too.
    assert_eq!(mm.mremap(env, B, 3 * P, P, MREMAP_MAYMOVE | MREMAP_FIXED, A + 8 * P, &lim()), Ok(A + 8 * P));
    check(&mm, env);
    assert_eq!((spans(&mm), cpu.load_u8(&mut mm, A + 8 * P)), (vec![(A + 8 * P, A + 9 * P)], Ok(pat(a))));
    mm.destroy(env);
    assert_eq!(env.commit.committed(), 0);
}

#[test]
fn mremap_fixed_below_mmap_min_addr_is_eperm() {
    // mremap_to -> get_unmapped_area(MAP_FIXED) -> security_mmap_addr.
    let (env, mut mm, _) = setup();
    let a = map(&mut mm, env, A, 1, RW, FIXED);
    assert_eq!(mm.mremap(env, a, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, 0x1000, &lim()), Err(MmError::Perm));
    assert_eq!(spans(&mm), vec![(a, a + P)]);
}

#[test]
fn mremap_dontunmap_leaves_the_old_range_mapped_but_empty() {
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, A, 2, RW, FIXED);
    fill(&mut cpu, &mut mm, a, 2);
    let pfn = pfn_at(&mm, env, a);
    let to = mm.mremap(env, a, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0, &lim()).unwrap();
    check(&mm, env);
    assert!(to != a && spans(&mm).contains(&(a, a + 2 * P)), "the old area stays");
    assert_eq!((pfn_at(&mm, env, to), cpu.load_u8(&mut mm, to + P)), (pfn, Ok(pat(a + P))));
    assert!(mm.leaves(env, a, a + 2 * P).is_empty(), "its pages moved out");
    assert_eq!((cpu.load_u8(&mut mm, a), cpu.load_u8(&mut mm, a + P)), (Ok(0), Ok(0)), "private anonymous: zeros");
    assert_eq!((mm.counters().total_vm, mm.counters().committed, mm.counters().rss_anon), (4, 4, 2));
    // With FIXED, to a chosen address.
    assert_eq!(mm.mremap(env, to, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED, B, &lim()), Ok(B));
    assert_eq!((cpu.load_u8(&mut mm, B), cpu.load_u8(&mut mm, to)), (Ok(pat(a)), Ok(0)));
    check(&mm, env);
    // A shared mapping's old range refaults the same object.
    let s = map(&mut mm, env, 0, 1, RW, SHARED);
    cpu.store(&mut mm, s, &[0x77]).unwrap();
    let t = mm.mremap(env, s, P, P, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0, &lim()).unwrap();
    assert_eq!((cpu.load_u8(&mut mm, t), cpu.load_u8(&mut mm, s)), (Ok(0x77), Ok(0x77)));
    check(&mm, env);
    mm.destroy(env);
    assert_eq!(env.commit.committed(), 0);
}

#[test]
fn mremap_dontunmap_of_locked_memory_unlocks_the_old_range() {
    // move_vma: "We always clear VM_LOCKED[ONFAULT] on the old vma", and
    // locked_vm is left as it was (the new area holds the lock).
    let (env, mut mm, _) = setup();
    let a = map(&mut mm, env, A, 2, RW, FIXED | MAP_LOCKED);
    assert_eq!(mm.counters().locked_vm, 2);
    let to = mm.mremap(env, a, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0, &lim()).unwrap();
    check(&mm, env);
    assert!(flags_at(&mm, to).contains(VmFlags::LOCKED) && !flags_at(&mm, a).contains(VmFlags::LOCKED));
    assert_eq!((mm.counters().locked_vm, env.pa.vmstat.mlocked_pages.get()), (2, 2));
}

#[test]
fn mremap_returns_linux_errno_for_each_invalid_request() {
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, A, 4, RW, FIXED);
    fill(&mut cpu, &mut mm, a, 4);
    let mut err = |old: u64, old_len: u64, new_len: u64, flags: u32, new: u64| {
        mm.mremap(env, old, old_len, new_len, flags, new, &lim()).unwrap_err()
    };
    let (mv, fx, du) = (MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP);
    assert_eq!(err(a + 1, P, 2 * P, mv, 0), MmError::Invalid, "unaligned old address");
    assert_eq!(err(a, P, 0, mv, 0), MmError::Invalid, "new_len 0");
    assert_eq!(err(a, P, 2 * P, mv | 8, 0), MmError::Invalid, "unknown flag");
    assert_eq!(err(a, P, P, fx, B), MmError::Invalid, "FIXED without MAYMOVE");
    assert_eq!(err(a, P, P, du, 0), MmError::Invalid, "DONTUNMAP without MAYMOVE");
    assert_eq!(err(a, P, 2 * P, mv | du, 0), MmError::Invalid, "DONTUNMAP resizing");
    assert_eq!(err(a, 4 * P, 4 * P, mv | fx, a + 2 * P), MmError::Invalid, "new range overlaps the old, above");
    assert_eq!(err(a, 4 * P, 4 * P, mv | fx, a - 2 * P), MmError::Invalid, "new range overlaps the old, below");
    assert_eq!(err(a, P, P, mv | fx, B + 1), MmError::Invalid, "unaligned new address");
    assert_eq!(err(a, P, 2 * P, mv | fx, TASK_SIZE - P), MmError::Invalid, "new range past TASK_SIZE");
    assert_eq!(err(a, 0, P, mv, 0), MmError::Invalid, "old_len 0 of a private mapping (vma_to_resize)");
    assert_eq!(err(B, P, 2 * P, mv, 0), MmError::Fault, "old address unmapped");
    assert_eq!(err(a + 8 * P, P, P, mv | fx, B), MmError::Fault, "old address unmapped, FIXED");
    assert_eq!(err(a, 6 * P, 8 * P, mv, 0), MmError::Fault, "old range runs past the area");
    assert_eq!(spans(&mm), vec![(a, a + 4 * P)], "no failed call changed anything");
    assert_eq!((cpu.load_u8(&mut mm, a + 3 * P), mm.counters().committed), (Ok(pat(a + 3 * P)), 4));
    check(&mm, env);
}

#[test]
fn mremap_of_a_range_past_task_size_is_efault_or_einval_as_linux() {
    // Linux does not check the old range against TASK_SIZE: vma_lookup
    // (EFAULT when unmapped), then "old_len > vm_end - addr" (EFAULT) to
    // grow or move, and do_vmi_munmap of the tail (EINVAL) to shrink. A
    // new size beyond TASK_SIZE is EINVAL (check_mremap_params, 6.x).
    let (env, mut mm, _) = setup();
    let a = map(&mut mm, env, A, 2, RW, FIXED);
    let tb = 1u64 << 40;
    let huge = TASK_SIZE; // a + huge is past user space
    let mut err = |old: u64, old_len: u64, new_len: u64, flags: u32, new: u64| {
        mm.mremap(env, old, old_len, new_len, flags, new, &lim()).unwrap_err()
    };
    let mv = MREMAP_MAYMOVE;
    assert_eq!(err(B, tb, tb + P, mv, 0), MmError::Fault, "unmapped old address, old range past TASK_SIZE");
    assert_eq!(err(a, huge, huge + P, mv, 0), MmError::Invalid, "new size past TASK_SIZE");
    assert_eq!(err(a, huge, 4 * P, mv, 0), MmError::Invalid, "shrinking: the tail's munmap refuses");
    // FIXED: the old range [a, a + len) overlaps any target above a.
    assert_eq!(err(a, huge, 4 * P, mv | MREMAP_FIXED, B), MmError::Invalid, "the new range overlaps the old");
    let below = A / 2;
    assert_eq!(err(a, huge, 4 * P, mv | MREMAP_FIXED, below), MmError::Fault, "moving a range past its area");
    assert_eq!(err(a, u64::MAX - 2 * P, 4 * P, mv | MREMAP_FIXED, below), MmError::Fault, "an old end that wraps");
    assert_eq!(err(a, u64::MAX - 2 * P, 4 * P, mv, 0), MmError::Invalid);
    assert_eq!(spans(&mm), vec![(a, a + 2 * P)], "no failed call changed anything");
    check(&mm, env);
}

#[test]
fn mremap_of_cow_pages_after_fork_keeps_map_and_ref_counts() {
    let (env, mut parent, mut cpu) = setup();
    let free = env.pa.drained_free_pages();
    let a = map(&mut parent, env, A, 2, RW, FIXED);
    map(&mut parent, env, A + 2 * P, 1, R, FIXED);
    cpu.store(&mut parent, a, &[0x10]).unwrap();
    cpu.store(&mut parent, a + P, &[0x20]).unwrap();
    let mut child = parent.fork(env, &lim()).unwrap();
    let counts = |mm: &AddressSpace, va: u64| {
        let pg = env.pa.page(pfn_at(mm, env, va)).unwrap();
        (pg.mapcount(), pg.refcount())
    };
    assert_eq!(counts(&parent, a), (2, 2));
    let to = parent.mremap(env, a, 2 * P, 4 * P, MREMAP_MAYMOVE, 0, &lim()).unwrap();
    parent.check_invariants(env);
    assert_eq!((counts(&parent, to), counts(&parent, to + P)), ((2, 2), (2, 2)), "moving takes no reference");
    assert_eq!(pfn_at(&parent, env, to), pfn_at(&child, env, a));
    cpu.store(&mut child, a, &[0xc1]).unwrap();
    assert_eq!(
        (cpu.load_u8(&mut parent, to), cpu.load_u8(&mut child, a)),
        (Ok(0x10), Ok(0xc1)),
        "the child's write is its own"
    );
    assert_eq!(counts(&parent, to), (1, 1));
    let reuses = env.pa.vmstat.pgreuse.get();
    cpu.store(&mut parent, to, &[0xb0]).unwrap();
    assert_eq!(env.pa.vmstat.pgreuse.get(), reuses + 1, "the parent is the last user: reuse");
    assert_eq!((cpu.load_u8(&mut child, a + P), cpu.load_u8(&mut parent, to + P)), (Ok(0x20), Ok(0x20)));
    child.check_invariants(env);
    child.destroy(env);
    check(&parent, env);
    parent.destroy(env);
    assert_eq!((env.pa.drained_free_pages(), env.commit.committed()), (free + 1, 0), "every frame back, and the PML4");
}

#[test]
fn mremap_grown_shared_anonymous_mapping_faults_sigbus_past_the_object() {
    // shmem_fault -> shmem_get_folio_gfp: an index at or past i_size is
    // -EINVAL -> VM_FAULT_SIGBUS; mremap grows the area, not the object.
    let (env, mut mm, mut cpu) = setup();
    let s = map(&mut mm, env, A, 1, RW, SHARED | MAP_FIXED);
    assert_eq!(mm.mremap(env, s, P, 2 * P, 0, 0, &lim()), Ok(s));
    assert_eq!(cpu.load_u8(&mut mm, s), Ok(0));
    assert_eq!(cpu.load_u8(&mut mm, s + P), Err(FaultError::Bus));
}

// ---------------------------------------------------------------- madvise

#[test]
fn madv_dontneed_private_anonymous_reads_zero_and_frees_the_pages() {
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, 0, 4, RW, PRIV);
    fill(&mut cpu, &mut mm, a, 4);
    let (free, tables) = (env.pa.drained_free_pages(), mm.page_table_pages(env));
    mm.madvise(env, a + P, 2 * P, MADV_DONTNEED, &lim()).unwrap();
    check(&mm, env);
    assert_eq!(env.pa.drained_free_pages(), free + 2, "two frames freed, tables kept for the rest");
    assert_eq!((mm.page_table_pages(env), mm.counters().rss_anon, mm.counters().committed), (tables, 2, 4));
    let got: Vec<_> = (0..4).map(|i| cpu.load_u8(&mut mm, a + i * P)).collect();
    assert_eq!(got, vec![Ok(pat(a)), Ok(0), Ok(0), Ok(pat(a + 3 * P))]);
    assert_eq!(spans(&mm), vec![(a, a + 4 * P)], "the area is untouched");
}

#[test]
fn madv_dontneed_private_file_mapping_goes_back_to_the_file_bytes() {
    let (env, mut mm, mut cpu) = setup();
    let (obj, data) = file(env, 2 * P as usize);
    let f = map_file(&mut mm, env, &obj, 2, RW, MAP_PRIVATE, false);
    cpu.store(&mut mm, f + 5, &[0xee]).unwrap();
    let anon = env.pa.vmstat.anon_pages.get();
    mm.madvise(env, f, 2 * P, MADV_DONTNEED, &lim()).unwrap();
    check(&mm, env);
    assert_eq!(env.pa.vmstat.anon_pages.get(), anon - 1, "the private copy is freed");
    assert_eq!(cpu.load_u8(&mut mm, f + 5), Ok(data[5]));
}

#[test]
fn madv_free_keeps_rewritten_data_and_drops_the_rest_at_reclaim() {
    // MADV_FREE (madvise(2)): the kernel may free the pages lazily; a write
    // before that keeps the page with the written data.
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, 0, 3, RW, PRIV);
    fill(&mut cpu, &mut mm, a, 3);
    mm.madvise(env, a, 3 * P, MADV_FREE, &lim()).unwrap();
    check(&mm, env);
    assert_eq!(env.pa.vmstat.lazyfree_pages.get(), 3);
    assert!(mm.leaves(env, a, a + 3 * P).iter().all(|l| !l.flags.contains(F::DIRTY)), "marked clean");
    cpu.store(&mut mm, a + P, &[0x5e]).unwrap();
    let free = env.pa.drained_free_pages();
    assert_eq!(mm.reclaim_lazyfree(env), 2);
    check(&mm, env);
    assert_eq!(
        (env.pa.drained_free_pages(), env.pa.vmstat.pglazyfreed.get(), env.pa.vmstat.lazyfree_pages.get()),
        (free + 2, 2, 0)
    );
    let got: Vec<_> = (0..3).map(|i| cpu.load_u8(&mut mm, a + i * P)).collect();
    assert_eq!(got, vec![Ok(0), Ok(0x5e), Ok(0)]);
    // Shared memory and files: EINVAL (madvise_free_single_vma: !vma_is_anonymous).
    let s = map(&mut mm, env, 0, 1, RW, SHARED);
    assert_eq!(mm.madvise(env, s, P, MADV_FREE, &lim()), Err(MmError::Invalid));
}

#[test]
fn madv_willneed_reads_file_pages_ahead_of_use() {
    // madvise_willneed -> vfs_fadvise(POSIX_FADV_WILLNEED): the page cache
    // is filled, so the first touch is a minor fault.
    let (env, mut mm, mut cpu) = setup();
    let (obj, data) = file(env, 4 * P as usize);
    let f = map_file(&mut mm, env, &obj, 4, R, MAP_PRIVATE, false);
    assert_eq!(obj.nr_pages(), 0);
    mm.madvise(env, f, 4 * P, MADV_WILLNEED, &lim()).unwrap();
    check(&mm, env);
    assert_eq!(obj.nr_pages(), 4);
    assert_eq!(mm.mincore(env, f, 4 * P), Ok(vec![1; 4]));
    let majors = mm.counters().maj_flt;
    assert_eq!(cpu.load_u8(&mut mm, f + 3 * P), Ok(data[3 * P as usize]));
    assert_eq!(mm.counters().maj_flt, majors, "no major fault after read-ahead");
    // Only a hint: nothing to read is no error (madvise_willneed returns 0).
    let none = map(&mut mm, env, 0, 2, PROT_NONE, PRIV);
    assert_eq!(mm.madvise(env, none, 2 * P, MADV_WILLNEED, &lim()), Ok(()));
    assert!(mm.leaves(env, none, none + 2 * P).is_empty());
    let g = map_file(&mut mm, env, &obj, 6, R, MAP_PRIVATE, false);
    assert_eq!(mm.madvise(env, g, 6 * P, MADV_WILLNEED, &lim()), Ok(()), "past the end of the file");
}

#[test]
fn madv_remove_on_shared_anonymous_memory_zeroes_it_for_the_caller() {
    let (env, mut mm, mut cpu) = setup();
    let s = map(&mut mm, env, 0, 2, RW, SHARED);
    cpu.store(&mut mm, s, &[1]).unwrap();
    cpu.store(&mut mm, s + P, &[2]).unwrap();
    let shmem = env.pa.vmstat.shmem_pages.get();
    mm.madvise(env, s, P, MADV_REMOVE, &lim()).unwrap();
    mm.take_deferred().run();
    check(&mm, env);
    assert_eq!(env.pa.vmstat.shmem_pages.get(), shmem - 1, "the hole's page is freed once the lock is dropped");
    assert_eq!((cpu.load_u8(&mut mm, s), cpu.load_u8(&mut mm, s + P)), (Ok(0), Ok(2)));
}

#[test]
fn madv_remove_zeroes_every_mapping_of_the_object_in_the_same_process() {
    // mremap(old_size 0) maps the same shared pages a second time; a hole
    // punched through one mapping shows in the other (unmap_mapping_range
    // zaps every mapping), and they share the page written next.
    let (env, mut mm, mut cpu) = setup();
    let s = map(&mut mm, env, 0, 2, RW, SHARED);
    cpu.store(&mut mm, s, &[1]).unwrap();
    cpu.store(&mut mm, s + P, &[2]).unwrap();
    let d = mm.mremap(env, s, 0, 2 * P, MREMAP_MAYMOVE, 0, &lim()).unwrap();
    assert_eq!((cpu.load_u8(&mut mm, d), cpu.load_u8(&mut mm, d + P)), (Ok(1), Ok(2)));
    let shmem = env.pa.vmstat.shmem_pages.get();
    mm.madvise(env, s, P, MADV_REMOVE, &lim()).unwrap();
    mm.take_deferred().run();
    check(&mm, env);
    assert_eq!(env.pa.vmstat.shmem_pages.get(), shmem - 1, "no mapping keeps the page: it is freed");
    assert_eq!(
        (cpu.load_u8(&mut mm, d), cpu.load_u8(&mut mm, d + P)),
        (Ok(0), Ok(2)),
        "the second mapping sees the hole"
    );
    cpu.store(&mut mm, d, &[7]).unwrap();
    assert_eq!(cpu.load_u8(&mut mm, s), Ok(7), "and both map the new page");
    // The hole punched through the second mapping, at its offset.
    mm.madvise(env, d + P, P, MADV_REMOVE, &lim()).unwrap();
    mm.take_deferred().run();
    assert_eq!((cpu.load_u8(&mut mm, s), cpu.load_u8(&mut mm, s + P)), (Ok(7), Ok(0)));
}

#[test]
fn madv_populate_stops_at_a_hole_with_enomem_before_a_later_area_can_refuse() {
    //   [0 rw 1)  hole  [2 r 3)
    // madvise_populate faults the range in page by page (it does not walk
    // the areas first): the hole ends it with ENOMEM; the read-only area
    // after it would be EINVAL for POPULATE_WRITE, and is never reached.
    let (env, mut mm, _) = setup();
    let pg = |i: u64| A + i * P;
    map(&mut mm, env, pg(0), 1, RW, FIXED);
    map(&mut mm, env, pg(2), 1, R, FIXED);
    assert_eq!(mm.madvise(env, pg(0), 3 * P, MADV_POPULATE_WRITE, &lim()), Err(MmError::NoMemory));
    assert!(mm.lookup(env, pg(0)).is_some(), "the page before the hole was populated");
    assert_eq!(mm.madvise(env, pg(1), 2 * P, MADV_POPULATE_WRITE, &lim()), Err(MmError::NoMemory), "hole first");
    assert_eq!(mm.madvise(env, pg(2), P, MADV_POPULATE_WRITE, &lim()), Err(MmError::Invalid), "the area alone");
    assert_eq!(mm.madvise(env, pg(1), 2 * P, MADV_POPULATE_READ, &lim()), Err(MmError::NoMemory));
    assert!(mm.lookup(env, pg(2)).is_none(), "nothing past the hole was populated");
    // The other advice walks the areas: one that refuses wins over a hole.
    map(&mut mm, env, pg(4), 1, RW, FIXED | MAP_LOCKED);
    assert_eq!(mm.madvise(env, pg(2), 3 * P, MADV_DONTNEED, &lim()), Err(MmError::Invalid));
    check(&mm, env);
}

#[test]
fn madv_remove_needs_a_shared_writable_mapping() {
    // madvise_remove: no file (private anonymous) or VM_LOCKED -> EINVAL;
    // a file mapping that is not shared-writable -> EACCES.
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, 0, 1, RW, PRIV);
    cpu.store(&mut mm, a, &[1]).unwrap();
    assert_eq!(mm.madvise(env, a, P, MADV_REMOVE, &lim()), Err(MmError::Invalid));
    assert_eq!(cpu.load_u8(&mut mm, a), Ok(1));
    let (obj, _) = file(env, P as usize);
    let f = map_file(&mut mm, env, &obj, 1, RW, MAP_PRIVATE, false);
    assert_eq!(mm.madvise(env, f, P, MADV_REMOVE, &lim()), Err(MmError::Access));
    let l = map(&mut mm, env, 0, 1, RW, SHARED | MAP_LOCKED);
    assert_eq!(mm.madvise(env, l, P, MADV_REMOVE, &lim()), Err(MmError::Invalid));
}

#[test]
fn madv_normal_random_sequential_set_the_read_hint_flags() {
    let (env, mut mm, _) = setup();
    let a = map(&mut mm, env, A, 6, RW, FIXED);
    let hints = |mm: &AddressSpace, va: u64| flags_at(mm, va) & (VmFlags::RAND_READ | VmFlags::SEQ_READ);
    mm.madvise(env, a + 2 * P, 2 * P, MADV_RANDOM, &lim()).unwrap();
    check(&mm, env);
    assert_eq!((spans(&mm).len(), hints(&mm, a + 2 * P), hints(&mm, a)), (3, VmFlags::RAND_READ, VmFlags::empty()));
    assert!(flags_at(&mm, a + 2 * P).mnemonics().any(|m| m == "rr"), "smaps shows rr");
    mm.madvise(env, a + 2 * P, 2 * P, MADV_SEQUENTIAL, &lim()).unwrap();
    assert_eq!(hints(&mm, a + 3 * P), VmFlags::SEQ_READ, "sequential replaces random");
    assert!(flags_at(&mm, a + 2 * P).mnemonics().any(|m| m == "sr"));
    mm.madvise(env, a, 6 * P, MADV_NORMAL, &lim()).unwrap();
    check(&mm, env);
    assert_eq!((spans(&mm), hints(&mm, a + 2 * P)), (vec![(a, a + 6 * P)], VmFlags::empty()), "back to one area");
}

#[test]
fn madv_dontfork_area_is_absent_in_the_child_and_dofork_restores_it() {
    let (env, mut parent, mut cpu) = setup();
    let a = map(&mut parent, env, 0, 2, RW, PRIV);
    let b = map(&mut parent, env, 0, 3, RW, PRIV);
    fill(&mut cpu, &mut parent, a, 2);
    fill(&mut cpu, &mut parent, b, 3);
    parent.madvise(env, b, 3 * P, MADV_DONTFORK, &lim()).unwrap();
    assert!(flags_at(&parent, b).contains(VmFlags::DONTCOPY));
    let committed = env.commit.committed();
    let mut child = parent.fork(env, &lim()).unwrap();
    child.check_invariants(env);
    assert_eq!(env.commit.committed(), committed + 2, "the DONTFORK area is not charged for the child");
    assert!(child.vmas.containing(b).is_none());
    assert_eq!((cpu.load_u8(&mut child, b), cpu.load_u8(&mut child, a)), (Err(MAPERR), Ok(pat(a))));
    assert_eq!(cpu.load_u8(&mut parent, b), Ok(pat(b)));
    child.destroy(env);
    parent.madvise(env, b, 3 * P, MADV_DOFORK, &lim()).unwrap();
    let mut child = parent.fork(env, &lim()).unwrap();
    assert_eq!(cpu.load_u8(&mut child, b + 2 * P), Ok(pat(b + 2 * P)));
    child.destroy(env);
    check(&parent, env);
}

#[test]
fn madv_wipeonfork_child_sees_zero_and_keeponfork_restores_the_copy() {
    let (env, mut parent, mut cpu) = setup();
    let a = map(&mut parent, env, 0, 2, RW, PRIV);
    fill(&mut cpu, &mut parent, a, 2);
    parent.madvise(env, a, 2 * P, MADV_WIPEONFORK, &lim()).unwrap();
    let mut child = parent.fork(env, &lim()).unwrap();
    child.check_invariants(env);
    assert!(child.vmas.containing(a).is_some(), "the area is there");
    assert_eq!((cpu.load_u8(&mut child, a), cpu.load_u8(&mut child, a + P)), (Ok(0), Ok(0)));
    cpu.store(&mut child, a, &[0xc0]).unwrap();
    assert_eq!(cpu.load_u8(&mut parent, a), Ok(pat(a)));
    child.destroy(env);
    parent.madvise(env, a, 2 * P, MADV_KEEPONFORK, &lim()).unwrap();
    let mut child = parent.fork(env, &lim()).unwrap();
    assert_eq!(cpu.load_u8(&mut child, a), Ok(pat(a)));
    child.destroy(env);
    // madvise_vma_behavior: `if (vma->vm_file || vma->vm_flags & VM_SHARED) return -EINVAL`.
    let s = map(&mut parent, env, 0, 1, RW, SHARED);
    assert_eq!(parent.madvise(env, s, P, MADV_WIPEONFORK, &lim()), Err(MmError::Invalid));
    check(&parent, env);
}

#[test]
fn madvise_rejects_unknown_advice_and_unaligned_start_with_einval() {
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, A, 2, RW, FIXED);
    fill(&mut cpu, &mut mm, a, 2);
    for advice in [5, 6, 7, 12, 13, 26, 100, u32::MAX] {
        assert_eq!(mm.madvise(env, a, P, advice, &lim()), Err(MmError::Invalid), "advice {advice}");
    }
    assert_eq!(mm.madvise(env, a + 8, P, MADV_DONTNEED, &lim()), Err(MmError::Invalid));
    // `if (len_in && !len) return -EINVAL;` (rounded up from a huge length).
    assert_eq!(mm.madvise(env, a, u64::MAX, MADV_DONTNEED, &lim()), Err(MmError::Invalid));
    // `if (end == start) return 0;`, even unmapped.
    assert_eq!(mm.madvise(env, B, 0, MADV_DONTNEED, &lim()), Ok(()));
    assert_eq!(cpu.load_u8(&mut mm, a + P), Ok(pat(a + P)), "nothing was dropped");
}

#[test]
fn madvise_over_holes_advises_the_mapped_parts_then_fails_enomem() {
    //   [0 a 2)  hole  [4 b 6)  hole
    //   madvise [0 .......... 8) DONTNEED: a and b are dropped, then ENOMEM
    // madvise_walk_vmas: `unmapped_error = -ENOMEM` and carry on.
    let (env, mut mm, mut cpu) = setup();
    let pg = |i: u64| A + i * P;
    map(&mut mm, env, pg(0), 2, RW, FIXED);
    map(&mut mm, env, pg(4), 2, RW, FIXED);
    fill(&mut cpu, &mut mm, pg(0), 2);
    fill(&mut cpu, &mut mm, pg(4), 2);
    assert_eq!(mm.madvise(env, pg(0), 8 * P, MADV_DONTNEED, &lim()), Err(MmError::NoMemory));
    check(&mm, env);
    assert_eq!(mm.counters().rss_anon, 0, "both areas were advised");
    assert_eq!((cpu.load_u8(&mut mm, pg(1)), cpu.load_u8(&mut mm, pg(5))), (Ok(0), Ok(0)));
    assert_eq!(mm.madvise(env, pg(2), 2 * P, MADV_DONTNEED, &lim()), Err(MmError::NoMemory), "only a hole");
    assert_eq!(mm.madvise(env, pg(2), 4 * P, MADV_RANDOM, &lim()), Err(MmError::NoMemory));
    assert_eq!(flags_at(&mm, pg(4)) & VmFlags::RAND_READ, VmFlags::RAND_READ, "the area after the hole got the hint");
}

#[test]
fn madv_dontneed_on_locked_memory_is_einval_after_the_areas_before_it() {
    //   [0 a RW 2)[2 locked 4)
    // madvise_dontneed_free_valid_vma refuses VM_LOCKED -> EINVAL, once
    // madvise_walk_vmas reaches it: a was already dropped.
    let (env, mut mm, mut cpu) = setup();
    let pg = |i: u64| A + i * P;
    map(&mut mm, env, pg(0), 2, RW, FIXED);
    map(&mut mm, env, pg(2), 2, RW, FIXED | MAP_LOCKED);
    fill(&mut cpu, &mut mm, pg(0), 4);
    assert_eq!(mm.madvise(env, pg(0), 4 * P, MADV_DONTNEED, &lim()), Err(MmError::Invalid));
    check(&mm, env);
    assert_eq!((cpu.load_u8(&mut mm, pg(1)), cpu.load_u8(&mut mm, pg(3))), (Ok(0), Ok(pat(pg(3)))));
}

// ---------------------------------------------------------------- mlock

#[test]
fn mlock_faults_in_every_page_and_marks_it_mlocked() {
    use crate::phys::page::PageFlags;
    let (env, mut mm, _) = setup();
    let a = map(&mut mm, env, A, 4, RW, FIXED);
    let vmlck = |mm: &AddressSpace| {
        let mut s = String::new();
        crate::procfs::pid::render_status_vm(mm, env, &mut s).unwrap();
        s.lines().find(|l| l.starts_with("VmLck:")).unwrap().split_whitespace().nth(1).unwrap().parse::<u64>().unwrap()
    };
    mm.mlock(env, a, 4 * P, 0, &lim()).unwrap();
    check(&mm, env);
    assert_eq!(mm.leaves(env, a, a + 4 * P).len(), 4, "every page faulted in");
    assert!((0..4).all(|i| page_has(env, pfn_at(&mm, env, a + i * P), PageFlags::MLOCKED)));
    assert_eq!((env.pa.vmstat.mlocked_pages.get(), mm.counters().locked_vm, vmlck(&mm)), (4, 4, 16));
    assert!(flags_at(&mm, a).contains(VmFlags::LOCKED));
    mm.munlock(env, a, 2 * P).unwrap();
    check(&mm, env);
    assert_eq!(spans(&mm), vec![(a, a + 2 * P), (a + 2 * P, a + 4 * P)]);
    assert!(
        !page_has(env, pfn_at(&mm, env, a), PageFlags::MLOCKED)
            && page_has(env, pfn_at(&mm, env, a + 2 * P), PageFlags::MLOCKED)
    );
    assert_eq!((env.pa.vmstat.mlocked_pages.get(), mm.counters().locked_vm, vmlck(&mm)), (2, 2, 8));
    // Unaligned address and length are rounded out to pages.
    mm.munlock(env, a + 2 * P + 100, P).unwrap();
    assert_eq!((env.pa.vmstat.mlocked_pages.get(), mm.counters().locked_vm, spans(&mm)), (0, 0, vec![(a, a + 4 * P)]));
    mm.mlock(env, a + 10, 10, 0, &lim()).unwrap();
    assert_eq!((env.pa.vmstat.mlocked_pages.get(), mm.counters().locked_vm), (1, 1));
    mm.munmap(env, a, 4 * P).unwrap();
    assert_eq!((env.pa.vmstat.mlocked_pages.get(), mm.counters().locked_vm), (0, 0), "unmapping unlocks");
}

#[test]
fn mlock2_onfault_marks_pages_only_as_they_are_touched() {
    use crate::phys::page::PageFlags;
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, 0, 4, RW, PRIV);
    assert_eq!(mm.mlock(env, a, 4 * P, 2, &lim()), Err(MmError::Invalid), "unknown mlock2 flag");
    mm.mlock(env, a, 4 * P, MLOCK_ONFAULT, &lim()).unwrap();
    check(&mm, env);
    assert!(mm.leaves(env, a, a + 4 * P).is_empty(), "nothing faulted in");
    assert!(flags_at(&mm, a).contains(VmFlags::LOCKED | VmFlags::LOCKONFAULT));
    assert_eq!((mm.counters().locked_vm, env.pa.vmstat.mlocked_pages.get()), (4, 0));
    cpu.store(&mut mm, a + P, &[1]).unwrap();
    assert!(page_has(env, pfn_at(&mm, env, a + P), PageFlags::MLOCKED));
    assert_eq!(env.pa.vmstat.mlocked_pages.get(), 1);
    // A later plain mlock populates what is left.
    mm.mlock(env, a, 4 * P, 0, &lim()).unwrap();
    assert_eq!((env.pa.vmstat.mlocked_pages.get(), flags_at(&mm, a) & VmFlags::LOCKONFAULT), (4, VmFlags::empty()));
    check(&mm, env);
}

#[test]
fn mlockall_current_and_future_locks_existing_and_later_mappings() {
    let (env, mut mm, _) = setup();
    let a = map(&mut mm, env, 0, 2, RW, PRIV);
    for bad in [0, MCL_ONFAULT, 8, MCL_CURRENT | 8] {
        assert_eq!(mm.mlockall(env, bad, &lim()), Err(MmError::Invalid), "flags {bad:#x}");
    }
    mm.mlockall(env, MCL_CURRENT | MCL_FUTURE, &lim()).unwrap();
    check(&mm, env);
    assert_eq!((mm.leaves(env, a, a + 2 * P).len(), env.pa.vmstat.mlocked_pages.get()), (2, 2));
    let b = map(&mut mm, env, 0, 3, RW, PRIV);
    assert!(flags_at(&mm, b).contains(VmFlags::LOCKED), "MCL_FUTURE: new mappings are locked");
    assert_eq!((mm.counters().rss_anon, env.pa.vmstat.mlocked_pages.get(), mm.counters().locked_vm), (5, 5, 5));
    mm.munlockall(env).unwrap();
    check(&mm, env);
    assert_eq!((env.pa.vmstat.mlocked_pages.get(), mm.counters().locked_vm), (0, 0));
    let c = map(&mut mm, env, 0, 1, RW, PRIV);
    assert!(!flags_at(&mm, c).contains(VmFlags::LOCKED) && mm.leaves(env, c, c + P).is_empty());
    // MCL_FUTURE alone locks nothing that exists.
    mm.mlockall(env, MCL_FUTURE, &lim()).unwrap();
    assert_eq!(mm.counters().locked_vm, 0);
    let d = map(&mut mm, env, 0, 1, RW, PRIV);
    assert_eq!(mm.counters().locked_vm, 1);
    // MCL_CURRENT alone stops locking future mappings (def_flags cleared).
    mm.mlockall(env, MCL_CURRENT, &lim()).unwrap();
    let e = map(&mut mm, env, 0, 1, RW, PRIV);
    assert!(flags_at(&mm, d).contains(VmFlags::LOCKED) && !flags_at(&mm, e).contains(VmFlags::LOCKED));
    check(&mm, env);
}

#[test]
fn mlockall_onfault_locks_current_areas_without_populating_them() {
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, 0, 3, RW, PRIV);
    mm.mlockall(env, MCL_CURRENT | MCL_ONFAULT, &lim()).unwrap();
    check(&mm, env);
    assert!(flags_at(&mm, a).contains(VmFlags::LOCKED | VmFlags::LOCKONFAULT));
    assert!(mm.leaves(env, a, a + 3 * P).is_empty());
    assert_eq!((mm.counters().locked_vm, env.pa.vmstat.mlocked_pages.get()), (3, 0));
    cpu.store(&mut mm, a, &[1]).unwrap();
    assert_eq!(env.pa.vmstat.mlocked_pages.get(), 1);
}

#[test]
fn mlockall_future_onfault_does_not_populate_later_mappings() {
    let (env, mut mm, _) = setup();
    mm.mlockall(env, MCL_FUTURE | MCL_ONFAULT, &lim()).unwrap();
    let b = map(&mut mm, env, 0, 3, RW, PRIV);
    assert!(flags_at(&mm, b).contains(VmFlags::LOCKED | VmFlags::LOCKONFAULT));
    assert!(mm.leaves(env, b, b + 3 * P).is_empty(), "not faulted in");
}

#[test]
fn shared_pages_faulted_into_a_locked_area_are_mlocked() {
    // __folio_add_file_rmap -> mlock_vma_folio for a VM_LOCKED vma.
    let (env, mut mm, _) = setup();
    mm.mlockall(env, MCL_CURRENT | MCL_FUTURE, &lim()).unwrap();
    let s = map(&mut mm, env, 0, 2, RW, SHARED);
    assert_eq!(mm.leaves(env, s, s + 2 * P).len(), 2);
    assert_eq!(env.pa.vmstat.mlocked_pages.get(), 2);
}

#[test]
fn mlock_respects_rlimit_memlock_for_unprivileged_address_spaces() {
    let (env, mut mm, _) = setup();
    let a = map(&mut mm, env, 0, 8, RW, PRIV);
    let user = Rlimits { memlock: 4 * P, can_lock: false, ..lim() };
    // do_mlock: over RLIMIT_MEMLOCK without CAP_IPC_LOCK -> ENOMEM.
    assert_eq!(mm.mlock(env, a, 8 * P, 0, &user), Err(MmError::NoMemory));
    assert_eq!(
        (mm.counters().locked_vm, mm.counters().rss_anon, spans(&mm).len()),
        (0, 0, 1),
        "nothing locked or faulted"
    );
    mm.mlock(env, a, 4 * P, 0, &user).unwrap();
    mm.mlock(env, a, 4 * P, 0, &user).expect("pages already locked do not count twice");
    assert_eq!(mm.mlock(env, a + 4 * P, P, 0, &user), Err(MmError::NoMemory));
    assert_eq!(mm.counters().locked_vm, 4);
    // can_do_mlock: RLIMIT_MEMLOCK 0 without the capability -> EPERM.
    let none = Rlimits { memlock: 0, can_lock: false, ..lim() };
    assert_eq!(mm.mlock(env, a + 4 * P, P, 0, &none), Err(MmError::Perm));
    assert_eq!(mm.mlockall(env, MCL_CURRENT, &none), Err(MmError::Perm));
    // mlockall(MCL_CURRENT) checks total_vm against the limit before any change.
    assert_eq!(mm.mlockall(env, MCL_CURRENT | MCL_FUTURE, &user), Err(MmError::NoMemory));
    let b = map(&mut mm, env, 0, 1, RW, PRIV);
    assert!(!flags_at(&mm, b).contains(VmFlags::LOCKED), "the failed mlockall set no MCL_FUTURE");
    assert_eq!(mm.counters().locked_vm, 4);
    // Privileged: the limit does not apply.
    let root = Rlimits { memlock: 0, can_lock: true, ..lim() };
    mm.mlock(env, a, 8 * P, 0, &root).unwrap();
    assert_eq!((mm.counters().locked_vm, env.pa.vmstat.mlocked_pages.get()), (8, 8));
    check(&mm, env);
}

#[test]
fn mlock_over_a_hole_locks_the_areas_before_it_then_fails_enomem() {
    //   [0 a 2)  hole  [4 b 6)
    // apply_vma_lock_flags: `if (vma->vm_start != tmp) return -ENOMEM;`
    // after mlock_fixup of a; do_mlock then returns before populating.
    let (env, mut mm, mut cpu) = setup();
    let pg = |i: u64| A + i * P;
    map(&mut mm, env, pg(0), 2, RW, FIXED);
    map(&mut mm, env, pg(4), 2, RW, FIXED);
    cpu.store(&mut mm, pg(0), &[1]).unwrap();
    assert_eq!(mm.mlock(env, pg(0), 6 * P, 0, &lim()), Err(MmError::NoMemory));
    check(&mm, env);
    assert!(flags_at(&mm, pg(0)).contains(VmFlags::LOCKED) && !flags_at(&mm, pg(4)).contains(VmFlags::LOCKED));
    assert_eq!((mm.counters().locked_vm, env.pa.vmstat.mlocked_pages.get()), (2, 1), "the present page is locked");
    assert_eq!(mm.mlock(env, pg(2), 2 * P, 0, &lim()), Err(MmError::NoMemory), "start in the hole");
    assert_eq!(mm.munlock(env, pg(0), 6 * P), Err(MmError::NoMemory));
    assert_eq!((mm.counters().locked_vm, env.pa.vmstat.mlocked_pages.get()), (0, 0), "munlock too, up to the hole");
}

#[test]
fn mlock_and_munlock_of_a_range_whose_end_wraps_are_einval() {
    // do_mlock / munlock: len = PAGE_ALIGN(len + offset_in_page(start)) in
    // C arithmetic, then apply_vma_lock_flags: `if (end < start) return
    // -EINVAL;` before any area is looked at (nothing changes).
    let (env, mut mm, _) = setup();
    let a = map(&mut mm, env, A, 2, RW, FIXED | MAP_LOCKED);
    let wraps = 0u64.wrapping_sub(a) + 2 * P; // a + wraps = 2 pages past 2^64
    assert_eq!(mm.munlock(env, a, wraps), Err(MmError::Invalid));
    assert_eq!(mm.munlock(env, a + 5, wraps - 5), Err(MmError::Invalid), "with the offset in the first page");
    assert!(flags_at(&mm, a).contains(VmFlags::LOCKED), "still locked");
    assert_eq!(mm.mlock(env, a, wraps, 0, &lim()), Err(MmError::Invalid));
    // A length that wraps to 0 once aligned locks nothing: success.
    assert_eq!(mm.munlock(env, a, u64::MAX - P + 2), Ok(()));
    assert_eq!(mm.counters().locked_vm, 2);
    check(&mm, env);
}

// ---------------------------------------------------------------- mincore and msync

#[test]
fn mincore_reports_one_byte_per_page_resident_after_touch() {
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, A, 4, RW, FIXED);
    assert_eq!(mm.mincore(env, a, 4 * P), Ok(vec![0; 4]));
    cpu.store(&mut mm, a, &[1]).unwrap();
    cpu.load_u8(&mut mm, a + 2 * P).unwrap();
    // mincore_pte_range: pte_present -> 1, the zero page included.
    assert_eq!(mm.mincore(env, a, 4 * P), Ok(vec![1, 0, 1, 0]));
    assert_eq!(mm.mincore(env, a, 2 * P + 1), Ok(vec![1, 0, 1]), "a partial page counts");
    mm.madvise(env, a, P, MADV_DONTNEED, &lim()).unwrap();
    assert_eq!(mm.mincore(env, a, 4 * P), Ok(vec![0, 0, 1, 0]));
    // Shared memory: the page cache counts even where this process did not map it.
    let s = map(&mut mm, env, 0, 2, RW, SHARED);
    cpu.store(&mut mm, s + P, &[7]).unwrap();
    let child = mm.fork(env, &lim()).unwrap();
    assert_eq!(child.mincore(env, a, 4 * P), Ok(vec![0, 0, 1, 0]), "the child inherits the mappings");
    assert_eq!(child.mincore(env, s, 2 * P), Ok(vec![0, 1]));
    cpu.store(&mut mm, s, &[8]).unwrap();
    assert!(child.lookup(env, s).is_none());
    assert_eq!(child.mincore(env, s, 2 * P), Ok(vec![1, 1]), "the parent's new page is in the shared object");
    child.destroy(env);
    // A private file mapping: after DONTNEED the page cache still holds the page.
    let (obj, _) = file(env, 2 * P as usize);
    let f = map_file(&mut mm, env, &obj, 2, R, MAP_PRIVATE, false);
    cpu.load_u8(&mut mm, f).unwrap();
    mm.madvise(env, f, 2 * P, MADV_DONTNEED, &lim()).unwrap();
    assert_eq!(mm.mincore(env, f, 2 * P), Ok(vec![1, 0]));
}

#[test]
fn mincore_rejects_unaligned_and_unmapped_ranges() {
    let (env, mut mm, _) = setup();
    let a = map(&mut mm, env, A, 2, RW, FIXED);
    assert_eq!(mm.mincore(env, a + 1, P), Err(MmError::Invalid));
    assert_eq!(mm.mincore(env, a, 3 * P), Err(MmError::NoMemory), "runs into a hole");
    assert_eq!(mm.mincore(env, B, P), Err(MmError::NoMemory));
    assert_eq!(mm.mincore(env, TASK_SIZE - P, 2 * P), Err(MmError::NoMemory), "past user space (access_ok)");
    assert_eq!(mm.mincore(env, B, 0), Ok(vec![]));
}

#[test]
fn msync_checks_flags_alignment_and_mapping() {
    let (env, mut mm, _) = setup();
    let a = map(&mut mm, env, A, 2, RW, FIXED);
    for ok in [0, MS_ASYNC, MS_SYNC, MS_INVALIDATE, MS_SYNC | MS_INVALIDATE] {
        assert_eq!(mm.msync(a, 2 * P, ok), Ok(()), "flags {ok:#x}");
    }
    assert_eq!(mm.msync(a, 2 * P, MS_SYNC | MS_ASYNC), Err(MmError::Invalid));
    assert_eq!(mm.msync(a, 2 * P, 8), Err(MmError::Invalid));
    assert_eq!(mm.msync(a + 1, P, MS_SYNC), Err(MmError::Invalid));
    assert_eq!(mm.msync(a, 3 * P, MS_SYNC), Err(MmError::NoMemory), "part unmapped");
    assert_eq!(mm.msync(B, P, MS_ASYNC), Err(MmError::NoMemory));
    assert_eq!(mm.msync(B, 0, MS_SYNC), Ok(()), "empty range");
    assert_eq!(mm.msync(a, u64::MAX, MS_SYNC), Err(MmError::NoMemory), "wraps");
    // MS_INVALIDATE on locked memory: EBUSY.
    mm.mlock(env, a, P, 0, &lim()).unwrap();
    assert_eq!(mm.msync(a, 2 * P, MS_INVALIDATE), Err(MmError::Busy));
    assert_eq!(mm.msync(a, 2 * P, MS_SYNC), Ok(()));
}

#[test]
fn mremap_old_len_zero_maps_the_same_shared_pages_again() {
    // mremap(addr, 0, len, MREMAP_MAYMOVE) of a shared mapping: a second
    // mapping of the same pages (vma_to_resize allows old_len 0 for VM_MAYSHARE).
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, 0, 2, RW, SHARED);
    cpu.store(&mut mm, a + P, &[7]).unwrap();
    assert_eq!(mm.mremap(env, a, 0, 2 * P, 0, 0, &lim()), Err(MmError::NoMemory), "cannot grow in place from nothing");
    let b = mm.mremap(env, a, 0, 2 * P, MREMAP_MAYMOVE, 0, &lim()).unwrap();
    assert_ne!(a, b);
    assert_eq!(cpu.load_u8(&mut mm, b + P), Ok(7), "the duplicate sees the original's page");
    cpu.store(&mut mm, b, &[9]).unwrap();
    assert_eq!(cpu.load_u8(&mut mm, a), Ok(9), "and the original sees the duplicate's writes");
    assert_eq!(pfn_at(&mm, env, a), pfn_at(&mm, env, b));
    let free = env.pa.drained_free_pages();
    mm.munmap(env, a, 2 * P).unwrap();
    assert_eq!(cpu.load_u8(&mut mm, b + P), Ok(7), "the pages outlive the first mapping");
    mm.check_invariants(env);
    mm.destroy(env);
    assert!(env.pa.drained_free_pages() > free);
}

/// Mlocked (the gauge) equals the pages marked PG_mlocked through random
/// lock, unlock, map, unmap and write sequences, across a fork, and is
/// back at zero once both address spaces are gone. (The syscall fuzzer
/// found the gauge drifting up in the kernel.)
#[test]
fn mlocked_gauge_follows_the_page_marks_through_random_sequences() {
    use crate::phys::page::PageFlags;
    let (env, mut cpu) = super::tests::machine(64);
    let marked = |env: &MmEnv<'_>| {
        let mut n = 0u64;
        for pfn in 0..(64 * MB / P) {
            if env.pa.page(Pfn(pfn)).is_some_and(|p| p.has(PageFlags::MLOCKED)) {
                n += 1;
            }
        }
        n
    };
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let file_obj = file(env, 16 * P as usize).0;
    for round in 0..40 {
        // Like the fuzzer's init: its pages locked, then children forked.
        let mut init = new_mm(env);
        map(&mut init, env, A, 16, RW, FIXED);
        for k in 0..16 {
            cpu.store(&mut init, A + k * P, &[1]).unwrap();
        }
        map_file(&mut init, env, &file_obj, 16, R, MAP_PRIVATE, false);
        init.mlockall(env, MCL_CURRENT, &lim()).unwrap();
        let mut spaces = vec![init.fork(env, &lim()).unwrap()];
        for step in 0..60 {
            let i = rnd(spaces.len() as u64) as usize;
            let mm = &mut spaces[i];
            let a = A + rnd(16) * P;
            let len = (1 + rnd(8)) * P;
            match rnd(9) {
                0 => drop(mm.mmap(env, &req(a, len / P, RW, FIXED), &lim())),
                1 => drop(mm.mmap(
                    env,
                    &MmapRequest {
                        addr: a,
                        len,
                        prot: RW,
                        flags: MAP_PRIVATE | MAP_FIXED,
                        file: Some(FileMapping { object: file_obj.clone(), readable: true, writable: false }),
                        offset: 0,
                    },
                    &lim(),
                )),
                2 => drop(mm.munmap(env, a, len)),
                3 => drop(mm.mlock(env, a, len, 0, &lim())),
                4 => drop(mm.munlock(env, a, len)),
                5 => {
                    let flags = [MCL_CURRENT, MCL_CURRENT | MCL_FUTURE, MCL_FUTURE][rnd(3) as usize];
                    let _ = mm.mlockall(env, flags, &lim());
                }
                6 => drop(mm.munlockall(env)),
                7 => drop(cpu.store(mm, a, &[7])),
                _ => {
                    if spaces.len() < 3 {
                        let child = spaces[i].fork(env, &lim()).unwrap();
                        spaces.push(child);
                    } else {
                        spaces.swap_remove(i).destroy(env);
                    }
                }
            }
            assert_eq!(env.pa.vmstat.mlocked_pages.get(), marked(env), "round {round} step {step}");
            // Each page is marked exactly while locked areas map it, and
            // counts them (Linux's mlock_count), init's included.
            let mut locked_maps: alloc::collections::BTreeMap<u64, u64> = alloc::collections::BTreeMap::new();
            for mm in spaces.iter().chain(core::iter::once(&init)) {
                for v in mm.vmas.iter().filter(|v| v.flags.contains(VmFlags::LOCKED)) {
                    for l in mm.leaves(env, v.start, v.end) {
                        let pfn = Pfn::from_phys(l.phys.as_u64());
                        if pfn != env.zero_page {
                            *locked_maps.entry(pfn.0).or_default() += 1;
                        }
                    }
                }
            }
            for pfn in 0..(64 * MB / P) {
                let Some(p) = env.pa.page(Pfn(pfn)) else { continue };
                let want = locked_maps.get(&pfn).copied().unwrap_or(0);
                assert_eq!(
                    p.has(PageFlags::MLOCKED),
                    want > 0,
                    "round {round} step {step}: pfn {pfn:#x} marked vs {want} locked mappings"
                );
                if want > 0 {
                    assert_eq!(p.mlock_count(), want, "round {round} step {step}: pfn {pfn:#x} mlock_count");
                }
            }
        }
        for mm in spaces {
            mm.destroy(env);
        }
        assert_eq!(env.pa.vmstat.mlocked_pages.get(), marked(env), "round {round}: children gone");
        init.destroy(env);
        assert_eq!((env.pa.vmstat.mlocked_pages.get(), marked(env)), (0, 0), "round {round}: all gone");
    }
}

/// A parent that locked its memory keeps it locked when a forked child
/// unlocks or unmaps the copy-on-write pages they share, and a child that
/// locks and unlocks pages it shares with an unlocked parent leaves them
/// unlocked (Linux's per-page mlock_count).
#[test]
fn shared_pages_stay_locked_while_any_locked_area_maps_them() {
    use crate::phys::page::PageFlags;
    let (env, mut parent, mut cpu) = setup();
    let a = map(&mut parent, env, A, 4, RW, FIXED);
    for i in 0..4 {
        cpu.store(&mut parent, a + i * P, &[1]).unwrap();
    }
    parent.mlock(env, a, 4 * P, 0, &lim()).unwrap();
    let pfn = pfn_at(&parent, env, a);
    let mut child = parent.fork(env, &lim()).unwrap();
    child.munlockall(env).unwrap();
    child.mlock(env, a, 4 * P, 0, &lim()).unwrap();
    child.munlock(env, a, 4 * P).unwrap();
    assert!(page_has(env, pfn, PageFlags::MLOCKED), "the parent still has it locked");
    child.munmap(env, a, 4 * P).unwrap();
    assert!(page_has(env, pfn, PageFlags::MLOCKED));
    assert_eq!(env.pa.vmstat.mlocked_pages.get(), 4);
    parent.munlock(env, a, 4 * P).unwrap();
    assert!(!page_has(env, pfn, PageFlags::MLOCKED));
    assert_eq!(env.pa.vmstat.mlocked_pages.get(), 0);
    // Unlocked parent, child locks then unlocks pages they share (read
    // only, so locking faults nothing in for write and keeps them shared).
    parent.mprotect(env, a, 4 * P, R).unwrap();
    let mut child = parent.fork(env, &lim()).unwrap();
    child.mlock(env, a, P, 0, &lim()).unwrap();
    assert_eq!(pfn_at(&child, env, a), pfn, "still shared");
    assert!(page_has(env, pfn, PageFlags::MLOCKED));
    child.munlock(env, a, P).unwrap();
    assert!(!page_has(env, pfn, PageFlags::MLOCKED));
    assert_eq!(env.pa.vmstat.mlocked_pages.get(), 0);
    // A writable private area: locking breaks copy-on-write first (Linux's
    // populate writes), so the child locks its own copy only.
    parent.mprotect(env, a, 4 * P, RW).unwrap();
    child.mprotect(env, a, 4 * P, RW).unwrap();
    child.mlock(env, a + P, P, 0, &lim()).unwrap();
    let parent_pfn = pfn_at(&parent, env, a + P);
    assert_ne!(pfn_at(&child, env, a + P), parent_pfn);
    assert!(
        page_has(env, pfn_at(&child, env, a + P), PageFlags::MLOCKED) && !page_has(env, parent_pfn, PageFlags::MLOCKED)
    );
    child.destroy(env);
    parent.destroy(env);
}

/// mlock and munlock of a kernel address are ENOMEM and touch no kernel
/// page. (The syscall fuzzer found `mlock(0xffff888000000000, 0)`-like
/// calls marking every page of the kernel half: an empty range at a
/// kernel address was walked to the top of the address space.)
#[test]
fn mlock_of_kernel_addresses_leaves_kernel_pages_alone() {
    use crate::phys::page::PageFlags;
    let (env, mut mm, _) = setup();
    let kva = 0xffff_c900_0000_0000;
    let kpfn = env.pa.alloc_pages(crate::phys::gfp::GFP_KERNEL, 0).unwrap();
    mm.mapper(env)
        .map_range(kva, kpfn.phys(), P, F::PRESENT | F::WRITABLE, crate::vm::page_table::MapSize::Size4K)
        .unwrap();
    for (addr, len) in [(0xffff_8880_0000_0000, 0), (kva, 0), (kva, P), (0xffff_8880_0000_0000, 1 << 30)] {
        assert_eq!(mm.mlock(env, addr, len, 0, &lim()).err().unwrap_or(MmError::NoMemory), MmError::NoMemory);
        assert!(!page_has(env, kpfn, PageFlags::MLOCKED), "mlock({addr:#x}, {len:#x}) marked a kernel page");
        let _ = mm.munlock(env, addr, len);
    }
    mm.mlockall(env, MCL_CURRENT, &lim()).unwrap();
    assert!(!page_has(env, kpfn, PageFlags::MLOCKED), "a kernel page was marked mlocked");
    assert_eq!(env.pa.vmstat.mlocked_pages.get(), 0);
}

#[test]
fn madvise_dontneed_locked_drops_locked_pages_and_their_lock() {
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, A, 4, RW, FIXED);
    mm.mlock(env, a, 4 * P, 0, &lim()).unwrap();
    fill(&mut cpu, &mut mm, a, 4);
    let dropped = pfn_at(&mm, env, a);
    // madvise_dontneed_free_valid_vma: plain DONTNEED refuses VM_LOCKED.
    assert_eq!(mm.madvise(env, a, 2 * P, MADV_DONTNEED, &lim()), Err(MmError::Invalid));
    mm.madvise(env, a, 2 * P, MADV_DONTNEED_LOCKED, &lim()).unwrap();
    check(&mm, env);
    assert_eq!(mm.leaves(env, a, a + 4 * P).len(), 2, "two pages dropped");
    assert_eq!(env.pa.vmstat.mlocked_pages.get(), 2, "their lock went with them");
    assert_eq!(env.pa.page(dropped).unwrap().refcount(), 0, "the page was freed");
    assert!(flags_at(&mm, a).contains(VmFlags::LOCKED), "the area stays locked");
    // The next touch reads zeros; a write's new page is locked again.
    assert_eq!(cpu.load_u8(&mut mm, a), Ok(0));
    cpu.store(&mut mm, a, &[7]).unwrap();
    assert_eq!(cpu.load_u8(&mut mm, a + 2 * P), Ok(pat(a + 2 * P)));
    assert!(page_has(env, pfn_at(&mm, env, a), crate::phys::page::PageFlags::MLOCKED));
    mm.munmap(env, a, 4 * P).unwrap();
    assert_eq!(env.pa.vmstat.mlocked_pages.get(), 0);
}

#[test]
fn reaping_a_dying_space_frees_private_memory_and_keeps_shared() {
    let (env, mut mm, mut cpu) = setup();
    let a = map(&mut mm, env, A, 4, RW, FIXED);
    let s = map(&mut mm, env, 0, 2, RW, SHARED);
    fill(&mut cpu, &mut mm, a, 4);
    fill(&mut cpu, &mut mm, s, 2);
    let private = pfn_at(&mm, env, a);
    let shared = pfn_at(&mm, env, s);
    mm.reap_dying(env);
    check(&mm, env);
    assert_eq!(mm.leaves(env, a, a + 4 * P).len(), 0, "private pages gone");
    assert_eq!(env.pa.page(private).unwrap().refcount(), 0, "and freed");
    // Shared memory (shmem behind it) is not the reaper's: still mapped.
    assert_eq!(mm.leaves(env, s, s + 2 * P).len(), 2);
    assert_eq!(pfn_at(&mm, env, s), shared);
    assert_eq!(mm.vmas.len(), 2, "the areas stay until the space goes");
}
