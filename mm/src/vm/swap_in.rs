//! Faults on swapped-out pages (Linux's `do_swap_page`, mm/memory.c).
//!
//! ```text
//!   PTE holds swap entry E
//!     E's page in the swap cache -> map it; E loses this entry's reference;
//!                                   the last reference takes the page out of
//!                                   the cache and the page is mapped writable
//!                                   (it is this process's alone); otherwise
//!                                   read-only, and a write copies it
//!     not cached                 -> FaultError::SwapIn(E): the kernel takes a
//!                                   reference to E for the read before it
//!                                   drops the lock (the entry keeps the slot
//!                                   valid until then), reads the slot into
//!                                   the cache with no lock held, drops that
//!                                   reference, and retries
//! ```
//!
//! The read happens outside the address space's lock because disk I/O
//! sleeps, and a fault holds that lock with interrupts off. The retry
//! finds the page in the cache, or, if the entry was unmapped meanwhile,
//! whatever the address holds now.

use alloc::vec::Vec;

use x86_64::structures::paging::PageTableFlags as F;

use crate::addr::PhysAddr;
use crate::swap::entry::SwapEntry;
use crate::vm::address_space::{AddressSpace, MmEnv, RssKind};
use crate::vm::fault::{FaultDone, FaultError};
use crate::vm::page_table::raw;
use crate::vm::vma::{VmFlags, Vma};

impl AddressSpace {
    /// The swap entry at `va`, if the page there is swapped out.
    pub fn swap_entry(&self, env: &MmEnv<'_>, va: u64) -> Option<SwapEntry> {
        let pte = self.mapper(env).pte(va, false).ok()??;
        if pte.flags().contains(F::PRESENT) {
            return None;
        }
        SwapEntry::from_pte(raw(pte))
    }

    /// Map the page of swap entry `e` at `va`, or ask the kernel to read
    /// it. Runs with the address-space lock shared: the entry is checked
    /// again under the page-table lock, and if another CPU mapped the page
    /// meanwhile, ours is given back.
    pub(crate) fn do_swap_page(
        &self,
        env: &MmEnv<'_>,
        vma: &Vma,
        va: u64,
        e: SwapEntry,
        write: bool,
    ) -> Result<FaultDone, FaultError> {
        let Some(pfn) = env.swap.lookup(env.pa, e) else {
            return Err(FaultError::SwapIn(e));
        };
        let page = env.pa.page(pfn);
        let mapped = self.with_pte(env, va, |pte, st| {
            if pte.flags().contains(F::PRESENT) || SwapEntry::from_pte(raw(pte)) != Some(e) {
                return false;
            }
            // Our reference becomes the mapping's; the entry's goes.
            let exclusive =
                env.swap.mapped(env.pa, e, pfn) && page.is_some_and(|p| p.refcount() == 1 && p.mapcount() == 0);
            let writable = exclusive && vma.flags.contains(VmFlags::WRITE);
            let flags = Self::fault_pte_flags(vma.flags, writable, write && writable);
            pte.set_addr(PhysAddr::new(pfn.phys()), flags);
            if let Some(p) = page {
                if p.mapcount() == 0 {
                    // Read back (or left by its last mapper): ours now.
                    self.set_anon_owner(p, vma, va);
                }
                p.inc_mapcount();
            }
            st.rss_add(RssKind::Anon, 1);
            st.swap_ents = st.swap_ents.saturating_sub(1);
            if vma.flags.contains(VmFlags::LOCKED) {
                crate::vm::mlock::mlock_page(env, pfn);
            }
            true
        })?;
        if !mapped {
            // Another CPU resolved the fault (or unmapped the entry).
            env.pa.put_user_page(pfn);
        }
        Ok(FaultDone::Minor)
    }
}

impl AddressSpace {
    /// Visit the swap entries in `[start, end)` in address order while
    /// `f` returns true (VmSwap per area, pagemap, swapoff).
    pub fn for_each_swap_entry(
        &self,
        env: &MmEnv<'_>,
        start: u64,
        end: u64,
        f: &mut dyn FnMut(u64, SwapEntry) -> bool,
    ) {
        let mut va = start & !0xfff;
        while va < end {
            let block_end = (((va >> 21) + 1) << 21).min(end);
            if let Ok(Some(t)) = self.mapper(env).page_table_at(va, false) {
                let mut a = va;
                while a < block_end {
                    let pte = &t[((a >> 12) & 511) as usize];
                    if !pte.flags().contains(F::PRESENT) {
                        if let Some(e) = SwapEntry::from_pte(raw(pte)) {
                            if !f(a, e) {
                                return;
                            }
                        }
                    }
                    a += 4096;
                }
            }
            va = block_end;
        }
    }

    /// Swap entries in `[start, end)`.
    pub fn swap_entries_in(&self, env: &MmEnv<'_>, start: u64, end: u64) -> u64 {
        let mut n = 0;
        self.for_each_swap_entry(env, start, end, &mut |_, _| {
            n += 1;
            true
        });
        n
    }

    /// Map back every page of this space swapped out to area `ty`
    /// (swapoff). Err(SwapIn(e)) when `e` must be read first: the caller
    /// takes a reference to it before dropping the lock, reads it and
    /// calls again.
    pub fn unuse_swap(&mut self, env: &MmEnv<'_>, ty: u8) -> Result<(), FaultError> {
        let areas: Vec<(u64, u64)> = self.vmas.iter().map(|v| (v.start, v.end)).collect();
        for (start, end) in areas {
            let mut from = start;
            loop {
                let mut found = None;
                self.for_each_swap_entry(env, from, end, &mut |va, e| {
                    if e.area == ty {
                        found = Some((va, e));
                        return false;
                    }
                    true
                });
                let Some((va, e)) = found else { break };
                let vma = self.vmas.containing(va).cloned().ok_or(FaultError::Oom)?;
                self.do_swap_page(env, &vma, va, e, false)?;
                from = va + 4096;
            }
        }
        Ok(())
    }
}
