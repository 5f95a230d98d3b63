//! Zones: the address-range classes inside a node (cf. include/linux/mmzone.h).
//!
//! ```text
//!   ZONE_DMA     [0, 16 MiB)      ISA DMA can only reach here
//!   ZONE_DMA32   [16 MiB, 4 GiB)  32-bit devices
//!   ZONE_NORMAL  [4 GiB, ...)     everything else
//! ```
//!
//! Each node has all three; a zone with no RAM on that node is simply empty.
//! A zone counts its pages three ways, as Linux does: `spanned` (end - start,
//! holes included), `present` (RAM in the span) and `managed` (handed to the
//! buddy allocator: present minus boot reservations). Watermarks (min / low /
//! high) are derived from `min_free_kbytes` in proportion to the zone's
//! managed pages, and `lowmem_reserve` keeps lower zones from being drained
//! by allocations that could have used a higher zone.
//!
//! Locking: the zone lock (`free`) protects the buddy lists; every change
//! goes through [`Zone::with_free`], which publishes the free count and the
//! non-empty orders in atomics that watermark checks on any CPU read
//! without the lock. The per-CPU lists (`pcp`) have their own locks,
//! taken before the zone lock.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::phys::buddy::{FreeArea, ZoneId};
use crate::phys::pcp::ZonePcp;
use crate::sync::IrqLock;

/// Number of zone types.
pub const NR_ZONES: usize = 3;
/// End of ZONE_DMA.
pub const DMA_END: u64 = 16 << 20;
/// End of ZONE_DMA32.
pub const DMA32_END: u64 = 4 << 30;

/// `sysctl_lowmem_reserve_ratio` defaults for DMA, DMA32, NORMAL.
pub const LOWMEM_RESERVE_RATIO: [u64; NR_ZONES] = [256, 256, 32];
/// `watermark_scale_factor` default (in 1/10000 of managed pages), and
/// the range `vm.watermark_scale_factor` accepts.
pub const WATERMARK_SCALE_FACTOR: u64 = 10;
pub const WATERMARK_SCALE_FACTOR_MAX: u64 = 3000;

/// Zone type, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ZoneType {
    Dma = 0,
    Dma32 = 1,
    Normal = 2,
}

impl ZoneType {
    pub const ALL: [ZoneType; NR_ZONES] = [ZoneType::Dma, ZoneType::Dma32, ZoneType::Normal];

    /// Name as in /proc (`DMA`, `DMA32`, `Normal`).
    pub fn name(self) -> &'static str {
        match self {
            ZoneType::Dma => "DMA",
            ZoneType::Dma32 => "DMA32",
            ZoneType::Normal => "Normal",
        }
    }

    pub fn from_index(i: usize) -> ZoneType {
        match i {
            0 => ZoneType::Dma,
            1 => ZoneType::Dma32,
            _ => ZoneType::Normal,
        }
    }

    /// The zone physical address `pa` falls in.
    pub fn of_phys(pa: u64) -> ZoneType {
        if pa < DMA_END {
            ZoneType::Dma
        } else if pa < DMA32_END {
            ZoneType::Dma32
        } else {
            ZoneType::Normal
        }
    }

    pub fn of_pfn(pfn: u64) -> ZoneType {
        Self::of_phys(pfn << crate::addr::PAGE_SHIFT)
    }

    /// `[start, end)` physical range of the zone type.
    pub fn bounds(self) -> (u64, u64) {
        match self {
            ZoneType::Dma => (0, DMA_END),
            ZoneType::Dma32 => (DMA_END, DMA32_END),
            ZoneType::Normal => (DMA32_END, u64::MAX),
        }
    }
}

/// Which watermark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watermark {
    Min = 0,
    Low = 1,
    High = 2,
}

/// Per-zone event and state counters (a subset of Linux's zone stats).
/// `numa_hit` and `numa_local` here count only allocations that bypassed
/// the per-CPU lists; [`Zone::numa_hit`] and [`Zone::numa_local`] add the
/// lists' own counts.
#[derive(Default)]
pub struct ZoneCounters {
    /// Allocations satisfied on the node they asked for.
    pub numa_hit: AtomicU64,
    /// Allocations satisfied here although another node was preferred.
    pub numa_miss: AtomicU64,
    /// Allocations that preferred this node but went elsewhere.
    pub numa_foreign: AtomicU64,
    /// Allocations from the node the CPU runs on.
    pub numa_local: AtomicU64,
    pub numa_other: AtomicU64,
    /// Interleaved allocations (MPOL_INTERLEAVE) that got a page on the
    /// node the policy chose, this one (`interleave_hit`).
    pub interleave_hit: AtomicU64,
    /// Pageblocks whose migrate type changed through fallback stealing.
    pub steals: AtomicU64,
}

/// One zone of one node.
pub struct Zone {
    pub node: u32,
    pub ty: ZoneType,
    /// First pfn of the span (0 for an empty zone).
    pub start_pfn: u64,
    pub spanned: u64,
    pub present: u64,
    managed: AtomicU64,
    watermark: [AtomicU64; 3],
    lowmem_reserve: [AtomicU64; NR_ZONES],
    /// The buddy free lists, under the zone lock. Change them through
    /// [`with_free`](Self::with_free), which keeps `nr_free` in step.
    pub free: IrqLock<FreeArea>,
    /// The buddy's free pages as of the last change (Linux's
    /// `NR_FREE_PAGES`), read without the zone lock by watermark checks.
    nr_free: AtomicU64,
    /// Bit `o` set when the buddy has a free block of order `o`, as of the
    /// last change: the order > 0 watermark check reads it instead of
    /// taking the zone lock (Linux's `__zone_watermark_ok` reads the free
    /// areas' counts unlocked too).
    free_orders: AtomicU64,
    /// Per-CPU page lists (their lock comes before the zone lock).
    pub pcp: ZonePcp,
    pub counters: ZoneCounters,
}

impl Zone {
    pub fn new(node: u32, ty: ZoneType, start_pfn: u64, spanned: u64, present: u64) -> Zone {
        Zone {
            node,
            ty,
            start_pfn,
            spanned,
            present,
            managed: AtomicU64::new(0),
            watermark: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            lowmem_reserve: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            free: IrqLock::new(FreeArea::new()),
            nr_free: AtomicU64::new(0),
            free_orders: AtomicU64::new(0),
            pcp: ZonePcp::new(),
            counters: ZoneCounters::default(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.ty.name()
    }

    /// Which zone this is, for the buddy's merges.
    #[inline]
    pub fn id(&self) -> ZoneId {
        ZoneId { node: self.node, ty: self.ty }
    }

    /// Run `f` on the free lists under the zone lock and publish the new
    /// free count and non-empty orders (each store only when it changed,
    /// so the checks reading them on other CPUs keep their cache line).
    pub fn with_free<R>(&self, f: impl FnOnce(&mut FreeArea) -> R) -> R {
        let mut area = self.free.lock();
        let r = f(&mut area);
        self.publish_free(&area);
        r
    }

    /// [`with_free`](Self::with_free) if the zone lock is free now.
    pub fn try_with_free<R>(&self, f: impl FnOnce(&mut FreeArea) -> R) -> Option<R> {
        let mut area = self.free.try_lock()?;
        let r = f(&mut area);
        self.publish_free(&area);
        Some(r)
    }

    fn publish_free(&self, area: &FreeArea) {
        if self.nr_free.load(Ordering::Relaxed) != area.free_pages {
            self.nr_free.store(area.free_pages, Ordering::Relaxed);
        }
        let orders = area.nonempty_orders();
        if self.free_orders.load(Ordering::Relaxed) != orders {
            self.free_orders.store(orders, Ordering::Relaxed);
        }
    }

    pub fn end_pfn(&self) -> u64 {
        self.start_pfn + self.spanned
    }

    /// Whether `pfn` lies in the zone's span.
    pub fn spans(&self, pfn: u64) -> bool {
        pfn >= self.start_pfn && pfn < self.end_pfn()
    }

    /// Allocations satisfied on the node they asked for, every path.
    pub fn numa_hit(&self) -> u64 {
        self.counters.numa_hit.load(Ordering::Relaxed) + self.pcp.events().numa_hit
    }

    /// Allocations from the node the CPU runs on, every path.
    pub fn numa_local(&self) -> u64 {
        self.counters.numa_local.load(Ordering::Relaxed) + self.pcp.events().numa_local
    }

    #[inline]
    pub fn managed(&self) -> u64 {
        self.managed.load(Ordering::Relaxed)
    }

    pub fn add_managed(&self, n: u64) {
        self.managed.fetch_add(n, Ordering::Relaxed);
    }

    /// Whether the zone has RAM given to the buddy allocator.
    #[inline]
    pub fn is_populated(&self) -> bool {
        self.managed() > 0
    }

    #[inline]
    pub fn watermark(&self, w: Watermark) -> u64 {
        self.watermark[w as usize].load(Ordering::Relaxed)
    }

    #[inline]
    pub fn lowmem_reserve(&self, highest: ZoneType) -> u64 {
        self.lowmem_reserve[highest as usize].load(Ordering::Relaxed)
    }

    pub fn lowmem_reserves(&self) -> [u64; NR_ZONES] {
        core::array::from_fn(|i| self.lowmem_reserve[i].load(Ordering::Relaxed))
    }

    pub fn set_lowmem_reserve(&self, highest: usize, pages: u64) {
        self.lowmem_reserve[highest].store(pages, Ordering::Relaxed);
    }

    /// Free pages right now.
    pub fn free_pages(&self) -> u64 {
        self.free.lock().free_pages
    }

    /// Set min/low/high from this zone's share of `pages_min` (Linux's
    /// `__setup_per_zone_wmarks`):
    ///
    /// ```text
    /// min  = pages_min * managed / lowmem_managed
    /// gap  = max(min / 4, managed * watermark_scale_factor / 10000)
    /// low  = min + gap,  high = low + gap
    /// ```
    /// Set the min, low and high watermarks (`__setup_per_zone_wmarks`):
    /// this zone's share of `pages_min`, then gaps of a quarter of min or
    /// `scale_factor` / 10000 of the zone, whichever is larger.
    pub fn set_watermarks(&self, pages_min: u64, lowmem_managed: u64, scale_factor: u64) {
        let managed = self.managed();
        let min = if lowmem_managed == 0 { 0 } else { pages_min * managed / lowmem_managed };
        let gap = (min >> 2).max(managed * scale_factor / 10000);
        self.watermark[0].store(min, Ordering::Relaxed);
        self.watermark[1].store(min + gap, Ordering::Relaxed);
        self.watermark[2].store(min + 2 * gap, Ordering::Relaxed);
    }

    /// `zone_watermark_ok`: can an order-`order` allocation whose highest
    /// usable zone is `highest` leave at least `mark` pages plus the lowmem
    /// reserve free here? `high_access` (`__GFP_HIGH`) may dip to half of it.
    /// Pages on the per-CPU lists do not count. It reads the published
    /// free count and orders without the zone lock (Linux's
    /// `zone_watermark_fast` and `__zone_watermark_ok`), so the per-CPU
    /// fast path shares no written cache line with other CPUs; a count a
    /// moment old only decides a borderline case one way, as in Linux.
    #[inline]
    pub fn watermark_ok(&self, order: u32, mark: u64, highest: ZoneType, high_access: bool) -> bool {
        let mut min = mark;
        if high_access {
            min -= min / 2;
        }
        let min = (min + self.lowmem_reserve(highest)) as i64;
        let free = self.nr_free.load(Ordering::Relaxed) as i64 - ((1i64 << order) - 1);
        if free <= min {
            return false;
        }
        order == 0 || self.free_orders.load(Ordering::Relaxed) >> order != 0
    }
}

/// Linux's `calculate_min_free_kbytes`: `sqrt(lowmem_kbytes * 16)`,
/// clamped to [128, 262144].
pub fn default_min_free_kbytes(lowmem_pages: u64) -> u64 {
    let lowmem_kbytes = lowmem_pages * (crate::addr::PAGE_SIZE / 1024);
    int_sqrt(lowmem_kbytes * 16).clamp(128, 262_144)
}

/// Integer square root (floor).
pub fn int_sqrt(x: u64) -> u64 {
    if x < 2 {
        return x;
    }
    // Newton's method from an upper bound.
    let mut r = 1u64 << ((64 - x.leading_zeros()).div_ceil(2));
    loop {
        let next = (r + x / r) / 2;
        if next >= r {
            return r;
        }
        r = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_of_address_follows_linux_boundaries() {
        assert_eq!(ZoneType::of_phys(0), ZoneType::Dma);
        assert_eq!(ZoneType::of_phys(DMA_END - 1), ZoneType::Dma);
        assert_eq!(ZoneType::of_phys(DMA_END), ZoneType::Dma32);
        assert_eq!(ZoneType::of_phys(DMA32_END - 1), ZoneType::Dma32);
        assert_eq!(ZoneType::of_phys(DMA32_END), ZoneType::Normal);
    }

    #[test]
    fn int_sqrt_is_floor() {
        for x in [0u64, 1, 2, 3, 4, 15, 16, 17, 1 << 40, u64::MAX] {
            let r = int_sqrt(x);
            assert!(r.checked_mul(r).is_some_and(|v| v <= x), "{x}");
            assert!((r + 1).checked_mul(r + 1).is_none_or(|v| v > x), "{x}");
        }
    }

    #[test]
    fn min_free_kbytes_matches_linux_for_known_sizes() {
        // 128 MiB of lowmem: sqrt(131072 * 16) = 1448.
        assert_eq!(default_min_free_kbytes(32768), 1448);
        // Tiny machines clamp to 128.
        assert_eq!(default_min_free_kbytes(64), 128);
        // 4 GiB: sqrt(4194304*16) = 8192.
        assert_eq!(default_min_free_kbytes(1 << 20), 8192);
    }

    #[test]
    fn watermarks_scale_with_managed_pages() {
        let z = Zone::new(0, ZoneType::Dma32, 4096, 28672, 28672);
        z.add_managed(28000);
        z.set_watermarks(362, 32000, WATERMARK_SCALE_FACTOR);
        let min = 362 * 28000 / 32000;
        assert_eq!(z.watermark(Watermark::Min), min);
        let gap = (min / 4).max(28);
        assert_eq!(z.watermark(Watermark::Low), min + gap);
        assert_eq!(z.watermark(Watermark::High), min + 2 * gap);
        // vm.watermark_scale_factor = 1000 (10%): the gap is 2800 pages.
        z.set_watermarks(362, 32000, 1000);
        assert_eq!(z.watermark(Watermark::Min), min);
        assert_eq!(z.watermark(Watermark::Low), min + 2800);
        assert_eq!(z.watermark(Watermark::High), min + 5600);
    }

    #[test]
    fn the_scale_factor_sysctl_resets_every_zone_and_checks_its_range() {
        let pa = crate::testing::page_allocator(64 << 20);
        let z = pa.zones().find(|z| z.is_populated() && z.managed() > 10_000).expect("a big zone");
        let (min, low) = (z.watermark(Watermark::Min), z.watermark(Watermark::Low));
        assert!(!pa.set_watermark_scale_factor(0) && !pa.set_watermark_scale_factor(3001));
        assert_eq!(z.watermark(Watermark::Low), low, "a refused value changes nothing");
        assert!(pa.set_watermark_scale_factor(3000));
        assert_eq!(z.watermark(Watermark::Min), min);
        assert_eq!(z.watermark(Watermark::Low), min + (min / 4).max(z.managed() * 3000 / 10000));
        assert_eq!(pa.watermark_scale_factor(), 3000);
    }
}
