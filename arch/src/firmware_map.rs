//! Conversion of the bootloader's memory regions into an E820-style table.
//!
//! The bootloader reports the firmware map with its own kinds: `Usable`,
//! `Bootloader` (RAM it handed over in use) and the raw BIOS E820 or UEFI
//! type of everything else. Which raw kind appears tells which firmware
//! booted us.

use bootloader_api::info::{MemoryRegion, MemoryRegionKind};
use mm::phys::e820::{E820Error, E820Table, E820Type, Firmware};

/// Guess the firmware from the region kinds (UEFI maps always contain some
/// non-conventional UEFI type; BIOS maps carry raw E820 types).
pub fn detect_firmware(regions: &[MemoryRegion]) -> Firmware {
    if regions.iter().any(|r| matches!(r.kind, MemoryRegionKind::UnknownUefi(_))) {
        Firmware::Uefi
    } else {
        Firmware::Bios
    }
}

/// Build the table. Fails only if the firmware map has more distinct ranges
/// than the table holds.
pub fn from_bootloader(regions: &[MemoryRegion], table: &mut E820Table) -> Result<(), E820Error> {
    for r in regions {
        let kind = match r.kind {
            MemoryRegionKind::Usable => E820Type::Usable,
            MemoryRegionKind::Bootloader => E820Type::Bootloader,
            MemoryRegionKind::UnknownBios(t) => E820Type::from_bios(t),
            MemoryRegionKind::UnknownUefi(t) => E820Type::from_uefi(t),
            _ => E820Type::Reserved,
        };
        table.add(r.start, r.end, kind)?;
    }
    Ok(())
}
