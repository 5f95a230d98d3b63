//! flock(2): LOCK_SH, LOCK_EX, LOCK_UN, with LOCK_NB (EWOULDBLOCK) or a
//! wait that a signal interrupts (restarted under SA_RESTART); EINVAL for
//! any other operation, EBADF for a bad descriptor. The locks themselves
//! are in `file::flock`.

use abi::errno::*;

use super::SysResult;
use super::fs::file;
use crate::file::flock;
use crate::proc::waitqueue::WaitQueue;

const LOCK_SH: u32 = 1;
const LOCK_EX: u32 = 2;
const LOCK_NB: u32 = 4;
const LOCK_UN: u32 = 8;

/// Blocked flock calls, woken whenever a lock goes away.
static FLOCK_WAIT: WaitQueue = WaitQueue::new();

fn wake_waiters() {
    FLOCK_WAIT.wake_all();
}

pub fn flock(fd: i32, op: u32) -> SysResult {
    let f = file(fd)?;
    let exclusive = match op & !LOCK_NB {
        LOCK_SH => false,
        LOCK_EX => true,
        LOCK_UN => {
            let (file, owner) = f.flock_keys();
            flock::unlock(file, owner);
            return Ok(0);
        }
        _ => return Err(EINVAL),
    };
    flock::on_release(wake_waiters);
    f.mark_flocked();
    let (file, owner) = f.flock_keys();
    if op & LOCK_NB != 0 {
        return flock::try_lock(file, owner, exclusive).map(|_| 0);
    }
    FLOCK_WAIT
        .wait_until(None, || match flock::try_lock(file, owner, exclusive) {
            Err(e) if e == EAGAIN => None,
            r => Some(r),
        })?
        .unwrap_or(Err(EINTR))
        .map(|_| 0)
}
