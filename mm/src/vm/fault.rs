//! The page-fault handler for user addresses (cf. arch/x86/mm/fault.c
//! `do_user_addr_fault`, mm/memory.c `handle_mm_fault`).
//!
//! ```text
//!   find the VMA ---- none / below a non-stack VMA ----------> SIGSEGV (MAPERR)
//!       | below a stack VMA: grow it (RLIMIT_STACK, guard gap)
//!   check access: write needs VM_WRITE; a read or exec of a present
//!                 page is a protection fault; not-present needs R/W/X -> SIGSEGV (ACCERR)
//!   not present:
//!       private anonymous, read  -> the shared zero page, read-only
//!       private anonymous, write -> a zeroed page
//!       shared anonymous         -> the shmem object's page
//!       file, private            -> page-cache page read-only (a write copies it)
//!       file, shared             -> page-cache page
//!       past end of file         -> SIGBUS
//!   swapped out (swap_in.rs):        the swap cache's page, or read it first
//!   migration entry (migrate.rs):    the page is moving: retry until it is mapped
//!   present, write to a read-only PTE in a writable VMA: copy-on-write
//!       transparent huge page    -> mapped once: reuse; else split this
//!                                space's entry, retry (thp.rs `thp_wp`)
//!       shared mapping           -> make it writable (mprotect, clear_refs 4)
//!       zero page                -> a zeroed page
//!       last reference to an anonymous page -> reuse it, make it writable
//!                                (also a page clear_refs 4 write-protected)
//!       otherwise                -> copy into a new anonymous page
//! ```
//!
//! No page and no page table reaches a process with another's data: new
//! pages and page tables come zeroed from the buddy allocator.
//!
//! Concurrency (Linux's `handle_mm_fault` under `mmap_read_lock`): faults
//! take `&self` and run with the address-space lock shared, so threads of
//! one process fault on several CPUs at once. Each fault decides from a
//! look at the PTE (under the page-table lock), does the page work with no
//! lock (allocate and zero, copy, find the page-cache page), then installs
//! under the PTL only if the PTE is still what the decision saw (none for
//! a missing page; the same read-only page for a write fault): otherwise
//! another CPU resolved it, the new page goes back and the fault returns
//! `Minor` (the access retries). See `pte_lock.rs`. Growing a stack changes
//! the VMA tree: the shared path returns [`FaultError::ExpandStack`] and the
//! caller retries through [`AddressSpace::handle_fault_mut`] with the lock
//! exclusive (Linux 6.x's `lock_mm_and_find_vma` upgrading).

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn, PhysAddr};
use crate::phys::gfp::{GFP_HIGHUSER_MOVABLE, Gfp};
use crate::phys::page::PageFlags;
use crate::vm::address_space::{AddressSpace, MmEnv, Rlimits, STACK_GUARD_GAP, TASK_SIZE};
use crate::vm::file::{MemObject, ObjError};
use crate::vm::page_table::SOFT_DIRTY;
use crate::vm::pte_lock::{pte_maps_readonly, put_unless_zero};
use crate::vm::vma::{Backing, VmFlags, Vma};
use x86_64::structures::paging::PageTableFlags as F;

fn obj_error(env: &MmEnv<'_>, e: ObjError) -> FaultError {
    match e {
        ObjError::NoMemory => FaultError::Oom,
        // A shmem page on swap: the kernel takes its own reference to the
        // entry for the read (as for an anonymous page's), under the
        // address-space lock, so the object's one is given back here.
        ObjError::SwapIn(e) => {
            env.swap.free(env.pa, e);
            FaultError::SwapIn(e)
        }
        _ => FaultError::Bus,
    }
}

/// What the CPU reported (x86 page-fault error code, Intel SDM Vol. 3A 4.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultKind {
    /// The page was present (a protection violation).
    pub present: bool,
    pub write: bool,
    /// Instruction fetch.
    pub exec: bool,
}

impl FaultKind {
    /// Decode the x86 error code: bit 0 P, bit 1 W/R, bit 4 I/D.
    pub fn from_error_code(code: u64) -> FaultKind {
        FaultKind { present: code & 1 != 0, write: code & 2 != 0, exec: code & 16 != 0 }
    }

    pub const READ: FaultKind = FaultKind { present: false, write: false, exec: false };
    pub const WRITE: FaultKind = FaultKind { present: false, write: true, exec: false };
}

/// si_code of a SIGSEGV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegvCode {
    /// Address not mapped (SEGV_MAPERR).
    MapErr,
    /// Mapped but access not allowed (SEGV_ACCERR).
    AccErr,
}

/// A fault that cannot be resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    Segv(SegvCode),
    /// Access past the end of a mapped file.
    Bus,
    /// No memory: the OOM killer must free some, then retry.
    Oom,
    /// The address is just below a stack area that must grow first, which
    /// changes the VMA tree: retry with [`AddressSpace::handle_fault_mut`]
    /// (the address-space lock exclusive). Never returned by that one.
    ExpandStack,
    /// The page is on swap and not in memory: take a reference to the
    /// entry while still holding the lock, read it into the swap cache
    /// with no lock held, drop the reference and retry (swap_in.rs).
    SwapIn(crate::swap::entry::SwapEntry),
}

/// How a fault was resolved (for the fault counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultDone {
    Minor,
    /// The page had to be read in (first use of a file page).
    Major,
    /// Nothing was mapped: the page is moving (a migration entry). The
    /// access is to be retried once the caller has let other tasks run
    /// (Linux's `migration_entry_wait`): a non-preemptible kernel-mode
    /// retry loop must not keep the migrating task off this CPU.
    Retry,
}

impl AddressSpace {
    /// Resolve a fault at `addr` with the address-space lock held shared
    /// (several CPUs at once). On success the access can be retried; a
    /// fault below a stack area returns [`FaultError::ExpandStack`].
    pub fn handle_fault(&self, env: &MmEnv<'_>, addr: u64, kind: FaultKind) -> Result<FaultDone, FaultError> {
        let vma = match self.vmas.find(addr) {
            _ if addr >= TASK_SIZE => None,
            Some(v) if v.start <= addr => Some(v),
            Some(v) if v.is_stack() => return Err(FaultError::ExpandStack),
            _ => None,
        };
        env.pa.vmstat.pgfault.inc();
        let vma = vma.ok_or(FaultError::Segv(SegvCode::MapErr))?.clone();
        // access_error()
        if kind.write {
            if !vma.flags.contains(VmFlags::WRITE) {
                return Err(FaultError::Segv(SegvCode::AccErr));
            }
        } else if kind.present || !vma.flags.intersects(VmFlags::ACCESS) {
            return Err(FaultError::Segv(SegvCode::AccErr));
        }
        if vma.flags.contains(VmFlags::HUGETLB) {
            let done = self.hugetlb_fault(env, &vma, addr, kind)?;
            self.count_fault(false);
            return Ok(done);
        }
        let page = addr & !(PAGE_SIZE - 1);
        let (now, swapped) = {
            let _ptl = self.ptl.lock();
            let now = self.lookup(env, page);
            if now.is_none() && self.is_migrating(env, page) {
                // The page is moving (migrate.rs): wait for the entry to
                // map a page again, then retry (`migration_entry_wait`).
                core::hint::spin_loop();
                return Ok(FaultDone::Retry);
            }
            // No area on means no swap entry anywhere (swapoff brings
            // every page back first): the common first touch skips the walk.
            let swapped = if now.is_none() && env.swap.enabled() { self.swap_entry(env, page) } else { None };
            (now, swapped)
        };
        let done = match now {
            None => match swapped {
                Some(e) => self.do_swap_page(env, &vma, page, e, kind.write)?,
                None => self.do_missing(env, &vma, page, kind.write)?,
            },
            // A write to the huge zero page: split, then the retry takes
            // a 4 KiB page.
            Some((pfn, flags)) if kind.write && !flags.contains(F::WRITABLE) && env.pa.thp.is_huge_zero(pfn) => {
                self.thp_zero_wp(env, page)?;
                FaultDone::Minor
            }
            // A transparent huge page write-protected by fork: reused or
            // split (thp.rs), before the 4 KiB path.
            Some((_, flags)) if kind.write && !flags.contains(F::WRITABLE) && self.thp_wp(env, &vma, page)? => {
                FaultDone::Minor
            }
            Some((pfn, flags)) if kind.write && !flags.contains(F::WRITABLE) => {
                self.do_wp_page(env, &vma, page, pfn)?
            }
            Some(_) => {
                // Spurious: the TLB held an older entry.
                env.tlb.flush_page(page);
                FaultDone::Minor
            }
        };
        match done {
            FaultDone::Minor => self.count_fault(false),
            FaultDone::Major => {
                self.count_fault(true);
                env.pa.vmstat.pgmajfault.inc();
            }
            FaultDone::Retry => {}
        }
        Ok(done)
    }

    /// [`Self::handle_fault`] with the address-space lock exclusive: grows
    /// a stack area down to `addr` first when needed (RLIMIT_STACK, guard
    /// gap, commit).
    pub fn handle_fault_mut(
        &mut self,
        env: &MmEnv<'_>,
        addr: u64,
        kind: FaultKind,
        lim: &Rlimits,
    ) -> Result<FaultDone, FaultError> {
        let below_stack = self.vmas.find(addr).filter(|v| addr < TASK_SIZE && addr < v.start && v.is_stack());
        if let Some(start) = below_stack.map(|v| v.start) {
            if let Err(e) = self.expand_stack(env, start, addr, lim) {
                env.pa.vmstat.pgfault.inc();
                return Err(e);
            }
        }
        self.handle_fault(env, addr, kind)
    }

    /// A zeroed anonymous page for `va` of `vma`, marked, counted and
    /// owned by this space's family (the reverse map finds it from there).
    /// It goes on the LRU once mapped (`lru_add` after the install).
    pub(crate) fn new_anon_page(&self, env: &MmEnv<'_>, vma: &Vma, va: u64) -> Result<Pfn, FaultError> {
        // With swap on, a failure here is expected: the kernel reclaims
        // and retries (no warning for each).
        let quiet = if env.swap.enabled() { Gfp::NOWARN } else { Gfp::empty() };
        // A private copy of a shmem page goes by the object's policy too.
        let (area_pol, ilx) = crate::vm::mempolicy::vma_policy(vma, va);
        let policy = area_pol.as_ref().or(env.policy.as_ref());
        let gfp = GFP_HIGHUSER_MOVABLE | Gfp::ZERO | quiet;
        let pfn = crate::vm::mempolicy::alloc_page(env.pa, gfp, policy, ilx).ok_or(FaultError::Oom)?;
        if !env.pa.memcg_charge(pfn, crate::memcg::MemcgStat::Anon, crate::phys::page_alloc::ChargeMode::MayFail) {
            // The group's memory.max: the kernel reclaims from the group
            // (or kills inside it) and retries the fault.
            let _ = env.pa.free_pages(pfn, 0);
            return Err(FaultError::Oom);
        }
        if let Some(p) = env.pa.page(pfn) {
            p.insert_flags(PageFlags::ANON | PageFlags::SWAPBACKED);
            self.set_anon_owner(p, vma, va);
        }
        env.pa.vmstat.anon_pages.add(1);
        Ok(pfn)
    }

    fn copy_page(env: &MmEnv<'_>, from: Pfn, to: Pfn) {
        // `to` was just allocated for us; both are RAM, inside the window.
        let _ = env.pa.phys().copy_page(to, from);
    }

    /// Flags of a PTE a fault installs: accessed, and dirty when the fault
    /// wrote (Linux's `pte_mkdirty` in do_anonymous_page and wp_page_copy),
    /// so /proc/PID/smaps tells dirty from clean pages as Linux does; a
    /// dirty entry is soft-dirty too (x86's `pte_mkdirty` sets both).
    pub(crate) fn fault_pte_flags(vma_flags: VmFlags, writable: bool, dirty: bool) -> F {
        let mut f = Self::pte_flags(vma_flags, writable) | F::ACCESSED;
        if dirty && f.contains(F::WRITABLE) {
            f |= F::DIRTY | SOFT_DIRTY;
        }
        f
    }

    /// Whether a fault in a shared mapping maps the page writable: a
    /// write does; a read only while the area is soft-dirty as a whole.
    /// After clear_refs 4 a read maps it read-only, so that the first
    /// write faults and marks it soft-dirty (Linux's
    /// `vma_wants_writenotify` for `vma_soft_dirty_enabled`).
    pub(crate) fn shared_writable(vma: &Vma, write: bool) -> bool {
        write || vma.flags.contains(VmFlags::SOFTDIRTY)
    }

    /// The page at `va` was not mapped when the fault looked.
    pub(crate) fn do_missing(&self, env: &MmEnv<'_>, vma: &Vma, va: u64, write: bool) -> Result<FaultDone, FaultError> {
        match &vma.backing {
            Backing::Anon => self.do_anonymous(env, vma, va, write),
            Backing::Shared(obj) => self.do_shared_anon(env, vma, va, write, obj),
            Backing::File(obj) if write && !vma.flags.contains(VmFlags::SHARED) => self.do_cow_file(env, vma, va, obj),
            Backing::File(obj) => self.do_read_or_shared_file(env, vma, va, write, obj),
            Backing::Huge(_) => {
                self.hugetlb_fault(env, vma, va, if write { FaultKind::WRITE } else { FaultKind::READ })
            }
        }
    }

    /// Private anonymous memory: a read maps the zero page, a write a new
    /// zeroed page (`do_anonymous_page`).
    fn do_anonymous(&self, env: &MmEnv<'_>, vma: &Vma, va: u64, write: bool) -> Result<FaultDone, FaultError> {
        if let Some(done) = self.thp_fault(env, vma, va, write)? {
            return Ok(done);
        }
        if !write {
            self.install_missing(env, vma, va, env.zero_page, false, false)?;
        } else {
            let pfn = self.new_anon_page(env, vma, va)?;
            if self.install_missing(env, vma, va, pfn, true, true)? {
                env.pa.lru_add(pfn);
            }
        }
        Ok(FaultDone::Minor)
    }

    /// Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, SysV shm): the
    /// shmem object's page.
    fn do_shared_anon(
        &self,
        env: &MmEnv<'_>,
        vma: &Vma,
        va: u64,
        write: bool,
        obj: &MemObject,
    ) -> Result<FaultDone, FaultError> {
        let pfn = obj.get_page_for(vma.pgoff_of(va), env.policy.as_ref()).map_err(|e| obj_error(env, e))?;
        self.install_missing(env, vma, va, pfn, Self::shared_writable(vma, write), write)?;
        Ok(FaultDone::Minor)
    }

    /// A write to a private file mapping: the process gets its own copy of
    /// the page-cache page at once.
    fn do_cow_file(&self, env: &MmEnv<'_>, vma: &Vma, va: u64, obj: &MemObject) -> Result<FaultDone, FaultError> {
        let pgoff = vma.pgoff_of(va);
        let cached = obj.find_page(pgoff).is_some();
        let pfn = obj.get_page_for(pgoff, env.policy.as_ref()).map_err(|e| obj_error(env, e))?;
        let copy = match self.new_anon_page(env, vma, va) {
            Ok(c) => c,
            Err(e) => {
                env.pa.put_user_page(pfn);
                return Err(e);
            }
        };
        Self::copy_page(env, pfn, copy);
        env.pa.put_user_page(pfn);
        env.pa.vmstat.cow_faults.inc();
        let installed = self.install_missing(env, vma, va, copy, true, true)?;
        if installed {
            env.pa.lru_add(copy);
        }
        Ok(if cached || !installed { FaultDone::Minor } else { FaultDone::Major })
    }

    /// A read of a file mapping, or any access to a shared one: the
    /// page-cache page itself (read-only in a private mapping, so that a
    /// later write copies it).
    fn do_read_or_shared_file(
        &self,
        env: &MmEnv<'_>,
        vma: &Vma,
        va: u64,
        write: bool,
        obj: &MemObject,
    ) -> Result<FaultDone, FaultError> {
        let pgoff = vma.pgoff_of(va);
        let cached = obj.find_page(pgoff).is_some();
        let pfn = obj.get_page_for(pgoff, env.policy.as_ref()).map_err(|e| obj_error(env, e))?;
        let writable = vma.flags.contains(VmFlags::SHARED) && Self::shared_writable(vma, write);
        let installed = self.install_missing(env, vma, va, pfn, writable, write)?;
        Ok(if cached || !installed { FaultDone::Minor } else { FaultDone::Major })
    }

    /// Write to a present, read-only page `old` of a writable area
    /// (`do_wp_page`).
    pub(crate) fn do_wp_page(&self, env: &MmEnv<'_>, vma: &Vma, va: u64, old: Pfn) -> Result<FaultDone, FaultError> {
        if vma.flags.contains(VmFlags::SHARED) {
            // A shared mapping whose PTE was write-protected (mprotect,
            // clear_refs 4): just allow the write.
            self.make_writable(env, vma, va, old)?;
            return Ok(FaultDone::Minor);
        }
        if old != env.zero_page && self.try_reuse(env, vma, va, old)? {
            return Ok(FaultDone::Minor);
        }
        self.wp_copy(env, vma, va, old)
    }

    /// The last user of an anonymous page keeps it (`wp_can_reuse_anon_folio`):
    /// whether the page was reused (or another CPU changed the entry).
    fn try_reuse(&self, env: &MmEnv<'_>, vma: &Vma, va: u64, old: Pfn) -> Result<bool, FaultError> {
        let Some(p) = env.pa.page(old) else { return Ok(false) };
        let sole = || p.has(PageFlags::ANON) && p.refcount() == 1 && p.mapcount() == 1;
        if !sole() {
            return Ok(false);
        }
        // Another mapping can only be added with the space lock exclusive
        // (fork), so the look under the PTL is stable until we set the bit.
        let flags = Self::fault_pte_flags(vma.flags, true, true);
        let reused = self.with_pte(env, va, |pte, _| {
            let still = pte_maps_readonly(pte, old) && sole();
            if still {
                pte.set_flags(flags);
            }
            still
        })?;
        if reused {
            env.tlb.flush_page(va);
            if p.test_and_clear_flag(PageFlags::LAZYFREE) {
                env.pa.vmstat.lazyfree_pages.sub(1);
                env.pa.lru_set_lazyfree(p, false);
            }
            env.pa.vmstat.pgreuse.inc();
        }
        // Not reused only because the entry changed: another CPU handled
        // it, the access retries.
        Ok(reused || !self.maps_readonly(env, va, old))
    }

    /// Copy-on-write proper (`wp_page_copy`): copy `old` (nothing to copy
    /// from the zero page) into a new anonymous page and swap the entry.
    fn wp_copy(&self, env: &MmEnv<'_>, vma: &Vma, va: u64, old: Pfn) -> Result<FaultDone, FaultError> {
        // Hold `old` while copying: another CPU may replace the entry and
        // drop the page meanwhile.
        if !self.get_if_mapped(env, va, old)? {
            return Ok(FaultDone::Minor);
        }
        let new = match self.new_anon_page(env, vma, va) {
            Ok(n) => n,
            Err(e) => {
                put_unless_zero(env, old);
                return Err(e);
            }
        };
        if old != env.zero_page {
            Self::copy_page(env, old, new);
        }
        put_unless_zero(env, old);
        env.pa.vmstat.cow_faults.inc();
        self.replace_cow(env, vma, va, old, new)?;
        Ok(FaultDone::Minor)
    }

    /// Grow the stack area starting at `vma_start` down to cover `addr`
    /// (`expand_downwards`): within RLIMIT_STACK, RLIMIT_AS and the commit,
    /// and never closer than the guard gap to the area below.
    fn expand_stack(&mut self, env: &MmEnv<'_>, vma_start: u64, addr: u64, lim: &Rlimits) -> Result<(), FaultError> {
        let segv = FaultError::Segv(SegvCode::MapErr);
        let new_start = addr & !(PAGE_SIZE - 1);
        let mut vma = self.vmas.remove(vma_start).ok_or(segv)?;
        let restore = |this: &mut AddressSpace, v: Vma| {
            this.vmas.insert(v, usize::MAX).expect("fault: re-inserting the stack");
        };
        let grow = (vma.start - new_start) >> PAGE_SHIFT;
        let size = vma.end - new_start;
        // The guard gap is kept from an accessible area below that does not
        // grow down itself (Linux's `expand_downwards`).
        let prev = self.vmas.prev(new_start + 1);
        let too_close = prev.is_some_and(|p| {
            p.end > new_start
                || (!p.is_stack() && p.flags.intersects(VmFlags::ACCESS) && new_start - p.end < STACK_GUARD_GAP)
        });
        if size > lim.stack || too_close || !self.may_expand(vma.flags, grow, lim) {
            restore(self, vma);
            return Err(segv);
        }
        if vma.flags.contains(VmFlags::ACCOUNT)
            && env.commit.account_for(env.pa, grow, lim.admin, self.vm.total_vm).is_err()
        {
            restore(self, vma);
            return Err(segv);
        }
        self.account_vma(&vma, false);
        vma.start = new_start;
        // The area's first page keeps its linear index (its pages' reverse
        // map depends on it): the new ones come before it.
        vma.pgoff = vma.pgoff.saturating_sub(grow);
        self.account_vma(&vma, true);
        if vma.flags.contains(VmFlags::ACCOUNT) {
            self.vm.committed += grow;
        }
        restore(self, vma);
        Ok(())
    }

    /// Fault in every page of `[start, end)` (MAP_POPULATE, mlock): private
    /// writable areas are faulted for write (copy-on-write broken now),
    /// others for read. PROT_NONE areas are skipped.
    pub fn populate(&mut self, env: &MmEnv<'_>, start: u64, end: u64, lim: &Rlimits) -> Result<(), FaultError> {
        let mut va = start & !(PAGE_SIZE - 1);
        while va < end {
            let Some(v) = self.vmas.find(va).filter(|v| v.start < end).cloned() else { break };
            if va < v.start {
                va = v.start;
            }
            if !v.flags.intersects(VmFlags::ACCESS) {
                va = v.end;
                continue;
            }
            let write = v.flags & (VmFlags::WRITE | VmFlags::SHARED) == VmFlags::WRITE;
            let present = self.lookup(env, va);
            let needs = match present {
                None => true,
                Some((_, f)) => write && !f.contains(F::WRITABLE),
            };
            if needs {
                let kind = FaultKind { present: present.is_some(), write, exec: false };
                self.handle_fault_mut(env, va, kind, lim)?;
            }
            va += PAGE_SIZE;
        }
        Ok(())
    }

    /// Write `data` at user address `va` through the direct map, faulting
    /// the pages in for write first.
    ///
    /// The one exception to "user memory only through the kernel's uaccess
    /// path": exec builds a new program's stack and zeroes its bss tail in an
    /// address space that is not the current one, so no user-pointer copy
    /// can reach it. Everything else (clone's tid pointers, exit's
    /// clear_child_tid ...) uses the current process's uaccess. It checks
    /// what the uaccess path would: nothing at or above TASK_SIZE (the page
    /// walk would happily find the kernel half) and only pages of a VMA the
    /// process itself may write; SEGV otherwise, nothing written.
    pub fn write_bytes(&mut self, env: &MmEnv<'_>, va: u64, data: &[u8], lim: &Rlimits) -> Result<(), FaultError> {
        let in_user = va.checked_add(data.len() as u64).is_some_and(|end| end <= TASK_SIZE);
        if !in_user {
            return Err(FaultError::Segv(SegvCode::MapErr));
        }
        let mut done = 0usize;
        while done < data.len() {
            let addr = va + done as u64;
            let page = addr & !(PAGE_SIZE - 1);
            let writable = self.lookup(env, page).is_some_and(|(_, f)| f.contains(F::WRITABLE));
            if !writable {
                let present = self.lookup(env, page).is_some();
                self.handle_fault_mut(env, page, FaultKind { present, write: true, exec: false }, lim)?;
            }
            // The fault above already refuses a write the VMA forbids; say it
            // again for pages that were writable before (never trust a PTE
            // alone for a write on the process's behalf).
            if !self.vmas.containing(page).is_some_and(|v| v.flags.contains(VmFlags::WRITE)) {
                return Err(FaultError::Segv(SegvCode::AccErr));
            }
            let (pfn, _) = self.lookup(env, page).ok_or(FaultError::Oom)?;
            let off = (addr - page) as usize;
            let n = (PAGE_SIZE as usize - off).min(data.len() - done);
            // `n` bytes of a page this address space owns privately and
            // writably (just faulted for write).
            let dst = PhysAddr::new(pfn.phys() + off as u64);
            env.pa.phys().write(dst, &data[done..done + n]).map_err(|_| FaultError::Oom)?;
            done += n;
        }
        Ok(())
    }

    /// Read `buf.len()` bytes at user address `va` from mapped pages (no
    /// faults are taken; the read stops at the first unmapped page). For
    /// /proc views, with the space lock shared: each page is looked up and
    /// copied under the PTL, so a concurrent COW fault cannot free it
    /// between the two.
    pub fn read_bytes(&self, env: &MmEnv<'_>, va: u64, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            let addr = va + done as u64;
            let page = addr & !(PAGE_SIZE - 1);
            let off = (addr - page) as usize;
            let n = (PAGE_SIZE as usize - off).min(buf.len() - done);
            let _ptl = self.ptl.lock();
            let Some((pfn, _)) = self.lookup(env, page) else { return done };
            if env.pa.phys().read(PhysAddr::new(pfn.phys() + off as u64), &mut buf[done..done + n]).is_err() {
                return done;
            }
            done += n;
        }
        done
    }
}
