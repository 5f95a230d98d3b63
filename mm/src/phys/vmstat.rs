//! Memory counters kept alongside the page allocator (cf. include/linux/
//! vmstat.h): how many pages each kind of user holds, and event counts.
//! They are per machine (one `VmStat` per `PageAllocator`), so host tests
//! running in parallel never share them. /proc/meminfo and /proc/vmstat are
//! rendered from here.

use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Each counter is split over this many cache lines, one per CPU number
/// modulo it (Linux keeps per-CPU differences, `vm_stat_diff`, for the
/// same reason): faults and frees on different CPUs then update different
/// lines instead of bouncing one between them. Readers add the shards up.
const SHARDS: usize = 8;

/// One shard on a cache line of its own.
#[derive(Default)]
#[repr(align(64))]
struct Line<T>(T);

fn shard() -> usize {
    crate::percpu::this_cpu() % SHARDS
}

/// A page-count gauge (can go up and down; one shard may go below zero).
#[derive(Default)]
pub struct Gauge([Line<AtomicI64>; SHARDS]);

impl Gauge {
    pub fn add(&self, n: i64) {
        self.0[shard()].0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn sub(&self, n: i64) {
        self.0[shard()].0.fetch_sub(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.iter().map(|l| l.0.load(Ordering::Relaxed)).sum::<i64>().max(0) as u64
    }
}

/// An event counter.
#[derive(Default)]
pub struct Counter([Line<AtomicU64>; SHARDS]);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0[shard()].0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.iter().map(|l| l.0.load(Ordering::Relaxed)).sum()
    }
}

/// Page counts by user, and events.
#[derive(Default)]
pub struct VmStat {
    /// Slab pages of caches marked reclaimable (pages).
    pub slab_reclaimable: Gauge,
    /// Other slab pages, and large kmalloc allocations (pages).
    pub slab_unreclaimable: Gauge,
    /// Kernel stacks (KiB).
    pub kernel_stack_kb: Gauge,
    /// Page-table pages, kernel and user.
    pub page_table_pages: Gauge,
    /// Pages backing vmalloc areas.
    pub vmalloc_pages: Gauge,
    /// Anonymous user pages.
    pub anon_pages: Gauge,
    /// Page-cache pages (file contents).
    pub file_pages: Gauge,
    /// Shared anonymous (shmem) pages, included in file_pages as Linux does.
    pub shmem_pages: Gauge,
    /// mlock()ed pages.
    pub mlocked_pages: Gauge,
    /// Pages freed lazily by MADV_FREE, not yet reclaimed.
    pub lazyfree_pages: Gauge,
    /// Pages in the swap cache (meminfo `SwapCached`).
    pub swap_cached: Gauge,
    /// Pages held by the hugetlb pool, free or in use (meminfo Hugetlb).
    pub hugetlb_pages: Gauge,
    pub pgfault: Counter,
    pub pgmajfault: Counter,
    pub cow_faults: Counter,
    pub pgreuse: Counter,
    pub thp_fault_alloc: Counter,
    pub thp_fault_fallback: Counter,
    pub thp_collapse_alloc: Counter,
    pub thp_zero_page_alloc: Counter,
    pub thp_collapse_alloc_failed: Counter,
    pub thp_split_pmd: Counter,
    pub thp_split_page: Counter,
    /// Transparent huge pages mapped (nr_anon_transparent_hugepages).
    pub anon_thp: Gauge,
    pub oom_kill: Counter,
    pub pglazyfreed: Counter,
    pub slab_debug_errors: Counter,
    /// Pages read from swap, written to swap.
    pub pswpin: Counter,
    pub pswpout: Counter,
    /// Page-table entries reclaim looked at, by kswapd and by allocating
    /// tasks (direct reclaim), and pages it freed.
    pub pgscan_kswapd: Counter,
    pub pgscan_direct: Counter,
    pub pgsteal_kswapd: Counter,
    pub pgsteal_direct: Counter,
    /// Pages a reclaim scan moved to an active list.
    pub pgactivate: Counter,
    /// Pages moved from an active list to its inactive list.
    pub pgdeactivate: Counter,
    /// Active pages scanned (to age them).
    pub pgrefill: Counter,
    /// Inactive pages scanned, anonymous and file (by either reclaimer).
    pub pgscan_anon: Counter,
    pub pgscan_file: Counter,
    /// kswapd's balancing runs.
    pub pageoutrun: Counter,
    /// Pages read ahead from swap.
    pub swap_ra: Counter,
    /// Pages read again after reclaim evicted them (a shadow entry was
    /// found: in the file for page-cache pages, in the swap slot for
    /// anonymous and shmem ones), of those the ones activated at once
    /// because they were evicted less than the working set's size ago, and
    /// of those the ones that had been in the working set (`phys::lru::
    /// workingset`).
    pub workingset_refault_anon: Counter,
    pub workingset_refault_file: Counter,
    pub workingset_activate_anon: Counter,
    pub workingset_activate_file: Counter,
    pub workingset_restore_anon: Counter,
    pub workingset_restore_file: Counter,
    /// Pages reclaim found it must not take (SHM_LOCKed shared memory)
    /// and set aside on the unevictable list, and pages moved back from
    /// it when the lock went (SHM_UNLOCK).
    pub unevictable_pgs_culled: Counter,
    pub unevictable_pgs_rescued: Counter,
    /// kswapd, after balancing its node, napped 100 ms before sleeping:
    /// woken again during the nap (`low`), or found the node under its
    /// high watermark again after it (`high`).
    pub kswapd_low_wmark_hit_quickly: Counter,
    pub kswapd_high_wmark_hit_quickly: Counter,
    /// Pages migration moved, and pages it left where they were.
    pub pgmigrate_success: Counter,
    pub pgmigrate_fail: Counter,
    /// Compaction (`vm::compaction`): pages its migrate scanner and its
    /// free scanner looked at, pages it isolated (both kinds).
    pub compact_migrate_scanned: Counter,
    pub compact_free_scanned: Counter,
    pub compact_isolated: Counter,
    /// Allocations that compacted directly, and whether the try after it
    /// got the block.
    pub compact_stall: Counter,
    pub compact_fail: Counter,
    pub compact_success: Counter,
    /// kcompactd's wake-ups for an allocation, and its scanners' pages.
    pub compact_daemon_wake: Counter,
    pub compact_daemon_migrate_scanned: Counter,
    pub compact_daemon_free_scanned: Counter,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::cpus::on_cpu;

    #[test]
    fn shards_add_up_across_cpus() {
        let (g, c) = (Gauge::default(), Counter::default());
        on_cpu(0, || g.add(5));
        on_cpu(3, || g.sub(2));
        on_cpu(9, || g.add(1));
        for cpu in 0..20 {
            on_cpu(cpu, || c.inc());
        }
        assert_eq!((g.get(), c.get()), (4, 20));
        // A page freed on another CPU than the one that counted it: the
        // shards differ in sign, the total is right.
        on_cpu(1, || g.sub(4));
        assert_eq!(g.get(), 0);
    }
}
