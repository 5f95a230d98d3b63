//! PCI devices: found once at boot by walking every bus, device and
//! function through configuration space (arch::pci), with their BARs and
//! capabilities, and MSI-X for the drivers that want interrupts (cf.
//! drivers/pci/probe.c, drivers/pci/msi/).
//!
//! ```text
//!   boot: scan 256 buses x 32 devices x 8 functions -> DEVICES
//!   driver: find(vendor, device) -> enable (memory, bus master, no INTx)
//!           -> bar(i) -> capabilities() -> Msix::enable(vector)
//! ```
//!
//! The firmware (SeaBIOS, OVMF, a PC's) has assigned the BARs; they are
//! used as found. MSI-X messages go to the boot CPU's local APIC, fixed
//! delivery, edge triggered, on a vector from `alloc_vector`.
//!
//! Locks: `DEVICES` is written once (a `Once`); configuration space
//! accesses serialise in arch::pci.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU8, Ordering};

use arch::pci::{self, Bdf};
use spin::Once;
use x86_64::structures::paging::PageTableFlags as F;

/// One PCI function.
#[derive(Clone, Debug)]
pub struct Device {
    pub at: Bdf,
    pub vendor: u16,
    pub device: u16,
    /// Class, subclass, programming interface.
    pub class: (u8, u8, u8),
}

/// What a BAR decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bar {
    Memory { addr: u64, size: u64 },
    Io { port: u16, size: u32 },
    None,
}

static DEVICES: Once<Vec<Device>> = Once::new();

const VENDOR_NONE: u16 = 0xffff;
const REG_COMMAND: u8 = 0x04;
const REG_STATUS: u8 = 0x06;
const REG_CLASS: u8 = 0x08;
const REG_HEADER: u8 = 0x0e;
const REG_BAR0: u8 = 0x10;
const REG_CAP_PTR: u8 = 0x34;
const CMD_IO: u16 = 1 << 0;
const CMD_MEMORY: u16 = 1 << 1;
const CMD_BUS_MASTER: u16 = 1 << 2;
const CMD_INTX_DISABLE: u16 = 1 << 10;
const STATUS_CAP_LIST: u16 = 1 << 4;

pub const CAP_MSIX: u8 = 0x11;
pub const CAP_VENDOR: u8 = 0x09;

/// Walk configuration space once (at boot, before drivers probe).
pub fn scan() -> &'static [Device] {
    DEVICES.call_once(|| {
        let mut found = Vec::new();
        for bus in 0..=255u8 {
            for dev in 0..32u8 {
                let at = Bdf { bus, dev, func: 0 };
                if pci::read16(at, 0) == VENDOR_NONE {
                    continue;
                }
                let multi = pci::read8(at, REG_HEADER) & 0x80 != 0;
                for func in 0..if multi { 8 } else { 1 } {
                    let at = Bdf { bus, dev, func };
                    let id = pci::read32(at, 0);
                    if id as u16 == VENDOR_NONE {
                        continue;
                    }
                    let class = pci::read32(at, REG_CLASS);
                    found.push(Device {
                        at,
                        vendor: id as u16,
                        device: (id >> 16) as u16,
                        class: ((class >> 24) as u8, (class >> 16) as u8, (class >> 8) as u8),
                    });
                }
            }
        }
        for d in &found {
            log::info!(
                "pci {:02x}:{:02x}.{}: [{:04x}:{:04x}] class {:02x}{:02x}{:02x}",
                d.at.bus,
                d.at.dev,
                d.at.func,
                d.vendor,
                d.device,
                d.class.0,
                d.class.1,
                d.class.2
            );
        }
        found
    })
}

/// Every function found by [`scan`].
pub fn devices() -> &'static [Device] {
    DEVICES.get().map(|v| v.as_slice()).unwrap_or(&[])
}

impl Device {
    /// Turn on memory and I/O decoding and bus mastering (DMA), and turn
    /// off the legacy INTx line (interrupts come by MSI-X).
    pub fn enable(&self) {
        let cmd = pci::read16(self.at, REG_COMMAND);
        pci::write16(self.at, REG_COMMAND, cmd | CMD_MEMORY | CMD_IO | CMD_BUS_MASTER | CMD_INTX_DISABLE);
    }

    /// BAR `i` (0..6) as the firmware assigned it. Sizing writes all ones
    /// and reads the mask back, with decoding off meanwhile.
    pub fn bar(&self, i: u8) -> Bar {
        if i >= 6 {
            return Bar::None;
        }
        let reg = REG_BAR0 + 4 * i;
        let low = pci::read32(self.at, reg);
        let cmd = pci::read16(self.at, REG_COMMAND);
        pci::write16(self.at, REG_COMMAND, cmd & !(CMD_MEMORY | CMD_IO));
        let bar = if low & 1 != 0 {
            pci::write32(self.at, reg, !0);
            let mask = pci::read32(self.at, reg) & !3;
            pci::write32(self.at, reg, low);
            let size = (!mask).wrapping_add(1) & 0xffff;
            if size == 0 { Bar::None } else { Bar::Io { port: (low & !3) as u16, size } }
        } else {
            let is64 = (low >> 1) & 3 == 2;
            let high = if is64 { pci::read32(self.at, reg + 4) } else { 0 };
            pci::write32(self.at, reg, !0);
            let mut mask = (pci::read32(self.at, reg) & !0xf) as u64;
            pci::write32(self.at, reg, low);
            if is64 {
                pci::write32(self.at, reg + 4, !0);
                mask |= (pci::read32(self.at, reg + 4) as u64) << 32;
                pci::write32(self.at, reg + 4, high);
            } else {
                mask |= 0xffff_ffff_0000_0000;
            }
            let size = (!mask).wrapping_add(1);
            let addr = (high as u64) << 32 | (low & !0xf) as u64;
            if mask & 0xffff_ffff == 0 || addr == 0 { Bar::None } else { Bar::Memory { addr, size } }
        };
        pci::write16(self.at, REG_COMMAND, cmd);
        bar
    }

    /// Offsets of the capabilities in configuration space, with their ids.
    pub fn capabilities(&self) -> Vec<(u8, u8)> {
        let mut caps = Vec::new();
        if pci::read16(self.at, REG_STATUS) & STATUS_CAP_LIST == 0 {
            return caps;
        }
        let mut off = pci::read8(self.at, REG_CAP_PTR) & !3;
        // At most 48 capabilities fit in 256 bytes: a loop cannot last.
        while off >= 0x40 && caps.len() < 48 {
            caps.push((off, pci::read8(self.at, off)));
            off = pci::read8(self.at, off + 1) & !3;
        }
        caps
    }

    pub fn read8(&self, off: u8) -> u8 {
        pci::read8(self.at, off)
    }

    pub fn read32(&self, off: u8) -> u32 {
        pci::read32(self.at, off)
    }
}

/// Map `len` bytes of device memory at `phys` uncached (`what` names the
/// area in /proc/vmallocinfo). Returns the virtual address.
pub fn map_mmio(phys: u64, len: u64, what: &'static str) -> Option<u64> {
    let flags = F::WRITABLE | F::NO_EXECUTE | F::NO_CACHE | F::WRITE_THROUGH;
    let area = crate::mem::kvm::vmalloc_area();
    match area.ioremap(&crate::mem::kvm::kernel_space(), phys, len, flags, what) {
        Ok(va) => Some(va + (phys & 0xfff)),
        Err(e) => {
            log::warn!("pci: cannot map {:#x}+{:#x} for {}: {:?}", phys, len, what, e);
            None
        }
    }
}

/// First vector handed to device interrupts (above the ISA lines).
const FIRST_DEVICE_VECTOR: u8 = 0x60;
const LAST_DEVICE_VECTOR: u8 = 0xef;
static NEXT_VECTOR: AtomicU8 = AtomicU8::new(FIRST_DEVICE_VECTOR);

/// A free interrupt vector for a device (None once they are used up).
pub fn alloc_vector() -> Option<u8> {
    let v = NEXT_VECTOR.fetch_add(1, Ordering::Relaxed);
    (v <= LAST_DEVICE_VECTOR).then_some(v)
}

/// A function's MSI-X table, mapped.
pub struct Msix {
    dev: Bdf,
    cap: u8,
    table: u64,
    entries: u16,
}

const MSIX_ENABLE: u16 = 1 << 15;
const MSIX_FUNCTION_MASK: u16 = 1 << 14;

impl Msix {
    /// Map the MSI-X table of `d` (None without the capability).
    pub fn map(d: &Device) -> Option<Msix> {
        let cap = d.capabilities().into_iter().find(|&(_, id)| id == CAP_MSIX)?.0;
        let control = pci::read16(d.at, cap + 2);
        let entries = (control & 0x7ff) + 1;
        let table = pci::read32(d.at, cap + 4);
        let Bar::Memory { addr, .. } = d.bar((table & 7) as u8) else { return None };
        let phys = addr + (table & !7) as u64;
        let va = map_mmio(phys, entries as u64 * 16, "msix")?;
        Some(Msix { dev: d.at, cap, table: va, entries })
    }

    pub fn entries(&self) -> u16 {
        self.entries
    }

    /// Route entry `i` to `vector` on the boot CPU, unmasked, and turn
    /// MSI-X on.
    pub fn route(&self, i: u16, vector: u8) {
        if i >= self.entries {
            return;
        }
        // From CPUID: the local APIC may not be mapped yet.
        let apic = arch::cpuinfo::identify().apic_id;
        let e = self.table + i as u64 * 16;
        let words = [0xfee0_0000 | (apic << 12), 0, vector as u32, 0];
        for (k, w) in words.iter().enumerate() {
            mmio_write32(e + 4 * k as u64, *w);
        }
        let control = pci::read16(self.dev, self.cap + 2);
        pci::write16(self.dev, self.cap + 2, (control | MSIX_ENABLE) & !MSIX_FUNCTION_MASK);
    }
}

/// Device register accesses: uncached MMIO through `map_mmio`'s mapping.
#[allow(unsafe_code)]
pub fn mmio_write32(va: u64, v: u32) {
    // SAFETY: `va` lies in a mapping `map_mmio` made of a device's
    // register BAR (the callers add offsets inside the capability's
    // length), aligned to 4.
    unsafe { (va as *mut u32).write_volatile(v) }
}

#[allow(unsafe_code)]
pub fn mmio_read32(va: u64) -> u32 {
    // SAFETY: as in `mmio_write32`.
    unsafe { (va as *const u32).read_volatile() }
}

#[allow(unsafe_code)]
pub fn mmio_write16(va: u64, v: u16) {
    // SAFETY: as in `mmio_write32`, aligned to 2.
    unsafe { (va as *mut u16).write_volatile(v) }
}

#[allow(unsafe_code)]
pub fn mmio_read16(va: u64) -> u16 {
    // SAFETY: as in `mmio_write16`.
    unsafe { (va as *const u16).read_volatile() }
}

#[allow(unsafe_code)]
pub fn mmio_write8(va: u64, v: u8) {
    // SAFETY: as in `mmio_write32`.
    unsafe { (va as *mut u8).write_volatile(v) }
}

#[allow(unsafe_code)]
pub fn mmio_read8(va: u64) -> u8 {
    // SAFETY: as in `mmio_write32`.
    unsafe { (va as *const u8).read_volatile() }
}

/// A 64-bit register written as two 32-bit halves, low first (virtio's
/// queue addresses: the spec allows it).
pub fn mmio_write64(va: u64, v: u64) {
    mmio_write32(va, v as u32);
    mmio_write32(va + 4, (v >> 32) as u32);
}
