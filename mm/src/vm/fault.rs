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
//!   present, write to a read-only PTE in a writable VMA: copy-on-write
//!       shared mapping           -> make it writable (mprotect, clear_refs 4)
//!       zero page                -> a zeroed page
//!       last reference to an anonymous page -> reuse it, make it writable
//!                                (also a page clear_refs 4 write-protected)
//!       otherwise                -> copy into a new anonymous page
//! ```
//!
//! No page and no page table reaches a process with another's data: new
//! pages and page tables come zeroed from the buddy allocator.

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn, PhysAddr};
use crate::phys::gfp::{GFP_HIGHUSER_MOVABLE, Gfp};
use crate::phys::page::PageFlags;
use crate::vm::address_space::{AddressSpace, MmEnv, Rlimits, STACK_GUARD_GAP, TASK_SIZE};
use crate::vm::file::ObjError;
use crate::vm::page_table::SOFT_DIRTY;
use crate::vm::vma::{Backing, VmFlags, Vma};
use x86_64::structures::paging::PageTableFlags as F;

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
}

impl AddressSpace {
    /// Resolve a fault at `addr`. On success the access can be retried.
    pub fn handle_fault(
        &mut self,
        env: &MmEnv<'_>,
        addr: u64,
        kind: FaultKind,
        lim: &Rlimits,
    ) -> Result<FaultDone, FaultError> {
        env.pa.vmstat.pgfault.inc();
        if addr >= TASK_SIZE {
            return Err(FaultError::Segv(SegvCode::MapErr));
        }
        let vma = match self.vmas.find(addr) {
            Some(v) if v.start <= addr => v.clone(),
            Some(v) if v.is_stack() => {
                let start = v.start;
                self.expand_stack(env, start, addr, lim)?;
                self.vmas.containing(addr).cloned().ok_or(FaultError::Segv(SegvCode::MapErr))?
            }
            _ => return Err(FaultError::Segv(SegvCode::MapErr)),
        };
        // access_error()
        if kind.write {
            if !vma.flags.contains(VmFlags::WRITE) {
                return Err(FaultError::Segv(SegvCode::AccErr));
            }
        } else if kind.present || !vma.flags.intersects(VmFlags::ACCESS) {
            return Err(FaultError::Segv(SegvCode::AccErr));
        }
        let page = addr & !(PAGE_SIZE - 1);
        let done = match self.lookup(env, page) {
            None => match self.swap_entry(env, page) {
                Some(e) => self.do_swap_page(env, &vma, page, e, kind.write)?,
                None => self.do_missing(env, &vma, page, kind.write)?,
            },
            Some((pfn, flags)) => {
                if kind.write && !flags.contains(x86_64::structures::paging::PageTableFlags::WRITABLE) {
                    self.do_wp_page(env, &vma, page, pfn)?
                } else {
                    // Spurious: the TLB held an older entry.
                    env.tlb.flush_page(page);
                    FaultDone::Minor
                }
            }
        };
        match done {
            FaultDone::Minor => self.counters.min_flt += 1,
            FaultDone::Major => {
                self.counters.maj_flt += 1;
                env.pa.vmstat.pgmajfault.inc();
            }
        }
        Ok(done)
    }

    /// A zeroed anonymous page, marked and counted.
    fn new_anon_page(&self, env: &MmEnv<'_>) -> Result<Pfn, FaultError> {
        // With swap on, a failure here is expected: the kernel reclaims
        // and retries (no warning for each).
        let quiet = if env.swap.enabled() { Gfp::NOWARN } else { Gfp::empty() };
        let pfn = env.pa.alloc_pages(GFP_HIGHUSER_MOVABLE | Gfp::ZERO | quiet, 0).ok_or(FaultError::Oom)?;
        if let Some(p) = env.pa.page(pfn) {
            p.insert_flags(PageFlags::ANON | PageFlags::SWAPBACKED);
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

    /// Map `pfn` at `va` for a fault; `write`: the fault was a write.
    fn install(
        &mut self,
        env: &MmEnv<'_>,
        vma: &Vma,
        va: u64,
        pfn: Pfn,
        writable: bool,
        write: bool,
    ) -> Result<(), FaultError> {
        // A private anonymous page mapped writable exists because of a write.
        let anon = pfn != env.zero_page && env.pa.page(pfn).is_some_and(|p| p.has(PageFlags::ANON));
        let flags = Self::fault_pte_flags(vma.flags, writable, anon || write);
        match self.install_pte(env, va, pfn, flags) {
            Ok(f) => {
                f.flush(env.tlb);
                // Any page mapped into a locked area is locked (Linux's
                // mlock_vma_folio from the rmap), not only new anonymous ones.
                if vma.flags.contains(VmFlags::LOCKED) {
                    crate::vm::mlock::mlock_page(env, pfn);
                }
                Ok(())
            }
            Err(_) => {
                if pfn != env.zero_page {
                    env.pa.put_user_page(pfn);
                }
                Err(FaultError::Oom)
            }
        }
    }

    /// Whether a fault in a shared mapping maps the page writable: a
    /// write does; a read only while the area is soft-dirty as a whole.
    /// After clear_refs 4 a read maps it read-only, so that the first
    /// write faults and marks it soft-dirty (Linux's
    /// `vma_wants_writenotify` for `vma_soft_dirty_enabled`).
    pub(crate) fn shared_writable(vma: &Vma, write: bool) -> bool {
        write || vma.flags.contains(VmFlags::SOFTDIRTY)
    }

    /// The page at `va` is not mapped yet.
    pub(crate) fn do_missing(
        &mut self,
        env: &MmEnv<'_>,
        vma: &Vma,
        va: u64,
        write: bool,
    ) -> Result<FaultDone, FaultError> {
        let pgoff = vma.pgoff_of(va);
        match &vma.backing {
            Backing::Anon => {
                if !write {
                    self.install(env, vma, va, env.zero_page, false, false)?;
                } else {
                    let pfn = self.new_anon_page(env)?;
                    self.install(env, vma, va, pfn, true, true)?;
                }
                Ok(FaultDone::Minor)
            }
            Backing::Shared(obj) => {
                let pfn = obj
                    .get_page(pgoff)
                    .map_err(|e| if e == ObjError::NoMemory { FaultError::Oom } else { FaultError::Bus })?;
                self.install(env, vma, va, pfn, Self::shared_writable(vma, write), write)?;
                Ok(FaultDone::Minor)
            }
            Backing::File(obj) => {
                let cached = obj.find_page(pgoff).is_some();
                let pfn = obj
                    .get_page(pgoff)
                    .map_err(|e| if e == ObjError::NoMemory { FaultError::Oom } else { FaultError::Bus })?;
                if write && !vma.flags.contains(VmFlags::SHARED) {
                    // Private write: the process gets its own copy at once.
                    let copy = match self.new_anon_page(env) {
                        Ok(c) => c,
                        Err(e) => {
                            env.pa.put_user_page(pfn);
                            return Err(e);
                        }
                    };
                    Self::copy_page(env, pfn, copy);
                    env.pa.put_user_page(pfn);
                    env.pa.vmstat.cow_faults.inc();
                    self.install(env, vma, va, copy, true, true)?;
                } else {
                    let writable = vma.flags.contains(VmFlags::SHARED) && Self::shared_writable(vma, write);
                    self.install(env, vma, va, pfn, writable, write)?;
                }
                Ok(if cached { FaultDone::Minor } else { FaultDone::Major })
            }
        }
    }

    /// Write to a present, read-only page of a writable area.
    pub(crate) fn do_wp_page(
        &mut self,
        env: &MmEnv<'_>,
        vma: &Vma,
        va: u64,
        old: Pfn,
    ) -> Result<FaultDone, FaultError> {
        if vma.flags.contains(VmFlags::SHARED) {
            // A shared mapping whose PTE was write-protected (mprotect):
            // just allow the write.
            let flags = Self::fault_pte_flags(vma.flags, true, true);
            if let Ok(Some(pte)) = self.mapper(env).pte(va, false) {
                pte.set_flags(flags);
            }
            env.tlb.flush_page(va);
            return Ok(FaultDone::Minor);
        }
        if old != env.zero_page {
            if let Some(p) = env.pa.page(old) {
                if p.has(PageFlags::ANON) && p.refcount() == 1 && p.mapcount() == 1 {
                    // The last user of an anonymous page keeps it.
                    if let Ok(Some(pte)) = self.mapper(env).pte(va, false) {
                        pte.set_flags(Self::fault_pte_flags(vma.flags, true, true));
                    }
                    env.tlb.flush_page(va);
                    if p.test_and_clear_flag(PageFlags::LAZYFREE) {
                        env.pa.vmstat.lazyfree_pages.sub(1);
                    }
                    env.pa.vmstat.pgreuse.inc();
                    return Ok(FaultDone::Minor);
                }
            }
        }
        let new = self.new_anon_page(env)?;
        if old != env.zero_page {
            Self::copy_page(env, old, new);
        }
        env.pa.vmstat.cow_faults.inc();
        let flags = Self::fault_pte_flags(vma.flags, true, true);
        let flush = match self.install_pte(env, va, new, flags) {
            Ok(f) => f,
            Err(_) => {
                env.pa.put_user_page(new);
                return Err(FaultError::Oom);
            }
        };
        flush.flush(env.tlb);
        if vma.flags.contains(VmFlags::LOCKED) {
            crate::vm::mlock::mlock_page(env, new);
            crate::vm::mlock::munlock_page(env, old);
        }
        // install_pte replaced the entry; drop the old page's mapping.
        if old != env.zero_page {
            let leaf = crate::vm::page_table::Leaf {
                va,
                phys: PhysAddr::new(old.phys()),
                size: crate::vm::page_table::MapSize::Size4K,
                flags,
                writable: false,
                executable: false,
                user: true,
            };
            self.release_leaf(env, &leaf);
        }
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
            && env.commit.account_for(env.pa, grow, lim.admin, self.counters.total_vm).is_err()
        {
            restore(self, vma);
            return Err(segv);
        }
        self.account_vma(&vma, false);
        vma.start = new_start;
        vma.pgoff = new_start >> PAGE_SHIFT;
        self.account_vma(&vma, true);
        if vma.flags.contains(VmFlags::ACCOUNT) {
            self.counters.committed += grow;
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
                Some((_, f)) => write && !f.contains(x86_64::structures::paging::PageTableFlags::WRITABLE),
            };
            if needs {
                let kind = FaultKind { present: present.is_some(), write, exec: false };
                self.handle_fault(env, va, kind, lim)?;
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
            let writable = self
                .lookup(env, page)
                .is_some_and(|(_, f)| f.contains(x86_64::structures::paging::PageTableFlags::WRITABLE));
            if !writable {
                let present = self.lookup(env, page).is_some();
                self.handle_fault(env, page, FaultKind { present, write: true, exec: false }, lim)?;
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
    /// faults are taken; unmapped bytes read as zero). For /proc views.
    pub fn read_bytes(&self, env: &MmEnv<'_>, va: u64, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            let addr = va + done as u64;
            let page = addr & !(PAGE_SIZE - 1);
            let off = (addr - page) as usize;
            let n = (PAGE_SIZE as usize - off).min(buf.len() - done);
            let Some((pfn, _)) = self.lookup(env, page) else { return done };
            if env.pa.phys().read(PhysAddr::new(pfn.phys() + off as u64), &mut buf[done..done + n]).is_err() {
                return done;
            }
            done += n;
        }
        done
    }
}
