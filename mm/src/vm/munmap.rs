//! munmap(2) (cf. mm/vma.c `do_vmi_munmap`; Linux 2.4's `unmap_fixup` in
//! mm/mmap.c).
//!
//! A range may cover any number of areas. Areas sticking out of it are
//! split first, then every area inside is removed and its pages zapped:
//!
//! ```text
//!   range:          [..........................)
//!   areas:    [ A ......)   [ B )   [ C ............)
//!   after:    [ A )                              [C )
//!   (the four partial cases: the range covers an area whole, its head, its
//!    tail, or a hole in its middle that splits it in two)
//! ```
//!
//! Page tables left empty are freed by the page-table walker; the TLB is
//! flushed for the range.

use crate::addr::PAGE_SIZE;
use crate::error::MmError;
use crate::vm::address_space::{AddressSpace, MmEnv, TASK_SIZE};

impl AddressSpace {
    /// munmap(2) argument checks, then `do_munmap`.
    pub fn munmap(&mut self, env: &MmEnv<'_>, start: u64, len: u64) -> Result<(), MmError> {
        if start % PAGE_SIZE != 0 {
            return Err(MmError::Invalid);
        }
        let len = len.checked_next_multiple_of(PAGE_SIZE).ok_or(MmError::Invalid)?;
        if len == 0 || start > TASK_SIZE || len > TASK_SIZE - start {
            return Err(MmError::Invalid);
        }
        self.do_munmap(env, start, len)
    }

    /// Remove every mapping in `[start, start+len)` (page aligned).
    pub(crate) fn do_munmap(&mut self, env: &MmEnv<'_>, start: u64, len: u64) -> Result<(), MmError> {
        let end = start + len;
        if self.vmas.intersection(start, end).is_none() {
            return Ok(());
        }
        // mseal(2): nothing of a sealed area may go.
        if self.sealed_in(start, end) {
            return Err(MmError::Perm);
        }
        // Splitting a middle piece out needs one more area than we have.
        let splits_middle = self.vmas.containing(start).is_some_and(|v| v.start < start && v.end > end);
        if splits_middle && self.vmas.len() >= env.max_map_count {
            return Err(MmError::NoMemory);
        }
        self.hugetlb_may_split(start, end)?;
        self.split_thp_ends(env, start, end)?;
        if !self.vmas.split_at(start, usize::MAX) || !self.vmas.split_at(end, usize::MAX) {
            return Err(MmError::NoMemory);
        }
        let inside: alloc::vec::Vec<u64> = self.vmas.overlapping(start..end).map(|v| v.start).collect();
        for s in inside {
            if let Some(v) = self.detach_vma(env, s) {
                crate::vm::hugetlb::unreserve_private(&v);
                self.zap_mapping(env, v.start, v.end, crate::vm::address_space::Mapping::of(&v));
            }
        }
        Ok(())
    }
}
