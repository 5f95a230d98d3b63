//! cachestat(2) (Linux 6.5, mm/filemap.c): how much of a file's range is
//! in the page cache, dirty, under writeback, evicted and recently
//! evicted. The counting is `mm::vm::cachestat`'s; here are the checks,
//! in Linux's order: EBADF, EFAULT for the range, EOPNOTSUPP for a
//! hugetlbfs file, EPERM unless the caller may write the file (opened for
//! writing, its owner, root, or write permission: Linux's
//! `can_do_cachestat`, so a reader cannot watch another user's page-cache
//! use), EINVAL for flags. A file without a page cache (a pipe, /proc)
//! reports zeros, as Linux's empty mapping does.

use abi::errno::*;

use super::SysResult;
use super::fs::file;
use crate::file::OpenFile;
use crate::usercopy::{read_user, write_user};
use crate::vfs::namei::{MAY_WRITE, creds, permission_as};

/// cachestat(2): `range` points at `{off, len}` (len 0: to the end),
/// `out` receives five counts of pages.
pub fn cachestat(fd: u32, range: u64, out: u64, flags: u32) -> SysResult {
    let f = file(i32::try_from(fd).map_err(|_| EBADF)?)?;
    let [off, len]: [u64; 2] = read_user(range)?;
    if f.inode.huge_object().is_some() {
        return Err(EOPNOTSUPP);
    }
    if !may_stat(&f) {
        return Err(EPERM);
    }
    if flags != 0 {
        return Err(EINVAL);
    }
    let first = off >> 12;
    // Linux's unsigned arithmetic: a range that wraps past the end of the
    // offsets ends before it starts, and counts nothing.
    let last = if len == 0 { u64::MAX } else { off.wrapping_add(len).wrapping_sub(1) >> 12 };
    let cs = f.inode.mem_object().map(|o| o.cachestat(first, last)).unwrap_or_default();
    write_user(out, &[cs.nr_cache, cs.nr_dirty, cs.nr_writeback, cs.nr_evicted, cs.nr_recently_evicted])?;
    Ok(0)
}

/// Linux's `can_do_cachestat`.
fn may_stat(f: &OpenFile) -> bool {
    if f.writable() {
        return true;
    }
    let c = creds();
    let st = f.inode.stat();
    c.is_root() || c.euid == st.st_uid || permission_as(&c, &st, MAY_WRITE).is_ok()
}
