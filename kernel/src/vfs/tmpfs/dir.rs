//! tmpfs directories: the namespace operations (shmem_mknod, shmem_link,
//! shmem_unlink, shmem_rmdir, shmem_rename2, simple_lookup). Every change
//! holds the mount's `ns` lock, then the directory entries (see mod.rs).
//! The caller (the syscall layer) has checked permissions, "." and "..",
//! and that both directories of a rename are on this mount.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

use abi::errno::*;
use abi::fcntl::{RENAME_EXCHANGE, RENAME_NOREPLACE};
use abi::stat::{S_IFDIR, S_IFLNK};

use super::{Body, DirEntry, Inode, Owner, TmpInode, dtype};

type Entries = BTreeMap<String, Arc<TmpInode>>;

/// Give back an emptied map's root node, so that a directory emptied again
/// holds no memory (the free-page count returns to where it was).
fn release_if_empty(e: &mut Entries) {
    if e.is_empty() {
        *e = BTreeMap::new();
    }
}

impl TmpInode {
    fn entries(&self) -> Result<&Mutex<Entries>, Errno> {
        match &self.body {
            Body::Dir(e) => Ok(e),
            _ => Err(ENOTDIR),
        }
    }

    fn is_tmp_dir(&self) -> bool {
        matches!(self.body, Body::Dir(_))
    }

    fn nlink_add(&self, d: i64) {
        let mut m = self.meta.lock();
        m.nlink = m.nlink.saturating_add_signed(d);
        if let (0, Body::File { data, .. }) = (m.nlink, &self.body) {
            data.mark_deleted();
        }
    }

    pub(super) fn dir_lookup(&self, name: &str) -> Option<Arc<dyn Inode>> {
        let e = self.entries().ok()?.lock();
        e.get(name).map(|i| i.clone() as Arc<dyn Inode>)
    }

    pub(super) fn dir_entries(&self) -> Option<Vec<DirEntry>> {
        let e = self.entries().ok()?.lock();
        Some(
            e.iter().map(|(n, i)| DirEntry { name: n.clone(), ino: i.ino, dtype: dtype(i.meta.lock().mode) }).collect(),
        )
    }

    /// Enter a new inode made by `make` under `name` (EEXIST if taken).
    fn add(&self, name: &str, make: impl FnOnce() -> Result<Arc<TmpInode>, Errno>) -> Result<Arc<TmpInode>, Errno> {
        let _ns = self.sb.ns.lock();
        if self.meta.lock().nlink == 0 {
            // A removed directory takes no new entries (Linux: ENOENT).
            return Err(ENOENT);
        }
        let mut e = self.entries()?.lock();
        if e.contains_key(name) {
            return Err(EEXIST);
        }
        let child = make()?;
        e.insert(name.to_string(), child.clone());
        drop(e);
        if child.is_tmp_dir() {
            self.nlink_add(1);
        }
        self.touch_mtime();
        Ok(child)
    }

    pub(super) fn dir_create(&self, name: &str, path: &str, mode: u32, owner: Owner) -> Result<Arc<dyn Inode>, Errno> {
        let f = self.add(name, || self.sb.new_file(|_| path.to_string(), mode, owner))?;
        Ok(f)
    }

    pub(super) fn dir_mkdir(&self, name: &str, mode: u32, owner: Owner) -> Result<(), Errno> {
        let mode = S_IFDIR | (mode & 0o7777);
        self.add(name, || self.sb.new_inode(mode, owner, false, |_| Body::Dir(Mutex::new(BTreeMap::new()))))?;
        Ok(())
    }

    pub(super) fn dir_symlink(&self, name: &str, target: &str, owner: Owner) -> Result<(), Errno> {
        let target = target.to_string();
        self.add(name, || self.sb.new_inode(S_IFLNK | 0o777, owner, false, |_| Body::Link(target)))?;
        Ok(())
    }

    /// O_TMPFILE: a file with no name (nlink 0), which linkat may name.
    pub(super) fn dir_tmpfile(&self, dir_path: &str, mode: u32, owner: Owner) -> Result<Arc<dyn Inode>, Errno> {
        self.entries()?;
        let sep = if dir_path.ends_with('/') { "" } else { "/" };
        let f = self.sb.new_file(|ino| alloc::format!("{dir_path}{sep}#{ino} (deleted)"), mode, owner)?;
        {
            let mut m = f.meta.lock();
            m.nlink = 0;
            m.linkable = true;
        }
        Ok(f)
    }

    pub(super) fn dir_link(&self, name: &str, target: &Arc<dyn Inode>) -> Result<(), Errno> {
        let t = self.same_fs(target).ok_or(EXDEV)?;
        if t.is_tmp_dir() {
            return Err(EPERM);
        }
        let _ns = self.sb.ns.lock();
        let mut e = self.entries()?.lock();
        if e.contains_key(name) {
            return Err(EEXIST);
        }
        {
            let mut m = t.meta.lock();
            if m.nlink == 0 && !m.linkable {
                return Err(ENOENT);
            }
            m.nlink += 1;
            m.linkable = false;
        }
        t.touch_ctime();
        e.insert(name.to_string(), t);
        drop(e);
        self.touch_mtime();
        Ok(())
    }

    pub(super) fn dir_unlink(&self, name: &str) -> Result<(), Errno> {
        let _ns = self.sb.ns.lock();
        let mut e = self.entries()?.lock();
        let child = e.get(name).ok_or(ENOENT)?;
        if child.is_tmp_dir() {
            return Err(EISDIR);
        }
        let child = e.remove(name).ok_or(ENOENT)?;
        release_if_empty(&mut e);
        drop(e);
        child.nlink_add(-1);
        child.touch_ctime();
        self.touch_mtime();
        Ok(())
    }

    pub(super) fn dir_rmdir(&self, name: &str) -> Result<(), Errno> {
        let _ns = self.sb.ns.lock();
        let mut e = self.entries()?.lock();
        let child = e.get(name).ok_or(ENOENT)?;
        if !child.is_tmp_dir() {
            return Err(ENOTDIR);
        }
        if !child.entries()?.lock().is_empty() {
            return Err(ENOTEMPTY);
        }
        let child = e.remove(name).ok_or(ENOENT)?;
        release_if_empty(&mut e);
        drop(e);
        child.meta.lock().nlink = 0;
        child.touch_ctime();
        self.nlink_add(-1);
        self.touch_mtime();
        Ok(())
    }

    pub(super) fn dir_rename(&self, old: &str, new_dir: &Arc<dyn Inode>, new: &str, flags: u32) -> Result<(), Errno> {
        let nd = self.same_fs(new_dir).ok_or(EXDEV)?;
        let _ns = self.sb.ns.lock();
        let same_dir = core::ptr::eq(self, &*nd);
        let mut src = self.entries()?.lock();
        let mut other = if same_dir { None } else { Some(nd.entries()?.lock()) };
        let child = src.get(old).cloned().ok_or(ENOENT)?;
        let victim = match &other {
            Some(d) => d.get(new).cloned(),
            None => src.get(new).cloned(),
        };
        // The caller refused a directory moving below itself and one
        // replacing its own ancestor by their paths; these two are the
        // cases that would lock a directory twice or make a cycle.
        if Arc::ptr_eq(&child, &nd) {
            return Err(EINVAL);
        }
        if victim.as_ref().is_some_and(|v| core::ptr::eq(&**v, self)) {
            return Err(ENOTEMPTY);
        }
        if let Some(v) = &victim {
            if Arc::ptr_eq(v, &child) {
                // Two names of one inode (or the same name): nothing to do.
                return Ok(());
            }
        }
        let moved_dir = child.is_tmp_dir();
        if flags & RENAME_EXCHANGE != 0 {
            let v = victim.ok_or(ENOENT)?;
            match other.as_mut() {
                Some(d) => {
                    d.insert(new.to_string(), child.clone());
                    src.insert(old.to_string(), v.clone());
                }
                None => {
                    src.insert(new.to_string(), child.clone());
                    src.insert(old.to_string(), v.clone());
                }
            }
            drop((src, other));
            if !same_dir && moved_dir != v.is_tmp_dir() {
                let d = if moved_dir { 1 } else { -1 };
                nd.nlink_add(d);
                self.nlink_add(-d);
            }
            child.touch_ctime();
            v.touch_ctime();
        } else {
            if let Some(v) = &victim {
                if flags & RENAME_NOREPLACE != 0 {
                    return Err(EEXIST);
                }
                match (moved_dir, v.is_tmp_dir()) {
                    (true, false) => return Err(ENOTDIR),
                    (false, true) => return Err(EISDIR),
                    (true, true) if !v.entries()?.lock().is_empty() => return Err(ENOTEMPTY),
                    _ => {}
                }
            }
            src.remove(old);
            match other.as_mut() {
                Some(d) => d.insert(new.to_string(), child.clone()),
                None => src.insert(new.to_string(), child.clone()),
            };
            release_if_empty(&mut src);
            drop((src, other));
            if let Some(v) = &victim {
                if v.is_tmp_dir() {
                    v.meta.lock().nlink = 0;
                    nd.nlink_add(-1);
                } else {
                    v.nlink_add(-1);
                }
                v.touch_ctime();
            }
            if moved_dir && !same_dir {
                self.nlink_add(-1);
                nd.nlink_add(1);
            }
            child.touch_ctime();
        }
        self.touch_mtime();
        if !same_dir {
            nd.touch_mtime();
        }
        Ok(())
    }
}
