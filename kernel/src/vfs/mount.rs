//! The mount table (Linux's fs/namespace.c, one namespace): the file
//! systems mounted at boot, which are entries of their parent directory,
//! and those mount(2) put over a directory later, which path walks cross
//! (`cross`): a walk that reaches a covered directory continues in the root
//! of the newest file system mounted on it, and `..` from that root goes
//! back to the directory holding the mount point, since the walk keeps the
//! directories it went through.
//!
//! Only tmpfs can be mounted (`size=`, `nr_inodes=`, `mode=`, `uid=`,
//! `gid=`, as Linux's shmem parses them). umount refuses a file system with
//! another mounted below it (EBUSY, unless MNT_DETACH); files still open
//! in an unmounted tmpfs keep working through their descriptors, as after
//! a lazy unmount.
//!
//! Locks: `TABLE`, a reader-writer lock taken alone (walks read it; mount
//! and umount write it). No inode lock is held while it is taken.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::errno::*;
use spin::RwLock;

use super::Inode;

/// One mounted file system, as /proc/mounts lists it.
#[derive(Clone)]
pub struct Mount {
    pub path: String,
    pub fstype: &'static str,
    /// Options besides those of the file system itself (tmpfs adds its
    /// size, nr_inodes and mode when listed).
    pub opts: String,
    pub root: Arc<dyn Inode>,
    /// MS_NOEXEC: execve of its files is EACCES.
    pub noexec: bool,
    /// The directory it covers (None for the boot mounts, which are
    /// entries of their parent directory instead).
    covered: Option<Arc<dyn Inode>>,
}

static TABLE: RwLock<Vec<Mount>> = RwLock::new(Vec::new());

fn same(a: &Arc<dyn Inode>, b: &Arc<dyn Inode>) -> bool {
    core::ptr::eq(Arc::as_ptr(a) as *const (), Arc::as_ptr(b) as *const ())
}

/// Record a file system mounted at boot (vfs::init).
pub(super) fn add_boot(path: &str, fstype: &'static str, opts: &str, root: Arc<dyn Inode>) {
    let m = Mount { path: String::from(path), fstype, opts: String::from(opts), root, noexec: false, covered: None };
    TABLE.write().push(m);
}

/// Every mount, parents before the file systems mounted below them.
pub fn mounts() -> Vec<Mount> {
    TABLE.read().clone()
}

/// What a walk sees at `dir`: the root of the newest file system mounted
/// on it (and on that one's root, for mounts stacked on one another), or
/// `dir` itself.
pub fn cross(mut dir: Arc<dyn Inode>) -> Arc<dyn Inode> {
    let table = TABLE.read();
    while let Some(m) = table.iter().rev().find(|m| m.covered.as_ref().is_some_and(|c| same(c, &dir))) {
        dir = m.root.clone();
    }
    dir
}

/// Whether a file system is mounted on `dir` (rmdir, rename: EBUSY).
pub fn is_covered(dir: &Arc<dyn Inode>) -> bool {
    TABLE.read().iter().any(|m| m.covered.as_ref().is_some_and(|c| same(c, dir)))
}

/// Put `root` (of type `fstype`) over the directory `target`, whose
/// canonical path is `path`.
pub fn mount(
    target: Arc<dyn Inode>,
    path: String,
    fstype: &'static str,
    opts: String,
    noexec: bool,
    root: Arc<dyn Inode>,
) -> Result<(), Errno> {
    if !target.is_dir() {
        return Err(ENOTDIR);
    }
    TABLE.write().push(Mount { path, fstype, opts, root, noexec, covered: Some(target) });
    Ok(())
}

/// Whether the file at canonical path `path` lies in a file system
/// mounted noexec (the mount with the longest path that contains it).
pub fn is_noexec(path: &str) -> bool {
    let table = TABLE.read();
    let inside = |m: &&Mount| {
        m.path == "/" || path == m.path || path.strip_prefix(m.path.as_str()).is_some_and(|r| r.starts_with('/'))
    };
    table.iter().filter(inside).max_by_key(|m| m.path.len()).is_some_and(|m| m.noexec)
}

/// Take away the file system whose root is `root` (what the walk to the
/// target found). `detach`: even with others mounted below it (they go
/// too, as MNT_DETACH takes the whole subtree).
pub fn umount(root: &Arc<dyn Inode>, detach: bool) -> Result<(), Errno> {
    let mut table = TABLE.write();
    let i = table.iter().rposition(|m| same(&m.root, root)).ok_or(EINVAL)?;
    if table[i].covered.is_none() {
        // The boot mounts are entries of the read-only root directory.
        return Err(EBUSY);
    }
    let path = table[i].path.clone();
    let prefix = if path == "/" { path.clone() } else { alloc::format!("{path}/") };
    let below = |m: &Mount| m.path.starts_with(&prefix);
    let later_below = table[i + 1..].iter().any(below);
    if later_below && !detach {
        return Err(EBUSY);
    }
    table.remove(i);
    if detach {
        let mut k = i;
        while k < table.len() {
            if below(&table[k]) {
                table.remove(k);
            } else {
                k += 1;
            }
        }
    }
    Ok(())
}
