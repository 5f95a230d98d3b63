//! System calls that change file systems: mkdir, unlink, rmdir, rename,
//! link, symlink, chmod, chown, utimensat, truncate, fallocate, fsync,
//! statfs, umask (open with O_CREAT is in fs.rs).
//!
//! Each resolves names with `vfs::namei`, checks Linux's permissions and
//! the errnos that come before the file system is asked ("." and "..",
//! EXDEV, EBUSY for a mount point, the sticky bit), then calls the
//! directory's inode operation. No lock is held here: the file systems
//! lock inside those operations.

use alloc::sync::Arc;

use abi::errno::*;
use abi::fcntl::{
    AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW, FALLOC_FL_KEEP_SIZE,
    FALLOC_FL_PUNCH_HOLE, RENAME_EXCHANGE, RENAME_NOREPLACE, UTIME_NOW, UTIME_OMIT,
};
use abi::stat::{S_IFDIR, S_IFMT, S_IFREG, Statfs};
use core::sync::atomic::Ordering;

use super::SysResult;
use super::fs::{base_dir, file, path_arg};
use crate::proc::current;
use crate::usercopy::{read_user, write_user};
use crate::vfs::namei::{self, MAY_EXEC, MAY_WRITE, Parent, creds, resolve, resolve_parent};
use crate::vfs::{Inode, Owner, SetAttr};

/// The caller's umask.
pub(super) fn umask_bits() -> u32 {
    current().inner.lock().umask.load(Ordering::Relaxed)
}

/// Owner of a file made in `dir`: the caller's effective ids, the
/// directory's group if it is set-group-ID (Linux's inode_init_owner).
pub(super) fn owner_in(dir: &dyn Inode) -> Owner {
    let c = creds();
    let st = dir.stat();
    let gid = if st.st_mode & 0o2000 != 0 { st.st_gid } else { c.egid };
    Owner { uid: c.euid, gid }
}

/// `may_create`: write and search permission on the directory.
pub(super) fn may_create(dir: &dyn Inode) -> Result<(), Errno> {
    dir.permission(MAY_WRITE | MAY_EXEC)
}

/// `may_delete`: write and search on the directory, and in a sticky
/// directory (/tmp) only the owner of the file or of the directory (or
/// root) may remove or rename it (EPERM).
fn may_delete(dir: &dyn Inode, child: &Arc<dyn Inode>) -> Result<(), Errno> {
    may_create(dir)?;
    let d = dir.stat();
    let c = creds();
    if d.st_mode & 0o1000 != 0 && !c.is_root() && c.euid != d.st_uid && c.euid != child.stat().st_uid {
        return Err(EPERM);
    }
    if child.is_mount_root() || crate::vfs::mount::is_covered(child) {
        return Err(EBUSY);
    }
    Ok(())
}

fn is_dot(name: &str) -> bool {
    matches!(name, "" | "." | "..")
}

/// Resolve `path` at `dirfd` (following a final link if `follow`).
fn at(dirfd: i32, path_ptr: u64, follow: bool) -> Result<Arc<dyn Inode>, Errno> {
    let path = path_arg(path_ptr)?;
    let base = base_dir(dirfd, &path)?;
    Ok(resolve(&path, &base, follow)?.inode)
}

/// As `at`, or the file `dirfd` itself for an empty path with AT_EMPTY_PATH.
fn at_or_fd(dirfd: i32, path_ptr: u64, flags: u32) -> Result<Arc<dyn Inode>, Errno> {
    let path = path_arg(path_ptr)?;
    if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
        return Ok(file(dirfd)?.inode.clone());
    }
    let base = base_dir(dirfd, &path)?;
    Ok(resolve(&path, &base, flags & AT_SYMLINK_NOFOLLOW == 0)?.inode)
}

fn parent_at(dirfd: i32, path_ptr: u64) -> Result<Parent, Errno> {
    let path = path_arg(path_ptr)?;
    let base = base_dir(dirfd, &path)?;
    resolve_parent(&path, &base)
}

pub fn mkdirat(dirfd: i32, path_ptr: u64, mode: u32) -> SysResult {
    let p = parent_at(dirfd, path_ptr)?;
    if is_dot(&p.name) || p.child().is_some() {
        return Err(EEXIST);
    }
    may_create(&*p.dir)?;
    let inherit = p.dir.stat().st_mode & 0o2000;
    let mode = (mode & 0o1777 & !umask_bits()) | inherit;
    p.dir.mkdir(&p.name, mode, owner_in(&*p.dir))?;
    Ok(0)
}

pub fn unlinkat(dirfd: i32, path_ptr: u64, flags: u32) -> SysResult {
    if flags & !AT_REMOVEDIR != 0 {
        return Err(EINVAL);
    }
    if flags & AT_REMOVEDIR != 0 {
        return rmdirat(dirfd, path_ptr);
    }
    let p = parent_at(dirfd, path_ptr)?;
    if is_dot(&p.name) {
        return Err(EISDIR);
    }
    let child = p.child().ok_or(ENOENT)?;
    if p.trailing_slash {
        return Err(if child.is_dir() { EISDIR } else { ENOTDIR });
    }
    may_delete(&*p.dir, &child)?;
    if child.is_dir() {
        return Err(EISDIR);
    }
    p.dir.unlink(&p.name)?;
    Ok(0)
}

pub fn rmdirat(dirfd: i32, path_ptr: u64) -> SysResult {
    let p = parent_at(dirfd, path_ptr)?;
    match p.name.as_str() {
        "" => return Err(EBUSY),
        "." => return Err(EINVAL),
        ".." => return Err(ENOTEMPTY),
        _ => {}
    }
    let child = p.child().ok_or(ENOENT)?;
    if !child.is_dir() {
        return Err(ENOTDIR);
    }
    may_delete(&*p.dir, &child)?;
    p.dir.rmdir(&p.name)?;
    Ok(0)
}

pub fn renameat2(olddfd: i32, old_ptr: u64, newdfd: i32, new_ptr: u64, flags: u32) -> SysResult {
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0 {
        // RENAME_WHITEOUT (overlayfs' own) is not offered.
        return Err(EINVAL);
    }
    if flags & RENAME_NOREPLACE != 0 && flags & RENAME_EXCHANGE != 0 {
        return Err(EINVAL);
    }
    let op = parent_at(olddfd, old_ptr)?;
    let np = parent_at(newdfd, new_ptr)?;
    if is_dot(&op.name) {
        return Err(EBUSY);
    }
    if is_dot(&np.name) {
        return Err(if flags & RENAME_NOREPLACE != 0 { EEXIST } else { EBUSY });
    }
    if op.dir.stat().st_dev != np.dir.stat().st_dev {
        return Err(EXDEV);
    }
    let child = op.child().ok_or(ENOENT)?;
    let victim = np.child();
    if (op.trailing_slash || np.trailing_slash) && !child.is_dir() {
        return Err(ENOTDIR);
    }
    if flags & RENAME_EXCHANGE != 0 && victim.is_none() {
        return Err(ENOENT);
    }
    if flags & RENAME_NOREPLACE != 0 && victim.is_some() {
        return Err(EEXIST);
    }
    may_delete(&*op.dir, &child)?;
    match &victim {
        Some(v) => may_delete(&*np.dir, v)?,
        None => may_create(&*np.dir)?,
    }
    let (old_path, new_path) = (op.child_path(), np.child_path());
    let inside = |a: &str, b: &str| b.len() > a.len() && b.starts_with(a) && b.as_bytes()[a.len()] == b'/';
    if child.is_dir() {
        if op.path != np.path {
            // A directory moving elsewhere rewrites its "..".
            child.permission(MAY_WRITE)?;
        }
        if inside(&old_path, &new_path) {
            return Err(EINVAL);
        }
    }
    if let Some(v) = &victim {
        if v.is_dir() && inside(&new_path, &old_path) {
            // The target is an ancestor of the source: not empty, or for
            // an exchange a loop.
            return Err(if flags & RENAME_EXCHANGE != 0 { EINVAL } else { ENOTEMPTY });
        }
    }
    op.dir.rename(&op.name, &np.dir, &np.name, flags)?;
    Ok(0)
}

pub fn linkat(olddfd: i32, old_ptr: u64, newdfd: i32, new_ptr: u64, flags: u32) -> SysResult {
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let old = path_arg(old_ptr)?;
    let target = if old.is_empty() && flags & AT_EMPTY_PATH != 0 {
        // Linux asks CAP_DAC_READ_SEARCH for this.
        if !creds().is_root() {
            return Err(ENOENT);
        }
        file(olddfd)?.inode.clone()
    } else {
        let base = base_dir(olddfd, &old)?;
        resolve(&old, &base, flags & AT_SYMLINK_FOLLOW != 0)?.inode
    };
    let np = parent_at(newdfd, new_ptr)?;
    if is_dot(&np.name) || np.child().is_some() {
        return Err(EEXIST);
    }
    if np.dir.stat().st_dev != target.stat().st_dev {
        return Err(EXDEV);
    }
    may_create(&*np.dir)?;
    if target.is_dir() {
        return Err(EPERM);
    }
    np.dir.link(&np.name, &target)?;
    Ok(0)
}

pub fn symlinkat(target_ptr: u64, newdfd: i32, new_ptr: u64) -> SysResult {
    let target = path_arg(target_ptr)?;
    if target.is_empty() {
        return Err(ENOENT);
    }
    let np = parent_at(newdfd, new_ptr)?;
    if is_dot(&np.name) || np.child().is_some() {
        return Err(EEXIST);
    }
    may_create(&*np.dir)?;
    np.dir.symlink(&np.name, &target, owner_in(&*np.dir))?;
    Ok(0)
}

/// Only the owner (or root) may change modes and times (EPERM).
fn owner_or_root(inode: &dyn Inode) -> Result<(), Errno> {
    let c = creds();
    if c.is_root() || c.euid == inode.stat().st_uid { Ok(()) } else { Err(EPERM) }
}

fn chmod_inode(inode: &dyn Inode, mode: u32) -> SysResult {
    owner_or_root(inode)?;
    let c = creds();
    let st = inode.stat();
    let mut mode = mode & 0o7777;
    if !c.is_root() && !c.in_group(st.st_gid) && st.st_mode & S_IFMT != S_IFDIR {
        // Not in the file's group: set-group-ID is dropped (Linux's
        // setattr_copy without CAP_FSETID).
        mode &= !0o2000;
    }
    inode.setattr(&SetAttr { mode: Some(mode), ..SetAttr::default() })?;
    Ok(0)
}

pub fn fchmodat(dirfd: i32, path_ptr: u64, mode: u32) -> SysResult {
    chmod_inode(&*at(dirfd, path_ptr, true)?, mode)
}

pub fn fchmod(fd: i32, mode: u32) -> SysResult {
    chmod_inode(&*file(fd)?.inode, mode)
}

fn chown_inode(inode: &dyn Inode, uid: u32, gid: u32) -> SysResult {
    let c = creds();
    let st = inode.stat();
    let uid = (uid != u32::MAX).then_some(uid);
    let gid = (gid != u32::MAX).then_some(gid);
    if !c.is_root() {
        // Without CAP_CHOWN: the owner may set the group to its own.
        let uid_ok = uid.is_none_or(|u| u == st.st_uid && u == c.euid);
        let gid_ok = gid.is_none_or(|g| c.euid == st.st_uid && (c.in_group(g) || g == st.st_gid));
        if !uid_ok || !gid_ok {
            return Err(EPERM);
        }
    }
    inode.setattr(&SetAttr { uid, gid, ..SetAttr::default() })?;
    Ok(0)
}

pub fn fchownat(dirfd: i32, path_ptr: u64, uid: u32, gid: u32, flags: u32) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    chown_inode(&*at_or_fd(dirfd, path_ptr, flags)?, uid, gid)
}

pub fn fchown(fd: i32, uid: u32, gid: u32) -> SysResult {
    chown_inode(&*file(fd)?.inode, uid, gid)
}

/// utimensat(2); a null path means `dirfd` itself (futimens).
pub fn utimensat(dirfd: i32, path_ptr: u64, times_ptr: u64, flags: u32) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let now = {
        let ns = crate::platform::clock::realtime_ns() as i64;
        (ns / 1_000_000_000, ns % 1_000_000_000)
    };
    let mut times = [(0i64, UTIME_NOW), (0, UTIME_NOW)];
    if times_ptr != 0 {
        let t: [i64; 4] = read_user(times_ptr)?;
        times = [(t[0], t[1]), (t[2], t[3])];
        for (_, ns) in times {
            if ns != UTIME_NOW && ns != UTIME_OMIT && !(0..1_000_000_000).contains(&ns) {
                return Err(EINVAL);
            }
        }
    }
    if times.iter().all(|t| t.1 == UTIME_OMIT) {
        return Ok(0);
    }
    let inode = if path_ptr == 0 { file(dirfd)?.inode.clone() } else { at_or_fd(dirfd, path_ptr, flags)? };
    if times.iter().all(|t| t.1 == UTIME_NOW || t.1 == UTIME_OMIT) {
        // Setting "now" needs ownership or write permission.
        if owner_or_root(&*inode).is_err() {
            inode.permission(MAY_WRITE)?;
        }
    } else {
        owner_or_root(&*inode)?;
    }
    let pick = |t: (i64, i64)| match t.1 {
        UTIME_OMIT => None,
        UTIME_NOW => Some(now),
        _ => Some(t),
    };
    inode.setattr(&SetAttr { atime: pick(times[0]), mtime: pick(times[1]), ..SetAttr::default() })?;
    Ok(0)
}

fn truncate_inode(inode: &dyn Inode, len: i64) -> SysResult {
    if len < 0 {
        return Err(EINVAL);
    }
    inode.setattr(&SetAttr { size: Some(len as u64), ..SetAttr::default() })?;
    Ok(0)
}

pub fn truncate(path_ptr: u64, len: i64) -> SysResult {
    let inode = at(AT_FDCWD, path_ptr, true)?;
    if inode.is_dir() {
        return Err(EISDIR);
    }
    if inode.stat().st_mode & S_IFMT != S_IFREG {
        return Err(EINVAL);
    }
    inode.permission(MAY_WRITE)?;
    let _write = crate::file::write_access::WriteGuard::take(&inode)?;
    truncate_inode(&*inode, len)
}

pub fn ftruncate(fd: i32, len: i64) -> SysResult {
    let f = file(fd)?;
    if len < 0 || !f.writable() || f.inode.stat().st_mode & S_IFMT != S_IFREG {
        return Err(EINVAL);
    }
    truncate_inode(&*f.inode, len)
}

pub fn fallocate(fd: i32, mode: u32, off: i64, len: i64) -> SysResult {
    if off < 0 || len <= 0 {
        return Err(EINVAL);
    }
    if mode & !(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE) != 0
        || (mode & FALLOC_FL_PUNCH_HOLE != 0 && mode & FALLOC_FL_KEEP_SIZE == 0)
    {
        return Err(EOPNOTSUPP);
    }
    let f = file(fd)?;
    if !f.writable() {
        return Err(EBADF);
    }
    let st = f.inode.stat();
    match st.st_mode & S_IFMT {
        S_IFDIR => return Err(EISDIR),
        S_IFREG => {}
        _ => return Err(ENODEV),
    }
    if off.checked_add(len).is_none() {
        return Err(EFBIG);
    }
    f.inode.fallocate(mode, off as u64, len as u64)?;
    Ok(0)
}

/// fsync and fdatasync: memory file systems have nothing to write back;
/// a disk gets a flush request; files without a backing (pipes, the
/// console) are EINVAL as Linux.
pub fn fsync(fd: i32) -> SysResult {
    let f = file(fd)?;
    match f.inode.stat().st_mode & S_IFMT {
        S_IFREG | S_IFDIR => Ok(0),
        abi::stat::S_IFBLK => f.inode.sync().map(|_| 0),
        _ => Err(EINVAL),
    }
}

fn put_statfs(st: &Statfs, buf: u64) -> SysResult {
    write_user(buf, st)?;
    Ok(0)
}

pub fn statfs(path_ptr: u64, buf: u64) -> SysResult {
    put_statfs(&at(AT_FDCWD, path_ptr, true)?.statfs(), buf)
}

pub fn fstatfs(fd: i32, buf: u64) -> SysResult {
    put_statfs(&file(fd)?.inode.statfs(), buf)
}

pub fn umask(mask: u32) -> SysResult {
    Ok(current().inner.lock().umask.swap(mask & 0o777, Ordering::Relaxed) as u64)
}

/// access(2)'s check with the real ids (or the effective ones with
/// AT_EACCESS): F_OK only resolves; W_OK on a read-only file system is
/// EROFS; the rest is the mode bits, root passing all but X_OK on a file
/// without x bits.
pub fn access_check(inode: &dyn Inode, mode: u32, effective: bool) -> Result<(), Errno> {
    if mode == 0 {
        return Ok(());
    }
    if mode & MAY_WRITE != 0 && !inode.writable() {
        return Err(EROFS);
    }
    let mut c = creds();
    if !effective {
        c.euid = c.uid;
        c.egid = c.gid;
    }
    namei::permission_as(&c, &inode.stat(), mode)
}
