//! The kernel's slab caches and kmalloc (see `mm::kalloc::slab`, `mm::kalloc::kmalloc`).
//!
//! `slub_debug` on the command line turns on red zones and poisoning for
//! every kmalloc cache, as Linux's `slub_debug=ZP` does.

use spin::Once;

use mm::kalloc::kmalloc::Kmalloc;
use mm::kalloc::slab::{CacheRegistry, SLAB_DEBUG, SlabFlags};
use mm::shrinker::Shrinker;

static REGISTRY: CacheRegistry = CacheRegistry::new();
static KMALLOC: Once<Kmalloc> = Once::new();

/// Every slab cache.
pub fn registry() -> &'static CacheRegistry {
    &REGISTRY
}

/// The kmalloc heap, once up.
pub fn kmalloc() -> Option<&'static Kmalloc> {
    KMALLOC.get()
}

/// Empty slabs of every cache go back to the page allocator. A kernel
/// cache: its count is weighed by `vm.vfs_cache_pressure` (0: never
/// asked to scan; `drop_caches` still empties the slabs itself).
struct SlabShrinker;

impl Shrinker for SlabShrinker {
    fn name(&self) -> &'static str {
        "slab"
    }

    fn count(&self) -> u64 {
        let v = &super::page_alloc().vmstat;
        super::shrinkers().vfs_pressure_ratio(v.slab_reclaimable.get() + v.slab_unreclaimable.get())
    }

    fn scan(&self, _nr_to_scan: u64) -> u64 {
        REGISTRY.shrink_all()
    }
}

/// Create the kmalloc caches.
pub fn init() {
    super::shrinkers().register(&SlabShrinker);
    let pa = super::page_alloc();
    let debug = if crate::cmdline::get().has("slub_debug") { SLAB_DEBUG } else { SlabFlags::empty() };
    let k = KMALLOC.call_once(|| match Kmalloc::new(pa, &REGISTRY, debug) {
        Ok(k) => k,
        Err(e) => panic!("slab: cannot create the kmalloc caches: {}", e),
    });
    log::info!(
        "SLUB: {} kmalloc caches ({}..{} bytes){}, objects {} to {} per slab",
        k.caches().len(),
        k.caches()[0].object_size,
        k.caches()[12].object_size,
        if debug.is_empty() { "" } else { ", debugging (red zones, poison) on" },
        k.caches()[12].objects_per_slab,
        k.caches()[0].objects_per_slab
    );
}
