//! hugetlbfs files: a file whose pages are 2 MiB pages of the hugetlb
//! pool (mm's `vm::hugetlb::HugeObject`), as memfd_create(MFD_HUGETLB)
//! makes them (cf. fs/hugetlbfs/inode.c).
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

use alloc::sync::Arc;

use abi::errno::*;
use abi::fcntl::{F_SEAL_SEAL, FALLOC_FL_KEEP_SIZE};
use abi::stat::{S_IFREG, Stat};
use mm::phys::hugetlb::HPAGE_SIZE;
use mm::vm::hugetlb::HugeObject;
use spin::Mutex;

use crate::file::{Owner, SetAttr, Time};

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
}

fn now() -> Time {
    let ns = crate::platform::clock::realtime_ns();
    ((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64)
}

/// An unlinked hugetlb file for memfd_create(MFD_HUGETLB), named
/// `/memfd:NAME (deleted)`, empty.
pub fn memfd_file(name: &str, mode: u32, owner: Owner) -> Arc<dyn Inode> {
    let ino = NEXT_INO.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let obj = HugeObject::new(crate::mem::page_alloc(), true, &alloc::format!("/memfd:{name} (deleted)"), ino);
    obj.set_size(0);
    let t = now();
    let meta = Meta { mode: S_IFREG | (mode & 0o7777), uid: owner.uid, gid: owner.gid, atime: t, mtime: t, ctime: t };
    Arc::new(HugeFile { ino, obj, meta: Mutex::new(meta) })
}

impl Inode for HugeFile {
    fn stat(&self) -> Stat {
        let m = self.meta.lock();
        Stat {
            st_dev: HUGETLBFS_DEV,
            st_ino: self.ino,
            st_nlink: 0,
            st_mode: m.mode,
            st_uid: m.uid,
            st_gid: m.gid,
            st_size: self.obj.size() as i64,
            st_blksize: HPAGE_SIZE as i64,
            st_blocks: (self.obj.nr_pages() * HPAGE_SIZE / 512) as i64,
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
            if size % HPAGE_SIZE != 0 {
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
        let c = crate::mem::page_alloc().hugetlb.counts();
        abi::stat::Statfs {
            f_type: HUGETLBFS_MAGIC,
            f_bsize: HPAGE_SIZE as i64,
            f_blocks: c.nr,
            f_bfree: c.free,
            f_bavail: c.free,
            f_namelen: 255,
            f_frsize: HPAGE_SIZE as i64,
            ..abi::stat::Statfs::default()
        }
    }

    /// Pages for `[off, off+len)` now (the promise-free way: from free
    /// pool pages); ENOSPC when the pool runs out.
    fn fallocate(&self, mode: u32, off: u64, len: u64) -> Result<(), Errno> {
        if mode & !FALLOC_FL_KEEP_SIZE != 0 {
            return Err(EOPNOTSUPP);
        }
        let end = off.checked_add(len).ok_or(EFBIG)?;
        let (first, last) = (off / HPAGE_SIZE, end.div_ceil(HPAGE_SIZE));
        let nid = crate::mem::page_alloc().local_node();
        if mode & FALLOC_FL_KEEP_SIZE == 0 && self.obj.size() < last * HPAGE_SIZE {
            self.obj.set_size(last * HPAGE_SIZE);
        }
        if !self.obj.populate(first, last, nid) {
            return Err(ENOSPC);
        }
        Ok(())
    }

    fn add_seals(&self, _seals: u32) -> Result<(), Errno> {
        Err(EPERM)
    }

    fn get_seals(&self) -> Result<u32, Errno> {
        Ok(F_SEAL_SEAL)
    }
}
