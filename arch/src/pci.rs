//! PCI configuration space through the legacy I/O ports (configuration
//! mechanism #1: the address at 0xcf8, the data at 0xcfc), which every PC
//! chipset and QEMU's q35 and i440fx offer for the first 256 bytes of each
//! function: enough for the header, the BARs and the capability list.
//!
//! ```text
//!   0xcf8 <- 1 << 31 | bus << 16 | device << 11 | function << 8 | offset & 0xfc
//!   0xcfc -> the 32-bit register
//! ```
//!
//! The address/data pair is one global register set: `LOCK` keeps two CPUs
//! from interleaving their accesses.

use x86_64::instructions::port::Port;

const CONFIG_ADDRESS: u16 = 0xcf8;
const CONFIG_DATA: u16 = 0xcfc;

static LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// A PCI function's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bdf {
    pub bus: u8,
    pub dev: u8,
    pub func: u8,
}

impl Bdf {
    fn address(self, offset: u8) -> u32 {
        1 << 31
            | (self.bus as u32) << 16
            | ((self.dev & 31) as u32) << 11
            | ((self.func & 7) as u32) << 8
            | (offset & 0xfc) as u32
    }
}

/// The 32-bit register at `offset` (rounded down to 4).
pub fn read32(at: Bdf, offset: u8) -> u32 {
    let _g = LOCK.lock();
    // SAFETY: ports 0xcf8/0xcfc are the PCI configuration mechanism on
    // every PC; reading configuration space has no side effect on memory.
    unsafe {
        Port::<u32>::new(CONFIG_ADDRESS).write(at.address(offset));
        Port::<u32>::new(CONFIG_DATA).read()
    }
}

/// Write the 32-bit register at `offset` (rounded down to 4).
pub fn write32(at: Bdf, offset: u8, value: u32) {
    let _g = LOCK.lock();
    // SAFETY: as in `read32`; the caller owns the function it programs
    // (the kernel's PCI layer, at boot, for devices it drives).
    unsafe {
        Port::<u32>::new(CONFIG_ADDRESS).write(at.address(offset));
        Port::<u32>::new(CONFIG_DATA).write(value);
    }
}

/// The 16-bit register at `offset` (even).
pub fn read16(at: Bdf, offset: u8) -> u16 {
    (read32(at, offset) >> ((offset & 2) * 8)) as u16
}

/// Write the 16-bit register at `offset` (even), keeping its neighbour.
pub fn write16(at: Bdf, offset: u8, value: u16) {
    let shift = (offset & 2) * 8;
    let old = read32(at, offset);
    write32(at, offset, (old & !(0xffff << shift)) | (value as u32) << shift);
}

pub fn read8(at: Bdf, offset: u8) -> u8 {
    (read32(at, offset) >> ((offset & 3) * 8)) as u8
}

/// A device's registers in I/O space (an I/O BAR as the firmware assigned
/// it): `len` ports from `base`. Legacy virtio devices put their whole
/// register file there. Offsets are checked against the BAR's length.
#[derive(Clone, Copy, Debug)]
pub struct IoBar {
    base: u16,
    len: u32,
}

impl IoBar {
    /// The BAR at `base` of `len` ports. The caller is the driver that owns
    /// the device (it found it in the PCI scan and enabled its decoding).
    pub fn new(base: u16, len: u32) -> IoBar {
        IoBar { base, len }
    }

    fn port(&self, off: u16, size: u32) -> u16 {
        assert!(off as u32 + size <= self.len, "pci: I/O register {off:#x} outside the BAR");
        self.base + off
    }

    pub fn read8(&self, off: u16) -> u8 {
        let port = self.port(off, 1);
        // SAFETY: `port` lies inside the device's I/O BAR (checked above);
        // its registers touch no memory but what the driver gave the device.
        unsafe { Port::<u8>::new(port).read() }
    }

    pub fn read16(&self, off: u16) -> u16 {
        let port = self.port(off, 2);
        // SAFETY: as in `read8`.
        unsafe { Port::<u16>::new(port).read() }
    }

    pub fn read32(&self, off: u16) -> u32 {
        let port = self.port(off, 4);
        // SAFETY: as in `read8`.
        unsafe { Port::<u32>::new(port).read() }
    }

    pub fn write8(&self, off: u16, v: u8) {
        let port = self.port(off, 1);
        // SAFETY: as in `read8`.
        unsafe { Port::<u8>::new(port).write(v) }
    }

    pub fn write16(&self, off: u16, v: u16) {
        let port = self.port(off, 2);
        // SAFETY: as in `read8`.
        unsafe { Port::<u16>::new(port).write(v) }
    }

    pub fn write32(&self, off: u16, v: u32) {
        let port = self.port(off, 4);
        // SAFETY: as in `read8`.
        unsafe { Port::<u32>::new(port).write(v) }
    }
}
