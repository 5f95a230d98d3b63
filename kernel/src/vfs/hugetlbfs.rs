//! hugetlbfs: files whose pages are huge pages of a hugetlb pool, 2 MiB
//! or 1 GiB (mm's `vm::hugetlb::HugeObject`), in a mount (`mount -t
//! hugetlbfs none DIR -o pagesize=2M|1G,size=...,min_size=...,mode=,uid=,gid=,nr_inodes=`)
//! or made by memfd_create(MFD_HUGETLB [| MFD_HUGE_1GB]) (cf.
//! fs/hugetlbfs/inode.c). Below, "2 MiB" is the page size of the file.
//!
//! A mount's `size=` (bytes with K/M/G, or a percentage of the pool)
//! bounds the pages its files hold: a fault past it SIGBUS, fallocate
//! ENOSPC. Its `min_size=` is promised by the pool while it is mounted
//! (mm's `HugeQuota`, Linux's subpool). Directories hold files and directories (create, mkdir, unlink,
//! rmdir, rename within the mount); no symlinks or hard links.
//!
//! ```text
//!   ftruncate   a multiple of 2 MiB (EINVAL otherwise); shrinking drops
//!               the pages past the end (mapped ones stay with their
//!               mappers until they unmap)
//!   read(2)     the pages' bytes, holes read zero
//!   write(2)    EINVAL (hugetlbfs has no write path: map the file)
//!   mmap        MAP_SHARED maps the file's pages; MAP_PRIVATE reads them
//!               and copies on write; the offset a multiple of 2 MiB
//!   fallocate   mode 0 or FALLOC_FL_KEEP_SIZE: pages for the range now
//!   stat        st_blksize 2 MiB, st_blocks in 512-byte units
//! ```
//!
//! Seals: the file is sealed with F_SEAL_SEAL from the start (sealing a
//! hugetlb memfd is not built here; F_ADD_SEALS answers EPERM).
//!
//! Locks: the object's own; the metadata's mutex is a leaf.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::errno::*;
use abi::fcntl::{F_SEAL_SEAL, FALLOC_FL_KEEP_SIZE};
use abi::stat::{S_IFDIR, S_IFREG, Stat};
use mm::addr::PAGE_SIZE;
use mm::vm::hugetlb::{HugeObject, HugeQuota};
use spin::Mutex;

use crate::file::{DirEntry, Owner, SetAttr, Time};

use super::Inode;

/// hugetlbfs's device number and magic (statfs).
const HUGETLBFS_DEV: u64 = 0x17;
const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;

static NEXT_INO: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    atime: Time,
    mtime: Time,
    ctime: Time,
}

pub struct HugeFile {
    ino: u64,
    obj: Arc<HugeObject>,
    meta: Mutex<Meta>,
    /// Names in a directory (0 for a memfd, or once unlinked).
    nlink: core::sync::atomic::AtomicU32,
    /// Its mount (None: a memfd).
    sb: Option<Arc<Sb>>,
}

fn now() -> Time {
    let ns = crate::platform::clock::realtime_ns();
    ((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64)
}

/// An unlinked hugetlb file for memfd_create(MFD_HUGETLB), named
/// `/memfd:NAME (deleted)`, empty, of pages of `order`.
pub fn memfd_file(name: &str, mode: u32, owner: Owner, order: u32) -> Arc<dyn Inode> {
    let f = new_file(&alloc::format!("/memfd:{name} (deleted)"), mode, owner, None, order);
    f.nlink.store(0, core::sync::atomic::Ordering::Relaxed);
    f
}

fn new_file(path: &str, mode: u32, owner: Owner, sb: Option<Arc<Sb>>, order: u32) -> Arc<HugeFile> {
    let ino = NEXT_INO.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let quota = sb.as_ref().and_then(|s| s.quota.clone());
    let obj = HugeObject::file_sized(crate::mem::page_alloc(), path, ino, quota, order);
    let t = now();
    let meta = Meta { mode: S_IFREG | (mode & 0o7777), uid: owner.uid, gid: owner.gid, atime: t, mtime: t, ctime: t };
    Arc::new(HugeFile { ino, obj, meta: Mutex::new(meta), nlink: core::sync::atomic::AtomicU32::new(1), sb })
}

/// A mount: its limits.
struct Sb {
    quota: Option<Arc<HugeQuota>>,
    /// The order of the mount's pages (`pagesize=`).
    order: u32,
    max_inodes: u64,
    inodes: core::sync::atomic::AtomicU64,
}

/// A directory of a mount.
pub struct HugeDir {
    ino: u64,
    sb: Arc<Sb>,
    meta: Mutex<Meta>,
    entries: Mutex<BTreeMap<String, Arc<dyn Inode>>>,
}

/// Mount a hugetlbfs: its root directory (mode, owner), `max_pages` huge
/// pages (None: only the pool's limit), `min_pages` of them promised by
/// the pool for as long as the mount lives (ENOMEM if it cannot),
/// `max_inodes` inodes; its pages are of `order`.
pub fn mount(
    mode: u32,
    owner: Owner,
    max_pages: Option<u64>,
    min_pages: u64,
    max_inodes: u64,
    order: u32,
) -> Result<Arc<dyn Inode>, Errno> {
    let quota = if max_pages.is_some() || min_pages > 0 {
        Some(HugeQuota::new_sized(crate::mem::page_alloc(), order, max_pages, min_pages).ok_or(ENOMEM)?)
    } else {
        None
    };
    let sb = Arc::new(Sb { quota, order, max_inodes, inodes: Default::default() });
    Ok(new_dir(&sb, mode, owner))
}

fn new_dir(sb: &Arc<Sb>, mode: u32, owner: Owner) -> Arc<HugeDir> {
    let t = now();
    let meta = Meta { mode: S_IFDIR | (mode & 0o7777), uid: owner.uid, gid: owner.gid, atime: t, mtime: t, ctime: t };
    let ino = NEXT_INO.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    Arc::new(HugeDir { ino, sb: sb.clone(), meta: Mutex::new(meta), entries: Mutex::new(BTreeMap::new()) })
}

impl HugeDir {
    fn take_inode(&self) -> Result<(), Errno> {
        use core::sync::atomic::Ordering::Relaxed;
        let max = self.sb.max_inodes;
        self.sb.inodes.try_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1)).map(|_| ()).map_err(|_| ENOSPC)
    }

    fn touch(&self) {
        let mut m = self.meta.lock();
        (m.mtime, m.ctime) = (now(), now());
    }
}

impl Inode for HugeDir {
    fn stat(&self) -> Stat {
        let m = self.meta.lock();
        Stat {
            st_dev: HUGETLBFS_DEV,
            st_ino: self.ino,
            st_nlink: 2,
            st_mode: m.mode,
            st_uid: m.uid,
            st_gid: m.gid,
            st_blksize: (PAGE_SIZE << self.sb.order) as i64,
            st_atime: m.atime.0,
            st_atime_nsec: m.atime.1,
            st_mtime: m.mtime.0,
            st_mtime_nsec: m.mtime.1,
            st_ctime: m.ctime.0,
            st_ctime_nsec: m.ctime.1,
            ..Stat::default()
        }
    }

    fn lookup(&self, name: &str) -> Option<Arc<dyn Inode>> {
        self.entries.lock().get(name).cloned()
    }

    fn readdir(&self) -> Option<Vec<DirEntry>> {
        let e = self.entries.lock();
        Some(
            e.iter()
                .map(|(n, i)| DirEntry { name: n.clone(), ino: i.stat().st_ino, dtype: if i.is_dir() { 4 } else { 8 } })
                .collect(),
        )
    }

    fn create(&self, name: &str, path: &str, mode: u32, owner: Owner) -> Result<Arc<dyn Inode>, Errno> {
        let mut e = self.entries.lock();
        if e.contains_key(name) {
            return Err(EEXIST);
        }
        self.take_inode()?;
        let f: Arc<dyn Inode> = new_file(path, mode, owner, Some(self.sb.clone()), self.sb.order);
        e.insert(String::from(name), f.clone());
        drop(e);
        self.touch();
        Ok(f)
    }

    fn mkdir(&self, name: &str, mode: u32, owner: Owner) -> Result<(), Errno> {
        let mut e = self.entries.lock();
        if e.contains_key(name) {
            return Err(EEXIST);
        }
        self.take_inode()?;
        e.insert(String::from(name), new_dir(&self.sb, mode, owner));
        drop(e);
        self.touch();
        Ok(())
    }

    fn unlink(&self, name: &str) -> Result<(), Errno> {
        let mut e = self.entries.lock();
        match e.get(name) {
            None => return Err(ENOENT),
            Some(i) if i.is_dir() => return Err(EISDIR),
            Some(i) => {
                if let Some(f) = i.as_any().and_then(|a| a.downcast_ref::<HugeFile>()) {
                    f.nlink.store(0, core::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        e.remove(name);
        drop(e);
        self.sb.inodes.fetch_sub(1, core::sync::atomic::Ordering::Relaxed);
        self.touch();
        Ok(())
    }

    fn rmdir(&self, name: &str) -> Result<(), Errno> {
        let mut e = self.entries.lock();
        let child = e.get(name).ok_or(ENOENT)?;
        if !child.is_dir() {
            return Err(ENOTDIR);
        }
        if child.readdir().is_some_and(|v| !v.is_empty()) {
            return Err(ENOTEMPTY);
        }
        e.remove(name);
        drop(e);
        self.sb.inodes.fetch_sub(1, core::sync::atomic::Ordering::Relaxed);
        self.touch();
        Ok(())
    }

    /// Within this directory only (a move to another one is EXDEV here).
    fn rename(&self, old: &str, new_dir: &Arc<dyn Inode>, new: &str, flags: u32) -> Result<(), Errno> {
        let same = new_dir.as_any().and_then(|a| a.downcast_ref::<HugeDir>()).is_some_and(|d| core::ptr::eq(d, self));
        if !same {
            return Err(EXDEV);
        }
        if flags != 0 {
            return Err(EINVAL);
        }
        let mut e = self.entries.lock();
        let child = e.get(old).cloned().ok_or(ENOENT)?;
        if old == new {
            return Ok(());
        }
        if let Some(v) = e.get(new) {
            if v.is_dir() != child.is_dir() {
                return Err(if v.is_dir() { EISDIR } else { ENOTDIR });
            }
            if v.readdir().is_some_and(|x| !x.is_empty()) {
                return Err(ENOTEMPTY);
            }
            self.sb.inodes.fetch_sub(1, core::sync::atomic::Ordering::Relaxed);
        }
        e.remove(old);
        e.insert(String::from(new), child);
        drop(e);
        self.touch();
        Ok(())
    }

    fn setattr(&self, attr: &SetAttr) -> Result<(), Errno> {
        if attr.size.is_some() {
            return Err(EISDIR);
        }
        let mut m = self.meta.lock();
        if let Some(mode) = attr.mode {
            m.mode = S_IFDIR | (mode & 0o7777);
        }
        if let Some(uid) = attr.uid {
            m.uid = uid;
        }
        if let Some(gid) = attr.gid {
            m.gid = gid;
        }
        if let Some(t) = attr.atime {
            m.atime = t;
        }
        if let Some(t) = attr.mtime {
            m.mtime = t;
        }
        m.ctime = now();
        Ok(())
    }

    fn statfs(&self) -> abi::stat::Statfs {
        statfs_of(
            self.sb.quota.as_deref(),
            self.sb.order,
            self.sb.max_inodes,
            self.sb.inodes.load(core::sync::atomic::Ordering::Relaxed),
        )
    }

    fn as_any(&self) -> Option<&dyn core::any::Any> {
        Some(self)
    }
}

/// statfs of a mount (or of the memfd files): blocks are huge pages, the
/// mount's limit or the pool's.
fn statfs_of(quota: Option<&HugeQuota>, order: u32, max_inodes: u64, inodes: u64) -> abi::stat::Statfs {
    let pa = crate::mem::page_alloc();
    let pool = if order == pa.hugetlb_1g.order() { &pa.hugetlb_1g } else { &pa.hugetlb };
    let c = pool.counts();
    let (blocks, free) = match quota.and_then(|q| Some((q.max()?, q.used()))) {
        Some((max, used)) => (max, max.saturating_sub(used)),
        None => (c.nr, c.free),
    };
    abi::stat::Statfs {
        f_type: HUGETLBFS_MAGIC,
        f_bsize: pool.hpage_size() as i64,
        f_blocks: blocks,
        f_bfree: free,
        f_bavail: free,
        f_files: max_inodes,
        f_ffree: max_inodes.saturating_sub(inodes),
        f_namelen: 255,
        f_frsize: pool.hpage_size() as i64,
        ..abi::stat::Statfs::default()
    }
}

impl Inode for HugeFile {
    fn stat(&self) -> Stat {
        let m = self.meta.lock();
        Stat {
            st_dev: HUGETLBFS_DEV,
            st_ino: self.ino,
            st_nlink: self.nlink.load(core::sync::atomic::Ordering::Relaxed) as u64,
            st_mode: m.mode,
            st_uid: m.uid,
            st_gid: m.gid,
            st_size: self.obj.size() as i64,
            st_blksize: self.obj.hpage_size() as i64,
            st_blocks: (self.obj.nr_pages() * self.obj.hpage_size() / 512) as i64,
            st_atime: m.atime.0,
            st_atime_nsec: m.atime.1,
            st_mtime: m.mtime.0,
            st_mtime_nsec: m.mtime.1,
            st_ctime: m.ctime.0,
            st_ctime_nsec: m.ctime.1,
            ..Stat::default()
        }
    }

    fn writable(&self) -> bool {
        true
    }

    fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(self.obj.read_at(off, buf))
    }

    fn huge_object(&self) -> Option<Arc<HugeObject>> {
        Some(self.obj.clone())
    }

    fn setattr(&self, attr: &SetAttr) -> Result<(), Errno> {
        if let Some(size) = attr.size {
            if size % self.obj.hpage_size() != 0 {
                return Err(EINVAL);
            }
        }
        let mut m = self.meta.lock();
        if let Some(size) = attr.size {
            self.obj.set_size(size);
            m.mtime = now();
        }
        if let Some(mode) = attr.mode {
            m.mode = S_IFREG | (mode & 0o7777);
        }
        if let Some(uid) = attr.uid {
            m.uid = uid;
        }
        if let Some(gid) = attr.gid {
            m.gid = gid;
        }
        if let Some(t) = attr.atime {
            m.atime = t;
        }
        if let Some(t) = attr.mtime {
            m.mtime = t;
        }
        m.ctime = now();
        Ok(())
    }

    fn statfs(&self) -> abi::stat::Statfs {
        match &self.sb {
            Some(sb) => statfs_of(
                sb.quota.as_deref(),
                sb.order,
                sb.max_inodes,
                sb.inodes.load(core::sync::atomic::Ordering::Relaxed),
            ),
            None => statfs_of(None, self.obj.hpage_pages().trailing_zeros(), u64::MAX, 0),
        }
    }

    /// Pages for `[off, off+len)` now (the promise-free way: from free
    /// pool pages); ENOSPC when the pool runs out.
    fn fallocate(&self, mode: u32, off: u64, len: u64) -> Result<(), Errno> {
        if mode & !FALLOC_FL_KEEP_SIZE != 0 {
            return Err(EOPNOTSUPP);
        }
        let end = off.checked_add(len).ok_or(EFBIG)?;
        let hsize = self.obj.hpage_size();
        let (first, last) = (off / hsize, end.div_ceil(hsize));
        let nid = crate::mem::page_alloc().local_node();
        if mode & FALLOC_FL_KEEP_SIZE == 0 && self.obj.size() < last * hsize {
            self.obj.set_size(last * hsize);
        }
        if !self.obj.populate(first, last, nid) {
            return Err(ENOSPC);
        }
        Ok(())
    }

    fn add_seals(&self, _seals: u32) -> Result<(), Errno> {
        Err(EPERM)
    }

    fn as_any(&self) -> Option<&dyn core::any::Any> {
        Some(self)
    }

    fn get_seals(&self) -> Result<u32, Errno> {
        Ok(F_SEAL_SEAL)
    }
}
