//! fork(2)'s copy of an address space, with copy-on-write (cf. kernel/
//! fork.c `dup_mmap`, mm/memory.c `copy_page_range`).
//!
//! Every VMA is copied (except MADV_DONTFORK ones). Page tables are copied
//! eagerly, entry by entry, but pages are not: each private page is mapped
//! read-only in both parent and child and gains a reference and a map
//! count; the first write on either side takes a copy-on-write fault
//! (`fault.rs`). Shared pages stay writable and shared. MADV_WIPEONFORK
//! areas start empty in the child. Swap entries are copied, each adding a
//! reference to its slot. The child's private writable memory is
//! committed again, as Linux does, so fork can fail with ENOMEM under
//! `overcommit_memory=2`. A transparent huge page is shared whole, its
//! directory entry write-protected on both sides (`copy_huge_pmd`, thp.rs),
//! the huge zero page's entry copied as it is.

use x86_64::structures::paging::PageTableFlags as F;

use crate::addr::Pfn;
use crate::error::MmError;
use crate::phys::hugetlb::HPAGE_SIZE;
use crate::swap::entry::SwapEntry;
use crate::vm::address_space::{AddressSpace, MmEnv, Rlimits};
use crate::vm::vma::VmFlags;

impl AddressSpace {
    /// The child's copy of this address space.
    pub fn fork(&mut self, env: &MmEnv<'_>, lim: &Rlimits) -> Result<AddressSpace, MmError> {
        let mut child = AddressSpace::new(env)?;
        child.thp_disabled = self.thp_disabled;
        child.layout = self.layout;
        // mlockall(MCL_FUTURE) is not inherited (Linux's mm_init keeps
        // only VM_INIT_DEF_MASK of def_flags), as locks are not.
        child.def_flags = self.def_flags - (VmFlags::LOCKED | VmFlags::LOCKONFAULT);
        // The pages the child inherits stay findable from their family.
        child.anon = self.anon.clone();
        // Each area is charged on its own, as `dup_mmap` does (the
        // heuristic mode refuses single requests larger than RAM).
        let mut charge = 0;
        for v in self.vmas.iter().filter(|v| v.flags.contains(VmFlags::ACCOUNT) && !v.flags.contains(VmFlags::DONTCOPY))
        {
            if env.commit.account_for(env.pa, v.pages(), lim.admin, self.vm.total_vm).is_err() {
                env.commit.unaccount(charge);
                child.destroy(env);
                return Err(MmError::NoMemory);
            }
            charge += v.pages();
        }
        child.vm.committed = charge;
        let vmas: alloc::vec::Vec<_> =
            self.vmas.iter().filter(|v| !v.flags.contains(VmFlags::DONTCOPY)).cloned().collect();
        let mut flush = crate::vm::tlb::TlbFlush::none();
        for v in vmas {
            let mut cv = v.clone();
            cv.flags.remove(VmFlags::LOCKED | VmFlags::LOCKONFAULT);
            if v.flags.contains(VmFlags::HUGETLB) {
                cv.backing = crate::vm::hugetlb::fork_backing(env, &v);
            }
            child.account_vma(&cv, true);
            if child.vmas.insert(cv, usize::MAX).is_err() {
                continue;
            }
            if v.flags.contains(VmFlags::WIPEONFORK) {
                continue;
            }
            if v.flags.contains(VmFlags::HUGETLB) {
                if self.fork_hugetlb(env, &child, &v, &mut flush).is_err() {
                    return Err(Self::abandon_fork(env, child, flush));
                }
                continue;
            }
            let shared = v.flags.contains(VmFlags::SHARED);
            // Page table by page table: one walk per 2 MiB on each side.
            let mut va = v.start;
            while va < v.end {
                let block_end = (((va >> 21) + 1) << 21).min(v.end);
                let (first, last) = (((va >> 12) & 511) as usize, (((block_end - 1) >> 12) & 511) as usize);
                // A transparent huge page (or the huge zero page) is shared
                // whole, write-protected (thp.rs); a huge entry the area
                // does not cover whole (madvise cut the area but not the
                // page) is split first.
                if va % HPAGE_SIZE == 0 && block_end - va == HPAGE_SIZE {
                    match self.copy_huge_pmd(env, &child, va, &mut flush) {
                        Ok(true) => {
                            va = block_end;
                            continue;
                        }
                        Ok(false) => {}
                        Err(_) => return Err(Self::abandon_fork(env, child, flush)),
                    }
                } else if self.mapper(env).pmd(va).is_some_and(|e| e.flags().contains(F::PRESENT | F::HUGE_PAGE))
                    && self.split_thp(env, va).is_err()
                {
                    return Err(Self::abandon_fork(env, child, flush));
                }
                let parent_pt = match self.mapper(env).page_table_at(va, false) {
                    Ok(Some(t)) if t.iter().skip(first).take(last - first + 1).any(|e| !e.is_unused()) => t,
                    Ok(_) => {
                        va = block_end;
                        continue;
                    }
                    Err(_) => return Err(Self::abandon_fork(env, child, flush)),
                };
                let Ok(Some(child_pt)) = child.mapper(env).page_table_at(va, true) else {
                    return Err(Self::abandon_fork(env, child, flush));
                };
                for i in first..=last {
                    let pe = &mut parent_pt[i];
                    let mut flags = pe.flags();
                    if !flags.contains(F::PRESENT) {
                        // A swapped-out page: both entries point at the
                        // slot, which counts one more reference.
                        if let Some(e) = SwapEntry::from_pte(crate::vm::page_table::raw(pe)) {
                            if env.swap.dup(e).is_err() {
                                return Err(Self::abandon_fork(env, child, flush));
                            }
                            child_pt[i] = pe.clone();
                            child.swap_ents_add(1);
                        }
                        continue;
                    }
                    let pfn = Pfn::from_phys(pe.addr().as_u64());
                    if !shared && flags.contains(F::WRITABLE) {
                        // Write-protect the parent's entry too.
                        flags.remove(F::WRITABLE);
                        pe.set_flags(flags);
                        flush =
                            flush.merge(crate::vm::tlb::TlbFlush::page((va & !0x1f_ffff) + ((i as u64) << 12), 4096));
                    }
                    // The child's entry keeps the accessed/dirty state clean.
                    flags.remove(F::ACCESSED | F::DIRTY);
                    if pfn != env.zero_page {
                        if let Some(p) = env.pa.page(pfn) {
                            p.get();
                            p.inc_mapcount();
                        }
                        child.rss_add(Self::rss_kind(env, pfn), 1);
                    }
                    child_pt[i].set_addr(pe.addr(), flags);
                }
                va = block_end;
            }
        }
        flush.flush(env.tlb);
        Ok(child)
    }

    /// A fork that ran out of memory: the parent's write-protections stay
    /// (the next write just takes a fault and reuses the page), the child
    /// goes.
    fn abandon_fork(env: &MmEnv<'_>, child: AddressSpace, flush: crate::vm::tlb::TlbFlush) -> MmError {
        flush.flush(env.tlb);
        child.destroy(env);
        MmError::NoMemory
    }
}
