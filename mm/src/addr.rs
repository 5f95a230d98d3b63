//! Page-frame numbers, page sizes and alignment helpers.
//!
//! Physical and virtual addresses use the `x86_64` crate's `PhysAddr` and
//! `VirtAddr`; a [`Pfn`] names a 4 KiB frame.

use core::fmt;

pub use x86_64::{PhysAddr, VirtAddr};

pub const PAGE_SHIFT: u32 = 12;
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
pub const PAGE_MASK: u64 = !(PAGE_SIZE - 1);
/// 2 MiB: a huge page, and a pageblock (`pageblock_order`).
pub const HPAGE_SHIFT: u32 = 21;
pub const HPAGE_SIZE: u64 = 1 << HPAGE_SHIFT;
/// 1 GiB: a gigantic page.
pub const GPAGE_SIZE: u64 = 1 << 30;

/// A physical page-frame number (physical address >> 12).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pfn(pub u64);

impl Pfn {
    pub const fn from_phys(pa: u64) -> Pfn {
        Pfn(pa >> PAGE_SHIFT)
    }

    pub const fn phys(self) -> u64 {
        self.0 << PAGE_SHIFT
    }

    pub const fn add(self, n: u64) -> Pfn {
        Pfn(self.0 + n)
    }
}

impl fmt::Debug for Pfn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pfn:{:#x}", self.0)
    }
}

#[inline]
pub const fn align_down(x: u64, align: u64) -> u64 {
    x & !(align - 1)
}

/// Round up to `align` (a power of two); `None` on overflow.
#[inline]
pub const fn align_up(x: u64, align: u64) -> Option<u64> {
    match x.checked_add(align - 1) {
        Some(v) => Some(v & !(align - 1)),
        None => None,
    }
}

#[inline]
pub const fn is_aligned(x: u64, align: u64) -> bool {
    x & (align - 1) == 0
}
