//! mlock(2), mlock2(2), munlock(2), mlockall(2), munlockall(2)
//! (cf. mm/mlock.c).
//!
//! Locking sets VM_LOCKED on the areas (splitting them at the range's
//! ends) and faults every page in, unless MLOCK_ONFAULT / MCL_ONFAULT asks
//! to lock pages only as they are touched. Locked pages carry PG_mlocked:
//! reclaim never takes them, and /proc shows them as Mlocked / VmLck.
//!
//! Limits, as Linux: without the right to lock (root / CAP_IPC_LOCK) a
//! process with RLIMIT_MEMLOCK = 0 gets EPERM, and one that would go over
//! the limit gets ENOMEM. A hole in the range gives ENOMEM after the areas
//! before it were (un)locked, as Linux's apply_vma_lock_flags; unknown
//! flags EINVAL.

use abi::mman::{MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, MLOCK_ONFAULT};

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn};
use crate::error::MmError;
use crate::phys::page::PageFlags;
use crate::vm::address_space::{AddressSpace, MmEnv, Rlimits};
use crate::vm::vma::VmFlags;

/// A VM_LOCKED mapping of `pfn` appeared (Linux's `mlock_folio`): the
/// first marks the page PG_mlocked (Mlocked, unevictable), each one counts.
pub(crate) fn mlock_page(env: &MmEnv<'_>, pfn: Pfn) {
    if pfn == env.zero_page {
        return;
    }
    let Some(p) = env.pa.page(pfn) else { return };
    // The count and the move to the unevictable list, under the LRU lock.
    if env.pa.lruvec(p).mlock(&env.pa.memmap, p) {
        env.pa.vmstat.mlocked_pages.add(1);
        // A locked page is never lazily freed.
        if p.test_and_clear_flag(PageFlags::LAZYFREE) {
            env.pa.vmstat.lazyfree_pages.sub(1);
            env.pa.lru_set_lazyfree(p, false);
        }
    }
}

/// A VM_LOCKED mapping of `pfn` went away (Linux's `munlock_folio`): the
/// page stays locked while another locked mapping has it (a parent that
/// locked its memory keeps it locked when a forked child unlocks or
/// unmaps its copy-on-write view of the same pages). The last one puts
/// it back on the inactive list.
pub(crate) fn munlock_page(env: &MmEnv<'_>, pfn: Pfn) {
    if pfn == env.zero_page {
        return;
    }
    let Some(p) = env.pa.page(pfn).filter(|p| p.has(PageFlags::MLOCKED)) else { return };
    if env.pa.lruvec(p).munlock(&env.pa.memmap, p, false) {
        env.pa.vmstat.mlocked_pages.sub(1);
    }
}

/// The last mapping of `p` went: no locked one is left either.
pub(crate) fn munlock_all(env: &MmEnv<'_>, p: &crate::phys::page::Page) {
    if p.has(PageFlags::MLOCKED) && env.pa.lruvec(p).munlock(&env.pa.memmap, p, true) {
        env.pa.vmstat.mlocked_pages.sub(1);
    }
}

impl AddressSpace {
    /// The mapped pages of `[start, end)` gained (or lost) a locked mapping.
    fn mark_pages(&mut self, env: &MmEnv<'_>, start: u64, end: u64, lock: bool) {
        self.for_each_leaf(env, start, end, &mut |leaf| {
            // hugetlb pages are not migrated, locked or moved here.
            if leaf.size != crate::vm::page_table::MapSize::Size4K {
                return;
            }
            let pfn = Pfn::from_phys(leaf.phys.as_u64());
            if lock { mlock_page(env, pfn) } else { munlock_page(env, pfn) }
        });
    }

    /// Set or clear lock flags on every area of `[start, end)`, and count
    /// the pages of the areas whose VM_LOCKED changed (Linux's
    /// `mlock_fixup`: an area already locked is not counted twice).
    fn apply_lock_flags(&mut self, env: &MmEnv<'_>, start: u64, end: u64, set: VmFlags) -> Result<(), MmError> {
        self.isolate(env, start, end)?;
        let inside: alloc::vec::Vec<u64> = self.vmas.overlapping(start..end).map(|v| v.start).collect();
        for s in inside {
            let Some(mut v) = self.vmas.remove(s) else { continue };
            self.account_vma(&v, false);
            let was_locked = v.flags.contains(VmFlags::LOCKED);
            v.flags = (v.flags - (VmFlags::LOCKED | VmFlags::LOCKONFAULT)) | set;
            let now_locked = v.flags.contains(VmFlags::LOCKED);
            self.account_vma(&v, true);
            let (vs, ve) = (v.start, v.end);
            let _ = self.vmas.insert(v, usize::MAX);
            if was_locked != now_locked {
                self.mark_pages(env, vs, ve, now_locked);
            }
            self.vmas.merge_around(vs);
        }
        Ok(())
    }

    fn can_lock(lim: &Rlimits) -> Result<(), MmError> {
        if lim.can_lock || lim.memlock != 0 { Ok(()) } else { Err(MmError::Perm) }
    }

    /// Pages of `[start, end)` not locked yet (what locking would add).
    fn unlocked_pages_in(&self, start: u64, end: u64) -> u64 {
        self.vmas
            .overlapping(start..end)
            .filter(|v| !v.flags.contains(VmFlags::LOCKED))
            .map(|v| (v.end.min(end) - v.start.max(start)) >> PAGE_SHIFT)
            .sum()
    }

    /// The end of the run of areas that covers `[start, ..)` without a
    /// hole, at most `end` (`start` itself if it is unmapped).
    fn mapped_run_end(&self, start: u64, end: u64) -> u64 {
        let mut cursor = start;
        for v in self.vmas.overlapping(start..end) {
            if v.start > cursor {
                break;
            }
            cursor = v.end;
        }
        cursor.min(end)
    }

    /// mlock(2) / mlock2(2).
    pub fn mlock(&mut self, env: &MmEnv<'_>, addr: u64, len: u64, flags: u32, lim: &Rlimits) -> Result<(), MmError> {
        if flags & !MLOCK_ONFAULT != 0 {
            return Err(MmError::Invalid);
        }
        Self::can_lock(lim)?;
        let start = addr & !(PAGE_SIZE - 1);
        // do_mlock's arithmetic: PAGE_ALIGN(len + offset) wraps like C; the
        // limit sees the raw size, then apply_vma_lock_flags refuses an end
        // that wrapped (EINVAL).
        let len = len.wrapping_add(addr - start).wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
        if !lim.can_lock && len > lim.memlock {
            return Err(MmError::NoMemory);
        }
        let end = start.wrapping_add(len);
        if end < start {
            return Err(MmError::Invalid);
        }
        if len == 0 {
            return Ok(());
        }
        let after = self.vm.locked_vm + self.unlocked_pages_in(start, end);
        if !lim.can_lock && after * PAGE_SIZE > lim.memlock {
            return Err(MmError::NoMemory);
        }
        let onfault = flags & MLOCK_ONFAULT != 0;
        let set = if onfault { VmFlags::LOCKED | VmFlags::LOCKONFAULT } else { VmFlags::LOCKED };
        let mapped_end = self.mapped_run_end(start, end);
        if mapped_end < end {
            // apply_vma_lock_flags locks the areas before the hole (their
            // present pages too, in mlock_fixup) and fails; do_mlock then
            // returns without populating.
            self.apply_lock_flags(env, start, mapped_end, set)?;
            return Err(MmError::NoMemory);
        }
        // Present pages are counted as their areas become locked; pages
        // populate faults in are counted as they are mapped.
        self.apply_lock_flags(env, start, end, set)?;
        if !onfault {
            // Any failure to fault the range in is ENOMEM for mlock (a
            // swapped page is read in and the call run again).
            self.populate(env, start, end, lim).map_err(|e| match e {
                crate::vm::fault::FaultError::SwapIn(s) => MmError::SwapIn(s),
                _ => MmError::NoMemory,
            })?;
        }
        // __mm_populate cannot fault in PROT_NONE areas: they stay marked
        // locked, and mlock reports ENOMEM (__mlock_posix_error_return).
        if !onfault && self.vmas.overlapping(start..end).any(|v| !v.flags.intersects(VmFlags::ACCESS)) {
            return Err(MmError::NoMemory);
        }
        Ok(())
    }

    /// munlock(2).
    pub fn munlock(&mut self, env: &MmEnv<'_>, addr: u64, len: u64) -> Result<(), MmError> {
        let start = addr & !(PAGE_SIZE - 1);
        // As mlock: PAGE_ALIGN(len + offset) wraps like C, and
        // apply_vma_lock_flags refuses an end that wrapped (EINVAL).
        let len = len.wrapping_add(addr - start).wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
        let end = start.wrapping_add(len);
        if end < start {
            return Err(MmError::Invalid);
        }
        if len == 0 {
            return Ok(());
        }
        // As mlock: the areas before a hole are unlocked, then ENOMEM.
        let mapped_end = self.mapped_run_end(start, end);
        self.apply_lock_flags(env, start, mapped_end, VmFlags::empty())?;
        if mapped_end < end { Err(MmError::NoMemory) } else { Ok(()) }
    }

    /// mlockall(2).
    pub fn mlockall(&mut self, env: &MmEnv<'_>, flags: u32, lim: &Rlimits) -> Result<(), MmError> {
        if flags == 0 || flags & !(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0 || flags == MCL_ONFAULT {
            return Err(MmError::Invalid);
        }
        Self::can_lock(lim)?;
        // Linux checks the limit before apply_mlockall_flags: a refused
        // call leaves MCL_FUTURE unset too.
        if flags & MCL_CURRENT != 0 && !lim.can_lock && self.vm.total_vm * PAGE_SIZE > lim.memlock {
            return Err(MmError::NoMemory);
        }
        let onfault = flags & MCL_ONFAULT != 0;
        let set = if onfault { VmFlags::LOCKED | VmFlags::LOCKONFAULT } else { VmFlags::LOCKED };
        if flags & MCL_FUTURE != 0 {
            self.def_flags = set;
        } else {
            self.def_flags.remove(VmFlags::LOCKED | VmFlags::LOCKONFAULT);
        }
        if flags & MCL_CURRENT != 0 {
            let ranges: alloc::vec::Vec<(u64, u64)> = self.vmas.iter().map(|v| (v.start, v.end)).collect();
            for (s, e) in ranges {
                self.apply_lock_flags(env, s, e, set)?;
                if !onfault {
                    // Errors while populating are ignored, as Linux does.
                    let _ = self.populate(env, s, e, lim);
                }
            }
        }
        Ok(())
    }

    /// munlockall(2).
    pub fn munlockall(&mut self, env: &MmEnv<'_>) -> Result<(), MmError> {
        self.def_flags.remove(VmFlags::LOCKED | VmFlags::LOCKONFAULT);
        let ranges: alloc::vec::Vec<(u64, u64)> = self.vmas.iter().map(|v| (v.start, v.end)).collect();
        for (s, e) in ranges {
            self.apply_lock_flags(env, s, e, VmFlags::empty())?;
        }
        Ok(())
    }
}
