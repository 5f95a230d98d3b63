//! process_vm_readv(2) and process_vm_writev(2): copy between the caller's
//! memory and another process's (mm/process_vm_access.c).
//!
//! Checks in Linux's order: flags (EINVAL), the local iovecs (EINVAL past
//! IOV_MAX or SSIZE_MAX, EFAULT), the remote ones (lengths only: their
//! addresses are the other process's), nothing to move (0), the target
//! (ESRCH, also for a process without memory), PTRACE_MODE_ATTACH_REALCREDS
//! (EPERM). The transfer walks the remote iovecs page by page without
//! FOLL_FORCE (mm's `read_vm`/`write_vm`) and stops at the first page it
//! cannot reach or the first local fault: the bytes moved, or EFAULT if
//! none were.
//!
//! Locks: the target's address-space lock around each remote page copy,
//! into or from a kernel buffer; the caller's memory is touched only with
//! no lock held (its own faults take its own lock, which may be the same).

use alloc::vec::Vec;

use abi::errno::*;

use super::SysResult;
use crate::proc;
use crate::usercopy::{copy_from_user, copy_to_user, read_user};

/// The remote (base, len) pairs: counted and summed as the local ones,
/// never checked against the caller's address space.
fn remote_iovecs(iov: u64, cnt: u64) -> Result<Vec<(u64, u64)>, Errno> {
    if cnt > 1024 {
        return Err(EINVAL);
    }
    let mut v = Vec::new();
    v.try_reserve_exact(cnt as usize).map_err(|_| ENOMEM)?;
    let mut total: u64 = 0;
    for i in 0..cnt {
        let pair: [u64; 2] = read_user(iov + i * 16)?;
        total = total.checked_add(pair[1]).filter(|t| *t <= isize::MAX as u64).ok_or(EINVAL)?;
        v.push((pair[0], pair[1]));
    }
    Ok(v)
}

/// A cursor over the caller's iovecs.
struct Local {
    iov: Vec<(u64, u64)>,
    i: usize,
    off: u64,
}

impl Local {
    /// The next run of caller memory, at most `max` bytes (None at the end).
    fn next(&mut self, max: u64) -> Option<(u64, u64)> {
        while self.i < self.iov.len() && self.off == self.iov[self.i].1 {
            self.i += 1;
            self.off = 0;
        }
        let (base, len) = *self.iov.get(self.i)?;
        Some((base + self.off, (len - self.off).min(max)))
    }

    fn advance(&mut self, n: u64) {
        self.off += n;
    }
}

pub fn process_vm_rw(pid: i32, lvec: u64, liovcnt: u64, rvec: u64, riovcnt: u64, flags: u64, write: bool) -> SysResult {
    if flags != 0 {
        return Err(EINVAL);
    }
    let local = super::fs::iovecs(lvec, i64::try_from(liovcnt).map_err(|_| EINVAL)?)?;
    let remote = remote_iovecs(rvec, riovcnt)?;
    if local.iter().all(|&(_, l)| l == 0) {
        return Ok(0);
    }
    let target = if pid > 0 { proc::task(pid as proc::Pid) } else { None }.ok_or(ESRCH)?;
    let me = proc::current();
    let mm = target.mm().ok_or(ESRCH)?;
    if !proc::ptrace_may_read(&me, &target, false) {
        return Err(EPERM);
    }
    drop((me, target));
    let mut local = Local { iov: local, i: 0, off: 0 };
    let mut page = [0u8; 4096];
    let mut done: u64 = 0;
    'remote: for (rbase, rlen) in remote {
        let mut roff = 0;
        while roff < rlen {
            let Some((laddr, llen)) = local.next(rlen - roff) else { break 'remote };
            // One piece: within one remote page and one local run.
            let raddr = rbase.wrapping_add(roff);
            let n = llen.min(4096 - (raddr & 4095)) as usize;
            let buf = &mut page[..n];
            let moved = if write {
                if copy_from_user(buf, laddr).is_err() {
                    break 'remote;
                }
                crate::proc::reclaim::remote_access(&mm, n, |s, env, at| s.write_vm(env, raddr + at as u64, &buf[at..]))
            } else {
                let got = crate::proc::reclaim::remote_access(&mm, n, |s, env, at| {
                    s.read_vm(env, raddr + at as u64, &mut buf[at..])
                });
                if copy_to_user(laddr, &buf[..got]).is_err() {
                    break 'remote;
                }
                got
            };
            done += moved as u64;
            local.advance(moved as u64);
            roff += moved as u64;
            if moved < n {
                break 'remote;
            }
        }
    }
    if done == 0 { Err(EFAULT) } else { Ok(done) }
}
