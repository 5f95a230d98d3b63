//! The page-table side of a fault: everything done under an address
//! space's page-table lock (`AddressSpace::ptl`, Linux's
//! `mm->page_table_lock`), so that faults of several CPUs, each holding
//! the address-space lock shared, change one tree of page tables safely.
//!
//! ```text
//!   fault.rs decides from a look at the PTE (under the PTL), then
//!   prepares a page with no lock held (allocate + zero, copy, page cache)
//!   with_pte:  lock PTL, walk to the PTE
//!              a table missing -> unlock, allocate one, lock, walk again
//!              (another CPU may have installed it: ours goes back)
//!   install_missing:  PTE still none?          map the page, count it
//!   replace_cow:      PTE still the old page,  map the copy, count both
//!                     read-only?
//!   otherwise another CPU resolved the fault: the prepared page goes back
//!   after unlocking: TLB flush of a replaced entry, then the old page's
//!   mapping and reference are dropped (never before the flush)
//! ```
//!
//! Locks: the PTL (an `IrqLock`) nests inside the address-space lock
//! (shared or exclusive) and outside zone and slab locks (a page given back
//! under it would be fine, but none is: pages go back after unlocking).
//! It guards every entry of this space's user page tables while the space
//! lock is shared, and [`PtlState`]'s counters always. Page descriptors'
//! map and reference counts are atomics; their mlock count is changed under
//! the PTL by faults (within one space) as before by exclusive holders.

use x86_64::structures::paging::PageTableFlags as F;
use x86_64::structures::paging::page_table::PageTableEntry;

use crate::addr::{Pfn, PhysAddr};
use crate::phys::page::PageFlags;
use crate::vm::address_space::{AddressSpace, MmEnv, PtlState};
use crate::vm::fault::FaultError;
use crate::vm::mlock::{mlock_page, munlock_all, munlock_page};
use crate::vm::vma::{VmFlags, Vma};

/// Whether `pte` maps `pfn` without write permission: what a write fault
/// on `pfn` decided from.
pub(crate) fn pte_maps_readonly(pte: &PageTableEntry, pfn: Pfn) -> bool {
    let f = pte.flags();
    f.contains(F::PRESENT) && !f.contains(F::WRITABLE) && Pfn::from_phys(pte.addr().as_u64()) == pfn
}

/// Drop a reference to `pfn` (the zero page has none).
pub(crate) fn put_unless_zero(env: &MmEnv<'_>, pfn: Pfn) {
    if pfn != env.zero_page {
        env.pa.put_user_page(pfn);
    }
}

impl AddressSpace {
    /// Run `f` on the 4 KiB entry for `va` and the PTL-guarded counters,
    /// with the PTL held; missing intermediate tables are allocated outside
    /// the lock and installed under it (an unused one is freed).
    pub(crate) fn with_pte<R>(
        &self,
        env: &MmEnv<'_>,
        va: u64,
        f: impl FnOnce(&mut PageTableEntry, &mut PtlState) -> R,
    ) -> Result<R, FaultError> {
        let mut spare: Option<PhysAddr> = None;
        let found = loop {
            let st = self.ptl.lock();
            match self.mapper(env).pte_with_spare(va, &mut spare) {
                Ok(Some(pte)) => break Ok((st, pte)),
                Ok(None) => {
                    drop(st);
                    match env.tables.alloc_table() {
                        Some(t) => spare = Some(t),
                        None => break Err(FaultError::Oom),
                    }
                }
                // A huge leaf over a user address: never made for user
                // memory; treat as no memory, as the exclusive path did.
                Err(_) => break Err(FaultError::Oom),
            }
        };
        let r = found.map(|(mut st, pte)| f(pte, &mut st));
        if let Some(t) = spare {
            env.tables.free_table(t);
        }
        r
    }

    /// Whether the entry for `va` maps `pfn` read-only (under the PTL).
    pub(crate) fn maps_readonly(&self, env: &MmEnv<'_>, va: u64, pfn: Pfn) -> bool {
        let _ptl = self.ptl.lock();
        self.mapper(env).pte(va, false).ok().flatten().is_some_and(|pte| pte_maps_readonly(pte, pfn))
    }

    /// Map `pfn` at `va` for a fault that found nothing mapped, taking over
    /// the caller's reference; `writable`: map it writable (if the area
    /// is), `write`: the fault was a write. If the entry is no longer
    /// empty, another CPU resolved the fault: the reference goes back and
    /// the answer is false.
    pub(crate) fn install_missing(
        &self,
        env: &MmEnv<'_>,
        vma: &Vma,
        va: u64,
        pfn: Pfn,
        writable: bool,
        write: bool,
    ) -> Result<bool, FaultError> {
        // A private anonymous page mapped writable exists because of a write.
        let page = env.pa.page(pfn).filter(|_| pfn != env.zero_page);
        let anon = page.is_some_and(|p| p.has(PageFlags::ANON));
        let flags = Self::fault_pte_flags(vma.flags, writable, anon || write);
        let kind = Self::rss_kind(env, pfn);
        let r = self.with_pte(env, va, |pte, st| {
            if !pte.is_unused() {
                return false;
            }
            pte.set_addr(PhysAddr::new(pfn.phys()), flags);
            if pfn != env.zero_page {
                if let Some(p) = page {
                    p.inc_mapcount();
                }
                st.rss_add(kind, 1);
                // Any page mapped into a locked area is locked (Linux's
                // mlock_vma_folio from the rmap), not only new anonymous ones.
                if vma.flags.contains(VmFlags::LOCKED) {
                    mlock_page(env, pfn);
                }
            }
            true
        });
        // Nothing was mapped at `va`: no TLB holds an entry for it.
        if r != Ok(true) {
            put_unless_zero(env, pfn);
        }
        r
    }

    /// A write fault on the read-only `old` of a shared mapping: make the
    /// entry writable, dirty and soft-dirty if it still maps `old`.
    pub(crate) fn make_writable(&self, env: &MmEnv<'_>, vma: &Vma, va: u64, old: Pfn) -> Result<(), FaultError> {
        let flags = Self::fault_pte_flags(vma.flags, true, true);
        let changed = self.with_pte(env, va, |pte, _| {
            let still = pte_maps_readonly(pte, old);
            if still {
                pte.set_flags(flags);
            }
            still
        })?;
        if changed {
            env.tlb.flush_page(va);
        }
        Ok(())
    }

    /// Take a reference on `old` if `va` still maps it read-only (the zero
    /// page needs none): whether it does.
    pub(crate) fn get_if_mapped(&self, env: &MmEnv<'_>, va: u64, old: Pfn) -> Result<bool, FaultError> {
        let _ptl = self.ptl.lock();
        let Ok(Some(pte)) = self.mapper(env).pte(va, false) else { return Ok(false) };
        if !pte_maps_readonly(pte, old) {
            return Ok(false);
        }
        if old != env.zero_page {
            if let Some(p) = env.pa.page(old) {
                p.get();
            }
        }
        Ok(true)
    }

    /// Replace the read-only `old` at `va` by its copy `new` (a fresh
    /// anonymous page; the caller's reference is taken over) if the entry
    /// still maps `old`; otherwise `new` goes back. The old page loses its
    /// mapping only once no TLB can hold the old entry.
    pub(crate) fn replace_cow(
        &self,
        env: &MmEnv<'_>,
        vma: &Vma,
        va: u64,
        old: Pfn,
        new: Pfn,
    ) -> Result<(), FaultError> {
        let flags = Self::fault_pte_flags(vma.flags, true, true);
        let old_kind = Self::rss_kind(env, old);
        let locked = vma.flags.contains(VmFlags::LOCKED);
        let replaced = self.with_pte(env, va, |pte, st| {
            if !pte_maps_readonly(pte, old) {
                return false;
            }
            pte.set_addr(PhysAddr::new(new.phys()), flags);
            if let Some(p) = env.pa.page(new) {
                p.inc_mapcount();
            }
            st.rss_add(crate::vm::address_space::RssKind::Anon, 1);
            if old != env.zero_page {
                st.rss_add(old_kind, -1);
            }
            if locked {
                mlock_page(env, new);
                munlock_page(env, old);
            }
            true
        });
        if replaced != Ok(true) {
            env.pa.put_user_page(new);
            return replaced.map(|_| ());
        }
        // Every CPU must stop using the old entry before the old page can
        // go (Linux's ptep_clear_flush before the page's mapping drops).
        env.tlb.flush_page(va);
        env.pa.lru_add(new);
        if old != env.zero_page {
            if let Some(p) = env.pa.page(old) {
                // No mapping left, so no locked one either.
                if p.dec_mapcount() == 0 {
                    munlock_all(env, p);
                }
            }
            env.pa.put_user_page(old);
        }
        Ok(())
    }
}
