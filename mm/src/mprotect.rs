//! mprotect(2) (cf. mm/mprotect.c `do_mprotect_pkey`, `mprotect_fixup`).
//!
//! The range may span several areas; areas sticking out are split, the
//! flags changed, neighbours merged again, and the page-table entries
//! rewritten:
//!
//! ```text
//!   [ A rw- .............. ]      mprotect(middle, PROT_READ)
//!   [ A rw- ][ r-- ][ rw- ]       -> three areas, the middle one's PTEs lose W
//! ```
//!
//! - unaligned start, unknown PROT bits, both GROWSDOWN and GROWSUP: EINVAL
//! - a hole anywhere in the range: ENOMEM (checked first: nothing changes)
//! - asking for a right the area may not have (PROT_WRITE on a shared
//!   mapping of a read-only file): EACCES
//! - making a private mapping writable commits it (ENOMEM if refused)
//!
//! PROT_NONE pages stay mapped for the kernel only (no USER bit), so their
//! contents survive until access is given back. Private pages that are
//! shared copy-on-write stay read-only: the next write still copies.

use x86_64::structures::paging::PageTableFlags as F;

use crate::address_space::{AddressSpace, MmEnv};
use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn};
use crate::error::MmError;
use crate::mmap::{PROT_EXEC, PROT_GROWSDOWN, PROT_GROWSUP, PROT_READ, PROT_WRITE, prot_to_vm};
use crate::page::PageFlags;
use crate::vma::VmFlags;

impl AddressSpace {
    /// Split so that `[start, end)` begins and ends on area boundaries.
    pub(crate) fn isolate(&mut self, env: &MmEnv<'_>, start: u64, end: u64) -> Result<(), MmError> {
        if !self.vmas.split_at(start, env.max_map_count) || !self.vmas.split_at(end, env.max_map_count) {
            return Err(MmError::NoMemory);
        }
        Ok(())
    }

    /// Whether `[start, end)` is entirely covered by areas.
    pub(crate) fn covered(&self, start: u64, end: u64) -> bool {
        let mut cursor = start;
        for v in self.vmas.overlapping(start..end) {
            if v.start > cursor {
                return false;
            }
            cursor = v.end;
        }
        cursor >= end
    }

    /// Rewrite the PTEs of `[start, end)` for the area flags `flags`.
    pub(crate) fn reprotect_ptes(&mut self, env: &MmEnv<'_>, start: u64, end: u64, flags: VmFlags) {
        let shared = flags.contains(VmFlags::SHARED);
        let mut flush = crate::tlb::TlbFlush::none();
        for leaf in self.leaves(env, start, end) {
            let pfn = Pfn::from_phys(leaf.phys.as_u64());
            let was_writable = leaf.flags.contains(F::WRITABLE);
            // A private page may become writable only if it is ours alone
            // and was writable before (else the next write copies it).
            let exclusive = pfn != env.zero_page
                && env.pa.page(pfn).is_some_and(|p| p.has(PageFlags::ANON) && p.refcount() == 1 && p.mapcount() == 1);
            let writable = shared || (was_writable && exclusive) || (was_writable && !flags.contains(VmFlags::WRITE));
            let mut new = Self::pte_flags(flags, writable);
            new |= leaf.flags & (F::ACCESSED | F::DIRTY);
            if let Ok(Some(pte)) = self.mapper(env).pte(leaf.va, false) {
                pte.set_flags(new);
            }
            flush = flush.merge(crate::tlb::TlbFlush::page(leaf.va, PAGE_SIZE));
        }
        flush.flush(env.tlb);
    }

    /// mprotect(2).
    pub fn mprotect(&mut self, env: &MmEnv<'_>, start: u64, len: u64, prot: u32) -> Result<(), MmError> {
        if start % PAGE_SIZE != 0 {
            return Err(MmError::Invalid);
        }
        if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN | PROT_GROWSUP) != 0 {
            return Err(MmError::Invalid);
        }
        if prot & PROT_GROWSDOWN != 0 && prot & PROT_GROWSUP != 0 {
            return Err(MmError::Invalid);
        }
        let len = len.checked_next_multiple_of(PAGE_SIZE).ok_or(MmError::NoMemory)?;
        let mut start = start;
        let end = start.checked_add(len).ok_or(MmError::NoMemory)?;
        if len == 0 {
            return Ok(());
        }
        if prot & PROT_GROWSDOWN != 0 {
            let v = self.vmas.containing(start).ok_or(MmError::NoMemory)?;
            if !v.is_stack() {
                return Err(MmError::Invalid);
            }
            start = v.start;
        }
        if !self.covered(start, end) {
            return Err(MmError::NoMemory);
        }
        let want = prot_to_vm(prot);
        let mut charge = 0;
        for v in self.vmas.overlapping(start..end) {
            let may = (v.flags.bits() >> 4) & VmFlags::ACCESS.bits();
            if want.bits() & !may != 0 {
                return Err(MmError::Access);
            }
            let newly_writable = want.contains(VmFlags::WRITE)
                && !v.flags.intersects(VmFlags::ACCOUNT | VmFlags::WRITE | VmFlags::SHARED | VmFlags::NORESERVE)
                && v.backing.is_anon_or_private_file();
            if newly_writable {
                charge += (v.end.min(end) - v.start.max(start)) >> PAGE_SHIFT;
            }
        }
        if charge > 0 {
            env.commit.account(env.pa, charge, true).map_err(|_| MmError::NoMemory)?;
        }
        if let Err(e) = self.isolate(env, start, end) {
            env.commit.unaccount(charge);
            return Err(e);
        }
        let inside: alloc::vec::Vec<u64> = self.vmas.overlapping(start..end).map(|v| v.start).collect();
        for s in inside {
            let Some(mut v) = self.vmas.remove(s) else { continue };
            self.account_vma(&v, false);
            let mut flags = (v.flags - VmFlags::ACCESS) | want;
            if want.contains(VmFlags::WRITE) && !v.flags.intersects(VmFlags::ACCOUNT | VmFlags::WRITE | VmFlags::SHARED | VmFlags::NORESERVE) {
                flags |= VmFlags::ACCOUNT;
                self.counters.committed += v.pages();
            }
            v.flags = flags;
            self.account_vma(&v, true);
            let (vs, ve) = (v.start, v.end);
            let _ = self.vmas.insert(v, usize::MAX);
            self.reprotect_ptes(env, vs, ve, flags);
            self.vmas.merge_around(vs);
        }
        Ok(())
    }
}
