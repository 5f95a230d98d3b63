//! ACPI discovery for NUMA, memory reservations and interrupt routing: SRAT
//! memory/processor affinity and SLIT distances, the physical place of every
//! table (so memblock can reserve them by name), and the MADT (local APIC,
//! I/O APICs, ISA overrides, CPUs). No AML is run.
//!
//! All physical memory is assumed reachable through the linear direct map
//! (virtual = physical + `phys_offset`): "mapping" a table is an addition,
//! unmapping a no-op. Nothing writes ACPI tables after boot.
//!
//! The `acpi` crate (6.1.1) finds the tables and walks the MADT, but its SRAT
//! and SLIT code is broken, so those two are parsed here by hand:
//! - `MemoryAffinity::length()` takes its high half from `base_address_high`
//!   instead of `length_high`;
//! - its SRAT `EntryHeader` has a 16-bit length (the spec's is 8 bits), so
//!   every SRAT structure is read one byte off (the APIC id comes out as the
//!   domain) and an entry for any domain but 0 looks too long and ends the walk;
//! - `Slit::matrix_raw()` checks N^4 rather than N^2 bytes against the table
//!   length (empty for N > 1) and overflows, a panic here, on a bogus N.
//!
//! Its entry iterators also spin forever on a zero-length entry and
//! `Madt::entries()` underflows on a too-short table: the MADT is checked first.

use alloc::vec::Vec;
use core::ptr::NonNull;

use ::acpi::sdt::Signature;
use ::acpi::sdt::madt::{Madt, MadtEntry};
use ::acpi::{AcpiError, AcpiTables, Handler, PciAddress, PhysicalMapping};
use x86_64::instructions::port::{Port, PortRead, PortWrite};

/// Physical addresses are at most 52 bits wide on x86_64.
const MAX_PHYS: u64 = 1 << 52;
/// Longer tables are taken to be garbage (a big SRAT or MADT is a few KiB).
const MAX_TABLE_LEN: u32 = 1 << 20;
/// Every system description table starts with a header this long.
const SDT_HEADER_LEN: u32 = 36;

/// One firmware table: where it is and how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableInfo {
    pub signature: [u8; 4],
    pub phys: u64,
    pub len: u32,
}

/// An I/O APIC from the MADT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoApic {
    pub id: u8,
    pub address: u32,
    pub gsi_base: u32,
}

/// An ISA interrupt source override from the MADT (flags: MPS INTI flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqOverride {
    pub isa_irq: u8,
    pub gsi: u32,
    pub flags: u16,
}

/// Everything the kernel takes from the ACPI tables.
#[derive(Clone, Debug, Default)]
pub struct AcpiInfo {
    /// RSDP revision (0: ACPI 1.0, RSDT; 2: ACPI 2.0+, XSDT).
    pub revision: u8,
    /// RSDP, RSDT/XSDT, every table they list, and the FADT's DSDT and FACS.
    pub tables: Vec<TableInfo>,
    /// (proximity domain, base, length) of enabled SRAT memory ranges.
    pub srat_mem: Vec<(u32, u64, u64)>,
    /// (proximity domain, APIC id) of enabled SRAT (x2)APIC entries.
    pub srat_cpus: Vec<(u32, u32)>,
    /// (number of localities, row-major distance matrix).
    pub slit: Option<(usize, Vec<u8>)>,
    pub local_apic_address: Option<u64>,
    pub io_apics: Vec<IoApic>,
    pub irq_overrides: Vec<IrqOverride>,
    /// APIC ids of the enabled (or online-capable) processors in the MADT.
    pub cpu_apic_ids: Vec<u32>,
}

/// Lets the `acpi` crate reach physical memory through the direct map.
#[derive(Clone)]
struct DirectMapHandler {
    offset: u64,
}

impl DirectMapHandler {
    /// Where physical `phys` appears in the direct map.
    fn ptr<T>(&self, phys: usize) -> *mut T {
        (phys as u64).wrapping_add(self.offset) as *mut T
    }

    /// The `len` bytes at physical `phys`, unless the range is implausible.
    fn bytes(&self, phys: u64, len: u32) -> Option<&[u8]> {
        if phys == 0 || len > MAX_TABLE_LEN || phys.checked_add(u64::from(len))? > MAX_PHYS {
            return None;
        }
        let virt = phys.checked_add(self.offset)?;
        // SAFETY: firmware places its tables in RAM or reserved memory below
        // the top of physical memory, all of which the direct map covers for
        // the kernel's lifetime (module assumption); nothing writes ACPI
        // tables after boot, so a shared slice over them is sound.
        Some(unsafe { core::slice::from_raw_parts(virt as *const u8, len as usize) })
    }

    /// Signature and length of the table at `phys` (FACS has them where an
    /// SDT header does).
    fn header(&self, phys: u64) -> Option<([u8; 4], u32)> {
        let h = self.bytes(phys, 8)?;
        Some((le(h, 0)?, u32_at(h, 4)?))
    }

    /// Length of a `sig` table at `phys`, if there is a sane one there.
    fn table_len(&self, phys: u64, sig: &[u8; 4]) -> Option<u32> {
        let (s, len) = self.header(phys)?;
        (s == *sig && len >= SDT_HEADER_LEN && self.bytes(phys, len).is_some()).then_some(len)
    }

    fn peek<T: Copy>(&self, phys: usize) -> T {
        // SAFETY: the crate only accesses registers and regions the firmware
        // describes (naturally aligned for their width), which the direct map
        // covers.
        unsafe { self.ptr::<T>(phys).read_volatile() }
    }

    fn poke<T: Copy>(&self, phys: usize, value: T) {
        // SAFETY: as in `peek`: firmware-described, aligned, direct-mapped.
        unsafe { self.ptr::<T>(phys).write_volatile(value) }
    }
}

fn inp<T: PortRead>(port: u16) -> T {
    // SAFETY: only ports named by the firmware as ACPI hardware, or the PCI
    // configuration ports, are ever read through here.
    unsafe { Port::<T>::new(port).read() }
}

fn outp<T: PortWrite>(port: u16, value: T) {
    // SAFETY: as in `inp`; these are the firmware's own ACPI/PCI registers.
    unsafe { Port::<T>::new(port).write(value) }
}

/// Serialises the 0xCF8 (address) / 0xCFC (data) pair.
static PCI_CONFIG: spin::Mutex<()> = spin::Mutex::new(());

/// Legacy PCI configuration access: select `offset`'s dword of `addr`, then
/// run `f` on the data port of that byte. Segments other than 0 and extended
/// configuration space (offset >= 256) are out of its reach.
fn pci<R>(addr: PciAddress, offset: u16, f: impl FnOnce(u16) -> R) -> Option<R> {
    if addr.segment() != 0 || offset > 0xff {
        return None;
    }
    let select = 0x8000_0000
        | u32::from(addr.bus()) << 16
        | u32::from(addr.device() & 0x1f) << 11
        | u32::from(addr.function() & 0x7) << 8
        | u32::from(offset & 0xfc);
    Some(x86_64::instructions::interrupts::without_interrupts(|| {
        let _guard = PCI_CONFIG.lock();
        outp(0xcf8, select);
        f(0xcfc + (offset & 3))
    }))
}

#[rustfmt::skip]
impl Handler for DirectMapHandler {
    unsafe fn map_physical_region<T>(&self, physical_address: usize, size: usize) -> PhysicalMapping<Self, T> {
        PhysicalMapping {
            physical_start: physical_address,
            virtual_start: NonNull::new(self.ptr(physical_address)).unwrap_or(NonNull::dangling()),
            region_length: size,
            mapped_length: size,
            handler: self.clone(),
        }
    }
    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}

    fn read_u8(&self, a: usize) -> u8 { self.peek(a) }
    fn read_u16(&self, a: usize) -> u16 { self.peek(a) }
    fn read_u32(&self, a: usize) -> u32 { self.peek(a) }
    fn read_u64(&self, a: usize) -> u64 { self.peek(a) }
    fn write_u8(&self, a: usize, v: u8) { self.poke(a, v) }
    fn write_u16(&self, a: usize, v: u16) { self.poke(a, v) }
    fn write_u32(&self, a: usize, v: u32) { self.poke(a, v) }
    fn write_u64(&self, a: usize, v: u64) { self.poke(a, v) }

    fn read_io_u8(&self, port: u16) -> u8 { inp(port) }
    fn read_io_u16(&self, port: u16) -> u16 { inp(port) }
    fn read_io_u32(&self, port: u16) -> u32 { inp(port) }
    fn write_io_u8(&self, port: u16, v: u8) { outp(port, v) }
    fn write_io_u16(&self, port: u16, v: u16) { outp(port, v) }
    fn write_io_u32(&self, port: u16, v: u32) { outp(port, v) }

    fn read_pci_u8(&self, a: PciAddress, o: u16) -> u8 { pci(a, o, inp).unwrap_or(u8::MAX) }
    fn read_pci_u16(&self, a: PciAddress, o: u16) -> u16 { pci(a, o, inp).unwrap_or(u16::MAX) }
    fn read_pci_u32(&self, a: PciAddress, o: u16) -> u32 { pci(a, o, inp).unwrap_or(u32::MAX) }
    fn write_pci_u8(&self, a: PciAddress, o: u16, v: u8) { pci(a, o, |p| outp(p, v)); }
    fn write_pci_u16(&self, a: PciAddress, o: u16, v: u16) { pci(a, o, |p| outp(p, v)); }
    fn write_pci_u32(&self, a: PciAddress, o: u16, v: u32) { pci(a, o, |p| outp(p, v)); }

    fn nanos_since_boot(&self) -> u64 { crate::time::uptime_ns() }
    fn stall(&self, us: u64) { crate::time::udelay(us) }
    fn sleep(&self, ms: u64) { crate::time::udelay(ms.saturating_mul(1000)) }
}

/// `N` bytes of `s` at `at`, if they are all there.
fn le<const N: usize>(s: &[u8], at: usize) -> Option<[u8; N]> {
    s.get(at..at.checked_add(N)?)?.try_into().ok()
}
fn u32_at(s: &[u8], at: usize) -> Option<u32> {
    le(s, at).map(u32::from_le_bytes)
}
fn u64_at(s: &[u8], at: usize) -> Option<u64> {
    le(s, at).map(u64::from_le_bytes)
}

/// Call `f` on each `(type: u8, length: u8, ...)` entry of `table` from
/// `start`; false (after the good ones) if an entry is empty or overruns.
fn for_each_entry(table: &[u8], start: usize, mut f: impl FnMut(&[u8])) -> bool {
    let mut off = start;
    while off < table.len() {
        let len = table.get(off + 1).map_or(0, |&l| usize::from(l));
        match table.get(off..off + len) {
            Some(entry) if len >= 2 => f(entry),
            _ => return false,
        }
        off += len;
    }
    true
}

/// Read every table reachable from the RSDP at physical address `rsdp_phys`.
///
/// Fails only on a bad RSDP or root table; a missing or malformed SRAT, SLIT
/// or MADT just leaves its fields empty (with a warning if malformed).
pub fn discover(rsdp_phys: u64, phys_offset: u64) -> Result<AcpiInfo, AcpiError> {
    let dm = DirectMapHandler { offset: phys_offset };
    let v1 = dm.bytes(rsdp_phys, 20).ok_or(AcpiError::NoValidRsdp)?;
    if v1.get(..8) != Some(b"RSD PTR ") {
        return Err(AcpiError::RsdpIncorrectSignature);
    }
    if v1.iter().fold(0u8, |s, &b| s.wrapping_add(b)) != 0 {
        log::warn!("ACPI: RSDP checksum is wrong, using it anyway");
    }
    let revision = v1.get(15).copied().unwrap_or(0);
    let rsdt = u32_at(v1, 16).map_or(0, u64::from);
    // Revision 2 (ACPI 2.0+) adds a length and the 64-bit XSDT pointer.
    let (rsdp_len, xsdt) = match dm.bytes(rsdp_phys, 36) {
        Some(v2) if revision >= 2 => (36, u64_at(v2, 24).unwrap_or(0)),
        _ => (20, 0),
    };
    // Prefer the XSDT, as Linux does; the crate reads 8-byte entries for any
    // nonzero revision, so an RSDT is handed over as revision 0.
    let (root, root_sig, root_len, entry_rev) = if let Some(len) = dm.table_len(xsdt, b"XSDT") {
        (xsdt, *b"XSDT", len, revision)
    } else if let Some(len) = dm.table_len(rsdt, b"RSDT") {
        (rsdt, *b"RSDT", len, 0)
    } else {
        return Err(AcpiError::SdtInvalidSignature(Signature::RSDT));
    };
    // SAFETY: `root` holds a root table of `root_len` >= 36 bytes with the
    // signature checked above, reachable through the direct map.
    let tables = unsafe { AcpiTables::from_rsdt(dm.clone(), entry_rev, root as usize) }?;

    let mut info = AcpiInfo { revision, ..AcpiInfo::default() };
    info.add(*b"RSDP", rsdp_phys, rsdp_len);
    info.add(root_sig, root, root_len);
    for (phys, header) in tables.table_headers() {
        let len = header.length;
        // `Signature` hides its bytes (and `as_str` panics on non-UTF-8).
        if let Some((sig, _)) = dm.header(phys as u64) {
            info.add(sig, phys as u64, len);
        }
    }
    if let Some(f) = info.table(b"FACP").and_then(|(p, l)| dm.bytes(p, l)) {
        // FIRMWARE_CTRL and DSDT (32-bit), X_FIRMWARE_CTRL and X_DSDT (ACPI
        // 2.0+, only if the FADT is that long). Both are recorded if they
        // differ: reserving a stale copy too costs nothing.
        let refs = [
            (b"FACS", u32_at(f, 36).map(u64::from)),
            (b"DSDT", u32_at(f, 40).map(u64::from)),
            (b"FACS", u64_at(f, 132)),
            (b"DSDT", u64_at(f, 140)),
        ];
        for (want, addr) in refs {
            if let Some(addr) = addr
                && let Some((sig, len)) = dm.header(addr)
                && sig == *want
            {
                info.add(sig, addr, len);
            }
        }
    }
    if let Some(t) = info.table(b"SRAT").and_then(|(p, l)| dm.bytes(p, l)) {
        info.parse_srat(t);
    }
    if let Some(t) = info.table(b"SLIT").and_then(|(p, l)| dm.bytes(p, l)) {
        info.parse_slit(t);
    }
    info.parse_madt(&tables, &dm);
    Ok(info)
}

impl AcpiInfo {
    fn add(&mut self, signature: [u8; 4], phys: u64, len: u32) {
        let t = TableInfo { signature, phys, len };
        if phys != 0 && !self.tables.contains(&t) {
            self.tables.push(t);
        }
    }

    /// Where the first table called `sig` is, and its length.
    fn table(&self, sig: &[u8; 4]) -> Option<(u64, u32)> {
        self.tables.iter().find(|t| t.signature == *sig).map(|t| (t.phys, t.len))
    }

    /// SRAT: 48-byte fixed part, then 1-byte type / 1-byte length entries
    /// (ACPI 6.5, 5.2.16). Only table revision 2+ has 32-bit domains.
    fn parse_srat(&mut self, t: &[u8]) {
        let wide = t.get(8).is_some_and(|&rev| rev >= 2);
        let pxm = |d: u32| if wide { d } else { d & 0xff };
        let ok = for_each_entry(t, 48, |e| {
            let enabled = |at| u32_at(e, at).is_some_and(|f| f & 1 != 0);
            match e.first().copied() {
                // Processor Local APIC Affinity: domain bits 7:0 at 2, APIC id
                // at 3, flags at 4, domain bits 31:8 at 9.
                Some(0) if enabled(4) => {
                    if let (Some([lo, apic]), Some([b1, b2, b3])) = (le(e, 2), le(e, 9)) {
                        self.srat_cpus.push((pxm(u32::from_le_bytes([lo, b1, b2, b3])), u32::from(apic)));
                    }
                }
                // Memory Affinity: domain at 2, base at 8, length at 16, flags
                // at 28. Read here rather than through the crate, whose
                // `MemoryAffinity::length()` puts `base_address_high` in the
                // top half (and whose fields are one byte off, see above).
                Some(1) if enabled(28) => {
                    if let (Some(d), Some(base), Some(len)) = (u32_at(e, 2), u64_at(e, 8), u64_at(e, 16)) {
                        self.srat_mem.push((pxm(d), base, len));
                    }
                }
                // Processor Local x2APIC Affinity: domain at 4, id at 8, flags at 12.
                Some(2) if enabled(12) => {
                    if let (Some(d), Some(id)) = (u32_at(e, 4), u32_at(e, 8)) {
                        self.srat_cpus.push((d, id));
                    }
                }
                _ => {}
            }
        });
        if !ok {
            log::warn!("ACPI: SRAT: malformed entry, ignoring the rest");
        }
    }

    /// SLIT: locality count (u64) at 36, then the N x N byte matrix at 44.
    fn parse_slit(&mut self, t: &[u8]) {
        let n = u64_at(t, 36).and_then(|n| usize::try_from(n).ok());
        let matrix = n.and_then(|n| t.get(44..44usize.checked_add(n.checked_mul(n)?)?));
        match (n, matrix) {
            (Some(n), Some(m)) if n > 0 => self.slit = Some((n, m.to_vec())),
            _ => log::warn!("ACPI: SLIT: locality count does not fit the table, ignoring it"),
        }
    }

    /// MADT through the crate, once its entries are known to be well formed.
    fn parse_madt(&mut self, tables: &AcpiTables<DirectMapHandler>, dm: &DirectMapHandler) {
        let Some(mapping) = tables.find_table::<Madt>() else { return };
        let madt = mapping.get();
        let len = madt.header.length;
        let Some(t) = dm.bytes(mapping.physical_start as u64, len).filter(|t| t.len() >= 44) else {
            return;
        };
        self.local_apic_address = Some(u64::from(madt.local_apic_address));
        // Entries the crate hands out by reference must be as long as its structs.
        let min_len = |ty| match ty {
            0 => 8,
            1 | 5 => 12,
            2 => 10,
            9 => 16,
            _ => 2,
        };
        let mut fits = true;
        let whole = for_each_entry(t, 44, |e| fits &= e.first().is_some_and(|&ty| e.len() >= min_len(ty)));
        if !(whole && fits) {
            log::warn!("ACPI: MADT: malformed entry, ignoring all of them");
            return;
        }
        for entry in madt.entries() {
            match entry {
                // Packed structs: fields are copied out, never borrowed.
                MadtEntry::LocalApic(e) => self.add_cpu(u32::from(e.apic_id), e.flags),
                MadtEntry::LocalX2Apic(e) => self.add_cpu(e.x2apic_id, e.flags),
                MadtEntry::IoApic(e) => self.io_apics.push(IoApic {
                    id: e.io_apic_id,
                    address: e.io_apic_address,
                    gsi_base: e.global_system_interrupt_base,
                }),
                MadtEntry::InterruptSourceOverride(e) if e.bus == 0 => self.irq_overrides.push(IrqOverride {
                    isa_irq: e.irq,
                    gsi: e.global_system_interrupt,
                    flags: e.flags,
                }),
                MadtEntry::LocalApicAddressOverride(e) => self.local_apic_address = Some(e.local_apic_address),
                _ => {}
            }
        }
    }

    /// Flags bit 0: enabled; bit 1: online capable (can be brought up later).
    fn add_cpu(&mut self, apic_id: u32, flags: u32) {
        if flags & 0b11 != 0 && !self.cpu_apic_ids.contains(&apic_id) {
            self.cpu_apic_ids.push(apic_id);
        }
    }

    /// Linux-like boot log lines.
    pub fn print(&self, w: &mut dyn core::fmt::Write) -> core::fmt::Result {
        for t in &self.tables {
            let sig = t.signature.map(|b| if b.is_ascii_graphic() { b } else { b'?' });
            let sig = core::str::from_utf8(&sig).unwrap_or("????");
            writeln!(w, "ACPI: {sig} 0x{:016X} {:06X}", t.phys, t.len)?;
        }
        if let Some(lapic) = self.local_apic_address {
            writeln!(w, "ACPI: LAPIC at {lapic:#x}, {} CPUs", self.cpu_apic_ids.len())?;
        }
        for (i, io) in self.io_apics.iter().enumerate() {
            writeln!(w, "ACPI: IOAPIC[{i}]: apic_id {}, address {:#x}, GSI base {}", io.id, io.address, io.gsi_base)?;
        }
        for o in &self.irq_overrides {
            let pol = ["dfl", "high", "res", "low"][usize::from(o.flags & 3)];
            let trig = ["dfl", "edge", "res", "level"][usize::from((o.flags >> 2) & 3)];
            writeln!(w, "ACPI: INT_SRC_OVR (bus 0 bus_irq {} global_irq {} {pol} {trig})", o.isa_irq, o.gsi)?;
        }
        Ok(())
    }
}
