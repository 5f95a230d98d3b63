//! Page reclaim from the LRU lists (Linux's mm/vmscan.c): which pages to
//! look at, and what to do with each.
//!
//! ```text
//!   shrink_node(node, priority)
//!     how many of each list: size >> priority, anon against file by
//!     vm.swappiness (none of anon without swap; only anon when the file
//!     lists and the free pages together are below the high watermarks)
//!     active list, while its inactive half is smaller (inactive_is_low):
//!       isolate from the tail; referenced text stays active, every other
//!       page goes to the inactive head with its accessed bits cleared,
//!       marked WORKINGSET (it was active)
//!     inactive list: isolate from the tail, then per page
//!       mlocked / under writeback                  -> back (keep)
//!       referenced (accessed bits via the rmap):
//!         second time, or several mappers, or text -> active (pgactivate)
//!         first time                               -> back, PG_referenced
//!       anonymous: a swap slot, into the swap cache (add_to_swap),
//!         every mapping becomes the swap entry (try_to_unmap),
//!         written (pageout), out of the cache leaving a shadow in the
//!         slot (swapped in again soon enough, it starts active), freed
//!         (pgsteal)
//!       shmem: unmapped, into the swap cache in its object's place (the
//!         object keeps the entry: shmem_swap.rs), written, freed;
//!         SHM_LOCKed                               -> unevictable (culled)
//!       page cache: unmapped, dropped from the file (leaving a shadow
//!         entry: read again soon enough, it starts active), freed
//!       lazyfree (its own shrinker)                -> back
//! ```
//!
//! Everything runs with no lock held but the LRU lock around isolation
//! and putback; each mapper's address-space lock is only tried (a busy
//! space keeps its pages mapped and the page goes back), and the write
//! runs with no lock at all. The caller (kswapd, direct reclaim) decides
//! how much and on which node.

use alloc::vec::Vec;

use crate::addr::Pfn;
use crate::phys::lru::LruList;
use crate::phys::page::{Page, PageFlags};
use crate::swap::entry::SwapEntry;
use crate::vm::address_space::MmEnv;
use crate::vm::rmap_walk::{PageOwner, page_owner, page_referenced, try_to_unmap};
use crate::vm::shmem_swap::ShmemOut;

/// Highest scan priority: a pass looks at 1/4096 of each list.
pub const DEF_PRIORITY: u32 = 12;

/// Pages isolated at a time (and the usual reclaim target).
pub const SWAP_CLUSTER_MAX: u64 = 32;

/// One reclaim's goal and tally (`struct scan_control`).
#[derive(Clone, Copy, Debug)]
pub struct ScanControl {
    pub nr_to_reclaim: u64,
    pub nr_scanned: u64,
    pub nr_reclaimed: u64,
    pub priority: u32,
    /// Anonymous pages may go to swap (there is some, with room).
    pub may_swap: bool,
    pub swappiness: u32,
    /// An allocating task, not kswapd (vmstat's *_direct counters).
    pub direct: bool,
    /// Picks the swap slot cluster.
    pub cpu: usize,
    /// Reclaim for a memory cgroup, or honouring the groups' protection:
    /// which pages this scan may take.
    pub memcg: Option<MemcgScan>,
}

/// Which pages a memory cgroup's reclaim takes: `is_eligible(page's
/// group, target)` says whether a page charged to a group (0: none) may go
/// for reclaim aimed at group `target` (the group and its descendants,
/// less protected ones). Other pages are put back untouched.
#[derive(Clone, Copy)]
pub struct MemcgScan {
    pub target: crate::memcg::MemcgId,
    pub is_eligible: fn(page_memcg: crate::memcg::MemcgId, target: crate::memcg::MemcgId) -> bool,
}

impl core::fmt::Debug for MemcgScan {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MemcgScan({})", self.target)
    }
}

/// Put back the isolated pages a memory cgroup's reclaim may not take
/// (held by the isolation's reference, which goes), keeping the others.
fn keep_eligible(env: &MmEnv<'_>, pages: &mut Vec<Pfn>, sc: &ScanControl) {
    let Some(m) = sc.memcg else { return };
    pages.retain(|&pfn| {
        let Some(p) = env.pa.page(pfn) else { return false };
        if (m.is_eligible)(p.memcg().unwrap_or(0), m.target) {
            return true;
        }
        env.pa.lruvec(p).putback(&env.pa.memmap, p, PageFlags::empty(), PageFlags::empty());
        env.pa.put_user_page(pfn);
        false
    });
}

impl ScanControl {
    pub fn new(nr_to_reclaim: u64, swappiness: u32, direct: bool) -> ScanControl {
        ScanControl {
            nr_to_reclaim,
            nr_scanned: 0,
            nr_reclaimed: 0,
            priority: DEF_PRIORITY,
            may_swap: true,
            swappiness,
            direct,
            cpu: crate::percpu::this_cpu(),
            memcg: None,
        }
    }

    pub fn done(&self) -> bool {
        self.nr_reclaimed >= self.nr_to_reclaim
    }
}

/// What to do with one isolated inactive page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Freed: the caller's reference is the last.
    Reclaimed,
    Activate,
    Keep,
    /// Must stay in memory whatever happens (SHM_LOCK): off the lists
    /// reclaim scans, onto the unevictable one.
    Cull,
}

/// Whether the inactive half of a kind is too small beside its active
/// half (`inactive_is_low`: the ratio is sqrt(10 * GiB of the kind), and
/// 1 below 1 GiB).
fn inactive_is_low(inactive: u64, active: u64) -> bool {
    let gib = (inactive + active) >> (30 - 12);
    let ratio = if gib == 0 { 1 } else { isqrt(10 * gib) };
    inactive * ratio < active
}

fn isqrt(n: u64) -> u64 {
    let mut r = 0u64;
    while (r + 1) * (r + 1) <= n {
        r += 1;
    }
    r
}

/// Reclaim on node `nid` at `sc.priority` (`shrink_node` ->
/// `shrink_lruvec`).
pub fn shrink_node(env: &MmEnv<'_>, nid: u32, sc: &mut ScanControl) {
    let Some(node) = env.pa.nodes.get(nid as usize) else { return };
    let lru = &node.lru;
    let size = |l: LruList| lru.len(l);
    let anon_ok = sc.may_swap && env.swap.enabled() && env.swap.totals().1 > 0;
    let (ia, aa, fi, fa) = (
        size(LruList::InactiveAnon),
        size(LruList::ActiveAnon),
        size(LruList::InactiveFile),
        size(LruList::ActiveFile),
    );
    // get_scan_count, in shares of 200. The file lists are "tiny" when
    // even all of them and the free pages would not reach the node's high
    // watermarks: then only anonymous pages can help.
    let high: u64 =
        node.zones.iter().filter(|z| z.is_populated()).map(|z| z.watermark(crate::phys::zone::Watermark::High)).sum();
    let file_is_tiny = fi + fa + env.pa.node_free_pages(nid) < high;
    let (anon_w, file_w) = if !anon_ok {
        (0, 200)
    } else if file_is_tiny {
        (200, 0)
    } else if sc.priority == 0 && sc.swappiness > 0 {
        (100, 100)
    } else {
        (sc.swappiness.min(200) as u64, 200 - sc.swappiness.min(200) as u64)
    };
    let share = |n: u64, w: u64| {
        let s = n >> sc.priority;
        // A list too small to show at this priority still gets looked at
        // once the priority has fallen to the bottom.
        let s = if s == 0 && sc.priority == 0 { n } else { s };
        // Rounded up: a list with a share looks at one page at least.
        (s * w).div_ceil(200)
    };
    let mut nr = [share(ia, anon_w), share(aa, anon_w), share(fi, file_w), share(fa, file_w)];
    let lists = [LruList::InactiveAnon, LruList::ActiveAnon, LruList::InactiveFile, LruList::ActiveFile];
    while nr.iter().any(|&n| n > 0) && !sc.done() {
        for (i, &l) in lists.iter().enumerate() {
            if nr[i] == 0 {
                continue;
            }
            let n = nr[i].min(SWAP_CLUSTER_MAX);
            nr[i] -= n;
            if l.is_active() {
                if inactive_is_low(size(l.other_half()), size(l)) {
                    shrink_active_list_for(env, nid, l, n, sc);
                }
            } else {
                shrink_inactive_list(env, nid, l, n, sc);
            }
        }
    }
    // Keep the anonymous lists aged even when this pass took files.
    if anon_ok && inactive_is_low(size(LruList::InactiveAnon), size(LruList::ActiveAnon)) {
        shrink_active_list_for(env, nid, LruList::ActiveAnon, SWAP_CLUSTER_MAX, sc);
    }
}

/// Age up to `nr` pages of active list `l` (`shrink_active_list`).
pub fn shrink_active_list(env: &MmEnv<'_>, nid: u32, l: LruList, nr: u64) {
    shrink_active_list_for(env, nid, l, nr, &ScanControl::new(nr, 0, false));
}

/// [`shrink_active_list`] for the pages `sc` may take.
fn shrink_active_list_for(env: &MmEnv<'_>, nid: u32, l: LruList, nr: u64, sc: &ScanControl) {
    let lru = &env.pa.nodes[nid as usize].lru;
    let mut pages = Vec::new();
    if pages.try_reserve(nr as usize).is_err() {
        return;
    }
    let scanned = lru.isolate(&env.pa.memmap, l, nr as usize, &mut pages);
    keep_eligible(env, &mut pages, sc);
    env.pa.vmstat.pgrefill.add(scanned);
    for pfn in pages {
        let Some(p) = env.pa.page(pfn) else { continue };
        let r = page_referenced(p);
        if r.young > 0 && r.exec && l.is_file() {
            // Program text in use stays (Linux's VM_EXEC exception).
            lru.putback(&env.pa.memmap, p, PageFlags::empty(), PageFlags::empty());
        } else {
            // It was active: part of the working set (its eviction
            // shadow will say so).
            lru.putback(&env.pa.memmap, p, PageFlags::WORKINGSET, PageFlags::ACTIVE | PageFlags::REFERENCED);
            env.pa.vmstat.pgdeactivate.inc();
        }
        env.pa.put_user_page(pfn);
    }
}

/// Try to free up to `nr` pages from the tail of inactive list `l`
/// (`shrink_inactive_list`).
pub fn shrink_inactive_list(env: &MmEnv<'_>, nid: u32, l: LruList, nr: u64, sc: &mut ScanControl) {
    let lru = &env.pa.nodes[nid as usize].lru;
    let mut pages = Vec::new();
    if pages.try_reserve(nr as usize).is_err() {
        return;
    }
    lru.isolate(&env.pa.memmap, l, nr as usize, &mut pages);
    keep_eligible(env, &mut pages, sc);
    let isolated = pages.len() as u64;
    sc.nr_scanned += isolated;
    let vs = &env.pa.vmstat;
    if sc.direct {
        vs.pgscan_direct.add(isolated)
    } else {
        vs.pgscan_kswapd.add(isolated)
    }
    if l.is_file() {
        vs.pgscan_file.add(isolated)
    } else {
        vs.pgscan_anon.add(isolated)
    }
    let reclaimed = shrink_page_list(env, &pages, sc);
    sc.nr_reclaimed += reclaimed;
    if sc.direct { vs.pgsteal_direct.add(reclaimed) } else { vs.pgsteal_kswapd.add(reclaimed) }
}

/// Decide and act on isolated pages, each held by one reference of the
/// caller's, which this consumes (`shrink_folio_list`). Returns pages
/// freed.
pub fn shrink_page_list(env: &MmEnv<'_>, pages: &[Pfn], sc: &ScanControl) -> u64 {
    let mut freed = 0;
    for &pfn in pages {
        let Some(p) = env.pa.page(pfn) else { continue };
        let v = shrink_page(env, p, sc);
        let lru = env.pa.lruvec(p);
        match v {
            Verdict::Reclaimed if p.refcount() == 1 => {
                env.pa.put_user_page(pfn);
                freed += 1;
                continue;
            }
            Verdict::Activate => {
                lru.putback(&env.pa.memmap, p, PageFlags::ACTIVE, PageFlags::empty());
                env.pa.vmstat.pgactivate.inc();
                // The refault clock counts activations too (anonymous and
                // file, as since Linux 5.9): pages that had to be
                // activated meanwhile lengthen the distance of what was
                // evicted before.
                lru.age_nonresident();
            }
            Verdict::Cull => {
                lru.putback(&env.pa.memmap, p, PageFlags::UNEVICTABLE, PageFlags::ACTIVE);
                env.pa.vmstat.unevictable_pgs_culled.inc();
                // SHM_UNLOCK may have run since the look: it rescues only
                // pages it sees set aside, so look again.
                if let Some((PageOwner::File(obj), _)) = page_owner(p) {
                    if !obj.is_unevictable() {
                        lru.update(&env.pa.memmap, p, PageFlags::empty(), PageFlags::UNEVICTABLE);
                    }
                }
            }
            // Kept, or reclaimed but taken meanwhile (a fault mapped it).
            _ => lru.putback(&env.pa.memmap, p, PageFlags::empty(), PageFlags::empty()),
        }
        env.pa.put_user_page(pfn);
    }
    freed
}

fn shrink_page(env: &MmEnv<'_>, p: &'static Page, sc: &ScanControl) -> Verdict {
    let f = p.flags();
    if f.intersects(PageFlags::MLOCKED | PageFlags::UNEVICTABLE | PageFlags::WRITEBACK | PageFlags::HEAD) {
        return Verdict::Keep;
    }
    let r = page_referenced(p);
    if r.locked {
        return Verdict::Activate;
    }
    if r.young > 0 {
        // folio_check_references: a page is mapped with its accessed bit
        // set by the fault that made it, so one reference only earns
        // another look; a second one (or several mappers, or program
        // text) earns the active list.
        let seen_before = !p.test_and_set_flag(PageFlags::REFERENCED);
        if seen_before || r.young > 1 || (r.exec && !f.contains(PageFlags::SWAPBACKED)) {
            return Verdict::Activate;
        }
        return Verdict::Keep;
    }
    p.remove_flags(PageFlags::REFERENCED);
    if f.contains(PageFlags::SHMEM) {
        return reclaim_shmem(env, p, sc);
    }
    if f.contains(PageFlags::ANON) {
        if f.contains(PageFlags::LAZYFREE) {
            // MADV_FREE pages: their own shrinker checks the dirty bits.
            return Verdict::Keep;
        }
        return reclaim_anon(env, p, sc);
    }
    if f.contains(PageFlags::FILE) {
        return reclaim_file(env, p);
    }
    Verdict::Keep
}

/// An anonymous page to swap: slot, swap cache, unmap, write, free.
fn reclaim_anon(env: &MmEnv<'_>, p: &'static Page, sc: &ScanControl) -> Verdict {
    let pfn = p.pfn();
    if !sc.may_swap || !env.swap.enabled() {
        return Verdict::Activate;
    }
    let mut new_slot = None;
    if !p.has(PageFlags::SWAPCACHE) {
        if p.mapcount() == 0 || p.refcount() != p.mapcount() + 1 {
            // Unmapped and about to be freed, or held by the kernel
            // besides its mappings (I/O into it): not now.
            return Verdict::Keep;
        }
        // add_to_swap: the slot's count (1) is this function's until the
        // entries hold their own.
        let Some(e) = env.swap.alloc_for(env.pa, sc.cpu, pfn) else { return Verdict::Activate };
        if !env.swap.add(env.pa, e, pfn, true) {
            env.swap.free(env.pa, e);
            return Verdict::Keep;
        }
        new_slot = Some(e);
    }
    let e = SwapEntry::from_raw(p.private.load(core::sync::atomic::Ordering::Relaxed));
    let unmapped = try_to_unmap(p, Some(e));
    if let Some(e) = new_slot {
        if !unmapped && env.swap.count(e) == 1 {
            // No mapping took the entry (every mapper was busy): the page
            // leaves the cache again, clean, and stays as it was.
            p.remove_flags(PageFlags::DIRTY);
        }
        env.swap.free(env.pa, e);
    }
    if !unmapped {
        return Verdict::Keep;
    }
    write_cached(env, p)
}

/// A swap-cache page reclaim unmapped everywhere: written if dirty
/// (`pageout`), then out of the cache, so that the caller's reference is
/// the last.
fn write_cached(env: &MmEnv<'_>, p: &'static Page) -> Verdict {
    let pfn = p.pfn();
    if p.has(PageFlags::DIRTY) {
        if !env.swap.write_page(env.pa, pfn) {
            return Verdict::Activate;
        }
        env.swap.written_keep(env.pa, pfn);
        return Verdict::Reclaimed;
    }
    // On disk already (read back and never written): just drop it.
    env.swap.try_uncache_clean(env.pa, pfn, 1);
    Verdict::Reclaimed
}

/// A shmem page: unmapped, then into the swap cache with its object
/// keeping the entry (`shmem_writeout`), then written like an anonymous
/// page.
fn reclaim_shmem(env: &MmEnv<'_>, p: &'static Page, sc: &ScanControl) -> Verdict {
    let Some((PageOwner::File(obj), t)) = page_owner(p) else { return Verdict::Keep };
    if obj.is_unevictable() {
        return Verdict::Cull;
    }
    if !sc.may_swap || !env.swap.enabled() {
        return Verdict::Activate;
    }
    if !try_to_unmap(p, None) {
        return Verdict::Keep;
    }
    match obj.swap_out_page(t.index, t.pfn, 1, sc.cpu) {
        ShmemOut::Out => write_cached(env, p),
        // Another CPU holds the object's index (its own reclaim, a fault,
        // a read(2) copying the page): another look later, as Linux
        // leaves a folio whose lock it could not take.
        ShmemOut::Busy => Verdict::Keep,
        // No slot left.
        ShmemOut::Refused => Verdict::Activate,
    }
}

/// A page-cache page: unmap it, then drop it from its file.
fn reclaim_file(env: &MmEnv<'_>, p: &'static Page) -> Verdict {
    let _ = env;
    let Some((PageOwner::File(obj), t)) = page_owner(p) else { return Verdict::Keep };
    if !try_to_unmap(p, None) {
        return Verdict::Keep;
    }
    if obj.try_drop_page(t.index, t.pfn, 1) { Verdict::Reclaimed } else { Verdict::Keep }
}
