//! mmap(2) (cf. mm/mmap.c `do_mmap`, `mmap_region`, `get_unmapped_area`).
//!
//! The checks run in Linux's order, so each invalid combination gets the
//! errno Linux gives it:
//!
//! ```text
//!   len == 0                                   EINVAL
//!   offset not page aligned (syscall layer)    EINVAL
//!   len rounds up to 0 / pgoff overflows       ENOMEM / EOVERFLOW
//!   too many mappings                          ENOMEM
//!   MAP_FIXED: beyond TASK_SIZE                ENOMEM
//!   MAP_FIXED: unaligned address               EINVAL
//!   MAP_FIXED below mmap_min_addr              EPERM
//!   no hole big enough                         ENOMEM
//!   MAP_FIXED_NOREPLACE over a mapping         EEXIST
//!   anonymous: not exactly PRIVATE or SHARED   EINVAL
//!   file: unreadable / shared+write on RO fd   EACCES
//!   MAP_SHARED_VALIDATE with unknown flags     EOPNOTSUPP
//!   shared + PROT_WRITE on a write-sealed file EPERM
//!   RLIMIT_AS / RLIMIT_DATA exceeded           ENOMEM
//!   overcommit policy refuses                  ENOMEM
//!   MAP_LOCKED, RLIMIT_MEMLOCK 0, unprivileged EPERM
//!   MAP_LOCKED over RLIMIT_MEMLOCK             EAGAIN
//! ```
//!
//! Unknown PROT bits are ignored, as Linux's mmap ignores them (mprotect
//! refuses them). A new area merges with a compatible neighbour. MAP_FIXED first removes
//! whatever was mapped in the range. MAP_POPULATE (and MAP_LOCKED) fault
//! the pages in before returning.

use alloc::sync::Arc;

use abi::mman::{
    MAP_ANONYMOUS, MAP_DENYWRITE, MAP_EXECUTABLE, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_GROWSDOWN, MAP_HUGE_MASK,
    MAP_HUGE_SHIFT, MAP_HUGETLB, MAP_LOCKED, MAP_NONBLOCK, MAP_NORESERVE, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED,
    MAP_SHARED_VALIDATE, MAP_STACK, MAP_TYPE, MAP_UNINITIALIZED, PROT_EXEC, PROT_READ, PROT_WRITE,
};

use crate::addr::{PAGE_SHIFT, PAGE_SIZE};
use crate::error::MmError;
use crate::phys::hugetlb::HPAGE_SIZE;
use crate::vm::address_space::{AddressSpace, MmEnv, Rlimits, STACK_GUARD_GAP, TASK_SIZE};
use crate::vm::file::MemObject;
use crate::vm::vma::{Backing, VmFlags, Vma};

/// Flags MAP_SHARED_VALIDATE accepts (LEGACY_MAP_MASK plus MAP_SYNC,
/// which this kernel refuses as no file supports DAX).
const LEGACY_MAP_MASK: u32 = MAP_SHARED
    | MAP_PRIVATE
    | MAP_FIXED
    | MAP_ANONYMOUS
    | MAP_DENYWRITE
    | MAP_EXECUTABLE
    | MAP_UNINITIALIZED
    | MAP_GROWSDOWN
    | MAP_LOCKED
    | MAP_NORESERVE
    | MAP_POPULATE
    | MAP_NONBLOCK
    | MAP_STACK
    | MAP_HUGETLB;

/// A file to map, as the syscall layer found it behind the fd.
#[derive(Clone)]
pub struct FileMapping {
    pub object: Arc<MemObject>,
    /// Opened for reading / writing.
    pub readable: bool,
    pub writable: bool,
}

/// A hugetlb file to map (a MFD_HUGETLB memfd), as the syscall layer
/// found it behind the fd.
#[derive(Clone)]
pub struct HugeFileMapping {
    pub object: Arc<crate::vm::hugetlb::HugeObject>,
    pub readable: bool,
    pub writable: bool,
}

/// mmap's arguments (offset in bytes, already checked for alignment).
#[derive(Clone)]
pub struct MmapRequest {
    pub addr: u64,
    pub len: u64,
    pub prot: u32,
    pub flags: u32,
    pub file: Option<FileMapping>,
    pub offset: u64,
}

/// VM_READ/WRITE/EXEC from PROT bits.
pub fn prot_to_vm(prot: u32) -> VmFlags {
    let mut f = VmFlags::empty();
    if prot & PROT_READ != 0 {
        f |= VmFlags::READ;
    }
    if prot & PROT_WRITE != 0 {
        f |= VmFlags::WRITE;
    }
    if prot & PROT_EXEC != 0 {
        f |= VmFlags::EXEC;
    }
    f
}

impl AddressSpace {
    /// `get_unmapped_area`: where `len` bytes go. A free, aligned hint is
    /// honoured; otherwise the highest hole below `mmap_base`, then any
    /// hole, never below `min_addr` (`vm.mmap_min_addr`).
    pub fn get_unmapped_area(&self, min_addr: u64, hint: u64, len: u64) -> Result<u64, MmError> {
        if len > TASK_SIZE {
            return Err(MmError::NoMemory);
        }
        if hint != 0 {
            let hint = hint & !(PAGE_SIZE - 1);
            if hint >= min_addr && hint <= TASK_SIZE - len && self.vmas.is_free(hint, hint + len, STACK_GUARD_GAP) {
                return Ok(hint);
            }
        }
        if self.layout.legacy {
            // arch_get_unmapped_area: bottom-up from the legacy base, and
            // no second try below it.
            let low = self.layout.mmap_base.max(min_addr);
            return self.vmas.gap_bottomup(len, low, TASK_SIZE, STACK_GUARD_GAP).ok_or(MmError::NoMemory);
        }
        let base = if self.layout.mmap_base != 0 { self.layout.mmap_base } else { TASK_SIZE };
        self.vmas
            .gap_topdown(len, min_addr, base, STACK_GUARD_GAP)
            .or_else(|| self.vmas.gap_topdown(len, min_addr, TASK_SIZE, STACK_GUARD_GAP))
            .ok_or(MmError::NoMemory)
    }

    /// `get_unmapped_area` for a mapping aligned to `align` (hugetlb's):
    /// the hint if free and aligned, else the highest aligned hole.
    pub fn get_unmapped_area_aligned(&self, min_addr: u64, hint: u64, len: u64, align: u64) -> Result<u64, MmError> {
        if len > TASK_SIZE {
            return Err(MmError::NoMemory);
        }
        if hint != 0 && hint % align == 0 {
            if let Ok(a) = self.get_unmapped_area(min_addr, hint, len) {
                if a == hint {
                    return Ok(a);
                }
            }
        }
        // A hole `align` larger holds an aligned range; its top is used.
        let padded = len.checked_add(align - PAGE_SIZE).ok_or(MmError::NoMemory)?;
        let start = self.get_unmapped_area(min_addr, 0, padded)?;
        Ok((start + padded - len) & !(align - 1))
    }

    /// mmap(2). Returns the address of the new mapping.
    pub fn mmap(&mut self, env: &MmEnv<'_>, req: &MmapRequest, lim: &Rlimits) -> Result<u64, MmError> {
        self.mmap_with(env, req, None, lim)
    }

    /// mmap(2) of a hugetlb file (`req.file` is None): 2 MiB pages of
    /// its object, the offset a multiple of 2 MiB (EINVAL otherwise).
    pub fn mmap_huge_file(
        &mut self,
        env: &MmEnv<'_>,
        req: &MmapRequest,
        file: HugeFileMapping,
        lim: &Rlimits,
    ) -> Result<u64, MmError> {
        self.mmap_with(env, req, Some(file), lim)
    }

    fn mmap_with(
        &mut self,
        env: &MmEnv<'_>,
        req: &MmapRequest,
        hfile: Option<HugeFileMapping>,
        lim: &Rlimits,
    ) -> Result<u64, MmError> {
        if req.len == 0 {
            return Err(MmError::Invalid);
        }
        let prot = req.prot & (PROT_READ | PROT_WRITE | PROT_EXEC);
        let mut flags = req.flags;
        let mut addr = req.addr;
        if flags & MAP_FIXED == 0 && addr < env.mmap_min_addr {
            // round_hint_to_min: a hint below mmap_min_addr is no hint.
            addr = 0;
        }
        let huge = flags & MAP_HUGETLB != 0 || hfile.is_some();
        if hfile.as_ref().is_some_and(|h| req.offset % h.object.hpage_size() != 0) {
            return Err(MmError::Invalid);
        }
        // The huge page size: a file's own (2 MiB), or for anonymous
        // hugetlb memory the MAP_HUGE_* size (log2 in bits 26..31), 0 for
        // the default one; a size without a pool is EINVAL.
        let mut hsize = hfile.as_ref().map_or(HPAGE_SIZE, |h| h.object.hpage_size());
        if huge && hfile.is_none() {
            let log = (flags >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK;
            let default_1g = env.pa.hugetlb_default_1g.load(core::sync::atomic::Ordering::Relaxed);
            let has_1g = env.pa.hugetlb_1g.is_registered();
            hsize = match log {
                0 if default_1g => crate::phys::hugetlb::GPAGE_SIZE,
                0 | 21 => HPAGE_SIZE,
                30 if has_1g => crate::phys::hugetlb::GPAGE_SIZE,
                _ => return Err(MmError::Invalid),
            };
            if req.file.is_some() {
                return Err(MmError::Invalid);
            }
        }
        let len = if huge {
            crate::vm::hugetlb::huge_len(req.len, hsize).ok_or(MmError::NoMemory)?
        } else {
            req.len.checked_next_multiple_of(PAGE_SIZE).ok_or(MmError::NoMemory)?
        };
        let pgoff = req.offset >> PAGE_SHIFT;
        if pgoff.checked_add(len >> PAGE_SHIFT).is_none() {
            return Err(MmError::Overflow);
        }
        if self.vmas.len() > env.max_map_count {
            return Err(MmError::NoMemory);
        }
        if flags & MAP_FIXED_NOREPLACE != 0 {
            flags |= MAP_FIXED;
        }
        // Address first (get_unmapped_area), as Linux does.
        let addr = if flags & MAP_FIXED != 0 {
            // __get_unmapped_area: the range first, then the alignment.
            if len > TASK_SIZE || addr > TASK_SIZE - len {
                return Err(MmError::NoMemory);
            }
            if addr % PAGE_SIZE != 0 || (huge && addr % hsize != 0) {
                return Err(MmError::Invalid);
            }
            if addr < env.mmap_min_addr {
                return Err(MmError::Perm);
            }
            addr
        } else if huge {
            self.get_unmapped_area_aligned(env.mmap_min_addr, addr, len, hsize)?
        } else {
            self.get_unmapped_area(env.mmap_min_addr, addr, len)?
        };
        if req.flags & MAP_FIXED_NOREPLACE != 0 && self.vmas.intersection(addr, addr + len).is_some() {
            return Err(MmError::Exists);
        }
        let mut vm = prot_to_vm(prot) | VmFlags::MAYREAD | VmFlags::MAYWRITE | VmFlags::MAYEXEC | self.def_flags;
        if flags & MAP_GROWSDOWN != 0 {
            vm |= VmFlags::GROWSDOWN;
        }
        if flags & MAP_LOCKED != 0 {
            // can_do_mlock: a zero RLIMIT_MEMLOCK without the privilege.
            if lim.memlock == 0 && !lim.can_lock {
                return Err(MmError::Perm);
            }
            vm |= VmFlags::LOCKED;
        }
        if vm.contains(VmFlags::LOCKED) && !lim.can_lock {
            let locked = (self.vm.locked_vm + (len >> PAGE_SHIFT)) * PAGE_SIZE;
            if locked > lim.memlock {
                return Err(MmError::Again);
            }
        }
        let backing = if let Some(hf) = &hfile {
            let shared = match flags & MAP_TYPE {
                MAP_SHARED | MAP_SHARED_VALIDATE => true,
                MAP_PRIVATE => false,
                _ => return Err(MmError::Invalid),
            };
            if !hf.readable || (shared && prot & PROT_WRITE != 0 && !hf.writable) {
                return Err(MmError::Access);
            }
            vm |= VmFlags::HUGETLB | VmFlags::DONTEXPAND;
            if shared {
                vm |= VmFlags::SHARED | VmFlags::MAYSHARE;
                if !hf.writable {
                    vm.remove(VmFlags::MAYWRITE | VmFlags::SHARED);
                }
                // hugetlb_reserve_pages for the file's range.
                let first = pgoff / hf.object.hpage_pages();
                let last = (pgoff + (len >> PAGE_SHIFT)) / hf.object.hpage_pages();
                if flags & MAP_NORESERVE == 0 && !hf.object.reserve(first, last) {
                    return Err(MmError::NoMemory);
                }
            }
            // hugetlbfs_file_mmap: a writable mapping past the end grows
            // the file.
            let end = req.offset + len;
            if prot & PROT_WRITE != 0 && hf.object.size() < end {
                hf.object.set_size(end);
            }
            Backing::Huge(hf.object.clone())
        } else {
            match &req.file {
                Some(f) => {
                    match flags & MAP_TYPE {
                        MAP_SHARED | MAP_SHARED_VALIDATE => {
                            if flags & MAP_TYPE == MAP_SHARED_VALIDATE
                                && flags & !(LEGACY_MAP_MASK | MAP_FIXED_NOREPLACE) != 0
                            {
                                return Err(MmError::NotSupported);
                            }
                            if prot & PROT_WRITE != 0 && !f.writable {
                                return Err(MmError::Access);
                            }
                            vm |= VmFlags::SHARED | VmFlags::MAYSHARE;
                            if !f.writable {
                                vm.remove(VmFlags::MAYWRITE | VmFlags::SHARED);
                            }
                            if !f.readable {
                                return Err(MmError::Access);
                            }
                            // memfd_check_seals_mmap: a write-sealed file takes no
                            // shared writable mapping, and a shared read-only one
                            // may never become writable (mprotect: EACCES). Checked
                            // under this space's lock, which the seal's mapping
                            // count also takes: F_ADD_SEALS publishes the seal
                            // before counting, so one of the two sees the other.
                            if f.object.write_sealed() {
                                if prot & PROT_WRITE != 0 {
                                    return Err(MmError::Perm);
                                }
                                vm.remove(VmFlags::MAYWRITE);
                            }
                        }
                        MAP_PRIVATE => {
                            if !f.readable {
                                return Err(MmError::Access);
                            }
                        }
                        _ => return Err(MmError::Invalid),
                    }
                    Backing::File(f.object.clone())
                }
                None if huge => {
                    if vm.contains(VmFlags::GROWSDOWN) || !matches!(flags & MAP_TYPE, MAP_SHARED | MAP_PRIVATE) {
                        return Err(MmError::Invalid);
                    }
                    let shared = flags & MAP_TYPE == MAP_SHARED;
                    if shared {
                        vm |= VmFlags::SHARED | VmFlags::MAYSHARE;
                    }
                    vm |= VmFlags::HUGETLB | VmFlags::DONTEXPAND;
                    let order = (hsize >> PAGE_SHIFT).trailing_zeros();
                    let name = "/anon_hugepage (deleted)";
                    let obj = crate::vm::hugetlb::HugeObject::new_sized(env.pa, shared, name, addr >> 21, order);
                    // hugetlb_reserve_pages: every page promised now, unless
                    // MAP_NORESERVE.
                    if flags & MAP_NORESERVE == 0 && !obj.reserve(0, len / hsize) {
                        return Err(MmError::NoMemory);
                    }
                    Backing::Huge(obj)
                }
                None => match flags & MAP_TYPE {
                    MAP_SHARED => {
                        if vm.contains(VmFlags::GROWSDOWN) {
                            return Err(MmError::Invalid);
                        }
                        vm |= VmFlags::SHARED | VmFlags::MAYSHARE;
                        let ino = addr >> PAGE_SHIFT;
                        // shmem is committed once per object, for its life
                        // (not per mapping, so fork does not charge it again).
                        let charged = if flags & MAP_NORESERVE == 0
                            || env.commit.mode() == crate::vm::overcommit::OVERCOMMIT_NEVER
                        {
                            env.commit.account_for(env.pa, len >> PAGE_SHIFT, lim.admin, self.vm.total_vm)?;
                            len >> PAGE_SHIFT
                        } else {
                            0
                        };
                        Backing::Shared(MemObject::shmem(len, ino, env.pa, env.swap, env.commit, charged))
                    }
                    MAP_PRIVATE => Backing::Anon,
                    _ => return Err(MmError::Invalid),
                },
            }
        };
        let pgoff = match (&backing, req.file.is_some() || hfile.is_some()) {
            (_, true) => pgoff,
            (Backing::Shared(_) | Backing::Huge(_), _) => 0,
            _ => addr >> PAGE_SHIFT,
        };
        if flags & MAP_NORESERVE != 0 && env.commit.mode() != crate::vm::overcommit::OVERCOMMIT_NEVER {
            vm |= VmFlags::NORESERVE;
        }
        let start = self.mmap_region(env, addr, len, vm, pgoff, backing, flags & MAP_FIXED != 0, lim)?;
        // populate_vma_page_range skips VM_LOCKONFAULT areas.
        let populate = ((flags & MAP_POPULATE != 0 && flags & MAP_NONBLOCK == 0) || vm.contains(VmFlags::LOCKED))
            && !vm.contains(VmFlags::LOCKONFAULT);
        if populate {
            // Failures here are not reported: the mapping exists and the
            // pages will fault in later (Linux ignores them too).
            let _ = self.populate(env, start, start + len, lim);
        }
        Ok(start)
    }

    /// Whether a mapping with these flags is charged to the commit
    /// (`accountable_mapping`): private and writable, not NORESERVE; shared
    /// anonymous memory is charged too (shmem's accounting).
    fn accountable(vm: VmFlags, backing: &Backing) -> bool {
        !vm.contains(VmFlags::NORESERVE)
            && !matches!(backing, Backing::Shared(_) | Backing::Huge(_))
            && vm & (VmFlags::SHARED | VmFlags::WRITE) == VmFlags::WRITE
    }

    /// `mmap_region`: create the area `[addr, addr+len)` (replacing what
    /// was there when `fixed`), with limit and commit checks.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn mmap_region(
        &mut self,
        env: &MmEnv<'_>,
        addr: u64,
        len: u64,
        mut vm: VmFlags,
        pgoff: u64,
        backing: Backing,
        fixed: bool,
        lim: &Rlimits,
    ) -> Result<u64, MmError> {
        let pages = len >> PAGE_SHIFT;
        // Pages already mapped in the range will be replaced: they do not
        // count against the limits twice.
        let replaced: u64 = if fixed {
            self.vmas
                .overlapping(addr..addr + len)
                .map(|v| (v.end.min(addr + len) - v.start.max(addr)) >> PAGE_SHIFT)
                .sum()
        } else {
            0
        };
        if !self.may_expand(vm, pages.saturating_sub(replaced), lim) {
            return Err(MmError::NoMemory);
        }
        let charge = Self::accountable(vm, &backing);
        // Only the net increase is charged: accounted pages being replaced
        // give their commitment back (Linux's `charged -= nr_accounted`).
        let replaced_accounted: u64 = if fixed {
            self.vmas
                .overlapping(addr..addr + len)
                .filter(|v| v.flags.contains(VmFlags::ACCOUNT))
                .map(|v| (v.end.min(addr + len) - v.start.max(addr)) >> PAGE_SHIFT)
                .sum()
        } else {
            0
        };
        let net = pages.saturating_sub(replaced_accounted);
        if charge {
            env.commit.account_for(env.pa, net, lim.admin, self.vm.total_vm)?;
            vm |= VmFlags::ACCOUNT;
        }
        if fixed {
            if let Err(e) = self.do_munmap(env, addr, len) {
                if charge {
                    env.commit.unaccount(net);
                }
                return Err(e);
            }
        }
        // do_munmap gave back the replaced pages' commitment; the new area
        // takes all `pages` (net + replaced) over.
        if charge && replaced_accounted > 0 {
            env.commit.recharge(replaced_accounted.min(pages));
        }
        // A new area is soft-dirty as a whole (`__mmap_region` sets VM_SOFTDIRTY).
        let vma = Vma { start: addr, end: addr + len, flags: vm | VmFlags::SOFTDIRTY, pgoff, backing, policy: None };
        match self.attach_vma(env, vma) {
            Ok(_) => Ok(addr),
            Err(e) => {
                if charge {
                    env.commit.unaccount(pages);
                }
                Err(e)
            }
        }
    }
}
