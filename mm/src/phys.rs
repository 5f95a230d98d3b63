//! Physical memory: the seam between mm and the machine, and the layer
//! that manages page frames, bottom up:
//!
//! ```text
//! e820       firmware memory map
//! memblock   boot-time allocator: memory and reserved region arrays
//! numa       nodes, their memory ranges and SLIT distances
//! page       page descriptors (struct page) in per-section arrays
//! zone       zones per node, spans, watermarks, counters
//! buddy      per-zone free lists by order and migrate type
//! gfp        allocation flags
//! page_alloc zonelists, the allocation entry points, hand-off
//! vmstat     page counters by use
//! ```
//!
//! The seam: how mm reaches physical memory.
//!
//! mm never dereferences a physical address itself. It asks a [`PhysMem`]
//! for the kernel-virtual address of a physical range. In the kernel that is
//! the direct map (`PAGE_OFFSET + pa`); in host tests it is an offset into a
//! `Vec<u8>` arena that plays the role of RAM (see `testing`), so every
//! page-table entry, free-list link and page descriptor mm writes can be
//! checked by the tests.

pub mod buddy;
pub mod e820;
pub mod gfp;
pub mod memblock;
pub mod numa;
pub mod page;
pub mod page_alloc;
pub mod vmstat;
pub mod zone;

use crate::addr::PhysAddr;

/// A window onto physical memory.
pub trait PhysMem: Sync {
    /// Kernel pointer to `len` bytes at physical address `pa`, or `None` if
    /// the range is not covered by the window.
    fn ptr(&self, pa: PhysAddr, len: usize) -> Option<*mut u8>;

    /// Physical address of a kernel pointer obtained from [`PhysMem::ptr`].
    fn phys_of(&self, va: *const u8) -> Option<PhysAddr>;
}

/// A linear window: physical address `pa` lives at `pa + offset` for
/// `pa` in `[start, end)`. The kernel's direct map is one; so is the host
/// test arena.
#[derive(Clone, Copy, Debug)]
pub struct LinearWindow {
    pub offset: u64,
    pub start: u64,
    pub end: u64,
}

impl PhysMem for LinearWindow {
    fn ptr(&self, pa: PhysAddr, len: usize) -> Option<*mut u8> {
        let pa = pa.as_u64();
        let end = pa.checked_add(len as u64)?;
        if pa < self.start || end > self.end {
            return None;
        }
        Some(pa.wrapping_add(self.offset) as *mut u8)
    }

    fn phys_of(&self, va: *const u8) -> Option<PhysAddr> {
        let pa = (va as u64).wrapping_sub(self.offset);
        if pa < self.start || pa >= self.end {
            return None;
        }
        Some(PhysAddr::new(pa))
    }
}

/// Zero `len` bytes of physical memory.
///
/// # Safety
/// The range must be memory the caller owns (a page it just allocated).
pub unsafe fn zero_phys(mem: &dyn PhysMem, pa: PhysAddr, len: usize) {
    if let Some(p) = mem.ptr(pa, len) {
        // SAFETY: the window covers the range and the caller owns it.
        unsafe { core::ptr::write_bytes(p, 0, len) };
    }
}
