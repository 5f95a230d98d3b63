//! tmpfs, Linux's shmem file system: directories, regular files and
//! symbolic links that live only in memory, mounted at /tmp and /dev/shm.
//!
//! ```text
//!   Sb          one mount: device number, inode numbers, `size=` as a
//!               PageQuota (ENOSPC past it), `nr_inodes=` (ENOSPC for new
//!               inodes), the namespace lock
//!   TmpInode    owner, mode, link count and times, and its body:
//!     Dir       name -> inode (dir.rs: create, mkdir, link, unlink, rename ...)
//!     File      a shmem MemObject: read/write and mmap see the same
//!               pages, counted as Shmem (file.rs)
//!     Link      the target of a symbolic link
//! ```
//!
//! A file stays alive while a name, an open file or a mapping holds it:
//! unlinked while open, its pages go when the last descriptor closes (and
//! the last mapping is gone).
//!
//! Locks, in the order taken: `Sb::ns` (one namespace change at a time
//! per mount, Linux's rename mutex widened to every change), then a
//! directory's entries (in rename: the old directory's, then the new
//! one's, both under `ns`; a directory's before a subdirectory's, to see
//! that it is empty; lookups take one entries lock alone), then a
//! file's `io` lock (size changes: write, truncate, fallocate), then an
//! inode's `meta`, then the MemObject's page lock (mm). No lock is held
//! while user memory is touched (the syscall layer copies through a
//! bounce buffer).

mod dir;
mod file;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use abi::errno::*;
use abi::stat::{S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, Stat, Statfs, TMPFS_MAGIC};
use mm::vm::file::{MemObject, PageQuota};

use super::namei::generic_permission;
use super::{DirEntry, Inode, Owner, SetAttr, Time};
use crate::file::write_access::WriteCount;

/// Size a directory entry adds to a directory's st_size (Linux's
/// BOGO_DIRENT_SIZE).
const BOGO_DIRENT_SIZE: i64 = 20;

/// Device numbers of tmpfs mounts (anonymous devices, after the initrd's 1).
static NEXT_DEV: AtomicU64 = AtomicU64::new(0x20);

/// One mount.
pub struct Sb {
    dev: u64,
    quota: Arc<PageQuota>,
    max_inodes: u64,
    inodes: AtomicU64,
    next_ino: AtomicU64,
    ns: Mutex<()>,
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    atime: Time,
    mtime: Time,
    ctime: Time,
    /// Made by O_TMPFILE without O_EXCL: linkat may give it a name.
    linkable: bool,
}

enum Body {
    Dir(Mutex<BTreeMap<String, Arc<TmpInode>>>),
    File { data: Arc<MemObject>, io: Mutex<()> },
    Link(String),
}

pub struct TmpInode {
    ino: u64,
    sb: Arc<Sb>,
    me: Weak<TmpInode>,
    meta: Mutex<Meta>,
    body: Body,
    root: bool,
    /// Writers against running programs (regular files; ETXTBSY).
    writers: WriteCount,
}

/// The wall clock, for file times.
fn now() -> Time {
    let ns = crate::platform::clock::realtime_ns();
    ((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64)
}

impl Sb {
    /// A new inode of type and mode `mode`, counted against `nr_inodes`.
    fn new_inode(
        self: &Arc<Sb>,
        mode: u32,
        owner: Owner,
        root: bool,
        body: impl FnOnce(u64) -> Body,
    ) -> Result<Arc<TmpInode>, Errno> {
        let max = self.max_inodes;
        if self.inodes.try_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < max).then_some(n + 1)).is_err() {
            return Err(ENOSPC);
        }
        let ino = self.next_ino.fetch_add(1, Ordering::Relaxed);
        let t = now();
        let nlink = if mode & S_IFMT == S_IFDIR { 2 } else { 1 };
        let meta = Meta { mode, uid: owner.uid, gid: owner.gid, nlink, atime: t, mtime: t, ctime: t, linkable: false };
        Ok(Arc::new_cyclic(|me| TmpInode {
            ino,
            sb: self.clone(),
            me: me.clone(),
            meta: Mutex::new(meta),
            body: body(ino),
            root,
            writers: WriteCount::default(),
        }))
    }

    /// A regular file; `path(ino)` names its pages' object (what
    /// /proc/PID/maps shows).
    fn new_file(
        self: &Arc<Sb>,
        path: impl FnOnce(u64) -> String,
        mode: u32,
        owner: Owner,
    ) -> Result<Arc<TmpInode>, Errno> {
        self.new_inode(S_IFREG | (mode & 0o7777), owner, false, |ino| Body::File {
            data: MemObject::tmpfs(
                &path(ino),
                ino,
                crate::mem::page_alloc(),
                &crate::mem::user::SWAP,
                self.quota.clone(),
            ),
            io: Mutex::new(()),
        })
    }
}

impl Drop for TmpInode {
    fn drop(&mut self) {
        self.sb.inodes.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Mount a tmpfs: the root directory, mode `mode`, owned by root, with
/// room for `size` bytes of file pages and `nr_inodes` inodes.
pub fn mount(mode: u32, size: u64, nr_inodes: u64) -> Arc<dyn Inode> {
    mount_as(mode, size, nr_inodes, 0, 0)
}

/// A tmpfs whose root directory belongs to `uid` and `gid` (mount(2)'s
/// `uid=` and `gid=`).
pub fn mount_as(mode: u32, size: u64, nr_inodes: u64, uid: u32, gid: u32) -> Arc<dyn Inode> {
    let sb = Arc::new(Sb {
        dev: NEXT_DEV.fetch_add(1, Ordering::Relaxed),
        quota: Arc::new(PageQuota::new(size / 4096)),
        max_inodes: nr_inodes,
        inodes: AtomicU64::new(0),
        next_ino: AtomicU64::new(1),
        ns: Mutex::new(()),
    });
    let root = Owner { uid, gid };
    sb.new_inode(S_IFDIR | (mode & 0o7777), root, true, |_| Body::Dir(Mutex::new(BTreeMap::new())))
        .expect("tmpfs: no inode for the root")
}

/// A tmpfs with Linux's defaults: mode 1777, half of RAM for pages and as
/// many inodes as half of RAM has pages.
pub fn mount_default() -> Arc<dyn Inode> {
    let half = crate::mem::page_alloc().nr_managed_pages() / 2;
    mount(0o1777, half * 4096, half.max(2))
}

impl TmpInode {
    fn arc(&self) -> Arc<TmpInode> {
        self.me.upgrade().expect("tmpfs: inode used while being dropped")
    }

    /// A change to the inode: its change time moves.
    fn touch_ctime(&self) {
        self.meta.lock().ctime = now();
    }

    /// A change to a directory's entries or a file's data.
    fn touch_mtime(&self) {
        let t = now();
        let mut m = self.meta.lock();
        m.mtime = t;
        m.ctime = t;
    }

    fn file_data(&self) -> Option<&Arc<MemObject>> {
        match &self.body {
            Body::File { data, .. } => Some(data),
            _ => None,
        }
    }

    /// The inode behind `inode` if it is a tmpfs inode of this mount.
    fn same_fs(&self, inode: &Arc<dyn Inode>) -> Option<Arc<TmpInode>> {
        let t = inode.as_any()?.downcast_ref::<TmpInode>()?;
        Arc::ptr_eq(&t.sb, &self.sb).then(|| t.arc())
    }
}

fn dtype(mode: u32) -> u8 {
    match mode & S_IFMT {
        S_IFDIR => 4,
        S_IFLNK => 10,
        _ => 8,
    }
}

impl Inode for TmpInode {
    fn write_count(&self) -> Option<&WriteCount> {
        matches!(self.body, Body::File { .. }).then_some(&self.writers)
    }

    fn stat(&self) -> Stat {
        let (size, blocks) = match &self.body {
            Body::Dir(e) => ((e.lock().len() as i64 + 2) * BOGO_DIRENT_SIZE, 0),
            // Pages on swap count too (Linux's i_blocks).
            Body::File { data, .. } => (data.size() as i64, (data.nr_pages() + data.nr_swapped()) as i64 * 8),
            Body::Link(t) => (t.len() as i64, 0),
        };
        let m = self.meta.lock();
        Stat {
            st_dev: self.sb.dev,
            st_ino: self.ino,
            st_nlink: m.nlink,
            st_mode: m.mode,
            st_uid: m.uid,
            st_gid: m.gid,
            st_size: size,
            st_blksize: 4096,
            st_blocks: blocks,
            st_atime: m.atime.0,
            st_atime_nsec: m.atime.1,
            st_mtime: m.mtime.0,
            st_mtime_nsec: m.mtime.1,
            st_ctime: m.ctime.0,
            st_ctime_nsec: m.ctime.1,
            ..Stat::default()
        }
    }

    fn permission(&self, mask: u32) -> Result<(), Errno> {
        generic_permission(&self.stat(), mask)
    }

    /// Every tmpfs inode is on a writable file system (open refuses
    /// directories with EISDIR before asking).
    fn writable(&self) -> bool {
        true
    }

    fn is_mount_root(&self) -> bool {
        self.root
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }

    fn readlink(&self) -> Result<String, Errno> {
        match &self.body {
            Body::Link(t) => Ok(t.clone()),
            _ => Err(EINVAL),
        }
    }

    fn setattr(&self, a: &SetAttr) -> Result<(), Errno> {
        if a.size.is_none() {
            self.check_attr_seals(None, a.mode)?;
        }
        if let Some(size) = a.size {
            self.file_truncate(size, || self.check_attr_seals(Some(size), a.mode))?;
        }
        let mut m = self.meta.lock();
        if let Some(mode) = a.mode {
            m.mode = (m.mode & S_IFMT) | (mode & 0o7777);
        }
        let chown = a.uid.is_some_and(|u| u != m.uid) || a.gid.is_some_and(|g| g != m.gid);
        m.uid = a.uid.unwrap_or(m.uid);
        m.gid = a.gid.unwrap_or(m.gid);
        if chown && m.mode & S_IFMT == S_IFREG {
            // A changed owner drops set-user-ID, and set-group-ID where it
            // means that (group execute set), as Linux's chown.
            m.mode &= !0o4000;
            if m.mode & 0o010 != 0 {
                m.mode &= !0o2000;
            }
        }
        if let Some(t) = a.atime {
            m.atime = t;
        }
        if let Some(t) = a.mtime {
            m.mtime = t;
        }
        m.ctime = now();
        Ok(())
    }

    fn statfs(&self) -> Statfs {
        let q = &self.sb.quota;
        let used_inodes = self.sb.inodes.load(Ordering::Relaxed);
        Statfs {
            f_type: TMPFS_MAGIC,
            f_bsize: 4096,
            f_blocks: q.max(),
            f_bfree: q.max().saturating_sub(q.used()),
            f_bavail: q.max().saturating_sub(q.used()),
            f_files: self.sb.max_inodes,
            f_ffree: self.sb.max_inodes.saturating_sub(used_inodes),
            f_namelen: 255,
            f_frsize: 4096,
            // ST_VALID
            f_flags: 0x20,
            ..Statfs::default()
        }
    }

    fn lookup(&self, name: &str) -> Option<Arc<dyn Inode>> {
        self.dir_lookup(name)
    }

    fn readdir(&self) -> Option<alloc::vec::Vec<DirEntry>> {
        self.dir_entries()
    }

    fn create(&self, name: &str, path: &str, mode: u32, owner: Owner) -> Result<Arc<dyn Inode>, Errno> {
        self.dir_create(name, path, mode, owner)
    }

    fn mkdir(&self, name: &str, mode: u32, owner: Owner) -> Result<(), Errno> {
        self.dir_mkdir(name, mode, owner)
    }

    fn symlink(&self, name: &str, target: &str, owner: Owner) -> Result<(), Errno> {
        self.dir_symlink(name, target, owner)
    }

    fn tmpfile(&self, dir_path: &str, mode: u32, owner: Owner) -> Result<Arc<dyn Inode>, Errno> {
        self.dir_tmpfile(dir_path, mode, owner)
    }

    fn link(&self, name: &str, target: &Arc<dyn Inode>) -> Result<(), Errno> {
        self.dir_link(name, target)
    }

    fn unlink(&self, name: &str) -> Result<(), Errno> {
        self.dir_unlink(name)
    }

    fn rmdir(&self, name: &str) -> Result<(), Errno> {
        self.dir_rmdir(name)
    }

    fn rename(&self, old: &str, new_dir: &Arc<dyn Inode>, new: &str, flags: u32) -> Result<(), Errno> {
        self.dir_rename(old, new_dir, new, flags)
    }

    fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.file_read(off, buf)
    }

    fn write_at(&self, off: u64, buf: &[u8]) -> Result<usize, Errno> {
        self.file_write(off, buf)
    }

    fn mem_object(&self) -> Option<Arc<MemObject>> {
        self.file_data().cloned()
    }

    fn fallocate(&self, mode: u32, off: u64, len: u64) -> Result<(), Errno> {
        self.file_fallocate(mode, off, len)
    }

    fn seek_data_hole(&self, data: bool, off: u64) -> Result<u64, Errno> {
        self.file_seek(data, off)
    }

    fn add_seals(&self, seals: u32) -> Result<(), Errno> {
        self.file_add_seals(seals)
    }

    /// Every tmpfs file has seals (F_SEAL_SEAL alone unless made by
    /// memfd_create with sealing allowed); directories and links none.
    fn get_seals(&self) -> Result<u32, Errno> {
        self.file_data().map(|d| d.seals()).ok_or(EINVAL)
    }
}

/// The internal mount memfd files live on (Linux's shm_mnt): no size or
/// inode limit of its own, never in the namespace.
static MEMFD_SB: spin::Once<Arc<Sb>> = spin::Once::new();

/// An unlinked file for memfd_create: mode `mode`, owned by `owner`, named
/// `/memfd:NAME (deleted)` (as /proc/PID/fd and maps show it), with
/// `seals` as its first seals (F_SEAL_SEAL unless sealing is allowed).
pub fn memfd_file(name: &str, mode: u32, owner: Owner, seals: u32) -> Result<Arc<dyn Inode>, Errno> {
    let f = memfd_sb().new_file(|_| alloc::format!("/memfd:{name} (deleted)"), mode, owner)?;
    f.meta.lock().nlink = 0;
    if let Some(d) = f.file_data() {
        d.remove_seals(abi::fcntl::F_ALL_SEALS);
        d.add_seals(seals);
    }
    Ok(f)
}

/// The memfd mount, made at boot (`vfs::init`) so that its memory is part
/// of what the kernel holds from the start.
pub fn memfd_sb() -> &'static Arc<Sb> {
    MEMFD_SB.call_once(|| {
        Arc::new(Sb {
            dev: NEXT_DEV.fetch_add(1, Ordering::Relaxed),
            quota: Arc::new(PageQuota::new(u64::MAX)),
            max_inodes: u64::MAX,
            inodes: AtomicU64::new(0),
            next_ino: AtomicU64::new(1),
            ns: Mutex::new(()),
        })
    })
}
