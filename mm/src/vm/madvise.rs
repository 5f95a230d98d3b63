//! madvise(2) (cf. mm/madvise.c).
//!
//! ```text
//!   NORMAL RANDOM SEQUENTIAL   recorded in the area (VM_RAND_READ, VM_SEQ_READ)
//!   WILLNEED, POPULATE_*       fault the pages in now
//!   DONTNEED                   drop the pages: private anonymous memory reads
//!                              back as zeros, file mappings re-read the file
//!   DONTNEED_LOCKED            the same, on mlocked areas too
//!   FREE                       private anonymous only: lazy; the pages are
//!                              dropped under memory pressure unless written again
//!   REMOVE                     shared memory only: punch a hole in the object;
//!                              every mapping of it reads zeros there
//!   DONTFORK / DOFORK          the area is (not) copied into a fork child
//!   WIPEONFORK / KEEPONFORK    the child gets zeros in this private anonymous area
//!   DONTDUMP / DODUMP, HUGEPAGE / NOHUGEPAGE   recorded
//!   COLD, PAGEOUT              deactivate / swap out now (swap_out.rs)
//! ```
//!
//! On a sealed area (mseal.rs) the discarding advice is EPERM when the
//! area is private anonymous memory that cannot be written.
//!
//! Errors as Linux: EINVAL for an unaligned start, an unknown advice or
//! advice the area does not allow (DONTNEED on locked memory, FREE on
//! shared memory, REMOVE on private anonymous memory), EACCES for REMOVE on
//! a mapping that is not shared and writable; ENOMEM if part of the range
//! is unmapped (after the mapped parts were advised). The areas are advised
//! in order, so one that refuses stops the call after those before it.
//! POPULATE_* instead faults the range in page by page: a hole stops it
//! (ENOMEM) where it is, like an area that refuses (EINVAL) or a page past
//! the end of its object (EFAULT).

use abi::mman::{
    MADV_COLD, MADV_COLLAPSE, MADV_DODUMP, MADV_DOFORK, MADV_DONTDUMP, MADV_DONTFORK, MADV_DONTNEED,
    MADV_DONTNEED_LOCKED, MADV_FREE, MADV_HUGEPAGE, MADV_KEEPONFORK, MADV_NOHUGEPAGE, MADV_NORMAL, MADV_PAGEOUT,
    MADV_POPULATE_READ, MADV_POPULATE_WRITE, MADV_RANDOM, MADV_REMOVE, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_WIPEONFORK,
};
use x86_64::structures::paging::PageTableFlags as F;

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn};
use crate::error::MmError;
use crate::phys::page::PageFlags;
use crate::vm::address_space::{AddressSpace, MmEnv, Rlimits};
use crate::vm::vma::VmFlags;

impl AddressSpace {
    /// Change flags on the areas of `[start, end)` (splitting as needed).
    pub(crate) fn set_area_flags(
        &mut self,
        env: &MmEnv<'_>,
        start: u64,
        end: u64,
        set: VmFlags,
        clear: VmFlags,
    ) -> Result<(), MmError> {
        self.isolate(env, start, end)?;
        let inside: alloc::vec::Vec<u64> = self.vmas.overlapping(start..end).map(|v| v.start).collect();
        for s in inside {
            if let Some(v) = self.vmas.containing_mut(s) {
                v.flags = (v.flags - clear) | set;
            }
            self.vmas.merge_around(s);
        }
        Ok(())
    }

    /// madvise(2).
    pub fn madvise(
        &mut self,
        env: &MmEnv<'_>,
        start: u64,
        len_in: u64,
        advice: u32,
        lim: &Rlimits,
    ) -> Result<(), MmError> {
        if start % PAGE_SIZE != 0 {
            return Err(MmError::Invalid);
        }
        let known = matches!(
            advice,
            MADV_NORMAL..=MADV_DONTNEED | MADV_FREE..=MADV_DOFORK | MADV_HUGEPAGE..=MADV_COLLAPSE
        );
        if !known {
            return Err(MmError::Invalid);
        }
        let len = len_in.checked_next_multiple_of(PAGE_SIZE).ok_or(MmError::Invalid)?;
        if len_in != 0 && len == 0 {
            return Err(MmError::Invalid);
        }
        let end = start.checked_add(len).ok_or(MmError::Invalid)?;
        if end == start {
            return Ok(());
        }
        if self.madvise_sealed(start, end, advice) {
            return Err(MmError::Perm);
        }
        let holes = !self.covered(start, end);
        let parts: alloc::vec::Vec<(u64, u64)> =
            self.vmas.overlapping(start..end).map(|v| (v.start.max(start), v.end.min(end))).collect();
        let populate = matches!(advice, MADV_POPULATE_READ | MADV_POPULATE_WRITE);
        let mut done = start;
        for (s, e) in parts {
            // madvise_populate does not walk the areas: it faults the range
            // in page by page, so a hole ends it with ENOMEM before any
            // area after it can refuse (EINVAL) or fault (EFAULT).
            if populate && s > done {
                return Err(MmError::NoMemory);
            }
            done = e;
            // madvise_walk_vmas visits the areas in order: one that refuses
            // the advice ends the walk with its error, after the areas
            // before it were advised.
            if let Some(v) = self.vmas.containing(s) {
                Self::advice_allowed(v, advice)?;
            }
            // Advice that works on 4 KiB pages splits the huge ones it
            // touches; MADV_DONTNEED only those it cuts; reclaim's advice
            // leaves whole those that other processes map too.
            match advice {
                MADV_DONTNEED | MADV_DONTNEED_LOCKED => self.split_thp_ends(env, s, e)?,
                MADV_FREE | MADV_COLD | MADV_PAGEOUT => self.split_thp_range_unshared(env, s, e)?,
                MADV_REMOVE => self.split_thp_range(env, s, e)?,
                _ => {}
            }
            match advice {
                MADV_NORMAL => {
                    self.set_area_flags(env, s, e, VmFlags::empty(), VmFlags::SEQ_READ | VmFlags::RAND_READ)?
                }
                MADV_RANDOM => self.set_area_flags(env, s, e, VmFlags::RAND_READ, VmFlags::SEQ_READ)?,
                MADV_SEQUENTIAL => self.set_area_flags(env, s, e, VmFlags::SEQ_READ, VmFlags::RAND_READ)?,
                MADV_DONTFORK => self.set_area_flags(env, s, e, VmFlags::DONTCOPY, VmFlags::empty())?,
                MADV_DOFORK => self.set_area_flags(env, s, e, VmFlags::empty(), VmFlags::DONTCOPY)?,
                MADV_WIPEONFORK => self.set_area_flags(env, s, e, VmFlags::WIPEONFORK, VmFlags::empty())?,
                MADV_KEEPONFORK => self.set_area_flags(env, s, e, VmFlags::empty(), VmFlags::WIPEONFORK)?,
                MADV_DONTDUMP => self.set_area_flags(env, s, e, VmFlags::DONTDUMP, VmFlags::empty())?,
                MADV_DODUMP => self.set_area_flags(env, s, e, VmFlags::empty(), VmFlags::DONTDUMP)?,
                MADV_HUGEPAGE => self.set_area_flags(env, s, e, VmFlags::HUGEPAGE, VmFlags::NOHUGEPAGE)?,
                MADV_NOHUGEPAGE => self.set_area_flags(env, s, e, VmFlags::NOHUGEPAGE, VmFlags::HUGEPAGE)?,
                MADV_WILLNEED => {
                    // Only a hint: Linux's madvise_willneed returns 0 whatever
                    // the read-ahead finds (PROT_NONE, past end of file).
                    let _ = self.populate_for(env, s, e, false, lim);
                }
                // A SIGBUS (past the end of a file or segment) is EFAULT.
                MADV_POPULATE_READ | MADV_POPULATE_WRITE => {
                    self.populate_for(env, s, e, advice == MADV_POPULATE_WRITE, lim)?;
                }
                // DONTNEED_LOCKED: the same, on locked areas too (the
                // pages come back at the next touch, locked again).
                MADV_DONTNEED | MADV_DONTNEED_LOCKED => {
                    // hugetlb: whole huge pages only, the end rounded down
                    // (madvise_dontneed_free_valid_vma); the start was checked.
                    let huge = self.vmas.containing(s).filter(|v| v.flags.contains(VmFlags::HUGETLB));
                    let h = huge.map_or(PAGE_SIZE, crate::vm::hugetlb::vma_hpage_size);
                    if s % h != 0 {
                        return Err(MmError::Invalid);
                    }
                    let e = e & !(h - 1);
                    // A locked area's pages each lose a locked mapping.
                    let mapping = self.vmas.containing(s).map(crate::vm::address_space::Mapping::of);
                    self.zap_mapping(env, s, e, mapping.unwrap_or(crate::vm::address_space::Mapping::Unlocked))
                }
                MADV_FREE => self.lazy_free(env, s, e),
                MADV_COLD => self.cold_range(env, s, e),
                MADV_PAGEOUT => self.pageout_range(env, s, e),
                MADV_REMOVE => self.remove_shared(env, s, e),
                MADV_COLLAPSE => self.madvise_collapse(env, s, e)?,
                _ => {}
            }
        }
        if holes { Err(MmError::NoMemory) } else { Ok(()) }
    }

    /// MADV_REMOVE of `[start, end)`, inside one shared area: punch a hole
    /// in the object (shmem_fallocate(PUNCH_HOLE)), whose reverse map then
    /// takes the pages from every mapper (unmap_mapping_range). The hole is
    /// punched once the caller drops this space's lock ([`Self::take_deferred`]);
    /// this space's own areas of the range lose the pages at once (an
    /// mremap with old_size 0 maps the same pages twice).
    fn remove_shared(&mut self, env: &MmEnv<'_>, start: u64, end: u64) {
        let Some(v) = self.vmas.containing(start) else { return };
        let Some(obj) = v.backing.object().cloned() else { return };
        let (first, last) = (v.pgoff_of(start), v.pgoff_of(end - 1) + 1);
        let mappers: alloc::vec::Vec<(u64, u64, crate::vm::address_space::Mapping)> = self
            .vmas
            .iter()
            .filter(|m| {
                m.flags.contains(VmFlags::MAYSHARE)
                    && m.backing.object().is_some_and(|o| alloc::sync::Arc::ptr_eq(o, &obj))
            })
            .filter_map(|m| {
                let lo = m.pgoff.max(first);
                let hi = m.pgoff.saturating_add(m.pages()).min(last);
                let mapping = crate::vm::address_space::Mapping::of(m);
                (lo < hi).then(|| {
                    (m.start + ((lo - m.pgoff) << PAGE_SHIFT), m.start + ((hi - m.pgoff) << PAGE_SHIFT), mapping)
                })
            })
            .collect();
        for (s, e, mapping) in mappers {
            self.zap_mapping(env, s, e, mapping);
        }
        self.deferred.push(crate::vm::rmap::Punch::new(obj, first, last));
    }

    /// Whether `v` takes `advice` (Linux's per-area checks).
    fn advice_allowed(v: &crate::vm::vma::Vma, advice: u32) -> Result<(), MmError> {
        let locked = v.flags.contains(VmFlags::LOCKED);
        let huge = v.flags.contains(VmFlags::HUGETLB);
        match advice {
            // Punching holes in hugetlb objects is not built.
            MADV_REMOVE if huge => Err(MmError::Invalid),
            // madvise_dontneed_free_valid_vma: not on VM_LOCKED memory.
            MADV_DONTNEED if locked => Err(MmError::Invalid),
            // madvise_free_single_vma: anonymous private memory only.
            MADV_FREE if locked || !v.backing.is_anon() => Err(MmError::Invalid),
            // `if (vma->vm_file || vma->vm_flags & VM_SHARED) return -EINVAL`.
            MADV_WIPEONFORK if !v.backing.is_anon() => Err(MmError::Invalid),
            // madvise_remove: VM_LOCKED or no file behind it -> EINVAL; a
            // mapping that is not shared and writable -> EACCES.
            MADV_REMOVE if locked || v.backing.is_anon() => Err(MmError::Invalid),
            MADV_REMOVE if !v.flags.contains(VmFlags::SHARED | VmFlags::MAYWRITE) => Err(MmError::Access),
            // can_madv_lru_vma: not on locked memory.
            MADV_COLD | MADV_PAGEOUT if locked => Err(MmError::Invalid),
            // faultin_page_range -> check_vma_flags: the access must be allowed.
            MADV_POPULATE_READ if !v.flags.contains(VmFlags::READ) => Err(MmError::Invalid),
            MADV_POPULATE_WRITE if !v.flags.contains(VmFlags::WRITE) => Err(MmError::Invalid),
            _ => Ok(()),
        }
    }

    /// Fault pages of `[start, end)` in, for write or read.
    fn populate_for(
        &mut self,
        env: &MmEnv<'_>,
        start: u64,
        end: u64,
        write: bool,
        lim: &Rlimits,
    ) -> Result<(), crate::vm::fault::FaultError> {
        let mut va = start;
        while va < end {
            let present = self.lookup(env, va);
            let need = match present {
                None => true,
                Some((_, f)) => write && !f.contains(F::WRITABLE),
            };
            if need {
                self.handle_fault_mut(
                    env,
                    va,
                    crate::vm::fault::FaultKind { present: present.is_some(), write, exec: false },
                    lim,
                )?;
            }
            va += PAGE_SIZE;
        }
        Ok(())
    }

    /// MADV_FREE: mark the private pages clean and lazily freeable.
    fn lazy_free(&mut self, env: &MmEnv<'_>, start: u64, end: u64) {
        let mut flush = crate::vm::tlb::TlbFlush::none();
        self.for_each_leaf_batch(env, start, end, &mut |this, batch| {
            for leaf in batch {
                let pfn = Pfn::from_phys(leaf.phys.as_u64());
                if pfn == env.zero_page {
                    continue;
                }
                let Some(p) = env.pa.page(pfn) else { continue };
                if !p.has(PageFlags::ANON) || p.refcount() != 1 {
                    // Shared copy-on-write pages: Linux just drops our mapping.
                    this.zap_range(env, leaf.va, leaf.va + PAGE_SIZE);
                    continue;
                }
                if p.test_and_set_flag(PageFlags::LAZYFREE) {
                    env.pa.vmstat.lazyfree_pages.add(1);
                    env.pa.lru_set_lazyfree(p, true);
                }
                if let Ok(Some(pte)) = this.mapper(env).pte(leaf.va, false) {
                    pte.set_flags(pte.flags() - F::DIRTY);
                }
                flush = core::mem::replace(&mut flush, crate::vm::tlb::TlbFlush::none())
                    .merge(crate::vm::tlb::TlbFlush::page(leaf.va, PAGE_SIZE));
            }
        });
        flush.flush(env.tlb);
    }

    /// Reclaim: drop lazily freed pages that were not written since
    /// MADV_FREE (a write set the PTE's dirty bit: then the page stays and
    /// loses its lazy mark). Returns pages freed.
    pub fn reclaim_lazyfree(&mut self, env: &MmEnv<'_>) -> u64 {
        // Reclaim runs when memory is short: it must not allocate. Areas are
        // visited by address and candidates collected a batch at a time on
        // the stack; nothing to do at all without lazily freed pages.
        if env.pa.vmstat.lazyfree_pages.get() == 0 {
            return 0;
        }
        let mut freed = 0;
        let mut addr = 0;
        while let Some(v) = self.vmas.find(addr) {
            let (start, end) = (v.start.max(addr), v.end);
            let eligible = v.backing.is_anon() && !v.flags.contains(VmFlags::LOCKED);
            addr = end;
            if !eligible {
                continue;
            }
            let mut from = start;
            loop {
                let mut batch = [0u64; 32];
                let mut n = 0;
                let mut resume = end;
                self.mapper(env).for_each_leaf(from, end, &mut |leaf| {
                    if n == batch.len() {
                        resume = resume.min(leaf.va);
                        return;
                    }
                    let pfn = Pfn::from_phys(leaf.phys.as_u64());
                    let Some(p) = env.pa.page(pfn).filter(|p| p.has(PageFlags::LAZYFREE)) else { return };
                    if leaf.flags.contains(F::DIRTY) || p.refcount() != 1 {
                        // Written again since MADV_FREE (or shared): keep it.
                        p.remove_flags(PageFlags::LAZYFREE);
                        env.pa.vmstat.lazyfree_pages.sub(1);
                        env.pa.lru_set_lazyfree(p, false);
                        return;
                    }
                    batch[n] = leaf.va;
                    n += 1;
                });
                for &va in &batch[..n] {
                    self.zap_range(env, va, va + PAGE_SIZE);
                    env.pa.vmstat.pglazyfreed.inc();
                    freed += 1;
                }
                if resume >= end {
                    break;
                }
                from = resume;
            }
        }
        freed
    }
}
