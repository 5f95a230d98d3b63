//! `/proc/PID/clear_refs` and soft-dirty tracking (cf. fs/proc/task_mmu.c
//! `clear_refs_write`, Documentation/admin-guide/mm/soft-dirty.rst).
//!
//! ```text
//!   value  clears
//!   1      the accessed bit of every mapped page (smaps' Referenced)
//!   2      the same, anonymous areas only
//!   3      the same, areas backed by a file or shared memory only
//!   4      soft-dirty: VM_SOFTDIRTY of every area and the SOFT_DIRTY bit
//!          of every entry, write-protecting the entry as well
//!   5      the peak RSS (VmHWM) back to the current RSS
//! ```
//!
//! Soft-dirty life of a page: a write fault sets SOFT_DIRTY with DIRTY
//! (`fault_pte_flags`), and a new area is soft-dirty as a whole (its
//! VM_SOFTDIRTY). Value 4 takes both away and removes the write bit, so
//! the next write faults: a shared mapping just gets the write bit back,
//! a private page this process alone maps is reused in place (the
//! copy-on-write reuse test of `do_wp_page`: anonymous, one reference, one
//! mapping), and only a page really shared with another process is
//! copied, as it would be anyway. Either way the fault sets SOFT_DIRTY
//! again. Pages of read-only areas are not writable to begin with.
//!
//! Locking: the caller holds the address space's lock (the `&mut self`);
//! the entries change under it and the TLB is flushed through `env.tlb`,
//! which must reach every CPU running this address space (the kernel
//! passes one for the target's root when the writer is another process).
//! A CPU may set an accessed or dirty bit between the read and the write
//! of an entry here; losing it only makes the page look clean or unused
//! (Linux avoids that with `ptep_modify_prot_start`; no data is lost).

use x86_64::structures::paging::PageTableFlags as F;

use crate::addr::{PAGE_SIZE, Pfn};
use crate::vm::address_space::{AddressSpace, MmEnv};
use crate::vm::page_table::SOFT_DIRTY;
use crate::vm::tlb::TlbFlush;
use crate::vm::vma::VmFlags;

/// What a write to clear_refs asks for (Linux's `enum clear_refs_types`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClearRefs {
    All,
    Anon,
    Mapped,
    SoftDirty,
    MmHiwaterRss,
}

impl ClearRefs {
    /// The request for the number written (1..=5); None (EINVAL) otherwise.
    pub fn from_value(v: i64) -> Option<ClearRefs> {
        Some(match v {
            1 => ClearRefs::All,
            2 => ClearRefs::Anon,
            3 => ClearRefs::Mapped,
            4 => ClearRefs::SoftDirty,
            5 => ClearRefs::MmHiwaterRss,
            _ => return None,
        })
    }
}

impl AddressSpace {
    /// Carry out a clear_refs request (see the module comment).
    pub fn clear_refs(&mut self, env: &MmEnv<'_>, what: ClearRefs) {
        if what == ClearRefs::MmHiwaterRss {
            // reset_mm_hiwater_rss.
            self.reset_hiwater_rss();
            return;
        }
        let mut flush = TlbFlush::none();
        let mut addr = 0;
        while let Some((start, end, anon)) = self.vmas.find(addr).map(|v| (v.start, v.end, v.backing.is_anon())) {
            addr = end;
            // Shared anonymous memory has a file behind it in Linux (shmem):
            // it counts as mapped, not anonymous.
            if (what == ClearRefs::Anon && !anon) || (what == ClearRefs::Mapped && anon) {
                continue;
            }
            if what == ClearRefs::SoftDirty {
                if let Some(v) = self.vmas.containing_mut(start) {
                    v.flags.remove(VmFlags::SOFTDIRTY);
                }
            }
            self.for_each_leaf_batch(env, start, end, &mut |this, batch| {
                for leaf in batch {
                    let pfn = Pfn::from_phys(leaf.phys.as_u64());
                    let Ok(Some(pte)) = this.mapper(env).pte(leaf.va, false) else { continue };
                    let old = pte.flags();
                    let new = match what {
                        ClearRefs::SoftDirty => old - (SOFT_DIRTY | F::WRITABLE),
                        // The zero page is no "normal" page: left alone.
                        _ if pfn == env.zero_page => old,
                        _ => old - F::ACCESSED,
                    };
                    if new != old {
                        pte.set_flags(new);
                        flush =
                            core::mem::replace(&mut flush, TlbFlush::none()).merge(TlbFlush::page(leaf.va, PAGE_SIZE));
                    }
                }
            });
        }
        flush.flush(env.tlb);
    }
}

#[cfg(test)]
mod tests;
