//! preadv, pwritev, preadv2, pwritev2 (fs/read_write.c): readv and writev
//! at an offset, leaving the file offset alone.
//!
//! The offset comes as two words (low, high) for 32-bit callers; on
//! x86_64 the low word is the whole offset. A negative offset is EINVAL, a
//! pipe or the console ESPIPE. preadv2/pwritev2 take an offset of -1 to
//! mean the file offset (then they are readv/writev) and RWF_ flags:
//! HIPRI, DSYNC, SYNC and NOWAIT change nothing here (everything is in
//! memory and written at once), APPEND makes pwritev2 write at the end;
//! any other bit is EOPNOTSUPP.

use abi::errno::*;

use super::SysResult;
use super::fs::{file, readv_at, writev_at};

const RWF_HIPRI: u32 = 1;
const RWF_DSYNC: u32 = 2;
const RWF_SYNC: u32 = 4;
const RWF_NOWAIT: u32 = 8;
const RWF_APPEND: u32 = 16;
const RWF_SUPPORTED: u32 = RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND;

/// The position a p*v call names: None for -1 where allowed (the file
/// offset), EINVAL for other negative values, ESPIPE on a stream.
fn position(fd: i32, off: i64, minus_one_is_current: bool) -> Result<Option<u64>, Errno> {
    if off == -1 && minus_one_is_current {
        return Ok(None);
    }
    if off < 0 {
        return Err(EINVAL);
    }
    if !file(fd)?.inode.seekable() {
        return Err(ESPIPE);
    }
    Ok(Some(off as u64))
}

pub fn preadv(fd: i32, iov: u64, cnt: i64, off: i64) -> SysResult {
    let f = file(fd)?;
    readv_at(&f, iov, cnt, position(fd, off, false)?)
}

pub fn pwritev(fd: i32, iov: u64, cnt: i64, off: i64) -> SysResult {
    let f = file(fd)?;
    writev_at(&f, iov, cnt, position(fd, off, false)?)
}

pub fn preadv2(fd: i32, iov: u64, cnt: i64, off: i64, flags: u32) -> SysResult {
    if flags & !RWF_SUPPORTED != 0 {
        return Err(EOPNOTSUPP);
    }
    let f = file(fd)?;
    readv_at(&f, iov, cnt, position(fd, off, true)?)
}

pub fn pwritev2(fd: i32, iov: u64, cnt: i64, off: i64, flags: u32) -> SysResult {
    if flags & !RWF_SUPPORTED != 0 {
        return Err(EOPNOTSUPP);
    }
    let f = file(fd)?;
    let pos = position(fd, off, true)?;
    if flags & RWF_APPEND == 0 {
        return writev_at(&f, iov, cnt, pos);
    }
    // RWF_APPEND: at the end, whatever the position says; the file offset
    // moves only when none was given (off -1), as for O_APPEND.
    let end = f.size();
    let n = writev_at(&f, iov, cnt, Some(end))?;
    if pos.is_none() && f.inode.seekable() {
        *f.offset.lock() = end + n;
    }
    Ok(n)
}
