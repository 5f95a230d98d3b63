//! File system calls: open/openat, read/write (and the vector and
//! positional forms), lseek, stat family, ioctl, dup, pipe, fcntl,
//! getdents64, getcwd/chdir, access.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::errno::*;
use abi::fcntl::{
    AT_EACCESS, AT_EMPTY_PATH, AT_FDCWD, AT_NO_AUTOMOUNT, AT_STATX_SYNC_TYPE, AT_SYMLINK_NOFOLLOW, F_ADD_SEALS,
    F_GET_SEALS, O_ACCMODE, O_APPEND, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY,
    O_TMPFILE, O_TRUNC, O_WRONLY, SEEK_DATA, SEEK_HOLE,
};
use abi::resource::RLIMIT_NOFILE;
use abi::stat::{STATX_RESERVED, Stat, Statx};

use super::SysResult;
use crate::file::write_access::WriteGuard;
use crate::proc::current;
use crate::usercopy::{copy_from_user, copy_to_user, read_user, read_user_cstr, write_user};
use crate::vfs::namei::{MAY_EXEC, MAY_READ, MAY_WRITE, resolve, resolve_parent};
use crate::vfs::{self, Inode, OpenFile, SetAttr};

/// Largest single read or write (Linux's MAX_RW_COUNT).
const MAX_RW: u64 = 0x7fff_f000;

pub(super) fn file(fd: i32) -> Result<Arc<OpenFile>, Errno> {
    current().inner.lock().files.get(fd)
}

/// Give `file` the lowest free descriptor (EMFILE past RLIMIT_NOFILE).
pub(super) fn install_file(file: Arc<OpenFile>, cloexec: bool) -> SysResult {
    let me = current();
    let i = me.inner.lock();
    let limit = i.rlimits[RLIMIT_NOFILE].cur;
    i.files.install(file, cloexec, limit).map(|fd| fd as u64)
}

fn cwd() -> String {
    current().cwd()
}

pub(super) fn path_arg(ptr: u64) -> Result<String, Errno> {
    read_user_cstr(ptr, 4095)
}

/// The directory `dirfd` names for a relative path.
pub(super) fn base_dir(dirfd: i32, path: &str) -> Result<String, Errno> {
    if path.starts_with('/') || dirfd == AT_FDCWD {
        return Ok(cwd());
    }
    let f = file(dirfd)?;
    if !f.inode.is_dir() {
        return Err(ENOTDIR);
    }
    Ok(f.path.clone())
}

/// The file an open names, and its canonical path; `created` if O_CREAT
/// made it (no permission check on it then, as Linux).
struct Opened {
    inode: Arc<dyn Inode>,
    path: String,
    created: bool,
}

/// open(2) with O_CREAT: the last component is looked up in its
/// directory and made there if missing (umask applied); an existing
/// symbolic link is followed unless O_NOFOLLOW (ELOOP) or O_EXCL (EEXIST),
/// and a missing target is made.
fn open_create(path: &str, base: &str, flags: u32, mode: u32) -> Result<Opened, Errno> {
    open_create_at(path, base, flags, mode, 0)
}

/// `open_create` after `links` symbolic links: a link whose target does
/// not exist makes the target (Linux creates through a dangling link).
fn open_create_at(path: &str, base: &str, flags: u32, mode: u32, links: u32) -> Result<Opened, Errno> {
    if links > 40 {
        return Err(ELOOP);
    }
    let p = resolve_parent(path, base)?;
    if matches!(p.name.as_str(), "" | "." | "..") {
        return Err(EISDIR);
    }
    if let Some(child) = p.dir.lookup(&p.name) {
        if flags & O_EXCL != 0 {
            return Err(EEXIST);
        }
        if child.is_symlink() {
            if flags & O_NOFOLLOW != 0 {
                return Err(ELOOP);
            }
            return match resolve(path, base, true) {
                Ok(r) => Ok(Opened { inode: r.inode, path: r.path, created: false }),
                Err(ENOENT) => open_create_at(&child.readlink()?, &p.path, flags, mode, links + 1),
                Err(e) => Err(e),
            };
        }
        if p.trailing_slash && !child.is_dir() {
            return Err(EISDIR);
        }
        return Ok(Opened { inode: child, path: p.child_path(), created: false });
    }
    if p.trailing_slash {
        return Err(EISDIR);
    }
    super::fs_write::may_create(&*p.dir)?;
    let mode = mode & 0o7777 & !super::fs_write::umask_bits();
    let path = p.child_path();
    let inode = p.dir.create(&p.name, &path, mode, super::fs_write::owner_in(&*p.dir))?;
    Ok(Opened { inode, path, created: true })
}

/// O_TMPFILE: an unnamed file on the directory's file system, opened for
/// writing (EINVAL for read-only, EISDIR or EOPNOTSUPP from the fs).
fn open_tmpfile(path: &str, base: &str, flags: u32, mode: u32) -> Result<Opened, Errno> {
    if flags & O_ACCMODE == O_RDONLY {
        return Err(EINVAL);
    }
    let r = resolve(path, base, true)?;
    if !r.inode.is_dir() {
        return Err(ENOTDIR);
    }
    super::fs_write::may_create(&*r.inode)?;
    let mode = mode & 0o7777 & !super::fs_write::umask_bits();
    let inode = r.inode.tmpfile(&r.path, mode, super::fs_write::owner_in(&*r.inode))?;
    let ino = inode.stat().st_ino;
    let sep = if r.path == "/" { "" } else { "/" };
    Ok(Opened { inode, path: alloc::format!("{}{sep}#{ino} (deleted)", r.path), created: true })
}

pub fn openat(dirfd: i32, path_ptr: u64, flags: u32, mode: u32) -> SysResult {
    let path = path_arg(path_ptr)?;
    let base = base_dir(dirfd, &path)?;
    let opened = if flags & O_TMPFILE == O_TMPFILE {
        open_tmpfile(&path, &base, flags, mode)?
    } else if flags & O_CREAT != 0 {
        open_create(&path, &base, flags, mode)?
    } else {
        let r = resolve(&path, &base, flags & O_NOFOLLOW == 0)?;
        if r.inode.is_symlink() {
            return Err(ELOOP);
        }
        Opened { inode: r.inode, path: r.path, created: false }
    };
    let inode = opened.inode;
    let tmpfile = flags & O_TMPFILE == O_TMPFILE;
    if flags & O_CREAT != 0 && !tmpfile && inode.is_dir() {
        return Err(EISDIR);
    }
    if flags & O_DIRECTORY != 0 && !tmpfile && !inode.is_dir() {
        return Err(ENOTDIR);
    }
    let acc = flags & O_ACCMODE;
    let mask = match acc {
        O_RDONLY => MAY_READ,
        O_WRONLY => MAY_WRITE,
        _ => MAY_READ | MAY_WRITE,
    } | if flags & O_TRUNC != 0 { MAY_WRITE } else { 0 };
    if inode.is_dir() && mask & MAY_WRITE != 0 {
        return Err(EISDIR);
    }
    if acc != O_RDONLY || flags & O_TRUNC != 0 {
        if !inode.writable() {
            return Err(EROFS);
        }
    }
    if !opened.created {
        inode.permission(mask)?;
    }
    // get_write_access: a running program cannot be opened for writing
    // or truncated (ETXTBSY).
    let write = if acc != O_RDONLY || flags & O_TRUNC != 0 { WriteGuard::take(&inode)? } else { None };
    if flags & O_TRUNC != 0 && !opened.created && inode.stat().st_mode & abi::stat::S_IFMT == abi::stat::S_IFREG {
        inode.setattr(&SetAttr { size: Some(0), ..SetAttr::default() })?;
    }
    let write = if acc != O_RDONLY { write } else { None };
    let of = OpenFile::with_write(inode, flags, &opened.path, write);
    let me = current();
    let i = me.inner.lock();
    let limit = i.rlimits[RLIMIT_NOFILE].cur;
    i.files.install(of, flags & O_CLOEXEC != 0, limit).map(|fd| fd as u64)
}

pub fn close(fd: i32) -> SysResult {
    current().inner.lock().files.close(fd).map(|_| 0)
}

/// close_range(2) flags.
const CLOSE_RANGE_UNSHARE: u32 = 1 << 1;
const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;

/// close_range(2): close (or, with CLOSE_RANGE_CLOEXEC, mark
/// close-on-exec) every open descriptor in `first..=last`; descriptors
/// that are not open are skipped. CLOSE_RANGE_UNSHARE first gives the
/// caller a table of its own if it shares one (CLONE_FILES). EINVAL for
/// unknown flags or `first > last`.
pub fn close_range(first: u32, last: u32, flags: u32) -> SysResult {
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(EINVAL);
    }
    let files = {
        let me = current();
        let mut i = me.inner.lock();
        if flags & CLOSE_RANGE_UNSHARE != 0 && i.files.is_shared() {
            let own = i.files.copy();
            i.files = own;
        }
        i.files.share()
    };
    files.close_range(first, last, flags & CLOSE_RANGE_CLOEXEC != 0);
    Ok(0)
}

/// Size of the bounce buffer big reads and writes go through: the kernel
/// never holds more than this of one call's data, whatever count the
/// process asks for.
const CHUNK: usize = 64 * 1024;

/// A bounce buffer for `len` bytes (at most CHUNK), ENOMEM if the heap
/// has none.
pub(super) fn bounce(len: u64) -> Result<Vec<u8>, Errno> {
    let n = len.min(CHUNK as u64) as usize;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| ENOMEM)?;
    v.resize(n, 0);
    Ok(v)
}

/// Bytes from `addr` to the end of its page.
fn to_page_end(addr: u64) -> u64 {
    4096 - (addr & 0xfff)
}

/// Copy as much of `dst.len()` bytes from user `src` as can be read: all
/// of it, or after a fault the pages before the faulting one (the count
/// Linux's copy_from_user leaves for a fault at a page boundary).
pub(super) fn copy_from_user_prefix(dst: &mut [u8], src: u64) -> usize {
    if copy_from_user(dst, src).is_ok() {
        return dst.len();
    }
    let mut done = 0;
    while done < dst.len() {
        let n = (to_page_end(src + done as u64) as usize).min(dst.len() - done);
        if copy_from_user(&mut dst[done..done + n], src + done as u64).is_err() {
            break;
        }
        done += n;
    }
    done
}

/// As [`copy_from_user_prefix`], towards user space.
pub(super) fn copy_to_user_prefix(dst: u64, src: &[u8]) -> usize {
    if copy_to_user(dst, src).is_ok() {
        return src.len();
    }
    let mut done = 0;
    while done < src.len() {
        let n = (to_page_end(dst + done as u64) as usize).min(src.len() - done);
        if copy_to_user(dst + done as u64, &src[done..done + n]).is_err() {
            break;
        }
        done += n;
    }
    done
}

/// Linux's `rw_verify_area` for a file position: a count above
/// SSIZE_MAX, or a position plus count past the largest file offset, is
/// EINVAL. `pos` is None for streams (pipes, the console).
fn rw_verify_area(pos: Option<u64>, count: u64) -> Result<(), Errno> {
    if count > i64::MAX as u64 {
        return Err(EINVAL);
    }
    if let Some(p) = pos {
        if p > i64::MAX as u64 || p.checked_add(count).is_none_or(|e| e > i64::MAX as u64) {
            return Err(EINVAL);
        }
    }
    Ok(())
}

/// Read into user memory through a bounce buffer, one chunk at a time.
/// Between two chunks of a long transfer: let other tasks run, and stop
/// (with the count so far, as Linux) if a fatal signal is pending.
pub(super) fn chunk_break() -> bool {
    crate::proc::sched::cond_resched();
    crate::proc::signal::fatal_pending()
}

fn read_into_user(f: &OpenFile, buf: u64, len: u64, pos: Option<u64>) -> Result<u64, Errno> {
    if !f.readable() {
        return Err(EBADF);
    }
    if f.inode.is_dir() {
        return Err(EISDIR);
    }
    if !crate::usercopy::access_ok(buf, len) {
        return Err(EFAULT);
    }
    let seekable = f.inode.seekable();
    let mut off = pos.unwrap_or_else(|| *f.offset.lock());
    rw_verify_area(seekable.then_some(off), len)?;
    let len = len.min(MAX_RW);
    let mut chunk = bounce(len)?;
    let mut done = 0u64;
    while done < len {
        if done != 0 && chunk_break() {
            break;
        }
        let want = ((len - done) as usize).min(chunk.len());
        let n = match f.read_at(off, &mut chunk[..want]) {
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        if n == 0 {
            break;
        }
        let copied = copy_to_user_prefix(buf + done, &chunk[..n]);
        done += copied as u64;
        off += copied as u64;
        if copied < n {
            if done == 0 {
                return Err(EFAULT);
            }
            break;
        }
        if n < want || !seekable {
            break;
        }
    }
    if pos.is_none() && seekable {
        *f.offset.lock() = off;
    }
    Ok(done)
}

/// Where a write to `f` starts: `pos` (pwrite), the end (O_APPEND) or the
/// file offset.
fn write_pos(f: &OpenFile, pos: Option<u64>) -> u64 {
    match pos {
        Some(p) => p,
        None if f.flags() & O_APPEND != 0 => f.size(),
        None => *f.offset.lock(),
    }
}

/// Write from user memory through a bounce buffer, one chunk at a time.
/// A fault after some bytes went out ends the call with their count, as
/// Linux's short write.
fn write_from_user(f: &OpenFile, buf: u64, len: u64, pos: Option<u64>) -> Result<u64, Errno> {
    if !f.writable() {
        return Err(EBADF);
    }
    if !crate::usercopy::access_ok(buf, len) {
        return Err(EFAULT);
    }
    let seekable = f.inode.seekable();
    let mut off = write_pos(f, pos);
    rw_verify_area(seekable.then_some(off), len)?;
    let len = len.min(MAX_RW);
    if f.inode.discards_writes() {
        return Ok(len);
    }
    let mut chunk = bounce(len)?;
    let mut done = 0u64;
    while done < len {
        if done != 0 && chunk_break() {
            break;
        }
        let want = ((len - done) as usize).min(chunk.len());
        let got = copy_from_user_prefix(&mut chunk[..want], buf + done);
        if got == 0 {
            if done == 0 {
                return Err(EFAULT);
            }
            break;
        }
        let n = match f.inode.write_at(off, &chunk[..got]) {
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        done += n as u64;
        off += n as u64;
        if n < got || got < want {
            break;
        }
    }
    if pos.is_none() && seekable {
        *f.offset.lock() = off;
    }
    Ok(done)
}

pub fn read(fd: i32, buf: u64, len: u64) -> SysResult {
    let f = file(fd)?;
    read_into_user(&f, buf, len, None)
}

pub fn write(fd: i32, buf: u64, len: u64) -> SysResult {
    let f = file(fd)?;
    write_from_user(&f, buf, len, None)
}

pub fn pwrite64(fd: i32, buf: u64, len: u64, off: i64) -> SysResult {
    let f = file(fd)?;
    if off < 0 {
        return Err(EINVAL);
    }
    if !f.inode.seekable() {
        return Err(ESPIPE);
    }
    write_from_user(&f, buf, len, Some(off as u64))
}

pub fn pread64(fd: i32, buf: u64, len: u64, off: i64) -> SysResult {
    let f = file(fd)?;
    if off < 0 {
        return Err(EINVAL);
    }
    if !f.inode.seekable() {
        return Err(ESPIPE);
    }
    read_into_user(&f, buf, len, Some(off as u64))
}

/// The (base, len) pairs of an iovec array (at most IOV_MAX = 1024), each
/// checked with access_ok (EFAULT) and their sum with Linux's limits
/// (EINVAL past SSIZE_MAX; the caller moves at most MAX_RW_COUNT).
pub(super) fn iovecs(iov: u64, cnt: i64) -> Result<Vec<(u64, u64)>, Errno> {
    if !(0..=1024).contains(&cnt) {
        return Err(EINVAL);
    }
    let mut v = Vec::new();
    v.try_reserve_exact(cnt as usize).map_err(|_| ENOMEM)?;
    let mut total: u64 = 0;
    for i in 0..cnt as u64 {
        let pair: [u64; 2] = read_user(iov + i * 16)?;
        if pair[1] > isize::MAX as u64 {
            return Err(EINVAL);
        }
        total = total.checked_add(pair[1]).filter(|t| *t <= isize::MAX as u64).ok_or(EINVAL)?;
        if !crate::usercopy::access_ok(pair[0], pair[1]) {
            return Err(EFAULT);
        }
        v.push((pair[0], pair[1]));
    }
    Ok(v)
}

pub fn readv(fd: i32, iov: u64, cnt: i64) -> SysResult {
    readv_at(&*file(fd)?, iov, cnt, None)
}

/// readv at `pos` (preadv), or at the file offset.
pub(super) fn readv_at(f: &OpenFile, iov: u64, cnt: i64, pos: Option<u64>) -> SysResult {
    let mut total = 0u64;
    for (base, len) in iovecs(iov, cnt)? {
        let len = len.min(MAX_RW - total);
        let n = match read_into_user(f, base, len, pos.map(|p| p + total)) {
            Ok(n) => n,
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        };
        total += n;
        if n < len || total >= MAX_RW {
            break;
        }
    }
    Ok(total)
}

pub fn writev(fd: i32, iov: u64, cnt: i64) -> SysResult {
    writev_at(&*file(fd)?, iov, cnt, None)
}

/// writev at `pos` (pwritev), or where write(2) would write.
pub(super) fn writev_at(f: &OpenFile, iov: u64, cnt: i64, pos: Option<u64>) -> SysResult {
    let vecs = iovecs(iov, cnt)?;
    if !f.writable() {
        return Err(EBADF);
    }
    let total = vecs.iter().map(|v| v.1).sum::<u64>().min(MAX_RW);
    let seekable = f.inode.seekable();
    let mut off = write_pos(f, pos);
    rw_verify_area(seekable.then_some(off), total)?;
    if f.inode.discards_writes() {
        return Ok(total);
    }
    // Gathered into one bounce buffer, so that a vector of small pieces
    // reaches the console (or a pipe, atomically) as one write.
    let mut chunk = bounce(total)?;
    let mut done = 0u64;
    let mut fill = 0usize;
    let mut faulted = false;
    let mut vecs = vecs.into_iter().filter(|v| v.1 != 0);
    let mut cur = vecs.next();
    loop {
        // Gather until the buffer is full, the vector ends or a fault.
        while fill < chunk.len() && !faulted && done + (fill as u64) < total {
            let Some((base, len)) = cur.as_mut() else { break };
            let want = (*len as usize).min(chunk.len() - fill).min((total - done) as usize - fill);
            let got = copy_from_user_prefix(&mut chunk[fill..fill + want], *base);
            fill += got;
            *base += got as u64;
            *len -= got as u64;
            faulted = got < want;
            if *len == 0 {
                cur = vecs.next();
            }
        }
        if fill == 0 {
            break;
        }
        let n = match f.inode.write_at(off, &chunk[..fill]) {
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        done += n as u64;
        off += n as u64;
        if n < fill {
            break;
        }
        fill = 0;
    }
    if faulted && done == 0 {
        return Err(EFAULT);
    }
    if seekable && pos.is_none() {
        *f.offset.lock() = off;
    }
    Ok(done)
}

pub fn lseek(fd: i32, off: i64, whence: u32) -> SysResult {
    let f = file(fd)?;
    if !f.inode.seekable() {
        return Err(ESPIPE);
    }
    let mut cur = f.offset.lock();
    if whence == SEEK_DATA || whence == SEEK_HOLE {
        if off < 0 {
            return Err(ENXIO);
        }
        let pos = f.inode.seek_data_hole(whence == SEEK_DATA, off as u64)?;
        *cur = pos;
        return Ok(pos);
    }
    let base = match whence {
        0 => 0i64,
        1 => *cur as i64,
        2 => f.size() as i64,
        _ => return Err(EINVAL),
    };
    // An offset past the largest file offset is EINVAL, as Linux's
    // vfs_setpos sees the wrapped (negative) sum.
    let new = base.checked_add(off).ok_or(EINVAL)?;
    if new < 0 {
        return Err(EINVAL);
    }
    *cur = new as u64;
    Ok(new as u64)
}

fn put_stat(st: &Stat, buf: u64) -> SysResult {
    write_user(buf, st)?;
    Ok(0)
}

pub fn fstat(fd: i32, buf: u64) -> SysResult {
    let f = file(fd)?;
    let mut st = f.inode.stat();
    if f.inode.seek_end().is_none() {
        st.st_size = f.size() as i64;
    }
    put_stat(&st, buf)
}

pub fn stat(path: u64, buf: u64) -> SysResult {
    newfstatat(AT_FDCWD, path, buf, 0)
}

pub fn lstat(path: u64, buf: u64) -> SysResult {
    newfstatat(AT_FDCWD, path, buf, AT_SYMLINK_NOFOLLOW)
}

pub fn newfstatat(dirfd: i32, path_ptr: u64, buf: u64, flags: u32) -> SysResult {
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) != 0 {
        return Err(EINVAL);
    }
    put_stat(&stat_at(dirfd, path_ptr, flags)?, buf)
}

/// What newfstatat and statx report for `path_ptr` from `dirfd` (flags
/// checked by the caller).
fn stat_at(dirfd: i32, path_ptr: u64, flags: u32) -> Result<Stat, Errno> {
    let path = path_arg(path_ptr)?;
    if path.is_empty() {
        if flags & AT_EMPTY_PATH != 0 {
            let f = file(dirfd)?;
            let mut st = f.inode.stat();
            st.st_size = f.size() as i64;
            return Ok(st);
        }
        return Err(ENOENT);
    }
    let base = base_dir(dirfd, &path)?;
    let inode = resolve(&path, &base, flags & AT_SYMLINK_NOFOLLOW == 0)?.inode;
    Ok(inode.stat())
}

/// statx(2): the basic fields whatever `mask` asks (Linux may give more or
/// fewer than asked; there is no birth time here). The sync type is a hint
/// to network file systems (both bits together: EINVAL).
pub fn statx(dirfd: i32, path_ptr: u64, flags: u32, mask: u32, buf: u64) -> SysResult {
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
        || mask & STATX_RESERVED != 0
    {
        return Err(EINVAL);
    }
    let st = stat_at(dirfd, path_ptr, flags)?;
    write_user(buf, &Statx::from_stat(&st))?;
    Ok(0)
}

pub fn faccessat(dirfd: i32, path_ptr: u64, mode: u32) -> SysResult {
    faccessat2(dirfd, path_ptr, mode, 0)
}

/// faccessat2(2): AT_EACCESS checks with the effective ids,
/// AT_SYMLINK_NOFOLLOW checks a final link itself.
pub fn faccessat2(dirfd: i32, path_ptr: u64, mode: u32, flags: u32) -> SysResult {
    if mode & !7 != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let path = path_arg(path_ptr)?;
    let inode = if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
        file(dirfd)?.inode.clone()
    } else {
        let base = base_dir(dirfd, &path)?;
        resolve(&path, &base, flags & AT_SYMLINK_NOFOLLOW == 0)?.inode
    };
    super::fs_write::access_check(&*inode, mode, flags & AT_EACCESS != 0)?;
    Ok(0)
}

pub fn ioctl(fd: i32, cmd: u32, arg: u64) -> SysResult {
    let f = file(fd)?;
    f.inode.ioctl(cmd, arg)
}

pub fn dup(fd: i32) -> SysResult {
    let me = current();
    let i = me.inner.lock();
    let f = i.files.get(fd)?;
    let limit = i.rlimits[RLIMIT_NOFILE].cur;
    i.files.install(f, false, limit).map(|n| n as u64)
}

/// dup3(2): dup2 with O_CLOEXEC as the only flag (EINVAL otherwise), and
/// EINVAL when both descriptors are the same.
pub fn dup3(old: i32, new: i32, flags: u32) -> SysResult {
    if flags & !O_CLOEXEC != 0 || old == new {
        return Err(EINVAL);
    }
    let me = current();
    let i = me.inner.lock();
    let f = i.files.get(old)?;
    let limit = i.rlimits[RLIMIT_NOFILE].cur;
    i.files.install_at(new, f, flags & O_CLOEXEC != 0, limit).map(|n| n as u64)
}

pub fn dup2(old: i32, new: i32) -> SysResult {
    let me = current();
    let i = me.inner.lock();
    let f = i.files.get(old)?;
    if old == new {
        return Ok(new as u64);
    }
    let limit = i.rlimits[RLIMIT_NOFILE].cur;
    i.files.install_at(new, f, false, limit).map(|n| n as u64)
}

/// pipe2(2) (pipe(2) is pipe2 with no flags): two descriptors, the read
/// end first, written to `fds` as two ints.
pub fn pipe2(fds: u64, flags: u32) -> SysResult {
    if flags & !(O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    if !crate::usercopy::access_ok(fds, 8) {
        return Err(EFAULT);
    }
    let creds = current().inner.lock().creds.clone();
    let (r, w) = vfs::pipe::create(flags & O_NONBLOCK != 0, creds.uid, creds.is_root())?;
    let cloexec = flags & O_CLOEXEC != 0;
    let (rfd, wfd) = {
        let me = current();
        let i = me.inner.lock();
        let limit = i.rlimits[RLIMIT_NOFILE].cur;
        let rfd = i.files.install(r, cloexec, limit)?;
        match i.files.install(w, cloexec, limit) {
            Ok(wfd) => (rfd, wfd),
            Err(e) => {
                let _ = i.files.close(rfd);
                return Err(e);
            }
        }
    };
    if let Err(e) = write_user(fds, &[rfd, wfd]) {
        let me = current();
        let i = me.inner.lock();
        let _ = i.files.close(rfd);
        let _ = i.files.close(wfd);
        return Err(e);
    }
    Ok(0)
}

const F_DUPFD: u32 = 0;
const F_GETFD: u32 = 1;
const F_SETFD: u32 = 2;
const F_GETFL: u32 = 3;
const F_SETFL: u32 = 4;
const F_DUPFD_CLOEXEC: u32 = 1030;
const F_SETPIPE_SZ: u32 = 1031;
const F_GETPIPE_SZ: u32 = 1032;

pub fn fcntl(fd: i32, cmd: u32, arg: u64) -> SysResult {
    use super::record_lock::*;
    if matches!(cmd, F_GETLK | F_SETLK | F_SETLKW | F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW) {
        return fcntl_lock(fd, cmd, arg);
    }
    let me = current();
    let i = me.inner.lock();
    let f = i.files.get(fd)?;
    match cmd {
        F_GETFD => Ok(i.files.cloexec(fd)? as u64),
        F_SETFD => i.files.set_cloexec(fd, arg & 1 != 0).map(|_| 0),
        F_GETFL => Ok(f.flags() as u64),
        F_SETFL => {
            f.set_status_flags(arg as u32);
            Ok(0)
        }
        F_DUPFD | F_DUPFD_CLOEXEC => {
            // The argument is an int read as unsigned (f_dupfd's `from`).
            let from = arg as u32 as u64;
            let limit = i.rlimits[RLIMIT_NOFILE].cur;
            if from >= limit {
                return Err(EINVAL);
            }
            // Lowest free descriptor at or above `from` (EMFILE if none
            // below the limit): one step per open descriptor at most.
            i.files.install_from(from as i32, f, cmd == F_DUPFD_CLOEXEC, limit).map(|n| n as u64)
        }
        F_GETPIPE_SZ => f.inode.pipe_size(),
        F_ADD_SEALS => {
            drop(i);
            // Only a writable descriptor may add seals (memfd_add_seals).
            if !f.writable() {
                return Err(EPERM);
            }
            f.inode.add_seals(arg as u32).map(|_| 0)
        }
        F_GET_SEALS => f.inode.get_seals().map(u64::from),
        F_SETPIPE_SZ => {
            let privileged = i.creds.is_root();
            drop(i);
            // The size is an unsigned int (pipe_fcntl).
            f.inode.set_pipe_size(arg as u32, privileged)
        }
        _ => Err(EINVAL),
    }
}

pub fn getdents64(fd: i32, buf: u64, len: u64) -> SysResult {
    // The count is an unsigned int.
    let len = len as u32 as u64;
    let f = file(fd)?;
    if !crate::usercopy::access_ok(buf, len) {
        return Err(EFAULT);
    }
    let entries = f.inode.readdir().ok_or(ENOTDIR)?;
    let mut pos = f.offset.lock();
    let mut out: Vec<u8> = Vec::new();
    let all: Vec<vfs::DirEntry> =
        [vfs::DirEntry { name: ".".into(), ino: 1, dtype: 4 }, vfs::DirEntry { name: "..".into(), ino: 1, dtype: 4 }]
            .into_iter()
            .chain(entries)
            .collect();
    let mut idx = *pos as usize;
    while idx < all.len() {
        let e = &all[idx];
        let reclen = (19 + e.name.len() + 1).next_multiple_of(8);
        if (out.len() + reclen) as u64 > len {
            break;
        }
        let start = out.len();
        out.resize(start + reclen, 0);
        out[start..start + 8].copy_from_slice(&e.ino.to_le_bytes());
        out[start + 8..start + 16].copy_from_slice(&((idx + 1) as u64).to_le_bytes());
        out[start + 16..start + 18].copy_from_slice(&(reclen as u16).to_le_bytes());
        out[start + 18] = e.dtype;
        out[start + 19..start + 19 + e.name.len()].copy_from_slice(e.name.as_bytes());
        idx += 1;
    }
    if out.is_empty() && idx < all.len() {
        return Err(EINVAL);
    }
    copy_to_user(buf, &out)?;
    *pos = idx as u64;
    Ok(out.len() as u64)
}

pub fn getcwd(buf: u64, size: u64) -> SysResult {
    let mut c = cwd().into_bytes();
    c.push(0);
    if size == 0 && buf != 0 {
        return Err(EINVAL);
    }
    if (c.len() as u64) > size {
        return Err(ERANGE);
    }
    copy_to_user(buf, &c)?;
    Ok(c.len() as u64)
}

pub fn chdir(path_ptr: u64) -> SysResult {
    let path = path_arg(path_ptr)?;
    let base = cwd();
    let r = resolve(&path, &base, true)?;
    if !r.inode.is_dir() {
        return Err(ENOTDIR);
    }
    r.inode.permission(MAY_EXEC)?;
    *current().inner.lock().cwd.lock() = r.path;
    Ok(0)
}

/// fchdir(2): the working directory becomes the directory open at `fd`
/// (ENOTDIR for another file, EACCES without search permission).
pub fn fchdir(fd: i32) -> SysResult {
    let f = file(fd)?;
    if !f.inode.is_dir() {
        return Err(ENOTDIR);
    }
    f.inode.permission(MAY_EXEC)?;
    *current().inner.lock().cwd.lock() = f.path.clone();
    Ok(0)
}

/// readlinkat(2): symbolic links of tmpfs, /proc/PID/exe (and
/// /proc/self/exe), the executable's path, and /proc/PID/fd/N, the path
/// of an open descriptor. Any other existing file is
/// EINVAL, as for a file that is not a symbolic link.
pub fn readlinkat(dirfd: i32, path_ptr: u64, buf: u64, size: u64) -> SysResult {
    let path = path_arg(path_ptr)?;
    // `bufsiz` is an int.
    let size = size as i32;
    if size <= 0 {
        return Err(EINVAL);
    }
    let base = base_dir(dirfd, &path)?;
    // /proc/PID/exe, cwd, root and fd/N are links of procfs's own
    // (their access checks included).
    let target = resolve(&path, &base, false)?.inode.readlink()?;
    // No terminating NUL; silently truncated to `size`.
    let n = target.len().min(size as usize);
    copy_to_user(buf, &target.as_bytes()[..n])?;
    Ok(n as u64)
}

/// sendfile(2): copy up to `count` bytes from `in_fd` (at `*offset` when
/// given, which is then advanced, else at its file offset) to `out_fd`,
/// through a kernel buffer.
pub fn sendfile(out_fd: i32, in_fd: i32, offset_ptr: u64, count: u64) -> SysResult {
    let (inf, outf) = (file(in_fd)?, file(out_fd)?);
    if !inf.readable() || !outf.writable() {
        return Err(EBADF);
    }
    if inf.inode.is_dir() {
        return Err(EINVAL);
    }
    let mut off = if offset_ptr != 0 { read_user::<i64>(offset_ptr)? } else { *inf.offset.lock() as i64 };
    if off < 0 {
        return Err(EINVAL);
    }
    // Past this check `off + count` stays a valid offset.
    rw_verify_area(inf.inode.seekable().then_some(off as u64), count)?;
    let count = count.min(MAX_RW);
    let mut buf = bounce(count)?;
    let mut done = 0u64;
    while done < count {
        if done != 0 && chunk_break() {
            break;
        }
        let want = ((count - done) as usize).min(buf.len());
        let n = inf.read_at(off as u64, &mut buf[..want])?;
        if n == 0 {
            break;
        }
        let out_off = *outf.offset.lock();
        let w = outf.inode.write_at(out_off, &buf[..n])?;
        if outf.inode.seekable() {
            *outf.offset.lock() = out_off + w as u64;
        }
        off += w as i64;
        done += w as u64;
        if w < n {
            break;
        }
    }
    if offset_ptr != 0 {
        write_user(offset_ptr, &off)?;
    } else if inf.inode.seekable() {
        *inf.offset.lock() = off as u64;
    }
    Ok(done)
}
