//! Memory counters kept alongside the page allocator (cf. include/linux/
//! vmstat.h): how many pages each kind of user holds, and event counts.
//! They are per machine (one `VmStat` per `PageAllocator`), so host tests
//! running in parallel never share them. /proc/meminfo and /proc/vmstat are
//! rendered from here.

use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A page-count gauge (can go up and down).
#[derive(Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn sub(&self, n: i64) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed).max(0) as u64
    }
}

/// An event counter.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
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
    pub pgfault: Counter,
    pub pgmajfault: Counter,
    pub cow_faults: Counter,
    pub pgreuse: Counter,
    pub thp_fault_alloc: Counter,
    pub oom_kill: Counter,
    pub pglazyfreed: Counter,
    pub slab_debug_errors: Counter,
}
