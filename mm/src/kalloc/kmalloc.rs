//! kmalloc: the general-purpose kernel heap on top of slab caches
//! (cf. mm/slab_common.c, `kmalloc_caches`, `kmalloc_large`).
//!
//! Requests up to 8 KiB go to one of Linux's size classes:
//!
//! ```text
//!   8 16 32 64 96 128 192 256 512 1k 2k 4k 8k      (kmalloc-8 .. kmalloc-8k)
//! ```
//!
//! the smallest class that fits the size and gives the alignment asked for
//! (power-of-two classes are naturally aligned; 96 and 192 are aligned to
//! 32 and 64). Larger requests, or alignments above a page, go straight to
//! the buddy allocator as a compound page, whose head records the order so
//! that `kfree` and `ksize` need only the pointer. Pages of large
//! allocations are counted with the unreclaimable slab pages, as Linux does.
//!
//! Locking: kmalloc has no state of its own after creation; the class
//! caches and the page allocator lock what they change (see `slab`,
//! `page_alloc`). The class comes from a table, and `kfree` finds the slab
//! with one lookup of the page descriptors, lock-free, and the class from
//! the tag each class cache writes into its slab heads (class + 1, checked
//! against the cache id the head names); both then take the class cache's
//! per-CPU fast path (`slab::cpu_slab`), which takes no lock either.

use core::ptr::NonNull;

use crate::addr::{PAGE_SIZE, Pfn, PhysAddr};
use crate::kalloc::slab::{CacheRegistry, KmemCache, SlabError, SlabFlags};
use crate::phys::buddy::MAX_ORDER;
use crate::phys::gfp::Gfp;
use crate::phys::page::{Page, PageFlags};
use crate::phys::page_alloc::PageAllocator;

/// The size classes.
pub const KMALLOC_SIZES: [usize; 13] = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];
const KMALLOC_NAMES: [&str; 13] = [
    "kmalloc-8",
    "kmalloc-16",
    "kmalloc-32",
    "kmalloc-64",
    "kmalloc-96",
    "kmalloc-128",
    "kmalloc-192",
    "kmalloc-256",
    "kmalloc-512",
    "kmalloc-1k",
    "kmalloc-2k",
    "kmalloc-4k",
    "kmalloc-8k",
];
/// Largest request served by a slab cache.
pub const KMALLOC_MAX_CACHE_SIZE: usize = 8192;
/// Largest request kmalloc serves at all: one buddy block of the largest
/// order (Linux's KMALLOC_MAX_SIZE). Anything larger fails, quietly: the
/// caller turns it into ENOMEM.
pub const KMALLOC_MAX_SIZE: usize = (PAGE_SIZE as usize) << MAX_ORDER;

/// Why `kfree` refused a pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KfreeError {
    /// Not memory kmalloc handed out.
    NotKmalloc,
    /// The slab cache refused it (double free, not an object start, ...).
    Slab(SlabError),
    /// The page allocator refused the large allocation's pages.
    Pages,
}

/// Guaranteed alignment of a size class in a slab whose objects start at a
/// page boundary and follow each other every `size` bytes.
const fn class_align(size: usize) -> usize {
    let tz = size.trailing_zeros();
    1 << if tz < 12 { tz } else { 12 }
}

/// Class of a request of `8 * i + 1 ..= 8 * (i + 1)` bytes, up to 192
/// (Linux's `kmalloc_size_index`): 96 and 192 sit between the powers of two.
const SIZE_INDEX: [u8; 24] = {
    let mut t = [0u8; 24];
    let mut i = 0;
    while i < 24 {
        let mut c = 0;
        while KMALLOC_SIZES[c] < (i + 1) * 8 {
            c += 1;
        }
        t[i] = c as u8;
        i += 1;
    }
    t
};

/// Index in `KMALLOC_SIZES` of the smallest class holding `size` bytes
/// (`size <= KMALLOC_MAX_CACHE_SIZE`; 0 counts as 1).
#[inline]
fn class_index(size: usize) -> usize {
    if size <= 192 {
        SIZE_INDEX[size.saturating_sub(1) / 8] as usize
    } else {
        // 193..=256 -> 7 (kmalloc-256), ... 4097..=8192 -> 12 (kmalloc-8k).
        (usize::BITS - (size - 1).leading_zeros()) as usize - 1
    }
}

/// One set of the 13 class caches: the kernel's, or a memory cgroup's copy.
pub type KmallocCaches = [&'static KmemCache; 13];

/// Finds a memory cgroup's cache set by group id (installed by the kernel,
/// which keeps the sets), for `kfree` and `ksize` of an accounted object.
pub type MemcgCachesLookup = fn(crate::memcg::MemcgId) -> Option<&'static KmallocCaches>;

/// The kmalloc heap.
pub struct Kmalloc {
    caches: KmallocCaches,
    pa: &'static PageAllocator,
    memcg_caches: spin::Once<MemcgCachesLookup>,
}

/// The class cache in `caches` for `size` bytes aligned to `align`: the
/// smallest class that fits, from a table (Linux's `kmalloc_slab`), or the
/// next one that also gives the alignment.
#[inline]
fn class_cache(caches: &KmallocCaches, size: usize, align: usize) -> Option<&'static KmemCache> {
    if size > KMALLOC_MAX_CACHE_SIZE {
        return None;
    }
    let i = class_index(size);
    if align <= KMALLOC_MIN_ALIGN {
        // Every class is aligned to its size's lowest set bit, 8 at least.
        return Some(caches[i]);
    }
    caches[i..].iter().copied().find(|c| c.align >= align)
}

/// The alignment every kmalloc class gives (the smallest class, 8 bytes).
const KMALLOC_MIN_ALIGN: usize = 8;
const _: () = assert!(class_align(KMALLOC_SIZES[0]) == KMALLOC_MIN_ALIGN);

impl Kmalloc {
    /// Create the 13 caches (registered in `registry` for /proc/slabinfo).
    /// `debug` turns on red zones and poisoning for every class.
    pub fn new(pa: &'static PageAllocator, registry: &CacheRegistry, debug: SlabFlags) -> Result<Kmalloc, SlabError> {
        let caches = Self::make_caches(pa, registry, debug, |i| KMALLOC_NAMES[i])?;
        Ok(Kmalloc { caches, pa, memcg_caches: spin::Once::new() })
    }

    fn make_caches(
        pa: &'static PageAllocator,
        registry: &CacheRegistry,
        flags: SlabFlags,
        name: impl Fn(usize) -> &'static str,
    ) -> Result<KmallocCaches, SlabError> {
        let mut caches: [Option<&'static KmemCache>; 13] = [None; 13];
        for (i, &size) in KMALLOC_SIZES.iter().enumerate() {
            let c = KmemCache::new(name(i), size, class_align(size), flags, None, pa)?.with_tag(i as u8 + 1);
            let c: &'static KmemCache = alloc::boxed::Box::leak(alloc::boxed::Box::new(c));
            registry.register(c);
            caches[i] = Some(c);
        }
        Ok(caches.map(|c| c.expect("kmalloc: cache missing")))
    }

    /// A copy of the class caches for memory cgroups (Linux before 5.9:
    /// `memcg_create_kmem_cache`), named like the kernel's with `suffix`
    /// ("kmalloc-64(memcg3)"); [`KmemCache::set_memcg`] names the group
    /// each charges its slabs to. The caches live for the rest of the run
    /// (the kernel hands a set on to a new group once its group is gone
    /// and nothing, so no slab, is charged to it).
    pub fn new_memcg_caches(&self, registry: &CacheRegistry, suffix: &str) -> Result<KmallocCaches, SlabError> {
        let name = |i: usize| -> &'static str {
            alloc::boxed::Box::leak(alloc::format!("{}{}", KMALLOC_NAMES[i], suffix).into_boxed_str())
        };
        Self::make_caches(self.pa, registry, self.caches[0].flags, name)
    }

    /// Install the lookup of groups' cache sets (once).
    pub fn set_memcg_lookup(&self, f: MemcgCachesLookup) {
        self.memcg_caches.call_once(|| f);
    }

    /// The class cache for `size` bytes aligned to `align`, if any.
    #[inline]
    pub fn cache_for(&self, size: usize, align: usize) -> Option<&'static KmemCache> {
        class_cache(&self.caches, size, align)
    }

    /// `kmalloc(size)` with alignment `align` (a power of two).
    #[inline]
    pub fn alloc(&self, size: usize, align: usize, zero: bool) -> Option<NonNull<u8>> {
        self.alloc_from(&self.caches, size, align, zero)
    }

    /// `kmalloc` from a cache set: the kernel's, or a group's (then a
    /// large allocation's pages are charged to that group too, as
    /// `__GFP_ACCOUNT` charges them).
    #[inline]
    pub fn alloc_from(&self, caches: &KmallocCaches, size: usize, align: usize, zero: bool) -> Option<NonNull<u8>> {
        if size <= KMALLOC_MAX_CACHE_SIZE && align <= PAGE_SIZE as usize {
            if let Some(c) = class_cache(caches, size, align) {
                let p = c.alloc()?;
                if zero {
                    // The object has at least `size` bytes, in a slab page.
                    let pa = self.pa.phys().phys_of(p.as_ptr()).expect("kmalloc: slab object outside the window");
                    let _ = self.pa.phys().fill(pa, 0, size);
                }
                return Some(p);
            }
        }
        self.alloc_large(size, align, zero, caches[0].memcg())
    }

    fn alloc_large(&self, size: usize, align: usize, zero: bool, memcg: crate::memcg::MemcgId) -> Option<NonNull<u8>> {
        let bytes = size.max(align).max(1);
        if bytes > KMALLOC_MAX_SIZE {
            return None;
        }
        let pages = (bytes as u64).div_ceil(PAGE_SIZE);
        let order = pages.next_power_of_two().trailing_zeros();
        let mut gfp = Gfp::COMP | Gfp::DIRECT_RECLAIM;
        if zero {
            gfp |= Gfp::ZERO;
        }
        // As for slabs: the reserve below the min watermark is the kernel's.
        let pfn =
            self.pa.alloc_pages(gfp | Gfp::NOWARN, order).or_else(|| self.pa.alloc_pages(gfp | Gfp::HIGH, order))?;
        if let Some(head) = self.pa.page(pfn) {
            // Just allocated, not yet handed out: nobody else changes its flags.
            head.insert_flags_owned(PageFlags::LARGE_KMALLOC);
        }
        if memcg != 0 {
            self.pa.memcg_charge_to(pfn, memcg, crate::memcg::MemcgStat::SlabUnreclaimable);
        }
        self.pa.vmstat.slab_unreclaimable.add(1 << order);
        let p = self.pa.ptr(PhysAddr::new(pfn.phys()), (PAGE_SIZE as usize) << order)?;
        NonNull::new(p)
    }

    /// The cache whose slab has `head` as its head page: one of the
    /// kernel's, or of the group the slab is charged to.
    #[inline]
    fn cache_of_slab(&self, head: &Page) -> Option<&'static KmemCache> {
        // The tag every class cache writes into its slab heads is the class
        // + 1: one index into a set, then one compare of the cache id.
        let id = head.private.load(core::sync::atomic::Ordering::Relaxed);
        let class = (KmemCache::slab_tag(head) as usize).wrapping_sub(1);
        let ours = |set: &KmallocCaches| set.get(class).copied().filter(|c| c.cache_id() == id);
        if let Some(c) = ours(&self.caches) {
            return Some(c);
        }
        let lookup = self.memcg_caches.get()?;
        ours(lookup(head.memcg()?)?)
    }

    /// `kfree`.
    #[inline]
    pub fn free(&self, ptr: NonNull<u8>) -> Result<(), KfreeError> {
        let pa = self.pa.phys_of(ptr.as_ptr()).ok_or(KfreeError::NotKmalloc)?;
        let page = self.pa.page(Pfn::from_phys(pa.as_u64())).ok_or(KfreeError::NotKmalloc)?;
        let head = self.pa.memmap.compound_head(page);
        if head.has(PageFlags::SLAB) {
            // One descriptor lookup for both: the head names the cache, and
            // its tag the class.
            let cache = self.cache_of_slab(head).ok_or(KfreeError::NotKmalloc)?;
            return cache.free_in_slab(head, pa, ptr).map_err(KfreeError::Slab);
        }
        // A large allocation: the pointer must be the head page's start.
        if pa.as_u64() % PAGE_SIZE != 0 || !core::ptr::eq(head, page) || head.refcount() <= 0 {
            log::error!("kfree: BUG: {:#x} is not memory kmalloc handed out", ptr.as_ptr() as u64);
            return Err(KfreeError::NotKmalloc);
        }
        let order = if head.has(PageFlags::HEAD) { head.order() } else { 0 };
        self.pa.free_pages(head.pfn(), order).map_err(|_| KfreeError::Pages)?;
        self.pa.vmstat.slab_unreclaimable.sub(1 << order);
        Ok(())
    }

    /// `ksize`: usable bytes of an allocation.
    pub fn ksize(&self, ptr: NonNull<u8>) -> Option<usize> {
        let pa = self.pa.phys().phys_of(ptr.as_ptr())?;
        let page = self.pa.page(Pfn::from_phys(pa.as_u64()))?;
        let head = self.pa.memmap.compound_head(page);
        if head.has(PageFlags::SLAB) {
            return self.cache_of_slab(head).map(|c| c.object_size);
        }
        let order = if head.has(PageFlags::HEAD) { head.order() } else { 0 };
        Some((PAGE_SIZE as usize) << order)
    }

    /// `krealloc`: grow or shrink, keeping the contents up to the smaller
    /// size. Returns the (possibly same) pointer, or `None` leaving the old
    /// allocation untouched.
    pub fn realloc(&self, ptr: NonNull<u8>, new_size: usize, align: usize) -> Option<NonNull<u8>> {
        self.realloc_from(&self.caches, ptr, new_size, align)
    }

    /// `krealloc` whose new allocation, if one is needed, comes from `caches`.
    pub fn realloc_from(
        &self,
        caches: &KmallocCaches,
        ptr: NonNull<u8>,
        new_size: usize,
        align: usize,
    ) -> Option<NonNull<u8>> {
        let old = self.ksize(ptr)?;
        if new_size <= old && ptr.as_ptr() as usize % align.max(1) == 0 {
            return Some(ptr);
        }
        let phys = self.pa.phys();
        let from = phys.phys_of(ptr.as_ptr())?;
        let new = self.alloc_from(caches, new_size, align, false)?;
        // Both allocations have at least min(old, new_size) bytes.
        let to = phys.phys_of(new.as_ptr()).expect("kmalloc: fresh object outside the window");
        let _ = phys.copy(to, from, old.min(new_size));
        let _ = self.free(ptr);
        Some(new)
    }

    pub fn caches(&self) -> &KmallocCaches {
        &self.caches
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn heap() -> (Kmalloc, &'static PageAllocator) {
        let pa = crate::testing::page_allocator(64 << 20);
        let reg: &'static CacheRegistry = alloc::boxed::Box::leak(alloc::boxed::Box::new(CacheRegistry::new()));
        (Kmalloc::new(pa, reg, SlabFlags::empty()).unwrap(), pa)
    }

    #[test]
    fn class_table_picks_the_smallest_fitting_class() {
        let (k, _) = heap();
        for size in 0..=KMALLOC_MAX_CACHE_SIZE + 1 {
            for align in [1, 8, 16, 32, 64, 128, 256, 4096, 8192] {
                let linear = k.caches.iter().copied().find(|c| c.object_size >= size.max(1) && c.align >= align);
                let got = k.cache_for(size, align);
                assert_eq!(got.map(|c| c.name), linear.map(|c| c.name), "size {size} align {align}");
            }
        }
    }

    #[test]
    fn sizes_map_to_linux_classes() {
        let (k, _) = heap();
        let class = |s: usize, a: usize| k.cache_for(s, a).map(|c| c.name);
        assert_eq!(class(1, 1), Some("kmalloc-8"));
        assert_eq!(class(65, 8), Some("kmalloc-96"));
        assert_eq!(class(97, 8), Some("kmalloc-128"));
        assert_eq!(class(150, 8), Some("kmalloc-192"));
        assert_eq!(class(150, 128), Some("kmalloc-256"), "192 is only 64-aligned");
        assert_eq!(class(8192, 8), Some("kmalloc-8k"));
        assert_eq!(class(8193, 8), None);
    }

    #[test]
    fn alignment_is_honoured_for_every_class_and_large_sizes() {
        let (k, _) = heap();
        for &(size, align) in
            &[(1, 1), (24, 8), (96, 32), (100, 64), (200, 128), (4000, 4096), (9000, 8), (100, 8192), (70000, 16)]
        {
            let p = k.alloc(size, align, false).unwrap();
            assert_eq!(p.as_ptr() as usize % align, 0, "size {size} align {align}");
            assert!(k.ksize(p).unwrap() >= size);
            k.free(p).unwrap();
        }
    }

    #[test]
    fn large_allocations_use_compound_pages_and_return_them() {
        let (k, pa) = heap();
        let free = pa.drained_free_pages();
        let p = k.alloc(20000, 8, true).unwrap();
        assert_eq!(k.ksize(p), Some(32768));
        assert_eq!(pa.vmstat.slab_unreclaimable.get(), 8);
        // SAFETY: 20000 zeroed bytes were asked for.
        assert!(unsafe { core::slice::from_raw_parts(p.as_ptr(), 20000) }.iter().all(|&b| b == 0));
        k.free(p).unwrap();
        assert_eq!(pa.drained_free_pages(), free);
        assert_eq!(pa.vmstat.slab_unreclaimable.get(), 0);
    }

    #[test]
    fn requests_past_the_largest_order_fail_without_taking_pages() {
        let (k, pa) = heap();
        let free = pa.drained_free_pages();
        assert!(k.alloc(KMALLOC_MAX_SIZE + 1, 8, false).is_none());
        assert!(k.alloc(usize::MAX, 8, false).is_none(), "no overflow on a huge size");
        assert!(k.alloc(isize::MAX as usize, 1 << 20, true).is_none());
        assert!(k.alloc(8, KMALLOC_MAX_SIZE * 2, false).is_none(), "nor on a huge alignment");
        assert_eq!(pa.drained_free_pages(), free);
        let p = k.alloc(KMALLOC_MAX_SIZE, 8, false).expect("the largest order itself is served");
        assert_eq!(k.ksize(p), Some(KMALLOC_MAX_SIZE));
        k.free(p).unwrap();
        assert_eq!(pa.drained_free_pages(), free);
    }

    #[test]
    fn krealloc_keeps_contents() {
        let (k, _) = heap();
        let p = k.alloc(10, 8, false).unwrap();
        // SAFETY: 10 bytes allocated.
        unsafe { core::ptr::copy_nonoverlapping(b"0123456789".as_ptr(), p.as_ptr(), 10) };
        let q = k.realloc(p, 5000, 8).unwrap();
        // SAFETY: q holds at least 5000 bytes, the first 10 copied.
        assert_eq!(unsafe { core::slice::from_raw_parts(q.as_ptr(), 10) }, b"0123456789");
        let r = k.realloc(q, 20, 8).unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { core::slice::from_raw_parts(r.as_ptr(), 10) }, b"0123456789");
        k.free(r).unwrap();
    }

    #[test]
    fn kfree_refuses_objects_of_other_caches_with_or_without_a_tag() {
        let (k, pa) = heap();
        let reg: &'static CacheRegistry = alloc::boxed::Box::leak(alloc::boxed::Box::new(CacheRegistry::new()));
        // A second heap's classes carry the same tags, another cache none.
        let other = Kmalloc::new(pa, reg, SlabFlags::empty()).unwrap();
        let plain = KmemCache::create("plain-64", 64, 8, SlabFlags::empty(), None, pa).unwrap();
        let (p, q) = (other.alloc(64, 8, false).unwrap(), plain.alloc().unwrap());
        assert_eq!(k.free(p), Err(KfreeError::NotKmalloc));
        assert_eq!(k.free(q), Err(KfreeError::NotKmalloc));
        other.free(p).unwrap();
        plain.free(q).unwrap();
        for c in k.caches().iter().chain(other.caches()).chain([&plain]) {
            c.check_invariants();
            assert_eq!(c.stats().active_objs, 0);
        }
    }

    #[test]
    fn bogus_frees_are_refused() {
        let (k, pa) = heap();
        let p = k.alloc(64, 8, false).unwrap();
        k.free(p).unwrap();
        assert!(matches!(k.free(p), Err(KfreeError::Slab(SlabError::DoubleFree))));
        let big = k.alloc(20000, 8, false).unwrap();
        // SAFETY: inside the allocation.
        let inside = unsafe { NonNull::new_unchecked(big.as_ptr().add(4096)) };
        assert_eq!(k.free(inside), Err(KfreeError::NotKmalloc));
        k.free(big).unwrap();
        let mut v: Vec<NonNull<u8>> = (0..1000).map(|i| k.alloc(1 + i % 3000, 8, false).unwrap()).collect();
        v.drain(..).for_each(|p| k.free(p).unwrap());
        for c in k.caches() {
            c.check_invariants();
            assert_eq!(c.stats().active_objs, 0);
        }
        let _ = pa;
    }
}
