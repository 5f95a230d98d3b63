//! Host tests of shared memory on swap (vm/shmem_swap.rs, vm/vmscan.rs):
//! a tmpfs file's pages go to swap whether mapped by several processes or
//! only written with write(2), come back with their data through faults,
//! read(2), write(2) and truncation, stay in memory while SHM_LOCKed, and
//! give every slot and page back when the file goes.

use abi::mman::*;

use super::swap_tests::{access, check, exit, lru_len, process, reclaim, setup, slots_in_use, stamp};
use super::tests::{lim, req};
use super::*;
use crate::phys::lru::LruList;
use crate::vm::file::{MemObject, ObjError, PageQuota};
use crate::vm::mmap::{FileMapping, MmapRequest};
use alloc::sync::Arc;

const P: u64 = PAGE_SIZE;
const RW: u32 = PROT_READ | PROT_WRITE;

/// A tmpfs file of `pages` pages (a hole), on a mount of 1024 pages.
fn tmpfs(env: &'static MmEnv<'static>, pages: u64) -> (Arc<MemObject>, Arc<PageQuota>) {
    let q = Arc::new(PageQuota::new(1024));
    let obj = MemObject::tmpfs("/tmp/s", 21, env.pa, env.swap, q.clone());
    obj.set_size(pages * P).unwrap();
    (obj, q)
}

/// Map `obj` shared and writable in `p`.
fn map_shared(env: &MmEnv<'_>, p: &super::rmap_tests::Owned, obj: &Arc<MemObject>, pages: u64) -> u64 {
    let file = Some(FileMapping { object: obj.clone(), readable: true, writable: true });
    p.space.lock().mmap(env, &MmapRequest { file, ..req(0, pages, RW, MAP_SHARED) }, &lim()).unwrap()
}

/// Run an object call, reading in what it finds on swap as the kernel
/// does (the call took the read's reference).
fn swapping<T>(env: &MmEnv<'_>, mut f: impl FnMut() -> Result<T, ObjError>) -> T {
    for _ in 0..100 {
        match f() {
            Ok(t) => return t,
            Err(ObjError::SwapIn(e)) => env.swap.swap_in(env.pa, e).expect("read back"),
            Err(e) => panic!("object call failed: {e:?}"),
        }
    }
    panic!("no progress");
}

fn read_all(env: &MmEnv<'_>, obj: &MemObject, off: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        let n = swapping(env, || obj.read_at(off + done as u64, &mut buf[done..]));
        assert_ne!(n, 0, "short of the end");
        done += n;
    }
    buf
}

#[test]
fn shared_pages_go_to_swap_and_every_mapper_sees_them_back() {
    let (env, mut cpu, io) = setup(256);
    let base = env.pa.drained_free_pages();
    let (obj, q) = tmpfs(env, 16);
    let (a, b) = (process(env), process(env));
    let (va, vb) = (map_shared(env, &a, &obj, 16), map_shared(env, &b, &obj, 16));
    cpu.switch_to(&a.space.lock());
    stamp(env, &mut a.space.lock(), &mut cpu, va, 16, 4);
    let vs = &env.pa.vmstat;
    assert_eq!(vs.shmem_pages.get(), 16);
    assert_eq!(lru_len(env, LruList::InactiveAnon), 16, "shmem pages are on the anon lists");
    assert_eq!(reclaim(env), 16, "every page went out");
    assert_eq!((obj.nr_pages(), obj.nr_swapped()), (0, 16));
    assert_eq!((slots_in_use(env), *io.writes.lock().unwrap()), (16, 16));
    assert_eq!((vs.shmem_pages.get(), vs.file_pages.get(), vs.swap_cached.get()), (0, 0, 0));
    assert_eq!(q.used(), 16, "pages on swap still count against the mount");
    assert_eq!(a.space.lock().counters().rss_shmem, 0);
    {
        // smaps: the mapping's pages on swap, none of them in SwapPss.
        let mm = a.space.lock();
        let u = crate::procfs::pid::area_usage(&mm, env, mm.vmas.find(va).unwrap());
        assert_eq!((u.swap, u.shmem_swap, u.rss), (16 * P, 16 * P, 0));
    }
    // The other process faults them back: the data a wrote.
    cpu.switch_to(&b.space.lock());
    check(env, &mut b.space.lock(), &mut cpu, vb, 16, 4);
    assert_eq!((obj.nr_pages(), obj.nr_swapped(), slots_in_use(env)), (16, 0, 0));
    assert_eq!((vs.shmem_pages.get(), vs.swap_cached.get()), (16, 0));
    // Still one page per offset: b's writes show in a.
    stamp(env, &mut b.space.lock(), &mut cpu, vb, 16, 5);
    cpu.switch_to(&a.space.lock());
    check(env, &mut a.space.lock(), &mut cpu, va, 16, 5);
    // Out again, then the file goes with its slots.
    assert_eq!(reclaim(env), 16);
    exit(env, a);
    exit(env, b);
    drop(obj);
    assert_eq!((slots_in_use(env), q.used()), (0, 0));
    assert_eq!(env.pa.drained_free_pages(), base);
}

#[test]
fn read_write_and_truncate_bring_pages_back_and_free_slots() {
    let (env, _cpu, _io) = setup(256);
    let base = env.pa.drained_free_pages();
    let (obj, q) = tmpfs(env, 0);
    let data: Vec<u8> = (0..8 * P as usize).map(|i| (i * 7 % 251) as u8).collect();
    assert_eq!(obj.write_at(0, &data), Ok(data.len()));
    assert_eq!(reclaim(env), 8, "pages nobody maps go at the first look");
    assert_eq!(obj.nr_swapped(), 8);
    // read(2) reads them back.
    assert_eq!(read_all(env, &obj, 0, data.len()), data);
    assert_eq!((obj.nr_pages(), obj.nr_swapped(), slots_in_use(env)), (8, 0, 0));
    assert_eq!(reclaim(env), 8);
    // write(2) into a page on swap keeps the rest of it.
    assert_eq!(swapping(env, || obj.write_at(2 * P + 100, b"hello")), 5);
    let mut want = data.clone();
    want[2 * P as usize + 100..2 * P as usize + 105].copy_from_slice(b"hello");
    assert_eq!(slots_in_use(env), 7);
    // Truncating into page 3 (on swap) reads it first; pages 4-7 and their
    // slots go; growing again reads zeros past the cut.
    swapping(env, || obj.set_size(3 * P + 50));
    assert_eq!((obj.size(), obj.nr_pages(), obj.nr_swapped(), slots_in_use(env)), (3 * P + 50, 2, 2, 2));
    assert_eq!(q.used(), 4);
    swapping(env, || obj.set_size(4 * P));
    let back = read_all(env, &obj, 0, 4 * P as usize);
    assert_eq!(&back[..3 * P as usize + 50], &want[..3 * P as usize + 50]);
    assert!(back[3 * P as usize + 50..].iter().all(|&b| b == 0), "zeros past the old cut");
    // A hole punched over swapped pages frees their slots.
    assert_eq!(reclaim(env), 4);
    swapping(env, || obj.punch_hole(0, 2 * P + 10));
    assert_eq!((obj.nr_swapped(), slots_in_use(env)), (1, 1), "page 2 read back to zero its head");
    assert_eq!(read_all(env, &obj, 2 * P, 10), vec![0u8; 10]);
    drop(obj);
    assert_eq!((slots_in_use(env), q.used(), env.pa.vmstat.swap_cached.get()), (0, 0, 0));
    assert_eq!(env.pa.drained_free_pages(), base);
}

#[test]
fn a_locked_segment_is_set_aside_until_unlocked() {
    let (env, mut cpu, _io) = setup(256);
    let (obj, _q) = tmpfs(env, 8);
    let a = process(env);
    let va = map_shared(env, &a, &obj, 8);
    stamp(env, &mut a.space.lock(), &mut cpu, va, 8, 9);
    let vs = &env.pa.vmstat;
    obj.set_unevictable(true);
    assert_eq!(reclaim(env), 0);
    assert_eq!(lru_len(env, LruList::Unevictable), 8, "culled to the unevictable list");
    assert_eq!(lru_len(env, LruList::InactiveAnon) + lru_len(env, LruList::ActiveAnon), 0);
    assert_eq!(vs.unevictable_pgs_culled.get(), 8);
    assert_eq!(obj.nr_swapped(), 0);
    obj.set_unevictable(false);
    assert_eq!(vs.unevictable_pgs_rescued.get(), 8);
    assert_eq!(lru_len(env, LruList::Unevictable), 0);
    assert_eq!(reclaim(env), 8, "evictable again");
    check(env, &mut a.space.lock(), &mut cpu, va, 8, 9);
    exit(env, a);
}

#[test]
fn swapoff_reads_a_files_pages_back_into_it() {
    let (env, mut cpu, _io) = setup(64);
    let (obj, _q) = tmpfs(env, 8);
    let a = process(env);
    let va = map_shared(env, &a, &obj, 8);
    stamp(env, &mut a.space.lock(), &mut cpu, va, 8, 2);
    assert_eq!(reclaim(env), 8);
    env.swap.set_writeok(0, false);
    swapping(env, || obj.unuse_swap(0));
    assert_eq!((obj.nr_pages(), obj.nr_swapped()), (8, 0));
    env.swap.shrink(env.pa, u64::MAX);
    assert_eq!(env.swap.remove_area(0), Ok(()));
    let mut b = [0u8; 3];
    access(env, &mut a.space.lock(), &mut cpu, |c, m| c.load(m, va + 5 * P, &mut b));
    assert_eq!(b, [2, 5, 2 ^ 5]);
    exit(env, a);
}

#[test]
fn madv_pageout_writes_a_shared_mapping_this_process_alone_maps() {
    let (env, mut cpu, io) = setup(256);
    let (obj, _q) = tmpfs(env, 8);
    let (a, b) = (process(env), process(env));
    let va = map_shared(env, &a, &obj, 8);
    stamp(env, &mut a.space.lock(), &mut cpu, va, 8, 6);
    // Page 0 is mapped by b too: it stays.
    let vb = map_shared(env, &b, &obj, 8);
    cpu.switch_to(&b.space.lock());
    let mut x = [0u8; 1];
    access(env, &mut b.space.lock(), &mut cpu, |c, m| c.load(m, vb, &mut x));
    a.space.lock().madvise(env, va, 8 * P, MADV_PAGEOUT, &lim()).unwrap();
    assert_eq!(*io.writes.lock().unwrap(), 0, "written once the lock is dropped");
    let d = a.space.lock().take_deferred();
    d.run();
    assert_eq!(*io.writes.lock().unwrap(), 7);
    assert_eq!((obj.nr_pages(), obj.nr_swapped(), slots_in_use(env)), (1, 7, 7));
    assert_eq!(a.space.lock().counters().rss_shmem, 1);
    assert_eq!(env.pa.vmstat.swap_cached.get(), 0);
    cpu.switch_to(&a.space.lock());
    check(env, &mut a.space.lock(), &mut cpu, va, 8, 6);
    assert_eq!((obj.nr_swapped(), slots_in_use(env)), (0, 0));
    exit(env, a);
    exit(env, b);
}
