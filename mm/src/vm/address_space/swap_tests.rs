//! Host tests of swapping anonymous memory out and back (vm/vmscan.rs,
//! vm/rmap_walk.rs, vm/swap_in.rs, swap/space.rs): the LRU scan ages and
//! unmaps pages through the reverse map, the write frees them, faults
//! read them back with their data, fork shares slots, and unmapping or
//! exiting gives every slot and page back.
//!
//! The swap device is a map of slot -> page contents in host memory; the
//! kernel's part (dropping the lock to read, reclaim loops) is played by
//! [`access`], which retries a CPU access after reading what it needs.

use std::collections::HashMap;
use std::sync::Mutex;

use abi::mman::*;

use super::rmap_tests::{ENV, Owned, own};
use super::tests::{lim, machine, req};
use super::*;
use crate::addr::PhysAddr;
use crate::swap::map::SwapMap;
use crate::swap::space::SwapIo;
use crate::testing::cpu::Cpu;
use crate::vm::fault::FaultError;
use crate::vm::vmscan::{DEF_PRIORITY, ScanControl, shrink_node};
use alloc::sync::Arc;

const P: u64 = PAGE_SIZE;
const RW: u32 = PROT_READ | PROT_WRITE;
const PRIV: u32 = MAP_PRIVATE | MAP_ANONYMOUS;

/// A swap device in host memory.
pub(super) struct RamSwap {
    pub(super) pa: &'static crate::phys::page_alloc::PageAllocator,
    pub(super) slots: Mutex<HashMap<u32, Vec<u8>>>,
    pub(super) writes: Mutex<u64>,
}

impl SwapIo for RamSwap {
    fn read_page(&self, slot: u32, pfn: Pfn) -> Result<(), ()> {
        let slots = self.slots.lock().unwrap();
        let data = slots.get(&slot).ok_or(())?;
        self.pa.phys().write(PhysAddr::new(pfn.phys()), data).map_err(|_| ())
    }

    fn write_page(&self, slot: u32, pfn: Pfn) -> Result<(), ()> {
        let mut buf = vec![0u8; P as usize];
        self.pa.phys().read(PhysAddr::new(pfn.phys()), &mut buf).map_err(|_| ())?;
        self.slots.lock().unwrap().insert(slot, buf);
        *self.writes.lock().unwrap() += 1;
        Ok(())
    }
}

/// A machine with a swap area of `slots` slots.
pub(super) fn setup(slots: u64) -> (&'static MmEnv<'static>, Cpu, Arc<RamSwap>) {
    let (env, cpu) = machine(64);
    let io = Arc::new(RamSwap { pa: env.pa, slots: Mutex::new(HashMap::new()), writes: Mutex::new(0) });
    env.swap.add_area(SwapMap::new(slots, &[]), -2, io.clone()).expect("an area");
    ENV.set(Some(env));
    (env, cpu, io)
}

/// A process, held as the kernel holds one (so that the reverse map
/// reaches it).
pub(super) fn process(env: &'static MmEnv<'static>) -> Arc<Owned> {
    let mut mm = AddressSpace::new(env).unwrap();
    mm.layout.mmap_base = AddressSpace::mmap_base_for(8 << 20);
    own(mm)
}

fn fork(env: &'static MmEnv<'static>, parent: &Owned) -> Arc<Owned> {
    own(parent.space.lock().fork(env, &lim()).unwrap())
}

/// Tear a process down (its last reference; the kernel's UserMm drop).
pub(super) fn exit(env: &MmEnv<'_>, p: Arc<Owned>) {
    let o = Arc::into_inner(p).expect("the only reference");
    o.space.into_inner().destroy(env);
}

/// Do `f` (a CPU access), reading swapped pages in as the kernel does.
pub(super) fn access<R>(
    env: &MmEnv<'_>,
    mm: &mut AddressSpace,
    cpu: &mut Cpu,
    mut f: impl FnMut(&mut Cpu, &mut AddressSpace) -> Result<R, FaultError>,
) -> R {
    for _ in 0..100 {
        match f(cpu, mm) {
            Ok(r) => return r,
            Err(FaultError::SwapIn(e)) => {
                // The reference is taken with the "lock" held (here: before
                // anything else can change the page tables).
                env.swap.dup(e).unwrap();
                env.swap.swap_in(env.pa, e).expect("read back");
            }
            Err(e) => panic!("access failed: {e:?}"),
        }
    }
    panic!("no progress");
}

pub(super) fn stamp(env: &MmEnv<'_>, mm: &mut AddressSpace, cpu: &mut Cpu, va: u64, pages: u64, tag: u8) {
    for i in 0..pages {
        let b = [tag, i as u8, tag ^ i as u8];
        access(env, mm, cpu, |c, m| c.store(m, va + i * P, &b));
    }
}

pub(super) fn check(env: &MmEnv<'_>, mm: &mut AddressSpace, cpu: &mut Cpu, va: u64, pages: u64, tag: u8) {
    for i in 0..pages {
        let mut b = [0u8; 3];
        access(env, mm, cpu, |c, m| c.load(m, va + i * P, &mut b));
        assert_eq!(b, [tag, i as u8, tag ^ i as u8], "page {i}");
    }
}

/// One pass of reclaim over the node's lists at every priority, anon and
/// file weighed equally (swappiness 100). Returns pages freed.
fn scan_once(env: &MmEnv<'_>) -> u64 {
    let mut sc = ScanControl::new(u64::MAX, 100, true);
    for prio in (0..=DEF_PRIORITY).rev() {
        sc.priority = prio;
        shrink_node(env, 0, &mut sc);
    }
    sc.nr_reclaimed
}

/// One look at up to 32 pages of the inactive anonymous list. Returns
/// pages freed.
fn look_once(env: &MmEnv<'_>) -> u64 {
    let mut sc = ScanControl::new(u64::MAX, 100, true);
    crate::vm::vmscan::shrink_inactive_list(env, 0, LruList::InactiveAnon, 32, &mut sc);
    sc.nr_reclaimed
}

/// Reclaim until three passes in a row free nothing (a page needs two
/// looks: the first finds the accessed bit its fault set). Returns pages
/// freed.
pub(super) fn reclaim(env: &MmEnv<'_>) -> u64 {
    let (mut freed, mut quiet) = (0, 0);
    while quiet < 3 {
        let f = scan_once(env);
        freed += f;
        quiet = if f == 0 { quiet + 1 } else { 0 };
    }
    freed
}

pub(super) fn slots_in_use(env: &MmEnv<'_>) -> u64 {
    env.swap.usage(0).unwrap().1
}

pub(super) fn lru_len(env: &MmEnv<'_>, l: crate::phys::lru::LruList) -> u64 {
    env.pa.nodes[0].lru.len(l)
}

use crate::phys::lru::LruList;

#[test]
fn pages_go_out_and_come_back_with_their_data() {
    let (env, mut cpu, io) = setup(256);
    let p = process(env);
    let base = env.pa.drained_free_pages();
    let va = p.space.lock().mmap(env, &req(0, 64, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut p.space.lock(), &mut cpu, va, 64, 7);
    assert_eq!(lru_len(env, LruList::InactiveAnon), 64, "new pages start inactive");
    assert_eq!(reclaim(env), 64, "every page went out and was freed");
    assert_eq!(lru_len(env, LruList::InactiveAnon), 0);
    assert_eq!(*io.writes.lock().unwrap(), 64);
    let mut mm = p.space.lock();
    assert_eq!(mm.counters().swap_ents, 64, "VmSwap");
    assert_eq!(mm.counters().rss_anon, 0);
    assert_eq!(slots_in_use(env), 64);
    assert_eq!(env.pa.vmstat.swap_cached.get(), 0);
    check(env, &mut mm, &mut cpu, va, 64, 7);
    assert_eq!(mm.counters().swap_ents, 0);
    assert_eq!(slots_in_use(env), 0, "the last entry of each slot took the page out of the cache");
    assert_eq!(env.pa.vmstat.swap_cached.get(), 0);
    assert_eq!(lru_len(env, LruList::InactiveAnon), 64, "read back onto the list");
    // Read back alone, the pages are writable again without a copy.
    let cows = env.pa.vmstat.cow_faults.get();
    stamp(env, &mut mm, &mut cpu, va, 64, 9);
    assert_eq!(env.pa.vmstat.cow_faults.get(), cows);
    mm.munmap(env, va, 64 * P).unwrap();
    drop(mm);
    assert_eq!(lru_len(env, LruList::InactiveAnon), 0, "freed pages leave the list");
    assert_eq!(env.pa.drained_free_pages(), base);
    exit(env, p);
}

#[test]
fn a_referenced_page_gets_a_second_look_and_a_reused_one_is_activated() {
    let (env, mut cpu, _io) = setup(256);
    let p = process(env);
    let va = p.space.lock().mmap(env, &req(0, 8, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut p.space.lock(), &mut cpu, va, 8, 1);
    let pass = look_once;
    // The faults set the accessed bits: the first look only notes them.
    assert_eq!(pass(env), 0);
    assert_eq!(lru_len(env, LruList::InactiveAnon), 8);
    // Page 0 is used again before the next look: twice seen, it goes active.
    // (A CPU that still caches the translation would not set the accessed
    // bit again, as on x86: the task runs anew here.)
    cpu.switch_to(&p.space.lock());
    let mut b = [0u8; 1];
    access(env, &mut p.space.lock(), &mut cpu, |c, m| c.load(m, va, &mut b));
    let act = env.pa.vmstat.pgactivate.get();
    assert_eq!(pass(env), 7, "not used since: out");
    assert_eq!(env.pa.vmstat.pgactivate.get(), act + 1);
    assert_eq!(lru_len(env, LruList::ActiveAnon), 1);
    // Aging the active list brings it back to the inactive one.
    let deact = env.pa.vmstat.pgdeactivate.get();
    crate::vm::vmscan::shrink_active_list(env, 0, LruList::ActiveAnon, 32);
    assert_eq!(env.pa.vmstat.pgdeactivate.get(), deact + 1);
    assert_eq!((lru_len(env, LruList::ActiveAnon), lru_len(env, LruList::InactiveAnon)), (0, 1));
    assert_eq!(pass(env), 1);
    check(env, &mut p.space.lock(), &mut cpu, va, 8, 1);
    exit(env, p);
    assert_eq!(slots_in_use(env), 0);
}

#[test]
fn munmap_and_exit_give_slots_and_pages_back() {
    let (env, mut cpu, _io) = setup(256);
    let base = env.pa.drained_free_pages();
    let p = process(env);
    let va = p.space.lock().mmap(env, &req(0, 32, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut p.space.lock(), &mut cpu, va, 32, 3);
    reclaim(env);
    assert_eq!(slots_in_use(env), 32);
    p.space.lock().munmap(env, va, 16 * P).unwrap();
    assert_eq!(slots_in_use(env), 16);
    assert_eq!(p.space.lock().counters().swap_ents, 16);
    exit(env, p);
    assert_eq!(slots_in_use(env), 0);
    assert_eq!(env.pa.drained_free_pages(), base);
}

#[test]
fn fork_shares_slots_and_writes_stay_private() {
    let (env, mut cpu, io) = setup(256);
    let base = env.pa.drained_free_pages();
    let parent = process(env);
    let va = parent.space.lock().mmap(env, &req(0, 16, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut parent.space.lock(), &mut cpu, va, 16, 5);
    reclaim(env);
    let child = fork(env, &parent);
    assert_eq!(child.space.lock().counters().swap_ents, 16);
    let e = parent.space.lock().swap_entry(env, va).unwrap();
    assert_eq!(env.swap.count(e), 2, "both entries count");
    // The child reads the parent's data, then writes its own copy.
    cpu.switch_to(&child.space.lock());
    check(env, &mut child.space.lock(), &mut cpu, va, 16, 5);
    stamp(env, &mut child.space.lock(), &mut cpu, va, 16, 6);
    check(env, &mut child.space.lock(), &mut cpu, va, 16, 6);
    cpu.switch_to(&parent.space.lock());
    check(env, &mut parent.space.lock(), &mut cpu, va, 16, 5);
    exit(env, child);
    exit(env, parent);
    assert_eq!(slots_in_use(env), 0);
    assert_eq!(env.pa.vmstat.swap_cached.get(), 0);
    assert_eq!(env.pa.drained_free_pages(), base);
    assert_eq!(*io.writes.lock().unwrap(), 16);
}

#[test]
fn a_page_shared_after_fork_is_taken_from_both_through_the_reverse_map() {
    let (env, mut cpu, io) = setup(256);
    let base = env.pa.drained_free_pages();
    let parent = process(env);
    let va = parent.space.lock().mmap(env, &req(0, 4, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut parent.space.lock(), &mut cpu, va, 4, 8);
    let child = fork(env, &parent);
    assert_eq!(reclaim(env), 4, "one scan of each page unmaps it from both");
    assert_eq!(*io.writes.lock().unwrap(), 4, "and writes it once");
    assert_eq!(slots_in_use(env), 4);
    assert_eq!(env.pa.vmstat.swap_cached.get(), 0);
    for s in [&parent, &child] {
        assert_eq!(s.space.lock().counters().swap_ents, 4);
        assert_eq!(s.space.lock().counters().rss_anon, 0);
    }
    let e = parent.space.lock().swap_entry(env, va).unwrap();
    assert_eq!(env.swap.count(e), 2);
    cpu.switch_to(&child.space.lock());
    check(env, &mut child.space.lock(), &mut cpu, va, 4, 8);
    cpu.switch_to(&parent.space.lock());
    check(env, &mut parent.space.lock(), &mut cpu, va, 4, 8);
    exit(env, child);
    exit(env, parent);
    assert_eq!(slots_in_use(env), 0);
    assert_eq!(env.pa.drained_free_pages(), base);
}

#[test]
fn pages_moved_by_mremap_are_still_found() {
    let (env, mut cpu, _io) = setup(256);
    let p = process(env);
    let va = p.space.lock().mmap(env, &req(0, 8, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut p.space.lock(), &mut cpu, va, 8, 0x5a);
    // Grow it where it cannot grow in place: it moves, pages and all.
    let blocker = p.space.lock().mmap(env, &req(va + 8 * P, 1, RW, PRIV | MAP_FIXED), &lim()).unwrap();
    assert_eq!(blocker, va + 8 * P);
    let to = p.space.lock().mremap(env, va, 8 * P, 16 * P, MREMAP_MAYMOVE, 0, &lim()).unwrap();
    assert_ne!(to, va);
    assert_eq!(reclaim(env), 8, "found at their new address through the pgoff");
    assert_eq!(p.space.lock().counters().swap_ents, 8);
    check(env, &mut p.space.lock(), &mut cpu, to, 8, 0x5a);
    exit(env, p);
    assert_eq!(slots_in_use(env), 0);
}

#[test]
fn a_busy_space_keeps_its_pages_and_nothing_is_left_in_the_cache() {
    let (env, mut cpu, io) = setup(256);
    let p = process(env);
    let va = p.space.lock().mmap(env, &req(0, 8, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut p.space.lock(), &mut cpu, va, 8, 0x11);
    {
        let _busy = p.space.lock();
        assert_eq!(reclaim(env), 0);
    }
    assert_eq!(*io.writes.lock().unwrap(), 0);
    assert_eq!((slots_in_use(env), env.pa.vmstat.swap_cached.get()), (0, 0), "slots given back");
    assert_eq!(lru_len(env, LruList::InactiveAnon) + lru_len(env, LruList::ActiveAnon), 8);
    assert_eq!(reclaim(env), 8, "free again: out");
    check(env, &mut p.space.lock(), &mut cpu, va, 8, 0x11);
    exit(env, p);
    assert_eq!(slots_in_use(env), 0);
}

#[test]
fn mlocked_pages_are_unevictable_until_unlocked() {
    let (env, mut cpu, _io) = setup(256);
    let p = process(env);
    let va = p.space.lock().mmap(env, &req(0, 8, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut p.space.lock(), &mut cpu, va, 8, 0x21);
    p.space.lock().mlock(env, va, 8 * P, 0, &lim()).unwrap();
    assert_eq!(lru_len(env, LruList::Unevictable), 8);
    assert_eq!(lru_len(env, LruList::InactiveAnon), 0);
    assert_eq!(reclaim(env), 0);
    p.space.lock().munlock(env, va, 8 * P).unwrap();
    assert_eq!(lru_len(env, LruList::Unevictable), 0);
    assert_eq!(lru_len(env, LruList::InactiveAnon), 8);
    assert_eq!(reclaim(env), 8);
    check(env, &mut p.space.lock(), &mut cpu, va, 8, 0x21);
    exit(env, p);
}

#[test]
fn page_cache_pages_are_unmapped_and_dropped_then_read_again() {
    let (env, mut cpu, _io) = setup(256);
    let data: &'static [u8] = Box::leak(vec![0x77u8; 4 * P as usize].into_boxed_slice());
    let obj = crate::vm::file::MemObject::file("/bin/f", data, 9, env.pa);
    let p = process(env);
    let file = Some(crate::vm::mmap::FileMapping { object: obj.clone(), readable: true, writable: false });
    let va = p
        .space
        .lock()
        .mmap(env, &crate::vm::mmap::MmapRequest { file, ..req(0, 4, PROT_READ, MAP_PRIVATE) }, &lim())
        .unwrap();
    let mut b = [0u8; 1];
    for i in 0..4 {
        access(env, &mut p.space.lock(), &mut cpu, |c, m| c.load(m, va + i * P, &mut b));
    }
    assert_eq!(lru_len(env, LruList::InactiveFile), 4);
    assert_eq!(obj.nr_pages(), 4);
    assert_eq!(reclaim(env), 4);
    assert_eq!(obj.nr_pages(), 0, "dropped from the file");
    assert_eq!(p.space.lock().counters().rss_file, 0);
    for i in 0..4 {
        access(env, &mut p.space.lock(), &mut cpu, |c, m| c.load(m, va + i * P, &mut b));
        assert_eq!(b[0], 0x77);
    }
    exit(env, p);
}

#[test]
fn no_slot_left_means_no_swap_out() {
    let (env, mut cpu, _io) = setup(9);
    let p = process(env);
    let va = p.space.lock().mmap(env, &req(0, 16, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut p.space.lock(), &mut cpu, va, 16, 2);
    assert_eq!(reclaim(env), 8, "slot 0 is the header: 8 usable");
    check(env, &mut p.space.lock(), &mut cpu, va, 16, 2);
    exit(env, p);
    assert_eq!(slots_in_use(env), 0);
}

#[test]
fn swapoff_brings_every_page_back() {
    let (env, mut cpu, _io) = setup(256);
    let p = process(env);
    let va = p.space.lock().mmap(env, &req(0, 24, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut p.space.lock(), &mut cpu, va, 24, 4);
    reclaim(env);
    assert_eq!(env.swap.remove_area(0), Err(crate::swap::space::AreaBusy::InUse));
    let mut mm = p.space.lock();
    loop {
        match mm.unuse_swap(env, 0) {
            Ok(()) => break,
            Err(FaultError::SwapIn(e)) => {
                env.swap.dup(e).unwrap();
                env.swap.swap_in(env.pa, e).unwrap();
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(mm.counters().swap_ents, 0);
    assert_eq!(env.swap.remove_area(0), Ok(()));
    check(env, &mut mm, &mut cpu, va, 24, 4);
    drop(mm);
    exit(env, p);
}

#[test]
fn madv_pageout_swaps_the_range_now_and_cold_ages_it() {
    let (env, mut cpu, io) = setup(256);
    let base = env.pa.drained_free_pages();
    let p = process(env);
    let va = p.space.lock().mmap(env, &req(0, 16, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut p.space.lock(), &mut cpu, va, 16, 0x31);
    p.space.lock().madvise(env, va, 8 * P, MADV_PAGEOUT, &lim()).unwrap();
    assert_eq!(*io.writes.lock().unwrap(), 0, "written only once the lock is dropped");
    let d = p.space.lock().take_deferred();
    d.run();
    assert_eq!(*io.writes.lock().unwrap(), 8);
    assert_eq!(p.space.lock().counters().swap_ents, 8, "just the range, used or not");
    // MADV_COLD: the next look takes them at once, without a second chance.
    p.space.lock().madvise(env, va + 8 * P, 8 * P, MADV_COLD, &lim()).unwrap();
    assert_eq!(look_once(env), 8);
    check(env, &mut p.space.lock(), &mut cpu, va, 16, 0x31);
    // A page after fork is shared: PAGEOUT leaves it.
    let child = fork(env, &p);
    p.space.lock().madvise(env, va, 16 * P, MADV_PAGEOUT, &lim()).unwrap();
    let d = p.space.lock().take_deferred();
    d.run();
    assert_eq!(p.space.lock().counters().swap_ents, 0);
    exit(env, child);
    // Pending writes of a space that dies are dropped, not leaked.
    p.space.lock().madvise(env, va, 16 * P, MADV_PAGEOUT, &lim()).unwrap();
    exit(env, p);
    assert_eq!(slots_in_use(env), 0);
    assert_eq!(env.pa.vmstat.swap_cached.get(), 0);
    assert_eq!(env.pa.drained_free_pages(), base);
}

#[test]
fn remote_reads_stop_at_a_swapped_page_until_it_is_read_in() {
    let (env, mut cpu, _io) = setup(256);
    let p = process(env);
    let mut mm = p.space.lock();
    let va = mm.mmap(env, &req(0, 4, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut mm, &mut cpu, va, 4, 0x42);
    mm.madvise(env, va + 2 * P, 2 * P, MADV_PAGEOUT, &lim()).unwrap();
    mm.take_deferred().run();
    let mut buf = vec![0u8; 4 * P as usize];
    let n = mm.read_remote(env, va, &mut buf);
    assert_eq!(n, 2 * P as usize, "up to the first page on swap");
    let e = mm.take_swap_wait().expect("the entry to read");
    assert_eq!(Some(e), mm.swap_entry(env, va + 2 * P));
    env.swap.dup(e).unwrap();
    env.swap.swap_in(env.pa, e).unwrap();
    let mut rest = vec![0u8; 2 * P as usize];
    let m = mm.read_remote(env, va + 2 * P, &mut rest);
    assert!(m >= P as usize, "the page read in, then maybe the next stop");
    assert_eq!(&rest[..3], &[0x42, 2, 0x42 ^ 2]);
    drop(mm);
    exit(env, p);
    assert_eq!(slots_in_use(env), 0);
}

/// Map `obj` (read-only, private) and read each of its `pages` pages.
fn map_and_read(env: &MmEnv<'_>, p: &Owned, cpu: &mut Cpu, obj: &Arc<crate::vm::file::MemObject>, pages: u64) -> u64 {
    let file = Some(crate::vm::mmap::FileMapping { object: obj.clone(), readable: true, writable: false });
    let va = p
        .space
        .lock()
        .mmap(env, &crate::vm::mmap::MmapRequest { file, ..req(0, pages, PROT_READ, MAP_PRIVATE) }, &lim())
        .unwrap();
    read_pages(env, p, cpu, va, pages);
    va
}

fn read_pages(env: &MmEnv<'_>, p: &Owned, cpu: &mut Cpu, va: u64, pages: u64) {
    // A new run: the accessed bits are set again.
    cpu.switch_to(&p.space.lock());
    let mut b = [0u8; 1];
    for i in 0..pages {
        access(env, &mut p.space.lock(), cpu, |c, m| c.load(m, va + i * P, &mut b));
    }
}

fn look_at_files(env: &MmEnv<'_>) -> u64 {
    let mut sc = ScanControl::new(u64::MAX, 100, true);
    crate::vm::vmscan::shrink_inactive_list(env, 0, LruList::InactiveFile, 64, &mut sc);
    sc.nr_reclaimed
}

#[test]
fn a_page_cache_page_read_again_soon_after_eviction_starts_active() {
    let (env, mut cpu, _io) = setup(256);
    let file = |name: &str, pages: u64, byte: u8| {
        let data: &'static [u8] = Box::leak(vec![byte; (pages * P) as usize].into_boxed_slice());
        crate::vm::file::MemObject::file(name, data, 11, env.pa)
    };
    let (a, b, c) = (file("/bin/a", 4, 0xa), file("/bin/b", 8, 0xb), file("/bin/c", 4, 0xc));
    let p = process(env);
    let vs = &env.pa.vmstat;
    // No active file pages: C refaults, but is not activated (anything
    // evicted is further away than an empty active list is long).
    let vc = map_and_read(env, &p, &mut cpu, &c, 4);
    assert_eq!(look_at_files(env), 0, "the first look finds the faults' accessed bits");
    assert_eq!(look_at_files(env), 4);
    assert_eq!(c.nr_pages(), 0);
    read_pages(env, &p, &mut cpu, vc, 4);
    assert_eq!((vs.workingset_refault_file.get(), vs.workingset_activate_file.get()), (4, 0));
    assert_eq!(lru_len(env, LruList::InactiveFile), 4);
    // B used twice between looks: active.
    let vb = map_and_read(env, &p, &mut cpu, &b, 8);
    assert_eq!(look_at_files(env), 0);
    read_pages(env, &p, &mut cpu, vb, 8);
    look_at_files(env);
    assert_eq!(lru_len(env, LruList::ActiveFile), 8);
    // A, evicted, comes back within fewer evictions and activations than
    // the active list is long: straight to the active list.
    let va = map_and_read(env, &p, &mut cpu, &a, 4);
    while a.nr_pages() > 0 {
        look_at_files(env);
    }
    read_pages(env, &p, &mut cpu, va, 4);
    assert_eq!((vs.workingset_refault_file.get(), vs.workingset_activate_file.get()), (8, 4));
    assert_eq!(lru_len(env, LruList::ActiveFile), 12);
    let mut byte = [0u8; 1];
    access(env, &mut p.space.lock(), &mut cpu, |c, m| c.load(m, va + 3 * P, &mut byte));
    assert_eq!(byte[0], 0xa);
    exit(env, p);
}

/// Swap out `pages` pages at `va` now (MADV_PAGEOUT and its deferred write).
fn page_out(env: &MmEnv<'_>, p: &Owned, va: u64, pages: u64) {
    p.space.lock().madvise(env, va, pages * P, MADV_PAGEOUT, &lim()).unwrap();
    let d = p.space.lock().take_deferred();
    d.run();
}

/// Map `pages` new anonymous pages stamped with `tag` and make them active
/// (two looks with a use in between). Returns their address.
fn active_anon(env: &MmEnv<'_>, p: &Owned, cpu: &mut Cpu, pages: u64, tag: u8) -> u64 {
    let va = p.space.lock().mmap(env, &req(0, pages, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut p.space.lock(), cpu, va, pages, tag);
    let before = lru_len(env, LruList::ActiveAnon);
    assert_eq!(look_once(env), 0, "the first look only notes the faults' accessed bits");
    // Run anew (no cached translations), so the uses set the bits again.
    cpu.switch_to(&p.space.lock());
    stamp(env, &mut p.space.lock(), cpu, va, pages, tag);
    look_once(env);
    assert_eq!(lru_len(env, LruList::ActiveAnon), before + pages, "used twice: active");
    va
}

fn anon_workingset(env: &MmEnv<'_>) -> (u64, u64, u64) {
    let vs = &env.pa.vmstat;
    (vs.workingset_refault_anon.get(), vs.workingset_activate_anon.get(), vs.workingset_restore_anon.get())
}

#[test]
fn an_anon_page_swapped_in_within_the_active_list_length_starts_active() {
    let (env, mut cpu, _io) = setup(256);
    let p = process(env);
    // B: 16 active anonymous pages, the working set A competes with.
    active_anon(env, &p, &mut cpu, 16, 0xb);
    let va = p.space.lock().mmap(env, &req(0, 4, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut p.space.lock(), &mut cpu, va, 4, 0xa);
    //   evictions:  A0 A1 A2 A3          clock 0 -> 4
    //   refault of Ai: distance <= 4 <= 16 active anon pages
    page_out(env, &p, va, 4);
    assert_eq!(p.space.lock().counters().swap_ents, 4);
    assert_eq!(anon_workingset(env), (0, 0, 0), "nothing read back yet");
    check(env, &mut p.space.lock(), &mut cpu, va, 4, 0xa);
    assert_eq!(anon_workingset(env), (4, 4, 0), "refaulted and activated, never in the working set before");
    assert_eq!(lru_len(env, LruList::ActiveAnon), 20);
    assert_eq!(lru_len(env, LruList::InactiveAnon), 0);
    exit(env, p);
}

#[test]
fn an_anon_page_swapped_in_after_more_evictions_than_the_working_set_stays_inactive() {
    let (env, mut cpu, _io) = setup(256);
    let p = process(env);
    active_anon(env, &p, &mut cpu, 16, 0xb);
    let va = p.space.lock().mmap(env, &req(0, 4, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut p.space.lock(), &mut cpu, va, 4, 0xa);
    let vc = p.space.lock().mmap(env, &req(0, 32, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut p.space.lock(), &mut cpu, vc, 32, 0xc);
    //   evictions:  A0..A3 C0 .. C31      clock 0 -> 36
    //   refault of Ai: distance >= 33 > 16 active anon pages
    page_out(env, &p, va, 4);
    page_out(env, &p, vc, 32);
    check(env, &mut p.space.lock(), &mut cpu, va, 4, 0xa);
    assert_eq!(anon_workingset(env), (4, 0, 0), "refaulted, too long ago to activate");
    assert_eq!(lru_len(env, LruList::ActiveAnon), 16);
    assert_eq!(lru_len(env, LruList::InactiveAnon), 4);
    // C comes back too: every read of a slot reclaim evicted a page from
    // is a refault.
    check(env, &mut p.space.lock(), &mut cpu, vc, 32, 0xc);
    assert_eq!(anon_workingset(env).0, 36);
    exit(env, p);
}

#[test]
fn a_page_deactivated_then_evicted_and_refaulted_soon_is_restored() {
    let (env, mut cpu, _io) = setup(256);
    let p = process(env);
    // A active first, then B: A is at the active list's tail.
    let va = active_anon(env, &p, &mut cpu, 4, 0xa);
    active_anon(env, &p, &mut cpu, 16, 0xb);
    crate::vm::vmscan::shrink_active_list(env, 0, LruList::ActiveAnon, 4);
    assert_eq!(lru_len(env, LruList::InactiveAnon), 4, "A deactivated, marked WORKINGSET");
    page_out(env, &p, va, 4);
    check(env, &mut p.space.lock(), &mut cpu, va, 4, 0xa);
    assert_eq!(anon_workingset(env), (4, 4, 4), "back within the distance, and it had been active");
    assert_eq!(slots_in_use(env), 0);
    exit(env, p);
}
