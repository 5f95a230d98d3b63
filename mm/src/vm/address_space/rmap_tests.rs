//! Host tests of the reverse map (vm/rmap.rs): several processes map one
//! object, and truncate, hole punching and MADV_REMOVE through any of them
//! reach all of them, as Linux's unmap_mapping_range does.
//!
//! Each process is an [`Owned`] address space, held the way the kernel's
//! `UserMm` holds one (an `Arc` with the space behind a lock), so that the
//! object's reverse map can reach it.

use alloc::sync::{Arc, Weak};

use abi::mman::*;

use super::tests::{lim, req};
use super::*;
use crate::swap::entry::SwapEntry;
use crate::sync::IrqLock;
use crate::testing::cpu::Cpu;
use crate::vm::fault::FaultError;
use crate::vm::file::{MemObject, PageQuota};
use crate::vm::mmap::{FileMapping, MmapRequest};
use crate::vm::rmap::{MapCounts, MapperSpace};
use crate::vm::rmap_walk::{PageTarget, Referenced};

const P: u64 = PAGE_SIZE;
const RW: u32 = PROT_READ | PROT_WRITE;
const R: u32 = PROT_READ;

std::thread_local! {
    /// This test's machine (each test runs on a thread of its own; the
    /// environment is not `Sync`, as the kernel's is a global).
    pub(super) static ENV: core::cell::Cell<Option<&'static MmEnv<'static>>> = const { core::cell::Cell::new(None) };
}

/// A process's memory as the kernel holds it.
pub(super) struct Owned {
    pub(super) space: IrqLock<AddressSpace>,
}

impl MapperSpace for Owned {
    fn unmap_object_range(&self, obj: &MemObject, first: u64, last: u64, even_cows: bool) {
        let env = ENV.get().expect("setup() names the machine");
        self.space.lock().unmap_object_range(env, obj, first, last, even_cows);
    }

    fn count_mappings(&self, obj: &MemObject) -> MapCounts {
        self.space.lock().count_object_mappings(obj)
    }

    fn page_referenced(&self, t: &PageTarget) -> Option<Referenced> {
        let env = ENV.get().expect("setup() names the machine");
        Some(self.space.try_lock()?.page_referenced(env, t))
    }

    fn try_unmap_page(&self, t: &PageTarget, swap: Option<SwapEntry>) -> Option<u32> {
        let env = ENV.get().expect("setup() names the machine");
        Some(self.space.try_lock()?.try_unmap_page(env, t, swap))
    }

    fn try_with_space(&self, f: &mut dyn FnMut(&AddressSpace, &MmEnv<'_>)) -> bool {
        let env = ENV.get().expect("setup() names the machine");
        let Some(s) = self.space.try_lock() else { return false };
        f(&s, env);
        true
    }
}

pub(super) fn own(mut space: AddressSpace) -> Arc<Owned> {
    let o = Arc::new_cyclic(|me: &Weak<Owned>| {
        let w: Weak<dyn MapperSpace> = me.clone();
        space.set_rmap_owner(w);
        Owned { space: IrqLock::new(space) }
    });
    o.space.lock().rmap_enter_all();
    o
}

fn process(env: &'static MmEnv<'static>) -> Arc<Owned> {
    let mut mm = AddressSpace::new(env).unwrap();
    mm.layout.mmap_base = AddressSpace::mmap_base_for(8 << 20);
    own(mm)
}

fn fork(env: &'static MmEnv<'static>, parent: &Owned) -> Arc<Owned> {
    let child = parent.space.lock().fork(env, &lim()).unwrap();
    own(child)
}

/// A tmpfs file of `pages` pages, each filled with its number plus one.
fn tmpfs_file(env: &MmEnv<'_>, pages: u64) -> Arc<MemObject> {
    let f = MemObject::tmpfs("/tmp/f", 7, env.pa, env.swap, Arc::new(PageQuota::new(1 << 20)));
    for i in 0..pages {
        f.write_at(i * P, &[i as u8 + 1; P as usize]).unwrap();
    }
    f
}

fn map_obj(p: &Owned, obj: &Arc<MemObject>, pages: u64, prot: u32, flags: u32) -> u64 {
    let file = Some(FileMapping { object: obj.clone(), readable: true, writable: true });
    let env = ENV.get().unwrap();
    let mut s = p.space.lock();
    let a = s.mmap(env, &MmapRequest { file, ..req(0, pages, prot, flags) }, &lim()).unwrap();
    s.check_invariants(env);
    a
}

fn load(cpu: &mut Cpu, p: &Owned, va: u64) -> Result<u8, FaultError> {
    cpu.load_u8(&mut p.space.lock(), va)
}

fn store(cpu: &mut Cpu, p: &Owned, va: u64, b: u8) -> Result<(), FaultError> {
    cpu.store(&mut p.space.lock(), va, &[b])
}

fn setup() -> (&'static MmEnv<'static>, Cpu) {
    let (env, cpu) = super::tests::machine(64);
    ENV.set(Some(env));
    (env, cpu)
}

const BUS: Result<u8, FaultError> = Err(FaultError::Bus);

#[test]
fn truncate_takes_pages_past_the_end_from_every_mapper_and_later_access_is_sigbus() {
    let (env, mut cpu) = setup();
    let f = tmpfs_file(env, 4);
    let (a, b) = (process(env), process(env));
    let (x, y) = (map_obj(&a, &f, 4, RW, MAP_SHARED), map_obj(&b, &f, 4, RW, MAP_SHARED));
    for i in 0..4 {
        assert_eq!((load(&mut cpu, &a, x + i * P), load(&mut cpu, &b, y + i * P)), (Ok(i as u8 + 1), Ok(i as u8 + 1)));
    }
    let shmem = env.pa.vmstat.shmem_pages.get();
    f.set_size(P + 10).unwrap();
    assert_eq!(env.pa.vmstat.shmem_pages.get(), shmem - 2, "the two pages past the end are freed, mapped or not");
    for (p, base) in [(&a, x), (&b, y)] {
        assert!(p.space.lock().lookup(env, base + 2 * P).is_none(), "no mapper keeps a page past the end");
        assert_eq!(load(&mut cpu, p, base + 2 * P), BUS, "past the end is SIGBUS");
        assert_eq!(load(&mut cpu, p, base + 3 * P), BUS);
        assert_eq!(load(&mut cpu, p, base + P + 9), Ok(2), "the last page stays, up to the end");
        assert_eq!(load(&mut cpu, p, base + P + 10), Ok(0), "and reads zeros past it");
    }
    // Growing again: the pages come back as zeros, shared by both.
    f.set_size(4 * P).unwrap();
    store(&mut cpu, &a, x + 3 * P, 9).unwrap();
    assert_eq!(load(&mut cpu, &b, y + 3 * P), Ok(9));
    assert_eq!(load(&mut cpu, &b, y + 2 * P), Ok(0));
}

#[test]
fn truncate_also_takes_private_copies_past_the_end() {
    // truncate_pagecache: unmap_mapping_range(.., even_cows = 1).
    let (env, mut cpu) = setup();
    let f = tmpfs_file(env, 2);
    let a = process(env);
    let x = map_obj(&a, &f, 2, RW, MAP_PRIVATE);
    store(&mut cpu, &a, x + P, 0x55).unwrap();
    f.set_size(P).unwrap();
    assert_eq!(load(&mut cpu, &a, x + P), BUS, "the private copy past the end went too");
    assert_eq!(load(&mut cpu, &a, x), Ok(1));
}

#[test]
fn punch_hole_reaches_every_mapper_but_keeps_private_copies() {
    // shmem_fallocate(PUNCH_HOLE): unmap_mapping_range(.., even_cows = 0).
    let (env, mut cpu) = setup();
    let f = tmpfs_file(env, 3);
    let (a, b) = (process(env), process(env));
    let x = map_obj(&a, &f, 3, RW, MAP_SHARED);
    let y = map_obj(&b, &f, 3, RW, MAP_PRIVATE);
    store(&mut cpu, &b, y, 0x77).unwrap(); // b's own copy of page 0
    assert_eq!(load(&mut cpu, &b, y + P), Ok(2), "b maps the file's page 1 itself");
    let shmem = env.pa.vmstat.shmem_pages.get();
    f.punch_hole(0, 2 * P).unwrap();
    assert_eq!(env.pa.vmstat.shmem_pages.get(), shmem - 2, "both pages are freed although mapped");
    assert_eq!(load(&mut cpu, &a, x), Ok(0), "a shared mapper reads the hole");
    assert_eq!(load(&mut cpu, &a, x + P), Ok(0));
    assert_eq!(load(&mut cpu, &b, y), Ok(0x77), "a private copy is the process's own");
    assert_eq!(load(&mut cpu, &b, y + P), Ok(0), "a private mapper of the file's page reads the hole");
    assert_eq!((load(&mut cpu, &a, x + 2 * P), load(&mut cpu, &b, y + 2 * P)), (Ok(3), Ok(3)), "outside the hole");
    store(&mut cpu, &a, x + P, 4).unwrap();
    let mut buf = [0u8; 1];
    f.read_at(P, &mut buf).unwrap();
    assert_eq!(buf[0], 4, "the next store lands in a fresh page that read(2) sees");
}

#[test]
fn madv_remove_through_a_parent_zeroes_the_page_in_its_fork_child() {
    let (env, mut cpu) = setup();
    let parent = process(env);
    let s = parent.space.lock().mmap(env, &req(0, 1, RW, MAP_SHARED | MAP_ANONYMOUS), &lim()).unwrap();
    store(&mut cpu, &parent, s, 1).unwrap();
    let child = fork(env, &parent);
    assert_eq!(load(&mut cpu, &child, s), Ok(1));
    let shmem = env.pa.vmstat.shmem_pages.get();
    let deferred = {
        let mut sp = parent.space.lock();
        sp.madvise(env, s, P, MADV_REMOVE, &lim()).unwrap();
        sp.take_deferred()
    };
    deferred.run();
    assert_eq!(env.pa.vmstat.shmem_pages.get(), shmem - 1, "the page left both processes and was freed");
    assert!(child.space.lock().lookup(env, s).is_none());
    assert_eq!(load(&mut cpu, &child, s), Ok(0), "the child sees the hole");
    store(&mut cpu, &child, s, 3).unwrap();
    assert_eq!(load(&mut cpu, &parent, s), Ok(3), "and they share the new page");
}

#[test]
fn mapping_counts_follow_mmap_fork_and_munmap() {
    let (env, _) = setup();
    let f = tmpfs_file(env, 2);
    let a = process(env);
    assert_eq!(f.mapping_counts(), MapCounts::default());
    let x = map_obj(&a, &f, 2, RW, MAP_SHARED);
    map_obj(&a, &f, 1, R, MAP_PRIVATE);
    assert_eq!(f.mapping_counts(), MapCounts { vmas: 2, writable_shared: 1 });
    // mprotect splits the shared area: Linux counts each VMA.
    a.space.lock().mprotect(env, x, P, R).unwrap();
    assert_eq!(
        f.mapping_counts(),
        MapCounts { vmas: 3, writable_shared: 2 },
        "a read-only shared area may write again"
    );
    let child = fork(env, &a);
    assert_eq!(f.mapping_counts(), MapCounts { vmas: 6, writable_shared: 4 });
    child.space.lock().munmap(env, x, 2 * P).unwrap();
    assert_eq!(f.mapping_counts(), MapCounts { vmas: 4, writable_shared: 2 });
    drop(child);
    assert_eq!(f.mapping_counts(), MapCounts { vmas: 3, writable_shared: 2 }, "a dead process maps nothing");
    a.space.lock().munmap(env, x, 2 * P).unwrap();
    assert_eq!(f.mapping_counts(), MapCounts { vmas: 1, writable_shared: 0 });
}

#[test]
fn the_reverse_map_holds_each_space_once_and_forgets_dead_ones() {
    let (env, _) = setup();
    let f = tmpfs_file(env, 1);
    let a = process(env);
    map_obj(&a, &f, 1, R, MAP_SHARED);
    map_obj(&a, &f, 1, R, MAP_SHARED);
    assert_eq!(f.rmap.len(), 1, "one entry per address space");
    let b = process(env);
    map_obj(&b, &f, 1, R, MAP_SHARED);
    assert_eq!(f.rmap.len(), 2);
    drop(a);
    let c = process(env);
    map_obj(&c, &f, 1, R, MAP_SHARED);
    assert_eq!(f.rmap.len(), 2, "the dead space was pruned when c joined");
    drop(c);
    // Teardown leaves every object the space entered, even one it has
    // unmapped since, and the emptied list holds no memory.
    let g = tmpfs_file(env, 1);
    map_obj(&b, &g, 1, R, MAP_SHARED);
    let of_f: Vec<u64> = b
        .space
        .lock()
        .vmas
        .iter()
        .filter(|v| v.backing.object().is_some_and(|o| Arc::ptr_eq(o, &f)))
        .map(|v| v.start)
        .collect();
    for a in of_f {
        b.space.lock().munmap(env, a, P).unwrap();
    }
    assert_eq!(b.space.lock().count_object_mappings(&f).vmas, 0, "b no longer maps f");
    let space = Arc::into_inner(b).expect("the last reference").space.into_inner();
    assert_eq!((f.rmap.len(), g.rmap.len()), (2, 1), "b and the dead c are still listed");
    space.destroy(env);
    assert_eq!((f.rmap.len(), g.rmap.len()), (0, 0), "destroy left both objects");
}

fn try_map(p: &Owned, obj: &Arc<MemObject>, pages: u64, prot: u32, flags: u32) -> Result<u64, MmError> {
    let file = Some(FileMapping { object: obj.clone(), readable: true, writable: true });
    let env = ENV.get().unwrap();
    p.space.lock().mmap(env, &MmapRequest { file, ..req(0, pages, prot, flags) }, &lim())
}

#[test]
fn write_seals_refuse_shared_writable_mappings_and_keep_read_only_ones_read_only() {
    use abi::fcntl::{F_SEAL_FUTURE_WRITE, F_SEAL_SEAL, F_SEAL_WRITE};
    let (env, mut cpu) = setup();
    let a = process(env);
    for seal in [F_SEAL_WRITE, F_SEAL_FUTURE_WRITE] {
        let f = tmpfs_file(env, 2);
        assert_eq!(f.seals(), F_SEAL_SEAL, "a tmpfs file starts sealed against sealing");
        f.remove_seals(F_SEAL_SEAL);
        // FUTURE_WRITE leaves a mapping made before it writable.
        let before = map_obj(&a, &f, 2, RW, MAP_SHARED);
        f.add_seals(seal);
        assert!(f.write_sealed());
        assert_eq!(try_map(&a, &f, 2, RW, MAP_SHARED), Err(MmError::Perm));
        assert_eq!(try_map(&a, &f, 2, RW, MAP_SHARED_VALIDATE), Err(MmError::Perm));
        let ro = try_map(&a, &f, 2, R, MAP_SHARED).unwrap();
        assert_eq!(load(&mut cpu, &a, ro), Ok(1));
        assert_eq!(a.space.lock().mprotect(env, ro, 2 * P, RW), Err(MmError::Access), "VM_MAYWRITE is gone");
        assert!(matches!(store(&mut cpu, &a, ro, 9), Err(FaultError::Segv(_))));
        // A private mapping copies on write: the seal does not concern it.
        let private = try_map(&a, &f, 2, RW, MAP_PRIVATE).unwrap();
        store(&mut cpu, &a, private, 7).unwrap();
        assert_eq!(load(&mut cpu, &a, ro), Ok(1));
        // The mapping made before the seal still writes to the object.
        store(&mut cpu, &a, before, 5).unwrap();
        assert_eq!(load(&mut cpu, &a, ro), Ok(5));
        assert_eq!(f.mapping_counts(), MapCounts { vmas: 3, writable_shared: 1 });
        let mut s = a.space.lock();
        for addr in [before, ro, private] {
            s.munmap(env, addr, 2 * P).unwrap();
        }
    }
}
