//! The pools of huge pages behind hugetlb mappings, one per size (cf.
//! mm/hugetlb.c: `struct hstate`, `set_max_huge_pages`,
//! `alloc_hugetlb_folio`, `free_huge_folio`, `hugetlb_acct_memory`,
//! `alloc_bootmem_huge_page`).
//!
//! ```text
//!   2 MiB (order 9):
//!   buddy ──alloc order 9 (compound, this node only)──> pool free list ─┐
//!     ^                                                                 │ take (fault)
//!     └──── surplus page freed, or the pool shrinks ── free_page <──────┘ last put
//!
//!   1 GiB (order 18, "gigantic": above the buddy's MAX_ORDER):
//!   memblock ──1 GiB-aligned range, before the hand-off──> pool free list
//!   buddy <──── the pool shrinks: blocks of MAX_ORDER ──────────┘
//! ```
//!
//! A gigantic pool never grows at run time (Linux needs
//! `alloc_contig_range` for that, which this kernel does not have): a
//! larger `nr_hugepages` leaves the size unchanged, as a failed allocation
//! does in Linux, and it has no surplus pages (`nr_overcommit_hugepages`
//! other than 0 is refused). Its pages come from memblock at boot
//! ([`reserve_boot_gigantic`], `hugepagesz=1G hugepages=N`).
//!
//! Counters, as Linux keeps them per size (each pool is one size):
//! `nr` pages belong to the pool (free or in use), per node; `free` of
//! them are on the free lists; `resv` of the free ones are promised to
//! mappings made earlier (taken at mmap time so that a later fault cannot
//! fail, `HugePages_Rsvd`); `surplus` pages were allocated beyond the
//! persistent size (`nr_hugepages`) because `nr_overcommit_hugepages`
//! allowed it, and go back to the buddy allocator as soon as they are
//! free. The persistent size is `nr - surplus`.
//!
//! A pool page is a compound block of the pool's order marked `HUGETLB`
//! on its head.
//! Free in the pool, its head's reference count is 0; taken, the
//! references are the mappings (one per PMD entry, or PUD entry for
//! 1 GiB) and the object that holds it; [`HugePool::put`] of the last
//! one returns it here.
//!
//! Locking: one spin lock (`inner`) protects every list and counter; it
//! is taken with no other mm lock held above the buddy allocator's (the
//! buddy's zone locks nest inside it when the pool grows or shrinks).

use alloc::vec::Vec;

use crate::addr::Pfn;
use crate::phys::gfp::Gfp;
use crate::phys::numa::MAX_NUMNODES;
use crate::phys::page::PageFlags;
use crate::phys::page_alloc::PageAllocator;

/// Order of a huge page (2 MiB = 2^9 4 KiB pages).
pub const HPAGE_ORDER: u32 = 9;
/// 4 KiB pages in a huge page.
pub const HPAGE_PAGES: u64 = 1 << HPAGE_ORDER;
/// Bytes in a huge page.
pub const HPAGE_SIZE: u64 = 1 << 21;
/// Order of a gigantic page (1 GiB = 2^18 4 KiB pages).
pub const GPAGE_ORDER: u32 = 18;
/// Bytes in a gigantic page.
pub const GPAGE_SIZE: u64 = 1 << 30;

/// The page size of `bytes` given as on the command line or to hugetlbfs
/// (`2M`, `2048K`, `1G`, `1024M`, `1073741824`; Linux's `memparse`), as
/// a pool order; None for another size.
pub fn order_of_size(text: &str) -> Option<u32> {
    let t = text.trim();
    let (num, shift) = match t.as_bytes().last()? {
        b'k' | b'K' => (&t[..t.len() - 1], 10),
        b'm' | b'M' => (&t[..t.len() - 1], 20),
        b'g' | b'G' => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    let bytes = num.parse::<u64>().ok()?.checked_mul(1 << shift)?;
    match bytes {
        HPAGE_SIZE => Some(HPAGE_ORDER),
        GPAGE_SIZE => Some(GPAGE_ORDER),
        _ => None,
    }
}

/// What the command line asks of the pools (`hugepagesz=`, `hugepages=`,
/// `default_hugepagesz=`, read in order as Linux's `hugepages_setup`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HugeCmdline {
    /// Pages asked of the 2 MiB pool and of the 1 GiB pool.
    pub pages_2m: Option<u64>,
    pub pages_1g: Option<u64>,
    /// `default_hugepagesz=1G`.
    pub default_1g: bool,
}

impl HugeCmdline {
    /// Parse the `(key, value)` words in command-line order: a
    /// `hugepages=` after a `hugepagesz=` is of that size, one before any
    /// (or alone) of the default size. Unknown sizes and bad numbers are
    /// reported through `warn` and skipped (with the `hugepages=` that
    /// follows an unknown size, as Linux does).
    pub fn parse<'a>(
        words: impl Iterator<Item = (&'a str, &'a str)> + Clone,
        warn: &mut dyn FnMut(&str, &str),
    ) -> Self {
        let mut c = HugeCmdline::default();
        for (k, v) in words.clone() {
            if k == "default_hugepagesz" {
                match order_of_size(v) {
                    Some(o) => c.default_1g = o == GPAGE_ORDER,
                    None => warn(k, v),
                }
            }
        }
        // None: no size yet (the default); Some(None): an unknown one.
        let mut size: Option<Option<u32>> = None;
        for (k, v) in words {
            match k {
                "hugepagesz" => {
                    let o = order_of_size(v);
                    if o.is_none() {
                        warn(k, v);
                    }
                    size = Some(o);
                }
                "hugepages" => {
                    let order = match size {
                        None if c.default_1g => GPAGE_ORDER,
                        None => HPAGE_ORDER,
                        Some(Some(o)) => o,
                        Some(None) => continue,
                    };
                    let Ok(n) = v.parse::<u64>() else {
                        warn(k, v);
                        continue;
                    };
                    if order == GPAGE_ORDER { c.pages_1g = Some(n) } else { c.pages_2m = Some(n) }
                }
                _ => {}
            }
        }
        c
    }
}

/// Take `count` gigantic pages from memblock before the buddy allocator
/// gets the memory (`alloc_bootmem_huge_page`): 1 GiB-aligned ranges,
/// round robin over the nodes that have one. Returns each page's frame and
/// node; fewer than asked when memory runs out.
pub fn reserve_boot_gigantic(mb: &mut crate::phys::memblock::Memblock, count: u64) -> Vec<(Pfn, u32)> {
    let mut nodes: Vec<u32> = mb.memory.regions().iter().map(|r| r.nid).collect();
    nodes.sort_unstable();
    nodes.dedup();
    let mut got = Vec::new();
    let mut next = 0usize;
    while (got.len() as u64) < count && !nodes.is_empty() {
        let tries = nodes.len();
        let found = (0..tries).find_map(|k| {
            let nid = nodes[(next + k) % tries];
            mb.alloc_range_nid(GPAGE_SIZE, GPAGE_SIZE, 0, u64::MAX, nid, true, "hugetlb: gigantic page")
                .ok()
                .map(|base| (k, Pfn::from_phys(base), nid))
        });
        let Some((k, pfn, nid)) = found else { break };
        next = (next + k + 1) % tries;
        got.push((pfn, if nid == crate::phys::memblock::NUMA_NO_NODE { 0 } else { nid }));
    }
    got
}

/// A snapshot of the pool's counters (meminfo, sysfs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolCounts {
    /// Pages in the pool, free or in use (HugePages_Total).
    pub nr: u64,
    pub free: u64,
    pub resv: u64,
    pub surplus: u64,
    /// The persistent size (`/proc/sys/vm/nr_hugepages`).
    pub persistent: u64,
    pub overcommit: u64,
}

#[derive(Default)]
struct Inner {
    free: [Vec<Pfn>; MAX_NUMNODES],
    nr: [u64; MAX_NUMNODES],
    surplus: [u64; MAX_NUMNODES],
    resv: u64,
    overcommit: u64,
    /// Next node for a page the pool grows by (round robin).
    next_nid: usize,
}

impl Inner {
    fn nr(&self) -> u64 {
        self.nr.iter().sum()
    }
    fn free(&self) -> u64 {
        self.free.iter().map(|l| l.len() as u64).sum()
    }
    fn surplus(&self) -> u64 {
        self.surplus.iter().sum()
    }
}

/// The pool of one size (Linux's `hstate`).
pub struct HugePool {
    order: u32,
    /// The size exists (a gigantic one only if the CPU can map it).
    registered: core::sync::atomic::AtomicBool,
    inner: spin::Mutex<Inner>,
}

impl Default for HugePool {
    fn default() -> HugePool {
        HugePool::new()
    }
}

impl HugePool {
    /// The 2 MiB pool (always registered).
    pub fn new() -> HugePool {
        HugePool::with_order(HPAGE_ORDER, true)
    }

    /// The 1 GiB pool, not registered until [`HugePool::register`].
    pub fn gigantic() -> HugePool {
        HugePool::with_order(GPAGE_ORDER, false)
    }

    fn with_order(order: u32, registered: bool) -> HugePool {
        let registered = core::sync::atomic::AtomicBool::new(registered);
        HugePool { order, registered, inner: spin::Mutex::new(Inner::default()) }
    }

    /// Make the size exist (`hugetlb_add_hstate`; for 1 GiB, when the CPU
    /// has pdpe1gb).
    pub fn register(&self) {
        self.registered.store(true, core::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_registered(&self) -> bool {
        self.registered.load(core::sync::atomic::Ordering::Relaxed)
    }

    pub fn order(&self) -> u32 {
        self.order
    }

    /// 4 KiB pages in one page of this pool.
    pub fn pages_per_hpage(&self) -> u64 {
        1 << self.order
    }

    /// Bytes in one page of this pool.
    pub fn hpage_size(&self) -> u64 {
        crate::addr::PAGE_SIZE << self.order
    }

    /// Above the buddy allocator's largest block: no run-time growth, no
    /// surplus (`hstate_is_gigantic`).
    pub fn is_gigantic(&self) -> bool {
        self.order > crate::phys::buddy::MAX_ORDER
    }

    /// Give the pool the gigantic pages [`reserve_boot_gigantic`] took
    /// from memblock, once the memory map exists (`gather_bootmem_prealloc`):
    /// each becomes a compound page marked `HUGETLB`, free in the pool.
    pub fn add_boot_pages(&self, pa: &PageAllocator, pages: &[(Pfn, u32)]) {
        for &(pfn, nid) in pages {
            // A gigantic page spans memory-map sections: page by page.
            let Some(head) = pa.page(pfn) else {
                log::error!("hugetlb: boot page at pfn {:#x} has no descriptors", pfn.0);
                continue;
            };
            for i in 0..self.pages_per_hpage() {
                let Some(p) = pa.page(Pfn(pfn.0 + i)) else { continue };
                p.set_refcount(0);
                p.set_mapcount(0);
                if i > 0 {
                    p.set_flags(PageFlags::TAIL);
                    p.private.store(pfn.0, core::sync::atomic::Ordering::Relaxed);
                }
            }
            head.set_flags(PageFlags::HEAD | PageFlags::HUGETLB);
            head.set_order(self.order);
            pa.manage_gigantic(pfn, self.order);
            pa.vmstat.hugetlb_pages.add(self.pages_per_hpage() as i64);
            let nid = (nid as usize).min(MAX_NUMNODES - 1);
            let mut i = self.inner.lock();
            i.nr[nid] += 1;
            i.free[nid].push(pfn);
        }
    }

    pub fn counts(&self) -> PoolCounts {
        let i = self.inner.lock();
        let (nr, surplus) = (i.nr(), i.surplus());
        PoolCounts { nr, free: i.free(), resv: i.resv, surplus, persistent: nr - surplus, overcommit: i.overcommit }
    }

    /// (pages, free, surplus) of node `nid`.
    pub fn node_counts(&self, nid: usize) -> (u64, u64, u64) {
        let i = self.inner.lock();
        match i.nr.get(nid) {
            Some(&nr) => (nr, i.free[nid].len() as u64, i.surplus[nid]),
            None => (0, 0, 0),
        }
    }

    /// A fresh huge page from the buddy allocator on node `nid` only
    /// (never for a gigantic pool: no block is that large).
    fn alloc_fresh(&self, pa: &PageAllocator, nid: usize) -> Option<Pfn> {
        if self.is_gigantic() {
            return None;
        }
        let gfp = Gfp::COMP | Gfp::DIRECT_RECLAIM | Gfp::NOWARN | Gfp::THISNODE;
        let pfn = pa.alloc_pages_nodemask(nid as u32, gfp, self.order, Some(1 << nid))?;
        let head = pa.page(pfn)?;
        head.insert_flags(PageFlags::HUGETLB);
        // Free in the pool: no reference until a mapping takes it.
        head.set_refcount(0);
        pa.vmstat.hugetlb_pages.add(self.pages_per_hpage() as i64);
        Some(pfn)
    }

    /// Give a pool page back to the buddy allocator (a gigantic one as
    /// blocks of the buddy's largest order).
    fn free_fresh(&self, pa: &PageAllocator, pfn: Pfn) {
        pa.vmstat.hugetlb_pages.sub(self.pages_per_hpage() as i64);
        if self.is_gigantic() {
            pa.free_gigantic(pfn, self.order);
            return;
        }
        if let Some(head) = pa.page(pfn) {
            head.remove_flags(PageFlags::HUGETLB);
            head.set_refcount(1);
        }
        let _ = pa.free_pages(pfn, self.order);
    }

    fn nodes(pa: &PageAllocator) -> usize {
        pa.nodes.len().clamp(1, MAX_NUMNODES)
    }

    /// Set the persistent size to `count` pages (`set_max_huge_pages`):
    /// on `node` only when given, spread over the nodes otherwise. The
    /// pool grows as far as the buddy allocator can give 2 MiB blocks and
    /// shrinks by its free pages; pages in use or reserved beyond the new
    /// size become surplus and leave when freed. Returns the new size.
    pub fn set_persistent(&self, pa: &PageAllocator, node: Option<usize>, count: u64) -> u64 {
        let nodes = Self::nodes(pa);
        if node.is_some_and(|n| n >= nodes) {
            return self.counts().persistent;
        }
        // With a node, `count` is that node's size: turn it into a total.
        let count = match node {
            Some(n) => {
                let i = self.inner.lock();
                let others = i.nr() - i.surplus() - (i.nr[n] - i.surplus[n]);
                others.saturating_add(count)
            }
            None => count,
        };
        // Grow: surplus pages in use become persistent first.
        loop {
            let mut i = self.inner.lock();
            let persistent = i.nr() - i.surplus();
            if persistent >= count {
                break;
            }
            if let Some(n) = (0..nodes).find(|&n| node.is_none_or(|x| x == n) && i.surplus[n] > 0) {
                i.surplus[n] -= 1;
                continue;
            }
            let nid = match node {
                Some(n) => n,
                None => {
                    let n = i.next_nid % nodes;
                    i.next_nid = (n + 1) % nodes;
                    n
                }
            };
            drop(i);
            // Round robin: try every node once before giving up.
            let got = (0..nodes)
                .map(|k| if node.is_some() { nid } else { (nid + k) % nodes })
                .take(if node.is_some() { 1 } else { nodes })
                .find_map(|n| self.alloc_fresh(pa, n).map(|p| (n, p)));
            let Some((n, pfn)) = got else { break };
            let mut i = self.inner.lock();
            i.nr[n] += 1;
            i.free[n].push(pfn);
        }
        // Shrink: never below what is in use or promised.
        loop {
            let mut i = self.inner.lock();
            let (nr, free, surplus) = (i.nr(), i.free(), i.surplus());
            let min = i.resv + nr - free;
            let target = count.max(min);
            if nr - surplus <= target {
                break;
            }
            let pick = (0..nodes).filter(|&n| node.is_none_or(|x| x == n)).max_by_key(|&n| i.free[n].len());
            let Some(n) = pick.filter(|&n| !i.free[n].is_empty()) else { break };
            let pfn = i.free[n].pop().expect("non-empty list");
            i.nr[n] -= 1;
            drop(i);
            self.free_fresh(pa, pfn);
        }
        // What is still above the size is in use or promised: surplus,
        // freed later.
        let mut i = self.inner.lock();
        let persistent = i.nr() - i.surplus();
        if persistent > count {
            let mut extra = persistent - count;
            for n in 0..nodes {
                if node.is_some_and(|x| x != n) {
                    continue;
                }
                // Any page may turn surplus (`adjust_pool_surplus`): the
                // free ones are promised, and leave with their promise.
                let take = (i.nr[n] - i.surplus[n]).min(extra);
                i.surplus[n] += take;
                extra -= take;
            }
        }
        i.nr() - i.surplus()
    }

    /// Set `nr_overcommit_hugepages`; false (unchanged) for a non-zero
    /// value on a gigantic pool, which cannot have surplus pages (EINVAL).
    #[must_use]
    pub fn set_overcommit(&self, n: u64) -> bool {
        if n != 0 && self.is_gigantic() {
            return false;
        }
        self.inner.lock().overcommit = n;
        true
    }

    /// Promise `n` more pages to a mapping (`hugetlb_acct_memory`):
    /// surplus pages are allocated when the free ones do not cover the
    /// promises and overcommit allows it. False (nothing changed): ENOMEM.
    pub fn reserve(&self, pa: &PageAllocator, n: u64) -> bool {
        if n == 0 {
            return true;
        }
        let nodes = Self::nodes(pa);
        loop {
            let mut i = self.inner.lock();
            let free = i.free();
            if i.resv + n <= free {
                i.resv += n;
                return true;
            }
            if i.surplus() >= i.overcommit {
                return false;
            }
            let nid = i.next_nid % nodes;
            i.next_nid = (nid + 1) % nodes;
            drop(i);
            let Some((n2, pfn)) =
                (0..nodes).find_map(|k| self.alloc_fresh(pa, (nid + k) % nodes).map(|p| ((nid + k) % nodes, p)))
            else {
                return false;
            };
            let mut i = self.inner.lock();
            i.nr[n2] += 1;
            i.surplus[n2] += 1;
            i.free[n2].push(pfn);
        }
    }

    /// Take back `n` promises; surplus pages nobody needs leave.
    pub fn unreserve(&self, pa: &PageAllocator, n: u64) {
        let mut i = self.inner.lock();
        i.resv = i.resv.saturating_sub(n);
        let mut out = Vec::new();
        // return_unused_surplus_pages
        while i.surplus() > 0 && i.free() > i.resv {
            let Some(nid) = (0..MAX_NUMNODES).find(|&k| i.surplus[k] > 0 && !i.free[k].is_empty()) else { break };
            let pfn = i.free[nid].pop().expect("non-empty list");
            i.nr[nid] -= 1;
            i.surplus[nid] -= 1;
            out.push(pfn);
        }
        drop(i);
        for pfn in out {
            self.free_fresh(pa, pfn);
        }
    }

    /// A huge page for a fault, preferring node `nid` (any node after it):
    /// `reserved` when the mapping holds a promise for it, which is used
    /// up. Without one, only free pages nobody was promised, or a new
    /// surplus page. The page comes with one reference and is not zeroed.
    pub fn take(&self, pa: &PageAllocator, nid: usize, reserved: bool) -> Option<Pfn> {
        let nodes = Self::nodes(pa);
        let nid = nid.min(nodes - 1);
        let mut i = self.inner.lock();
        let free = i.free();
        let pfn = if reserved || free > i.resv {
            let n = (0..nodes).map(|k| (nid + k) % nodes).find(|&n| !i.free[n].is_empty())?;
            if reserved {
                i.resv = i.resv.saturating_sub(1);
            }
            i.free[n].pop()?
        } else {
            if i.surplus() >= i.overcommit {
                return None;
            }
            drop(i);
            let (n, pfn) =
                (0..nodes).find_map(|k| self.alloc_fresh(pa, (nid + k) % nodes).map(|p| ((nid + k) % nodes, p)))?;
            i = self.inner.lock();
            i.nr[n] += 1;
            i.surplus[n] += 1;
            pfn
        };
        drop(i);
        if let Some(head) = pa.page(pfn) {
            head.set_refcount(1);
        }
        Some(pfn)
    }

    /// Drop one reference to the huge page at `pfn`; the last one gives it
    /// back to the pool (or to the buddy allocator, if surplus).
    pub fn put(&self, pa: &PageAllocator, pfn: Pfn) {
        let Some(head) = pa.page(pfn) else { return };
        if !head.has(PageFlags::HUGETLB) || head.refcount() <= 0 {
            log::error!("hugetlb: BUG: put of pfn {:#x} that is not a used huge page", pfn.0);
            return;
        }
        if head.put() != 0 {
            return;
        }
        head.set_mapcount(0);
        let nid = (head.node() as usize).min(MAX_NUMNODES - 1);
        let mut i = self.inner.lock();
        if i.surplus[nid] > 0 {
            i.surplus[nid] -= 1;
            i.nr[nid] -= 1;
            drop(i);
            self.free_fresh(pa, pfn);
        } else {
            i.free[nid].push(pfn);
        }
    }
}

/// When anonymous memory gets transparent huge pages
/// (/sys/kernel/mm/transparent_hugepage/enabled).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThpEnabled {
    Always,
    /// Only areas marked MADV_HUGEPAGE (the default here, as in most
    /// distributions' kernels).
    Madvise,
    Never,
}

/// How hard a huge page fault tries to find 2 MiB (`defrag`): whether it
/// may reclaim and compact directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThpDefrag {
    Always,
    Defer,
    DeferMadvise,
    Madvise,
    Never,
}

/// The transparent huge page settings (vm/thp.rs uses them), and the
/// huge zero page.
pub struct ThpSettings {
    enabled: core::sync::atomic::AtomicU8,
    defrag: core::sync::atomic::AtomicU8,
    /// `use_zero_page`: read faults map the huge zero page (1, default).
    pub use_zero_page: core::sync::atomic::AtomicBool,
    /// The huge zero page's frame, once made (0: not yet).
    huge_zero: core::sync::atomic::AtomicU64,
}

impl Default for ThpSettings {
    fn default() -> ThpSettings {
        ThpSettings {
            enabled: core::sync::atomic::AtomicU8::new(1),
            defrag: core::sync::atomic::AtomicU8::new(3),
            use_zero_page: core::sync::atomic::AtomicBool::new(true),
            huge_zero: core::sync::atomic::AtomicU64::new(0),
        }
    }
}

const ENABLED: [ThpEnabled; 3] = [ThpEnabled::Always, ThpEnabled::Madvise, ThpEnabled::Never];
const DEFRAG: [ThpDefrag; 5] =
    [ThpDefrag::Always, ThpDefrag::Defer, ThpDefrag::DeferMadvise, ThpDefrag::Madvise, ThpDefrag::Never];
/// The words of the sysfs files, in Linux's order.
pub const ENABLED_WORDS: [&str; 3] = ["always", "madvise", "never"];
pub const DEFRAG_WORDS: [&str; 5] = ["always", "defer", "defer+madvise", "madvise", "never"];

impl ThpSettings {
    /// The huge zero page (2 MiB of zeros every process may map read-only,
    /// never freed), made on first use (`mm_get_huge_zero_folio`;
    /// vmstat thp_zero_page_alloc). None if no 2 MiB block can be had.
    pub fn huge_zero_page(&self, pa: &PageAllocator) -> Option<Pfn> {
        use core::sync::atomic::Ordering::{AcqRel, Acquire};
        let cur = self.huge_zero.load(Acquire);
        if cur != 0 {
            return Some(Pfn(cur));
        }
        let gfp = Gfp::COMP | Gfp::ZERO | Gfp::NOWARN;
        let pfn = pa.alloc_pages(gfp, HPAGE_ORDER)?;
        match self.huge_zero.compare_exchange(0, pfn.0, AcqRel, Acquire) {
            Ok(_) => {
                pa.vmstat.thp_zero_page_alloc.inc();
                Some(pfn)
            }
            Err(other) => {
                let _ = pa.free_pages(pfn, HPAGE_ORDER);
                Some(Pfn(other))
            }
        }
    }

    /// Whether `pfn` is (in) the huge zero page.
    pub fn is_huge_zero(&self, pfn: Pfn) -> bool {
        let z = self.huge_zero.load(core::sync::atomic::Ordering::Acquire);
        z != 0 && pfn.0 >= z && pfn.0 < z + HPAGE_PAGES
    }

    pub fn enabled(&self) -> ThpEnabled {
        ENABLED[self.enabled.load(core::sync::atomic::Ordering::Relaxed) as usize % 3]
    }

    pub fn defrag(&self) -> ThpDefrag {
        DEFRAG[self.defrag.load(core::sync::atomic::Ordering::Relaxed) as usize % 5]
    }

    /// Set `enabled` from its word; false for another word.
    pub fn set_enabled(&self, word: &str) -> bool {
        let Some(i) = ENABLED_WORDS.iter().position(|w| *w == word) else { return false };
        self.enabled.store(i as u8, core::sync::atomic::Ordering::Relaxed);
        true
    }

    pub fn set_defrag(&self, word: &str) -> bool {
        let Some(i) = DEFRAG_WORDS.iter().position(|w| *w == word) else { return false };
        self.defrag.store(i as u8, core::sync::atomic::Ordering::Relaxed);
        true
    }

    /// A sysfs file's text: every word, the chosen one in brackets.
    pub fn render(words: &[&str], chosen: usize, w: &mut dyn core::fmt::Write) -> core::fmt::Result {
        for (i, word) in words.iter().enumerate() {
            let sep = if i + 1 == words.len() { "\n" } else { " " };
            if i == chosen { write!(w, "[{word}]{sep}")? } else { write!(w, "{word}{sep}")? }
        }
        Ok(())
    }

    pub fn enabled_index(&self) -> usize {
        self.enabled.load(core::sync::atomic::Ordering::Relaxed) as usize % 3
    }

    pub fn defrag_index(&self) -> usize {
        self.defrag.load(core::sync::atomic::Ordering::Relaxed) as usize % 5
    }
}

#[cfg(test)]
mod tests;
