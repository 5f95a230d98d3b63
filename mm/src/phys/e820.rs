//! The firmware memory map in E820 form (cf. arch/x86/kernel/e820.c).
//!
//! BIOS machines hand over an E820 table; UEFI machines a memory map with
//! more types. Both arrive here converted to the E820 vocabulary, sorted and
//! with adjacent entries of the same type merged, and are printed the way
//! Linux prints them at boot:
//!
//! ```text
//! BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable
//! ```
//!
//! The table has a fixed capacity because it is built before any allocator
//! exists. Entries that overlap are resolved in favour of the less usable
//! type, as Linux's sanitizer does.

use core::fmt;

/// Memory types, ordered so that "less usable" compares greater.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum E820Type {
    /// Free RAM.
    Usable,
    /// RAM the bootloader handed over in use (kernel image, page tables,
    /// boot info, ramdisk, boot stack). E820 has no such type; it is kept
    /// apart so memblock can reserve these ranges by name.
    Bootloader,
    /// ACPI tables; reclaimable once parsed.
    AcpiData,
    /// ACPI non-volatile storage.
    AcpiNvs,
    /// Persistent memory.
    Persistent,
    /// Memory with detected errors.
    Unusable,
    /// Anything else the firmware keeps for itself (ROMs, MMIO, UEFI
    /// runtime services).
    Reserved,
}

impl E820Type {
    /// The name Linux prints for the type.
    pub fn name(self) -> &'static str {
        match self {
            E820Type::Usable => "usable",
            E820Type::Bootloader => "usable (in use by bootloader)",
            E820Type::AcpiData => "ACPI data",
            E820Type::AcpiNvs => "ACPI NVS",
            E820Type::Persistent => "persistent (type 12)",
            E820Type::Unusable => "unusable",
            E820Type::Reserved => "reserved",
        }
    }

    /// Whether this range is RAM that the kernel may come to own.
    pub fn is_ram(self) -> bool {
        matches!(self, E820Type::Usable | E820Type::Bootloader)
    }

    /// The type of a legacy BIOS E820 entry (ACPI 6.5, Table 15.1).
    pub fn from_bios(kind: u32) -> E820Type {
        match kind {
            1 => E820Type::Usable,
            3 => E820Type::AcpiData,
            4 => E820Type::AcpiNvs,
            5 => E820Type::Unusable,
            7 | 12 => E820Type::Persistent,
            _ => E820Type::Reserved,
        }
    }

    /// The type of a UEFI memory descriptor (UEFI 2.10, Table 7.10), mapped
    /// as Linux's EFI stub maps it into E820.
    pub fn from_uefi(kind: u32) -> E820Type {
        match kind {
            1..=4 | 7 => E820Type::Usable,
            8 => E820Type::Unusable,
            9 => E820Type::AcpiData,
            10 => E820Type::AcpiNvs,
            14 => E820Type::Persistent,
            _ => E820Type::Reserved,
        }
    }
}

/// Which firmware produced the map (changes only how it is printed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    Bios,
    Uefi,
}

impl Firmware {
    fn prefix(self) -> &'static str {
        match self {
            Firmware::Bios => "BIOS-e820",
            Firmware::Uefi => "UEFI-e820",
        }
    }
}

/// One entry: `[start, end)` of one type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct E820Entry {
    pub start: u64,
    pub end: u64,
    pub kind: E820Type,
}

impl E820Entry {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }
}

/// Maximum entries kept (Linux keeps 128 in boot_params plus extensions).
pub const E820_MAX_ENTRIES: usize = 256;

/// Error from [`E820Table::add`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum E820Error {
    /// The table is full; the entry was not added.
    TableFull,
}

/// A sorted, non-overlapping, merged firmware map.
pub struct E820Table {
    entries: [E820Entry; E820_MAX_ENTRIES],
    len: usize,
    firmware: Firmware,
}

impl E820Table {
    pub const fn new(firmware: Firmware) -> Self {
        const EMPTY: E820Entry = E820Entry { start: 0, end: 0, kind: E820Type::Reserved };
        E820Table { entries: [EMPTY; E820_MAX_ENTRIES], len: 0, firmware }
    }

    pub fn firmware(&self) -> Firmware {
        self.firmware
    }

    /// The entries, sorted by address.
    pub fn entries(&self) -> &[E820Entry] {
        &self.entries[..self.len]
    }

    /// Add `[start, end)` of type `kind`. Where it overlaps existing entries
    /// the less usable type wins; adjacent entries of one type merge.
    /// Zero-length ranges are ignored.
    pub fn add(&mut self, start: u64, end: u64, kind: E820Type) -> Result<(), E820Error> {
        if start >= end {
            return Ok(());
        }
        // Walk the part of the new range not yet placed, `[cursor, end)`.
        // Each step finds the first entry overlapping it: a stronger (or equal)
        // entry keeps its overlap and the new type fills the gap before it;
        // a weaker entry is trimmed back to what lies outside `[start, end)`.
        let mut cursor = start;
        while cursor < end {
            let Some(idx) = self.entries().iter().position(|e| e.end > cursor && e.start < end) else {
                break;
            };
            let e = self.entries[idx];
            if e.kind >= kind {
                if e.start > cursor {
                    self.insert_sorted(E820Entry { start: cursor, end: e.start, kind })?;
                }
                cursor = e.end;
            } else {
                self.remove(idx);
                if e.start < start {
                    self.insert_sorted(E820Entry { start: e.start, end: start, kind: e.kind })?;
                }
                if e.end > end {
                    self.insert_sorted(E820Entry { start: end, end: e.end, kind: e.kind })?;
                }
            }
        }
        if cursor < end {
            self.insert_sorted(E820Entry { start: cursor, end, kind })?;
        }
        self.merge_adjacent();
        Ok(())
    }

    fn remove(&mut self, idx: usize) {
        self.entries.copy_within(idx + 1..self.len, idx);
        self.len -= 1;
    }

    fn insert_sorted(&mut self, e: E820Entry) -> Result<(), E820Error> {
        if self.len == E820_MAX_ENTRIES {
            return Err(E820Error::TableFull);
        }
        let pos = self.entries[..self.len].partition_point(|x| x.start < e.start);
        self.entries.copy_within(pos..self.len, pos + 1);
        self.entries[pos] = e;
        self.len += 1;
        Ok(())
    }

    fn merge_adjacent(&mut self) {
        let mut i = 0;
        while i + 1 < self.len {
            let (a, b) = (self.entries[i], self.entries[i + 1]);
            if a.kind == b.kind && a.end == b.start {
                self.entries[i].end = b.end;
                self.remove(i + 1);
            } else {
                i += 1;
            }
        }
    }

    /// Bytes of RAM (usable plus in use by the bootloader).
    pub fn total_ram(&self) -> u64 {
        self.entries().iter().filter(|e| e.kind.is_ram()).map(E820Entry::len).sum()
    }

    /// Bytes of type `kind`.
    pub fn total_of(&self, kind: E820Type) -> u64 {
        self.entries().iter().filter(|e| e.kind == kind).map(E820Entry::len).sum()
    }

    /// Print the table as Linux does at boot, followed by the RAM total.
    pub fn print(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        let origin = match self.firmware {
            Firmware::Bios => "BIOS-provided physical RAM map:",
            Firmware::Uefi => "UEFI-provided physical RAM map (UEFI memory map in E820 form):",
        };
        writeln!(w, "{origin}")?;
        for e in self.entries() {
            writeln!(w, "{}: [mem {:#018x}-{:#018x}] {}", self.firmware.prefix(), e.start, e.end - 1, e.kind.name())?;
        }
        let ram = self.total_ram();
        writeln!(
            w,
            "e820: total RAM {} KiB ({} MiB): usable {} KiB, in use by bootloader {} KiB",
            ram / 1024,
            ram >> 20,
            self.total_of(E820Type::Usable) / 1024,
            self.total_of(E820Type::Bootloader) / 1024
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(t: &E820Table) -> Vec<(u64, u64, E820Type)> {
        t.entries().iter().map(|e| (e.start, e.end, e.kind)).collect()
    }

    #[test]
    fn unsorted_entries_come_out_sorted_and_merged() {
        let mut t = E820Table::new(Firmware::Bios);
        t.add(0x10_0000, 0x20_0000, E820Type::Usable).unwrap();
        t.add(0, 0x9_f000, E820Type::Usable).unwrap();
        t.add(0x20_0000, 0x40_0000, E820Type::Usable).unwrap();
        assert_eq!(kinds(&t), vec![(0, 0x9_f000, E820Type::Usable), (0x10_0000, 0x40_0000, E820Type::Usable)]);
    }

    #[test]
    fn reserved_overlap_wins_over_usable() {
        //   usable   [0x0000 ............................ 0x10000)
        //   reserved           [0x4000 ..... 0x8000)
        //   result   [usable  ][reserved     ][usable          ]
        let mut t = E820Table::new(Firmware::Bios);
        t.add(0, 0x10000, E820Type::Usable).unwrap();
        t.add(0x4000, 0x8000, E820Type::Reserved).unwrap();
        assert_eq!(
            kinds(&t),
            vec![
                (0, 0x4000, E820Type::Usable),
                (0x4000, 0x8000, E820Type::Reserved),
                (0x8000, 0x10000, E820Type::Usable)
            ]
        );
        // A usable range added over the reserved hole does not punch it.
        t.add(0, 0x10000, E820Type::Usable).unwrap();
        assert_eq!(t.entries().len(), 3);
        assert_eq!(t.total_of(E820Type::Usable), 0xc000);
    }

    #[test]
    fn zero_length_is_ignored_and_full_table_reports() {
        let mut t = E820Table::new(Firmware::Uefi);
        t.add(5, 5, E820Type::Usable).unwrap();
        assert!(t.entries().is_empty());
        for i in 0..E820_MAX_ENTRIES as u64 {
            t.add(i * 0x2000, i * 0x2000 + 0x1000, E820Type::Usable).unwrap();
        }
        assert_eq!(t.add(0x1000_0000, 0x1000_1000, E820Type::Usable), Err(E820Error::TableFull));
    }

    #[test]
    fn print_uses_linux_format_with_inclusive_end() {
        let mut t = E820Table::new(Firmware::Bios);
        t.add(0, 0x9fc00, E820Type::Usable).unwrap();
        t.add(0x9fc00, 0xa0000, E820Type::Reserved).unwrap();
        let mut s = String::new();
        t.print(&mut s).unwrap();
        assert!(s.contains("BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n"), "{s}");
        assert!(s.contains("BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved\n"), "{s}");
    }

    #[test]
    fn uefi_types_map_like_linux_efi_stub() {
        assert_eq!(E820Type::from_uefi(7), E820Type::Usable);
        assert_eq!(E820Type::from_uefi(9), E820Type::AcpiData);
        assert_eq!(E820Type::from_uefi(10), E820Type::AcpiNvs);
        assert_eq!(E820Type::from_uefi(5), E820Type::Reserved);
        assert_eq!(E820Type::from_uefi(11), E820Type::Reserved);
    }
}
