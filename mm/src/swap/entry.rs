//! Swap entries: where a swapped-out page is, written into the page-table
//! entry that mapped it (Linux's `swp_entry_t` and x86's `__swp_entry`).
//!
//! ```text
//!   63        52 51                       12 11 10  9  8    6 5     1  0
//!   [ 0 ...... ][ offset: slot in the area ][ 0  0  1][ 0 ... ][ type ][0]
//!                                                  SWP_MARK            PRESENT
//! ```
//!
//! The entry is not present, so the CPU faults on any access and the
//! fault handler reads the page back. `type` is the swap area (Linux's
//! `MAX_SWAPFILES` is 32: five bits), `offset` the slot. The mark bit (9,
//! ignored by the MMU) tells a swap entry from any other non-present
//! value; an empty entry is all zeros.
//!
//! A migration entry (Linux's SWP_MIGRATION_READ/WRITE types, above the
//! real areas) takes a page's place in every page table that maps it while
//! page migration copies it (`vm/migrate.rs`). It has the mark bit and bit
//! 10, and names the old page's frame instead of a slot:
//!
//! ```text
//!   63        52 51                       12 11 10  9  8  7  6  5  4..2  1  0
//!   [ 0 ...... ][ pfn of the page moving    ][SD][1][1][0][0][D][A][ 0 ][W][0]
//!                                             MIGRATION  SWP_MARK          PRESENT
//! ```
//!
//! W: the mapping was writable; A, D: accessed and dirty (the PTE's own
//! bit positions); SD: soft-dirty. [`SwapEntry::from_pte`] refuses it, so
//! no swap slot is ever looked up or freed for one.

/// Swap areas that may be on at once (`MAX_SWAPFILES`).
pub const MAX_SWAPFILES: usize = 32;

const MARK: u64 = 1 << 9;
const MIGRATION: u64 = 1 << 10;
const MIG_WRITE: u64 = 1 << 1;
const MIG_YOUNG: u64 = 1 << 5;
const MIG_DIRTY: u64 = 1 << 6;
const MIG_SOFT_DIRTY: u64 = 1 << 11;
const PFN_MASK: u64 = 0x000f_ffff_ffff_f000;
const TYPE_SHIFT: u32 = 1;
const TYPE_MASK: u64 = 0x1f;
const OFFSET_SHIFT: u32 = 12;
const OFFSET_MASK: u64 = (1 << 40) - 1;

/// A slot of a swap area.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SwapEntry {
    /// The swap area (index into the kernel's table of areas).
    pub area: u8,
    /// The slot within it.
    pub slot: u32,
}

impl SwapEntry {
    pub const fn new(area: u8, slot: u32) -> SwapEntry {
        SwapEntry { area, slot }
    }

    /// The page-table entry value holding this swap entry.
    pub fn to_pte(self) -> u64 {
        MARK | ((self.area as u64 & TYPE_MASK) << TYPE_SHIFT) | ((self.slot as u64 & OFFSET_MASK) << OFFSET_SHIFT)
    }

    /// The swap entry a page-table entry holds, if it holds one.
    pub fn from_pte(raw: u64) -> Option<SwapEntry> {
        if raw & 1 != 0 || raw & MARK == 0 || raw & MIGRATION != 0 {
            return None;
        }
        let slot = (raw >> OFFSET_SHIFT) & OFFSET_MASK;
        Some(SwapEntry { area: ((raw >> TYPE_SHIFT) & TYPE_MASK) as u8, slot: u32::try_from(slot).ok()? })
    }

    /// The value /proc/PID/pagemap shows for a swapped page (bits 0-4 the
    /// type, 5-54 the offset, as Linux's `swp_type | swp_offset << 5`).
    pub fn pagemap_bits(self) -> u64 {
        (self.area as u64 & TYPE_MASK) | ((self.slot as u64) << 5)
    }

    /// As one number (the page descriptor keeps a swap-cache page's entry).
    pub fn to_raw(self) -> u64 {
        ((self.area as u64) << 32) | self.slot as u64
    }

    pub fn from_raw(raw: u64) -> SwapEntry {
        SwapEntry { area: (raw >> 32) as u8, slot: raw as u32 }
    }
}

/// A migration entry: the page at `pfn` is being moved (Linux's
/// `make_migration_entry`, `is_migration_entry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MigrationEntry {
    /// The frame of the page being moved (the old one).
    pub pfn: u64,
    /// The mapping was writable (Linux's SWP_MIGRATION_WRITE).
    pub writable: bool,
    /// The PTE's accessed bit.
    pub young: bool,
    /// The PTE's dirty bit.
    pub dirty: bool,
    /// The PTE's soft-dirty bit.
    pub soft_dirty: bool,
}

impl MigrationEntry {
    /// The page-table entry value holding this migration entry.
    pub fn to_pte(self) -> u64 {
        let mut v = MARK | MIGRATION | ((self.pfn << 12) & PFN_MASK);
        for (on, bit) in [
            (self.writable, MIG_WRITE),
            (self.young, MIG_YOUNG),
            (self.dirty, MIG_DIRTY),
            (self.soft_dirty, MIG_SOFT_DIRTY),
        ] {
            if on {
                v |= bit;
            }
        }
        v
    }

    /// The migration entry a page-table entry holds, if it holds one.
    pub fn from_pte(raw: u64) -> Option<MigrationEntry> {
        if raw & 1 != 0 || raw & (MARK | MIGRATION) != MARK | MIGRATION {
            return None;
        }
        Some(MigrationEntry {
            pfn: (raw & PFN_MASK) >> 12,
            writable: raw & MIG_WRITE != 0,
            young: raw & MIG_YOUNG != 0,
            dirty: raw & MIG_DIRTY != 0,
            soft_dirty: raw & MIG_SOFT_DIRTY != 0,
        })
    }

    /// The read-only form (fork, mprotect: Linux's
    /// `make_readable_migration_entry`).
    pub fn readonly(self) -> MigrationEntry {
        MigrationEntry { writable: false, ..self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_are_never_present_or_empty() {
        for (a, s) in [(0u8, 1u32), (31, u32::MAX), (5, 0x1234_5678)] {
            let e = SwapEntry::new(a, s);
            let raw = e.to_pte();
            assert_eq!(raw & 1, 0, "not present");
            assert_ne!(raw, 0, "never an empty entry");
            assert_eq!(SwapEntry::from_pte(raw), Some(e));
            assert_eq!(SwapEntry::from_raw(e.to_raw()), e);
        }
    }

    #[test]
    fn migration_entries_round_trip_and_are_not_swap_entries() {
        for w in [false, true] {
            let m = MigrationEntry { pfn: 0xf_ffff_ffff, writable: w, young: !w, dirty: w, soft_dirty: true };
            let raw = m.to_pte();
            assert_eq!(raw & 1, 0, "not present");
            assert_eq!(MigrationEntry::from_pte(raw), Some(m));
            assert_eq!(SwapEntry::from_pte(raw), None);
        }
        assert_eq!(MigrationEntry::from_pte(SwapEntry::new(31, u32::MAX).to_pte()), None);
        assert_eq!(MigrationEntry::from_pte(0x1000 | (3 << 9) | 1), None);
    }

    #[test]
    fn other_entries_are_not_swap_entries() {
        assert_eq!(SwapEntry::from_pte(0), None);
        // A present PTE with bit 9 set by chance is not one.
        assert_eq!(SwapEntry::from_pte(0x1000 | (1 << 9) | 1), None);
        assert_eq!(SwapEntry::from_pte(0x1000), None);
    }
}
