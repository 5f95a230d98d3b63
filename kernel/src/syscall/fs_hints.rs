//! Calls that only advise or flush: fadvise64, readahead, sync, syncfs
//! (mm/fadvise.c, mm/readahead.c, fs/sync.c). Every file here lives in
//! memory, so there is nothing to read ahead, drop or write back: each call
//! checks its arguments as Linux does and succeeds.

use abi::errno::*;
use abi::stat::{S_IFIFO, S_IFMT, S_IFREG};

use super::SysResult;
use super::fs::file;

/// POSIX_FADV_NORMAL .. POSIX_FADV_NOREUSE.
const FADV_MAX: u32 = 5;

/// fadvise64(2): EBADF, ESPIPE for a pipe, EINVAL for a negative length
/// or an unknown advice.
pub fn fadvise64(fd: i32, _offset: i64, len: i64, advice: u32) -> SysResult {
    let f = file(fd)?;
    if f.inode.stat().st_mode & S_IFMT == S_IFIFO {
        return Err(ESPIPE);
    }
    if len < 0 || advice > FADV_MAX {
        return Err(EINVAL);
    }
    Ok(0)
}

/// readahead(2): EBADF unless open for reading, EINVAL unless a regular
/// file.
pub fn readahead(fd: i32, _offset: i64, _count: u64) -> SysResult {
    let f = file(fd)?;
    if !f.readable() {
        return Err(EBADF);
    }
    if f.inode.stat().st_mode & S_IFMT != S_IFREG {
        return Err(EINVAL);
    }
    Ok(0)
}

/// sync(2): nothing is waiting to be written.
pub fn sync() -> SysResult {
    Ok(0)
}

/// syncfs(2): EBADF for a bad descriptor.
pub fn syncfs(fd: i32) -> SysResult {
    file(fd).map(|_| 0)
}
