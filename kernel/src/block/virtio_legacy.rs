//! The legacy virtio PCI transport (virtio 0.9.5; the "legacy interface"
//! of transitional devices, virtio 1.1 section 4.1.4.8; cf.
//! drivers/virtio/virtio_pci_legacy.c and virtio_pci_legacy_dev.c).
//!
//! ```text
//!   BAR 0, I/O ports:
//!     0  device features  (32 bits, read)     14  queue select   (16)
//!     4  guest features   (32 bits)           16  queue notify   (16)
//!     8  queue address    (PFN of the rings)  18  device status  (8)
//!    12  queue size       (16, read only)     19  ISR status     (8, read clears)
//!    20  config MSI-X vector (16)  \ only while MSI-X is enabled (config
//!    22  queue MSI-X vector  (16)  /  changes stay unsignalled)
//!    20 or 24: device configuration
//!
//!   reset; ACKNOWLEDGE|DRIVER; guest features = offered & wanted (32 bits,
//!   no FEATURES_OK step); per queue: select, size, MSI-X vector, PFN of a
//!   4096-aligned block laid out as `vring_init` does; DRIVER_OK
//! ```
//!
//! The queue size is the device's (QEMU: 256), so the ring block is sized
//! from it (virtio.rs `Layout::legacy`). Legacy devices are PCI device ids
//! 0x1000..=0x103f (block: 0x1001); their configuration is guest-endian,
//! which on x86 is little-endian like the modern interface's.
//!
//! Locks: none here; the driver serialises a queue's use under its lock,
//! and set-up runs once at probe time.

use arch::pci::IoBar;

use super::virtio::{
    Layout, NO_VECTOR, Notify, Queue, STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_DRIVER_OK, STATUS_FAILED,
};
use crate::platform::pci::{Bar, CAP_MSIX, Device};

/// PCI device ids of legacy and transitional virtio functions.
pub const LEGACY_IDS: core::ops::RangeInclusive<u16> = 0x1000..=0x103f;

const HOST_FEATURES: u16 = 0;
const GUEST_FEATURES: u16 = 4;
const QUEUE_PFN: u16 = 8;
const QUEUE_NUM: u16 = 12;
const QUEUE_SEL: u16 = 14;
const QUEUE_NOTIFY: u16 = 16;
const STATUS: u16 = 18;
const QUEUE_VECTOR: u16 = 22;
const CONFIG_NO_MSIX: u16 = 20;
const CONFIG_MSIX: u16 = 24;

/// The PFN register holds address >> 12 whatever the CPU's page size.
const QUEUE_ADDR_SHIFT: u32 = 12;

/// A legacy virtio PCI function, driven through its I/O BAR 0.
pub struct Legacy {
    io: IoBar,
    /// Whether the function has MSI-X (then the driver enables it before
    /// set-up, and the device configuration starts at 24).
    has_msix: bool,
}

impl Legacy {
    /// The legacy interface of `d` (None unless it is a legacy or
    /// transitional id with BAR 0 in I/O space).
    pub fn new(d: &Device) -> Option<Legacy> {
        if !LEGACY_IDS.contains(&d.device) {
            return None;
        }
        let Bar::Io { port, size } = d.bar(0) else { return None };
        let has_msix = d.capabilities().iter().any(|&(_, id)| id == CAP_MSIX);
        Some(Legacy { io: IoBar::new(port, size), has_msix })
    }

    fn status(&self) -> u8 {
        self.io.read8(STATUS)
    }

    fn set_status(&self, s: u8) {
        self.io.write8(STATUS, s);
    }

    /// Reset, then take `wanted` of the 32 feature bits the device offers.
    pub fn start(&self, wanted: u64) -> Option<u64> {
        // Writing 0 resets; reading the status back flushes the reset.
        self.set_status(0);
        while self.status() != 0 {
            core::hint::spin_loop();
        }
        self.set_status(STATUS_ACKNOWLEDGE);
        self.set_status(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        let offered = self.io.read32(HOST_FEATURES) as u64;
        let agreed = offered & wanted & 0xffff_ffff;
        self.io.write32(GUEST_FEATURES, agreed as u32);
        // The configuration-change vector stays NO_VECTOR, as reset left it.
        Some(agreed)
    }

    /// Set up queue `index` at the device's size, interrupting through
    /// MSI-X entry `msix` (the caller has enabled MSI-X already: the
    /// vector registers exist only then).
    pub fn setup_queue(&self, index: u16, msix: Option<u16>) -> Option<Queue> {
        self.io.write16(QUEUE_SEL, index);
        let size = self.io.read16(QUEUE_NUM);
        if size == 0 || self.io.read32(QUEUE_PFN) != 0 {
            return None;
        }
        if self.has_msix {
            let vector = msix.unwrap_or(NO_VECTOR);
            self.io.write16(QUEUE_VECTOR, vector);
            if self.io.read16(QUEUE_VECTOR) != vector {
                log::warn!("virtio (legacy): queue {} refused MSI-X entry {}", index, vector);
                return None;
            }
        }
        let q = Queue::new(size, Layout::legacy(size), Notify::Port(self.io, QUEUE_NOTIFY), index)?;
        let pfn = q.pa() >> QUEUE_ADDR_SHIFT;
        let Ok(pfn32) = u32::try_from(pfn) else {
            log::warn!("virtio (legacy): rings at {:#x} beyond the 32-bit PFN register", q.pa());
            self.set_status(STATUS_FAILED);
            return None;
        };
        self.io.write32(QUEUE_PFN, pfn32);
        Some(q)
    }

    pub fn ready(&self) {
        self.set_status(self.status() | STATUS_DRIVER_OK);
    }

    /// Device configuration at `off`, as 32-bit reads.
    pub fn config32(&self, off: u64) -> u32 {
        let base = if self.has_msix { CONFIG_MSIX } else { CONFIG_NO_MSIX };
        self.io.read32(base + off as u16)
    }
}
