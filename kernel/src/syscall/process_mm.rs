//! System calls on another process's memory through a pidfd:
//! process_madvise(2) and process_mrelease(2) (mm/madvise.c,
//! mm/oom_kill.c).
//!
//! ```text
//!   process_madvise(pidfd, iov, n, advice, flags)
//!     flags -> EINVAL; iovecs (more than 1024 -> EINVAL, EFAULT);
//!     not a pidfd -> EBADF; reaped -> ESRCH; another process: advice
//!     other than COLD, PAGEOUT, WILLNEED, COLLAPSE -> EINVAL, no
//!     PTRACE_MODE_READ_FSCREDS -> EACCES, no CAP_SYS_NICE (root) -> EPERM;
//!     then madvise range by range: the bytes advised, or the first
//!     error if none were
//!   process_mrelease(pidfd, flags)
//!     flags -> EINVAL; not a pidfd -> EBADF; no memory left -> ESRCH;
//!     not dying (no SIGKILL pending, no group exit) -> EINVAL;
//!     else its private memory goes now (mm's `reap_dying`)
//! ```
//!
//! Locks: the target's address-space lock, taken as madvise takes the
//! caller's own; nothing else is held with it.

use alloc::sync::Arc;

use abi::errno::*;
use abi::mman::{MADV_COLD, MADV_COLLAPSE, MADV_PAGEOUT, MADV_WILLNEED};
use abi::signal::SIGKILL;

use super::SysResult;
use super::fs::file;
use crate::mem::user::UserMm;
use crate::proc::{self, Task};
use crate::vfs::pidfd::PidFd;

/// The process a pidfd names (EBADF if `fd` is not one, ESRCH once it is
/// reaped).
fn pidfd_task(fd: i32) -> Result<Arc<Task>, Errno> {
    let f = file(fd)?;
    let pf = f.downcast::<PidFd>().ok_or(EBADF)?;
    pf.task().ok_or(ESRCH)
}

pub fn process_madvise(pidfd: i32, iov: u64, vlen: u64, advice: u32, flags: u64) -> SysResult {
    if flags != 0 {
        return Err(EINVAL);
    }
    let ranges = super::fs::iovecs(iov, i64::try_from(vlen).map_err(|_| EINVAL)?)?;
    let target = pidfd_task(pidfd)?;
    let me = proc::current();
    let own = target.tgid() == me.tgid();
    // Advice for another process may only hint (it never loses data).
    if !own && !matches!(advice, MADV_COLD | MADV_PAGEOUT | MADV_WILLNEED | MADV_COLLAPSE) {
        return Err(EINVAL);
    }
    let mm = target.mm().ok_or(ESRCH)?;
    // mm_access: EACCES without PTRACE_MODE_READ_FSCREDS.
    if !own && !proc::ptrace_may_read(&me, &target, true) {
        return Err(EACCES);
    }
    if !own && !me.inner.lock().creds.is_root() {
        return Err(EPERM);
    }
    let lim = target.mm_limits();
    drop((me, target));
    let mut done = 0u64;
    for (base, len) in ranges {
        if len == 0 {
            continue;
        }
        match madvise_in(&mm, &lim, base, len, advice) {
            Ok(()) => done += len,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// madvise(2) of `[base, base+len)` in `mm` (a page on swap is read in
/// with the lock dropped, then the advice runs again).
fn madvise_in(
    mm: &Arc<UserMm>,
    lim: &mm::vm::address_space::Rlimits,
    base: u64,
    len: u64,
    advice: u32,
) -> Result<(), Errno> {
    let env = crate::mem::user::env();
    let mut lost = 0;
    loop {
        let r = {
            let mut space = mm.space.write();
            let r = space.madvise(&env, base, len, advice, lim);
            if let Err(mm::error::MmError::SwapIn(e)) = r {
                if env.swap.dup(e).is_err() {
                    lost += 1;
                }
            }
            let deferred = space.take_deferred();
            drop(space);
            deferred.run();
            r
        };
        match r {
            Ok(()) => return Ok(()),
            Err(mm::error::MmError::SwapIn(e)) => crate::proc::reclaim::swap_in(e)?,
            Err(e) => return Err(Errno::from(e)),
        }
        if lost > crate::proc::reclaim::MAX_RECLAIM_RETRIES {
            return Err(ENOMEM);
        }
    }
}

pub fn process_mrelease(pidfd: i32, flags: u32) -> SysResult {
    if flags != 0 {
        return Err(EINVAL);
    }
    let target = pidfd_task(pidfd)?;
    let mm = target.mm().ok_or(ESRCH)?;
    // task_will_free_mem: the whole process is on its way out. Looked at
    // under the task's lock: a SIGKILL it takes meanwhile leaves its
    // pending set and marks the group dying in one step (`dequeue`).
    let dying = {
        let i = target.inner.lock();
        proc::signal::pending_set(&target, &i) & (1 << (SIGKILL - 1)) != 0 || target.group.exiting().is_some()
    };
    if !dying {
        return Err(EINVAL);
    }
    drop(target);
    let env = crate::mem::user::env();
    let mut space = mm.space.write();
    space.reap_dying(&env);
    Ok(0)
}
