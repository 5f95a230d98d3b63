//! Memory shared with a device (rings, command queues, PRP lists): zeroed
//! pages from the buddy allocator, reached through the direct map, read
//! and written as atomics of each field's size so that neither the
//! compiler nor the CPU reorders them around the publishing stores
//! (release) and the loads of what the device wrote (acquire).

// Device-shared memory is reached through raw addresses.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU64};

use mm::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn, PhysAddr};
use mm::phys::PhysMem;
use mm::phys::gfp::{GFP_KERNEL, Gfp};

/// 2^order zeroed pages owned by a driver for its life (given back when
/// dropped).
pub struct DmaPages {
    /// Physical (bus) address.
    pub pa: u64,
    va: u64,
    order: u32,
}

impl DmaPages {
    pub fn new(order: u32) -> Option<DmaPages> {
        let pfn = crate::mem::page_alloc().alloc_pages(GFP_KERNEL | Gfp::ZERO, order)?;
        let pa = pfn.0 << PAGE_SHIFT;
        Some(DmaPages { pa, va: crate::mem::direct_map().offset + pa, order })
    }

    fn len(&self) -> u64 {
        PAGE_SIZE << self.order
    }

    fn addr(&self, off: u64, size: u64) -> u64 {
        assert!(off % size == 0 && off + size <= self.len(), "dma: field at {off:#x} outside the pages");
        self.va + off
    }

    /// Copy `data` in at `off` (buffers the device reads after a
    /// publishing store).
    pub fn write(&self, off: u64, data: &[u8]) {
        assert!(off + data.len() as u64 <= self.len(), "dma: write outside the pages");
        let _ = crate::mem::direct_map().write(PhysAddr::new(self.pa + off), data);
    }

    /// Copy out what the device wrote at `off`.
    pub fn read(&self, off: u64, buf: &mut [u8]) {
        assert!(off + buf.len() as u64 <= self.len(), "dma: read outside the pages");
        let _ = crate::mem::direct_map().read(PhysAddr::new(self.pa + off), buf);
    }

    pub fn at16(&self, off: u64) -> &AtomicU16 {
        // SAFETY: `addr` checked the field is aligned and inside the pages,
        // which this value owns while the reference lives.
        unsafe { &*(self.addr(off, 2) as *const AtomicU16) }
    }

    pub fn at32(&self, off: u64) -> &AtomicU32 {
        // SAFETY: as in `at16`.
        unsafe { &*(self.addr(off, 4) as *const AtomicU32) }
    }

    pub fn at64(&self, off: u64) -> &AtomicU64 {
        // SAFETY: as in `at16`.
        unsafe { &*(self.addr(off, 8) as *const AtomicU64) }
    }
}

impl Drop for DmaPages {
    fn drop(&mut self) {
        let _ = crate::mem::page_alloc().free_pages(Pfn(self.pa >> PAGE_SHIFT), self.order);
    }
}
