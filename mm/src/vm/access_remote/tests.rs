//! /proc/PID/mem's reads and writes of another address space.

use abi::mman::*;

use super::*;
use crate::testing::cpu::Cpu;
use crate::vm::address_space::Rlimits;
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

#[test]
fn reads_and_writes_cross_pages_and_stop_short_at_a_hole() {
    //   A: [0][1] hole [3]
    let (env, mut mm, mut cpu) = setup();
    let rw = PROT_READ | PROT_WRITE;
    mm.mmap(env, &req(A, 2, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), &Rlimits::default()).unwrap();
    cpu.store(&mut mm, A + P - 2, b"ab").unwrap();
    let mut buf = [0u8; 6];
    assert_eq!(mm.read_remote(env, A + P - 2, &mut buf), 6, "an untouched page reads as zeros");
    assert_eq!(&buf, b"ab\0\0\0\0");
    assert_eq!(mm.write_remote(env, A + P - 1, b"XYZ"), 3);
    assert_eq!(cpu.load_u8(&mut mm, A + P - 1), Ok(b'X'));
    assert_eq!(cpu.load_u8(&mut mm, A + P + 1), Ok(b'Z'));
    let mut big = [0u8; 8];
    assert_eq!(mm.read_remote(env, A + 2 * P - 4, &mut big), 4, "short at the hole");
    assert_eq!(mm.read_remote(env, A + 2 * P, &mut big), 0);
    assert_eq!(mm.write_remote(env, A + 2 * P, b"q"), 0);
    assert_eq!(mm.read_remote(env, TASK_SIZE - 1, &mut big), 0);
    assert_eq!(mm.read_remote(env, u64::MAX - 2, &mut big), 0);
    mm.check_invariants(env);
}

#[test]
fn a_forced_write_into_read_only_private_file_memory_breaks_cow() {
    let (env, mut mm, mut cpu) = setup();
    let obj = MemObject::file("/bin/x", &[7u8; 8192], 1, env.pa);
    let file = || Some(FileMapping { object: obj.clone(), readable: true, writable: false });
    let text = mm.mmap(env, &MmapRequest { file: file(), ..req(0, 2, PROT_READ, MAP_PRIVATE) }, &Rlimits::default());
    let text = text.unwrap();
    let other = mm.mmap(env, &MmapRequest { file: file(), ..req(0, 2, PROT_READ, MAP_PRIVATE) }, &Rlimits::default());
    let other = other.unwrap();
    cpu.load_u8(&mut mm, text).unwrap();
    assert_eq!(mm.write_remote(env, text + 10, b"hi"), 2);
    assert_eq!((cpu.load_u8(&mut mm, text + 10), cpu.load_u8(&mut mm, text + 11)), (Ok(b'h'), Ok(b'i')));
    assert_eq!(cpu.load_u8(&mut mm, other + 10), Ok(7), "the file's page is unchanged");
    let (pfn, flags) = mm.lookup(env, text).unwrap();
    assert!(!flags.contains(F::WRITABLE), "the process still may not write it");
    assert!(env.pa.page(pfn).unwrap().has(PageFlags::ANON), "a private copy");
    assert!(cpu.store(&mut mm, text, &[1]).is_err());
    // A second write changes the same copy; a page never touched is copied too.
    assert_eq!(mm.write_remote(env, text + 12, b"!"), 1);
    assert_eq!(mm.lookup(env, text).unwrap().0, pfn);
    assert_eq!(mm.write_remote(env, text + P, b"?"), 1);
    assert_eq!(cpu.load_u8(&mut mm, text + P), Ok(b'?'));
    assert_eq!(cpu.load_u8(&mut mm, other + P), Ok(7));
    mm.check_invariants(env);
}

#[test]
fn shared_read_only_memory_cannot_be_written_but_prot_none_can_be_read() {
    let (env, mut mm, mut cpu) = setup();
    let shm = mm.mmap(env, &req(0, 1, PROT_READ, MAP_SHARED | MAP_ANONYMOUS), &Rlimits::default()).unwrap();
    assert_eq!(mm.write_remote(env, shm, b"x"), 0, "not a COW mapping");
    let none = mm.mmap(env, &req(0, 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS), &Rlimits::default());
    let none = none.unwrap();
    cpu.store(&mut mm, none, &[9]).unwrap();
    mm.mprotect(env, none, P, PROT_NONE).unwrap();
    let mut b = [0u8; 1];
    assert_eq!(mm.read_remote(env, none, &mut b), 1, "VM_MAYREAD: FOLL_FORCE reads it");
    assert_eq!(b[0], 9);
    mm.check_invariants(env);
}

#[test]
fn after_fork_each_side_reads_its_own_copy() {
    let (env, mut parent, mut cpu) = setup();
    let a =
        parent.mmap(env, &req(0, 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS), &Rlimits::default()).unwrap();
    cpu.store(&mut parent, a, b"p").unwrap();
    let mut child = parent.fork(env, &Rlimits::default()).unwrap();
    assert_eq!(child.write_remote(env, a, b"c"), 1);
    let mut b = [0u8; 1];
    parent.read_remote(env, a, &mut b);
    assert_eq!(&b, b"p", "the parent kept its copy");
    child.read_remote(env, a, &mut b);
    assert_eq!(&b, b"c");
    child.destroy(env);
    parent.check_invariants(env);
}

#[test]
fn process_vm_access_needs_the_areas_own_rights_and_breaks_cow_like_a_store() {
    //   A: [0 r--]  [1 rw-]  [2 ---]
    let (env, mut mm, mut cpu) = setup();
    let fixed = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
    mm.mmap(env, &req(A, 1, PROT_READ, fixed), &Rlimits::default()).unwrap();
    mm.mmap(env, &req(A + P, 1, PROT_READ | PROT_WRITE, fixed), &Rlimits::default()).unwrap();
    mm.mmap(env, &req(A + 2 * P, 1, PROT_NONE, fixed), &Rlimits::default()).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(mm.read_vm(env, A, &mut buf), 4, "a readable area reads");
    assert_eq!(mm.write_vm(env, A, b"no"), 0, "no write into a read-only area without FOLL_FORCE");
    assert_eq!(mm.write_remote(env, A, b"ok"), 2, "while /proc/PID/mem may");
    assert_eq!(mm.read_vm(env, A + 2 * P, &mut buf), 0, "PROT_NONE is not readable");
    // A page shared copy-on-write with a fork child: the write copies it.
    cpu.store(&mut mm, A + P, b"p").unwrap();
    let mut child = mm.fork(env, &Rlimits::default()).unwrap();
    assert_eq!(mm.write_vm(env, A + P, b"W"), 1);
    assert_eq!(cpu.load_u8(&mut mm, A + P), Ok(b'W'));
    assert_eq!(cpu.load_u8(&mut child, A + P), Ok(b'p'), "the child keeps its copy");
    // A write that runs into the read-only area stops there.
    assert_eq!(mm.write_vm(env, A + P - 2, b"abcd"), 0, "starts in the read-only page");
    assert_eq!(mm.write_vm(env, A + 2 * P - 2, b"abcd"), 2, "short at PROT_NONE");
}
