//! The virtio PCI transports and the split virtqueue (cf.
//! drivers/virtio/virtio_pci_modern.c, virtio_pci_legacy.c, virtio_ring.c;
//! the OASIS virtio 1.1 specification, sections 2.6, 4.1 and 4.1.4.8).
//!
//! A device that offers the modern capabilities is driven through them
//! ([`Modern`], here); a legacy-only one (virtio 0.9.5, QEMU's
//! `disable-modern=on`) through its I/O-port register file
//! ([`Legacy`], virtio_legacy.rs). Both hand out the same [`Queue`]: only
//! where the rings sit in their pages and how the device is notified
//! differ, so there is one copy of the ring logic.
//!
//! ```text
//!   modern: capabilities (vendor 0x09) -> common config, notify, ISR, device config
//!   reset; ACKNOWLEDGE|DRIVER; features (VERSION_1 + the driver's);
//!   FEATURES_OK; queue 0: size, MSI-X entry, rings' addresses, enable;
//!   DRIVER_OK
//!
//!   one zeroed block of pages per queue:
//!                        modern (size <= 128)   legacy (size fixed by the device)
//!     descriptor table   page 0                 0             16 bytes x size
//!     available ring     page 1                 16 x size     flags, idx, ring[size]
//!     used ring          page 2                 next 4096     flags, idx, ring[size] of (id, len)
//! ```
//!
//! The rings are shared with the device (dma.rs): release ordering before
//! a publishing index store, acquire after reading the device's index.
//!
//! Locks: none here; the driver serialises a queue's use under its lock.

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use arch::pci::IoBar;

use super::dma::DmaPages;
pub use super::virtio_legacy::Legacy;
use crate::platform::pci::{
    self, Bar, CAP_VENDOR, Device, mmio_read8, mmio_read16, mmio_read32, mmio_write8, mmio_write16, mmio_write32,
    mmio_write64,
};

pub const VENDOR: u16 = 0x1af4;

const CFG_COMMON: u8 = 1;
const CFG_NOTIFY: u8 = 2;
const CFG_DEVICE: u8 = 4;

// Common configuration registers.
const DEVICE_FEATURE_SELECT: u64 = 0x00;
const DEVICE_FEATURE: u64 = 0x04;
const DRIVER_FEATURE_SELECT: u64 = 0x08;
const DRIVER_FEATURE: u64 = 0x0c;
const MSIX_CONFIG: u64 = 0x10;
const DEVICE_STATUS: u64 = 0x14;
const QUEUE_SELECT: u64 = 0x16;
const QUEUE_SIZE: u64 = 0x18;
const QUEUE_MSIX_VECTOR: u64 = 0x1a;
const QUEUE_ENABLE: u64 = 0x1c;
const QUEUE_NOTIFY_OFF: u64 = 0x1e;
const QUEUE_DESC: u64 = 0x20;
const QUEUE_DRIVER: u64 = 0x28;
const QUEUE_DEVICE: u64 = 0x30;

pub(super) const STATUS_ACKNOWLEDGE: u8 = 1;
pub(super) const STATUS_DRIVER: u8 = 2;
pub(super) const STATUS_DRIVER_OK: u8 = 4;
const STATUS_FEATURES_OK: u8 = 8;
pub(super) const STATUS_FAILED: u8 = 128;

pub const F_VERSION_1: u64 = 1 << 32;
pub(super) const NO_VECTOR: u16 = 0xffff;

pub const DESC_NEXT: u16 = 1;
pub const DESC_WRITE: u16 = 2;

/// Most descriptors a queue is given (the device may offer fewer).
const MAX_QUEUE: u16 = 128;

/// How a virtio PCI function is driven.
pub enum Transport {
    Modern(Modern),
    Legacy(Legacy),
}

impl Transport {
    /// The modern interface when the function offers its capabilities,
    /// else the legacy one when it is a transitional/legacy device with an
    /// I/O BAR 0, else None.
    pub fn new(d: &Device) -> Option<Transport> {
        if let Some(m) = Modern::new(d) {
            return Some(Transport::Modern(m));
        }
        Legacy::new(d).map(Transport::Legacy)
    }

    pub fn is_legacy(&self) -> bool {
        matches!(self, Transport::Legacy(_))
    }

    /// Reset, then negotiate: the driver takes `wanted` of what the device
    /// offers. Returns the features agreed.
    pub fn start(&self, wanted: u64) -> Option<u64> {
        match self {
            Transport::Modern(m) => m.start(wanted),
            Transport::Legacy(l) => l.start(wanted),
        }
    }

    /// Set up queue `index` with MSI-X entry `msix` (or none).
    pub fn setup_queue(&self, index: u16, msix: Option<u16>) -> Option<Queue> {
        match self {
            Transport::Modern(m) => m.setup_queue(index, msix),
            Transport::Legacy(l) => l.setup_queue(index, msix),
        }
    }

    /// The device is ready to use.
    pub fn ready(&self) {
        match self {
            Transport::Modern(m) => m.ready(),
            Transport::Legacy(l) => l.ready(),
        }
    }

    /// Device configuration at `off`.
    pub fn config32(&self, off: u64) -> u32 {
        match self {
            Transport::Modern(m) => m.config32(off),
            Transport::Legacy(l) => l.config32(off),
        }
    }

    pub fn config64(&self, off: u64) -> u64 {
        self.config32(off) as u64 | (self.config32(off + 4) as u64) << 32
    }
}

/// A modern virtio PCI function, its registers mapped.
pub struct Modern {
    common: u64,
    notify: u64,
    notify_mul: u32,
    device: u64,
}

impl Modern {
    /// Map the configuration structures the capabilities point to (None
    /// when the function does not offer them all).
    pub fn new(d: &Device) -> Option<Modern> {
        let (mut common, mut notify, mut device, mut mul) = (None, None, None, 0);
        for (off, id) in d.capabilities() {
            if id != CAP_VENDOR {
                continue;
            }
            let ty = d.read8(off + 3);
            let bar = d.read8(off + 4);
            let offset = d.read32(off + 8) as u64;
            let length = d.read32(off + 12) as u64;
            let Bar::Memory { addr, .. } = d.bar(bar) else { continue };
            let map = || pci::map_mmio(addr + offset, length.max(4), "virtio");
            match ty {
                CFG_COMMON if common.is_none() => common = map(),
                CFG_NOTIFY if notify.is_none() => {
                    mul = d.read32(off + 16);
                    notify = map()
                }
                CFG_DEVICE if device.is_none() => device = map(),
                _ => {}
            }
        }
        Some(Modern { common: common?, notify: notify?, notify_mul: mul, device: device? })
    }

    fn status(&self) -> u8 {
        mmio_read8(self.common + DEVICE_STATUS)
    }

    fn set_status(&self, s: u8) {
        mmio_write8(self.common + DEVICE_STATUS, s);
    }

    /// Reset, then negotiate: the device must offer VERSION_1; the driver
    /// takes `wanted` of the rest. Returns the features agreed.
    fn start(&self, wanted: u64) -> Option<u64> {
        self.set_status(0);
        while self.status() != 0 {
            core::hint::spin_loop();
        }
        self.set_status(STATUS_ACKNOWLEDGE);
        self.set_status(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        let mut offered = 0u64;
        for half in 0..2u32 {
            mmio_write32(self.common + DEVICE_FEATURE_SELECT, half);
            offered |= (mmio_read32(self.common + DEVICE_FEATURE) as u64) << (32 * half);
        }
        if offered & F_VERSION_1 == 0 {
            self.set_status(STATUS_FAILED);
            return None;
        }
        let agreed = offered & (wanted | F_VERSION_1);
        for half in 0..2u32 {
            mmio_write32(self.common + DRIVER_FEATURE_SELECT, half);
            mmio_write32(self.common + DRIVER_FEATURE, (agreed >> (32 * half)) as u32);
        }
        self.set_status(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
        if self.status() & STATUS_FEATURES_OK == 0 {
            self.set_status(STATUS_FAILED);
            return None;
        }
        mmio_write16(self.common + MSIX_CONFIG, NO_VECTOR);
        Some(agreed)
    }

    /// Set up queue `index` with MSI-X entry `msix` (or none).
    fn setup_queue(&self, index: u16, msix: Option<u16>) -> Option<Queue> {
        mmio_write16(self.common + QUEUE_SELECT, index);
        let max = mmio_read16(self.common + QUEUE_SIZE);
        if max == 0 {
            return None;
        }
        let size = max.min(MAX_QUEUE);
        mmio_write16(self.common + QUEUE_SIZE, size);
        let vector = msix.unwrap_or(NO_VECTOR);
        mmio_write16(self.common + QUEUE_MSIX_VECTOR, vector);
        if mmio_read16(self.common + QUEUE_MSIX_VECTOR) != vector {
            log::warn!("virtio: queue {} refused MSI-X entry {}", index, vector);
            return None;
        }
        let off = mmio_read16(self.common + QUEUE_NOTIFY_OFF) as u64;
        let notify = Notify::Mmio(self.notify + off * self.notify_mul as u64);
        let q = Queue::new(size, Layout::modern(), notify, index)?;
        mmio_write64(self.common + QUEUE_DESC, q.ring.pa);
        mmio_write64(self.common + QUEUE_DRIVER, q.ring.pa + q.layout.avail);
        mmio_write64(self.common + QUEUE_DEVICE, q.ring.pa + q.layout.used);
        mmio_write16(self.common + QUEUE_ENABLE, 1);
        Some(q)
    }

    fn ready(&self) {
        self.set_status(self.status() | STATUS_DRIVER_OK);
    }

    fn config32(&self, off: u64) -> u32 {
        mmio_read32(self.device + off)
    }
}

const PAGE: u64 = 4096;

/// Where a queue's rings sit in its pages (byte offsets from the
/// descriptor table, which starts the block).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Layout {
    pub avail: u64,
    pub used: u64,
    /// The block is 2^order pages.
    pub order: u32,
}

impl Layout {
    /// A page per ring (the modern interface takes three addresses).
    fn modern() -> Layout {
        Layout { avail: PAGE, used: 2 * PAGE, order: 2 }
    }

    /// virtio 0.9.5's `vring_init` layout with 4096 alignment: the
    /// available ring right after the descriptors, the used ring on the
    /// next 4096 boundary (the device is given only the first page's PFN).
    pub(super) fn legacy(size: u16) -> Layout {
        let size = size as u64;
        let avail = 16 * size;
        let used = (avail + 6 + 2 * size).next_multiple_of(PAGE);
        let end = used + 6 + 8 * size;
        let order = end.div_ceil(PAGE).next_power_of_two().trailing_zeros();
        Layout { avail, used, order }
    }
}

/// How the driver tells the device a queue has new buffers.
pub(super) enum Notify {
    /// Write the queue's index to this mapped register.
    Mmio(u64),
    /// Write the queue's index to this register of the I/O BAR.
    Port(IoBar, u16),
}

/// A split virtqueue: the rings, and which descriptors are free.
pub struct Queue {
    ring: DmaPages,
    layout: Layout,
    pub size: u16,
    free: Vec<u16>,
    /// Where the device's next completion will appear.
    last_used: u16,
    notify: Notify,
    index: u16,
}

impl Queue {
    pub(super) fn new(size: u16, layout: Layout, notify: Notify, index: u16) -> Option<Queue> {
        let ring = DmaPages::new(layout.order)?;
        Some(Queue { ring, layout, size, free: (0..size).rev().collect(), last_used: 0, notify, index })
    }

    /// Physical address of the descriptor table (the block's start).
    pub(super) fn pa(&self) -> u64 {
        self.ring.pa
    }

    /// Free descriptors.
    pub fn free(&self) -> usize {
        self.free.len()
    }

    /// The descriptor the next `push` takes as its chain's head.
    pub fn peek_head(&self) -> Option<u16> {
        self.free.last().copied()
    }

    /// Chain descriptors for `bufs` (physical address, length, flags:
    /// DESC_WRITE for what the device writes) and offer the chain to the
    /// device. Returns the head's index (the request's id), or None if
    /// too few descriptors are free.
    pub fn push(&mut self, bufs: &[(u64, u32, u16)]) -> Option<u16> {
        if bufs.is_empty() || bufs.len() > self.free.len() {
            return None;
        }
        let ids: Vec<u16> = (0..bufs.len()).map(|_| self.free.pop().unwrap_or(0)).collect();
        for (k, &(addr, len, flags)) in bufs.iter().enumerate() {
            let d = ids[k] as u64 * 16;
            let next = ids.get(k + 1).copied();
            self.ring.at64(d).store(addr, Ordering::Relaxed);
            self.ring.at32(d + 8).store(len, Ordering::Relaxed);
            self.ring.at16(d + 12).store(flags | if next.is_some() { DESC_NEXT } else { 0 }, Ordering::Relaxed);
            self.ring.at16(d + 14).store(next.unwrap_or(0), Ordering::Relaxed);
        }
        let avail = self.layout.avail;
        let avail_idx = self.ring.at16(avail + 2).load(Ordering::Relaxed);
        self.ring.at16(avail + 4 + 2 * (avail_idx % self.size) as u64).store(ids[0], Ordering::Relaxed);
        // The entry and the descriptors are visible before the index.
        self.ring.at16(avail + 2).store(avail_idx.wrapping_add(1), Ordering::Release);
        core::sync::atomic::fence(Ordering::SeqCst);
        match &self.notify {
            Notify::Mmio(va) => mmio_write16(*va, self.index),
            Notify::Port(bar, off) => bar.write16(*off, self.index),
        }
        Some(ids[0])
    }

    /// The next chain the device has finished: (head id, bytes written).
    /// Its descriptors stay taken until [`Self::free_chain`].
    pub fn pop_used(&mut self) -> Option<(u16, u32)> {
        let used = self.layout.used;
        let used_idx = self.ring.at16(used + 2).load(Ordering::Acquire);
        if used_idx == self.last_used {
            return None;
        }
        let e = used + 4 + 8 * (self.last_used % self.size) as u64;
        let id = self.ring.at32(e).load(Ordering::Relaxed) as u16;
        let len = self.ring.at32(e + 4).load(Ordering::Relaxed);
        self.last_used = self.last_used.wrapping_add(1);
        Some((id, len))
    }

    /// Give the descriptor chain starting at `id` back (once its request
    /// is done and its submitter is through with it).
    pub fn free_chain(&mut self, id: u16) {
        let mut d = id;
        for _ in 0..self.size {
            self.free.push(d);
            let flags = self.ring.at16(d as u64 * 16 + 12).load(Ordering::Relaxed);
            if flags & DESC_NEXT == 0 {
                break;
            }
            d = self.ring.at16(d as u64 * 16 + 14).load(Ordering::Relaxed);
        }
    }
}
