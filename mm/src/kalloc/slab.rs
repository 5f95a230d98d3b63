//! The slab allocator: caches of equal-sized objects carved out of buddy
//! pages (cf. mm/slub.c, mm/slab_common.c).
//!
//! A cache hands out objects of one size. It takes a block of `2^order`
//! pages from the buddy allocator (a *slab*), cuts it into objects, and
//! keeps each slab on one of three lists:
//!
//! ```text
//!   partial: some objects in use    <- allocation takes from here first
//!   full:    every object in use
//!   free:    no object in use       <- kept for reuse, given back by shrink
//! ```
//!
//! Free objects are chained through a pointer stored inside the free object
//! itself (at offset 0, or after the object when a constructor must keep
//! the object's contents intact). The slab's state lives in the descriptor
//! of its first page, as in SLUB: `PG_slab` on every page, the cache in
//! `private`, the freelist in `mapping`, the objects in use in `index`. So
//! from any object pointer, `phys -> pfn -> page -> compound head` finds the
//! slab and its cache, which is how `kfree` works without being told the
//! size.
//!
//! The slab order is the smallest (up to order 3) that wastes at most 1/16
//! of the slab, as `calculate_order` does.
//!
//! Debug mode (`SlabFlags::RED_ZONE | SlabFlags::POISON`, Linux's
//! `slub_debug=ZP`) changes each object's layout to
//!
//! ```text
//!   [left red zone][object ...........][right red zone][free pointer]
//!    0xbb free / 0xcc in use           0xbb / 0xcc
//!                  0x6b..0x6b 0xa5 while free (poison)
//! ```
//!
//! and checks it: on free, red zones that are not "in use" mean an overflow
//! (or a double free, if they say "free"); on allocation, a poison pattern
//! that changed means the object was written after it was freed. Problems
//! are logged as `BUG <cache>: ...` and counted; a free that fails its checks
//! is refused (the object leaks rather than corrupting the freelist).
//!
//! Without debugging, allocation and free go through per-CPU slabs
//! (`cpu_slab`): each CPU pops and pushes objects of its own active slab
//! with interrupts off and no lock (one compare-exchange on its own cache
//! line, which only a flush from another CPU can make fail), and takes its
//! slot lock and the cache lock only to change slabs or to free an object
//! of another slab; it reaches the free pointers through the active slab's
//! span of kernel addresses, asked of the window once per slab, so it makes
//! no call through the `PhysMem` seam. A slab a CPU owns is on none of the
//! three lists above until the CPU gives it back (when it is used up, or
//! flushed by shrink). Debug caches take the cache lock for everything.
//!
//! Locking: each CPU's slot lock, then the cache lock (`lists`: the three
//! lists, the counters, every slab's own freelist), never the reverse; the
//! page allocator is called with neither held. See `cpu_slab` for what each
//! protects.
//!
//! A cache is identified by its address (slab pages point back at it), so a
//! cache must not move once it has allocated: [`KmemCache::create`] returns
//! it as `&'static`, as `kmem_cache_create` returns a pointer.

mod cpu_slab;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU16, AtomicU64, Ordering};

use bitflags::bitflags;

use crate::addr::{PAGE_SIZE, Pfn, PhysAddr};
use crate::phys::PhysMem;
use crate::phys::gfp::Gfp;
use crate::phys::page::{Page, PageFlags, PageList};
use crate::phys::page_alloc::PageAllocator;
use crate::sync::{IrqGuard, IrqLock};
use cpu_slab::{CpuSlot, LockWait, inuse};

bitflags! {
    /// Cache creation flags (cf. include/linux/slab.h).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct SlabFlags: u32 {
        /// Align objects to a cache line (64 bytes).
        const HWCACHE_ALIGN   = 1 << 0;
        /// Objects can be reclaimed: counted as SReclaimable.
        const RECLAIM_ACCOUNT = 1 << 1;
        /// Red zones around each object.
        const RED_ZONE        = 1 << 2;
        /// Poison free objects.
        const POISON          = 1 << 3;
    }
}

/// Both debug features.
pub const SLAB_DEBUG: SlabFlags = SlabFlags::RED_ZONE.union(SlabFlags::POISON);

const RZ_INACTIVE: u8 = 0xbb;
const RZ_ACTIVE: u8 = 0xcc;
const POISON_FREE: u8 = 0x6b;
const POISON_END: u8 = 0xa5;
/// A slab head's `index`: objects in use in the low bits, and `FROZEN`
/// while a CPU owns the slab (SLUB's `slab->inuse` and `slab->frozen`).
const FROZEN: u64 = 1 << 32;
const INUSE: u64 = FROZEN - 1;
/// Where a slab head's `index` keeps its cache's tag (see
/// [`KmemCache::with_tag`]), above the count and `FROZEN`, which never
/// carry into it.
const TAG_SHIFT: u32 = 40;
/// Highest slab order tried.
const MAX_SLAB_ORDER: u32 = 3;
/// Empty slabs a cache keeps before giving pages back at once: SLUB's
/// `min_partial`, ilog2(size) / 2 clamped to 5..=10.
fn min_free_slabs(size: usize) -> u64 {
    ((usize::BITS - 1 - size.leading_zeros()) as u64 / 2).clamp(5, 10)
}

/// What went wrong in a cache operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlabError {
    /// Object size 0 or too large for a slab, or a bad alignment.
    BadGeometry,
    /// The pointer is not an object of this cache.
    NotOurs,
    /// The pointer is inside a slab but not at an object's start.
    NotObjectStart,
    /// The object is already free.
    DoubleFree,
    /// A red zone was overwritten: the object was written out of bounds.
    RedZoneOverwritten { offset: isize },
    /// A free object's poison changed: it was written after being freed.
    UseAfterFree { offset: usize },
    /// `destroy` with objects still allocated.
    StillInUse { objects: u64 },
}

impl fmt::Display for SlabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlabError::BadGeometry => write!(f, "bad object size or alignment"),
            SlabError::NotOurs => write!(f, "pointer does not belong to this cache"),
            SlabError::NotObjectStart => write!(f, "pointer is not the start of an object"),
            SlabError::DoubleFree => write!(f, "double free"),
            SlabError::RedZoneOverwritten { offset } => {
                write!(f, "red zone overwritten at object offset {offset} (buffer overflow)")
            }
            SlabError::UseAfterFree { offset } => {
                write!(f, "poison overwritten at offset {offset}: object written after free")
            }
            SlabError::StillInUse { objects } => write!(f, "slab cache still has {objects} objects"),
        }
    }
}

/// Counters of one cache. Objects free on a CPU freelist are not active;
/// a slab is active while one of its objects is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub active_objs: u64,
    pub num_objs: u64,
    pub active_slabs: u64,
    pub num_slabs: u64,
    pub allocs: u64,
    pub frees: u64,
    pub debug_errors: u64,
    /// Allocations that found their CPU freelist empty and took the cache
    /// lock (SLUB's `ALLOC_SLOWPATH`).
    pub alloc_slowpath: u64,
    /// Frees of an object outside the CPU's active slab, under the cache
    /// lock (SLUB's `FREE_SLOWPATH`).
    pub free_slowpath: u64,
}

/// What the cache lock protects. `stats` holds the slab counts and the
/// allocations and frees made under this lock; the per-CPU ones are in the
/// CPU slots, and [`KmemCache::stats`] adds them up.
struct SlabLists {
    partial: PageList,
    full: PageList,
    free: PageList,
    stats: CacheStats,
    last_error: Option<SlabError>,
}

/// A cache of objects of one size. Laid out in declaration order, the
/// fields the fast paths read first, so that they share the first cache
/// line (kmalloc uses 13 caches in turn).
#[repr(C)]
pub struct KmemCache {
    /// Per-CPU slabs, indexed by CPU number.
    cpus: Box<[CpuSlot; crate::percpu::MAX_CPUS]>,
    pub flags: SlabFlags,
    /// Offset of the free pointer within the stride.
    freeptr_offset: usize,
    /// Bytes of a slab's strides (`objects_per_slab * size`): the span of
    /// kernel addresses a CPU's active slab covers on the fast path.
    strides_len: u64,
    /// Whether an offset is a multiple of `size`, with one multiplication
    /// and no division: see [`Divides`].
    divides: Divides,
    /// Length of `lists.partial`, written under the cache lock, read
    /// without it by a CPU deciding whether to keep an empty active slab.
    nr_partial: AtomicU64,
    /// Stride: bytes per object in a slab, metadata included.
    pub size: usize,
    /// Offset of the object within its stride (the left red zone).
    obj_offset: usize,
    /// Alignment every object start has.
    pub align: usize,
    pub name: &'static str,
    /// Size asked for.
    pub object_size: usize,
    pub order: u32,
    pub objects_per_slab: u32,
    /// A small number its creator gives the cache (kmalloc: class + 1),
    /// written into every slab head so that the creator finds the cache of
    /// an object with one table index; 0 for none.
    tag: u8,
    ctor: Option<fn(*mut u8)>,
    pa: &'static PageAllocator,
    lists: IrqLock<SlabLists>,
    /// The memory cgroup whose cache this is (0: none): every new slab is
    /// charged to it, and the page free path uncharges it (see
    /// [`KmemCache::set_memcg`]).
    memcg: AtomicU16,
}

fn round_up(x: usize, a: usize) -> usize {
    x.div_ceil(a) * a
}

/// Smallest order whose leftover is at most 1/16 of the slab.
fn calculate_order(size: usize) -> Option<(u32, u32)> {
    let mut best: Option<(u32, u32, usize)> = None;
    for order in 0..=MAX_SLAB_ORDER {
        let bytes = (PAGE_SIZE as usize) << order;
        let objects = bytes / size;
        if objects == 0 {
            continue;
        }
        let waste = bytes % size;
        if waste * 16 <= bytes {
            return Some((order, objects as u32));
        }
        if best.is_none_or(|b| waste * 16 / bytes < b.2) {
            best = Some((order, objects as u32, waste * 16 / bytes));
        }
    }
    best.map(|b| (b.0, b.1))
}

impl KmemCache {
    /// `kmem_cache_create(name, size, align, flags, ctor)`: a cache that
    /// lives for the rest of the run. A constructor runs once per object
    /// when its slab is created, and freed objects must be returned in their
    /// constructed state (as in Linux).
    pub fn create(
        name: &'static str,
        object_size: usize,
        align: usize,
        flags: SlabFlags,
        ctor: Option<fn(*mut u8)>,
        pa: &'static PageAllocator,
    ) -> Result<&'static KmemCache, SlabError> {
        let c = Self::new(name, object_size, align, flags, ctor, pa)?;
        Ok(alloc::boxed::Box::leak(alloc::boxed::Box::new(c)))
    }

    /// A cache by value; it must be put in its final place (a static, a
    /// leaked box) before its first allocation.
    pub fn new(
        name: &'static str,
        object_size: usize,
        align: usize,
        flags: SlabFlags,
        ctor: Option<fn(*mut u8)>,
        pa: &'static PageAllocator,
    ) -> Result<KmemCache, SlabError> {
        if object_size == 0 || !align.is_power_of_two() || align > PAGE_SIZE as usize {
            return Err(SlabError::BadGeometry);
        }
        let mut flags = flags;
        if ctor.is_some() {
            // Poison would destroy the constructed state (Linux does the same).
            flags.remove(SlabFlags::POISON);
        }
        let mut align = align.max(8);
        if flags.contains(SlabFlags::HWCACHE_ALIGN) && object_size > 32 {
            align = align.max(64);
        }
        let body = round_up(object_size, 8);
        let debug = flags.contains(SlabFlags::RED_ZONE);
        let (obj_offset, freeptr_offset, size) = if debug {
            let left = align;
            let freeptr = left + body + 8;
            (left, freeptr, round_up(freeptr + 8, align))
        } else if ctor.is_some() || flags.contains(SlabFlags::POISON) {
            (0, body, round_up(body + 8, align))
        } else {
            (0, 0, round_up(body, align))
        };
        let (order, objects_per_slab) = calculate_order(size).ok_or(SlabError::BadGeometry)?;
        Ok(KmemCache {
            name,
            object_size,
            align,
            size,
            obj_offset,
            freeptr_offset,
            order,
            objects_per_slab,
            divides: Divides::new(size as u64),
            strides_len: objects_per_slab as u64 * size as u64,
            tag: 0,
            flags,
            ctor,
            pa,
            cpus: cpu_slab::cpu_slots(),
            lists: IrqLock::new(SlabLists {
                partial: PageList::new(),
                full: PageList::new(),
                free: PageList::new(),
                stats: CacheStats::default(),
                last_error: None,
            }),
            nr_partial: AtomicU64::new(0),
            memcg: AtomicU16::new(0),
        })
    }

    /// Make this a memory cgroup's cache (Linux before 5.9 kept a copy of
    /// each accounted cache per group, `memcg_create_kmem_cache`): its
    /// slabs are charged to group `id` as slab memory when they are made
    /// and uncharged when the page allocator gets them back, so the group
    /// pays for whole slabs, objects in use or not.
    pub fn set_memcg(&self, id: crate::memcg::MemcgId) {
        self.memcg.store(id, Ordering::Relaxed);
    }

    /// The group this cache charges (0: none).
    pub fn memcg(&self) -> crate::memcg::MemcgId {
        self.memcg.load(Ordering::Relaxed)
    }

    /// The cache with `tag` in its slab heads (before its first
    /// allocation): kmalloc tags its classes so that `kfree` indexes its
    /// class table with the tag, then checks the cache id.
    pub(crate) fn with_tag(mut self, tag: u8) -> KmemCache {
        self.tag = tag;
        self
    }

    /// The tag of the cache that owns the slab whose head is `head`.
    #[inline]
    pub(crate) fn slab_tag(head: &Page) -> u8 {
        (head.index.load(Ordering::Relaxed) >> TAG_SHIFT) as u8
    }

    #[inline]
    fn debug(&self) -> bool {
        self.flags.contains(SlabFlags::RED_ZONE)
    }

    #[inline]
    fn poison(&self) -> bool {
        self.flags.contains(SlabFlags::POISON)
    }

    /// Whether objects are checked (red zones or poison), which keeps the
    /// cache off the per-CPU fast path.
    #[inline]
    fn checks_objects(&self) -> bool {
        self.flags.intersects(SLAB_DEBUG)
    }

    fn slab_pages(&self) -> u64 {
        1 << self.order
    }

    #[inline]
    pub(crate) fn cache_id(&self) -> u64 {
        self as *const KmemCache as u64
    }

    /// Kernel address of the first byte of the slab whose head is `page`.
    fn slab_base(&self, page: &Page) -> u64 {
        self.phys().ptr(page.phys(), (PAGE_SIZE as usize) << self.order).expect("slab: slab page outside the window")
            as u64
    }

    #[inline]
    fn phys(&self) -> &'static dyn PhysMem {
        self.pa.phys()
    }

    /// Physical address of stride `i` (`i < objects_per_slab`) of the slab
    /// whose head is `page`.
    #[inline]
    fn stride_of(&self, page: &Page, i: usize) -> PhysAddr {
        page.phys() + (i * self.size) as u64
    }

    /// The stride of a free object the freelist names (a kernel address).
    #[inline]
    fn stride_of_free(&self, obj: u64) -> PhysAddr {
        let pa = self.phys().phys_of(obj as *const u8).expect("slab: freelist object outside the window");
        pa - self.obj_offset as u64
    }

    /// The next free object after the one in `stride` (0 ends the list).
    #[inline]
    fn read_freeptr(&self, stride: PhysAddr) -> u64 {
        self.phys().read_u64(stride + self.freeptr_offset as u64).expect("slab: free pointer outside the window")
    }

    #[inline]
    fn write_freeptr(&self, stride: PhysAddr, next: u64) {
        self.phys().write_u64(stride + self.freeptr_offset as u64, next).expect("slab: free pointer outside the window")
    }

    /// Set both red zones of a stride to `byte`: the left one is
    /// `[0, obj_offset)`, the right one `[obj_offset + object_size,
    /// freeptr_offset)` (padding to 8 bytes included).
    fn fill_red_zones(&self, stride: PhysAddr, byte: u8) {
        let right = self.obj_offset + self.object_size;
        let phys = self.phys();
        let left = phys.fill(stride, byte, self.obj_offset);
        let right = phys.fill(stride + right as u64, byte, self.freeptr_offset - right);
        left.and(right).expect("slab: red zone outside the window");
    }

    fn vmstat_add(&self, pages: i64) {
        if self.flags.contains(SlabFlags::RECLAIM_ACCOUNT) {
            self.pa.vmstat.slab_reclaimable.add(pages);
        } else {
            self.pa.vmstat.slab_unreclaimable.add(pages);
        }
    }

    /// Fill a stride's debug bytes for a free object.
    fn mark_free(&self, stride: PhysAddr) {
        if self.debug() {
            self.fill_red_zones(stride, RZ_INACTIVE);
        }
        if self.poison() {
            let obj = stride + self.obj_offset as u64;
            let last = obj + (self.object_size - 1) as u64;
            let body = self.phys().fill(obj, POISON_FREE, self.object_size - 1);
            body.and(self.phys().write(last, &[POISON_END])).expect("slab: object outside the window");
        }
    }

    /// The first byte of `len` at `start` that is not `want`: its offset
    /// from `start` and its value.
    fn find_other_byte(&self, start: PhysAddr, len: usize, want: u8) -> Option<(usize, u8)> {
        let mut chunk = [0u8; 64];
        let mut done = 0;
        while done < len {
            let n = chunk.len().min(len - done);
            self.phys().read(start + done as u64, &mut chunk[..n]).expect("slab: object outside the window");
            if let Some(i) = chunk[..n].iter().position(|&b| b != want) {
                return Some((done + i, chunk[i]));
            }
            done += n;
        }
        None
    }

    /// Check a stride's red zones hold `want`; returns the first bad offset
    /// relative to the object start and the byte found there.
    fn check_red_zones(&self, stride: PhysAddr, want: u8) -> Option<(isize, u8)> {
        let ranges = [(0, self.obj_offset), (self.obj_offset + self.object_size, self.freeptr_offset)];
        for (a, b) in ranges {
            if let Some((i, v)) = self.find_other_byte(stride + a as u64, b - a, want) {
                return Some(((a + i) as isize - self.obj_offset as isize, v));
            }
        }
        None
    }

    fn check_poison(&self, stride: PhysAddr) -> Option<usize> {
        let obj = stride + self.obj_offset as u64;
        let body = self.object_size - 1;
        if let Some((i, _)) = self.find_other_byte(obj, body, POISON_FREE) {
            return Some(i);
        }
        self.find_other_byte(obj + body as u64, 1, POISON_END).map(|_| body)
    }

    fn report(&self, lists: &mut SlabLists, err: SlabError, obj: *const u8) {
        lists.stats.debug_errors += 1;
        lists.last_error = Some(err);
        self.pa.vmstat.slab_debug_errors.inc();
        log::error!("BUG {}: {} (object {:#x})", self.name, err, obj as u64);
    }

    /// Take a new slab from the buddy allocator and build its freelist.
    fn new_slab(&self) -> Option<&'static Page> {
        let mut gfp = Gfp::COMP | Gfp::DIRECT_RECLAIM;
        if self.flags.contains(SlabFlags::RECLAIM_ACCOUNT) {
            gfp |= Gfp::RECLAIMABLE;
        }
        // The kernel's own memory may dip into the reserve below the min
        // watermark (Linux's ALLOC_HIGH): it is what lets the kernel keep
        // running, and kill a process, when user pages have taken the rest.
        let pfn = self
            .pa
            .alloc_pages(gfp | Gfp::NOWARN, self.order)
            .or_else(|| self.pa.alloc_pages(gfp | Gfp::HIGH, self.order))?;
        let head = self.pa.page(pfn)?;
        for i in 0..self.slab_pages() {
            if let Some(p) = self.pa.page(pfn.add(i)) {
                p.insert_flags(PageFlags::SLAB);
            }
        }
        head.private.store(self.cache_id(), Ordering::Relaxed);
        let memcg = self.memcg();
        if memcg != 0 {
            let stat = if self.flags.contains(SlabFlags::RECLAIM_ACCOUNT) {
                crate::memcg::MemcgStat::SlabReclaimable
            } else {
                crate::memcg::MemcgStat::SlabUnreclaimable
            };
            self.pa.memcg_charge_to(pfn, memcg, stat);
        }
        let base = self.slab_base(head);
        let mut next = 0u64;
        for i in (0..self.objects_per_slab as usize).rev() {
            let stride = self.stride_of(head, i);
            self.mark_free(stride);
            let obj = base + (i * self.size + self.obj_offset) as u64;
            if let Some(ctor) = self.ctor {
                ctor(obj as *mut u8);
            }
            self.write_freeptr(stride, next);
            next = obj;
        }
        head.mapping.store(next, Ordering::Relaxed);
        head.index.store((self.tag as u64) << TAG_SHIFT, Ordering::Relaxed);
        self.vmstat_add(self.slab_pages() as i64);
        Some(head)
    }

    fn discard_slab(&self, head: &'static Page) {
        let pfn = head.pfn();
        for i in 0..self.slab_pages() {
            if let Some(p) = self.pa.page(pfn.add(i)) {
                p.remove_flags(PageFlags::SLAB);
            }
        }
        head.private.store(0, Ordering::Relaxed);
        head.mapping.store(0, Ordering::Relaxed);
        head.index.store(0, Ordering::Relaxed);
        self.vmstat_add(-(self.slab_pages() as i64));
        if let Err(e) = self.pa.free_pages(pfn, self.order) {
            log::error!("slab {}: cannot free slab at {:?}: {}", self.name, pfn, e);
        }
    }

    /// `kmem_cache_alloc`.
    #[inline]
    pub fn alloc(&self) -> Option<NonNull<u8>> {
        if self.checks_objects() { self.alloc_checked() } else { self.alloc_cpu() }
    }

    /// Allocation with debugging: from the cache lists under the cache lock,
    /// checking the object.
    fn alloc_checked(&self) -> Option<NonNull<u8>> {
        let mm = &self.pa.memmap;
        let mut lists = self.lists.lock();
        let head = loop {
            if let Some(p) = lists.partial.front().and_then(|f| mm.page(f)) {
                break p;
            }
            if let Some(p) = lists.free.pop_front(mm) {
                self.partial_push(&mut lists, p);
                break p;
            }
            // A new slab comes from the page allocator without the list lock
            // held: under pressure its reclaim path may shrink this very
            // cache (Linux's allocate_slab also runs unlocked).
            drop(lists);
            let p = self.new_slab()?;
            lists = self.lists.lock();
            lists.stats.num_slabs += 1;
            lists.stats.num_objs += self.objects_per_slab as u64;
            self.partial_push(&mut lists, p);
        };
        let obj = head.mapping.load(Ordering::Relaxed);
        let stride = self.stride_of_free(obj);
        let next = self.read_freeptr(stride);
        head.mapping.store(next, Ordering::Relaxed);
        let inuse = (head.index.fetch_add(1, Ordering::Relaxed) & INUSE) + 1;
        if inuse == self.objects_per_slab as u64 {
            self.partial_remove(&mut lists, head);
            lists.full.push_front(mm, head);
        }
        lists.stats.allocs += 1;
        if self.poison() {
            if let Some(off) = self.check_poison(stride) {
                self.report(&mut lists, SlabError::UseAfterFree { offset: off }, obj as *const u8);
            }
        }
        if self.debug() {
            if let Some((off, _)) = self.check_red_zones(stride, RZ_INACTIVE) {
                self.report(&mut lists, SlabError::RedZoneOverwritten { offset: off }, obj as *const u8);
            }
            self.fill_red_zones(stride, RZ_ACTIVE);
        }
        NonNull::new(obj as *mut u8)
    }

    /// The slab head page of `obj` and the physical address of `obj`, if
    /// `obj` lies in a slab of this cache.
    #[inline]
    fn slab_of(&self, obj: *const u8) -> Result<(&'static Page, PhysAddr), SlabError> {
        let pa = self.phys().phys_of(obj).ok_or(SlabError::NotOurs)?;
        let page = self.pa.page(Pfn::from_phys(pa.as_u64())).ok_or(SlabError::NotOurs)?;
        let head = self.pa.memmap.compound_head(page);
        if !head.has(PageFlags::SLAB) || head.private.load(Ordering::Relaxed) != self.cache_id() {
            return Err(SlabError::NotOurs);
        }
        Ok((head, pa))
    }

    /// `kmem_cache_free`. A pointer that is not one of our objects, or an
    /// object already free, is reported and left alone.
    #[inline]
    pub fn free(&self, obj: NonNull<u8>) -> Result<(), SlabError> {
        if !self.checks_objects() {
            if let Some(done) = self.free_active(obj.as_ptr() as u64) {
                return done;
            }
        }
        match self.slab_of(obj.as_ptr()) {
            Ok((head, obj_pa)) => self.free_in_slab(head, obj_pa, obj),
            Err(e) => Err(self.refuse(e, obj.as_ptr())),
        }
    }

    /// [`free`](Self::free) of `obj`, at physical address `obj_pa`, in the
    /// slab whose head `head` already names this cache (kmalloc's free
    /// found it through the page descriptors).
    #[inline]
    pub(crate) fn free_in_slab(
        &self,
        head: &'static Page,
        obj_pa: PhysAddr,
        obj: NonNull<u8>,
    ) -> Result<(), SlabError> {
        let obj = obj.as_ptr();
        let stride = match self.stride_in(head, obj_pa) {
            Ok(stride) => stride,
            Err(e) => return Err(self.refuse(e, obj)),
        };
        if self.checks_objects() {
            self.free_checked(head, stride, obj)
        } else {
            self.free_cpu(head, stride, obj as u64)
        }
    }

    #[cold]
    fn refuse(&self, e: SlabError, obj: *const u8) -> SlabError {
        self.report(&mut self.lists.lock(), e, obj);
        e
    }

    /// The stride of the object at `obj_pa` in the slab whose head is
    /// `head`: `NotObjectStart` unless it is an object's first byte.
    #[inline]
    fn stride_in(&self, head: &Page, obj_pa: PhysAddr) -> Result<PhysAddr, SlabError> {
        let off = obj_pa.as_u64().wrapping_sub(head.phys().as_u64()).wrapping_sub(self.obj_offset as u64);
        if !self.is_stride_start(off) {
            return Err(SlabError::NotObjectStart);
        }
        Ok(head.phys() + off)
    }

    /// Whether a stride starts `off` bytes into a slab (`off` below the
    /// strides' end and a multiple of `size`).
    #[inline]
    fn is_stride_start(&self, off: u64) -> bool {
        off < self.strides_len && self.divides.divides(off)
    }

    /// Free with debugging (or poison): under the cache lock, checking the
    /// object first.
    fn free_checked(&self, head: &'static Page, stride: PhysAddr, obj: *mut u8) -> Result<(), SlabError> {
        let mut lists = self.lists.lock();
        if self.debug() {
            if let Some((o, _)) = self.check_red_zones(stride, RZ_ACTIVE) {
                // Red zones that all say "free" mean the object is free
                // already; anything else is an overwrite. Either way the
                // object is not freed (it may be corrupt or still in use):
                // it leaks, as in SLUB.
                let err = if self.check_red_zones(stride, RZ_INACTIVE).is_none() {
                    SlabError::DoubleFree
                } else {
                    SlabError::RedZoneOverwritten { offset: o }
                };
                self.report(&mut lists, err, obj);
                return Err(err);
            }
        } else if head.mapping.load(Ordering::Relaxed) == obj as u64 {
            // Without red zones only the cheap check Linux makes with
            // CONFIG_SLAB_FREELIST_HARDENED: freeing the object that is
            // already at the head of the freelist. Debug mode finds all.
            self.report(&mut lists, SlabError::DoubleFree, obj);
            return Err(SlabError::DoubleFree);
        }
        self.mark_free(stride);
        self.write_freeptr(stride, head.mapping.load(Ordering::Relaxed));
        head.mapping.store(obj as u64, Ordering::Relaxed);
        let inuse = (head.index.fetch_sub(1, Ordering::Relaxed) & INUSE) - 1;
        lists.stats.frees += 1;
        self.slab_lost_object(lists, head, inuse);
        Ok(())
    }

    /// Move a slab no CPU owns that has just had an object freed (`inuse`
    /// now in use): off the full list, and when empty to the free list, or
    /// back to the buddy allocator if enough empty ones are kept.
    fn slab_lost_object(&self, mut lists: IrqGuard<'_, SlabLists>, head: &'static Page, inuse: u64) {
        let mm = &self.pa.memmap;
        if inuse + 1 == self.objects_per_slab as u64 {
            lists.full.remove(mm, head);
            self.partial_push(&mut lists, head);
        }
        if inuse == 0 {
            self.partial_remove(&mut lists, head);
            if lists.free.len() >= min_free_slabs(self.size) {
                lists.stats.num_slabs -= 1;
                lists.stats.num_objs -= self.objects_per_slab as u64;
                drop(lists);
                self.discard_slab(head);
            } else {
                lists.free.push_front(mm, head);
            }
        }
    }

    /// Give empty slabs beyond `min_free_slabs` back to the buddy allocator
    /// (the locked path does it as each slab empties; slabs a CPU hands back
    /// land on the free list first). Takes the cache lock; the pages go
    /// back after it is dropped.
    pub(super) fn trim_free_slabs(&self) {
        loop {
            let slab = {
                let mut lists = self.lists.lock();
                if lists.free.len() <= min_free_slabs(self.size) {
                    return;
                }
                let Some(slab) = lists.free.pop_front(&self.pa.memmap) else { return };
                lists.stats.num_slabs -= 1;
                lists.stats.num_objs -= self.objects_per_slab as u64;
                slab
            };
            self.discard_slab(slab);
        }
    }

    /// Put a slab on the cache's partial list, keeping `nr_partial` in step.
    fn partial_push(&self, lists: &mut SlabLists, head: &'static Page) {
        lists.partial.push_front(&self.pa.memmap, head);
        self.nr_partial.store(lists.partial.len(), Ordering::Relaxed);
    }

    /// Take a slab off the cache's partial list, keeping `nr_partial` in step.
    fn partial_remove(&self, lists: &mut SlabLists, head: &'static Page) {
        lists.partial.remove(&self.pa.memmap, head);
        self.nr_partial.store(lists.partial.len(), Ordering::Relaxed);
    }

    /// `kmem_cache_shrink`: flush the per-CPU slabs, then give every empty
    /// slab back. Returns pages freed.
    pub fn shrink(&self) -> u64 {
        self.flush_cpus(LockWait::Wait);
        self.discard_free_slabs()
    }

    fn discard_free_slabs(&self) -> u64 {
        let mm = &self.pa.memmap;
        let mut freed = 0;
        loop {
            let mut lists = self.lists.lock();
            let Some(head) = lists.free.pop_front(mm) else { break };
            lists.stats.num_slabs -= 1;
            lists.stats.num_objs -= self.objects_per_slab as u64;
            drop(lists);
            self.discard_slab(head);
            freed += self.slab_pages();
        }
        freed
    }

    /// `shrink`, unless the cache is locked right now (reclaim from inside
    /// an allocation).
    pub fn try_shrink(&self) -> u64 {
        if self.lists.is_locked() {
            return 0;
        }
        self.flush_cpus(LockWait::Try);
        self.discard_free_slabs()
    }

    /// `kmem_cache_destroy`: refuses (and says so) while objects are in use.
    pub fn destroy(&self) -> Result<(), SlabError> {
        let active = self.stats().active_objs;
        if active > 0 {
            log::error!("kmem_cache_destroy {}: Slab cache still has objects ({} in use)", self.name, active);
            return Err(SlabError::StillInUse { objects: active });
        }
        self.shrink();
        Ok(())
    }

    /// The cache's counters, the CPUs' added in (CPU by CPU, so only exact
    /// while nobody allocates).
    pub fn stats(&self) -> CacheStats {
        let (allocs, frees, cpu_active_slabs) = self.cpu_counts();
        let lists = self.lists.lock();
        let mut s = lists.stats;
        s.allocs += allocs;
        s.frees += frees;
        s.active_objs = s.allocs.saturating_sub(s.frees);
        s.active_slabs = lists.partial.len() + lists.full.len() + cpu_active_slabs;
        s
    }

    pub fn last_error(&self) -> Option<SlabError> {
        self.lists.lock().last_error
    }

    /// Pages held by the cache's slabs.
    pub fn pages(&self) -> u64 {
        self.stats().num_slabs * self.slab_pages()
    }

    /// Whether `obj` lies in one of this cache's slabs.
    pub fn owns(&self, obj: *const u8) -> bool {
        self.slab_of(obj).is_ok()
    }

    /// The cache of the slab `obj` lies in, found through the page
    /// descriptor (`virt_to_slab(obj)->slab_cache`), if it is one of
    /// `candidates`. Checking against a known list keeps a stray pointer
    /// from being taken for a cache.
    pub fn of_object(
        pa: &PageAllocator,
        obj: *const u8,
        candidates: &[&'static KmemCache],
    ) -> Option<&'static KmemCache> {
        let phys = pa.phys().phys_of(obj)?;
        let page = pa.page(Pfn::from_phys(phys.as_u64()))?;
        let head = pa.memmap.compound_head(page);
        if !head.has(PageFlags::SLAB) {
            return None;
        }
        let id = head.private.load(Ordering::Relaxed);
        candidates.iter().copied().find(|c| c.cache_id() == id)
    }

    /// Check list membership, CPU ownership and counts, and that every
    /// object of every slab is in use or on exactly one freelist; panics
    /// with "slab: ..." on a broken invariant.
    pub fn check_invariants(&self) {
        let mm = &self.pa.memmap;
        let cpus = self.lock_cpus();
        let lists = self.lists.lock();
        let objects = self.objects_per_slab as u64;
        let (mut in_use, mut slabs) = (0, 0);
        for (list, kind) in [(&lists.partial, 1), (&lists.full, 2), (&lists.free, 0)] {
            for head in list.iter(mm) {
                slabs += 1;
                let n = inuse(head);
                match kind {
                    0 => assert_eq!(n, 0, "slab {}: non-empty slab on the free list", self.name),
                    2 => assert_eq!(n, objects, "slab {}: non-full slab on the full list", self.name),
                    _ => assert!(n > 0 && n < objects, "slab {}: bad slab on the partial list", self.name),
                }
                assert!(!self.is_frozen(head), "slab {}: a listed slab is frozen", self.name);
                self.check_slab_objects(head);
                in_use += n;
            }
        }
        let (mut allocs, mut frees) = (lists.stats.allocs, lists.stats.frees);
        for (slot, slow) in self.cpus.iter().zip(&cpus) {
            allocs += slot.allocs.load(Ordering::Relaxed);
            frees += slot.frees.load(Ordering::Relaxed);
            let freelist = slot.freelist.load(Ordering::Relaxed);
            match slot.slab() {
                Some(head) => {
                    let on_cpu = self.freelist_len(head, freelist);
                    let nfree = slot.nfree.load(Ordering::Relaxed);
                    assert_eq!(on_cpu, nfree, "slab {}: CPU freelist length out of date", self.name);
                    assert!(inuse(head) >= on_cpu, "slab {}: active slab count below its CPU freelist", self.name);
                    self.check_slab_objects(head);
                    in_use += inuse(head) - on_cpu;
                    slabs += 1;
                }
                None => assert!(freelist == 0, "slab {}: CPU freelist without a slab", self.name),
            }
            let partial = &slow.partial;
            assert!(partial.len() <= cpu_slab::CPU_PARTIAL_SLABS, "slab {}: CPU partial list too long", self.name);
            assert_eq!(
                slot.partial_len.load(Ordering::Relaxed),
                partial.len(),
                "slab {}: CPU partial count out of date",
                self.name
            );
            for head in slot.slab().into_iter().chain(partial.iter(mm)) {
                assert!(self.is_frozen(head), "slab {}: a CPU's slab is not frozen", self.name);
            }
            for head in partial.iter(mm) {
                self.check_slab_objects(head);
                in_use += inuse(head);
                slabs += 1;
            }
        }
        assert_eq!(in_use, allocs - frees, "slab {}: active object count out of date", self.name);
        let nr_partial = self.nr_partial.load(Ordering::Relaxed);
        assert_eq!(nr_partial, lists.partial.len(), "slab {}: partial count out of date", self.name);
        assert_eq!(slabs, lists.stats.num_slabs, "slab {}: slab count out of date", self.name);
        assert_eq!(lists.stats.num_objs, slabs * objects, "slab {}: object count out of date", self.name);
    }

    fn is_frozen(&self, head: &Page) -> bool {
        head.index.load(Ordering::Relaxed) & FROZEN != 0
    }

    /// Check a slab's objects add up: its count (in use, and for an active
    /// slab on its CPU freelist too) + its own freelist = objects per slab.
    fn check_slab_objects(&self, head: &'static Page) {
        assert!(head.has(PageFlags::SLAB), "slab {}: listed page without PG_slab", self.name);
        let own = self.freelist_len(head, head.mapping.load(Ordering::Relaxed));
        assert_eq!(
            inuse(head) + own,
            self.objects_per_slab as u64,
            "slab {}: objects in use and free do not add up",
            self.name
        );
    }

    /// Length of a freelist starting at `first`, checking each object is
    /// one of the slab's (and that the list ends).
    fn freelist_len(&self, head: &'static Page, first: u64) -> u64 {
        let (start, end) = (head.phys(), head.phys() + (self.objects_per_slab as usize * self.size) as u64);
        let (mut n, mut obj) = (0, first);
        while obj != 0 {
            let stride = self.stride_of_free(obj);
            assert!(stride >= start && stride < end, "slab {}: freelist object {obj:#x} outside its slab", self.name);
            n += 1;
            assert!(n <= self.objects_per_slab as u64, "slab {}: freelist loops", self.name);
            obj = self.read_freeptr(stride);
        }
        n
    }
}

/// Every cache, for /proc/slabinfo and shrinking under pressure.
pub struct CacheRegistry {
    caches: IrqLock<Vec<&'static KmemCache>>,
}

impl Default for CacheRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl CacheRegistry {
    pub const fn new() -> Self {
        CacheRegistry { caches: IrqLock::new(Vec::new()) }
    }

    pub fn register(&self, c: &'static KmemCache) {
        self.caches.lock().push(c);
    }

    /// A snapshot of the registered caches.
    pub fn caches(&self) -> Vec<&'static KmemCache> {
        self.caches.lock().clone()
    }

    /// Shrink every cache; returns pages freed. Caches (or the registry)
    /// locked by the caller's own allocation are skipped.
    pub fn shrink_all(&self) -> u64 {
        // Under the registry lock, without copying the list: reclaim must
        // not allocate.
        let Some(list) = self.caches.try_lock() else { return 0 };
        list.iter().map(|c| c.try_shrink()).sum()
    }
}

/// A divisibility test by a constant `d` with one multiplication (Hacker's
/// Delight 10-16, as compilers divide by constants): with `d = d' * 2^k`,
/// `d'` odd and `inv` its inverse modulo 2^64, `n` is a multiple of `d`
/// exactly when `(n * inv) rotated right by k <= (2^64 - 1) / d`. (For a
/// multiple, `n * inv` is `n / d'`, whose low `k` bits are zero; for any
/// other `n` the rotation lands above the limit.) The free path asks this
/// of every pointer instead of dividing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Divides {
    inv: u64,
    shift: u32,
    limit: u64,
}

impl Divides {
    pub(crate) const fn new(d: u64) -> Divides {
        assert!(d > 0);
        let shift = d.trailing_zeros();
        let odd = d >> shift;
        // Newton's iteration doubles the correct low bits each step: 3
        // (odd * odd = 1 mod 8) -> 6 -> 12 -> 24 -> 48 -> 96.
        let mut inv = odd;
        let mut i = 0;
        while i < 5 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(odd.wrapping_mul(inv)));
            i += 1;
        }
        Divides { inv, shift, limit: u64::MAX / d }
    }

    #[inline]
    pub(crate) fn divides(&self, n: u64) -> bool {
        n.wrapping_mul(self.inv).rotate_right(self.shift) <= self.limit
    }
}

#[cfg(test)]
mod tests;
