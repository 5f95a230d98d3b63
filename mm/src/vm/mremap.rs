//! mremap(2) (cf. mm/mremap.c).
//!
//! ```text
//!   shrink:          [ old ......... ] -> [ new ]   the tail is unmapped
//!   grow in place:   [ old ][ free .. ] -> [ new ........ ]
//!   move (MAYMOVE):  [ old ]  ...  [ new ........ ]   page-table entries
//!                    move to the new place: no page is copied (a
//!                    transparent huge page whose whole 2 MiB block
//!                    moves to a 2 MiB aligned place keeps its one entry)
//!   FIXED:           move to new_addr exactly (replacing what was there)
//!   DONTUNMAP:       move, but leave the old area mapped (and empty)
//! ```
//!
//! Errors as Linux: EINVAL for unknown flags, an unaligned address, FIXED
//! without MAYMOVE, DONTUNMAP without MAYMOVE or with a size change, a zero
//! new size or one beyond TASK_SIZE, FIXED ranges that overlap, shrinking
//! a range that runs past TASK_SIZE; EPERM for FIXED below
//! mmap_min_addr; EFAULT when the old address is unmapped, or when growing
//! or moving a range that is not inside one mapping (shrinking unmaps the
//! tail whatever it covers); ENOMEM when it cannot grow in place and may
//! not move, or a limit refuses.

use abi::mman::{MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE};

use crate::addr::{PAGE_SHIFT, PAGE_SIZE};
use crate::error::MmError;
use crate::phys::hugetlb::HPAGE_SIZE;
use crate::vm::address_space::{AddressSpace, MmEnv, Rlimits, TASK_SIZE};
use crate::vm::vma::{VmFlags, Vma};

impl AddressSpace {
    /// mremap(2). Returns the new address.
    #[allow(clippy::too_many_arguments)]
    pub fn mremap(
        &mut self,
        env: &MmEnv<'_>,
        addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u32,
        new_addr: u64,
        lim: &Rlimits,
    ) -> Result<u64, MmError> {
        if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 || addr % PAGE_SIZE != 0 {
            return Err(MmError::Invalid);
        }
        if flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0 {
            return Err(MmError::Invalid);
        }
        if flags & MREMAP_DONTUNMAP != 0 && (flags & MREMAP_MAYMOVE == 0 || old_len != new_len) {
            return Err(MmError::Invalid);
        }
        let old_len = old_len.checked_next_multiple_of(PAGE_SIZE).ok_or(MmError::Invalid)?;
        let new_len = new_len.checked_next_multiple_of(PAGE_SIZE).ok_or(MmError::Invalid)?;
        // check_mremap_params (Linux 6.x): a new size beyond user space is
        // EINVAL, before the old range is looked at.
        if new_len == 0 || new_len > TASK_SIZE {
            return Err(MmError::Invalid);
        }
        // mseal(2): a sealed area neither moves, grows nor shrinks.
        if self.vmas.containing(addr).is_some_and(|v| v.flags.contains(VmFlags::SEALED)) {
            return Err(MmError::Perm);
        }
        if old_len == 0 {
            return self.duplicate_shared(env, addr, new_len, flags, new_addr, lim);
        }
        let vma = self.vmas.containing(addr).cloned().ok_or(MmError::Fault)?;
        // hugetlb areas neither grow nor move here (Linux moves aligned
        // ones; shrinking is munmap's, with its 2 MiB rule).
        if vma.flags.contains(VmFlags::HUGETLB) && (new_len > old_len || flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0)
        {
            return Err(MmError::Invalid);
        }
        // The old range is not checked against TASK_SIZE up front (Linux
        // does not): one that runs past user space runs past its area, so
        // growing or moving it is EFAULT, and shrinking it EINVAL from the
        // munmap of the tail. `old_end` is None then.
        let old_end = addr.checked_add(old_len).filter(|&e| e <= TASK_SIZE);
        // vma_to_resize: growing or moving needs the old range inside one
        // area. Shrinking does not: Linux unmaps the tail whatever it covers.
        let fits = old_end.is_some_and(|e| e <= vma.end);
        let old_end_or_max = old_end.unwrap_or(u64::MAX);
        if flags & MREMAP_FIXED != 0 {
            if new_addr % PAGE_SIZE != 0 {
                return Err(MmError::Invalid);
            }
            if new_addr.checked_add(new_len).is_none_or(|e| e > TASK_SIZE) {
                return Err(MmError::Invalid);
            }
            if new_addr < old_end_or_max && addr < new_addr + new_len {
                return Err(MmError::Invalid);
            }
            // get_unmapped_area(MAP_FIXED) -> security_mmap_addr: EPERM
            // (checked before anything is unmapped).
            if new_addr < env.mmap_min_addr {
                return Err(MmError::Perm);
            }
            // Past user space: nothing may be unmapped for a call that fails.
            if old_end.is_none() {
                return Err(MmError::Fault);
            }
            // mremap_to shrinks before vma_to_resize: only what is moved
            // must lie inside the area.
            if addr + new_len.min(old_len) > vma.end {
                return Err(MmError::Fault);
            }
            self.do_munmap(env, new_addr, new_len)?;
            if new_len < old_len {
                self.do_munmap(env, addr + new_len, old_len - new_len)?;
            }
            // The unmapping may have split the area: look it up again.
            let vma = self.vmas.containing(addr).cloned().ok_or(MmError::Fault)?;
            let moved = new_len.min(old_len);
            return self.move_range(env, &vma, addr, moved, new_addr, new_len, flags & MREMAP_DONTUNMAP != 0, lim);
        }
        if new_len <= old_len {
            if new_len < old_len {
                // do_vmi_munmap: a tail past TASK_SIZE is EINVAL.
                if old_end.is_none() {
                    return Err(MmError::Invalid);
                }
                self.do_munmap(env, addr + new_len, old_len - new_len)?;
            }
            if flags & MREMAP_DONTUNMAP != 0 {
                // mremap_to: new_addr is checked (aligned, in range, not
                // overlapping the old range) and used as a hint.
                if new_addr % PAGE_SIZE != 0 || new_addr.checked_add(new_len).is_none_or(|e| e > TASK_SIZE) {
                    return Err(MmError::Invalid);
                }
                if old_end_or_max > new_addr && new_addr + new_len > addr {
                    return Err(MmError::Invalid);
                }
                if !fits {
                    return Err(MmError::Fault);
                }
                let to = self.get_unmapped_area(env.mmap_min_addr, new_addr, new_len)?;
                return self.move_range(env, &vma, addr, new_len, to, new_len, true, lim);
            }
            return Ok(addr);
        }
        if !fits {
            return Err(MmError::Fault);
        }
        let grow = (new_len - old_len) >> PAGE_SHIFT;
        // Grow in place if the area ends here and the space after is free.
        if vma.end == addr + old_len
            && self.vmas.is_free(vma.end, addr + new_len, crate::vm::address_space::STACK_GUARD_GAP)
            && addr + new_len <= TASK_SIZE
        {
            self.check_growth(env, &vma, grow, lim)?;
            let mut v = self.vmas.remove(vma.start).ok_or(MmError::Fault)?;
            self.account_vma(&v, false);
            v.end = addr + new_len;
            self.account_vma(&v, true);
            if v.flags.contains(VmFlags::ACCOUNT) {
                self.vm.committed += grow;
            }
            let locked = v.flags.contains(VmFlags::LOCKED);
            let _ = self.vmas.insert(v, usize::MAX);
            self.vmas.merge_around(vma.start);
            if locked {
                let _ = self.populate(env, addr + old_len, addr + new_len, lim);
            }
            return Ok(addr);
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(MmError::NoMemory);
        }
        let to = self.get_unmapped_area(env.mmap_min_addr, 0, new_len)?;
        self.move_range(env, &vma, addr, old_len, to, new_len, false, lim)
    }

    /// mremap with old_len 0: a second mapping of the same shared pages
    /// (Linux allows it for shared mappings only, and warns it is odd).
    fn duplicate_shared(
        &mut self,
        env: &MmEnv<'_>,
        addr: u64,
        new_len: u64,
        flags: u32,
        new_addr: u64,
        lim: &Rlimits,
    ) -> Result<u64, MmError> {
        let vma = self.vmas.containing(addr).cloned().ok_or(MmError::Fault)?;
        if !vma.flags.contains(VmFlags::MAYSHARE) {
            return Err(MmError::Invalid);
        }
        // Nothing can grow in place from a zero-length range.
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(MmError::NoMemory);
        }
        if !self.may_expand(vma.flags, new_len >> PAGE_SHIFT, lim) {
            return Err(MmError::NoMemory);
        }
        let to = if flags & MREMAP_FIXED != 0 {
            if new_addr % PAGE_SIZE != 0 || new_addr.checked_add(new_len).is_none_or(|e| e > TASK_SIZE) {
                return Err(MmError::Invalid);
            }
            // mremap_to: the new range may not overlap the old one.
            if addr > new_addr && new_addr + new_len > addr {
                return Err(MmError::Invalid);
            }
            if new_addr < env.mmap_min_addr {
                return Err(MmError::Perm);
            }
            self.do_munmap(env, new_addr, new_len)?;
            new_addr
        } else {
            self.get_unmapped_area(env.mmap_min_addr, 0, new_len)?
        };
        // copy_vma keeps the flags: a duplicate of locked memory is locked.
        let locked = vma.flags.contains(VmFlags::LOCKED);
        let new = Vma {
            start: to,
            end: to + new_len,
            // A new area: soft-dirty as a whole.
            flags: vma.flags | VmFlags::SOFTDIRTY,
            pgoff: vma.pgoff_of(addr),
            backing: vma.backing.clone(),
            policy: vma.policy,
        };
        self.attach_vma(env, new)?;
        if locked && !vma.flags.contains(VmFlags::LOCKONFAULT) {
            let _ = self.populate(env, to, to + new_len, lim);
        }
        Ok(to)
    }

    /// Limits and commit for growing `vma` by `pages`.
    fn check_growth(&self, env: &MmEnv<'_>, vma: &Vma, pages: u64, lim: &Rlimits) -> Result<(), MmError> {
        if !self.may_expand(vma.flags, pages, lim) {
            return Err(MmError::NoMemory);
        }
        if vma.flags.contains(VmFlags::LOCKED) && !lim.can_lock && (self.vm.locked_vm + pages) * PAGE_SIZE > lim.memlock
        {
            return Err(MmError::Again);
        }
        if vma.flags.contains(VmFlags::ACCOUNT) {
            env.commit.account(env.pa, pages, lim.admin)?;
        }
        Ok(())
    }

    /// Move `[from, from+len)` (inside `vma`) to a new area at `to` of
    /// `new_len` bytes: the page-table entries move, the pages stay.
    #[allow(clippy::too_many_arguments)]
    fn move_range(
        &mut self,
        env: &MmEnv<'_>,
        vma: &Vma,
        from: u64,
        len: u64,
        to: u64,
        new_len: u64,
        dontunmap: bool,
        lim: &Rlimits,
    ) -> Result<u64, MmError> {
        // move_vma checks the map count before charging anything.
        if self.vmas.len() + 2 > env.max_map_count {
            return Err(MmError::NoMemory);
        }
        let extra = (new_len.saturating_sub(len)) >> PAGE_SHIFT;
        // The old area stays with DONTUNMAP: the new one is all extra memory.
        let growth = if dontunmap { new_len >> PAGE_SHIFT } else { extra };
        if growth > 0 {
            self.check_growth(env, vma, growth, lim)?;
        }
        let new = Vma {
            start: to,
            end: to + new_len,
            // Moved entries read as soft-dirty (Linux's move_soft_dirty_pte):
            // the whole new area is.
            flags: vma.flags | VmFlags::SOFTDIRTY,
            pgoff: vma.pgoff_of(from),
            backing: vma.backing.clone(),
            policy: vma.policy,
        };
        let pages_charged = if new.flags.contains(VmFlags::ACCOUNT) { new.pages() } else { 0 };
        // A transparent huge page moves whole when the range covers its
        // block and the block lands 2 MiB aligned (`move_huge_pmd`); one
        // the range cuts, or any when the two sides are not aligned alike,
        // is split first and moves entry by entry.
        let split = if (to ^ from) % HPAGE_SIZE == 0 {
            self.split_thp_ends(env, from, from + len)
        } else {
            self.split_thp_range(env, from, from + len)
        };
        if let Err(e) = split {
            if vma.flags.contains(VmFlags::ACCOUNT) {
                env.commit.unaccount(growth);
            }
            return Err(e);
        }
        // Move the page-table entries (whole page tables where both sides
        // are 2 MiB aligned); no page is touched or copied.
        if self.mapper(env).move_range(from, to, len).is_err() {
            if vma.flags.contains(VmFlags::ACCOUNT) {
                env.commit.unaccount(growth);
            }
            return Err(MmError::NoMemory);
        }
        crate::vm::tlb::TlbFlush::page(from, len).flush(env.tlb);
        // The new area: attach without committing again (moved pages were
        // already committed; the growth was charged above).
        self.account_vma(&new, true);
        self.vm.committed += pages_charged;
        if self.vmas.insert(new, usize::MAX).is_err() {
            return Err(MmError::NoMemory);
        }
        // Remove the old range: its entries are already gone, so nothing
        // is released twice. Its commitment passes to the new area, which
        // took it into `counters.committed` above: the system-wide count
        // keeps it (move_vma: "Conceal VM_ACCOUNT so old reservation is
        // not undone").
        if !dontunmap {
            let _ = self.isolate(env, from, from + len);
            let inside: alloc::vec::Vec<u64> = self.vmas.overlapping(from..from + len).map(|v| v.start).collect();
            for s in inside {
                if let Some(v) = self.vmas.remove(s) {
                    self.account_vma(&v, false);
                    if v.flags.contains(VmFlags::ACCOUNT) {
                        self.vm.committed = self.vm.committed.saturating_sub(v.pages());
                    }
                }
            }
            // Free page tables the move emptied.
            let _ = self.mapper(env).unmap_range(from, len, &mut |_| {}).map(|f| f.flush(env.tlb));
        } else if vma.flags.intersects(VmFlags::LOCKED | VmFlags::LOCKONFAULT) {
            // move_vma: "We always clear VM_LOCKED[ONFAULT] on the old vma";
            // the lock (and locked_vm) moves with the pages to the new area.
            let _ = self.isolate(env, from, from + len);
            let inside: alloc::vec::Vec<u64> = self.vmas.overlapping(from..from + len).map(|v| v.start).collect();
            for s in inside {
                if let Some(mut v) = self.vmas.remove(s) {
                    self.account_vma(&v, false);
                    v.flags.remove(VmFlags::LOCKED | VmFlags::LOCKONFAULT);
                    self.account_vma(&v, true);
                    let _ = self.vmas.insert(v, usize::MAX);
                    self.vmas.merge_around(s);
                }
            }
        }
        self.vmas.merge_around(to);
        if vma.flags.contains(VmFlags::LOCKED) {
            let _ = self.populate(env, to, to + new_len, lim);
        }
        Ok(to)
    }
}
