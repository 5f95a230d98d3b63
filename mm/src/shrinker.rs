//! Shrinkers: caches outside the page allocator that give memory back
//! under pressure (Linux's mm/shrinker.c).
//!
//! A layer that keeps freeable memory (the page cache of files, lazily
//! freed anonymous pages, slab caches) registers a [`Shrinker`]; reclaim
//! walks the registry without knowing who is in it. This is what lets the
//! allocator sit below the file and process layers that own the caches.
//!
//! Reclaim runs inside allocations that failed, so a walk never allocates
//! and only tries the registry's lock: a caller that is registering a
//! shrinker (and allocating) when memory runs out simply finds no
//! shrinkers this time.
//!
//! `vm.vfs_cache_pressure` (default 100) weighs the kernel's own caches
//! (slab objects: Linux's dentries and inodes) against the page cache:
//! their shrinkers report `vfs_pressure_ratio(count)`, so at 0 they are
//! never asked to scan and at 200 they count double (Linux's
//! `vfs_pressure_ratio`, include/linux/dcache.h). Caches that are page
//! cache or user memory (the initrd's pages, lazily freed anonymous pages,
//! the swap cache) are not scaled, as Linux reclaims those from the LRU.
//!
//! Locking: the registry's `IrqLock` protects the list only; the pressure
//! is an atomic. It is the
//! outermost lock of a walk: shrinkers run with it held and may only *try*
//! their own locks (a cache's lists, the task table, an address space),
//! never wait for them, since the allocation that started reclaim may hold
//! any of those. `register` and `unregister` take it with nothing else held.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::sync::IrqLock;

/// `vm.vfs_cache_pressure`'s default (Linux's).
pub const DEFAULT_VFS_CACHE_PRESSURE: u32 = 100;

/// A cache that can give memory back.
pub trait Shrinker: Sync {
    /// Name for logs and `/proc`.
    fn name(&self) -> &'static str;

    /// Objects that `scan` could free now (Linux's `count_objects`); an
    /// estimate, taken without blocking.
    fn count(&self) -> u64;

    /// Free up to `nr_to_scan` objects without losing data, never
    /// allocating; return the number of pages freed.
    fn scan(&self, nr_to_scan: u64) -> u64;
}

/// The registered shrinkers, in registration order.
pub struct ShrinkerRegistry {
    list: IrqLock<Vec<&'static dyn Shrinker>>,
    vfs_cache_pressure: AtomicU32,
}

/// What one walk over the registry did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShrinkStats {
    /// Shrinkers asked to scan.
    pub scanned: u32,
    /// Pages they reported freed.
    pub freed: u64,
}

impl ShrinkerRegistry {
    pub const fn new() -> ShrinkerRegistry {
        ShrinkerRegistry {
            list: IrqLock::new(Vec::new()),
            vfs_cache_pressure: AtomicU32::new(DEFAULT_VFS_CACHE_PRESSURE),
        }
    }

    /// `vm.vfs_cache_pressure`.
    pub fn vfs_cache_pressure(&self) -> u32 {
        self.vfs_cache_pressure.load(Ordering::Relaxed)
    }

    /// Set `vm.vfs_cache_pressure` (any value from 0, as Linux's
    /// `proc_dointvec_minmax` with only a lower bound).
    pub fn set_vfs_cache_pressure(&self, v: u32) {
        self.vfs_cache_pressure.store(v, Ordering::Relaxed);
    }

    /// What a kernel-cache shrinker reports for `count` freeable objects
    /// (Linux's `vfs_pressure_ratio`: `mult_frac(count, pressure, 100)`).
    pub fn vfs_pressure_ratio(&self, count: u64) -> u64 {
        let p = self.vfs_cache_pressure() as u64;
        (count / 100).saturating_mul(p).saturating_add(count % 100 * p / 100)
    }

    /// Add a shrinker (boot or module init; allocates).
    pub fn register(&self, s: &'static dyn Shrinker) {
        self.list.lock().push(s);
    }

    /// Remove a shrinker registered before; false if it was not there.
    pub fn unregister(&self, s: &'static dyn Shrinker) -> bool {
        let mut l = self.list.lock();
        let before = l.len();
        l.retain(|x| !core::ptr::addr_eq(*x as *const dyn Shrinker, s as *const dyn Shrinker));
        l.len() != before
    }

    /// Number of registered shrinkers.
    pub fn len(&self) -> usize {
        self.list.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ask every shrinker with something to free to scan up to
    /// `nr_to_scan` objects. Skips the walk if the registry is busy.
    pub fn shrink_all(&self, nr_to_scan: u64) -> ShrinkStats {
        let Some(list) = self.list.try_lock() else { return ShrinkStats::default() };
        let mut st = ShrinkStats::default();
        for s in list.iter() {
            if s.count() == 0 {
                continue;
            }
            st.scanned += 1;
            st.freed += s.scan(nr_to_scan);
        }
        st
    }

    /// `(name, count)` of every shrinker, for views.
    pub fn for_each(&self, f: &mut dyn FnMut(&'static str, u64)) {
        if let Some(list) = self.list.try_lock() {
            for s in list.iter() {
                f(s.name(), s.count());
            }
        }
    }
}

impl Default for ShrinkerRegistry {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicU64, Ordering};

    /// A cache of `held` objects, one page each.
    struct Cache {
        name: &'static str,
        held: AtomicU64,
    }

    impl Shrinker for Cache {
        fn name(&self) -> &'static str {
            self.name
        }
        fn count(&self) -> u64 {
            self.held.load(Ordering::Relaxed)
        }
        fn scan(&self, nr: u64) -> u64 {
            let n = self.count().min(nr);
            self.held.fetch_sub(n, Ordering::Relaxed);
            n
        }
    }

    /// The slab shrinker's way: its count weighed by the pressure.
    struct KernelCache<'a> {
        reg: &'a ShrinkerRegistry,
        held: AtomicU64,
    }

    impl Shrinker for KernelCache<'_> {
        fn name(&self) -> &'static str {
            "kernel cache"
        }
        fn count(&self) -> u64 {
            self.reg.vfs_pressure_ratio(self.held.load(Ordering::Relaxed))
        }
        fn scan(&self, nr: u64) -> u64 {
            let n = self.held.load(Ordering::Relaxed).min(nr);
            self.held.fetch_sub(n, Ordering::Relaxed);
            n
        }
    }

    #[test]
    fn vfs_cache_pressure_scales_kernel_cache_counts_as_linux() {
        let reg = ShrinkerRegistry::new();
        assert_eq!(reg.vfs_cache_pressure(), 100);
        assert_eq!(reg.vfs_pressure_ratio(12345), 12345, "100: as counted");
        reg.set_vfs_cache_pressure(50);
        assert_eq!(reg.vfs_pressure_ratio(12345), 6172, "mult_frac rounds down");
        reg.set_vfs_cache_pressure(1000);
        assert_eq!(reg.vfs_pressure_ratio(7), 70);
        assert_eq!(reg.vfs_pressure_ratio(u64::MAX), u64::MAX, "saturates");
    }

    #[test]
    fn vfs_cache_pressure_zero_means_the_kernel_caches_are_never_shrunk() {
        let reg: &'static ShrinkerRegistry = alloc::boxed::Box::leak(alloc::boxed::Box::new(ShrinkerRegistry::new()));
        let k: &'static KernelCache<'static> =
            alloc::boxed::Box::leak(alloc::boxed::Box::new(KernelCache { reg, held: AtomicU64::new(40) }));
        let page_cache = cache("page cache", 10);
        reg.register(k);
        reg.register(page_cache);
        reg.set_vfs_cache_pressure(0);
        let st = reg.shrink_all(u64::MAX);
        assert_eq!((st.scanned, st.freed), (1, 10), "only the page cache was asked");
        assert_eq!(k.held.load(Ordering::Relaxed), 40);
        reg.set_vfs_cache_pressure(100);
        assert_eq!(reg.shrink_all(u64::MAX).freed, 40);
    }

    fn cache(name: &'static str, held: u64) -> &'static Cache {
        alloc::boxed::Box::leak(alloc::boxed::Box::new(Cache { name, held: AtomicU64::new(held) }))
    }

    #[test]
    fn shrink_all_asks_each_cache_with_objects_and_sums_what_they_free() {
        let r = ShrinkerRegistry::new();
        let (a, b, empty) = (cache("a", 10), cache("b", 3), cache("empty", 0));
        r.register(a);
        r.register(b);
        r.register(empty);
        assert_eq!(r.shrink_all(4), ShrinkStats { scanned: 2, freed: 7 });
        assert_eq!((a.count(), b.count()), (6, 0));
        assert_eq!(r.shrink_all(u64::MAX), ShrinkStats { scanned: 1, freed: 6 });
        assert_eq!(r.shrink_all(u64::MAX), ShrinkStats::default());
    }

    #[test]
    fn unregister_removes_only_that_shrinker() {
        let r = ShrinkerRegistry::new();
        let (a, b) = (cache("a", 1), cache("b", 1));
        r.register(a);
        r.register(b);
        assert!(r.unregister(a));
        assert!(!r.unregister(a));
        assert_eq!(r.len(), 1);
        let mut names = Vec::new();
        r.for_each(&mut |n, c| names.push((n, c)));
        assert_eq!(names, [("b", 1)]);
    }

    #[test]
    fn a_walk_while_the_registry_is_held_does_nothing_instead_of_deadlocking() {
        let r = ShrinkerRegistry::new();
        r.register(cache("a", 5));
        let held = r.list.lock();
        assert_eq!(r.shrink_all(u64::MAX), ShrinkStats::default());
        drop(held);
        assert_eq!(r.shrink_all(u64::MAX).freed, 5);
    }
}
