//! fcntl's record locks: F_GETLK, F_SETLK, F_SETLKW (POSIX locks, owned
//! by the process's descriptor table) and F_OFD_GETLK, F_OFD_SETLK,
//! F_OFD_SETLKW (owned by the open file description), with Linux's checks
//! (fs/locks.c `fcntl_getlk`, `fcntl_setlk`, `flock_to_posix_lock`):
//!
//! - `struct flock`: l_type F_RDLCK/F_WRLCK/F_UNLCK (F_GETLK: not
//!   F_UNLCK), l_whence SEEK_SET/CUR/END, l_start, l_len (0: to the end,
//!   negative: the bytes before l_start), l_pid (must be 0 for the OFD
//!   commands). Anything else EINVAL; a range starting before 0 EINVAL,
//!   one past the largest offset EOVERFLOW.
//! - A read lock needs a descriptor open for reading, a write lock one
//!   open for writing (EBADF).
//! - F_SETLK: EAGAIN when another owner's lock conflicts. F_SETLKW waits
//!   (EINTR on a signal, restarted under SA_RESTART); EDEADLK when waiting
//!   would close a cycle of POSIX owners.
//! - F_GETLK: the first conflicting lock (l_whence SEEK_SET, l_len 0 for
//!   "to the end", l_pid its process, -1 for an OFD lock), or l_type
//!   F_UNLCK and the rest as given.
//!
//! The locks are in `file::record_lock`.

use abi::errno::*;

use super::SysResult;
use crate::file::record_lock::{self, Kind, Owner};
use crate::proc::{current, waitqueue::WaitQueue};
use crate::usercopy::{copy_from_user, copy_to_user};

pub const F_GETLK: u32 = 5;
pub const F_SETLK: u32 = 6;
pub const F_SETLKW: u32 = 7;
pub const F_OFD_GETLK: u32 = 36;
pub const F_OFD_SETLK: u32 = 37;
pub const F_OFD_SETLKW: u32 = 38;

const F_RDLCK: i16 = 0;
const F_WRLCK: i16 = 1;
const F_UNLCK: i16 = 2;

/// Blocked F_SETLKW calls, woken whenever locks go away or shrink.
static LOCK_WAIT: WaitQueue = WaitQueue::new();

fn wake_waiters() {
    LOCK_WAIT.wake_all();
}

/// `struct flock` as x86_64 lays it out (32 bytes).
struct Flock {
    l_type: i16,
    l_whence: i16,
    l_start: i64,
    l_len: i64,
    l_pid: i32,
}

impl Flock {
    fn read(addr: u64) -> Result<Flock, Errno> {
        let mut b = [0u8; 32];
        copy_from_user(&mut b, addr)?;
        let i16_at = |o: usize| i16::from_le_bytes([b[o], b[o + 1]]);
        let i64_at = |o: usize| i64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]));
        Ok(Flock {
            l_type: i16_at(0),
            l_whence: i16_at(2),
            l_start: i64_at(8),
            l_len: i64_at(16),
            l_pid: i32::from_le_bytes([b[24], b[25], b[26], b[27]]),
        })
    }

    /// Write back the fields F_GETLK reports (the padding as it was).
    fn write(&self, addr: u64) -> Result<(), Errno> {
        let mut b = [0u8; 32];
        copy_from_user(&mut b, addr)?;
        b[0..2].copy_from_slice(&self.l_type.to_le_bytes());
        b[2..4].copy_from_slice(&self.l_whence.to_le_bytes());
        b[8..16].copy_from_slice(&self.l_start.to_le_bytes());
        b[16..24].copy_from_slice(&self.l_len.to_le_bytes());
        b[24..28].copy_from_slice(&self.l_pid.to_le_bytes());
        copy_to_user(addr, &b)
    }
}

/// The byte range `[start, end)` a request names (`u64::MAX`: to the end).
fn range(fl: &Flock, offset: u64, size: u64) -> Result<(u64, u64), Errno> {
    let base = match fl.l_whence as u32 {
        abi::fcntl::SEEK_SET => 0i64,
        abi::fcntl::SEEK_CUR => offset as i64,
        abi::fcntl::SEEK_END => size as i64,
        _ => return Err(EINVAL),
    };
    let start = base.checked_add(fl.l_start).ok_or(EOVERFLOW)?;
    if start < 0 {
        return Err(EINVAL);
    }
    match fl.l_len {
        0 => Ok((start as u64, u64::MAX)),
        len if len > 0 => {
            // The last byte, start + len - 1, must be a valid offset.
            let last = start.checked_add(len - 1).ok_or(EOVERFLOW)?;
            Ok((start as u64, last as u64 + 1))
        }
        len => {
            let first = start + len;
            if first < 0 {
                return Err(EINVAL);
            }
            Ok((first as u64, start as u64))
        }
    }
}

pub fn fcntl_lock(fd: i32, cmd: u32, arg: u64) -> SysResult {
    let me = current();
    let (f, table_owner) = {
        let i = me.inner.lock();
        (i.files.get(fd)?, i.files.owner())
    };
    let mut fl = Flock::read(arg)?;
    let ofd = matches!(cmd, F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW);
    if ofd && fl.l_pid != 0 {
        return Err(EINVAL);
    }
    let kind = match fl.l_type {
        F_RDLCK => Kind::Read,
        F_WRLCK => Kind::Write,
        F_UNLCK if !matches!(cmd, F_GETLK | F_OFD_GETLK) => Kind::Unlock,
        _ => return Err(EINVAL),
    };
    let offset = *f.offset.lock();
    let (start, end) = range(&fl, offset, f.size())?;
    let file = f.lock_key();
    let (owner, pid) = if ofd { (f.ofd_owner(), -1) } else { (table_owner, me.tgid() as i32) };
    if matches!(cmd, F_GETLK | F_OFD_GETLK) {
        match record_lock::test(file, owner, start, end, matches!(kind, Kind::Write)) {
            Some(r) => {
                fl.l_type = if r.write { F_WRLCK } else { F_RDLCK };
                fl.l_whence = abi::fcntl::SEEK_SET as i16;
                fl.l_start = r.start as i64;
                fl.l_len = if r.end == u64::MAX { 0 } else { (r.end - r.start) as i64 };
                fl.l_pid = if matches!(r.owner, Owner::Ofd(_)) { -1 } else { r.pid };
            }
            None => fl.l_type = F_UNLCK,
        }
        fl.write(arg)?;
        return Ok(0);
    }
    match kind {
        Kind::Read if !f.readable() => return Err(EBADF),
        Kind::Write if !f.writable() => return Err(EBADF),
        _ => {}
    }
    if !ofd {
        me.inner.lock().files.mark_posix_locked();
    }
    drop(me);
    record_lock::on_release(wake_waiters);
    let mut blocker = None;
    let r = record_lock::set(file, owner, pid, start, end, kind, &mut blocker);
    if !matches!(cmd, F_SETLKW | F_OFD_SETLKW) || r != Err(EAGAIN) {
        return r.map(|_| 0);
    }
    let waited = LOCK_WAIT.wait_until(None, || {
        let mut blocker = None;
        match record_lock::set(file, owner, pid, start, end, kind, &mut blocker) {
            Err(e) if e == EAGAIN => match (owner, blocker) {
                (Owner::Posix(_), Some(b)) => record_lock::wait_for(owner, b).err().map(Err),
                _ => None,
            },
            r => Some(r),
        }
    });
    if !ofd {
        record_lock::done_waiting(owner);
    }
    waited?.unwrap_or(Err(EINTR)).map(|_| 0)
}
