//! remap_file_pages(2) (cf. mm/mmap.c): the deprecated call that once
//! made a nonlinear mapping, rebuilt as Linux 4.0+ rebuilds it: a new
//! shared mapping of the same file over the range, at the page offset
//! asked, with the old area's protection, populated.
//!
//! ```text
//!   prot != 0, size rounding to 0 or wrapping, pgoff + pages wrapping -> EINVAL
//!   no area at start, or not VM_SHARED                                -> EINVAL
//!   [start, start+size) not covered by areas that follow each other
//!     with no hole, of the same file, with the same flags            -> EINVAL
//!   else mmap(start, size, prot of the area, MAP_SHARED | MAP_FIXED
//!             | MAP_POPULATE (not with MAP_NONBLOCK) | MAP_LOCKED if
//!             the area was locked, same file, offset pgoff pages)
//! ```
//!
//! Flags other than MAP_NONBLOCK are ignored, as Linux ignores them. The
//! new area replaces the old one through the common mmap path, so seals
//! (EPERM), limits and the hugetlb alignment rules apply as to mmap.

use abi::mman::{MAP_FIXED, MAP_LOCKED, MAP_NONBLOCK, MAP_POPULATE, MAP_SHARED, PROT_EXEC, PROT_READ, PROT_WRITE};

use crate::addr::{PAGE_SHIFT, PAGE_SIZE};
use crate::error::MmError;
use crate::vm::address_space::{AddressSpace, MmEnv, Rlimits};
use crate::vm::mmap::{HugeFileMapping, MmapRequest};
use crate::vm::vma::{Backing, VmFlags};

impl AddressSpace {
    /// remap_file_pages(2): map pages from `pgoff` of the file of the
    /// shared area at `start` over `[start, start + size)`.
    pub fn remap_file_pages(
        &mut self,
        env: &MmEnv<'_>,
        start: u64,
        size: u64,
        prot: u64,
        pgoff: u64,
        flags: u64,
        lim: &Rlimits,
    ) -> Result<(), MmError> {
        if prot != 0 {
            return Err(MmError::Invalid);
        }
        let start = start & !(PAGE_SIZE - 1);
        let size = size & !(PAGE_SIZE - 1);
        let end = start.wrapping_add(size);
        if end <= start || pgoff.checked_add(size >> PAGE_SHIFT).is_none() {
            return Err(MmError::Invalid);
        }
        let first = self.vmas.containing(start).ok_or(MmError::Invalid)?;
        if !first.flags.contains(VmFlags::SHARED) || first.backing.is_anon() {
            return Err(MmError::Invalid);
        }
        let (vm, backing) = (first.flags, first.backing.clone());
        let mut covered = first.end;
        for next in self.vmas.overlapping(first.end..end) {
            let same_flags = (next.flags ^ vm) - VmFlags::SOFTDIRTY == VmFlags::empty();
            if next.start != covered || !next.backing.same(&backing) || !same_flags {
                return Err(MmError::Invalid);
            }
            covered = next.end;
        }
        if covered < end {
            return Err(MmError::Invalid);
        }
        let mut mflags = (flags as u32 & MAP_NONBLOCK) | MAP_SHARED | MAP_FIXED | MAP_POPULATE;
        if vm.contains(VmFlags::LOCKED) {
            mflags |= MAP_LOCKED;
        }
        let prot = [(VmFlags::READ, PROT_READ), (VmFlags::WRITE, PROT_WRITE), (VmFlags::EXEC, PROT_EXEC)]
            .iter()
            .filter(|(f, _)| vm.contains(*f))
            .fold(0, |p, (_, b)| p | b);
        let writable = vm.contains(VmFlags::MAYWRITE);
        let offset = pgoff << PAGE_SHIFT;
        match backing {
            Backing::Huge(object) => {
                let req = MmapRequest { addr: start, len: size, prot, flags: mflags, file: None, offset };
                let hf = HugeFileMapping { object, readable: true, writable };
                self.mmap_huge_file(env, &req, hf, lim).map(|_| ())
            }
            Backing::File(_) | Backing::Shared(_) => {
                // The same object and kind of backing (a shared anonymous
                // area stays one), through mmap's own last steps.
                let keep = VmFlags::READ
                    | VmFlags::WRITE
                    | VmFlags::EXEC
                    | VmFlags::MAYREAD
                    | VmFlags::MAYWRITE
                    | VmFlags::MAYEXEC
                    | VmFlags::SHARED
                    | VmFlags::MAYSHARE
                    | VmFlags::LOCKED
                    | VmFlags::NORESERVE;
                let new = (vm & keep) | self.def_flags;
                self.mmap_region(env, start, size, new, pgoff, backing, true, lim)?;
                if mflags & MAP_NONBLOCK == 0 || new.contains(VmFlags::LOCKED) {
                    // As mmap's populate: failures leave pages to fault in.
                    let _ = self.populate(env, start, end, lim);
                }
                Ok(())
            }
            Backing::Anon => Err(MmError::Invalid),
        }
    }
}

#[cfg(test)]
mod tests;
