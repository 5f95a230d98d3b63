//! The page allocator: nodes, zonelists, the allocation and free entry
//! points, and the hand-off from memblock (cf. mm/page_alloc.c, mm/mm_init.c).
//!
//! ```text
//!   alloc_pages_node(nid, gfp, order)
//!     for pass in [low watermark, min watermark, after draining the per-CPU
//!                  lists, after reclaim (and another drain)]:
//!       for (node, zone) in zonelist(nid)        local node first, then by SLIT
//!         skip zones above gfp's highest zone, and watermark failures
//!         order <= 3: this CPU's list (pcp), refilled from the buddy in batches
//!         otherwise:  zone.free.alloc_block(order, migratetype)   -> buddy
//!     warn "page allocation failure" unless __GFP_NOWARN
//! ```
//!
//! Freed blocks of order <= 3 go to this CPU's list and reach the buddy in
//! batches (see `pcp`); pages there are not counted free until
//! [`PageAllocator::drain_all_pages`] gives them back.
//!
//! Locks, in the order they are taken: a CPU's own lists (no lock:
//! interrupts off, see `pcp`), then the zone lock (`Zone::free`). The
//! allocator's own counters are atomics.
//!
//! The fast path (order <= 3, the preferred node's first zone above its low
//! watermark) reads the zone's published free count and works on the
//! running CPU's lists with interrupts off and no lock: no lock and no
//! written cache line is shared with the other CPUs' fast paths (events are counted in the CPU's lists, the pageblock
//! type is read from the freed page's own descriptor).
//!
//! A page handed out has reference count 1; `free_pages` drops it and gives
//! the block back when it reaches 0. Freeing a free page, a reserved page or
//! a page that was never allocated is reported as a kernel error and refused
//! instead of corrupting the free lists.

use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn};
use crate::phys::PhysMem;
use crate::phys::buddy::{MAX_ORDER, PAGEBLOCK_PAGES};
use crate::phys::gfp::Gfp;
use crate::phys::memblock::{Memblock, MemblockError, NUMA_NO_NODE};
use crate::phys::numa::Topology;
use crate::phys::page::{Memmap, Page, PageFlags};
use crate::phys::pcp::{PCP_MAX_ORDER, pcp_sizes};

/// Orders above this are costly (`PAGE_ALLOC_COSTLY_ORDER`): worth
/// compacting for before reclaiming.
pub const PAGE_ALLOC_COSTLY_ORDER: u32 = 3;
use crate::phys::zone::{LOWMEM_RESERVE_RATIO, NR_ZONES, Watermark, Zone, ZoneType, default_min_free_kbytes};

/// One NUMA node (Linux's `pg_data_t`).
pub struct Node {
    pub id: u32,
    pub zones: [Zone; NR_ZONES],
    /// Fallback order for allocations that prefer this node.
    pub zonelist: Vec<(u32, ZoneType)>,
    pub start_pfn: u64,
    pub spanned: u64,
    pub present: u64,
    /// The node's LRU lists (`phys::lru`).
    pub lru: crate::phys::lru::Lruvec,
}

/// Why a free was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// No RAM descriptor for this pfn.
    NotRam,
    /// The page is already free.
    DoubleFree,
    /// The page belongs to a boot reservation or a hole.
    Reserved,
    /// The page's reference count is already 0: never allocated.
    NotAllocated,
    /// A tail page of a compound page was freed on its own.
    TailPage,
    /// The order given does not match the compound page's.
    WrongOrder,
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FreeError::NotRam => "not RAM",
            FreeError::DoubleFree => "double free",
            FreeError::Reserved => "page is reserved",
            FreeError::NotAllocated => "page was never allocated (refcount 0)",
            FreeError::TailPage => "tail page of a compound page",
            FreeError::WrongOrder => "order does not match the compound page",
        })
    }
}

/// Global allocator counters (/proc/vmstat). `pgalloc` and `pgfree` count
/// only what bypassed the per-CPU lists (orders above 3); read the totals
/// with [`PageAllocator::pgalloc`] and [`PageAllocator::pgfree`].
#[derive(Default)]
pub struct AllocStats {
    pub(crate) pgalloc: [AtomicU64; NR_ZONES],
    pub(crate) pgfree: AtomicU64,
    pub alloc_failures: AtomicU64,
    /// Direct reclaims, by the highest zone of the allocation that
    /// stalled: DMA, DMA32, Normal, Movable (Linux's allocstall_*; user
    /// pages, __GFP_MOVABLE, count as Movable as gfp_zone makes them).
    pub allocstall: [AtomicU64; 4],
    pub bad_frees: AtomicU64,
}

/// Direct-reclaim hook: try to free at least `2^order` pages; returns how
/// many were freed. Installed by the kernel (MADV_FREE pages, caches, OOM).
pub type ReclaimHook = fn(order: u32) -> u64;
/// Called when an allocation finds its zones under the low watermark
/// (Linux's `wakeup_kswapd`): from any context, with any lock held, so it
/// may only flag the work.
pub type KswapdHook = fn(nid: u32);
/// Direct compaction (`vm::compaction`, which this layer cannot name):
/// make a free block of `order` on `nid`'s zones that `gfp` allows;
/// returns whether the zones moved pages (worth another try).
pub type CompactHook = fn(pa: &PageAllocator, nid: u32, gfp: Gfp, order: u32) -> bool;
/// A high-order allocation found `nid`'s zones under the low watermark
/// (`wakeup_kcompactd`): like [`KswapdHook`], only a flag.
pub type KcompactdHook = fn(nid: u32, order: u32);

/// Whether a memory cgroup charge may be refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChargeMode {
    /// Refused over memory.max (user pages a fault or read allocates).
    MayFail,
    /// Counted even over the limit (swap-in, kernel memory that cannot wait).
    Force,
}

/// Memory cgroup charging (`memcg`), installed by the kernel, which knows
/// the running task and its group.
#[derive(Clone, Copy)]
pub struct MemcgHooks {
    /// Charge the page just allocated (the head of a compound page counts
    /// all its pages) to the running task's group as `stat`, recording the
    /// group in the descriptor; false if the group's limit refused
    /// (nothing charged then).
    pub charge: fn(page: &'static Page, stat: crate::memcg::MemcgStat, mode: ChargeMode) -> bool,
    /// Charge `page` to the group `like` is charged to, whatever the limit
    /// (a page that replaces others of that group: THP collapse).
    pub charge_like: fn(page: &'static Page, like: &'static Page),
    /// Charge `page` to group `id` as `stat`, whatever the limit (a slab
    /// of a group's own kmalloc caches); false if the group is gone.
    pub charge_to: fn(page: &'static Page, id: crate::memcg::MemcgId, stat: crate::memcg::MemcgStat) -> bool,
    /// Charge `nr` swap slots to group `id` (memory.swap.current); false
    /// if its memory.swap.max (or an ancestor's) refuses.
    pub charge_swap: fn(id: crate::memcg::MemcgId, nr: u64) -> bool,
    /// Give back `nr` swap slots charged to group `id`.
    pub uncharge_swap: fn(id: crate::memcg::MemcgId, nr: u64),
    /// Give back `nr` pages charged to group `id` as `stat` (the free path).
    pub uncharge: fn(id: crate::memcg::MemcgId, stat: Option<crate::memcg::MemcgStat>, nr: u64),
}

/// The physical page allocator of the whole machine.
pub struct PageAllocator {
    pub memmap: Memmap,
    pub nodes: Vec<Node>,
    pub topology: Topology,
    phys: &'static dyn PhysMem,
    /// `phys` as a linear map, when it is one (`PhysMem::linear`).
    linear: Option<crate::phys::LinearWindow>,
    min_free_kbytes: AtomicU64,
    /// `vm.watermark_scale_factor`.
    watermark_scale_factor: AtomicU64,
    /// Node of the CPU allocating (one CPU here).
    local_node: AtomicU32,
    /// The node of each CPU (SRAT processor affinity, set as CPUs come
    /// online; the boot CPU's node until then): "local" is the running
    /// CPU's node.
    cpu_node: [AtomicU32; crate::percpu::MAX_CPUS],
    /// Direct reclaim, installed once by the kernel.
    reclaim: spin::Once<ReclaimHook>,
    kswapd: spin::Once<KswapdHook>,
    compact: spin::Once<CompactHook>,
    kcompactd: spin::Once<KcompactdHook>,
    memcg: spin::Once<MemcgHooks>,
    /// The compaction sysctls.
    pub compact_tunables: crate::phys::frag::CompactTunables,
    /// The hugetlb pool of 2 MiB pages.
    pub hugetlb: crate::phys::hugetlb::HugePool,
    /// The hugetlb pool of 1 GiB pages (registered when the CPU maps them).
    pub hugetlb_1g: crate::phys::hugetlb::HugePool,
    /// `default_hugepagesz=1G`: the 1 GiB pool is the one /proc/meminfo's
    /// `HugePages_*` and /proc/sys/vm/nr_hugepages show.
    pub hugetlb_default_1g: core::sync::atomic::AtomicBool,
    /// Transparent huge page settings.
    pub thp: crate::phys::hugetlb::ThpSettings,
    /// Weighted interleave's node weights (1..=255, default 1;
    /// /sys/kernel/mm/mempolicy/weighted_interleave/nodeN).
    il_weights: [core::sync::atomic::AtomicU8; crate::phys::numa::MAX_NUMNODES],
    /// The weights are the defaults (weighted_interleave/auto): true
    /// until one is written.
    il_auto: core::sync::atomic::AtomicBool,
    /// The kernel's clock (ns), for rate-limiting warnings.
    clock: spin::Once<fn() -> u64>,
    /// Budget of "page allocation failure" lines (Linux's `nopage_rs`):
    /// a process can make allocations fail at will.
    warn_rs: crate::ratelimit::RateLimit,
    pub stats: AllocStats,
    /// Page counts by user (slab, page tables, stacks, anon, file, ...).
    pub vmstat: crate::phys::vmstat::VmStat,
    /// Pages given to the buddy allocator at hand-off.
    pub boot_freed_pages: AtomicU64,
    /// Boot reservations released later (init memory, bootloader memory).
    pub released_pages: AtomicU64,
}

impl PageAllocator {
    /// Build the memory map, nodes and zones from memblock (whose memory
    /// regions must already carry node ids). Nothing is free yet: call
    /// [`free_boot_memory`](Self::free_boot_memory) for the hand-off.
    pub fn new(
        mb: &mut Memblock,
        topology: Topology,
        phys: &'static dyn PhysMem,
    ) -> Result<PageAllocator, MemblockError> {
        let memmap = Memmap::build(mb, phys)?;
        let nr_nodes = topology.nr_nodes.max(1);
        let mut nodes = Vec::with_capacity(nr_nodes as usize);
        for nid in 0..nr_nodes {
            let regions: Vec<(u64, u64)> = mb
                .memory
                .regions()
                .iter()
                .filter(|r| r.nid == nid || (nid == 0 && r.nid == NUMA_NO_NODE))
                .map(|r| (r.base >> PAGE_SHIFT, r.end() >> PAGE_SHIFT))
                .collect();
            let zones = ZoneType::ALL.map(|ty| {
                let (zs, ze) = ty.bounds();
                let (zs, ze) = (zs >> PAGE_SHIFT, if ze == u64::MAX { u64::MAX } else { ze >> PAGE_SHIFT });
                let mut lo = u64::MAX;
                let mut hi = 0;
                let mut present = 0;
                for &(s, e) in &regions {
                    let (s, e) = (s.max(zs), e.min(ze));
                    if s < e {
                        lo = lo.min(s);
                        hi = hi.max(e);
                        present += e - s;
                    }
                }
                if present == 0 { Zone::new(nid, ty, 0, 0, 0) } else { Zone::new(nid, ty, lo, hi - lo, present) }
            });
            let populated: Vec<&Zone> = zones.iter().filter(|z| z.present > 0).collect();
            let start_pfn = populated.iter().map(|z| z.start_pfn).min().unwrap_or(0);
            let end_pfn = populated.iter().map(|z| z.end_pfn()).max().unwrap_or(0);
            let present = zones.iter().map(|z| z.present).sum();
            let zonelist = topology
                .nodes_by_distance(nid)
                .into_iter()
                .flat_map(|n| ZoneType::ALL.into_iter().rev().map(move |t| (n, t)))
                .collect();
            nodes.push(Node {
                id: nid,
                zones,
                zonelist,
                start_pfn,
                spanned: end_pfn - start_pfn,
                present,
                lru: crate::phys::lru::Lruvec::new(),
            });
        }
        let local = topology.cpus.first().map(|c| c.nid).unwrap_or(0);
        Ok(PageAllocator {
            memmap,
            nodes,
            topology,
            phys,
            linear: phys.linear(),
            min_free_kbytes: AtomicU64::new(0),
            watermark_scale_factor: AtomicU64::new(crate::phys::zone::WATERMARK_SCALE_FACTOR),
            local_node: AtomicU32::new(local),
            cpu_node: core::array::from_fn(|_| AtomicU32::new(local)),
            reclaim: spin::Once::new(),
            kswapd: spin::Once::new(),
            compact: spin::Once::new(),
            kcompactd: spin::Once::new(),
            memcg: spin::Once::new(),
            compact_tunables: crate::phys::frag::CompactTunables::new(),
            hugetlb: crate::phys::hugetlb::HugePool::new(),
            hugetlb_1g: crate::phys::hugetlb::HugePool::gigantic(),
            hugetlb_default_1g: core::sync::atomic::AtomicBool::new(false),
            thp: crate::phys::hugetlb::ThpSettings::default(),
            il_weights: core::array::from_fn(|_| core::sync::atomic::AtomicU8::new(1)),
            il_auto: core::sync::atomic::AtomicBool::new(true),
            clock: spin::Once::new(),
            warn_rs: crate::ratelimit::RateLimit::printk(),
            stats: AllocStats::default(),
            vmstat: crate::phys::vmstat::VmStat::default(),
            boot_freed_pages: AtomicU64::new(0),
            released_pages: AtomicU64::new(0),
        })
    }

    pub fn phys(&self) -> &'static dyn PhysMem {
        self.phys
    }

    /// `phys().ptr(pa, len)`, without the call through the seam when the
    /// window is linear.
    #[inline]
    pub fn ptr(&self, pa: crate::phys::PhysAddr, len: usize) -> Option<*mut u8> {
        match &self.linear {
            Some(w) => w.to_virt(pa, len),
            None => self.phys.ptr(pa, len),
        }
    }

    /// `phys().phys_of(va)`, without the call through the seam when the
    /// window is linear (the kernel's direct map, the host arena).
    #[inline]
    pub fn phys_of(&self, va: *const u8) -> Option<crate::phys::PhysAddr> {
        match &self.linear {
            Some(w) => w.to_phys(va),
            None => self.phys.phys_of(va),
        }
    }

    pub fn zone(&self, node: u32, ty: ZoneType) -> &Zone {
        &self.nodes[node as usize].zones[ty as usize]
    }

    /// Every zone of every node, node by node, lowest zone first.
    /// Pages allocated from zones of type `ty` (pgalloc_*).
    pub fn pgalloc(&self, ty: ZoneType) -> u64 {
        let pcp: u64 = self.zones().filter(|z| z.ty == ty).map(|z| z.pcp.events().alloc).sum();
        self.stats.pgalloc[ty as usize].load(Ordering::Relaxed) + pcp
    }

    /// Pages freed (pgfree).
    pub fn pgfree(&self) -> u64 {
        let pcp: u64 = self.zones().map(|z| z.pcp.events().free).sum();
        self.stats.pgfree.load(Ordering::Relaxed) + pcp
    }

    pub fn zones(&self) -> impl Iterator<Item = &Zone> {
        self.nodes.iter().flat_map(|n| n.zones.iter())
    }

    #[inline]
    pub fn local_node(&self) -> u32 {
        self.cpu_node[crate::percpu::this_cpu()].load(Ordering::Relaxed)
    }

    /// The boot CPU's node (what `local_node` is before CPUs are known).
    pub fn boot_node(&self) -> u32 {
        self.local_node.load(Ordering::Relaxed)
    }

    /// A task entered direct reclaim for an allocation of `gfp`.
    pub fn count_allocstall(&self, gfp: Gfp) {
        let i = if gfp.contains(Gfp::DMA) {
            0
        } else if gfp.contains(Gfp::DMA32) {
            1
        } else if gfp.contains(Gfp::MOVABLE) {
            3
        } else {
            2
        };
        self.stats.allocstall[i].fetch_add(1, Ordering::Relaxed);
    }

    /// CPU `cpu` is on node `nid` (ignored for a node that does not exist).
    pub fn set_cpu_node(&self, cpu: usize, nid: u32) {
        if let (Some(slot), true) = (self.cpu_node.get(cpu), (nid as usize) < self.nodes.len()) {
            slot.store(nid, Ordering::Relaxed);
        }
    }

    /// Install the direct-reclaim hook (once; a second hook is ignored).
    pub fn set_reclaim_hook(&self, hook: ReclaimHook) {
        self.reclaim.call_once(|| hook);
    }

    /// Install the background-reclaim wake-up (once).
    pub fn set_kswapd_hook(&self, hook: KswapdHook) {
        self.kswapd.call_once(|| hook);
    }

    /// Weighted interleave's weight of every node.
    pub fn interleave_weights(&self) -> [u8; crate::phys::numa::MAX_NUMNODES] {
        core::array::from_fn(|n| self.il_weights[n].load(Ordering::Relaxed))
    }

    /// Set node `nid`'s interleave weight: 1..=255 (0 and a node that
    /// does not exist are refused, as Linux's sysfs store refuses them).
    pub fn set_interleave_weight(&self, nid: u32, w: u8) -> bool {
        if w == 0 || nid >= self.nr_nodes() {
            return false;
        }
        self.il_weights.get(nid as usize).is_some_and(|a| {
            a.store(w, Ordering::Relaxed);
            self.il_auto.store(false, Ordering::Relaxed);
            true
        })
    }

    /// Whether the weights are the defaults (`auto`).
    pub fn interleave_weights_auto(&self) -> bool {
        self.il_auto.load(Ordering::Relaxed)
    }

    /// `auto` written: true puts every weight back to its default (1:
    /// no memory bandwidth is known here), false keeps them as they are.
    pub fn set_interleave_weights_auto(&self, on: bool) {
        if on {
            for w in &self.il_weights {
                w.store(1, Ordering::Relaxed);
            }
        }
        self.il_auto.store(on, Ordering::Relaxed);
    }

    /// Install direct compaction (once).
    pub fn set_compact_hook(&self, hook: CompactHook) {
        self.compact.call_once(|| hook);
    }

    /// Install memory cgroup charging (once).
    pub fn set_memcg_hooks(&self, hooks: MemcgHooks) {
        self.memcg.call_once(|| hooks);
    }

    /// Charge the user page at `pfn` (just allocated, its kind flags set)
    /// to the running task's memory cgroup as `stat`: false if the group
    /// refused (the caller frees the page and fails like an allocation).
    /// Without cgroups everything is accepted.
    pub fn memcg_charge(&self, pfn: Pfn, stat: crate::memcg::MemcgStat, mode: ChargeMode) -> bool {
        match (self.memcg.get(), self.memmap.page(pfn)) {
            (Some(h), Some(p)) => (h.charge)(p, stat, mode),
            _ => true,
        }
    }

    /// Charge the page at `new` to the group of the page at `like` (if
    /// that one is charged), counted as it is.
    pub fn memcg_charge_like(&self, new: Pfn, like: Pfn) {
        if let (Some(h), Some(n), Some(l)) = (self.memcg.get(), self.memmap.page(new), self.memmap.page(like)) {
            (h.charge_like)(n, l);
        }
    }

    /// Charge the page at `pfn` (a compound head counts all its pages) to
    /// group `id` as `stat`, over the limit if need be.
    pub fn memcg_charge_to(&self, pfn: Pfn, id: crate::memcg::MemcgId, stat: crate::memcg::MemcgStat) -> bool {
        match (self.memcg.get(), self.memmap.page(pfn)) {
            (Some(h), Some(p)) => (h.charge_to)(p, id, stat),
            _ => false,
        }
    }

    /// Charge `nr` swap slots to group `id`: false if refused.
    pub fn memcg_charge_swap(&self, id: crate::memcg::MemcgId, nr: u64) -> bool {
        self.memcg.get().is_none_or(|h| (h.charge_swap)(id, nr))
    }

    pub fn memcg_uncharge_swap(&self, id: crate::memcg::MemcgId, nr: u64) {
        if let Some(h) = self.memcg.get() {
            (h.uncharge_swap)(id, nr);
        }
    }

    /// Install the kcompactd wake-up (once).
    pub fn set_kcompactd_hook(&self, hook: KcompactdHook) {
        self.kcompactd.call_once(|| hook);
    }

    /// Whether every populated zone of node `nid` has at least its `mark`
    /// free (kswapd's "balanced" when `mark` is the high watermark).
    pub fn node_balanced(&self, nid: u32, mark: Watermark) -> bool {
        self.nodes
            .get(nid as usize)
            .is_none_or(|n| n.zones.iter().filter(|z| z.is_populated()).all(|z| z.free_pages() >= z.watermark(mark)))
    }

    /// Free pages in node `nid`'s buddy allocators.
    pub fn node_free_pages(&self, nid: u32) -> u64 {
        self.nodes.get(nid as usize).map_or(0, |n| n.zones.iter().map(Zone::free_pages).sum())
    }

    /// Nodes.
    pub fn nr_nodes(&self) -> u32 {
        self.nodes.len() as u32
    }

    /// Give the allocator a clock (ns since boot) for its rate limits.
    pub fn set_clock(&self, now_ns: fn() -> u64) {
        self.clock.call_once(|| now_ns);
    }

    /// Whether a "page allocation failure" line may be printed now (10
    /// per 5 s, as Linux's warn_alloc); reports the ones dropped.
    fn warn_allowed(&self) -> bool {
        let now = self.clock.get().map_or(0, |f| f());
        match self.warn_rs.check(now) {
            crate::ratelimit::Verdict::Print { suppressed } => {
                if suppressed > 0 {
                    log::warn!("warn_alloc: {} callbacks suppressed", suppressed);
                }
                true
            }
            crate::ratelimit::Verdict::Suppress => false,
        }
    }

    #[inline]
    fn zone_of(&self, page: &Page) -> Option<&Zone> {
        self.nodes.get(page.node() as usize).map(|n| &n.zones[page.zone_type() as usize])
    }

    /// `memblock_free_all`: hand every free memblock range to the buddy
    /// allocators in the largest naturally aligned blocks. Returns pages.
    pub fn free_boot_memory(&self, mb: &Memblock) -> u64 {
        let mut total = 0;
        mb.for_each_free_range(NUMA_NO_NODE, |s, e, _| {
            let (mut pfn, end) = (s.div_ceil(PAGE_SIZE), e >> PAGE_SHIFT);
            while pfn < end {
                let mut order = (pfn.trailing_zeros()).min(MAX_ORDER);
                while pfn + (1 << order) > end {
                    order -= 1;
                }
                total += self.free_boot_block(pfn, order);
                pfn += 1 << order;
            }
        });
        self.boot_freed_pages.fetch_add(total, Ordering::Relaxed);
        total
    }

    /// The pool of the default huge page size (`default_hstate`).
    pub fn default_hugetlb(&self) -> &crate::phys::hugetlb::HugePool {
        if self.hugetlb_default_1g.load(Ordering::Relaxed) { &self.hugetlb_1g } else { &self.hugetlb }
    }

    /// Every huge page size that exists, smallest first (`for_each_hstate`).
    pub fn hugetlb_pools(&self) -> impl Iterator<Item = &crate::phys::hugetlb::HugePool> {
        [&self.hugetlb, &self.hugetlb_1g].into_iter().filter(|p| p.is_registered())
    }

    /// Count a gigantic page taken from memblock at boot as managed
    /// memory of its zone, as Linux's `gather_bootmem_prealloc` does
    /// (MemTotal includes the 1 GiB pool).
    pub fn manage_gigantic(&self, pfn: Pfn, order: u32) {
        if let Some(zone) = self.page(pfn).and_then(|p| self.zone_of(p)) {
            zone.add_managed(1 << order);
        }
    }

    /// Give a gigantic page (order above MAX_ORDER, counted managed by
    /// [`Self::manage_gigantic`]) to the buddy allocator as blocks of
    /// MAX_ORDER (`free_contig_range`).
    pub fn free_gigantic(&self, pfn: Pfn, order: u32) {
        let Some(zone) = self.page(pfn).and_then(|p| self.zone_of(p)) else { return };
        let mut at = pfn.0;
        let end = pfn.0 + (1u64 << order);
        while at < end {
            let o = (at.trailing_zeros()).min(MAX_ORDER).min((end - at).ilog2());
            for i in 0..(1u64 << o) {
                if let Some(p) = self.memmap.page(Pfn(at + i)) {
                    p.reset_free();
                }
            }
            zone.with_free(|a| a.free_block(&self.memmap, zone.id(), at, o));
            at += 1 << o;
        }
    }

    /// Turn a reserved block into managed free memory.
    fn free_boot_block(&self, pfn: u64, order: u32) -> u64 {
        let Some(head) = self.memmap.page(Pfn(pfn)) else { return 0 };
        let Some(zone) = self.zone_of(head) else { return 0 };
        for i in 0..(1u64 << order) {
            if let Some(p) = self.memmap.page(Pfn(pfn + i)) {
                p.reset_free();
            }
        }
        zone.add_managed(1 << order);
        zone.with_free(|a| a.free_block(&self.memmap, zone.id(), pfn, order));
        1 << order
    }

    /// `free_reserved_area`: release pages of a boot reservation (the
    /// bootloader's memory, init memory) to the buddy allocator. Pages that
    /// are not reserved RAM are skipped. Returns pages released.
    pub fn release_reserved(&self, start: u64, end: u64) -> u64 {
        let mut n = 0;
        for pfn in start.div_ceil(PAGE_SIZE)..end >> PAGE_SHIFT {
            let Some(p) = self.memmap.page(Pfn(pfn)) else { continue };
            let f = p.flags();
            if !f.contains(PageFlags::RESERVED) || f.intersects(PageFlags::HOLE | PageFlags::KERNEL | PageFlags::MEMMAP)
            {
                continue;
            }
            n += self.free_boot_block(pfn, 0);
        }
        self.released_pages.fetch_add(n, Ordering::Relaxed);
        n
    }

    /// Compute min_free_kbytes (Linux's default unless given), the
    /// watermarks of every zone, the lowmem reserves and the per-CPU lists'
    /// sizes.
    pub fn setup_watermarks(&self, min_free_kbytes: Option<u64>) {
        let lowmem: u64 = self.zones().map(Zone::managed).sum();
        let mfk = min_free_kbytes.unwrap_or_else(|| default_min_free_kbytes(lowmem));
        self.min_free_kbytes.store(mfk, Ordering::Relaxed);
        let pages_min = mfk >> (PAGE_SHIFT - 10);
        for z in self.zones() {
            z.set_watermarks(pages_min, lowmem, self.watermark_scale_factor());
        }
        for node in &self.nodes {
            for i in 0..NR_ZONES {
                let z = &node.zones[i];
                let clear = z.managed() == 0;
                let mut upper = 0;
                for j in (i + 1)..NR_ZONES {
                    upper += node.zones[j].managed();
                    z.set_lowmem_reserve(j, if clear { 0 } else { upper / LOWMEM_RESERVE_RATIO[i] });
                }
            }
        }
        self.update_pcp_sizes();
    }

    /// Size every zone's per-CPU lists for its managed pages, its low
    /// watermark and the number of possible CPUs (Linux's
    /// `zone_pcp_update`; call again when that number changes).
    pub fn update_pcp_sizes(&self) {
        let cpus = crate::percpu::nr_cpus() as u64;
        for z in self.zones() {
            let (high, batch) = pcp_sizes(z.managed(), z.watermark(Watermark::Low), cpus);
            z.pcp.set_sizes(high, batch);
        }
    }

    /// Give the pages on every CPU's lists in every zone back to the buddy
    /// (Linux's `drain_all_pages`: each CPU drains its own, asked by
    /// `percpu::call_on`, an IPI in the kernel). Returns the pages given
    /// back.
    pub fn drain_all_pages(&self) -> u64 {
        self.zones().map(|z| z.pcp.drain_all(&self.memmap, z)).sum()
    }

    /// Pages on the per-CPU lists of every zone (not counted free).
    pub fn nr_pcp_pages(&self) -> u64 {
        self.zones().map(|z| z.pcp.total()).sum()
    }

    pub fn min_free_kbytes(&self) -> u64 {
        self.min_free_kbytes.load(Ordering::Relaxed)
    }

    pub fn watermark_scale_factor(&self) -> u64 {
        self.watermark_scale_factor.load(Ordering::Relaxed)
    }

    /// `vm.watermark_scale_factor` (1..=3000): the low and high marks move
    /// apart from min, and every zone's marks are set again. False
    /// outside the range (EINVAL), nothing changed.
    pub fn set_watermark_scale_factor(&self, v: u64) -> bool {
        if !(1..=crate::phys::zone::WATERMARK_SCALE_FACTOR_MAX).contains(&v) {
            return false;
        }
        self.watermark_scale_factor.store(v, Ordering::Relaxed);
        self.setup_watermarks(Some(self.min_free_kbytes()));
        true
    }

    /// Allocate `2^order` pages on the local node.
    #[inline]
    pub fn alloc_pages(&self, gfp: Gfp, order: u32) -> Option<Pfn> {
        self.alloc_pages_node(self.local_node(), gfp, order)
    }

    /// Allocate `2^order` pages, preferring node `nid`.
    #[inline]
    pub fn alloc_pages_node(&self, nid: u32, gfp: Gfp, order: u32) -> Option<Pfn> {
        self.alloc_pages_nodemask(nid, gfp, order, None)
    }

    /// Allocate `2^order` pages, preferring node `nid`, from the nodes of
    /// `mask` only (bit n: node n; None: any node), as a memory policy's
    /// MPOL_BIND asks (`__alloc_pages` with a nodemask).
    #[inline]
    pub fn alloc_pages_nodemask(&self, nid: u32, gfp: Gfp, order: u32, mask: Option<u64>) -> Option<Pfn> {
        let fast = mask.is_none_or(|m| m & (1 << nid) != 0);
        if order <= PCP_MAX_ORDER && fast {
            if let Some(pfn) = self.alloc_pcp_fast(nid, gfp, order) {
                return Some(pfn);
            }
        }
        self.alloc_pages_slow(nid, gfp, order, mask)
    }

    /// The fast path (Linux's first `get_page_from_freelist` pass, reduced
    /// to its common case): the first zone of `nid`'s zonelist (its own
    /// highest populated zone `gfp` allows) above the low watermark, this
    /// CPU's list there. None sends the caller through the full zonelist
    /// walk, which tries this zone again with everything else.
    #[inline]
    fn alloc_pcp_fast(&self, nid: u32, gfp: Gfp, order: u32) -> Option<Pfn> {
        let node = self.nodes.get(nid as usize)?;
        if node.zonelist.first()?.0 != nid {
            return None;
        }
        let highest = gfp.highest_zone();
        let zone = node.zones[..=highest as usize].iter().rev().find(|z| z.is_populated())?;
        if !zone.watermark_ok(order, zone.watermark(Watermark::Low), highest, gfp.contains(Gfp::HIGH)) {
            return None;
        }
        let is_local = nid == self.local_node();
        let head = {
            let mut pcp = zone.pcp.local();
            let head = pcp.alloc(&self.memmap, zone, order, gfp.migratetype())?;
            pcp.count_alloc(order, true, is_local);
            head
        };
        if !is_local {
            self.count_alloc_slow(zone, nid, true, false);
        }
        let pfn = head.pfn();
        self.prep_new_page(head, pfn, order, gfp);
        Some(pfn)
    }

    /// Everything else: every zone of the zonelist at the low, then the
    /// min watermark, then after draining and reclaim.
    fn alloc_pages_slow(&self, nid: u32, gfp: Gfp, order: u32, mask: Option<u64>) -> Option<Pfn> {
        if order > MAX_ORDER {
            if !gfp.contains(Gfp::NOWARN) && self.warn_allowed() {
                log::warn!("page allocation failure: order:{} exceeds MAX_ORDER {}", order, MAX_ORDER);
            }
            return None;
        }
        let nid = if (nid as usize) < self.nodes.len() { nid } else { self.local_node() };
        let highest = gfp.highest_zone();
        if let Some(pfn) = self.try_zonelist(nid, gfp, order, highest, Watermark::Low, mask) {
            return Some(pfn);
        }
        // Under the low watermark: background reclaim should start, and
        // for a large block background compaction.
        if let Some(wake) = self.kswapd.get() {
            wake(nid);
        }
        if let Some(wake) = self.kcompactd.get().filter(|_| order > 0) {
            wake(nid, order);
        }
        if let Some(pfn) = self.try_zonelist(nid, gfp, order, highest, Watermark::Min, mask) {
            return Some(pfn);
        }
        // Slow path. Pages on the per-CPU lists are free but not counted:
        // give them back and retry; then reclaim, drain what reclaim freed
        // onto the lists, and try once more at the min mark.
        if self.drain_all_pages() > 0 {
            if let Some(pfn) = self.try_zonelist(nid, gfp, order, highest, Watermark::Min, mask) {
                return Some(pfn);
            }
        }
        // Costly orders compact before they reclaim (freeing order-0 pages
        // rarely makes a large block); every order > 0 compacts again after
        // reclaim made room for the moves (`__alloc_pages_slowpath`).
        if order > PAGE_ALLOC_COSTLY_ORDER {
            if let Some(pfn) = self.direct_compact(nid, gfp, order, highest, mask) {
                return Some(pfn);
            }
        }
        if let Some(hook) = self.reclaim.get().filter(|_| gfp.contains(Gfp::DIRECT_RECLAIM)) {
            self.count_allocstall(gfp);
            if hook(order) > 0 {
                self.drain_all_pages();
                if let Some(pfn) = self.try_zonelist(nid, gfp, order, highest, Watermark::Min, mask) {
                    return Some(pfn);
                }
            }
        }
        if order > 0 {
            if let Some(pfn) = self.direct_compact(nid, gfp, order, highest, mask) {
                return Some(pfn);
            }
        }
        self.stats.alloc_failures.fetch_add(1, Ordering::Relaxed);
        if !gfp.contains(Gfp::NOWARN) && self.warn_allowed() {
            log::warn!(
                "page allocation failure: order:{}, mode:{:#x}, nodemask=(null), preferred node {}, free {} pages",
                order,
                gfp.bits(),
                nid,
                self.nr_free_pages()
            );
        }
        None
    }

    /// Direct compaction for an allocation that may sleep, then one more
    /// try at the min watermark; counts compact_stall and whether the
    /// try succeeded (compact_success, compact_fail).
    fn direct_compact(&self, nid: u32, gfp: Gfp, order: u32, highest: ZoneType, mask: Option<u64>) -> Option<Pfn> {
        let hook = self.compact.get().filter(|_| gfp.contains(Gfp::DIRECT_RECLAIM))?;
        self.vmstat.compact_stall.inc();
        if !hook(self, nid, gfp, order) {
            self.vmstat.compact_fail.inc();
            return None;
        }
        let got = self.try_zonelist(nid, gfp, order, highest, Watermark::Min, mask);
        if got.is_some() {
            self.vmstat.compact_success.inc()
        } else {
            self.vmstat.compact_fail.inc()
        }
        got
    }

    fn try_zonelist(
        &self,
        nid: u32,
        gfp: Gfp,
        order: u32,
        highest: ZoneType,
        mark: Watermark,
        mask: Option<u64>,
    ) -> Option<Pfn> {
        let local = self.local_node();
        for &(n, ty) in &self.nodes[nid as usize].zonelist {
            if ty > highest || (gfp.contains(Gfp::THISNODE) && n != nid) || mask.is_some_and(|m| m & (1 << n) == 0) {
                continue;
            }
            let zone = self.zone(n, ty);
            if !zone.is_populated() {
                continue;
            }
            if !zone.watermark_ok(order, zone.watermark(mark), highest, gfp.contains(Gfp::HIGH)) {
                continue;
            }
            // The hot events are counted in the CPU's events, by that CPU
            // (pcp.rs, PcpEvents); NUMA misses on the zone's atomics.
            let (hit, is_local) = (n == nid, n == local);
            let got = if order <= PCP_MAX_ORDER {
                let mut pcp = zone.pcp.local();
                let got = pcp.alloc(&self.memmap, zone, order, gfp.migratetype());
                if got.is_some() {
                    pcp.count_alloc(order, hit, is_local);
                }
                got
            } else {
                zone.with_free(|a| a.alloc_block(&self.memmap, zone.id(), order, gfp.migratetype())).map(
                    |(pfn, stolen)| {
                        if stolen {
                            zone.counters.steals.fetch_add(1, Ordering::Relaxed);
                        }
                        // Counted in the CPU's events too: plain stores, no
                        // locked add on a line every CPU writes.
                        zone.pcp.local().count_alloc(order, hit, is_local);
                        self.memmap.page(Pfn(pfn)).expect("page_alloc: allocated block without descriptor")
                    },
                )
            };
            let Some(head) = got else { continue };
            if !(hit && is_local) {
                self.count_alloc_slow(zone, nid, hit, is_local);
            }
            let pfn = head.pfn();
            self.prep_new_page(head, pfn, order, gfp);
            return Some(pfn);
        }
        None
    }

    /// The allocation events not counted in the CPU's events: NUMA misses
    /// and remote allocations.
    #[cold]
    fn count_alloc_slow(&self, zone: &Zone, nid: u32, hit: bool, is_local: bool) {
        let c = &zone.counters;
        if !hit {
            c.numa_miss.fetch_add(1, Ordering::Relaxed);
            self.zone(nid, zone.ty).counters.numa_foreign.fetch_add(1, Ordering::Relaxed);
        }
        if !is_local {
            c.numa_other.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Set up the descriptors of the block at `pfn` (head descriptor
    /// `head`) just taken from the free lists (a CPU's list or the buddy).
    /// Every page arrives clean (`Page::reset_free`: the free paths and the
    /// buddy's `del` leave them so), so they are only checked; a bad one is
    /// reported and reset.
    #[inline]
    fn prep_new_page(&self, head: &'static Page, pfn: Pfn, order: u32, gfp: Gfp) {
        let compound = order > 0 && gfp.contains(Gfp::COMP);
        let block = self.memmap.block(pfn, order).expect("page_alloc: allocated block without descriptors");
        for (i, p) in block.iter().enumerate() {
            let bad =
                p.flags().intersects(PageFlags::RESERVED | PageFlags::BUDDY) || p.mapcount() != 0 || p.refcount() != 0;
            if bad {
                Self::bad_page_on_alloc(pfn.0 + i as u64, p);
                p.reset_free();
                p.set_mapcount(0);
            }
            if compound && i > 0 {
                p.set_flags(PageFlags::TAIL);
                p.private.store(pfn.0, Ordering::Relaxed);
            }
        }
        head.set_refcount(1);
        if compound {
            head.set_flags(PageFlags::HEAD);
            head.set_order(order);
        }
        if gfp.contains(Gfp::ZERO) {
            // A block from the free lists is RAM, inside the window.
            let _ = self.phys.zero_pages(pfn, order);
        }
    }

    #[cold]
    fn bad_page_on_alloc(pfn: u64, p: &Page) {
        log::error!(
            "BUG: Bad page state: pfn:{:#x} flags:{:?} refcount:{} mapcount:{} on allocation",
            pfn,
            p.flags(),
            p.refcount(),
            p.mapcount()
        );
    }

    /// Drop a reference to the block at `pfn`; free it when the last one
    /// goes. `order` must be the order it was allocated with.
    #[inline]
    pub fn free_pages(&self, pfn: Pfn, order: u32) -> Result<(), FreeError> {
        if let Some(head) = self.put_checked(pfn, order)? {
            self.free_block_now(head, pfn, order);
        }
        Ok(())
    }

    /// Drop one reference after the free checks; the head's descriptor if
    /// it was the last (the decrement and the test are one atomic step: of
    /// two tasks dropping the last two references exactly one sees zero).
    #[inline]
    fn put_checked(&self, pfn: Pfn, order: u32) -> Result<Option<&'static Page>, FreeError> {
        let head = match self.memmap.page(pfn).ok_or(FreeError::NotRam).and_then(|h| Self::check_free(h, pfn, order)) {
            Ok(head) => head,
            Err(e) => return Err(self.refuse_free(pfn, order, e)),
        };
        Ok((head.put() == 0).then_some(head))
    }

    #[cold]
    fn refuse_free(&self, pfn: Pfn, order: u32, e: FreeError) -> FreeError {
        self.stats.bad_frees.fetch_add(1, Ordering::Relaxed);
        log::error!("page_alloc: BUG: refusing to free pfn {:#x} order {}: {}", pfn.0, order, e);
        e
    }

    /// The free checks on the head descriptor `head` of `pfn`.
    #[inline]
    fn check_free(head: &'static Page, pfn: Pfn, order: u32) -> Result<&'static Page, FreeError> {
        let f = head.flags();
        if f.intersects(PageFlags::BUDDY | PageFlags::RESERVED | PageFlags::TAIL | PageFlags::HEAD) {
            if f.contains(PageFlags::BUDDY) {
                return Err(FreeError::DoubleFree);
            }
            if f.contains(PageFlags::RESERVED) {
                return Err(FreeError::Reserved);
            }
            if f.contains(PageFlags::TAIL) {
                return Err(FreeError::TailPage);
            }
            if head.order() != order {
                return Err(FreeError::WrongOrder);
            }
        }
        if head.refcount() <= 0 {
            return Err(FreeError::NotAllocated);
        }
        if order > MAX_ORDER || pfn.0 % (1 << order) != 0 {
            return Err(FreeError::WrongOrder);
        }
        Ok(head)
    }

    /// Reset the descriptors of the block at `pfn`, whose last reference
    /// just went, and give it to this CPU's lists or the buddy.
    #[inline]
    fn free_block_now(&self, head: &'static Page, pfn: Pfn, order: u32) {
        let block = self.memmap.block(pfn, order).expect("page_alloc: free of a checked pfn without descriptors");
        if let Some((id, stat)) = head.take_memcg() {
            if let Some(h) = self.memcg.get() {
                (h.uncharge)(id, stat, 1 << order);
            }
        }
        if head.has(PageFlags::LRU) {
            self.lruvec(head).del_freed(&self.memmap, head);
        }
        for (i, p) in block.iter().enumerate() {
            if p.mapcount() != 0 {
                Self::bad_page_mapped(pfn.0 + i as u64, p);
            }
            p.reset_free();
        }
        let zone = self.zone_of(head).expect("page_alloc: page with an unknown node");
        if order <= PCP_MAX_ORDER {
            // Counted in the CPU's lists (PcpEvents).
            zone.pcp.local().free(&self.memmap, zone, head, order);
        } else {
            zone.with_free(|a| a.free_block(&self.memmap, zone.id(), pfn.0, order));
            zone.pcp.local().count_free(order);
        }
    }

    #[cold]
    fn bad_page_mapped(pfn: u64, p: &Page) {
        log::error!("BUG: Bad page state: pfn:{:#x} freed while still mapped {} times", pfn, p.mapcount());
        p.set_mapcount(0);
    }

    /// Drop one reference to a user page (anonymous, file or shmem); when
    /// the last one goes the page is freed and the counters of its kind
    /// (AnonPages, Cached, Shmem) drop (Linux's `folio_put` path).
    pub fn put_user_page(&self, pfn: Pfn) {
        let Ok(Some(p)) = self.put_checked(pfn, 0) else { return };
        // The last reference: nobody else sees the page any more.
        {
            let f = p.flags();
            if f.contains(PageFlags::ANON) {
                self.vmstat.anon_pages.sub(1);
            }
            if f.intersects(PageFlags::FILE | PageFlags::SHMEM) {
                self.vmstat.file_pages.sub(1);
            }
            if f.contains(PageFlags::SHMEM) {
                self.vmstat.shmem_pages.sub(1);
            }
            if f.contains(PageFlags::MLOCKED) {
                self.vmstat.mlocked_pages.sub(1);
            }
            if f.contains(PageFlags::LAZYFREE) {
                self.vmstat.lazyfree_pages.sub(1);
            }
        }
        self.free_block_now(p, pfn, 0);
    }

    /// The LRU lists of the node `p` is on.
    #[inline]
    pub fn lruvec(&self, p: &Page) -> &crate::phys::lru::Lruvec {
        let nid = (p.node() as usize).min(self.nodes.len() - 1);
        &self.nodes[nid].lru
    }

    /// Put a new user page on its node's inactive list (`folio_add_lru`).
    pub fn lru_add(&self, pfn: Pfn) {
        self.lru_add_as(pfn, false);
    }

    /// Put a new user page on its node's active list (`active`) or
    /// inactive list.
    pub fn lru_add_as(&self, pfn: Pfn, active: bool) {
        if let Some(p) = self.memmap.page(pfn) {
            self.lruvec(p).add(&self.memmap, p, active);
        }
    }

    /// An anonymous page became lazily freeable (MADV_FREE) or stopped
    /// being: lazy pages live on the inactive file list, as Linux's
    /// `lru_lazyfree` puts them (they need no swap to go).
    pub fn lru_set_lazyfree(&self, p: &Page, lazy: bool) {
        let (set, clear) = if lazy {
            (PageFlags::empty(), PageFlags::SWAPBACKED | PageFlags::ACTIVE | PageFlags::REFERENCED)
        } else {
            (PageFlags::SWAPBACKED, PageFlags::empty())
        };
        self.lruvec(p).update(&self.memmap, p, set, clear);
    }

    /// Free pages in every zone's buddy (Linux's `NR_FREE_PAGES`: pages on
    /// the per-CPU lists are not counted; drain them for an exact count).
    pub fn nr_free_pages(&self) -> u64 {
        self.zones().map(Zone::free_pages).sum()
    }

    /// Free pages once every CPU's lists are drained: the exact count that
    /// tests and drop_caches compare against a baseline.
    pub fn drained_free_pages(&self) -> u64 {
        self.drain_all_pages();
        self.nr_free_pages()
    }

    /// Pages handed to the buddy allocators.
    pub fn nr_managed_pages(&self) -> u64 {
        self.zones().map(Zone::managed).sum()
    }

    /// RAM pages.
    pub fn nr_present_pages(&self) -> u64 {
        self.zones().map(|z| z.present).sum()
    }

    /// Descriptor of a pfn.
    #[inline]
    pub fn page(&self, pfn: Pfn) -> Option<&'static Page> {
        self.memmap.page(pfn)
    }

    /// Pageblocks per migrate type in a zone (for /proc/pagetypeinfo).
    pub fn pageblock_counts(&self, zone: &Zone) -> [u64; crate::phys::buddy::MIGRATE_TYPES] {
        let mut counts = [0; crate::phys::buddy::MIGRATE_TYPES];
        if zone.spanned == 0 {
            return counts;
        }
        let mut pfn = zone.start_pfn & !(PAGEBLOCK_PAGES - 1);
        while pfn < zone.end_pfn() {
            if let Some(p) = self.memmap.page(Pfn(pfn)) {
                if p.node() == zone.node && p.zone_type() == zone.ty && !p.has(PageFlags::HOLE) {
                    counts[crate::phys::buddy::pageblock_mt(&self.memmap, pfn) as usize] += 1;
                }
            }
            pfn += PAGEBLOCK_PAGES;
        }
        counts
    }

    /// Check every zone's free lists and per-CPU lists; returns the free
    /// pages in the buddy.
    pub fn check_invariants(&self) -> u64 {
        self.zones()
            .map(|z| {
                z.pcp.check_invariants(&self.memmap, z);
                z.free.lock().check_invariants(&self.memmap, z.id())
            })
            .sum()
    }
}

#[cfg(test)]
mod tests;
