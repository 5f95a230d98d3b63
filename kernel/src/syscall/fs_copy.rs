//! copy_file_range(2) (fs/read_write.c `vfs_copy_file_range` and
//! `generic_copy_file_checks`): bytes from one regular file to another in
//! the kernel, as cp uses it.
//!
//! Checks in Linux's order: flags other than 0 EINVAL; the input must be
//! open for reading and the output for writing without O_APPEND (EBADF);
//! a directory EISDIR, anything but a regular file EINVAL; the two on
//! different file systems EXDEV (tmpfs has no copy method of its own, so
//! Linux refuses to cross); the count cut at the input's end, then an
//! offset plus the count that wraps as an unsigned number EOVERFLOW, else a negative offset EINVAL, an output range past the
//! largest file size EFBIG; overlapping ranges of one file EINVAL. The
//! copy stops at the input's end (0 at or past it) and returns the bytes
//! copied; the offsets given by pointer are updated there, else the files'
//! own offsets.

use abi::errno::*;
use abi::stat::{S_IFDIR, S_IFMT, S_IFREG};

use super::SysResult;
use super::fs::{chunk_break, file};
use crate::file::OpenFile;
use crate::usercopy::{read_user, write_user};

/// Linux's MAX_RW_COUNT.
const MAX_RW: u64 = 0x7fff_f000;
const CHUNK: usize = 64 * 1024;

fn check_kind(f: &OpenFile) -> Result<(), Errno> {
    match f.inode.stat().st_mode & S_IFMT {
        S_IFREG => Ok(()),
        S_IFDIR => Err(EISDIR),
        _ => Err(EINVAL),
    }
}

/// The position at `ptr` (0: the file offset).
fn position(f: &OpenFile, ptr: u64) -> Result<i64, Errno> {
    if ptr != 0 { read_user::<i64>(ptr) } else { Ok(*f.offset.lock() as i64) }
}

/// Linux's "offsets don't wrap" check, on the unsigned sum (so -1 with a
/// count of 10 is EOVERFLOW), then a negative offset EINVAL.
fn checked(pos: i64, len: u64) -> Result<u64, Errno> {
    if (pos as u64).checked_add(len).is_none() {
        return Err(EOVERFLOW);
    }
    if pos < 0 {
        return Err(EINVAL);
    }
    Ok(pos as u64)
}

pub fn copy_file_range(fd_in: i32, off_in: u64, fd_out: i32, off_out: u64, len: u64, flags: u32) -> SysResult {
    if flags != 0 {
        return Err(EINVAL);
    }
    let (fin, fout) = (file(fd_in)?, file(fd_out)?);
    if !fin.readable() || !fout.writable() || fout.flags() & abi::fcntl::O_APPEND != 0 {
        return Err(EBADF);
    }
    check_kind(&fin)?;
    check_kind(&fout)?;
    let (sin, sout) = (fin.inode.stat(), fout.inode.stat());
    if sin.st_dev != sout.st_dev {
        return Err(EXDEV);
    }
    let (rin, rout) = (position(&fin, off_in)?, position(&fout, off_out)?);
    // Shortened to the input's end first (Linux's order): from at or past
    // it nothing is copied, whatever the offsets.
    let size = fin.size();
    let len = if rin >= 0 && rin as u64 >= size { 0 } else { len.min(size.wrapping_sub(rin as u64)) };
    let (mut pin, mut pout) = (checked(rin, len)?, checked(rout, len)?);
    // The output may not grow past the largest file size.
    if pout.saturating_add(len) > i64::MAX as u64 {
        return Err(EFBIG);
    }
    let same = sin.st_ino == sout.st_ino;
    if same && pin < pout + len && pout < pin + len {
        return Err(EINVAL);
    }
    let count = len.min(MAX_RW);
    let mut buf = alloc::vec::Vec::new();
    buf.try_reserve_exact((count as usize).min(CHUNK)).map_err(|_| ENOMEM)?;
    buf.resize((count as usize).min(CHUNK), 0);
    let mut done = 0u64;
    while done < count {
        if done != 0 && chunk_break() {
            break;
        }
        let want = ((count - done) as usize).min(buf.len());
        let n = match fin.read_at(pin, &mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        let w = match fout.inode.write_at(pout, &buf[..n]) {
            Ok(w) => w,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        pin += w as u64;
        pout += w as u64;
        done += w as u64;
        if w < n {
            break;
        }
    }
    if off_in != 0 {
        write_user(off_in, &(pin as i64))?;
    } else {
        *fin.offset.lock() = pin;
    }
    if off_out != 0 {
        write_user(off_out, &(pout as i64))?;
    } else {
        *fout.offset.lock() = pout;
    }
    Ok(done)
}
