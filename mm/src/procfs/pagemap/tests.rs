//! pagemap, kpagecount and kpageflags entries on a simulated machine.

use abi::mman::*;

use super::*;
use crate::testing::cpu::Cpu;
use crate::vm::address_space::Rlimits;
use crate::vm::clear_refs::ClearRefs;
use crate::vm::file::MemObject;
use crate::vm::mmap::{FileMapping, MmapRequest};

const P: u64 = PAGE_SIZE;
const A: u64 = 0x1000_0000;

fn setup() -> (&'static MmEnv<'static>, AddressSpace, Cpu) {
    let (env, cpu) = crate::testing::uniprocessor(64 << 20);
    let mut mm = AddressSpace::new(env).unwrap();
    mm.layout.mmap_base = AddressSpace::mmap_base_for(8 << 20);
    (env, mm, cpu)
}

fn req(addr: u64, pages: u64, prot: u32, flags: u32) -> MmapRequest {
    MmapRequest { addr, len: pages * P, prot, flags, file: None, offset: 0 }
}

fn entries(mm: &AddressSpace, env: &MmEnv<'_>, a: u64, n: usize, show_pfn: bool) -> Vec<u64> {
    let mut out = alloc::vec![0xdead_u64; n];
    assert_eq!(read(mm, env, a / P, &mut out, show_pfn), n);
    out
}

fn pfn_at(mm: &AddressSpace, env: &MmEnv<'_>, va: u64) -> u64 {
    mm.lookup(env, va).unwrap().0.0
}

#[test]
fn entries_of_holes_zero_page_private_and_shared_pages() {
    //   A: [0 hole][1 read: zero page][2 written][3 untouched]   then a hole, then shared
    let (env, mut mm, mut cpu) = setup();
    let rw = PROT_READ | PROT_WRITE;
    mm.mmap(env, &req(A + P, 3, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), &Rlimits::default()).unwrap();
    let shm =
        mm.mmap(env, &req(A + 5 * P, 1, rw, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED), &Rlimits::default()).unwrap();
    cpu.load_u8(&mut mm, A + P).unwrap();
    cpu.store(&mut mm, A + 2 * P, &[1]).unwrap();
    cpu.store(&mut mm, shm, &[1]).unwrap();
    mm.clear_refs(env, ClearRefs::SoftDirty);
    let e = entries(&mm, env, A, 6, true);
    assert_eq!(e[0], 0, "a hole");
    assert_eq!(e[1], PM_PRESENT | env.zero_page.0, "the zero page: neither exclusive nor file");
    assert_eq!(e[2], PM_PRESENT | PM_MMAP_EXCLUSIVE | pfn_at(&mm, env, A + 2 * P));
    assert_eq!(e[3], 0, "an untouched page of a cleared area");
    assert_eq!(e[4], 0);
    assert_eq!(e[5], PM_PRESENT | PM_FILE | PM_MMAP_EXCLUSIVE | pfn_at(&mm, env, shm), "shared anon counts as file");
    // Without CAP_SYS_ADMIN the frame numbers read as 0, the flags stay.
    let e = entries(&mm, env, A, 6, false);
    assert_eq!(e[2], PM_PRESENT | PM_MMAP_EXCLUSIVE);
    assert_eq!(e[1], PM_PRESENT);
    // A new area: every page soft-dirty, present or not.
    mm.mmap(env, &req(A + 4 * P, 1, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), &Rlimits::default()).unwrap();
    assert_eq!(entries(&mm, env, A + 4 * P, 1, false)[0], PM_SOFT_DIRTY);
}

#[test]
fn fork_takes_the_exclusive_bit_until_cow_and_kpagecount_counts_both_mappings() {
    let (env, mut parent, mut cpu) = setup();
    let a =
        parent.mmap(env, &req(0, 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS), &Rlimits::default()).unwrap();
    cpu.store(&mut parent, a, &[1]).unwrap();
    cpu.store(&mut parent, a + P, &[1]).unwrap();
    let pfn = Pfn(pfn_at(&parent, env, a));
    assert_eq!(kpagecount(env.pa, pfn), 1);
    let mut child = parent.fork(env, &Rlimits::default()).unwrap();
    assert_eq!(kpagecount(env.pa, pfn), 2);
    assert!(entries(&parent, env, a, 2, false).iter().all(|e| e & PM_MMAP_EXCLUSIVE == 0));
    let flags = kpageflags(env.pa, env.zero_page, pfn);
    let want = [kpf::ANON, kpf::MMAP, kpf::UPTODATE, kpf::SWAPBACKED];
    assert!(want.iter().all(|b| flags & (1 << b) != 0), "flags {flags:#x}");
    assert_eq!(flags & (1 << kpf::BUDDY | 1 << kpf::NOPAGE | 1 << kpf::ZERO_PAGE), 0);
    cpu.store(&mut child, a, &[2]).unwrap();
    assert_eq!(kpagecount(env.pa, pfn), 1);
    let e = entries(&parent, env, a, 2, false);
    assert_eq!([e[0] & PM_MMAP_EXCLUSIVE != 0, e[1] & PM_MMAP_EXCLUSIVE != 0], [true, false]);
    child.destroy(env);
    assert_eq!(kpagecount(env.pa, Pfn(pfn_at(&parent, env, a + P))), 1);
}

#[test]
fn file_pages_have_the_file_bit_and_no_anon_flag() {
    let (env, mut mm, mut cpu) = setup();
    let obj = MemObject::file("/bin/x", &[7u8; 5000], 1, env.pa);
    let file = Some(FileMapping { object: obj, readable: true, writable: false });
    let a = mm.mmap(env, &MmapRequest { file, ..req(0, 2, PROT_READ, MAP_PRIVATE) }, &Rlimits::default()).unwrap();
    cpu.load_u8(&mut mm, a).unwrap();
    let e = entries(&mm, env, a, 2, true);
    let pfn = pfn_at(&mm, env, a);
    assert_eq!(e[0] & !PM_SOFT_DIRTY, PM_PRESENT | PM_FILE | PM_MMAP_EXCLUSIVE | pfn);
    let flags = kpageflags(env.pa, env.zero_page, Pfn(pfn));
    assert!(flags & (1 << kpf::MMAP) != 0 && flags & (1 << kpf::ANON) == 0, "flags {flags:#x}");
}

#[test]
fn reads_end_at_task_size_and_frames_without_page_are_nopage() {
    let (env, mm, _cpu) = setup();
    let last = TASK_SIZE / P - 1;
    let mut out = [1u64; 4];
    assert_eq!(read(&mm, env, last, &mut out, true), 1);
    assert_eq!(out[0], 0);
    assert_eq!(read(&mm, env, last + 1, &mut out, true), 0);
    assert_eq!(read(&mm, env, u64::MAX / 8, &mut out, true), 0);
    assert_eq!(kpageflags(env.pa, env.zero_page, env.zero_page), 1 << kpf::ZERO_PAGE | 1 << kpf::UPTODATE);
    assert_eq!(kpageflags(env.pa, env.zero_page, Pfn(u64::MAX >> 12)), 1 << kpf::NOPAGE);
    assert_eq!(kpagecount(env.pa, Pfn(u64::MAX >> 12)), 0);
    // Some frame of the machine is free: the head of a buddy block.
    let free = (0..nr_pfns(env.pa)).any(|p| kpageflags(env.pa, env.zero_page, Pfn(p)) & (1 << kpf::BUDDY) != 0);
    assert!(free);
}
