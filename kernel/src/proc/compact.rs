//! The drivers of compaction (mm's `vm::compaction`): kcompactd, one
//! kernel thread per node (`kcompactd0`, `kcompactd1`, ...), and the
//! writes that compact at once.
//!
//! ```text
//!   an allocation of order > 0 finds its node's zones under the low
//!   watermark -> the allocator's kcompactd hook flags the node with the
//!   order (any context: only an atomic max)
//!   kcompactd, every 500 ms:
//!     flagged: kcompactd_do_work(order): each zone where compaction is
//!              suitable, until a block of that order is free
//!     otherwise (HPAGE_FRAG_CHECK_INTERVAL_MSEC), unless the node's
//!              kswapd is reclaiming: the node's fragmentation score over
//!              100 - vm.compaction_proactiveness + 10: proactive
//!              compaction down to the low mark; a run that did not lower
//!              the score defers the next 64 checks
//!   /proc/sys/vm/compact_memory (1), /sys/devices/system/node/nodeN/compact:
//!     every zone of every node (of that node) fully, in the writer's task
//! ```
//!
//! Direct compaction (an allocation compacting for itself) is installed
//! with the allocator at boot (`mem::enable_reclaim`).
//!
//! Locks: none is held across a run; compaction takes what `vm::migrate`
//! names, and only tries address-space locks.

use core::sync::atomic::{AtomicU32, Ordering};

use mm::phys::numa::MAX_NUMNODES;
use mm::vm::compaction;

use crate::proc::waitqueue::WaitQueue;

/// Per node: the largest order an allocation wanted since kcompactd last
/// looked (0: none).
static PENDING: [AtomicU32; MAX_NUMNODES] = [const { AtomicU32::new(0) }; MAX_NUMNODES];
static WAIT: WaitQueue = WaitQueue::new();
static STARTED: spin::Once<()> = spin::Once::new();

/// kcompactd's poll period, in ticks: 500 ms, Linux's
/// HPAGE_FRAG_CHECK_INTERVAL_MSEC (an allocation's flag waits for it:
/// the hook may not wake a task from where it runs).
const POLL_TICKS: u64 = super::sched::HZ / 2;
/// Polls between proactive checks.
const PROACTIVE_EVERY: u32 = 1;
/// Checks skipped after a proactive run that did not lower the score
/// (Linux's `1 << COMPACT_MAX_DEFER_SHIFT`).
const PROACTIVE_DEFER: u32 = 64;

/// The allocator's kcompactd hook.
fn wakeup_kcompactd(nid: u32, order: u32) {
    if let Some(p) = PENDING.get(nid as usize) {
        p.fetch_max(order, Ordering::Relaxed);
    }
}

/// Start one kcompactd per node, once (at boot, as Linux's
/// `kcompactd_init`).
pub fn start_kcompactd() {
    STARTED.call_once(|| {
        let pa = crate::mem::page_alloc();
        for nid in 0..pa.nr_nodes().min(MAX_NUMNODES as u32) {
            let _ = super::kthread::spawn(&alloc::format!("kcompactd{nid}"), kcompactd);
        }
        pa.set_kcompactd_hook(wakeup_kcompactd);
    });
}

fn my_node() -> u32 {
    super::current().name().trim_start_matches("kcompactd").parse().unwrap_or(0)
}

extern "C" fn kcompactd() -> ! {
    let nid = my_node();
    let pa = crate::mem::page_alloc();
    let pending = &PENDING[nid as usize];
    let (mut polls, mut defer) = (0u32, 0u32);
    loop {
        let deadline = super::sched::ticks() + POLL_TICKS;
        WAIT.wait_uninterruptible(Some(deadline), || (pending.load(Ordering::Relaxed) > 0).then_some(()));
        let order = pending.swap(0, Ordering::Relaxed);
        if order > 0 {
            compaction::kcompactd_do_work(pa, nid, order);
            continue;
        }
        polls += 1;
        if polls % PROACTIVE_EVERY != 0 {
            continue;
        }
        if defer > 0 {
            defer -= 1;
            continue;
        }
        // Not while kswapd reclaims the node (Linux's
        // should_proactive_compact_node): the pages it frees are what
        // the allocations under pressure need, not tidier blocks.
        if !super::reclaim::kswapd_is_running(nid) && compaction::should_proactive_compact(pa, nid) {
            let before = pa.fragmentation_score_node(nid);
            compaction::proactive_compact_node(pa, nid);
            if pa.fragmentation_score_node(nid) >= before {
                defer = PROACTIVE_DEFER;
            }
        }
    }
}

/// Compact every node fully (a write of 1 to /proc/sys/vm/compact_memory).
pub fn compact_memory() {
    compaction::compact_all(crate::mem::page_alloc());
}

/// Compact node `nid` fully (/sys/devices/system/node/nodeN/compact).
pub fn compact_node(nid: u32) {
    compaction::compact_node(crate::mem::page_alloc(), nid);
}
