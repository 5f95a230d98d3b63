//! Reclaim of anonymous memory to swap, and reading it back (Linux 2.4's
//! `try_to_free_pages` -> `swap_out`, and `do_swap_page`'s read; the
//! decisions are mm's `vm::swap_out` and `swap::space`).
//!
//! ```text
//!   a fault finds no free page (FaultError::Oom)
//!     -> direct_reclaim: the faulting task itself, holding no lock,
//!        scans processes (largest RSS first): each scan ages and unmaps
//!        pages under that process's lock, then the pages are written out
//!        here with no lock held and freed once nothing maps them
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
//! it swaps out until every zone of its node is back above its high
//! watermark, then sleeps. It also looks every 100 ms on
//! its own, so a flag never waits longer. Only anonymous pages go to
//! swap; caches without I/O (page cache of the initrd, MADV_FREE pages,
//! empty slabs) are the allocator's own shrinkers, run inside failed
//! allocations.
//!
//! Locks: none is held on entry; each process's address-space lock is
//! only tried (a process in the middle of its own fault or mmap is
//! skipped this round), and I/O runs with no lock held. Layer: `proc`
//! (it walks the task table); the disks are reached through mm's
//! `SwapIo`, which the block layer implements.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use abi::errno::{EINTR, EIO, ENOMEM, Errno};
use mm::swap::entry::SwapEntry;
use mm::swap::space::SwapInError;
use mm::vm::swap_out::WriteBatch;

use mm::phys::numa::MAX_NUMNODES;

use arch::mm_hooks::RootTlb;

use crate::mem::user::{SWAP, UserMm, env, env_for};
use crate::proc::waitqueue::WaitQueue;

/// Reclaim rounds without progress before the OOM killer runs (Linux's
/// MAX_RECLAIM_RETRIES).
pub const MAX_RECLAIM_RETRIES: u32 = 16;

/// Pages one direct reclaim tries to free (SWAP_CLUSTER_MAX).
const SWAP_CLUSTER_MAX: u64 = 32;

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

/// Where the next reclaim starts in the list of processes.
static ROTOR: AtomicU64 = AtomicU64::new(0);

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

/// Free about `nr` pages by swapping out anonymous memory. `direct`:
/// an allocating task does it (vmstat's *_direct counters), not a
/// background reclaimer. Returns pages freed.
pub fn shrink_anon(nr: u64, direct: bool) -> u64 {
    if !can_swap() {
        return 0;
    }
    let env = env();
    let spaces = spaces();
    if spaces.is_empty() {
        return 0;
    }
    let cpu = mm::percpu::this_cpu();
    let (mut freed, mut scanned) = (0, 0);
    // Round after round over the processes, each scan going on where the
    // last one stopped, until enough is freed or every page was looked at
    // twice (once to clear its accessed bit, once more to take it).
    let total: u64 = spaces.iter().map(|mm| mm.space.try_read().map(|s| s.counters().rss_anon).unwrap_or(0)).sum();
    let limit = 2 * total + 64;
    let start = ROTOR.fetch_add(1, Ordering::Relaxed) as usize;
    'rounds: while scanned < limit {
        let mut round = 0;
        for i in 0..spaces.len() {
            let mm = &spaces[(start + i) % spaces.len()];
            let mut batch = WriteBatch::default();
            // Its pages leave: flush the CPUs that run it, before they are
            // written and freed.
            let tlb = RootTlb { root: mm.root };
            let r = {
                let Some(mut s) = mm.space.try_write() else { continue };
                s.swap_out(&env_for(&tlb), (nr * 8).max(256), &mut batch, cpu)
            };
            round += r.scanned;
            freed += r.freed + SWAP.write_out(env.pa, batch.as_slice());
            if freed >= nr || r.swap_full {
                scanned += round;
                break 'rounds;
            }
        }
        scanned += round;
        if round == 0 {
            break;
        }
    }
    let vs = &env.pa.vmstat;
    if direct {
        vs.pgscan_direct.add(scanned);
        vs.pgsteal_direct.add(freed);
    } else {
        vs.pgscan_kswapd.add(scanned);
        vs.pgsteal_kswapd.add(freed);
    }
    freed
}

/// Direct reclaim for a task whose allocation failed, holding no lock:
/// the caches first, then swap. Returns pages freed.
pub fn direct_reclaim() -> u64 {
    let caches = crate::mem::drop_caches();
    caches + shrink_anon(SWAP_CLUSTER_MAX, true)
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
/// `try_to_unuse`): each process's entries of the area are faulted in.
pub fn unuse_area(ty: u8) -> Result<(), Errno> {
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
/// then reclaim until every zone of the node is above its high
/// watermark. Reclaim frees pages wherever their processes have them, so
/// a round that leaves the node's free count where it was counts as
/// barren; three in a row end the run (the node's memory is not what
/// swapping frees).
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
        if !can_swap() || SWAPPINESS.get() == 0 || (!flagged && balanced(Watermark::Low)) || balanced(Watermark::High) {
            continue;
        }
        pa.vmstat.pageoutrun.inc();
        let mut barren = 0;
        while !balanced(Watermark::High) && barren < 3 {
            pa.drain_all_pages();
            let before = pa.node_free_pages(nid);
            shrink_anon(SWAP_CLUSTER_MAX, false);
            pa.drain_all_pages();
            if pa.node_free_pages(nid) <= before {
                barren += 1;
            } else {
                barren = 0;
            }
            super::sched::yield_now();
        }
    }
}
