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
//! - unaligned start, unknown PROT bits, both GROWSDOWN and GROWSUP,
//!   PROT_GROWSDOWN on an area that does not grow down, PROT_GROWSUP (x86
//!   has no VM_GROWSUP): EINVAL
//! - the start unmapped: ENOMEM, nothing changes
//! - a hole later in the range: ENOMEM, after the areas before it were
//!   changed (Linux walks area by area and stops at the hole)
//! - asking for a right the area may not have (PROT_WRITE on a shared
//!   mapping of a read-only file): EACCES, also after the areas before it
//! - making a private mapping writable commits it (ENOMEM if refused)
//!
//! PROT_NONE pages stay mapped for the kernel only (no USER bit), so their
//! contents survive until access is given back. Private pages that are
//! shared copy-on-write stay read-only: the next write still copies.

use abi::mman::{PROT_EXEC, PROT_GROWSDOWN, PROT_GROWSUP, PROT_READ, PROT_WRITE};
use x86_64::structures::paging::PageTableFlags as F;

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn};
use crate::error::MmError;
use crate::vm::address_space::{AddressSpace, MmEnv};
use crate::vm::mmap::prot_to_vm;
use crate::vm::page_table::SOFT_DIRTY;

/// PROT_SEM (asm-generic/mman-common.h): valid for mprotect, no effect on x86.
const PROT_SEM: u32 = 0x8;
use crate::phys::page::PageFlags;
use crate::vm::vma::VmFlags;

impl AddressSpace {
    /// Split so that `[start, end)` begins and ends on area boundaries.
    pub(crate) fn isolate(&mut self, env: &MmEnv<'_>, start: u64, end: u64) -> Result<(), MmError> {
        self.hugetlb_may_split(start, end)?;
        // The flags change per 4 KiB page from here on.
        self.split_thp_range(env, start, end)?;
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
        if flags.contains(VmFlags::HUGETLB) {
            return self.reprotect_huge(env, start, end, flags);
        }
        let shared = flags.contains(VmFlags::SHARED);
        let mut flush = crate::vm::tlb::TlbFlush::none();
        self.for_each_leaf_batch(env, start, end, &mut |this, batch| {
            for leaf in batch {
                let pfn = Pfn::from_phys(leaf.phys.as_u64());
                let was_writable = leaf.flags.contains(F::WRITABLE);
                // A private page may become writable only if it is ours alone
                // and was writable before (else the next write copies it).
                let exclusive = pfn != env.zero_page
                    && env
                        .pa
                        .page(pfn)
                        .is_some_and(|p| p.has(PageFlags::ANON) && p.refcount() == 1 && p.mapcount() == 1);
                // A shared page becomes writable unless soft-dirty tracking
                // waits for its first write (`can_change_pte_writable`).
                let shared_ok = leaf.flags.contains(SOFT_DIRTY) || flags.contains(VmFlags::SOFTDIRTY);
                let writable = (shared && shared_ok)
                    || (was_writable && exclusive)
                    || (was_writable && !flags.contains(VmFlags::WRITE));
                let mut new = Self::pte_flags(flags, writable);
                new |= leaf.flags & (F::ACCESSED | F::DIRTY | SOFT_DIRTY);
                if let Ok(Some(pte)) = this.mapper(env).pte(leaf.va, false) {
                    pte.set_flags(new);
                }
                flush = core::mem::replace(&mut flush, crate::vm::tlb::TlbFlush::none())
                    .merge(crate::vm::tlb::TlbFlush::page(leaf.va, PAGE_SIZE));
            }
        });
        flush.flush(env.tlb);
    }

    /// mprotect(2).
    pub fn mprotect(&mut self, env: &MmEnv<'_>, start: u64, len: u64, prot: u32) -> Result<(), MmError> {
        // do_mprotect_pkey's order of checks.
        let grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
        if grows == PROT_GROWSDOWN | PROT_GROWSUP {
            return Err(MmError::Invalid);
        }
        if start % PAGE_SIZE != 0 {
            return Err(MmError::Invalid);
        }
        if len == 0 {
            return Ok(());
        }
        let len = len.checked_next_multiple_of(PAGE_SIZE).ok_or(MmError::NoMemory)?;
        let end = start.checked_add(len).ok_or(MmError::NoMemory)?;
        // arch_validate_prot (the generic one x86 uses) accepts PROT_SEM too.
        if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM | grows) != 0 {
            return Err(MmError::Invalid);
        }
        // mseal(2): a sealed area keeps its protection (EPERM before a
        // hole's ENOMEM, as do_mprotect_pkey checks).
        if self.sealed_in(start, end) {
            return Err(MmError::Perm);
        }
        // The first area the range touches (`vma_find(&vmi, end)`).
        let first = self.vmas.find(start).filter(|v| v.start < end).ok_or(MmError::NoMemory)?;
        let mut start = start;
        if grows == PROT_GROWSDOWN {
            if !first.is_stack() {
                return Err(MmError::Invalid);
            }
            start = first.start;
        } else if first.start > start {
            return Err(MmError::NoMemory);
        } else if grows == PROT_GROWSUP {
            // Linux: `if (!(vma->vm_flags & VM_GROWSUP))`, and VM_GROWSUP is 0 on x86.
            return Err(MmError::Invalid);
        }
        let want = prot_to_vm(prot);
        // Area by area, as do_mprotect_pkey: an area that refuses (EACCES,
        // ENOMEM) or a hole stops the walk, and the areas before it keep
        // their new protection.
        let mut cursor = start;
        while cursor < end {
            let Some(v) = self.vmas.containing(cursor) else { return Err(MmError::NoMemory) };
            let part_end = v.end.min(end);
            let may = (v.flags.bits() >> 4) & VmFlags::ACCESS.bits();
            if want.bits() & !may != 0 {
                return Err(MmError::Access);
            }
            let newly_writable = want.contains(VmFlags::WRITE)
                && !v.flags.intersects(VmFlags::ACCOUNT | VmFlags::WRITE | VmFlags::SHARED | VmFlags::NORESERVE)
                && v.backing.is_anon_or_private_file();
            let charge = if newly_writable { (part_end - cursor) >> PAGE_SHIFT } else { 0 };
            if charge > 0 {
                env.commit.account(env.pa, charge, true)?;
            }
            if let Err(e) = self.isolate(env, cursor, part_end) {
                env.commit.unaccount(charge);
                return Err(e);
            }
            let mut v = self.vmas.remove(cursor).expect("mprotect: the isolated area vanished");
            self.account_vma(&v, false);
            let mut flags = (v.flags - VmFlags::ACCESS) | want;
            if newly_writable {
                flags |= VmFlags::ACCOUNT;
                self.vm.committed += charge;
            }
            v.flags = flags;
            self.account_vma(&v, true);
            let _ = self.vmas.insert(v, usize::MAX);
            self.reprotect_ptes(env, cursor, part_end, flags);
            self.vmas.merge_around(cursor);
            cursor = part_end;
        }
        Ok(())
    }
}
