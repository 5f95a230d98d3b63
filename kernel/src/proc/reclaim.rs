//! Reclaim: the drivers of mm's LRU scan (`vm::vmscan`) and the read
//! of swapped pages (`do_swap_page`'s read; the decisions are mm's
//! `vm::vmscan`, `vm::rmap_walk` and `swap::space`).
//!
//! ```text
//!   a fault finds no free page (FaultError::Oom)
//!     -> direct_reclaim: the faulting task itself, holding no lock:
//!        try_to_free_pages: the nodes' LRU lists at falling priority
//!        (12: 1/4096 of each list .. 0: all of it) until SWAP_CLUSTER_MAX
//!        pages are freed; short of that, the cache shrinkers too
//!     -> progress: retry the fault; none (MAX_RECLAIM_RETRIES times in a
//!        row): the OOM killer
//!   a fault finds a swap entry whose page is not cached (FaultError::SwapIn)
//!     -> swap_in: read the slot into a new page, put it in the swap cache,
//!        retry the fault (which maps it)
//! ```
//!
//! kswapd (a kernel thread per node, `kswapd0`, `kswapd1`, ..., started
//! with the first swap area) reclaims in the background: an allocation
//! that finds its node's zones under the low watermark flags that node's
//! kswapd (the allocator's kswapd hook, callable from any context), and
//! it shrinks that node's own LRU lists until every zone of the node is
//! back above its high watermark, then naps 100 ms before it sleeps
//! (vmstat's `kswapd_low_wmark_hit_quickly`: flagged again during the
//! nap; `kswapd_high_wmark_hit_quickly`: unbalanced after the run or the
//! nap). It also looks every 100 ms on its own, so a flag never waits
//! longer.
//!
//! Locks: none is held on entry; the scan tries each mapper's
//! address-space lock (a process in the middle of its own fault or mmap
//! keeps its pages this round), and I/O runs with no lock held. Layer:
//! `proc` (it walks the task table for swapoff); the disks are reached
//! through mm's `SwapIo`, which the block layer implements.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use abi::errno::{EINTR, EIO, ENOMEM, Errno};
use mm::swap::entry::SwapEntry;
use mm::swap::space::SwapInError;
use mm::vm::vmscan::{DEF_PRIORITY, MemcgScan, SWAP_CLUSTER_MAX, ScanControl, shrink_node};

use mm::phys::numa::MAX_NUMNODES;

use arch::mm_hooks::RootTlb;

use crate::mem::user::{SWAP, UserMm, env, env_for};
use crate::proc::waitqueue::WaitQueue;

/// Reclaim rounds without progress before the OOM killer runs (Linux's
/// MAX_RECLAIM_RETRIES).
pub const MAX_RECLAIM_RETRIES: u32 = 16;

/// A reclaim tunable of /proc/sys/vm: a number with Linux's upper bound
/// (`proc_dointvec_minmax`; negative values never reach here).
pub struct Tunable {
    value: AtomicU32,
    max: u32,
}

impl Tunable {
    const fn new(value: u32, max: u32) -> Tunable {
        Tunable { value: AtomicU32::new(value), max }
    }

    pub fn get(&self) -> u32 {
        self.value.load(Ordering::Relaxed)
    }

    /// Set it: EINVAL above the bound, nothing changed.
    pub fn set(&self, v: u32) -> Result<(), Errno> {
        if v > self.max {
            return Err(abi::errno::EINVAL);
        }
        self.value.store(v, Ordering::Relaxed);
        Ok(())
    }
}

/// `vm.swappiness` (0..=200, Linux's default 60): how willing background
/// reclaim is to swap. With no page cache of its own to drop, kswapd here
/// swaps only while it is above 0; allocating tasks swap whatever it is,
/// as Linux does once the caches are gone.
pub static SWAPPINESS: Tunable = Tunable::new(60, 200);

/// `vm.page-cluster` (0..=31, `page_cluster_max`; default 3): a swap-in
/// reads the aligned block of 2^N slots around the one it needs
/// (read-ahead itself stops at 32 pages).
pub static PAGE_CLUSTER: Tunable = Tunable::new(3, 31);

/// Whether reclaim may write anything out: some swap area is on.
pub fn can_swap() -> bool {
    SWAP.enabled()
}

/// The address spaces of every process, largest RSS first.
fn spaces() -> Vec<Arc<UserMm>> {
    let mut v: Vec<(u64, Arc<UserMm>)> = super::all_tasks()
        .iter()
        .filter_map(|t| t.mm())
        .map(|mm| (mm.space.try_read().map(|s| s.counters().rss_anon).unwrap_or(0), mm))
        .collect();
    v.sort_by(|a, b| b.0.cmp(&a.0));
    v.dedup_by(|a, b| Arc::ptr_eq(&a.1, &b.1));
    v.into_iter().map(|(_, mm)| mm).collect()
}

/// Free about `nr` pages from the LRU lists of every node, the local one
/// first, at falling priority (`do_try_to_free_pages`). Returns pages
/// freed.
pub fn try_to_free_pages(nr: u64) -> u64 {
    let env = env();
    // For a user page (a fault, a swap-in): Linux's allocstall_movable.
    env.pa.count_allocstall(mm::phys::gfp::GFP_HIGHUSER_MOVABLE);
    let mut sc = ScanControl::new(nr, SWAPPINESS.get(), true);
    sc.may_swap = can_swap();
    // Groups at or under their memory.min keep their pages.
    sc.memcg = Some(MemcgScan { target: mm::memcg::ROOT_MEMCG_ID, is_eligible: super::cgroup::page_unprotected });
    let nodes = env.pa.nodes.len() as u32;
    let local = env.pa.local_node().min(nodes.saturating_sub(1));
    for prio in (0..=DEF_PRIORITY).rev() {
        sc.priority = prio;
        for i in 0..nodes {
            shrink_node(&env, (local + i) % nodes, &mut sc);
            if sc.done() {
                return sc.nr_reclaimed;
            }
        }
    }
    sc.nr_reclaimed
}

/// Free up to `nr` pages charged to memory cgroup `g` or below, from the
/// LRU lists of every node at falling priority, passing over other
/// groups' pages and those memory.min protects (Linux's
/// `try_to_free_mem_cgroup_pages`). Returns pages freed.
pub fn reclaim_memcg(g: &mm::memcg::MemCgroup, nr: u64) -> u64 {
    let env = env();
    let mut sc = ScanControl::new(nr.max(1), SWAPPINESS.get(), true);
    sc.may_swap = can_swap();
    sc.memcg = Some(MemcgScan { target: g.id(), is_eligible: super::cgroup::page_in_group });
    let nodes = env.pa.nodes.len() as u32;
    for prio in (0..=DEF_PRIORITY).rev() {
        sc.priority = prio;
        for nid in 0..nodes {
            shrink_node(&env, nid, &mut sc);
            if sc.done() {
                return sc.nr_reclaimed;
            }
        }
    }
    sc.nr_reclaimed
}

/// Direct reclaim for a task whose allocation failed, holding no lock:
/// the LRU lists (page cache leaving shadow entries, anonymous memory to
/// swap), then, if that was not enough, the shrinkers of the kernel's
/// caches (empty slabs, lazily freed pages, unmapped swap cache, and the
/// idle page cache at once). Returns pages freed.
pub fn direct_reclaim() -> u64 {
    let lru = try_to_free_pages(SWAP_CLUSTER_MAX);
    if lru >= SWAP_CLUSTER_MAX {
        return lru;
    }
    lru + crate::mem::drop_caches()
}

/// One kswapd pass over node `nid` (`balance_pgdat`): falling priority
/// until the node is balanced or a pass freed its share. Returns pages
/// freed.
fn balance_node(nid: u32) -> u64 {
    use mm::phys::zone::Watermark;
    let env = env();
    let mut sc = ScanControl::new(4 * SWAP_CLUSTER_MAX, SWAPPINESS.get(), false);
    sc.may_swap = can_swap() && SWAPPINESS.get() > 0;
    if sc.may_swap && env.pa.vmstat.anon_thp.get() > 0 {
        split_thps(nid, THP_SPLITS_PER_ROUND);
    }
    for prio in (0..=DEF_PRIORITY).rev() {
        sc.priority = prio;
        shrink_node(&env, nid, &mut sc);
        if sc.done() || env.pa.node_balanced(nid, Watermark::High) {
            break;
        }
    }
    sc.nr_reclaimed
}

/// Transparent huge pages kswapd splits per round when anonymous memory
/// may be swapped (16 MiB).
const THP_SPLITS_PER_ROUND: u64 = 8;

/// Split up to `max` transparent huge pages on node `nid`, process by
/// process (each space only tried), so that their 4 KiB pages join the
/// LRU lists this round scans: Linux's reclaim splits a huge page it
/// picks before swapping it. Huge pages are not on the LRU lists here,
/// so they are found through their processes.
fn split_thps(nid: u32, max: u64) {
    let mut left = max;
    for t in super::all_tasks() {
        if left == 0 {
            return;
        }
        let Some(mm) = t.mm() else { continue };
        let Some(mut s) = mm.space.try_write() else { continue };
        let tlb = arch::mm_hooks::RootTlb { root: mm.root };
        left -= s.split_thps_for_reclaim(&crate::mem::user::env_for(&tlb), Some(nid), left);
    }
}

/// Read swap entry `e` into the swap cache (mm's `SwapSpace::swap_in`),
/// reclaiming when no page is free: Err(ENOMEM) after
/// MAX_RECLAIM_RETRIES rounds without progress, Err(EIO) if the disk
/// fails the read. The caller's reference to `e` is dropped.
pub fn swap_in(e: SwapEntry) -> Result<(), Errno> {
    let env = env();
    let mut stalls = 0;
    loop {
        // Each attempt consumes a reference: keep one for the next.
        SWAP.dup(e).map_err(|_| EIO)?;
        match SWAP.swap_in_cluster(env.pa, e, PAGE_CLUSTER.get()) {
            Ok(_) => break,
            Err(SwapInError::Io) => {
                SWAP.free(env.pa, e);
                return Err(EIO);
            }
            Err(SwapInError::NoMemory) => {
                if direct_reclaim() == 0 {
                    stalls += 1;
                    if stalls >= MAX_RECLAIM_RETRIES {
                        SWAP.free(env.pa, e);
                        return Err(ENOMEM);
                    }
                }
            }
        }
    }
    SWAP.free(env.pa, e);
    Ok(())
}

/// Read a shmem object's bytes at `off` (tmpfs read(2), exec of a tmpfs
/// file): pages on swap are read in with no lock held as the copy meets
/// them. Returns the count read (short only at the end of the file or
/// after a failed read from swap; that failure before any byte is EIO).
pub fn read_object_at(obj: &mm::vm::file::MemObject, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    use mm::vm::file::ObjError;
    let mut done = 0;
    while done < buf.len() {
        match obj.read_at(off + done as u64, &mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(ObjError::SwapIn(e)) => match swap_in(e) {
                Ok(()) => {}
                Err(err) if done == 0 => return Err(err),
                Err(_) => break,
            },
            Err(_) if done == 0 => return Err(EIO),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// Run a remote access (`op(space, env, done)` moves bytes from offset `done`
/// of a `len`-byte access and returns how many) until it has moved them
/// all or stops at something other than a page on swap: such a page is
/// read in with the lock dropped, then the access goes on (process_vm_*,
/// /proc/PID/mem). Returns the bytes moved.
pub fn remote_access(
    mm: &UserMm,
    len: usize,
    mut op: impl FnMut(&mut mm::vm::address_space::AddressSpace, &mm::vm::address_space::MmEnv<'_>, usize) -> usize,
) -> usize {
    let tlb = RootTlb { root: mm.root };
    let env = env_for(&tlb);
    let mut done = 0;
    loop {
        let (n, wait) = {
            let mut s = mm.space.write();
            let n = op(&mut s, &env, done);
            // The read's reference, while the entry holds the slot.
            let wait = s.take_swap_wait().filter(|&e| SWAP.dup(e).is_ok());
            (n, wait)
        };
        done += n;
        let Some(e) = wait else { return done };
        if done >= len {
            SWAP.free(env.pa, e);
            return done;
        }
        if swap_in(e).is_err() {
            return done;
        }
    }
}

/// Bring every page swapped out to area `ty` back into memory (swapoff's
/// `try_to_unuse`): each process's entries of the area are faulted in,
/// and each shmem object's pages read back into it.
pub fn unuse_area(ty: u8) -> Result<(), Errno> {
    // A page reclaim was swapping out as the walk passed (its slot taken
    // before the area stopped giving slots) lands behind the walk, and a
    // page whose write is still running keeps its slot until the write
    // ends: walk again, sleeping a tick between walks that freed nothing,
    // until the area is empty (Linux's try_to_unuse waits on writeback
    // too). Ten seconds without progress give up (swapoff's EBUSY).
    let (mut last, mut stalled) = (u64::MAX, 0);
    loop {
        unuse_pass(ty)?;
        SWAP.shrink(env().pa, u64::MAX);
        let used = SWAP.usage(ty).map_or(0, |(_, used)| used);
        if used == 0 {
            return Ok(());
        }
        stalled = if used < last { 0 } else { stalled + 1 };
        last = used;
        if stalled >= 10 * super::sched::HZ {
            return Ok(());
        }
        if super::signal::fatal_pending() {
            return Err(EINTR);
        }
        super::sched::sleep_ticks(1);
    }
}

/// One walk of [`unuse_area`] over every process, then every shmem
/// object (tmpfs files, segments, shared anonymous mappings).
fn unuse_pass(ty: u8) -> Result<(), Errno> {
    unuse_spaces(ty)?;
    for obj in mm::vm::rmap_walk::FILES.live().ok_or(ENOMEM)? {
        loop {
            match obj.unuse_swap(ty) {
                Ok(()) => break,
                Err(mm::vm::file::ObjError::SwapIn(e)) => swap_in(e)?,
                Err(_) => return Err(EIO),
            }
            if super::signal::fatal_pending() {
                return Err(EINTR);
            }
        }
    }
    Ok(())
}

/// The processes' part of [`unuse_pass`].
fn unuse_spaces(ty: u8) -> Result<(), Errno> {
    loop {
        let mut pending = None;
        for mm in spaces() {
            let tlb = RootTlb { root: mm.root };
            let env = env_for(&tlb);
            let r = {
                let mut s = mm.space.write();
                let r = s.unuse_swap(&env, ty);
                // The read's reference, taken while the entry is there.
                if let Err(mm::vm::fault::FaultError::SwapIn(e)) = r {
                    SWAP.dup(e).map_err(|_| ENOMEM)?;
                }
                r
            };
            match r {
                Ok(()) => {}
                Err(mm::vm::fault::FaultError::SwapIn(e)) => {
                    pending = Some(e);
                    break;
                }
                Err(_) => return Err(ENOMEM),
            }
        }
        let Some(e) = pending else { return Ok(()) };
        swap_in(e)?;
        if super::signal::fatal_pending() {
            return Err(EINTR);
        }
    }
}

/// Per node, set by the allocator's hook: a zone of it fell under its low
/// watermark.
static KSWAPD_PENDING: [AtomicBool; MAX_NUMNODES] = [const { AtomicBool::new(false) }; MAX_NUMNODES];
static KSWAPD_WAIT: WaitQueue = WaitQueue::new();
/// Per node: its kswapd is balancing it (between waking and its nap).
static KSWAPD_RUNNING: [AtomicBool; MAX_NUMNODES] = [const { AtomicBool::new(false) }; MAX_NUMNODES];

/// Whether node `nid`'s kswapd is reclaiming now (Linux's
/// `kswapd_is_running`: proactive compaction stays out of its way).
pub fn kswapd_is_running(nid: u32) -> bool {
    KSWAPD_RUNNING.get(nid as usize).is_some_and(|r| r.load(Ordering::Relaxed))
}
static KSWAPD: spin::Once<()> = spin::Once::new();

/// kswapd's poll period, in ticks (100 ms).
const KSWAPD_POLL_TICKS: u64 = super::sched::HZ / 10;

/// The allocator's kswapd hook: any context, any lock held, so only a flag.
fn wakeup_kswapd(nid: u32) {
    if let Some(f) = KSWAPD_PENDING.get(nid as usize) {
        f.store(true, Ordering::Relaxed);
    }
}

/// Start one kswapd per node (`kswapd0`, `kswapd1`, ...), once: the
/// first swapon.
pub fn start_kswapd() {
    KSWAPD.call_once(|| {
        let nodes = crate::mem::page_alloc().nr_nodes().min(MAX_NUMNODES as u32);
        for nid in 0..nodes {
            let _ = super::kthread::spawn(&alloc::format!("kswapd{nid}"), kswapd);
        }
        crate::mem::page_alloc().set_kswapd_hook(wakeup_kswapd);
    });
}

/// The node a kswapd serves, from its name.
fn my_node() -> u32 {
    let name = super::current().name();
    name.trim_start_matches("kswapd").parse().unwrap_or(0)
}

/// kswapd of one node: sleep until flagged (or the poll period passes),
/// then shrink the node's LRU lists until every zone of the node is above
/// its high watermark. A round that leaves the node's free count where it
/// was counts as barren; three in a row end the run (nothing on the node
/// can go: mlocked, shared memory, or swap full).
extern "C" fn kswapd() -> ! {
    use mm::phys::zone::Watermark;
    let nid = my_node();
    let pa = crate::mem::page_alloc();
    loop {
        let deadline = super::sched::ticks() + KSWAPD_POLL_TICKS;
        let pending = &KSWAPD_PENDING[nid as usize];
        KSWAPD_WAIT.wait_uninterruptible(Some(deadline), || pending.load(Ordering::Relaxed).then_some(()));
        let flagged = pending.swap(false, Ordering::Relaxed);
        let balanced = |mark| pa.node_balanced(nid, mark);
        if (!flagged && balanced(Watermark::Low)) || balanced(Watermark::High) {
            continue;
        }
        pa.vmstat.pageoutrun.inc();
        KSWAPD_RUNNING[nid as usize].store(true, Ordering::Relaxed);
        let mut barren = 0;
        while !balanced(Watermark::High) && barren < 3 {
            pa.drain_all_pages();
            let before = pa.node_free_pages(nid);
            balance_node(nid);
            pa.drain_all_pages();
            if pa.node_free_pages(nid) <= before {
                barren += 1;
            } else {
                barren = 0;
            }
            super::sched::yield_now();
        }
        KSWAPD_RUNNING[nid as usize].store(false, Ordering::Relaxed);
        // kswapd_try_to_sleep: a nap of one poll period first. Woken
        // during it, or unbalanced after the run or the nap, the sleep
        // would have been premature.
        if balanced(Watermark::High) {
            let deadline = super::sched::ticks() + KSWAPD_POLL_TICKS;
            KSWAPD_WAIT.wait_uninterruptible(Some(deadline), || pending.load(Ordering::Relaxed).then_some(()));
            if pending.load(Ordering::Relaxed) {
                pa.vmstat.kswapd_low_wmark_hit_quickly.inc();
                continue;
            }
        }
        if !balanced(Watermark::High) {
            pa.vmstat.kswapd_high_wmark_hit_quickly.inc();
        }
    }
}
