//! Workingset detection (Linux's mm/workingset.c): when reclaim evicts a
//! page it leaves a *shadow* where the page was (a file's per-page shadow
//! array, `vm::file`; a swap slot's shadow, `swap::space`), and when the
//! page comes back the shadow says how long it was out. Anonymous and
//! file pages share this code since Linux 5.9.
//!
//! ```text
//!   shadow:  bit 63      a shadow (0 is "none")
//!            bit 62      the page was in the working set (PG_workingset)
//!            bits 8..61  the node's nonresident_age when it was evicted
//!            bits 0..7   the node
//!
//!   refault distance = nonresident_age now - age at eviction
//!                    = evictions + activations on the node meanwhile
//!
//!   activate the page at once if distance <= workingset size:
//!     file: active file                 (+ all anon if swap has room)
//!     anon: active file + inactive file (+ active anon if swap has room)
//! ```
//!
//! A page evicted within that distance would have stayed with that much
//! more room: it goes straight to its active list (`workingset_activate_*`)
//! and, if it was in the working set before, counts as a restore
//! (`workingset_restore_*`). Every refault is counted
//! (`workingset_refault_*`).
//!
//! Locks: none of its own. The clock is an atomic of the node's `Lruvec`;
//! list lengths are read under the LRU lock, one at a time; the shadow's
//! home (a file's array, a swap area's table) has its own rules.

use crate::phys::lru::LruList;
use crate::phys::page::{Page, PageFlags};
use crate::phys::page_alloc::PageAllocator;

const SHADOW: u64 = 1 << 63;
const WORKINGSET: u64 = 1 << 62;
const NODE_BITS: u32 = 8;
const AGE_MASK: u64 = (1 << 54) - 1;

/// Reclaim is evicting `p`: advance its node's clock and return the shadow
/// to leave in its place (`workingset_eviction`).
pub fn eviction(pa: &PageAllocator, p: &Page) -> u64 {
    // The clock before this eviction: the page's own eviction counts in
    // its distance.
    let then = pa.lruvec(p).age_nonresident() - 1;
    let ws = if p.has(PageFlags::WORKINGSET) { WORKINGSET } else { 0 };
    SHADOW | ws | (then & AGE_MASK) << NODE_BITS | (p.node() as u64 & 0xff)
}

/// Whether `shadow` is one (0 and other values are not).
pub fn is_shadow(shadow: u64) -> bool {
    shadow & SHADOW != 0
}

/// Whether a page evicted with `shadow` would count as part of the
/// working set if it were read in now (Linux's `workingset_test_recent`;
/// no counter moves): its refault distance, the evictions on its node
/// since, fits in the memory it competes for. `is_file`: a page-cache
/// page (else anonymous or shmem); `swap_free` as for [`refault`].
pub fn test_recent(pa: &PageAllocator, shadow: u64, is_file: bool, swap_free: u64) -> bool {
    if !is_shadow(shadow) {
        return false;
    }
    let Some(node) = pa.nodes.get((shadow & 0xff) as usize) else { return false };
    let lru = &node.lru;
    let eviction = (shadow >> NODE_BITS) & AGE_MASK;
    let distance = lru.nonresident_age().wrapping_sub(eviction) & AGE_MASK;
    let mut size = lru.len(LruList::ActiveFile);
    if !is_file {
        size += lru.len(LruList::InactiveFile);
    }
    if swap_free > 0 {
        size += lru.len(LruList::ActiveAnon);
        if is_file {
            size += lru.len(LruList::InactiveAnon);
        }
    }
    distance <= size
}

/// `p`, a page read back in where reclaim had left `shadow`, is about to
/// go on an LRU list: count the refault and say whether it goes straight
/// to the active list (`workingset_refault`). `swap_free` is the number of
/// free swap slots: anonymous pages compete with file pages only while
/// they can go to swap. Sets `WORKINGSET` on a restored page.
pub fn refault(pa: &PageAllocator, p: &Page, shadow: u64, swap_free: u64) -> bool {
    if !is_shadow(shadow) || pa.nodes.get((shadow & 0xff) as usize).is_none() {
        return false;
    }
    let is_file = !p.has(PageFlags::SWAPBACKED);
    let vs = &pa.vmstat;
    if is_file {
        vs.workingset_refault_file.inc()
    } else {
        vs.workingset_refault_anon.inc()
    }
    if !test_recent(pa, shadow, is_file, swap_free) {
        return false;
    }
    let lru = &pa.nodes[(shadow & 0xff) as usize].lru;
    if is_file {
        vs.workingset_activate_file.inc()
    } else {
        vs.workingset_activate_anon.inc()
    }
    lru.age_nonresident();
    if shadow & WORKINGSET != 0 {
        p.insert_flags(PageFlags::WORKINGSET);
        if is_file { vs.workingset_restore_file.inc() } else { vs.workingset_restore_anon.inc() }
    }
    true
}
