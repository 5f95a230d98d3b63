//! mseal(2): memory sealing (Linux 6.10, mm/mseal.c). A sealed area
//! (`VmFlags::SEALED`, smaps `sl`) keeps its place, size and protection
//! for the life of the address space: whatever would change them fails
//! with EPERM and changes nothing.
//!
//! ```text
//!   mseal(start, len, 0)   every byte of [start, start+len) mapped (else
//!                          ENOMEM, nothing sealed); areas split at the ends
//!   refused (EPERM) when the range meets a sealed area:
//!     munmap, mmap(MAP_FIXED) over it, mremap of it or onto it, brk
//!     shrinking into it, shmdt of it (all through do_munmap), mprotect
//!   madvise: the discarding advice (DONTNEED, DONTNEED_LOCKED, FREE,
//!     REMOVE, DONTFORK, WIPEONFORK) on a sealed private anonymous area
//!     that cannot be written (Linux's `is_ro_anon`: the caller could not
//!     have written zeroes there, so it must not make them appear)
//! ```
//!
//! Seals survive fork (the child's areas are copies) and go with the
//! address space at exec and exit. There is no unseal.

use abi::mman::{MADV_DONTFORK, MADV_DONTNEED, MADV_DONTNEED_LOCKED, MADV_FREE, MADV_REMOVE, MADV_WIPEONFORK};

use crate::addr::PAGE_SIZE;
use crate::error::MmError;
use crate::vm::address_space::{AddressSpace, MmEnv};
use crate::vm::vma::VmFlags;

impl AddressSpace {
    /// mseal(2): EINVAL for flags, an unaligned start, or a range that
    /// wraps; ENOMEM when part of the range is not mapped (checked before
    /// anything is sealed) or an area cannot be split.
    pub fn mseal(&mut self, env: &MmEnv<'_>, start: u64, len_in: u64, flags: u64) -> Result<(), MmError> {
        if flags != 0 || start % PAGE_SIZE != 0 {
            return Err(MmError::Invalid);
        }
        let len = len_in.checked_next_multiple_of(PAGE_SIZE).ok_or(MmError::Invalid)?;
        let end = start.checked_add(len).ok_or(MmError::Invalid)?;
        if end == start {
            return Ok(());
        }
        if !self.covered(start, end) {
            return Err(MmError::NoMemory);
        }
        self.set_area_flags(env, start, end, VmFlags::SEALED, VmFlags::empty())
    }

    /// Whether an area of `[start, end)` is sealed (`can_modify_mm`).
    pub(crate) fn sealed_in(&self, start: u64, end: u64) -> bool {
        self.vmas.overlapping(start..end).any(|v| v.flags.contains(VmFlags::SEALED))
    }

    /// Whether `advice` on `[start, end)` must be refused for a seal
    /// (`can_modify_mm_madv`).
    pub(crate) fn madvise_sealed(&self, start: u64, end: u64, advice: u32) -> bool {
        let discards = matches!(
            advice,
            MADV_DONTNEED | MADV_DONTNEED_LOCKED | MADV_FREE | MADV_REMOVE | MADV_DONTFORK | MADV_WIPEONFORK
        );
        discards
            && self.vmas.overlapping(start..end).any(|v| {
                v.flags.contains(VmFlags::SEALED)
                    && v.backing.is_anon()
                    && !v.flags.contains(VmFlags::SHARED)
                    && !v.flags.contains(VmFlags::WRITE)
            })
    }
}
