//! GFP ("get free pages") flags: what an allocation may use and how it
//! should behave (cf. include/linux/gfp_types.h). Bit values follow Linux's.

use bitflags::bitflags;

use crate::phys::buddy::MigrateType;
use crate::phys::zone::ZoneType;

bitflags! {
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Gfp: u32 {
        /// Only ZONE_DMA.
        const DMA         = 0x01;
        /// ZONE_DMA32 or below.
        const DMA32       = 0x04;
        /// The page can be migrated or reclaimed: movable pageblocks.
        const MOVABLE     = 0x08;
        /// Reclaimable kernel memory (slab caches that shrink).
        const RECLAIMABLE = 0x10;
        /// May dip into the reserves below the min watermark.
        const HIGH        = 0x20;
        /// Return zeroed memory.
        const ZERO        = 0x100;
        /// May reclaim (MADV_FREE pages, caches) and invoke the OOM killer.
        const DIRECT_RECLAIM = 0x400;
        /// No warning on failure.
        const NOWARN      = 0x2000;
        /// A compound page: head and tails are marked.
        const COMP        = 0x40000;
        /// Only the requested node, no fallback.
        const THISNODE    = 0x200000;
    }
}

/// Ordinary kernel allocation.
pub const GFP_KERNEL: Gfp = Gfp::DIRECT_RECLAIM;
/// From a context that must not wait; may use some reserves.
pub const GFP_ATOMIC: Gfp = Gfp::HIGH;
/// User memory: movable, zeroed by the caller when needed.
pub const GFP_HIGHUSER_MOVABLE: Gfp = Gfp::MOVABLE.union(Gfp::DIRECT_RECLAIM);
pub const GFP_DMA: Gfp = Gfp::DMA;
pub const GFP_DMA32: Gfp = Gfp::DMA32;

impl Gfp {
    /// Highest zone the allocation may use (`gfp_zone`).
    #[inline]
    pub fn highest_zone(self) -> ZoneType {
        if self.contains(Gfp::DMA) {
            ZoneType::Dma
        } else if self.contains(Gfp::DMA32) {
            ZoneType::Dma32
        } else {
            ZoneType::Normal
        }
    }

    /// Migrate type of the allocation (`gfp_migratetype`).
    #[inline]
    pub fn migratetype(self) -> MigrateType {
        if self.contains(Gfp::MOVABLE) {
            MigrateType::Movable
        } else if self.contains(Gfp::RECLAIMABLE) {
            MigrateType::Reclaimable
        } else {
            MigrateType::Unmovable
        }
    }
}
