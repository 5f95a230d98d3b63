//! mincore(2) and msync(2) (cf. mm/mincore.c, mm/msync.c).
//!
//! mincore reports one byte per page, bit 0 set if the page is resident:
//! mapped in this address space, or (for file and shared memory) present
//! in the page cache even if this process never touched it.
//!
//! msync only checks its arguments here: nothing in this kernel is
//! writable shared memory backed by a file (initrd files are read-only and
//! shared anonymous memory has no backing store), so there is nothing to
//! write back.

use alloc::vec::Vec;

use abi::mman::{MS_ASYNC, MS_INVALIDATE, MS_SYNC};

use crate::addr::{PAGE_SHIFT, PAGE_SIZE};
use crate::error::MmError;
use crate::vm::address_space::{AddressSpace, MmEnv, TASK_SIZE};
use crate::vm::vma::{Backing, VmFlags};

impl AddressSpace {
    /// mincore(2): the residency vector of `[start, start+len)`.
    /// EINVAL for an unaligned start, ENOMEM for unmapped pages or a range
    /// beyond user space.
    pub fn mincore(&self, env: &MmEnv<'_>, start: u64, len: u64) -> Result<Vec<u8>, MmError> {
        if start % PAGE_SIZE != 0 {
            return Err(MmError::Invalid);
        }
        if start.checked_add(len).is_none_or(|e| e > TASK_SIZE) {
            return Err(MmError::NoMemory);
        }
        let pages = len.div_ceil(PAGE_SIZE);
        let end = start + pages * PAGE_SIZE;
        if pages == 0 {
            return Ok(Vec::new());
        }
        if !self.covered(start, end) {
            return Err(MmError::NoMemory);
        }
        let mut out = Vec::with_capacity(pages as usize);
        for i in 0..pages {
            let va = start + (i << PAGE_SHIFT);
            // A page being moved (a migration entry) is resident too.
            let mapped = self.lookup(env, va).is_some() || self.is_migrating(env, va);
            let cached = || {
                self.vmas.containing(va).is_some_and(|v| match &v.backing {
                    Backing::Anon | Backing::Huge(_) => false,
                    Backing::Shared(o) | Backing::File(o) => o.find_page(v.pgoff_of(va)).is_some(),
                })
            };
            out.push((mapped || cached()) as u8);
        }
        Ok(out)
    }

    /// msync(2) argument checking.
    pub fn msync(&self, start: u64, len: u64, flags: u32) -> Result<(), MmError> {
        if start % PAGE_SIZE != 0 {
            return Err(MmError::Invalid);
        }
        if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0 {
            return Err(MmError::Invalid);
        }
        if flags & MS_ASYNC != 0 && flags & MS_SYNC != 0 {
            return Err(MmError::Invalid);
        }
        let len = len.checked_next_multiple_of(PAGE_SIZE).ok_or(MmError::NoMemory)?;
        let end = start.checked_add(len).ok_or(MmError::NoMemory)?;
        if end == start {
            return Ok(());
        }
        for v in self.vmas.overlapping(start..end) {
            if flags & MS_INVALIDATE != 0 && v.flags.contains(VmFlags::LOCKED) {
                return Err(MmError::Busy);
            }
        }
        if !self.covered(start, end) {
            return Err(MmError::NoMemory);
        }
        Ok(())
    }
}
