//! Memory system calls: mmap, munmap, brk, and (with their own mm files)
//! mprotect, mremap, madvise, mlock family, mincore, msync.
//!
//! Each call locks the current address space only around the mm
//! operation: user copies happen outside the lock (a fault inside them
//! takes it).

use alloc::sync::Arc;

use abi::errno::*;
use abi::mman::MAP_ANONYMOUS;
use mm::vm::address_space::AddressSpace;
use mm::vm::mmap::{FileMapping, MmapRequest};

use super::SysResult;
use crate::mem::user::UserMm;
use crate::proc::current;

/// Run `f` on the current address space.
pub(super) fn with_mm<R>(
    f: impl FnOnce(&mut AddressSpace, &mm::vm::address_space::MmEnv<'_>, &mm::vm::address_space::Rlimits) -> R,
) -> Result<R, Errno> {
    let me = current();
    let lim = me.mm_limits();
    let mm: Arc<UserMm> = me.mm().ok_or(EFAULT)?;
    drop(me);
    let env = crate::mem::user::env();
    let mut space = mm.space.write();
    let r = f(&mut space, &env, &lim);
    // Hole punches reach every mapper, this space too: not under its lock.
    let deferred = space.take_deferred();
    drop(space);
    deferred.run();
    Ok(r)
}

/// `with_mm` for an operation that faults pages in (mlock, MADV_POPULATE,
/// MADV_WILLNEED): a page on swap is read in with the lock dropped and
/// the operation run again (it skips what it did already).
fn with_mm_swapin(
    f: impl Fn(
        &mut AddressSpace,
        &mm::vm::address_space::MmEnv<'_>,
        &mm::vm::address_space::Rlimits,
    ) -> Result<(), mm::error::MmError>,
) -> SysResult {
    let mut lost = 0;
    loop {
        let r = with_mm(|s, env, lim| {
            let r = f(s, env, lim);
            if let Err(mm::error::MmError::SwapIn(e)) = r {
                // The read's reference, while the entry holds the slot (a
                // shmem object's entry may go meanwhile: run again).
                if env.swap.dup(e).is_err() {
                    return Err(None);
                }
            }
            r.map_err(Some)
        })?;
        match r {
            Ok(()) => return Ok(0),
            Err(Some(mm::error::MmError::SwapIn(e))) => crate::proc::reclaim::swap_in(e)?,
            Err(Some(e)) => return Err(Errno::from(e)),
            Err(None) => {
                lost += 1;
                if lost > crate::proc::reclaim::MAX_RECLAIM_RETRIES {
                    return Err(ENOMEM);
                }
            }
        }
    }
}

pub fn mmap(addr: u64, len: u64, prot: u32, flags: u32, fd: i32, off: u64) -> SysResult {
    if off % 4096 != 0 {
        return Err(EINVAL);
    }
    let prot = super::sys::implied_prot(prot);
    let file = if flags & MAP_ANONYMOUS == 0 {
        let f = current().inner.lock().files.get(fd)?;
        if f.inode.is_dir() {
            return Err(ENODEV);
        }
        if let Some(object) = f.inode.huge_object() {
            let hf = mm::vm::mmap::HugeFileMapping { object, readable: f.readable(), writable: f.writable() };
            let req = MmapRequest { addr, len, prot, flags, file: None, offset: off };
            return with_mm(|s, env, lim| s.mmap_huge_file(env, &req, hf, lim))?.map_err(Errno::from);
        }
        let object = f.inode.mem_object().ok_or(ENODEV)?;
        Some(FileMapping { object, readable: f.readable(), writable: f.writable() })
    } else {
        None
    };
    let req = MmapRequest { addr, len, prot, flags, file, offset: off };
    with_mm(|s, env, lim| s.mmap(env, &req, lim))?.map_err(Errno::from)
}

pub fn munmap(addr: u64, len: u64) -> SysResult {
    with_mm(|s, env, _| s.munmap(env, addr, len))?.map(|_| 0).map_err(Errno::from)
}

pub fn brk(addr: u64) -> SysResult {
    with_mm(|s, env, lim| s.brk(env, addr, lim))
}

pub fn mprotect(addr: u64, len: u64, prot: u32) -> SysResult {
    let prot = super::sys::implied_prot(prot);
    with_mm(|s, env, _| s.mprotect(env, addr, len, prot))?.map(|_| 0).map_err(Errno::from)
}

/// mseal(2) (Linux 6.10): seal the areas of a range (mm's vm/mseal.rs).
pub fn mseal(addr: u64, len: u64, flags: u64) -> SysResult {
    with_mm(|s, env, _| s.mseal(env, addr, len, flags))?.map(|_| 0).map_err(Errno::from)
}

pub fn mremap(old: u64, old_len: u64, new_len: u64, flags: u32, new_addr: u64) -> SysResult {
    with_mm(|s, env, lim| s.mremap(env, old, old_len, new_len, flags, new_addr, lim))?.map_err(Errno::from)
}

/// remap_file_pages(2), deprecated: Linux's emulation (a new shared
/// mapping of the same file at `pgoff`, populated; mm's
/// vm/remap_file_pages.rs), with Linux's one-time warning.
pub fn remap_file_pages(start: u64, size: u64, prot: u64, pgoff: u64, flags: u64) -> SysResult {
    static WARNED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, core::sync::atomic::Ordering::Relaxed) {
        let me = current();
        log::warn!(
            "{} ({}) uses deprecated remap_file_pages() syscall. See Documentation/mm/remap_file_pages.rst.",
            me.name(),
            me.pid()
        );
    }
    with_mm(|s, env, lim| s.remap_file_pages(env, start, size, prot, pgoff, flags, lim))?
        .map(|_| 0)
        .map_err(Errno::from)
}

pub fn madvise(addr: u64, len: u64, advice: u32) -> SysResult {
    with_mm_swapin(|s, env, lim| s.madvise(env, addr, len, advice, lim))
}

pub fn msync(addr: u64, len: u64, flags: u32) -> SysResult {
    with_mm(|s, _, _| s.msync(addr, len, flags))?.map(|_| 0).map_err(Errno::from)
}

pub fn mlock(addr: u64, len: u64, flags: u32) -> SysResult {
    with_mm_swapin(|s, env, lim| s.mlock(env, addr, len, flags, lim))
}

pub fn munlock(addr: u64, len: u64) -> SysResult {
    with_mm(|s, env, _| s.munlock(env, addr, len))?.map(|_| 0).map_err(Errno::from)
}

pub fn mlockall(flags: u32) -> SysResult {
    with_mm(|s, env, lim| s.mlockall(env, flags, lim))?.map(|_| 0).map_err(Errno::from)
}

pub fn munlockall() -> SysResult {
    with_mm(|s, env, _| s.munlockall(env))?.map(|_| 0).map_err(Errno::from)
}

/// Pages whose residency one step of mincore collects (one 64 KiB
/// vector piece: 256 MiB of address space).
const MINCORE_BATCH_PAGES: u64 = 64 * 1024;

/// mincore(2), one batch at a time as Linux's loop over a page-sized
/// vector buffer: the kernel holds at most MINCORE_BATCH_PAGES bytes of
/// the answer whatever the range. A hole found in a later batch is ENOMEM
/// and a fault writing the vector EFAULT, with earlier batches already
/// written, as in Linux.
pub fn mincore(addr: u64, len: u64, vec: u64) -> SysResult {
    if addr % 4096 != 0 {
        return Err(EINVAL);
    }
    if !crate::usercopy::access_ok(addr, len) {
        return Err(ENOMEM);
    }
    let pages = len.div_ceil(4096);
    if !crate::usercopy::access_ok(vec, pages) {
        return Err(EFAULT);
    }
    let mut done = 0u64;
    while done < pages {
        if done != 0 && super::fs::chunk_break() {
            return Err(EINTR);
        }
        let n = (pages - done).min(MINCORE_BATCH_PAGES);
        let start = addr + done * 4096;
        // Residency is collected under the lock, written out after it.
        let bytes = with_mm(|s, env, _| s.mincore(env, start, n * 4096))?.map_err(Errno::from)?;
        crate::usercopy::copy_to_user(vec + done, &bytes)?;
        done += n;
    }
    Ok(0)
}
