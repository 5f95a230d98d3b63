//! Host tests of swapping anonymous memory out and back (vm/swap_out.rs,
//! vm/swap_in.rs, swap/space.rs): the scan ages and unmaps pages, the
//! write frees them, faults read them back with their data, fork shares
//! slots, and unmapping or exiting gives every slot and page back.
//!
//! The swap device is a map of slot -> page contents in host memory; the
//! kernel's part (dropping the lock to read, reclaim loops) is played by
//! [`access`], which retries a CPU access after reading what it needs.

use std::collections::HashMap;
use std::sync::Mutex;

use abi::mman::*;

use super::tests::{lim, machine, req};
use super::*;
use crate::addr::PhysAddr;
use crate::swap::map::SwapMap;
use crate::swap::space::SwapIo;
use crate::testing::cpu::Cpu;
use crate::vm::fault::FaultError;
use crate::vm::swap_out::WriteBatch;
use alloc::sync::Arc;

const P: u64 = PAGE_SIZE;
const RW: u32 = PROT_READ | PROT_WRITE;
const PRIV: u32 = MAP_PRIVATE | MAP_ANONYMOUS;

/// A swap device in host memory.
struct RamSwap {
    pa: &'static crate::phys::page_alloc::PageAllocator,
    slots: Mutex<HashMap<u32, Vec<u8>>>,
    writes: Mutex<u64>,
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
fn setup(slots: u64) -> (&'static MmEnv<'static>, Cpu, Arc<RamSwap>) {
    let (env, cpu) = machine(64);
    let io = Arc::new(RamSwap { pa: env.pa, slots: Mutex::new(HashMap::new()), writes: Mutex::new(0) });
    env.swap.add_area(SwapMap::new(slots, &[]), -2, io.clone()).expect("an area");
    (env, cpu, io)
}

fn process(env: &MmEnv<'_>) -> AddressSpace {
    let mut mm = AddressSpace::new(env).unwrap();
    mm.layout.mmap_base = AddressSpace::mmap_base_for(8 << 20);
    mm
}

/// Do `f` (a CPU access), reading swapped pages in as the kernel does.
fn access<R>(
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

fn stamp(env: &MmEnv<'_>, mm: &mut AddressSpace, cpu: &mut Cpu, va: u64, pages: u64, tag: u8) {
    for i in 0..pages {
        let b = [tag, i as u8, tag ^ i as u8];
        access(env, mm, cpu, |c, m| c.store(m, va + i * P, &b));
    }
}

fn check(env: &MmEnv<'_>, mm: &mut AddressSpace, cpu: &mut Cpu, va: u64, pages: u64, tag: u8) {
    for i in 0..pages {
        let mut b = [0u8; 3];
        access(env, mm, cpu, |c, m| c.load(m, va + i * P, &mut b));
        assert_eq!(b, [tag, i as u8, tag ^ i as u8], "page {i}");
    }
}

/// Scan until the scan has nothing more to unmap; write what it hands
/// back. Returns (unmapped, freed).
fn reclaim(env: &MmEnv<'_>, mm: &mut AddressSpace) -> (u64, u64) {
    let (mut unmapped, mut freed) = (0, 0);
    for _ in 0..4 {
        loop {
            let mut batch = WriteBatch::default();
            let r = mm.swap_out(env, 1 << 20, &mut batch, 0);
            unmapped += r.unmapped;
            freed += r.freed + env.swap.write_out(env.pa, batch.as_slice());
            if !batch.is_full() {
                break;
            }
        }
    }
    (unmapped, freed)
}

fn slots_in_use(env: &MmEnv<'_>) -> u64 {
    env.swap.usage(0).unwrap().1
}

#[test]
fn pages_go_out_and_come_back_with_their_data() {
    let (env, mut cpu, io) = setup(256);
    let mut mm = process(env);
    let base = env.pa.drained_free_pages();
    let va = mm.mmap(env, &req(0, 64, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut mm, &mut cpu, va, 64, 7);
    let (unmapped, freed) = reclaim(env, &mut mm);
    assert_eq!((unmapped, freed), (64, 64), "every page went out and was freed");
    assert_eq!(*io.writes.lock().unwrap(), 64);
    assert_eq!(mm.counters().swap_ents, 64, "VmSwap");
    assert_eq!(mm.counters().rss_anon, 0);
    assert_eq!(slots_in_use(env), 64);
    assert_eq!(env.pa.vmstat.swap_cached.get(), 0);
    check(env, &mut mm, &mut cpu, va, 64, 7);
    assert_eq!(mm.counters().swap_ents, 0);
    assert_eq!(slots_in_use(env), 0, "the last entry of each slot took the page out of the cache");
    assert_eq!(env.pa.vmstat.swap_cached.get(), 0);
    // Read back alone, the pages are writable again without a copy.
    let cows = env.pa.vmstat.cow_faults.get();
    stamp(env, &mut mm, &mut cpu, va, 64, 9);
    assert_eq!(env.pa.vmstat.cow_faults.get(), cows);
    mm.munmap(env, va, 64 * P).unwrap();
    assert_eq!(env.pa.drained_free_pages(), base);
    mm.destroy(env);
}

#[test]
fn accessed_pages_get_a_second_chance() {
    let (env, mut cpu, _io) = setup(256);
    let mut mm = process(env);
    let va = mm.mmap(env, &req(0, 8, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut mm, &mut cpu, va, 8, 1);
    let mut batch = WriteBatch::default();
    let r = mm.swap_out(env, 8, &mut batch, 0);
    assert_eq!((r.scanned, r.referenced, r.unmapped), (8, 8, 0), "first scan only ages");
    let r = mm.swap_out(env, 8, &mut batch, 0);
    assert_eq!(r.unmapped, 8, "not used since: out");
    env.swap.write_out(env.pa, batch.as_slice());
    mm.destroy(env);
    assert_eq!(slots_in_use(env), 0);
}

#[test]
fn munmap_and_exit_give_slots_and_pages_back() {
    let (env, mut cpu, _io) = setup(256);
    let base = env.pa.drained_free_pages();
    let mut mm = process(env);
    let va = mm.mmap(env, &req(0, 32, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut mm, &mut cpu, va, 32, 3);
    reclaim(env, &mut mm);
    assert_eq!(slots_in_use(env), 32);
    mm.munmap(env, va, 16 * P).unwrap();
    assert_eq!(slots_in_use(env), 16);
    assert_eq!(mm.counters().swap_ents, 16);
    mm.destroy(env);
    assert_eq!(slots_in_use(env), 0);
    assert_eq!(env.pa.drained_free_pages(), base);
}

#[test]
fn fork_shares_slots_and_writes_stay_private() {
    let (env, mut cpu, io) = setup(256);
    let base = env.pa.drained_free_pages();
    let mut parent = process(env);
    let va = parent.mmap(env, &req(0, 16, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut parent, &mut cpu, va, 16, 5);
    reclaim(env, &mut parent);
    let mut child = parent.fork(env, &lim()).unwrap();
    assert_eq!(child.counters().swap_ents, 16);
    let e = parent.swap_entry(env, va).unwrap();
    assert_eq!(env.swap.count(e), 2, "both entries count");
    // The child reads the parent's data, then writes its own copy.
    cpu.switch_to(&child);
    check(env, &mut child, &mut cpu, va, 16, 5);
    stamp(env, &mut child, &mut cpu, va, 16, 6);
    check(env, &mut child, &mut cpu, va, 16, 6);
    cpu.switch_to(&parent);
    check(env, &mut parent, &mut cpu, va, 16, 5);
    child.destroy(env);
    parent.destroy(env);
    assert_eq!(slots_in_use(env), 0);
    assert_eq!(env.pa.vmstat.swap_cached.get(), 0);
    assert_eq!(env.pa.drained_free_pages(), base);
    assert_eq!(*io.writes.lock().unwrap(), 16);
}

#[test]
fn a_page_shared_after_fork_leaves_once_both_let_it_go() {
    let (env, mut cpu, io) = setup(256);
    let base = env.pa.drained_free_pages();
    let mut parent = process(env);
    let va = parent.mmap(env, &req(0, 4, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut parent, &mut cpu, va, 4, 8);
    let mut child = parent.fork(env, &lim()).unwrap();
    let (_, freed) = reclaim(env, &mut parent);
    assert_eq!(freed, 0, "the child still maps them");
    assert_eq!(env.pa.vmstat.swap_cached.get(), 4, "written, and cached: the child maps them");
    assert_eq!(slots_in_use(env), 4);
    let free_mid = env.pa.drained_free_pages();
    let (_, freed) = reclaim(env, &mut child);
    assert_eq!(freed, 4, "the child's scan takes the same slots and frees them");
    assert_eq!(slots_in_use(env), 4);
    assert_eq!(env.pa.vmstat.swap_cached.get(), 0);
    assert!(env.pa.drained_free_pages() >= free_mid + 4);
    cpu.switch_to(&child);
    check(env, &mut child, &mut cpu, va, 4, 8);
    cpu.switch_to(&parent);
    check(env, &mut parent, &mut cpu, va, 4, 8);
    child.destroy(env);
    parent.destroy(env);
    assert_eq!(slots_in_use(env), 0);
    assert_eq!(env.pa.drained_free_pages(), base);
    assert!(*io.writes.lock().unwrap() >= 4);
}

#[test]
fn no_slot_left_means_no_swap_out() {
    let (env, mut cpu, _io) = setup(9);
    let mut mm = process(env);
    let va = mm.mmap(env, &req(0, 16, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut mm, &mut cpu, va, 16, 2);
    let (unmapped, _) = reclaim(env, &mut mm);
    assert_eq!(unmapped, 8, "slot 0 is the header: 8 usable");
    check(env, &mut mm, &mut cpu, va, 16, 2);
    mm.destroy(env);
    assert_eq!(slots_in_use(env), 0);
}

#[test]
fn swapoff_brings_every_page_back() {
    let (env, mut cpu, _io) = setup(256);
    let mut mm = process(env);
    let va = mm.mmap(env, &req(0, 24, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut mm, &mut cpu, va, 24, 4);
    reclaim(env, &mut mm);
    assert_eq!(env.swap.remove_area(0), Err(crate::swap::space::AreaBusy::InUse));
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
    mm.destroy(env);
}

#[test]
fn madv_pageout_swaps_the_range_now_and_cold_ages_it() {
    let (env, mut cpu, io) = setup(256);
    let base = env.pa.drained_free_pages();
    let mut mm = process(env);
    let va = mm.mmap(env, &req(0, 16, RW, PRIV), &lim()).unwrap();
    stamp(env, &mut mm, &mut cpu, va, 16, 0x31);
    mm.madvise(env, va, 8 * P, MADV_PAGEOUT, &lim()).unwrap();
    assert_eq!(*io.writes.lock().unwrap(), 0, "written only once the lock is dropped");
    mm.take_deferred().run();
    assert_eq!(*io.writes.lock().unwrap(), 8);
    assert_eq!(mm.counters().swap_ents, 8, "just the range, used or not");
    // MADV_COLD: the next scan takes them at once, without a second chance.
    mm.madvise(env, va + 8 * P, 8 * P, MADV_COLD, &lim()).unwrap();
    let mut batch = WriteBatch::default();
    let r = mm.swap_out(env, 8, &mut batch, 0);
    assert_eq!((r.referenced, r.unmapped), (0, 8));
    env.swap.write_out(env.pa, batch.as_slice());
    check(env, &mut mm, &mut cpu, va, 16, 0x31);
    // A page after fork is shared: PAGEOUT leaves it.
    let child = mm.fork(env, &lim()).unwrap();
    mm.madvise(env, va, 16 * P, MADV_PAGEOUT, &lim()).unwrap();
    mm.take_deferred().run();
    assert_eq!(mm.counters().swap_ents, 0);
    child.destroy(env);
    // Pending writes of a space that dies are dropped, not leaked.
    mm.madvise(env, va, 16 * P, MADV_PAGEOUT, &lim()).unwrap();
    mm.destroy(env);
    assert_eq!(slots_in_use(env), 0);
    assert_eq!(env.pa.vmstat.swap_cached.get(), 0);
    assert_eq!(env.pa.drained_free_pages(), base);
}

#[test]
fn remote_reads_stop_at_a_swapped_page_until_it_is_read_in() {
    let (env, mut cpu, _io) = setup(256);
    let mut mm = process(env);
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
    mm.destroy(env);
    assert_eq!(slots_in_use(env), 0);
}
