//! The kernel's memory-management state: the objects built by `mm` at boot,
//! and the glue that feeds them the real machine.
//!
//! ```text
//!   boot.rs   firmware map -> memblock (+ named reservations) -> NUMA
//!             -> memmap, zones -> hand-off to the buddy allocators
//! ```

// Memory the kernel manages by address: the heap allocator, page-table
// roots, the bootloader's leftovers (see each SAFETY comment).
#![allow(unsafe_code)]

pub mod boot;
pub mod heap;
pub mod kmemcg;
pub mod kvm;
pub mod slab;
pub mod user;

use spin::{Mutex, MutexGuard, Once};

use mm::phys::LinearWindow;
use mm::phys::memblock::Memblock;
use mm::phys::page_alloc::PageAllocator;
use mm::shrinker::ShrinkerRegistry;

static DIRECT_MAP: Once<LinearWindow> = Once::new();
static MEMBLOCK: Mutex<Memblock> = Mutex::new(Memblock::new());
static PAGE_ALLOC: Once<PageAllocator> = Once::new();

/// The direct map of physical memory, as `mm`'s physical window.
pub fn direct_map() -> &'static LinearWindow {
    DIRECT_MAP.get().expect("mem: direct_map() before mem::boot")
}

/// memblock (boot-time allocator; read-only after the hand-off).
pub fn memblock() -> MutexGuard<'static, Memblock> {
    MEMBLOCK.lock()
}

/// The page allocator.
pub fn page_alloc() -> &'static PageAllocator {
    PAGE_ALLOC.get().expect("mem: page_alloc() before the buddy hand-off")
}

/// The page allocator, if it is up yet.
pub fn try_page_alloc() -> Option<&'static PageAllocator> {
    PAGE_ALLOC.get()
}

/// /proc/meminfo's numbers, from the allocators and the kernel's own
/// bookkeeping.
pub fn meminfo() -> mm::procfs::meminfo::MemInfo {
    use core::sync::atomic::Ordering;
    let mut m = mm::procfs::meminfo::MemInfo::from_allocator(page_alloc());
    let v = kvm::vmalloc_area();
    m.vmalloc_total_kb = v.total() / 1024;
    m.direct_map_4k_kb = kvm::DIRECT_MAP[0].load(Ordering::Relaxed) / 1024;
    m.direct_map_2m_kb = kvm::DIRECT_MAP[1].load(Ordering::Relaxed) / 1024;
    m.direct_map_1g_kb = kvm::DIRECT_MAP[2].load(Ordering::Relaxed) / 1024;
    let oc = user::overcommit();
    m.committed_as = oc.committed();
    m.commit_limit = oc.commit_limit(page_alloc());
    m
}

/// Break locks a test case may have left held when it failed inside a
/// recovery point (its frames were abandoned without running destructors).
pub fn force_unlock_after_recovery() {
    if MEMBLOCK.is_locked() {
        // SAFETY: called by the test harness after `catch` returned an
        // error: the holder's frame no longer exists and nothing else runs.
        unsafe { MEMBLOCK.force_unlock() };
    }
}

/// The caches reclaim may shrink. The layers above `mem` that keep
/// freeable memory register here (the slab caches in `slab::init`, the
/// page cache in `vfs::initrd`, lazily freed pages in `proc`), so reclaim
/// never has to know about files or tasks.
pub fn shrinkers() -> &'static ShrinkerRegistry {
    static SHRINKERS: ShrinkerRegistry = ShrinkerRegistry::new();
    &SHRINKERS
}

/// Free what can be freed without losing data: clean page-cache pages no
/// one maps, lazily freed (MADV_FREE) pages not written since, empty slabs
/// (`echo 3 > /proc/sys/vm/drop_caches`, and the allocator's direct
/// reclaim). Every CPU's page lists are drained before and after, so the
/// free count is exact afterwards. Returns pages freed.
pub fn drop_caches() -> u64 {
    // This runs inside allocations that failed (direct reclaim): the
    // shrinkers do not allocate, and the walk only tries the registry lock.
    let before = page_alloc().drained_free_pages();
    shrinkers().shrink_all(u64::MAX);
    // The shrinkers after the slab one free objects too (page-cache index
    // nodes, lazily freed pages' records): the slabs they emptied go back
    // now, as Linux's drop_caches drops the page cache before the slabs.
    slab::registry().shrink_all();
    page_alloc().drained_free_pages().saturating_sub(before)
}

/// The page allocator's direct-reclaim hook.
fn reclaim(_order: u32) -> u64 {
    drop_caches()
}

/// Install the reclaim hook (after the process and file layers registered
/// their shrinkers).
/// The command line's `hugepagesz=`, `hugepages=` and
/// `default_hugepagesz=`, read in order (`hugepages=` after `hugepagesz=`
/// is of that size).
pub fn huge_cmdline() -> mm::phys::hugetlb::HugeCmdline {
    let cmdline = crate::cmdline::get();
    let words = cmdline.params().iter().filter_map(|p| Some((p.key, p.value?)));
    mm::phys::hugetlb::HugeCmdline::parse(words, &mut |k, v| log::warn!("HugeTLB: unsupported {}={}", k, v))
}

/// `hugepages=N` of the 2 MiB size: fill that pool at boot, while 2 MiB
/// blocks are easy to find (the 1 GiB pages were taken from memblock
/// already, in `boot::init`).
pub fn hugetlb_from_cmdline() {
    let pa = page_alloc();
    if let Some(n) = huge_cmdline().pages_2m {
        let got = pa.hugetlb.set_persistent(pa, None, n);
        if got < n {
            log::warn!("HugeTLB: allocating {} of page size 2.00 MiB failed.  Only allocated {} hugepages.", n, got);
        }
    }
    for pool in pa.hugetlb_pools() {
        let c = pool.counts();
        let (size, unit) =
            if pool.is_gigantic() { (pool.hpage_size() >> 30, "GiB") } else { (pool.hpage_size() >> 20, "MiB") };
        log::info!("HugeTLB: registered {}.00 {} page size, pre-allocated {} pages", size, unit, c.persistent);
    }
}

pub fn enable_reclaim() {
    page_alloc().set_reclaim_hook(reclaim);
    mm::vm::compaction::install(page_alloc());
    page_alloc().set_clock(arch::time::uptime_ns);
}
