//! Reading and writing another process's memory on its behalf, as
//! /proc/PID/mem does (cf. mm/memory.c `access_remote_vm`, mm/gup.c
//! `get_user_pages_remote` with FOLL_FORCE).
//!
//! ```text
//!   page not in an area (or at/above TASK_SIZE)  -> stop (EIO if nothing done)
//!   read:  the area must be readable, or at least VM_MAYREAD (FOLL_FORCE)
//!   write: the area must be writable, or a private one that may become
//!          writable (`is_cow_mapping`: !VM_SHARED && VM_MAYWRITE)
//!   not present  -> faulted in as the process's own access would (a write
//!                   gets a private page: zeroed, or a copy of the file's);
//!                   a swapped-out page not in the swap cache ends the
//!                   access there with `take_swap_wait` set: the kernel
//!                   reads it in with the lock dropped and goes on
//!   write to a read-only entry:
//!       a private page only this process maps -> written in place
//!       otherwise                             -> copy-on-write first
//! ```
//!
//! So a write into a read-only private mapping (a program's text) breaks
//! copy-on-write: the process sees the change, the file and other
//! processes do not, and the entry stays read-only for the process.
//!
//! process_vm_readv/writev use the same walk without FOLL_FORCE: a read
//! needs VM_READ, a write VM_WRITE (a copy-on-write page is copied, as the
//! process's own store would).
//!
//! Locking: the caller holds the address space's lock (`&mut self`) for
//! the whole call, so no page can be unmapped or freed while its bytes are
//! copied; it must not hold another address space's lock (the data moves
//! through a kernel buffer, never from one user space to the other under
//! both locks). `env.tlb` must reach the CPUs running this address space.

use x86_64::structures::paging::PageTableFlags as F;

use crate::addr::{PAGE_SIZE, Pfn, PhysAddr};
use crate::phys::page::PageFlags;
use crate::vm::address_space::{AddressSpace, MmEnv, TASK_SIZE};
use crate::vm::page_table::SOFT_DIRTY;
use crate::vm::vma::VmFlags;

/// The direction of a remote access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// The kernel side of a remote access.
enum Buf<'a> {
    Into(&'a mut [u8]),
    From(&'a [u8]),
}

impl Buf<'_> {
    fn len(&self) -> usize {
        match self {
            Buf::Into(b) => b.len(),
            Buf::From(b) => b.len(),
        }
    }

    fn access(&self) -> Access {
        if matches!(self, Buf::Into(_)) { Access::Read } else { Access::Write }
    }
}

impl AddressSpace {
    /// Whether `pfn` is a private page of this process alone, which a
    /// write may change in place (`PageAnonExclusive`).
    fn is_exclusive_anon(env: &MmEnv<'_>, pfn: Pfn) -> bool {
        pfn != env.zero_page
            && env.pa.page(pfn).is_some_and(|p| p.has(PageFlags::ANON) && p.refcount() == 1 && p.mapcount() == 1)
    }

    /// The page at `page` (aligned), faulted in for an access (`force`:
    /// FOLL_FORCE); None if the access is not allowed or memory ran out.
    fn get_page_remote(&mut self, env: &MmEnv<'_>, page: u64, access: Access, force: bool) -> Option<Pfn> {
        if page >= TASK_SIZE {
            return None;
        }
        let vma = self.vmas.containing(page)?.clone();
        let f = vma.flags;
        let allowed = match (access, force) {
            (Access::Read, true) => f.intersects(VmFlags::READ | VmFlags::MAYREAD),
            (Access::Write, true) => {
                f.contains(VmFlags::WRITE) || (!f.contains(VmFlags::SHARED) && f.contains(VmFlags::MAYWRITE))
            }
            (Access::Read, false) => f.contains(VmFlags::READ),
            (Access::Write, false) => f.contains(VmFlags::WRITE),
        };
        if !allowed {
            return None;
        }
        let write = access == Access::Write;
        // Fault the page in, break COW, find it ours: three rounds at most.
        for _ in 0..3 {
            match self.lookup(env, page) {
                None => match self.swap_entry(env, page) {
                    // Swapped out: the cached page, or stop here and let
                    // the caller read it in (`take_swap_wait`) and go on.
                    Some(e) => match self.do_swap_page(env, &vma, page, e, write) {
                        Ok(_) => {}
                        Err(crate::vm::fault::FaultError::SwapIn(e)) => {
                            self.swap_wait = Some(e);
                            return None;
                        }
                        Err(_) => return None,
                    },
                    None => match self.do_missing(env, &vma, page, write) {
                        Ok(_) => {}
                        // A shmem page on swap: the same wait.
                        Err(crate::vm::fault::FaultError::SwapIn(e)) => {
                            self.swap_wait = Some(e);
                            return None;
                        }
                        Err(_) => return None,
                    },
                },
                Some((pfn, flags)) => {
                    if !write || flags.contains(F::WRITABLE) || Self::is_exclusive_anon(env, pfn) {
                        return Some(pfn);
                    }
                    if env.pa.thp.is_huge_zero(pfn) {
                        self.thp_zero_wp(env, page).ok()?;
                        continue;
                    }
                    // A transparent huge page fork write-protected.
                    if self.thp_wp(env, &vma, page).ok()? {
                        continue;
                    }
                    self.do_wp_page(env, &vma, page, pfn).ok()?;
                }
            }
        }
        None
    }

    /// Copy between `buf` and the process's memory at `addr`, page by
    /// page; the number of bytes moved (short at the first page that
    /// cannot be reached).
    fn access_remote(&mut self, env: &MmEnv<'_>, addr: u64, mut buf: Buf<'_>, force: bool) -> usize {
        let (len, access) = (buf.len(), buf.access());
        let mut done = 0;
        while done < len {
            let Some(va) = addr.checked_add(done as u64) else { break };
            let page = va & !(PAGE_SIZE - 1);
            let off = (va - page) as usize;
            let n = (PAGE_SIZE as usize - off).min(len - done);
            let Some(pfn) = self.get_page_remote(env, page, access, force) else { break };
            let pa = PhysAddr::new(pfn.phys() + off as u64);
            let moved = match &mut buf {
                Buf::Into(b) => env.pa.phys().read(pa, &mut b[done..done + n]),
                Buf::From(b) => env.pa.phys().write(pa, &b[done..done + n]),
            };
            if moved.is_err() {
                break;
            }
            if access == Access::Write {
                // Written through the kernel: the page is dirty, and
                // soft-dirty, as after the process's own write.
                if let Ok(Some(pte)) = self.mapper(env).pte(page, false) {
                    pte.set_flags(pte.flags() | F::DIRTY | SOFT_DIRTY);
                }
            }
            done += n;
        }
        done
    }

    /// Read `buf.len()` bytes of the process's memory at `addr`, faulting
    /// pages in (FOLL_FORCE): the count read.
    pub fn read_remote(&mut self, env: &MmEnv<'_>, addr: u64, buf: &mut [u8]) -> usize {
        self.access_remote(env, addr, Buf::Into(buf), true)
    }

    /// Write `data` into the process's memory at `addr` (FOLL_FORCE |
    /// FOLL_WRITE): the count written.
    pub fn write_remote(&mut self, env: &MmEnv<'_>, addr: u64, data: &[u8]) -> usize {
        self.access_remote(env, addr, Buf::From(data), true)
    }

    /// The swapped-out page an access stopped at, if it stopped at one:
    /// the caller takes a reference to the entry before dropping the lock,
    /// reads it in, and goes on from where the access stopped.
    pub fn take_swap_wait(&mut self) -> Option<crate::swap::entry::SwapEntry> {
        self.swap_wait.take()
    }

    /// process_vm_readv's read: as [`Self::read_remote`] without FOLL_FORCE
    /// (the area must be readable).
    pub fn read_vm(&mut self, env: &MmEnv<'_>, addr: u64, buf: &mut [u8]) -> usize {
        self.access_remote(env, addr, Buf::Into(buf), false)
    }

    /// process_vm_writev's write: only into writable areas.
    pub fn write_vm(&mut self, env: &MmEnv<'_>, addr: u64, data: &[u8]) -> usize {
        self.access_remote(env, addr, Buf::From(data), false)
    }
}

#[cfg(test)]
mod tests;
