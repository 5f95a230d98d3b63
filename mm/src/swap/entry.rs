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

/// Swap areas that may be on at once (`MAX_SWAPFILES`).
pub const MAX_SWAPFILES: usize = 32;

const MARK: u64 = 1 << 9;
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
        if raw & 1 != 0 || raw & MARK == 0 {
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
    fn other_entries_are_not_swap_entries() {
        assert_eq!(SwapEntry::from_pte(0), None);
        // A present PTE with bit 9 set by chance is not one.
        assert_eq!(SwapEntry::from_pte(0x1000 | (1 << 9) | 1), None);
        assert_eq!(SwapEntry::from_pte(0x1000), None);
    }
}
